//! Optional bearer tokens, for nodes reached without a proxy in front.

use http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// Accept the request if no token is configured or it carries
/// `Authorization: Bearer <token>`. Both sides are hashed first, so the
/// comparison takes the same time whatever the token's length or content.
pub fn check(required: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(required) = required else {
        return Ok(());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized)?;
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(required.as_bytes());
    if bool::from(a.as_slice().ct_eq(b.as_slice())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::AUTHORIZATION, v.parse().unwrap());
        m
    }

    #[test]
    fn tokens() {
        assert!(check(None, &HeaderMap::new()).is_ok());
        assert!(check(Some("s"), &HeaderMap::new()).is_err());
        assert!(check(Some("s"), &h("Bearer s")).is_ok());
        assert!(check(Some("s"), &h("bearer s")).is_ok());
        assert!(check(Some("s"), &h("Bearer t")).is_err());
        assert!(check(Some("s"), &h("Basic s")).is_err());
    }
}

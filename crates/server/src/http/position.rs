//! Read-your-writes over HTTP. The primary answers every acknowledged
//! write with `PutFS-Position`; a reader that sends it back as
//! `PutFS-Min-Position` is answered by a read-only node only if the node's
//! replicated heartbeat is at that position or later. A node behind
//! answers 404 with `PutFS-Behind`, which the shipped balancer configs
//! retry on another node (they never mark a node down for a 404). A
//! writable node has every write it acknowledged, so it always answers.
//! With `--position-cookie` the position also travels in a cookie, for
//! clients that keep cookies but cannot set headers (browsers).

use axum::response::Response;
use http::{HeaderMap, HeaderValue};

use super::App;
use super::error::ApiError;
use super::position_headers::{COOKIE, MIN_POSITION, POSITION};

/// Answer an acknowledged write, durable by now: stamp it with a new
/// position and, when it changed data (a PUT answered 201, a DELETE
/// answered 204), count it in the primary's write count, which heartbeats
/// carry so that replicas can tell their lag in writes. Writable nodes
/// only: a forwarding replica relays the primary's answer.
pub fn acknowledge(app: &App, resp: &mut Response, changed_data: bool) {
    let Some(p) = &app.positions else {
        return;
    };
    if changed_data {
        p.count_write();
    }
    let position = p.next();
    resp.headers_mut()
        .insert(POSITION, HeaderValue::from(position));
    if app.cfg.position_cookie {
        let cookie = format!("{COOKIE}={position}; Path=/; SameSite=Lax; HttpOnly");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(http::header::SET_COOKIE, v);
        }
    }
}

/// Refuse a read a read-only node cannot answer truthfully yet.
pub fn require(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(replica) = &app.replica else {
        return Ok(());
    };
    let cookie = app.cfg.position_cookie.then(|| cookie_position(headers));
    let Some(need) = min_position(headers)?.max(cookie.flatten()) else {
        return Ok(());
    };
    let have = replica.position();
    if have < need {
        replica.refused_behind();
        return Err(ApiError::Behind { have, need });
    }
    Ok(())
}

/// The largest `PutFS-Min-Position` sent (a proxy may have added one).
fn min_position(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let mut need = None;
    for v in headers.get_all(MIN_POSITION) {
        let n = v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{MIN_POSITION} must be a position a write was answered with \
                     (a decimal number), got {v:?}"
                ))
            })?;
        need = need.max(Some(n));
    }
    Ok(need)
}

/// The `putfs_pos` cookie's position, if one is sent. A cookie the
/// client did not write itself is ignored when it does not parse.
fn cookie_position(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .filter_map(|(_, value)| value.trim().parse::<u64>().ok())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_highest_and_refuses_garbage() {
        let mut h = HeaderMap::new();
        assert_eq!(min_position(&h).unwrap(), None);
        h.append(MIN_POSITION, HeaderValue::from_static("7"));
        h.append(MIN_POSITION, HeaderValue::from_static(" 12 "));
        assert_eq!(min_position(&h).unwrap(), Some(12));
        h.append(MIN_POSITION, HeaderValue::from_static("-1"));
        assert!(matches!(min_position(&h), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn reads_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(cookie_position(&h), None);
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; putfs_pos=42; b=x"),
        );
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("putfs_pos=junk"),
        );
        assert_eq!(cookie_position(&h), Some(42));
    }
}

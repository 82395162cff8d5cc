//! Deletes over HTTP: `DELETE` with `If-Match` on the version compared,
//! which the node checks atomically with the unlink (412 when it changed).

use super::{Backend, Deleted, Found};
use crate::error::OpsError;
use crate::transfer::node::{Node, unexpected};

pub struct HttpBackend<'n>(pub &'n Node);

impl Backend for HttpBackend<'_> {
    fn current(&self, key: &str) -> Result<Option<Found>, OpsError> {
        let node = self.0;
        Ok(node.block_on(node.current(key))?.map(|c| Found {
            etag: c.etag,
            sha256: c.sha256,
            modified: c.modified,
        }))
    }

    fn delete_if_match(&self, key: &str, etag: &str) -> Result<Deleted, OpsError> {
        let node = self.0;
        let what = format!("DELETE {}", node.url(key));
        node.block_on(async {
            let resp = node
                .send_retrying(&what, || {
                    node.request(reqwest::Method::DELETE, key)
                        .header("if-match", etag)
                })
                .await?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            match status {
                204 | 200 => Ok(Deleted::Done),
                404 => Ok(Deleted::Absent),
                412 => Ok(Deleted::Changed),
                403 => Ok(Deleted::Refused(format!("HTTP 403: {}", text.trim()))),
                s => Err(unexpected(&what, s, text)),
            }
        })
    }
}

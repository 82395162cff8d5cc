//! What a response says about an object: size, mtime, digest, ETag.

use std::time::SystemTime;

use super::fsops;

/// The facts about one stored object that headers are made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub mtime_ns: i128,
    /// Known when the object carries a valid `user.putfs.sha256` xattr.
    pub sha256: Option<[u8; 32]>,
}

impl ObjectMeta {
    pub fn from_stat(st: &rustix::fs::Stat, sha256: Option<[u8; 32]>) -> ObjectMeta {
        ObjectMeta {
            size: st.st_size as u64,
            mtime_ns: fsops::mtime_ns(st),
            sha256,
        }
    }

    /// A strong ETag (with quotes) that is the same on every node holding
    /// these bytes: from the SHA-256 when known, else from size and mtime
    /// (which rsync -a and zfs send preserve).
    pub fn etag(&self) -> String {
        match &self.sha256 {
            Some(d) => format!("\"{}\"", hex::encode(&d[..16])),
            None => format!("\"{:x}-{:x}\"", self.mtime_ns, self.size),
        }
    }

    pub fn modified(&self) -> SystemTime {
        fsops::system_time(self.mtime_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_from_digest_or_stat() {
        let m = ObjectMeta {
            size: 5,
            mtime_ns: 1_000_000_007,
            sha256: Some([0xab; 32]),
        };
        assert_eq!(m.etag(), format!("\"{}\"", "ab".repeat(16)));
        let n = ObjectMeta { sha256: None, ..m };
        assert_eq!(n.etag(), "\"3b9aca07-5\"");
    }
}

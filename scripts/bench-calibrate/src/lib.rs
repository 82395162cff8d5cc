//! What the helper programs share.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The `p` quantile (0 to 1, nearest rank) of `sorted`; zero when empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn bad(m: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string())
}

/// Read from `s` into `buf` until it holds at least `want` bytes.
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, want: usize) -> std::io::Result<()> {
    let mut chunk = [0u8; 16384];
    while buf.len() < want {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed in an answer"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Consume `len` bytes: those in `buf` first, then from `s` without
/// keeping them (a large body is not copied around); whatever follows them
/// stays in `buf`.
async fn skip(s: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> std::io::Result<()> {
    if buf.len() >= len {
        buf.drain(..len);
        return Ok(());
    }
    let mut left = len - buf.len();
    buf.clear();
    let mut chunk = [0u8; 16384];
    while left > 0 {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed in a body"));
        }
        if n > left {
            buf.extend_from_slice(&chunk[left..n]);
            left = 0;
        } else {
            left -= n;
        }
    }
    Ok(())
}

/// Read from `s` into `buf` until it holds a `\r\n` at or after `from`;
/// returns the index just past it.
async fn line_end(s: &mut TcpStream, buf: &mut Vec<u8>, from: usize) -> std::io::Result<usize> {
    loop {
        if let Some(i) = buf[from.min(buf.len())..]
            .windows(2)
            .position(|w| w == b"\r\n")
        {
            return Ok(from + i + 2);
        }
        let want = buf.len() + 1;
        fill(s, buf, want).await?;
    }
}

/// One HTTP/1.1 answer from `buf` (reading more from `s` as needed): its
/// status, and consumes its bytes (the body by Content-Length, or chunked).
/// `head` = the answer has no body whatever it says.
pub async fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>, head: bool) -> std::io::Result<u16> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let want = buf.len() + 1;
        fill(s, buf, want).await?;
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| bad("non-UTF-8 head"))?;
    let status: u16 = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut len = 0usize;
    let mut chunked = false;
    for line in text.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().map_err(|_| bad("bad Content-Length"))?;
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.trim().eq_ignore_ascii_case("chunked");
                if !chunked {
                    return Err(bad("unsupported Transfer-Encoding"));
                }
            }
        }
    }
    buf.drain(..end);
    if head || status == 304 || status == 204 || status < 200 {
        return Ok(status);
    }
    if !chunked {
        skip(s, buf, len).await?;
        return Ok(status);
    }
    // Chunks: `SIZE[;ext]\r\n DATA \r\n`, until a zero size, then trailer
    // lines up to an empty one.
    loop {
        let e = line_end(s, buf, 0).await?;
        let size_text = std::str::from_utf8(&buf[..e - 2]).map_err(|_| bad("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        buf.drain(..e);
        if size == 0 {
            loop {
                let e = line_end(s, buf, 0).await?;
                buf.drain(..e);
                if e == 2 {
                    return Ok(status);
                }
            }
        }
        skip(s, buf, size).await?;
        fill(s, buf, 2).await?;
        if &buf[..2] != b"\r\n" {
            return Err(bad("chunk without its CRLF"));
        }
        buf.drain(..2);
    }
}

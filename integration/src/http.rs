//! A small HTTP/1.x reader and writer, for the stand-in server and for test clients.
//!
//! Everything read here comes from the network: sizes are bounded and malformed input is
//! reported as an [`io::Error`] of kind [`io::ErrorKind::InvalidData`], never a panic.

use std::io::{self, BufRead, Read, Write};

/// Longest request or status line, or header line, in bytes.
pub const MAX_LINE: usize = 16 * 1024;
/// Most header lines in one message.
pub const MAX_HEADERS: usize = 200;
/// Largest body [`read_body`] collects.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Header list: names as sent, in order, duplicates kept.
pub type Headers = Vec<(String, String)>;

/// The first header named `name` (ASCII case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a comma-separated header (`Connection`, `Transfer-Encoding`, ...) lists `token`.
pub fn header_has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Reads one line (up to `\n`, at most [`MAX_LINE`] bytes) without its line ending.
/// `Ok(None)` at end of input before any byte.
pub fn read_line<R: BufRead>(r: &mut R) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    let n = r.by_ref().take(limit).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        if buf.len() >= MAX_LINE {
            return Err(invalid("line too long"));
        }
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in the middle of a line",
        ));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Reads a message head: the start line and the header lines up to the empty line.
/// `Ok(None)` at a clean end of input before the start line (an idle keep-alive close).
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Option<(String, Headers)>> {
    // Tolerate empty lines before the start line (RFC 9112 section 2.2).
    let start = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = Headers::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the head",
            )
        })?;
        if line.is_empty() {
            return Ok(Some((start, headers)));
        }
        if headers.len() >= MAX_HEADERS {
            return Err(invalid("too many header lines"));
        }
        if line.starts_with([' ', '\t']) {
            return Err(invalid("obsolete header line folding"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("header line without a colon"))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(invalid("bad header name"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
}

/// A request head.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent (`/path?query`).
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// The header lines.
    pub headers: Headers,
}

impl Request {
    /// Reads a request head. `Ok(None)` when the peer closed before sending one.
    pub fn read<R: BufRead>(r: &mut R) -> io::Result<Option<Request>> {
        let Some((start, headers)) = read_head(r)? else {
            return Ok(None);
        };
        let mut parts = start.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("bad request line"));
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid("bad method"));
        }
        if !target.starts_with('/') && target != "*" {
            return Err(invalid("bad request target"));
        }
        if version != "HTTP/1.1" && version != "HTTP/1.0" {
            return Err(invalid("unsupported HTTP version"));
        }
        Ok(Some(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            version: version.to_owned(),
            headers,
        }))
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query string (without `?`), empty when there is none.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the connection stays open after the response.
    pub fn keep_alive(&self) -> bool {
        if self.version == "HTTP/1.0" {
            header_has_token(&self.headers, "connection", "keep-alive")
        } else {
            !header_has_token(&self.headers, "connection", "close")
        }
    }

    /// Whether this is a WebSocket upgrade request.
    pub fn is_websocket_upgrade(&self) -> bool {
        header_has_token(&self.headers, "upgrade", "websocket")
            && header_has_token(&self.headers, "connection", "upgrade")
    }
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// The framing of a request body (RFC 9112 section 6.3).
pub fn request_framing(headers: &[(String, String)]) -> io::Result<Framing> {
    if header(headers, "transfer-encoding").is_some() {
        if header_has_token(headers, "transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        return Err(invalid("unsupported transfer coding"));
    }
    content_length(headers).map(|l| l.map_or(Framing::None, Framing::Length))
}

/// The framing of a response body to a request with `method`.
pub fn response_framing(
    method: &str,
    status: u16,
    headers: &[(String, String)],
) -> io::Result<Framing> {
    if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    if header_has_token(headers, "transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    content_length(headers).map(|l| l.map_or(Framing::UntilClose, Framing::Length))
}

fn content_length(headers: &[(String, String)]) -> io::Result<Option<u64>> {
    let mut found: Option<u64> = None;
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("bad Content-Length"));
        }
        let n: u64 = v.parse().map_err(|_| invalid("bad Content-Length"))?;
        if found.is_some_and(|f| f != n) {
            return Err(invalid("conflicting Content-Length headers"));
        }
        found = Some(n);
    }
    Ok(found)
}

/// A reader that decodes a chunked body incrementally (so a test can see each chunk as it
/// arrives) and stops at the last chunk, consuming the trailer section.
pub struct ChunkedReader<R> {
    inner: R,
    remaining: u64,
    done: bool,
}

impl<R: BufRead> ChunkedReader<R> {
    /// Decodes the chunked body that `inner` is positioned at.
    pub fn new(inner: R) -> Self {
        ChunkedReader {
            inner,
            remaining: 0,
            done: false,
        }
    }

    /// The underlying reader (positioned after the body once this reader hit its end).
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn eof() -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a chunked body",
        )
    }

    /// Reads the next chunk-size line; at the last chunk also reads the trailers.
    fn next_chunk(&mut self) -> io::Result<()> {
        let line = read_line(&mut self.inner)?.ok_or_else(Self::eof)?;
        let size = line.split(';').next().unwrap_or("").trim();
        if size.is_empty() || size.len() > 15 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("bad chunk size"));
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            let mut trailers = 0usize;
            loop {
                let l = read_line(&mut self.inner)?.ok_or_else(Self::eof)?;
                if l.is_empty() {
                    break;
                }
                trailers = trailers.saturating_add(1);
                if trailers > MAX_HEADERS {
                    return Err(invalid("too many trailer lines"));
                }
            }
            self.done = true;
        } else {
            self.remaining = size;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while !self.done && self.remaining == 0 {
            self.next_chunk()?;
        }
        if self.done {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        if n == 0 {
            return Err(Self::eof());
        }
        self.remaining = self.remaining.saturating_sub(n as u64);
        if self.remaining == 0 {
            // The CRLF after the chunk data.
            let l = read_line(&mut self.inner)?.ok_or_else(Self::eof)?;
            if !l.is_empty() {
                return Err(invalid("chunk data longer than its size"));
            }
        }
        Ok(n)
    }
}

/// A body reader of the given framing over `r`.
pub fn body_reader<'a, R: BufRead + 'a>(r: R, framing: Framing) -> Box<dyn Read + 'a> {
    match framing {
        Framing::None => Box::new(io::empty()),
        Framing::Length(n) => Box::new(r.take(n)),
        Framing::Chunked => Box::new(ChunkedReader::new(r)),
        Framing::UntilClose => Box::new(r),
    }
}

/// Reads a whole body of the given framing (at most `limit` bytes).
pub fn read_body<R: BufRead>(r: &mut R, framing: Framing, limit: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    if let Framing::Length(n) = framing {
        if n > cap.saturating_sub(1) {
            return Err(invalid("body too large"));
        }
    }
    body_reader(&mut *r, framing)
        .take(cap)
        .read_to_end(&mut body)?;
    if body.len() > limit {
        return Err(invalid("body too large"));
    }
    if let Framing::Length(n) = framing {
        if (body.len() as u64) < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the body",
            ));
        }
    }
    Ok(body)
}

/// A response head.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// `HTTP/1.1`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The header lines.
    pub headers: Headers,
}

impl ResponseHead {
    /// Reads a response head.
    pub fn read<R: BufRead>(r: &mut R) -> io::Result<ResponseHead> {
        let (start, headers) = read_head(r)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the response",
            )
        })?;
        let mut parts = start.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(format!("bad status line {start:?}")));
        }
        let status = parts
            .next()
            .filter(|s| s.len() == 3)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| invalid(format!("bad status line {start:?}")))?;
        Ok(ResponseHead {
            version: version.to_owned(),
            status,
            reason: parts.next().unwrap_or("").to_owned(),
            headers,
        })
    }

    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A complete response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status line and headers.
    pub head: ResponseHead,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// Reads a response (head and whole body) to a request with `method`.
    pub fn read<R: BufRead>(r: &mut R, method: &str) -> io::Result<Response> {
        let head = ResponseHead::read(r)?;
        let framing = response_framing(method, head.status, &head.headers)?;
        let body = read_body(r, framing, MAX_BODY)?;
        Ok(Response { head, body })
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("body is not JSON ({e}): {}", self.text()))
    }
}

/// The standard reason phrase of the statuses the stand-in uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// Writes a response head.
pub fn write_head<W: Write>(w: &mut W, status: u16, headers: &[(&str, &str)]) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in headers {
        out.push_str(n);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    w.write_all(out.as_bytes())
}

/// Writes a complete response with a `Content-Length` body.
pub fn write_response<W: Write>(
    w: &mut W,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let len = body.len().to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("Content-Length", &len));
    if !keep_alive {
        all.push(("Connection", "close"));
    }
    write_head(w, status, &all)?;
    w.write_all(body)?;
    w.flush()
}

/// Writes one chunk of a chunked body (an empty `data` is skipped: it would end the body).
pub fn write_chunk<W: Write>(w: &mut W, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    w.write_all(&out)?;
    w.flush()
}

/// Writes the last chunk of a chunked body.
pub fn write_last_chunk<W: Write>(w: &mut W) -> io::Result<()> {
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

/// Percent-decodes a query component (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i.saturating_add(1)..i.saturating_add(3))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    i = i.saturating_add(2);
                } else {
                    out.push(b'%');
                }
            }
            _ => out.push(c),
        }
        i = i.saturating_add(1);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn parses_a_request_with_a_chunked_body_and_keep_alive() {
        let raw =
            b"POST /v1/chat-messages?x=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let mut r = Cursor::new(&raw[..]);
        let req = Request::read(&mut r).unwrap().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path(), "/v1/chat-messages");
        assert_eq!(req.query(), "x=1");
        assert!(req.keep_alive());
        let framing = request_framing(&req.headers).unwrap();
        assert_eq!(framing, Framing::Chunked);
        assert_eq!(read_body(&mut r, framing, 100).unwrap(), b"Wikipedia");
        let next = Request::read(&mut r).unwrap().unwrap();
        assert_eq!(next.target, "/");
        assert!(Request::read(&mut r).unwrap().is_none());
    }

    #[test]
    fn refuses_garbage() {
        for raw in [
            &b"\x00\x01\x02\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
        ] {
            assert!(Request::read(&mut Cursor::new(raw)).is_err(), "{raw:?}");
        }
        let bad_cl = vec![("Content-Length".to_owned(), "-1".to_owned())];
        assert!(request_framing(&bad_cl).is_err());
        let mut r = Cursor::new(&b"zz\r\n"[..]);
        assert!(read_body(&mut r, Framing::Chunked, 100).is_err());
        let mut r = Cursor::new(&b"10\r\nabc"[..]);
        assert!(read_body(&mut r, Framing::Chunked, 100).is_err());
        let mut r = Cursor::new(&b"abc"[..]);
        assert!(read_body(&mut r, Framing::Length(200), 100).is_err());
        let long = vec![b'a'; MAX_LINE + 10];
        assert!(read_line(&mut Cursor::new(long)).is_err());
    }

    #[test]
    fn reads_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 No Content\r\n\r\n";
        let mut r = Cursor::new(&raw[..]);
        let a = Response::read(&mut r, "GET").unwrap();
        assert_eq!((a.status(), a.text().as_str()), (200, "hi"));
        let b = Response::read(&mut r, "GET").unwrap();
        assert_eq!(b.status(), 204);
        let mut w = Vec::new();
        write_chunk(&mut w, b"hello").unwrap();
        write_last_chunk(&mut w).unwrap();
        let mut r = Cursor::new(w);
        assert_eq!(read_body(&mut r, Framing::Chunked, 100).unwrap(), b"hello");
    }

    #[test]
    fn decodes_query_parameters() {
        assert_eq!(
            query_param("a=1&user=al%69ce+b", "user").unwrap(),
            "alice b"
        );
        assert_eq!(query_param("user", "user").unwrap(), "");
        assert!(query_param("a=1", "user").is_none());
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}

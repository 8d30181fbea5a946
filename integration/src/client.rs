//! Client side: requests over any byte stream (plain TCP or TLS) and the WebSocket
//! client handshake.

use std::io::{self, BufReader, Read, Write};

use crate::http::{header_has_token, Response, ResponseHead};
use crate::ws;

/// Writes a request. `headers` should include `Host`; a `Content-Length` is added when
/// there is a body.
pub fn write_request<W: Write>(
    w: &mut W,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<()> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        out.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    w.write_all(&bytes)?;
    w.flush()
}

/// The result of a WebSocket handshake attempt.
pub struct Handshake {
    /// The response head (101 when the upgrade happened).
    pub head: ResponseHead,
    /// Whether the server switched protocols and sent the right `Sec-WebSocket-Accept`.
    pub upgraded: bool,
}

/// Sends a request on `conn` and reads the whole response.
pub fn request<S: Read + Write>(
    conn: &mut BufReader<S>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Response> {
    write_request(conn.get_mut(), method, target, headers, body)?;
    Response::read(conn, method)
}

/// Sends a WebSocket upgrade request on `conn` and reads the response head. After a
/// successful upgrade, read frames from `conn` (its buffer may already hold the first ones)
/// and write masked frames to `conn.get_mut()`.
pub fn ws_handshake<S: Read + Write>(
    conn: &mut BufReader<S>,
    host: &str,
    target: &str,
    extra: &[(&str, &str)],
) -> io::Result<Handshake> {
    let key = ws::client_key()?;
    let mut headers = vec![
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key.as_str()),
        ("Sec-WebSocket-Version", "13"),
    ];
    headers.extend_from_slice(extra);
    write_request(conn.get_mut(), "GET", target, &headers, None)?;
    let head = ResponseHead::read(conn)?;
    let upgraded = head.status == 101
        && header_has_token(&head.headers, "upgrade", "websocket")
        && head.header("sec-websocket-accept") == Some(ws::accept_key(&key).as_str());
    Ok(Handshake { head, upgraded })
}

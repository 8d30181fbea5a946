//! `dify-standin`: a stand-in for Dify behind the gateway, behaving like it where the
//! gateway's job shows.
//!
//! ```text
//! dify-standin --listen 127.0.0.1:PORT --key PRIVATE_KEY_PEM [--alg RS256]
//!              [--events 5] [--interval-ms 600]
//! ```
//!
//! - `POST .../chat-messages`: a streaming (SSE) answer of `--events` events spread
//!   `--interval-ms` apart, then a `message_end` event;
//! - `GET /ws/...` with `Upgrade: websocket`: a WebSocket that first sends
//!   `{"hello":<X-User-ID>,"query":<query string>,...}`, then echoes every message;
//! - `GET|POST /login`: a fresh token `{"token":..,"expires_in":900}` for `?user=` (default
//!   `user-123`), signed with `--key`;
//! - anything else: a JSON echo of the request (method, path, query, X-User-ID,
//!   Authorization, headers, body).
//!
//! The first line on stdout is `dify-standin listening on http://ADDR` (with the real port
//! when `--listen` asks for port 0); the rest of the logging goes to stderr. One thread per
//! connection, HTTP/1.1 keep-alive, chunked request bodies.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{self, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_integration::http::{
    self, query_param, request_framing, write_chunk, write_head, write_last_chunk, write_response,
    Request,
};
use auth_jwt_integration::sse::format_data;
use auth_jwt_integration::ws::{self, FrameError};
use serde_json::{json, Map, Value};

const USAGE: &str = "usage: dify-standin --listen ADDR --key PRIVATE_KEY_PEM [--alg ALG] \
[--events N] [--interval-ms MS]";

/// Lifetime of the tokens `/login` hands out.
const TOKEN_TTL: u64 = 900;
/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest WebSocket frame echoed.
const MAX_FRAME: u64 = 16 * 1024 * 1024;

struct Config {
    key: SigningKey,
    alg: String,
    events: u32,
    interval: Duration,
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("dify-standin: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut listen = "127.0.0.1:5000".to_owned();
    let mut key_file: Option<String> = None;
    let mut alg: Option<String> = None;
    let mut events: u32 = 5;
    let mut interval_ms: u64 = 600;
    let mut it = args.into_iter();
    while let Some(opt) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{opt} needs a value\n{USAGE}"))
        };
        match opt.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--listen" => listen = value()?,
            "--key" => key_file = Some(value()?),
            "--alg" => alg = Some(value()?),
            "--events" => {
                events = value()?
                    .parse()
                    .map_err(|_| "--events expects a number".to_owned())?
            }
            "--interval-ms" => {
                interval_ms = value()?
                    .parse()
                    .map_err(|_| "--interval-ms expects a number".to_owned())?
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let key_file = key_file.ok_or_else(|| format!("--key is required\n{USAGE}"))?;
    let pem = std::fs::read(&key_file).map_err(|e| format!("cannot read {key_file}: {e}"))?;
    let key = SigningKey::from_pem(&pem).map_err(|e| format!("{key_file}: {e}"))?;
    let alg = match alg {
        Some(a) => a,
        None => key
            .default_alg()
            .ok_or("cannot infer the algorithm from the key; give --alg")?
            .to_owned(),
    };
    // Fail at start, not at the first /login, if the key does not fit the algorithm.
    encode(&alg, &Value::Null, &json!({}), &key).map_err(|e| format!("--alg {alg}: {e}"))?;

    let config = Arc::new(Config {
        key,
        alg,
        events,
        interval: Duration::from_millis(interval_ms),
    });
    let listener =
        TcpListener::bind(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "dify-standin listening on http://{addr}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let config = Arc::clone(&config);
                let spawned = thread::Builder::new().name("conn".into()).spawn(move || {
                    let peer = stream
                        .peer_addr()
                        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
                    if let Err(e) = serve(stream, &config) {
                        if !quiet(&e) {
                            eprintln!("dify-standin: {peer}: {e}");
                        }
                    }
                });
                if let Err(e) = spawned {
                    eprintln!("dify-standin: cannot start a thread: {e}");
                }
            }
            Err(e) => {
                eprintln!("dify-standin: accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

/// Errors not worth a log line: the peer went away.
fn quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// Serves the requests of one connection.
fn serve(stream: TcpStream, config: &Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let req = match Request::read(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let body = json!({ "error": e.to_string() }).to_string();
                write_response(
                    &mut out,
                    400,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                    false,
                )?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let keep_alive = req.keep_alive();

        if req.is_websocket_upgrade() {
            return websocket(req, reader, out);
        }

        let framing = match request_framing(&req.headers) {
            Ok(f) => f,
            Err(e) => return bad_request(&mut out, &e.to_string()),
        };
        if http::header(&req.headers, "expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = match http::read_body(&mut reader, framing, http::MAX_BODY) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return bad_request(&mut out, &e.to_string())
            }
            Err(e) => return Err(e),
        };

        let path = req.path();
        let keep = if req.method == "POST" && path.ends_with("/chat-messages") {
            chat_messages(&req, &mut out, config, keep_alive)?
        } else if path == "/login" && (req.method == "GET" || req.method == "POST") {
            login(&req, &mut out, config, keep_alive)?
        } else {
            echo(&req, &body, &mut out, keep_alive)?
        };
        if !keep {
            return Ok(());
        }
    }
}

fn bad_request(out: &mut TcpStream, why: &str) -> io::Result<()> {
    let body = json!({ "error": why }).to_string();
    write_response(
        out,
        400,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        false,
    )
}

fn json_response(
    out: &mut TcpStream,
    status: u16,
    v: &Value,
    keep_alive: bool,
) -> io::Result<bool> {
    let mut body = v.to_string();
    body.push('\n');
    write_response(
        out,
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        keep_alive,
    )?;
    Ok(keep_alive)
}

fn opt_header(req: &Request, name: &str) -> Value {
    req.header(name)
        .map_or(Value::Null, |v| Value::String(v.to_owned()))
}

/// Any other path: what the backend received.
fn echo(req: &Request, body: &[u8], out: &mut TcpStream, keep_alive: bool) -> io::Result<bool> {
    let mut headers = Map::new();
    for (n, v) in &req.headers {
        let name = n.to_ascii_lowercase();
        match headers.get_mut(&name) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                headers.insert(name, Value::String(v.clone()));
            }
        }
    }
    let v = json!({
        "method": req.method,
        "path": req.path(),
        "query": req.query(),
        "x_user_id": opt_header(req, "x-user-id"),
        "authorization": opt_header(req, "authorization"),
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    });
    json_response(out, 200, &v, keep_alive)
}

/// `/login`: a fresh token, as the seed's front end expects.
fn login(
    req: &Request,
    out: &mut TcpStream,
    config: &Config,
    keep_alive: bool,
) -> io::Result<bool> {
    let user = query_param(req.query(), "user")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "user-123".to_owned());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({
        "sub": user,
        "iat": now,
        "exp": now.saturating_add(TOKEN_TTL),
    });
    match encode(&config.alg, &Value::Null, &claims, &config.key) {
        Ok(token) => json_response(
            out,
            200,
            // x_user_id: what the gateway forwarded (it must not forward one on /login).
            &json!({
                "token": token,
                "expires_in": TOKEN_TTL,
                "x_user_id": req.header("x-user-id"),
            }),
            keep_alive,
        ),
        Err(e) => json_response(out, 500, &json!({ "error": e }), false),
    }
}

/// `POST .../chat-messages`: a streaming answer, like Dify's `response_mode: streaming`.
fn chat_messages(
    req: &Request,
    out: &mut TcpStream,
    config: &Config,
    keep_alive: bool,
) -> io::Result<bool> {
    let chunked = req.version == "HTTP/1.1";
    let mut headers = vec![
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-cache"),
    ];
    if chunked {
        headers.push(("Transfer-Encoding", "chunked"));
        if !keep_alive {
            headers.push(("Connection", "close"));
        }
    } else {
        headers.push(("Connection", "close"));
    }
    write_head(out, 200, &headers)?;
    out.flush()?;
    let user = opt_header(req, "x-user-id");
    let mut send = |data: String| -> io::Result<()> {
        let ev = format_data(&data);
        if chunked {
            write_chunk(out, ev.as_bytes())
        } else {
            out.write_all(ev.as_bytes())?;
            out.flush()
        }
    };
    for n in 1..=config.events {
        if n > 1 {
            thread::sleep(config.interval);
        }
        send(format!(
            r#"{{"event":"message","answer":{},"user":{user}}}"#,
            Value::String(format!("chunk {n}"))
        ))?;
    }
    send(r#"{"event":"message_end"}"#.to_owned())?;
    if chunked {
        write_last_chunk(out)?;
        Ok(keep_alive)
    } else {
        Ok(false)
    }
}

/// `GET /ws/...` with `Upgrade: websocket`: handshake, hello frame, then echo.
fn websocket(req: Request, mut reader: BufReader<TcpStream>, mut out: TcpStream) -> io::Result<()> {
    let key = req.header("sec-websocket-key").unwrap_or("");
    if req.method != "GET" || !req.path().starts_with("/ws") {
        return json_response(&mut out, 404, &json!({"error": "no WebSocket here"}), false)
            .map(|_| ());
    }
    if key.is_empty() || req.header("sec-websocket-version") != Some("13") {
        write_response(
            &mut out,
            426,
            &[("Sec-WebSocket-Version", "13")],
            b"",
            false,
        )?;
        return Ok(());
    }
    let accept = ws::accept_key(key);
    write_head(
        &mut out,
        101,
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", &accept),
        ],
    )?;
    // WebSocket connections live as long as the client wants.
    reader.get_ref().set_read_timeout(None)?;
    let hello = json!({
        "hello": opt_header(&req, "x-user-id"),
        "query": req.query(),
        "path": req.path(),
        "authorization": opt_header(&req, "authorization"),
    });
    ws::write_frame(
        &mut out,
        true,
        ws::OP_TEXT,
        hello.to_string().as_bytes(),
        None,
    )?;
    loop {
        let frame = match ws::read_frame(&mut reader, MAX_FRAME) {
            Ok(f) => f,
            Err(FrameError::Io(e)) => return Err(e),
            Err(FrameError::Protocol(code, why)) => {
                let _ = ws::write_frame(
                    &mut out,
                    true,
                    ws::OP_CLOSE,
                    &ws::close_payload(code, why),
                    None,
                );
                return Ok(());
            }
        };
        if !frame.masked {
            let _ = ws::write_frame(
                &mut out,
                true,
                ws::OP_CLOSE,
                &ws::close_payload(ws::CLOSE_PROTOCOL_ERROR, "client frames must be masked"),
                None,
            );
            return Ok(());
        }
        match frame.opcode {
            ws::OP_PING => ws::write_frame(&mut out, true, ws::OP_PONG, &frame.payload, None)?,
            ws::OP_PONG => {}
            ws::OP_CLOSE => {
                // Echo the status code (not the reason), as most servers do.
                let payload = match frame.close_code() {
                    Some(code) => code.to_be_bytes().to_vec(),
                    None => Vec::new(),
                };
                let _ = ws::write_frame(&mut out, true, ws::OP_CLOSE, &payload, None);
                return Ok(());
            }
            // Text, binary and continuation frames come back as they came, so fragmented
            // messages stay fragmented the same way.
            op => ws::write_frame(&mut out, frame.fin, op, &frame.payload, None)?,
        }
    }
}

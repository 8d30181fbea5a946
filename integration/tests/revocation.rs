//! Revocation lists that change while nginx runs: a list file edited in place is enforced
//! within about a second on every worker, without a reload; a broken edit keeps the old list;
//! a token cached as valid is refused once it is revoked; a list fetched by URI follows its
//! source and keeps the last good list when the source fails.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_integration::client;
use serde_json::json;

const SECRET: &[u8] = b"revocation-secret-0123456789abcdef";

fn jwks() -> String {
    use base64::Engine as _;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    format!(r#"{{"keys":[{{"kty":"oct","k":"{k}"}}]}}"#)
}

fn token(sub: &str) -> String {
    encode(
        "HS256",
        &json!({}),
        &json!({"sub": sub, "jti": format!("jti-{sub}"), "exp": 4102444800u64}),
        &SigningKey::hmac(SECRET),
    )
    .unwrap()
}

/// (status, $auth_jwt_status, $auth_jwt_cache_status) of a request to `path`, on a new
/// connection (so that every worker gets requests).
fn ask(port: u16, path: &str, token: &str) -> (u16, String, String) {
    let mut c = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let auth = format!("Bearer {token}");
    let r = client::request(
        &mut c,
        "GET",
        path,
        &[
            ("Host", "localhost"),
            ("Authorization", &auth),
            ("Connection", "close"),
        ],
        None,
    )
    .unwrap();
    (
        r.status(),
        r.header("x-status").unwrap_or("").to_owned(),
        r.header("x-cache").unwrap_or("").to_owned(),
    )
}

/// Asks until `want` answers (at most `limit`); returns how long it took.
fn until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn an_edited_list_file_is_enforced_without_reload_and_a_broken_edit_keeps_the_old_list() {
    let keys = jwks();
    let files: [(&str, &[u8]); 2] = [
        ("keys.jwks", keys.as_bytes()),
        ("revoked-sub.json", b"{\"mallory\": \"2026-01-01 fraud\"}"),
    ];
    // Two workers: the edit must reach both.
    let nginx = common::Nginx::start_workers("revocation-file", &files, 1, 2, |dir, ports| {
        format!(
            "auth_jwt_cache zone=revocation:1m;\n\
             server {{\n\
               listen 127.0.0.1:{port};\n\
               location / {{\n\
                 auth_jwt \"rl\";\n\
                 auth_jwt_key_file {p}/keys.jwks;\n\
                 auth_jwt_revocation_list_sub {p}/revoked-sub.json;\n\
                 add_header X-Status $auth_jwt_status always;\n\
                 add_header X-Cache $auth_jwt_cache_status always;\n\
                 empty_gif;\n\
               }}\n\
             }}",
            port = ports[0],
            p = dir.display(),
        )
    });
    let port = nginx.ports[0];
    let (alice, mallory) = (token("alice"), token("mallory"));
    assert_eq!(ask(port, "/", &mallory).0, 401, "{}", nginx.logs());
    assert_eq!(ask(port, "/", &mallory).1, "revoked");
    // alice is valid and cached.
    assert_eq!(ask(port, "/", &alice).0, 200);
    for _ in 0..4 {
        let (status, _, cache) = ask(port, "/", &alice);
        assert_eq!(status, 200);
        assert_eq!(cache, "HIT");
    }

    // Revoke alice by editing the file in place: no reload.
    std::fs::write(
        nginx.dir.join("revoked-sub.json"),
        b"{\"mallory\": \"fraud\", \"alice\": \"left the company\"}",
    )
    .unwrap();
    let took = until(Duration::from_secs(5), || {
        // Ten requests in a row refused: both workers have the new list.
        (0..10).all(|_| ask(port, "/", &alice).0 == 401)
    });
    assert!(took.is_some(), "alice was not revoked:\n{}", nginx.logs());
    eprintln!("revocation by file edit took effect after {took:?}");
    // A cache hit is refused too: the verdict was cached before the revocation.
    let (status, word, cache) = ask(port, "/", &alice);
    assert_eq!(
        (status, word.as_str(), cache.as_str()),
        (401, "revoked", "HIT")
    );

    // A broken edit keeps the list in force, with an error line.
    std::fs::write(nginx.dir.join("revoked-sub.json"), b"{\"alice\": ").unwrap();
    thread::sleep(Duration::from_millis(2200));
    for _ in 0..10 {
        assert_eq!(ask(port, "/", &alice).0, 401);
        assert_eq!(ask(port, "/", &mallory).0, 401);
    }
    let logs = nginx.logs();
    assert!(
        logs.contains("auth_jwt_revocation_list_sub: \"")
            && logs.contains("; keeping the list read before"),
        "{logs}"
    );
    // The revoked values never reach the log.
    assert!(!logs.contains("left the company"));

    // Un-revoke alice.
    std::fs::write(nginx.dir.join("revoked-sub.json"), b"{\"mallory\": 1}").unwrap();
    let back = until(Duration::from_secs(5), || {
        (0..10).all(|_| ask(port, "/", &alice).0 == 200)
    });
    assert!(back.is_some(), "alice stayed revoked:\n{}", nginx.logs());
    assert_eq!(ask(port, "/", &mallory).0, 401);
    nginx.finish();
}

#[test]
fn a_list_fetched_by_uri_follows_its_source_and_survives_its_failures() {
    let keys = jwks();
    let files: [(&str, &[u8]); 2] = [
        ("keys.jwks", keys.as_bytes()),
        ("revoked/jti.json", b"{\"jti-mallory\": true}"),
    ];
    let nginx = common::Nginx::start("revocation-uri", &files, 1, |dir, ports| {
        format!(
            "server {{\n\
               listen 127.0.0.1:{port};\n\
               location / {{\n\
                 auth_jwt \"rl\";\n\
                 auth_jwt_key_file {p}/keys.jwks;\n\
                 auth_jwt_revocation_list_jti request=/_revoked/jti.json interval=1s;\n\
                 add_header X-Status $auth_jwt_status always;\n\
                 empty_gif;\n\
               }}\n\
               location /_revoked/ {{\n\
                 internal;\n\
                 alias {p}/revoked/;\n\
               }}\n\
             }}",
            port = ports[0],
            p = dir.display(),
        )
    });
    let port = nginx.ports[0];
    let (alice, mallory) = (token("alice"), token("mallory"));
    assert_eq!(ask(port, "/", &mallory).0, 401, "{}", nginx.logs());
    assert_eq!(ask(port, "/", &mallory).1, "revoked");
    assert_eq!(ask(port, "/", &alice).0, 200);

    // The source changes: within the interval (and a request) the new list is in force.
    std::fs::write(
        nginx.dir.join("revoked/jti.json"),
        b"{\"jti-alice\": {\"exp\": 4102444800}}",
    )
    .unwrap();
    let took = until(Duration::from_secs(5), || ask(port, "/", &alice).0 == 401);
    assert!(took.is_some(), "{}", nginx.logs());
    assert_eq!(ask(port, "/", &mallory).0, 200);

    // The source fails: the last good list stays in force, with an error line.
    std::fs::remove_file(nginx.dir.join("revoked/jti.json")).unwrap();
    thread::sleep(Duration::from_millis(1200));
    for _ in 0..5 {
        assert_eq!(ask(port, "/", &alice).0, 401);
        assert_eq!(ask(port, "/", &mallory).0, 200);
    }
    let logs = nginx.logs();
    assert!(
        logs.contains("auth_jwt: auth_jwt_revocation_list_jti: \"/_revoked/jti.json\": answered with status 404, expected 200; keeping the list fetched before"),
        "{logs}"
    );
    nginx.finish();
}

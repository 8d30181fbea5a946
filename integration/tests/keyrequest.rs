//! `auth_jwt_key_request` + `auth_jwt_key_cache` against a local "IdP" (a second server of the
//! same nginx serving a JWKS file) that rotates its keys while requests flow: valid tokens are
//! never refused, a new kid is picked up by one refetch, and floods of unknown kids do not
//! turn into fetches.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_integration::client;
use base64::Engine as _;
use serde_json::json;

const A: &[u8] = b"keyrequest-secret-a-0123456789ab";
const B: &[u8] = b"keyrequest-secret-b-0123456789ab";

fn jwk(kid: &str, secret: &[u8]) -> String {
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    format!(r#"{{"kty":"oct","kid":"{kid}","alg":"HS256","k":"{k}"}}"#)
}

fn jwks(keys: &[(&str, &[u8])]) -> String {
    let keys: Vec<String> = keys.iter().map(|(kid, s)| jwk(kid, s)).collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn token(kid: &str, secret: &[u8], sub: &str) -> String {
    encode(
        "HS256",
        &json!({ "kid": kid }),
        &json!({ "sub": sub }),
        &SigningKey::hmac(secret),
    )
    .unwrap()
}

fn get(conn: &mut BufReader<TcpStream>, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let r = client::request(
        conn,
        "GET",
        "/api",
        &[("Host", "localhost"), ("Authorization", &auth)],
        None,
    )
    .unwrap();
    (r.status(), r.header("x-status").unwrap_or("").to_owned())
}

/// Fetches the IdP has answered (one access-log line each).
fn fetches(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("logs/idp.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// An nginx with a protected location whose keys come from `auth_jwt_key_request` with
/// `auth_jwt_key_cache cache`, proxied to a second server of the same nginx standing for the
/// IdP: it serves `jwks.json` of the test directory and logs each fetch in `logs/idp.log`.
fn gateway_with_idp(tag: &str, files: &[(&str, &[u8])], cache: &str) -> common::Nginx {
    common::Nginx::start(tag, files, 2, |dir, ports| {
        format!(
            "server {{\n\
               listen 127.0.0.1:{gw};\n\
               keepalive_requests 100000;\n\
               location / {{\n\
                 auth_jwt \"kr\";\n\
                 auth_jwt_key_request /_jwks;\n\
                 auth_jwt_key_cache {cache};\n\
                 add_header X-Status $auth_jwt_status always;\n\
                 empty_gif;\n\
               }}\n\
               location = /_jwks {{\n\
                 internal;\n\
                 proxy_pass http://127.0.0.1:{idp}/certs;\n\
                 proxy_pass_request_headers off;\n\
               }}\n\
             }}\n\
             server {{\n\
               listen 127.0.0.1:{idp};\n\
               location = /certs {{\n\
                 access_log {p}/logs/idp.log;\n\
                 default_type application/json;\n\
                 alias {p}/jwks.json;\n\
               }}\n\
             }}",
            gw = ports[0],
            idp = ports[1],
            p = dir.display(),
        )
    })
}

#[test]
fn keys_rotate_at_the_idp_while_requests_flow() {
    let initial = jwks(&[("a", A)]);
    let files: [(&str, &[u8]); 1] = [("jwks.json", initial.as_bytes())];
    let nginx = gateway_with_idp("keyrequest", &files, "1h");
    let port = nginx.ports[0];
    let connect = || BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let ta = token("a", A, "alice");
    let tb = token("b", B, "bob");

    let mut c = connect();
    let start = Instant::now();
    assert_eq!(get(&mut c, &ta), (200, "valid".into()));
    assert_eq!(fetches(&nginx.dir), 1);

    // Requests with the still-valid key "a" flow during the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let flow = {
        let (stop, sent, ta) = (stop.clone(), sent.clone(), ta.clone());
        thread::spawn(move || {
            let mut c = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
            let mut refused = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (status, word) = get(&mut c, &ta);
                if status != 200 {
                    refused.push((status, word));
                }
                sent.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(2));
            }
            refused
        })
    };

    // A flood of unknown kids: refused, and no fetch (the set was fetched moments ago).
    for i in 0..50 {
        let t = token(
            &format!("random-{i}"),
            b"not-a-key-of-the-idp-0123456789a",
            "x",
        );
        assert_eq!(get(&mut c, &t), (401, "no_key".into()));
    }
    assert_eq!(fetches(&nginx.dir), 1, "{}", nginx.logs());

    // The IdP publishes "b". Within 10 s of the last fetch a new kid does not refetch...
    std::fs::write(nginx.dir.join("jwks.json"), jwks(&[("a", A), ("b", B)])).unwrap();
    assert_eq!(get(&mut c, &tb), (401, "no_key".into()));
    assert_eq!(fetches(&nginx.dir), 1);

    // ... after that, the first token with it refetches once and is accepted.
    let wait = Duration::from_millis(10_500).saturating_sub(start.elapsed());
    thread::sleep(wait);
    assert_eq!(get(&mut c, &tb), (200, "valid".into()), "{}", nginx.logs());
    assert_eq!(fetches(&nginx.dir), 2);
    assert_eq!(get(&mut c, &tb), (200, "valid".into()));

    // Another flood right after the refetch: still no fetch.
    for i in 0..50 {
        let t = token(
            &format!("bogus-{i}"),
            b"not-a-key-of-the-idp-0123456789a",
            "x",
        );
        assert_eq!(get(&mut c, &t), (401, "no_key".into()));
    }
    assert_eq!(fetches(&nginx.dir), 2);

    stop.store(true, Ordering::Relaxed);
    let refused = flow.join().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent > 100, "the background flow sent only {sent} requests");
    assert!(
        refused.is_empty(),
        "valid tokens were refused during rotation: {refused:?}\n{}",
        nginx.logs()
    );
    drop(c);
    nginx.finish();
}

#[test]
fn a_failing_idp_is_a_500_until_it_answers_then_stale_keys_are_kept() {
    let files: [(&str, &[u8]); 0] = [];
    let nginx = gateway_with_idp("keyrequest-down", &files, "1s");
    // nginx closes the connection after a 500: one connection per request.
    let port = nginx.ports[0];
    let once = |t: &str| {
        get(
            &mut BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap()),
            t,
        )
    };
    let ta = token("a", A, "alice");
    // No JWKS yet: the IdP answers 404; nothing is cached, so every request is a 500.
    assert_eq!(once(&ta), (500, "error".into()));
    assert_eq!(once(&ta), (500, "error".into()));
    assert!(nginx.logs().contains(
        "auth_jwt: auth_jwt_key_request: \"/_jwks\": answered with status 404, expected 200 (error)"
    ));
    // Once it answers, the next request fetches and passes.
    std::fs::write(nginx.dir.join("jwks.json"), jwks(&[("a", A)])).unwrap();
    assert_eq!(once(&ta), (200, "valid".into()));

    // The IdP fails again once the cached set is stale: the set in hand is kept (and said so).
    std::fs::remove_file(nginx.dir.join("jwks.json")).unwrap();
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(once(&ta), (200, "valid".into()), "{}", nginx.logs());
    assert!(nginx
        .logs()
        .contains("answered with status 404, expected 200; keeping the keys fetched before"));
    nginx.finish();
}

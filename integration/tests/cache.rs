//! The verified-token cache (`auth_jwt_cache`) against a real nginx: a repeated token is a
//! HIT (its signature is not checked again), refused tokens are never stored, an expired
//! token is refused even while its verdict is stored, a reload with another key set never
//! reuses a verdict, a zone far too small for the traffic keeps answering correctly, and a
//! verdict's stored `exp`/`nbf` are checked with the leeway of the location that finds it.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_integration::client;
use serde_json::json;

const SECRET_A: &[u8] = b"cache-test-secret-a-0123456789ab";
const SECRET_B: &[u8] = b"cache-test-secret-b-0123456789ab";

fn jwk(secret: &[u8], kid: &str) -> String {
    use base64::Engine as _;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    format!(r#"{{"kty":"oct","kid":"{kid}","k":"{k}"}}"#)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token(secret: &[u8], kid: &str, sub: &str, exp: i64) -> String {
    encode(
        "HS256",
        &json!({ "kid": kid }),
        &json!({ "sub": sub, "exp": exp }),
        &SigningKey::hmac(secret),
    )
    .unwrap()
}

fn start(tag: &str, zone: &str, keys: &str) -> common::Nginx {
    let files: [(&str, &[u8]); 1] = [("keys.jwks", keys.as_bytes())];
    common::Nginx::start(tag, &files, 1, |dir, ports| {
        format!(
            "auth_jwt_cache zone={zone} max_age=60s;\n\
             server {{\n\
               listen 127.0.0.1:{port};\n\
               keepalive_requests 100000;\n\
               location / {{\n\
                 auth_jwt \"cache\";\n\
                 auth_jwt_key_file {p}/keys.jwks;\n\
                 add_header X-Cache \"[$auth_jwt_cache_status]\" always;\n\
                 add_header X-Status $auth_jwt_status always;\n\
                 add_header X-Sub $jwt_claim_sub always;\n\
                 empty_gif;\n\
               }}\n\
             }}",
            port = ports[0],
            p = dir.display(),
        )
    })
}

/// (status, X-Cache, X-Status, X-Sub) of `GET /` with `token` on a keep-alive connection.
fn get(conn: &mut BufReader<TcpStream>, token: &str) -> (u16, String, String, String) {
    let auth = format!("Bearer {token}");
    let r = client::request(
        conn,
        "GET",
        "/",
        &[("Host", "localhost"), ("Authorization", &auth)],
        None,
    )
    .unwrap();
    let h = |n: &str| r.header(n).unwrap_or("").to_owned();
    (r.status(), h("x-cache"), h("x-status"), h("x-sub"))
}

fn connect(nginx: &common::Nginx) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(("127.0.0.1", nginx.ports[0])).unwrap())
}

#[test]
fn hit_after_miss_refusals_never_stored_and_expiry_still_checked() {
    let keys = format!(r#"{{"keys":[{}]}}"#, jwk(SECRET_A, "a"));
    let nginx = start("cache-basic", "jwtc:1m", &keys);
    let mut c = connect(&nginx);

    let t = token(SECRET_A, "a", "alice", now() + 600);
    assert_eq!(
        get(&mut c, &t),
        (200, "[MISS]".into(), "valid".into(), "alice".into())
    );
    assert_eq!(
        get(&mut c, &t),
        (200, "[HIT]".into(), "valid".into(), "alice".into())
    );
    assert_eq!(
        get(&mut c, &t),
        (200, "[HIT]".into(), "valid".into(), "alice".into())
    );

    // A token that differs only in its signature is its own entry, checked and refused,
    // and never stored: asking again checks it again.
    // (A character inside the signature, not the last one: the last character's unused bits
    // must be zero, so changing it could make the token malformed instead.)
    let mut forged = t.clone().into_bytes();
    let i = forged.len() - 10;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for _ in 0..2 {
        let (status, cache, word, sub) = get(&mut c, &forged);
        assert_eq!(status, 401);
        assert_eq!(word, "bad_signature");
        assert_eq!(cache, "[MISS]");
        assert_eq!(sub, "");
    }
    // A token signed with another secret under the same kid: refused, never a HIT.
    let other = token(SECRET_B, "a", "mallory", now() + 600);
    assert_eq!(get(&mut c, &other).0, 401);
    assert_eq!(get(&mut c, &other).1, "[MISS]");

    // Expiry is checked on every request, also while the verdict is stored.
    let short = token(SECRET_A, "a", "bob", now() + 2);
    assert_eq!(get(&mut c, &short).1, "[MISS]");
    assert_eq!(get(&mut c, &short).1, "[HIT]");
    thread::sleep(Duration::from_millis(3200));
    let (status, _cache, word, _) = get(&mut c, &short);
    assert_eq!((status, word.as_str()), (401, "expired"));
    drop(c);
    nginx.finish();
}

#[test]
fn reload_with_other_keys_never_reuses_a_verdict() {
    let keys_a = format!(r#"{{"keys":[{}]}}"#, jwk(SECRET_A, "a"));
    let nginx = start("cache-reload", "jwtr:1m", &keys_a);
    let t = token(SECRET_A, "a", "alice", now() + 600);
    let mut c = connect(&nginx);
    assert_eq!(get(&mut c, &t).1, "[MISS]");
    assert_eq!(get(&mut c, &t).1, "[HIT]");
    drop(c);

    // Same keys after a reload: the zone (and the verdict) survive.
    nginx.reload();
    let mut c = connect(&nginx);
    assert_eq!(
        get(&mut c, &t),
        (200, "[HIT]".into(), "valid".into(), "alice".into())
    );
    drop(c);

    // Another key set (key A plus key B): a new fingerprint, so a MISS and a fresh check.
    let keys_ab = format!(
        r#"{{"keys":[{},{}]}}"#,
        jwk(SECRET_A, "a"),
        jwk(SECRET_B, "b")
    );
    std::fs::write(nginx.dir.join("keys.jwks"), keys_ab).unwrap();
    nginx.reload();
    let mut c = connect(&nginx);
    assert_eq!(
        get(&mut c, &t),
        (200, "[MISS]".into(), "valid".into(), "alice".into())
    );
    assert_eq!(get(&mut c, &t).1, "[HIT]");
    drop(c);

    // Key A removed: its token is refused although a verdict for it was stored.
    std::fs::write(
        nginx.dir.join("keys.jwks"),
        format!(r#"{{"keys":[{}]}}"#, jwk(SECRET_B, "b")),
    )
    .unwrap();
    nginx.reload();
    let mut c = connect(&nginx);
    let (status, cache, word, _) = get(&mut c, &t);
    assert_eq!(
        (status, cache.as_str(), word.as_str()),
        (401, "[MISS]", "no_key")
    );
    drop(c);
    nginx.finish();
}

#[test]
fn a_full_zone_keeps_working() {
    // 32k is the smallest zone: a few hundred entries, far fewer than the tokens sent.
    let keys = format!(r#"{{"keys":[{}]}}"#, jwk(SECRET_A, "a"));
    let nginx = start("cache-full", "jwtf:32k", &keys);
    let mut c = connect(&nginx);
    let exp = now() + 600;
    let tokens: Vec<String> = (0..3000)
        .map(|i| token(SECRET_A, "a", &format!("user-{i}"), exp))
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        let (status, cache, word, sub) = get(&mut c, t);
        assert_eq!((status, word.as_str()), (200, "valid"), "token {i}");
        assert_eq!(sub, format!("user-{i}"));
        assert_eq!(cache, "[MISS]", "token {i} is new");
    }
    // The most recent ones are still there; every request is still answered correctly.
    let last = tokens.last().unwrap();
    assert_eq!(get(&mut c, last).1, "[HIT]");
    let mut hits = 0;
    for (i, t) in tokens.iter().enumerate() {
        let (status, cache, _, sub) = get(&mut c, t);
        assert_eq!((status, sub), (200, format!("user-{i}")));
        hits += usize::from(cache == "[HIT]");
    }
    assert!(hits < tokens.len(), "a 32k zone cannot hold 3000 verdicts");
    drop(c);
    nginx.finish();
}

/// A verdict stored by one location is found by another with the same keys and zone, and the
/// time claims stored with it are checked with the leeway of the location asking: a token
/// whose `nbf` is 30 s ahead passes where `auth_jwt_leeway 120s`, and the same verdict, a HIT,
/// still refuses it where the leeway is 0.
#[test]
fn stored_time_claims_are_checked_with_the_leeway_in_force() {
    let keys = format!(r#"{{"keys":[{}]}}"#, jwk(SECRET_A, "a"));
    let files: [(&str, &[u8]); 1] = [("keys.jwks", keys.as_bytes())];
    let nginx = common::Nginx::start("cache-leeway", &files, 1, |dir, ports| {
        format!(
            "auth_jwt_cache zone=jwtl:1m max_age=60s;\n\
             server {{\n\
               listen 127.0.0.1:{port};\n\
               auth_jwt \"cache\";\n\
               auth_jwt_key_file {p}/keys.jwks;\n\
               add_header X-Cache \"[$auth_jwt_cache_status]\" always;\n\
               add_header X-Status $auth_jwt_status always;\n\
               location /lenient {{ auth_jwt_leeway 120s; empty_gif; }}\n\
               location /strict {{ empty_gif; }}\n\
             }}",
            port = ports[0],
            p = dir.display(),
        )
    });
    let t = encode(
        "HS256",
        &json!({ "kid": "a" }),
        &json!({ "sub": "early", "nbf": now() + 30, "exp": now() + 600 }),
        &SigningKey::hmac(SECRET_A),
    )
    .unwrap();
    let mut c = connect(&nginx);
    let mut ask = |path: &str| {
        let auth = format!("Bearer {t}");
        let r = client::request(
            &mut c,
            "GET",
            path,
            &[("Host", "localhost"), ("Authorization", &auth)],
            None,
        )
        .unwrap();
        let h = |n: &str| r.header(n).unwrap_or("").to_owned();
        (r.status(), h("x-cache"), h("x-status"))
    };
    assert_eq!(
        ask("/strict"),
        (401, "[MISS]".into(), "not_yet_valid".into())
    );
    assert_eq!(ask("/lenient"), (200, "[MISS]".into(), "valid".into()));
    assert_eq!(ask("/lenient"), (200, "[HIT]".into(), "valid".into()));
    assert_eq!(
        ask("/strict"),
        (401, "[HIT]".into(), "not_yet_valid".into())
    );
}

//! The `jwt-mint` binary produces tokens the verifier accepts.

mod common;

use std::process::Command;

use auth_jwt_core::{verify, KeySet, Validation};
use common::*;
use serde_json::json;

fn mint(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jwt-mint"))
        .args(args)
        .output()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn temp_file(name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jwt-mint-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn mints_verifiable_tokens() {
    let rsa_path = temp_file("rsa.pem", &rsa().private_pem());
    let out = mint(&[
        "--key",
        rsa_path.to_str().unwrap(),
        "--alg",
        "PS256",
        "--kid",
        "k1",
        "--sub",
        "alice",
        "--exp-in",
        "60",
        "--nbf",
        "1000",
        "--iat",
        "--iss",
        "https://issuer",
        "--aud",
        "api",
        "--claim",
        "roles=[\"reader\",\"admin\"]",
        "--claim",
        "plain=hello world",
        "--header",
        "typ=at+jwt",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(token.ends_with('\n'));
    let token = token.trim_end();
    let t = verify(
        token.as_bytes(),
        &rsa().keyset(),
        &Validation {
            now: now(),
            leeway: 0,
        },
    )
    .unwrap();
    assert_eq!(t.alg(), "PS256");
    assert_eq!(t.header()["kid"], "k1");
    assert_eq!(t.header()["typ"], "at+jwt");
    let c = t.claims();
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["iss"], "https://issuer");
    assert_eq!(c["aud"], "api");
    assert_eq!(c["roles"], json!(["reader", "admin"]));
    assert_eq!(c["plain"], "hello world");
    assert_eq!(c["nbf"], 1000);
    assert!(c["exp"].as_i64().unwrap() > now());
    assert!(c["iat"].as_i64().unwrap() <= now());

    // Default alg follows the key.
    let ec_path = temp_file("ec.pem", &p256().private_pem());
    let out = mint(&["--key", ec_path.to_str().unwrap(), "--exp", "1"]);
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let r = verify(token.trim_end().as_bytes(), &p256().keyset(), &at(NOW)).unwrap_err();
    assert_eq!(r.status, auth_jwt_core::Status::Expired);

    // HMAC from raw file bytes (48 bytes at least: HS384 needs them, RFC 7518 §3.2).
    let secret: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef-hs384";
    let secret_path = temp_file("secret", secret);
    let out = mint(&[
        "--key",
        secret_path.to_str().unwrap(),
        "--hmac",
        "--alg",
        "HS384",
    ]);
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let jwk = json!({"kty": "oct", "k": b64(secret)});
    let (set, _) = KeySet::parse(jwk.to_string().as_bytes()).unwrap();
    assert_eq!(
        verify(token.trim_end().as_bytes(), &set, &at(NOW))
            .unwrap()
            .alg(),
        "HS384"
    );
}

#[test]
fn errors_exit_2() {
    let rsa_path = temp_file("rsa2.pem", &rsa().private_pem());
    let key = rsa_path.to_str().unwrap();
    for args in [
        vec![],
        vec!["--key"],
        vec!["--key", "/nonexistent/key.pem"],
        vec!["--key", key, "--alg", "none"],
        vec!["--key", key, "--alg", "ES256"],
        vec!["--key", key, "--exp-in", "5", "--exp", "6"],
        vec!["--key", key, "--exp", "soon"],
        vec!["--key", key, "--claim", "novalue"],
        vec!["--key", key, "--bogus"],
    ] {
        let out = mint(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}

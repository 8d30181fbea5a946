//! Per-token cost of `verify` for each algorithm family, in µs (a quick check; the real
//! benchmark is scripts/bench).
//!
//!     cargo run --release -p auth-jwt-core --example verify_cost

use std::time::Instant;

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_core::{verify, KeySet, Validation};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::json;

fn main() {
    let claims = json!({"sub": "bench", "exp": 4102444800u64, "iat": 1700000000});
    let v = Validation {
        now: 1_800_000_000,
        leeway: 0,
    };
    let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let ec = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let ed = PKey::generate_ed25519().unwrap();
    let secret = b"0123456789abcdef0123456789abcdef";
    let oct = format!(
        r#"{{"kty":"oct","k":"{}"}}"#,
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret)
    );
    let cases: Vec<(&str, Vec<u8>, SigningKey)> = vec![
        (
            "RS256",
            rsa.public_key_to_pem().unwrap(),
            SigningKey::Pkey(rsa.clone()),
        ),
        (
            "PS256",
            rsa.public_key_to_pem().unwrap(),
            SigningKey::Pkey(rsa.clone()),
        ),
        (
            "ES256",
            ec.public_key_to_pem().unwrap(),
            SigningKey::Pkey(ec.clone()),
        ),
        (
            "EdDSA",
            ed.public_key_to_pem().unwrap(),
            SigningKey::Pkey(ed.clone()),
        ),
        ("HS256", oct.into_bytes(), SigningKey::hmac(secret)),
    ];
    for (alg, pem, key) in cases {
        let (keys, _) = KeySet::parse(&pem).unwrap();
        let token = encode(alg, &json!({}), &claims, &key).unwrap();
        let n = if alg == "HS256" { 200_000 } else { 5_000 };
        for _ in 0..n / 10 {
            verify(token.as_bytes(), &keys, &v).unwrap();
        }
        let t = Instant::now();
        for _ in 0..n {
            verify(token.as_bytes(), &keys, &v).unwrap();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{alg}: {us:.2} µs per verify");
    }
}

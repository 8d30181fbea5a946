//! The most expensive request a client can make, per key-set shape: a token that makes the
//! verifier try as many keys as it will (`MAX_KEY_TRIES`), with and without `kid`.
//!
//!   cargo run --release -p auth-jwt-core --example cost_model
//!
//! Prints the CPU time of one such token (median of repeated runs) for sets of 1, 16 and
//! 5,000 keys of each algorithm family.

use std::time::Instant;

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_core::{verify, KeySet, Validation, MAX_KEY_TRIES};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::json;

/// A private key PEM and its public PEM.
fn keypair(kind: &str) -> (Vec<u8>, Vec<u8>) {
    let pkey = match kind {
        "RS256" => PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        "ES256" => {
            let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
        }
        "EdDSA" => PKey::generate_ed25519().unwrap(),
        _ => unreachable!(),
    };
    (
        pkey.private_key_to_pem_pkcs8().unwrap(),
        pkey.public_key_to_pem().unwrap(),
    )
}

fn median_us(mut f: impl FnMut(), runs: usize) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[t.len() / 2]
}

fn main() {
    let v = Validation { now: 0, leeway: 0 };
    println!("MAX_KEY_TRIES = {MAX_KEY_TRIES}");
    println!(
        "{:<6} {:>6}  {:>22}  {:>22}",
        "alg", "keys", "no kid: us/token", "unknown kid: us/token"
    );
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        // Distinct keys are costly to generate for RSA: reuse a few public keys (the verifier
        // does the same work for each candidate whether or not keys repeat).
        let distinct = if alg == "RS256" { 4 } else { 16 };
        let (signing, publics): (SigningKey, Vec<Vec<u8>>) = if alg == "HS256" {
            let s = b"cost-model-secret-0123456789abcdef".to_vec();
            (
                SigningKey::hmac(b"another-secret-0123456789abcdefgh"),
                vec![s],
            )
        } else {
            let pairs: Vec<_> = (0..distinct).map(|_| keypair(alg)).collect();
            // Signed by a key outside the set: every candidate is tried and fails.
            let (outside, _) = keypair(alg);
            (
                SigningKey::from_pem(&outside).unwrap(),
                pairs.into_iter().map(|(_, p)| p).collect(),
            )
        };
        for n in [1usize, 16, 5000] {
            let set = if alg == "HS256" {
                use base64::Engine as _;
                let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&publics[0]);
                let keys: Vec<_> = (0..n).map(|_| json!({"kty": "oct", "k": k})).collect();
                KeySet::parse(json!({ "keys": keys }).to_string().as_bytes())
                    .unwrap()
                    .0
            } else {
                let mut pem = Vec::new();
                for i in 0..n {
                    pem.extend_from_slice(&publics[i % publics.len()]);
                }
                KeySet::parse(&pem).unwrap().0
            };
            let no_kid = encode(alg, &json!({}), &json!({"sub": "x"}), &signing).unwrap();
            let with_kid =
                encode(alg, &json!({"kid": "nope"}), &json!({"sub": "x"}), &signing).unwrap();
            let runs = if alg == "HS256" { 2001 } else { 101 };
            let a = median_us(
                || {
                    let _ = verify(no_kid.as_bytes(), &set, &v);
                },
                runs,
            );
            let b = median_us(
                || {
                    let _ = verify(with_kid.as_bytes(), &set, &v);
                },
                runs,
            );
            println!("{alg:<6} {n:>6}  {a:>22.1}  {b:>22.1}");
        }
    }
}

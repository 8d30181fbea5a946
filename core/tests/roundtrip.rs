//! sign -> verify round trips for every supported algorithm, with PEM and
//! JWK key sets, and key selection by kid.

mod common;

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_core::{verify, KeySet, Status};
use common::*;
use openssl::nid::Nid;
use serde_json::json;

fn claims() -> serde_json::Value {
    json!({"sub": "alice", "exp": NOW + 60, "nbf": NOW - 60, "iat": NOW, "roles": ["reader", "admin"]})
}

fn round_trip(alg: &str, key: &TestKey) {
    let token = encode(alg, &json!({"kid": "k1"}), &claims(), &key.signer()).unwrap();

    // PEM public key (no kid: usable for a token with kid).
    let t = check(&token, &key.keyset(), NOW).unwrap_or_else(|r| panic!("{alg} PEM: {r:?}"));
    assert_eq!(t.alg(), alg);
    assert_eq!(t.claims()["sub"], "alice");
    assert_eq!(t.header()["kid"], "k1");
    assert_eq!(t.header()["typ"], "JWT");
    let reparsed: serde_json::Value = serde_json::from_str(t.payload()).unwrap();
    assert_eq!(reparsed, claims());

    // JWK with kid and alg.
    let mut jwk = key.jwk();
    jwk["kid"] = json!("k1");
    jwk["alg"] = json!(alg);
    jwk["use"] = json!("sig");
    jwk["key_ops"] = json!(["verify"]);
    let (set, warnings) = KeySet::parse(jwk.to_string().as_bytes()).unwrap();
    assert!(warnings.is_empty(), "{alg}: {warnings:?}");
    check(&token, &set, NOW).unwrap_or_else(|r| panic!("{alg} JWK: {r:?}"));

    // Signature flip.
    let mut bytes = token.clone().into_bytes();
    let last = bytes.len() - 5;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        status(&bytes, &set, &at(NOW)),
        Status::BadSignature,
        "{alg}"
    );

    // Another key of the same type does not verify it.
    let other_status = status(&token, &other_key_like(alg).keyset(), &at(NOW));
    assert_eq!(other_status, Status::BadSignature, "{alg}");
}

fn other_key_like(alg: &str) -> TestKey {
    match alg {
        "ES256" => gen_ec(Nid::X9_62_PRIME256V1),
        "ES384" => gen_ec(Nid::SECP384R1),
        "ES512" => gen_ec(Nid::SECP521R1),
        _ => gen_rsa(2048),
    }
}

#[test]
fn rsa_pkcs1_and_pss() {
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        round_trip(alg, rsa());
    }
}

#[test]
fn ecdsa() {
    round_trip("ES256", p256());
    round_trip("ES384", &gen_ec(Nid::SECP384R1));
    round_trip("ES512", &gen_ec(Nid::SECP521R1));
}

#[test]
fn eddsa() {
    for key in [gen_ed25519(), gen_ed448()] {
        let token = encode("EdDSA", &json!({}), &claims(), &key.signer()).unwrap();
        check(&token, &key.keyset(), NOW).unwrap();
        let (set, _) = KeySet::parse(key.jwk().to_string().as_bytes()).unwrap();
        let t = check(&token, &set, NOW).unwrap();
        assert_eq!(t.alg(), "EdDSA");
        // Ed25519 and Ed448 keys do not verify each other's tokens.
        let other = if key.private.id() == openssl::pkey::Id::ED25519 {
            gen_ed448()
        } else {
            gen_ed25519()
        };
        assert_eq!(
            status(&token, &other.keyset(), &at(NOW)),
            Status::BadSignature
        );
    }
}

#[test]
fn hmac() {
    for alg in ["HS256", "HS384", "HS512"] {
        let secret = vec![7u8; 64];
        let token = encode(alg, &json!({}), &claims(), &SigningKey::hmac(&secret)).unwrap();
        let jwk = json!({"kty": "oct", "k": b64(&secret), "alg": alg});
        let (set, warnings) = KeySet::parse(jwk.to_string().as_bytes()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(check(&token, &set, NOW).unwrap().alg(), alg);
        // Wrong secret.
        let jwk = json!({"kty": "oct", "k": b64(vec![8u8; 64])});
        let (set, _) = KeySet::parse(jwk.to_string().as_bytes()).unwrap();
        assert_eq!(status(&token, &set, &at(NOW)), Status::BadSignature);
    }
}

#[test]
fn es_signatures_are_fixed_width() {
    for (nid, alg, len) in [
        (Nid::X9_62_PRIME256V1, "ES256", 64),
        (Nid::SECP384R1, "ES384", 96),
        (Nid::SECP521R1, "ES512", 132),
    ] {
        let key = gen_ec(nid);
        for _ in 0..8 {
            let token = encode(alg, &json!({}), &json!({}), &key.signer()).unwrap();
            let sig = token.rsplit('.').next().unwrap();
            assert_eq!(
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
                    .unwrap()
                    .len(),
                len
            );
        }
    }
}

#[test]
fn kid_selects_among_many_keys() {
    let keys: Vec<TestKey> = (0..3).map(|_| gen_ec(Nid::X9_62_PRIME256V1)).collect();
    let jwks: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut jwk = k.jwk();
            jwk["kid"] = json!(format!("key-{i}"));
            jwk
        })
        .collect();
    let doc = json!({ "keys": jwks });
    let (set, _) = KeySet::parse(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 3);
    for (i, k) in keys.iter().enumerate() {
        let token = encode(
            "ES256",
            &json!({"kid": format!("key-{i}")}),
            &json!({}),
            &k.signer(),
        )
        .unwrap();
        check(&token, &set, NOW).unwrap();
        // Mislabelled kid: only the wrong key is tried.
        let token = encode(
            "ES256",
            &json!({"kid": format!("key-{}", (i + 1) % 3)}),
            &json!({}),
            &k.signer(),
        )
        .unwrap();
        assert_eq!(status(&token, &set, &at(NOW)), Status::BadSignature);
        // No kid in the token: every key is a candidate.
        let token = encode("ES256", &json!({}), &json!({}), &k.signer()).unwrap();
        check(&token, &set, NOW).unwrap();
    }
}

#[test]
fn extend_merges_sets() {
    let a = gen_ed25519();
    let mut set = KeySet::new();
    assert!(set.is_empty());
    set.extend(rsa().keyset());
    set.extend(a.keyset());
    set.extend(hmac_keys());
    assert_eq!(set.len(), 3);
    for (alg, key) in [
        ("RS256", rsa().signer()),
        ("EdDSA", a.signer()),
        ("HS256", SigningKey::hmac(SECRET)),
    ] {
        let token = encode(alg, &json!({}), &json!({}), &key).unwrap();
        verify(token.as_bytes(), &set, &at(NOW)).unwrap();
    }
}

#[test]
fn payload_is_kept_verbatim() {
    let payload = "{ \"sub\" : \"bob\",\n \"n\": 1.50 }";
    let token = hs256_raw(r#"{"alg":"HS256"}"#, payload);
    let t = check(&token, &hmac_keys(), NOW).unwrap();
    assert_eq!(t.payload(), payload);
    assert_eq!(t.claims()["sub"], "bob");
}

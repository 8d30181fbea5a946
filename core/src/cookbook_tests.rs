//! Known-answer tests from the JOSE cookbook (RFC 7520) and the curve25519
//! vectors. The files are copies, in `core/tests/vectors/jose-cookbook/`, of the
//! public-domain ietf-jose/cookbook JSON files; a missing file is a test
//! failure, not a skip.
//!
//! The cookbook payloads are prose, not JSON objects, so the full JWT
//! [`crate::verify`] refuses them as `Malformed`; the JWS layer
//! (`verify_jws`: shape, header, alg, kid, key selection, signature) is what
//! these vectors check.

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::jws::verify_jws;
use crate::{verify, KeySet, Status, Validation};

struct Vector {
    name: &'static str,
    alg: &'static str,
    has_kid: bool,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "jws/4_1.rsa_v15_signature.json",
        alg: "RS256",
        has_kid: true,
    },
    Vector {
        name: "jws/4_2.rsa-pss_signature.json",
        alg: "PS384",
        has_kid: true,
    },
    Vector {
        name: "jws/4_3.ecdsa_signature.json",
        alg: "ES512",
        has_kid: true,
    },
    Vector {
        name: "jws/4_4.hmac-sha2_integrity_protection.json",
        alg: "HS256",
        has_kid: true,
    },
    Vector {
        name: "curve25519/jws.json",
        alg: "EdDSA",
        has_kid: false,
    },
];

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/jose-cookbook")
        .join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "JOSE cookbook vector {} is missing ({e}); it belongs in core/tests/vectors/jose-cookbook",
            path.display()
        )
    });
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn flip_signature_byte(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let mid = sig.len() / 2;
    sig[mid] ^= 0x01;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[test]
fn cookbook_vectors() {
    for v in VECTORS {
        let doc = load(v.name);
        assert_eq!(doc["input"]["alg"], v.alg, "{}", v.name);
        let jwk = &doc["input"]["key"];
        let compact = doc["output"]["compact"].as_str().unwrap();
        let payload = doc["input"]["payload"].as_str().unwrap();

        let (keys, warnings) =
            KeySet::parse(jwk.to_string().as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(keys.len(), 1, "{}", v.name);
        if jwk.get("d").is_some() {
            assert!(
                warnings.iter().any(|w| w.contains("private key material")),
                "{}: {warnings:?}",
                v.name
            );
        }

        // The JWS layer accepts the known-answer token.
        let (header, body) =
            verify_jws(compact.as_bytes(), &keys).unwrap_or_else(|r| panic!("{}: {r:?}", v.name));
        assert_eq!(header["alg"], v.alg);
        assert_eq!(body, payload.as_bytes(), "{}", v.name);

        // The full JWT verification refuses the prose payload, after nothing else.
        let r = verify(compact.as_bytes(), &keys, &Validation { now: 0, leeway: 0 }).unwrap_err();
        assert_eq!(r.status, Status::Malformed, "{}", v.name);
        assert_eq!(r.detail, "payload is not valid JSON", "{}", v.name);

        // One flipped signature bit.
        let bad = flip_signature_byte(compact);
        let r = verify_jws(bad.as_bytes(), &keys).unwrap_err();
        assert_eq!(r.status, Status::BadSignature, "{}", v.name);

        // A key with another kid.
        let mut other = jwk.clone();
        other["kid"] = Value::String("somebody.else@example".into());
        let (other_keys, _) = KeySet::parse(other.to_string().as_bytes()).unwrap();
        let r = verify_jws(compact.as_bytes(), &other_keys);
        if v.has_kid {
            let r = r.unwrap_err();
            assert_eq!(r.status, Status::NoKey, "{}", v.name);
            assert_eq!(r.detail, "no key matches the token kid");
        } else {
            // A token without kid may be verified by any key.
            assert!(r.is_ok(), "{}", v.name);
        }

        // The key restricted to another alg of the same family is not a candidate.
        let mut restricted = jwk.clone();
        let other_alg = match v.alg {
            "RS256" => "RS512",
            "PS384" => "PS256",
            "HS256" => "HS512",
            _ => continue,
        };
        restricted["alg"] = Value::String(other_alg.into());
        let restricted = KeySet::parse(restricted.to_string().as_bytes());
        if v.alg == "HS256" {
            // The cookbook's 32-byte HMAC key is too short for HS512 (RFC 7518 §3.2): with
            // that alg it is refused at load.
            let e = restricted.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("HS512 needs at least 64 bytes"), "{e}");
            continue;
        }
        let (restricted, _) = restricted.unwrap();
        let r = verify_jws(compact.as_bytes(), &restricted).unwrap_err();
        assert_eq!(r.status, Status::NoKey, "{}", v.name);
        assert_eq!(r.detail, "no key usable with the token alg");
    }
}

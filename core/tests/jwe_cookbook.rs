//! JWE known-answer tests: RFC 7520 §5 and §6 (JOSE cookbook) and the X25519 ECDH-ES example
//! of the CFRG curves, read from `core/tests/vectors/jose-cookbook/`; a missing file is a
//! failure, not a skip.
//!
//! The cookbook plaintexts are prose, not JSON: `decrypt` is checked on them (the plaintext
//! must equal the expected bytes), and the typed validation refuses them after decrypting.

use std::path::PathBuf;

use auth_jwt_core::{decrypt, verify_typed, KeySet, Status, TokenType, Validation};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

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

fn private_keys(jwk: &Value) -> KeySet {
    let (set, warnings) = KeySet::parse_with_private(jwk.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{jwk}: {e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(set.has_decryption_keys());
    set
}

/// Replace segment `i` of a compact token, decoded, by `f` of it.
fn patch(token: &str, i: usize, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut segs: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&segs[i]).unwrap();
    f(&mut bytes);
    segs[i] = URL_SAFE_NO_PAD.encode(bytes);
    segs.join(".")
}

const AT: Validation = Validation { now: 0, leeway: 0 };

struct Vector {
    name: &'static str,
    alg: &'static str,
    enc: &'static str,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "jwe/5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json",
        alg: "RSA-OAEP",
        enc: "A256GCM",
    },
    Vector {
        name: "jwe/5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json",
        alg: "ECDH-ES+A128KW",
        enc: "A128GCM",
    },
    Vector {
        name: "jwe/5_5.key_agreement_using_ecdh-es_with_aes-cbc-hmac-sha2.json",
        alg: "ECDH-ES",
        enc: "A128CBC-HS256",
    },
    Vector {
        name: "jwe/5_6.direct_encryption_using_aes-gcm.json",
        alg: "dir",
        enc: "A128GCM",
    },
    Vector {
        name: "jwe/5_7.key_wrap_using_aes-gcm_keywrap_with_aes-cbc-hmac-sha2.json",
        alg: "A256GCMKW",
        enc: "A128CBC-HS256",
    },
    Vector {
        name: "jwe/5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json",
        alg: "A128KW",
        enc: "A128GCM",
    },
    Vector {
        name: "curve25519/ecdh-es.json",
        alg: "ECDH-ES",
        enc: "A128GCM",
    },
];

#[test]
fn jwe_cookbook_vectors_decrypt() {
    for v in VECTORS {
        let doc = load(v.name);
        assert_eq!(doc["input"]["alg"], v.alg, "{}", v.name);
        assert_eq!(doc["input"]["enc"], v.enc, "{}", v.name);
        let jwk = &doc["input"]["key"];
        let compact = doc["output"]["compact"].as_str().unwrap();
        let plaintext = doc["input"]["plaintext"].as_str().unwrap();
        let keys = private_keys(jwk);

        let d = decrypt(compact.as_bytes(), &keys).unwrap_or_else(|r| panic!("{}: {r:?}", v.name));
        assert_eq!(d.plaintext, plaintext.as_bytes(), "{}", v.name);
        assert_eq!(
            Value::Object(d.header.clone()),
            doc["encrypting_content"]["protected"],
            "{}",
            v.name
        );

        // The signature-only loader does not take these "use":"enc" keys.
        let e = KeySet::parse(jwk.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("no usable key"), "{}: {e}", v.name);

        // The prose plaintext is not a claims object, nor a JWS.
        let r = verify_typed(compact.as_bytes(), &keys, &AT, TokenType::Encrypted).unwrap_err();
        assert_eq!(r.status, Status::Malformed, "{}", v.name);
        assert_eq!(r.detail, "payload is not valid JSON", "{}", v.name);
        let r = verify_typed(compact.as_bytes(), &keys, &AT, TokenType::Nested).unwrap_err();
        assert_eq!(r.status, Status::Malformed, "{}", v.name);
        let r = verify_typed(compact.as_bytes(), &keys, &AT, TokenType::Signed).unwrap_err();
        assert_eq!(r.status, Status::Malformed, "{}", v.name);

        // A flipped tag byte, a flipped ciphertext byte, a flipped header byte (the AAD).
        let bad = patch(compact, 4, |t| t[0] ^= 1);
        let r = decrypt(bad.as_bytes(), &keys).unwrap_err();
        assert_eq!(r.status, Status::DecryptFailed, "{}", v.name);
        assert_eq!(r.detail, "authentication tag mismatch", "{}", v.name);
        let bad = patch(compact, 3, |c| c[5] ^= 0x80);
        let r = decrypt(bad.as_bytes(), &keys).unwrap_err();
        assert_eq!(r.status, Status::DecryptFailed, "{}", v.name);
        assert_eq!(r.detail, "authentication tag mismatch", "{}", v.name);
        let mut header = d.header.clone();
        header.insert("x".into(), json!(1));
        let bad = patch(compact, 0, |h| *h = serde_json::to_vec(&header).unwrap());
        let r = decrypt(bad.as_bytes(), &keys).unwrap_err();
        assert_eq!(r.status, Status::DecryptFailed, "{}", v.name);

        // A wrong encrypted key (where there is one): the same status, its own detail.
        if !matches!(v.alg, "dir" | "ECDH-ES") {
            let bad = patch(compact, 1, |k| k[7] ^= 1);
            let r = decrypt(bad.as_bytes(), &keys).unwrap_err();
            assert_eq!(r.status, Status::DecryptFailed, "{}", v.name);
            assert_eq!(
                r.detail, "content encryption key could not be unwrapped (wrong key?)",
                "{}",
                v.name
            );
        }

        // A key with another kid.
        let mut other = jwk.clone();
        other["kid"] = json!("somebody.else@example");
        let r = decrypt(compact.as_bytes(), &private_keys(&other)).unwrap_err();
        assert_eq!(r.status, Status::NoKey, "{}", v.name);
        assert_eq!(r.detail, "no key matches the token kid", "{}", v.name);

        // The key restricted to another alg is not a candidate.
        let mut restricted = jwk.clone();
        restricted["alg"] = json!(match v.alg {
            "RSA-OAEP" => "RSA-OAEP-256",
            "dir" => "A128KW",
            "A128KW" => "A128GCMKW",
            "A256GCMKW" => "A256KW",
            "ECDH-ES" => "ECDH-ES+A128KW",
            _ => "ECDH-ES",
        });
        let (restricted, _) =
            KeySet::parse_with_private(restricted.to_string().as_bytes()).unwrap();
        let r = decrypt(compact.as_bytes(), &restricted).unwrap_err();
        assert_eq!(r.status, Status::NoKey, "{}", v.name);
        assert_eq!(
            r.detail, "no decryption key usable with the token alg and enc",
            "{}",
            v.name
        );

        // Without private members the key cannot decrypt (and is skipped).
        if jwk.get("d").is_some() {
            let mut public = jwk.clone();
            for m in ["d", "p", "q", "dp", "dq", "qi"] {
                public.as_object_mut().unwrap().remove(m);
            }
            let e = KeySet::parse_with_private(public.to_string().as_bytes()).unwrap_err();
            assert!(
                e.to_string().contains("decryption needs the private key"),
                "{}: {e}",
                v.name
            );
        }
    }
}

#[test]
fn refused_cookbook_vectors() {
    // Keys to try them with: they must be refused before any key is looked at.
    let rsa = load("jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json");
    let rsa_keys = private_keys(&rsa["input"]["key"]);
    let r = decrypt(
        rsa["output"]["compact"].as_str().unwrap().as_bytes(),
        &rsa_keys,
    )
    .unwrap_err();
    assert_eq!(r.status, Status::UnsupportedEnc);
    assert_eq!(
        r.detail,
        "alg RSA1_5 is not accepted (RSAES-PKCS1-v1_5 invites padding oracles)"
    );

    let pbes2 = load("jwe/5_3.key_wrap_using_pbes2-aes-keywrap_with-aes-cbc-hmac-sha2.json");
    assert_eq!(pbes2["input"]["alg"], "PBES2-HS512+A256KW");
    let r = decrypt(
        pbes2["output"]["compact"].as_str().unwrap().as_bytes(),
        &rsa_keys,
    )
    .unwrap_err();
    assert_eq!(r.status, Status::UnsupportedEnc);
    assert_eq!(r.detail, "PBES2 key management is not supported");

    let zip = load("jwe/5_9.compressed_content.json");
    assert_eq!(zip["input"]["zip"], "DEF");
    let keys = private_keys(&zip["input"]["key"]);
    let compact = zip["output"]["compact"].as_str().unwrap();
    let r = decrypt(compact.as_bytes(), &keys).unwrap_err();
    assert_eq!(r.status, Status::UnsupportedEnc);
    assert_eq!(r.detail, "compressed content (zip) is not supported");
    let r = verify_typed(compact.as_bytes(), &keys, &AT, TokenType::Encrypted).unwrap_err();
    assert_eq!(r.status, Status::UnsupportedEnc);
}

#[test]
fn nested_cookbook_vector() {
    let doc = load("6.nesting_signatures_and_encryption.json");
    let sig_jwk = &doc["sign"]["input"]["key"];
    let enc_jwk = &doc["encrypt"]["input"]["key"];
    let jws = doc["sign"]["output"]["compact"].as_str().unwrap();
    let jwe = doc["encrypt"]["output"]["compact"].as_str().unwrap();
    assert_eq!(doc["encrypt"]["input"]["plaintext"], jws);

    let jwks = json!({"keys": [sig_jwk, enc_jwk]});
    let (keys, warnings) = KeySet::parse_with_private(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 2);
    // The signing key's private members are not used ("use":"sig").
    assert_eq!(
        warnings,
        vec!["JWK #1 contains private key material; only its public part is used".to_owned()]
    );

    let d = decrypt(jwe.as_bytes(), &keys).unwrap();
    assert_eq!(d.plaintext, jws.as_bytes());
    assert_eq!(d.header["cty"], "JWT");

    // The claims expire at 1300819380.
    let before = Validation {
        now: 1_300_819_000,
        leeway: 0,
    };
    let token = verify_typed(jwe.as_bytes(), &keys, &before, TokenType::Nested).unwrap();
    assert_eq!(token.alg(), "PS256");
    assert_eq!(token.header()["typ"], "JWT");
    assert_eq!(token.claims()["iss"], "hobbiton.example");
    assert_eq!(token.claims()["http://example.com/is_root"], true);
    // As in NGINX Plus, $jwt_payload of a nested token is the enclosed JWS.
    assert_eq!(token.payload(), jws);
    let after = Validation {
        now: 1_300_819_380,
        leeway: 0,
    };
    let r = verify_typed(jwe.as_bytes(), &keys, &after, TokenType::Nested).unwrap_err();
    assert_eq!(r.status, Status::Expired);

    // As an encrypted (claims) token it is refused: cty JWT.
    let r = verify_typed(jwe.as_bytes(), &keys, &before, TokenType::Encrypted).unwrap_err();
    assert_eq!(r.status, Status::Malformed);
    assert_eq!(
        r.detail,
        "token is a nested JWT (cty JWT), expected encrypted claims"
    );
    // As a signed token: five segments.
    let r = verify_typed(jwe.as_bytes(), &keys, &before, TokenType::Signed).unwrap_err();
    assert_eq!(r.status, Status::Malformed);
    // The inner JWS alone is a valid signed token for the same key set, not a nested one.
    assert!(verify_typed(jws.as_bytes(), &keys, &before, TokenType::Signed).is_ok());
    let r = verify_typed(jws.as_bytes(), &keys, &before, TokenType::Nested).unwrap_err();
    assert_eq!(r.status, Status::Malformed);
    assert_eq!(
        r.detail,
        "token has 3 segments, expected 5 (a JWS, not a JWE)"
    );

    // Without the signature key the inner JWS finds no key.
    let (enc_only, _) = KeySet::parse_with_private(enc_jwk.to_string().as_bytes()).unwrap();
    let r = verify_typed(jwe.as_bytes(), &enc_only, &before, TokenType::Nested).unwrap_err();
    assert_eq!(r.status, Status::NoKey);
    // The decryption key never verifies a signature (use "enc").
    let r = verify_typed(jws.as_bytes(), &enc_only, &before, TokenType::Signed).unwrap_err();
    assert_eq!(r.status, Status::NoKey);
}

//! JWE: decryption keys (`KeySet::parse_with_private`), `decrypt`, `verify_typed` for
//! encrypted and nested tokens made with `sign::encrypt`, and every way a JWE is refused.

mod common;

use auth_jwt_core::sign::{encode, encrypt, EncryptionKey};
use auth_jwt_core::{
    decrypt, verify_typed, KeySet, Rejection, Status, Token, TokenType, MAX_TOKEN_LEN,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::symm::{Cipher, Crypter, Mode};
use serde_json::{json, Value};

const ALGS: [&str; 13] = [
    "dir",
    "RSA-OAEP",
    "RSA-OAEP-256",
    "A128KW",
    "A192KW",
    "A256KW",
    "A128GCMKW",
    "A192GCMKW",
    "A256GCMKW",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
];

const ENCS: [(&str, usize); 6] = [
    ("A128GCM", 16),
    ("A192GCM", 24),
    ("A256GCM", 32),
    ("A128CBC-HS256", 32),
    ("A192CBC-HS384", 48),
    ("A256CBC-HS512", 64),
];

fn claims() -> Value {
    json!({"sub": "alice", "roles": ["a", "b"], "exp": NOW + 3600})
}

fn claims_bytes() -> Vec<u8> {
    serde_json::to_vec(&claims()).unwrap()
}

/// A key set and the matching key to encrypt to.
struct Recipient {
    keys: KeySet,
    key: EncryptionKey,
}

fn private_set(data: impl AsRef<[u8]>) -> KeySet {
    let (set, warnings) = KeySet::parse_with_private(data.as_ref()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    set
}

fn pem_recipient(k: &TestKey) -> Recipient {
    Recipient {
        keys: private_set(k.private_pem()),
        key: EncryptionKey::from_pem(&k.public_pem).unwrap(),
    }
}

fn x25519() -> TestKey {
    let private = PKey::generate_x25519().unwrap();
    TestKey {
        public_pem: private.public_key_to_pem().unwrap(),
        private,
    }
}

fn secret(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| fill ^ (i as u8)).collect()
}

fn oct_recipient(len: usize) -> Recipient {
    let k = secret(len, 0x5a);
    Recipient {
        keys: private_set(json!({"kty": "oct", "k": b64(&k), "use": "enc"}).to_string()),
        key: EncryptionKey::secret(&k),
    }
}

fn recipient_for(alg: &str, enc_len: usize, curve: usize) -> Recipient {
    match alg {
        "dir" => oct_recipient(enc_len),
        "RSA-OAEP" | "RSA-OAEP-256" => pem_recipient(rsa()),
        a if a.starts_with("ECDH-ES") => match curve % 4 {
            0 => pem_recipient(p256()),
            1 => pem_recipient(&gen_ec(Nid::SECP384R1)),
            2 => pem_recipient(&gen_ec(Nid::SECP521R1)),
            _ => pem_recipient(&x25519()),
        },
        a if a.starts_with("A128") => oct_recipient(16),
        a if a.starts_with("A192") => oct_recipient(24),
        _ => oct_recipient(32),
    }
}

fn typed(token: &str, keys: &KeySet, ty: TokenType) -> Result<Token, Rejection> {
    verify_typed(token.as_bytes(), keys, &at(NOW), ty)
}

fn dec_err(token: &str, keys: &KeySet) -> Rejection {
    decrypt(token.as_bytes(), keys).unwrap_err()
}

/// Replace segment `i` of a compact token, decoded, by `f` of it.
fn patch(token: &str, i: usize, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut segs: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&segs[i]).unwrap();
    f(&mut bytes);
    segs[i] = URL_SAFE_NO_PAD.encode(bytes);
    segs.join(".")
}

/// The protected header of a token.
fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

/// Replace the protected header (the tag no longer matches, but header checks come first).
fn with_header(token: &str, header: &Value) -> String {
    patch(token, 0, |h| *h = serde_json::to_vec(header).unwrap())
}

fn assert_rejected(r: Rejection, status: Status, detail: &str) {
    assert_eq!((r.status, r.detail), (status, detail));
}

// ---------------------------------------------------------------- round trips

#[test]
fn every_alg_and_enc_round_trips() {
    let mut curve = 0;
    for alg in ALGS {
        for (enc, enc_len) in ENCS {
            if alg.starts_with("ECDH") {
                curve += 1;
            }
            let r = recipient_for(alg, enc_len, curve);
            let token = encrypt(alg, enc, &Value::Null, &claims_bytes(), &r.key)
                .unwrap_or_else(|e| panic!("{alg} {enc}: {e}"));
            let d =
                decrypt(token.as_bytes(), &r.keys).unwrap_or_else(|e| panic!("{alg} {enc}: {e:?}"));
            assert_eq!(d.plaintext, claims_bytes(), "{alg} {enc}");
            assert_eq!(d.header["alg"], alg);
            assert_eq!(d.header["enc"], enc);

            let t = typed(&token, &r.keys, TokenType::Encrypted)
                .unwrap_or_else(|e| panic!("{alg} {enc}: {e:?}"));
            assert_eq!(t.claims()["sub"], "alice");
            assert_eq!(t.alg(), alg);
            assert_eq!(t.header()["enc"], enc);
            assert_eq!(t.payload().as_bytes(), claims_bytes());

            // Not a signed token, not a nested one.
            let e = typed(&token, &r.keys, TokenType::Signed).unwrap_err();
            assert_rejected(
                e,
                Status::Malformed,
                "token has 5 segments, expected 3 (a JWE, not a JWS)",
            );
            let e = typed(&token, &r.keys, TokenType::Nested).unwrap_err();
            assert_eq!(e.status, Status::Malformed, "{alg} {enc}");

            // One flipped tag bit.
            let bad = patch(&token, 4, |t| t[3] ^= 0x10);
            assert_rejected(
                dec_err(&bad, &r.keys),
                Status::DecryptFailed,
                "authentication tag mismatch",
            );
        }
    }
}

#[test]
fn apu_and_apv_enter_the_key_derivation() {
    let r = pem_recipient(p256());
    for alg in ["ECDH-ES", "ECDH-ES+A128KW"] {
        let header = json!({"apu": b64("Alice"), "apv": b64("Bob")});
        let token = encrypt(alg, "A128GCM", &header, b"{}", &r.key).unwrap();
        assert!(decrypt(token.as_bytes(), &r.keys).is_ok());
        // Another apv derives another key (the tag covers the header too, so this also
        // fails for that reason; the status is the same).
        let mut h = header_of(&token);
        h["apv"] = json!(b64("Eve"));
        assert_eq!(
            dec_err(&with_header(&token, &h), &r.keys).status,
            Status::DecryptFailed
        );
        h["apv"] = json!("not base64!");
        assert_rejected(
            dec_err(&with_header(&token, &h), &r.keys),
            Status::Malformed,
            "apv is not a base64url string",
        );
        h["apv"] = json!(1);
        assert_eq!(
            dec_err(&with_header(&token, &h), &r.keys).status,
            Status::Malformed
        );
    }
}

#[test]
fn encrypted_claims_are_checked() {
    let r = pem_recipient(rsa());
    let enc =
        |claims: &[u8]| encrypt("RSA-OAEP-256", "A256GCM", &Value::Null, claims, &r.key).unwrap();
    let status = |token: &str| match typed(token, &r.keys, TokenType::Encrypted) {
        Ok(_) => (Status::Valid, ""),
        Err(e) => (e.status, e.detail),
    };
    assert_eq!(status(&enc(&claims_bytes())).0, Status::Valid);
    let c = |v: Value| enc(&serde_json::to_vec(&v).unwrap());
    assert_eq!(status(&c(json!({"exp": NOW}))).0, Status::Expired);
    assert_eq!(status(&c(json!({"nbf": NOW + 10}))).0, Status::NotYetValid);
    assert_eq!(status(&c(json!({"exp": "soon"}))).0, Status::BadClaim);
    assert_eq!(
        status(&enc(b"not json")),
        (Status::Malformed, "payload is not valid JSON")
    );
    assert_eq!(
        status(&enc(b"[1,2]")),
        (Status::Malformed, "payload is not a JSON object")
    );
    assert_eq!(
        status(&enc(br#"{"sub":"a","sub":"b"}"#)),
        (Status::Malformed, "duplicate member in payload JSON")
    );
    assert_eq!(
        status(&enc(b"{\"sub\":\"\xff\"}")),
        (Status::Malformed, "payload is not valid UTF-8")
    );
    assert_eq!(
        status(&enc(b"")),
        (Status::Malformed, "payload is not valid JSON")
    );
    // The payload is kept exactly as sent; the header is the JWE header.
    let text = br#"{ "sub" : "bob" , "n":1.50 }"#;
    let t = typed(&enc(text), &r.keys, TokenType::Encrypted).unwrap();
    assert_eq!(t.payload().as_bytes(), text);
    assert_eq!(t.header()["alg"], "RSA-OAEP-256");
    assert_eq!(t.alg(), "RSA-OAEP-256");
    // crit, also in a JWE.
    let token = encrypt(
        "RSA-OAEP",
        "A128GCM",
        &json!({"crit": ["exp"], "exp": 1}),
        &claims_bytes(),
        &r.key,
    )
    .unwrap();
    assert_rejected(
        dec_err(&token, &r.keys),
        Status::BadCrit,
        "crit header is not supported",
    );
}

/// Keys for nested tokens: an EC decryption key (PEM) and the RSA signature key (public).
fn nested_keys() -> (KeySet, EncryptionKey) {
    let ec = p256();
    let (mut keys, _) = KeySet::parse_with_private(&ec.private_pem()).unwrap();
    keys.extend(KeySet::parse_with_private(&rsa().public_pem).unwrap().0);
    (keys, EncryptionKey::from_pem(&ec.public_pem).unwrap())
}

fn nest(jws: &str, header: Value, key: &EncryptionKey) -> String {
    encrypt(
        "ECDH-ES+A256KW",
        "A256CBC-HS512",
        &header,
        jws.as_bytes(),
        key,
    )
    .unwrap()
}

#[test]
fn nested_tokens() {
    let (keys, to) = nested_keys();
    let jws = encode("RS256", &json!({"kid": "k1"}), &claims(), &rsa().signer()).unwrap();
    let token = nest(&jws, json!({"cty": "JWT"}), &to);
    let t = typed(&token, &keys, TokenType::Nested).unwrap();
    assert_eq!(t.alg(), "RS256");
    assert_eq!(t.header()["kid"], "k1");
    assert_eq!(t.claims()["sub"], "alice");

    // cty: absent, any case, application/jwt are fine; anything else is not.
    for cty in [Value::Null, json!("jwt"), json!("application/JWT")] {
        let h = if cty.is_null() {
            json!({})
        } else {
            json!({"cty": cty})
        };
        assert!(typed(&nest(&jws, h, &to), &keys, TokenType::Nested).is_ok());
    }
    for cty in [json!("JSON"), json!(5), json!("application/json")] {
        assert_rejected(
            typed(
                &nest(&jws, json!({"cty": cty}), &to),
                &keys,
                TokenType::Nested,
            )
            .unwrap_err(),
            Status::Malformed,
            "cty of a nested token is not JWT",
        );
    }
    // The inner JWS is fully verified.
    let forged = encode("RS256", &Value::Null, &claims(), &gen_rsa(2048).signer()).unwrap();
    assert_eq!(
        typed(
            &nest(&forged, json!({"cty": "JWT"}), &to),
            &keys,
            TokenType::Nested
        )
        .unwrap_err()
        .status,
        Status::BadSignature
    );
    let expired = encode("RS256", &Value::Null, &json!({"exp": NOW}), &rsa().signer()).unwrap();
    assert_eq!(
        typed(&nest(&expired, Value::Null, &to), &keys, TokenType::Nested)
            .unwrap_err()
            .status,
        Status::Expired
    );
    let none = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"sub":"x"}"#));
    assert_eq!(
        typed(&nest(&none, Value::Null, &to), &keys, TokenType::Nested)
            .unwrap_err()
            .status,
        Status::Malformed
    );
    // Empty, prose, or a JWE inside.
    assert_rejected(
        typed(&nest("", Value::Null, &to), &keys, TokenType::Nested).unwrap_err(),
        Status::Malformed,
        "nested token is empty",
    );
    assert_eq!(
        typed(&nest("hello", Value::Null, &to), &keys, TokenType::Nested)
            .unwrap_err()
            .status,
        Status::Malformed
    );
    assert_rejected(
        typed(&nest(&token, Value::Null, &to), &keys, TokenType::Nested).unwrap_err(),
        Status::Malformed,
        "token has 5 segments, expected 3 (a JWE, not a JWS)",
    );
    // The EC decryption key (PEM private key) never verifies the inner signature, and an
    // inner JWS signed with an HMAC secret needs that secret in the set.
    let hs = encode(
        "HS256",
        &Value::Null,
        &claims(),
        &auth_jwt_core::sign::SigningKey::hmac(SECRET),
    )
    .unwrap();
    assert_eq!(
        typed(&nest(&hs, Value::Null, &to), &keys, TokenType::Nested)
            .unwrap_err()
            .status,
        Status::NoKey
    );
}

// ---------------------------------------------------------------- refusals

#[test]
fn shape_and_size() {
    let r = oct_recipient(16);
    let token = encrypt("dir", "A128GCM", &Value::Null, &claims_bytes(), &r.key).unwrap();
    assert!(decrypt(token.as_bytes(), &r.keys).is_ok());

    assert_rejected(dec_err("", &r.keys), Status::Missing, "token is empty");
    let big = encrypt(
        "dir",
        "A128GCM",
        &Value::Null,
        &vec![b' '; MAX_TOKEN_LEN],
        &r.key,
    )
    .unwrap();
    assert_rejected(
        dec_err(&big, &r.keys),
        Status::TooLarge,
        "token is longer than 16384 bytes",
    );
    assert_eq!(
        typed(&big, &r.keys, TokenType::Encrypted)
            .unwrap_err()
            .status,
        Status::TooLarge
    );
    let segs: Vec<&str> = token.split('.').collect();
    assert_rejected(
        dec_err(&segs[..4].join("."), &r.keys),
        Status::Malformed,
        "token has 4 segments, expected 5",
    );
    assert_rejected(
        dec_err(&format!("{token}.AAAA"), &r.keys),
        Status::Malformed,
        "token has 6 segments, expected 5",
    );
    assert_rejected(
        dec_err(&format!("{token}...."), &r.keys),
        Status::Malformed,
        "token has too many segments, expected 5",
    );
    assert_rejected(
        dec_err(&segs[..3].join("."), &r.keys),
        Status::Malformed,
        "token has 3 segments, expected 5 (a JWS, not a JWE)",
    );
    assert_rejected(
        dec_err("abc", &r.keys),
        Status::Malformed,
        "token has 1 segment, expected 5",
    );
    assert_rejected(
        dec_err(&format!(".{}", segs[1..].join(".")), &r.keys),
        Status::Malformed,
        "token header segment is empty",
    );
    let details = [
        "header is not valid base64url",
        "encrypted key is not valid base64url",
        "IV is not valid base64url",
        "ciphertext is not valid base64url",
        "authentication tag is not valid base64url",
    ];
    for (i, detail) in details.into_iter().enumerate() {
        let mut s: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
        s[i].push_str("+/=");
        assert_rejected(dec_err(&s.join("."), &r.keys), Status::Malformed, detail);
    }
    // Non-canonical trailing bits in the tag.
    let mut s: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    let last = s[4].pop().unwrap();
    s[4].push(if last == 'B' { 'C' } else { 'B' });
    assert_eq!(dec_err(&s.join("."), &r.keys).status, Status::Malformed);

    // Header JSON.
    for (header, detail) in [
        (&b"not json"[..], "header is not valid JSON"),
        (
            br#"{"alg":"dir","alg":"dir","enc":"A128GCM"}"#,
            "duplicate member in header JSON",
        ),
        (b"[1]", "header is not a JSON object"),
        (b"{\"alg\":\"\xff\"}", "header is not valid UTF-8"),
    ] {
        let t = patch(&token, 0, |h| *h = header.to_vec());
        assert_rejected(dec_err(&t, &r.keys), Status::Malformed, detail);
    }
}

#[test]
fn alg_enc_zip_kid() {
    let r = oct_recipient(16);
    let token = encrypt("A128KW", "A128GCM", &Value::Null, &claims_bytes(), &r.key).unwrap();
    let h = header_of(&token);
    let cases: Vec<(Value, Status, &str)> = vec![
        (
            json!({"enc": "A128GCM"}),
            Status::UnsupportedEnc,
            "token has no alg",
        ),
        (
            json!({"alg": 1, "enc": "A128GCM"}),
            Status::UnsupportedEnc,
            "alg is not a string",
        ),
        (
            json!({"alg": "A512KW", "enc": "A128GCM"}),
            Status::UnsupportedEnc,
            "unsupported JWE alg",
        ),
        (
            json!({"alg": "none", "enc": "A128GCM"}),
            Status::UnsupportedEnc,
            "unsupported JWE alg",
        ),
        (
            json!({"alg": "a128kw", "enc": "A128GCM"}),
            Status::UnsupportedEnc,
            "unsupported JWE alg",
        ),
        (
            json!({"alg": "HS256", "enc": "A128GCM"}),
            Status::UnsupportedEnc,
            "alg is a JWS algorithm, not a JWE key management algorithm",
        ),
        (
            json!({"alg": "RSA1_5", "enc": "A128GCM"}),
            Status::UnsupportedEnc,
            "alg RSA1_5 is not accepted (RSAES-PKCS1-v1_5 invites padding oracles)",
        ),
        (
            json!({"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2c": 1_000_000_000u64}),
            Status::UnsupportedEnc,
            "PBES2 key management is not supported",
        ),
        (
            json!({"alg": "A128KW"}),
            Status::UnsupportedEnc,
            "token has no enc",
        ),
        (
            json!({"alg": "A128KW", "enc": ["A128GCM"]}),
            Status::UnsupportedEnc,
            "enc is not a string",
        ),
        (
            json!({"alg": "A128KW", "enc": "A128CBC-HS255"}),
            Status::UnsupportedEnc,
            "unsupported JWE enc",
        ),
        (
            json!({"alg": "A128KW", "enc": "A128CTR"}),
            Status::UnsupportedEnc,
            "unsupported JWE enc",
        ),
        (
            json!({"alg": "A128KW", "enc": "A128GCM", "zip": "DEF"}),
            Status::UnsupportedEnc,
            "compressed content (zip) is not supported",
        ),
        (
            json!({"alg": "A128KW", "enc": "A128GCM", "zip": null}),
            Status::UnsupportedEnc,
            "compressed content (zip) is not supported",
        ),
        (
            json!({"alg": "A128KW", "enc": "A128GCM", "crit": []}),
            Status::BadCrit,
            "crit header is not supported",
        ),
        (
            json!({"alg": "A128KW", "enc": "A128GCM", "kid": 7}),
            Status::Malformed,
            "kid is not a string",
        ),
    ];
    for (header, status, detail) in cases {
        assert_rejected(
            dec_err(&with_header(&token, &header), &r.keys),
            status,
            detail,
        );
    }
    // zip added by the sender (so the tag is right): still refused, before decryption.
    let zipped = encrypt("A128KW", "A128GCM", &json!({"zip": "DEF"}), b"x", &r.key).unwrap();
    assert_rejected(
        dec_err(&zipped, &r.keys),
        Status::UnsupportedEnc,
        "compressed content (zip) is not supported",
    );
    // kid selection.
    let (kid_keys, _) = KeySet::parse_with_private(
        json!({"keys": [
            {"kty": "oct", "kid": "a", "k": b64(secret(16, 1))},
            {"kty": "oct", "kid": "b", "k": b64(secret(16, 0x5a))},
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let mut with_kid = h.clone();
    with_kid["kid"] = json!("b");
    let t = encrypt("A128KW", "A128GCM", &json!({"kid": "b"}), b"{}", &r.key).unwrap();
    assert!(decrypt(t.as_bytes(), &kid_keys).is_ok());
    let t = encrypt("A128KW", "A128GCM", &json!({"kid": "c"}), b"{}", &r.key).unwrap();
    assert_rejected(
        dec_err(&t, &kid_keys),
        Status::NoKey,
        "no key matches the token kid",
    );
    // Without kid every fitting key is tried, in order.
    assert!(decrypt(token.as_bytes(), &kid_keys).is_ok());
    // The kid names the wrong key: that one only is tried.
    let t = encrypt("A128KW", "A128GCM", &json!({"kid": "a"}), b"{}", &r.key).unwrap();
    assert_rejected(
        dec_err(&t, &kid_keys),
        Status::DecryptFailed,
        "content encryption key could not be unwrapped (wrong key?)",
    );
}

#[test]
fn lengths_tag_padding() {
    let r = oct_recipient(32);
    let gcm = encrypt("dir", "A256GCM", &Value::Null, &claims_bytes(), &r.key).unwrap();
    let r64 = oct_recipient(64);
    let cbc = encrypt(
        "dir",
        "A256CBC-HS512",
        &Value::Null,
        &claims_bytes(),
        &r64.key,
    )
    .unwrap();

    // Wrong IV length.
    for (token, keys) in [(&gcm, &r.keys), (&cbc, &r64.keys)] {
        let t = patch(token, 2, |iv| iv.push(0));
        assert_rejected(
            dec_err(&t, keys),
            Status::DecryptFailed,
            "IV has the wrong length",
        );
        let t = patch(token, 2, |iv| {
            iv.pop();
        });
        assert_rejected(
            dec_err(&t, keys),
            Status::DecryptFailed,
            "IV has the wrong length",
        );
        let t = patch(token, 2, Vec::clear);
        assert_rejected(
            dec_err(&t, keys),
            Status::DecryptFailed,
            "IV has the wrong length",
        );
        // Wrong tag length (a truncated GCM tag is not accepted).
        let t = patch(token, 4, |tag| tag.truncate(12));
        assert_rejected(
            dec_err(&t, keys),
            Status::DecryptFailed,
            "authentication tag has the wrong length",
        );
        let t = patch(token, 4, Vec::clear);
        assert_rejected(
            dec_err(&t, keys),
            Status::DecryptFailed,
            "authentication tag has the wrong length",
        );
        // Flipped tag byte.
        let t = patch(token, 4, |tag| *tag.last_mut().unwrap() ^= 1);
        assert_rejected(
            dec_err(&t, keys),
            Status::DecryptFailed,
            "authentication tag mismatch",
        );
    }
    // The CBC-HS512 tag is 32 bytes.
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(cbc.split('.').nth(4).unwrap())
            .unwrap()
            .len(),
        32
    );

    // Truncated ciphertext: not whole blocks (CBC), a block less (CBC), a byte less (GCM).
    let t = patch(&cbc, 3, |c| c.truncate(c.len() - 3));
    assert_rejected(
        dec_err(&t, &r64.keys),
        Status::DecryptFailed,
        "ciphertext length is not a positive multiple of the AES block size (truncated?)",
    );
    let t = patch(&cbc, 3, Vec::clear);
    assert_eq!(
        dec_err(&t, &r64.keys).detail,
        "ciphertext length is not a positive multiple of the AES block size (truncated?)"
    );
    let t = patch(&cbc, 3, |c| c.truncate(c.len() - 16));
    assert_rejected(
        dec_err(&t, &r64.keys),
        Status::DecryptFailed,
        "authentication tag mismatch",
    );
    let t = patch(&gcm, 3, |c| {
        c.pop();
    });
    assert_rejected(
        dec_err(&t, &r.keys),
        Status::DecryptFailed,
        "authentication tag mismatch",
    );

    // Wrong key for dir.
    let other = private_set(json!({"kty": "oct", "k": b64(secret(32, 1))}).to_string());
    assert_rejected(
        dec_err(&gcm, &other),
        Status::DecryptFailed,
        "authentication tag mismatch",
    );
    // A dir key of another length is no candidate.
    assert_rejected(
        dec_err(&gcm, &oct_recipient(16).keys),
        Status::NoKey,
        "no decryption key usable with the token alg and enc",
    );

    // Bad padding behind a valid tag (only a broken sender can do this).
    let k = secret(32, 0x5a);
    let (mac_key, aes_key) = k.split_at(16);
    let protected = b64(r#"{"alg":"dir","enc":"A128CBC-HS256"}"#);
    let iv = [7u8; 16];
    let mut c = Crypter::new(Cipher::aes_128_cbc(), Mode::Encrypt, aes_key, Some(&iv)).unwrap();
    c.pad(false);
    let mut ct = vec![0u8; 32];
    let n = c.update(&[0u8; 16], &mut ct).unwrap();
    let m = c.finalize(&mut ct[n..]).unwrap();
    ct.truncate(n + m);
    let hmac = PKey::hmac(mac_key).unwrap();
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &hmac).unwrap();
    for part in [
        protected.as_bytes(),
        &iv,
        &ct,
        &(protected.len() as u64 * 8).to_be_bytes(),
    ] {
        s.update(part).unwrap();
    }
    let tag = s.sign_to_vec().unwrap();
    let token = format!("{protected}..{}.{}.{}", b64(iv), b64(&ct), b64(&tag[..16]));
    assert_rejected(
        dec_err(&token, &r.keys),
        Status::DecryptFailed,
        "padding is invalid",
    );
    // The same token with a good tag over good padding decrypts: the construction is right.
    let good = encrypt("dir", "A128CBC-HS256", &Value::Null, b"{}", &r.key).unwrap();
    assert!(decrypt(good.as_bytes(), &r.keys).is_ok());
}

#[test]
fn encrypted_key_presence() {
    let r = oct_recipient(16);
    let dir = encrypt("dir", "A128GCM", &Value::Null, b"{}", &r.key).unwrap();
    let t = patch(&dir, 1, |k| k.extend_from_slice(&[1; 24]));
    assert_rejected(
        dec_err(&t, &r.keys),
        Status::Malformed,
        "encrypted key must be empty for dir and ECDH-ES",
    );
    let kw = encrypt("A128KW", "A128GCM", &Value::Null, b"{}", &r.key).unwrap();
    let t = patch(&kw, 1, Vec::clear);
    assert_rejected(
        dec_err(&t, &r.keys),
        Status::Malformed,
        "encrypted key segment is empty",
    );
    let ec = pem_recipient(p256());
    let t = encrypt("ECDH-ES", "A128GCM", &Value::Null, b"{}", &ec.key).unwrap();
    let t = patch(&t, 1, |k| k.push(0));
    assert_eq!(dec_err(&t, &ec.keys).status, Status::Malformed);
}

#[test]
fn wrong_keys_and_no_oracle() {
    let r = pem_recipient(rsa());
    let stranger = gen_rsa(2048);
    let unwrap = "content encryption key could not be unwrapped (wrong key?)";
    for alg in ["RSA-OAEP", "RSA-OAEP-256"] {
        // Encrypted to another RSA key.
        let to_other = EncryptionKey::from_pem(&stranger.public_pem).unwrap();
        let t = encrypt(alg, "A128CBC-HS256", &Value::Null, b"{}", &to_other).unwrap();
        assert_rejected(dec_err(&t, &r.keys), Status::DecryptFailed, unwrap);
        // A random encrypted key of the right length, a short one, a long one: all the
        // same status and detail (the failure surfaces at the tag check).
        let good = encrypt(alg, "A128GCM", &Value::Null, b"{}", &r.key).unwrap();
        for f in [
            (|k: &mut Vec<u8>| openssl::rand::rand_bytes(k).unwrap()) as fn(&mut Vec<u8>),
            |k| k.truncate(100),
            |k| k.push(0),
            |k| k[0] ^= 0x80,
        ] {
            let t = patch(&good, 1, f);
            assert_rejected(dec_err(&t, &r.keys), Status::DecryptFailed, unwrap);
        }
        // An OAEP-wrapped key of the wrong length.
        let wrong_len = encrypt(alg, "A256GCM", &Value::Null, b"{}", &r.key).unwrap();
        let mut h = header_of(&wrong_len);
        h["enc"] = json!("A128GCM");
        let t = with_header(&wrong_len, &h);
        assert_rejected(dec_err(&t, &r.keys), Status::DecryptFailed, unwrap);
    }
    // RSA-OAEP vs RSA-OAEP-256 with the same key: the digest matters.
    let t = encrypt("RSA-OAEP", "A128GCM", &Value::Null, b"{}", &r.key).unwrap();
    let mut h = header_of(&t);
    h["alg"] = json!("RSA-OAEP-256");
    assert_eq!(
        dec_err(&with_header(&t, &h), &r.keys).status,
        Status::DecryptFailed
    );

    // AES key wrap with another secret.
    let kw = oct_recipient(24);
    let t = encrypt(
        "A192KW",
        "A192GCM",
        &Value::Null,
        b"{}",
        &EncryptionKey::secret(&secret(24, 9)),
    )
    .unwrap();
    assert_rejected(dec_err(&t, &kw.keys), Status::DecryptFailed, unwrap);
    let t = encrypt(
        "A192GCMKW",
        "A192GCM",
        &Value::Null,
        b"{}",
        &EncryptionKey::secret(&secret(24, 9)),
    )
    .unwrap();
    assert_rejected(dec_err(&t, &kw.keys), Status::DecryptFailed, unwrap);

    // ECDH-ES to another key: the derived key is wrong, so the tag fails; with key wrap the
    // unwrap fails first.
    let ec = pem_recipient(p256());
    let other = EncryptionKey::from_pem(&gen_ec(Nid::X9_62_PRIME256V1).public_pem).unwrap();
    let t = encrypt("ECDH-ES", "A128GCM", &Value::Null, b"{}", &other).unwrap();
    assert_rejected(
        dec_err(&t, &ec.keys),
        Status::DecryptFailed,
        "authentication tag mismatch",
    );
    let t = encrypt("ECDH-ES+A128KW", "A128GCM", &Value::Null, b"{}", &other).unwrap();
    assert_rejected(dec_err(&t, &ec.keys), Status::DecryptFailed, unwrap);

    // Several candidates: the right one is found whatever the order.
    let mut both = KeySet::parse_with_private(&stranger.private_pem())
        .unwrap()
        .0;
    both.extend(KeySet::parse_with_private(&rsa().private_pem()).unwrap().0);
    let t = encrypt("RSA-OAEP", "A128GCM", &Value::Null, b"{}", &r.key).unwrap();
    assert!(decrypt(t.as_bytes(), &both).is_ok());

    // A verification-only key set has no decryption key.
    assert!(!rsa().keyset().has_decryption_keys());
    assert_rejected(
        dec_err(&t, &rsa().keyset()),
        Status::NoKey,
        "no decryption key usable with the token alg and enc",
    );
    // An RSA key cannot serve A128KW and the reverse.
    let t = encrypt(
        "A128KW",
        "A128GCM",
        &Value::Null,
        b"{}",
        &oct_recipient(16).key,
    )
    .unwrap();
    assert_eq!(dec_err(&t, &r.keys).status, Status::NoKey);
}

#[test]
fn ecdh_epk() {
    let ec = pem_recipient(p256());
    let token = encrypt("ECDH-ES", "A128GCM", &Value::Null, b"{}", &ec.key).unwrap();
    let h = header_of(&token);
    let invalid = "epk is not a valid public key";
    let mut cases: Vec<(Value, Status, &str)> = Vec::new();
    let mut no_epk = h.clone();
    no_epk.as_object_mut().unwrap().remove("epk");
    cases.push((no_epk, Status::Malformed, "ECDH-ES token has no epk"));
    let mut s = h.clone();
    s["epk"] = json!("key");
    cases.push((s, Status::Malformed, "epk is not a JSON object"));
    // A point off the curve (invalid-curve attack).
    let mut s = h.clone();
    let mut y = URL_SAFE_NO_PAD
        .decode(h["epk"]["y"].as_str().unwrap())
        .unwrap();
    y[31] ^= 1;
    s["epk"]["y"] = json!(b64(&y));
    cases.push((s, Status::Malformed, invalid));
    let mut s = h.clone();
    s["epk"]["x"] = json!(b64([0u8; 31]));
    cases.push((s, Status::Malformed, invalid));
    let mut s = h.clone();
    s["epk"].as_object_mut().unwrap().remove("y");
    cases.push((s, Status::Malformed, invalid));
    let mut s = h.clone();
    s["epk"]["kty"] = json!("RSA");
    cases.push((s, Status::Malformed, invalid));
    let mut s = h.clone();
    s["epk"]["crv"] = json!("secp256k1");
    cases.push((s, Status::UnsupportedEnc, "epk curve is not supported"));
    let mut s = h.clone();
    s["epk"] = json!({"kty": "OKP", "crv": "X448", "x": b64([1u8; 56])});
    cases.push((s, Status::UnsupportedEnc, "epk curve is not supported"));
    // An epk on another curve than every key.
    let other = header_of(
        &encrypt(
            "ECDH-ES",
            "A128GCM",
            &Value::Null,
            b"{}",
            &pem_recipient(&gen_ec(Nid::SECP384R1)).key,
        )
        .unwrap(),
    );
    let mut s = h.clone();
    s["epk"] = other["epk"].clone();
    cases.push((
        s,
        Status::NoKey,
        "no decryption key usable with the token alg and enc",
    ));
    for (header, status, detail) in cases {
        assert_rejected(
            dec_err(&with_header(&token, &header), &ec.keys),
            status,
            detail,
        );
    }

    // X25519: a small-order epk gives an all-zero secret, which is refused.
    let x = pem_recipient(&x25519());
    let token = encrypt("ECDH-ES", "A128GCM", &Value::Null, b"{}", &x.key).unwrap();
    let mut h = header_of(&token);
    h["epk"]["x"] = json!(b64([0u8; 32]));
    assert_rejected(
        dec_err(&with_header(&token, &h), &x.keys),
        Status::DecryptFailed,
        "ECDH key agreement failed",
    );
    h["epk"]["x"] = json!(b64([0u8; 31]));
    assert_rejected(
        dec_err(&with_header(&token, &h), &x.keys),
        Status::Malformed,
        invalid,
    );
    // An EC epk for an X25519 key set.
    let mut h = header_of(&token);
    h["epk"] = header_of(&encrypt("ECDH-ES", "A128GCM", &Value::Null, b"{}", &ec.key).unwrap())
        ["epk"]
        .clone();
    assert_eq!(
        dec_err(&with_header(&token, &h), &x.keys).status,
        Status::NoKey
    );
}

#[test]
fn gcm_key_wrap_header() {
    let r = oct_recipient(16);
    let token = encrypt("A128GCMKW", "A128GCM", &Value::Null, b"{}", &r.key).unwrap();
    assert!(decrypt(token.as_bytes(), &r.keys).is_ok());
    let h = header_of(&token);
    for (member, detail) in [
        ("iv", "key wrap iv header is missing or not base64url"),
        ("tag", "key wrap tag header is missing or not base64url"),
    ] {
        let mut s = h.clone();
        s.as_object_mut().unwrap().remove(member);
        assert_rejected(
            dec_err(&with_header(&token, &s), &r.keys),
            Status::Malformed,
            detail,
        );
        s[member] = json!("!!");
        assert_rejected(
            dec_err(&with_header(&token, &s), &r.keys),
            Status::Malformed,
            detail,
        );
        s[member] = json!(b64([1u8; 8]));
        assert_rejected(
            dec_err(&with_header(&token, &s), &r.keys),
            Status::DecryptFailed,
            "key wrap iv or tag header has the wrong length",
        );
    }
}

// ---------------------------------------------------------------- keys

fn rsa_private_jwk(k: &TestKey) -> Value {
    let rsa = k.private.rsa().unwrap();
    let mut jwk = k.jwk();
    jwk["d"] = json!(b64(rsa.d().to_vec()));
    jwk["p"] = json!(b64(rsa.p().unwrap().to_vec()));
    jwk["q"] = json!(b64(rsa.q().unwrap().to_vec()));
    jwk["dp"] = json!(b64(rsa.dmp1().unwrap().to_vec()));
    jwk["dq"] = json!(b64(rsa.dmq1().unwrap().to_vec()));
    jwk["qi"] = json!(b64(rsa.iqmp().unwrap().to_vec()));
    jwk
}

fn ec_private_jwk(k: &TestKey, width: i32) -> Value {
    let mut jwk = k.jwk();
    let d = k
        .private
        .ec_key()
        .unwrap()
        .private_key()
        .to_vec_padded(width)
        .unwrap();
    jwk["d"] = json!(b64(d));
    jwk
}

fn x25519_private_jwk(k: &PKey<Private>) -> Value {
    json!({
        "kty": "OKP", "crv": "X25519",
        "x": b64(k.raw_public_key().unwrap()),
        "d": b64(k.raw_private_key().unwrap()),
    })
}

fn parse_private_err(v: &Value) -> String {
    KeySet::parse_with_private(v.to_string().as_bytes())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("accepted: {v}"))
}

/// Whether the set decrypts a token made for `to` with `alg`, and verifies an RS256 token
/// signed by the shared RSA key.
fn abilities(keys: &KeySet, alg: &str, to: &EncryptionKey) -> (bool, bool) {
    let t = encrypt(alg, "A128GCM", &Value::Null, b"{}", to).unwrap();
    let jws = encode("RS256", &Value::Null, &claims(), &rsa().signer()).unwrap();
    (
        decrypt(t.as_bytes(), keys).is_ok(),
        typed(&jws, keys, TokenType::Signed).is_ok(),
    )
}

#[test]
fn private_jwks() {
    let to_rsa = EncryptionKey::from_pem(&rsa().public_pem).unwrap();
    let full = rsa_private_jwk(rsa());

    // use absent: verifies and decrypts; use "enc": decrypts only; use "sig": verifies only.
    let (set, w) = KeySet::parse_with_private(full.to_string().as_bytes()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(abilities(&set, "RSA-OAEP", &to_rsa), (true, true));
    let mut j = full.clone();
    j["use"] = json!("enc");
    assert_eq!(
        abilities(&private_set(j.to_string()), "RSA-OAEP", &to_rsa),
        (true, false)
    );
    j["use"] = json!("sig");
    let (set, w) = KeySet::parse_with_private(j.to_string().as_bytes()).unwrap();
    assert_eq!(
        w,
        vec!["JWK #1 contains private key material; only its public part is used".to_owned()]
    );
    assert_eq!(abilities(&set, "RSA-OAEP", &to_rsa), (false, true));
    // key_ops.
    for (ops, expect) in [
        (json!(["decrypt"]), (true, false)),
        (json!(["unwrapKey", "verify"]), (true, true)),
        (json!(["verify"]), (false, true)),
    ] {
        let mut j = full.clone();
        j["key_ops"] = ops.clone();
        let set = KeySet::parse_with_private(j.to_string().as_bytes())
            .unwrap()
            .0;
        assert_eq!(abilities(&set, "RSA-OAEP", &to_rsa), expect, "{ops}");
    }
    let mut j = full.clone();
    j["key_ops"] = json!(["sign"]);
    assert!(parse_private_err(&j).contains("key_ops allowing neither"));
    // alg: a JWE alg restricts to decryption, a JWS alg to verification.
    let mut j = full.clone();
    j["alg"] = json!("RSA-OAEP");
    let set = private_set(j.to_string());
    assert_eq!(abilities(&set, "RSA-OAEP", &to_rsa), (true, false));
    assert_eq!(abilities(&set, "RSA-OAEP-256", &to_rsa), (false, false));
    j["alg"] = json!("RS256");
    let set = KeySet::parse_with_private(j.to_string().as_bytes())
        .unwrap()
        .0;
    assert_eq!(abilities(&set, "RSA-OAEP", &to_rsa), (false, true));
    j["alg"] = json!("ECDH-ES");
    assert_eq!(
        parse_private_err(&j),
        "JWK #1: alg ECDH-ES does not fit a RSA key"
    );
    j["alg"] = json!("RSA1_5");
    assert_eq!(
        parse_private_err(&j),
        "JWK #1: alg \"RSA1_5\" is not supported: RSAES-PKCS1-v1_5 key management invites \
         padding oracle attacks (use RSA-OAEP-256)"
    );
    // use other.
    let mut j = full.clone();
    j["use"] = json!("tls");
    assert!(parse_private_err(&j).contains("has use \"tls\" and is ignored"));

    // d only (no CRT parameters).
    let mut j = full.clone();
    for m in ["p", "q", "dp", "dq", "qi"] {
        j.as_object_mut().unwrap().remove(m);
    }
    assert!(abilities(&private_set(j.to_string()), "RSA-OAEP-256", &to_rsa).0);
    // Some CRT parameters only, a wrong d, a wrong p, multi-prime.
    let mut j = full.clone();
    j.as_object_mut().unwrap().remove("qi");
    assert!(parse_private_err(&j).contains("some but not all"));
    let mut j = full.clone();
    for m in ["p", "q", "dp", "dq", "qi"] {
        j.as_object_mut().unwrap().remove(m);
    }
    j["d"] = json!(b64([3u8; 200]));
    assert!(parse_private_err(&j).contains("d does not match"));
    let mut j = full.clone();
    j["p"] = json!(b64([3u8; 128]));
    assert!(parse_private_err(&j).contains("RSA private key"));
    let mut j = full.clone();
    j["oth"] = json!([]);
    assert!(parse_private_err(&j).contains("multi-prime"));

    // EC.
    for (nid, width) in [
        (Nid::X9_62_PRIME256V1, 32),
        (Nid::SECP384R1, 48),
        (Nid::SECP521R1, 66),
    ] {
        let k = gen_ec(nid);
        let j = ec_private_jwk(&k, width);
        let set = private_set(j.to_string());
        let to = EncryptionKey::from_pem(&k.public_pem).unwrap();
        assert!(abilities(&set, "ECDH-ES+A128KW", &to).0);
        let mut bad = j.clone();
        bad["d"] = json!(b64(vec![1u8; width as usize]));
        assert!(
            parse_private_err(&bad).contains("d does not match"),
            "{nid:?}"
        );
        bad["d"] = json!(b64(vec![1u8; width as usize + 1]));
        assert!(parse_private_err(&bad).contains("EC private key d must be"));
    }
    // X25519: only with private members, only for decryption.
    let x = PKey::generate_x25519().unwrap();
    let j = x25519_private_jwk(&x);
    let to = EncryptionKey::from_pem(&x.public_key_to_pem().unwrap()).unwrap();
    assert_eq!(
        abilities(&private_set(j.to_string()), "ECDH-ES", &to),
        (true, false)
    );
    let mut public = j.clone();
    public.as_object_mut().unwrap().remove("d");
    assert!(parse_private_err(&public).contains("decryption needs the private key"));
    let mut bad = j.clone();
    bad["d"] = json!(b64([9u8; 32]));
    assert!(parse_private_err(&bad).contains("d does not match x"));
    // The signature-only loader is unchanged: X25519 is not a signature key.
    assert!(KeySet::parse(j.to_string().as_bytes())
        .unwrap_err()
        .to_string()
        .contains("unsupported OKP crv"));
    // Ed25519 private members never decrypt.
    let ed = gen_ed25519();
    let mut j = ed.jwk();
    j["d"] = json!(b64(ed.private.raw_private_key().unwrap()));
    let (set, w) = KeySet::parse_with_private(j.to_string().as_bytes()).unwrap();
    assert!(!set.has_decryption_keys());
    assert!(w[0].contains("only its public part"), "{w:?}");

    // oct: the JWK alg may name the enc of a dir key; lengths must fit.
    let k16 = json!({"kty": "oct", "k": b64(secret(16, 0x5a)), "alg": "A128GCM", "use": "enc"});
    let to16 = oct_recipient(16).key;
    assert_eq!(
        abilities(&private_set(k16.to_string()), "dir", &to16),
        (true, false)
    );
    let mut j = k16.clone();
    j["alg"] = json!("A256GCM");
    assert_eq!(
        parse_private_err(&j),
        "JWK #1: oct key of 16 bytes does not fit alg A256GCM"
    );
    j["alg"] = json!("A192KW");
    assert_eq!(
        parse_private_err(&j),
        "JWK #1: oct key of 16 bytes does not fit alg A192KW"
    );
    j["alg"] = json!("A128KW");
    assert_eq!(
        abilities(&private_set(j.to_string()), "A128KW", &to16),
        (true, false)
    );
    assert_eq!(
        abilities(&private_set(j.to_string()), "dir", &to16),
        (false, false)
    );
    j["alg"] = json!("RSA-OAEP");
    assert_eq!(
        parse_private_err(&j),
        "JWK #1: alg RSA-OAEP does not fit a oct (HMAC) key"
    );
    // An odd-sized "enc" secret draws a warning.
    let odd = json!({"kty": "oct", "k": b64([1u8; 20]), "use": "enc"});
    let (_, w) = KeySet::parse_with_private(odd.to_string().as_bytes()).unwrap();
    assert!(w[0].contains("fits no JWE algorithm"), "{w:?}");
    // use "enc" public keys are skipped, with a reason.
    let mut public = rsa().jwk();
    public["use"] = json!("enc");
    assert!(parse_private_err(&public).contains("decryption needs the private key"));
    let (set, w) = KeySet::parse_with_private(
        json!({"keys": [public, rsa().jwk()]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(w.len(), 1);

    // The fingerprint tells a decryption key from the same public key.
    let verify_only = KeySet::parse(full.to_string().as_bytes()).unwrap().0;
    let with_private = private_set(full.to_string());
    assert_ne!(verify_only.fingerprint(), with_private.fingerprint());
    assert_eq!(
        rsa().keyset().fingerprint(),
        KeySet::parse_with_private(&rsa().public_pem)
            .unwrap()
            .0
            .fingerprint()
    );
}

#[test]
fn private_pems() {
    let rsa_key = rsa();
    let ec = p256();
    let x = x25519();
    let pkcs1 = rsa_key.private.rsa().unwrap().private_key_to_pem().unwrap();
    let sec1 = ec.private.ec_key().unwrap().private_key_to_pem().unwrap();
    let mut params =
        b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n".to_vec();
    params.extend_from_slice(&sec1);
    let to_rsa = EncryptionKey::from_pem(&rsa_key.public_pem).unwrap();
    let to_ec = EncryptionKey::from_pem(&ec.public_pem).unwrap();
    let to_x = EncryptionKey::from_pem(&x.public_pem).unwrap();
    let cases: Vec<(Vec<u8>, &str, &EncryptionKey)> = vec![
        (rsa_key.private_pem(), "RSA-OAEP-256", &to_rsa),
        (pkcs1, "RSA-OAEP", &to_rsa),
        (ec.private_pem(), "ECDH-ES", &to_ec),
        (sec1.clone(), "ECDH-ES+A256KW", &to_ec),
        (params, "ECDH-ES", &to_ec),
        (x.private_pem(), "ECDH-ES+A192KW", &to_x),
    ];
    for (pem, alg, to) in cases {
        let set = private_set(&pem);
        assert!(set.has_decryption_keys());
        // Decryption only: a PEM private key never verifies a signature.
        assert_eq!(abilities(&set, alg, to), (true, false), "{alg}");
        // The signature-only loader still refuses it, as before.
        assert!(KeySet::parse(&pem)
            .unwrap_err()
            .to_string()
            .contains("give the public key"));
    }
    // Private and public keys in one file.
    let mut both = rsa_key.private_pem();
    both.extend_from_slice(&rsa_key.public_pem);
    let set = private_set(&both);
    assert_eq!(set.len(), 2);
    assert_eq!(abilities(&set, "RSA-OAEP", &to_rsa), (true, true));

    let err = |pem: &[u8]| KeySet::parse_with_private(pem).unwrap_err().to_string();
    let encrypted = rsa_key
        .private
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"pw")
        .unwrap();
    assert!(err(&encrypted).contains("passphrase-protected"));
    assert!(err(&gen_ed25519().private_pem()).contains("EdDSA private key cannot decrypt"));
    let k1 = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(Nid::SECP256K1).unwrap(),
    )
    .unwrap();
    assert!(err(&k1.private_key_to_pem().unwrap()).contains("unsupported EC curve"));
    assert!(
        err(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .contains("cannot parse private key")
    );
    assert!(
        err(b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
            .starts_with("no key found")
    );
    assert!(
        err(b"-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n")
            .contains("EC PRIVATE KEY")
    );
    assert!(err(b"hello").contains("PRIVATE KEY"));
    // Short RSA keys draw the usual warning.
    let weak = gen_rsa(1024);
    let (_, w) = KeySet::parse_with_private(&weak.private_pem()).unwrap();
    assert_eq!(
        w,
        vec!["PEM block #1: RSA key of 1024 bits is shorter than 2048".to_owned()]
    );
}

#[test]
fn encryptor_refuses_misfits() {
    let to_rsa = EncryptionKey::from_pem(&rsa().public_pem).unwrap();
    let s16 = EncryptionKey::secret(&[1; 16]);
    assert!(encrypt("RSA1_5", "A128GCM", &Value::Null, b"", &to_rsa).is_err());
    assert!(encrypt("RSA-OAEP", "A128CTR", &Value::Null, b"", &to_rsa).is_err());
    assert!(encrypt("RSA-OAEP", "A128GCM", &Value::Null, b"", &s16).is_err());
    assert!(encrypt("dir", "A256GCM", &Value::Null, b"", &s16).is_err());
    assert!(encrypt("A256KW", "A256GCM", &Value::Null, b"", &s16).is_err());
    assert!(encrypt("ECDH-ES", "A256GCM", &Value::Null, b"", &to_rsa).is_err());
    assert!(encrypt("dir", "A128GCM", &json!([1]), b"", &s16).is_err());
    assert!(EncryptionKey::from_pem(b"nothing").is_err());
    // from_pem takes a private key too (its public half).
    assert!(EncryptionKey::from_pem(&rsa().private_pem()).is_ok());
}

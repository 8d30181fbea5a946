//! Every way a token can be refused, each asserting the exact Status.

mod common;

use auth_jwt_core::sign::{encode, encode_raw, sign_bytes, SigningKey};
use auth_jwt_core::{verify, KeySet, Status, Validation, MAX_TOKEN_LEN};
use common::*;
use openssl::nid::Nid;
use serde_json::json;

fn valid_claims() -> serde_json::Value {
    json!({"sub": "alice", "exp": NOW + 3600})
}

// ---------------------------------------------------------------- size

#[test]
fn empty_is_missing() {
    let r = verify(b"", &hmac_keys(), &at(NOW)).unwrap_err();
    assert_eq!(r.status, Status::Missing);
    assert_eq!(r.detail, "token is empty");
}

#[test]
fn too_large() {
    let big = "a".repeat(60 * 1024);
    assert_eq!(hs_status(&big), Status::TooLarge);
    // Even a well-formed one.
    let token = hs256(json!({"pad": "x".repeat(60 * 1024)}), valid_claims());
    assert_eq!(hs_status(&token), Status::TooLarge);
    assert_eq!(hs_status("a".repeat(MAX_TOKEN_LEN + 1)), Status::TooLarge);
    assert_eq!(hs_status("a".repeat(MAX_TOKEN_LEN)), Status::Malformed);
}

// ---------------------------------------------------------------- shape

#[test]
fn segment_count() {
    let token = hs256(json!({}), valid_claims());
    assert_eq!(hs_status(&token), Status::Valid);
    let parts: Vec<&str> = token.split('.').collect();
    let two = format!("{}.{}", parts[0], parts[1]);
    let r = verify(two.as_bytes(), &hmac_keys(), &at(NOW)).unwrap_err();
    assert_eq!(r.status, Status::Malformed);
    assert_eq!(r.detail, "token has 2 segments, expected 3");
    let four = format!("{token}.{}", parts[2]);
    let r = verify(four.as_bytes(), &hmac_keys(), &at(NOW)).unwrap_err();
    assert_eq!(r.status, Status::Malformed);
    assert_eq!(r.detail, "token has 4 segments, expected 3");
    assert_eq!(hs_status(parts[0]), Status::Malformed);
    assert_eq!(hs_status(format!("{token}..")), Status::Malformed);
    assert_eq!(hs_status("....................."), Status::Malformed);
}

#[test]
fn empty_segments() {
    let token = hs256(json!({}), valid_claims());
    let p: Vec<&str> = token.split('.').collect();
    for t in [
        format!(".{}.{}", p[1], p[2]),
        format!("{}..{}", p[0], p[2]),
        format!("{}.{}.", p[0], p[1]),
        "..".to_owned(),
        ".".to_owned(),
    ] {
        assert_eq!(hs_status(&t), Status::Malformed, "{t}");
    }
}

// ---------------------------------------------------------------- base64url

/// Replace segment `i` of a token.
fn with_segment(token: &str, i: usize, seg: &str) -> String {
    let mut p: Vec<String> = token.split('.').map(str::to_owned).collect();
    p[i] = seg.to_owned();
    p.join(".")
}

#[test]
fn padding_is_rejected() {
    // A header whose encoding needs padding.
    for extra in ["", "x", "xx"] {
        let token = hs256(json!({"p": extra}), valid_claims());
        let header = token.split('.').next().unwrap();
        if header.len() % 4 == 0 {
            continue;
        }
        let padded = format!("{header}{}", "=".repeat(4 - header.len() % 4));
        assert_eq!(
            hs_status(with_segment(&token, 0, &padded)),
            Status::Malformed
        );
    }
    let token = hs256(json!({}), valid_claims());
    let sig = token.rsplit('.').next().unwrap();
    // HS256 signature: 32 bytes -> 43 chars, one '=' in padded form.
    assert_eq!(sig.len(), 43);
    assert_eq!(
        hs_status(with_segment(&token, 2, &format!("{sig}="))),
        Status::Malformed
    );
}

#[test]
fn standard_alphabet_and_whitespace_are_rejected() {
    let token = hs256(json!({}), valid_claims());
    let p: Vec<&str> = token.split('.').collect();
    for (i, seg) in p.iter().enumerate() {
        for bad in ["+", "/", " ", "\n", "\t", "\r\n", "%", "\0"] {
            // Replace the first character, and insert in the middle.
            let replaced = format!("{bad}{}", &seg[1..]);
            assert_eq!(
                hs_status(with_segment(&token, i, &replaced)),
                Status::Malformed,
                "segment {i} first char {bad:?}"
            );
            let mid = seg.len() / 2;
            let inserted = format!("{}{bad}{}", &seg[..mid], &seg[mid..]);
            assert_eq!(
                hs_status(with_segment(&token, i, &inserted)),
                Status::Malformed,
                "segment {i} insert {bad:?}"
            );
        }
    }
    // Surrounding whitespace is not the verifier's business either.
    assert_eq!(hs_status(format!(" {token}")), Status::Malformed);
    assert_eq!(hs_status(format!("{token}\n")), Status::Malformed);
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Set the lowest (unused) bit of the last character of a segment whose
/// length is not a multiple of 4: same bytes under lenient decoding.
fn non_canonical(seg: &str) -> String {
    assert_ne!(seg.len() % 4, 0);
    let last = *seg.as_bytes().last().unwrap();
    let v = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(v & 1, 0, "canonical encodings have zero trailing bits");
    format!("{}{}", &seg[..seg.len() - 1], ALPHABET[v | 1] as char)
}

#[test]
fn non_canonical_trailing_bits_are_rejected() {
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let mut checked = [false; 3];
    for pad in 0..3 {
        let token = hs256(
            json!({"p": "x".repeat(pad)}),
            json!({"exp": NOW + 60, "q": "y".repeat(pad)}),
        );
        assert_eq!(hs_status(&token), Status::Valid);
        let p: Vec<&str> = token.split('.').collect();
        for i in 0..3 {
            if p[i].len() % 4 == 0 {
                continue;
            }
            let bad = non_canonical(p[i]);
            // Same bytes for a lenient decoder...
            assert_eq!(
                base64::Engine::decode(&lenient, &bad).unwrap(),
                base64::Engine::decode(&lenient, p[i]).unwrap()
            );
            // ...but refused here.
            assert_eq!(
                hs_status(with_segment(&token, i, &bad)),
                Status::Malformed,
                "segment {i}"
            );
            checked[i] = true;
        }
    }
    assert_eq!(checked, [true; 3]);
}

// ---------------------------------------------------------------- JSON

#[test]
fn duplicate_members() {
    let cases = [
        (r#"{"alg":"HS256","alg":"HS256"}"#, r#"{"sub":"a"}"#),
        (r#"{"alg":"none","alg":"HS256"}"#, r#"{"sub":"a"}"#),
        (r#"{"alg":"HS256","kid":"a","kid":"b"}"#, r#"{"sub":"a"}"#),
        (r#"{"alg":"HS256","x":{"y":1,"y":2}}"#, r#"{"sub":"a"}"#),
        (r#"{"alg":"HS256"}"#, r#"{"sub":"a","sub":"admin"}"#),
        (r#"{"alg":"HS256"}"#, r#"{"exp":1,"exp":99999999999}"#),
        (r#"{"alg":"HS256"}"#, r#"{"a":[{"r":1,"\u0072":2}]}"#),
    ];
    for (header, payload) in cases {
        let token = hs256_raw(header, payload);
        let r = verify(token.as_bytes(), &hmac_keys(), &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::Malformed, "{header} {payload}");
        assert!(r.detail.starts_with("duplicate member in"), "{}", r.detail);
    }
    let r = verify(
        hs256_raw(r#"{"alg":"HS256","alg":"HS256"}"#, "{}").as_bytes(),
        &hmac_keys(),
        &at(NOW),
    )
    .unwrap_err();
    assert_eq!(r.detail, "duplicate member in header JSON");
    let r = verify(
        hs256_raw(r#"{"alg":"HS256"}"#, r#"{"a":1,"a":1}"#).as_bytes(),
        &hmac_keys(),
        &at(NOW),
    )
    .unwrap_err();
    assert_eq!(r.detail, "duplicate member in payload JSON");
}

fn nested(depth: usize) -> String {
    format!(r#"{{"a":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deep_json() {
    // 31 arrays inside the top-level object: 32 levels, accepted.
    assert_eq!(
        hs_status(hs256_raw(r#"{"alg":"HS256"}"#, &nested(31))),
        Status::Valid
    );
    for depth in [32, 100, 5000] {
        assert_eq!(
            hs_status(hs256_raw(r#"{"alg":"HS256"}"#, &nested(depth))),
            Status::Malformed,
            "payload depth {depth}"
        );
        let header = format!(
            r#"{{"alg":"HS256","x":{}1{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert_eq!(
            hs_status(hs256_raw(&header, "{}")),
            Status::Malformed,
            "header depth {depth}"
        );
    }
    // Objects nest the same way; and unbalanced input fails cleanly.
    let objects = format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000));
    assert_eq!(
        hs_status(hs256_raw(r#"{"alg":"HS256"}"#, &objects)),
        Status::TooLarge
    );
    let objects = format!("{}1{}", r#"{"a":"#.repeat(2000), "}".repeat(2000));
    assert_eq!(
        hs_status(hs256_raw(r#"{"alg":"HS256"}"#, &objects)),
        Status::Malformed
    );
    let open = "[".repeat(10_000);
    assert_eq!(
        hs_status(hs256_raw(r#"{"alg":"HS256"}"#, &format!(r#"{{"a":{open}"#))),
        Status::Malformed
    );
}

#[test]
fn not_json_objects() {
    for (header, payload) in [
        (r#"["alg","HS256"]"#, "{}"),
        (r#""HS256""#, "{}"),
        (r#"{"alg":"HS256"}"#, "[]"),
        (r#"{"alg":"HS256"}"#, "null"),
        (r#"{"alg":"HS256"}"#, "42"),
        (r#"{"alg":"HS256"}"#, r#"{"a":1}x"#),
        (r#"{"alg":"HS256",}"#, "{}"),
        (r#"{'alg':'HS256'}"#, "{}"),
        (r#"{"alg":"HS256"}"#, r#"{"a":NaN}"#),
        (r#"{"alg":"HS256"}"#, r#"{"a":1e400}"#),
        (r#"{"alg":"HS256"}"#, r#"{"a":"\ud800"}"#),
    ] {
        assert_eq!(
            hs_status(hs256_raw(header, payload)),
            Status::Malformed,
            "{header} {payload}"
        );
    }
}

#[test]
fn invalid_utf8() {
    let key = SigningKey::hmac(SECRET);
    let header = b"{\"alg\":\"HS256\",\"x\":\"\xff\xfe\"}";
    let token = encode_raw("HS256", header, b"{}", &key).unwrap();
    let r = verify(token.as_bytes(), &hmac_keys(), &at(NOW)).unwrap_err();
    assert_eq!(r.status, Status::Malformed);
    assert_eq!(r.detail, "header is not valid UTF-8");
    // Overlong encoding and a lone surrogate encoded in UTF-8.
    for bad in [&b"\xc0\xaf"[..], b"\xed\xa0\x80"] {
        let mut payload = b"{\"sub\":\"".to_vec();
        payload.extend_from_slice(bad);
        payload.extend_from_slice(b"\"}");
        let token = encode_raw("HS256", br#"{"alg":"HS256"}"#, &payload, &key).unwrap();
        let r = verify(token.as_bytes(), &hmac_keys(), &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::Malformed);
        assert_eq!(r.detail, "payload is not valid UTF-8");
    }
}

// ---------------------------------------------------------------- alg

#[test]
fn alg_none_in_any_case() {
    let payload = b64(valid_claims().to_string());
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = b64(format!(r#"{{"alg":"{none}","typ":"JWT"}}"#));
        // Without a signature the token has an empty third segment.
        let r = verify(
            format!("{header}.{payload}.").as_bytes(),
            &hmac_keys(),
            &at(NOW),
        )
        .unwrap_err();
        assert_eq!(r.status, Status::Malformed, "{none}");
        assert_eq!(r.detail, "token signature segment is empty");
        // With a signature (here a valid HS256 MAC over the input).
        let input = format!("{header}.{payload}");
        let mac = sign_bytes("HS256", &SigningKey::hmac(SECRET), input.as_bytes()).unwrap();
        let token = format!("{input}.{}", b64(mac));
        let r = verify(token.as_bytes(), &hmac_keys(), &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::UnsupportedAlg, "{none}");
        assert_eq!(r.detail, "alg \"none\" is not accepted");
        // The same with encode's header override, against an RSA key set.
        let token = encode(
            "RS256",
            &json!({"alg": none}),
            &valid_claims(),
            &rsa().signer(),
        )
        .unwrap();
        assert_eq!(
            status(&token, &rsa().keyset(), &at(NOW)),
            Status::UnsupportedAlg
        );
    }
}

#[test]
fn missing_or_unknown_alg() {
    for header in [
        r#"{"typ":"JWT"}"#,
        r#"{}"#,
        r#"{"alg":null}"#,
        r#"{"alg":256}"#,
        r#"{"alg":["HS256"]}"#,
        r#"{"alg":{"HS256":true}}"#,
        r#"{"alg":"hs256"}"#,
        r#"{"alg":"HS256 "}"#,
        r#"{"alg":"HS1"}"#,
        r#"{"alg":"ES256K"}"#,
        r#"{"alg":"RSA-OAEP"}"#,
        r#"{"alg":"EDDSA"}"#,
        r#"{"alg":""}"#,
        r#"{"ALG":"HS256"}"#,
    ] {
        assert_eq!(
            hs_status(hs256_raw(header, r#"{"sub":"a"}"#)),
            Status::UnsupportedAlg,
            "{header}"
        );
    }
}

#[test]
fn rsa_public_key_is_never_an_hmac_secret() {
    let key = rsa();
    for secret in [
        key.public_pem.clone(),
        key.public_pem.trim_ascii_end().to_vec(),
    ] {
        let token = encode(
            "HS256",
            &json!({}),
            &valid_claims(),
            &SigningKey::hmac(&secret),
        )
        .unwrap();
        let r = verify(token.as_bytes(), &key.keyset(), &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::NoKey);
        assert_eq!(r.detail, "no key usable with the token alg");
        // Same with the RSA key as a JWK, and for EC.
        let (jwk_set, _) = KeySet::parse(key.jwk().to_string().as_bytes()).unwrap();
        assert_eq!(status(&token, &jwk_set, &at(NOW)), Status::NoKey);
    }
    let ec = p256();
    let token = encode(
        "HS256",
        &json!({}),
        &valid_claims(),
        &SigningKey::hmac(&ec.public_pem),
    )
    .unwrap();
    assert_eq!(status(&token, &ec.keyset(), &at(NOW)), Status::NoKey);
}

#[test]
fn key_type_and_curve_must_fit() {
    // ES384 token, only a P-256 key.
    let p384 = gen_ec(Nid::SECP384R1);
    let token = encode("ES384", &json!({}), &valid_claims(), &p384.signer()).unwrap();
    assert_eq!(status(&token, &p256().keyset(), &at(NOW)), Status::NoKey);
    // RS256 token, only an EC key; EdDSA token, only RSA; ES256 with HMAC only.
    let token = encode("RS256", &json!({}), &valid_claims(), &rsa().signer()).unwrap();
    assert_eq!(status(&token, &p256().keyset(), &at(NOW)), Status::NoKey);
    let ed = gen_ed25519();
    let token = encode("EdDSA", &json!({}), &valid_claims(), &ed.signer()).unwrap();
    assert_eq!(status(&token, &rsa().keyset(), &at(NOW)), Status::NoKey);
    let token = encode("ES256", &json!({}), &valid_claims(), &p256().signer()).unwrap();
    assert_eq!(status(&token, &hmac_keys(), &at(NOW)), Status::NoKey);
    // Empty set.
    assert_eq!(status(&token, &KeySet::new(), &at(NOW)), Status::NoKey);
}

#[test]
fn pss_and_pkcs1_are_not_interchangeable() {
    let key = rsa();
    let set = key.keyset();
    for (sign_as, claim_as) in [
        ("PS256", "RS256"),
        ("RS256", "PS256"),
        ("PS512", "RS512"),
        ("RS384", "PS384"),
        ("PS256", "PS384"),
        ("RS256", "RS512"),
    ] {
        let token = encode(
            sign_as,
            &json!({"alg": claim_as}),
            &valid_claims(),
            &key.signer(),
        )
        .unwrap();
        let r = verify(token.as_bytes(), &set, &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::BadSignature, "{sign_as} as {claim_as}");
        assert_eq!(r.detail, "signature verification failed");
    }
}

#[test]
fn ecdsa_signature_shapes() {
    let key = p256();
    let set = key.keyset();
    let token = encode("ES256", &json!({}), &valid_claims(), &key.signer()).unwrap();
    assert_eq!(status(&token, &set, &at(NOW)), Status::Valid);
    let input = token.rsplit_once('.').unwrap().0;
    let sig = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        token.rsplit_once('.').unwrap().1,
    )
    .unwrap();
    let with_sig = |s: &[u8]| format!("{input}.{}", b64(s));
    // All zeros (r = s = 0).
    assert_eq!(
        status(with_sig(&[0u8; 64]), &set, &at(NOW)),
        Status::BadSignature
    );
    assert_eq!(
        status(with_sig(&[0xffu8; 64]), &set, &at(NOW)),
        Status::BadSignature
    );
    // Wrong lengths.
    for len in [0usize, 1, 32, 63, 65, 66, 96, 132] {
        let mut s = sig.clone();
        s.resize(len, 0);
        if len == 0 {
            continue; // empty segment: Malformed, covered elsewhere
        }
        assert_eq!(
            status(with_sig(&s), &set, &at(NOW)),
            Status::BadSignature,
            "len {len}"
        );
    }
    // The valid signature with a leading zero byte (65 bytes).
    let mut s = vec![0u8];
    s.extend_from_slice(&sig);
    assert_eq!(status(with_sig(&s), &set, &at(NOW)), Status::BadSignature);
    // DER instead of R || S.
    let r = openssl::bn::BigNum::from_slice(&sig[..32]).unwrap();
    let s = openssl::bn::BigNum::from_slice(&sig[32..]).unwrap();
    let der = openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .unwrap()
        .to_der()
        .unwrap();
    assert_eq!(status(with_sig(&der), &set, &at(NOW)), Status::BadSignature);
    // S replaced by n - S (the malleable twin) is still a valid ECDSA signature
    // mathematically; we only make sure the check does not panic.
    let _ = status(with_sig(&sig), &set, &at(NOW));
}

#[test]
fn signature_garbage_for_every_family() {
    let ed = gen_ed448();
    // HS512 needs a 64-byte secret (RFC 7518 §3.2).
    let secret = [SECRET, SECRET].concat();
    let hs512 = KeySet::parse(
        json!({"kty": "oct", "k": b64(&secret)})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
    .0;
    let cases: Vec<(&str, SigningKey, KeySet)> = vec![
        ("RS256", rsa().signer(), rsa().keyset()),
        ("PS384", rsa().signer(), rsa().keyset()),
        ("ES256", p256().signer(), p256().keyset()),
        ("EdDSA", ed.signer(), ed.keyset()),
        ("HS512", SigningKey::hmac(&secret), hs512),
    ];
    for (alg, key, set) in cases {
        let token = encode(alg, &json!({}), &valid_claims(), &key).unwrap();
        assert_eq!(status(&token, &set, &at(NOW)), Status::Valid, "{alg}");
        let input = token.rsplit_once('.').unwrap().0;
        for sig in [vec![0u8], vec![0u8; 64], vec![0xffu8; 512], vec![1u8; 1024]] {
            let t = format!("{input}.{}", b64(&sig));
            assert_eq!(status(&t, &set, &at(NOW)), Status::BadSignature, "{alg}");
        }
        // Truncated MAC / signature.
        let full = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.rsplit_once('.').unwrap().1,
        )
        .unwrap();
        let t = format!("{input}.{}", b64(&full[..full.len() - 1]));
        assert_eq!(status(&t, &set, &at(NOW)), Status::BadSignature, "{alg}");
    }
}

// ---------------------------------------------------------------- crit, kid

#[test]
fn crit_is_refused() {
    for crit in [
        json!([]),
        json!(["exp"]),
        json!(["b64"]),
        json!("x"),
        json!(null),
    ] {
        let token = hs256(json!({"crit": crit, "exp": 1}), valid_claims());
        let r = verify(token.as_bytes(), &hmac_keys(), &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::BadCrit, "{crit}");
        assert_eq!(r.detail, "crit header is not supported");
    }
    // alg is checked first.
    let token = hs256(json!({"alg": "none", "crit": []}), valid_claims());
    assert_eq!(hs_status(&token), Status::UnsupportedAlg);
}

fn kid_keys() -> KeySet {
    let jwk = json!({"keys": [
        {"kty": "oct", "k": b64(SECRET), "kid": "main"},
        {"kty": "oct", "k": b64(b"another secret of enough length!!"), "kid": "other"},
    ]});
    KeySet::parse(jwk.to_string().as_bytes()).unwrap().0
}

#[test]
fn kid_must_be_a_string() {
    for kid in [
        json!(1),
        json!(null),
        json!(["main"]),
        json!({"id": "main"}),
        json!(true),
    ] {
        let token = hs256(json!({"kid": kid}), valid_claims());
        let r = verify(token.as_bytes(), &kid_keys(), &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::Malformed, "{kid}");
        assert_eq!(r.detail, "kid is not a string");
    }
    let token = hs256(json!({"kid": "main"}), valid_claims());
    assert_eq!(status(&token, &kid_keys(), &at(NOW)), Status::Valid);
}

#[test]
fn odd_kids() {
    let long = "k".repeat(10 * 1024);
    for kid in [
        long.as_str(),
        "main\0",
        "\0",
        "ma\u{0}in",
        "MAIN",
        "main ",
        "",
    ] {
        let token = hs256(json!({"kid": kid}), valid_claims());
        assert!(token.len() <= MAX_TOKEN_LEN);
        let r = verify(token.as_bytes(), &kid_keys(), &at(NOW)).unwrap_err();
        assert_eq!(r.status, Status::NoKey, "{:?}", &kid[..kid.len().min(8)]);
        assert_eq!(r.detail, "no key matches the token kid");
        // Keys without kid accept any kid.
        assert_eq!(status(&token, &hmac_keys(), &at(NOW)), Status::Valid);
    }
}

// ---------------------------------------------------------------- claims

fn with_claims(claims: &str) -> Status {
    hs_status(hs256_raw(r#"{"alg":"HS256"}"#, claims))
}

#[test]
fn exp_types_and_ranges() {
    let now = NOW;
    let cases: Vec<(String, Status)> = vec![
        (format!(r#"{{"exp":"{}"}}"#, now + 100), Status::BadClaim),
        (r#"{"exp":true}"#.into(), Status::BadClaim),
        (r#"{"exp":null}"#.into(), Status::BadClaim),
        (r#"{"exp":[1]}"#.into(), Status::BadClaim),
        (r#"{"exp":{}}"#.into(), Status::BadClaim),
        (format!(r#"{{"exp":{}.5}}"#, now + 100), Status::Valid),
        (format!(r#"{{"exp":{}.5}}"#, now - 100), Status::Expired),
        (format!(r#"{{"exp":{}.0}}"#, now), Status::Expired),
        (format!(r#"{{"exp":{}.25}}"#, now), Status::Valid),
        (format!(r#"{{"exp":{}}}"#, now), Status::Expired),
        (format!(r#"{{"exp":{}}}"#, now + 1), Status::Valid),
        (format!(r#"{{"exp":{}e0}}"#, now + 1), Status::Valid),
        (r#"{"exp":-1}"#.into(), Status::Expired),
        (r#"{"exp":-9223372036854775808}"#.into(), Status::Expired),
        (r#"{"exp":0}"#.into(), Status::Expired),
        (r#"{"exp":1e308}"#.into(), Status::Valid),
        (r#"{"exp":-1e308}"#.into(), Status::Expired),
        (r#"{"exp":1.7976931348623157e308}"#.into(), Status::Valid),
        (r#"{"exp":18446744073709551615}"#.into(), Status::Valid),
        (r#"{"exp":9223372036854775807}"#.into(), Status::Valid),
        (
            r#"{"exp":123456789012345678901234567890123456789}"#.into(),
            Status::Valid,
        ),
        (
            r#"{"exp":-123456789012345678901234567890123456789}"#.into(),
            Status::Expired,
        ),
        (r#"{"exp":5e-324}"#.into(), Status::Expired),
        (r#"{"exp":1e400}"#.into(), Status::Malformed),
    ];
    for (claims, want) in cases {
        assert_eq!(with_claims(&claims), want, "{claims}");
    }
    let r = verify(
        hs256_raw(r#"{"alg":"HS256"}"#, r#"{"exp":"soon"}"#).as_bytes(),
        &hmac_keys(),
        &at(NOW),
    )
    .unwrap_err();
    assert_eq!(r.detail, "exp is not a number");
}

#[test]
fn nbf_and_leeway() {
    let keys = hmac_keys();
    let v = |leeway| Validation { now: NOW, leeway };
    let nbf = |t: i64| hs256(json!({}), json!({"nbf": t}));
    assert_eq!(status(nbf(NOW + 30), &keys, &v(0)), Status::NotYetValid);
    assert_eq!(status(nbf(NOW + 30), &keys, &v(29)), Status::NotYetValid);
    assert_eq!(status(nbf(NOW + 30), &keys, &v(30)), Status::Valid);
    assert_eq!(status(nbf(NOW + 30), &keys, &v(60)), Status::Valid);
    assert_eq!(status(nbf(NOW), &keys, &v(0)), Status::Valid);
    assert_eq!(status(nbf(NOW + 1), &keys, &v(0)), Status::NotYetValid);
    assert_eq!(status(nbf(i64::MAX), &keys, &v(0)), Status::NotYetValid);
    // now + leeway beyond i64 does not overflow.
    assert_eq!(status(nbf(i64::MAX), &keys, &v(i64::MAX)), Status::Valid);
    assert_eq!(status(nbf(i64::MIN), &keys, &v(0)), Status::Valid);
    assert_eq!(with_claims(r#"{"nbf":1e308}"#), Status::NotYetValid);
    assert_eq!(with_claims(r#"{"nbf":-1e308}"#), Status::Valid);
    assert_eq!(with_claims(r#"{"nbf":"0"}"#), Status::BadClaim);
    let r = verify(nbf(NOW + 30).as_bytes(), &keys, &v(0)).unwrap_err();
    assert_eq!(r.detail, "token is not yet valid (nbf)");

    // Leeway turns a recently expired token valid.
    let exp = |t: i64| hs256(json!({}), json!({"exp": t}));
    assert_eq!(status(exp(NOW - 10), &keys, &v(0)), Status::Expired);
    assert_eq!(status(exp(NOW - 10), &keys, &v(10)), Status::Expired);
    assert_eq!(status(exp(NOW - 10), &keys, &v(11)), Status::Valid);
    assert_eq!(status(exp(NOW - 10), &keys, &v(3600)), Status::Valid);
    assert_eq!(status(exp(i64::MIN), &keys, &v(i64::MAX)), Status::Expired);
    assert_eq!(
        status(
            exp(NOW - 10),
            &keys,
            &Validation {
                now: NOW,
                leeway: -1000
            }
        ),
        Status::Expired
    );
    assert_eq!(
        status(
            exp(NOW + 10),
            &keys,
            &Validation {
                now: i64::MAX,
                leeway: 0
            }
        ),
        Status::Expired
    );
    // exp + leeway beyond i64 does not overflow.
    assert_eq!(
        status(
            exp(i64::MAX),
            &keys,
            &Validation {
                now: i64::MAX,
                leeway: i64::MAX
            }
        ),
        Status::Valid
    );
    let r = verify(exp(NOW - 10).as_bytes(), &keys, &v(0)).unwrap_err();
    assert_eq!(r.detail, "token has expired");
    // exp is checked before nbf; iat is not checked.
    let both = hs256(
        json!({}),
        json!({"exp": NOW - 10, "nbf": NOW + 10, "iat": "x"}),
    );
    assert_eq!(status(both, &keys, &v(0)), Status::Expired);
    assert_eq!(with_claims(r#"{"iat":"yesterday"}"#), Status::Valid);
}

// ---------------------------------------------------------------- order

#[test]
fn first_failure_wins() {
    // Bad signature on an expired token: the signature is checked first.
    let token = hs256(json!({}), json!({"exp": 1}));
    let bad = format!("{}AAAA", &token[..token.len() - 4]);
    assert_eq!(hs_status(&bad), Status::BadSignature);
    // Malformed payload beats alg none.
    let token = format!("{}.{}.c2ln", b64(r#"{"alg":"none"}"#), b64("not json"));
    assert_eq!(hs_status(&token), Status::Malformed);
    // Unsupported alg beats non-string kid and crit.
    let token = hs256(json!({"alg": "HS1", "kid": 5, "crit": []}), valid_claims());
    assert_eq!(hs_status(&token), Status::UnsupportedAlg);
    // crit beats non-string kid.
    let token = hs256(json!({"kid": 5, "crit": []}), valid_claims());
    assert_eq!(hs_status(&token), Status::BadCrit);
    // Bad claim type is only reported for a genuine token.
    let token = hs256(json!({}), json!({"exp": "x"}));
    assert_eq!(hs_status(&token), Status::BadClaim);
    let forged = encode(
        "HS256",
        &json!({}),
        &json!({"exp": "x"}),
        &SigningKey::hmac(b"wrong secret wrong secret wrong!"),
    )
    .unwrap();
    assert_eq!(hs_status(&forged), Status::BadSignature);
}

#[test]
fn every_single_character_change_is_refused() {
    let token = hs256(json!({"kid": "a"}), json!({"sub": "x", "exp": NOW + 60}));
    assert_eq!(hs_status(&token), Status::Valid);
    let bytes = token.as_bytes();
    let keys = hmac_keys();
    for i in 0..bytes.len() {
        for c in [b'A', b'z', b'-', b'_', b'.', b'=', 0u8, 0xff] {
            if bytes[i] == c {
                continue;
            }
            let mut m = bytes.to_vec();
            m[i] = c;
            assert_ne!(status(&m, &keys, &at(NOW)), Status::Valid, "pos {i} -> {c}");
        }
        // Deletion.
        let mut m = bytes.to_vec();
        m.remove(i);
        assert_ne!(status(&m, &keys, &at(NOW)), Status::Valid, "delete {i}");
    }
}

/// Tiny deterministic PRNG (xorshift64*), to avoid a dev-dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let keys = {
        let mut set = hmac_keys();
        set.extend(rsa().keyset());
        set.extend(p256().keyset());
        set
    };
    let pieces: [&[u8]; 16] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"alg\"",
        b":",
        b",",
        b"\"HS256\"",
        b"\"ES256\"",
        b"\"kid\"",
        b"\"exp\"",
        b"1e308",
        b"-0",
        b"\"\\u0000\"",
        b"null",
        b"\xff",
    ];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    for _ in 0..3000 {
        // Raw characters.
        let len = rng.below(120);
        let raw: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let _ = verify(&raw, &keys, &at(NOW));
        // Well-encoded segments of JSON-ish garbage.
        let mut seg = || {
            let mut s = Vec::new();
            for _ in 0..rng.below(12) {
                s.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            b64(s)
        };
        let token = format!("{}.{}.{}", seg(), seg(), seg());
        let r = verify(token.as_bytes(), &keys, &at(NOW));
        assert!(r.is_err());
        // Key files.
        let mut file = if rng.below(2) == 0 {
            b"{".to_vec()
        } else {
            b"-----BEGIN PUBLIC KEY-----\n".to_vec()
        };
        for _ in 0..rng.below(12) {
            file.extend_from_slice(pieces[rng.below(pieces.len())]);
        }
        if rng.below(2) == 0 {
            file.extend_from_slice(b"\n-----END PUBLIC KEY-----\n");
        }
        let _ = KeySet::parse(&file);
    }
}

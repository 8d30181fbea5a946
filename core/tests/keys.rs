//! Key file parsing: JWKS, JWK, PEM public keys and certificates, and the
//! errors and warnings an operator gets.

mod common;

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_core::{KeySet, Status};
use common::*;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use openssl::x509::{X509Builder, X509NameBuilder};
use serde_json::{json, Value};

fn parse(data: impl AsRef<[u8]>) -> (KeySet, Vec<String>) {
    KeySet::parse(data.as_ref()).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(data: impl AsRef<[u8]>) -> String {
    match KeySet::parse(data.as_ref()) {
        Ok((set, w)) => panic!("parsed {} keys, warnings {w:?}", set.len()),
        Err(e) => e.to_string(),
    }
}

fn parse_json(v: &Value) -> (KeySet, Vec<String>) {
    parse(v.to_string())
}

fn parse_json_err(v: &Value) -> String {
    parse_err(v.to_string())
}

/// Assert a token signed by `key` with `alg` verifies with `set`.
fn assert_verifies(set: &KeySet, alg: &str, key: &SigningKey) {
    let token = encode(alg, &json!({}), &json!({"exp": NOW + 5}), key).unwrap();
    check(&token, set, NOW).unwrap_or_else(|r| panic!("{alg}: {r:?}"));
}

#[test]
fn jwks_with_every_key_type() {
    let ed = gen_ed25519();
    let ed448 = gen_ed448();
    let p521 = gen_ec(Nid::SECP521R1);
    let mut entries = vec![];
    for (kid, key) in [
        ("r", rsa()),
        ("e", p256()),
        ("e5", &p521),
        ("o", &ed),
        ("o4", &ed448),
    ] {
        let mut jwk = key.jwk();
        jwk["kid"] = json!(kid);
        entries.push(jwk);
    }
    let (mut set, warnings) = parse_json(&json!({"keys": entries}));
    assert!(warnings.is_empty(), "{warnings:?}");
    // The oct key in a file of its own: a JWKS with public keys must not hold a secret.
    let (oct, warnings) = parse_json(
        &json!({"keys": [{"kty": "oct", "kid": "h", "k": b64(SECRET), "alg": "HS256"}]}),
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    set.extend(oct);
    assert_eq!(set.len(), 6);
    assert!(!set.is_empty());
    assert_verifies(&set, "RS256", &rsa().signer());
    assert_verifies(&set, "PS512", &rsa().signer());
    assert_verifies(&set, "ES256", &p256().signer());
    assert_verifies(&set, "ES512", &p521.signer());
    assert_verifies(&set, "EdDSA", &ed.signer());
    assert_verifies(&set, "EdDSA", &ed448.signer());
    assert_verifies(&set, "HS256", &SigningKey::hmac(SECRET));
}

#[test]
fn single_jwk_and_leading_whitespace() {
    let jwk = rsa().jwk();
    for text in [
        jwk.to_string(),
        format!("\n\t  {jwk}\n"),
        format!("\u{feff}{jwk}"),
        serde_json::to_string_pretty(&jwk).unwrap(),
    ] {
        let (set, warnings) = parse(&text);
        assert_eq!(set.len(), 1);
        assert!(warnings.is_empty());
        assert_verifies(&set, "RS384", &rsa().signer());
    }
}

#[test]
fn jwk_base64_padding_is_tolerated() {
    let mut jwk = rsa().jwk();
    let n = jwk["n"].as_str().unwrap().to_owned();
    let padded = format!("{n}{}", "=".repeat((4 - n.len() % 4) % 4));
    jwk["n"] = json!(padded);
    let (set, _) = parse_json(&jwk);
    assert_verifies(&set, "RS256", &rsa().signer());
}

#[test]
fn pem_public_keys() {
    let keys = [
        ("RS256", rsa()),
        ("ES256", p256()),
        ("ES384", &gen_ec(Nid::SECP384R1)),
        ("ES512", &gen_ec(Nid::SECP521R1)),
        ("EdDSA", &gen_ed25519()),
        ("EdDSA", &gen_ed448()),
    ];
    for (alg, key) in keys {
        let pem = String::from_utf8(key.public_pem.clone()).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let (set, warnings) = parse(&pem);
        assert_eq!(set.len(), 1);
        assert!(warnings.is_empty());
        assert_verifies(&set, alg, &key.signer());
        // CRLF line endings and indentation.
        let (set, _) = parse(format!("  \r\n{}", pem.replace('\n', "\r\n")));
        assert_verifies(&set, alg, &key.signer());
    }
}

#[test]
fn pem_rsa_public_key_pkcs1() {
    let pem = rsa()
        .private
        .rsa()
        .unwrap()
        .public_key_to_pem_pkcs1()
        .unwrap();
    assert!(pem.starts_with(b"-----BEGIN RSA PUBLIC KEY-----"));
    let (set, _) = parse(&pem);
    assert_eq!(set.len(), 1);
    assert_verifies(&set, "RS256", &rsa().signer());
    assert_verifies(&set, "PS256", &rsa().signer());
}

fn self_signed(key: &PKey<Private>, md: MessageDigest) -> Vec<u8> {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "auth-jwt test").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(key, md).unwrap();
    b.build().to_pem().unwrap()
}

#[test]
fn pem_certificates() {
    let cert = self_signed(&rsa().private, MessageDigest::sha256());
    assert!(cert.starts_with(b"-----BEGIN CERTIFICATE-----"));
    let (set, _) = parse(&cert);
    assert_eq!(set.len(), 1);
    assert_verifies(&set, "RS256", &rsa().signer());

    let cert = self_signed(&p256().private, MessageDigest::sha256());
    let (set, _) = parse(&cert);
    assert_verifies(&set, "ES256", &p256().signer());

    let ed = gen_ed25519();
    let cert = self_signed(&ed.private, MessageDigest::null());
    let (set, _) = parse(&cert);
    assert_verifies(&set, "EdDSA", &ed.signer());
}

#[test]
fn several_pem_blocks() {
    let ed = gen_ed448();
    let cert = self_signed(&p256().private, MessageDigest::sha256());
    let mut file = Vec::new();
    file.extend_from_slice(b"\n");
    file.extend_from_slice(&rsa().public_pem);
    file.extend_from_slice(b"\n# rotated in 2024\nsubject=CN = something\n\n");
    file.extend_from_slice(&cert);
    file.extend_from_slice(b"comment without newline");
    file.extend_from_slice(&ed.public_pem);
    file.extend_from_slice(
        &rsa()
            .private
            .rsa()
            .unwrap()
            .public_key_to_pem_pkcs1()
            .unwrap(),
    );
    file.extend_from_slice(b"trailing text\n");
    let (set, warnings) = parse(&file);
    assert_eq!(set.len(), 4);
    assert!(warnings.is_empty());
    assert_verifies(&set, "RS256", &rsa().signer());
    assert_verifies(&set, "ES256", &p256().signer());
    assert_verifies(&set, "EdDSA", &ed.signer());
}

#[test]
fn private_keys_are_refused() {
    let rsa_key = &rsa().private;
    let ec_key = &p256().private;
    let pems: Vec<(Vec<u8>, &str)> = vec![
        (rsa().private_pem(), "PRIVATE KEY"),
        (
            rsa_key.rsa().unwrap().private_key_to_pem().unwrap(),
            "RSA PRIVATE KEY",
        ),
        (
            ec_key.ec_key().unwrap().private_key_to_pem().unwrap(),
            "EC PRIVATE KEY",
        ),
        (
            rsa_key
                .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"pw")
                .unwrap(),
            "ENCRYPTED PRIVATE KEY",
        ),
        (gen_ed25519().private_pem(), "PRIVATE KEY"),
    ];
    for (pem, label) in pems {
        let e = parse_err(&pem);
        assert_eq!(
            e,
            format!("file holds a {label}; give the public key (openssl pkey -pubout)")
        );
        // Also when a public key or another block comes first.
        let mut both = rsa().public_pem.clone();
        both.extend_from_slice(&pem);
        assert!(parse_err(&both).contains("give the public key"));
        let mut params =
            b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
                .to_vec();
        params.extend_from_slice(&pem);
        assert!(parse_err(&params).contains("give the public key"));
    }
}

#[test]
fn garbage_is_refused() {
    const NO_KEY: &str =
        "no key found: expected JWKS, JWK or PEM (PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE)";
    for data in [
        &b""[..],
        b"   \n",
        b"hello",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOZ user@host",
        b"[]",
        b"\"key\"",
        b"\x30\x82\x01\x22\x30\x0d",
        b"\xff\xfe\x00{",
        b"-----BEGI",
    ] {
        assert_eq!(parse_err(data), NO_KEY, "{data:?}");
    }
    assert!(parse_err("{").starts_with("key file is not valid JSON"));
    assert!(parse_err(r#"{"kty":"oct","k":"AAAA","k":"BBBB"}"#).contains("duplicate"));
    let deep = format!("{{\"keys\":{}{}}}", "[".repeat(100), "]".repeat(100));
    assert!(parse_err(deep).contains("nested"));
    assert!(parse_err("-----BEGIN PUBLIC KEY-----\nAAAA\n").contains("no matching END"));
    assert!(
        parse_err("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .contains("cannot parse public key")
    );
    assert!(
        parse_err("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n")
            .contains("not valid base64")
    );
    assert!(
        parse_err("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
            .contains("cannot parse certificate")
    );
    assert!(
        parse_err("-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n")
            .contains("unsupported type")
    );
    assert!(parse_err("-----BEGIN -----\n").contains("malformed BEGIN"));
    assert!(parse_err("-----BEGIN PUBLIC KEY\n").contains("malformed BEGIN"));
}

#[test]
fn unsupported_pem_key_types() {
    let x25519 = PKey::generate_x25519()
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    assert!(parse_err(&x25519).contains("unsupported public key type"));
    let group = openssl::ec::EcGroup::from_curve_name(Nid::SECP256K1).unwrap();
    let k1 = openssl::ec::EcKey::generate(&group).unwrap();
    let k1 = PKey::from_ec_key(k1).unwrap().public_key_to_pem().unwrap();
    assert!(parse_err(&k1).contains("unsupported EC curve"));
}

#[test]
fn jwks_structure_errors() {
    assert_eq!(parse_json_err(&json!({"keys": []})), "JWKS has no keys");
    assert_eq!(
        parse_json_err(&json!({"keys": {}})),
        "JWKS member \"keys\" is not an array"
    );
    assert_eq!(
        parse_json_err(&json!({"keys": [rsa().jwk(), "x"]})),
        "JWK #2 is not a JSON object"
    );
    assert_eq!(
        parse_json_err(&json!({"keys": [rsa().jwk(), {"kty": "foo"}]})),
        "JWK #2: unsupported kty \"foo\""
    );
    assert_eq!(parse_json_err(&json!({"n": "AQAB"})), "JWK #1: missing kty");
    assert_eq!(
        parse_json_err(&json!({"kty": 1})),
        "JWK #1: kty is not a string"
    );
    let mut jwk = rsa().jwk();
    jwk["kid"] = json!(7);
    assert_eq!(parse_json_err(&jwk), "JWK #1: kid is not a string");
    let mut jwk = rsa().jwk();
    jwk["key_ops"] = json!("verify");
    assert!(parse_json_err(&jwk).contains("key_ops"));
    let mut jwk = rsa().jwk();
    jwk["e"] = json!("AQAB+/");
    assert_eq!(parse_json_err(&jwk), "JWK #1: e is not valid base64url");
    let mut jwk = rsa().jwk();
    jwk.as_object_mut().unwrap().remove("n");
    assert_eq!(parse_json_err(&jwk), "JWK #1: missing member n");
}

#[test]
fn jwk_material_errors() {
    // EC point not on the curve.
    let mut jwk = p256().jwk();
    let mut y = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        jwk["y"].as_str().unwrap(),
    )
    .unwrap();
    y[31] ^= 1;
    jwk["y"] = json!(b64(&y));
    assert_eq!(parse_json_err(&jwk), "JWK #1: EC key has invalid point");
    // The point at x = y = 0, and coordinates >= p.
    let mut jwk = p256().jwk();
    jwk["x"] = json!(b64([0u8; 32]));
    jwk["y"] = json!(b64([0u8; 32]));
    assert_eq!(parse_json_err(&jwk), "JWK #1: EC key has invalid point");
    let mut jwk = p256().jwk();
    jwk["x"] = json!(b64([0xffu8; 32]));
    assert_eq!(parse_json_err(&jwk), "JWK #1: EC key has invalid point");
    // Wrong coordinate length, wrong curve for the coordinates.
    let mut jwk = p256().jwk();
    jwk["x"] = json!(b64([1u8; 31]));
    assert!(parse_json_err(&jwk).contains("must be 32 bytes"));
    let mut jwk = p256().jwk();
    jwk["crv"] = json!("P-384");
    assert!(parse_json_err(&jwk).contains("must be 48 bytes"));
    let mut jwk = p256().jwk();
    jwk["crv"] = json!("secp256k1");
    assert_eq!(
        parse_json_err(&jwk),
        "JWK #1: unsupported EC crv \"secp256k1\""
    );
    // OKP.
    let ed = gen_ed25519();
    let mut jwk = ed.jwk();
    jwk["crv"] = json!("X25519");
    assert_eq!(
        parse_json_err(&jwk),
        "JWK #1: unsupported OKP crv \"X25519\""
    );
    let mut jwk = ed.jwk();
    jwk["crv"] = json!("Ed448");
    assert!(parse_json_err(&jwk).contains("57 bytes"));
    // RSA.
    let mut jwk = rsa().jwk();
    jwk["e"] = json!(b64([2u8]));
    assert_eq!(
        parse_json_err(&jwk),
        "JWK #1: RSA public exponent is invalid"
    );
    let mut jwk = rsa().jwk();
    jwk["e"] = json!("");
    assert_eq!(
        parse_json_err(&jwk),
        "JWK #1: RSA public exponent is invalid"
    );
    let mut jwk = rsa().jwk();
    jwk["n"] = json!("AA");
    assert_eq!(parse_json_err(&jwk), "JWK #1: RSA modulus is invalid");
    // oct.
    assert_eq!(
        parse_json_err(&json!({"kty": "oct", "k": ""})),
        "JWK #1: oct key has an empty k"
    );
}

#[test]
fn jwk_alg_must_fit_the_key() {
    let cases = [
        (rsa().jwk(), "ES256"),
        (rsa().jwk(), "HS256"),
        (rsa().jwk(), "EdDSA"),
        (p256().jwk(), "ES384"),
        (p256().jwk(), "RS256"),
        (p256().jwk(), "HS256"),
        (gen_ed25519().jwk(), "ES256"),
        (json!({"kty": "oct", "k": b64(SECRET)}), "RS256"),
        (json!({"kty": "oct", "k": b64(SECRET)}), "EdDSA"),
    ];
    for (mut jwk, alg) in cases {
        jwk["alg"] = json!(alg);
        let e = parse_json_err(&jwk);
        assert!(
            e.starts_with(&format!("JWK #1: alg {alg} does not fit")),
            "{e}"
        );
    }
    let mut jwk = rsa().jwk();
    // A JWE key without "use": skipped for signatures, like a "use": "enc" key...
    jwk["alg"] = json!("RSA-OAEP");
    assert_eq!(
        parse_json_err(&jwk),
        "no usable key found: every key in the file was skipped (JWK #1 has the JWE alg \
         \"RSA-OAEP\" and is ignored for signatures)"
    );
    // ... so that it does not make an IdP's whole JWKS unusable.
    let mut sig = rsa().jwk();
    sig["alg"] = json!("RS256");
    let set = json!({"keys": [jwk.clone(), sig]}).to_string();
    let (keys, warnings) = KeySet::parse(set.as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        warnings,
        ["JWK #1 has the JWE alg \"RSA-OAEP\" and is ignored for signatures"]
    );
    jwk["alg"] = json!("none");
    assert_eq!(parse_json_err(&jwk), "JWK #1: unsupported alg \"none\"");
    jwk["alg"] = json!("rs256");
    assert!(parse_json_err(&jwk).contains("unsupported alg"));
}

#[test]
fn warnings() {
    // Short RSA keys, as JWK and PEM.
    let weak = gen_rsa(1024);
    let (set, w) = parse_json(&weak.jwk());
    assert_eq!(set.len(), 1);
    assert_eq!(
        w,
        vec!["JWK #1: RSA key of 1024 bits is shorter than 2048".to_owned()]
    );
    assert_verifies(&set, "RS256", &weak.signer());
    let (_, w) = parse(&weak.public_pem);
    assert_eq!(
        w,
        vec!["PEM block #1: RSA key of 1024 bits is shorter than 2048".to_owned()]
    );

    // Short HMAC secrets are refused (RFC 7518, section 3.2), not warned about.
    assert_eq!(
        parse_json_err(&json!({"kty": "oct", "k": b64(b"8 bytes!")})),
        "JWK #1: HMAC key of 8 bytes is refused: HS256 needs at least 32 bytes (RFC 7518, \
         section 3.2)"
    );
    assert_eq!(
        parse_json_err(&json!({"kty": "oct", "k": b64([1u8; 32]), "alg": "HS512"})),
        "JWK #1: HMAC key of 32 bytes is refused: HS512 needs at least 64 bytes (RFC 7518, \
         section 3.2)"
    );
    let (_, w) = parse_json(&json!({"kty": "oct", "k": b64([1u8; 32])}));
    assert!(w.is_empty());

    // Private members are ignored, with a warning.
    let mut jwk = p256().jwk();
    jwk["d"] = json!(b64([1u8; 32]));
    let (set, w) = parse_json(&jwk);
    assert_eq!(set.len(), 1);
    assert!(w[0].contains("private key material"), "{w:?}");
}

#[test]
fn encryption_keys_are_skipped() {
    let mut enc = rsa().jwk();
    enc["use"] = json!("enc");
    enc["alg"] = json!("RSA-OAEP");
    enc["kid"] = json!("enc-key");
    let mut sig = p256().jwk();
    sig["use"] = json!("sig");
    sig["kid"] = json!("sig-key");
    let weird = json!({"kty": "future", "use": "enc"});
    let (set, w) = parse_json(&json!({"keys": [sig, enc.clone(), weird]}));
    assert_eq!(set.len(), 1);
    assert_eq!(
        w,
        vec![
            "JWK #2 has use \"enc\" and is ignored for signatures".to_owned(),
            "JWK #3 has use \"enc\" and is ignored for signatures".to_owned(),
        ]
    );
    // A token naming the encryption key's kid finds nothing.
    let token = encode(
        "RS256",
        &json!({"kid": "enc-key"}),
        &json!({}),
        &rsa().signer(),
    )
    .unwrap();
    assert_eq!(status(&token, &set, &at(NOW)), Status::NoKey);
    // A file with only encryption keys is an error.
    assert!(parse_json_err(&json!({"keys": [enc]})).contains("no usable key"));
}

#[test]
fn use_and_key_ops_restrict_keys() {
    let mut jwk = rsa().jwk();
    jwk["key_ops"] = json!(["sign"]);
    let (set, w) = parse_json(&jwk);
    assert_eq!(set.len(), 1);
    assert!(w[0].contains("key_ops"), "{w:?}");
    let token = encode("RS256", &json!({}), &json!({}), &rsa().signer()).unwrap();
    assert_eq!(status(&token, &set, &at(NOW)), Status::NoKey);

    let mut jwk = rsa().jwk();
    jwk["key_ops"] = json!(["sign", "verify"]);
    let (set, w) = parse_json(&jwk);
    assert!(w.is_empty());
    assert_eq!(status(&token, &set, &at(NOW)), Status::Valid);

    let mut jwk = rsa().jwk();
    jwk["use"] = json!("other");
    let (set, w) = parse_json(&jwk);
    assert_eq!(w.len(), 1);
    assert_eq!(status(&token, &set, &at(NOW)), Status::NoKey);
}

#[test]
fn debug_does_not_dump_keys() {
    let set = hmac_keys();
    let text = format!("{set:?}");
    assert_eq!(text, "KeySet { keys: 1 }");
}

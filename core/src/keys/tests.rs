//! Unit tests of the key-file helpers.

use super::check::{ed25519_small_order, quote};
use super::pem::find;
use super::{KeyError, KeySet};

#[test]
fn ed25519_small_order_keys_are_refused() {
    // The identity point: OpenSSL accepts "identity || zeros" as a signature of anything.
    let jwk = br#"{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    let e = KeySet::parse(jwk)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("small order"), "{e}");
    // Same point with the sign bit set, and an order-8 point.
    let mut x = [0u8; 32];
    x[0] = 1;
    x[31] = 0x80;
    assert!(ed25519_small_order(&x));
    let order8 = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ];
    assert!(ed25519_small_order(&order8));
    // A real key is not.
    let pk = openssl::pkey::PKey::generate_ed25519().and_then(|k| k.raw_public_key());
    assert!(!ed25519_small_order(&pk.unwrap_or_default()));
    // PEM path: the identity point as SubjectPublicKeyInfo.
    let der = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 1, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let pem = openssl::base64::encode_block(&der);
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{pem}\n-----END PUBLIC KEY-----\n");
    let e = KeySet::parse(pem.as_bytes())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("small order"), "{e}");
}

#[test]
fn send_sync() {
    fn check<T: Send + Sync>() {}
    check::<KeySet>();
}

#[test]
fn find_works() {
    assert_eq!(find(b"abcabc", b"ca"), Some(2));
    assert_eq!(find(b"ab", b"abc"), None);
}

#[test]
fn quote_bounds() {
    assert_eq!(quote("foo"), "\"foo\"");
    assert!(quote(&"x".repeat(1000)).len() < 60);
    assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
}

/// The variant says where the problem is; the message is what the operator reads.
#[test]
fn key_errors_are_typed() {
    let e = KeySet::parse(b"x").err();
    assert!(matches!(
        e,
        Some(KeyError::NoKeyFound {
            with_private: false
        })
    ));
    let e = KeySet::parse_with_private(b"x").err();
    assert!(matches!(
        e,
        Some(KeyError::NoKeyFound { with_private: true })
    ));
    let e = KeySet::parse(br#"{"keys":[{"kty":"oct","k":"AAAA"},{"kty":"RSA"}]}"#).err();
    assert!(matches!(&e, Some(KeyError::Jwk { n: 2, .. })), "{e:?}");
    assert_eq!(
        e.map(|e| e.to_string()).unwrap_or_default(),
        "JWK #2: missing member n"
    );
    let e = KeySet::parse(b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
        .err();
    assert!(matches!(&e, Some(KeyError::PrivateKey { label }) if label == "EC PRIVATE KEY"));
    let e = KeySet::parse(br#"{"keys":[{"kty":"oct","k":"AAAA","use":"enc"}]}"#).err();
    assert!(matches!(&e, Some(KeyError::AllSkipped { warnings }) if warnings.len() == 1));
}

//! Unit tests of the JWE primitives and names.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::pkey::{Id, PKey};
use serde_json::Map;

use super::key_mgmt::{aes_kw_unwrap, aes_kw_wrap, agree, concat_kdf};
use super::{Decrypted, TokenType};
use crate::alg::{Enc, KeyMgmt};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn names_round_trip() {
    for a in KeyMgmt::ALL {
        assert_eq!(KeyMgmt::from_name(a.name()), Some(a));
    }
    for e in Enc::ALL {
        assert_eq!(Enc::from_name(e.name()), Some(e));
        assert_eq!(
            e.key_len(),
            e.mac_key_len() * 2 + if e.is_gcm() { e.key_len() } else { 0 }
        );
    }
    assert_eq!(KeyMgmt::from_name("RSA1_5"), None);
    assert_eq!(KeyMgmt::from_name("a128kw"), None);
    assert_eq!(Enc::from_name("A128CBC-H256"), None);
    for t in [TokenType::Signed, TokenType::Encrypted, TokenType::Nested] {
        assert_eq!(TokenType::from_name(t.as_str()), Some(t));
    }
    assert_eq!(TokenType::from_name("Signed"), None);
}

/// RFC 3394 §4.1 and §4.6.
#[test]
fn aes_key_wrap_known_answers() {
    let kek = hex("000102030405060708090A0B0C0D0E0F");
    let data = hex("00112233445566778899AABBCCDDEEFF");
    let wrapped = hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
    assert_eq!(aes_kw_wrap(&kek, &data).unwrap(), wrapped);
    assert_eq!(aes_kw_unwrap(&kek, &wrapped, 16).unwrap(), data);

    let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
    let wrapped =
        hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
    assert_eq!(aes_kw_wrap(&kek, &data).unwrap(), wrapped);
    assert_eq!(aes_kw_unwrap(&kek, &wrapped, 32).unwrap(), data);

    // Integrity failure, wrong lengths.
    let mut bad = wrapped.clone();
    bad[3] ^= 1;
    assert!(aes_kw_unwrap(&kek, &bad, 32).is_none());
    assert!(aes_kw_unwrap(&kek, &wrapped, 16).is_none());
    assert!(aes_kw_unwrap(&kek, &wrapped[..wrapped.len() - 1], 31).is_none());
    assert!(aes_kw_unwrap(&kek[..20], &wrapped, 32).is_none());
    assert!(aes_kw_unwrap(&kek, &[], 0).is_none());
}

/// RFC 7518 Appendix C (ECDH-ES, P-256, A128GCM, apu "Alice", apv "Bob").
#[test]
fn concat_kdf_known_answer() {
    let z = [
        158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110,
        163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
    ];
    let key = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16);
    assert_eq!(URL_SAFE_NO_PAD.encode(key), "VqqN6vgjbSBcIijNcacQGg");
    // Two rounds for a 64-byte key; the first 32 bytes are round 1 for that length.
    assert_eq!(concat_kdf(&z, "x", b"", b"", 64).len(), 64);
}

#[test]
fn x25519_small_order_peer_is_refused() {
    let private = PKey::generate_x25519().unwrap();
    let zero = PKey::public_key_from_raw_bytes(&[0u8; 32], Id::X25519).unwrap();
    assert!(agree(&private, &zero).is_none());
    let other = PKey::generate_x25519().unwrap();
    let peer =
        PKey::public_key_from_raw_bytes(&other.raw_public_key().unwrap(), Id::X25519).unwrap();
    assert_eq!(agree(&private, &peer).unwrap().len(), 32);
}

#[test]
fn decrypted_debug_hides_plaintext() {
    let d = Decrypted {
        header: Map::new(),
        plaintext: b"secret claims".to_vec(),
    };
    let text = format!("{d:?}");
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains("plaintext_len: 13"), "{text}");
}

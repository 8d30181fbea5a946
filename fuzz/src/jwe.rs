//! The `jwe` and `jwe_roundtrip` targets: JWE decryption and typed validation (`decrypt`,
//! `verify_typed`), the code behind `auth_jwt_type encrypted | nested`.
//!
//! Two targets share one input layout and one seed corpus (`fuzz/seeds/jwe/`):
//!
//! * `jwe` ([`fuzz_jwe`]) runs RAW mode only: the input is the token, decoded, parsed and
//!   decrypted against the fixed key set (parsed once). The only public-key work is what
//!   the token asks for (an RSA-OAEP decryption of its encrypted key, an ECDH agreement
//!   with its `epk`); nothing is generated or encrypted per input.
//! * `jwe_roundtrip` ([`fuzz_jwe_roundtrip`]) runs ENCRYPT mode only: the harness encrypts
//!   the input to the fixed keys (a fresh content key, an RSA-OAEP encryption or an
//!   ephemeral EC / X25519 key pair per input) and checks that it decrypts back. Most of
//!   its time goes to that RSA and ECDH work, which the input bytes cannot influence; it
//!   is what gets the fuzzer past the authentication tag to the plaintext checks.
//!
//! # Input layout
//!
//! ```text
//! byte 0        selector
//!               bit 7 = 0: RAW mode, the rest of the input is a token; bits 0-1:
//!                   0 verify_typed(Encrypted)   1 verify_typed(Nested)
//!                   2 verify_typed(Signed)      3 decrypt (then verify_typed(Encrypted))
//!               bit 7 = 1: ENCRYPT mode, the harness encrypts to the fixed keys:
//!                   bits 0-3 pick (alg, recipient) from ENCRYPT_ALGS
//!                   bits 4-6 = 0..5: enc = ENCS[n], rest = plaintext, checked with
//!                                    decrypt and verify_typed(Encrypted)
//!                            = 6:    NESTED: rest = payload of an inner HS256 JWS (signed
//!                                    with OCT32, header {"alg":"HS256","typ":"JWT"}),
//!                                    encrypted with cty JWT and enc ENCS[alg index % 6],
//!                                    checked with decrypt and verify_typed(Nested)
//!                            = 7:    HEADER: rest = extra protected header JSON, 0x00,
//!                                    plaintext (enc ENCS[alg index % 6]); a header that
//!                                    is not a JSON object is dropped (whole rest = plaintext)
//!               `jwe` ignores bit 7 (every input is RAW mode, bits 0-1 pick the call) and
//!               `jwe_roundtrip` treats it as set (every input is ENCRYPT mode), so no
//!               mutation of the selector is wasted and every seed feeds both.
//! bytes 1..9    `now`    (i64, little endian)  } second Validation; the first one
//! bytes 9..17   `leeway` (i64, little endian)  } is fixed: FIXED_NOW, leeway 0
//! bytes 17..    RAW: the token; ENCRYPT: see bits 4-6
//! ```
//!
//! The key set is fixed (committed seeds stay valid): `t/keys/rsa2.key` (RSA private,
//! RSA-OAEP*), `t/keys/ec256.key` (P-256 private, ECDH-ES*), the harness X25519 key
//! (ECDH-ES*), `t/keys/rsa.pub` (verifies the inner JWS of nested tokens signed with
//! `t/keys/rsa.key`) and `oct` JWKs of 16, 24, 32, 48 and 64 bytes (kids `oct16` ...;
//! `oct32` = "0123456789abcdef0123456789abcdef" has no `use`, so it also verifies HS*,
//! the others are `"use":"enc"`).
//!
//! Oracles (besides "never panics"):
//! * an error is never `Valid` / `RequireFailed` / `Revoked` and has a detail; empty → `Missing`,
//!   longer than `MAX_TOKEN_LEN` → `TooLarge`; `Encrypted` never answers a JWS-only status
//!   (`BadSignature`, `UnsupportedAlg`), `Signed` never a JWE-only one;
//! * the two Validations may only disagree in the claim checks;
//! * an accepted encrypted / nested token has 5 segments (a signed one 3), its header
//!   `alg` is the accepted alg, no `crit`; encrypted: claims equal a lenient `serde_json`
//!   parse of the plaintext, `cty` is not JWT; nested: the payload is the enclosed JWS and
//!   `verify` of it gives the same header, claims and alg; integer `exp`/`nbf` obey the
//!   documented formulas; `verify_typed(Signed)` is exactly `verify`;
//! * `decrypt` and `verify_typed(Encrypted)` agree: the same rejection, or after a
//!   successful decryption only a plaintext / claims refusal and the same plaintext;
//! * ENCRYPT mode (round trip): `decrypt` returns exactly the plaintext, and a token the
//!   harness encrypted is never refused for its encryption (`DecryptFailed`, `NoKey`, ...):
//!   only `Malformed` / `BadClaim` / `Expired` / `NotYetValid` (and `TooLarge` when the
//!   token outgrows `MAX_TOKEN_LEN`). In HEADER mode, this holds when the extra header
//!   touches none of alg, enc, zip, crit, kid, epk, iv, tag (apu/apv are fine).

use std::sync::OnceLock;

use auth_jwt_core::sign::{encode_raw, encrypt, EncryptionKey, SigningKey};
use auth_jwt_core::{
    decrypt, verify, verify_typed, Decrypted, KeySet, Rejection, Status, Token, TokenType,
    Validation, MAX_JSON_DEPTH, MAX_TOKEN_LEN,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::{check_same_but_time, check_times, i64_at, keys, FIXED_NOW, PREFIX_LEN};

/// Selector bit of ENCRYPT mode.
pub const ENCRYPT: u8 = 0x80;
/// RAW mode (selector bits 0-1): `verify_typed(Encrypted)`.
pub const RAW_ENCRYPTED: u8 = 0;
/// RAW mode: `verify_typed(Nested)`.
pub const RAW_NESTED: u8 = 1;
/// RAW mode: `verify_typed(Signed)`.
pub const RAW_SIGNED: u8 = 2;
/// RAW mode: `decrypt`, compared with `verify_typed(Encrypted)`.
pub const RAW_DECRYPT: u8 = 3;
/// ENCRYPT sub-mode (selector bits 4-6): nested token.
pub const ENCRYPT_NESTED: u8 = 6;
/// ENCRYPT sub-mode (selector bits 4-6): extra header from the input.
pub const ENCRYPT_HEADER: u8 = 7;

/// The 32-byte `oct` key (kid `oct32`, no `use`: dir, A256KW, A256GCMKW and HS*).
pub const OCT32: &[u8] = b"0123456789abcdef0123456789abcdef";

/// The `oct` secrets of the key set by length (16, 24, 32, 48, 64 bytes).
pub fn oct_secret(len: usize) -> Vec<u8> {
    if len == 32 {
        return OCT32.to_vec();
    }
    format!("fuzz-jwe-oct-{len}-").repeat(8).as_bytes()[..len].to_vec()
}

/// Lengths of the `oct` keys.
pub const OCT_LENS: [usize; 5] = [16, 24, 32, 48, 64];

/// t/keys/rsa2.key: RSA private key (PKCS#8), RSA-OAEP / RSA-OAEP-256.
pub const RSA2_PRIVATE_PEM: &str = include_str!("../../t/keys/rsa2.key");
/// t/keys/ec256.key: EC P-256 private key (PKCS#8), ECDH-ES*.
pub const EC256_PRIVATE_PEM: &str = include_str!("../../t/keys/ec256.key");
/// t/keys/rsa.pub: RSA public key, verifies the inner JWS of nested seeds.
pub const RSA_PUBLIC_PEM: &str = include_str!("../../t/keys/rsa.pub");

/// Who a token is encrypted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// t/keys/rsa2.key.
    Rsa,
    /// t/keys/ec256.key.
    Ec,
    /// The harness X25519 key.
    X25519,
    /// The `oct` key of this many bytes (0: as long as the `enc` key, for `dir`).
    Oct(usize),
}

/// ENCRYPT mode's (alg, recipient) table, picked by selector bits 0-3.
pub const ENCRYPT_ALGS: [(&str, Recipient); 16] = [
    ("dir", Recipient::Oct(0)),
    ("RSA-OAEP", Recipient::Rsa),
    ("RSA-OAEP-256", Recipient::Rsa),
    ("A128KW", Recipient::Oct(16)),
    ("A192KW", Recipient::Oct(24)),
    ("A256KW", Recipient::Oct(32)),
    ("A128GCMKW", Recipient::Oct(16)),
    ("A192GCMKW", Recipient::Oct(24)),
    ("A256GCMKW", Recipient::Oct(32)),
    ("ECDH-ES", Recipient::Ec),
    ("ECDH-ES", Recipient::X25519),
    ("ECDH-ES+A128KW", Recipient::Ec),
    ("ECDH-ES+A192KW", Recipient::Ec),
    ("ECDH-ES+A256KW", Recipient::Ec),
    ("ECDH-ES+A128KW", Recipient::X25519),
    ("ECDH-ES+A256KW", Recipient::X25519),
];

/// Every supported `enc`, with its key length.
pub const ENCS: [(&str, usize); 6] = [
    ("A128GCM", 16),
    ("A192GCM", 24),
    ("A256GCM", 32),
    ("A128CBC-HS256", 32),
    ("A192CBC-HS384", 48),
    ("A256CBC-HS512", 64),
];

/// The key files of the fixed key set, in load order.
pub fn jwe_key_files() -> Vec<String> {
    let oct = |len: usize| {
        let mut jwk = json!({
            "kty": "oct",
            "kid": format!("oct{len}"),
            "k": URL_SAFE_NO_PAD.encode(oct_secret(len)),
        });
        if len != 32 {
            jwk["use"] = json!("enc");
        }
        jwk
    };
    let jwks = json!({ "keys": OCT_LENS.iter().map(|&l| oct(l)).collect::<Vec<_>>() });
    vec![
        RSA2_PRIVATE_PEM.to_owned(),
        EC256_PRIVATE_PEM.to_owned(),
        keys::X25519_PRIVATE_PEM.to_owned(),
        RSA_PUBLIC_PEM.to_owned(),
        jwks.to_string(),
    ]
}

/// The fixed key set, parsed once with `KeySet::parse_with_private`.
pub fn jwe_keys() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = KeySet::new();
        for file in jwe_key_files() {
            let (part, _warnings) = KeySet::parse_with_private(file.as_bytes())
                .unwrap_or_else(|e| panic!("harness key file does not parse: {e}"));
            set.extend(part);
        }
        set
    })
}

struct EncryptionKeys {
    rsa: EncryptionKey,
    ec: EncryptionKey,
    x25519: EncryptionKey,
    oct: Vec<(usize, EncryptionKey)>,
}

fn encryption_keys() -> &'static EncryptionKeys {
    static KEYS: OnceLock<EncryptionKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = |p: &str| EncryptionKey::from_pem(p.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        EncryptionKeys {
            rsa: pem(RSA2_PRIVATE_PEM),
            ec: pem(EC256_PRIVATE_PEM),
            x25519: pem(keys::X25519_PUBLIC_PEM),
            oct: OCT_LENS
                .iter()
                .map(|&l| (l, EncryptionKey::secret(&oct_secret(l))))
                .collect(),
        }
    })
}

/// The key to encrypt to `recipient` with content encryption `enc`.
pub fn encryption_key(recipient: Recipient, enc: &str) -> &'static EncryptionKey {
    let k = encryption_keys();
    match recipient {
        Recipient::Rsa => &k.rsa,
        Recipient::Ec => &k.ec,
        Recipient::X25519 => &k.x25519,
        Recipient::Oct(len) => {
            let len = if len == 0 {
                ENCS.iter()
                    .find(|e| e.0 == enc)
                    .unwrap_or_else(|| panic!("unknown enc {enc}"))
                    .1
            } else {
                len
            };
            &k.oct
                .iter()
                .find(|o| o.0 == len)
                .unwrap_or_else(|| panic!("no oct key of {len} bytes"))
                .1
        }
    }
}

/// Encrypt `plaintext` to `recipient` (for seeds and the harness).
pub fn encrypt_to(
    alg: &str,
    enc: &str,
    recipient: Recipient,
    header: &Value,
    plaintext: &[u8],
) -> Result<String, String> {
    encrypt(alg, enc, header, plaintext, encryption_key(recipient, enc))
}

/// The HMAC key of nested tokens the harness makes ([`OCT32`]).
pub fn oct32_signer() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::hmac(OCT32))
}

/// Header of the inner JWS of ENCRYPT mode's nested tokens.
pub const NESTED_INNER_HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

/// Header members whose change may legitimately break decryption (HEADER mode).
const SENSITIVE: [&str; 8] = ["alg", "enc", "zip", "crit", "kid", "epk", "iv", "tag"];

/// The two Validations of an input: the fixed one and the one from bytes 1..17.
fn validations(data: &[u8]) -> (Validation, Validation) {
    let fixed_v = Validation {
        now: FIXED_NOW,
        leeway: 0,
    };
    let fuzz_v = Validation {
        now: i64_at(data, 1),
        leeway: i64_at(data, 9),
    };
    (fixed_v, fuzz_v)
}

/// The `jwe` fuzz target: RAW mode (the input is the token), whatever selector bit 7 says.
pub fn fuzz_jwe(data: &[u8]) {
    let Some(&selector) = data.first() else {
        return;
    };
    let (fixed_v, fuzz_v) = validations(data);
    let body = data.get(PREFIX_LEN..).unwrap_or_default();
    raw(selector & 3, body, jwe_keys(), &fixed_v, &fuzz_v);
}

/// The `jwe_roundtrip` fuzz target: ENCRYPT mode (the harness encrypts the input to the
/// fixed keys and checks the round trip), whatever selector bit 7 says.
pub fn fuzz_jwe_roundtrip(data: &[u8]) {
    let Some(&selector) = data.first() else {
        return;
    };
    let (fixed_v, fuzz_v) = validations(data);
    let body = data.get(PREFIX_LEN..).unwrap_or_default();
    let keys = jwe_keys();

    let index = usize::from(selector & 15);
    let (alg, recipient) = ENCRYPT_ALGS[index];
    let sub = (selector >> 4) & 7;
    let enc = if sub < 6 {
        ENCS[usize::from(sub)].0
    } else {
        ENCS[index % 6].0
    };
    match sub {
        ENCRYPT_NESTED => {
            let inner = encode_raw("HS256", NESTED_INNER_HEADER, body, oct32_signer())
                .unwrap_or_else(|e| panic!("harness cannot sign: {e}"));
            let token = encrypt_to(
                alg,
                enc,
                recipient,
                &json!({"cty": "JWT"}),
                inner.as_bytes(),
            )
            .unwrap_or_else(|e| panic!("harness cannot encrypt {alg}/{enc}: {e}"));
            round_trip_nested(
                token.as_bytes(),
                inner.as_bytes(),
                body,
                keys,
                &fixed_v,
                &fuzz_v,
            );
        }
        ENCRYPT_HEADER => {
            let (header, plaintext) = match body.iter().position(|&b| b == 0) {
                Some(i) => match serde_json::from_slice::<Value>(&body[..i]) {
                    Ok(h @ Value::Object(_)) => (h, &body[i + 1..]),
                    _ => (Value::Null, body),
                },
                None => (Value::Null, body),
            };
            // The fuzzed header may not fit (apu that is not base64url, ...): nothing to check.
            let Ok(token) = encrypt_to(alg, enc, recipient, &header, plaintext) else {
                return;
            };
            round_trip(
                token.as_bytes(),
                plaintext,
                &header,
                (alg, enc),
                keys,
                &fixed_v,
                &fuzz_v,
            );
        }
        _ => {
            let token = encrypt_to(alg, enc, recipient, &Value::Null, body)
                .unwrap_or_else(|e| panic!("harness cannot encrypt {alg}/{enc}: {e}"));
            round_trip(
                token.as_bytes(),
                body,
                &Value::Null,
                (alg, enc),
                keys,
                &fixed_v,
                &fuzz_v,
            );
        }
    }
}

fn raw(mode: u8, token: &[u8], keys: &KeySet, fixed_v: &Validation, fuzz_v: &Validation) {
    let ty = match mode {
        RAW_ENCRYPTED => TokenType::Encrypted,
        RAW_NESTED => TokenType::Nested,
        RAW_SIGNED => TokenType::Signed,
        _ => {
            let d = decrypt(token, keys);
            check_decrypted(token, &d);
            let e = verify_typed(token, keys, fixed_v, TokenType::Encrypted);
            check_typed(token, &e, fixed_v, TokenType::Encrypted, keys);
            check_decrypt_agrees(&d, &e);
            return;
        }
    };
    let fixed = verify_typed(token, keys, fixed_v, ty);
    let fuzzed = verify_typed(token, keys, fuzz_v, ty);
    check_typed(token, &fixed, fixed_v, ty, keys);
    check_typed(token, &fuzzed, fuzz_v, ty, keys);
    check_same_but_time(&fixed, &fuzzed);
    if ty == TokenType::Signed {
        let plain = verify(token, keys, fixed_v);
        match (&fixed, &plain) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.header(), b.header());
                assert_eq!(a.claims(), b.claims());
                assert_eq!(a.payload(), b.payload());
                assert_eq!(a.alg(), b.alg());
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "verify_typed(Signed) differs from verify"),
            _ => panic!("verify_typed(Signed) differs from verify"),
        }
    }
}

fn check_rejection(token: &[u8], e: &Rejection) {
    assert!(
        !matches!(
            e.status,
            Status::Valid | Status::RequireFailed | Status::Revoked
        ),
        "rejection with status {:?}",
        e.status
    );
    assert!(!e.detail.is_empty());
    let _ = e.to_string();
    if token.is_empty() {
        assert_eq!(e.status, Status::Missing);
    } else if token.len() > MAX_TOKEN_LEN {
        assert_eq!(e.status, Status::TooLarge);
    }
}

fn dots(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'.').count()
}

fn check_decrypted(token: &[u8], r: &Result<Decrypted, Rejection>) {
    let d = match r {
        Err(e) => {
            check_rejection(token, e);
            assert!(
                matches!(
                    e.status,
                    Status::Missing
                        | Status::TooLarge
                        | Status::Malformed
                        | Status::UnsupportedEnc
                        | Status::BadCrit
                        | Status::NoKey
                        | Status::DecryptFailed
                ),
                "decrypt refused with a status it does not document: {e}"
            );
            return;
        }
        Ok(d) => d,
    };
    assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
    assert_eq!(dots(token), 4, "decrypted a token without 5 segments");
    assert!(d.plaintext.len() < token.len());
    assert!(matches!(d.header.get("alg"), Some(Value::String(_))));
    assert!(matches!(d.header.get("enc"), Some(Value::String(_))));
    assert!(!d.header.contains_key("zip") && !d.header.contains_key("crit"));
    let _ = format!("{d:?}");
}

/// `decrypt` and `verify_typed(Encrypted)` (same token, same keys) tell the same story.
fn check_decrypt_agrees(d: &Result<Decrypted, Rejection>, e: &Result<Token, Rejection>) {
    match (d, e) {
        (Err(x), Err(y)) => assert_eq!(x, y, "decrypt and verify_typed(Encrypted) disagree"),
        (Err(x), Ok(_)) => panic!("decrypt refused ({x}) what verify_typed(Encrypted) accepted"),
        (Ok(d), Ok(t)) => {
            assert_eq!(t.payload().as_bytes(), &d.plaintext[..]);
            assert_eq!(t.header(), &d.header);
        }
        (Ok(_), Err(y)) => assert!(
            matches!(
                y.status,
                Status::Malformed | Status::BadClaim | Status::Expired | Status::NotYetValid
            ),
            "decryptable token refused by verify_typed(Encrypted) with {y}"
        ),
    }
}

fn check_typed(
    token: &[u8],
    r: &Result<Token, Rejection>,
    v: &Validation,
    ty: TokenType,
    keys: &KeySet,
) {
    let t = match r {
        Err(e) => {
            check_rejection(token, e);
            match ty {
                TokenType::Encrypted => assert!(
                    !matches!(e.status, Status::BadSignature | Status::UnsupportedAlg),
                    "encrypted token refused with a JWS status: {e}"
                ),
                TokenType::Signed => assert!(
                    !matches!(e.status, Status::DecryptFailed | Status::UnsupportedEnc),
                    "signed token refused with a JWE status: {e}"
                ),
                TokenType::Nested => {}
            }
            return;
        }
        Ok(t) => t,
    };
    assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
    assert_eq!(
        t.header().get("alg"),
        Some(&Value::String(t.alg().to_owned()))
    );
    assert!(!t.header().contains_key("crit"));
    match ty {
        TokenType::Signed => assert_eq!(dots(token), 2, "accepted JWS without 3 segments"),
        TokenType::Encrypted => {
            assert_eq!(dots(token), 4, "accepted JWE without 5 segments");
            assert!(matches!(t.header().get("enc"), Some(Value::String(_))));
            assert!(!t.header().contains_key("zip"));
            if let Some(Value::String(cty)) = t.header().get("cty") {
                assert!(
                    !cty.eq_ignore_ascii_case("JWT")
                        && !cty.eq_ignore_ascii_case("application/jwt"),
                    "nested token accepted as encrypted"
                );
            }
            let lenient: Map<String, Value> = serde_json::from_str(t.payload())
                .unwrap_or_else(|e| panic!("strict parser accepted what serde_json refuses: {e}"));
            assert_eq!(&lenient, t.claims());
        }
        TokenType::Nested => {
            assert_eq!(dots(token), 4, "accepted nested JWT without 5 segments");
            let inner = t.payload().as_bytes();
            assert_eq!(dots(inner), 2, "nested payload is not a compact JWS");
            assert!(inner.len() < token.len());
            let again = verify(inner, keys, v)
                .unwrap_or_else(|e| panic!("enclosed JWS of an accepted nested JWT: {e}"));
            assert_eq!(again.header(), t.header());
            assert_eq!(again.claims(), t.claims());
            assert_eq!(again.alg(), t.alg());
            let lenient: Map<String, Value> = serde_json::from_str(again.payload())
                .unwrap_or_else(|e| panic!("strict parser accepted what serde_json refuses: {e}"));
            assert_eq!(&lenient, t.claims());
        }
    }
    check_times(t.claims(), v);
}

/// Refusals allowed for a token the harness encrypted itself: the plaintext / claims.
fn payload_refusal(s: Status) -> bool {
    matches!(
        s,
        Status::Malformed | Status::BadClaim | Status::Expired | Status::NotYetValid
    )
}

fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn round_trip(
    token: &[u8],
    plaintext: &[u8],
    extra: &Value,
    (alg, enc): (&str, &str),
    keys: &KeySet,
    fixed_v: &Validation,
    fuzz_v: &Validation,
) {
    let extra = extra.as_object();
    // Whether the harness's header may make the token undecryptable.
    let sensitive = extra.is_some_and(|h| SENSITIVE.iter().any(|n| h.contains_key(*n)));
    let too_deep =
        extra.is_some_and(|h| 1 + h.values().map(json_depth).max().unwrap_or(0) > MAX_JSON_DEPTH);
    let too_large = token.len() > MAX_TOKEN_LEN;
    let must_decrypt = !sensitive && !too_deep && !too_large;

    let d = decrypt(token, keys);
    check_decrypted(token, &d);
    match &d {
        Ok(d) => {
            assert_eq!(d.plaintext, plaintext, "decrypt returned another plaintext");
            if let Some(extra) = extra {
                for (name, value) in extra {
                    assert_eq!(d.header.get(name), Some(value), "header member {name}");
                }
            }
            if !sensitive {
                assert_eq!(d.header.get("alg"), Some(&json!(alg)));
                assert_eq!(d.header.get("enc"), Some(&json!(enc)));
            }
        }
        Err(e) if too_large => assert_eq!(e.status, Status::TooLarge),
        Err(e) if must_decrypt => panic!("harness-encrypted {alg}/{enc} token refused: {e}"),
        Err(e) if !sensitive => assert_eq!(e.status, Status::Malformed, "deep header: {e}"),
        Err(_) => {}
    }

    let fixed = verify_typed(token, keys, fixed_v, TokenType::Encrypted);
    let fuzzed = verify_typed(token, keys, fuzz_v, TokenType::Encrypted);
    check_typed(token, &fixed, fixed_v, TokenType::Encrypted, keys);
    check_typed(token, &fuzzed, fuzz_v, TokenType::Encrypted, keys);
    check_same_but_time(&fixed, &fuzzed);
    check_decrypt_agrees(&d, &fixed);
    for r in [&fixed, &fuzzed] {
        match r {
            Ok(t) => {
                assert_eq!(t.payload().as_bytes(), plaintext);
                if !sensitive {
                    assert_eq!(t.alg(), alg);
                }
            }
            Err(e) if d.is_ok() => assert!(payload_refusal(e.status), "{e}"),
            Err(_) => {}
        }
    }
    // Strict accepts ⇒ lenient agrees (checked above): a plaintext that is no JSON object
    // for serde_json either is never accepted.
    if serde_json::from_slice::<Map<String, Value>>(plaintext).is_err() {
        assert!(fixed.is_err(), "non-object plaintext accepted");
    }
}

fn round_trip_nested(
    token: &[u8],
    inner: &[u8],
    payload: &[u8],
    keys: &KeySet,
    fixed_v: &Validation,
    fuzz_v: &Validation,
) {
    let too_large = token.len() > MAX_TOKEN_LEN;
    let d = decrypt(token, keys);
    check_decrypted(token, &d);
    match &d {
        Ok(d) => {
            assert_eq!(d.plaintext, inner, "decrypt returned another plaintext");
            assert_eq!(d.header.get("cty"), Some(&json!("JWT")));
        }
        Err(e) if too_large => assert_eq!(e.status, Status::TooLarge),
        Err(e) => panic!("harness-encrypted nested token refused by decrypt: {e}"),
    }
    let fixed = verify_typed(token, keys, fixed_v, TokenType::Nested);
    let fuzzed = verify_typed(token, keys, fuzz_v, TokenType::Nested);
    check_typed(token, &fixed, fixed_v, TokenType::Nested, keys);
    check_typed(token, &fuzzed, fuzz_v, TokenType::Nested, keys);
    check_same_but_time(&fixed, &fuzzed);
    for r in [&fixed, &fuzzed] {
        match r {
            Ok(t) => {
                assert_eq!(t.payload().as_bytes(), inner);
                assert_eq!(t.alg(), "HS256");
            }
            Err(e) if too_large => assert_eq!(e.status, Status::TooLarge),
            Err(e) => {
                assert!(
                    payload_refusal(e.status),
                    "harness-made nested token refused with {e}"
                );
                if e.status == Status::Malformed {
                    assert!(e.detail.contains("payload"), "nested token refused: {e}");
                }
            }
        }
    }
    // As for the encrypted case: what serde_json cannot read as an object is refused.
    if !too_large && serde_json::from_slice::<Map<String, Value>>(payload).is_err() {
        assert!(fixed.is_err(), "non-object payload accepted");
    }
}

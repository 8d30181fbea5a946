//! Compact JWE decryption (RFC 7516, algorithms of RFC 7518 and RFC 8037) and the typed
//! validation of signed, encrypted and nested JWTs ([`verify_typed`]).
//!
//! # Algorithms
//!
//! Key management (`alg`): `dir`; `RSA-OAEP` (SHA-1) and `RSA-OAEP-256`; `A128KW`, `A192KW`,
//! `A256KW` (RFC 3394 key wrap); `A128GCMKW`, `A192GCMKW`, `A256GCMKW` (header `iv` and
//! `tag`); `ECDH-ES`, `ECDH-ES+A128KW`, `ECDH-ES+A192KW`, `ECDH-ES+A256KW` (ephemeral key from
//! the header `epk`, P-256, P-384, P-521 or X25519; Concat KDF of RFC 7518 §4.6 with SHA-256
//! and the header `apu` / `apv`). `RSA1_5` (padding oracles) and `PBES2-*` (a password as
//! key, and an attacker-chosen iteration count) are refused on purpose.
//!
//! Content encryption (`enc`): `A128GCM`, `A192GCM`, `A256GCM` and `A128CBC-HS256`,
//! `A192CBC-HS384`, `A256CBC-HS512` (RFC 7518 §5.2: the first half of the key is the MAC
//! key, the second half the AES key; the tag, the first half of the HMAC over
//! AAD || IV || ciphertext || AL, is compared in constant time *before* anything is
//! decrypted). The AAD is the ASCII of the protected header segment as received.
//!
//! Compression (`zip`) is not supported: a token with a `zip` header is refused as
//! `unsupported_enc` before any decryption (inflating attacker data is a resource risk, and
//! a JWT rarely gains from it).
//!
//! # Order of checks
//!
//! First failure wins: empty → `missing`; longer than [`MAX_TOKEN_LEN`] → `too_large`; not
//! five segments, empty header, bad base64url, header not a strict JSON object →
//! `malformed`; `alg`, `enc`, `zip` → `unsupported_enc`; `crit` → `bad_crit`; non-string
//! `kid` → `malformed`; IV length, tag length, CBC ciphertext length → `decrypt_failed`;
//! encrypted key present for `dir`/`ECDH-ES` or absent for the others, bad `epk`, `apu`,
//! `apv`, `iv`, `tag` header → `malformed`; no fitting key → `no_key`; key unwrap and
//! authentication tag → `decrypt_failed`.
//!
//! # No oracle
//!
//! Every cryptographic failure is the one status `decrypt_failed`; only the log `detail`
//! differs. When the content encryption key cannot be recovered (an RSA-OAEP decoding error,
//! an AES key wrap integrity failure, a failed key agreement, an unwrapped key of the wrong
//! length) decryption goes on with a random key of the right length, so that the failure
//! surfaces at the same authentication tag check after the same work (RFC 7516 §11.5): the
//! time taken does not tell a client whether its encrypted key decoded.
//!
//! Sizes are bounded by [`MAX_TOKEN_LEN`]: every segment, the plaintext and the key
//! derivation inputs are smaller than the token.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::aes::{unwrap_key, wrap_key, AesKey};
use openssl::derive::Deriver;
use openssl::encrypt::Decrypter;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPrivate, HasPublic, Id, PKey, PKeyRef, Public};
use openssl::rsa::Padding;
use openssl::sign::Signer;
use openssl::symm::{self, Cipher};
use serde_json::{Map, Value};

use crate::alg::{Alg, Curve};
use crate::jws::{self, malformed, Token, Validation, PAYLOAD};
use crate::keys::{self, Decryption, JweRestriction, KeySet, Secret};
use crate::{claims, Rejection, Status, MAX_TOKEN_LEN};

// ---------------------------------------------------------------- algorithms

/// How the content encryption key is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MgmtKind {
    /// The shared key is the content encryption key.
    Dir,
    /// RSAES-OAEP.
    Rsa,
    /// AES key wrap (RFC 3394).
    AesKw,
    /// AES-GCM key wrap (header `iv` and `tag`).
    AesGcmKw,
    /// ECDH-ES, direct or with AES key wrap.
    Ecdh,
}

/// A supported JWE key management algorithm (`alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyMgmt {
    Dir,
    RsaOaep,
    RsaOaep256,
    A128Kw,
    A192Kw,
    A256Kw,
    A128GcmKw,
    A192GcmKw,
    A256GcmKw,
    EcdhEs,
    EcdhEsA128Kw,
    EcdhEsA192Kw,
    EcdhEsA256Kw,
}

impl KeyMgmt {
    const ALL: [KeyMgmt; 13] = [
        KeyMgmt::Dir,
        KeyMgmt::RsaOaep,
        KeyMgmt::RsaOaep256,
        KeyMgmt::A128Kw,
        KeyMgmt::A192Kw,
        KeyMgmt::A256Kw,
        KeyMgmt::A128GcmKw,
        KeyMgmt::A192GcmKw,
        KeyMgmt::A256GcmKw,
        KeyMgmt::EcdhEs,
        KeyMgmt::EcdhEsA128Kw,
        KeyMgmt::EcdhEsA192Kw,
        KeyMgmt::EcdhEsA256Kw,
    ];

    /// Exact, case-sensitive lookup of a JWE `alg` value.
    pub(crate) fn from_name(name: &str) -> Option<KeyMgmt> {
        KeyMgmt::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The registered `alg` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyMgmt::Dir => "dir",
            KeyMgmt::RsaOaep => "RSA-OAEP",
            KeyMgmt::RsaOaep256 => "RSA-OAEP-256",
            KeyMgmt::A128Kw => "A128KW",
            KeyMgmt::A192Kw => "A192KW",
            KeyMgmt::A256Kw => "A256KW",
            KeyMgmt::A128GcmKw => "A128GCMKW",
            KeyMgmt::A192GcmKw => "A192GCMKW",
            KeyMgmt::A256GcmKw => "A256GCMKW",
            KeyMgmt::EcdhEs => "ECDH-ES",
            KeyMgmt::EcdhEsA128Kw => "ECDH-ES+A128KW",
            KeyMgmt::EcdhEsA192Kw => "ECDH-ES+A192KW",
            KeyMgmt::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    pub(crate) fn kind(self) -> MgmtKind {
        match self {
            KeyMgmt::Dir => MgmtKind::Dir,
            KeyMgmt::RsaOaep | KeyMgmt::RsaOaep256 => MgmtKind::Rsa,
            KeyMgmt::A128Kw | KeyMgmt::A192Kw | KeyMgmt::A256Kw => MgmtKind::AesKw,
            KeyMgmt::A128GcmKw | KeyMgmt::A192GcmKw | KeyMgmt::A256GcmKw => MgmtKind::AesGcmKw,
            KeyMgmt::EcdhEs
            | KeyMgmt::EcdhEsA128Kw
            | KeyMgmt::EcdhEsA192Kw
            | KeyMgmt::EcdhEsA256Kw => MgmtKind::Ecdh,
        }
    }

    /// Length of the AES key-encryption key (the shared key for A*KW / A*GCMKW, the derived
    /// key for ECDH-ES+A*KW); `None` when the content key is not wrapped.
    pub(crate) fn kek_len(self) -> Option<usize> {
        match self {
            KeyMgmt::A128Kw | KeyMgmt::A128GcmKw | KeyMgmt::EcdhEsA128Kw => Some(16),
            KeyMgmt::A192Kw | KeyMgmt::A192GcmKw | KeyMgmt::EcdhEsA192Kw => Some(24),
            KeyMgmt::A256Kw | KeyMgmt::A256GcmKw | KeyMgmt::EcdhEsA256Kw => Some(32),
            KeyMgmt::Dir | KeyMgmt::RsaOaep | KeyMgmt::RsaOaep256 | KeyMgmt::EcdhEs => None,
        }
    }

    /// Whether the JWE Encrypted Key must be empty (RFC 7516 §5.2 step 10).
    pub(crate) fn direct(self) -> bool {
        matches!(self, KeyMgmt::Dir | KeyMgmt::EcdhEs)
    }

    fn oaep_digest(self) -> MessageDigest {
        match self {
            KeyMgmt::RsaOaep256 => MessageDigest::sha256(),
            _ => MessageDigest::sha1(),
        }
    }
}

/// A supported JWE content encryption algorithm (`enc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Enc {
    A128Gcm,
    A192Gcm,
    A256Gcm,
    A128CbcHs256,
    A192CbcHs384,
    A256CbcHs512,
}

impl Enc {
    const ALL: [Enc; 6] = [
        Enc::A128Gcm,
        Enc::A192Gcm,
        Enc::A256Gcm,
        Enc::A128CbcHs256,
        Enc::A192CbcHs384,
        Enc::A256CbcHs512,
    ];

    /// Exact, case-sensitive lookup of a JWE `enc` value.
    pub(crate) fn from_name(name: &str) -> Option<Enc> {
        Enc::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The registered `enc` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Enc::A128Gcm => "A128GCM",
            Enc::A192Gcm => "A192GCM",
            Enc::A256Gcm => "A256GCM",
            Enc::A128CbcHs256 => "A128CBC-HS256",
            Enc::A192CbcHs384 => "A192CBC-HS384",
            Enc::A256CbcHs512 => "A256CBC-HS512",
        }
    }

    /// Length of the content encryption key (for CBC-HS: MAC key and AES key).
    pub(crate) fn key_len(self) -> usize {
        match self {
            Enc::A128Gcm => 16,
            Enc::A192Gcm => 24,
            Enc::A256Gcm | Enc::A128CbcHs256 => 32,
            Enc::A192CbcHs384 => 48,
            Enc::A256CbcHs512 => 64,
        }
    }

    pub(crate) fn iv_len(self) -> usize {
        if self.is_gcm() {
            12
        } else {
            16
        }
    }

    pub(crate) fn tag_len(self) -> usize {
        match self {
            Enc::A192CbcHs384 => 24,
            Enc::A256CbcHs512 => 32,
            _ => 16,
        }
    }

    fn is_gcm(self) -> bool {
        matches!(self, Enc::A128Gcm | Enc::A192Gcm | Enc::A256Gcm)
    }

    /// MAC key length of a CBC-HS algorithm (half the key); 0 for GCM.
    fn mac_key_len(self) -> usize {
        match self {
            Enc::A128CbcHs256 => 16,
            Enc::A192CbcHs384 => 24,
            Enc::A256CbcHs512 => 32,
            _ => 0,
        }
    }

    fn cipher(self) -> Cipher {
        match self {
            Enc::A128Gcm => Cipher::aes_128_gcm(),
            Enc::A192Gcm => Cipher::aes_192_gcm(),
            Enc::A256Gcm => Cipher::aes_256_gcm(),
            Enc::A128CbcHs256 => Cipher::aes_128_cbc(),
            Enc::A192CbcHs384 => Cipher::aes_192_cbc(),
            Enc::A256CbcHs512 => Cipher::aes_256_cbc(),
        }
    }

    fn hmac_digest(self) -> MessageDigest {
        match self {
            Enc::A192CbcHs384 => MessageDigest::sha384(),
            Enc::A256CbcHs512 => MessageDigest::sha512(),
            _ => MessageDigest::sha256(),
        }
    }
}

fn gcm_cipher(key_len: usize) -> Option<Cipher> {
    match key_len {
        16 => Some(Cipher::aes_128_gcm()),
        24 => Some(Cipher::aes_192_gcm()),
        32 => Some(Cipher::aes_256_gcm()),
        _ => None,
    }
}

// ---------------------------------------------------------------- public API

/// What kind of token a location accepts (`auth_jwt_type signed | encrypted | nested`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// A compact JWS (three segments), checked by [`crate::verify`].
    Signed,
    /// A compact JWE (five segments) whose plaintext is the JSON object of claims.
    Encrypted,
    /// A compact JWE whose plaintext is a compact JWS (`cty` `JWT`), verified in turn.
    Nested,
}

impl TokenType {
    /// Parse the `auth_jwt_type` word (`signed`, `encrypted`, `nested`; exact).
    pub fn from_name(name: &str) -> Option<TokenType> {
        match name {
            "signed" => Some(TokenType::Signed),
            "encrypted" => Some(TokenType::Encrypted),
            "nested" => Some(TokenType::Nested),
            _ => None,
        }
    }

    /// The `auth_jwt_type` word.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Signed => "signed",
            TokenType::Encrypted => "encrypted",
            TokenType::Nested => "nested",
        }
    }
}

/// A decrypted JWE.
#[derive(Clone)]
pub struct Decrypted {
    /// The JWE protected header.
    pub header: Map<String, Value>,
    /// The decrypted content.
    pub plaintext: Vec<u8>,
}

impl fmt::Debug for Decrypted {
    /// The plaintext is secret: only its length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("header", &self.header)
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

/// Decrypt a compact JWE (five segments) with the decryption keys of `keys` (see
/// [`KeySet::parse_with_private`]); the plaintext is returned as is, whatever it holds.
///
/// Algorithms: `alg` `dir`, `RSA-OAEP`, `RSA-OAEP-256`, `A128KW`/`A192KW`/`A256KW`,
/// `A128GCMKW`/`A192GCMKW`/`A256GCMKW`, `ECDH-ES` and `ECDH-ES+A128KW`/`+A192KW`/`+A256KW`
/// (P-256, P-384, P-521, X25519; Concat KDF with `apu`/`apv`); `enc` `A128GCM`/`A192GCM`/
/// `A256GCM` and `A128CBC-HS256`/`A192CBC-HS384`/`A256CBC-HS512`. `RSA1_5`, `PBES2-*` and
/// any `zip` header are refused as [`Status::UnsupportedEnc`].
///
/// Order (first failure wins): empty → `Missing`; longer than [`MAX_TOKEN_LEN`] →
/// `TooLarge`; shape, base64url, strict JSON header → `Malformed`; `alg`, `enc`, `zip` →
/// `UnsupportedEnc`; `crit` → `BadCrit`; non-string `kid` → `Malformed`; IV, tag or CBC
/// ciphertext length → `DecryptFailed`; encrypted key present for `dir`/`ECDH-ES` or absent
/// otherwise, bad `epk`/`apu`/`apv`/`iv`/`tag` header → `Malformed`; no fitting key →
/// `NoKey`; key unwrap, authentication tag, padding → `DecryptFailed`.
///
/// Candidate keys are chosen like for signatures: by `kid` (a key without kid matches any
/// token kid), and the key must fit `alg` and `enc` (an `oct` key for `dir` must be exactly
/// as long as the `enc` key, for A*KW / A*GCMKW as long as the wrapping key; an EC key must
/// be on the `epk` curve) and the JWK `alg` restriction. Candidates are tried in load order
/// until one decrypts.
///
/// No oracle: when the content key cannot be recovered with a candidate (RSA-OAEP decoding
/// error, AES key wrap integrity failure, failed key agreement, unwrapped key of the wrong
/// length) decryption goes on with a random key of the right length, so the failure shows
/// at the same tag check after the same work (RFC 7516 §11.5). Every cryptographic failure
/// is [`Status::DecryptFailed`]; only [`Rejection::detail`] (for the log) tells them apart.
pub fn decrypt(token: &[u8], keys: &KeySet) -> Result<Decrypted, Rejection> {
    let result = decrypt_inner(token, keys).map(|(d, _)| d);
    // Failed OpenSSL operations leave entries on the per-thread error queue; drain it so
    // nothing leaks into unrelated nginx SSL error reporting.
    drop(ErrorStack::get());
    result
}

/// Full validation of a token of the given type.
///
/// - [`TokenType::Signed`]: exactly [`crate::verify`].
/// - [`TokenType::Encrypted`]: [`decrypt`]; the plaintext must be UTF-8 and a strict JSON
///   object (same rules and phrases as a JWS payload), then `exp` and `nbf` are checked.
///   [`Token::header`] is the JWE protected header, [`Token::payload`] the decrypted JSON
///   text, [`Token::alg`] the JWE `alg`. A JWE whose `cty` is `JWT` (a nested token) is
///   refused as `malformed`.
/// - [`TokenType::Nested`]: [`decrypt`]; the JWE `cty`, if present, must be `JWT` (or
///   `application/jwt`, case-insensitively); the plaintext must be a compact JWS, which is
///   checked with [`crate::verify`] against the same key set (its signature keys) and is the
///   returned [`Token`] (header, claims and `alg` of the JWS); as in NGINX Plus,
///   [`Token::payload`] is the enclosed JWS itself (`$jwt_payload` of a nested token).
pub fn verify_typed(
    token: &[u8],
    keys: &KeySet,
    v: &Validation,
    ty: TokenType,
) -> Result<Token, Rejection> {
    match ty {
        TokenType::Signed => jws::verify(token, keys, v),
        TokenType::Encrypted => {
            let result = decrypt_inner(token, keys);
            drop(ErrorStack::get());
            let (Decrypted { header, plaintext }, alg) = result?;
            if cty_is_jwt(&header) == Some(true) {
                return Err(malformed(
                    "token is a nested JWT (cty JWT), expected encrypted claims",
                ));
            }
            let payload = String::from_utf8(plaintext).map_err(|_| malformed(PAYLOAD.utf8))?;
            let claims = jws::parse_segment(&payload, &PAYLOAD)?;
            claims::check(&claims, v)?;
            Ok(Token::new(header, claims, payload, alg.name()))
        }
        TokenType::Nested => {
            let Decrypted { header, plaintext } = decrypt(token, keys)?;
            if cty_is_jwt(&header) == Some(false) {
                return Err(malformed("cty of a nested token is not JWT"));
            }
            if plaintext.is_empty() {
                return Err(malformed("nested token is empty"));
            }
            let token = jws::verify(&plaintext, keys, v)?;
            // A verified compact JWS is base64url and dots only, hence UTF-8.
            let enclosed = String::from_utf8(plaintext).map_err(|_| malformed(PAYLOAD.utf8))?;
            Ok(token.with_payload(enclosed))
        }
    }
}

/// `None` when there is no `cty`; whether it names a JWT otherwise.
fn cty_is_jwt(header: &Map<String, Value>) -> Option<bool> {
    match header.get("cty")? {
        Value::String(s) => {
            Some(s.eq_ignore_ascii_case("JWT") || s.eq_ignore_ascii_case("application/jwt"))
        }
        _ => Some(false),
    }
}

// ---------------------------------------------------------------- decryption

const UNWRAP_FAILED: &str = "content encryption key could not be unwrapped (wrong key?)";
const AGREEMENT_FAILED: &str = "ECDH key agreement failed";
const TAG_MISMATCH: &str = "authentication tag mismatch";
const BAD_PADDING: &str = "padding is invalid";
const BAD_IV_LEN: &str = "IV has the wrong length";
const BAD_TAG_LEN: &str = "authentication tag has the wrong length";
const BAD_CIPHERTEXT_LEN: &str =
    "ciphertext length is not a positive multiple of the AES block size (truncated?)";
const BAD_KW_PARAMS: &str = "key wrap iv or tag header has the wrong length";

const fn failed(detail: &'static str) -> Rejection {
    Rejection::new(Status::DecryptFailed, detail)
}

const fn unsupported(detail: &'static str) -> Rejection {
    Rejection::new(Status::UnsupportedEnc, detail)
}

/// The five decoded segments.
struct Parts<'a> {
    /// The protected header segment as received (the AAD).
    protected: &'a [u8],
    header: Vec<u8>,
    encrypted_key: Vec<u8>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

fn segments_detail(count: usize) -> &'static str {
    match count {
        1 => "token has 1 segment, expected 5",
        2 => "token has 2 segments, expected 5",
        3 => "token has 3 segments, expected 5 (a JWS, not a JWE)",
        4 => "token has 4 segments, expected 5",
        6 => "token has 6 segments, expected 5",
        _ => "token has too many segments, expected 5",
    }
}

fn split(token: &[u8]) -> Result<Parts<'_>, Rejection> {
    if token.is_empty() {
        return Err(Rejection::new(Status::Missing, "token is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::new(
            Status::TooLarge,
            "token is longer than 16384 bytes",
        ));
    }
    let dots = token.iter().filter(|&&b| b == b'.').count();
    if dots != 4 {
        return Err(malformed(segments_detail(dots.saturating_add(1))));
    }
    let mut segments = token.split(|&b| b == b'.');
    let (Some(protected), Some(encrypted_key), Some(iv), Some(ciphertext), Some(tag)) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(malformed("token has too many segments, expected 5"));
    };
    if protected.is_empty() {
        return Err(malformed("token header segment is empty"));
    }
    let decode = |seg: &[u8], detail: &'static str| {
        URL_SAFE_NO_PAD.decode(seg).map_err(|_| malformed(detail))
    };
    Ok(Parts {
        protected,
        header: decode(protected, "header is not valid base64url")?,
        encrypted_key: decode(encrypted_key, "encrypted key is not valid base64url")?,
        iv: decode(iv, "IV is not valid base64url")?,
        ciphertext: decode(ciphertext, "ciphertext is not valid base64url")?,
        tag: decode(tag, "authentication tag is not valid base64url")?,
    })
}

/// `alg`, `enc`, `zip`, `crit`, `kid`.
fn check_header(header: &Map<String, Value>) -> Result<(KeyMgmt, Enc, Option<&str>), Rejection> {
    let alg = match header.get("alg") {
        Some(Value::String(name)) => match KeyMgmt::from_name(name) {
            Some(alg) => alg,
            None if name == "RSA1_5" => {
                return Err(unsupported(
                    "alg RSA1_5 is not accepted (RSAES-PKCS1-v1_5 invites padding oracles)",
                ))
            }
            None if name.starts_with("PBES2") => {
                return Err(unsupported("PBES2 key management is not supported"))
            }
            None if Alg::from_name(name).is_some() => {
                return Err(unsupported(
                    "alg is a JWS algorithm, not a JWE key management algorithm",
                ))
            }
            None => return Err(unsupported("unsupported JWE alg")),
        },
        Some(_) => return Err(unsupported("alg is not a string")),
        None => return Err(unsupported("token has no alg")),
    };
    let enc = match header.get("enc") {
        Some(Value::String(name)) => {
            Enc::from_name(name).ok_or(unsupported("unsupported JWE enc"))?
        }
        Some(_) => return Err(unsupported("enc is not a string")),
        None => return Err(unsupported("token has no enc")),
    };
    if header.contains_key("zip") {
        return Err(unsupported("compressed content (zip) is not supported"));
    }
    // RFC 7516 §4.1.13: no extension parameter is understood, so any `crit` is refused.
    if header.contains_key("crit") {
        return Err(Rejection::new(
            Status::BadCrit,
            "crit header is not supported",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    Ok((alg, enc, kid))
}

/// The ephemeral public key of ECDH-ES.
pub(crate) enum Epk {
    Ec { key: PKey<Public>, curve: Curve },
    X25519(PKey<Public>),
}

fn parse_epk(header: &Map<String, Value>) -> Result<Epk, Rejection> {
    let epk = match header.get("epk") {
        Some(Value::Object(epk)) => epk,
        Some(_) => return Err(malformed("epk is not a JSON object")),
        None => return Err(malformed("ECDH-ES token has no epk")),
    };
    let invalid = || malformed("epk is not a valid public key");
    let member = |name: &str, len: usize| -> Result<Vec<u8>, Rejection> {
        match epk.get(name) {
            Some(Value::String(s)) => URL_SAFE_NO_PAD
                .decode(s)
                .ok()
                .filter(|b| b.len() == len)
                .ok_or_else(invalid),
            _ => Err(invalid()),
        }
    };
    let text = |name: &str| epk.get(name).and_then(Value::as_str);
    match (text("kty"), text("crv")) {
        (Some("EC"), Some(crv)) => {
            let curve =
                Curve::from_jwk_name(crv).ok_or(unsupported("epk curve is not supported"))?;
            let x = member("x", curve.coord_len())?;
            let y = member("y", curve.coord_len())?;
            // On the curve and not the point at infinity (no invalid-curve attack).
            let key = keys::ec_from_coordinates(curve, &x, &y)
                .and_then(PKey::from_ec_key)
                .map_err(|_| invalid())?;
            Ok(Epk::Ec { key, curve })
        }
        (Some("OKP"), Some("X25519")) => {
            let x = member("x", 32)?;
            let key = PKey::public_key_from_raw_bytes(&x, Id::X25519).map_err(|_| invalid())?;
            Ok(Epk::X25519(key))
        }
        (Some("OKP"), Some(_)) => Err(unsupported("epk curve is not supported")),
        _ => Err(invalid()),
    }
}

/// Optional base64url string header member (`apu`, `apv`).
fn b64_header(
    header: &Map<String, Value>,
    name: &str,
    detail: &'static str,
) -> Result<Vec<u8>, Rejection> {
    match header.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => URL_SAFE_NO_PAD.decode(s).map_err(|_| malformed(detail)),
        Some(_) => Err(malformed(detail)),
    }
}

/// Everything but the key needed to recover the content encryption key.
struct KeyContext<'a> {
    alg: KeyMgmt,
    enc: Enc,
    encrypted_key: &'a [u8],
    epk: Option<Epk>,
    apu: Vec<u8>,
    apv: Vec<u8>,
    /// A*GCMKW header `iv` and `tag`.
    kw_iv: Vec<u8>,
    kw_tag: Vec<u8>,
}

fn fits(d: &Decryption, ctx: &KeyContext<'_>) -> bool {
    let restriction_ok = match d.alg {
        None => true,
        Some(JweRestriction::Mgmt(m)) => m == ctx.alg,
        Some(JweRestriction::Enc(e)) => ctx.alg == KeyMgmt::Dir && e == ctx.enc,
    };
    restriction_ok
        && match (ctx.alg.kind(), &d.secret) {
            (MgmtKind::Dir, Secret::Oct(k)) => k.len() == ctx.enc.key_len(),
            (MgmtKind::Rsa, Secret::Rsa(_)) => true,
            (MgmtKind::AesKw | MgmtKind::AesGcmKw, Secret::Oct(k)) => {
                Some(k.len()) == ctx.alg.kek_len()
            }
            (MgmtKind::Ecdh, Secret::Ec { curve, .. }) => {
                matches!(&ctx.epk, Some(Epk::Ec { curve: c, .. }) if c == curve)
            }
            (MgmtKind::Ecdh, Secret::X25519(_)) => matches!(ctx.epk, Some(Epk::X25519(_))),
            _ => false,
        }
}

/// Recover the content encryption key with one key; `Err` is the log detail.
fn unwrap_cek(secret: &Secret, ctx: &KeyContext<'_>) -> Result<Vec<u8>, &'static str> {
    let cek_len = ctx.enc.key_len();
    let cek = match (ctx.alg.kind(), secret) {
        (MgmtKind::Dir, Secret::Oct(k)) => Some(k.clone()),
        (MgmtKind::Rsa, Secret::Rsa(pkey)) => {
            rsa_oaep_decrypt(pkey, ctx.alg.oaep_digest(), ctx.encrypted_key).ok()
        }
        (MgmtKind::AesKw, Secret::Oct(kek)) => aes_kw_unwrap(kek, ctx.encrypted_key, cek_len),
        (MgmtKind::AesGcmKw, Secret::Oct(kek)) => gcm_cipher(kek.len()).and_then(|c| {
            symm::decrypt_aead(
                c,
                kek,
                Some(&ctx.kw_iv),
                b"",
                ctx.encrypted_key,
                &ctx.kw_tag,
            )
            .ok()
        }),
        (MgmtKind::Ecdh, secret) => {
            let z = match (secret, &ctx.epk) {
                (Secret::Ec { key, .. }, Some(Epk::Ec { key: peer, .. })) => agree(key, peer),
                (Secret::X25519(key), Some(Epk::X25519(peer))) => agree(key, peer),
                _ => None,
            }
            .ok_or(AGREEMENT_FAILED)?;
            match ctx.alg.kek_len() {
                None => Some(concat_kdf(&z, ctx.enc.name(), &ctx.apu, &ctx.apv, cek_len)),
                Some(kek_len) => {
                    let kek = concat_kdf(&z, ctx.alg.name(), &ctx.apu, &ctx.apv, kek_len);
                    aes_kw_unwrap(&kek, ctx.encrypted_key, cek_len)
                }
            }
        }
        _ => None,
    };
    cek.filter(|k| k.len() == cek_len).ok_or(UNWRAP_FAILED)
}

fn decrypt_inner(token: &[u8], keys: &KeySet) -> Result<(Decrypted, KeyMgmt), Rejection> {
    let parts = split(token)?;
    let header = jws::parse_header(&parts.header)?;
    let (alg, enc, kid) = check_header(&header)?;

    if parts.iv.len() != enc.iv_len() {
        return Err(failed(BAD_IV_LEN));
    }
    if parts.tag.len() != enc.tag_len() {
        return Err(failed(BAD_TAG_LEN));
    }
    if !enc.is_gcm() && (parts.ciphertext.is_empty() || parts.ciphertext.len() % 16 != 0) {
        return Err(failed(BAD_CIPHERTEXT_LEN));
    }
    if alg.direct() && !parts.encrypted_key.is_empty() {
        return Err(malformed("encrypted key must be empty for dir and ECDH-ES"));
    }
    if !alg.direct() && parts.encrypted_key.is_empty() {
        return Err(malformed("encrypted key segment is empty"));
    }
    let mut ctx = KeyContext {
        alg,
        enc,
        encrypted_key: &parts.encrypted_key,
        epk: None,
        apu: Vec::new(),
        apv: Vec::new(),
        kw_iv: Vec::new(),
        kw_tag: Vec::new(),
    };
    match alg.kind() {
        MgmtKind::Ecdh => {
            ctx.epk = Some(parse_epk(&header)?);
            ctx.apu = b64_header(&header, "apu", "apu is not a base64url string")?;
            ctx.apv = b64_header(&header, "apv", "apv is not a base64url string")?;
        }
        MgmtKind::AesGcmKw => {
            let required = |name: &str, detail: &'static str| match header.get(name) {
                Some(Value::String(s)) => URL_SAFE_NO_PAD.decode(s).map_err(|_| malformed(detail)),
                _ => Err(malformed(detail)),
            };
            ctx.kw_iv = required("iv", "key wrap iv header is missing or not base64url")?;
            ctx.kw_tag = required("tag", "key wrap tag header is missing or not base64url")?;
            if ctx.kw_iv.len() != 12 || ctx.kw_tag.len() != 16 {
                return Err(failed(BAD_KW_PARAMS));
            }
        }
        MgmtKind::Dir | MgmtKind::Rsa | MgmtKind::AesKw => {}
    }

    let candidates = keys.decryption_candidates(kid, |d| fits(d, &ctx))?;
    let mut padding = false;
    let mut any_unwrapped = false;
    let mut unwrap_detail = UNWRAP_FAILED;
    for candidate in candidates {
        // On any failure to recover the key, go on with a random one: the failure then
        // surfaces at the tag check, after the same work (RFC 7516 §11.5).
        let (cek, unwrapped) = match unwrap_cek(&candidate.secret, &ctx) {
            Ok(cek) => (cek, true),
            Err(detail) => {
                unwrap_detail = detail;
                (random_key(enc.key_len())?, false)
            }
        };
        match content_decrypt(
            enc,
            &cek,
            &parts.iv,
            parts.protected,
            &parts.ciphertext,
            &parts.tag,
        ) {
            // A random key that authenticates (probability 2^-128) is still a failure.
            Ok(plaintext) if unwrapped => return Ok((Decrypted { header, plaintext }, alg)),
            Ok(_) => {}
            Err(ContentError::Padding) => padding = true,
            Err(ContentError::Tag) => {}
        }
        any_unwrapped |= unwrapped;
    }
    Err(failed(if padding {
        BAD_PADDING
    } else if any_unwrapped {
        TAG_MISMATCH
    } else {
        unwrap_detail
    }))
}

fn random_key(len: usize) -> Result<Vec<u8>, Rejection> {
    let mut key = vec![0u8; len];
    openssl::rand::rand_bytes(&mut key)
        .map_err(|_| Rejection::new(Status::Error, "random number generator failed"))?;
    Ok(key)
}

// ---------------------------------------------------------------- primitives

/// Why content decryption failed.
pub(crate) enum ContentError {
    /// The authentication tag does not verify.
    Tag,
    /// CBC padding is invalid (only checked after the tag verified).
    Padding,
}

/// Authenticated decryption of the content. The IV and tag lengths must already be checked.
pub(crate) fn content_decrypt(
    enc: Enc,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, ContentError> {
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() || tag.len() != enc.tag_len() {
        return Err(ContentError::Tag);
    }
    if enc.is_gcm() {
        return symm::decrypt_aead(enc.cipher(), cek, Some(iv), aad, ciphertext, tag)
            .map_err(|_| ContentError::Tag);
    }
    let (mac_key, aes_key) = cek
        .split_at_checked(enc.mac_key_len())
        .ok_or(ContentError::Tag)?;
    let mac = cbc_hs_tag(enc, mac_key, aad, iv, ciphertext).map_err(|_| ContentError::Tag)?;
    // Constant-time comparison, before decrypting anything.
    if mac.len() != tag.len() || !openssl::memcmp::eq(&mac, tag) {
        return Err(ContentError::Tag);
    }
    symm::decrypt(enc.cipher(), aes_key, Some(iv), ciphertext).map_err(|_| ContentError::Padding)
}

/// Authenticated encryption of the content: `(ciphertext, tag)`.
pub(crate) fn content_encrypt(
    enc: Enc,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let e = |e: ErrorStack| format!("content encryption failed: {e}");
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() {
        return Err(format!("{} needs a {}-byte key", enc.name(), enc.key_len()));
    }
    if enc.is_gcm() {
        let mut tag = vec![0u8; enc.tag_len()];
        let ciphertext =
            symm::encrypt_aead(enc.cipher(), cek, Some(iv), aad, plaintext, &mut tag).map_err(e)?;
        return Ok((ciphertext, tag));
    }
    let (mac_key, aes_key) = cek
        .split_at_checked(enc.mac_key_len())
        .ok_or_else(|| "bad key length".to_owned())?;
    let ciphertext = symm::encrypt(enc.cipher(), aes_key, Some(iv), plaintext).map_err(e)?;
    let tag = cbc_hs_tag(enc, mac_key, aad, iv, &ciphertext).map_err(e)?;
    Ok((ciphertext, tag))
}

/// RFC 7518 §5.2.2.1: the first half of HMAC(MAC_KEY, A || IV || E || AL).
fn cbc_hs_tag(
    enc: Enc,
    mac_key: &[u8],
    aad: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, ErrorStack> {
    let pkey = PKey::hmac(mac_key)?;
    let mut signer = Signer::new(enc.hmac_digest(), &pkey)?;
    signer.update(aad)?;
    signer.update(iv)?;
    signer.update(ciphertext)?;
    // AL: the AAD length in bits, 64-bit big-endian.
    let al = u64::try_from(aad.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(8);
    signer.update(&al.to_be_bytes())?;
    let mut mac = signer.sign_to_vec()?;
    mac.truncate(enc.tag_len());
    Ok(mac)
}

fn rsa_oaep_decrypt<T: HasPrivate>(
    pkey: &PKeyRef<T>,
    md: MessageDigest,
    wrapped: &[u8],
) -> Result<Vec<u8>, ErrorStack> {
    let mut d = Decrypter::new(pkey)?;
    d.set_rsa_padding(Padding::PKCS1_OAEP)?;
    d.set_rsa_oaep_md(md)?;
    d.set_rsa_mgf1_md(md)?;
    let mut out = vec![0u8; d.decrypt_len(wrapped)?];
    let n = d.decrypt(wrapped, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// RSA-OAEP (SHA-1) or RSA-OAEP-256 encryption of a content key, for [`crate::sign`].
pub(crate) fn rsa_oaep_encrypt<T: HasPublic>(
    alg: KeyMgmt,
    pkey: &PKeyRef<T>,
    cek: &[u8],
) -> Result<Vec<u8>, ErrorStack> {
    let md = alg.oaep_digest();
    let mut e = openssl::encrypt::Encrypter::new(pkey)?;
    e.set_rsa_padding(Padding::PKCS1_OAEP)?;
    e.set_rsa_oaep_md(md)?;
    e.set_rsa_mgf1_md(md)?;
    let mut out = vec![0u8; e.encrypt_len(cek)?];
    let n = e.encrypt(cek, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// RFC 3394 unwrap (default IV) of a key of exactly `cek_len` bytes.
fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8], cek_len: usize) -> Option<Vec<u8>> {
    if !matches!(kek.len(), 16 | 24 | 32) || wrapped.len() != cek_len.checked_add(8)? {
        return None;
    }
    let key = AesKey::new_decrypt(kek).ok()?;
    let mut out = vec![0u8; cek_len];
    let n = unwrap_key(&key, None, &mut out, wrapped).ok()?;
    (n == cek_len).then_some(out)
}

/// RFC 3394 wrap (default IV), for [`crate::sign`].
pub(crate) fn aes_kw_wrap(kek: &[u8], cek: &[u8]) -> Option<Vec<u8>> {
    if !matches!(kek.len(), 16 | 24 | 32) || cek.len() < 16 || cek.len() % 8 != 0 {
        return None;
    }
    let key = AesKey::new_encrypt(kek).ok()?;
    let mut out = vec![0u8; cek.len().checked_add(8)?];
    let n = wrap_key(&key, None, &mut out, cek).ok()?;
    (n == out.len()).then_some(out)
}

/// ECDH / X25519 shared secret `Z`; `None` on failure or an all-zero result.
pub(crate) fn agree<T: HasPrivate, U: HasPublic>(
    private: &PKeyRef<T>,
    peer: &PKeyRef<U>,
) -> Option<Vec<u8>> {
    let mut deriver = Deriver::new(private).ok()?;
    deriver.set_peer(peer).ok()?;
    let z = deriver.derive_to_vec().ok()?;
    // X25519 with a small-order point yields zeros (RFC 7748 §6.1).
    (!z.is_empty() && z.iter().any(|&b| b != 0)).then_some(z)
}

/// Concat KDF of NIST SP 800-56A with SHA-256, as RFC 7518 §4.6.2 uses it.
pub(crate) fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    key_len: usize,
) -> Vec<u8> {
    let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    let mut out = Vec::with_capacity(key_len.saturating_add(32));
    let mut counter: u32 = 1;
    while out.len() < key_len {
        let mut h = openssl::sha::Sha256::new();
        h.update(&counter.to_be_bytes());
        h.update(z);
        h.update(&len32(algorithm_id.len()));
        h.update(algorithm_id.as_bytes());
        h.update(&len32(apu.len()));
        h.update(apu);
        h.update(&len32(apv.len()));
        h.update(apv);
        // SuppPubInfo: the key length in bits; SuppPrivInfo: empty.
        h.update(&len32(key_len.saturating_mul(8)));
        out.extend_from_slice(&h.finish());
        counter = counter.wrapping_add(1);
    }
    out.truncate(key_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
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
}

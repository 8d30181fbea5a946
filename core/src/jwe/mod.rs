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
//! First failure wins: empty → `missing`; longer than [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) → `too_large`; not
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
//! Sizes are bounded by [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN): every segment, the plaintext and the key
//! derivation inputs are smaller than the token.

mod content;
mod header;
mod key_mgmt;
#[cfg(test)]
mod tests;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::error::ErrorStack;
use serde_json::{Map, Value};

use crate::alg::{KeyMgmt, MgmtKind};
use crate::claims::{self, Validation};
use crate::error::{Rejection, Status};
use crate::jws::{self, malformed, PAYLOAD};
use crate::keys::KeySet;
use crate::limits::MAX_KEY_TRIES;
use crate::token::Token;
use content::{content_decrypt, ContentError};
use header::{b64_header, check_header, parse_epk, split};
use key_mgmt::{fits, unwrap_cek, KeyContext, UNWRAP_FAILED};

pub(crate) use content::content_encrypt;
pub(crate) use key_mgmt::{aes_kw_wrap, agree, concat_kdf, rsa_oaep_encrypt};

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
/// Order (first failure wins): empty → `Missing`; longer than [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) →
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
    let more = candidates.len() > MAX_KEY_TRIES;
    let mut padding = false;
    let mut any_unwrapped = false;
    let mut unwrap_detail = UNWRAP_FAILED;
    for candidate in candidates.into_iter().take(MAX_KEY_TRIES) {
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
    if more {
        return Err(Rejection::new(
            Status::TooManyKeys,
            "no key among the first 16 candidates decrypts the token, and more keys would have to be tried",
        ));
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

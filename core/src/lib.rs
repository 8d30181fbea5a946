//! Token core of `ngx_http_auth_jwt_module`.
//!
//! This crate knows nothing about nginx. It parses key files ([`KeySet::parse`], and
//! [`KeySet::parse_with_private`] when private keys are needed for JWE), validates compact
//! JWS/JWT tokens ([`verify`]), decrypts compact JWE tokens ([`decrypt`]), validates signed,
//! encrypted and nested JWTs ([`verify_typed`]) and offers the small helpers the nginx glue
//! needs to expose claims as variables ([`render`], [`lookup`], [`bearer_token`],
//! [`is_truthy`]). The [`sign`] module mints (and encrypts) tokens for tests and for the
//! `jwt-mint` command line tool.
//!
//! Every byte handed to [`verify`] or [`decrypt`] is attacker controlled: the code never panics
//! on input data, bounds sizes and JSON nesting, and reports every refusal as a
//! [`Rejection`] carrying a [`Status`] and a fixed English phrase that never
//! echoes token bytes.
//!
//! All cryptography is done with OpenSSL through the `openssl` crate.
//!
//! The `fault-injection` cargo feature (off by default) is for tests only: with
//! it, [`verify`] panics on a token whose header has `"x-fault":"panic"`, so
//! that the nginx glue's panic guard can be tested end to end.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Input is attacker controlled: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo
    )
)]

mod alg;
pub mod cache;
mod claims;
pub mod glue;
mod json;
mod jwe;
mod jws;
mod keys;
pub mod sign;
mod util;

#[cfg(test)]
mod cookbook_tests;

pub use cache::{verify_cached, CacheUse, NumericDate, TimeClaims, VerdictCache};
pub use jwe::{decrypt, verify_typed, Decrypted, TokenType};
pub use jws::{verify, verify_reference, Token, Validation};
pub use keys::{KeyError, KeySet};
pub use util::{bearer_token, is_truthy, lookup, render, www_authenticate};

use std::fmt;

/// Tokens longer than this many bytes are refused with [`Status::TooLarge`].
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Header or payload JSON nested deeper than this many arrays/objects
/// (the top-level object counts as 1) is refused with [`Status::Malformed`].
pub const MAX_JSON_DEPTH: usize = 32;

/// Outcome class of a token validation, exposed as `$auth_jwt_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The token is valid.
    Valid,
    /// No token was presented (empty).
    Missing,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    TooLarge,
    /// The token is not a well-formed compact JWS whose header and payload are JSON objects
    /// (for JWE: not five segments, bad base64url, a header that is not a strict JSON object,
    /// a bad `epk`, `apu`, `apv`, `iv` or `tag` header, an encrypted key present where it must
    /// be empty or the reverse; for an encrypted JWT a plaintext that is not a JSON object; for
    /// a nested JWT a `cty` other than `JWT`).
    Malformed,
    /// The header `alg` is missing, not a string, `none` or not supported.
    UnsupportedAlg,
    /// No key of the key set can verify the token.
    NoKey,
    /// The signature does not verify with any candidate key.
    BadSignature,
    /// A registered claim has the wrong type.
    BadClaim,
    /// The `exp` claim is in the past.
    Expired,
    /// The `nbf` claim is in the future.
    NotYetValid,
    /// The header has a `crit` member.
    BadCrit,
    /// A JWE could not be decrypted: wrong key, authentication tag mismatch, bad padding,
    /// ciphertext that is not a whole number of blocks, IV or tag of the wrong length.
    ///
    /// The client never learns which: every such failure has this one status (and the same
    /// work is done for a key that cannot unwrap the content key as for a bad tag; see
    /// [`decrypt`]). Only [`Rejection::detail`], for the error log, tells them apart.
    DecryptFailed,
    /// The JWE `alg` (key management) or `enc` (content encryption) is missing, not a string
    /// or not supported (`RSA1_5` and `PBES2-*` are refused on purpose), or the JWE uses
    /// compression (`zip`), which is not supported.
    UnsupportedEnc,
    /// An `auth_jwt_require` condition failed (set by the nginx glue).
    RequireFailed,
    /// An internal error.
    Error,
}

impl Status {
    /// Word for `$auth_jwt_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Missing => "missing",
            Status::TooLarge => "too_large",
            Status::Malformed => "malformed",
            Status::UnsupportedAlg => "unsupported_alg",
            Status::NoKey => "no_key",
            Status::BadSignature => "bad_signature",
            Status::BadClaim => "bad_claim",
            Status::Expired => "expired",
            Status::NotYetValid => "not_yet_valid",
            Status::BadCrit => "bad_crit",
            Status::DecryptFailed => "decrypt_failed",
            Status::UnsupportedEnc => "unsupported_enc",
            Status::RequireFailed => "require_failed",
            Status::Error => "error",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was refused.
///
/// `detail` is a short fixed English phrase for the error log; it never
/// contains token bytes or any other attacker-controlled text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Classification of the failure.
    pub status: Status,
    /// Fixed phrase describing the failure.
    pub detail: &'static str,
}

/// The [`Rejection::detail`] of a token whose `kid` names no key of the set (and the set has
/// no key without a `kid`): the case where fetching the keys again may help.
pub(crate) const UNKNOWN_KID: &str = "no key matches the token kid";

impl Rejection {
    pub(crate) const fn new(status: Status, detail: &'static str) -> Self {
        Rejection { status, detail }
    }

    /// Whether the token was refused only because its `kid` is not in the key set (a key
    /// source that rotated may know it now).
    pub fn is_unknown_kid(&self) -> bool {
        self.status == Status::NoKey && self.detail == UNKNOWN_KID
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail, self.status.as_str())
    }
}

impl std::error::Error for Rejection {}

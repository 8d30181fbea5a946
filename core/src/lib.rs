//! Token core of `ngx_http_auth_jwt_module`.
//!
//! This crate knows nothing about nginx. It parses key files ([`KeySet::parse`], and
//! [`KeySet::parse_with_private`] when private keys are needed for JWE), validates compact
//! JWS/JWT tokens ([`verify`]), decrypts compact JWE tokens ([`decrypt`]), validates signed,
//! encrypted and nested JWTs ([`verify_typed`]) and offers the small helpers the nginx glue
//! needs to expose claims as variables ([`render`], [`lookup`], [`bearer_token`],
//! [`is_truthy`]) and loads revocation lists of `sub`, `kid` and `jti` values
//! ([`RevocationList`]). The [`sign`] module mints (and encrypts) tokens for tests and for the
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
mod b64;
pub mod cache;
mod claims;
mod error;
pub mod glue;
mod json;
mod jwe;
mod jws;
mod key;
mod keys;
mod limits;
pub mod revocation;
pub mod sign;
mod token;
mod util;

#[cfg(test)]
mod cookbook_tests;

pub use cache::{
    verify_cached, verify_cached_with, CacheUse, Lookup, NumericDate, TimeClaims, VerdictCache,
};
pub use claims::Validation;
pub use error::{Rejection, Status};
pub use jwe::{decrypt, verify_typed, Decrypted, TokenType};
pub use jws::{verify, verify_jws, verify_reference};
pub use keys::{KeyError, KeyPosition, KeySet, Parsed, Refusal, RefusedKey, RSA_MIN_BITS};
pub use limits::{MAX_JSON_DEPTH, MAX_KEY_TRIES, MAX_TOKEN_LEN};
pub use revocation::{RevocationError, RevocationList};
pub use token::Token;
pub use util::{bearer_token, is_truthy, lookup, render, www_authenticate};

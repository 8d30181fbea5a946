//! Verification and decryption keys: parsing of JWKS / JWK / PEM files into a
//! [`KeySet`], and candidate selection for a token (`alg`, `kid`, `use`, `key_ops`).
//!
//! Everything OpenSSL needs is prepared here once, at configuration time;
//! verification and decryption never re-parse key material.
//!
//! Two entry points:
//!
//! - [`KeySet::parse`] loads verification keys only. JWK private members are ignored (with a
//!   warning), JWKs with `"use":"enc"` are skipped and PEM private keys are refused.
//! - [`KeySet::parse_with_private`] (for `auth_jwt_type encrypted` / `nested`) also loads
//!   decryption keys for JWE: JWKs with private members (RSA `d` with or without `p`, `q`,
//!   `dp`, `dq`, `qi`; EC `d`; OKP X25519 `d`) and every `oct` JWK, when their `use` is
//!   `enc` or absent, their `key_ops` is absent or holds `decrypt`, `unwrapKey`, `deriveKey`
//!   or `deriveBits`, and their `alg` is not a JWS algorithm; and PEM `PRIVATE KEY`
//!   (PKCS#8: RSA, EC P-256/P-384/P-521, X25519), `RSA PRIVATE KEY` and `EC PRIVATE KEY`
//!   blocks, which are decryption keys only (their public half never verifies a signature).
//!   A JWK `alg` may then also name a JWE key management algorithm (`RSA-OAEP`, `A128KW`,
//!   `ECDH-ES`, ...) or, for a `dir` key, the content encryption (`A128GCM`, ...).
//!
//! Key rules, in every mode: an RSA key under [`RSA_MIN_BITS`] (1024) bits or with the ROCA
//! fingerprint (CVE-2017-15361) is refused ([`Refusal`]); so is an `oct` signature key shorter
//! than the hash of its JWK `alg`, or than 32 bytes without `alg` (RFC 7518 §3.2: a 40-byte
//! key without `alg` loads but serves HS256 only, a 48-byte one HS256 and HS384), and every
//! `oct` signature key of a JWKS that also holds an asymmetric signature key (a set that
//! holds public keys is meant to be published: keep the secret in a file of its own; keys of
//! different files still combine). `oct` keys that only decrypt (`use` `enc`, a JWE `alg`)
//! follow the rules of their JWE algorithm and may sit next to private keys; an `oct` key
//! without `use` or `alg` loaded for JWE that is too short for HS256 only decrypts (with a
//! warning). Both entry points above then refuse
//! the whole file ([`KeyError::Refused`], the configuration-time rule);
//! [`KeySet::parse_lenient`] leaves the key out and lists it ([`Parsed::refused`]), for key
//! sets read while serving. RSA keys of 1024 to 2047 bits load with a warning. Two keys of
//! one JWKS with the same `kid` that may serve the same tokens draw a warning: both are
//! candidates for a token with that `kid`, tried in file order (the first that verifies or
//! decrypts wins).

mod check;
mod error;
mod jwk;
mod pem;
mod set;
#[cfg(test)]
mod tests;

pub use check::{KeyPosition, Refusal, RefusedKey, RSA_MIN_BITS};
pub use error::KeyError;
pub(crate) use jwk::ec_from_coordinates;
pub use set::KeySet;

use error::Mode;

/// A key file read with [`KeySet::parse_lenient`].
#[derive(Debug)]
pub struct Parsed {
    /// The usable keys.
    pub set: KeySet,
    /// Operator-facing warnings (as from [`KeySet::parse`]).
    pub warnings: Vec<String>,
    /// The keys refused (RSA under 1024 bits, ROCA, short HMAC keys, `oct` signature keys of
    /// a mixed JWKS), in file order; they are not in `set`.
    pub refused: Vec<RefusedKey>,
}

impl KeySet {
    /// Detect the format from the content and parse every key.
    ///
    /// After optional leading whitespace (and UTF-8 BOM) the data must be a
    /// JSON object — a JWKS if it has a `keys` member, otherwise one JWK — or
    /// PEM blocks (`PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`). Returns the
    /// keys and human-readable warnings for the operator.
    ///
    /// A key that must not be used (an RSA key under 1024 bits, an RSA key with the ROCA
    /// fingerprint, a short HMAC key, an `oct` signature key of a JWKS that also holds
    /// asymmetric signature keys; see the module documentation) makes the whole file an error, [`KeyError::Refused`]: this is the
    /// configuration-time rule. [`KeySet::parse_lenient`] skips such keys instead.
    pub fn parse(data: &[u8]) -> Result<(KeySet, Vec<String>), KeyError> {
        KeySet::parse_strict(data, Mode::Verify)
    }

    /// Like [`KeySet::parse`], but also load JWE decryption keys (see the module
    /// documentation): JWKs with private members and `oct` JWKs whose `use` is `enc` or
    /// absent, and PEM `PRIVATE KEY`, `RSA PRIVATE KEY` and `EC PRIVATE KEY` blocks
    /// (`EC PARAMETERS` blocks next to them are ignored). Meant for `auth_jwt_type
    /// encrypted` and `nested`, where one key set both decrypts and (for nested tokens)
    /// verifies. Verification keys load exactly as with [`KeySet::parse`].
    pub fn parse_with_private(data: &[u8]) -> Result<(KeySet, Vec<String>), KeyError> {
        KeySet::parse_strict(data, Mode::Private)
    }

    /// Like [`KeySet::parse`] (or [`KeySet::parse_with_private`] when `with_private`), but a
    /// refused key (RSA under 1024 bits, ROCA, a short HMAC key, an `oct` signature key of a
    /// JWKS that also holds asymmetric keys) is left out of the set and listed in
    /// [`Parsed::refused`] for the caller to report: the run-time rule for key sets fetched
    /// or read while serving, where one bad key must not make the others unusable. The
    /// result is an error when no usable key is left ([`KeyError::Refused`] with the first
    /// refused key if there was one).
    pub fn parse_lenient(data: &[u8], with_private: bool) -> Result<Parsed, KeyError> {
        let mode = if with_private {
            Mode::Private
        } else {
            Mode::Verify
        };
        KeySet::parse_mode(data, mode)
    }

    fn parse_strict(data: &[u8], mode: Mode) -> Result<(KeySet, Vec<String>), KeyError> {
        let parsed = KeySet::parse_mode(data, mode)?;
        match parsed.refused.into_iter().next() {
            Some(refused) => Err(KeyError::Refused(refused)),
            None => Ok((parsed.set, parsed.warnings)),
        }
    }

    fn parse_mode(data: &[u8], mode: Mode) -> Result<Parsed, KeyError> {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let start = data
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(data.len());
        let rest = data.get(start..).unwrap_or_default();
        let mut warnings = Vec::new();
        let mut refused = Vec::new();
        let result = if rest.starts_with(b"{") {
            jwk::parse_json(rest, &mut warnings, &mut refused, mode)
        } else if rest.starts_with(b"-----BEGIN") {
            pem::parse_pem(rest, &mut warnings, &mut refused, mode)
        } else {
            Err(KeyError::no_key_found(mode))
        };
        // Leave no stale entries on OpenSSL's per-thread error queue.
        drop(openssl::error::ErrorStack::get());
        let keys = result?;
        if keys.is_empty() {
            if let Some(first) = refused.first() {
                return Err(KeyError::Refused(first.clone()));
            }
        }
        if keys.is_empty() && warnings.is_empty() {
            // Only possible with PEM files holding nothing but EC PARAMETERS (Private mode).
            return Err(KeyError::no_key_found(mode));
        }
        if keys.is_empty() {
            return Err(KeyError::AllSkipped { warnings });
        }
        let mut set = KeySet::new();
        for key in keys {
            set.push(key);
        }
        Ok(Parsed {
            set,
            warnings,
            refused,
        })
    }
}

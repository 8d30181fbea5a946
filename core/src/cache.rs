//! The verified-token cache: "this exact token verified with this key set".
//!
//! A cache hit skips the signature check and the parsing: the token's `exp` and `nbf` are
//! stored with the verdict ([`TimeClaims`]) and checked again on every request, with the
//! leeway in force; the header and payload are decoded only if a variable asks for them. The
//! storage is the caller's (the nginx glue keeps it in shared memory, shared by all workers):
//! this module defines what is stored and when.
//!
//! - Key: SHA-256 over the key set's [`KeySet::fingerprint`] and the whole token, so another
//!   key set (a reload with new keys, another location) never finds an old verdict, and two
//!   tokens that differ in any byte (the signature included) never share one.
//! - Only successful verifications are stored, after the claims passed too.
//! - An entry never outlives the token's `exp` nor `max_age` seconds.

use openssl::sha::Sha256;
use serde_json::Value;

use crate::b64::Scratch;
use crate::claims::Validation;
pub use crate::claims::{NumericDate, TimeClaims};
use crate::error::Rejection;
use crate::jws::Unverified;
use crate::keys::KeySet;
use crate::limits::MAX_TOKEN_LEN;
use crate::token::Token;

pub mod table;

/// Storage for verdicts, keyed by [`entry_key`]-style 32-byte digests, each with the token's
/// time claims.
///
/// Implementations must never fail a request: a full or busy store simply does not find or
/// does not keep an entry.
pub trait VerdictCache {
    /// The time claims stored with `key`, if it is stored with an expiry later than `now`
    /// (unix seconds); [`Lookup::Busy`] if the store could not tell for contention.
    fn lookup(&self, key: &[u8; 32], now: i64) -> Lookup;
    /// Stores `key` with the token's time claims until `expires` (unix seconds); `now` lets
    /// the store reuse expired entries.
    fn insert(&self, key: &[u8; 32], expires: i64, now: i64, times: TimeClaims);
}

/// What a [`VerdictCache::lookup`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lookup {
    /// Stored, with the token's time claims.
    Hit(TimeClaims),
    /// Not stored (or expired).
    Miss,
    /// The store gave up for contention (other processes kept writing the entry's place): the
    /// caller verifies the token as for a miss.
    Busy,
}

/// How a verification used the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// No cache, or the token was refused before the cache was consulted.
    None,
    /// The verdict was found: the signature check was skipped.
    Hit,
    /// Not found: the signature was checked (and, if the token passed, stored).
    Miss,
    /// The cache was busy (see [`Lookup::Busy`]): the signature was checked (and, if the token
    /// passed, stored if the cache allowed).
    Busy,
}

/// [`crate::verify`] with a verdict cache for the signature step. `max_age` bounds the life
/// of a stored verdict, in seconds.
pub fn verify_cached(
    token: &[u8],
    keys: &KeySet,
    v: &Validation,
    cache: &dyn VerdictCache,
    max_age: i64,
) -> (Result<Token, Rejection>, CacheUse) {
    let mut used = CacheUse::None;
    let result = verify_cached_with(token, keys, v, cache, max_age, &mut used);
    if let Ok(t) = &result {
        t.provide_raw(token);
    }
    (result, used)
}

/// [`verify_cached`] that reports how the cache was used in `used` (the caller builds the
/// result in place: a token is large enough that each move costs). A token answered from the
/// cache does not copy `token`: call [`Token::provide_raw`] with it before reading its header
/// or claims.
pub fn verify_cached_with(
    token: &[u8],
    keys: &KeySet,
    v: &Validation,
    cache: &dyn VerdictCache,
    max_age: i64,
    used: &mut CacheUse,
) -> Result<Token, Rejection> {
    *used = CacheUse::None;
    // A stored verdict covers these exact bytes with this key set: everything but the time
    // claims was checked when it was stored, and they were stored with it, so the token is
    // not even decoded.
    let entry = if !token.is_empty() && token.len() <= MAX_TOKEN_LEN {
        let key = entry_key(keys, token);
        match cache.lookup(&key, v.now) {
            Lookup::Hit(times) => {
                *used = CacheUse::Hit;
                times.check(v)?;
                return Ok(Token::cached_unfilled());
            }
            // Skipped for contention: checked in full, and still offered for storing.
            Lookup::Busy => *used = CacheUse::Busy,
            Lookup::Miss => {}
        }
        Some(key)
    } else {
        None
    };
    verify_and_store(token, entry, keys, v, cache, max_age, used)
}

/// A miss: the full check, and the verdict stored if the token passed (kept out of the hit
/// path, whose code stays small).
#[inline(never)]
fn verify_and_store(
    token: &[u8],
    entry: Option<[u8; 32]>,
    keys: &KeySet,
    v: &Validation,
    cache: &dyn VerdictCache,
    max_age: i64,
    used: &mut CacheUse,
) -> Result<Token, Rejection> {
    let mut scratch = Scratch::default();
    let unverified = Unverified::parse(token, &mut scratch)?;
    if *used == CacheUse::None {
        *used = CacheUse::Miss;
    }
    unverified.verify(keys, v)?;
    let (exp, nbf) = (unverified.exp.as_ref(), unverified.nbf.as_ref());
    if let Some(times) = TimeClaims::of(exp, nbf) {
        let key = entry.unwrap_or_else(|| entry_key(keys, token));
        cache.insert(&key, expiry(exp, v.now, max_age), v.now, times);
    }
    Ok(unverified.into_token())
}

/// SHA-256 over the key set's fingerprint and the token.
fn entry_key(keys: &KeySet, token: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&keys.fingerprint());
    h.update(token);
    h.finish()
}

/// When a verdict stored now expires: `now + max_age`, or the token's `exp` if earlier.
fn expiry(exp: Option<&Value>, now: i64, max_age: i64) -> i64 {
    let limit = now.saturating_add(max_age.max(0));
    match exp.and_then(Value::as_f64) {
        // `as` saturates for out-of-range floats (and maps NaN to 0).
        Some(exp) => limit.min(exp.floor() as i64),
        None => limit,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::sign::{encode, SigningKey};
    use crate::Status;

    #[derive(Default)]
    struct Memory(
        RefCell<HashMap<[u8; 32], (i64, TimeClaims)>>,
        RefCell<usize>,
    );

    impl VerdictCache for Memory {
        fn lookup(&self, key: &[u8; 32], now: i64) -> Lookup {
            match self.0.borrow().get(key) {
                Some(&(e, t)) if e > now => Lookup::Hit(t),
                _ => Lookup::Miss,
            }
        }
        fn insert(&self, key: &[u8; 32], expires: i64, _now: i64, times: TimeClaims) {
            *self.1.borrow_mut() += 1;
            self.0.borrow_mut().insert(*key, (expires, times));
        }
    }

    fn setup() -> (KeySet, SigningKey) {
        // 48 bytes: long enough for HS384 (RFC 7518 §3.2), which a test below uses.
        let secret = b"0123456789abcdef0123456789abcdef0123456789abcdef";
        let jwk = format!(
            r#"{{"kty":"oct","k":"{}"}}"#,
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret)
        );
        let (keys, _) = KeySet::parse(jwk.as_bytes()).unwrap();
        (keys, SigningKey::hmac(secret))
    }

    #[test]
    fn a_hit_gives_the_same_token_as_a_full_verification() {
        let (keys, sk) = setup();
        let cache = Memory::default();
        let v = Validation {
            now: 100,
            leeway: 0,
        };
        let header = json!({"kid": "k", "typ": "JWT", "x": {"y": [1, 2]}});
        let claims = json!({"sub": "a", "exp": 1000, "nbf": 50, "nested": {"exp": 1},
                            "roles": ["r1", "r2"], "u": "é"});
        let tok = encode("HS384", &header, &claims, &sk).unwrap();
        let (full, u) = verify_cached(tok.as_bytes(), &keys, &v, &cache, 300);
        assert_eq!(u, CacheUse::Miss);
        let (hit, u) = verify_cached(tok.as_bytes(), &keys, &v, &cache, 300);
        assert_eq!(u, CacheUse::Hit);
        let (full, hit) = (full.unwrap(), hit.unwrap());
        assert_eq!(hit.alg(), "HS384");
        assert_eq!(hit.payload(), full.payload());
        assert_eq!(hit.claims(), full.claims());
        assert_eq!(hit.header(), full.header());
        assert_eq!(hit.claims()["u"], "é");

        // The time claims of a hit are checked (a nested "exp" is not one of them), even where
        // the store would keep a verdict past them.
        struct Forever(RefCell<Vec<([u8; 32], TimeClaims)>>);
        impl VerdictCache for Forever {
            fn lookup(&self, key: &[u8; 32], _now: i64) -> Lookup {
                self.0
                    .borrow()
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(Lookup::Miss, |&(_, t)| Lookup::Hit(t))
            }
            fn insert(&self, key: &[u8; 32], _expires: i64, _now: i64, times: TimeClaims) {
                self.0.borrow_mut().push((*key, times));
            }
        }
        let cache = Forever(RefCell::new(Vec::new()));
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &v, &cache, 300);
        assert!(r.is_ok());
        assert_eq!(u, CacheUse::Miss);
        let later = Validation {
            now: 1000,
            leeway: 0,
        };
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &later, &cache, 300);
        assert_eq!(u, CacheUse::Hit);
        assert_eq!(r.unwrap_err().status, Status::Expired);
        let early = Validation { now: 49, leeway: 0 };
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &early, &cache, 300);
        assert_eq!(u, CacheUse::Hit);
        assert_eq!(r.unwrap_err().status, Status::NotYetValid);
        // ... with the leeway in force.
        let lenient = Validation {
            now: 1000,
            leeway: 5,
        };
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &lenient, &cache, 300);
        assert_eq!(u, CacheUse::Hit);
        assert!(r.is_ok());
    }

    #[test]
    fn hit_after_miss_and_claims_still_checked() {
        let (keys, sk) = setup();
        let cache = Memory::default();
        let tok = encode("HS256", &json!({}), &json!({"sub":"a","exp":1000}), &sk).unwrap();
        let v = Validation {
            now: 100,
            leeway: 0,
        };
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &v, &cache, 300);
        assert!(r.is_ok());
        assert_eq!(u, CacheUse::Miss);
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &v, &cache, 300);
        assert!(r.is_ok());
        assert_eq!(u, CacheUse::Hit);
        // Stored until min(now + max_age, exp) = 400.
        assert_eq!(
            cache
                .0
                .borrow()
                .values()
                .map(|&(e, _)| e)
                .collect::<Vec<_>>(),
            vec![400]
        );
        // Past the entry: a miss again, verified again.
        let later = Validation {
            now: 999,
            leeway: 0,
        };
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &later, &cache, 300);
        assert!(r.is_ok());
        assert_eq!(u, CacheUse::Miss);
        // Expired token: refused even though a verdict is stored.
        cache
            .0
            .borrow_mut()
            .values_mut()
            .for_each(|e| e.0 = i64::MAX);
        let expired = Validation {
            now: 2000,
            leeway: 0,
        };
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &expired, &cache, 300);
        assert_eq!(r.err().map(|e| e.status), Some(Status::Expired));
        assert_eq!(u, CacheUse::Hit);
    }

    #[test]
    fn failures_are_never_stored_and_other_keys_miss() {
        let (keys, sk) = setup();
        let cache = Memory::default();
        let v = Validation {
            now: 100,
            leeway: 0,
        };
        let tok = encode("HS256", &json!({}), &json!({"sub":"a"}), &sk).unwrap();
        let mut bad = tok.clone();
        bad.pop();
        bad.push(if tok.ends_with('A') { 'B' } else { 'A' });
        let (r, u) = verify_cached(bad.as_bytes(), &keys, &v, &cache, 300);
        assert_eq!(r.err().map(|e| e.status), Some(Status::BadSignature));
        assert_eq!(u, CacheUse::Miss);
        assert_eq!(*cache.1.borrow(), 0);
        // Expired tokens are not stored either.
        let old = encode("HS256", &json!({}), &json!({"exp": 50}), &sk).unwrap();
        let (r, _) = verify_cached(old.as_bytes(), &keys, &v, &cache, 300);
        assert!(r.is_err());
        assert_eq!(*cache.1.borrow(), 0);
        // A verdict for one key set is not found with another.
        let (r, _) = verify_cached(tok.as_bytes(), &keys, &v, &cache, 300);
        assert!(r.is_ok());
        let (other, _) = KeySet::parse(
            br#"{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm"},{"kty":"oct","k":"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg"}]}"#,
        )
        .unwrap();
        assert_ne!(keys.fingerprint(), other.fingerprint());
        let (r, u) = verify_cached(tok.as_bytes(), &other, &v, &cache, 300);
        assert!(r.is_ok());
        assert_eq!(u, CacheUse::Miss);
        // Malformed tokens never reach the cache.
        let (_, u) = verify_cached(b"a.b", &keys, &v, &cache, 300);
        assert_eq!(u, CacheUse::None);
    }

    #[test]
    fn a_busy_cache_falls_through_to_a_full_verification() {
        struct Busy(RefCell<usize>);
        impl VerdictCache for Busy {
            fn lookup(&self, _key: &[u8; 32], _now: i64) -> Lookup {
                Lookup::Busy
            }
            fn insert(&self, _key: &[u8; 32], _expires: i64, _now: i64, _times: TimeClaims) {
                *self.0.borrow_mut() += 1;
            }
        }
        let (keys, sk) = setup();
        let cache = Busy(RefCell::new(0));
        let v = Validation {
            now: 100,
            leeway: 0,
        };
        let tok = encode("HS256", &json!({}), &json!({"sub":"a","exp":1000}), &sk).unwrap();
        let (r, u) = verify_cached(tok.as_bytes(), &keys, &v, &cache, 300);
        assert_eq!(r.unwrap().claims()["sub"], "a");
        assert_eq!(u, CacheUse::Busy);
        // The verdict is still offered to the store.
        assert_eq!(*cache.0.borrow(), 1);
        // A bad signature is refused as always.
        let mut bad = tok.clone();
        bad.pop();
        bad.push(if tok.ends_with('A') { 'B' } else { 'A' });
        let (r, u) = verify_cached(bad.as_bytes(), &keys, &v, &cache, 300);
        assert!(r.is_err());
        assert_eq!(u, CacheUse::Busy);
        assert_eq!(*cache.0.borrow(), 1);
    }

    #[test]
    fn expiry_bounds() {
        assert_eq!(expiry(None, 10, 5), 15);
        assert_eq!(expiry(Some(&json!(12.9)), 10, 5), 12);
        assert_eq!(expiry(Some(&json!(1e308)), 10, 5), 15);
        assert_eq!(expiry(Some(&json!(-1e308)), 10, 5), i64::MIN);
        assert_eq!(expiry(Some(&json!("x")), 10, 5), 15);
    }
}

//! Shared harness code for the `cargo fuzz` targets of `auth-jwt-core`.
//!
//! The targets in `fuzz_targets/` are one-liners that call [`fuzz_verify`],
//! [`fuzz_keys`], [`fuzz_jwe`] and [`fuzz_jwe_roundtrip`]; keeping the logic here lets `cargo test` (on
//! stable, without libFuzzer) replay every committed seed through exactly the same
//! code, and lets `tests/seeds.rs` write seeds in the input layout described below
//! (the `jwe` layout and oracles are in [`jwe`]).
//!
//! # `verify` input layout
//!
//! ```text
//! byte 0        selector
//!               bit 7 = 0: RAW mode, bits 0-2 pick one of the 8 key sets
//!               bit 7 = 1: SIGNED mode (HMAC-signed by the harness):
//!                   bits 0-1 pick a key set holding the HMAC key (0, 1, 5, 7)
//!                   bits 2-3 pick HS256 / HS384 / HS512 / HS256
//!                   bit 4    = 0: header fixed to {"alg":..,"typ":"JWT","kid":"hs"},
//!                                 rest = payload JSON bytes
//!                            = 1: rest = header bytes, 0x00, payload bytes
//! bytes 1..9    `now`    (i64, little endian)  } second Validation; the first one
//! bytes 9..17   `leeway` (i64, little endian)  } is fixed: FIXED_NOW, leeway 0
//! bytes 17..    RAW: the token (or an `Authorization` value "Bearer <token>")
//!               SIGNED: see bit 4
//! ```
//!
//! Inputs shorter than 17 bytes are zero-padded for the Validation.
//!
//! Everything is asserted to be panic-free; on top of that a few oracles are
//! checked (a failing one is a bug in the core as well):
//! * the two Validations may only disagree by `Expired` / `NotYetValid`;
//! * an error is never `Valid` / `RequireFailed` / `Revoked`; empty → `Missing`,
//!   too long → `TooLarge`;
//! * an accepted token's header `alg` is the algorithm it was signed with, its
//!   payload is what was signed, its claims equal a lenient `serde_json` parse
//!   (strict ⊆ lenient) and integer `exp`/`nbf` obey the documented formulas;
//! * a token HMAC-signed with a fixed valid header is only ever refused for its
//!   payload (`Malformed`, claims, size), never for its signature or key.

#![forbid(unsafe_code)]

pub mod jwe;
pub mod keys;

use std::cell::RefCell;
use std::sync::OnceLock;

use auth_jwt_core::sign::{encode, encode_raw, SigningKey};
use auth_jwt_core::{
    bearer_token, lookup, render, verify, verify_cached, verify_reference, CacheUse, KeySet,
    Lookup, Rejection, Status, TimeClaims, Token, Validation, VerdictCache, MAX_TOKEN_LEN,
};
use serde_json::{json, Map, Value};

pub use jwe::{fuzz_jwe, fuzz_jwe_roundtrip};

/// `now` of the fixed Validation (2023-11-14), with leeway 0.
pub const FIXED_NOW: i64 = 1_700_000_000;

/// Selector bit of SIGNED mode.
pub const SIGNED: u8 = 0x80;
/// Selector bit of SIGNED mode: header and payload both from the input.
pub const RAW_HEADER: u8 = 0x10;

/// Number of prefix bytes before the token / body.
pub const PREFIX_LEN: usize = 17;

/// Key sets of RAW mode, picked by selector bits 0-2. Descriptions:
pub const KEY_SET_NAMES: [&str; 8] = [
    "0: JWKS rsa/ec/ed and a JWK hs (two files: a JWKS with public keys holds no oct key), every key with a kid",
    "1: PEM RSA+EC+Ed25519 blocks plus an oct JWK, no kids",
    "2: RSA certificate only",
    "3: EC P-256 JWK only, no kid",
    "4: Ed25519 JWK only, kid ed",
    "5: oct JWK only, kid hs",
    "6: JWKS with alg/use/key_ops restrictions and a shared kid (its oct keys in a second JWKS)",
    "7: sets 0 and 1 together",
];

/// Key sets reachable from SIGNED mode (all hold the HMAC key unrestricted).
pub const SIGNED_KEY_SETS: [usize; 4] = [0, 1, 5, 7];

fn jwk_rsa(extra: &str) -> String {
    format!(
        r#"{{"kty":"RSA","n":"{}","e":"{}"{extra}}}"#,
        keys::RSA_N,
        keys::RSA_E
    )
}
fn jwk_ec(extra: &str) -> String {
    format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"{extra}}}"#,
        keys::EC_X,
        keys::EC_Y
    )
}
fn jwk_ed(extra: &str) -> String {
    format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"{extra}}}"#,
        keys::ED25519_X
    )
}
fn jwk_hs(extra: &str) -> String {
    format!(r#"{{"kty":"oct","k":"{}"{extra}}}"#, keys::HMAC_K)
}

/// The key files of the 8 key sets (set 7 = files 0 and 1).
pub fn key_set_files() -> Vec<Vec<String>> {
    // A JWKS that holds public keys must not hold an oct key: the oct keys are in files of
    // their own, loaded into the same set.
    let jwks_kids = format!(
        r#"{{"keys":[{},{},{}]}}"#,
        jwk_rsa(r#","kid":"rsa""#),
        jwk_ec(r#","kid":"ec""#),
        jwk_ed(r#","kid":"ed""#)
    );
    let hs_kid = jwk_hs(r#","kid":"hs""#);
    let pem = format!(
        "{}{}{}",
        keys::RSA_PUBLIC_PEM,
        keys::EC_PUBLIC_PEM,
        keys::ED25519_PUBLIC_PEM
    );
    let restricted = format!(
        r#"{{"keys":[{},{},{}]}}"#,
        jwk_rsa(r#","kid":"shared","alg":"PS256""#),
        jwk_ec(r#","kid":"shared","use":"sig","key_ops":["verify"]"#),
        jwk_ed(r#","kid":"ed","key_ops":["sign"]"#)
    );
    let restricted_hs = format!(
        r#"{{"keys":[{},{}]}}"#,
        jwk_hs(r#","kid":"hs","alg":"HS384""#),
        jwk_hs(r#","kid":"hs-off","use":"other""#)
    );
    vec![
        vec![jwks_kids.clone(), hs_kid.clone()],
        vec![pem.clone(), jwk_hs("")],
        vec![keys::RSA_CERT_PEM.to_owned()],
        vec![jwk_ec("")],
        vec![jwk_ed(r#","kid":"ed""#)],
        vec![hs_kid.clone()],
        vec![restricted, restricted_hs],
        vec![jwks_kids, hs_kid, pem, jwk_hs("")],
    ]
}

/// The 8 key sets, parsed once.
pub fn key_sets() -> &'static [KeySet] {
    static SETS: OnceLock<Vec<KeySet>> = OnceLock::new();
    SETS.get_or_init(|| {
        key_set_files()
            .into_iter()
            .map(|files| {
                let mut set = KeySet::new();
                for file in files {
                    let (part, _warnings) = KeySet::parse(file.as_bytes())
                        .unwrap_or_else(|e| panic!("harness key file does not parse: {e}"));
                    set.extend(part);
                }
                set
            })
            .collect()
    })
}

/// The private keys matching the public ones above.
pub struct Signers {
    /// RSA 2048.
    pub rsa: SigningKey,
    /// EC P-256.
    pub ec: SigningKey,
    /// Ed25519.
    pub ed: SigningKey,
    /// HMAC secret.
    pub hs: SigningKey,
}

/// The signing keys, parsed once.
pub fn signers() -> &'static Signers {
    static SIGNERS: OnceLock<Signers> = OnceLock::new();
    SIGNERS.get_or_init(|| {
        let pem = |p: &str| SigningKey::from_pem(p.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        Signers {
            rsa: pem(keys::RSA_PRIVATE_PEM),
            ec: pem(keys::EC_PRIVATE_PEM),
            ed: pem(keys::ED25519_PRIVATE_PEM),
            hs: SigningKey::hmac(keys::HMAC_SECRET),
        }
    })
}

/// Every supported alg with the signer for it and the kid of key set 0.
pub fn algs() -> [(&'static str, &'static SigningKey, &'static str); 11] {
    let s = signers();
    [
        ("RS256", &s.rsa, "rsa"),
        ("RS384", &s.rsa, "rsa"),
        ("RS512", &s.rsa, "rsa"),
        ("PS256", &s.rsa, "rsa"),
        ("PS384", &s.rsa, "rsa"),
        ("PS512", &s.rsa, "rsa"),
        ("ES256", &s.ec, "ec"),
        ("EdDSA", &s.ed, "ed"),
        ("HS256", &s.hs, "hs"),
        ("HS384", &s.hs, "hs"),
        ("HS512", &s.hs, "hs"),
    ]
}

/// Mint a token with the harness keys (for seeds and the `keys` target).
pub fn mint(alg: &str, kid: Option<&str>, claims: &Value) -> String {
    let (_, key, _) = algs()
        .into_iter()
        .find(|(a, _, _)| *a == alg)
        .unwrap_or_else(|| panic!("unknown alg {alg}"));
    let header = match kid {
        Some(kid) => json!({ "kid": kid }),
        None => Value::Null,
    };
    encode(alg, &header, claims, key).unwrap_or_else(|e| panic!("{e}"))
}

/// Build a `verify` input: selector, Validation, body.
pub fn verify_input(selector: u8, now: i64, leeway: i64, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(PREFIX_LEN + body.len());
    v.push(selector);
    v.extend_from_slice(&now.to_le_bytes());
    v.extend_from_slice(&leeway.to_le_bytes());
    v.extend_from_slice(body);
    v
}

pub(crate) fn i64_at(data: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = data.get(at + i).copied().unwrap_or(0);
    }
    i64::from_le_bytes(b)
}

const HS_ALGS: [&str; 4] = ["HS256", "HS384", "HS512", "HS256"];

/// The `verify` fuzz target.
pub fn fuzz_verify(data: &[u8]) {
    let Some(&selector) = data.first() else {
        return;
    };
    let fuzz_v = Validation {
        now: i64_at(data, 1),
        leeway: i64_at(data, 9),
    };
    let fixed_v = Validation {
        now: FIXED_NOW,
        leeway: 0,
    };
    let body = data.get(PREFIX_LEN..).unwrap_or_default();
    let sets = key_sets();

    // bearer_token on the raw input and on the body.
    check_bearer(data);
    check_bearer(body);

    if selector & SIGNED == 0 {
        let set = &sets[usize::from(selector & 7)];
        let fixed = verify(body, set, &fixed_v);
        let fuzzed = verify(body, set, &fuzz_v);
        check_result(body, &fixed, &fixed_v, None);
        check_result(body, &fuzzed, &fuzz_v, None);
        check_same_but_time(&fixed, &fuzzed);
        check_reference(body, set, &fixed_v, &fixed);
        check_reference(body, set, &fuzz_v, &fuzzed);
        check_cached(body, set, &fixed_v, &fixed, &fuzz_v, &fuzzed);
        if let Some(token) = bearer_token(body) {
            let r = verify(token, set, &fixed_v);
            check_result(token, &r, &fixed_v, None);
        }
        return;
    }

    // SIGNED mode: the harness signs header and payload with the HMAC key.
    let set = &sets[SIGNED_KEY_SETS[usize::from(selector & 3)]];
    let alg = HS_ALGS[usize::from((selector >> 2) & 3)];
    let fixed_header;
    let (header, payload): (&[u8], &[u8]) = if selector & RAW_HEADER == 0 {
        fixed_header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"hs"}}"#);
        (fixed_header.as_bytes(), body)
    } else {
        match body.iter().position(|&b| b == 0) {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, &[][..]),
        }
    };
    let token = encode_raw(alg, header, payload, &signers().hs)
        .unwrap_or_else(|e| panic!("harness cannot sign: {e}"));
    let token = token.as_bytes();
    let fixed = verify(token, set, &fixed_v);
    let fuzzed = verify(token, set, &fuzz_v);
    let signed = Some((alg, payload));
    check_result(token, &fixed, &fixed_v, signed);
    check_result(token, &fuzzed, &fuzz_v, signed);
    check_same_but_time(&fixed, &fuzzed);
    check_reference(token, set, &fixed_v, &fixed);
    check_reference(token, set, &fuzz_v, &fuzzed);
    check_cached(token, set, &fixed_v, &fixed, &fuzz_v, &fuzzed);
    if selector & RAW_HEADER == 0 {
        // Header and signature are right: only the payload may be refused.
        for r in [&fixed, &fuzzed] {
            if let Err(e) = r {
                assert!(
                    matches!(
                        e.status,
                        Status::Malformed
                            | Status::BadClaim
                            | Status::Expired
                            | Status::NotYetValid
                            | Status::TooLarge
                    ),
                    "well-signed token refused with {e}"
                );
                if e.status == Status::Malformed {
                    assert!(e.detail.contains("payload"), "valid header refused: {e}");
                }
            }
        }
    }
}

/// A verdict store that keeps every verdict for ever (so a hit's own time checks are what
/// refuses an expired token).
struct Forever(RefCell<Vec<([u8; 32], TimeClaims)>>);

impl VerdictCache for Forever {
    fn lookup(&self, key: &[u8; 32], _now: i64) -> Lookup {
        match self.0.borrow().iter().find(|(k, _)| k == key) {
            Some(&(_, t)) => Lookup::Hit(t),
            None => Lookup::Miss,
        }
    }
    fn insert(&self, key: &[u8; 32], _expires: i64, _now: i64, times: TimeClaims) {
        self.0.borrow_mut().push((*key, times));
    }
}

/// `verify` (which checks header and payload without building them) answers exactly as the
/// reference that builds both objects first: the same token, or the same refusal and phrase.
fn check_reference(token: &[u8], set: &KeySet, v: &Validation, r: &Result<Token, Rejection>) {
    assert_same(r, &verify_reference(token, set, v));
}

/// The verified-token cache answers exactly as `verify`: a miss under `v1` gives `r1` (and
/// stores a verdict only if it is Ok); then, under `v2`, a hit gives `r2` (same token, or the
/// same time-claim refusal).
fn check_cached(
    token: &[u8],
    set: &KeySet,
    v1: &Validation,
    r1: &Result<Token, Rejection>,
    v2: &Validation,
    r2: &Result<Token, Rejection>,
) {
    let cache = Forever(RefCell::new(Vec::new()));
    let (first, used) = verify_cached(token, set, v1, &cache, 300);
    assert_same(&first, r1);
    let stored = !cache.0.borrow().is_empty();
    assert_eq!(stored, first.is_ok(), "only successes are stored");
    if !stored {
        return;
    }
    assert_eq!(used, CacheUse::Miss);
    let (second, used) = verify_cached(token, set, v2, &cache, 300);
    assert_eq!(used, CacheUse::Hit, "a stored verdict is found");
    assert_same(&second, r2);
}

/// The same outcome: equal tokens, or the same refusal.
fn assert_same(a: &Result<Token, Rejection>, b: &Result<Token, Rejection>) {
    match (a, b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(x.header(), y.header());
            assert_eq!(x.claims(), y.claims());
            assert_eq!(x.payload(), y.payload());
            assert_eq!(x.alg(), y.alg());
        }
        (Err(x), Err(y)) => assert_eq!(x, y),
        (x, y) => panic!(
            "different outcomes: {:?} / {:?}",
            x.as_ref().err(),
            y.as_ref().err()
        ),
    }
}

/// Statuses of the claim checks, the last step of `verify` and the only one
/// that depends on the Validation (`BadClaim` included: with {"exp":1,"nbf":"x"}
/// one Validation stops at the expired `exp`, the other reaches `nbf`).
fn is_claims_stage(s: Status) -> bool {
    matches!(s, Status::Expired | Status::NotYetValid | Status::BadClaim)
}

/// Results under two Validations may differ only in the claim checks.
pub(crate) fn check_same_but_time(a: &Result<Token, Rejection>, b: &Result<Token, Rejection>) {
    match (a, b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(x.header(), y.header());
            assert_eq!(x.claims(), y.claims());
            assert_eq!(x.payload(), y.payload());
            assert_eq!(x.alg(), y.alg());
        }
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => assert!(
            matches!(e.status, Status::Expired | Status::NotYetValid),
            "Validation changed a non-time result: {e}"
        ),
        (Err(x), Err(y)) => {
            if !(is_claims_stage(x.status) && is_claims_stage(y.status)) {
                assert_eq!(x, y, "Validation changed a non-time result");
            }
        }
    }
}

fn int_of(v: &Value) -> Option<i128> {
    let Value::Number(n) = v else { return None };
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Documented time semantics for integer claims of an accepted token.
pub(crate) fn check_times(claims: &Map<String, Value>, v: &Validation) {
    let leeway = i128::from(v.leeway.max(0));
    let now = i128::from(v.now);
    if let Some(exp) = claims.get("exp").and_then(int_of) {
        assert!(now < exp + leeway, "expired token accepted");
    }
    if let Some(nbf) = claims.get("nbf").and_then(int_of) {
        assert!(now + leeway >= nbf, "not-yet-valid token accepted");
    }
}

fn check_result(
    token: &[u8],
    r: &Result<Token, Rejection>,
    v: &Validation,
    signed: Option<(&str, &[u8])>,
) {
    let t = match r {
        Err(e) => {
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
            return;
        }
        Ok(t) => t,
    };
    assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
    assert_eq!(token.iter().filter(|&&b| b == b'.').count(), 2);
    // The header alg is the one accepted, and (SIGNED mode) the one used to sign:
    // an HMAC-signed token must never pass as RS*/ES*/EdDSA.
    assert_eq!(
        t.header().get("alg"),
        Some(&Value::String(t.alg().to_owned()))
    );
    assert!(!t.header().contains_key("crit"));
    if let Some((alg, payload)) = signed {
        assert_eq!(t.alg(), alg, "alg confusion");
        assert_eq!(t.payload().as_bytes(), payload);
    }
    // Strict JSON accepted ⇒ lenient serde_json agrees on the value.
    let lenient: Map<String, Value> = serde_json::from_str(t.payload())
        .unwrap_or_else(|e| panic!("strict parser accepted what serde_json refuses: {e}"));
    assert_eq!(&lenient, t.claims());
    check_times(t.claims(), v);
    for map in [t.header(), t.claims()] {
        for (name, value) in map {
            let s = render(value);
            match value {
                Value::String(x) => assert_eq!(&s, x),
                Value::Null => assert!(s.is_empty()),
                Value::Bool(b) => assert_eq!(s, b.to_string()),
                _ => {}
            }
            assert_eq!(lookup(map, &[name.as_str()]), Some(value));
            if let Value::Object(inner) = value {
                for (inner_name, inner_value) in inner {
                    let _ = render(inner_value);
                    assert_eq!(
                        lookup(map, &[name.as_str(), inner_name.as_str()]),
                        Some(inner_value)
                    );
                }
            }
        }
    }
}

fn check_bearer(input: &[u8]) {
    let Some(c) = bearer_token(input) else {
        return;
    };
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    assert!(!c.is_empty());
    assert!(!blank(&c[0]) && !blank(&c[c.len() - 1]));
    assert!(input.len() > 7 && input[..6].eq_ignore_ascii_case(b"Bearer") && blank(&input[6]));
    let start = c.as_ptr() as usize - input.as_ptr() as usize;
    assert!(start + c.len() <= input.len(), "not a sub-slice");
    assert!(input[6..start].iter().all(blank));
}

/// Tokens (signed with the harness keys) verified against every key set the
/// `keys` target manages to parse: one per family, with and without kid.
pub fn probe_tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let claims = json!({"sub": "fuzz", "exp": 4_102_444_800_i64});
        let mut v = Vec::new();
        for alg in ["RS256", "PS256", "ES256", "EdDSA", "HS256"] {
            let kid = algs().into_iter().find(|a| a.0 == alg).map(|a| a.2);
            v.push(mint(alg, None, &claims));
            v.push(mint(alg, kid, &claims));
        }
        v
    })
}

/// The `keys` fuzz target.
pub fn fuzz_keys(data: &[u8]) {
    match KeySet::parse(data) {
        Ok((set, warnings)) => {
            assert!(!set.is_empty(), "parse returned an empty key set");
            assert_ne!(set.len(), 0, "parse returned an empty key set");
            assert!(warnings.iter().all(|w| !w.is_empty()));
            let v = Validation {
                now: FIXED_NOW,
                leeway: 0,
            };
            for token in probe_tokens() {
                let r = verify(token.as_bytes(), &set, &v);
                if let Err(e) = &r {
                    // A set with more than MAX_KEY_TRIES candidates for a token refuses
                    // it with too_many_keys when none of the first ones verifies.
                    assert!(
                        matches!(
                            e.status,
                            Status::NoKey | Status::BadSignature | Status::TooManyKeys
                        ),
                        "well-formed token refused with {e}"
                    );
                }
                check_result(token.as_bytes(), &r, &v, None);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

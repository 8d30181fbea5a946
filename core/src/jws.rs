//! Compact JWS parsing and verification (RFC 7515 / RFC 7519).
//!
//! [`verify`] applies the checks in a fixed order and the first failure wins:
//! size, shape and strict base64url; strict JSON for header and payload;
//! `alg`; `crit`; `kid`; key selection; signature; time claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::pkey::{PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::{Map, Value};
use std::cell::{OnceCell, RefCell};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::alg::{Alg, Family};
use crate::cache::{self, CacheUse, VerdictCache};
use crate::json::{self, Fault};
use crate::keys::{Key, KeySet, Material};
use crate::{claims, Rejection, Status, MAX_TOKEN_LEN};

/// Time parameters for claim checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validation {
    /// Current time, unix seconds.
    pub now: i64,
    /// Allowed clock skew in seconds (negative values count as 0).
    pub leeway: i64,
}

/// A token that passed [`verify`] (or [`crate::verify_typed`]).
///
/// A token answered from the verified-token cache keeps its header and payload as text and
/// parses them into objects only when [`Token::header`] or [`Token::claims`] is first called
/// (the same bytes passed the strict parse when the verdict was stored).
#[derive(Clone, Debug)]
pub struct Token {
    header_text: String,
    header: OnceCell<Map<String, Value>>,
    claims: OnceCell<Map<String, Value>>,
    payload: String,
    alg: &'static str,
}

impl Token {
    pub(crate) fn new(
        header: Map<String, Value>,
        claims: Map<String, Value>,
        payload: String,
        alg: &'static str,
    ) -> Self {
        Token {
            header_text: String::new(),
            header: OnceCell::from(header),
            claims: OnceCell::from(claims),
            payload,
            alg,
        }
    }

    /// A token whose header and payload texts already passed every check: parsed on demand.
    fn unparsed(header_text: String, payload: String, alg: &'static str) -> Self {
        Token {
            header_text,
            header: OnceCell::new(),
            claims: OnceCell::new(),
            payload,
            alg,
        }
    }

    /// The same token with another `payload` text (a nested token reports its enclosed JWS).
    pub(crate) fn with_payload(mut self, payload: String) -> Self {
        self.payload = payload;
        self
    }

    /// The JOSE header (for an encrypted JWT, the JWE protected header).
    pub fn header(&self) -> &Map<String, Value> {
        self.header
            .get_or_init(|| json::parse_object(self.header_text.as_bytes()).unwrap_or_default())
    }

    /// The claims (payload object).
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims
            .get_or_init(|| json::parse_object(self.payload.as_bytes()).unwrap_or_default())
    }

    /// The decoded payload JSON text exactly as sent (not re-serialised).
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The header `alg`, one of the supported algorithm names (for an encrypted JWT, the JWE
    /// key management algorithm, e.g. `RSA-OAEP-256`).
    pub fn alg(&self) -> &str {
        self.alg
    }
}

/// The three decoded segments of a compact JWS.
pub(crate) struct Parts<'a> {
    /// `<b64 header>.<b64 payload>` exactly as received.
    pub(crate) signing_input: &'a [u8],
    pub(crate) header: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

pub(crate) const fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(Status::Malformed, detail)
}

fn segments_detail(count: usize) -> &'static str {
    match count {
        1 => "token has 1 segment, expected 3",
        2 => "token has 2 segments, expected 3",
        4 => "token has 4 segments, expected 3",
        5 => "token has 5 segments, expected 3 (a JWE, not a JWS)",
        _ => "token has too many segments, expected 3",
    }
}

/// Steps 1 and 2: size, exactly three non-empty segments, strict base64url
/// (URL-safe alphabet, no padding, no whitespace, canonical trailing bits).
pub(crate) fn split(token: &[u8]) -> Result<Parts<'_>, Rejection> {
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
    if dots != 2 {
        return Err(malformed(segments_detail(dots.saturating_add(1))));
    }
    let mut segments = token.splitn(3, |&b| b == b'.');
    let (Some(header), Some(payload), Some(signature)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return Err(malformed("token has 2 segments, expected 3"));
    };
    if header.is_empty() {
        return Err(malformed("token header segment is empty"));
    }
    if payload.is_empty() {
        return Err(malformed("token payload segment is empty"));
    }
    if signature.is_empty() {
        return Err(malformed("token signature segment is empty"));
    }
    let signing_len = header.len().saturating_add(1).saturating_add(payload.len());
    let signing_input = token
        .get(..signing_len)
        .ok_or(malformed("token is malformed"))?;
    let decode = |seg: &[u8], detail: &'static str| {
        URL_SAFE_NO_PAD.decode(seg).map_err(|_| malformed(detail))
    };
    Ok(Parts {
        signing_input,
        header: decode(header, "header is not valid base64url")?,
        payload: decode(payload, "payload is not valid base64url")?,
        signature: decode(signature, "signature is not valid base64url")?,
    })
}

/// Fixed phrases for one JSON segment.
pub(crate) struct SegmentDetails {
    pub(crate) utf8: &'static str,
    syntax: &'static str,
    duplicate: &'static str,
    deep: &'static str,
    not_object: &'static str,
}

const HEADER: SegmentDetails = SegmentDetails {
    utf8: "header is not valid UTF-8",
    syntax: "header is not valid JSON",
    duplicate: "duplicate member in header JSON",
    deep: "header JSON is nested too deeply",
    not_object: "header is not a JSON object",
};

pub(crate) const PAYLOAD: SegmentDetails = SegmentDetails {
    utf8: "payload is not valid UTF-8",
    syntax: "payload is not valid JSON",
    duplicate: "duplicate member in payload JSON",
    deep: "payload JSON is nested too deeply",
    not_object: "payload is not a JSON object",
};

/// Step 3 for one segment: UTF-8, strict JSON, object.
pub(crate) fn parse_segment(
    text: &str,
    d: &SegmentDetails,
) -> Result<Map<String, Value>, Rejection> {
    json::parse_object(text.as_bytes()).map_err(|e| {
        malformed(match e.fault {
            Fault::Syntax => d.syntax,
            Fault::Duplicate => d.duplicate,
            Fault::TooDeep => d.deep,
            Fault::NotObject => d.not_object,
        })
    })
}

pub(crate) fn parse_header(bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed(HEADER.utf8))?;
    parse_segment(text, &HEADER)
}

/// Steps 4 to 6: `alg`, `crit`, `kid`.
pub(crate) fn check_header(header: &Map<String, Value>) -> Result<(Alg, Option<&str>), Rejection> {
    let unsupported = |detail| Rejection::new(Status::UnsupportedAlg, detail);
    let alg = match header.get("alg") {
        Some(Value::String(name)) => match Alg::from_name(name) {
            Some(alg) => alg,
            None if name.eq_ignore_ascii_case("none") => {
                return Err(unsupported("alg \"none\" is not accepted"))
            }
            None => return Err(unsupported("unsupported alg")),
        },
        Some(_) => return Err(unsupported("alg is not a string")),
        None => return Err(unsupported("token has no alg")),
    };
    // RFC 7515 §4.1.11: this module understands no extension parameter, so any
    // `crit` (even an empty array, which is itself invalid) is refused.
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
    Ok((alg, kid))
}

/// Steps 7 and 8: pick candidate keys and verify the signature.
pub(crate) fn check_signature(
    keys: &KeySet,
    alg: Alg,
    kid: Option<&str>,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), Rejection> {
    let candidates = keys.candidates(alg, kid)?;
    let ok = candidates
        .into_iter()
        .any(|key| verify_with(key, alg, signing_input, signature).unwrap_or(false));
    // Some OpenSSL failure paths leave entries on the per-thread error queue;
    // drain it so nothing leaks into unrelated nginx SSL error reporting.
    drop(ErrorStack::get());
    if ok {
        Ok(())
    } else {
        Err(Rejection::new(
            Status::BadSignature,
            "signature verification failed",
        ))
    }
}

/// Verify `signature` over `input` with one key. Errors mean "not verified".
fn verify_with(key: &Key, alg: Alg, input: &[u8], signature: &[u8]) -> Result<bool, ErrorStack> {
    match (&key.material, alg.family(), alg.digest()) {
        (Material::Rsa(pkey), Family::Rsa | Family::RsaPss, Some(md)) => {
            let digest = sha2(md, input);
            rsa_verify(key.id, pkey, alg, &digest, signature)
        }
        (Material::Ec { key, curve }, Family::Ec(want), Some(md)) if *curve == want => {
            // JWS ECDSA signatures are R || S, each big-endian, fixed width.
            let width = want.coord_len();
            if signature.len() != width.saturating_mul(2) {
                return Ok(false);
            }
            let (Some(r), Some(s)) = (signature.get(..width), signature.get(width..)) else {
                return Ok(false);
            };
            let sig =
                EcdsaSig::from_private_components(BigNum::from_slice(r)?, BigNum::from_slice(s)?)?;
            let digest = sha2(md, input);
            sig.verify(&digest, key)
        }
        (Material::Okp(pkey), Family::Ed, None) => {
            let mut v = Verifier::new_without_digest(pkey)?;
            v.verify_oneshot(signature, input)
        }
        (Material::Hmac(_), Family::Hmac, Some(_)) => {
            let Some(secret) = key.hmac_secret.as_deref() else {
                return Ok(false);
            };
            let mac = hmac(alg, secret, input);
            Ok(mac.len() == signature.len() && openssl::memcmp::eq(&mac, signature))
        }
        _ => Ok(false),
    }
}

/// RSASSA-PKCS1-v1_5 (RS*) or RSASSA-PSS (PS*: MGF1 with the same hash, salt = hash length)
/// over a precomputed digest. The OpenSSL context of each (key, alg) is set up once per worker
/// thread and reused: initialising one costs OpenSSL 3 an algorithm fetch each time, a good
/// part of an RSA-2048 verification.
fn rsa_verify(
    id: u64,
    pkey: &PKey<Public>,
    alg: Alg,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, ErrorStack> {
    thread_local! {
        static CTX: RefCell<HashMap<(u64, Alg), PkeyCtx<Public>>> = RefCell::new(HashMap::new());
    }
    let md = match alg {
        Alg::Rs384 | Alg::Ps384 => Md::sha384(),
        Alg::Rs512 | Alg::Ps512 => Md::sha512(),
        _ => Md::sha256(),
    };
    let pss = alg.family() == Family::RsaPss;
    CTX.with(|cell| {
        let mut map = cell.borrow_mut();
        if map.len() >= 1024 && !map.contains_key(&(id, alg)) {
            map.clear();
        }
        let ctx = match map.entry((id, alg)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let mut ctx = PkeyCtx::new(pkey)?;
                ctx.verify_init()?;
                if pss {
                    ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
                    ctx.set_signature_md(md)?;
                    ctx.set_rsa_mgf1_md(md)?;
                    ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                } else {
                    ctx.set_rsa_padding(Padding::PKCS1)?;
                    ctx.set_signature_md(md)?;
                }
                v.insert(ctx)
            }
        };
        ctx.verify(digest, signature)
    })
}

/// SHA-256/384/512 of `input` through OpenSSL's one-shot functions (no EVP fetch).
fn sha2(md: MessageDigest, input: &[u8]) -> Vec<u8> {
    if md == MessageDigest::sha384() {
        openssl::sha::sha384(input).to_vec()
    } else if md == MessageDigest::sha512() {
        openssl::sha::sha512(input).to_vec()
    } else {
        openssl::sha::sha256(input).to_vec()
    }
}

/// HMAC (RFC 2104) over OpenSSL's SHA-2 functions. Same result as an EVP HMAC, without the
/// per-call algorithm fetch and context set-up that cost OpenSSL 3 more than the MAC itself.
fn hmac(alg: Alg, key: &[u8], msg: &[u8]) -> Vec<u8> {
    use openssl::sha::{Sha256, Sha384, Sha512};
    macro_rules! run {
        ($h:ty, $block:expr) => {{
            const BLOCK: usize = $block;
            let mut k = [0u8; BLOCK];
            if key.len() > BLOCK {
                let mut h = <$h>::new();
                h.update(key);
                let d = h.finish();
                for (dst, src) in k.iter_mut().zip(d.iter()) {
                    *dst = *src;
                }
            } else {
                for (dst, src) in k.iter_mut().zip(key.iter()) {
                    *dst = *src;
                }
            }
            let mut inner = <$h>::new();
            inner.update(&k.map(|b| b ^ 0x36));
            inner.update(msg);
            let inner = inner.finish();
            let mut outer = <$h>::new();
            outer.update(&k.map(|b| b ^ 0x5c));
            outer.update(&inner);
            outer.finish().to_vec()
        }};
    }
    match alg {
        Alg::Hs384 => run!(Sha384, 128),
        Alg::Hs512 => run!(Sha512, 128),
        _ => run!(Sha256, 64),
    }
}

/// Parse and fully validate a compact JWS against the key set.
///
/// Order (first failure wins): empty → `Missing`; longer than
/// [`MAX_TOKEN_LEN`] → `TooLarge`; shape / base64url / strict JSON →
/// `Malformed`; `alg` → `UnsupportedAlg`; `crit` → `BadCrit`; non-string
/// `kid` → `Malformed`; no candidate key → `NoKey`; signature →
/// `BadSignature`; `exp` / `nbf` → `BadClaim`, `Expired`, `NotYetValid`.
pub fn verify(token: &[u8], keys: &KeySet, v: &Validation) -> Result<Token, Rejection> {
    verify_cached(token, keys, v, None).0
}

/// [`verify`], consulting a cache of verified tokens for the signature step (see
/// [`crate::cache`]). Returns the result and whether the cache was used.
pub(crate) fn verify_cached(
    token: &[u8],
    keys: &KeySet,
    v: &Validation,
    cache: Option<(&dyn VerdictCache, i64)>,
) -> (Result<Token, Rejection>, CacheUse) {
    let mut used = CacheUse::None;
    let result = (|| {
        // A stored verdict covers these exact bytes with this key set: everything but the
        // time claims was checked when it was stored, so only they are checked again.
        let entry = match cache {
            Some((c, _)) if !token.is_empty() && token.len() <= MAX_TOKEN_LEN => {
                let key = cache::entry_key(keys, token);
                if c.contains(&key, v.now) {
                    if let Some((token, exp, nbf)) = cached_token(token) {
                        used = CacheUse::Hit;
                        claims::check_times(exp.as_ref(), nbf.as_ref(), v)?;
                        return Ok(token);
                    }
                }
                Some(key)
            }
            _ => None,
        };
        let parts = split(token)?;
        let header = parse_header(&parts.header)?;
        // TEST-ONLY: compiled in only with the `fault-injection` cargo feature (off by
        // default, never in a shipped build). See `fault_injection`.
        #[cfg(feature = "fault-injection")]
        fault_injection(&header);
        let payload = String::from_utf8(parts.payload).map_err(|_| malformed(PAYLOAD.utf8))?;
        let claims = parse_segment(&payload, &PAYLOAD)?;
        let (alg, kid) = check_header(&header)?;
        match cache {
            Some((c, max_age)) => {
                used = CacheUse::Miss;
                check_signature(keys, alg, kid, parts.signing_input, &parts.signature)?;
                claims::check(&claims, v)?;
                let key = entry.unwrap_or_else(|| cache::entry_key(keys, token));
                c.insert(&key, cache::expiry(&claims, v.now, max_age), v.now);
            }
            None => {
                check_signature(keys, alg, kid, parts.signing_input, &parts.signature)?;
                claims::check(&claims, v)?;
            }
        }
        Ok(Token::new(header, claims, payload, alg.name()))
    })();
    (result, used)
}

/// The parts of a token whose verdict was found in the cache: the token (header and payload
/// kept as text), and its `exp` and `nbf` members as sent (`None`: absent). `None` if the bytes
/// do not decode as they did when the verdict was stored, which is not expected: the caller
/// then verifies the token in full.
fn cached_token(token: &[u8]) -> Option<(Token, Option<Value>, Option<Value>)> {
    let mut segments = token.splitn(3, |&b| b == b'.');
    let (header, payload) = (segments.next()?, segments.next()?);
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let [alg] = pick(&header, &["alg"])?;
    let alg = Alg::from_name(alg?.as_str()?)?;
    let [exp, nbf] = pick(&payload, &["exp", "nbf"])?;
    Some((Token::unparsed(header, payload, alg.name()), exp, nbf))
}

/// The values of the named top-level members of a JSON object, without building the object
/// (the others are skipped). For text that already passed the strict parse.
fn pick<const N: usize>(text: &str, names: &[&str; N]) -> Option<[Option<Value>; N]> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let values = Pick(names).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(values)
}

/// [`pick`]'s visitor of the object.
struct Pick<'n, const N: usize>(&'n [&'n str; N]);

impl<'de, const N: usize> serde::de::DeserializeSeed<'de> for Pick<'_, N> {
    type Value = [Option<Value>; N];
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, const N: usize> serde::de::Visitor<'de> for Pick<'_, N> {
    type Value = [Option<Value>; N];
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: [Option<Value>; N] = std::array::from_fn(|_| None);
        while let Some(index) = map.next_key_seed(Name(self.0))? {
            match index.and_then(|i| out.get_mut(i)) {
                Some(slot) => *slot = Some(map.next_value()?),
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A member name, as its index in the names [`pick`] looks for.
struct Name<'n, const N: usize>(&'n [&'n str; N]);

impl<'de, const N: usize> serde::de::DeserializeSeed<'de> for Name<'_, N> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, const N: usize> serde::de::Visitor<'de> for Name<'_, N> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == s))
    }
}

/// TEST-ONLY fault injection (cargo feature `fault-injection`, off by default): a token whose
/// header has `"x-fault":"panic"` makes [`verify`] panic right after the header is parsed (so
/// before the signature is checked). `t/fault/080-panic.t` (run by `scripts/test-panic`) uses
/// it to prove that the nginx glue turns a panic into a 500 and keeps the worker serving.
/// Without the feature the member is an ordinary, ignored header member.
#[cfg(feature = "fault-injection")]
#[allow(clippy::panic)]
fn fault_injection(header: &Map<String, Value>) {
    if header.get("x-fault").and_then(Value::as_str) == Some("panic") {
        panic!("auth_jwt fault injection: the token header has \"x-fault\":\"panic\"");
    }
}

/// JWS-level verification without JWT semantics: the payload may be any
/// bytes and no claim is checked. Used for the JOSE cookbook vectors, whose
/// payloads are prose rather than JSON.
#[cfg(test)]
pub(crate) fn verify_jws(
    token: &[u8],
    keys: &KeySet,
) -> Result<(Map<String, Value>, Vec<u8>), Rejection> {
    let parts = split(token)?;
    let header = parse_header(&parts.header)?;
    let (alg, kid) = check_header(&header)?;
    check_signature(keys, alg, kid, parts.signing_input, &parts.signature)?;
    Ok((header, parts.payload))
}

#[cfg(all(test, feature = "fault-injection"))]
mod fault_injection_tests {
    use super::*;

    fn token(header: &str) -> String {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.{}", b64(header), b64(r#"{"sub":"x"}"#), b64("sig"))
    }

    #[test]
    #[should_panic(expected = "auth_jwt fault injection")]
    fn x_fault_panic_panics() {
        let t = token(r#"{"alg":"HS256","x-fault":"panic"}"#);
        let _ = verify(
            t.as_bytes(),
            &KeySet::new(),
            &Validation { now: 0, leeway: 0 },
        );
    }

    #[test]
    fn other_x_fault_values_are_ignored() {
        let t = token(r#"{"alg":"HS256","x-fault":"nope"}"#);
        let res = verify(
            t.as_bytes(),
            &KeySet::new(),
            &Validation { now: 0, leeway: 0 },
        );
        assert!(res.is_err());
    }
}

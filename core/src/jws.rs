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
use std::hash::{BuildHasherDefault, Hasher};

use crate::alg::{Alg, Family};
use crate::cache::{self, CacheUse, VerdictCache};
use crate::claims::{self, TimeClaims};
use crate::json::{self, Fault};
use crate::keys::{Key, KeySet, Material};
use crate::{Rejection, Status, MAX_TOKEN_LEN};
use openssl::sha::{Sha256, Sha384, Sha512};

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
/// A signed token keeps its header and payload as they were sent and builds the header and
/// claims objects only when [`Token::header`] or [`Token::claims`] is first called (the same
/// bytes passed the strict checks when the token was verified, or when the verdict the
/// verified-token cache answered with was stored).
#[derive(Clone)]
pub struct Token {
    /// The compact token answered from the cache (empty otherwise): the texts below are
    /// decoded from it on demand.
    raw: Vec<u8>,
    header_text: OnceCell<String>,
    header: OnceCell<Map<String, Value>>,
    claims: OnceCell<Map<String, Value>>,
    payload: OnceCell<String>,
    alg: OnceCell<&'static str>,
}

/// Leaves out `raw`: it is the whole bearer token, signature included, which must never reach
/// a log.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("header", &self.header.get())
            .field("claims", &self.claims.get())
            .field("payload", &self.payload.get())
            .field("alg", &self.alg.get())
            .finish_non_exhaustive()
    }
}

impl Token {
    pub(crate) fn new(
        header: Map<String, Value>,
        claims: Map<String, Value>,
        payload: String,
        alg: &'static str,
    ) -> Self {
        Token {
            raw: Vec::new(),
            header_text: OnceCell::new(),
            header: OnceCell::from(header),
            claims: OnceCell::from(claims),
            payload: OnceCell::from(payload),
            alg: OnceCell::from(alg),
        }
    }

    /// A token whose header and payload texts already passed every check: parsed on demand.
    fn unparsed(header_text: String, payload: String, alg: &'static str) -> Self {
        Token {
            raw: Vec::new(),
            header_text: OnceCell::from(header_text),
            header: OnceCell::new(),
            claims: OnceCell::new(),
            payload: OnceCell::from(payload),
            alg: OnceCell::from(alg),
        }
    }

    /// A token known to be valid from its verdict in the cache, decoded on demand.
    fn cached(token: &[u8]) -> Self {
        Token {
            raw: token.to_vec(),
            header_text: OnceCell::new(),
            header: OnceCell::new(),
            claims: OnceCell::new(),
            payload: OnceCell::new(),
            alg: OnceCell::new(),
        }
    }

    /// The same token with another `payload` text (a nested token reports its enclosed JWS).
    /// The claims are built first, from the payload they were sent in.
    pub(crate) fn with_payload(mut self, payload: String) -> Self {
        self.claims();
        self.payload = OnceCell::from(payload);
        self
    }

    /// Segment `index` of `raw`, decoded (empty if it does not decode, which cannot happen
    /// for bytes whose verdict was stored).
    fn decode_raw(&self, index: usize) -> String {
        self.raw
            .split(|&b| b == b'.')
            .nth(index)
            .and_then(|seg| URL_SAFE_NO_PAD.decode(seg).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default()
    }

    fn header_text(&self) -> &str {
        self.header_text.get_or_init(|| self.decode_raw(0))
    }

    /// The JOSE header (for an encrypted JWT, the JWE protected header).
    pub fn header(&self) -> &Map<String, Value> {
        self.header
            .get_or_init(|| json::parse_object(self.header_text().as_bytes()).unwrap_or_default())
    }

    /// The claims (payload object).
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims
            .get_or_init(|| json::parse_object(self.payload().as_bytes()).unwrap_or_default())
    }

    /// The decoded payload JSON text exactly as sent (not re-serialised).
    pub fn payload(&self) -> &str {
        self.payload.get_or_init(|| self.decode_raw(1))
    }

    /// The header `alg`, one of the supported algorithm names (for an encrypted JWT, the JWE
    /// key management algorithm, e.g. `RSA-OAEP-256`).
    pub fn alg(&self) -> &str {
        self.alg.get_or_init(|| {
            match self
                .header()
                .get("alg")
                .and_then(Value::as_str)
                .and_then(Alg::from_name)
            {
                Some(alg) => alg.name(),
                None => "",
            }
        })
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
    // Exactly two dots (memchr: the signature is most of the token).
    let mut dots = memchr::memchr_iter(b'.', token);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        let segments = memchr::memchr_iter(b'.', token).count().saturating_add(1);
        return Err(malformed(segments_detail(segments)));
    };
    let (Some(header), Some(payload), Some(signature)) = (
        token.get(..first),
        token.get(first.saturating_add(1)..second),
        token.get(second.saturating_add(1)..),
    ) else {
        return Err(malformed("token is malformed"));
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

impl SegmentDetails {
    /// The refusal of a segment that failed the strict JSON checks with `fault`.
    fn refusal(&self, fault: Fault) -> Rejection {
        malformed(match fault {
            Fault::Syntax => self.syntax,
            Fault::Duplicate => self.duplicate,
            Fault::TooDeep => self.deep,
            Fault::NotObject => self.not_object,
        })
    }
}

/// Step 3 for one segment: UTF-8, strict JSON, object.
pub(crate) fn parse_segment(
    text: &str,
    d: &SegmentDetails,
) -> Result<Map<String, Value>, Rejection> {
    json::parse_object(text.as_bytes()).map_err(|e| d.refusal(e.fault))
}

pub(crate) fn parse_header(bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed(HEADER.utf8))?;
    parse_segment(text, &HEADER)
}

/// Steps 4 to 6: `alg`, `crit`, `kid`.
pub(crate) fn check_header(header: &Map<String, Value>) -> Result<(Alg, Option<&str>), Rejection> {
    check_header_members(
        header.get("alg"),
        header.contains_key("crit"),
        header.get("kid"),
    )
}

/// [`check_header`] on the members themselves (`None`: absent).
fn check_header_members<'a>(
    alg: Option<&Value>,
    has_crit: bool,
    kid: Option<&'a Value>,
) -> Result<(Alg, Option<&'a str>), Rejection> {
    let unsupported = |detail| Rejection::new(Status::UnsupportedAlg, detail);
    let alg = match alg {
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
    if has_crit {
        return Err(Rejection::new(
            Status::BadCrit,
            "crit header is not supported",
        ));
    }
    let kid = match kid {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    Ok((alg, kid))
}

/// Step 3 for one segment without building it: UTF-8 was checked by the caller; strict JSON,
/// object; the values of the named top-level members.
fn scan_segment<const N: usize>(
    text: &str,
    d: &SegmentDetails,
    names: &[&str; N],
) -> Result<[Option<Value>; N], Rejection> {
    json::scan_object(text.as_bytes(), names).map_err(|e| d.refusal(e.fault))
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
        (Material::Hmac(_), Family::Hmac, Some(_)) => Ok(key
            .hmac
            .as_ref()
            .is_some_and(|h| h.verify(alg, input, signature))),
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
        static CTX: RefCell<CtxMap> = RefCell::new(HashMap::default());
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

/// Per-thread OpenSSL verify contexts by (key id, alg).
type CtxMap = HashMap<(u64, Alg), PkeyCtx<Public>, BuildHasherDefault<IdHasher>>;

/// The hasher of the per-thread context map: its keys are process-unique key ids (never
/// chosen by a client) and an `alg`, so a multiplicative mix is enough and costs a fraction of
/// SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
}

/// SHA-256/384/512 of `input` through OpenSSL's low-level functions (no EVP fetch).
fn sha2(md: MessageDigest, input: &[u8]) -> Vec<u8> {
    // The incremental SHA*_Init/Update/Final: OpenSSL 3's one-shot SHA256() fetches the
    // algorithm on every call, which costs more than hashing a token.
    macro_rules! run {
        ($h:ty) => {{
            let mut h = <$h>::new();
            h.update(input);
            h.finish().to_vec()
        }};
    }
    if md == MessageDigest::sha384() {
        run!(Sha384)
    } else if md == MessageDigest::sha512() {
        run!(Sha512)
    } else {
        run!(Sha256)
    }
}

/// An HMAC key (RFC 2104) for SHA-256, SHA-384 and SHA-512 over OpenSSL's SHA-2 functions,
/// with the inner and outer pads hashed once, when the key is loaded: a verification hashes
/// only the message and the inner digest (no per-call algorithm fetch or context set-up, which
/// cost OpenSSL 3 more than the MAC itself, and two compressions fewer than HMAC from scratch).
#[derive(Clone)]
pub(crate) struct HmacKey {
    s256: (Sha256, Sha256),
    s384: (Sha384, Sha384),
    s512: (Sha512, Sha512),
}

impl HmacKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        macro_rules! pads {
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
                let mut outer = <$h>::new();
                outer.update(&k.map(|b| b ^ 0x5c));
                (inner, outer)
            }};
        }
        HmacKey {
            s256: pads!(Sha256, 64),
            s384: pads!(Sha384, 128),
            s512: pads!(Sha512, 128),
        }
    }

    /// Whether `mac` is the HMAC of `msg` (compared in constant time).
    fn verify(&self, alg: Alg, msg: &[u8], mac: &[u8]) -> bool {
        macro_rules! run {
            ($pads:expr) => {{
                let (mut inner, mut outer) = $pads.clone();
                inner.update(msg);
                outer.update(&inner.finish());
                let want = outer.finish();
                want.len() == mac.len() && openssl::memcmp::eq(&want, mac)
            }};
        }
        match alg {
            Alg::Hs384 => run!(self.s384),
            Alg::Hs512 => run!(self.s512),
            _ => run!(self.s256),
        }
    }
}

/// Parse and fully validate a compact JWS against the key set.
///
/// Order (first failure wins): empty → `Missing`; longer than
/// [`MAX_TOKEN_LEN`] → `TooLarge`; shape / base64url / strict JSON →
/// `Malformed`; `alg` → `UnsupportedAlg`; `crit` → `BadCrit`; non-string
/// `kid` → `Malformed`; no candidate key → `NoKey`; signature →
/// `BadSignature`; `exp` / `nbf` → `BadClaim`, `Expired`, `NotYetValid`.
///
/// The header and payload are checked in full (strict JSON, no duplicate member anywhere,
/// bounded depth) but only the members the checks need are extracted; [`Token::header`] and
/// [`Token::claims`] build the objects when first asked.
pub fn verify(token: &[u8], keys: &KeySet, v: &Validation) -> Result<Token, Rejection> {
    verify_cached(token, keys, v, None).0
}

/// [`verify`] as it was first written: header and payload built as objects, then checked.
/// Kept as the reference the fuzzer and the tests compare [`verify`] with; not for use.
#[doc(hidden)]
pub fn verify_reference(token: &[u8], keys: &KeySet, v: &Validation) -> Result<Token, Rejection> {
    let parts = split(token)?;
    let header = parse_header(&parts.header)?;
    #[cfg(feature = "fault-injection")]
    fault_injection(header.get("x-fault"));
    let payload = String::from_utf8(parts.payload).map_err(|_| malformed(PAYLOAD.utf8))?;
    let claims = parse_segment(&payload, &PAYLOAD)?;
    let (alg, kid) = check_header(&header)?;
    check_signature(keys, alg, kid, parts.signing_input, &parts.signature)?;
    claims::check(&claims, v)?;
    Ok(Token::new(header, claims, payload, alg.name()))
}

/// The header members [`verify`] reads.
const HEADER_MEMBERS: [&str; 4] = ["alg", "kid", "crit", "x-fault"];

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
        // time claims was checked when it was stored, and they were stored with it, so the
        // token is not even decoded.
        let entry = match cache {
            Some((c, _)) if !token.is_empty() && token.len() <= MAX_TOKEN_LEN => {
                let key = cache::entry_key(keys, token);
                if let Some(times) = c.lookup(&key, v.now) {
                    used = CacheUse::Hit;
                    times.check(v)?;
                    return Ok(Token::cached(token));
                }
                Some(key)
            }
            _ => None,
        };
        let parts = split(token)?;
        let header = String::from_utf8(parts.header).map_err(|_| malformed(HEADER.utf8))?;
        let [alg, kid, crit, _fault] = scan_segment(&header, &HEADER, &HEADER_MEMBERS)?;
        // TEST-ONLY: compiled in only with the `fault-injection` cargo feature (off by
        // default, never in a shipped build). See `fault_injection`.
        #[cfg(feature = "fault-injection")]
        fault_injection(_fault.as_ref());
        let payload = String::from_utf8(parts.payload).map_err(|_| malformed(PAYLOAD.utf8))?;
        let [exp, nbf] = scan_segment(&payload, &PAYLOAD, &["exp", "nbf"])?;
        let (alg, kid) = check_header_members(alg.as_ref(), crit.is_some(), kid.as_ref())?;
        if cache.is_some() {
            used = CacheUse::Miss;
        }
        check_signature(keys, alg, kid, parts.signing_input, &parts.signature)?;
        claims::check_times(exp.as_ref(), nbf.as_ref(), v)?;
        if let Some((c, max_age)) = cache {
            if let Some(times) = TimeClaims::of(exp.as_ref(), nbf.as_ref()) {
                let key = entry.unwrap_or_else(|| cache::entry_key(keys, token));
                c.insert(
                    &key,
                    cache::expiry(exp.as_ref(), v.now, max_age),
                    v.now,
                    times,
                );
            }
        }
        let alg = alg.name();
        Ok(Token::unparsed(header, payload, alg))
    })();
    (result, used)
}

/// TEST-ONLY fault injection (cargo feature `fault-injection`, off by default): a token whose
/// header has `"x-fault":"panic"` makes [`verify`] panic right after the header is parsed (so
/// before the signature is checked). `t/fault/080-panic.t` (run by `scripts/test-panic`) uses
/// it to prove that the nginx glue turns a panic into a 500 and keeps the worker serving.
/// Without the feature the member is an ordinary, ignored header member.
#[cfg(feature = "fault-injection")]
#[allow(clippy::panic)]
fn fault_injection(value: Option<&Value>) {
    if value.and_then(Value::as_str) == Some("panic") {
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

#[cfg(test)]
mod hmac_tests {
    use super::*;
    use openssl::sign::Signer;

    /// The precomputed-pad HMAC agrees with OpenSSL's own HMAC for every hash and key length
    /// (shorter than, equal to and longer than the hash's block).
    #[test]
    fn hmac_key_matches_openssl() {
        let msg = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0";
        for len in [1usize, 32, 63, 64, 65, 127, 128, 129, 300] {
            let secret: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let key = HmacKey::new(&secret);
            let pkey = PKey::hmac(&secret).unwrap();
            for (alg, md) in [
                (Alg::Hs256, MessageDigest::sha256()),
                (Alg::Hs384, MessageDigest::sha384()),
                (Alg::Hs512, MessageDigest::sha512()),
            ] {
                let mut s = Signer::new(md, &pkey).unwrap();
                let mac = s.sign_oneshot_to_vec(msg).unwrap();
                assert!(key.verify(alg, msg, &mac), "{alg:?} key length {len}");
                let mut bad = mac.clone();
                bad[0] ^= 1;
                assert!(!key.verify(alg, msg, &bad));
                assert!(!key.verify(alg, msg, &mac[1..]));
                assert!(!key.verify(alg, b"other", &mac));
            }
        }
    }
}

//! Compact JWS parsing and verification (RFC 7515 / RFC 7519).
//!
//! [`verify`] applies the checks in a fixed order and the first failure wins:
//! size, shape and strict base64url; strict JSON for header and payload;
//! `alg`; `crit`; `kid`; key selection; signature; time claims.

mod signature;

use serde_json::{Map, Value};

use crate::alg::Alg;
use crate::b64::{self, Scratch};
use crate::claims::{self, Validation};
use crate::error::{Rejection, Status};
use crate::json::{self, Fault};
use crate::keys::KeySet;
use crate::limits::MAX_TOKEN_LEN;
use crate::token::Token;

pub(crate) use signature::check_signature;

/// The three decoded segments of a compact JWS.
pub(crate) struct Parts<'a> {
    /// `<b64 header>.<b64 payload>` exactly as received.
    pub(crate) signing_input: &'a [u8],
    pub(crate) header: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: &'a [u8],
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
/// The signature is decoded into `scratch`.
pub(crate) fn split<'a>(token: &'a [u8], scratch: &'a mut Scratch) -> Result<Parts<'a>, Rejection> {
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
    let decode = |seg: &[u8], detail: &'static str| b64::decode(seg).ok_or(malformed(detail));
    Ok(Parts {
        signing_input,
        header: decode(header, "header is not valid base64url")?,
        payload: decode(payload, "payload is not valid base64url")?,
        signature: scratch
            .decode(signature)
            .ok_or(malformed("signature is not valid base64url"))?,
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
    json::scan_object(text, names).map_err(|e| d.refusal(e.fault))
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
    let mut scratch = Scratch::default();
    let unverified = Unverified::parse(token, &mut scratch)?;
    unverified.verify(keys, v)?;
    Ok(unverified.into_token())
}

/// [`verify`] as it was first written: header and payload built as objects, then checked.
/// Kept as the reference the fuzzer and the tests compare [`verify`] with; not for use.
#[doc(hidden)]
pub fn verify_reference(token: &[u8], keys: &KeySet, v: &Validation) -> Result<Token, Rejection> {
    let mut scratch = Scratch::default();
    let parts = split(token, &mut scratch)?;
    let header = parse_header(&parts.header)?;
    #[cfg(feature = "fault-injection")]
    fault_injection(header.get("x-fault"));
    let payload = String::from_utf8(parts.payload).map_err(|_| malformed(PAYLOAD.utf8))?;
    let claims = parse_segment(&payload, &PAYLOAD)?;
    let (alg, kid) = check_header(&header)?;
    check_signature(keys, alg, kid, parts.signing_input, parts.signature)?;
    claims::check(&claims, v)?;
    Ok(Token::new(header, claims, payload, alg.name()))
}

/// The header members [`verify`] reads.
const HEADER_MEMBERS: [&str; 4] = ["alg", "kid", "crit", "x-fault"];

/// A compact JWS that passed steps 1 to 6 (size, shape, base64url, strict JSON, `alg`, `crit`,
/// `kid`) with only the members the remaining checks need taken out of its header and payload.
pub(crate) struct Unverified<'a> {
    /// `<b64 header>.<b64 payload>` exactly as received.
    signing_input: &'a [u8],
    signature: &'a [u8],
    /// The decoded header and payload JSON texts.
    header: String,
    payload: String,
    alg: Alg,
    kid: Option<String>,
    /// The payload `exp` member.
    pub(crate) exp: Option<Value>,
    /// The payload `nbf` member.
    pub(crate) nbf: Option<Value>,
}

impl<'a> Unverified<'a> {
    /// Steps 1 to 6 (see [`verify`]), without building the header and payload objects.
    /// The signature is decoded into `scratch`.
    pub(crate) fn parse(token: &'a [u8], scratch: &'a mut Scratch) -> Result<Self, Rejection> {
        let parts = split(token, scratch)?;
        let header = String::from_utf8(parts.header).map_err(|_| malformed(HEADER.utf8))?;
        let [alg, kid, crit, _fault] = scan_segment(&header, &HEADER, &HEADER_MEMBERS)?;
        // TEST-ONLY: compiled in only with the `fault-injection` cargo feature (off by
        // default, never in a shipped build). See `fault_injection`.
        #[cfg(feature = "fault-injection")]
        fault_injection(_fault.as_ref());
        let payload = String::from_utf8(parts.payload).map_err(|_| malformed(PAYLOAD.utf8))?;
        let [exp, nbf] = scan_segment(&payload, &PAYLOAD, &["exp", "nbf"])?;
        let (alg, _) = check_header_members(alg.as_ref(), crit.is_some(), kid.as_ref())?;
        // Checked above: absent or a string.
        let kid = match kid {
            Some(Value::String(kid)) => Some(kid),
            _ => None,
        };
        Ok(Unverified {
            signing_input: parts.signing_input,
            signature: parts.signature,
            header,
            payload,
            alg,
            kid,
            exp,
            nbf,
        })
    }

    /// Steps 7 to 9: candidate keys, signature, then `exp` and `nbf`.
    pub(crate) fn verify(&self, keys: &KeySet, v: &Validation) -> Result<(), Rejection> {
        check_signature(
            keys,
            self.alg,
            self.kid.as_deref(),
            self.signing_input,
            self.signature,
        )?;
        claims::check_times(self.exp.as_ref(), self.nbf.as_ref(), v)
    }

    /// The verified token; its header and claims objects are built on demand.
    pub(crate) fn into_token(self) -> Token {
        Token::unparsed(self.header, self.payload, self.alg.name())
    }
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
/// bytes and no claim is checked (steps 1 to 8 of [`verify`] minus the payload JSON check).
/// Used for the JOSE cookbook and Wycheproof vectors, whose payloads are mostly not JSON
/// objects; not for use (the module only ever calls [`verify`]).
#[doc(hidden)]
pub fn verify_jws(token: &[u8], keys: &KeySet) -> Result<(Map<String, Value>, Vec<u8>), Rejection> {
    let mut scratch = Scratch::default();
    let parts = split(token, &mut scratch)?;
    let header = parse_header(&parts.header)?;
    let (alg, kid) = check_header(&header)?;
    check_signature(keys, alg, kid, parts.signing_input, parts.signature)?;
    Ok((header, parts.payload))
}

#[cfg(all(test, feature = "fault-injection"))]
mod fault_injection_tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

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

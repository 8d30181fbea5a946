//! The five segments of a compact JWE and its protected header (RFC 7516 §5.2 steps 1 to 4).

use openssl::pkey::{Id, PKey, Public};
use serde_json::{Map, Value};

use crate::alg::{Alg, Curve, Enc, KeyMgmt};
use crate::error::{Rejection, Status};
use crate::jws::malformed;
use crate::keys;
use crate::limits::MAX_TOKEN_LEN;

pub(super) const fn unsupported(detail: &'static str) -> Rejection {
    Rejection::new(Status::UnsupportedEnc, detail)
}

/// The five decoded segments.
pub(super) struct Parts<'a> {
    /// The protected header segment as received (the AAD).
    pub(super) protected: &'a [u8],
    pub(super) header: Vec<u8>,
    pub(super) encrypted_key: Vec<u8>,
    pub(super) iv: Vec<u8>,
    pub(super) ciphertext: Vec<u8>,
    pub(super) tag: Vec<u8>,
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

pub(super) fn split(token: &[u8]) -> Result<Parts<'_>, Rejection> {
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
    let decode =
        |seg: &[u8], detail: &'static str| crate::b64::decode(seg).ok_or(malformed(detail));
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
pub(super) fn check_header(
    header: &Map<String, Value>,
) -> Result<(KeyMgmt, Enc, Option<&str>), Rejection> {
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
pub(super) enum Epk {
    Ec { key: PKey<Public>, curve: Curve },
    X25519(PKey<Public>),
}

pub(super) fn parse_epk(header: &Map<String, Value>) -> Result<Epk, Rejection> {
    let epk = match header.get("epk") {
        Some(Value::Object(epk)) => epk,
        Some(_) => return Err(malformed("epk is not a JSON object")),
        None => return Err(malformed("ECDH-ES token has no epk")),
    };
    let invalid = || malformed("epk is not a valid public key");
    let member = |name: &str, len: usize| -> Result<Vec<u8>, Rejection> {
        match epk.get(name) {
            Some(Value::String(s)) => crate::b64::decode(s.as_bytes())
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
pub(super) fn b64_header(
    header: &Map<String, Value>,
    name: &str,
    detail: &'static str,
) -> Result<Vec<u8>, Rejection> {
    match header.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => crate::b64::decode(s.as_bytes()).ok_or(malformed(detail)),
        Some(_) => Err(malformed(detail)),
    }
}

//! Token minting, for tests and the `jwt-mint` tool.
//!
//! This is the mirror image of [`crate::verify`]: RS* use PKCS#1 v1.5, PS*
//! use PSS with MGF1 and a salt as long as the hash, ES* produce the JWS
//! fixed-width `R || S` form, EdDSA signs one-shot, HS* use HMAC.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::hash;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_json::{Map, Value};

use crate::alg::{Alg, Curve, Family};

/// A key to sign with.
pub enum SigningKey {
    /// RSA, EC (P-256/P-384/P-521), Ed25519 or Ed448 private key.
    Pkey(PKey<Private>),
    /// HMAC secret.
    Hmac(Vec<u8>),
}

impl SigningKey {
    /// Read a PEM private key (PKCS#8 `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        PKey::private_key_from_pem(pem)
            .map(SigningKey::Pkey)
            .map_err(|e| format!("cannot read PEM private key: {e}"))
    }

    /// Use raw bytes as an HMAC secret.
    pub fn hmac(secret: &[u8]) -> Self {
        SigningKey::Hmac(secret.to_vec())
    }

    /// The natural algorithm for this key: RS256 for RSA, ES256/ES384/ES512
    /// by curve, EdDSA for Ed25519/Ed448, HS256 for a secret.
    pub fn default_alg(&self) -> Option<&'static str> {
        match self {
            SigningKey::Hmac(_) => Some("HS256"),
            SigningKey::Pkey(p) => {
                let id = p.id();
                if id == Id::RSA {
                    Some("RS256")
                } else if id == Id::EC {
                    let curve = p
                        .ec_key()
                        .ok()?
                        .group()
                        .curve_name()
                        .and_then(Curve::from_nid)?;
                    Some(match curve {
                        Curve::P256 => "ES256",
                        Curve::P384 => "ES384",
                        Curve::P521 => "ES512",
                    })
                } else if id == Id::ED25519 || id == Id::ED448 {
                    Some("EdDSA")
                } else {
                    None
                }
            }
        }
    }
}

/// Build and sign a compact JWS.
///
/// `alg` must be a supported algorithm. The header starts as
/// `{"alg":alg,"typ":"JWT"}`; the members of `header` (an object, or `null`)
/// are then added and override those two (tests use this to forge headers).
/// `claims` is serialised as-is.
pub fn encode(
    alg: &str,
    header: &Value,
    claims: &Value,
    key: &SigningKey,
) -> Result<String, String> {
    let parsed = Alg::from_name(alg).ok_or_else(|| format!("unsupported alg {alg:?}"))?;
    let mut h = Map::new();
    h.insert("alg".to_owned(), Value::String(parsed.name().to_owned()));
    h.insert("typ".to_owned(), Value::String("JWT".to_owned()));
    match header {
        Value::Object(extra) => {
            for (name, value) in extra {
                h.insert(name.clone(), value.clone());
            }
        }
        Value::Null => {}
        _ => return Err("header must be a JSON object".to_owned()),
    }
    let header_json = serde_json::to_vec(&Value::Object(h)).map_err(|e| e.to_string())?;
    let claims_json = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    encode_raw(alg, &header_json, &claims_json, key)
}

/// Sign arbitrary header and payload bytes (encoded verbatim, so they may be
/// invalid JSON, contain duplicate members, ...). For tests.
pub fn encode_raw(
    alg: &str,
    header: &[u8],
    payload: &[u8],
    key: &SigningKey,
) -> Result<String, String> {
    let parsed = Alg::from_name(alg).ok_or_else(|| format!("unsupported alg {alg:?}"))?;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = sign(parsed, key, input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Sign `input` with `alg` (exposed for tests that splice tokens by hand).
pub fn sign_bytes(alg: &str, key: &SigningKey, input: &[u8]) -> Result<Vec<u8>, String> {
    let parsed = Alg::from_name(alg).ok_or_else(|| format!("unsupported alg {alg:?}"))?;
    sign(parsed, key, input)
}

fn sign(alg: Alg, key: &SigningKey, input: &[u8]) -> Result<Vec<u8>, String> {
    let e = |e: openssl::error::ErrorStack| format!("signing failed: {e}");
    let mismatch = || format!("the key does not fit alg {}", alg.name());
    match (alg.family(), alg.digest(), key) {
        (Family::Rsa | Family::RsaPss, Some(md), SigningKey::Pkey(p)) if p.id() == Id::RSA => {
            let mut s = Signer::new(md, p).map_err(e)?;
            if alg.family() == Family::RsaPss {
                s.set_rsa_padding(Padding::PKCS1_PSS).map_err(e)?;
                s.set_rsa_mgf1_md(md).map_err(e)?;
                s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                    .map_err(e)?;
            } else {
                s.set_rsa_padding(Padding::PKCS1).map_err(e)?;
            }
            s.update(input).map_err(e)?;
            s.sign_to_vec().map_err(e)
        }
        (Family::Ec(curve), Some(md), SigningKey::Pkey(p)) if p.id() == Id::EC => {
            let ec = p.ec_key().map_err(e)?;
            if ec.group().curve_name().and_then(Curve::from_nid) != Some(curve) {
                return Err(mismatch());
            }
            let digest = hash(md, input).map_err(e)?;
            let sig = EcdsaSig::sign(&digest, &ec).map_err(e)?;
            let width = i32::try_from(curve.coord_len()).map_err(|_| mismatch())?;
            let mut out = sig.r().to_vec_padded(width).map_err(e)?;
            out.extend(sig.s().to_vec_padded(width).map_err(e)?);
            Ok(out)
        }
        (Family::Ed, None, SigningKey::Pkey(p)) if p.id() == Id::ED25519 || p.id() == Id::ED448 => {
            let mut s = Signer::new_without_digest(p).map_err(e)?;
            s.sign_oneshot_to_vec(input).map_err(e)
        }
        (Family::Hmac, Some(md), SigningKey::Hmac(secret)) => {
            let pkey = PKey::hmac(secret).map_err(e)?;
            let mut s = Signer::new(md, &pkey).map_err(e)?;
            s.update(input).map_err(e)?;
            s.sign_to_vec().map_err(e)
        }
        _ => Err(mismatch()),
    }
}

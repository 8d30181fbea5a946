//! The public key (or `oct` secret) of a JWK, one function per `kty`.

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use serde_json::{Map, Value};

use super::members::{b64_member, jwk_error, opt_str};
use crate::alg::Curve;
use crate::key::{HmacKey, Material};
use crate::keys::check::{
    check_rsa, ed25519_small_order, quote, rsa_short_warning, rsa_warns, SMALL_ORDER,
};
use crate::keys::error::{KeyError, Mode};

/// The public key of a JWK of kty `RSA` (`n`, `e`).
pub(super) fn rsa_public(
    obj: &Map<String, Value>,
    n: usize,
    warnings: &mut Vec<String>,
) -> Result<Material, KeyError> {
    let err = jwk_error(n);
    let modulus = b64_member(obj, "n", n)?;
    let exponent = b64_member(obj, "e", n)?;
    let bn = |b: &[u8]| BigNum::from_slice(b).map_err(|e| err(format!("RSA key: {e}")));
    let (modulus, exponent) = (bn(&modulus)?, bn(&exponent)?);
    check_rsa(&modulus, &exponent).map_err(&err)?;
    let rsa = Rsa::from_public_components(modulus, exponent)
        .map_err(|e| err(format!("invalid RSA key: {e}")))?;
    let pkey = PKey::from_rsa(rsa).map_err(|e| err(format!("invalid RSA key: {e}")))?;
    if rsa_warns(pkey.bits()) {
        warnings.push(format!("JWK #{n}: {}", rsa_short_warning(pkey.bits())));
    }
    Ok(Material::Rsa(pkey))
}

/// The public key of a JWK of kty `EC` (`crv`, `x`, `y`).
pub(super) fn ec_public(obj: &Map<String, Value>, n: usize) -> Result<Material, KeyError> {
    let err = jwk_error(n);
    let crv = opt_str(obj, "crv", n)?.ok_or_else(|| err("missing member crv".to_owned()))?;
    let curve = Curve::from_jwk_name(crv)
        .ok_or_else(|| err(format!("unsupported EC crv {}", quote(crv))))?;
    let x = b64_member(obj, "x", n)?;
    let y = b64_member(obj, "y", n)?;
    if x.len() != curve.coord_len() || y.len() != curve.coord_len() {
        return Err(err(format!(
            "EC key coordinates must be {} bytes for {}",
            curve.coord_len(),
            curve.name()
        )));
    }
    let key = ec_from_coordinates(curve, &x, &y)
        .map_err(|_| err("EC key has invalid point".to_owned()))?;
    Ok(Material::Ec { key, curve })
}

/// The public key of a JWK of kty `OKP` (`crv`, `x`): Ed25519, Ed448, and X25519 for JWE.
pub(super) fn okp_public(
    obj: &Map<String, Value>,
    n: usize,
    mode: Mode,
) -> Result<Material, KeyError> {
    let err = jwk_error(n);
    let crv = opt_str(obj, "crv", n)?.ok_or_else(|| err("missing member crv".to_owned()))?;
    let (id, len) = match crv {
        "Ed25519" => (Id::ED25519, 32),
        "Ed448" => (Id::ED448, 57),
        "X25519" if mode == Mode::Private => (Id::X25519, 32),
        other => return Err(err(format!("unsupported OKP crv {}", quote(other)))),
    };
    let x = b64_member(obj, "x", n)?;
    if x.len() != len {
        return Err(err(format!("{crv} key x must be {len} bytes")));
    }
    if id == Id::ED25519 && ed25519_small_order(&x) {
        return Err(err(SMALL_ORDER.to_owned()));
    }
    let pkey = PKey::public_key_from_raw_bytes(&x, id)
        .map_err(|_| err(format!("invalid {crv} public key")))?;
    Ok(if id == Id::X25519 {
        Material::X25519(pkey)
    } else {
        Material::Okp(pkey)
    })
}

/// A JWK of kty `oct` (`k`): the HMAC key, its precomputed pads and the secret itself. Its
/// length is checked once its uses are known ([`crate::keys::check::hmac_refusal`] for
/// signatures, the JWE rules for decryption).
pub(super) fn oct(
    obj: &Map<String, Value>,
    n: usize,
) -> Result<(Material, HmacKey, Vec<u8>), KeyError> {
    let err = jwk_error(n);
    let k = b64_member(obj, "k", n)?;
    if k.is_empty() {
        return Err(err("oct key has an empty k".to_owned()));
    }
    let pkey = PKey::hmac(&k).map_err(|e| err(format!("invalid oct key: {e}")))?;
    let hmac = HmacKey::new(&k);
    Ok((Material::Hmac(pkey), hmac, k))
}

pub(crate) fn ec_from_coordinates(
    curve: Curve,
    x: &[u8],
    y: &[u8],
) -> Result<EcKey<Public>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(curve.nid())?;
    let x = BigNum::from_slice(x)?;
    let y = BigNum::from_slice(y)?;
    let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y)?;
    key.check_key()?;
    Ok(key)
}

//! The private members of a JWK (for JWE decryption), checked against its public key.

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::{Rsa, RsaPrivateKeyBuilder};
use serde_json::{Map, Value};

use super::members::{b64_member, jwk_error};
use crate::alg::Curve;
use crate::key::Secret;
use crate::keys::error::KeyError;

/// RSA private members of a JWK (`d`, and either all or none of `p`, `q`, `dp`, `dq`, `qi`).
pub(super) fn rsa_private(
    obj: &Map<String, Value>,
    n: usize,
    public: &PKey<Public>,
) -> Result<Secret, KeyError> {
    let err = jwk_error(n);
    let ssl = |e: openssl::error::ErrorStack| err(format!("invalid RSA private key: {e}"));
    if obj.contains_key("oth") {
        return Err(err(
            "multi-prime RSA keys (oth) are not supported".to_owned()
        ));
    }
    let rsa = public.rsa().map_err(ssl)?;
    let bn = |name: &str| -> Result<BigNum, KeyError> {
        BigNum::from_slice(&b64_member(obj, name, n)?).map_err(ssl)
    };
    let modulus = rsa.n().to_owned().map_err(ssl)?;
    let exponent = rsa.e().to_owned().map_err(ssl)?;
    let d = bn("d")?;
    const CRT: [&str; 5] = ["p", "q", "dp", "dq", "qi"];
    let present = CRT.iter().filter(|m| obj.contains_key(**m)).count();
    let private = if present == 0 {
        // No CRT parameters: check d against (n, e) with one round trip of 2.
        let mut ctx = BigNumContext::new().map_err(ssl)?;
        let two = BigNum::from_u32(2).map_err(ssl)?;
        let mut c = BigNum::new().map_err(ssl)?;
        c.mod_exp(&two, &exponent, &modulus, &mut ctx)
            .map_err(ssl)?;
        let mut m = BigNum::new().map_err(ssl)?;
        m.mod_exp(&c, &d, &modulus, &mut ctx).map_err(ssl)?;
        if m != two {
            return Err(err("RSA private key d does not match n and e".to_owned()));
        }
        RsaPrivateKeyBuilder::new(modulus, exponent, d)
            .map_err(ssl)?
            .build()
    } else if present == CRT.len() {
        let private = Rsa::from_private_components(
            modulus,
            exponent,
            d,
            bn("p")?,
            bn("q")?,
            bn("dp")?,
            bn("dq")?,
            bn("qi")?,
        )
        .map_err(ssl)?;
        if !private.check_key().unwrap_or(false) {
            return Err(err(
                "RSA private key members do not match the public key".to_owned()
            ));
        }
        private
    } else {
        return Err(err(
            "RSA private key has some but not all of p, q, dp, dq, qi".to_owned(),
        ));
    };
    PKey::from_rsa(private).map(Secret::Rsa).map_err(ssl)
}

/// EC private member `d` of a JWK, checked against the public point.
pub(super) fn ec_private(
    obj: &Map<String, Value>,
    n: usize,
    public: &EcKey<Public>,
    curve: Curve,
) -> Result<Secret, KeyError> {
    let err = jwk_error(n);
    let d = b64_member(obj, "d", n)?;
    if d.is_empty() || d.len() > curve.coord_len() {
        return Err(err(format!(
            "EC private key d must be {} bytes for {}",
            curve.coord_len(),
            curve.name()
        )));
    }
    let mismatch = |_| err("EC private key d does not match x and y".to_owned());
    let group = EcGroup::from_curve_name(curve.nid()).map_err(mismatch)?;
    let d = BigNum::from_slice(&d).map_err(mismatch)?;
    let private =
        EcKey::from_private_components(&group, &d, public.public_key()).map_err(mismatch)?;
    private.check_key().map_err(mismatch)?;
    let key = PKey::from_ec_key(private).map_err(mismatch)?;
    Ok(Secret::Ec { key, curve })
}

/// X25519 private member `d` of a JWK, checked against `x`.
pub(super) fn x25519_private(
    obj: &Map<String, Value>,
    n: usize,
    public: &PKey<Public>,
) -> Result<Secret, KeyError> {
    let err = |problem: &str| jwk_error(n)(problem.to_owned());
    let d = b64_member(obj, "d", n)?;
    if d.len() != 32 {
        return Err(err("X25519 key d must be 32 bytes"));
    }
    let private = PKey::private_key_from_raw_bytes(&d, Id::X25519)
        .map_err(|_| err("invalid X25519 private key"))?;
    let derived = private
        .raw_public_key()
        .map_err(|_| err("invalid X25519 private key"))?;
    let given = public
        .raw_public_key()
        .map_err(|_| err("invalid X25519 public key"))?;
    if derived != given {
        return Err(err("X25519 private key d does not match x"));
    }
    Ok(Secret::X25519(private))
}

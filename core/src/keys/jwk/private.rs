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

/// Whether the CRT members of an RSA private key fit its public key and `d`: n = p·q, dp and
/// dq are d mod (p−1) and d mod (q−1), e·dp ≡ 1 mod (p−1) and e·dq ≡ 1 mod (q−1) (so e·d ≡ 1
/// mod lcm(p−1, q−1)), and qi·q ≡ 1 mod p. These are the consistency checks of OpenSSL's
/// `RSA_check_key` without its primality tests of p and q, which cost a 4096-bit key most of a
/// second at every configuration load; members that fit are what decryption relies on (a
/// mismatched dp, dq or qi would make CRT decryption give wrong results).
#[allow(clippy::too_many_arguments)]
fn crt_consistent(
    n: &BigNum,
    e: &BigNum,
    d: &BigNum,
    p: &BigNum,
    q: &BigNum,
    dp: &BigNum,
    dq: &BigNum,
    qi: &BigNum,
) -> Result<bool, openssl::error::ErrorStack> {
    let mut ctx = BigNumContext::new()?;
    let one = BigNum::from_u32(1)?;
    if p <= &one || q <= &one || p == q {
        return Ok(false);
    }
    let mut r = BigNum::new()?;
    r.checked_mul(p, q, &mut ctx)?;
    if &r != n {
        return Ok(false);
    }
    let mut p1 = BigNum::new()?;
    p1.checked_sub(p, &one)?;
    let mut q1 = BigNum::new()?;
    q1.checked_sub(q, &one)?;
    for (dx, x1) in [(dp, &p1), (dq, &q1)] {
        r.nnmod(d, x1, &mut ctx)?;
        if &r != dx {
            return Ok(false);
        }
        r.mod_mul(e, dx, x1, &mut ctx)?;
        if r != one {
            return Ok(false);
        }
    }
    r.mod_mul(qi, q, p, &mut ctx)?;
    Ok(r == one)
}

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
        let (p, q, dp, dq, qi) = (bn("p")?, bn("q")?, bn("dp")?, bn("dq")?, bn("qi")?);
        if !crt_consistent(&modulus, &exponent, &d, &p, &q, &dp, &dq, &qi).unwrap_or(false) {
            return Err(err(
                "RSA private key members do not match the public key".to_owned()
            ));
        }
        Rsa::from_private_components(modulus, exponent, d, p, q, dp, dq, qi).map_err(ssl)?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crt_members_must_fit_the_key() {
        let k = Rsa::generate(2048).unwrap();
        let own = |b: Option<&openssl::bn::BigNumRef>| b.unwrap().to_owned().unwrap();
        let (n, e, d) = (own(Some(k.n())), own(Some(k.e())), own(Some(k.d())));
        let (p, q) = (own(k.p()), own(k.q()));
        let (dp, dq, qi) = (own(k.dmp1()), own(k.dmq1()), own(k.iqmp()));
        let ok = |m: [&BigNum; 8]| crt_consistent(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]);
        assert!(ok([&n, &e, &d, &p, &q, &dp, &dq, &qi]).unwrap());
        let one = BigNum::from_u32(1).unwrap();
        let plus_one = |b: &BigNum| {
            let mut r = BigNum::new().unwrap();
            r.checked_add(b, &one).unwrap();
            r
        };
        // Each member off by one, p and q swapped (qi then no longer fits), p = q.
        for i in 2..8 {
            let mut m = [&n, &e, &d, &p, &q, &dp, &dq, &qi];
            let bad = plus_one(m[i]);
            m[i] = &bad;
            assert!(!ok(m).unwrap(), "member {i} off by one accepted");
        }
        assert!(!ok([&n, &e, &d, &q, &p, &dq, &dp, &qi]).unwrap());
        assert!(!ok([&n, &e, &d, &p, &p, &dp, &dp, &qi]).unwrap());
        let bad_n = plus_one(&n);
        assert!(!ok([&bad_n, &e, &d, &p, &q, &dp, &dq, &qi]).unwrap());
    }
}

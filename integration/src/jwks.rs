//! Public JWK / JWKS export of PEM keys (RFC 7517, 7518, 8037).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::BigNumContext;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use serde_json::{json, Map, Value};

/// Reads the public key of a PEM file: `PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`, or any
/// private key PEM (whose public half is taken).
pub fn public_key_from_pem(pem: &[u8]) -> Result<PKey<Public>, String> {
    if let Ok(k) = PKey::public_key_from_pem(pem) {
        return Ok(k);
    }
    if let Ok(k) = Rsa::public_key_from_pem_pkcs1(pem).and_then(PKey::from_rsa) {
        return Ok(k);
    }
    if let Ok(c) = X509::from_pem(pem) {
        return c
            .public_key()
            .map_err(|e| format!("certificate without a usable public key: {e}"));
    }
    let private = PKey::private_key_from_pem(pem)
        .map_err(|_| "not a PEM public key, certificate or private key".to_owned())?;
    let der = private
        .public_key_to_der()
        .map_err(|e| format!("cannot take the public half of the private key: {e}"))?;
    PKey::public_key_from_der(&der).map_err(|e| format!("cannot read the public key: {e}"))
}

fn b64(b: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(b))
}

fn curve_of(nid: Nid) -> Option<(&'static str, i32, &'static str)> {
    match nid {
        Nid::X9_62_PRIME256V1 => Some(("P-256", 32, "ES256")),
        Nid::SECP384R1 => Some(("P-384", 48, "ES384")),
        Nid::SECP521R1 => Some(("P-521", 66, "ES512")),
        _ => None,
    }
}

/// The algorithms a key can sign with.
fn algs_for(key: &PKey<Public>) -> Result<Vec<&'static str>, String> {
    let id = key.id();
    if id == Id::RSA {
        Ok(vec!["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
    } else if id == Id::EC {
        let ec = key.ec_key().map_err(|e| e.to_string())?;
        let nid = ec
            .group()
            .curve_name()
            .ok_or("EC key on an unnamed curve")?;
        let (_, _, alg) = curve_of(nid).ok_or("EC curve other than P-256, P-384, P-521")?;
        Ok(vec![alg])
    } else if id == Id::ED25519 || id == Id::ED448 {
        Ok(vec!["EdDSA"])
    } else {
        Err("unsupported key type (RSA, EC P-256/384/521, Ed25519, Ed448 are)".to_owned())
    }
}

/// The public JWK of `key`, with `use: "sig"` and the optional `kid` and `alg` (checked
/// against the key type).
pub fn jwk(key: &PKey<Public>, kid: Option<&str>, alg: Option<&str>) -> Result<Value, String> {
    let allowed = algs_for(key)?;
    let mut m = Map::new();
    let id = key.id();
    if id == Id::RSA {
        let rsa = key.rsa().map_err(|e| e.to_string())?;
        m.insert("kty".into(), json!("RSA"));
        m.insert("n".into(), b64(&rsa.n().to_vec()));
        m.insert("e".into(), b64(&rsa.e().to_vec()));
    } else if id == Id::EC {
        let ec = key.ec_key().map_err(|e| e.to_string())?;
        let nid = ec
            .group()
            .curve_name()
            .ok_or("EC key on an unnamed curve")?;
        let (crv, width, _) = curve_of(nid).ok_or("unsupported EC curve")?;
        let mut ctx = BigNumContext::new().map_err(|e| e.to_string())?;
        let mut x = openssl::bn::BigNum::new().map_err(|e| e.to_string())?;
        let mut y = openssl::bn::BigNum::new().map_err(|e| e.to_string())?;
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
            .map_err(|e| e.to_string())?;
        m.insert("kty".into(), json!("EC"));
        m.insert("crv".into(), json!(crv));
        m.insert(
            "x".into(),
            b64(&x.to_vec_padded(width).map_err(|e| e.to_string())?),
        );
        m.insert(
            "y".into(),
            b64(&y.to_vec_padded(width).map_err(|e| e.to_string())?),
        );
    } else {
        let crv = if id == Id::ED25519 {
            "Ed25519"
        } else {
            "Ed448"
        };
        let raw = key.raw_public_key().map_err(|e| e.to_string())?;
        m.insert("kty".into(), json!("OKP"));
        m.insert("crv".into(), json!(crv));
        m.insert("x".into(), b64(&raw));
    }
    m.insert("use".into(), json!("sig"));
    if let Some(a) = alg {
        if !allowed.contains(&a) {
            return Err(format!(
                "alg {a:?} does not fit this key (it fits {})",
                allowed.join(", ")
            ));
        }
        m.insert("alg".into(), json!(a));
    }
    if let Some(k) = kid {
        m.insert("kid".into(), json!(k));
    }
    Ok(Value::Object(m))
}

/// A JWKS `{"keys":[...]}` holding the public JWK of the PEM key.
pub fn jwks_from_pem(pem: &[u8], kid: Option<&str>, alg: Option<&str>) -> Result<Value, String> {
    let key = public_key_from_pem(pem)?;
    Ok(json!({ "keys": [jwk(&key, kid, alg)?] }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::rsa::Rsa;

    #[test]
    fn exports_public_members_only() {
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let set = jwks_from_pem(
            &rsa.private_key_to_pem_pkcs8().unwrap(),
            Some("k1"),
            Some("RS256"),
        )
        .unwrap();
        let k = &set["keys"][0];
        assert_eq!(k["kty"], "RSA");
        assert_eq!(k["e"], "AQAB");
        assert_eq!(k["kid"], "k1");
        assert!(k.get("d").is_none() && k.get("p").is_none());
        assert!(jwks_from_pem(&rsa.public_key_to_pem().unwrap(), None, Some("ES256")).is_err());

        for (nid, crv, len) in [
            (Nid::X9_62_PRIME256V1, "P-256", 43),
            (Nid::SECP384R1, "P-384", 64),
            (Nid::SECP521R1, "P-521", 88),
        ] {
            let ec = EcKey::generate(&EcGroup::from_curve_name(nid).unwrap()).unwrap();
            let pem = PKey::from_ec_key(ec)
                .unwrap()
                .private_key_to_pem_pkcs8()
                .unwrap();
            let k = &jwks_from_pem(&pem, None, None).unwrap()["keys"][0];
            assert_eq!(k["crv"], crv);
            assert_eq!(k["x"].as_str().unwrap().len(), len);
            assert!(k.get("d").is_none());
        }
        let ed = PKey::generate_ed25519().unwrap();
        let k = &jwks_from_pem(&ed.public_key_to_pem().unwrap(), None, Some("EdDSA")).unwrap()
            ["keys"][0];
        assert_eq!(
            (k["kty"].as_str(), k["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        let ed448 = PKey::generate_ed448().unwrap();
        let k = &jwks_from_pem(&ed448.private_key_to_pem_pkcs8().unwrap(), None, None).unwrap()
            ["keys"][0];
        assert_eq!(k["crv"], "Ed448");
        assert!(jwks_from_pem(b"garbage", None, None).is_err());
    }

    #[test]
    fn the_module_core_accepts_the_exported_sets() {
        use auth_jwt_core::sign::{encode, SigningKey};
        use auth_jwt_core::{verify, KeySet, Validation};
        let keys: Vec<(PKey<openssl::pkey::Private>, &str)> = vec![
            (
                PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
                "RS256",
            ),
            (
                PKey::from_ec_key(
                    EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap(),
                )
                .unwrap(),
                "ES384",
            ),
            (PKey::generate_ed25519().unwrap(), "EdDSA"),
        ];
        for (key, alg) in keys {
            let set = jwks_from_pem(
                &key.private_key_to_pem_pkcs8().unwrap(),
                Some("k"),
                Some(alg),
            )
            .unwrap();
            let (ks, warnings) = KeySet::parse(set.to_string().as_bytes()).unwrap();
            assert!(warnings.is_empty(), "{warnings:?}");
            let token = encode(
                alg,
                &json!({"kid": "k"}),
                &json!({"sub": "a"}),
                &SigningKey::Pkey(key),
            )
            .unwrap();
            verify(token.as_bytes(), &ks, &Validation { now: 0, leeway: 0 }).unwrap();
        }
    }
}

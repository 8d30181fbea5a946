//! Shared helpers for the integration tests: key generation with OpenSSL,
//! JWK construction and hand-made tokens.
#![allow(dead_code)]

use std::sync::OnceLock;

use auth_jwt_core::sign::{encode, encode_raw, SigningKey};
use auth_jwt_core::{verify, KeySet, Rejection, Status, Token, Validation};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{json, Value};

pub const NOW: i64 = 1_700_000_000;

pub fn at(now: i64) -> Validation {
    Validation { now, leeway: 0 }
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A private key plus its public half as PEM.
pub struct TestKey {
    pub private: PKey<Private>,
    pub public_pem: Vec<u8>,
}

impl TestKey {
    fn from_private(private: PKey<Private>) -> Self {
        let public_pem = private.public_key_to_pem().unwrap();
        TestKey {
            private,
            public_pem,
        }
    }

    pub fn signer(&self) -> SigningKey {
        SigningKey::Pkey(self.private.clone())
    }

    pub fn private_pem(&self) -> Vec<u8> {
        self.private.private_key_to_pem_pkcs8().unwrap()
    }

    /// Key set holding only this key's PEM public key.
    pub fn keyset(&self) -> KeySet {
        KeySet::parse(&self.public_pem).unwrap().0
    }

    /// Public JWK (no kid) of this key.
    pub fn jwk(&self) -> Value {
        let p = &self.private;
        if p.id() == Id::RSA {
            let rsa = p.rsa().unwrap();
            json!({"kty": "RSA", "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec())})
        } else if p.id() == Id::EC {
            let ec = p.ec_key().unwrap();
            let group = ec.group();
            let (crv, width) = match group.curve_name().unwrap() {
                Nid::X9_62_PRIME256V1 => ("P-256", 32),
                Nid::SECP384R1 => ("P-384", 48),
                Nid::SECP521R1 => ("P-521", 66),
                other => panic!("curve {other:?}"),
            };
            let mut x = BigNum::new().unwrap();
            let mut y = BigNum::new().unwrap();
            let mut ctx = BigNumContext::new().unwrap();
            ec.public_key()
                .affine_coordinates(group, &mut x, &mut y, &mut ctx)
                .unwrap();
            json!({
                "kty": "EC", "crv": crv,
                "x": b64(x.to_vec_padded(width).unwrap()),
                "y": b64(y.to_vec_padded(width).unwrap()),
            })
        } else {
            let crv = if p.id() == Id::ED25519 {
                "Ed25519"
            } else {
                "Ed448"
            };
            json!({"kty": "OKP", "crv": crv, "x": b64(p.raw_public_key().unwrap())})
        }
    }
}

pub fn gen_rsa(bits: u32) -> TestKey {
    TestKey::from_private(PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap())
}

pub fn gen_ec(nid: Nid) -> TestKey {
    let group = EcGroup::from_curve_name(nid).unwrap();
    TestKey::from_private(PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap())
}

pub fn gen_ed25519() -> TestKey {
    TestKey::from_private(PKey::generate_ed25519().unwrap())
}

pub fn gen_ed448() -> TestKey {
    TestKey::from_private(PKey::generate_ed448().unwrap())
}

/// A shared 2048-bit RSA key (generation is the slow part of the tests).
pub fn rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| gen_rsa(2048))
}

pub fn p256() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| gen_ec(Nid::X9_62_PRIME256V1))
}

pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-secret";

/// Key set with one oct JWK holding [`SECRET`].
pub fn hmac_keys() -> KeySet {
    let jwk = json!({"kty": "oct", "k": b64(SECRET)});
    KeySet::parse(jwk.to_string().as_bytes()).unwrap().0
}

/// HS256 token over the given raw header and payload JSON text.
pub fn hs256_raw(header: &str, payload: &str) -> String {
    encode_raw(
        "HS256",
        header.as_bytes(),
        payload.as_bytes(),
        &SigningKey::hmac(SECRET),
    )
    .unwrap()
}

/// HS256 token whose header is `{"alg":"HS256","typ":"JWT"}` plus `header`.
pub fn hs256(header: Value, claims: Value) -> String {
    encode("HS256", &header, &claims, &SigningKey::hmac(SECRET)).unwrap()
}

pub fn check(token: &str, keys: &KeySet, now: i64) -> Result<Token, Rejection> {
    verify(token.as_bytes(), keys, &at(now))
}

/// The status `verify` gives (Valid when it accepts).
pub fn status(token: impl AsRef<[u8]>, keys: &KeySet, v: &Validation) -> Status {
    match verify(token.as_ref(), keys, v) {
        Ok(_) => Status::Valid,
        Err(r) => {
            assert!(!r.detail.is_empty());
            r.status
        }
    }
}

/// Status of a token checked against the HMAC key set at [`NOW`].
pub fn hs_status(token: impl AsRef<[u8]>) -> Status {
    status(token, &hmac_keys(), &at(NOW))
}

//! Token minting, for tests and the `jwt-mint` tool.
//!
//! This is the mirror image of [`crate::verify`]: RS* use PKCS#1 v1.5, PS*
//! use PSS with MGF1 and a salt as long as the hash, ES* produce the JWS
//! fixed-width `R || S` form, EdDSA signs one-shot, HS* use HMAC.
//!
//! [`encrypt`] is the mirror image of [`crate::decrypt`]: it builds compact JWE tokens with
//! every key management and content encryption algorithm the module decrypts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::hash;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_json::{Map, Value};

use crate::alg::{Alg, Curve, Enc, Family, KeyMgmt, MgmtKind};
use crate::jwe;

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

/// A key to encrypt to.
pub enum EncryptionKey {
    /// The recipient's public key: RSA (RSA-OAEP, RSA-OAEP-256), EC P-256/P-384/P-521 or
    /// X25519 (ECDH-ES, ECDH-ES+A*KW).
    Public(PKey<Public>),
    /// A shared secret: the content key itself for `dir`, the wrapping key for A*KW and
    /// A*GCMKW.
    Secret(Vec<u8>),
}

impl EncryptionKey {
    /// Read a PEM public key, or the public half of a PEM private key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        if let Ok(public) = PKey::public_key_from_pem(pem) {
            return Ok(EncryptionKey::Public(public));
        }
        PKey::private_key_from_pem(pem)
            .and_then(|p| p.public_key_to_der())
            .and_then(|der| PKey::public_key_from_der(&der))
            .map(EncryptionKey::Public)
            .map_err(|e| format!("cannot read PEM key: {e}"))
    }

    /// Use raw bytes as a shared secret.
    pub fn secret(secret: &[u8]) -> Self {
        EncryptionKey::Secret(secret.to_vec())
    }
}

fn random(len: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; len];
    openssl::rand::rand_bytes(&mut out).map_err(|e| format!("random bytes: {e}"))?;
    Ok(out)
}

fn b64_value(bytes: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(bytes))
}

/// The public JWK of an ephemeral key, for the `epk` header.
fn epk_jwk(private: &PKey<Private>) -> Result<Value, String> {
    let e = |e: openssl::error::ErrorStack| format!("ephemeral key: {e}");
    let mut jwk = Map::new();
    if private.id() == Id::X25519 {
        jwk.insert("kty".to_owned(), Value::String("OKP".to_owned()));
        jwk.insert("crv".to_owned(), Value::String("X25519".to_owned()));
        jwk.insert(
            "x".to_owned(),
            b64_value(&private.raw_public_key().map_err(e)?),
        );
    } else {
        let ec = private.ec_key().map_err(e)?;
        let curve = ec
            .group()
            .curve_name()
            .and_then(Curve::from_nid)
            .ok_or_else(|| "unsupported curve".to_owned())?;
        let width = i32::try_from(curve.coord_len()).map_err(|_| "bad curve".to_owned())?;
        let (mut x, mut y) = (BigNum::new().map_err(e)?, BigNum::new().map_err(e)?);
        let mut ctx = BigNumContext::new().map_err(e)?;
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
            .map_err(e)?;
        jwk.insert("kty".to_owned(), Value::String("EC".to_owned()));
        jwk.insert("crv".to_owned(), Value::String(curve.name().to_owned()));
        jwk.insert(
            "x".to_owned(),
            b64_value(&x.to_vec_padded(width).map_err(e)?),
        );
        jwk.insert(
            "y".to_owned(),
            b64_value(&y.to_vec_padded(width).map_err(e)?),
        );
    }
    Ok(Value::Object(jwk))
}

/// A fresh key pair on the recipient's curve (EC or X25519).
fn ephemeral_for(recipient: &PKey<Public>) -> Result<PKey<Private>, String> {
    let e = |e: openssl::error::ErrorStack| format!("ephemeral key: {e}");
    if recipient.id() == Id::X25519 {
        return PKey::generate_x25519().map_err(e);
    }
    if recipient.id() != Id::EC {
        return Err("ECDH-ES needs an EC or X25519 public key".to_owned());
    }
    let nid = recipient
        .ec_key()
        .map_err(e)?
        .group()
        .curve_name()
        .filter(|nid| Curve::from_nid(*nid).is_some())
        .ok_or_else(|| "unsupported EC curve".to_owned())?;
    let group = EcGroup::from_curve_name(nid).map_err(e)?;
    EcKey::generate(&group)
        .and_then(PKey::from_ec_key)
        .map_err(e)
}

/// Build a compact JWE.
///
/// `alg` and `enc` must be supported JWE algorithms. The protected header starts as
/// `{"alg":alg,"enc":enc}`, plus `epk` for ECDH-ES and `iv` / `tag` for A*GCMKW; the members
/// of `header` (an object, or `null`) are then added and override those (tests use this to
/// forge headers; add `"cty":"JWT"` for a nested token). For ECDH-ES, `apu` and `apv` are
/// taken from the final header (base64url strings). `key` must fit `alg`: a public key for
/// RSA-OAEP* and ECDH-ES*, a secret of the `enc` key length for `dir`, of 16/24/32 bytes for
/// A128KW/A192KW/A256KW and A128GCMKW/A192GCMKW/A256GCMKW.
pub fn encrypt(
    alg: &str,
    enc: &str,
    header: &Value,
    plaintext: &[u8],
    key: &EncryptionKey,
) -> Result<String, String> {
    let mgmt = KeyMgmt::from_name(alg).ok_or_else(|| format!("unsupported JWE alg {alg:?}"))?;
    let content = Enc::from_name(enc).ok_or_else(|| format!("unsupported JWE enc {enc:?}"))?;
    let mismatch = || format!("the key does not fit alg {alg}");
    let e = |e: openssl::error::ErrorStack| format!("encryption failed: {e}");
    let mut h = Map::new();
    h.insert("alg".to_owned(), Value::String(mgmt.name().to_owned()));
    h.insert("enc".to_owned(), Value::String(content.name().to_owned()));

    // Key management, before the header is final.
    let mut cek = random(content.key_len())?;
    let mut encrypted_key = Vec::new();
    let mut ephemeral = None;
    match (mgmt.kind(), key) {
        (MgmtKind::Dir, EncryptionKey::Secret(k)) if k.len() == content.key_len() => {
            cek = k.clone();
        }
        (MgmtKind::Rsa, EncryptionKey::Public(p)) if p.id() == Id::RSA => {
            encrypted_key = jwe::rsa_oaep_encrypt(mgmt, p, &cek).map_err(e)?;
        }
        (MgmtKind::AesKw, EncryptionKey::Secret(k)) if Some(k.len()) == mgmt.kek_len() => {
            encrypted_key = jwe::aes_kw_wrap(k, &cek).ok_or_else(mismatch)?;
        }
        (MgmtKind::AesGcmKw, EncryptionKey::Secret(k)) if Some(k.len()) == mgmt.kek_len() => {
            let cipher = match k.len() {
                16 => openssl::symm::Cipher::aes_128_gcm(),
                24 => openssl::symm::Cipher::aes_192_gcm(),
                _ => openssl::symm::Cipher::aes_256_gcm(),
            };
            let iv = random(12)?;
            let mut tag = vec![0u8; 16];
            encrypted_key = openssl::symm::encrypt_aead(cipher, k, Some(&iv), b"", &cek, &mut tag)
                .map_err(e)?;
            h.insert("iv".to_owned(), b64_value(&iv));
            h.insert("tag".to_owned(), b64_value(&tag));
        }
        (MgmtKind::Ecdh, EncryptionKey::Public(p)) => {
            let eph = ephemeral_for(p)?;
            h.insert("epk".to_owned(), epk_jwk(&eph)?);
            ephemeral = Some((eph, p));
        }
        _ => return Err(mismatch()),
    }
    match header {
        Value::Object(extra) => {
            for (name, value) in extra {
                h.insert(name.clone(), value.clone());
            }
        }
        Value::Null => {}
        _ => return Err("header must be a JSON object".to_owned()),
    }
    if let Some((eph, recipient)) = ephemeral {
        let party = |name: &str| -> Result<Vec<u8>, String> {
            match h.get(name) {
                None => Ok(Vec::new()),
                Some(Value::String(s)) => URL_SAFE_NO_PAD
                    .decode(s)
                    .map_err(|_| format!("{name} is not base64url")),
                Some(_) => Err(format!("{name} is not a string")),
            }
        };
        let (apu, apv) = (party("apu")?, party("apv")?);
        let z = jwe::agree(&eph, recipient).ok_or_else(|| "key agreement failed".to_owned())?;
        match mgmt.kek_len() {
            None => cek = jwe::concat_kdf(&z, content.name(), &apu, &apv, content.key_len()),
            Some(kek_len) => {
                let kek = jwe::concat_kdf(&z, mgmt.name(), &apu, &apv, kek_len);
                encrypted_key = jwe::aes_kw_wrap(&kek, &cek).ok_or_else(mismatch)?;
            }
        }
    }

    let protected =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Value::Object(h)).map_err(|e| e.to_string())?);
    let iv = random(content.iv_len())?;
    let (ciphertext, tag) =
        jwe::content_encrypt(content, &cek, &iv, protected.as_bytes(), plaintext)?;
    Ok(format!(
        "{protected}.{}.{}.{}.{}",
        URL_SAFE_NO_PAD.encode(encrypted_key),
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

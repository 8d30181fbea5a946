//! JWK and JWKS key files (RFC 7517): the metadata of each key, its key material (one parser
//! per `kty`), then its uses (signature verification, JWE decryption) from `use`, `key_ops`,
//! `alg` and the private members.

mod members;
mod private;
mod public;

use serde_json::{Map, Value};

use super::check::{hmac_refusal, quote, refusal, KeyPosition, Refusal, RefusedKey};
use super::error::{KeyError, Mode};
use crate::alg::{Alg, Enc, KeyMgmt};
use crate::json;
use crate::key::{
    material_fits_jwe, next_key_id, secret_fits, Decryption, JweRestriction, Key, Material, Secret,
};
use members::{jwk_error, opt_str};
use private::{ec_private, rsa_private, x25519_private};
use public::{ec_public, oct, okp_public, rsa_public};

pub(crate) use public::ec_from_coordinates;

/// JWK `key_ops` values that allow JWE decryption.
const DECRYPT_OPS: [&str; 4] = ["decrypt", "unwrapKey", "deriveKey", "deriveBits"];

pub(super) fn parse_json(
    data: &[u8],
    warnings: &mut Vec<String>,
    refused: &mut Vec<RefusedKey>,
    mode: Mode,
) -> Result<Vec<Key>, KeyError> {
    let root = json::parse_object(data).map_err(|e| KeyError::Json(e.to_string()))?;
    match root.get("keys") {
        Some(Value::Array(entries)) => {
            if entries.is_empty() {
                return Err(KeyError::EmptyJwks);
            }
            // The keys kept, with their JWK numbers.
            let mut kept: Vec<(usize, Key)> = Vec::with_capacity(entries.len());
            // Whether the set holds an asymmetric signature key (refused or not).
            let mut asymmetric = false;
            for (i, entry) in entries.iter().enumerate() {
                let n = i.saturating_add(1);
                let obj = entry.as_object().ok_or(KeyError::JwkNotObject { n })?;
                if let Some(key) = parse_jwk(obj, n, warnings, mode)? {
                    asymmetric |= key.for_verify && !is_secret(&key);
                    if let Some(reason) = key_refusal(&key) {
                        refused.push(RefusedKey {
                            position: KeyPosition::Jwk(n),
                            reason,
                        });
                        continue;
                    }
                    kept.push((n, key));
                }
            }
            if asymmetric {
                refuse_secret_signature_keys(&mut kept, refused);
            }
            for (i, (n, key)) in kept.iter().enumerate() {
                let earlier = kept.get(..i).unwrap_or_default();
                if let Some(w) = duplicate_kid(key, *n, earlier) {
                    warnings.push(w);
                }
            }
            Ok(kept.into_iter().map(|(_, key)| key).collect())
        }
        Some(_) => Err(KeyError::KeysNotArray),
        None => {
            let key = parse_jwk(&root, 1, warnings, mode)?;
            match key {
                Some(key) => match key_refusal(&key) {
                    Some(reason) => {
                        refused.push(RefusedKey {
                            position: KeyPosition::Jwk(1),
                            reason,
                        });
                        Ok(Vec::new())
                    }
                    None => Ok(vec![key]),
                },
                None => Ok(Vec::new()),
            }
        }
    }
}

/// Why one key must not be used, if it must not: the RSA rules, then the HMAC length rule.
fn key_refusal(key: &Key) -> Option<Refusal> {
    refusal(&key.material).or_else(|| hmac_refusal(key))
}

/// Whether the key is a secret (`oct`) key.
fn is_secret(key: &Key) -> bool {
    matches!(key.material, Material::Hmac(_))
}

/// The mixed key set rule, for a JWKS that holds an asymmetric signature key: every secret
/// (`oct`) key of it that may verify signatures is refused ([`Refusal::MixedKeySet`]); `oct`
/// keys that only decrypt JWE tokens (`use` `enc`, a JWE `alg`, `key_ops` without `verify`)
/// stay, like the private keys a decryption key file holds next to them. `refused` is kept in
/// file order.
fn refuse_secret_signature_keys(kept: &mut Vec<(usize, Key)>, refused: &mut Vec<RefusedKey>) {
    let before = refused.len();
    kept.retain(|(n, key)| {
        if is_secret(key) && key.for_verify {
            refused.push(RefusedKey {
                position: KeyPosition::Jwk(*n),
                reason: Refusal::MixedKeySet,
            });
            false
        } else {
            true
        }
    });
    if refused.len() > before {
        refused.sort_by_key(|r| match r.position {
            KeyPosition::Jwk(n) | KeyPosition::Pem { n, .. } => n,
        });
    }
}

/// The warning for JWK #`n` when an earlier key of the file has the same `kid` and may serve
/// the same tokens (both verify signatures, or both decrypt). At verification every key
/// whose `kid` matches is tried, in file order, and the first that verifies (or decrypts)
/// wins; the duplicate is most likely a rotation left half done.
fn duplicate_kid(key: &Key, n: usize, earlier: &[(usize, Key)]) -> Option<String> {
    let kid = key.kid.as_deref()?;
    let overlaps = |k: &Key| {
        (k.for_verify && key.for_verify) || (k.decrypt.is_some() && key.decrypt.is_some())
    };
    let first = earlier
        .iter()
        .find(|(_, k)| k.kid.as_deref() == Some(kid) && overlaps(k))
        .map(|(m, _)| *m)?;
    Some(format!(
        "JWK #{n} has the same kid {} as JWK #{first}; tokens with this kid are checked \
         against both, in file order",
        quote(kid)
    ))
}

/// A parsed JWK `alg`.
#[derive(Clone, Copy)]
enum JwkAlg {
    Sig(Alg),
    Jwe(JweRestriction),
}

fn jwk_alg_from_name(name: &str, mode: Mode) -> Option<JwkAlg> {
    if let Some(a) = Alg::from_name(name) {
        return Some(JwkAlg::Sig(a));
    }
    if mode == Mode::Verify {
        return None;
    }
    KeyMgmt::from_name(name)
        .map(|m| JwkAlg::Jwe(JweRestriction::Mgmt(m)))
        .or_else(|| Enc::from_name(name).map(|e| JwkAlg::Jwe(JweRestriction::Enc(e))))
}

/// Whether `name` is a JWE `alg` or `enc` name (RFC 7518 §4.1, §5.1), supported or not.
fn is_jwe_alg_name(name: &str) -> bool {
    KeyMgmt::from_name(name).is_some()
        || Enc::from_name(name).is_some()
        || matches!(
            name,
            "RSA1_5"
                | "RSA-OAEP-384"
                | "RSA-OAEP-512"
                | "PBES2-HS256+A128KW"
                | "PBES2-HS384+A192KW"
                | "PBES2-HS512+A256KW"
        )
}

/// The metadata members of one JWK, checked.
struct Meta<'a> {
    kty: &'a str,
    key_use: Option<&'a str>,
    key_ops: Option<Vec<&'a str>>,
    kid: Option<String>,
    /// JWK `alg` naming a JWS algorithm.
    alg: Option<Alg>,
    /// JWK `alg` naming a JWE algorithm (only with [`Mode::Private`]).
    jwe_alg: Option<JweRestriction>,
    /// What `use` and `alg` allow for signatures (`key_ops` aside).
    sig_allowed: bool,
    /// What `use` and `alg` allow for decryption (`key_ops` aside).
    enc_allowed: bool,
    /// `key_ops` is absent or holds `verify`.
    ops_verify: bool,
    /// `key_ops` is absent or holds one of [`DECRYPT_OPS`].
    ops_decrypt: bool,
    /// The JWK has private members (`d`; an `oct` key is a secret anyway).
    has_private: bool,
}

/// Parse one JWK. `Ok(None)` means the key was skipped (with a warning).
fn parse_jwk(
    obj: &Map<String, Value>,
    n: usize,
    warnings: &mut Vec<String>,
    mode: Mode,
) -> Result<Option<Key>, KeyError> {
    let err = jwk_error(n);
    let Some(meta) = metadata(obj, n, warnings, mode)? else {
        return Ok(None);
    };
    let mut oct_secret = None;
    let mut hmac = None;
    let mut oct_len = None;
    let material = match meta.kty {
        "RSA" => rsa_public(obj, n, warnings)?,
        "EC" => ec_public(obj, n)?,
        "OKP" => okp_public(obj, n, mode)?,
        "oct" => {
            let (material, key, secret) = oct(obj, n)?;
            oct_len = Some(secret.len());
            hmac = Some(key);
            oct_secret = Some(secret);
            material
        }
        other => return Err(err(format!("unsupported kty {}", quote(other)))),
    };

    if let Some(a) = meta.alg {
        if !material.fits(a) {
            return Err(err(format!(
                "alg {} does not fit a {} key",
                a.name(),
                material.describe()
            )));
        }
    }
    if let Some(r) = meta.jwe_alg {
        if !material_fits_jwe(&material, r) {
            return Err(err(format!(
                "alg {} does not fit a {} key",
                r.name(),
                material.describe()
            )));
        }
    }
    let decrypt = decryption(obj, n, warnings, &meta, &material, oct_secret)?;
    if meta.has_private && decrypt.is_none() {
        warnings.push(format!(
            "JWK #{n} contains private key material; only its public part is used"
        ));
    }
    let Some(mut for_verify) = verifies(n, warnings, mode, &meta, &material, decrypt.is_some())
    else {
        return Ok(None);
    };
    // An oct key that may both decrypt and verify (no `use`, no `alg`) but is too short for
    // every HS algorithm keeps its JWE role only; a signature-only one is refused
    // ([`hmac_refusal`]).
    if let Some(len) = oct_len {
        if for_verify && decrypt.is_some() && len < Alg::Hs256.hmac_min_len() {
            warnings.push(format!(
                "JWK #{n}: oct key of {len} bytes is too short for any HS algorithm (at least \
                 {} bytes, RFC 7518, section 3.2) and only decrypts",
                Alg::Hs256.hmac_min_len()
            ));
            for_verify = false;
        }
    }
    Ok(Some(Key {
        id: next_key_id(),
        hmac,
        material,
        kid: meta.kid,
        alg: meta.alg,
        for_verify,
        decrypt,
    }))
}

/// `kty`, `use`, `key_ops`, `kid` and `alg` of a JWK. `Ok(None)` means the key is skipped
/// (with a warning): for signatures, a key for encryption (`use` `enc` or a JWE `alg`).
fn metadata<'a>(
    obj: &'a Map<String, Value>,
    n: usize,
    warnings: &mut Vec<String>,
    mode: Mode,
) -> Result<Option<Meta<'a>>, KeyError> {
    let err = jwk_error(n);
    let kty = match obj.get("kty") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(err("kty is not a string".to_owned())),
        None => return Err(err("missing kty".to_owned())),
    };
    let key_use = opt_str(obj, "use", n)?;
    if key_use == Some("enc") && mode == Mode::Verify {
        warnings.push(format!(
            "JWK #{n} has use \"enc\" and is ignored for signatures"
        ));
        return Ok(None);
    }
    let key_ops: Option<Vec<&str>> = match obj.get("key_ops") {
        None => None,
        Some(Value::Array(ops)) => Some(
            ops.iter()
                .map(|op| op.as_str())
                .collect::<Option<Vec<&str>>>()
                .ok_or_else(|| err("key_ops is not an array of strings".to_owned()))?,
        ),
        Some(_) => return Err(err("key_ops is not an array".to_owned())),
    };
    let kid = opt_str(obj, "kid", n)?.map(str::to_owned);
    // A JWE key (alg `RSA-OAEP`, `ECDH-ES`, ... without `"use":"enc"`, as some IdPs publish
    // next to their signing keys) is skipped for signatures like a `use` `enc` key, so that
    // one such key does not make a whole JWKS unusable.
    if mode == Mode::Verify {
        if let Some(name) = opt_str(obj, "alg", n)? {
            if is_jwe_alg_name(name) {
                warnings.push(format!(
                    "JWK #{n} has the JWE alg {} and is ignored for signatures",
                    quote(name)
                ));
                return Ok(None);
            }
        }
    }
    let jwk_alg = match opt_str(obj, "alg", n)? {
        None => None,
        Some("RSA1_5") => {
            return Err(err(
                "alg \"RSA1_5\" is not supported: RSAES-PKCS1-v1_5 key management invites \
                 padding oracle attacks (use RSA-OAEP-256)"
                    .to_owned(),
            ))
        }
        Some(name) => Some(
            jwk_alg_from_name(name, mode)
                .ok_or_else(|| err(format!("unsupported alg {}", quote(name))))?,
        ),
    };
    let alg = match jwk_alg {
        Some(JwkAlg::Sig(a)) => Some(a),
        _ => None,
    };
    let jwe_alg = match jwk_alg {
        Some(JwkAlg::Jwe(r)) => Some(r),
        _ => None,
    };
    let sig_allowed = matches!(key_use, None | Some("sig")) && jwe_alg.is_none();
    let enc_allowed =
        mode == Mode::Private && matches!(key_use, None | Some("enc")) && alg.is_none();
    let ops_verify = key_ops.as_ref().is_none_or(|ops| ops.contains(&"verify"));
    let ops_decrypt = key_ops
        .as_ref()
        .is_none_or(|ops| ops.iter().any(|op| DECRYPT_OPS.contains(op)));
    Ok(Some(Meta {
        kty,
        key_use,
        key_ops,
        kid,
        alg,
        jwe_alg,
        sig_allowed,
        enc_allowed,
        ops_verify,
        ops_decrypt,
        has_private: kty != "oct" && obj.contains_key("d"),
    }))
}

/// The decryption side of a JWK, when `use`, `alg` and `key_ops` allow one and the key has
/// what decrypting needs (an `oct` secret, or private members).
fn decryption(
    obj: &Map<String, Value>,
    n: usize,
    warnings: &mut Vec<String>,
    meta: &Meta<'_>,
    material: &Material,
    oct_secret: Option<Vec<u8>>,
) -> Result<Option<Decryption>, KeyError> {
    if !(meta.enc_allowed && meta.ops_decrypt) {
        return Ok(None);
    }
    let has_private = meta.has_private;
    let secret = match material {
        Material::Hmac(_) => oct_secret.map(Secret::Oct),
        Material::Rsa(public) if has_private => Some(rsa_private(obj, n, public)?),
        Material::Ec { key, curve } if has_private => Some(ec_private(obj, n, key, *curve)?),
        Material::X25519(public) if has_private => Some(x25519_private(obj, n, public)?),
        _ => None,
    };
    let Some(secret) = secret else {
        return Ok(None);
    };
    if let (Some(r), Secret::Oct(k)) = (meta.jwe_alg, &secret) {
        if !secret_fits(&secret, r) {
            return Err(jwk_error(n)(format!(
                "oct key of {} bytes does not fit alg {}",
                k.len(),
                r.name()
            )));
        }
    }
    if let Secret::Oct(k) = &secret {
        if meta.key_use == Some("enc") && ![16, 24, 32, 48, 64].contains(&k.len()) {
            warnings.push(format!(
                "JWK #{n}: oct key of {} bytes fits no JWE algorithm (16, 24, 32, 48 or 64 bytes)",
                k.len()
            ));
        }
    }
    Ok(Some(Decryption {
        secret,
        alg: meta.jwe_alg,
    }))
}

/// Whether the key may verify signatures. `None` (with a warning) when, loaded for JWE too, it
/// can neither verify nor decrypt and is ignored.
fn verifies(
    n: usize,
    warnings: &mut Vec<String>,
    mode: Mode,
    meta: &Meta<'_>,
    material: &Material,
    decrypts: bool,
) -> Option<bool> {
    match mode {
        Mode::Verify => {
            let use_ok = match meta.key_use {
                None | Some("sig") => true,
                Some(other) => {
                    warnings.push(format!(
                        "JWK #{n} has use {} and will never verify a signature",
                        quote(other)
                    ));
                    false
                }
            };
            let ops_ok = match &meta.key_ops {
                None => true,
                Some(ops) if ops.contains(&"verify") => true,
                Some(_) => {
                    warnings.push(format!(
                        "JWK #{n} has key_ops without \"verify\" and will never verify a signature"
                    ));
                    false
                }
            };
            Some(use_ok && ops_ok)
        }
        Mode::Private => {
            let for_verify =
                meta.sig_allowed && meta.ops_verify && !matches!(material, Material::X25519(_));
            if !for_verify && !decrypts {
                let why = match meta.key_use {
                    Some(other) if other != "sig" && other != "enc" => {
                        format!("has use {}", quote(other))
                    }
                    _ if !meta.ops_verify && !meta.ops_decrypt => {
                        "has key_ops allowing neither \"verify\" nor \"decrypt\"/\"unwrapKey\""
                            .to_owned()
                    }
                    _ if meta.enc_allowed && !meta.has_private && meta.kty != "oct" => {
                        "is a public key meant for encryption (decryption needs the private key)"
                            .to_owned()
                    }
                    _ => "can neither verify a signature nor decrypt a token".to_owned(),
                };
                warnings.push(format!("JWK #{n} {why} and is ignored"));
                return None;
            }
            Some(for_verify)
        }
    }
}

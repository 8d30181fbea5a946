//! PEM key files: `PUBLIC KEY`, `RSA PUBLIC KEY` and `CERTIFICATE` blocks, and for JWE
//! decryption `PRIVATE KEY`, `RSA PRIVATE KEY` and `EC PRIVATE KEY` blocks.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use openssl::ec::EcKey;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::x509::X509;

use super::check::{
    check_rsa, ed25519_small_order, refusal, rsa_short_warning, rsa_warns, KeyPosition, RefusedKey,
    SMALL_ORDER,
};
use super::error::{KeyError, Mode};
use crate::alg::Curve;
use crate::key::{next_key_id, Decryption, Key, Material, Secret};

/// Standard base64 for PEM bodies.
const B64_PEM: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Position of `needle` in `hay`.
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One `-----BEGIN label----- ... -----END label-----` block.
struct PemBlock<'a> {
    /// 1-based position in the file.
    n: usize,
    label: &'a str,
    body: &'a [u8],
}

/// Split a file into PEM blocks; text outside blocks is ignored.
fn pem_blocks(data: &[u8]) -> Result<Vec<PemBlock<'_>>, KeyError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const DASHES: &[u8] = b"-----";
    let mut blocks = Vec::new();
    let mut pos = 0usize;
    loop {
        let rest = data.get(pos..).unwrap_or_default();
        let Some(off) = find(rest, BEGIN) else { break };
        let n = blocks.len().saturating_add(1);
        let label_start = pos.saturating_add(off).saturating_add(BEGIN.len());
        let after_begin = data.get(label_start..).unwrap_or_default();
        let bad_begin = || KeyError::PemBadBegin { n };
        let label_len = find(after_begin, DASHES).ok_or_else(bad_begin)?;
        let label = after_begin
            .get(..label_len)
            .and_then(|l| std::str::from_utf8(l).ok())
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
            .ok_or_else(bad_begin)?;
        let body_start = label_start
            .saturating_add(label_len)
            .saturating_add(DASHES.len());
        let end_marker = format!("-----END {label}-----");
        let body_rest = data.get(body_start..).unwrap_or_default();
        let body_len =
            find(body_rest, end_marker.as_bytes()).ok_or_else(|| KeyError::PemNoEnd {
                n,
                label: label.to_owned(),
            })?;
        let body = body_rest.get(..body_len).unwrap_or_default();
        pos = body_start
            .saturating_add(body_len)
            .saturating_add(end_marker.len());
        blocks.push(PemBlock { n, label, body });
    }
    Ok(blocks)
}

pub(super) fn parse_pem(
    data: &[u8],
    warnings: &mut Vec<String>,
    refused: &mut Vec<RefusedKey>,
    mode: Mode,
) -> Result<Vec<Key>, KeyError> {
    let blocks = pem_blocks(data)?;
    if blocks.is_empty() {
        return Err(KeyError::no_key_found(mode));
    }
    // A private key anywhere in the file is the most useful thing to report
    // (e.g. `openssl ecparam -genkey` output starts with EC PARAMETERS).
    if mode == Mode::Verify {
        if let Some(private) = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")) {
            return Err(KeyError::PrivateKey {
                label: private.label.to_owned(),
            });
        }
    } else if let Some(encrypted) = blocks.iter().find(|b| b.label == "ENCRYPTED PRIVATE KEY") {
        return Err(KeyError::EncryptedPrivateKey { n: encrypted.n });
    }
    let mut keys = Vec::with_capacity(blocks.len());
    for PemBlock { n, label, body } in blocks {
        if mode == Mode::Private && label == "EC PARAMETERS" {
            // `openssl ecparam -genkey` writes these before the EC PRIVATE KEY.
            continue;
        }
        let der = pem_body(body).ok_or_else(|| KeyError::PemBase64 {
            n,
            label: label.to_owned(),
        })?;
        let err = |problem: String| KeyError::Pem {
            n,
            label: label.to_owned(),
            problem,
        };
        if mode == Mode::Private {
            let private = match label {
                "PRIVATE KEY" => Some(
                    PKey::private_key_from_der(&der)
                        .map_err(|e| err(format!("cannot parse private key: {e}")))?,
                ),
                "RSA PRIVATE KEY" => Some(
                    Rsa::private_key_from_der(&der)
                        .and_then(PKey::from_rsa)
                        .map_err(|e| err(format!("cannot parse RSA private key: {e}")))?,
                ),
                "EC PRIVATE KEY" => Some(
                    EcKey::private_key_from_der(&der)
                        .and_then(PKey::from_ec_key)
                        .map_err(|e| err(format!("cannot parse EC private key: {e}")))?,
                ),
                _ => None,
            };
            if let Some(private) = private {
                let (material, secret) = decryption_from_pkey(private).map_err(err)?;
                if let Some(reason) = refusal(&material) {
                    refused.push(RefusedKey {
                        position: KeyPosition::Pem {
                            n,
                            label: label.to_owned(),
                        },
                        reason,
                    });
                    continue;
                }
                if let Material::Rsa(p) = &material {
                    if rsa_warns(p.bits()) {
                        warnings.push(format!("PEM block #{n}: {}", rsa_short_warning(p.bits())));
                    }
                }
                keys.push(Key {
                    id: next_key_id(),
                    hmac: None,
                    material,
                    kid: None,
                    alg: None,
                    // A PEM private key is for decryption only.
                    for_verify: false,
                    decrypt: Some(Decryption { secret, alg: None }),
                });
                continue;
            }
        }
        let pkey = match label {
            "PUBLIC KEY" => PKey::public_key_from_der(&der)
                .map_err(|e| err(format!("cannot parse public key: {e}")))?,
            "RSA PUBLIC KEY" => Rsa::public_key_from_der_pkcs1(&der)
                .and_then(PKey::from_rsa)
                .map_err(|e| err(format!("cannot parse RSA public key: {e}")))?,
            "CERTIFICATE" => X509::from_der(&der)
                .and_then(|cert| cert.public_key())
                .map_err(|e| err(format!("cannot parse certificate: {e}")))?,
            other => {
                let expected = match mode {
                    Mode::Verify => "PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE",
                    Mode::Private => {
                        "PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE, PRIVATE KEY, \
                                      RSA PRIVATE KEY or EC PRIVATE KEY"
                    }
                };
                return Err(KeyError::PemType {
                    n,
                    label: other.to_owned(),
                    expected,
                });
            }
        };
        let material = material_from_pkey(pkey).map_err(err)?;
        if let Some(reason) = refusal(&material) {
            refused.push(RefusedKey {
                position: KeyPosition::Pem {
                    n,
                    label: label.to_owned(),
                },
                reason,
            });
            continue;
        }
        if let Material::Rsa(p) = &material {
            if rsa_warns(p.bits()) {
                warnings.push(format!("PEM block #{n}: {}", rsa_short_warning(p.bits())));
            }
        }
        keys.push(Key {
            id: next_key_id(),
            hmac: None,
            material,
            kid: None,
            alg: None,
            for_verify: true,
            decrypt: None,
        });
    }
    Ok(keys)
}

/// Decode a PEM body: RFC 1421 header lines (with ':') are skipped, all
/// whitespace ignored.
fn pem_body(body: &[u8]) -> Option<Vec<u8>> {
    let mut b64 = Vec::with_capacity(body.len());
    for line in body.split(|&b| b == b'\n') {
        if line.contains(&b':') {
            continue;
        }
        b64.extend(line.iter().copied().filter(|b| !b.is_ascii_whitespace()));
    }
    if b64.is_empty() {
        return None;
    }
    B64_PEM.decode(&b64).ok()
}

fn material_from_pkey(pkey: PKey<Public>) -> Result<Material, String> {
    let id = pkey.id();
    if id == Id::RSA {
        let rsa = pkey.rsa().map_err(|e| format!("invalid RSA key: {e}"))?;
        check_rsa(rsa.n(), rsa.e())?;
        Ok(Material::Rsa(pkey))
    } else if id == Id::EC {
        let key = pkey.ec_key().map_err(|e| format!("invalid EC key: {e}"))?;
        let curve = key
            .group()
            .curve_name()
            .and_then(Curve::from_nid)
            .ok_or_else(|| "unsupported EC curve (expected P-256, P-384 or P-521)".to_owned())?;
        key.check_key()
            .map_err(|_| "EC key has invalid point".to_owned())?;
        Ok(Material::Ec { key, curve })
    } else if id == Id::ED25519 || id == Id::ED448 {
        if id == Id::ED25519 {
            let raw = pkey
                .raw_public_key()
                .map_err(|e| format!("invalid Ed25519 key: {e}"))?;
            if ed25519_small_order(&raw) {
                return Err(SMALL_ORDER.to_owned());
            }
        }
        Ok(Material::Okp(pkey))
    } else if id == Id::RSA_PSS {
        Err("RSA-PSS restricted keys are not supported; give a plain RSA public key".to_owned())
    } else {
        Err(
            "unsupported public key type (expected RSA, EC P-256/P-384/P-521, Ed25519 or Ed448)"
                .to_owned(),
        )
    }
}

/// Public material and decryption secret of a PEM private key.
fn decryption_from_pkey(private: PKey<Private>) -> Result<(Material, Secret), String> {
    let id = private.id();
    if id == Id::RSA {
        let rsa = private.rsa().map_err(|e| format!("invalid RSA key: {e}"))?;
        check_rsa(rsa.n(), rsa.e())?;
        if !rsa.check_key().unwrap_or(false) {
            return Err("RSA private key is inconsistent (check_key failed)".to_owned());
        }
        let public = rsa
            .n()
            .to_owned()
            .and_then(|n| Ok((n, rsa.e().to_owned()?)))
            .and_then(|(n, e)| Rsa::from_public_components(n, e))
            .and_then(PKey::from_rsa)
            .map_err(|e| format!("invalid RSA key: {e}"))?;
        Ok((Material::Rsa(public), Secret::Rsa(private)))
    } else if id == Id::EC {
        let ec = private
            .ec_key()
            .map_err(|e| format!("invalid EC key: {e}"))?;
        let curve = ec
            .group()
            .curve_name()
            .and_then(Curve::from_nid)
            .ok_or_else(|| "unsupported EC curve (expected P-256, P-384 or P-521)".to_owned())?;
        ec.check_key()
            .map_err(|_| "EC private key is inconsistent (check_key failed)".to_owned())?;
        let public = EcKey::from_public_key(ec.group(), ec.public_key())
            .map_err(|e| format!("invalid EC key: {e}"))?;
        Ok((
            Material::Ec { key: public, curve },
            Secret::Ec {
                key: private,
                curve,
            },
        ))
    } else if id == Id::X25519 {
        let public = private
            .raw_public_key()
            .and_then(|raw| PKey::public_key_from_raw_bytes(&raw, Id::X25519))
            .map_err(|e| format!("invalid X25519 key: {e}"))?;
        Ok((Material::X25519(public), Secret::X25519(private)))
    } else if id == Id::ED25519 || id == Id::ED448 {
        Err(
            "an EdDSA private key cannot decrypt; give its public key for signatures \
             (openssl pkey -pubout)"
                .to_owned(),
        )
    } else {
        Err(
            "unsupported private key type (expected RSA, EC P-256/P-384/P-521 or X25519)"
                .to_owned(),
        )
    }
}

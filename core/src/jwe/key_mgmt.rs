//! Recovering the content encryption key (RFC 7518 §4): `dir`, RSA-OAEP, AES key wrap,
//! AES-GCM key wrap and ECDH-ES with the Concat KDF; and the matching wrapping primitives for
//! [`crate::sign`].

use openssl::aes::{unwrap_key, wrap_key, AesKey};
use openssl::derive::Deriver;
use openssl::encrypt::Decrypter;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPrivate, HasPublic, PKeyRef};
use openssl::rsa::Padding;
use openssl::symm::{self, Cipher};

use super::header::Epk;
use crate::alg::{Enc, KeyMgmt, MgmtKind};
use crate::key::{Decryption, JweRestriction, Secret};

pub(super) const UNWRAP_FAILED: &str = "content encryption key could not be unwrapped (wrong key?)";
pub(super) const AGREEMENT_FAILED: &str = "ECDH key agreement failed";

/// Everything but the key needed to recover the content encryption key.
pub(super) struct KeyContext<'a> {
    pub(super) alg: KeyMgmt,
    pub(super) enc: Enc,
    pub(super) encrypted_key: &'a [u8],
    pub(super) epk: Option<Epk>,
    pub(super) apu: Vec<u8>,
    pub(super) apv: Vec<u8>,
    /// A*GCMKW header `iv` and `tag`.
    pub(super) kw_iv: Vec<u8>,
    pub(super) kw_tag: Vec<u8>,
}

pub(super) fn fits(d: &Decryption, ctx: &KeyContext<'_>) -> bool {
    let restriction_ok = match d.alg {
        None => true,
        Some(JweRestriction::Mgmt(m)) => m == ctx.alg,
        Some(JweRestriction::Enc(e)) => ctx.alg == KeyMgmt::Dir && e == ctx.enc,
    };
    restriction_ok
        && match (ctx.alg.kind(), &d.secret) {
            (MgmtKind::Dir, Secret::Oct(k)) => k.len() == ctx.enc.key_len(),
            (MgmtKind::Rsa, Secret::Rsa(_)) => true,
            (MgmtKind::AesKw | MgmtKind::AesGcmKw, Secret::Oct(k)) => {
                Some(k.len()) == ctx.alg.kek_len()
            }
            (MgmtKind::Ecdh, Secret::Ec { curve, .. }) => {
                matches!(&ctx.epk, Some(Epk::Ec { curve: c, .. }) if c == curve)
            }
            (MgmtKind::Ecdh, Secret::X25519(_)) => matches!(ctx.epk, Some(Epk::X25519(_))),
            _ => false,
        }
}

/// Recover the content encryption key with one key; `Err` is the log detail.
pub(super) fn unwrap_cek(secret: &Secret, ctx: &KeyContext<'_>) -> Result<Vec<u8>, &'static str> {
    let cek_len = ctx.enc.key_len();
    let cek = match (ctx.alg.kind(), secret) {
        (MgmtKind::Dir, Secret::Oct(k)) => Some(k.clone()),
        (MgmtKind::Rsa, Secret::Rsa(pkey)) => {
            rsa_oaep_decrypt(pkey, ctx.alg.oaep_digest(), ctx.encrypted_key).ok()
        }
        (MgmtKind::AesKw, Secret::Oct(kek)) => aes_kw_unwrap(kek, ctx.encrypted_key, cek_len),
        (MgmtKind::AesGcmKw, Secret::Oct(kek)) => gcm_cipher(kek.len()).and_then(|c| {
            symm::decrypt_aead(
                c,
                kek,
                Some(&ctx.kw_iv),
                b"",
                ctx.encrypted_key,
                &ctx.kw_tag,
            )
            .ok()
        }),
        (MgmtKind::Ecdh, secret) => {
            let z = match (secret, &ctx.epk) {
                (Secret::Ec { key, .. }, Some(Epk::Ec { key: peer, .. })) => agree(key, peer),
                (Secret::X25519(key), Some(Epk::X25519(peer))) => agree(key, peer),
                _ => None,
            }
            .ok_or(AGREEMENT_FAILED)?;
            match ctx.alg.kek_len() {
                None => Some(concat_kdf(&z, ctx.enc.name(), &ctx.apu, &ctx.apv, cek_len)),
                Some(kek_len) => {
                    let kek = concat_kdf(&z, ctx.alg.name(), &ctx.apu, &ctx.apv, kek_len);
                    aes_kw_unwrap(&kek, ctx.encrypted_key, cek_len)
                }
            }
        }
        _ => None,
    };
    cek.filter(|k| k.len() == cek_len).ok_or(UNWRAP_FAILED)
}

fn gcm_cipher(key_len: usize) -> Option<Cipher> {
    match key_len {
        16 => Some(Cipher::aes_128_gcm()),
        24 => Some(Cipher::aes_192_gcm()),
        32 => Some(Cipher::aes_256_gcm()),
        _ => None,
    }
}

fn rsa_oaep_decrypt<T: HasPrivate>(
    pkey: &PKeyRef<T>,
    md: MessageDigest,
    wrapped: &[u8],
) -> Result<Vec<u8>, ErrorStack> {
    let mut d = Decrypter::new(pkey)?;
    d.set_rsa_padding(Padding::PKCS1_OAEP)?;
    d.set_rsa_oaep_md(md)?;
    d.set_rsa_mgf1_md(md)?;
    let mut out = vec![0u8; d.decrypt_len(wrapped)?];
    let n = d.decrypt(wrapped, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// RSA-OAEP (SHA-1) or RSA-OAEP-256 encryption of a content key, for [`crate::sign`].
pub(crate) fn rsa_oaep_encrypt<T: HasPublic>(
    alg: KeyMgmt,
    pkey: &PKeyRef<T>,
    cek: &[u8],
) -> Result<Vec<u8>, ErrorStack> {
    let md = alg.oaep_digest();
    let mut e = openssl::encrypt::Encrypter::new(pkey)?;
    e.set_rsa_padding(Padding::PKCS1_OAEP)?;
    e.set_rsa_oaep_md(md)?;
    e.set_rsa_mgf1_md(md)?;
    let mut out = vec![0u8; e.encrypt_len(cek)?];
    let n = e.encrypt(cek, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// RFC 3394 unwrap (default IV) of a key of exactly `cek_len` bytes.
pub(super) fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8], cek_len: usize) -> Option<Vec<u8>> {
    if !matches!(kek.len(), 16 | 24 | 32) || wrapped.len() != cek_len.checked_add(8)? {
        return None;
    }
    let key = AesKey::new_decrypt(kek).ok()?;
    let mut out = vec![0u8; cek_len];
    let n = unwrap_key(&key, None, &mut out, wrapped).ok()?;
    (n == cek_len).then_some(out)
}

/// RFC 3394 wrap (default IV), for [`crate::sign`].
pub(crate) fn aes_kw_wrap(kek: &[u8], cek: &[u8]) -> Option<Vec<u8>> {
    if !matches!(kek.len(), 16 | 24 | 32) || cek.len() < 16 || cek.len() % 8 != 0 {
        return None;
    }
    let key = AesKey::new_encrypt(kek).ok()?;
    let mut out = vec![0u8; cek.len().checked_add(8)?];
    let n = wrap_key(&key, None, &mut out, cek).ok()?;
    (n == out.len()).then_some(out)
}

/// ECDH / X25519 shared secret `Z`; `None` on failure or an all-zero result.
pub(crate) fn agree<T: HasPrivate, U: HasPublic>(
    private: &PKeyRef<T>,
    peer: &PKeyRef<U>,
) -> Option<Vec<u8>> {
    let mut deriver = Deriver::new(private).ok()?;
    deriver.set_peer(peer).ok()?;
    let z = deriver.derive_to_vec().ok()?;
    // X25519 with a small-order point yields zeros (RFC 7748 §6.1).
    (!z.is_empty() && z.iter().any(|&b| b != 0)).then_some(z)
}

/// Concat KDF of NIST SP 800-56A with SHA-256, as RFC 7518 §4.6.2 uses it.
pub(crate) fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    key_len: usize,
) -> Vec<u8> {
    let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    let mut out = Vec::with_capacity(key_len.saturating_add(32));
    let mut counter: u32 = 1;
    while out.len() < key_len {
        let mut h = openssl::sha::Sha256::new();
        h.update(&counter.to_be_bytes());
        h.update(z);
        h.update(&len32(algorithm_id.len()));
        h.update(algorithm_id.as_bytes());
        h.update(&len32(apu.len()));
        h.update(apu);
        h.update(&len32(apv.len()));
        h.update(apv);
        // SuppPubInfo: the key length in bits; SuppPrivInfo: empty.
        h.update(&len32(key_len.saturating_mul(8)));
        out.extend_from_slice(&h.finish());
        counter = counter.wrapping_add(1);
    }
    out.truncate(key_len);
    out
}

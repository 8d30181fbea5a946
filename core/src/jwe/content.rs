//! Content decryption and encryption (RFC 7518 §5): AES-GCM and AES-CBC with HMAC-SHA-2.

use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm;

use crate::alg::Enc;

/// Why content decryption failed.
pub(crate) enum ContentError {
    /// The authentication tag does not verify.
    Tag,
    /// CBC padding is invalid (only checked after the tag verified).
    Padding,
}

/// Authenticated decryption of the content. The IV and tag lengths must already be checked.
pub(crate) fn content_decrypt(
    enc: Enc,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, ContentError> {
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() || tag.len() != enc.tag_len() {
        return Err(ContentError::Tag);
    }
    if enc.is_gcm() {
        return symm::decrypt_aead(enc.cipher(), cek, Some(iv), aad, ciphertext, tag)
            .map_err(|_| ContentError::Tag);
    }
    let (mac_key, aes_key) = cek
        .split_at_checked(enc.mac_key_len())
        .ok_or(ContentError::Tag)?;
    let mac = cbc_hs_tag(enc, mac_key, aad, iv, ciphertext).map_err(|_| ContentError::Tag)?;
    // Constant-time comparison, before decrypting anything.
    if mac.len() != tag.len() || !openssl::memcmp::eq(&mac, tag) {
        return Err(ContentError::Tag);
    }
    symm::decrypt(enc.cipher(), aes_key, Some(iv), ciphertext).map_err(|_| ContentError::Padding)
}

/// Authenticated encryption of the content: `(ciphertext, tag)`.
pub(crate) fn content_encrypt(
    enc: Enc,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let e = |e: ErrorStack| format!("content encryption failed: {e}");
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() {
        return Err(format!("{} needs a {}-byte key", enc.name(), enc.key_len()));
    }
    if enc.is_gcm() {
        let mut tag = vec![0u8; enc.tag_len()];
        let ciphertext =
            symm::encrypt_aead(enc.cipher(), cek, Some(iv), aad, plaintext, &mut tag).map_err(e)?;
        return Ok((ciphertext, tag));
    }
    let (mac_key, aes_key) = cek
        .split_at_checked(enc.mac_key_len())
        .ok_or_else(|| "bad key length".to_owned())?;
    let ciphertext = symm::encrypt(enc.cipher(), aes_key, Some(iv), plaintext).map_err(e)?;
    let tag = cbc_hs_tag(enc, mac_key, aad, iv, &ciphertext).map_err(e)?;
    Ok((ciphertext, tag))
}

/// RFC 7518 §5.2.2.1: the first half of HMAC(MAC_KEY, A || IV || E || AL).
fn cbc_hs_tag(
    enc: Enc,
    mac_key: &[u8],
    aad: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, ErrorStack> {
    let pkey = PKey::hmac(mac_key)?;
    let mut signer = Signer::new(enc.hmac_digest(), &pkey)?;
    signer.update(aad)?;
    signer.update(iv)?;
    signer.update(ciphertext)?;
    // AL: the AAD length in bits, 64-bit big-endian.
    let al = u64::try_from(aad.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(8);
    signer.update(&al.to_be_bytes())?;
    let mut mac = signer.sign_to_vec()?;
    mac.truncate(enc.tag_len());
    Ok(mac)
}

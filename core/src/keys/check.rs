//! Checks and message helpers shared by the JWK and PEM parsers.

use openssl::bn::BigNumRef;

/// RSA moduli shorter than this draw a warning.
pub(super) const RSA_WARN_BITS: u32 = 2048;
/// OpenSSL refuses to verify with larger moduli (OPENSSL_RSA_MAX_MODULUS_BITS).
const RSA_MAX_BITS: u32 = 16384;

/// Quote operator-supplied text for a message (escaped, bounded).
pub(super) fn quote(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let short: String = s.chars().take(MAX).collect();
        format!("{short:?}...")
    }
}

pub(super) fn rsa_short_warning(bits: u32) -> String {
    format!("RSA key of {bits} bits is shorter than {RSA_WARN_BITS}")
}

/// Sanity checks on RSA public components.
pub(super) fn check_rsa(modulus: &BigNumRef, exponent: &BigNumRef) -> Result<(), String> {
    let bits = u32::try_from(modulus.num_bits()).unwrap_or(0);
    if bits == 0 || !modulus.is_bit_set(0) {
        return Err("RSA modulus is invalid".to_owned());
    }
    if bits > RSA_MAX_BITS {
        return Err(format!(
            "RSA key of {bits} bits is longer than the {RSA_MAX_BITS} OpenSSL can verify"
        ));
    }
    if exponent.num_bits() < 2 || !exponent.is_bit_set(0) {
        return Err("RSA public exponent is invalid".to_owned());
    }
    Ok(())
}

pub(super) const SMALL_ORDER: &str =
    "Ed25519 key is a point of small order (such a key accepts forged signatures)";

/// Whether an encoded Ed25519 public key is one of the points of small order (orders 1, 2, 4
/// and 8, canonical and non-canonical encodings, either sign). OpenSSL verifies signatures
/// against such a key, and for the identity point it accepts a forged signature for any
/// message: such keys are refused when the key file is loaded.
pub(super) fn ed25519_small_order(x: &[u8]) -> bool {
    pub(super) const SMALL_ORDER_POINTS: [[u8; 32]; 7] = [
        // 0 (order 4)
        [0; 32],
        // 1 (order 1)
        [
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0,
        ],
        // order 8
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        // order 8
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        // p - 1 (order 2)
        [
            0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        // p (= 0, order 4, non-canonical)
        [
            0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        // p + 1 (= 1, order 1, non-canonical)
        [
            0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
    ];
    let Ok(x) = <&[u8; 32]>::try_from(x) else {
        return false;
    };
    // Compare with the sign bit (top bit of the last byte) cleared, as libsodium does.
    SMALL_ORDER_POINTS
        .iter()
        .any(|p| x[..31] == p[..31] && (x[31] & 0x7f) == p[31])
}

//! What a key is: the OpenSSL objects and JWK metadata of one verification or decryption key,
//! and which algorithms it can serve. Parsing key files into a set is [`crate::keys`].

mod hmac;

use openssl::ec::EcKey;
use openssl::pkey::{Id, PKey, Private, Public};

use crate::alg::{Alg, Curve, Enc, Family, KeyMgmt, MgmtKind};
pub(crate) use hmac::HmacKey;

/// Public key material, ready for OpenSSL.
///
/// Every key has one, decryption-only keys too (their public half, used for the
/// fingerprint and the description).
#[derive(Clone)]
pub(crate) enum Material {
    /// RSA public key (RS* and PS*).
    Rsa(PKey<Public>),
    /// EC public key on a supported NIST curve (validated with `check_key`).
    Ec { key: EcKey<Public>, curve: Curve },
    /// Ed25519 or Ed448 public key.
    Okp(PKey<Public>),
    /// HMAC secret (only ever from a JWK of kty `oct`).
    Hmac(PKey<Private>),
    /// X25519 public key (ECDH-ES only, never verifies a signature).
    X25519(PKey<Public>),
}

impl Material {
    pub(crate) fn fits(&self, alg: Alg) -> bool {
        match (alg.family(), self) {
            (Family::Rsa | Family::RsaPss, Material::Rsa(_)) => true,
            (Family::Ec(want), Material::Ec { curve, .. }) => want == *curve,
            (Family::Ed, Material::Okp(_)) => true,
            (Family::Hmac, Material::Hmac(_)) => true,
            _ => false,
        }
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Material::Rsa(_) => "RSA",
            Material::Ec { curve, .. } => match curve {
                Curve::P256 => "EC P-256",
                Curve::P384 => "EC P-384",
                Curve::P521 => "EC P-521",
            },
            Material::Okp(p) if p.id() == Id::ED448 => "Ed448",
            Material::Okp(_) => "Ed25519",
            Material::Hmac(_) => "oct (HMAC)",
            Material::X25519(_) => "X25519",
        }
    }
}

/// Private key material for JWE decryption.
#[derive(Clone)]
pub(crate) enum Secret {
    /// RSA private key (RSA-OAEP, RSA-OAEP-256).
    Rsa(PKey<Private>),
    /// EC private key (ECDH-ES*).
    Ec { key: PKey<Private>, curve: Curve },
    /// X25519 private key (ECDH-ES*).
    X25519(PKey<Private>),
    /// Symmetric key (`dir`, A*KW, A*GCMKW).
    Oct(Vec<u8>),
}

/// A JWK `alg` restricting a decryption key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JweRestriction {
    /// The key management algorithm.
    Mgmt(KeyMgmt),
    /// A content encryption name on a `dir` key (as the JOSE cookbook writes them).
    Enc(Enc),
}

impl JweRestriction {
    /// The JWE `alg` or `enc` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            JweRestriction::Mgmt(m) => m.name(),
            JweRestriction::Enc(e) => e.name(),
        }
    }
}

/// The decryption side of a key.
#[derive(Clone)]
pub(crate) struct Decryption {
    pub(crate) secret: Secret,
    /// JWK `alg` restriction, if it named a JWE algorithm.
    pub(crate) alg: Option<JweRestriction>,
}

/// Whether a decryption key of this kind may serve the JWK `alg` restriction.
pub(crate) fn secret_fits(secret: &Secret, r: JweRestriction) -> bool {
    match (r, secret) {
        (JweRestriction::Enc(e), Secret::Oct(k)) => k.len() == e.key_len(),
        (JweRestriction::Enc(_), _) => false,
        (JweRestriction::Mgmt(m), secret) => match (m.kind(), secret) {
            (MgmtKind::Dir, Secret::Oct(_)) => true,
            (MgmtKind::Rsa, Secret::Rsa(_)) => true,
            (MgmtKind::AesKw | MgmtKind::AesGcmKw, Secret::Oct(k)) => Some(k.len()) == m.kek_len(),
            (MgmtKind::Ecdh, Secret::Ec { .. } | Secret::X25519(_)) => true,
            _ => false,
        },
    }
}

/// Whether the public key type can take part in the JWE algorithm (before private members
/// are looked at), for the "alg does not fit" check.
pub(crate) fn material_fits_jwe(material: &Material, r: JweRestriction) -> bool {
    match (r, material) {
        (JweRestriction::Enc(_), Material::Hmac(_)) => true,
        (JweRestriction::Enc(_), _) => false,
        (JweRestriction::Mgmt(m), material) => matches!(
            (m.kind(), material),
            (
                MgmtKind::Dir | MgmtKind::AesKw | MgmtKind::AesGcmKw,
                Material::Hmac(_)
            ) | (MgmtKind::Rsa, Material::Rsa(_))
                | (MgmtKind::Ecdh, Material::Ec { .. } | Material::X25519(_))
        ),
    }
}

/// One verification key with its JWK metadata. A clone shares the OpenSSL key objects (and
/// the `id`, so per-thread contexts are shared too).
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) material: Material,
    /// JWK `kid` (PEM keys have none).
    pub(crate) kid: Option<String>,
    /// JWK `alg` restriction.
    pub(crate) alg: Option<Alg>,
    /// `use` absent or "sig", and `key_ops` absent or containing "verify".
    pub(crate) for_verify: bool,
    /// Set when the key may decrypt JWE tokens (only with [`crate::KeySet::parse_with_private`]).
    pub(crate) decrypt: Option<Decryption>,
    /// Unique for the life of the process (never reused), so per-thread caches of
    /// OpenSSL contexts keyed by it can never hand one key's context to another key.
    pub(crate) id: u64,
    /// The HMAC key of an `oct` key with its pads already hashed, so a verification needs no
    /// OpenSSL call to get the secret back out of the key object and hashes only the message.
    pub(crate) hmac: Option<HmacKey>,
}

impl Key {
    /// Whether this key may verify a token signed with `alg` (kid aside). An HMAC key
    /// shorter than the hash of `alg` never does (RFC 7518 §3.2): a 32-byte key without JWK
    /// `alg` serves HS256 only, a 48-byte one HS256 and HS384.
    pub(crate) fn usable_for(&self, alg: Alg) -> bool {
        let alg_ok = match self.alg {
            None => true,
            Some(a) => a == alg,
        };
        let long_enough = match &self.hmac {
            Some(h) if alg.family() == Family::Hmac => h.len() >= alg.hmac_min_len(),
            _ => true,
        };
        self.for_verify && alg_ok && self.material.fits(alg) && long_enough
    }
}

/// A fresh [`Key::id`].
pub(crate) fn next_key_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

//! The JWE algorithms this module accepts (RFC 7518 §4 and §5): key management (`alg`) and
//! content encryption (`enc`).

use openssl::hash::MessageDigest;
use openssl::symm::Cipher;

/// How the content encryption key is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MgmtKind {
    /// The shared key is the content encryption key.
    Dir,
    /// RSAES-OAEP.
    Rsa,
    /// AES key wrap (RFC 3394).
    AesKw,
    /// AES-GCM key wrap (header `iv` and `tag`).
    AesGcmKw,
    /// ECDH-ES, direct or with AES key wrap.
    Ecdh,
}

/// A supported JWE key management algorithm (`alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyMgmt {
    Dir,
    RsaOaep,
    RsaOaep256,
    A128Kw,
    A192Kw,
    A256Kw,
    A128GcmKw,
    A192GcmKw,
    A256GcmKw,
    EcdhEs,
    EcdhEsA128Kw,
    EcdhEsA192Kw,
    EcdhEsA256Kw,
}

impl KeyMgmt {
    pub(crate) const ALL: [KeyMgmt; 13] = [
        KeyMgmt::Dir,
        KeyMgmt::RsaOaep,
        KeyMgmt::RsaOaep256,
        KeyMgmt::A128Kw,
        KeyMgmt::A192Kw,
        KeyMgmt::A256Kw,
        KeyMgmt::A128GcmKw,
        KeyMgmt::A192GcmKw,
        KeyMgmt::A256GcmKw,
        KeyMgmt::EcdhEs,
        KeyMgmt::EcdhEsA128Kw,
        KeyMgmt::EcdhEsA192Kw,
        KeyMgmt::EcdhEsA256Kw,
    ];

    /// Exact, case-sensitive lookup of a JWE `alg` value.
    pub(crate) fn from_name(name: &str) -> Option<KeyMgmt> {
        KeyMgmt::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The registered `alg` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyMgmt::Dir => "dir",
            KeyMgmt::RsaOaep => "RSA-OAEP",
            KeyMgmt::RsaOaep256 => "RSA-OAEP-256",
            KeyMgmt::A128Kw => "A128KW",
            KeyMgmt::A192Kw => "A192KW",
            KeyMgmt::A256Kw => "A256KW",
            KeyMgmt::A128GcmKw => "A128GCMKW",
            KeyMgmt::A192GcmKw => "A192GCMKW",
            KeyMgmt::A256GcmKw => "A256GCMKW",
            KeyMgmt::EcdhEs => "ECDH-ES",
            KeyMgmt::EcdhEsA128Kw => "ECDH-ES+A128KW",
            KeyMgmt::EcdhEsA192Kw => "ECDH-ES+A192KW",
            KeyMgmt::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    pub(crate) fn kind(self) -> MgmtKind {
        match self {
            KeyMgmt::Dir => MgmtKind::Dir,
            KeyMgmt::RsaOaep | KeyMgmt::RsaOaep256 => MgmtKind::Rsa,
            KeyMgmt::A128Kw | KeyMgmt::A192Kw | KeyMgmt::A256Kw => MgmtKind::AesKw,
            KeyMgmt::A128GcmKw | KeyMgmt::A192GcmKw | KeyMgmt::A256GcmKw => MgmtKind::AesGcmKw,
            KeyMgmt::EcdhEs
            | KeyMgmt::EcdhEsA128Kw
            | KeyMgmt::EcdhEsA192Kw
            | KeyMgmt::EcdhEsA256Kw => MgmtKind::Ecdh,
        }
    }

    /// Length of the AES key-encryption key (the shared key for A*KW / A*GCMKW, the derived
    /// key for ECDH-ES+A*KW); `None` when the content key is not wrapped.
    pub(crate) fn kek_len(self) -> Option<usize> {
        match self {
            KeyMgmt::A128Kw | KeyMgmt::A128GcmKw | KeyMgmt::EcdhEsA128Kw => Some(16),
            KeyMgmt::A192Kw | KeyMgmt::A192GcmKw | KeyMgmt::EcdhEsA192Kw => Some(24),
            KeyMgmt::A256Kw | KeyMgmt::A256GcmKw | KeyMgmt::EcdhEsA256Kw => Some(32),
            KeyMgmt::Dir | KeyMgmt::RsaOaep | KeyMgmt::RsaOaep256 | KeyMgmt::EcdhEs => None,
        }
    }

    /// Whether the JWE Encrypted Key must be empty (RFC 7516 §5.2 step 10).
    pub(crate) fn direct(self) -> bool {
        matches!(self, KeyMgmt::Dir | KeyMgmt::EcdhEs)
    }

    pub(crate) fn oaep_digest(self) -> MessageDigest {
        match self {
            KeyMgmt::RsaOaep256 => MessageDigest::sha256(),
            _ => MessageDigest::sha1(),
        }
    }
}

/// A supported JWE content encryption algorithm (`enc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Enc {
    A128Gcm,
    A192Gcm,
    A256Gcm,
    A128CbcHs256,
    A192CbcHs384,
    A256CbcHs512,
}

impl Enc {
    pub(crate) const ALL: [Enc; 6] = [
        Enc::A128Gcm,
        Enc::A192Gcm,
        Enc::A256Gcm,
        Enc::A128CbcHs256,
        Enc::A192CbcHs384,
        Enc::A256CbcHs512,
    ];

    /// Exact, case-sensitive lookup of a JWE `enc` value.
    pub(crate) fn from_name(name: &str) -> Option<Enc> {
        Enc::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The registered `enc` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Enc::A128Gcm => "A128GCM",
            Enc::A192Gcm => "A192GCM",
            Enc::A256Gcm => "A256GCM",
            Enc::A128CbcHs256 => "A128CBC-HS256",
            Enc::A192CbcHs384 => "A192CBC-HS384",
            Enc::A256CbcHs512 => "A256CBC-HS512",
        }
    }

    /// Length of the content encryption key (for CBC-HS: MAC key and AES key).
    pub(crate) fn key_len(self) -> usize {
        match self {
            Enc::A128Gcm => 16,
            Enc::A192Gcm => 24,
            Enc::A256Gcm | Enc::A128CbcHs256 => 32,
            Enc::A192CbcHs384 => 48,
            Enc::A256CbcHs512 => 64,
        }
    }

    pub(crate) fn iv_len(self) -> usize {
        if self.is_gcm() {
            12
        } else {
            16
        }
    }

    pub(crate) fn tag_len(self) -> usize {
        match self {
            Enc::A192CbcHs384 => 24,
            Enc::A256CbcHs512 => 32,
            _ => 16,
        }
    }

    pub(crate) fn is_gcm(self) -> bool {
        matches!(self, Enc::A128Gcm | Enc::A192Gcm | Enc::A256Gcm)
    }

    /// MAC key length of a CBC-HS algorithm (half the key); 0 for GCM.
    pub(crate) fn mac_key_len(self) -> usize {
        match self {
            Enc::A128CbcHs256 => 16,
            Enc::A192CbcHs384 => 24,
            Enc::A256CbcHs512 => 32,
            _ => 0,
        }
    }

    pub(crate) fn cipher(self) -> Cipher {
        match self {
            Enc::A128Gcm => Cipher::aes_128_gcm(),
            Enc::A192Gcm => Cipher::aes_192_gcm(),
            Enc::A256Gcm => Cipher::aes_256_gcm(),
            Enc::A128CbcHs256 => Cipher::aes_128_cbc(),
            Enc::A192CbcHs384 => Cipher::aes_192_cbc(),
            Enc::A256CbcHs512 => Cipher::aes_256_cbc(),
        }
    }

    pub(crate) fn hmac_digest(self) -> MessageDigest {
        match self {
            Enc::A192CbcHs384 => MessageDigest::sha384(),
            Enc::A256CbcHs512 => MessageDigest::sha512(),
            _ => MessageDigest::sha256(),
        }
    }
}

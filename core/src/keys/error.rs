//! Why a key file could not be used ([`KeyError`]) and what it is loaded for ([`Mode`]).

use super::check::{quote, RefusedKey};

const NO_KEY_FOUND: &str =
    "no key found: expected JWKS, JWK or PEM (PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE)";

const NO_KEY_FOUND_PRIVATE: &str = "no key found: expected JWKS, JWK or PEM (PUBLIC KEY, \
     RSA PUBLIC KEY, CERTIFICATE, PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY)";

/// What a key file is loaded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Signature verification only ([`crate::KeySet::parse`]).
    Verify,
    /// Verification and JWE decryption ([`crate::KeySet::parse_with_private`]).
    Private,
}

/// A key file could not be used; `Display` gives an operator-facing reason.
///
/// The variant tells where in the file the problem is; the `problem` of a JWK or PEM block is
/// an operator-facing phrase.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The data is neither a JSON object nor PEM, or holds no PEM block (or nothing but
    /// `EC PARAMETERS`).
    #[error("{}", no_key_found(*.with_private))]
    NoKeyFound {
        /// Loaded with [`crate::KeySet::parse_with_private`] (the message lists the private
        /// key types too).
        with_private: bool,
    },
    /// Every key of the file was skipped; the warnings say why.
    #[error("no usable key found: every key in the file was skipped ({})", .warnings.join("; "))]
    AllSkipped {
        /// The warnings of the skipped keys, in file order.
        warnings: Vec<String>,
    },
    /// The data starts like JSON but is not a strict JSON object.
    #[error("key file is not valid JSON: {0}")]
    Json(String),
    /// A JWKS whose `keys` array is empty.
    #[error("JWKS has no keys")]
    EmptyJwks,
    /// A JWKS whose `keys` member is not an array.
    #[error("JWKS member \"keys\" is not an array")]
    KeysNotArray,
    /// An entry of a JWKS `keys` array is not a JSON object.
    #[error("JWK #{n} is not a JSON object")]
    JwkNotObject {
        /// 1-based position in the `keys` array.
        n: usize,
    },
    /// A JWK cannot be used.
    #[error("JWK #{n}: {problem}")]
    Jwk {
        /// 1-based position in the `keys` array (1 for a single JWK).
        n: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A `-----BEGIN` line without a valid label.
    #[error("PEM block #{n} has a malformed BEGIN line")]
    PemBadBegin {
        /// 1-based position of the block in the file.
        n: usize,
    },
    /// A PEM block without its `-----END` line.
    #[error("PEM block #{n} ({label}) has no matching END line")]
    PemNoEnd {
        /// 1-based position of the block in the file.
        n: usize,
        /// The block label.
        label: String,
    },
    /// A PEM block whose body is not base64.
    #[error("PEM block #{n} ({label}) is not valid base64")]
    PemBase64 {
        /// 1-based position of the block in the file.
        n: usize,
        /// The block label.
        label: String,
    },
    /// A PEM block of a type that is not loaded.
    #[error("PEM block #{n} has unsupported type {}; expected {expected}", quote(.label))]
    PemType {
        /// 1-based position of the block in the file.
        n: usize,
        /// The block label.
        label: String,
        /// The labels that are loaded.
        expected: &'static str,
    },
    /// A PEM private key in a file loaded for signature verification only.
    #[error("file holds a {label}; give the public key (openssl pkey -pubout)")]
    PrivateKey {
        /// The label of the first private key block.
        label: String,
    },
    /// A passphrase-protected PEM private key.
    #[error(
        "PEM block #{n} holds a passphrase-protected private key, which is not supported \
         (remove the passphrase: openssl pkey -in key.pem -out plain.pem)"
    )]
    EncryptedPrivateKey {
        /// 1-based position of the block in the file.
        n: usize,
    },
    /// A key that parses but is refused (too short, ROCA): [`KeySet::parse`] and
    /// [`KeySet::parse_with_private`] refuse the whole file; [`KeySet::parse_lenient`] skips
    /// the key, and gives this error only when no other key is left.
    ///
    /// [`KeySet::parse`]: crate::KeySet::parse
    /// [`KeySet::parse_with_private`]: crate::KeySet::parse_with_private
    /// [`KeySet::parse_lenient`]: crate::KeySet::parse_lenient
    #[error("{0}")]
    Refused(RefusedKey),
    /// The key of a PEM block cannot be used.
    #[error("PEM block #{n} ({label}): {problem}")]
    Pem {
        /// 1-based position of the block in the file.
        n: usize,
        /// The block label.
        label: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl KeyError {
    /// [`KeyError::NoKeyFound`] for a file loaded in `mode`.
    pub(crate) fn no_key_found(mode: Mode) -> Self {
        KeyError::NoKeyFound {
            with_private: mode == Mode::Private,
        }
    }
}

fn no_key_found(with_private: bool) -> &'static str {
    if with_private {
        NO_KEY_FOUND_PRIVATE
    } else {
        NO_KEY_FOUND
    }
}

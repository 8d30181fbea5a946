//! The key set: keys in load order with an index by `kid`, its fingerprint, and the choice
//! of candidate keys for a token.

use std::collections::HashMap;
use std::fmt;

use crate::alg::Alg;
use crate::error::{Rejection, Status};
use crate::key::{Decryption, Key, Material, Secret};

/// A set of verification keys loaded from one or more key files.
///
/// Keys are kept in load order; an index by `kid` keeps lookups cheap for
/// large JWKS. The set is `Send + Sync`. Cloning it is cheap: the OpenSSL key objects are
/// reference-counted, not copied.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<String, Vec<usize>>,
    without_kid: Vec<usize>,
    /// SHA-256 chained over every key's material and metadata, in order.
    fingerprint: [u8; 32],
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl KeySet {
    /// An empty key set.
    pub fn new() -> Self {
        KeySet::default()
    }

    /// Move every key of `other` into this set (after the existing ones).
    pub fn extend(&mut self, other: KeySet) {
        for key in other.keys {
            self.push(key);
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some key of the set can decrypt JWE tokens (only keys loaded with
    /// [`KeySet::parse_with_private`] can).
    pub fn has_decryption_keys(&self) -> bool {
        self.keys.iter().any(|k| k.decrypt.is_some())
    }

    /// Whether some decryption key of the set is a private key (RSA, EC or X25519: key
    /// management RSA-OAEP* or ECDH-ES*). A token encrypted to such a key authenticates
    /// nothing (anyone holding the public key can make one); symmetric keys (`oct`: `dir`,
    /// A*KW, A*GCMKW) are shared secrets and do not count.
    pub fn has_public_key_decryption(&self) -> bool {
        self.keys.iter().any(|k| {
            k.decrypt
                .as_ref()
                .is_some_and(|d| !matches!(d.secret, Secret::Oct(_)))
        })
    }

    /// A digest of the whole set (key material, `kid`, `alg`, usability, order): two sets
    /// with the same fingerprint verify exactly the same tokens. The verified-token cache keys
    /// its entries with it, so a reload with other keys never reuses an old verdict.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    pub(super) fn push(&mut self, key: Key) {
        self.fingerprint = chain_fingerprint(&self.fingerprint, &key);
        let index = self.keys.len();
        match &key.kid {
            Some(kid) => self.by_kid.entry(kid.clone()).or_default().push(index),
            None => self.without_kid.push(index),
        }
        self.keys.push(key);
    }

    /// Keys that may verify a token with this `alg` and `kid`, in load order.
    ///
    /// A key is kid-compatible when the token has no kid, the key has no kid,
    /// or both kids are equal. If the token has a kid and no key is
    /// kid-compatible the token is refused with "no key matches the token kid";
    /// if no kid-compatible key fits the algorithm (and the JWK `alg`, `use`
    /// and `key_ops` restrictions) with "no key usable with the token alg".
    /// How many keys have no `kid`: each is a candidate for every token.
    pub fn keys_without_kid(&self) -> usize {
        self.without_kid.len()
    }

    pub(crate) fn candidates(&self, alg: Alg, kid: Option<&str>) -> Result<Vec<&Key>, Rejection> {
        self.select(
            kid,
            |k| k.usable_for(alg),
            "no key usable with the token alg",
        )
    }

    /// Keys that may decrypt a JWE with this `kid` (same kid rules as
    /// [`KeySet::candidates`]) and for which `fits` holds, in load order. When no
    /// kid-compatible key fits: "no decryption key usable with the token alg and enc".
    pub(crate) fn decryption_candidates(
        &self,
        kid: Option<&str>,
        fits: impl Fn(&Decryption) -> bool,
    ) -> Result<Vec<&Decryption>, Rejection> {
        let keys = self.select(
            kid,
            |k| k.decrypt.as_ref().is_some_and(&fits),
            "no decryption key usable with the token alg and enc",
        )?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.decrypt.as_ref())
            .collect())
    }

    fn select(
        &self,
        kid: Option<&str>,
        usable: impl Fn(&Key) -> bool,
        no_fit: &'static str,
    ) -> Result<Vec<&Key>, Rejection> {
        let found: Vec<&Key> = match kid {
            None => self.keys.iter().filter(|k| usable(k)).collect(),
            Some(kid) => {
                let mut indices = self.without_kid.clone();
                if let Some(matching) = self.by_kid.get(kid) {
                    indices.extend_from_slice(matching);
                    indices.sort_unstable();
                }
                if indices.is_empty() {
                    return Err(Rejection::unknown_kid());
                }
                indices
                    .into_iter()
                    .filter_map(|i| self.keys.get(i))
                    .filter(|k| usable(k))
                    .collect()
            }
        };
        if found.is_empty() {
            return Err(Rejection::new(Status::NoKey, no_fit));
        }
        Ok(found)
    }
}

/// SHA-256 of the fingerprint of the keys before `key` and `key`.
fn chain_fingerprint(prev: &[u8; 32], key: &Key) -> [u8; 32] {
    let material = match &key.material {
        Material::Rsa(p) | Material::Okp(p) | Material::X25519(p) => p.public_key_to_der(),
        Material::Ec { key, .. } => key.public_key_to_der(),
        Material::Hmac(p) => p.raw_private_key(),
    }
    // Not expected to fail for keys that were just parsed; the description still separates
    // key types, and the other fields are hashed too.
    .unwrap_or_else(|_| key.material.describe().as_bytes().to_vec());
    let mut h = openssl::sha::Sha256::new();
    h.update(prev);
    h.update(key.material.describe().as_bytes());
    h.update(&(material.len() as u64).to_be_bytes());
    h.update(&material);
    let kid = key.kid.as_deref().unwrap_or("");
    h.update(&[u8::from(key.kid.is_some())]);
    h.update(&(kid.len() as u64).to_be_bytes());
    h.update(kid.as_bytes());
    h.update(key.alg.map_or("", |a| a.name()).as_bytes());
    h.update(&[u8::from(key.for_verify)]);
    // Decryption keys (only from `parse_with_private`); nothing is added for other keys, so
    // fingerprints of verification-only sets are unchanged. The public material above already
    // identifies an asymmetric private key; an oct secret is hashed like an HMAC secret.
    if let Some(d) = &key.decrypt {
        h.update(b"decrypt");
        h.update(d.alg.map_or("", |a| a.name()).as_bytes());
    }
    h.finish()
}

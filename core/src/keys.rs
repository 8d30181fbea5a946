//! Verification and decryption keys: parsing of JWKS / JWK / PEM files into a
//! [`KeySet`], and candidate selection for a token (`alg`, `kid`, `use`, `key_ops`).
//!
//! Everything OpenSSL needs is prepared here once, at configuration time;
//! verification and decryption never re-parse key material.
//!
//! Two entry points:
//!
//! - [`KeySet::parse`] loads verification keys only. JWK private members are ignored (with a
//!   warning), JWKs with `"use":"enc"` are skipped and PEM private keys are refused.
//! - [`KeySet::parse_with_private`] (for `auth_jwt_type encrypted` / `nested`) also loads
//!   decryption keys for JWE: JWKs with private members (RSA `d` with or without `p`, `q`,
//!   `dp`, `dq`, `qi`; EC `d`; OKP X25519 `d`) and every `oct` JWK, when their `use` is
//!   `enc` or absent, their `key_ops` is absent or holds `decrypt`, `unwrapKey`, `deriveKey`
//!   or `deriveBits`, and their `alg` is not a JWS algorithm; and PEM `PRIVATE KEY`
//!   (PKCS#8: RSA, EC P-256/P-384/P-521, X25519), `RSA PRIVATE KEY` and `EC PRIVATE KEY`
//!   blocks, which are decryption keys only (their public half never verifies a signature).
//!   A JWK `alg` may then also name a JWE key management algorithm (`RSA-OAEP`, `A128KW`,
//!   `ECDH-ES`, ...) or, for a `dir` key, the content encryption (`A128GCM`, ...).

use std::collections::HashMap;
use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::ec::{EcGroup, EcKey};
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::{Rsa, RsaPrivateKeyBuilder};
use openssl::x509::X509;
use serde_json::{Map, Value};

use crate::alg::{Alg, Curve, Family};
use crate::jwe::{Enc, KeyMgmt, MgmtKind};
use crate::jws::HmacKey;
use crate::{json, Rejection, Status};

/// Base64url for key material: padding tolerated (some JWKS publishers add it).
const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64 for PEM bodies.
const B64_PEM: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const NO_KEY_FOUND: &str =
    "no key found: expected JWKS, JWK or PEM (PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE)";

const NO_KEY_FOUND_PRIVATE: &str = "no key found: expected JWKS, JWK or PEM (PUBLIC KEY, \
     RSA PUBLIC KEY, CERTIFICATE, PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY)";

/// JWK `key_ops` values that allow JWE decryption.
const DECRYPT_OPS: [&str; 4] = ["decrypt", "unwrapKey", "deriveKey", "deriveBits"];

/// What a key file is loaded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Signature verification only ([`KeySet::parse`]).
    Verify,
    /// Verification and JWE decryption ([`KeySet::parse_with_private`]).
    Private,
}

/// RSA moduli shorter than this draw a warning.
const RSA_WARN_BITS: u32 = 2048;
/// OpenSSL refuses to verify with larger moduli (OPENSSL_RSA_MAX_MODULUS_BITS).
const RSA_MAX_BITS: u32 = 16384;

/// A key file could not be used; `Display` gives an operator-facing reason.
#[derive(Debug)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

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
    fn fits(&self, alg: Alg) -> bool {
        match (alg.family(), self) {
            (Family::Rsa | Family::RsaPss, Material::Rsa(_)) => true,
            (Family::Ec(want), Material::Ec { curve, .. }) => want == *curve,
            (Family::Ed, Material::Okp(_)) => true,
            (Family::Hmac, Material::Hmac(_)) => true,
            _ => false,
        }
    }

    fn describe(&self) -> &'static str {
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
    fn name(self) -> &'static str {
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

/// Whether a decryption key of this kind may serve the JWK `alg` restriction.
fn secret_fits(secret: &Secret, r: JweRestriction) -> bool {
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
fn material_fits_jwe(material: &Material, r: JweRestriction) -> bool {
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
    /// Set when the key may decrypt JWE tokens (only with [`KeySet::parse_with_private`]).
    pub(crate) decrypt: Option<Decryption>,
    /// Unique for the life of the process (never reused), so per-thread caches of
    /// OpenSSL contexts keyed by it can never hand one key's context to another key.
    pub(crate) id: u64,
    /// The HMAC key of an `oct` key with its pads already hashed, so a verification needs no
    /// OpenSSL call to get the secret back out of the key object and hashes only the message.
    pub(crate) hmac: Option<HmacKey>,
}

impl Key {
    /// Whether this key may verify a token signed with `alg` (kid aside).
    pub(crate) fn usable_for(&self, alg: Alg) -> bool {
        let alg_ok = match self.alg {
            None => true,
            Some(a) => a == alg,
        };
        self.for_verify && alg_ok && self.material.fits(alg)
    }
}

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

    /// Detect the format from the content and parse every key.
    ///
    /// After optional leading whitespace (and UTF-8 BOM) the data must be a
    /// JSON object — a JWKS if it has a `keys` member, otherwise one JWK — or
    /// PEM blocks (`PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`). Returns the
    /// keys and human-readable warnings for the operator.
    pub fn parse(data: &[u8]) -> Result<(KeySet, Vec<String>), KeyError> {
        KeySet::parse_mode(data, Mode::Verify)
    }

    /// Like [`KeySet::parse`], but also load JWE decryption keys (see the module
    /// documentation): JWKs with private members and `oct` JWKs whose `use` is `enc` or
    /// absent, and PEM `PRIVATE KEY`, `RSA PRIVATE KEY` and `EC PRIVATE KEY` blocks
    /// (`EC PARAMETERS` blocks next to them are ignored). Meant for `auth_jwt_type
    /// encrypted` and `nested`, where one key set both decrypts and (for nested tokens)
    /// verifies. Verification keys load exactly as with [`KeySet::parse`].
    pub fn parse_with_private(data: &[u8]) -> Result<(KeySet, Vec<String>), KeyError> {
        KeySet::parse_mode(data, Mode::Private)
    }

    fn parse_mode(data: &[u8], mode: Mode) -> Result<(KeySet, Vec<String>), KeyError> {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let start = data
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(data.len());
        let rest = data.get(start..).unwrap_or_default();
        let mut warnings = Vec::new();
        let no_key = match mode {
            Mode::Verify => NO_KEY_FOUND,
            Mode::Private => NO_KEY_FOUND_PRIVATE,
        };
        let result = if rest.starts_with(b"{") {
            parse_json(rest, &mut warnings, mode)
        } else if rest.starts_with(b"-----BEGIN") {
            parse_pem(rest, &mut warnings, mode)
        } else {
            Err(KeyError(no_key.to_owned()))
        };
        // Leave no stale entries on OpenSSL's per-thread error queue.
        drop(openssl::error::ErrorStack::get());
        let keys = result?;
        if keys.is_empty() && warnings.is_empty() {
            // Only possible with PEM files holding nothing but EC PARAMETERS (Private mode).
            return Err(KeyError(no_key.to_owned()));
        }
        if keys.is_empty() {
            return Err(KeyError(format!(
                "no usable key found: every key in the file was skipped ({})",
                warnings.join("; ")
            )));
        }
        let mut set = KeySet::new();
        for key in keys {
            set.push(key);
        }
        Ok((set, warnings))
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

    /// A digest of the whole set (key material, `kid`, `alg`, usability, order): two sets
    /// with the same fingerprint verify exactly the same tokens. The verified-token cache keys
    /// its entries with it, so a reload with other keys never reuses an old verdict.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn push(&mut self, key: Key) {
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
                    return Err(Rejection::new(Status::NoKey, crate::UNKNOWN_KID));
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

/// Quote operator-supplied text for a message (escaped, bounded).
fn quote(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let short: String = s.chars().take(MAX).collect();
        format!("{short:?}...")
    }
}

// ---------------------------------------------------------------- JWK / JWKS

fn parse_json(data: &[u8], warnings: &mut Vec<String>, mode: Mode) -> Result<Vec<Key>, KeyError> {
    let root = json::parse_object(data)
        .map_err(|e| KeyError(format!("key file is not valid JSON: {e}")))?;
    match root.get("keys") {
        Some(Value::Array(entries)) => {
            if entries.is_empty() {
                return Err(KeyError("JWKS has no keys".to_owned()));
            }
            let mut keys = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let n = i.saturating_add(1);
                let obj = entry
                    .as_object()
                    .ok_or_else(|| KeyError(format!("JWK #{n} is not a JSON object")))?;
                if let Some(key) = parse_jwk(obj, n, warnings, mode)? {
                    keys.push(key);
                }
            }
            Ok(keys)
        }
        Some(_) => Err(KeyError("JWKS member \"keys\" is not an array".to_owned())),
        None => Ok(parse_jwk(&root, 1, warnings, mode)?.into_iter().collect()),
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    n: usize,
) -> Result<Option<&'a str>, KeyError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyError(format!("JWK #{n}: {name} is not a string"))),
    }
}

fn b64_member(obj: &Map<String, Value>, name: &str, n: usize) -> Result<Vec<u8>, KeyError> {
    let text = opt_str(obj, name, n)?
        .ok_or_else(|| KeyError(format!("JWK #{n}: missing member {name}")))?;
    B64URL_LENIENT
        .decode(text)
        .map_err(|_| KeyError(format!("JWK #{n}: {name} is not valid base64url")))
}

/// Parse one JWK. `Ok(None)` means the key was skipped (with a warning).
fn parse_jwk(
    obj: &Map<String, Value>,
    n: usize,
    warnings: &mut Vec<String>,
    mode: Mode,
) -> Result<Option<Key>, KeyError> {
    let err = |msg: String| KeyError(format!("JWK #{n}: {msg}"));
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
    // What the metadata allows (`use` and `alg`; `key_ops` below).
    let sig_allowed = matches!(key_use, None | Some("sig")) && jwe_alg.is_none();
    let enc_allowed =
        mode == Mode::Private && matches!(key_use, None | Some("enc")) && alg.is_none();

    let mut oct_secret = None;
    let mut hmac = None;
    let material = match kty {
        "RSA" => {
            let modulus = b64_member(obj, "n", n)?;
            let exponent = b64_member(obj, "e", n)?;
            let bn = |b: &[u8]| BigNum::from_slice(b).map_err(|e| err(format!("RSA key: {e}")));
            let (modulus, exponent) = (bn(&modulus)?, bn(&exponent)?);
            check_rsa(&modulus, &exponent).map_err(err)?;
            let rsa = Rsa::from_public_components(modulus, exponent)
                .map_err(|e| err(format!("invalid RSA key: {e}")))?;
            let pkey = PKey::from_rsa(rsa).map_err(|e| err(format!("invalid RSA key: {e}")))?;
            if pkey.bits() < RSA_WARN_BITS {
                warnings.push(format!("JWK #{n}: {}", rsa_short_warning(pkey.bits())));
            }
            Material::Rsa(pkey)
        }
        "EC" => {
            let crv =
                opt_str(obj, "crv", n)?.ok_or_else(|| err("missing member crv".to_owned()))?;
            let curve = Curve::from_jwk_name(crv)
                .ok_or_else(|| err(format!("unsupported EC crv {}", quote(crv))))?;
            let x = b64_member(obj, "x", n)?;
            let y = b64_member(obj, "y", n)?;
            if x.len() != curve.coord_len() || y.len() != curve.coord_len() {
                return Err(err(format!(
                    "EC key coordinates must be {} bytes for {}",
                    curve.coord_len(),
                    curve.name()
                )));
            }
            let key = ec_from_coordinates(curve, &x, &y)
                .map_err(|_| err("EC key has invalid point".to_owned()))?;
            Material::Ec { key, curve }
        }
        "OKP" => {
            let crv =
                opt_str(obj, "crv", n)?.ok_or_else(|| err("missing member crv".to_owned()))?;
            let (id, len) = match crv {
                "Ed25519" => (Id::ED25519, 32),
                "Ed448" => (Id::ED448, 57),
                "X25519" if mode == Mode::Private => (Id::X25519, 32),
                other => return Err(err(format!("unsupported OKP crv {}", quote(other)))),
            };
            let x = b64_member(obj, "x", n)?;
            if x.len() != len {
                return Err(err(format!("{crv} key x must be {len} bytes")));
            }
            if id == Id::ED25519 && ed25519_small_order(&x) {
                return Err(err(SMALL_ORDER.to_owned()));
            }
            let pkey = PKey::public_key_from_raw_bytes(&x, id)
                .map_err(|_| err(format!("invalid {crv} public key")))?;
            if id == Id::X25519 {
                Material::X25519(pkey)
            } else {
                Material::Okp(pkey)
            }
        }
        "oct" => {
            let k = b64_member(obj, "k", n)?;
            if k.is_empty() {
                return Err(err("oct key has an empty k".to_owned()));
            }
            let want = alg.unwrap_or(Alg::Hs256);
            if (mode == Mode::Verify || sig_allowed)
                && want.family() == Family::Hmac
                && k.len() < want.hmac_min_len()
            {
                warnings.push(format!(
                    "JWK #{n}: HMAC key of {} bytes is shorter than the {} bytes {} needs",
                    k.len(),
                    want.hmac_min_len(),
                    want.name()
                ));
            }
            let pkey = PKey::hmac(&k).map_err(|e| err(format!("invalid oct key: {e}")))?;
            hmac = Some(HmacKey::new(&k));
            oct_secret = Some(k);
            Material::Hmac(pkey)
        }
        other => return Err(err(format!("unsupported kty {}", quote(other)))),
    };

    if let Some(a) = alg {
        if !material.fits(a) {
            return Err(err(format!(
                "alg {} does not fit a {} key",
                a.name(),
                material.describe()
            )));
        }
    }
    if let Some(r) = jwe_alg {
        if !material_fits_jwe(&material, r) {
            return Err(err(format!(
                "alg {} does not fit a {} key",
                r.name(),
                material.describe()
            )));
        }
    }
    let has_private = kty != "oct" && obj.contains_key("d");
    let ops_verify = key_ops.as_ref().is_none_or(|ops| ops.contains(&"verify"));
    let ops_decrypt = key_ops
        .as_ref()
        .is_none_or(|ops| ops.iter().any(|op| DECRYPT_OPS.contains(op)));

    let mut decrypt = None;
    if enc_allowed && ops_decrypt {
        let secret = match &material {
            Material::Hmac(_) => oct_secret.map(Secret::Oct),
            Material::Rsa(public) if has_private => Some(rsa_private(obj, n, public)?),
            Material::Ec { key, curve } if has_private => Some(ec_private(obj, n, key, *curve)?),
            Material::X25519(public) if has_private => Some(x25519_private(obj, n, public)?),
            _ => None,
        };
        if let Some(secret) = secret {
            if let (Some(r), Secret::Oct(k)) = (jwe_alg, &secret) {
                if !secret_fits(&secret, r) {
                    return Err(err(format!(
                        "oct key of {} bytes does not fit alg {}",
                        k.len(),
                        r.name()
                    )));
                }
            }
            if let Secret::Oct(k) = &secret {
                if key_use == Some("enc") && ![16, 24, 32, 48, 64].contains(&k.len()) {
                    warnings.push(format!(
                        "JWK #{n}: oct key of {} bytes fits no JWE algorithm (16, 24, 32, 48 or 64 bytes)",
                        k.len()
                    ));
                }
            }
            decrypt = Some(Decryption {
                secret,
                alg: jwe_alg,
            });
        }
    }

    if has_private && decrypt.is_none() {
        warnings.push(format!(
            "JWK #{n} contains private key material; only its public part is used"
        ));
    }
    let for_verify = match mode {
        Mode::Verify => {
            let use_ok = match key_use {
                None | Some("sig") => true,
                Some(other) => {
                    warnings.push(format!(
                        "JWK #{n} has use {} and will never verify a signature",
                        quote(other)
                    ));
                    false
                }
            };
            let ops_ok = match &key_ops {
                None => true,
                Some(ops) if ops.contains(&"verify") => true,
                Some(_) => {
                    warnings.push(format!(
                        "JWK #{n} has key_ops without \"verify\" and will never verify a signature"
                    ));
                    false
                }
            };
            use_ok && ops_ok
        }
        Mode::Private => {
            let for_verify = sig_allowed && ops_verify && !matches!(material, Material::X25519(_));
            if !for_verify && decrypt.is_none() {
                let why = match key_use {
                    Some(other) if other != "sig" && other != "enc" => {
                        format!("has use {}", quote(other))
                    }
                    _ if !ops_verify && !ops_decrypt => {
                        "has key_ops allowing neither \"verify\" nor \"decrypt\"/\"unwrapKey\""
                            .to_owned()
                    }
                    _ if enc_allowed && !has_private && kty != "oct" => {
                        "is a public key meant for encryption (decryption needs the private key)"
                            .to_owned()
                    }
                    _ => "can neither verify a signature nor decrypt a token".to_owned(),
                };
                warnings.push(format!("JWK #{n} {why} and is ignored"));
                return Ok(None);
            }
            for_verify
        }
    };
    Ok(Some(Key {
        id: next_key_id(),
        hmac,
        material,
        kid,
        alg,
        for_verify,
        decrypt,
    }))
}

/// RSA private members of a JWK (`d`, and either all or none of `p`, `q`, `dp`, `dq`, `qi`).
fn rsa_private(
    obj: &Map<String, Value>,
    n: usize,
    public: &PKey<Public>,
) -> Result<Secret, KeyError> {
    let err = |msg: String| KeyError(format!("JWK #{n}: {msg}"));
    let ssl = |e: openssl::error::ErrorStack| err(format!("invalid RSA private key: {e}"));
    if obj.contains_key("oth") {
        return Err(err(
            "multi-prime RSA keys (oth) are not supported".to_owned()
        ));
    }
    let rsa = public.rsa().map_err(ssl)?;
    let bn = |name: &str| -> Result<BigNum, KeyError> {
        BigNum::from_slice(&b64_member(obj, name, n)?).map_err(ssl)
    };
    let modulus = rsa.n().to_owned().map_err(ssl)?;
    let exponent = rsa.e().to_owned().map_err(ssl)?;
    let d = bn("d")?;
    const CRT: [&str; 5] = ["p", "q", "dp", "dq", "qi"];
    let present = CRT.iter().filter(|m| obj.contains_key(**m)).count();
    let private = if present == 0 {
        // No CRT parameters: check d against (n, e) with one round trip of 2.
        let mut ctx = BigNumContext::new().map_err(ssl)?;
        let two = BigNum::from_u32(2).map_err(ssl)?;
        let mut c = BigNum::new().map_err(ssl)?;
        c.mod_exp(&two, &exponent, &modulus, &mut ctx)
            .map_err(ssl)?;
        let mut m = BigNum::new().map_err(ssl)?;
        m.mod_exp(&c, &d, &modulus, &mut ctx).map_err(ssl)?;
        if m != two {
            return Err(err("RSA private key d does not match n and e".to_owned()));
        }
        RsaPrivateKeyBuilder::new(modulus, exponent, d)
            .map_err(ssl)?
            .build()
    } else if present == CRT.len() {
        let private = Rsa::from_private_components(
            modulus,
            exponent,
            d,
            bn("p")?,
            bn("q")?,
            bn("dp")?,
            bn("dq")?,
            bn("qi")?,
        )
        .map_err(ssl)?;
        if !private.check_key().unwrap_or(false) {
            return Err(err(
                "RSA private key members do not match the public key".to_owned()
            ));
        }
        private
    } else {
        return Err(err(
            "RSA private key has some but not all of p, q, dp, dq, qi".to_owned(),
        ));
    };
    PKey::from_rsa(private).map(Secret::Rsa).map_err(ssl)
}

/// EC private member `d` of a JWK, checked against the public point.
fn ec_private(
    obj: &Map<String, Value>,
    n: usize,
    public: &EcKey<Public>,
    curve: Curve,
) -> Result<Secret, KeyError> {
    let err = |msg: String| KeyError(format!("JWK #{n}: {msg}"));
    let d = b64_member(obj, "d", n)?;
    if d.is_empty() || d.len() > curve.coord_len() {
        return Err(err(format!(
            "EC private key d must be {} bytes for {}",
            curve.coord_len(),
            curve.name()
        )));
    }
    let mismatch = |_| err("EC private key d does not match x and y".to_owned());
    let group = EcGroup::from_curve_name(curve.nid()).map_err(mismatch)?;
    let d = BigNum::from_slice(&d).map_err(mismatch)?;
    let private =
        EcKey::from_private_components(&group, &d, public.public_key()).map_err(mismatch)?;
    private.check_key().map_err(mismatch)?;
    let key = PKey::from_ec_key(private).map_err(mismatch)?;
    Ok(Secret::Ec { key, curve })
}

/// X25519 private member `d` of a JWK, checked against `x`.
fn x25519_private(
    obj: &Map<String, Value>,
    n: usize,
    public: &PKey<Public>,
) -> Result<Secret, KeyError> {
    let err = |msg: &str| KeyError(format!("JWK #{n}: {msg}"));
    let d = b64_member(obj, "d", n)?;
    if d.len() != 32 {
        return Err(err("X25519 key d must be 32 bytes"));
    }
    let private = PKey::private_key_from_raw_bytes(&d, Id::X25519)
        .map_err(|_| err("invalid X25519 private key"))?;
    let derived = private
        .raw_public_key()
        .map_err(|_| err("invalid X25519 private key"))?;
    let given = public
        .raw_public_key()
        .map_err(|_| err("invalid X25519 public key"))?;
    if derived != given {
        return Err(err("X25519 private key d does not match x"));
    }
    Ok(Secret::X25519(private))
}

pub(crate) fn ec_from_coordinates(
    curve: Curve,
    x: &[u8],
    y: &[u8],
) -> Result<EcKey<Public>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(curve.nid())?;
    let x = BigNum::from_slice(x)?;
    let y = BigNum::from_slice(y)?;
    let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y)?;
    key.check_key()?;
    Ok(key)
}

fn rsa_short_warning(bits: u32) -> String {
    format!("RSA key of {bits} bits is shorter than {RSA_WARN_BITS}")
}

/// Sanity checks on RSA public components.
fn check_rsa(modulus: &BigNumRef, exponent: &BigNumRef) -> Result<(), String> {
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

// ---------------------------------------------------------------- PEM

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
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
        let bad_begin = || KeyError(format!("PEM block #{n} has a malformed BEGIN line"));
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
        let body_len = find(body_rest, end_marker.as_bytes()).ok_or_else(|| {
            KeyError(format!("PEM block #{n} ({label}) has no matching END line"))
        })?;
        let body = body_rest.get(..body_len).unwrap_or_default();
        pos = body_start
            .saturating_add(body_len)
            .saturating_add(end_marker.len());
        blocks.push(PemBlock { n, label, body });
    }
    Ok(blocks)
}

fn parse_pem(data: &[u8], warnings: &mut Vec<String>, mode: Mode) -> Result<Vec<Key>, KeyError> {
    let blocks = pem_blocks(data)?;
    if blocks.is_empty() {
        return Err(KeyError(
            match mode {
                Mode::Verify => NO_KEY_FOUND,
                Mode::Private => NO_KEY_FOUND_PRIVATE,
            }
            .to_owned(),
        ));
    }
    // A private key anywhere in the file is the most useful thing to report
    // (e.g. `openssl ecparam -genkey` output starts with EC PARAMETERS).
    if mode == Mode::Verify {
        if let Some(private) = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")) {
            return Err(KeyError(format!(
                "file holds a {}; give the public key (openssl pkey -pubout)",
                private.label
            )));
        }
    } else if let Some(encrypted) = blocks.iter().find(|b| b.label == "ENCRYPTED PRIVATE KEY") {
        return Err(KeyError(format!(
            "PEM block #{} holds a passphrase-protected private key, which is not supported \
             (remove the passphrase: openssl pkey -in key.pem -out plain.pem)",
            encrypted.n
        )));
    }
    let mut keys = Vec::with_capacity(blocks.len());
    for PemBlock { n, label, body } in blocks {
        if mode == Mode::Private && label == "EC PARAMETERS" {
            // `openssl ecparam -genkey` writes these before the EC PRIVATE KEY.
            continue;
        }
        let der = pem_body(body)
            .ok_or_else(|| KeyError(format!("PEM block #{n} ({label}) is not valid base64")))?;
        let err = |msg: String| KeyError(format!("PEM block #{n} ({label}): {msg}"));
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
                if let Material::Rsa(p) = &material {
                    if p.bits() < RSA_WARN_BITS {
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
                return Err(KeyError(format!(
                    "PEM block #{n} has unsupported type {}; expected {expected}",
                    quote(other)
                )));
            }
        };
        let material = material_from_pkey(pkey).map_err(err)?;
        if let Material::Rsa(p) = &material {
            if p.bits() < RSA_WARN_BITS {
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

/// A fresh [`Key::id`].
fn next_key_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

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

const SMALL_ORDER: &str =
    "Ed25519 key is a point of small order (such a key accepts forged signatures)";

/// Whether an encoded Ed25519 public key is one of the points of small order (orders 1, 2, 4
/// and 8, canonical and non-canonical encodings, either sign). OpenSSL verifies signatures
/// against such a key, and for the identity point it accepts a forged signature for any
/// message: such keys are refused when the key file is loaded.
fn ed25519_small_order(x: &[u8]) -> bool {
    const SMALL_ORDER_POINTS: [[u8; 32]; 7] = [
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

#[cfg(test)]
mod tests {

    #[test]
    fn ed25519_small_order_keys_are_refused() {
        // The identity point: OpenSSL accepts "identity || zeros" as a signature of anything.
        let jwk =
            br#"{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        let e = KeySet::parse(jwk).err().map(|e| e.0).unwrap_or_default();
        assert!(e.contains("small order"), "{e}");
        // Same point with the sign bit set, and an order-8 point.
        let mut x = [0u8; 32];
        x[0] = 1;
        x[31] = 0x80;
        assert!(super::ed25519_small_order(&x));
        let order8 = [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0xfa,
        ];
        assert!(super::ed25519_small_order(&order8));
        // A real key is not.
        let pk = openssl::pkey::PKey::generate_ed25519().and_then(|k| k.raw_public_key());
        assert!(!super::ed25519_small_order(&pk.unwrap_or_default()));
        // PEM path: the identity point as SubjectPublicKeyInfo.
        let der = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 1, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let pem = openssl::base64::encode_block(&der);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{pem}\n-----END PUBLIC KEY-----\n");
        let e = KeySet::parse(pem.as_bytes())
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(e.contains("small order"), "{e}");
    }
    use super::*;

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync>() {}
        check::<KeySet>();
    }

    #[test]
    fn find_works() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(find(b"ab", b"abc"), None);
    }

    #[test]
    fn quote_bounds() {
        assert_eq!(quote("foo"), "\"foo\"");
        assert!(quote(&"x".repeat(1000)).len() < 60);
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}

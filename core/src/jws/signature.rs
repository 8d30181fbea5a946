//! Signature verification with the candidate keys of a key set (RFC 7515 §5.2 steps 7 and 8,
//! algorithms of RFC 7518 §3 and RFC 8037).

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::pkey::{PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sha::{Sha256, Sha384, Sha512};
use openssl::sign::{RsaPssSaltlen, Verifier};

use crate::alg::{Alg, Family};
use crate::error::{Rejection, Status};
use crate::key::{Key, Material};
use crate::keys::KeySet;
use crate::limits::MAX_KEY_TRIES;

/// The log phrase of [`Status::TooManyKeys`].
pub(crate) const TOO_MANY_KEYS: &str =
    "no key among the first 16 candidates verifies the token, and more keys would have to be tried";

/// Steps 7 and 8: pick candidate keys and verify the signature.
pub(crate) fn check_signature(
    keys: &KeySet,
    alg: Alg,
    kid: Option<&str>,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), Rejection> {
    let candidates = keys.candidates(alg, kid)?;
    let more = candidates.len() > MAX_KEY_TRIES;
    let ok = candidates
        .into_iter()
        .take(MAX_KEY_TRIES)
        .any(|key| verify_with(key, alg, signing_input, signature).unwrap_or(false));
    // Some OpenSSL failure paths leave entries on the per-thread error queue;
    // drain it so nothing leaks into unrelated nginx SSL error reporting.
    drop(ErrorStack::get());
    if ok {
        Ok(())
    } else if more {
        Err(Rejection::new(Status::TooManyKeys, TOO_MANY_KEYS))
    } else {
        Err(Rejection::new(
            Status::BadSignature,
            "signature verification failed",
        ))
    }
}

/// Verify `signature` over `input` with one key. Errors mean "not verified".
fn verify_with(key: &Key, alg: Alg, input: &[u8], signature: &[u8]) -> Result<bool, ErrorStack> {
    match (&key.material, alg.family(), alg.digest()) {
        (Material::Rsa(pkey), Family::Rsa | Family::RsaPss, Some(md)) => {
            let digest = sha2(md, input);
            rsa_verify(key.id, pkey, alg, &digest, signature)
        }
        (Material::Ec { key, curve }, Family::Ec(want), Some(md)) if *curve == want => {
            // JWS ECDSA signatures are R || S, each big-endian, fixed width.
            let width = want.coord_len();
            if signature.len() != width.saturating_mul(2) {
                return Ok(false);
            }
            let (Some(r), Some(s)) = (signature.get(..width), signature.get(width..)) else {
                return Ok(false);
            };
            let sig =
                EcdsaSig::from_private_components(BigNum::from_slice(r)?, BigNum::from_slice(s)?)?;
            let digest = sha2(md, input);
            sig.verify(&digest, key)
        }
        (Material::Okp(pkey), Family::Ed, None) => {
            let mut v = Verifier::new_without_digest(pkey)?;
            v.verify_oneshot(signature, input)
        }
        (Material::Hmac(_), Family::Hmac, Some(_)) => Ok(key
            .hmac
            .as_ref()
            .is_some_and(|h| h.verify(alg, input, signature))),
        _ => Ok(false),
    }
}

/// RSASSA-PKCS1-v1_5 (RS*) or RSASSA-PSS (PS*: MGF1 with the same hash, salt = hash length)
/// over a precomputed digest. The OpenSSL context of each (key, alg) is set up once per worker
/// thread and reused: initialising one costs OpenSSL 3 an algorithm fetch each time, a good
/// part of an RSA-2048 verification.
fn rsa_verify(
    id: u64,
    pkey: &PKey<Public>,
    alg: Alg,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, ErrorStack> {
    thread_local! {
        static CTX: RefCell<CtxMap> = RefCell::new(HashMap::default());
    }
    let md = match alg {
        Alg::Rs384 | Alg::Ps384 => Md::sha384(),
        Alg::Rs512 | Alg::Ps512 => Md::sha512(),
        _ => Md::sha256(),
    };
    let pss = alg.family() == Family::RsaPss;
    CTX.with(|cell| {
        let mut map = cell.borrow_mut();
        if map.len() >= 1024 && !map.contains_key(&(id, alg)) {
            map.clear();
        }
        let ctx = match map.entry((id, alg)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let mut ctx = PkeyCtx::new(pkey)?;
                ctx.verify_init()?;
                if pss {
                    ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
                    ctx.set_signature_md(md)?;
                    ctx.set_rsa_mgf1_md(md)?;
                    ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                } else {
                    ctx.set_rsa_padding(Padding::PKCS1)?;
                    ctx.set_signature_md(md)?;
                }
                v.insert(ctx)
            }
        };
        ctx.verify(digest, signature)
    })
}

/// Per-thread OpenSSL verify contexts by (key id, alg).
type CtxMap = HashMap<(u64, Alg), PkeyCtx<Public>, BuildHasherDefault<IdHasher>>;

/// The hasher of the per-thread context map: its keys are process-unique key ids (never
/// chosen by a client) and an `alg`, so a multiplicative mix is enough and costs a fraction of
/// SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
}

/// A SHA-2 digest, on the stack.
struct Digest([u8; 64], usize);

impl std::ops::Deref for Digest {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.get(..self.1).unwrap_or_default()
    }
}

/// SHA-256/384/512 of `input` through OpenSSL's low-level functions (no EVP fetch).
fn sha2(md: MessageDigest, input: &[u8]) -> Digest {
    // The incremental SHA*_Init/Update/Final: OpenSSL 3's one-shot SHA256() fetches the
    // algorithm on every call, which costs more than hashing a token.
    macro_rules! run {
        ($h:ty) => {{
            let mut h = <$h>::new();
            h.update(input);
            let d = h.finish();
            let mut out = [0; 64];
            if let Some(o) = out.get_mut(..d.len()) {
                o.copy_from_slice(&d);
            }
            Digest(out, d.len())
        }};
    }
    if md == MessageDigest::sha384() {
        run!(Sha384)
    } else if md == MessageDigest::sha512() {
        run!(Sha512)
    } else {
        run!(Sha256)
    }
}

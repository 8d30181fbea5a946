//! Why a token was refused: [`Status`] and [`Rejection`].

use std::fmt;

/// Outcome class of a token validation, exposed as `$auth_jwt_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The token is valid.
    Valid,
    /// No token was presented (empty).
    Missing,
    /// The token is longer than [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN).
    TooLarge,
    /// The token is not a well-formed compact JWS whose header and payload are JSON objects
    /// (for JWE: not five segments, bad base64url, a header that is not a strict JSON object,
    /// a bad `epk`, `apu`, `apv`, `iv` or `tag` header, an encrypted key present where it must
    /// be empty or the reverse; for an encrypted JWT a plaintext that is not a JSON object; for
    /// a nested JWT a `cty` other than `JWT`).
    Malformed,
    /// The header `alg` is missing, not a string, `none` or not supported.
    UnsupportedAlg,
    /// No key of the key set can verify the token.
    NoKey,
    /// The signature does not verify with any candidate key.
    BadSignature,
    /// A registered claim has the wrong type.
    BadClaim,
    /// The `exp` claim is in the past.
    Expired,
    /// The `nbf` claim is in the future.
    NotYetValid,
    /// The header has a `crit` member.
    BadCrit,
    /// A JWE could not be decrypted: wrong key, authentication tag mismatch, bad padding,
    /// ciphertext that is not a whole number of blocks, IV or tag of the wrong length.
    ///
    /// The client never learns which: every such failure has this one status (and the same
    /// work is done for a key that cannot unwrap the content key as for a bad tag; see
    /// [`decrypt`](crate::decrypt)). Only [`Rejection::detail`], for the error log, tells them apart.
    DecryptFailed,
    /// The JWE `alg` (key management) or `enc` (content encryption) is missing, not a string
    /// or not supported (`RSA1_5` and `PBES2-*` are refused on purpose), or the JWE uses
    /// compression (`zip`), which is not supported.
    UnsupportedEnc,
    /// More keys are candidates for the token than [`MAX_KEY_TRIES`](crate::MAX_KEY_TRIES)
    /// (a token without `kid`, or a set with many keys without `kid`), and none of the first
    /// ones verifies (or decrypts) it.
    TooManyKeys,
    /// An `auth_jwt_require` condition failed (set by the nginx glue).
    RequireFailed,
    /// The verified token's `sub`, `kid` or `jti` is in a revocation list (set by the nginx
    /// glue).
    Revoked,
    /// An internal error.
    Error,
}

impl Status {
    /// Word for `$auth_jwt_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Missing => "missing",
            Status::TooLarge => "too_large",
            Status::Malformed => "malformed",
            Status::UnsupportedAlg => "unsupported_alg",
            Status::NoKey => "no_key",
            Status::BadSignature => "bad_signature",
            Status::BadClaim => "bad_claim",
            Status::Expired => "expired",
            Status::NotYetValid => "not_yet_valid",
            Status::BadCrit => "bad_crit",
            Status::DecryptFailed => "decrypt_failed",
            Status::UnsupportedEnc => "unsupported_enc",
            Status::TooManyKeys => "too_many_keys",
            Status::RequireFailed => "require_failed",
            Status::Revoked => "revoked",
            Status::Error => "error",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was refused.
///
/// `detail` is a short fixed English phrase for the error log; it never
/// contains token bytes or any other attacker-controlled text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail} ({status})")]
pub struct Rejection {
    /// Classification of the failure.
    pub status: Status,
    /// Fixed phrase describing the failure.
    pub detail: &'static str,
    /// What the caller may do about it, where that is more than the status tells.
    reason: Reason,
}

/// A refusal that calls for more than its [`Status`]: the caller acts on these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Nothing beyond the status.
    Other,
    /// The token `kid` names no key of the set (and the set has no key without a `kid`):
    /// fetching the keys again may help.
    UnknownKid,
}

/// The [`Rejection::detail`] of [`Reason::UnknownKid`].
const UNKNOWN_KID: &str = "no key matches the token kid";

impl Rejection {
    /// A refusal with this status and fixed phrase (for the nginx glue's own refusals, e.g. a
    /// missing token).
    pub const fn new(status: Status, detail: &'static str) -> Self {
        Rejection {
            status,
            detail,
            reason: Reason::Other,
        }
    }

    /// The refusal of a token whose `kid` names no key of the set.
    pub(crate) const fn unknown_kid() -> Self {
        Rejection {
            status: Status::NoKey,
            detail: UNKNOWN_KID,
            reason: Reason::UnknownKid,
        }
    }

    /// Whether the token was refused only because its `kid` is not in the key set (a key
    /// source that rotated may know it now).
    pub fn is_unknown_kid(&self) -> bool {
        self.reason == Reason::UnknownKid
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use super::*;
    use crate::sign::{encode, SigningKey};
    use crate::{verify, KeySet, Validation};

    /// Only a `kid` that names no key is an unknown kid: the reason is carried, not read back
    /// from the phrase.
    #[test]
    fn unknown_kid_is_a_typed_reason() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let jwks = br#"{"keys":[{"kty":"oct","kid":"a","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}"#;
        let (keys, _) = KeySet::parse(jwks).unwrap();
        let v = Validation { now: 0, leeway: 0 };
        let sk = SigningKey::hmac(secret);
        let token = |kid: &str| {
            let header = serde_json::json!({ "kid": kid });
            encode("HS256", &header, &serde_json::json!({}), &sk).unwrap()
        };
        let unknown = verify(token("b").as_bytes(), &keys, &v).unwrap_err();
        assert_eq!(unknown.status, Status::NoKey);
        assert_eq!(unknown.detail, "no key matches the token kid");
        assert!(unknown.is_unknown_kid());
        assert_eq!(unknown.to_string(), "no key matches the token kid (no_key)");
        // A known kid whose key does not fit the alg is another refusal.
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let rs256 = format!("{}.{}.AAAA", b64(r#"{"alg":"RS256","kid":"a"}"#), b64("{}"));
        let other = verify(rs256.as_bytes(), &keys, &v).unwrap_err();
        assert_eq!(other.detail, "no key usable with the token alg");
        assert_eq!(other.status, Status::NoKey);
        assert!(!other.is_unknown_kid());
        assert!(!Rejection::new(Status::NoKey, UNKNOWN_KID).is_unknown_kid());
        assert!(verify(token("a").as_bytes(), &keys, &v).is_ok());
    }
}

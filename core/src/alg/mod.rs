//! The algorithms this module accepts: JWS `alg` (RFC 7518 §3 and RFC 8037) here, JWE `alg`
//! and `enc` in [`jwe`], and what each needs of a key.

mod jwe;

use openssl::hash::MessageDigest;

pub(crate) use jwe::{Enc, KeyMgmt, MgmtKind};

/// A supported JWS `alg`. `none` is deliberately absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
    Hs256,
    Hs384,
    Hs512,
}

/// NIST curves usable with ES256/ES384/ES512.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    /// JWK `crv` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Length in bytes of one affine coordinate and of R or S in a JWS signature.
    pub(crate) fn coord_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    pub(crate) fn from_jwk_name(name: &str) -> Option<Curve> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }

    pub(crate) fn nid(self) -> openssl::nid::Nid {
        use openssl::nid::Nid;
        match self {
            Curve::P256 => Nid::X9_62_PRIME256V1,
            Curve::P384 => Nid::SECP384R1,
            Curve::P521 => Nid::SECP521R1,
        }
    }

    pub(crate) fn from_nid(nid: openssl::nid::Nid) -> Option<Curve> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.nid() == nid)
    }
}

/// Kind of key an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// RSASSA-PKCS1-v1_5.
    Rsa,
    /// RSASSA-PSS.
    RsaPss,
    /// ECDSA on the given curve.
    Ec(Curve),
    /// Ed25519 or Ed448.
    Ed,
    /// HMAC with a shared secret.
    Hmac,
}

impl Alg {
    /// Every supported algorithm.
    pub(crate) const ALL: [Alg; 13] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
        Alg::EdDsa,
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
    ];

    /// Exact, case-sensitive lookup of a JWS `alg` value.
    pub(crate) fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The registered `alg` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
            Alg::EdDsa => "EdDSA",
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
        }
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => Family::Rsa,
            Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => Family::RsaPss,
            Alg::Es256 => Family::Ec(Curve::P256),
            Alg::Es384 => Family::Ec(Curve::P384),
            Alg::Es512 => Family::Ec(Curve::P521),
            Alg::EdDsa => Family::Ed,
            Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => Family::Hmac,
        }
    }

    /// Hash used by the algorithm (`None` for EdDSA, which hashes internally).
    pub(crate) fn digest(self) -> Option<MessageDigest> {
        match self {
            Alg::Rs256 | Alg::Ps256 | Alg::Es256 | Alg::Hs256 => Some(MessageDigest::sha256()),
            Alg::Rs384 | Alg::Ps384 | Alg::Es384 | Alg::Hs384 => Some(MessageDigest::sha384()),
            Alg::Rs512 | Alg::Ps512 | Alg::Es512 | Alg::Hs512 => Some(MessageDigest::sha512()),
            Alg::EdDsa => None,
        }
    }

    /// Minimum HMAC secret length recommended by RFC 7518 §3.2 (hash output size).
    pub(crate) fn hmac_min_len(self) -> usize {
        match self {
            Alg::Hs384 => 48,
            Alg::Hs512 => 64,
            _ => 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Alg::ALL {
            assert_eq!(Alg::from_name(a.name()), Some(a));
        }
        assert_eq!(Alg::from_name("none"), None);
        assert_eq!(Alg::from_name("rs256"), None);
        assert_eq!(Alg::from_name("EDDSA"), None);
    }
}

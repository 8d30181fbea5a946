//! Reading JWK members, with the messages of [`KeyError::Jwk`].

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::keys::error::KeyError;

/// Base64url for key material: padding tolerated (some JWKS publishers add it).
const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// [`KeyError::Jwk`] for JWK #`n`.
pub(super) fn jwk_error(n: usize) -> impl Fn(String) -> KeyError {
    move |problem| KeyError::Jwk { n, problem }
}

pub(super) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    n: usize,
) -> Result<Option<&'a str>, KeyError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(jwk_error(n)(format!("{name} is not a string"))),
    }
}

pub(super) fn b64_member(
    obj: &Map<String, Value>,
    name: &str,
    n: usize,
) -> Result<Vec<u8>, KeyError> {
    let err = jwk_error(n);
    let text = opt_str(obj, name, n)?.ok_or_else(|| err(format!("missing member {name}")))?;
    B64URL_LENIENT
        .decode(text)
        .map_err(|_| err(format!("{name} is not valid base64url")))
}

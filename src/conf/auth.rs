//! `auth_jwt` and `auth_jwt_type`.

use std::ffi::{c_char, c_void};
use std::ptr::{self, NonNull};

use auth_jwt_core::TokenType;
use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{ngx_command_t, ngx_conf_t, ngx_http_complex_value_t, ngx_str_t};

use super::ext::{conf_error, setter_args, ConfExt, IS_DUPLICATE};

/// `auth_jwt` at one configuration level.
#[derive(Clone, Copy)]
pub enum Auth {
    /// `auth_jwt off;`
    Off,
    /// `auth_jwt realm [token=$variable];`
    On {
        realm: NonNull<ngx_http_complex_value_t>,
        token: Option<NonNull<ngx_http_complex_value_t>>,
    },
}

/// `auth_jwt_type signed | encrypted | nested;`
pub(super) fn set_type(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    if lc.ty.is_some() {
        return IS_DUPLICATE;
    }
    let arg = cf.args()[1];
    match arg.to_str().ok().and_then(TokenType::from_name) {
        Some(ty) => {
            lc.ty = Some(ty);
            ptr::null_mut()
        }
        None => {
            let v = arg.to_string();
            conf_error(
                cf,
                format_args!(
                    "auth_jwt_type: invalid value \"{v}\": use signed, encrypted or nested"
                ),
            )
        }
    }
}

/// `auth_jwt string [token=$variable] | off;`
pub(super) fn set_auth_jwt(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    if lc.auth.is_some() {
        return IS_DUPLICATE;
    }
    let (mut realm_src, token_src) = match AuthArgs::try_from(&cf.args()[1..]) {
        Ok(AuthArgs::Off) => {
            lc.auth = Some(Auth::Off);
            return ptr::null_mut();
        }
        Ok(AuthArgs::On { realm, token }) => (realm, token),
        Err(e) => return conf_error(cf, format_args!("auth_jwt: {e}")),
    };
    let Some(realm) = cf.compile(&mut realm_src) else {
        return NGX_CONF_ERROR;
    };
    let token = match token_src {
        Some(mut t) => match cf.compile(&mut t) {
            Some(cv) => Some(cv),
            None => return NGX_CONF_ERROR,
        },
        None => None,
    };
    lc.auth = Some(Auth::On { realm, token });
    lc.auth_origin = Some(cf.origin());
    ptr::null_mut()
}

/// The arguments of `auth_jwt`, checked.
enum AuthArgs {
    Off,
    On {
        realm: ngx_str_t,
        /// The `token=` expression (it contains a variable).
        token: Option<ngx_str_t>,
    },
}

/// Why `auth_jwt` is refused (after `auth_jwt: `).
#[derive(Debug, thiserror::Error)]
enum AuthError {
    #[error("\"off\" takes no other parameter")]
    OffTakesNoParameter,
    #[error("invalid parameter \"{0}\": expected \"token=$variable\"")]
    BadParameter(String),
    #[error(
        "\"token={0}\" must contain a variable, e.g. token=$http_x_token, token=$cookie_jwt or \
         token=$arg_token"
    )]
    TokenWithoutVariable(String),
}

impl TryFrom<&[ngx_str_t]> for AuthArgs {
    type Error = AuthError;

    fn try_from(args: &[ngx_str_t]) -> Result<Self, Self::Error> {
        match args {
            [off] if off.as_bytes() == b"off" => Ok(AuthArgs::Off),
            [off, ..] if off.as_bytes() == b"off" => Err(AuthError::OffTakesNoParameter),
            [realm] => Ok(AuthArgs::On {
                realm: *realm,
                token: None,
            }),
            [realm, token, ..] => match token.strip_prefix(b"token=") {
                Some(t) if t.is_empty() => Err(AuthError::BadParameter(token.to_string())),
                Some(t) if !t.as_bytes().contains(&b'$') => {
                    Err(AuthError::TokenWithoutVariable(t.to_string()))
                }
                Some(t) => Ok(AuthArgs::On {
                    realm: *realm,
                    token: Some(t),
                }),
                None => Err(AuthError::BadParameter(token.to_string())),
            },
            // Not reached: nginx passes one or two arguments (NGX_CONF_TAKE12).
            [] => Err(AuthError::BadParameter(String::new())),
        }
    }
}

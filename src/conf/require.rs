//! `auth_jwt_require`.

use std::ffi::{c_char, c_void};
use std::ptr::{self, NonNull};

use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{ngx_command_t, ngx_conf_t, ngx_http_complex_value_t, ngx_str_t, ngx_uint_t};

use super::ext::{conf_error, setter_args, ConfExt};

/// One `auth_jwt_require` directive.
#[derive(Clone)]
pub struct Require {
    pub values: Vec<NonNull<ngx_http_complex_value_t>>,
    pub status: ngx_uint_t,
}

/// `auth_jwt_require $value ... [error=401|403];` (may repeat, checked in order).
pub(super) fn set_require(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    let args = match RequireArgs::try_from(&cf.args()[1..]) {
        Ok(a) => a,
        Err(e) => return conf_error(cf, format_args!("auth_jwt_require: {e}")),
    };
    let mut values = Vec::with_capacity(args.values.len());
    for mut v in args.values {
        match cf.compile(&mut v) {
            Some(cv) => values.push(cv),
            None => return NGX_CONF_ERROR,
        }
    }
    let status = args.status;
    lc.require
        .get_or_insert_with(Vec::new)
        .push(Require { values, status });
    ptr::null_mut()
}

/// The arguments of one `auth_jwt_require`, checked.
struct RequireArgs {
    /// Each starts with a variable.
    values: Vec<ngx_str_t>,
    /// 401 or 403.
    status: ngx_uint_t,
}

/// Why `auth_jwt_require` is refused (after `auth_jwt_require: `).
#[derive(Debug, thiserror::Error)]
enum RequireError {
    #[error("\"error=\" must be the last parameter")]
    ErrorNotLast,
    #[error("invalid \"error={0}\": use 401 or 403")]
    BadStatus(String),
    // As NGINX Plus documents: a literal is always true (or always "0"), which is never what
    // was meant.
    #[error(
        "\"{0}\" must start with a variable, e.g. $jwt_claim_iss or a map result such as $iss_ok"
    )]
    NotAVariable(String),
    #[error("at least one value is needed before \"error=\"")]
    NoValue,
}

impl TryFrom<&[ngx_str_t]> for RequireArgs {
    type Error = RequireError;

    fn try_from(args: &[ngx_str_t]) -> Result<Self, Self::Error> {
        let mut status = 401;
        let mut values = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            if let Some(code) = a.strip_prefix(b"error=") {
                if i + 1 != args.len() {
                    return Err(RequireError::ErrorNotLast);
                }
                status = match code.as_bytes() {
                    b"401" => 401,
                    b"403" => 403,
                    _ => return Err(RequireError::BadStatus(code.to_string())),
                };
            } else if a.as_bytes().starts_with(b"$") {
                values.push(*a);
            } else {
                return Err(RequireError::NotAVariable(a.to_string()));
            }
        }
        if values.is_empty() {
            return Err(RequireError::NoValue);
        }
        Ok(RequireArgs { values, status })
    }
}

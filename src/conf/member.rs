//! `auth_jwt_claim_set` and `auth_jwt_header_set`.

use std::ffi::{c_char, c_void};
use std::ptr::{self};

use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_add_variable, ngx_str_t, ngx_uint_t,
    NGX_HTTP_VAR_CHANGEABLE, NGX_HTTP_VAR_NOCACHEABLE,
};

use super::ext::{conf_error, ConfExt};

/// `auth_jwt_claim_set $variable name ...;` and `auth_jwt_header_set $variable name ...;`
/// (http): declare a variable that reads a member, following the names into nested objects.
pub(super) fn set_member(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with a valid context and the command.
    let (cf, cmd) = unsafe { (&mut *cf, &*cmd) };
    let directive = cmd.name.to_string();
    let args: Vec<ngx_str_t> = cf.args()[1..].to_vec();
    let Some(mut name) = args.first().and_then(|a| a.strip_prefix(b"$")) else {
        return conf_error(
            cf,
            format_args!("{directive}: the first parameter must be a variable, e.g. $jwt_roles"),
        );
    };
    if name.is_empty() {
        return conf_error(cf, format_args!("{directive}: empty variable name"));
    }
    let mut path = Vec::with_capacity(args.len().saturating_sub(1));
    for a in &args[1..] {
        match a.to_str() {
            Ok(p) if !p.is_empty() => path.push(p.to_owned()),
            _ => return conf_error(cf, format_args!("{directive}: invalid member name \"{a}\"")),
        }
    }
    let member = crate::variables::MemberPath {
        claims: directive == "auth_jwt_claim_set",
        path,
    };
    // SAFETY: the configuration pool outlives every request of this configuration; the
    // allocation is dropped by the pool's cleanup.
    let member = unsafe { ngx::core::Pool::from_ngx_pool(cf.pool) }.allocate(member);
    if member.is_null() {
        return NGX_CONF_ERROR;
    }
    // SAFETY: valid configuration context; nginx copies the name. Not cacheable: the value
    // depends on the token checked in the access phase.
    let var = unsafe {
        ngx_http_add_variable(
            cf,
            &mut name,
            (NGX_HTTP_VAR_CHANGEABLE | NGX_HTTP_VAR_NOCACHEABLE) as ngx_uint_t,
        )
    };
    // SAFETY: a non-null result is the variable nginx registered.
    let Some(var) = (unsafe { var.as_mut() }) else {
        return NGX_CONF_ERROR;
    };
    var.get_handler = Some(crate::variables::ngx_http_auth_jwt_path_variable);
    var.data = member as usize;
    ptr::null_mut()
}

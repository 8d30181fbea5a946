//! The module's directive table.

use std::ffi::{c_char, c_void, CStr};
use std::mem;
use std::ptr::{self};

use ngx::ffi::{
    ngx_command_t, ngx_conf_set_sec_slot, ngx_conf_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE,
    NGX_CONF_2MORE, NGX_CONF_TAKE1, NGX_CONF_TAKE12, NGX_HTTP_LMT_CONF, NGX_HTTP_LOC_CONF,
    NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF,
};

use super::auth::{set_auth_jwt, set_type};
use super::cache::set_cache;
use super::ext::{guard_setter, guarded_setters};
use super::keys::{set_key_file, set_key_request};
use super::member::set_member;
use super::require::set_require;
use super::revocation::set_revocation_list;
use super::LocConf;

guarded_setters! {
    ngx_http_auth_jwt => set_auth_jwt,
    ngx_http_auth_jwt_key_file => set_key_file,
    ngx_http_auth_jwt_require => set_require,
    ngx_http_auth_jwt_member_set => set_member,
    ngx_http_auth_jwt_cache => set_cache,
    ngx_http_auth_jwt_key_request => set_key_request,
    ngx_http_auth_jwt_type => set_type,
    ngx_http_auth_jwt_revocation_list => set_revocation_list,
}

const fn cmd(
    name: &'static CStr,
    type_: u32,
    set: unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
    offset: usize,
) -> ngx_command_t {
    ngx_command_t {
        name: ngx_str_t {
            len: name.count_bytes(),
            data: name.as_ptr().cast_mut().cast(),
        },
        type_: type_ as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset,
        post: ptr::null_mut(),
    }
}

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

/// The module's directives.
pub static mut NGX_HTTP_AUTH_JWT_COMMANDS: [ngx_command_t; 14] = [
    cmd(
        c"auth_jwt",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE12,
        ngx_http_auth_jwt,
        0,
    ),
    cmd(
        c"auth_jwt_key_file",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE1,
        ngx_http_auth_jwt_key_file,
        0,
    ),
    cmd(
        c"auth_jwt_key_request",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE1,
        ngx_http_auth_jwt_key_request,
        0,
    ),
    cmd(
        c"auth_jwt_key_cache",
        ANY_LEVEL | NGX_CONF_TAKE1,
        ngx_conf_set_sec_slot,
        mem::offset_of!(LocConf, key_cache),
    ),
    cmd(
        c"auth_jwt_type",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE1,
        ngx_http_auth_jwt_type,
        0,
    ),
    cmd(
        c"auth_jwt_leeway",
        ANY_LEVEL | NGX_CONF_TAKE1,
        ngx_conf_set_sec_slot,
        mem::offset_of!(LocConf, leeway),
    ),
    cmd(
        c"auth_jwt_require",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_1MORE,
        ngx_http_auth_jwt_require,
        0,
    ),
    cmd(
        c"auth_jwt_cache",
        ANY_LEVEL | NGX_CONF_TAKE12,
        ngx_http_auth_jwt_cache,
        0,
    ),
    cmd(
        c"auth_jwt_claim_set",
        NGX_HTTP_MAIN_CONF | NGX_CONF_2MORE,
        ngx_http_auth_jwt_member_set,
        0,
    ),
    cmd(
        c"auth_jwt_header_set",
        NGX_HTTP_MAIN_CONF | NGX_CONF_2MORE,
        ngx_http_auth_jwt_member_set,
        0,
    ),
    cmd(
        c"auth_jwt_revocation_list_sub",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_1MORE,
        ngx_http_auth_jwt_revocation_list,
        0,
    ),
    cmd(
        c"auth_jwt_revocation_list_kid",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_1MORE,
        ngx_http_auth_jwt_revocation_list,
        0,
    ),
    cmd(
        c"auth_jwt_revocation_list_jti",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_1MORE,
        ngx_http_auth_jwt_revocation_list,
        0,
    ),
    ngx_command_t::empty(),
];

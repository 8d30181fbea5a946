//! `$auth_jwt_status`, `$jwt_payload`, `$jwt_claim_<name>`, `$jwt_header_<name>`.
//!
//! All are non-cacheable. Read in a location where `auth_jwt` is on before its access handler
//! ran (rewrite phases: `if`, `set`, `return`; preaccess: `limit_req`, `limit_conn`; a `map`
//! used there), they make the token check right then, once per request, and the access handler
//! reuses that verdict (see [`handler::check_for_variable`]). Elsewhere they read the request's last verdict,
//! so they keep their values after an internal redirect and in the access log of rejected
//! requests. They are empty (not found) when no check was made or, for claims and header
//! members, when the token was refused or does not have that member.

use std::ffi::CStr;

use auth_jwt_core::glue::{find_member, has_control};
use auth_jwt_core::{lookup, render, CacheUse};
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_get_variable_pt, ngx_http_request_t, ngx_int_t,
    ngx_pnalloc, ngx_str_t, ngx_uint_t, ngx_variable_value_t, NGX_ERROR, NGX_HTTP_VAR_NOCACHEABLE,
    NGX_HTTP_VAR_PREFIX, NGX_OK,
};
use serde_json::{Map, Value};

use crate::conf::{Auth, LocConf};
use crate::handler;
use crate::state::{self, RequestState, Verdict};
use crate::AuthJwtModule;
use ngx::http::HttpModuleLocationConf;

const CLAIM_PREFIX: &str = "jwt_claim_";
const HEADER_PREFIX: &str = "jwt_header_";

struct Var {
    name: &'static CStr,
    get: ngx_http_get_variable_pt,
    flags: u32,
}

const VARS: [Var; 6] = [
    Var {
        name: c"auth_jwt_cache_status",
        get: Some(ngx_http_auth_jwt_cache_status_variable),
        flags: NGX_HTTP_VAR_NOCACHEABLE,
    },
    Var {
        name: c"auth_jwt_cache_stats",
        get: Some(ngx_http_auth_jwt_cache_stats_variable),
        flags: NGX_HTTP_VAR_NOCACHEABLE,
    },
    Var {
        name: c"auth_jwt_status",
        get: Some(ngx_http_auth_jwt_status_variable),
        flags: NGX_HTTP_VAR_NOCACHEABLE,
    },
    Var {
        name: c"jwt_payload",
        get: Some(ngx_http_auth_jwt_payload_variable),
        flags: NGX_HTTP_VAR_NOCACHEABLE,
    },
    Var {
        name: c"jwt_claim_",
        get: Some(ngx_http_auth_jwt_claim_variable),
        flags: NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_PREFIX,
    },
    Var {
        name: c"jwt_header_",
        get: Some(ngx_http_auth_jwt_header_variable),
        flags: NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_PREFIX,
    },
];

/// Registers the variables (called from `preconfiguration`).
pub fn register(cf: &mut ngx_conf_t) -> ngx_int_t {
    for v in VARS {
        let mut name = ngx_str_t {
            len: v.name.count_bytes(),
            data: v.name.as_ptr().cast_mut().cast(),
        };
        // SAFETY: valid configuration context; nginx copies the name into its own pool.
        let var = unsafe { ngx_http_add_variable(cf, &mut name, v.flags as ngx_uint_t) };
        // SAFETY: a non-null result points at the variable nginx just registered.
        let Some(var) = (unsafe { var.as_mut() }) else {
            return NGX_ERROR as ngx_int_t;
        };
        var.get_handler = v.get;
        var.data = 0;
    }
    NGX_OK as ngx_int_t
}

/// Copies `bytes` into the request pool and makes `v` point at them.
fn set_value(r: &ngx_http_request_t, v: &mut ngx_variable_value_t, bytes: &[u8]) -> ngx_int_t {
    if bytes.len() >= 1 << 28 {
        v.set_not_found(1);
        return NGX_OK as ngx_int_t;
    }
    // SAFETY: the request pool is valid; we write exactly `len` bytes into the allocation.
    let data = unsafe {
        let p = ngx_pnalloc(r.pool, bytes.len().max(1)).cast::<u8>();
        if p.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        p
    };
    v.data = data;
    v.set_len(bytes.len() as u32);
    v.set_valid(1);
    v.set_no_cacheable(1);
    v.set_not_found(0);
    v.set_escape(0);
    NGX_OK as ngx_int_t
}

/// Runs a get handler body; a panic must not unwind into nginx, so it becomes an error.
fn guard(
    v: &mut ngx_variable_value_t,
    f: impl FnOnce(&mut ngx_variable_value_t) -> ngx_int_t,
) -> ngx_int_t {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(v)))
        .unwrap_or(NGX_ERROR as ngx_int_t)
}

fn not_found(v: &mut ngx_variable_value_t) -> ngx_int_t {
    v.set_not_found(1);
    NGX_OK as ngx_int_t
}

/// Shared prologue of the get handlers.
///
/// # Safety
/// `r` and `v` must be the pointers nginx passes to a variable get handler.
unsafe fn args<'a>(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
) -> (&'a mut ngx_http_request_t, &'a mut ngx_variable_value_t) {
    // SAFETY: guaranteed by the caller.
    unsafe { (&mut *r, &mut *v) }
}

/// The request's state for reading a variable: in a main request whose location has
/// `auth_jwt` on and no verdict for its check yet, the check is made now.
fn request_state<'a>(r: &mut ngx_http_request_t) -> Option<&'a RequestState> {
    if std::ptr::eq(r, r.main) {
        let lc: Option<&LocConf> = AuthJwtModule::location_conf(&*r);
        if let Some(lc) = lc.filter(|lc| matches!(lc.auth, Some(Auth::On { .. }))) {
            let decided = state::find(r).is_some_and(|s| s.verdict.is_some());
            if !(decided && state::has_check_for(r, lc)) {
                handler::check_for_variable(r, lc);
            }
        }
    }
    state::find(r)
}

/// The request's verdict (see [`request_state`]).
fn verdict<'a>(r: &mut ngx_http_request_t) -> Option<&'a Verdict> {
    request_state(r).and_then(|s| s.verdict.as_ref())
}

/// The verified token (see [`request_state`]). A token answered from the verified-token cache
/// gets the request's token bytes here, when a variable first reads it.
fn token<'a>(r: &mut ngx_http_request_t) -> Option<&'a auth_jwt_core::Token> {
    let st = request_state(r)?;
    let token = st.verdict.as_ref()?.token.as_ref()?;
    if let Some(bytes) = st.token {
        token.provide_raw(bytes.get(r));
    }
    Some(token)
}

unsafe extern "C" fn ngx_http_auth_jwt_status_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    // SAFETY: called by nginx as a variable get handler.
    let (r, v) = unsafe { args(r, v) };
    guard(v, |v| {
        match request_state(r).and_then(RequestState::status) {
            Some(s) => set_value(r, v, s.as_str().as_bytes()),
            None => not_found(v),
        }
    })
}

unsafe extern "C" fn ngx_http_auth_jwt_cache_status_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    // SAFETY: called by nginx as a variable get handler.
    let (r, v) = unsafe { args(r, v) };
    guard(v, |v| match verdict(r).map(|s| s.cache) {
        Some(CacheUse::Hit) => set_value(r, v, b"HIT"),
        Some(CacheUse::Miss) => set_value(r, v, b"MISS"),
        Some(CacheUse::Busy) => set_value(r, v, b"BUSY"),
        _ => not_found(v),
    })
}

/// `$auth_jwt_cache_stats`: the counters of the location's `auth_jwt_cache` zone.
unsafe extern "C" fn ngx_http_auth_jwt_cache_stats_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    // SAFETY: called by nginx as a variable get handler.
    let (r, v) = unsafe { args(r, v) };
    guard(v, |v| {
        let lc: Option<&LocConf> = AuthJwtModule::location_conf(&*r);
        // SAFETY: the zone belongs to the configuration's cycle, which outlives the request.
        let zone = lc
            .and_then(|lc| lc.cache.flatten())
            .map(|c| unsafe { c.zone.as_ref() });
        match zone.and_then(crate::verdict_zone::stats) {
            Some(s) => set_value(r, v, s.to_string().as_bytes()),
            None => not_found(v),
        }
    })
}

unsafe extern "C" fn ngx_http_auth_jwt_payload_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    // SAFETY: called by nginx as a variable get handler.
    let (r, v) = unsafe { args(r, v) };
    guard(v, |v| match token(r) {
        // JSON may hold raw CR/LF between its tokens: re-serialise such a payload compactly so
        // the value is safe in a header (JSON escapes control characters inside strings).
        Some(t) if has_control(t.payload().as_bytes()) => match serde_json::to_string(t.claims()) {
            Ok(compact) => set_value(r, v, compact.as_bytes()),
            Err(_) => not_found(v),
        },
        Some(t) => set_value(r, v, t.payload().as_bytes()),
        None => not_found(v),
    })
}

unsafe extern "C" fn ngx_http_auth_jwt_claim_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: called by nginx as a variable get handler; for prefix variables `data` is the
    // address of the full variable name (see ngx_http_variables_init_vars).
    let ((r, v), name) = unsafe { (args(r, v), (data as *const ngx_str_t).as_ref()) };
    guard(v, |v| member(r, v, name, CLAIM_PREFIX, |t| t.claims()))
}

unsafe extern "C" fn ngx_http_auth_jwt_header_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: as for `ngx_http_auth_jwt_claim_variable`.
    let ((r, v), name) = unsafe { (args(r, v), (data as *const ngx_str_t).as_ref()) };
    guard(v, |v| member(r, v, name, HEADER_PREFIX, |t| t.header()))
}

fn member(
    r: &mut ngx_http_request_t,
    v: &mut ngx_variable_value_t,
    name: Option<&ngx_str_t>,
    prefix: &str,
    map: impl Fn(&auth_jwt_core::Token) -> &Map<String, Value>,
) -> ngx_int_t {
    let Some(name) = name else {
        return not_found(v);
    };
    let Some(key) = name.as_bytes().strip_prefix(prefix.as_bytes()) else {
        return not_found(v);
    };
    let Some(token) = token(r) else {
        return not_found(v);
    };
    match find_member(map(token), key) {
        Some(value) => set_rendered(r, v, value),
        None => not_found(v),
    }
}

/// Renders a claim or header member into `v`.
fn set_rendered(r: &ngx_http_request_t, v: &mut ngx_variable_value_t, value: &Value) -> ngx_int_t {
    let text = render(value);
    // A signed claim is still client-influenced text (a display name, say). CR/LF in a value
    // would split the header it is written into (proxy_set_header X-User-ID $jwt_claim_sub):
    // such a value is not exposed at all.
    if has_control(text.as_bytes()) {
        return not_found(v);
    }
    set_value(r, v, text.as_bytes())
}

/// What an `auth_jwt_claim_set` / `auth_jwt_header_set` variable reads.
pub struct MemberPath {
    /// Claims (`true`) or the JOSE header (`false`).
    pub claims: bool,
    /// Member names from the root into nested objects.
    pub path: Vec<String>,
}

/// Get handler of the variables that `auth_jwt_claim_set` / `auth_jwt_header_set` declare;
/// `data` is the address of their [`MemberPath`], owned by the configuration pool.
pub unsafe extern "C" fn ngx_http_auth_jwt_path_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: called by nginx as a variable get handler; `data` was set by the directive to a
    // `MemberPath` that lives as long as the configuration.
    let ((r, v), path) = unsafe { (args(r, v), (data as *const MemberPath).as_ref()) };
    guard(v, |v| {
        let Some(path) = path else {
            return not_found(v);
        };
        let Some(token) = token(r) else {
            return not_found(v);
        };
        let root = if path.claims {
            token.claims()
        } else {
            token.header()
        };
        let names: Vec<&str> = path.path.iter().map(String::as_str).collect();
        match lookup(root, &names) {
            Some(value) => set_rendered(r, v, value),
            None => not_found(v),
        }
    })
}

//! The access-phase handler: find the token, verify it, apply `auth_jwt_require`, answer.

use std::panic::{self, AssertUnwindSafe};

use std::sync::Arc;

use auth_jwt_core::{
    bearer_token, is_truthy, verify, verify_cached, verify_typed, CacheUse, KeySet, Rejection,
    Status, TokenType, Validation,
};
use ngx::ffi::{
    ngx_http_complex_value, ngx_http_complex_value_t, ngx_http_request_t, ngx_int_t, ngx_list_push,
    ngx_log_t, ngx_pnalloc, ngx_str_t, ngx_table_elt_t, ngx_time, ngx_uint_t, NGX_AGAIN,
    NGX_DECLINED, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_UNAUTHORIZED, NGX_LOG_ERR,
    NGX_LOG_INFO, NGX_OK,
};
use ngx::http::HttpModuleLocationConf;

use crate::cache::ShmCache;
use crate::conf::{Auth, LocConf};
use crate::keyrequest::{self, Keys};
use crate::state::{self, RequestState};
use crate::AuthJwtModule;

/// Registered in the access phase by `postconfiguration`.
pub unsafe extern "C" fn ngx_http_auth_jwt_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls phase handlers with a valid request.
    let r = unsafe { &mut *r };
    // A panic must never unwind into nginx: turn it into a 500 and a log line.
    match panic::catch_unwind(AssertUnwindSafe(|| access(r))) {
        Ok(rc) => rc,
        Err(_) => {
            log(
                r,
                NGX_LOG_ERR,
                "auth_jwt: internal error while checking the token (error)",
            );
            // Best effort: $auth_jwt_status then reads "error".
            let _ = panic::catch_unwind(AssertUnwindSafe(|| internal_error(r)));
            NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t
        }
    }
}

fn access(r: &mut ngx_http_request_t) -> ngx_int_t {
    if !std::ptr::eq(r, r.main) {
        return NGX_DECLINED as ngx_int_t;
    }
    let Some(lc) = AuthJwtModule::location_conf(&*r) else {
        return NGX_DECLINED as ngx_int_t;
    };
    let (realm, token_cv) = match lc.auth {
        Some(Auth::On { realm, token }) => (realm, token),
        _ => return NGX_DECLINED as ngx_int_t,
    };
    // Already decided in this location (the access phase can run again, e.g. with satisfy).
    if let Some(s) = state::current_mut(r) {
        return s.rc;
    }

    let raw = match token_cv {
        // SAFETY: complex values compiled at configuration time live as long as the cycle.
        Some(cv) => complex_value(r, unsafe { cv.as_ref() }),
        None => authorization(r),
    };
    let Some(raw) = raw else {
        return NGX_ERROR as ngx_int_t;
    };

    let ty = lc.ty.unwrap_or(TokenType::Signed);
    let now = ngx_time() as i64;
    // Keys found per request: from subrequests, or from key files with variables in their
    // names (parsed once per worker).
    let mut refreshable = false;
    // A request without a token needs no keys: it does not make key subrequests.
    let dynamic: Option<Arc<KeySet>> = if raw.is_empty() && lc.key_requests.is_some() {
        None
    } else if let Some(uris) = &lc.key_requests {
        match keyrequest::keys(r, lc, uris, now) {
            Keys::Ready {
                set,
                refreshable: again,
                warning,
            } => {
                if let Some(w) = warning {
                    log(r, NGX_LOG_ERR, &format!("auth_jwt: {w}"));
                }
                refreshable = again;
                Some(set)
            }
            Keys::Pending => return NGX_AGAIN as ngx_int_t,
            Keys::Failed(e) => {
                log(r, NGX_LOG_ERR, &format!("auth_jwt: {e} (error)"));
                return internal_error(r);
            }
        }
    } else if let Some(paths) = &lc.key_paths {
        match crate::keyfiles::resolve(r, lc, paths, now) {
            Ok(set) => Some(set),
            Err(e) => {
                log(
                    r,
                    NGX_LOG_ERR,
                    &format!("auth_jwt: auth_jwt_key_file: {e} (error)"),
                );
                return internal_error(r);
            }
        }
    } else {
        None
    };
    let fixed = match ty {
        TokenType::Signed => lc.keys.as_deref(),
        TokenType::Encrypted | TokenType::Nested => lc.dec_keys.as_deref(),
    };
    // Merge refuses `auth_jwt` without keys except at a server{}'s own level (requests that
    // match no location): fail closed.
    let keys = dynamic.as_deref().or(fixed);
    if keys.is_none() && !(raw.is_empty() && lc.key_requests.is_some()) {
        log(
            r,
            NGX_LOG_ERR,
            "auth_jwt: no \"auth_jwt_key_file\" applies to this request (error)",
        );
        return internal_error(r);
    }
    let validation = Validation {
        now,
        leeway: lc.leeway,
    };
    let (result, cache) = match raw {
        [] => (
            Err(Rejection {
                status: Status::Missing,
                detail: if token_cv.is_some() {
                    "the token variable is empty"
                } else {
                    "no bearer token in the Authorization header"
                },
            }),
            CacheUse::None,
        ),
        t => match (ty, lc.cache, keys) {
            // Not reached: a token without keys was answered with 500 above.
            (_, _, None) => return internal_error(r),
            (TokenType::Signed, Some(Some(c)), Some(keys)) => {
                // SAFETY: the zone belongs to the cycle this configuration belongs to.
                let zone = unsafe { c.zone.as_ref() };
                verify_cached(t, keys, &validation, &ShmCache { zone }, c.max_age)
            }
            (TokenType::Signed, _, Some(keys)) => (verify(t, keys, &validation), CacheUse::None),
            // Decryption yields the claims: there is no verdict to cache.
            (_, _, Some(keys)) => (verify_typed(t, keys, &validation, ty), CacheUse::None),
        },
    };

    // A kid the cached keys do not know: the key source may have rotated.
    if refreshable && result.as_ref().is_err_and(|e| e.is_unknown_kid()) {
        if let Some(uris) = &lc.key_requests {
            match keyrequest::refresh(r, lc, uris, now) {
                Some(Keys::Pending) => return NGX_AGAIN as ngx_int_t,
                Some(Keys::Failed(e)) => {
                    log(r, NGX_LOG_ERR, &format!("auth_jwt: {e} (error)"));
                    return internal_error(r);
                }
                Some(Keys::Ready {
                    warning: Some(w), ..
                }) => log(r, NGX_LOG_ERR, &format!("auth_jwt: {w}")),
                Some(Keys::Ready { warning: None, .. }) | None => {}
            }
        }
    }

    let (status, token, rejection) = match result {
        Ok(token) => (Status::Valid, Some(token), None),
        Err(rej) => (rej.status, None, Some(rej)),
    };
    let state = RequestState {
        status,
        cache,
        token,
        rc: NGX_DECLINED as ngx_int_t,
    };
    if !state::attach(r, state) {
        return NGX_ERROR as ngx_int_t;
    }

    let rc = match rejection {
        Some(rej) => {
            log(
                r,
                NGX_LOG_INFO,
                &format!("auth_jwt: {} ({})", rej.detail, rej.status.as_str()),
            );
            unauthorized(r, realm.as_ptr(), rej.status != Status::Missing)
        }
        None => check_require(r, lc),
    };
    if let Some(s) = state::current_mut(r) {
        s.rc = rc;
    }
    rc
}

/// Records `$auth_jwt_status` = `error` for the request and answers 500.
fn internal_error(r: &mut ngx_http_request_t) -> ngx_int_t {
    let rc = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    let state = RequestState {
        status: Status::Error,
        cache: CacheUse::None,
        token: None,
        rc,
    };
    if state::attach(r, state) {
        rc
    } else {
        NGX_ERROR as ngx_int_t
    }
}

/// `auth_jwt_require`: every value of every directive must be non-empty and not "0".
fn check_require(r: &mut ngx_http_request_t, lc: &LocConf) -> ngx_int_t {
    let Some(list) = &lc.require else {
        return NGX_OK as ngx_int_t;
    };
    for req in list {
        for cv in &req.values {
            // SAFETY: complex values compiled at configuration time live as long as the cycle.
            let Some(v) = complex_value(r, unsafe { cv.as_ref() }) else {
                return NGX_ERROR as ngx_int_t;
            };
            if !is_truthy(v) {
                if let Some(s) = state::current_mut(r) {
                    s.status = Status::RequireFailed;
                }
                log(
                    r,
                    NGX_LOG_INFO,
                    "auth_jwt: a value of \"auth_jwt_require\" is empty or \"0\" (require_failed)",
                );
                if req.status == NGX_HTTP_UNAUTHORIZED as ngx_uint_t {
                    if let Some(Auth::On { realm, .. }) = lc.auth {
                        return unauthorized(r, realm.as_ptr(), true);
                    }
                }
                return req.status as ngx_int_t;
            }
        }
    }
    NGX_OK as ngx_int_t
}

/// Evaluates a complex value into request-pool memory.
fn complex_value<'a>(
    r: &mut ngx_http_request_t,
    cv: &ngx_http_complex_value_t,
) -> Option<&'a [u8]> {
    let mut v = ngx_str_t::empty();
    // SAFETY: valid request and complex value; on success `v` points into the request pool.
    let rc = unsafe { ngx_http_complex_value(r, cv as *const _ as *mut _, &mut v) };
    if rc != NGX_OK as ngx_int_t {
        return None;
    }
    if v.len == 0 {
        return Some(&[]);
    }
    // SAFETY: nginx returned `len` valid bytes at `data`, alive as long as the request.
    Some(unsafe { std::slice::from_raw_parts(v.data, v.len) })
}

/// The bearer credentials of the Authorization header, or empty when there are none.
fn authorization<'a>(r: &ngx_http_request_t) -> Option<&'a [u8]> {
    // SAFETY: `authorization` is null or points at a header of this request.
    let Some(h) = (unsafe { r.headers_in.authorization.as_ref() }) else {
        return Some(&[]);
    };
    if h.value.len == 0 || h.value.data.is_null() {
        return Some(&[]);
    }
    // SAFETY: header values are valid for the life of the request.
    let value = unsafe { std::slice::from_raw_parts(h.value.data, h.value.len) };
    Some(bearer_token(value).unwrap_or(&[]))
}

/// Sets `WWW-Authenticate` (RFC 6750) through `headers_out.www_authenticate`, so that
/// `satisfy any` can withdraw it, and returns 401.
fn unauthorized(
    r: &mut ngx_http_request_t,
    realm: *mut ngx_http_complex_value_t,
    invalid: bool,
) -> ngx_int_t {
    // SAFETY: the realm complex value lives as long as the configuration.
    let Some(realm) = complex_value(r, unsafe { &*realm }) else {
        return NGX_ERROR as ngx_int_t;
    };
    let mut value = Vec::with_capacity(realm.len() + 48);
    value.extend_from_slice(b"Bearer realm=\"");
    for &b in realm {
        if b == b'"' || b == b'\\' {
            value.push(b'\\');
        }
        value.push(b);
    }
    value.push(b'"');
    if invalid {
        value.extend_from_slice(b", error=\"invalid_token\"");
    }

    // SAFETY: the request pool and the output header list are valid; the pushed element is
    // zeroed before use so fields that differ between nginx versions (`next`) are null.
    unsafe {
        let data = ngx_pnalloc(r.pool, value.len()).cast::<u8>();
        if data.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        std::ptr::copy_nonoverlapping(value.as_ptr(), data, value.len());
        let h = ngx_list_push(&mut r.headers_out.headers).cast::<ngx_table_elt_t>();
        if h.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        std::ptr::write_bytes(h, 0, 1);
        (*h).hash = 1;
        (*h).key = ngx_str_t {
            len: 16,
            data: c"WWW-Authenticate".as_ptr().cast_mut().cast(),
        };
        (*h).value = ngx_str_t {
            len: value.len(),
            data,
        };
        r.headers_out.www_authenticate = h;
    }
    NGX_HTTP_UNAUTHORIZED as ngx_int_t
}

/// Writes one error-log line for the request. The request line nginx would append can carry
/// the token in its query string (`?token=`), so the line names the client and the request
/// path without the arguments instead.
fn log(r: &ngx_http_request_t, level: u32, msg: &str) {
    // SAFETY: a request always has a connection with a valid log.
    let log: &mut ngx_log_t = unsafe { &mut *(*r.connection).log };
    if (level as ngx_uint_t) > log.log_level {
        return;
    }
    let mut line = String::with_capacity(msg.len() + 96);
    line.push_str(msg);
    // SAFETY: `addr_text` is set for every accepted connection; request fields are valid
    // strings of the request (possibly empty).
    unsafe {
        let c = &*r.connection;
        line.push_str(", client: ");
        line.push_str(&String::from_utf8_lossy(c.addr_text.as_bytes()));
        let method = r.method_name.as_bytes();
        let uri = r.uri.as_bytes();
        if !method.is_empty() {
            line.push_str(", request: \"");
            line.push_str(&String::from_utf8_lossy(method));
            line.push(' ');
            line.push_str(&escape(uri));
            if r.args.len > 0 {
                line.push_str("?...");
            }
            line.push('"');
        }
    }
    let handler = log.handler.take();
    // SAFETY: the log is valid; "%*s" reads exactly `len` bytes of `line`.
    unsafe {
        ngx::ffi::ngx_log_error_core(
            level as ngx_uint_t,
            log,
            0,
            c"%*s".as_ptr(),
            line.len(),
            line.as_ptr(),
        );
    }
    log.handler = handler;
}

/// Control characters and non-ASCII bytes of a client-sent path are escaped for the log.
fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02X}"));
        }
    }
    s
}

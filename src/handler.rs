//! The access-phase handler: find the token, verify it, apply `auth_jwt_require`, answer.

use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use auth_jwt_core::{
    bearer_token, is_truthy, verify, verify_cached, verify_typed, www_authenticate, CacheUse,
    KeySet, Rejection, Status, TokenType, Validation,
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
use crate::state::{self, Verdict};
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
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                if let Some(lc) = AuthJwtModule::location_conf(&*r) {
                    internal_error(r, lc);
                }
            }));
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
    let Some(Auth::On { realm, .. }) = lc.auth else {
        return NGX_DECLINED as ngx_int_t;
    };
    // Already answered in this location (the access phase can run again, e.g. with satisfy).
    if let Some(rc) = state::answered(r, lc) {
        return rc;
    }
    match check(r, lc, Phase::Access) {
        Check::Made => {}
        Check::Pending => return NGX_AGAIN as ngx_int_t,
        Check::Failed(rc) => return rc,
        // Only a check already running for this request (it panicked) gets here: fail closed.
        Check::Unavailable => return internal_error(r, lc),
    }
    let status = state::current_mut(r)
        .and_then(|s| s.verdict.as_ref())
        .map_or(Status::Error, |v| v.status);
    let rc = match status {
        Status::Valid => check_require(r, lc),
        Status::Error => NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        s => unauthorized(r, realm.as_ptr(), s != Status::Missing),
    };
    if let Some(s) = state::current_mut(r) {
        s.rc = Some(rc);
    }
    rc
}

/// Where a check is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The access handler: it may wait for key subrequests.
    Access,
    /// A variable read before the access phase (or in a phase after it, in a location whose
    /// access handler did not run): nothing can be waited for there.
    Variable,
}

/// The outcome of [`check`].
enum Check {
    /// The request's state for this configuration has a verdict.
    Made,
    /// A key subrequest is running: the access handler returns `NGX_AGAIN`.
    Pending,
    /// No verdict can be made now (keys that only a subrequest can bring, or a check already
    /// running for this request): a variable stays empty.
    Unavailable,
    /// Answer with this code (nginx could not give memory).
    Failed(ngx_int_t),
}

/// Makes the request's verdict for `lc` if it has none: finds the token (once per request),
/// the keys, and verifies. A refused token gets one `info` line; a check that cannot be made
/// (no keys, a key source failing) gets an `error` line and the verdict `error` (500).
fn check(r: &mut ngx_http_request_t, lc: &LocConf, phase: Phase) -> Check {
    let Some(Auth::On { token, .. }) = lc.auth else {
        return Check::Unavailable;
    };
    let Some(st) = state::for_conf(r, lc) else {
        return Check::Failed(NGX_ERROR as ngx_int_t);
    };
    if st.verdict.is_some() {
        return Check::Made;
    }
    if st.busy {
        return Check::Unavailable;
    }
    st.busy = true;
    let outcome = verify_request(r, lc, token, phase);
    if let Some(st) = state::current_mut(r) {
        st.busy = false;
    }
    match outcome {
        Ok(Some(verdict)) => {
            if let Some(st) = state::current_mut(r) {
                st.verdict = Some(verdict);
            }
            Check::Made
        }
        Ok(None) => Check::Unavailable,
        Err(c) => c,
    }
}

/// [`check`] for a variable read outside the access handler. A panic must not unwind into
/// nginx: it becomes the verdict `error` with its `error` line, and the access handler
/// answers 500.
pub fn check_for_variable(r: &mut ngx_http_request_t, lc: &LocConf) {
    if panic::catch_unwind(AssertUnwindSafe(|| check(r, lc, Phase::Variable))).is_err() {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            log(
                r,
                NGX_LOG_ERR,
                "auth_jwt: internal error while checking the token (error)",
            );
            internal_error(r, lc);
        }));
    }
}

/// The verification behind [`check`]: `Ok(None)` when no verdict can be made now.
fn verify_request(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    token_cv: Option<NonNull<ngx_http_complex_value_t>>,
    phase: Phase,
) -> Result<Option<Verdict>, Check> {
    let oom = || Check::Failed(NGX_ERROR as ngx_int_t);
    // The token, read once per request (a key subrequest may change its variable).
    let raw = match state::current_mut(r).and_then(|s| s.raw()) {
        Some(raw) => raw,
        None => {
            let raw = match token_cv {
                // SAFETY: complex values compiled at configuration time live as long as the
                // cycle.
                Some(cv) => complex_value(r, unsafe { cv.as_ref() }),
                None => authorization(r),
            }
            .ok_or_else(oom)?;
            state::current_mut(r).ok_or_else(oom)?.set_raw(raw);
            raw
        }
    };

    let ty = lc.ty.unwrap_or(TokenType::Signed);
    let now = ngx_time() as i64;
    // Keys found per request: from subrequests, or from key files with variables in their
    // names (parsed once per worker).
    let mut refreshable = false;
    let mut key_uris: Option<Vec<String>> = None;
    // A request without a token needs no keys: it does not make key subrequests.
    let dynamic: Option<Arc<KeySet>> = if raw.is_empty() && lc.key_requests.is_some() {
        None
    } else if let Some(uris) = &lc.key_requests {
        let names = match state::current_mut(r).and_then(|s| s.key_uris.clone()) {
            Some(names) => names,
            None => match keyrequest::evaluate(r, uris) {
                Ok(names) => {
                    state::current_mut(r).ok_or_else(oom)?.key_uris = Some(names.clone());
                    names
                }
                Err(e) => return Ok(Some(failure(r, &format!("auth_jwt: {e} (error)")))),
            },
        };
        let keys = match phase {
            Phase::Access => keyrequest::keys(r, lc, &names, now),
            // Nothing can be waited for inside a variable: the keys this worker holds, or
            // no verdict until the access phase.
            Phase::Variable => match keyrequest::cached(lc, &names, now) {
                Some(k) => k,
                None => return Ok(None),
            },
        };
        key_uris = Some(names);
        match keys {
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
            Keys::Pending => return Err(Check::Pending),
            Keys::Failed(e) => return Ok(Some(failure(r, &format!("auth_jwt: {e} (error)")))),
        }
    } else if let Some(paths) = &lc.key_paths {
        match crate::keyfiles::resolve(r, lc, paths, now) {
            Ok(set) => Some(set),
            Err(e) => {
                return Ok(Some(failure(
                    r,
                    &format!("auth_jwt: auth_jwt_key_file: {e} (error)"),
                )))
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
    let validation = Validation {
        now,
        leeway: lc.leeway,
    };
    if keys.is_none() && !(raw.is_empty() && lc.key_requests.is_some()) {
        return Ok(Some(failure(
            r,
            "auth_jwt: no \"auth_jwt_key_file\" applies to this request (error)",
        )));
    }
    let (result, cache) = match (raw, keys) {
        ([], _) => (
            Err(Rejection::new(
                Status::Missing,
                if token_cv.is_some() {
                    "the token variable is empty"
                } else {
                    "no bearer token in the Authorization header"
                },
            )),
            CacheUse::None,
        ),
        // Not reached: a token without keys was refused above.
        (_, None) => return Ok(Some(failure(r, "auth_jwt: no keys (error)"))),
        (t, Some(keys)) => match (ty, lc.cache) {
            (TokenType::Signed, Some(Some(c))) => {
                // SAFETY: the zone belongs to the cycle this configuration belongs to.
                let zone = unsafe { c.zone.as_ref() };
                verify_cached(t, keys, &validation, &ShmCache { zone }, c.max_age)
            }
            (TokenType::Signed, _) => (verify(t, keys, &validation), CacheUse::None),
            // Decryption yields the claims: there is no verdict to cache.
            (_, _) => (verify_typed(t, keys, &validation, ty), CacheUse::None),
        },
    };

    // A kid the cached keys do not know: the key source may have rotated.
    if refreshable && result.as_ref().is_err_and(|e| e.is_unknown_kid()) {
        if phase == Phase::Variable {
            // The access phase may fetch the rotated keys.
            return Ok(None);
        }
        if let Some(names) = &key_uris {
            match keyrequest::refresh(r, lc, names, now) {
                Some(Keys::Pending) => return Err(Check::Pending),
                Some(Keys::Failed(e)) => {
                    return Ok(Some(failure(r, &format!("auth_jwt: {e} (error)"))))
                }
                Some(Keys::Ready {
                    warning: Some(w), ..
                }) => log(r, NGX_LOG_ERR, &format!("auth_jwt: {w}")),
                Some(Keys::Ready { warning: None, .. }) | None => {}
            }
        }
    }

    Ok(Some(match result {
        Ok(token) => Verdict {
            status: Status::Valid,
            cache,
            token: Some(token),
        },
        Err(rej) => {
            log(
                r,
                NGX_LOG_INFO,
                &format!("auth_jwt: {} ({})", rej.detail, rej.status.as_str()),
            );
            Verdict {
                status: rej.status,
                cache,
                token: None,
            }
        }
    }))
}

/// A check that cannot be made: logs `line` at `error`; the verdict is `error` (500).
fn failure(r: &ngx_http_request_t, line: &str) -> Verdict {
    log(r, NGX_LOG_ERR, line);
    Verdict {
        status: Status::Error,
        cache: CacheUse::None,
        token: None,
    }
}

/// Records `$auth_jwt_status` = `error` for the request and answers 500.
fn internal_error(r: &mut ngx_http_request_t, lc: &LocConf) -> ngx_int_t {
    let rc = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    let Some(st) = state::for_conf(r, lc) else {
        return NGX_ERROR as ngx_int_t;
    };
    st.busy = false;
    st.require_failed = false;
    st.verdict = Some(Verdict {
        status: Status::Error,
        cache: CacheUse::None,
        token: None,
    });
    st.rc = Some(rc);
    rc
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
                    s.require_failed = true;
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
    let value = www_authenticate(realm, invalid);

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

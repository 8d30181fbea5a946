//! The token check and the access handler.
//!
//! The check (find the token, find the keys, verify) is made once per request: by the access
//! handler, or earlier when a variable of the module is read in the rewrite or preaccess
//! phases ([`check_for_variable`]). The access handler then answers from the verdict: 401 with
//! `WWW-Authenticate`, 500, or `auth_jwt_require` and on.

use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use auth_jwt_core::{
    bearer_token, is_truthy, verify, verify_cached_with, verify_typed, www_authenticate, CacheUse,
    KeySet, Rejection, Status, TokenType, Validation,
};
use ngx::ffi::{
    ngx_http_complex_value_t, ngx_http_request_t, ngx_int_t, ngx_list_push, ngx_pnalloc, ngx_str_t,
    ngx_table_elt_t, ngx_time, ngx_uint_t, NGX_AGAIN, NGX_DECLINED, NGX_ERROR,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_UNAUTHORIZED, NGX_LOG_ERR, NGX_LOG_INFO, NGX_OK,
};
use ngx::http::HttpModuleLocationConf;

use crate::conf::{Auth, LocConf};
use crate::keyfiles;
use crate::keyrequest::{self, FetchError, Keys};
use crate::ngx_ext::{self, log_request, RequestBytes};
use crate::revocation::{self, Revocation};
use crate::state::{self, Verdict};
use crate::verdict_zone::VerdictZone;
use crate::AuthJwtModule;

/// Registered in the access phase by `postconfiguration`.
pub unsafe extern "C" fn ngx_http_auth_jwt_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls phase handlers with a valid request.
    let r = unsafe { &mut *r };
    // A panic must never unwind into nginx: turn it into a 500 and a log line.
    match panic::catch_unwind(AssertUnwindSafe(|| access(r))) {
        Ok(rc) => rc,
        Err(_) => {
            log_request(
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
        s => unauthorized(r, realm, s != Status::Missing),
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
    /// A variable read outside the access handler (before the access phase, or after it in a
    /// location whose access handler did not run): nothing can be waited for there.
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

/// Why [`verify_request`] made no verdict.
enum NoVerdict {
    /// See [`Check::Unavailable`].
    NotNow,
    /// See [`Check::Pending`].
    Pending,
    /// Out of memory.
    Oom,
}

/// Makes the request's verdict for `lc` if it has none: finds the token (once per request),
/// the keys, and verifies. A refused token gets one `info` line; a check that cannot be made
/// (no keys, a key source failing) gets an `error` line and the verdict `error` (500).
#[inline(always)]
fn check(r: &mut ngx_http_request_t, lc: &LocConf, phase: Phase) -> Check {
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
    let outcome = verify_request(r, lc, phase);
    let Some(st) = state::current_mut(r) else {
        return Check::Failed(NGX_ERROR as ngx_int_t);
    };
    st.busy = false;
    match outcome {
        Ok(()) => Check::Made,
        Err(NoVerdict::NotNow) => Check::Unavailable,
        Err(NoVerdict::Pending) => Check::Pending,
        Err(NoVerdict::Oom) => Check::Failed(NGX_ERROR as ngx_int_t),
    }
}

/// [`check`] for a variable read outside the access handler. A panic must not unwind into
/// nginx: it becomes the verdict `error` with its `error` line, and the access handler
/// answers 500.
pub fn check_for_variable(r: &mut ngx_http_request_t, lc: &LocConf) {
    if panic::catch_unwind(AssertUnwindSafe(|| check(r, lc, Phase::Variable))).is_err() {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            log_request(
                r,
                NGX_LOG_ERR,
                "auth_jwt: internal error while checking the token (error)",
            );
            internal_error(r, lc);
        }));
    }
}

/// Records the request's verdict in its state (built in place there: a verdict with its token
/// is large enough that each move costs).
fn set_verdict(r: &mut ngx_http_request_t, verdict: Verdict) -> Result<(), NoVerdict> {
    state::current_mut(r).ok_or(NoVerdict::Oom)?.verdict = Some(verdict);
    Ok(())
}

/// The check behind [`check`]: the token, the keys, the verification; the verdict is recorded
/// in the request's state.
#[inline(always)]
fn verify_request(r: &mut ngx_http_request_t, lc: &LocConf, phase: Phase) -> Result<(), NoVerdict> {
    let token = read_token(r, lc)?;
    let now = ngx_time() as i64;
    // `None`: the location's fixed key files only (the common case, with nothing to drop).
    let found = match find_keys(r, lc, token.is_empty(), phase, now)? {
        Ok(found) => found,
        Err(line) => return failure(r, &line),
    };
    let ty = lc.ty.unwrap_or(TokenType::Signed);
    let fixed = match ty {
        TokenType::Signed => lc.keys.as_deref(),
        TokenType::Encrypted | TokenType::Nested => lc.dec_keys.as_deref(),
    };
    // Merge refuses `auth_jwt` without keys except at a server{}'s own level (requests that
    // match no location): fail closed.
    let keys = found.as_ref().and_then(|f| f.set.as_deref()).or(fixed);
    if keys.is_none() && !(token.is_empty() && lc.key_requests.is_some()) {
        return failure(
            r,
            "auth_jwt: no \"auth_jwt_key_file\" applies to this request (error)",
        );
    }
    let validation = Validation {
        now,
        leeway: lc.leeway,
    };
    let mut cache = CacheUse::None;
    let result = match (token.get(r), keys) {
        ([], _) => Err(missing(lc)),
        // Not reached: a token without keys was refused above.
        (_, None) => return failure(r, "auth_jwt: no keys (error)"),
        (t, Some(keys)) => match (ty, lc.cache) {
            (TokenType::Signed, Some(Some(c))) => {
                // SAFETY: the zone belongs to the cycle this configuration belongs to.
                let zone = unsafe { c.zone.as_ref() };
                let zone = &VerdictZone { zone };
                verify_cached_with(t, keys, &validation, zone, c.max_age, &mut cache)
            }
            (TokenType::Signed, _) => verify(t, keys, &validation),
            // Decryption yields the claims: there is no verdict to cache.
            (_, _) => verify_typed(t, keys, &validation, ty),
        },
    };

    // A kid the cached keys do not know: the key source may have rotated.
    if result.as_ref().is_err_and(Rejection::is_unknown_kid) {
        if let Some(names) = found.as_ref().and_then(|f| f.refreshable.as_ref()) {
            if phase == Phase::Variable {
                // The access phase may fetch the rotated keys.
                return Err(NoVerdict::NotNow);
            }
            match keyrequest::refresh(r, lc, names, now) {
                Some(Keys::Pending) => return Err(NoVerdict::Pending),
                Some(Keys::Failed(e)) => return key_request_failure(r, &e),
                Some(Keys::Ready {
                    warning: Some(w), ..
                }) => key_request_warning(r, &w),
                Some(Keys::Ready { warning: None, .. }) | None => {}
            }
        }
    }
    // Revocation lists, after the signature and the time claims (on cache hits too).
    if let Ok(t) = &result {
        if lc.has_revocation_lists() {
            // A token answered from the cache is handed its bytes only when they are read.
            t.provide_raw(token.get(r));
            match revocation::check(r, lc, t, phase == Phase::Access) {
                Revocation::Clear => {}
                Revocation::Revoked(line) => {
                    log_request(r, NGX_LOG_INFO, &line);
                    return set_verdict(
                        r,
                        Verdict {
                            status: Status::Revoked,
                            cache,
                            token: None,
                        },
                    );
                }
                Revocation::Pending => return Err(NoVerdict::Pending),
                Revocation::NotNow => return Err(NoVerdict::NotNow),
                Revocation::Failed(line) => return failure(r, &line),
            }
        }
    }
    let st = state::current_mut(r).ok_or(NoVerdict::Oom)?;
    match result {
        Ok(token) => {
            st.verdict = Some(Verdict {
                status: Status::Valid,
                cache,
                token: Some(token),
            });
        }
        Err(rej) => {
            st.verdict = Some(Verdict {
                status: rej.status,
                cache,
                token: None,
            });
            log_request(
                r,
                NGX_LOG_INFO,
                &format!("auth_jwt: {} ({})", rej.detail, rej.status.as_str()),
            );
        }
    }
    Ok(())
}

/// The request's token, read once per request (a key subrequest may change the variable it
/// comes from) and kept in its state.
#[inline(always)]
fn read_token(r: &mut ngx_http_request_t, lc: &LocConf) -> Result<RequestBytes, NoVerdict> {
    if let Some(token) = state::current_mut(r).and_then(|s| s.token) {
        return Ok(token);
    }
    let token = match lc.auth {
        Some(Auth::On {
            token: Some(cv), ..
        }) => ngx_ext::complex_value(r, cv).ok_or(NoVerdict::Oom)?,
        _ => authorization(r),
    };
    state::current_mut(r).ok_or(NoVerdict::Oom)?.token = Some(token);
    Ok(token)
}

/// The refusal of a request without a token.
fn missing(lc: &LocConf) -> Rejection {
    let from_variable = matches!(lc.auth, Some(Auth::On { token: Some(_), .. }));
    Rejection::new(
        Status::Missing,
        if from_variable {
            "the token variable is empty"
        } else {
            "no bearer token in the Authorization header"
        },
    )
}

/// Keys found for this request, besides the location's fixed key files.
struct FoundKeys {
    /// From key subrequests, or from key files with variables in their names (each parsed
    /// once per worker). `None`: the fixed key files only.
    set: Option<Arc<KeySet>>,
    /// The key-request URIs when a token with an unknown `kid` may make them fetched again.
    refreshable: Option<Vec<String>>,
}

/// Finds the keys for this request. The inner `Err` is the `error` line of a key source
/// that cannot be used (the verdict is then `error`).
#[inline(always)]
fn find_keys(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    no_token: bool,
    phase: Phase,
    now: i64,
) -> Result<Result<Option<FoundKeys>, String>, NoVerdict> {
    let fixed_only = None;
    if let Some(paths) = &lc.key_paths {
        return Ok(match keyfiles::resolve(r, lc, paths, now) {
            Ok(set) => Ok(Some(FoundKeys {
                set: Some(set),
                refreshable: None,
            })),
            Err(e) => Err(format!("auth_jwt: auth_jwt_key_file: {e} (error)")),
        });
    }
    let Some(uris) = &lc.key_requests else {
        return Ok(Ok(fixed_only));
    };
    // A request without a token needs no keys: it makes no key subrequest.
    if no_token {
        return Ok(Ok(fixed_only));
    }
    // The URIs, evaluated once per request: a subrequest runs the server's rewrite phase
    // again, and a `set` there may change them.
    let names = match state::current_mut(r).and_then(|s| s.key_uris.clone()) {
        Some(names) => names,
        None => match keyrequest::evaluate(r, uris) {
            Ok(names) => {
                state::current_mut(r).ok_or(NoVerdict::Oom)?.key_uris = Some(names.clone());
                names
            }
            Err(e) => return Ok(Err(format!("auth_jwt: auth_jwt_key_request: {e} (error)"))),
        },
    };
    let keys = match phase {
        Phase::Access => keyrequest::keys(r, lc, &names, now),
        // Nothing can be waited for inside a variable: the keys this worker holds, or no
        // verdict until the access phase.
        Phase::Variable => keyrequest::cached(lc, &names, now).ok_or(NoVerdict::NotNow)?,
    };
    match keys {
        Keys::Ready {
            value: set,
            refreshable,
            warning,
        } => {
            if let Some(w) = warning {
                key_request_warning(r, &w);
            }
            Ok(Ok(Some(FoundKeys {
                set: Some(set),
                refreshable: refreshable.then_some(names),
            })))
        }
        Keys::Pending => Err(NoVerdict::Pending),
        Keys::Failed(e) => Ok(Err(format!("auth_jwt: auth_jwt_key_request: {e} (error)"))),
    }
}

/// A key request failed without keys to go on with: the verdict is `error` (500).
fn key_request_failure(r: &mut ngx_http_request_t, e: &FetchError) -> Result<(), NoVerdict> {
    failure(r, &format!("auth_jwt: auth_jwt_key_request: {e} (error)"))
}

/// A key request failed; the keys fetched before are used.
fn key_request_warning(r: &ngx_http_request_t, e: &FetchError) {
    let line = format!("auth_jwt: auth_jwt_key_request: {e}; keeping the keys fetched before");
    log_request(r, NGX_LOG_ERR, &line);
}

/// A check that cannot be made: logs `line` at `error` and records the verdict `error` (500).
fn failure(r: &mut ngx_http_request_t, line: &str) -> Result<(), NoVerdict> {
    log_request(r, NGX_LOG_ERR, line);
    set_verdict(
        r,
        Verdict {
            status: Status::Error,
            cache: CacheUse::None,
            token: None,
        },
    )
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

/// The bearer credentials of the Authorization header (empty when there are none).
fn authorization(r: &ngx_http_request_t) -> RequestBytes {
    // SAFETY: `authorization` is null or points at a header of this request.
    let Some(h) = (unsafe { r.headers_in.authorization.as_ref() }) else {
        return RequestBytes::EMPTY;
    };
    // SAFETY: header values live as long as the request.
    let value = unsafe { RequestBytes::new(h.value) }.get(r);
    match bearer_token(value) {
        Some(t) => {
            let s = ngx_str_t {
                len: t.len(),
                data: t.as_ptr().cast_mut(),
            };
            // SAFETY: `t` is a part of the header value.
            unsafe { RequestBytes::new(s) }
        }
        None => RequestBytes::EMPTY,
    }
}

/// `auth_jwt_require`: every value of every directive must be non-empty and not "0".
fn check_require(r: &mut ngx_http_request_t, lc: &LocConf) -> ngx_int_t {
    let Some(list) = &lc.require else {
        return NGX_OK as ngx_int_t;
    };
    for req in list {
        for cv in &req.values {
            let Some(v) = ngx_ext::complex_value(r, *cv) else {
                return NGX_ERROR as ngx_int_t;
            };
            if !is_truthy(v.get(r)) {
                if let Some(s) = state::current_mut(r) {
                    s.require_failed = true;
                }
                log_request(
                    r,
                    NGX_LOG_INFO,
                    "auth_jwt: a value of \"auth_jwt_require\" is empty or \"0\" (require_failed)",
                );
                if req.status == NGX_HTTP_UNAUTHORIZED as ngx_uint_t {
                    if let Some(Auth::On { realm, .. }) = lc.auth {
                        return unauthorized(r, realm, true);
                    }
                }
                return req.status as ngx_int_t;
            }
        }
    }
    NGX_OK as ngx_int_t
}

/// Sets `WWW-Authenticate` (RFC 6750) through `headers_out.www_authenticate`, so that
/// `satisfy any` can withdraw it, and returns 401.
fn unauthorized(
    r: &mut ngx_http_request_t,
    realm: NonNull<ngx_http_complex_value_t>,
    invalid: bool,
) -> ngx_int_t {
    let Some(realm) = ngx_ext::complex_value(r, realm) else {
        return NGX_ERROR as ngx_int_t;
    };
    let value = www_authenticate(realm.get(r), invalid);

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

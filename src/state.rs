//! Per-request state: what the request's token check read, decided and answered.
//!
//! The check can be made before the access phase, when a directive of another module reads
//! one of our variables in the rewrite or preaccess phases (`if`, `set`, `limit_req`,
//! `limit_conn`, a `map` used there); the access handler then reuses that verdict. The state
//! belongs to the configuration it was made with: a request that enters a location whose
//! check differs (see [`LocConf::same_check`]) starts a new one.
//!
//! It lives in the main request's pool (`ngx_ext::attach`), dropped by a pool cleanup, so it is
//! freed with the request. An internal redirect (`error_page 401 /401.html`, `error_page 401 =
//! @named`) clears the modules' contexts but keeps the pool, so the variables find the state
//! again through the pool (as nginx's realip module finds its context again).

use std::ptr::NonNull;

use auth_jwt_core::{CacheUse, Status, Token};
use ngx::ffi::{ngx_http_request_t, ngx_int_t};
use ngx::http::HttpModule;

use crate::conf::LocConf;
use crate::ngx_ext::{self, RequestBytes};
use crate::AuthJwtModule;

/// The outcome of checking the request's token.
pub struct Verdict {
    /// `$auth_jwt_status` (before `auth_jwt_require`, which the access handler applies).
    pub status: Status,
    /// Whether the verified-token cache answered (`$auth_jwt_cache_status`).
    pub cache: CacheUse,
    /// The verified token (claims and header for the variables).
    pub token: Option<Token>,
}

/// The request's token check for one configuration.
pub struct RequestState {
    /// The configuration the state was made for (it lives as long as the cycle, which
    /// outlives its requests).
    conf: NonNull<LocConf>,
    /// The token as found, read once: a subrequest runs the server's rewrite phase again and
    /// may change the variables it came from (`set $jwt $arg_token;`).
    pub token: Option<RequestBytes>,
    /// The `auth_jwt_key_request` URIs, evaluated once for the same reason.
    pub key_uris: Option<Vec<String>>,
    pub verdict: Option<Verdict>,
    /// `auth_jwt_require` refused the valid token (`$auth_jwt_status` = `require_failed`).
    pub require_failed: bool,
    /// What the access handler answered in the current location (see [`current_mut`]).
    pub rc: Option<ngx_int_t>,
    /// A check is being made: a token source or key URI that reads our own variables gets
    /// them empty instead of recursing.
    pub busy: bool,
}

impl RequestState {
    fn new(conf: &LocConf) -> Self {
        RequestState {
            conf: NonNull::from(conf),
            token: None,
            key_uris: None,
            verdict: None,
            require_failed: false,
            rc: None,
            busy: false,
        }
    }

    /// Whether this state's check is the one `lc` would make.
    fn is_for(&self, lc: &LocConf) -> bool {
        // SAFETY: configurations live as long as their cycle, which outlives its requests.
        lc.same_check(unsafe { self.conf.as_ref() })
    }

    /// `$auth_jwt_status`.
    pub fn status(&self) -> Option<Status> {
        if self.require_failed {
            return Some(Status::RequireFailed);
        }
        self.verdict.as_ref().map(|v| v.status)
    }
}

fn ctx_index() -> usize {
    AuthJwtModule::module().ctx_index
}

/// Our context slot of `r` (null until the state was used in the current location).
fn ctx_slot(r: &ngx_http_request_t) -> *mut RequestState {
    // SAFETY: `ctx` has one slot per http module; ours holds null or a `RequestState`
    // owned by the request pool.
    unsafe { (*r.ctx.add(ctx_index())).cast() }
}

/// The state kept in the pool of the main request (subrequests share it), found through the
/// context or, after an internal redirect cleared the context, through the pool.
fn pool_slot(r: &ngx_http_request_t) -> *mut RequestState {
    // SAFETY: `main` is always valid for a request.
    let main = unsafe { &*r.main };
    let slot = ctx_slot(main);
    if !slot.is_null() {
        return slot;
    }
    ngx_ext::find::<RequestState>(main.pool, |_| true).map_or(std::ptr::null_mut(), |p| p.as_ptr())
}

/// The state used in the current location, if any (an internal redirect clears it).
pub fn current_mut<'a>(r: &mut ngx_http_request_t) -> Option<&'a mut RequestState> {
    // SAFETY: the slot is null or a live `RequestState` owned by the request pool; callers
    // hold one reference to it at a time.
    unsafe { ctx_slot(r).as_mut() }
}

/// What the access handler already answered for `lc` in the current location (it can run
/// again there, e.g. with `satisfy`).
pub fn answered(r: &mut ngx_http_request_t, lc: &LocConf) -> Option<ngx_int_t> {
    current_mut(r).filter(|s| s.is_for(lc)).and_then(|s| s.rc)
}

/// The state of the main request, also after an internal redirect cleared the context.
pub fn find<'a>(r: &ngx_http_request_t) -> Option<&'a RequestState> {
    // SAFETY: the slot is null or a live `RequestState` owned by the request pool.
    unsafe { pool_slot(r).as_ref() }
}

/// Whether the request has a state made for the check `lc` makes.
pub fn has_check_for(r: &ngx_http_request_t, lc: &LocConf) -> bool {
    find(r).is_some_and(|s| s.is_for(lc))
}

/// The state for the check `lc` makes: the request's own if it was made for that check (an
/// earlier phase, an earlier location with the same check), otherwise a new one that replaces
/// it. `None` when out of memory.
pub fn for_conf<'a>(r: &mut ngx_http_request_t, lc: &LocConf) -> Option<&'a mut RequestState> {
    // The context is cleared by an internal redirect: the access handler answers again in
    // the new location (its own `auth_jwt_require`, realm and `satisfy`).
    let new_location = ctx_slot(r).is_null();
    let mut slot = pool_slot(r);
    // SAFETY: a non-null slot is a live `RequestState`; nothing else borrows it now.
    match unsafe { slot.as_mut() } {
        Some(old) if old.is_for(lc) => {
            if new_location {
                old.rc = None;
                old.require_failed = false;
            }
        }
        Some(old) => *old = RequestState::new(lc),
        // SAFETY: `main` is always valid for a request; its pool outlives the state.
        None => slot = ngx_ext::attach(unsafe { (*r.main).pool }, RequestState::new(lc))?.as_ptr(),
    }
    // SAFETY: see `ctx_slot`; the state stays valid until the pool is destroyed.
    unsafe {
        *r.ctx.add(ctx_index()) = slot.cast();
        slot.as_mut()
    }
}

//! Per-request state: the outcome of the check and the verified token.
//!
//! It lives on the Rust heap, owned by a cleanup handler of the request pool, so it is freed
//! with the request. An internal redirect (`error_page 401 /401.html`, `error_page 401 =
//! @named`) clears the modules' contexts but keeps the pool, so the variables find the state
//! again through that cleanup handler, as nginx's realip module does with its context.

use std::ffi::c_void;

use auth_jwt_core::{CacheUse, Status, Token};
use ngx::ffi::{ngx_http_request_t, ngx_int_t, ngx_pool_cleanup_add};
use ngx::http::HttpModule;

use crate::AuthJwtModule;

/// What the access handler decided for a request.
pub struct RequestState {
    pub status: Status,
    /// Whether the verified-token cache answered (`$auth_jwt_cache_status`).
    pub cache: CacheUse,
    pub token: Option<Token>,
    pub rc: ngx_int_t,
}

unsafe extern "C" fn ngx_http_auth_jwt_cleanup(data: *mut c_void) {
    if !data.is_null() {
        // SAFETY: `data` is the pointer produced by `Box::into_raw` in `attach`, and the pool
        // runs each cleanup exactly once.
        drop(unsafe { Box::from_raw(data.cast::<RequestState>()) });
    }
}

fn ctx_index() -> usize {
    AuthJwtModule::module().ctx_index
}

/// Our context slot of `r` (null when the handler has not run in this location).
fn ctx_slot(r: &ngx_http_request_t) -> *mut RequestState {
    // SAFETY: `ctx` has one slot per http module; ours holds null or a `RequestState`
    // owned by the request pool.
    unsafe { (*r.ctx.add(ctx_index())).cast() }
}

/// The state registered with the pool of the main request, found through its cleanup handler.
fn pool_slot(r: &ngx_http_request_t) -> *mut RequestState {
    // SAFETY: `main` is always valid for a request; subrequests share the main request's
    // pool, and the cleanup list of a live pool is a valid singly linked list.
    unsafe {
        let main = &*r.main;
        let slot = ctx_slot(main);
        if !slot.is_null() {
            return slot;
        }
        let ours: unsafe extern "C" fn(*mut c_void) = ngx_http_auth_jwt_cleanup;
        let mut c = (*main.pool).cleanup;
        while let Some(cl) = c.as_ref() {
            if cl.handler.is_some_and(|h| std::ptr::fn_addr_eq(h, ours)) {
                return cl.data.cast();
            }
            c = cl.next;
        }
    }
    std::ptr::null_mut()
}

/// The state set by the access handler in the current location, if it already ran there.
pub fn current_mut(r: &mut ngx_http_request_t) -> Option<&mut RequestState> {
    // SAFETY: the slot is null or a live `RequestState`, borrowed through the exclusive
    // borrow of its request.
    unsafe { ctx_slot(r).as_mut() }
}

/// The state of the main request, also after an internal redirect cleared the context.
pub fn find(r: &ngx_http_request_t) -> Option<&RequestState> {
    // SAFETY: the slot is null or a live `RequestState` owned by the request pool.
    unsafe { pool_slot(r).as_ref() }
}

/// Stores `state` for the request: reuses the slot left by an earlier location of the same
/// request (internal redirect), or registers a new one with the request pool.
pub fn attach(r: &mut ngx_http_request_t, state: RequestState) -> bool {
    let mut slot = pool_slot(r);
    // SAFETY: a non-null slot is a live `RequestState`; nothing else borrows it now.
    if let Some(old) = unsafe { slot.as_mut() } {
        *old = state;
    } else {
        // SAFETY: the request pool is valid; the cleanup is run once when it is destroyed.
        let Some(cln) = (unsafe { ngx_pool_cleanup_add(r.pool, 0).as_mut() }) else {
            return false;
        };
        slot = Box::into_raw(Box::new(state));
        cln.handler = Some(ngx_http_auth_jwt_cleanup);
        cln.data = slot.cast();
    }
    // SAFETY: see `ctx_slot`; the state stays valid until the pool is destroyed.
    unsafe { *r.ctx.add(ctx_index()) = slot.cast() };
    true
}

//! The nginx helpers the glue needs, each written once: evaluating a complex value against a
//! request, keeping a Rust value in a request's pool and finding it again, and the raw
//! error-log call.

use std::any::{Any, TypeId};
use std::ffi::c_void;
use std::mem;
use std::ptr::{self, NonNull};

use auth_jwt_core::glue::escape_for_log;

use ngx::ffi::{
    ngx_http_complex_value, ngx_http_complex_value_t, ngx_http_request_t, ngx_int_t, ngx_log_t,
    ngx_pool_cleanup_add, ngx_pool_t, ngx_str_t, ngx_uint_t, NGX_OK,
};

/// Bytes that live in a request's memory (its pool or its header lines): a handle that can be
/// kept (e.g. in the request's state) and read while the request is borrowed.
#[derive(Clone, Copy)]
pub struct RequestBytes(ngx_str_t);

impl RequestBytes {
    pub const EMPTY: RequestBytes = RequestBytes(ngx_str_t {
        len: 0,
        data: ptr::null_mut(),
    });

    /// # Safety
    /// `s` must point at `len` bytes that live as long as the request they are read with.
    pub unsafe fn new(s: ngx_str_t) -> Self {
        RequestBytes(s)
    }

    /// The bytes, borrowed for as long as the request they belong to is borrowed.
    pub fn get<'r>(&self, _r: &'r ngx_http_request_t) -> &'r [u8] {
        if self.0.len == 0 || self.0.data.is_null() {
            return &[];
        }
        // SAFETY: see `new`: the bytes live as long as the request, borrowed for 'r.
        unsafe { std::slice::from_raw_parts(self.0.data, self.0.len) }
    }

    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }
}

/// Evaluates a complex value compiled at configuration time into the request's pool.
/// `None` when nginx fails (out of memory, or a variable handler failed).
pub fn complex_value(
    r: &mut ngx_http_request_t,
    cv: NonNull<ngx_http_complex_value_t>,
) -> Option<RequestBytes> {
    let mut v = ngx_str_t::empty();
    // SAFETY: a valid request and a complex value compiled at configuration time (they live
    // as long as the cycle); on success `v` points into the request pool.
    let rc = unsafe { ngx_http_complex_value(r, cv.as_ptr(), &mut v) };
    // SAFETY: on success the value is in the request pool (or the configuration's memory).
    (rc == NGX_OK as ngx_int_t).then(|| unsafe { RequestBytes::new(v) })
}

/// Evaluates a complex value as UTF-8 text, copied out of the request.
pub fn complex_value_string(
    r: &mut ngx_http_request_t,
    cv: NonNull<ngx_http_complex_value_t>,
) -> Option<Result<String, std::str::Utf8Error>> {
    let v = complex_value(r, cv)?;
    Some(std::str::from_utf8(v.get(r)).map(str::to_owned))
}

/// What precedes a value of ours in a pool: how to recognise its type and how to drop it.
#[repr(C)]
struct Attached<T> {
    type_id: fn() -> TypeId,
    drop: unsafe fn(*mut c_void),
    value: T,
}

/// Drops the `Attached<T>` at `data` in place (its memory is the pool's).
///
/// # Safety
/// `data` must point at a live `Attached<T>` that is not used afterwards.
unsafe fn drop_attached<T>(data: *mut c_void) {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr::drop_in_place(data.cast::<Attached<T>>()) }
}

unsafe extern "C" fn ngx_http_auth_jwt_pool_cleanup(data: *mut c_void) {
    if !data.is_null() {
        // SAFETY: our cleanups' data is an `Attached<T>` written by `attach`, whose first
        // fields do not depend on `T`; the pool runs each cleanup exactly once.
        unsafe {
            let drop = (*data.cast::<Attached<()>>()).drop;
            drop(data);
        }
    }
}

/// Moves `value` into `pool` (its memory, no heap allocation): it is dropped when the pool is
/// destroyed. Returns where it now lives (`None` when nginx cannot allocate).
pub fn attach<T: Any>(pool: *mut ngx_pool_t, value: T) -> Option<NonNull<T>> {
    // nginx aligns pool allocations to NGX_ALIGNMENT (the size of a long).
    const { assert!(mem::align_of::<Attached<T>>() <= mem::size_of::<std::ffi::c_long>()) };
    // SAFETY: the pool is valid; nginx allocates the cleanup and `size` bytes for its data.
    let cln = unsafe { ngx_pool_cleanup_add(pool, mem::size_of::<Attached<T>>()).as_mut() }?;
    let at = NonNull::new(cln.data.cast::<Attached<T>>())?;
    // SAFETY: `at` is fresh, suitably aligned pool memory of the right size; the cleanup owns
    // the value from here on and drops it once.
    unsafe {
        at.as_ptr().write(Attached {
            type_id: TypeId::of::<T>,
            drop: drop_attached::<T>,
            value,
        });
        cln.handler = Some(ngx_http_auth_jwt_pool_cleanup);
        Some(NonNull::from(&mut (*at.as_ptr()).value))
    }
}

/// The most recently attached value of type `T` in `pool` for which `matches` holds.
pub fn find<T: Any>(pool: *mut ngx_pool_t, matches: impl Fn(&T) -> bool) -> Option<NonNull<T>> {
    let ours: unsafe extern "C" fn(*mut c_void) = ngx_http_auth_jwt_pool_cleanup;
    // SAFETY: the cleanup list of a live pool is a valid singly linked list (newest first);
    // the data of our cleanups is a live `Attached<_>` whose `type_id` names its value's type,
    // not otherwise borrowed during the walk.
    unsafe {
        let mut c = pool.as_ref()?.cleanup;
        while let Some(cl) = c.as_ref() {
            if cl.handler.is_some_and(|h| ptr::fn_addr_eq(h, ours)) && !cl.data.is_null() {
                let a = cl.data.cast::<Attached<T>>();
                if ((*a).type_id)() == TypeId::of::<T>() && matches(&(*a).value) {
                    return Some(NonNull::from(&mut (*a).value));
                }
            }
            c = cl.next;
        }
    }
    None
}

/// Writes `text` to `log` at `level`, with whatever context nginx's log handler adds when
/// `with_context` (the request line, for instance).
pub fn log_error(log: &mut ngx_log_t, level: u32, text: &str, with_context: bool) {
    if (level as ngx_uint_t) > log.log_level {
        return;
    }
    let handler = if with_context {
        None
    } else {
        log.handler.take()
    };
    // SAFETY: the log is valid; "%*s" reads exactly `len` bytes of `text`.
    unsafe {
        ngx::ffi::ngx_log_error_core(
            level as ngx_uint_t,
            log,
            0,
            c"%*s".as_ptr(),
            text.len(),
            text.as_ptr(),
        );
    }
    if !with_context {
        log.handler = handler;
    }
}

/// Writes one error-log line for the request. The request line nginx would append can carry
/// the token in its query string (`?token=`), so the line names the client and the request
/// path without the arguments instead.
pub fn log_request(r: &ngx_http_request_t, level: u32, msg: &str) {
    // SAFETY: a request always has a connection with a valid log.
    let log: &mut ngx_log_t = unsafe { &mut *(*r.connection).log };
    if (level as ngx_uint_t) > log.log_level {
        return;
    }
    let mut line = String::with_capacity(msg.len() + 96);
    line.push_str(msg);
    // SAFETY: `addr_text` is set for every accepted connection; request fields are valid
    // strings of the request (possibly empty).
    let (addr, method, uri) = unsafe {
        let c = &*r.connection;
        (
            c.addr_text.as_bytes(),
            r.method_name.as_bytes(),
            r.uri.as_bytes(),
        )
    };
    line.push_str(", client: ");
    line.push_str(&String::from_utf8_lossy(addr));
    if !method.is_empty() {
        line.push_str(", request: \"");
        line.push_str(&String::from_utf8_lossy(method));
        line.push(' ');
        line.push_str(&escape_for_log(uri));
        if r.args.len > 0 {
            line.push_str("?...");
        }
        line.push('"');
    }
    log_error(log, level, &line, false);
}

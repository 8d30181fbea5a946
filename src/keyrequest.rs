//! `auth_jwt_key_request`: keys fetched with subrequests, kept per worker for
//! `auth_jwt_key_cache`.
//!
//! A request that needs keys starts a GET subrequest to each URI in turn (in memory, waited
//! for: the worker serves other requests meanwhile) and its access handler returns
//! `NGX_AGAIN`; nginx runs the handler again when a subrequest ends. The fetch in progress
//! lives on the Rust heap, owned by a cleanup handler of the request pool.
//!
//! With `auth_jwt_key_cache time`, each worker keeps the key set of each (location, URIs):
//! - fresh (younger than `time`): used as is;
//! - a token whose `kid` is not in a fresh set makes its request fetch again, at most once per
//!   [`KID_REFRESH`] seconds per key source (rotation at the IdP, not a fetch per bogus kid);
//! - stale: the first request fetches; others keep using the stale set meanwhile;
//! - a failed fetch with a set in hand keeps that set (logged at `error`) and is retried at
//!   most once a second; a failed fetch without one is a 500. (A subrequest that fails with
//!   NGX_ERROR, e.g. "too big subrequest response", makes nginx terminate the whole request,
//!   as for any in-memory subrequest.)
//!
//! With `auth_jwt_key_cache 0` (the default, as in NGINX Plus) every request fetches.

use std::cell::RefCell;
use std::ffi::c_void;
use std::mem;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::thread::LocalKey;

use auth_jwt_core::glue::BoundedMap;
use auth_jwt_core::{KeySet, TokenType};
use ngx::ffi::{
    ngx_http_complex_value_t, ngx_http_parse_unsafe_uri, ngx_http_post_subrequest_t,
    ngx_http_request_body_t, ngx_http_request_t, ngx_http_subrequest, ngx_int_t, ngx_pcalloc,
    ngx_pnalloc, ngx_str_t, ngx_uint_t, NGX_ERROR, NGX_HTTP_GET, NGX_HTTP_SPECIAL_RESPONSE,
    NGX_HTTP_SUBREQUEST_IN_MEMORY, NGX_HTTP_SUBREQUEST_WAITED, NGX_LOG_ERR, NGX_OK,
};

use crate::conf::{parse_keys_lenient, LocConf};
use crate::ngx_ext;

/// A token with an unknown `kid` refetches a fresh set at most this often (seconds).
pub const KID_REFRESH: i64 = 10;
/// A fetch started this long ago (seconds) without an outcome is presumed lost (its request
/// went away): another request may start one.
const ABANDONED: i64 = 30;
/// Cached key sets per worker.
const MAX_ENTRIES: usize = 128;

/// (location, URIs).
pub type CacheKey = (usize, Vec<String>);

pub struct Entry<T> {
    set: Option<Arc<T>>,
    /// When `set` was fetched (unix seconds).
    fetched: i64,
    /// When the last fetch started.
    attempted: i64,
    /// A fetch started and has not ended (see [`Entry::busy`]).
    in_flight: bool,
    /// Which fetch `in_flight` is about: a fetch that ends (or is dropped with its request)
    /// clears `in_flight` only if it is still the latest one.
    generation: u64,
}

impl<T> Entry<T> {
    /// Whether a fetch is running (one started more than [`ABANDONED`] seconds ago without
    /// an outcome is not counted).
    fn busy(&self, now: i64) -> bool {
        self.in_flight && now.saturating_sub(self.attempted) < ABANDONED
    }

    /// Whether an unknown `kid` may make a request fetch again now.
    fn refreshable(&self, now: i64) -> bool {
        !self.busy(now) && now.saturating_sub(self.attempted) >= KID_REFRESH
    }
}

thread_local! {
    /// The key sets this worker fetched, by (location, URIs).
    static FETCHED_SETS: RefCell<BoundedMap<CacheKey, Entry<KeySet>>> =
        RefCell::new(BoundedMap::new(MAX_ENTRIES));
}

/// Why no key set could be had from the key requests (logged as `auth_jwt_key_request: ...`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("cannot evaluate the URI")]
    Evaluate,
    #[error("\"{0}\" is not a local URI")]
    NotLocal(String),
    #[error("the URI is empty or not UTF-8")]
    BadUri,
    #[error("out of memory")]
    Oom,
    #[error("no subrequest is running")]
    NoSubrequest,
    #[error("no URI left to fetch")]
    NoUriLeft,
    #[error("\"{0}\": {1}")]
    Uri(String, Failure),
}

/// What went wrong with one URI.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    #[error("unsafe URI")]
    Unsafe,
    #[error("cannot create the subrequest")]
    CannotCreate,
    #[error("the subrequest failed (see the previous error line)")]
    SubrequestFailed,
    #[error("answered with status {0}, expected 200")]
    Status(ngx_uint_t),
    #[error("answered with an empty body")]
    EmptyBody,
    #[error("internal error")]
    Internal,
    #[error("the subrequest ended without an answer")]
    NoAnswer,
    #[error("{0}")]
    Parse(String),
}

/// What a fetch builds from the answers, and where each worker keeps it (key sets for
/// `auth_jwt_key_request`, revocation lists fetched by URI).
pub trait Fetchable: Sized + 'static {
    /// Builds the value from the answers to the URIs, in order (`r`: the request that
    /// fetched them, for the error log).
    fn build(
        r: &ngx_http_request_t,
        lc: &LocConf,
        answers: &[(&str, &[u8])],
    ) -> Result<Self, FetchError>;
    /// This worker's cache of fetched values.
    fn cache() -> &'static LocalKey<RefCell<BoundedMap<CacheKey, Entry<Self>>>>;
}

impl Fetchable for KeySet {
    /// The location's fixed key files, then the keys of the answers, in order. A refused key
    /// (RSA under 1024 bits, ROCA) is skipped with an `error` line naming the URI.
    fn build(
        r: &ngx_http_request_t,
        lc: &LocConf,
        answers: &[(&str, &[u8])],
    ) -> Result<Self, FetchError> {
        let ty = lc.ty.unwrap_or(TokenType::Signed);
        let mut set = lc.fixed_key_set();
        for (uri, body) in answers {
            let parsed = parse_keys_lenient(body, ty)
                .map_err(|e| FetchError::Uri((*uri).to_owned(), Failure::Parse(e.to_string())))?;
            for refused in &parsed.refused {
                ngx_ext::log_request(
                    r,
                    NGX_LOG_ERR,
                    &format!(
                        "auth_jwt: auth_jwt_key_request: \"{uri}\": {refused}; the key is \
                         skipped (error)"
                    ),
                );
            }
            set.extend(parsed.set);
        }
        Ok(set)
    }

    fn cache() -> &'static LocalKey<RefCell<BoundedMap<CacheKey, Entry<Self>>>> {
        &FETCHED_SETS
    }
}

/// What the handler gets.
pub enum Fetched<T> {
    /// The value to use. `refreshable`: an unknown `kid` may trigger [`refresh`]. `warning`:
    /// a failed fetch whose stale value is used (for the error log).
    Ready {
        value: Arc<T>,
        refreshable: bool,
        warning: Option<FetchError>,
    },
    /// A subrequest is running: return `NGX_AGAIN`.
    Pending,
    /// No usable value: 500, with this text in the error log.
    Failed(FetchError),
}

/// The key sets of `auth_jwt_key_request`.
pub type Keys = Fetched<KeySet>;

/// The fetch of one request, owned by its pool.
struct Fetch<T: Fetchable> {
    key: CacheKey,
    /// Whether a finished fetch goes into the worker's cache.
    cache: bool,
    /// Its [`Entry::generation`].
    generation: u64,
    /// Index of the URI being fetched.
    next: usize,
    /// The subrequest in flight.
    current: *mut ngx_http_request_t,
    /// Its outcome, written by [`post_subrequest`] (the last call wins).
    result: Option<Result<Vec<u8>, Failure>>,
    bodies: Vec<Vec<u8>>,
    /// Set once every URI answered: the request's key set (or, after a failure, the cached
    /// set it goes on with).
    finished: Option<Arc<T>>,
    /// Set when the fetch failed without a cached set: the error, given again if the handler
    /// runs again for this request (e.g. after `error_page 500` back into the location).
    failed: Option<FetchError>,
}

impl<T: Fetchable> Drop for Fetch<T> {
    /// A fetch dropped before its outcome (the request ended: client gone, nginx error)
    /// leaves the key source free for the next request at once.
    fn drop(&mut self) {
        if !self.cache || self.finished.is_some() || self.failed.is_some() {
            return;
        }
        let _ = T::cache().try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                if let Some(e) = c.get_mut(&self.key) {
                    if e.generation == self.generation {
                        e.in_flight = false;
                    }
                }
            }
        });
    }
}

/// The key set for this request, or a fetch in progress. `names` are the URIs as evaluated
/// for this request (see [`evaluate`]).
pub fn keys(r: &mut ngx_http_request_t, lc: &LocConf, names: &[String], now: i64) -> Keys {
    fetch(r, lc, names, lc.key_cache, now)
}

/// The keys this worker holds for `names` that [`keys`] would use without a fetch, if any:
/// what a check made outside the access phase (where nothing can be waited for) can use.
pub fn cached(lc: &LocConf, names: &[String], now: i64) -> Option<Keys> {
    cached_value(lc, names, lc.key_cache, now)
}

/// The value for this request, or a fetch in progress; a value fetched by this worker less
/// than `ttl` seconds ago is used without a fetch (`ttl` 0: every request fetches).
pub fn fetch<T: Fetchable>(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    names: &[String],
    ttl: i64,
    now: i64,
) -> Fetched<T> {
    let key = (lc as *const LocConf as usize, names.to_vec());
    // SAFETY: the fetch belongs to this request's pool and no other reference to it is live.
    if let Some(fetch) = unsafe { fetch_of::<T>(r, &key).as_mut() } {
        return advance(r, lc, fetch, now);
    }
    if let Some(k) = cached_for(&key, ttl, now) {
        return k;
    }
    start_fetch(r, key, ttl > 0, now)
}

/// The value this worker holds that [`fetch`] would use without a fetch, if any.
pub fn cached_value<T: Fetchable>(
    lc: &LocConf,
    names: &[String],
    ttl: i64,
    now: i64,
) -> Option<Fetched<T>> {
    cached_for(&(lc as *const LocConf as usize, names.to_vec()), ttl, now)
}

fn cached_for<T: Fetchable>(key: &CacheKey, ttl: i64, now: i64) -> Option<Fetched<T>> {
    if ttl <= 0 {
        return None;
    }
    T::cache().with(|c| {
        let mut c = c.borrow_mut();
        let e = c.get_mut(key)?;
        let value = e.set.clone()?;
        if now.saturating_sub(e.fetched) < ttl {
            return Some(Fetched::Ready {
                value,
                refreshable: e.refreshable(now),
                warning: None,
            });
        }
        // Another request is fetching, or the last fetch failed a moment ago (do not
        // hammer the source): go on with the stale value.
        let busy = e.busy(now) || (!e.in_flight && now.saturating_sub(e.attempted) < 1);
        busy.then_some(Fetched::Ready {
            value,
            refreshable: false,
            warning: None,
        })
    })
}

/// After a token's `kid` was not found in a cached set: fetch again if allowed. Returns
/// `Some(Keys::Pending)` when a fetch started.
pub fn refresh(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    names: &[String],
    now: i64,
) -> Option<Keys> {
    let key = (lc as *const LocConf as usize, names.to_vec());
    if !fetch_of::<KeySet>(r, &key).is_null() {
        return None;
    }
    let allowed = FETCHED_SETS.with(|c| c.borrow().get(&key).is_some_and(|e| e.refreshable(now)));
    allowed.then(|| start_fetch(r, key, true, now))
}

/// Evaluates the URIs for a request (once: the access handler keeps them, see
/// `state::RequestState::key_uris`).
pub fn evaluate(
    r: &mut ngx_http_request_t,
    uris: &[NonNull<ngx_http_complex_value_t>],
) -> Result<Vec<String>, FetchError> {
    let mut names = Vec::with_capacity(uris.len());
    for cv in uris {
        let name = ngx_ext::complex_value_string(r, *cv).ok_or(FetchError::Evaluate)?;
        match name {
            // Only a location of this server: a URI from a variable is checked here.
            Ok(s) if s.starts_with('/') => names.push(s),
            Ok(s) if !s.is_empty() => {
                return Err(FetchError::NotLocal(s.escape_debug().to_string()))
            }
            _ => return Err(FetchError::BadUri),
        }
    }
    Ok(names)
}

fn start_fetch<T: Fetchable>(
    r: &mut ngx_http_request_t,
    key: CacheKey,
    cache: bool,
    now: i64,
) -> Fetched<T> {
    let fetch = Fetch::<T> {
        key,
        cache,
        generation: 0,
        next: 0,
        current: ptr::null_mut(),
        result: None,
        bodies: Vec::new(),
        finished: None,
        failed: None,
    };
    // SAFETY: the fetch now belongs to the request's pool; no other reference to it exists.
    let Some(fetch) = ngx_ext::attach(r.pool, fetch).map(|mut f| unsafe { f.as_mut() }) else {
        return Fetched::Failed(FetchError::Oom);
    };
    if fetch.cache {
        T::cache().with(|c| {
            let mut c = c.borrow_mut();
            let e = c.entry_or_insert_with(
                fetch.key.clone(),
                |e| e.attempted,
                || Entry {
                    set: None,
                    fetched: 0,
                    attempted: now,
                    in_flight: true,
                    generation: 0,
                },
            );
            e.attempted = now;
            e.in_flight = true;
            e.generation = e.generation.wrapping_add(1);
            fetch.generation = e.generation;
        });
    }
    match subrequest(r, fetch) {
        Ok(()) => Fetched::Pending,
        Err(e) => fail(fetch, e),
    }
}

/// Called each time the handler runs while this request has a fetch.
fn advance<T: Fetchable>(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    fetch: &mut Fetch<T>,
    now: i64,
) -> Fetched<T> {
    if let Some(value) = &fetch.finished {
        return Fetched::Ready {
            value: value.clone(),
            refreshable: false,
            warning: None,
        };
    }
    if let Some(e) = &fetch.failed {
        return Fetched::Failed(e.clone());
    }
    // SAFETY: subrequests live in the main request's pool, as long as this fetch.
    match unsafe { fetch.current.as_ref() } {
        Some(sr) if sr.done() != 0 => {}
        Some(_) => return Fetched::Pending,
        // Not reached (a fetch without a subrequest has failed), but never wait for nothing.
        None => return fail(fetch, FetchError::NoSubrequest),
    }
    let uri = fetch.key.1.get(fetch.next).cloned().unwrap_or_default();
    match fetch.result.take() {
        Some(Ok(body)) => fetch.bodies.push(body),
        Some(Err(e)) => return fail(fetch, FetchError::Uri(uri, e)),
        None => return fail(fetch, FetchError::Uri(uri, Failure::NoAnswer)),
    }
    fetch.next += 1;
    if fetch.next < fetch.key.1.len() {
        return match subrequest(r, fetch) {
            Ok(()) => Fetched::Pending,
            Err(e) => fail(fetch, e),
        };
    }

    // Every URI answered.
    let answers: Vec<(&str, &[u8])> = fetch
        .key
        .1
        .iter()
        .map(String::as_str)
        .zip(fetch.bodies.iter().map(Vec::as_slice))
        .collect();
    let set = match T::build(r, lc, &answers) {
        Ok(v) => v,
        Err(e) => return fail(fetch, e),
    };
    let set = Arc::new(set);
    fetch.bodies = Vec::new();
    fetch.finished = Some(set.clone());
    if fetch.cache {
        T::cache().with(|c| {
            if let Some(e) = c.borrow_mut().get_mut(&fetch.key) {
                e.set = Some(set.clone());
                e.fetched = now;
                if e.generation == fetch.generation {
                    e.in_flight = false;
                }
            }
        });
    }
    Fetched::Ready {
        value: set,
        refreshable: false,
        warning: None,
    }
}

/// A fetch failed: keep a cached set if there is one, else 500.
fn fail<T: Fetchable>(fetch: &mut Fetch<T>, error: FetchError) -> Fetched<T> {
    let stale = if fetch.cache {
        T::cache().with(|c| {
            let mut c = c.borrow_mut();
            let e = c.get_mut(&fetch.key)?;
            if e.generation == fetch.generation {
                e.in_flight = false;
            }
            e.set.clone()
        })
    } else {
        None
    };
    match stale {
        Some(set) => {
            fetch.finished = Some(set.clone());
            Fetched::Ready {
                value: set,
                refreshable: false,
                warning: Some(error),
            }
        }
        None => {
            fetch.failed = Some(error.clone());
            Fetched::Failed(error)
        }
    }
}

/// Starts the GET subrequest for `fetch.key.1[fetch.next]`.
fn subrequest<T: Fetchable>(
    r: &mut ngx_http_request_t,
    fetch: &mut Fetch<T>,
) -> Result<(), FetchError> {
    let Some(name) = fetch.key.1.get(fetch.next).cloned() else {
        return Err(FetchError::NoUriLeft);
    };
    // SAFETY: every pointer passed to nginx is either this request's, allocated from its
    // pool here, or `fetch` (owned by the same pool, so it outlives the subrequest and its
    // post_subrequest callback). The subrequest `sr` is fully initialised by
    // ngx_http_subrequest; only plain fields of it are changed afterwards.
    unsafe {
        let data = ngx_pnalloc(r.pool, name.len()).cast::<u8>();
        if data.is_null() {
            return Err(FetchError::Oom);
        }
        ptr::copy_nonoverlapping(name.as_ptr(), data, name.len());
        let mut uri = ngx_str_t {
            len: name.len(),
            data,
        };
        let mut args = ngx_str_t::empty();
        let mut flags: ngx_uint_t = 0;
        if ngx_http_parse_unsafe_uri(r, &mut uri, &mut args, &mut flags) != NGX_OK as ngx_int_t {
            return Err(FetchError::Uri(name, Failure::Unsafe));
        }
        let ps = ngx_pcalloc(r.pool, mem::size_of::<ngx_http_post_subrequest_t>())
            .cast::<ngx_http_post_subrequest_t>();
        let Some(ps) = ps.as_mut() else {
            return Err(FetchError::Oom);
        };
        ps.handler = Some(post_subrequest::<T>);
        ps.data = ptr::from_mut(fetch).cast();
        // Allocated first: once created, the subrequest must not keep the client's body.
        let body = ngx_pcalloc(r.pool, mem::size_of::<ngx_http_request_body_t>());
        if body.is_null() {
            return Err(FetchError::Oom);
        }
        let mut sr: *mut ngx_http_request_t = ptr::null_mut();
        let rc = ngx_http_subrequest(
            r,
            &mut uri,
            &mut args,
            &mut sr,
            ps,
            (NGX_HTTP_SUBREQUEST_IN_MEMORY | NGX_HTTP_SUBREQUEST_WAITED) as ngx_uint_t,
        );
        let Some(s) = sr.as_mut() else {
            return Err(FetchError::Uri(name, Failure::CannotCreate));
        };
        if rc != NGX_OK as ngx_int_t {
            return Err(FetchError::Uri(name, Failure::CannotCreate));
        }
        // A GET without the client's body, whatever the client's method was.
        s.method = NGX_HTTP_GET as ngx_uint_t;
        s.method_name = ngx_str_t {
            len: 3,
            data: c"GET".as_ptr().cast_mut().cast(),
        };
        s.request_body = body.cast();
        s.headers_in.content_length_n = -1;
        s.headers_in.content_length = ptr::null_mut();
        s.headers_in.set_chunked(0);
        fetch.current = sr;
        fetch.result = None;
    }
    Ok(())
}

/// Records the subrequest's answer. nginx may call it more than once for one subrequest (an
/// error status, then the error page): the last call wins.
unsafe extern "C" fn post_subrequest<T: Fetchable>(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    // SAFETY: `data` is the fetch registered in `subrequest`, alive as long as the main
    // request's pool; `sr` is the subrequest nginx is finalising.
    let (Some(fetch), Some(sr)) = (unsafe { data.cast::<Fetch<T>>().as_mut() }, unsafe {
        sr.as_ref()
    }) else {
        return rc;
    };
    // Only the subrequest in flight writes the outcome (not a late call for an earlier one).
    if !ptr::eq(sr, fetch.current) {
        return rc;
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if rc == NGX_ERROR as ngx_int_t {
            return Err(Failure::SubrequestFailed);
        }
        let status = if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            rc as ngx_uint_t
        } else {
            sr.headers_out.status
        };
        if status != 200 {
            return Err(Failure::Status(status));
        }
        // SAFETY: an in-memory subrequest's output is one buffer in `out` (nginx's postpone
        // filter), in the request pool.
        let body = unsafe {
            match sr.out.as_ref().and_then(|cl| cl.buf.as_ref()) {
                Some(b) if !b.pos.is_null() && b.last >= b.pos => {
                    std::slice::from_raw_parts(b.pos, b.last.offset_from(b.pos) as usize)
                }
                _ => &[],
            }
        };
        if body.is_empty() {
            return Err(Failure::EmptyBody);
        }
        Ok(body.to_vec())
    }));
    fetch.result = Some(outcome.unwrap_or(Err(Failure::Internal)));
    // On NGX_ERROR nginx terminates the whole request, as with auth_request or SSI: the client
    // sees the connection close (e.g. after "too big subrequest response"), never a pass.
    rc
}

/// This request's fetch for `key` (location and URIs), if any (an internal redirect may have
/// left one for another location or other URIs).
fn fetch_of<T: Fetchable>(r: &ngx_http_request_t, key: &CacheKey) -> *mut Fetch<T> {
    ngx_ext::find::<Fetch<T>>(r.pool, |f| f.key == *key).map_or(ptr::null_mut(), |p| p.as_ptr())
}

//! Revocation lists (`auth_jwt_revocation_list_sub`, `_kid`, `_jti`): a verified token whose
//! `sub`, `kid` or `jti` is listed is refused with 401 and `$auth_jwt_status` `revoked`. The
//! check follows the signature and the time claims, on cache hits too.
//!
//! - **A file** is read and parsed at configuration time (a missing or broken file fails
//!   `nginx -t`). Each worker then `stat`s it at most once a second, when a request needs it,
//!   and reads it again when its modification time, size or inode changed: no reload. A file
//!   larger than [`INLINE_PARSE_MAX`] is parsed on a thread of its own while the list read
//!   before stays in force. A new version that cannot be read or parsed keeps the old list in
//!   force, with one `error` line per version.
//! - **A URI** (`request=/uri`) is fetched with a subrequest, like `auth_jwt_key_request`, and
//!   kept by each worker for `interval`: the first request after that fetches again while
//!   others use the list in hand. A failing fetch keeps the last good list (`error` line). A
//!   worker that never got a list refuses tokens with 500 (`fail=closed`, the default) or lets
//!   them through (`fail=open`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::thread::{self, JoinHandle, LocalKey};

use auth_jwt_core::glue::BoundedMap;
use auth_jwt_core::revocation::RevocationList;
use auth_jwt_core::Token;
use ngx::ffi::{ngx_http_request_t, ngx_time, NGX_LOG_ERR};
use serde_json::Value;

use crate::conf::{ListFile, ListSource, LocConf};
use crate::keyrequest::{self, CacheKey, Entry, Failure, FetchError, Fetchable, Fetched};
use crate::ngx_ext::log_request;

/// Files up to this size are parsed while the request waits; larger ones on a thread.
pub const INLINE_PARSE_MAX: u64 = 256 * 1024;

/// Which member a list holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Sub = 0,
    Kid = 1,
    Jti = 2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Sub, Kind::Kid, Kind::Jti];

    pub fn directive(self) -> &'static str {
        match self {
            Kind::Sub => "auth_jwt_revocation_list_sub",
            Kind::Kid => "auth_jwt_revocation_list_kid",
            Kind::Jti => "auth_jwt_revocation_list_jti",
        }
    }

    pub fn from_directive(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.directive() == name)
    }

    /// The token's value for this list: a string claim (`sub`, `jti`) or header member
    /// (`kid`); a token without it (or with another type) is not in the list.
    fn value(self, token: &Token) -> Option<&str> {
        let member = match self {
            Kind::Sub => token.claims().get("sub"),
            Kind::Kid => token.header().get("kid"),
            Kind::Jti => token.claims().get("jti"),
        };
        match member {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    fn member(self) -> &'static str {
        match self {
            Kind::Sub => "sub",
            Kind::Kid => "kid",
            Kind::Jti => "jti",
        }
    }
}

/// A file's identity for change detection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileStamp {
    mtime_ns: i128,
    size: u64,
    inode: u64,
}

impl FileStamp {
    pub fn of(path: &str) -> std::io::Result<FileStamp> {
        let m = std::fs::metadata(path)?;
        Ok(FileStamp {
            mtime_ns: i128::from(m.mtime())
                .saturating_mul(1_000_000_000)
                .saturating_add(i128::from(m.mtime_nsec())),
            size: m.size(),
            inode: m.ino(),
        })
    }
}

/// The outcome of [`check`].
pub enum Revocation {
    /// No list holds the token.
    Clear,
    /// A list holds the token: the `info` line to log.
    Revoked(String),
    /// A list is being fetched: return `NGX_AGAIN` (access phase only).
    Pending,
    /// A list can only come from a subrequest (outside the access phase): no verdict now.
    NotNow,
    /// No list and `fail=closed`: the `error` line (the verdict is `error`, 500).
    Failed(String),
}

/// Checks a verified token against the location's lists. `can_wait`: in the access phase,
/// where a list fetch can be waited for.
pub fn check(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    token: &Token,
    can_wait: bool,
) -> Revocation {
    let now = ngx_time() as i64;
    for kind in Kind::ALL {
        let Some(Some(source)) = &lc.revocation[kind as usize] else {
            continue;
        };
        let Some(value) = kind.value(token) else {
            continue;
        };
        let list = match &**source {
            ListSource::File(file) => live_list(r, file, now),
            ListSource::Request {
                uri,
                interval,
                fail_open,
            } => {
                let names = std::slice::from_ref(uri);
                let got = if can_wait {
                    keyrequest::fetch::<RevocationList>(r, lc, names, *interval, now)
                } else {
                    match keyrequest::cached_value(lc, names, *interval, now) {
                        Some(got) => got,
                        None => return Revocation::NotNow,
                    }
                };
                match got {
                    Fetched::Ready { value, warning, .. } => {
                        if let Some(w) = warning {
                            let line = format!(
                                "auth_jwt: {}: {w}; keeping the list fetched before",
                                kind.directive()
                            );
                            log_request(r, NGX_LOG_ERR, &line);
                        }
                        value
                    }
                    Fetched::Pending => return Revocation::Pending,
                    Fetched::Failed(_) if *fail_open => continue,
                    Fetched::Failed(e) => {
                        return Revocation::Failed(format!(
                            "auth_jwt: {}: {e} (error)",
                            kind.directive()
                        ))
                    }
                }
            }
        };
        if list.contains(value, now) {
            let from = match &**source {
                ListSource::File(f) => format!("\"{}\"", f.path),
                ListSource::Request { uri, .. } => format!("\"{uri}\""),
            };
            return Revocation::Revoked(format!(
                "auth_jwt: the token's {} is in {} {from} (revoked)",
                kind.member(),
                kind.directive()
            ));
        }
    }
    Revocation::Clear
}

impl Fetchable for RevocationList {
    fn build(
        _r: &ngx_http_request_t,
        _lc: &LocConf,
        answers: &[(&str, &[u8])],
    ) -> Result<Self, FetchError> {
        let now = ngx_time() as i64;
        let Some((uri, body)) = answers.first() else {
            return Err(FetchError::NoUriLeft);
        };
        RevocationList::parse(body, now)
            .map_err(|e| FetchError::Uri((*uri).to_owned(), Failure::Parse(e.to_string())))
    }

    fn cache() -> &'static LocalKey<RefCell<BoundedMap<CacheKey, Entry<Self>>>> {
        &FETCHED_LISTS
    }
}

/// What a worker knows of one list file.
struct LiveFile {
    list: Arc<RevocationList>,
    stamp: FileStamp,
    /// When the file was last `stat`ed (unix seconds).
    checked: i64,
    /// A version being parsed on a thread.
    parsing: Option<(FileStamp, JoinHandle<Result<RevocationList, String>>)>,
    /// A version that could not be used (reported once).
    broken: Option<FileStamp>,
    /// The file could not be `stat`ed (reported once until it is back).
    gone: bool,
}

thread_local! {
    /// The lists this worker fetched by URI, by (location, URI).
    static FETCHED_LISTS: RefCell<BoundedMap<CacheKey, Entry<RevocationList>>> =
        RefCell::new(BoundedMap::new(128));
    /// The list files this worker follows, by path.
    static LIVE_FILES: RefCell<HashMap<String, LiveFile>> = RefCell::new(HashMap::new());
}

fn read_and_parse(path: &str, now: i64) -> Result<RevocationList, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    RevocationList::parse(&data, now).map_err(|e| e.to_string())
}

/// The list in force for `file`: the one read at configuration time, or the latest version
/// this worker read since.
fn live_list(r: &ngx_http_request_t, file: &ListFile, now: i64) -> Arc<RevocationList> {
    let mut errors = Vec::new();
    let list = LIVE_FILES.with(|m| {
        let mut m = m.borrow_mut();
        let e = m.entry(file.path.clone()).or_insert_with(|| LiveFile {
            list: file.list.clone(),
            stamp: file.stamp,
            checked: 0,
            parsing: None,
            broken: None,
            gone: false,
        });
        // A version parsed on a thread.
        if e.parsing.as_ref().is_some_and(|(_, h)| h.is_finished()) {
            if let Some((stamp, handle)) = e.parsing.take() {
                match handle.join() {
                    Ok(Ok(list)) => {
                        e.list = Arc::new(list);
                        e.stamp = stamp;
                    }
                    Ok(Err(why)) => {
                        e.broken = Some(stamp);
                        errors.push(why);
                    }
                    Err(_) => {
                        e.broken = Some(stamp);
                        errors.push("internal error".to_owned());
                    }
                }
            }
        }
        if now.saturating_sub(e.checked) >= 1 {
            e.checked = now;
            let stamp = FileStamp::of(&file.path);
            if stamp.is_ok() {
                e.gone = false;
            }
            match stamp {
                Ok(stamp)
                    if stamp != e.stamp
                        && Some(stamp) != e.broken
                        && e.parsing.as_ref().is_none_or(|(s, _)| *s != stamp) =>
                {
                    if stamp.size <= INLINE_PARSE_MAX {
                        match read_and_parse(&file.path, now) {
                            Ok(list) => {
                                e.list = Arc::new(list);
                                e.stamp = stamp;
                            }
                            Err(why) => {
                                e.broken = Some(stamp);
                                errors.push(why);
                            }
                        }
                    } else {
                        let path = file.path.clone();
                        let spawned = thread::Builder::new()
                            .name("auth_jwt_list".to_owned())
                            .spawn(move || read_and_parse(&path, now));
                        match spawned {
                            Ok(handle) => e.parsing = Some((stamp, handle)),
                            Err(why) => errors.push(why.to_string()),
                        }
                    }
                }
                Ok(_) => {}
                Err(why) => {
                    // Gone or unreadable: keep the list in force; say so once.
                    if !e.gone {
                        e.gone = true;
                        errors.push(why.to_string());
                    }
                }
            }
        }
        e.list.clone()
    });
    for why in errors {
        let line = format!(
            "auth_jwt: {}: \"{}\": {why}; keeping the list read before",
            file.kind.directive(),
            file.path
        );
        log_request(r, NGX_LOG_ERR, &line);
    }
    list
}

//! `auth_jwt_key_file` with variables in the file name: resolved per request, parsed once.
//!
//! Each worker keeps the key sets it parsed, keyed by the location and the resolved file
//! names. A cached set is used as is for `auth_jwt_key_cache` (at least one second); after
//! that the files are `stat`ed again and re-read only when one of them changed (modification
//! time or size). The cache holds at
//! most [`MAX_ENTRIES`] sets; the least recently checked one makes room.

use std::cell::RefCell;
use std::fs;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use auth_jwt_core::glue::BoundedMap;
use auth_jwt_core::{KeyError, KeySet, TokenType};
use ngx::ffi::{ngx_http_complex_value_t, ngx_http_request_t, NGX_LOG_ERR};

use crate::conf::{parse_keys_lenient, LocConf};
use crate::ngx_ext;

const MAX_ENTRIES: usize = 128;

struct Entry {
    set: Arc<KeySet>,
    /// (modification time in ns, size) of each file, in order.
    stamps: Vec<(u128, u64)>,
    /// When the files were last `stat`ed (unix seconds).
    checked: i64,
}

thread_local! {
    /// The key sets this worker parsed, by (location, resolved file names).
    static PARSED_SETS: RefCell<BoundedMap<(usize, Vec<String>), Entry>> =
        RefCell::new(BoundedMap::new(MAX_ENTRIES));
}

/// Why the key files of a request cannot be used (logged as `auth_jwt_key_file: ...`).
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot evaluate the file name")]
    Evaluate,
    #[error("the file name is not UTF-8")]
    NotUtf8,
    #[error("the file name evaluates to an empty string")]
    Empty,
    #[error("\"{0}\": {1}")]
    Io(String, std::io::Error),
    #[error("\"{0}\": {1}")]
    Keys(String, KeyError),
}

fn stamp(path: &str) -> Result<(u128, u64), KeyFileError> {
    let meta = fs::metadata(path).map_err(|e| KeyFileError::Io(path.to_owned(), e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((mtime, meta.len()))
}

/// The key set for this request: the location's fixed key files plus the files named by
/// `paths`. The error is logged.
pub fn resolve(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    paths: &[NonNull<ngx_http_complex_value_t>],
    now: i64,
) -> Result<Arc<KeySet>, KeyFileError> {
    let mut names = Vec::with_capacity(paths.len());
    for cv in paths {
        let name = ngx_ext::complex_value_string(r, *cv)
            .ok_or(KeyFileError::Evaluate)?
            .map_err(|_| KeyFileError::NotUtf8)?;
        if name.is_empty() {
            return Err(KeyFileError::Empty);
        }
        names.push(name);
    }
    let key = (lc as *const LocConf as usize, names);

    PARSED_SETS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(e) = cache.get_mut(&key) {
            if now.saturating_sub(e.checked) < lc.key_cache.max(1) {
                return Ok(e.set.clone());
            }
            let stamps = key
                .1
                .iter()
                .map(|p| stamp(p))
                .collect::<Result<Vec<_>, _>>()?;
            if stamps == e.stamps {
                e.checked = now;
                return Ok(e.set.clone());
            }
        }
        // The location's fixed key files, as read at configuration time.
        let ty = lc.ty.unwrap_or(TokenType::Signed);
        let mut set = lc.fixed_key_set();
        let mut stamps = Vec::with_capacity(key.1.len());
        for path in &key.1 {
            stamps.push(stamp(path)?);
            let data = fs::read(path).map_err(|e| KeyFileError::Io(path.clone(), e))?;
            let parsed =
                parse_keys_lenient(&data, ty).map_err(|e| KeyFileError::Keys(path.clone(), e))?;
            for refused in &parsed.refused {
                ngx_ext::log_request(
                    r,
                    NGX_LOG_ERR,
                    &format!(
                        "auth_jwt: auth_jwt_key_file: \"{path}\": {refused}; the key is skipped \
                         (error)"
                    ),
                );
            }
            set.extend(parsed.set);
        }
        let set = Arc::new(set);
        let entry = Entry {
            set: set.clone(),
            stamps,
            checked: now,
        };
        cache.insert(key, entry, |e| e.checked);
        Ok(set)
    })
}

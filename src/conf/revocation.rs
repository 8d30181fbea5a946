//! `auth_jwt_revocation_list_sub`, `auth_jwt_revocation_list_kid`,
//! `auth_jwt_revocation_list_jti`.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;

use auth_jwt_core::revocation::RevocationList;
use ngx::ffi::{
    ngx_command_t, ngx_conf_full_name, ngx_conf_t, ngx_int_t, ngx_parse_time, ngx_str_t, ngx_time,
    NGX_ERROR, NGX_OK,
};

use super::ext::{conf_error, setter_args, ConfExt, IS_DUPLICATE};
use crate::revocation::{FileStamp, Kind};

/// Where one kind of revocation list comes from.
pub enum ListSource {
    /// A file, read at configuration time and re-read by each worker when it changes.
    File(Arc<ListFile>),
    /// A local URI, fetched with a subrequest and refreshed every `interval` seconds.
    Request {
        uri: String,
        interval: i64,
        /// A worker that never got the list lets tokens through (`fail=open`); by default
        /// it refuses them with 500 (`fail=closed`).
        fail_open: bool,
    },
}

impl ListSource {
    /// Whether two levels use the same source (for `LocConf::same_check`).
    pub fn same(&self, other: &ListSource) -> bool {
        match (self, other) {
            (ListSource::File(a), ListSource::File(b)) => Arc::ptr_eq(a, b),
            (
                ListSource::Request {
                    uri: a,
                    interval: ia,
                    fail_open: fa,
                },
                ListSource::Request {
                    uri: b,
                    interval: ib,
                    fail_open: fb,
                },
            ) => a == b && ia == ib && fa == fb,
            _ => false,
        }
    }
}

/// A revocation list file as read at configuration time.
pub struct ListFile {
    pub kind: Kind,
    pub path: String,
    pub list: Arc<RevocationList>,
    pub stamp: FileStamp,
}

/// Default refresh interval of a list fetched by URI, in seconds.
const INTERVAL: i64 = 30;

/// Why a revocation list directive is refused (after its name).
#[derive(Debug, thiserror::Error)]
enum ListError {
    #[error("\"{0}\": {1}")]
    Io(String, std::io::Error),
    #[error("\"{0}\": {1}")]
    List(String, auth_jwt_core::revocation::RevocationError),
    #[error("\"{0}\" is not a local URI: name a location of this server, e.g. /revoked/sub")]
    NotLocal(String),
    #[error("invalid interval \"{0}\"")]
    BadInterval(String),
    #[error("invalid \"fail={0}\": use open or closed")]
    BadFail(String),
    #[error("invalid parameter \"{0}\": interval= and fail= go with request=uri")]
    BadParameter(String),
}

/// `auth_jwt_revocation_list_<kind> file | request=uri [interval=time] [fail=open|closed] | off;`
pub(super) fn set_revocation_list(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context, the command and our location
    // configuration.
    let ((cf, lc), cmd) = unsafe { (setter_args(cf, conf), &*cmd) };
    let directive = cmd.name.to_string();
    let Some(kind) = Kind::from_directive(&directive) else {
        return conf_error(cf, format_args!("{directive}: unknown list"));
    };
    let slot = &mut lc.revocation[kind as usize];
    if slot.is_some() {
        return IS_DUPLICATE;
    }
    let args: Vec<ngx_str_t> = cf.args()[1..].to_vec();
    match parse(cf, kind, &args) {
        Ok(source) => {
            *slot = Some(source.map(Arc::new));
            ptr::null_mut()
        }
        Err(e) => conf_error(cf, format_args!("{directive}: {e}")),
    }
}

/// The source the arguments name (`None` for `off`).
fn parse(
    cf: &mut ngx_conf_t,
    kind: Kind,
    args: &[ngx_str_t],
) -> Result<Option<ListSource>, ListError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(ListError::BadParameter(String::new()));
    };
    if first.as_bytes() == b"off" && rest.is_empty() {
        return Ok(None);
    }
    let Some(uri) = first.strip_prefix(b"request=") else {
        if let Some(extra) = rest.first() {
            return Err(ListError::BadParameter(extra.to_string()));
        }
        return read_file(cf, kind, *first).map(Some);
    };
    let uri = uri.to_string();
    if !uri.starts_with('/') {
        return Err(ListError::NotLocal(uri));
    }
    let mut interval = INTERVAL;
    let mut fail_open = false;
    for a in rest {
        if let Some(mut t) = a.strip_prefix(b"interval=") {
            // SAFETY: `t` points into the configuration arguments.
            let secs = unsafe { ngx_parse_time(&mut t, 1) };
            if secs == NGX_ERROR as ngx_int_t || secs == 0 {
                return Err(ListError::BadInterval(t.to_string()));
            }
            interval = secs as i64;
        } else if let Some(f) = a.strip_prefix(b"fail=") {
            fail_open = match f.as_bytes() {
                b"open" => true,
                b"closed" => false,
                _ => return Err(ListError::BadFail(f.to_string())),
            };
        } else {
            return Err(ListError::BadParameter(a.to_string()));
        }
    }
    Ok(Some(ListSource::Request {
        uri,
        interval,
        fail_open,
    }))
}

/// Reads and parses a list file now: a missing or broken file fails `nginx -t`.
fn read_file(
    cf: &mut ngx_conf_t,
    kind: Kind,
    mut name: ngx_str_t,
) -> Result<ListSource, ListError> {
    // SAFETY: `cf.cycle` is the cycle being configured; `name` is replaced by a copy in the
    // cycle pool with the configuration prefix applied.
    if unsafe { ngx_conf_full_name(cf.cycle, &mut name, 1) } != NGX_OK as isize {
        return Err(ListError::BadParameter(name.to_string()));
    }
    let path = name.to_string();
    let stamp = FileStamp::of(&path).map_err(|e| ListError::Io(path.clone(), e))?;
    let data = std::fs::read(&path).map_err(|e| ListError::Io(path.clone(), e))?;
    let now = ngx_time() as i64;
    let list = RevocationList::parse(&data, now).map_err(|e| ListError::List(path.clone(), e))?;
    Ok(ListSource::File(Arc::new(ListFile {
        kind,
        path,
        list: Arc::new(list),
        stamp,
    })))
}

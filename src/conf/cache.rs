//! `auth_jwt_cache`.

use std::ffi::{c_char, c_void};
use std::ptr::{self, NonNull};

use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_int_t, ngx_pagesize, ngx_parse_size, ngx_parse_time,
    ngx_shared_memory_add, ngx_shm_zone_t, ngx_str_t, NGX_ERROR,
};

use auth_jwt_core::glue::split_zone;

use super::ext::{conf_error, setter_args, ConfExt, IS_DUPLICATE};

/// `auth_jwt_cache zone=name:size [max_age=time];`
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CacheConf {
    pub zone: NonNull<ngx_shm_zone_t>,
    /// Seconds.
    pub max_age: i64,
}

/// Default `max_age` of a cached verdict, in seconds.
const CACHE_MAX_AGE: i64 = 300;

/// `auth_jwt_cache zone=name:size [max_age=time] | off;`
pub(super) fn set_cache(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    if lc.cache.is_some() {
        return IS_DUPLICATE;
    }
    let (mut name, size, max_age) = match CacheArgs::try_from(&cf.args()[1..]) {
        Ok(CacheArgs::Off) => {
            lc.cache = Some(None);
            return ptr::null_mut();
        }
        Ok(CacheArgs::Zone {
            name,
            size,
            max_age,
        }) => (name, size, max_age),
        Err(e) => return conf_error(cf, format_args!("auth_jwt_cache: {e}")),
    };
    // SAFETY: valid configuration context; the tag is our module, so nginx refuses to share
    // the zone with another module's zone of the same name.
    let shm = unsafe {
        ngx_shared_memory_add(
            cf,
            &mut name,
            size,
            ptr::addr_of_mut!(crate::ngx_http_auth_jwt_module).cast(),
        )
    };
    let Some(mut shm) = NonNull::new(shm) else {
        return NGX_CONF_ERROR;
    };
    // SAFETY: nginx returned a valid zone owned by the cycle.
    unsafe { shm.as_mut().init = Some(crate::verdict_zone::ngx_http_auth_jwt_cache_init) };
    lc.cache = Some(Some(CacheConf { zone: shm, max_age }));
    ptr::null_mut()
}

/// The arguments of `auth_jwt_cache`, checked.
enum CacheArgs {
    Off,
    Zone {
        name: ngx_str_t,
        /// Bytes; 0 for `zone=name` (a zone declared with its size elsewhere).
        size: usize,
        /// Seconds.
        max_age: i64,
    },
}

/// Why `auth_jwt_cache` is refused (after `auth_jwt_cache: `).
#[derive(Debug, thiserror::Error)]
enum CacheError {
    #[error("invalid max_age \"{0}\"")]
    BadMaxAge(String),
    #[error("invalid parameter \"{0}\": expected zone=name:size, max_age=time or off")]
    BadParameter(String),
    #[error("\"zone=name:size\" is required")]
    NoZone,
    #[error("invalid zone size \"{0}\"")]
    BadSize(String),
    #[error("zone size \"{0}\" is too small (at least {1}k)")]
    TooSmall(String, isize),
    #[error("the zone needs a name")]
    NoName,
}

impl TryFrom<&[ngx_str_t]> for CacheArgs {
    type Error = CacheError;

    fn try_from(args: &[ngx_str_t]) -> Result<Self, Self::Error> {
        if let [off] = args {
            if off.as_bytes() == b"off" {
                return Ok(CacheArgs::Off);
            }
        }
        let mut zone = None;
        let mut max_age = CACHE_MAX_AGE;
        for a in args {
            if let Some(z) = a.strip_prefix(b"zone=") {
                zone = Some(z);
            } else if let Some(mut t) = a.strip_prefix(b"max_age=") {
                // SAFETY: `t` points into the configuration arguments.
                let secs = unsafe { ngx_parse_time(&mut t, 1) };
                if secs == NGX_ERROR as ngx_int_t {
                    return Err(CacheError::BadMaxAge(t.to_string()));
                }
                max_age = secs as i64;
            } else {
                return Err(CacheError::BadParameter(a.to_string()));
            }
        }
        let zone = zone.ok_or(CacheError::NoZone)?;
        let (name, size) = split_zone(zone.as_bytes());
        let size = match size {
            None => 0,
            Some(text) => {
                let mut size_str = ngx_str_t {
                    len: text.len(),
                    data: text.as_ptr().cast_mut(),
                };
                // SAFETY: `size_str` points into the configuration arguments.
                let size = unsafe { ngx_parse_size(&mut size_str) };
                // SAFETY: reading nginx's page size, set once at startup.
                let min = 8 * unsafe { ngx_pagesize } as isize;
                if size == NGX_ERROR as isize {
                    return Err(CacheError::BadSize(size_str.to_string()));
                }
                if size < min {
                    return Err(CacheError::TooSmall(size_str.to_string(), min / 1024));
                }
                size as usize
            }
        };
        if name.is_empty() {
            return Err(CacheError::NoName);
        }
        let name = ngx_str_t {
            len: name.len(),
            data: name.as_ptr().cast_mut(),
        };
        Ok(CacheArgs::Zone {
            name,
            size,
            max_age,
        })
    }
}

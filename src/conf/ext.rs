//! Helpers over `ngx_conf_t` that keep the setters short, the configuration log calls, and
//! the panic guard every directive handler runs under.

use std::ffi::{c_char, c_void};
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_compile_complex_value, ngx_http_compile_complex_value_t,
    ngx_http_complex_value_t, ngx_log_error_core, ngx_pcalloc, ngx_str_t, ngx_uint_t,
    NGX_LOG_EMERG, NGX_OK,
};
use ngx::ngx_conf_log_error;

use super::LocConf;

/// Where a directive was written, for messages reported after its line was parsed.
#[derive(Clone, Copy)]
pub(super) struct Origin {
    pub(super) file: ngx_str_t,
    pub(super) line: ngx_uint_t,
}

/// Logs at `emerg` without nginx's automatic " in file:line" (used where the current line is
/// not the one at fault).
pub(super) fn log_emerg(cf: &mut ngx_conf_t, msg: fmt::Arguments) {
    log_conf(cf, NGX_LOG_EMERG, msg)
}

/// Logs at `level` without nginx's automatic " in file:line".
pub(super) fn log_conf(cf: &mut ngx_conf_t, level: u32, msg: fmt::Arguments) {
    let text = msg.to_string();
    // SAFETY: `cf.log` is the valid configuration log; "%*s" reads exactly `len` bytes.
    unsafe {
        ngx_log_error_core(
            level as ngx_uint_t,
            cf.log,
            0,
            c"%*s".as_ptr(),
            text.len(),
            text.as_ptr(),
        )
    };
}

/// Small helpers over `ngx_conf_t` that keep the setters short.
pub(super) trait ConfExt {
    fn args(&self) -> &[ngx_str_t];
    fn compile(&mut self, value: &mut ngx_str_t) -> Option<NonNull<ngx_http_complex_value_t>>;
    fn compile_path(&mut self, value: &mut ngx_str_t) -> Option<NonNull<ngx_http_complex_value_t>>;
    fn origin(&self) -> Origin;
}

impl ConfExt for ngx_conf_t {
    fn args(&self) -> &[ngx_str_t] {
        // SAFETY: while a directive is parsed `args` is a valid array of `ngx_str_t` with
        // `nelts` elements; setters are called one at a time.
        unsafe {
            let args = &*self.args;
            std::slice::from_raw_parts(args.elts.cast::<ngx_str_t>(), args.nelts)
        }
    }

    fn compile(&mut self, value: &mut ngx_str_t) -> Option<NonNull<ngx_http_complex_value_t>> {
        compile_complex(self, value, false)
    }

    fn compile_path(&mut self, value: &mut ngx_str_t) -> Option<NonNull<ngx_http_complex_value_t>> {
        compile_complex(self, value, true)
    }

    fn origin(&self) -> Origin {
        // SAFETY: `conf_file` is set while a configuration file is parsed.
        match unsafe { self.conf_file.as_ref() } {
            Some(f) => Origin {
                file: f.file.name,
                line: f.line,
            },
            None => Origin {
                file: ngx_str_t::empty(),
                line: 0,
            },
        }
    }
}

/// Compiles `value` into a complex value in the configuration pool; with `conf_prefix`,
/// nginx prepends the configuration prefix to a relative result (file names).
pub(super) fn compile_complex(
    cf: &mut ngx_conf_t,
    value: &mut ngx_str_t,
    conf_prefix: bool,
) -> Option<NonNull<ngx_http_complex_value_t>> {
    // SAFETY: the pool is the configuration pool; the compile context is zero-initialised as
    // ngx_http_compile_complex_value expects, and `value` outlives the call (it is copied
    // into the complex value).
    unsafe {
        let cv = ngx_pcalloc(cf.pool, mem::size_of::<ngx_http_complex_value_t>())
            .cast::<ngx_http_complex_value_t>();
        let cv = NonNull::new(cv)?;
        let mut ccv: ngx_http_compile_complex_value_t = mem::zeroed();
        ccv.cf = cf;
        ccv.value = value;
        ccv.complex_value = cv.as_ptr();
        if conf_prefix {
            ccv.set_conf_prefix(1);
        }
        if ngx_http_compile_complex_value(&mut ccv) != NGX_OK as isize {
            return None;
        }
        Some(cv)
    }
}

pub(super) fn conf_error(cf: &mut ngx_conf_t, msg: fmt::Arguments) -> *mut c_char {
    ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", msg);
    NGX_CONF_ERROR
}

/// The setters' common prologue: references to the context and to our configuration.
///
/// # Safety
/// `cf` and `conf` must be the pointers nginx passes to a directive handler of this module.
pub(super) unsafe fn setter_args<'a>(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
) -> (&'a mut ngx_conf_t, &'a mut LocConf) {
    // SAFETY: guaranteed by the caller.
    unsafe { (&mut *cf, &mut *conf.cast::<LocConf>()) }
}

pub(super) const IS_DUPLICATE: *mut c_char = c"is duplicate".as_ptr().cast_mut();

/// Runs a directive handler. A panic must never unwind into nginx (it would abort the master
/// process, on `nginx -s reload` too): it becomes a configuration error naming the directive.
pub(super) fn guard_setter(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    f: impl FnOnce() -> *mut c_char,
) -> *mut c_char {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(rv) => rv,
        Err(_) => {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: nginx passes its configuration context and the command being handled
                // (or null, checked here); the handler that panicked no longer borrows them.
                let (cf, cmd) = unsafe { (cf.as_mut(), cmd.as_ref()) };
                if let Some(cf) = cf {
                    let name = cmd.map(|c| c.name.to_string()).unwrap_or_default();
                    conf_error(cf, format_args!("{name}: internal error"));
                }
            }));
            NGX_CONF_ERROR
        }
    }
}

/// The directive handlers nginx calls: each runs its `fn` under [`guard_setter`].
macro_rules! guarded_setters {
    ($($name:ident => $body:ident),* $(,)?) => {$(
        extern "C" fn $name(
            cf: *mut ngx_conf_t,
            cmd: *mut ngx_command_t,
            conf: *mut c_void,
        ) -> *mut c_char {
            guard_setter(cf, cmd, || $body(cf, cmd, conf))
        }
    )*};
}
pub(super) use guarded_setters;

//! `ngx_http_auth_jwt_module`: validates JSON Web Tokens in nginx's access phase.
//!
//! This file holds only what nginx needs to find the module: the module and context statics,
//! the exported module table, and the pre/post-configuration hooks. Directives live in
//! [`conf`], the access handler in [`handler`], variables in [`variables`], and everything
//! about tokens and keys in the `auth-jwt-core` crate, which has no nginx types.

use std::ffi::{c_char, c_void};
use std::ptr;

use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{
    ngx_array_push, ngx_conf_t, ngx_http_handler_pt, ngx_http_module_t,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_int_t, ngx_module_t, ngx_uint_t, NGX_ERROR,
    NGX_HTTP_MODULE, NGX_OK,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};

mod conf;
mod handler;
mod keyfiles;
mod keyrequest;
mod ngx_ext;
mod revocation;
mod state;
mod variables;
mod verdict_zone;

use conf::{LocConf, NGX_HTTP_AUTH_JWT_COMMANDS};

/// The module type: configuration callbacks for nginx.
pub struct AuthJwtModule;

static NGX_HTTP_AUTH_JWT_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(AuthJwtModule::preconfiguration),
    postconfiguration: Some(AuthJwtModule::postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(AuthJwtModule::create_loc_conf),
    merge_loc_conf: Some(ngx_http_auth_jwt_merge_loc_conf),
};

// Generate the `ngx_modules` table so that `load_module` finds the module in the .so.
#[cfg(feature = "export-modules")]
ngx::ngx_modules!(ngx_http_auth_jwt_module);

/// The module; its name is the one `load_module` and nginx's module table know it by.
#[used]
#[allow(non_upper_case_globals)]
#[cfg_attr(not(feature = "export-modules"), no_mangle)]
pub static mut ngx_http_auth_jwt_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(NGX_HTTP_AUTH_JWT_MODULE_CTX)
        .cast_mut()
        .cast(),
    // SAFETY: only the address of the static table is taken; nginx reads it during
    // configuration parsing in a single thread.
    commands: unsafe { ptr::addr_of_mut!(NGX_HTTP_AUTH_JWT_COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as ngx_uint_t,
    ..ngx_module_t::default()
};

// SAFETY: `LocationConf` is the type created by `create_loc_conf` for this module.
unsafe impl HttpModuleLocationConf for AuthJwtModule {
    type LocationConf = LocConf;
}

impl HttpModule for AuthJwtModule {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the static is only written by nginx while it loads the module, before any
        // callback of ours can run.
        unsafe { &*ptr::addr_of!(ngx_http_auth_jwt_module) }
    }

    unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        // SAFETY: nginx passes a valid configuration context to module callbacks.
        let cf = unsafe { &mut *cf };
        variables::register(cf)
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        // SAFETY: nginx passes a valid configuration context to module callbacks.
        let cf = unsafe { &mut *cf };
        let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(cf) else {
            return NGX_ERROR as ngx_int_t;
        };
        let phase = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize];
        // SAFETY: `handlers` is an initialised array of `ngx_http_handler_pt` owned by the
        // core module's main configuration.
        let h = unsafe { ngx_array_push(&mut phase.handlers) }.cast::<ngx_http_handler_pt>();
        if h.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        // SAFETY: `h` points at a freshly pushed, properly aligned element of the array.
        unsafe { *h = Some(handler::ngx_http_auth_jwt_handler) };
        NGX_OK as ngx_int_t
    }
}

/// Merges a location configuration with its parent (see [`LocConf::merge_from`]).
unsafe extern "C" fn ngx_http_auth_jwt_merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx passes the configurations created by `create_loc_conf` for this module
    // and a valid configuration context.
    let (cf, prev, conf) = unsafe {
        (
            &mut *cf,
            &*prev.cast::<LocConf>(),
            &mut *conf.cast::<LocConf>(),
        )
    };
    match conf.merge_from(prev, cf) {
        Ok(()) => ptr::null_mut(),
        Err(()) => NGX_CONF_ERROR,
    }
}

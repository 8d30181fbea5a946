//! Directives: the command table, their setters, and the location configuration with its merge.
//!
//! Everything that can be checked or prepared at configuration time is done here: realms and
//! token sources are compiled into complex values, key files are read and parsed into OpenSSL
//! key objects, and a location with `auth_jwt` on but no key in scope fails `nginx -t`.

use std::ffi::{c_char, c_void, CStr};
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use auth_jwt_core::{KeyError, KeySet, TokenType};
use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{
    ngx_command_t, ngx_conf_full_name, ngx_conf_set_sec_slot, ngx_conf_t, ngx_http_add_variable,
    ngx_http_compile_complex_value, ngx_http_compile_complex_value_t, ngx_http_complex_value_t,
    ngx_http_conf_ctx_t, ngx_http_core_loc_conf_t, ngx_http_core_module, ngx_int_t,
    ngx_log_error_core, ngx_pagesize, ngx_parse_size, ngx_parse_time, ngx_pcalloc,
    ngx_shared_memory_add, ngx_shm_zone_t, ngx_str_t, ngx_uint_t, time_t, NGX_CONF_1MORE,
    NGX_CONF_2MORE, NGX_CONF_TAKE1, NGX_CONF_TAKE12, NGX_CONF_UNSET, NGX_ERROR, NGX_HTTP_LMT_CONF,
    NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF,
    NGX_HTTP_VAR_CHANGEABLE, NGX_HTTP_VAR_NOCACHEABLE, NGX_LOG_EMERG, NGX_LOG_WARN, NGX_OK,
};
use ngx::ngx_conf_log_error;

/// `auth_jwt` at one configuration level.
pub enum Auth {
    /// `auth_jwt off;`
    Off,
    /// `auth_jwt realm [token=$variable];`
    On {
        realm: NonNull<ngx_http_complex_value_t>,
        token: Option<NonNull<ngx_http_complex_value_t>>,
    },
}

/// One `auth_jwt_require` directive.
pub struct Require {
    pub values: Vec<NonNull<ngx_http_complex_value_t>>,
    pub status: ngx_uint_t,
}

/// Where a directive was written, for messages reported after its line was parsed.
#[derive(Clone, Copy)]
struct Origin {
    file: ngx_str_t,
    line: ngx_uint_t,
}

/// The module's location configuration (also used for `http`, `server` and `limit_except`).
///
/// `None` (or `NGX_CONF_UNSET`) means "not set at this level": merge inherits only those, so a
/// child level can always override or turn off what it inherits.
pub struct LocConf {
    pub auth: Option<Auth>,
    /// The verification keys of the fixed key files in scope (possibly empty when the files
    /// hold only decryption keys).
    pub keys: Option<Arc<KeySet>>,
    /// The same files loaded with their decryption keys, for `auth_jwt_type encrypted` and
    /// `nested` (see `LocConf::merge`).
    pub dec_keys: Option<Arc<KeySet>>,
    /// The contents of this level's fixed key files, kept for `key_paths` and `key_requests`
    /// (which combine them with keys found per request) and for `dec_keys`.
    pub key_data: Arc<Vec<KeyFile>>,
    /// `auth_jwt_key_file` names with variables, resolved per request (see `keyfiles`).
    pub key_paths: Option<Vec<NonNull<ngx_http_complex_value_t>>>,
    /// `auth_jwt_key_request` URIs (see `keyrequest`).
    pub key_requests: Option<Vec<NonNull<ngx_http_complex_value_t>>>,
    /// `auth_jwt_key_cache`, seconds; `NGX_CONF_UNSET` until merged.
    pub key_cache: time_t,
    /// `auth_jwt_type`; `None` until merged (then `Signed` by default).
    pub ty: Option<TokenType>,
    /// Seconds; `NGX_CONF_UNSET` until merged. Set by `ngx_conf_set_sec_slot`.
    pub leeway: time_t,
    pub require: Option<Vec<Require>>,
    /// `auth_jwt_cache`: `Some(None)` is `off`.
    pub cache: Option<Option<CacheConf>>,
    auth_origin: Option<Origin>,
}

/// One `auth_jwt_key_file` without variables, as read at configuration time.
#[derive(Clone)]
pub struct KeyFile {
    pub path: String,
    pub data: Vec<u8>,
    /// Why the file holds no verification key (it holds decryption keys only): an error
    /// unless `auth_jwt_type` is `encrypted` or `nested`.
    verify_error: Option<String>,
    /// The warnings already reported when the file was read.
    verify_warnings: Vec<String>,
    /// `file:line` of the directive.
    origin: String,
}

impl LocConf {
    /// The keys of this location's fixed key files for tokens of its type, as loaded at
    /// configuration time: the start of a key set that per-request sources (files with
    /// variables, key requests) complete. A clone shares the OpenSSL key objects.
    pub fn fixed_key_set(&self) -> KeySet {
        let fixed = match self.ty.unwrap_or(TokenType::Signed) {
            TokenType::Signed => &self.keys,
            TokenType::Encrypted | TokenType::Nested => &self.dec_keys,
        };
        fixed.as_deref().cloned().unwrap_or_default()
    }

    /// Whether a token check made with `other` is the one this configuration makes: the same
    /// token source, keys, type, leeway and cache. A location that inherits all of them from
    /// its server, or an `if` block from its location, makes the same check; the realm and
    /// `auth_jwt_require` are applied by the access handler of each location and do not count.
    pub fn same_check(&self, other: &LocConf) -> bool {
        fn token(c: &LocConf) -> Option<Option<NonNull<ngx_http_complex_value_t>>> {
            match c.auth {
                Some(Auth::On { token, .. }) => Some(token),
                _ => None,
            }
        }
        fn same_set(a: &Option<Arc<KeySet>>, b: &Option<Arc<KeySet>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        ptr::eq(self, other)
            || (token(self).is_some()
                && token(self) == token(other)
                && same_set(&self.keys, &other.keys)
                && same_set(&self.dec_keys, &other.dec_keys)
                && self.key_paths == other.key_paths
                && self.key_requests == other.key_requests
                && self.key_cache == other.key_cache
                && self.ty == other.ty
                && self.leeway == other.leeway
                && self.cache == other.cache)
    }
}

/// Loads a key file for tokens of type `ty`: decryption keys too unless `ty` is `signed`.
pub fn parse_keys(data: &[u8], ty: TokenType) -> Result<(KeySet, Vec<String>), KeyError> {
    match ty {
        TokenType::Signed => KeySet::parse(data),
        TokenType::Encrypted | TokenType::Nested => KeySet::parse_with_private(data),
    }
}

/// `auth_jwt_cache zone=name:size [max_age=time];`
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CacheConf {
    pub zone: NonNull<ngx_shm_zone_t>,
    /// Seconds.
    pub max_age: i64,
}

impl Default for LocConf {
    fn default() -> Self {
        LocConf {
            auth: None,
            keys: None,
            dec_keys: None,
            key_data: Arc::new(Vec::new()),
            key_paths: None,
            key_requests: None,
            key_cache: NGX_CONF_UNSET as time_t,
            ty: None,
            leeway: NGX_CONF_UNSET as time_t,
            require: None,
            cache: None,
            auth_origin: None,
        }
    }
}

impl LocConf {
    /// Inherit what this level did not set; then refuse `auth_jwt` without any key.
    ///
    /// Called from nginx's merge callback: a panic must not unwind into nginx (it would abort
    /// the master process, on `nginx -s reload` too), so it becomes a configuration error.
    pub fn merge_from(&mut self, prev: &LocConf, cf: &mut ngx_conf_t) -> Result<(), ()> {
        match panic::catch_unwind(AssertUnwindSafe(|| self.merge(prev, cf))) {
            Ok(r) => r,
            Err(_) => {
                let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                    log_emerg(
                        cf,
                        format_args!("auth_jwt: internal error while merging the configuration"),
                    )
                }));
                Err(())
            }
        }
    }

    fn merge(&mut self, prev: &LocConf, cf: &mut ngx_conf_t) -> Result<(), ()> {
        if self.auth.is_none() {
            self.auth = match prev.auth {
                Some(Auth::Off) => Some(Auth::Off),
                Some(Auth::On { realm, token }) => Some(Auth::On { realm, token }),
                None => None,
            };
            self.auth_origin = prev.auth_origin;
        }
        // Key files (fixed or with variables) at this level replace the inherited ones;
        // `auth_jwt_key_request` is inherited on its own, like any array directive of nginx.
        if self.keys.is_none() && self.key_paths.is_none() {
            self.keys = prev.keys.clone();
            self.dec_keys = prev.dec_keys.clone();
            self.key_data = prev.key_data.clone();
            self.key_paths = prev.key_paths.clone();
        }
        if self.key_requests.is_none() {
            self.key_requests = prev.key_requests.clone();
        }
        if self.key_cache == NGX_CONF_UNSET as time_t {
            self.key_cache = if prev.key_cache == NGX_CONF_UNSET as time_t {
                0
            } else {
                prev.key_cache
            };
        }
        if self.ty.is_none() {
            self.ty = prev.ty;
        }
        let ty = self.ty.unwrap_or(TokenType::Signed);
        if ty != TokenType::Signed && self.dec_keys.is_none() && !self.key_data.is_empty() {
            // Loaded once per level that needs them; child levels inherit the result.
            let mut set = KeySet::new();
            for file in self.key_data.iter() {
                match parse_keys(&file.data, ty) {
                    Ok((keys, warnings)) => {
                        // Only what loading the decryption keys adds (e.g. an `oct` key that
                        // fits no JWE algorithm); the rest was said when the file was read.
                        for w in warnings
                            .iter()
                            .filter(|w| !file.verify_warnings.contains(w))
                        {
                            log_conf(
                                cf,
                                NGX_LOG_WARN,
                                format_args!(
                                    "auth_jwt_key_file: \"{}\": {w} (loading decryption keys \
                                     for \"auth_jwt_type {}\") in {}",
                                    file.path,
                                    ty.as_str(),
                                    file.origin
                                ),
                            );
                        }
                        set.extend(keys)
                    }
                    Err(e) => {
                        log_emerg(
                            cf,
                            format_args!(
                                "auth_jwt_key_file: \"{}\": {e} (loading decryption keys for \
                                 \"auth_jwt_type {}\")",
                                file.path,
                                ty.as_str()
                            ),
                        );
                        return Err(());
                    }
                }
            }
            if !set.has_decryption_keys() {
                let files: Vec<&str> = self.key_data.iter().map(|f| f.path.as_str()).collect();
                log_emerg(
                    cf,
                    format_args!(
                        "auth_jwt_type {}: no key in \"{}\" can decrypt a token; a JWK with its \
                         private members, an \"oct\" JWK or a PEM PRIVATE KEY is needed",
                        ty.as_str(),
                        files.join("\", \"")
                    ),
                );
                return Err(());
            }
            self.dec_keys = Some(Arc::new(set));
        }
        if self.leeway == NGX_CONF_UNSET as time_t {
            self.leeway = if prev.leeway == NGX_CONF_UNSET as time_t {
                0
            } else {
                prev.leeway
            };
        }
        if self.cache.is_none() {
            self.cache = prev.cache;
        }
        if self.require.is_none() {
            self.require = prev.require.as_ref().map(|list| {
                list.iter()
                    .map(|r| Require {
                        values: r.values.clone(),
                        status: r.status,
                    })
                    .collect()
            });
        }

        // The server{} level itself (not a location) may leave the keys to its locations, as
        // NGINX Plus allows; a request that matches no location is then refused with 500.
        let (file, line) = match self.auth_origin {
            Some(o) => (o.file.to_string(), o.line),
            None => (String::from("?"), 0),
        };
        if !matches!(self.auth, Some(Auth::On { .. })) {
            return Ok(());
        }
        if self.key_paths.is_some() && self.key_requests.is_some() {
            log_emerg(
                cf,
                format_args!(
                    "auth_jwt: \"auth_jwt_key_file\" with variables and \"auth_jwt_key_request\" \
                     cannot be combined for one location (\"auth_jwt\" in {file}:{line})"
                ),
            );
            return Err(());
        }
        if ty == TokenType::Signed && self.keys.as_ref().is_some_and(|k| k.is_empty()) {
            // Key files of decryption keys only (no verification key at all) are an error for
            // signed tokens, reported with the reason the first one holds no verification key.
            // Next to verification keys they are allowed (locations of several types may
            // share key files) and unused here.
            if let Some(f) = self.key_data.iter().find(|f| f.verify_error.is_some()) {
                log_emerg(
                    cf,
                    format_args!(
                        "auth_jwt_key_file: \"{}\": {} in {} (with \"auth_jwt_type encrypted\" \
                         or \"nested\" it would be used to decrypt tokens)",
                        f.path,
                        f.verify_error.as_deref().unwrap_or_default(),
                        f.origin
                    ),
                );
                return Err(());
            }
        }
        if self.keys.is_none()
            && self.key_paths.is_none()
            && self.key_requests.is_none()
            && !is_server_level(cf)
        {
            log_emerg(
                cf,
                format_args!(
                    "auth_jwt: \"auth_jwt\" is on but no \"auth_jwt_key_file\" or \
                     \"auth_jwt_key_request\" is in scope; add one at the same or an enclosing \
                     level in {file}:{line}"
                ),
            );
            return Err(());
        }
        Ok(())
    }
}

/// Whether the configuration being merged is a server{}'s own (not a location's).
///
/// While merging, nginx points `cf->ctx->loc_conf` at the configurations of the level being
/// merged (ngx_http_merge_servers, ngx_http_merge_locations). Only a server's own core
/// location configuration has no name: locations, `if` and `limit_except` blocks have one.
fn is_server_level(cf: &ngx_conf_t) -> bool {
    // SAFETY: during merge `ctx` is an http configuration context whose `loc_conf` array has a
    // slot for every http module, the core module's being its location configuration.
    unsafe {
        let Some(ctx) = cf.ctx.cast::<ngx_http_conf_ctx_t>().as_ref() else {
            return false;
        };
        let index = (*ptr::addr_of!(ngx_http_core_module)).ctx_index;
        match (*ctx.loc_conf.add(index))
            .cast::<ngx_http_core_loc_conf_t>()
            .as_ref()
        {
            Some(clcf) => clcf.name.len == 0,
            None => false,
        }
    }
}

/// Logs at `emerg` without nginx's automatic " in file:line" (used where the current line is
/// not the one at fault).
fn log_emerg(cf: &mut ngx_conf_t, msg: fmt::Arguments) {
    log_conf(cf, NGX_LOG_EMERG, msg)
}

/// Logs at `level` without nginx's automatic " in file:line".
fn log_conf(cf: &mut ngx_conf_t, level: u32, msg: fmt::Arguments) {
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
trait ConfExt {
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
fn compile_complex(
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

fn conf_error(cf: &mut ngx_conf_t, msg: fmt::Arguments) -> *mut c_char {
    ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", msg);
    NGX_CONF_ERROR
}

/// The setters' common prologue: references to the context and to our configuration.
///
/// # Safety
/// `cf` and `conf` must be the pointers nginx passes to a directive handler of this module.
unsafe fn setter_args<'a>(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
) -> (&'a mut ngx_conf_t, &'a mut LocConf) {
    // SAFETY: guaranteed by the caller.
    unsafe { (&mut *cf, &mut *conf.cast::<LocConf>()) }
}

const IS_DUPLICATE: *mut c_char = c"is duplicate".as_ptr().cast_mut();

/// Runs a directive handler. A panic must never unwind into nginx (it would abort the master
/// process, on `nginx -s reload` too): it becomes a configuration error naming the directive.
fn guard_setter(
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

guarded_setters! {
    ngx_http_auth_jwt => set_auth_jwt,
    ngx_http_auth_jwt_key_file => set_key_file,
    ngx_http_auth_jwt_require => set_require,
    ngx_http_auth_jwt_member_set => set_member,
    ngx_http_auth_jwt_cache => set_cache,
    ngx_http_auth_jwt_key_request => set_key_request,
    ngx_http_auth_jwt_type => set_type,
}

/// `auth_jwt_key_request uri;` (may repeat: every answer's keys are candidates).
fn set_key_request(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    let mut uri = cf.args()[1];
    if !uri.as_bytes().starts_with(b"/") && !uri.as_bytes().starts_with(b"$") {
        let v = uri.to_string();
        return conf_error(
            cf,
            format_args!(
                "auth_jwt_key_request: \"{v}\" is not a local URI: name a location of this \
                 server, e.g. /jwks that proxy_passes to the key endpoint"
            ),
        );
    }
    let Some(cv) = cf.compile(&mut uri) else {
        return NGX_CONF_ERROR;
    };
    lc.key_requests.get_or_insert_with(Vec::new).push(cv);
    ptr::null_mut()
}

/// `auth_jwt_type signed | encrypted | nested;`
fn set_type(cf: *mut ngx_conf_t, _cmd: *mut ngx_command_t, conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    if lc.ty.is_some() {
        return IS_DUPLICATE;
    }
    let arg = cf.args()[1];
    match arg.to_str().ok().and_then(TokenType::from_name) {
        Some(ty) => {
            lc.ty = Some(ty);
            ptr::null_mut()
        }
        None => {
            let v = arg.to_string();
            conf_error(
                cf,
                format_args!(
                    "auth_jwt_type: invalid value \"{v}\": use signed, encrypted or nested"
                ),
            )
        }
    }
}

/// `auth_jwt string [token=$variable] | off;`
fn set_auth_jwt(cf: *mut ngx_conf_t, _cmd: *mut ngx_command_t, conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    if lc.auth.is_some() {
        return IS_DUPLICATE;
    }
    let args = cf.args();
    let nargs = args.len();
    if args[1].as_bytes() == b"off" {
        if nargs > 2 {
            return conf_error(
                cf,
                format_args!("auth_jwt: \"off\" takes no other parameter"),
            );
        }
        lc.auth = Some(Auth::Off);
        return ptr::null_mut();
    }

    let mut realm_src = args[1];
    let mut token_src = None;
    if nargs == 3 {
        match args[2].strip_prefix(b"token=") {
            Some(t) if !t.is_empty() => token_src = Some(t),
            _ => {
                let a = args[2].to_string();
                return conf_error(
                    cf,
                    format_args!(
                        "auth_jwt: invalid parameter \"{a}\": expected \"token=$variable\""
                    ),
                );
            }
        }
    }

    let Some(realm) = cf.compile(&mut realm_src) else {
        return NGX_CONF_ERROR;
    };
    let token = match token_src {
        Some(mut t) => {
            if !t.as_bytes().contains(&b'$') {
                let v = t.to_string();
                return conf_error(
                    cf,
                    format_args!(
                        "auth_jwt: \"token={v}\" must contain a variable, e.g. \
                         token=$http_x_token, token=$cookie_jwt or token=$arg_token"
                    ),
                );
            }
            match cf.compile(&mut t) {
                Some(cv) => Some(cv),
                None => return NGX_CONF_ERROR,
            }
        }
        None => None,
    };
    lc.auth = Some(Auth::On { realm, token });
    lc.auth_origin = Some(cf.origin());
    ptr::null_mut()
}

/// `auth_jwt_key_file file;` (may repeat: every file's keys are candidates).
fn set_key_file(cf: *mut ngx_conf_t, _cmd: *mut ngx_command_t, conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    let mut name = cf.args()[1];
    if name.as_bytes().contains(&b'$') {
        // Resolved per request, relative to the configuration prefix like a fixed name.
        let Some(cv) = cf.compile_path(&mut name) else {
            return NGX_CONF_ERROR;
        };
        lc.key_paths.get_or_insert_with(Vec::new).push(cv);
        return ptr::null_mut();
    }
    // SAFETY: `cf.cycle` is the cycle being configured; `name` is replaced by a copy in the
    // cycle pool with the configuration prefix applied.
    if unsafe { ngx_conf_full_name(cf.cycle, &mut name, 1) } != NGX_OK as isize {
        return NGX_CONF_ERROR;
    }
    let path = name.to_string();

    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            return conf_error(cf, format_args!("auth_jwt_key_file: \"{path}\": {e}"));
        }
    };
    let (set, warnings) = match KeySet::parse(&data) {
        Ok(v) => v,
        // A file of decryption keys only (for `auth_jwt_type encrypted`): its keys are loaded
        // at merge time, when the type in force is known.
        Err(e) => match KeySet::parse_with_private(&data) {
            Ok((set, _)) if set.has_decryption_keys() => {
                let o = cf.origin();
                let origin = format!("{}:{}", o.file, o.line);
                Arc::make_mut(&mut lc.key_data).push(KeyFile {
                    path,
                    data,
                    verify_error: Some(e.to_string()),
                    verify_warnings: Vec::new(),
                    origin,
                });
                lc.keys.get_or_insert_with(|| Arc::new(KeySet::new()));
                return ptr::null_mut();
            }
            _ => return conf_error(cf, format_args!("auth_jwt_key_file: \"{path}\": {e}")),
        },
    };
    let o = cf.origin();
    let origin = format!("{}:{}", o.file, o.line);
    Arc::make_mut(&mut lc.key_data).push(KeyFile {
        path,
        data,
        verify_error: None,
        verify_warnings: warnings.clone(),
        origin,
    });
    for w in warnings {
        let path = lc.key_data.last().map_or("", |f| f.path.as_str());
        ngx_conf_log_error!(NGX_LOG_WARN, cf, "auth_jwt_key_file: \"{}\": {}", path, w);
    }

    let keys = lc.keys.get_or_insert_with(|| Arc::new(KeySet::new()));
    match Arc::get_mut(keys) {
        Some(keys) => keys.extend(set),
        None => {
            // Not reachable: the set is shared only after merge. Rebuild rather than panic.
            let mut merged = KeySet::new();
            merged.extend(set);
            *keys = Arc::new(merged);
        }
    }
    ptr::null_mut()
}

/// `auth_jwt_require $value ... [error=401|403];` (may repeat, checked in order).
fn set_require(cf: *mut ngx_conf_t, _cmd: *mut ngx_command_t, conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    let args: Vec<ngx_str_t> = cf.args()[1..].to_vec();
    let mut status = 401;
    let mut values = Vec::with_capacity(args.len());
    for (i, mut a) in args.iter().copied().enumerate() {
        if let Some(code) = a.strip_prefix(b"error=") {
            if i + 1 != args.len() {
                return conf_error(
                    cf,
                    format_args!("auth_jwt_require: \"error=\" must be the last parameter"),
                );
            }
            status = match code.as_bytes() {
                b"401" => 401,
                b"403" => 403,
                _ => {
                    let c = code.to_string();
                    return conf_error(
                        cf,
                        format_args!("auth_jwt_require: invalid \"error={c}\": use 401 or 403"),
                    );
                }
            };
            continue;
        }
        // As NGINX Plus documents: a literal is always true (or always "0"), which is never
        // what was meant.
        if !a.as_bytes().starts_with(b"$") {
            let v = a.to_string();
            return conf_error(
                cf,
                format_args!(
                    "auth_jwt_require: \"{v}\" must start with a variable, e.g. \
                     $jwt_claim_iss or a map result such as $iss_ok"
                ),
            );
        }
        match cf.compile(&mut a) {
            Some(cv) => values.push(cv),
            None => return NGX_CONF_ERROR,
        }
    }
    if values.is_empty() {
        return conf_error(
            cf,
            format_args!("auth_jwt_require: at least one value is needed before \"error=\""),
        );
    }
    lc.require
        .get_or_insert_with(Vec::new)
        .push(Require { values, status });
    ptr::null_mut()
}

/// `auth_jwt_claim_set $variable name ...;` and `auth_jwt_header_set $variable name ...;`
/// (http): declare a variable that reads a member, following the names into nested objects.
fn set_member(cf: *mut ngx_conf_t, cmd: *mut ngx_command_t, _conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with a valid context and the command.
    let (cf, cmd) = unsafe { (&mut *cf, &*cmd) };
    let directive = cmd.name.to_string();
    let args: Vec<ngx_str_t> = cf.args()[1..].to_vec();
    let Some(mut name) = args.first().and_then(|a| a.strip_prefix(b"$")) else {
        return conf_error(
            cf,
            format_args!("{directive}: the first parameter must be a variable, e.g. $jwt_roles"),
        );
    };
    if name.is_empty() {
        return conf_error(cf, format_args!("{directive}: empty variable name"));
    }
    let mut path = Vec::with_capacity(args.len().saturating_sub(1));
    for a in &args[1..] {
        match a.to_str() {
            Ok(p) if !p.is_empty() => path.push(p.to_owned()),
            _ => return conf_error(cf, format_args!("{directive}: invalid member name \"{a}\"")),
        }
    }
    let member = crate::variables::MemberPath {
        claims: directive == "auth_jwt_claim_set",
        path,
    };
    // SAFETY: the configuration pool outlives every request of this configuration; the
    // allocation is dropped by the pool's cleanup.
    let member = unsafe { ngx::core::Pool::from_ngx_pool(cf.pool) }.allocate(member);
    if member.is_null() {
        return NGX_CONF_ERROR;
    }
    // SAFETY: valid configuration context; nginx copies the name. Not cacheable: the value
    // depends on the token checked in the access phase.
    let var = unsafe {
        ngx_http_add_variable(
            cf,
            &mut name,
            (NGX_HTTP_VAR_CHANGEABLE | NGX_HTTP_VAR_NOCACHEABLE) as ngx_uint_t,
        )
    };
    // SAFETY: a non-null result is the variable nginx registered.
    let Some(var) = (unsafe { var.as_mut() }) else {
        return NGX_CONF_ERROR;
    };
    var.get_handler = Some(crate::variables::ngx_http_auth_jwt_path_variable);
    var.data = member as usize;
    ptr::null_mut()
}

/// Default `max_age` of a cached verdict, in seconds.
const CACHE_MAX_AGE: i64 = 300;

/// `auth_jwt_cache zone=name:size [max_age=time] | off;`
fn set_cache(cf: *mut ngx_conf_t, _cmd: *mut ngx_command_t, conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with its context and our location configuration.
    let (cf, lc) = unsafe { setter_args(cf, conf) };
    if lc.cache.is_some() {
        return IS_DUPLICATE;
    }
    let args: Vec<ngx_str_t> = cf.args()[1..].to_vec();
    if args.len() == 1 && args[0].as_bytes() == b"off" {
        lc.cache = Some(None);
        return ptr::null_mut();
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
                let v = t.to_string();
                return conf_error(cf, format_args!("auth_jwt_cache: invalid max_age \"{v}\""));
            }
            max_age = secs as i64;
        } else {
            let v = a.to_string();
            return conf_error(
                cf,
                format_args!(
                    "auth_jwt_cache: invalid parameter \"{v}\": expected zone=name:size, \
                     max_age=time or off"
                ),
            );
        }
    }
    let Some(zone) = zone else {
        return conf_error(
            cf,
            format_args!("auth_jwt_cache: \"zone=name:size\" is required"),
        );
    };
    let (mut name, size) = match zone.as_bytes().iter().position(|&b| b == b':') {
        // `zone=name` refers to a zone declared with a size elsewhere.
        None => (zone, 0),
        Some(i) => {
            let Some((name, rest)) = zone.split_at(i) else {
                return NGX_CONF_ERROR;
            };
            let Some(mut size_str) = rest.strip_prefix(b":") else {
                return NGX_CONF_ERROR;
            };
            // SAFETY: `size_str` points into the configuration arguments.
            let size = unsafe { ngx_parse_size(&mut size_str) };
            // SAFETY: reading nginx's page size, set once at startup.
            let min = 8 * unsafe { ngx_pagesize } as isize;
            if size == NGX_ERROR as isize {
                let v = size_str.to_string();
                return conf_error(
                    cf,
                    format_args!("auth_jwt_cache: invalid zone size \"{v}\""),
                );
            }
            if size < min {
                let v = size_str.to_string();
                return conf_error(
                    cf,
                    format_args!(
                        "auth_jwt_cache: zone size \"{v}\" is too small (at least {}k)",
                        min / 1024
                    ),
                );
            }
            (name, size as usize)
        }
    };
    if name.is_empty() {
        return conf_error(cf, format_args!("auth_jwt_cache: the zone needs a name"));
    }
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
    unsafe { shm.as_mut().init = Some(crate::cache::ngx_http_auth_jwt_cache_init) };
    lc.cache = Some(Some(CacheConf { zone: shm, max_age }));
    ptr::null_mut()
}

const fn cmd(
    name: &'static CStr,
    type_: u32,
    set: unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
    offset: usize,
) -> ngx_command_t {
    ngx_command_t {
        name: ngx_str_t {
            len: name.count_bytes(),
            data: name.as_ptr().cast_mut().cast(),
        },
        type_: type_ as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset,
        post: ptr::null_mut(),
    }
}

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

/// The module's directives.
pub static mut NGX_HTTP_AUTH_JWT_COMMANDS: [ngx_command_t; 11] = [
    cmd(
        c"auth_jwt",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE12,
        ngx_http_auth_jwt,
        0,
    ),
    cmd(
        c"auth_jwt_key_file",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE1,
        ngx_http_auth_jwt_key_file,
        0,
    ),
    cmd(
        c"auth_jwt_key_request",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE1,
        ngx_http_auth_jwt_key_request,
        0,
    ),
    cmd(
        c"auth_jwt_key_cache",
        ANY_LEVEL | NGX_CONF_TAKE1,
        ngx_conf_set_sec_slot,
        mem::offset_of!(LocConf, key_cache),
    ),
    cmd(
        c"auth_jwt_type",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_TAKE1,
        ngx_http_auth_jwt_type,
        0,
    ),
    cmd(
        c"auth_jwt_leeway",
        ANY_LEVEL | NGX_CONF_TAKE1,
        ngx_conf_set_sec_slot,
        mem::offset_of!(LocConf, leeway),
    ),
    cmd(
        c"auth_jwt_require",
        ANY_LEVEL | NGX_HTTP_LMT_CONF | NGX_CONF_1MORE,
        ngx_http_auth_jwt_require,
        0,
    ),
    cmd(
        c"auth_jwt_cache",
        ANY_LEVEL | NGX_CONF_TAKE12,
        ngx_http_auth_jwt_cache,
        0,
    ),
    cmd(
        c"auth_jwt_claim_set",
        NGX_HTTP_MAIN_CONF | NGX_CONF_2MORE,
        ngx_http_auth_jwt_member_set,
        0,
    ),
    cmd(
        c"auth_jwt_header_set",
        NGX_HTTP_MAIN_CONF | NGX_CONF_2MORE,
        ngx_http_auth_jwt_member_set,
        0,
    ),
    ngx_command_t::empty(),
];

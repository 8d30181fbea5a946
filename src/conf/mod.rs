//! Directives: the command table, their setters, and the location configuration with its merge.
//!
//! Everything that can be checked or prepared at configuration time is done here: realms and
//! token sources are compiled into complex values, key files are read and parsed into OpenSSL
//! key objects, and a location with `auth_jwt` on but no key in scope fails `nginx -t`.

use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use auth_jwt_core::{KeyError, KeySet, TokenType};
use ngx::ffi::{
    ngx_conf_t, ngx_http_complex_value_t, ngx_http_conf_ctx_t, ngx_http_core_loc_conf_t,
    ngx_http_core_module, time_t, NGX_CONF_UNSET,
};

mod auth;
mod cache;
mod commands;
mod ext;
mod keys;
mod member;
mod require;
mod revocation;

pub use auth::Auth;
pub use cache::CacheConf;
pub use commands::NGX_HTTP_AUTH_JWT_COMMANDS;
use ext::{log_emerg, Origin};
pub use keys::{parse_keys_lenient, KeyFile};
pub use require::Require;
pub use revocation::{ListFile, ListSource};

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
    /// `auth_jwt_revocation_list_sub`, `_kid`, `_jti` (indexed by `revocation::Kind`):
    /// `Some(None)` is `off`.
    pub revocation: [Option<Option<Arc<ListSource>>>; 3],
    /// `auth_jwt_cache`: `Some(None)` is `off`.
    pub cache: Option<Option<CacheConf>>,
    auth_origin: Option<Origin>,
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

    /// Whether a revocation list applies here.
    pub fn has_revocation_lists(&self) -> bool {
        self.revocation.iter().any(|l| matches!(l, Some(Some(_))))
    }

    /// Whether a token check made with `other` is the one this configuration makes: the same
    /// token source, keys, type, leeway, cache and revocation lists. A location that inherits all of them from
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
                && self.cache == other.cache
                && self.revocation.iter().zip(&other.revocation).all(|(a, b)| {
                    match (
                        a.as_ref().and_then(Option::as_ref),
                        b.as_ref().and_then(Option::as_ref),
                    ) {
                        (Some(a), Some(b)) => a.same(b),
                        (None, None) => true,
                        _ => false,
                    }
                }))
    }
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
            revocation: [None, None, None],
            auth_origin: None,
        }
    }
}

/// Why `nginx -t` refuses a level's configuration at merge time (the text of the `[emerg]`
/// line).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(
        "auth_jwt_key_file: \"{path}\": {error} (loading decryption keys for \"auth_jwt_type {ty}\")"
    )]
    DecryptionKeys {
        path: String,
        error: KeyError,
        ty: &'static str,
    },
    #[error(
        "auth_jwt_type {ty}: no key in \"{files}\" can decrypt a token; a JWK with its private \
         members, an \"oct\" JWK or a PEM PRIVATE KEY is needed"
    )]
    NoDecryptionKey { ty: &'static str, files: String },
    #[error(
        "auth_jwt: \"auth_jwt_key_file\" with variables and \"auth_jwt_key_request\" cannot be \
         combined for one location (\"auth_jwt\" in {origin})"
    )]
    FilesWithVariablesAndRequests { origin: String },
    #[error(
        "auth_jwt_key_file: \"{path}\": {reason} in {origin} (with \"auth_jwt_type encrypted\" \
         or \"nested\" it would be used to decrypt tokens)"
    )]
    DecryptionKeysOnly {
        path: String,
        reason: String,
        origin: String,
    },
    #[error(
        "auth_jwt: \"auth_jwt\" is on but no \"auth_jwt_key_file\" or \"auth_jwt_key_request\" \
         is in scope; add one at the same or an enclosing level in {origin}"
    )]
    NoKeys { origin: String },
    #[error("auth_jwt: internal error while merging the configuration")]
    Internal,
}

impl LocConf {
    /// Inherit what this level did not set; then refuse `auth_jwt` without any key.
    ///
    /// Called from nginx's merge callback: a panic must not unwind into nginx (it would abort
    /// the master process, on `nginx -s reload` too), so it becomes a configuration error.
    pub fn merge_from(&mut self, prev: &LocConf, cf: &mut ngx_conf_t) -> Result<(), ()> {
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            self.inherit(prev);
            self.load_decryption_keys(cf)?;
            self.check_keys(cf)
        }))
        .unwrap_or(Err(MergeError::Internal));
        result.map_err(|e| {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| log_emerg(cf, format_args!("{e}"))));
        })
    }

    /// Takes from `prev` what this level did not set.
    fn inherit(&mut self, prev: &LocConf) {
        if self.auth.is_none() {
            self.auth = prev.auth;
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
        merge_time(&mut self.key_cache, prev.key_cache);
        if self.ty.is_none() {
            self.ty = prev.ty;
        }
        merge_time(&mut self.leeway, prev.leeway);
        if self.cache.is_none() {
            self.cache = prev.cache;
        }
        if self.require.is_none() {
            self.require = prev.require.clone();
        }
        for (list, prev) in self.revocation.iter_mut().zip(&prev.revocation) {
            if list.is_none() {
                list.clone_from(prev);
            }
        }
    }

    /// Where `auth_jwt` was written, for messages.
    fn origin(&self) -> String {
        match self.auth_origin {
            Some(o) => format!("{}:{}", o.file, o.line),
            None => String::from("?:0"),
        }
    }

    /// Refuses a level where `auth_jwt` is on without usable keys in scope. The server{}
    /// level itself (not a location) may leave the keys to its locations, as NGINX Plus
    /// allows; a request that matches no location is then refused with 500.
    fn check_keys(&self, cf: &ngx_conf_t) -> Result<(), MergeError> {
        if !matches!(self.auth, Some(Auth::On { .. })) {
            return Ok(());
        }
        if self.key_paths.is_some() && self.key_requests.is_some() {
            return Err(MergeError::FilesWithVariablesAndRequests {
                origin: self.origin(),
            });
        }
        let signed = self.ty.unwrap_or(TokenType::Signed) == TokenType::Signed;
        if signed && self.keys.as_ref().is_some_and(|k| k.is_empty()) {
            // Key files of decryption keys only (no verification key at all) are an error for
            // signed tokens, reported with the reason the first one holds no verification key.
            // Next to verification keys they are allowed (locations of several types may
            // share key files) and unused here.
            if let Some(f) = self.key_data.iter().find(|f| f.verify_error.is_some()) {
                return Err(MergeError::DecryptionKeysOnly {
                    path: f.path.clone(),
                    reason: f.verify_error.clone().unwrap_or_default(),
                    origin: f.origin.clone(),
                });
            }
        }
        if self.keys.is_none()
            && self.key_paths.is_none()
            && self.key_requests.is_none()
            && !is_server_level(cf)
        {
            return Err(MergeError::NoKeys {
                origin: self.origin(),
            });
        }
        Ok(())
    }
}

/// A time directive (`ngx_conf_set_sec_slot`): inherited when unset, 0 by default.
fn merge_time(value: &mut time_t, prev: time_t) {
    if *value == NGX_CONF_UNSET as time_t {
        *value = if prev == NGX_CONF_UNSET as time_t {
            0
        } else {
            prev
        };
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

//! `auth_jwt_key_file` and `auth_jwt_key_request`: key files read and parsed at
//! configuration time, names and URIs with variables compiled for the request.

use std::ffi::{c_char, c_void};
use std::ptr::{self};
use std::sync::Arc;

use auth_jwt_core::{KeyError, KeySet, Parsed, TokenType, MAX_KEY_TRIES};
use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{ngx_command_t, ngx_conf_full_name, ngx_conf_t, NGX_LOG_WARN, NGX_OK};
use ngx::ngx_conf_log_error;

use super::ext::{conf_error, log_conf, setter_args, ConfExt};
use super::{LocConf, MergeError};

/// One `auth_jwt_key_file` without variables, as read at configuration time.
#[derive(Clone)]
pub struct KeyFile {
    pub path: String,
    pub data: Vec<u8>,
    /// Why the file holds no verification key (it holds decryption keys only): an error
    /// unless `auth_jwt_type` is `encrypted` or `nested`.
    pub(super) verify_error: Option<String>,
    /// The warnings already reported when the file was read.
    pub(super) verify_warnings: Vec<String>,
    /// `file:line` of the directive.
    pub(super) origin: String,
}

/// Loads a key file for tokens of type `ty`: decryption keys too unless `ty` is `signed`.
pub fn parse_keys(data: &[u8], ty: TokenType) -> Result<(KeySet, Vec<String>), KeyError> {
    match ty {
        TokenType::Signed => KeySet::parse(data),
        TokenType::Encrypted | TokenType::Nested => KeySet::parse_with_private(data),
    }
}

/// Like [`parse_keys`], for key sets read while serving (key files with variables, key
/// requests): a refused key (RSA under 1024 bits, ROCA) is left out and listed for the
/// caller to log; the rest of the set is used.
pub fn parse_keys_lenient(data: &[u8], ty: TokenType) -> Result<Parsed, KeyError> {
    KeySet::parse_lenient(data, ty != TokenType::Signed)
}

/// `auth_jwt_key_request uri;` (may repeat: every answer's keys are candidates).
pub(super) fn set_key_request(
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

/// `auth_jwt_key_file file;` (may repeat: every file's keys are candidates).
pub(super) fn set_key_file(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
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
            // Every key was skipped for signatures (e.g. `"use":"enc"`) and one of them cannot
            // be loaded for decryption either: that is the problem to report (an RSA1_5 key, a
            // refused key).
            Err(pe)
                if matches!(e, KeyError::AllSkipped { .. })
                    && !matches!(
                        pe,
                        KeyError::AllSkipped { .. } | KeyError::NoKeyFound { .. }
                    ) =>
            {
                return conf_error(
                    cf,
                    format_args!("auth_jwt_key_file: \"{path}\": {pe} (loading decryption keys)"),
                );
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
    let without_kid = keys.keys_without_kid();
    if without_kid > MAX_KEY_TRIES {
        let path = lc.key_data.last().map_or("", |f| f.path.as_str());
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "auth_jwt_key_file: \"{}\": {} keys without \"kid\" are in scope; a token is checked \
             against at most {} keys, so a token that only a later one verifies is refused \
             (too_many_keys): give the keys a \"kid\"",
            path,
            without_kid,
            MAX_KEY_TRIES
        );
    }
    ptr::null_mut()
}

impl LocConf {
    /// For `auth_jwt_type encrypted` and `nested`: loads the decryption keys of the fixed key
    /// files, once per level that needs them (child levels inherit the result). Warnings that
    /// loading them adds are logged with the directive's `file:line`.
    pub(super) fn load_decryption_keys(&mut self, cf: &mut ngx_conf_t) -> Result<(), MergeError> {
        let ty = self.ty.unwrap_or(TokenType::Signed);
        if ty == TokenType::Signed || self.dec_keys.is_some() || self.key_data.is_empty() {
            return Ok(());
        }
        let mut set = KeySet::new();
        for file in self.key_data.iter() {
            let (keys, warnings) =
                parse_keys(&file.data, ty).map_err(|error| MergeError::DecryptionKeys {
                    path: file.path.clone(),
                    error,
                    ty: ty.as_str(),
                })?;
            // Only what loading the decryption keys adds (e.g. an `oct` key that fits no JWE
            // algorithm); the rest was said when the file was read.
            for w in warnings
                .iter()
                .filter(|w| !file.verify_warnings.contains(w))
            {
                log_conf(
                    cf,
                    NGX_LOG_WARN,
                    format_args!(
                        "auth_jwt_key_file: \"{}\": {w} (loading decryption keys for \
                         \"auth_jwt_type {}\") in {}",
                        file.path,
                        ty.as_str(),
                        file.origin
                    ),
                );
            }
            if ty == TokenType::Encrypted && keys.has_public_key_decryption() {
                log_conf(
                    cf,
                    NGX_LOG_WARN,
                    format_args!(
                        "auth_jwt_key_file: \"{}\": with \"auth_jwt_type encrypted\" a token \
                         encrypted to a public key (RSA-OAEP*, ECDH-ES*) authenticates nothing: \
                         anyone holding the public key can make one that is accepted; use \
                         auth_jwt_type nested to authenticate the sender in {}",
                        file.path, file.origin
                    ),
                );
            }
            set.extend(keys);
        }
        if !set.has_decryption_keys() {
            let files: Vec<&str> = self.key_data.iter().map(|f| f.path.as_str()).collect();
            return Err(MergeError::NoDecryptionKey {
                ty: ty.as_str(),
                files: files.join("\", \""),
            });
        }
        self.dec_keys = Some(Arc::new(set));
        Ok(())
    }
}

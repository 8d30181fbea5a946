//! `jwt-mint`: mint a signed JWT for testing `ngx_http_auth_jwt_module`.
//!
//! ```text
//! jwt-mint --key FILE [--hmac] [--alg ALG] [--kid K] [--sub S]
//!          [--exp-in SECONDS | --exp UNIX] [--nbf UNIX] [--iat] [--iss I] [--aud A]
//!          [--claim name=json-or-string ...] [--header name=json-or-string ...]
//!          [--encrypt-to FILE [--secret] [--jwe-alg ALG] [--enc ENC] [--jwe-kid K]
//!           [--encrypted | --nested]]
//! ```
//!
//! With `--encrypt-to` the token is a JWE (for `auth_jwt_type`): `--nested` (the default)
//! encrypts the signed JWT (`cty` `JWT`), `--encrypted` encrypts the claims themselves (then
//! `--key` is not needed). The file is the recipient's PEM public (or private) key, or with
//! `--secret` raw bytes used for `dir` or AES key wrap. `--jwe-alg` defaults to
//! `RSA-OAEP-256` for RSA, `ECDH-ES+A256KW` for EC/X25519 and `A256KW` for secrets;
//! `--enc` to `A256GCM`.
//!
//! `--key` is a PEM private key, or with `--hmac` a file whose raw bytes are
//! the secret. Without `--alg` the algorithm follows the key (RS256, ES256/
//! ES384/ES512 by curve, EdDSA, HS256). The token is printed followed by a
//! newline; errors go to stderr with exit status 2.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use auth_jwt_core::sign::{encode, encrypt, EncryptionKey, SigningKey};
use serde_json::{Map, Value};

const USAGE: &str = "usage: jwt-mint --key FILE [--hmac] [--alg ALG] [--kid K] [--sub S] \
[--exp-in SECONDS | --exp UNIX] [--nbf UNIX] [--iat] [--iss I] [--aud A] \
[--claim name=json-or-string ...] [--header name=json-or-string ...] \
[--encrypt-to FILE [--secret] [--jwe-alg ALG] [--enc ENC] [--jwe-kid K] [--encrypted | --nested]]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("jwt-mint: {msg}");
            ExitCode::from(2)
        }
    }
}

/// `value` parsed as JSON if it is JSON, else taken as a string.
fn json_or_string(value: &str) -> Value {
    serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()))
}

fn name_value(arg: &str, opt: &str) -> Result<(String, Value), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("{opt} expects name=value, got {arg:?}"))?;
    if name.is_empty() {
        return Err(format!("{opt} expects a non-empty name"));
    }
    Ok((name.to_owned(), json_or_string(value)))
}

fn integer(arg: &str, opt: &str) -> Result<i64, String> {
    arg.parse()
        .map_err(|_| format!("{opt} expects an integer, got {arg:?}"))
}

fn run(args: Vec<String>) -> Result<String, String> {
    let mut key_file: Option<String> = None;
    let mut hmac = false;
    let mut alg: Option<String> = None;
    let mut claims = Map::new();
    let mut header = Map::new();
    let mut exp_in: Option<i64> = None;
    let mut exp: Option<i64> = None;
    let mut nbf: Option<i64> = None;
    let mut iat = false;
    let mut encrypt_to: Option<String> = None;
    let mut secret = false;
    let mut jwe_alg: Option<String> = None;
    let mut enc = String::from("A256GCM");
    let mut jwe_kid: Option<String> = None;
    let mut nested = true;

    let mut it = args.into_iter();
    while let Some(opt) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{opt} needs a value\n{USAGE}"))
        };
        match opt.as_str() {
            "-h" | "--help" => return Err(USAGE.to_owned()),
            "--key" => key_file = Some(value()?),
            "--hmac" => hmac = true,
            "--alg" => alg = Some(value()?),
            "--kid" => {
                header.insert("kid".to_owned(), Value::String(value()?));
            }
            "--sub" | "--iss" | "--aud" => {
                let v = value()?;
                claims.insert(opt.trim_start_matches('-').to_owned(), Value::String(v));
            }
            "--exp-in" => exp_in = Some(integer(&value()?, "--exp-in")?),
            "--exp" => exp = Some(integer(&value()?, "--exp")?),
            "--nbf" => nbf = Some(integer(&value()?, "--nbf")?),
            "--iat" => iat = true,
            "--encrypt-to" => encrypt_to = Some(value()?),
            "--secret" => secret = true,
            "--jwe-alg" => jwe_alg = Some(value()?),
            "--enc" => enc = value()?,
            "--jwe-kid" => jwe_kid = Some(value()?),
            "--encrypted" => nested = false,
            "--nested" => nested = true,
            "--claim" => {
                let (n, v) = name_value(&value()?, "--claim")?;
                claims.insert(n, v);
            }
            "--header" => {
                let (n, v) = name_value(&value()?, "--header")?;
                header.insert(n, v);
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let now = i64::try_from(now).map_err(|e| e.to_string())?;
    match (exp_in, exp) {
        (Some(_), Some(_)) => return Err("give either --exp-in or --exp, not both".to_owned()),
        (Some(secs), None) => {
            claims.insert("exp".to_owned(), Value::from(now.saturating_add(secs)));
        }
        (None, Some(t)) => {
            claims.insert("exp".to_owned(), Value::from(t));
        }
        (None, None) => {}
    }
    if let Some(t) = nbf {
        claims.insert("nbf".to_owned(), Value::from(t));
    }
    if iat {
        claims.insert("iat".to_owned(), Value::from(now));
    }
    let claims = Value::Object(claims);
    let signed = |claims: &Value| -> Result<String, String> {
        let key_file = key_file
            .clone()
            .ok_or_else(|| format!("--key is required\n{USAGE}"))?;
        let data = std::fs::read(&key_file).map_err(|e| format!("cannot read {key_file}: {e}"))?;
        let key = if hmac {
            if data.is_empty() {
                return Err(format!("{key_file} is empty"));
            }
            SigningKey::hmac(&data)
        } else {
            SigningKey::from_pem(&data).map_err(|e| format!("{key_file}: {e}"))?
        };
        let alg = match &alg {
            Some(a) => a.clone(),
            None => key
                .default_alg()
                .ok_or("cannot infer the algorithm from the key; give --alg")?
                .to_owned(),
        };
        encode(&alg, &Value::Object(header.clone()), claims, &key)
    };
    let Some(to) = encrypt_to else {
        return signed(&claims);
    };
    let data = std::fs::read(&to).map_err(|e| format!("cannot read {to}: {e}"))?;
    let recipient = if secret {
        EncryptionKey::secret(&data)
    } else {
        EncryptionKey::from_pem(&data).map_err(|e| format!("{to}: {e}"))?
    };
    let jwe_alg = match (jwe_alg, &recipient) {
        (Some(a), _) => a,
        (None, EncryptionKey::Secret(_)) => "A256KW".to_owned(),
        (None, EncryptionKey::Public(p)) if p.id() == openssl::pkey::Id::RSA => {
            "RSA-OAEP-256".to_owned()
        }
        (None, EncryptionKey::Public(_)) => "ECDH-ES+A256KW".to_owned(),
    };
    let mut jwe_header = Map::new();
    if let Some(k) = jwe_kid {
        jwe_header.insert("kid".to_owned(), Value::String(k));
    }
    let plaintext = if nested {
        jwe_header.insert("cty".to_owned(), Value::String("JWT".to_owned()));
        signed(&claims)?.into_bytes()
    } else {
        serde_json::to_vec(&claims).map_err(|e| e.to_string())?
    };
    encrypt(
        &jwe_alg,
        &enc,
        &Value::Object(jwe_header),
        &plaintext,
        &recipient,
    )
}

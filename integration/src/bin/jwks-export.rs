//! `jwks-export`: print the JWKS holding the public half of a PEM key, for
//! `auth_jwt_key_file`.
//!
//! ```text
//! jwks-export --key PUBLIC_OR_PRIVATE_PEM [--kid K] [--alg ALG]
//! ```
//!
//! RSA, EC P-256/P-384/P-521, Ed25519 and Ed448 keys are supported, from a `PUBLIC KEY`,
//! `RSA PUBLIC KEY`, `CERTIFICATE` or private key PEM. Only public members are written, with
//! `"use":"sig"`, and `kid` / `alg` when given (`--alg` is checked against the key).

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::ExitCode;

use auth_jwt_integration::jwks::jwks_from_pem;

const USAGE: &str = "usage: jwks-export --key PUBLIC_OR_PRIVATE_PEM [--kid K] [--alg ALG]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("jwks-export: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let mut key: Option<String> = None;
    let mut kid: Option<String> = None;
    let mut alg: Option<String> = None;
    let mut it = args.into_iter();
    while let Some(opt) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{opt} needs a value\n{USAGE}"))
        };
        match opt.as_str() {
            "-h" | "--help" => return Err(USAGE.to_owned()),
            "--key" => key = Some(value()?),
            "--kid" => kid = Some(value()?),
            "--alg" => alg = Some(value()?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let key = key.ok_or_else(|| format!("--key is required\n{USAGE}"))?;
    let pem = std::fs::read(&key).map_err(|e| format!("cannot read {key}: {e}"))?;
    let set =
        jwks_from_pem(&pem, kid.as_deref(), alg.as_deref()).map_err(|e| format!("{key}: {e}"))?;
    serde_json::to_string_pretty(&set).map_err(|e| e.to_string())
}

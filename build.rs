//! Records where nginx-sys configured (and, when vendored, built) nginx, so that the test
//! runner and the scripts use the nginx binary the module was compiled against.
//!
//! nginx-sys passes its build directory to direct dependents as `DEP_NGINX_BUILD_DIR`.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=DEP_NGINX_BUILD_DIR");

    let Ok(build_dir) = env::var("DEP_NGINX_BUILD_DIR") else {
        return;
    };
    println!("cargo::rustc-env=NGX_AUTH_JWT_NGINX_BUILD_DIR={build_dir}");
    if let Ok(version) = env::var("DEP_NGINX_VERSION") {
        println!("cargo::rustc-env=NGX_AUTH_JWT_NGINX_VERSION={version}");
    }

    // target/<profile>/nginx-build-dir: read by scripts/ to find the matching nginx binary.
    if let Some(profile_dir) = env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .and_then(|p| p.ancestors().nth(3).map(PathBuf::from))
    {
        let _ = fs::write(
            profile_dir.join("nginx-build-dir"),
            format!("{build_dir}\n"),
        );
    }
}

//! Key-file parser (`auth_jwt_core::KeySet::parse`: JWKS / JWK / PEM).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auth_jwt_core_fuzz::fuzz_keys(data);
});

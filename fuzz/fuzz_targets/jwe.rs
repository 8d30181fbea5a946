//! JWE decryption and typed validation (`auth_jwt_core::decrypt`, `verify_typed`).
//! Input layout: see `fuzz/src/jwe.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auth_jwt_core_fuzz::fuzz_jwe(data);
});

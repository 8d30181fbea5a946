//! Token parser + verifier (`auth_jwt_core::verify`, `render`, `bearer_token`).
//! Input layout: see `fuzz/src/lib.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auth_jwt_core_fuzz::fuzz_verify(data);
});

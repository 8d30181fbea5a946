//! JWE decoding, parsing and decryption of fuzzed tokens (`auth_jwt_core::decrypt`,
//! `verify_typed`) against a fixed key set: RAW mode of the layout in `fuzz/src/jwe.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auth_jwt_core_fuzz::fuzz_jwe(data);
});

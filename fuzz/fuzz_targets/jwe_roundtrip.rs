//! JWE round trips: the harness encrypts the fuzzed bytes to the fixed keys with every
//! supported alg/enc and checks `decrypt` / `verify_typed` give them back: ENCRYPT mode of
//! the layout in `fuzz/src/jwe.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auth_jwt_core_fuzz::fuzz_jwe_roundtrip(data);
});

//! Seed corpora of the fuzz targets.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml` replays every committed seed
//! through the harness (stable, no libFuzzer, no sanitizer): a quick check that
//! the seeds still load and the oracles still hold.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml -- --ignored --exact write_seeds`
//! regenerates the `gen-*` files of `seeds/verify/` and `seeds/keys/` (the other
//! files of `seeds/keys/` are copies of `t/keys/` and openssl output, see
//! `fuzz/README.md`); `... --ignored --exact write_seeds_jwe` those of `seeds/jwe/`
//! (`--ignored write_seeds`: all three).

use std::fs;
use std::path::{Path, PathBuf};

use auth_jwt_core::sign::{encode, encode_raw, SigningKey};
use auth_jwt_core::{decrypt, verify, verify_typed, KeySet, TokenType, Validation};
use auth_jwt_core_fuzz::jwe::{
    encrypt_to, jwe_key_files, jwe_keys, oct_secret, Recipient, ENCRYPT, ENCRYPT_ALGS,
    ENCRYPT_HEADER, ENCRYPT_NESTED, ENCS, NESTED_INNER_HEADER, OCT32, OCT_LENS, RAW_DECRYPT,
    RAW_ENCRYPTED, RAW_NESTED, RAW_SIGNED,
};
use auth_jwt_core_fuzz::{
    algs, fuzz_jwe, fuzz_jwe_roundtrip, fuzz_keys, fuzz_verify, key_set_files, key_sets, mint,
    verify_input, FIXED_NOW, PREFIX_LEN, RAW_HEADER, SIGNED,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target)
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut n = 0;
    for entry in fs::read_dir(seeds_dir(target)).unwrap() {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "seed {} panics", path.display());
        n += 1;
    }
    n
}

#[test]
fn seeds_replay() {
    assert!(replay("verify", fuzz_verify) > 50);
    assert!(replay("keys", fuzz_keys) > 30);
    assert!(replay("jwe", fuzz_jwe) > 150);
    // jwe_roundtrip fuzzes from the same seeds (every input is ENCRYPT mode there).
    assert!(replay("jwe", fuzz_jwe_roundtrip) > 150);
}

/// The valid-token seeds really are valid for the harness key sets (else the
/// fuzzer would never get past key selection from them).
#[test]
fn valid_seeds_verify() {
    let v = Validation {
        now: FIXED_NOW,
        leeway: 0,
    };
    let mut n = 0;
    for entry in fs::read_dir(seeds_dir("verify")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let valid = ["-kid-set0", "-nokid-set1", "-nokid-set7", "-single-set"]
            .iter()
            .any(|s| name.contains(s))
            && !name.contains("unknown");
        if !valid {
            continue;
        }
        let data = fs::read(&path).unwrap();
        let set = &key_sets()[usize::from(data[0] & 7)];
        let r = verify(&data[PREFIX_LEN..], set, &v);
        assert!(r.is_ok(), "{name}: {r:?}");
        n += 1;
    }
    assert_eq!(n, 44);
    for (i, files) in key_set_files().iter().enumerate() {
        for f in files {
            assert!(KeySet::parse(f.as_bytes()).is_ok(), "key set {i}");
        }
    }
}

fn b64(b: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// An unsigned-looking token from raw header/payload text.
fn forged(header: &str, payload: &str, sig: &str) -> Vec<u8> {
    format!("{}.{}.{}", b64(header), b64(payload), sig).into_bytes()
}

fn deep(n: usize) -> String {
    format!(
        "{{\"alg\":\"HS256\",\"x\":{}1{}}}",
        "[".repeat(n),
        "]".repeat(n)
    )
}

#[test]
#[ignore = "writes seeds/; run explicitly to regenerate"]
fn write_seeds() {
    let mut verify: Vec<(String, Vec<u8>)> = Vec::new();
    let mut raw = |name: &str, sel: u8, now: i64, leeway: i64, body: &[u8]| {
        verify.push((name.to_owned(), verify_input(sel, now, leeway, body)));
    };

    // Valid tokens of every alg against the key sets that hold their key.
    let rich = json!({
        "sub": "user-1", "iss": "https://issuer.example", "aud": ["api", "web"],
        "exp": 4_102_444_800_i64, "nbf": 1_600_000_000, "iat": 1_700_000_000,
        "roles": ["admin", 7, null, true, {"r": 1}, [1, 2]],
        "realm_access": {"roles": ["a", "b"], "n": {"deep": "x"}},
        "flag": false, "nothing": null, "ratio": 0.25, "name": "J\u{fc}rgen \"q\" \\ /"
    });
    let single_set = |alg: &str| match alg {
        a if a.starts_with("RS") || a.starts_with("PS") => (2, None),
        "ES256" => (3, None),
        "EdDSA" => (4, Some("ed")),
        _ => (5, Some("hs")),
    };
    for (alg, _, kid) in algs() {
        let a = alg.to_lowercase();
        raw(
            &format!("{a}-kid-set0"),
            0,
            FIXED_NOW,
            0,
            mint(alg, Some(kid), &rich).as_bytes(),
        );
        raw(
            &format!("{a}-nokid-set1"),
            1,
            FIXED_NOW,
            0,
            mint(alg, None, &json!({"sub": "s"})).as_bytes(),
        );
        raw(
            &format!("{a}-nokid-set7"),
            7,
            FIXED_NOW,
            60,
            mint(alg, None, &rich).as_bytes(),
        );
        let (set, kid) = single_set(alg);
        raw(
            &format!("{a}-single-set{set}"),
            set,
            FIXED_NOW,
            0,
            mint(alg, kid, &json!({"sub": "s", "exp": 1_700_000_100})).as_bytes(),
        );
    }
    // Key set 6: alg / use / key_ops restrictions and a shared kid.
    for (name, alg, kid) in [
        ("ps256-shared", "PS256", "shared"),
        ("rs256-shared", "RS256", "shared"),
        ("es256-shared", "ES256", "shared"),
        ("eddsa-keyops-sign", "EdDSA", "ed"),
        ("hs384-restricted", "HS384", "hs"),
        ("hs256-restricted", "HS256", "hs"),
        ("hs256-use-other", "HS256", "hs-off"),
    ] {
        raw(
            &format!("set6-{name}"),
            6,
            FIXED_NOW,
            0,
            mint(alg, Some(kid), &json!({"sub": "s"})).as_bytes(),
        );
    }
    raw(
        "rs256-kid-unknown-set0",
        0,
        FIXED_NOW,
        0,
        mint("RS256", Some("nope"), &rich).as_bytes(),
    );
    raw(
        "es256-on-rsa-set2",
        2,
        FIXED_NOW,
        0,
        mint("ES256", None, &rich).as_bytes(),
    );

    // Time claims against both Validations.
    let hs = |claims: Value| mint("HS256", Some("hs"), &claims);
    for (name, claims, now, leeway) in [
        ("exp-past", json!({"exp": 1_600_000_000}), FIXED_NOW, 0),
        ("exp-now", json!({"exp": FIXED_NOW}), FIXED_NOW, 0),
        ("exp-leeway", json!({"exp": FIXED_NOW}), FIXED_NOW, 1),
        (
            "nbf-future",
            json!({"nbf": 1_800_000_000}),
            1_900_000_000,
            0,
        ),
        ("nbf-leeway", json!({"nbf": FIXED_NOW + 30}), FIXED_NOW, 30),
        ("exp-float", json!({"exp": 1_700_000_000.5}), FIXED_NOW, 0),
        ("nbf-float", json!({"nbf": 1.0e300}), i64::MAX, i64::MAX),
        ("exp-string", json!({"exp": "4102444800"}), FIXED_NOW, 0),
        ("nbf-bool", json!({"nbf": true}), FIXED_NOW, 0),
        ("exp-i64-min", json!({"exp": i64::MIN}), i64::MIN, i64::MIN),
        ("exp-u64-max", json!({"exp": u64::MAX}), i64::MAX, i64::MAX),
        (
            "exp-nbf-both",
            json!({"exp": 1_800_000_000, "nbf": 1_750_000_000}),
            1_760_000_000,
            -5,
        ),
    ] {
        raw(
            &format!("time-{name}"),
            0,
            now,
            leeway,
            hs(claims).as_bytes(),
        );
    }

    // Authorization header values.
    let tok = hs(json!({"sub": "b"}));
    for (name, value) in [
        ("bearer", format!("Bearer {tok}")),
        ("bearer-tabs", format!("bearer\t \t{tok} \t ")),
        ("bearer-upper", format!("BEARER {tok}")),
        ("bearer-empty", "Bearer    ".to_owned()),
        ("bearer-noblank", format!("Bearer{tok}")),
        ("basic", "Basic dXNlcjpwYXNz".to_owned()),
    ] {
        raw(&format!("auth-{name}"), 5, FIXED_NOW, 0, value.as_bytes());
    }

    // Malformed tokens.
    let good = hs(json!({"sub": "m"}));
    let parts: Vec<&str> = good.split('.').collect();
    let sig = parts[2];
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("dots", b"..".to_vec()),
        ("one-segment", parts[0].as_bytes().to_vec()),
        (
            "two-segments",
            format!("{}.{}", parts[0], parts[1]).into_bytes(),
        ),
        ("four-segments", format!("{good}.x").into_bytes()),
        ("jwe-five", format!("{good}.x.y").into_bytes()),
        (
            "empty-sig",
            format!("{}.{}.", parts[0], parts[1]).into_bytes(),
        ),
        (
            "padded",
            format!("{}=.{}.{}", parts[0], parts[1], sig).into_bytes(),
        ),
        (
            "std-alphabet",
            good.replace('-', "+").replace('_', "/").into_bytes(),
        ),
        (
            "space",
            format!("{} .{}.{}", parts[0], parts[1], sig).into_bytes(),
        ),
        (
            "trailing-bits",
            format!("{}.{}.{}B", parts[0], parts[1], &sig[..sig.len() - 1]).into_bytes(),
        ),
        ("no-alg", forged("{}", "{}", sig)),
        (
            "alg-none",
            forged(r#"{"alg":"none"}"#, r#"{"sub":"x"}"#, "AA"),
        ),
        (
            "alg-NONE",
            forged(r#"{"alg":"NONE"}"#, r#"{"sub":"x"}"#, "AA"),
        ),
        ("alg-number", forged(r#"{"alg":256}"#, "{}", sig)),
        ("alg-unknown", forged(r#"{"alg":"HS1"}"#, "{}", sig)),
        (
            "crit",
            forged(r#"{"alg":"HS256","crit":["exp"]}"#, "{}", sig),
        ),
        (
            "kid-number",
            forged(r#"{"alg":"HS256","kid":5}"#, "{}", sig),
        ),
        (
            "dup-alg",
            forged(r#"{"alg":"HS256","alg":"none"}"#, "{}", sig),
        ),
        (
            "dup-claim",
            forged(r#"{"alg":"HS256"}"#, r#"{"sub":"a","sub":"b"}"#, sig),
        ),
        ("deep-header", forged(&deep(40), "{}", sig)),
        ("payload-array", forged(r#"{"alg":"HS256"}"#, "[]", sig)),
        (
            "payload-latin1",
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"HS256"}"#),
                b64([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]),
                sig
            )
            .into_bytes(),
        ),
        (
            "header-bom",
            forged("\u{feff}{\"alg\":\"HS256\"}", "{}", sig),
        ),
        ("header-trailing", forged(r#"{"alg":"HS256"} x"#, "{}", sig)),
        (
            "es256-short-sig",
            forged(r#"{"alg":"ES256","kid":"ec"}"#, "{}", &b64([1u8; 63])),
        ),
        (
            "es256-zero-sig",
            forged(r#"{"alg":"ES256","kid":"ec"}"#, "{}", &b64([0u8; 64])),
        ),
        (
            "rs256-short-sig",
            forged(r#"{"alg":"RS256","kid":"rsa"}"#, "{}", &b64([0xffu8; 255])),
        ),
        (
            "eddsa-bad-sig",
            forged(r#"{"alg":"EdDSA","kid":"ed"}"#, "{}", &b64([0xffu8; 64])),
        ),
        (
            "hs256-none-sig",
            forged(r#"{"alg":"HS256","kid":"hs"}"#, r#"{"sub":"x"}"#, "AA"),
        ),
    ];
    for (name, body) in malformed {
        raw(&format!("bad-{name}"), 0, FIXED_NOW, 0, &body);
    }

    // RFC 7520 / RFC 8037 vectors (other keys: NoKey / BadSignature / Malformed).
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/vectors/jose-cookbook");
    for file in [
        "jws/4_1.rsa_v15_signature.json",
        "jws/4_2.rsa-pss_signature.json",
        "jws/4_3.ecdsa_signature.json",
        "jws/4_4.hmac-sha2_integrity_protection.json",
        "curve25519/jws.json",
    ] {
        let v: Value = serde_json::from_slice(&fs::read(vectors.join(file)).unwrap()).unwrap();
        let compact = v["output"]["compact"].as_str().unwrap();
        let stem = Path::new(file)
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .replace('.', "-");
        raw(
            &format!("rfc-{stem}-set0"),
            0,
            FIXED_NOW,
            0,
            compact.as_bytes(),
        );
        raw(
            &format!("rfc-{stem}-set7"),
            7,
            FIXED_NOW,
            0,
            compact.as_bytes(),
        );
    }

    // SIGNED mode, fixed header: payload JSON reaches the claim checks.
    let payloads: Vec<(&str, String)> = vec![
        ("rich", rich.to_string()),
        ("empty-object", "{}".into()),
        ("exp", r#"{"sub":"x","exp":4102444800}"#.into()),
        ("exp-past", r#"{"exp":1}"#.into()),
        ("nbf", r#"{"nbf":1800000000,"exp":1900000000}"#.into()),
        ("exp-float-exp", r#"{"exp":1.7e9,"nbf":-1e-7}"#.into()),
        ("exp-huge", r#"{"exp":1e400}"#.into()),
        ("exp-bigint", r#"{"exp":123456789012345678901234567890}"#.into()),
        ("exp-neg-zero", r#"{"exp":-0,"nbf":-0.0}"#.into()),
        ("exp-null", r#"{"exp":null}"#.into()),
        ("exp-past-nbf-string", r#"{"exp":1,"nbf":"x"}"#.into()),
        ("unicode", r#"{"sub":"\u00e9\ud83d\ude00\u0000","n\u0061me":"x"}"#.into()),
        ("lone-surrogate", r#"{"sub":"\ud800"}"#.into()),
        ("escapes", r#"{"s":"\"\\\/\b\f\n\r\t"}"#.into()),
        ("whitespace", " \t\r\n{ \"a\" : [ 1 , 2 ] } \n".into()),
        ("dup", r#"{"a":1,"b":{"c":1,"c":2}}"#.into()),
        ("deep-32", format!("{}{}", "{\"a\":".repeat(31) + "{}", "}".repeat(31))),
        ("deep-33", format!("{}{}", "{\"a\":".repeat(32) + "{}", "}".repeat(32))),
        ("deep-arrays", format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200))),
        ("not-object", "[{}]".into()),
        ("trailing-comma", r#"{"a":1,}"#.into()),
        ("bom", "\u{feff}{}".into()),
        ("numbers", r#"{"a":[0,-1,1.5e-3,1E+2,9007199254740993,18446744073709551616,-9223372036854775809]}"#.into()),
        ("empty", String::new()),
    ];
    for (i, (name, p)) in payloads.iter().enumerate() {
        let sel = SIGNED | (i as u8 & 3) | (((i / 4) as u8 & 3) << 2);
        raw(
            &format!("signed-{name}"),
            sel,
            FIXED_NOW,
            (i as i64) * 10,
            p.as_bytes(),
        );
    }
    raw("signed-latin1", SIGNED, FIXED_NOW, 0, b"{\"a\":\"\xe9\"}");

    // SIGNED mode, header from the input too (header \0 payload).
    let pairs: Vec<(&str, &str, &str)> = vec![
        ("hs256", r#"{"alg":"HS256"}"#, r#"{"sub":"x"}"#),
        ("hs-kid-other", r#"{"alg":"HS256","kid":"other"}"#, "{}"),
        (
            "hs-kid-hs",
            r#"{"alg":"HS512","kid":"hs","typ":"JWT","cty":"x"}"#,
            r#"{"exp":4102444800}"#,
        ),
        ("confusion-rs256", r#"{"alg":"RS256"}"#, "{}"),
        ("confusion-es256", r#"{"alg":"ES256","kid":"hs"}"#, "{}"),
        ("confusion-eddsa", r#"{"alg":"EdDSA"}"#, "{}"),
        ("alg-none", r#"{"alg":"none"}"#, "{}"),
        ("alg-case", r#"{"alg":"hs256"}"#, "{}"),
        ("crit-empty", r#"{"alg":"HS256","crit":[]}"#, "{}"),
        ("kid-null", r#"{"alg":"HS256","kid":null}"#, "{}"),
        ("dup-alg", r#"{"alg":"HS256","alg":"HS256"}"#, "{}"),
        ("header-array", r#"["alg","HS256"]"#, "{}"),
        ("header-ws", " {\"alg\" :\"HS384\"}\t", "{\"a\":{}}"),
    ];
    for (i, (name, h, p)) in pairs.iter().enumerate() {
        let alg_bits = match h {
            h if h.contains("HS384") => 1,
            h if h.contains("HS512") => 2,
            _ => 0,
        };
        let sel = SIGNED | RAW_HEADER | (i as u8 & 3) | (alg_bits << 2);
        let mut body = h.as_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(p.as_bytes());
        raw(&format!("signedh-{name}"), sel, FIXED_NOW, 0, &body);
    }

    // Short inputs.
    raw("short-selector-only", 0, 0, 0, b"");
    verify.push(("short-1".into(), vec![0x85]));
    verify.push(("short-5".into(), vec![0x07, 1, 2, 3, 4]));

    write_dir("verify", &verify);

    // Key files: the harness's own key sets, and malformed variants.
    let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, files) in key_set_files().iter().enumerate() {
        for (j, f) in files.iter().enumerate() {
            keys.push((format!("set{i}-{j}"), f.clone().into_bytes()));
        }
    }
    let n = auth_jwt_core_fuzz::keys::RSA_N;
    let x = auth_jwt_core_fuzz::keys::EC_X;
    let y = auth_jwt_core_fuzz::keys::EC_Y;
    let bad: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("ws-only", " \n\t".into()),
        ("bom-jwk", format!("\u{feff}\n  {{\"kty\":\"oct\",\"k\":\"{}\"}}", auth_jwt_core_fuzz::keys::HMAC_K)),
        ("jwks-empty", r#"{"keys":[]}"#.into()),
        ("jwks-object", r#"{"keys":{}}"#.into()),
        ("jwks-number", r#"{"keys":[1]}"#.into()),
        ("jwks-dup", r#"{"keys":[],"keys":[]}"#.into()),
        ("no-kty", r#"{"n":"AQAB"}"#.into()),
        ("kty-number", r#"{"kty":1}"#.into()),
        ("kty-unknown", r#"{"kty":"RSA-PSS"}"#.into()),
        ("rsa-even", r#"{"kty":"RSA","n":"AAAAAAAAAAAAAAAA","e":"AQAB"}"#.into()),
        ("rsa-e-1", format!(r#"{{"kty":"RSA","n":"{n}","e":"AQ"}}"#)),
        ("rsa-e-even", format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAA"}}"#)),
        ("rsa-e-big", format!(r#"{{"kty":"RSA","n":"{n}","e":"{n}"}}"#)),
        ("rsa-padded-b64", format!(r#"{{"kty":"RSA","n":"{n}==","e":"AQAB"}}"#)),
        ("rsa-small", r#"{"kty":"RSA","n":"xx0","e":"Aw"}"#.into()),
        ("rsa-n-missing", r#"{"kty":"RSA","e":"AQAB"}"#.into()),
        ("rsa-n-number", r#"{"kty":"RSA","n":5,"e":"AQAB"}"#.into()),
        ("ec-off-curve", format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#)),
        ("ec-short", format!(r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{y}"}}"#, &x[..40])),
        ("ec-p384-len", format!(r#"{{"kty":"EC","crv":"P-384","x":"{x}","y":"{y}"}}"#)),
        ("ec-secp256k1", format!(r#"{{"kty":"EC","crv":"secp256k1","x":"{x}","y":"{y}"}}"#)),
        ("ec-zero", r#"{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.into()),
        ("okp-x25519", r#"{"kty":"OKP","crv":"X25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.into()),
        ("okp-ed448-len", r#"{"kty":"OKP","crv":"Ed448","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.into()),
        ("okp-ed25519-zero", r#"{"kty":"OKP","crv":"Ed25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","d":"x"}"#.into()),
        ("oct-empty", r#"{"kty":"oct","k":""}"#.into()),
        ("oct-short-hs512", r#"{"kty":"oct","k":"c2VjcmV0","alg":"HS512"}"#.into()),
        ("oct-alg-rs256", r#"{"kty":"oct","k":"c2VjcmV0","alg":"RS256"}"#.into()),
        ("alg-unknown", r#"{"kty":"oct","k":"c2VjcmV0","alg":"none"}"#.into()),
        ("use-enc-only", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","use":"enc"}]}"#.into()),
        ("key-ops-bad", r#"{"kty":"oct","k":"c2VjcmV0","key_ops":["verify",1]}"#.into()),
        ("key-ops-sign", r#"{"kty":"oct","k":"c2VjcmV0","key_ops":["sign"],"use":"sig","kid":"a"}"#.into()),
        ("kid-number", r#"{"kty":"oct","k":"c2VjcmV0","kid":7}"#.into()),
        ("deep", format!("{{\"a\":{}{}}}", "[".repeat(40), "]".repeat(40))),
        ("trailing", r#"{"kty":"oct","k":"c2VjcmV0"} {}"#.into()),
        ("pem-no-end", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n".into()),
        ("pem-bad-begin", "-----BEGIN PUBLIC KEY\nAAAA\n-----END PUBLIC KEY-----\n".into()),
        ("pem-empty-label", "-----BEGIN -----\nAAAA\n-----END -----\n".into()),
        ("pem-empty-body", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n".into()),
        ("pem-bad-b64", "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n".into()),
        ("pem-garbage-der", "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n".into()),
        ("pem-unknown-label", "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n".into()),
        ("pem-private", "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n".into()),
        ("pem-headers", format!("-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n\n{}-----END PUBLIC KEY-----\n", auth_jwt_core_fuzz::keys::ED25519_PUBLIC_PEM.lines().nth(1).unwrap().to_owned() + "\n")),
        ("pem-crlf", auth_jwt_core_fuzz::keys::EC_PUBLIC_PEM.replace('\n', "\r\n")),
        ("pem-text-around", format!("subject=CN=x\n{}trailing text\n", auth_jwt_core_fuzz::keys::RSA_CERT_PEM)),
        ("not-a-key", "hello".into()),
    ];
    for (name, text) in bad {
        keys.push((format!("bad-{name}"), text.into_bytes()));
    }
    for file in [
        "jws/4_1.rsa_v15_signature.json",
        "jws/4_3.ecdsa_signature.json",
        "jws/4_4.hmac-sha2_integrity_protection.json",
        "curve25519/jws.json",
    ] {
        let v: Value = serde_json::from_slice(&fs::read(vectors.join(file)).unwrap()).unwrap();
        let stem = Path::new(file)
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .replace('.', "-");
        keys.push((
            format!("rfc-{stem}-jwk"),
            v["input"]["key"].to_string().into_bytes(),
        ));
        keys.push((
            format!("rfc-{stem}-jwks"),
            json!({"keys": [v["input"]["key"]]})
                .to_string()
                .into_bytes(),
        ));
    }
    write_dir("keys", &keys);
}

fn write_dir(target: &str, seeds: &[(String, Vec<u8>)]) {
    let dir = seeds_dir(target);
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("gen-")
        {
            fs::remove_file(path).unwrap();
        }
    }
    for (name, data) in seeds {
        let path = dir.join(format!("gen-{name}"));
        assert!(!path.exists(), "duplicate seed name {name}");
        fs::write(path, data).unwrap();
    }
}

// ---------------------------------------------------------------- jwe

/// The `jwe` key set loads without warnings, and its `oct` keys are the documented ones.
#[test]
fn jwe_key_set() {
    for f in jwe_key_files() {
        let (_, warnings) = KeySet::parse_with_private(f.as_bytes()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    assert!(!jwe_keys().is_empty());
    assert_eq!(b64(OCT32), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY");
    for len in OCT_LENS {
        assert_eq!(oct_secret(len).len(), len);
    }
}

/// The `gen-ok-*` seeds of `seeds/jwe/` are accepted at FIXED_NOW: committed seeds stay
/// valid for the fixed key set (else the fuzzer would not get past decryption from them).
#[test]
fn valid_jwe_seeds() {
    let v = Validation {
        now: FIXED_NOW,
        leeway: 0,
    };
    let mut n = 0;
    for entry in fs::read_dir(seeds_dir("jwe")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with("gen-ok-") {
            continue;
        }
        let data = fs::read(&path).unwrap();
        assert_eq!(data[0] & ENCRYPT, 0, "{name}: not a RAW seed");
        let token = &data[PREFIX_LEN..];
        let ty = match data[0] & 3 {
            RAW_ENCRYPTED => TokenType::Encrypted,
            RAW_NESTED => TokenType::Nested,
            RAW_SIGNED => TokenType::Signed,
            _ => {
                assert!(decrypt(token, jwe_keys()).is_ok(), "{name}");
                n += 1;
                continue;
            }
        };
        let r = verify_typed(token, jwe_keys(), &v, ty);
        assert!(r.is_ok(), "{name}: {r:?}");
        n += 1;
    }
    // 6 dir + 12 RSA-OAEP* + 36 A*KW/A*GCMKW + 48 ECDH-ES* (P-256 and X25519), plus the
    // decrypt, nested, signed, kid and apu/apv ones.
    assert!(n >= 102 + 13 + 8 + 2, "only {n} valid jwe seeds");
}

/// All 13 supported `alg`s with the recipients the fixed key set can decrypt for.
fn jwe_recipients() -> Vec<(&'static str, Recipient, &'static str)> {
    let mut v = vec![
        ("dir", Recipient::Oct(0), ""),
        ("RSA-OAEP", Recipient::Rsa, ""),
        ("RSA-OAEP-256", Recipient::Rsa, ""),
        ("A128KW", Recipient::Oct(16), ""),
        ("A192KW", Recipient::Oct(24), ""),
        ("A256KW", Recipient::Oct(32), ""),
        ("A128GCMKW", Recipient::Oct(16), ""),
        ("A192GCMKW", Recipient::Oct(24), ""),
        ("A256GCMKW", Recipient::Oct(32), ""),
    ];
    for alg in [
        "ECDH-ES",
        "ECDH-ES+A128KW",
        "ECDH-ES+A192KW",
        "ECDH-ES+A256KW",
    ] {
        v.push((alg, Recipient::Ec, "-p256"));
        v.push((alg, Recipient::X25519, "-x25519"));
    }
    v
}

fn seed_name(alg: &str, enc: &str, suffix: &str) -> String {
    format!("{alg}-{enc}{suffix}")
        .to_lowercase()
        .replace('+', "-")
}

/// Replace segment `i` of a compact token.
fn with_segment(token: &str, i: usize, seg: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[i] = seg;
    parts.join(".")
}

/// Flip one base64url character of segment `i` (the middle one).
fn tamper(token: &str, i: usize) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut seg = parts[i].as_bytes().to_vec();
    if seg.is_empty() {
        return with_segment(token, i, "AAAA");
    }
    let at = seg.len() / 2;
    seg[at] = if seg[at] == b'A' { b'B' } else { b'A' };
    with_segment(token, i, std::str::from_utf8(&seg).unwrap())
}

#[test]
#[ignore = "writes seeds/jwe; run explicitly to regenerate"]
fn write_seeds_jwe() {
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, sel: u8, now: i64, leeway: i64, body: &[u8]| {
        seeds.push((name.to_owned(), verify_input(sel, now, leeway, body)));
    };
    let claims = json!({
        "sub": "user-1", "iss": "https://issuer.example", "aud": ["api"],
        "exp": 4_102_444_800_i64, "nbf": 1_600_000_000, "iat": 1_700_000_000,
        "roles": ["admin", 7, null], "realm_access": {"roles": ["a"]}
    });
    let claims_text = claims.to_string();
    let enc_to = |alg: &str, enc: &str, r: Recipient, header: Value, pt: &[u8]| {
        encrypt_to(alg, enc, r, &header, pt).unwrap_or_else(|e| panic!("{alg}/{enc}: {e}"))
    };

    // Valid encrypted tokens: every alg, every enc, every recipient of the alg.
    for (alg, r, suffix) in jwe_recipients() {
        for (enc, _) in ENCS {
            let t = enc_to(alg, enc, r, Value::Null, claims_text.as_bytes());
            add(
                &format!("ok-enc-{}", seed_name(alg, enc, suffix)),
                RAW_ENCRYPTED,
                FIXED_NOW,
                0,
                t.as_bytes(),
            );
        }
    }
    // The same through `decrypt` (one enc per alg), with arbitrary plaintexts.
    for (i, (alg, r, suffix)) in jwe_recipients().into_iter().enumerate() {
        let (enc, _) = ENCS[i % ENCS.len()];
        let pt: &[u8] = match i % 3 {
            0 => b"not json at all",
            1 => b"",
            _ => b"\xff\xfe binary \x00",
        };
        let t = enc_to(alg, enc, r, Value::Null, pt);
        add(
            &format!("ok-dec-{}", seed_name(alg, enc, suffix)),
            RAW_DECRYPT,
            FIXED_NOW,
            0,
            t.as_bytes(),
        );
    }

    // Nested: inner RS256 JWS signed with t/keys/rsa.key, verified by t/keys/rsa.pub.
    let rsa_signer = SigningKey::from_pem(include_bytes!("../../t/keys/rsa.key")).unwrap();
    let inner = encode("RS256", &Value::Null, &claims, &rsa_signer).unwrap();
    let nested_cases: [(&str, &str, Recipient, &str); 6] = [
        ("RSA-OAEP-256", "A256GCM", Recipient::Rsa, ""),
        ("dir", "A128CBC-HS256", Recipient::Oct(0), ""),
        ("ECDH-ES+A128KW", "A192GCM", Recipient::Ec, "-p256"),
        ("ECDH-ES", "A256GCM", Recipient::X25519, "-x25519"),
        ("A256KW", "A256CBC-HS512", Recipient::Oct(32), ""),
        ("A128GCMKW", "A128GCM", Recipient::Oct(16), ""),
    ];
    for (alg, enc, r, suffix) in nested_cases {
        let t = enc_to(alg, enc, r, json!({"cty": "JWT"}), inner.as_bytes());
        add(
            &format!("ok-nested-{}", seed_name(alg, enc, suffix)),
            RAW_NESTED,
            FIXED_NOW,
            0,
            t.as_bytes(),
        );
    }
    let nested = |cty: Value, pt: &[u8]| {
        let h = if cty.is_null() {
            Value::Null
        } else {
            json!({ "cty": cty })
        };
        enc_to("RSA-OAEP", "A128GCM", Recipient::Rsa, h, pt)
    };
    add(
        "ok-nested-cty-application-jwt",
        RAW_NESTED,
        FIXED_NOW,
        0,
        nested(json!("application/JWT"), inner.as_bytes()).as_bytes(),
    );
    add(
        "ok-nested-no-cty",
        RAW_NESTED,
        FIXED_NOW,
        0,
        nested(Value::Null, inner.as_bytes()).as_bytes(),
    );
    let inner_hs = encode_raw(
        "HS256",
        NESTED_INNER_HEADER,
        claims_text.as_bytes(),
        &SigningKey::hmac(OCT32),
    )
    .unwrap();
    add(
        "ok-nested-inner-hs256-oct32",
        RAW_NESTED,
        FIXED_NOW,
        0,
        nested(json!("JWT"), inner_hs.as_bytes()).as_bytes(),
    );
    let inner_expired = encode(
        "RS256",
        &Value::Null,
        &json!({"sub": "x", "exp": 1_600_000_000}),
        &rsa_signer,
    )
    .unwrap();
    let inner_ps = encode("PS256", &json!({"kid": "k1"}), &claims, &rsa_signer).unwrap();
    let harness_es =
        SigningKey::from_pem(auth_jwt_core_fuzz::keys::EC_PRIVATE_PEM.as_bytes()).unwrap();
    let inner_es = encode("ES256", &Value::Null, &claims, &harness_es).unwrap();
    for (name, cty, pt) in [
        ("nested-cty-text", json!("text/plain"), inner.clone()),
        ("nested-cty-number", json!(1), inner.clone()),
        ("nested-inner-tampered", json!("JWT"), tamper(&inner, 2)),
        ("nested-inner-expired", json!("JWT"), inner_expired.clone()),
        ("nested-inner-ps256-kid", json!("JWT"), inner_ps),
        ("nested-inner-es256-nokey", json!("JWT"), inner_es),
        ("nested-inner-claims", json!("JWT"), claims_text.clone()),
        (
            "nested-inner-jwe",
            json!("JWT"),
            nested(json!("JWT"), inner.as_bytes()),
        ),
        ("nested-inner-empty", json!("JWT"), String::new()),
        (
            "nested-inner-alg-none",
            json!("JWT"),
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("{}")),
        ),
    ] {
        add(
            name,
            RAW_NESTED,
            FIXED_NOW,
            0,
            nested(cty, pt.as_bytes()).as_bytes(),
        );
    }
    add(
        "nested-inner-expired-leeway",
        RAW_NESTED,
        1_600_000_010,
        20,
        nested(json!("JWT"), inner_expired.as_bytes()).as_bytes(),
    );
    // A nested token where an encrypted one is expected, and the reverse.
    let nested_ok = nested(json!("JWT"), inner.as_bytes());
    add(
        "enc-given-nested",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        nested_ok.as_bytes(),
    );
    add(
        "dec-given-nested",
        RAW_DECRYPT,
        FIXED_NOW,
        0,
        nested_ok.as_bytes(),
    );
    let enc_ok = enc_to(
        "RSA-OAEP",
        "A256GCM",
        Recipient::Rsa,
        Value::Null,
        claims_text.as_bytes(),
    );
    add(
        "nested-given-enc",
        RAW_NESTED,
        FIXED_NOW,
        0,
        enc_ok.as_bytes(),
    );

    // Signed (3-segment JWS): in Signed mode, and where a JWE is expected.
    add(
        "ok-signed-rs256-rsa-pub",
        RAW_SIGNED,
        FIXED_NOW,
        0,
        inner.as_bytes(),
    );
    add(
        "ok-signed-hs256-oct32",
        RAW_SIGNED,
        FIXED_NOW,
        0,
        inner_hs.as_bytes(),
    );
    add(
        "signed-given-jwe",
        RAW_SIGNED,
        FIXED_NOW,
        0,
        enc_ok.as_bytes(),
    );
    add(
        "signed-expired",
        RAW_SIGNED,
        FIXED_NOW,
        0,
        inner_expired.as_bytes(),
    );
    add(
        "enc-given-jws",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        inner.as_bytes(),
    );
    add("dec-given-jws", RAW_DECRYPT, FIXED_NOW, 0, inner.as_bytes());
    add(
        "nested-given-jws",
        RAW_NESTED,
        FIXED_NOW,
        0,
        inner.as_bytes(),
    );

    // Truncated and tampered variants of a few valid tokens.
    let bases = [
        ("rsa-oaep", enc_ok.clone()),
        (
            "a128kw-cbc",
            enc_to(
                "A128KW",
                "A128CBC-HS256",
                Recipient::Oct(16),
                Value::Null,
                claims_text.as_bytes(),
            ),
        ),
        (
            "ecdh-es-p256",
            enc_to(
                "ECDH-ES",
                "A256GCM",
                Recipient::Ec,
                Value::Null,
                claims_text.as_bytes(),
            ),
        ),
        (
            "dir-cbc512",
            enc_to(
                "dir",
                "A256CBC-HS512",
                Recipient::Oct(0),
                Value::Null,
                claims_text.as_bytes(),
            ),
        ),
        (
            "a192gcmkw",
            enc_to(
                "A192GCMKW",
                "A192GCM",
                Recipient::Oct(24),
                Value::Null,
                claims_text.as_bytes(),
            ),
        ),
    ];
    let segment_names = ["header", "key", "iv", "ciphertext", "tag"];
    for (i, (base, t)) in bases.iter().enumerate() {
        let mode = if i % 2 == 0 {
            RAW_ENCRYPTED
        } else {
            RAW_DECRYPT
        };
        for (s, seg) in segment_names.iter().enumerate() {
            add(
                &format!("tamper-{base}-{seg}"),
                mode,
                FIXED_NOW,
                0,
                tamper(t, s).as_bytes(),
            );
            add(
                &format!("empty-{base}-{seg}"),
                mode,
                FIXED_NOW,
                0,
                with_segment(t, s, "").as_bytes(),
            );
        }
        add(
            &format!("trunc-half-{base}"),
            mode,
            FIXED_NOW,
            0,
            &t.as_bytes()[..t.len() / 2],
        );
        add(
            &format!("trunc-1-{base}"),
            mode,
            FIXED_NOW,
            0,
            &t.as_bytes()[..t.len() - 1],
        );
        add(
            &format!("trunc-tag-{base}"),
            mode,
            FIXED_NOW,
            0,
            &t.as_bytes()[..t.rfind('.').unwrap()],
        );
        add(
            &format!("extra-segment-{base}"),
            mode,
            FIXED_NOW,
            0,
            format!("{t}.AAAA").as_bytes(),
        );
        add(
            &format!("padded-{base}"),
            mode,
            FIXED_NOW,
            0,
            format!("{t}==").as_bytes(),
        );
    }
    // Segments swapped between tokens of the same alg/enc, and an RSA key from another token.
    let other = enc_to(
        "RSA-OAEP",
        "A256GCM",
        Recipient::Rsa,
        Value::Null,
        b"{\"sub\":\"other\"}",
    );
    let o: Vec<&str> = other.split('.').collect();
    add(
        "swap-key-rsa-oaep",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        with_segment(&enc_ok, 1, o[1]).as_bytes(),
    );
    add(
        "swap-iv-rsa-oaep",
        RAW_DECRYPT,
        FIXED_NOW,
        0,
        with_segment(&enc_ok, 2, o[2]).as_bytes(),
    );

    // Headers, forged through encrypt's header override (the crypto is right otherwise).
    let kw16 = |h: Value| {
        enc_to(
            "A128KW",
            "A128GCM",
            Recipient::Oct(16),
            h,
            claims_text.as_bytes(),
        )
    };
    let rsa = |h: Value| {
        enc_to(
            "RSA-OAEP-256",
            "A128CBC-HS256",
            Recipient::Rsa,
            h,
            claims_text.as_bytes(),
        )
    };
    let ecdh =
        |r: Recipient, h: Value| enc_to("ECDH-ES+A256KW", "A256GCM", r, h, claims_text.as_bytes());
    add(
        "ok-kid-oct16",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        kw16(json!({"kid": "oct16"})).as_bytes(),
    );
    add(
        "ok-kid-unknown-pem",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        rsa(json!({"kid": "nope"})).as_bytes(),
    );
    add(
        "ok-apu-apv-p256",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        ecdh(
            Recipient::Ec,
            json!({"apu": b64("Alice"), "apv": b64("Bob")}),
        )
        .as_bytes(),
    );
    add(
        "ok-apu-x25519",
        RAW_DECRYPT,
        FIXED_NOW,
        0,
        ecdh(Recipient::X25519, json!({"apu": b64("")})).as_bytes(),
    );
    let zero32 = b64([0u8; 32]);
    let headers: Vec<(&str, String)> = vec![
        ("kid-unknown-oct", kw16(json!({"kid": "nope"}))),
        ("kid-other-oct", kw16(json!({"kid": "oct24"}))),
        ("kid-number", kw16(json!({"kid": 16}))),
        ("zip-def", kw16(json!({"zip": "DEF"}))),
        ("crit", kw16(json!({"crit": ["exp"], "exp": 1}))),
        ("crit-empty", rsa(json!({"crit": []}))),
        ("cty-jwt", rsa(json!({"cty": "JWT"}))),
        ("typ-jose", rsa(json!({"typ": "JOSE", "cty": "json"}))),
        ("alg-rsa1_5", rsa(json!({"alg": "RSA1_5"}))),
        (
            "alg-pbes2",
            kw16(json!({"alg": "PBES2-HS256+A128KW", "p2s": b64("salt"), "p2c": 1_000_000_000})),
        ),
        ("alg-hs256", kw16(json!({"alg": "HS256"}))),
        ("alg-none", kw16(json!({"alg": "none"}))),
        ("alg-number", kw16(json!({"alg": 1}))),
        ("alg-lower", kw16(json!({"alg": "a128kw"}))),
        ("alg-other-kw", kw16(json!({"alg": "A192KW"}))),
        ("alg-gcmkw-no-iv", kw16(json!({"alg": "A128GCMKW"}))),
        ("alg-dir-with-key", kw16(json!({"alg": "dir"}))),
        ("enc-missing", kw16(json!({"enc": null}))),
        ("enc-unknown", kw16(json!({"enc": "A128CTR"}))),
        ("enc-other", kw16(json!({"enc": "A256GCM"}))),
        (
            "gcmkw-iv-short",
            enc_to(
                "A128GCMKW",
                "A128GCM",
                Recipient::Oct(16),
                json!({"iv": b64([0u8; 8])}),
                b"{}",
            ),
        ),
        (
            "gcmkw-tag-number",
            enc_to(
                "A128GCMKW",
                "A128GCM",
                Recipient::Oct(16),
                json!({"tag": 5}),
                b"{}",
            ),
        ),
        (
            "gcmkw-iv-bad-b64",
            enc_to(
                "A256GCMKW",
                "A128GCM",
                Recipient::Oct(32),
                json!({"iv": "!!"}),
                b"{}",
            ),
        ),
        ("epk-missing", ecdh(Recipient::Ec, json!({"epk": null}))),
        ("epk-string", ecdh(Recipient::Ec, json!({"epk": "x"}))),
        (
            "epk-off-curve",
            ecdh(
                Recipient::Ec,
                json!({"epk": {"kty": "EC", "crv": "P-256", "x": b64([1u8; 32]), "y": b64([2u8; 32])}}),
            ),
        ),
        (
            "epk-p384",
            ecdh(
                Recipient::Ec,
                json!({"epk": {"kty": "EC", "crv": "P-384", "x": b64([1u8; 48]), "y": b64([2u8; 48])}}),
            ),
        ),
        (
            "epk-secp256k1",
            ecdh(
                Recipient::Ec,
                json!({"epk": {"kty": "EC", "crv": "secp256k1", "x": b64([1u8; 32]), "y": b64([2u8; 32])}}),
            ),
        ),
        (
            "epk-x25519-zero",
            ecdh(
                Recipient::X25519,
                json!({"epk": {"kty": "OKP", "crv": "X25519", "x": zero32}}),
            ),
        ),
        (
            "epk-x25519-short",
            ecdh(
                Recipient::X25519,
                json!({"epk": {"kty": "OKP", "crv": "X25519", "x": b64([9u8; 31])}}),
            ),
        ),
        (
            "epk-x448",
            ecdh(
                Recipient::X25519,
                json!({"epk": {"kty": "OKP", "crv": "X448", "x": b64([9u8; 56])}}),
            ),
        ),
        (
            "epk-ec-for-x25519",
            ecdh(
                Recipient::X25519,
                json!({"epk": {"kty": "EC", "crv": "P-256", "x": auth_jwt_core_fuzz::keys::EC_X, "y": auth_jwt_core_fuzz::keys::EC_Y}}),
            ),
        ),
        (
            "epk-harness-ec",
            ecdh(
                Recipient::Ec,
                json!({"epk": {"kty": "EC", "crv": "P-256", "x": auth_jwt_core_fuzz::keys::EC_X, "y": auth_jwt_core_fuzz::keys::EC_Y}}),
            ),
        ),
        (
            "epk-rsa",
            ecdh(
                Recipient::Ec,
                json!({"epk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
            ),
        ),
        (
            "apv-only",
            enc_to(
                "ECDH-ES",
                "A128GCM",
                Recipient::Ec,
                json!({"apv": b64("v")}),
                b"{}",
            ),
        ),
        (
            "deep-header",
            kw16(
                serde_json::from_str(&format!("{{\"x\":{}1{}}}", "[".repeat(33), "]".repeat(33)))
                    .unwrap(),
            ),
        ),
    ];
    for (i, (name, t)) in headers.iter().enumerate() {
        let mode = if i % 3 == 2 {
            RAW_DECRYPT
        } else {
            RAW_ENCRYPTED
        };
        add(&format!("header-{name}"), mode, FIXED_NOW, 0, t.as_bytes());
    }
    // Raw header bytes (no valid crypto behind them).
    let iv12 = b64([0u8; 12]);
    let tag16 = b64([0u8; 16]);
    for (name, h) in [
        ("dup-alg", r#"{"alg":"dir","alg":"dir","enc":"A128GCM"}"#),
        ("not-object", r#"["dir","A128GCM"]"#),
        ("bom", "\u{feff}{\"alg\":\"dir\",\"enc\":\"A128GCM\"}"),
        (
            "bad-utf8",
            "{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"x\":\"\u{fffd}\"}",
        ),
        ("trailing", r#"{"alg":"dir","enc":"A128GCM"} "#),
        ("empty-object", "{}"),
    ] {
        let t = format!("{}..{iv12}.{}.{tag16}", b64(h), b64("xxxx"));
        add(
            &format!("rawheader-{name}"),
            RAW_ENCRYPTED,
            FIXED_NOW,
            0,
            t.as_bytes(),
        );
    }
    let mut bad_utf8 = b"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"x\":\"".to_vec();
    bad_utf8.extend_from_slice(b"\xc3\x28\"}");
    add(
        "rawheader-invalid-utf8",
        RAW_DECRYPT,
        FIXED_NOW,
        0,
        format!("{}..{iv12}.AAAA.{tag16}", b64(&bad_utf8)).as_bytes(),
    );
    // dir with an encrypted key, A128KW without one.
    let dir = enc_to("dir", "A128GCM", Recipient::Oct(0), Value::Null, b"{}");
    add(
        "dir-with-key",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        with_segment(&dir, 1, "AAAA").as_bytes(),
    );
    add(
        "kw-without-key",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        with_segment(&kw16(Value::Null), 1, "").as_bytes(),
    );
    // CBC ciphertext that is not whole blocks, empty CBC ciphertext, IV of the wrong length.
    let cbc = &bases[1].1;
    add(
        "cbc-ciphertext-short",
        RAW_DECRYPT,
        FIXED_NOW,
        0,
        with_segment(cbc, 3, "AAAA").as_bytes(),
    );
    add(
        "cbc-iv-12",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        with_segment(cbc, 2, &iv12).as_bytes(),
    );
    add(
        "gcm-tag-12",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        with_segment(&enc_ok, 4, &iv12).as_bytes(),
    );

    // Plaintexts (claims checks after a successful decryption).
    let pt = |p: &[u8]| enc_to("A256KW", "A256GCM", Recipient::Oct(32), Value::Null, p);
    for (name, p, now, leeway) in [
        ("exp-past", br#"{"exp":1600000000}"#.to_vec(), FIXED_NOW, 0),
        (
            "exp-past-leeway",
            br#"{"exp":1600000000}"#.to_vec(),
            1_600_000_000,
            5,
        ),
        (
            "nbf-future",
            br#"{"nbf":1800000000}"#.to_vec(),
            FIXED_NOW,
            0,
        ),
        (
            "nbf-future-fuzzv",
            br#"{"nbf":1800000000}"#.to_vec(),
            1_900_000_000,
            0,
        ),
        (
            "exp-string",
            br#"{"exp":"4102444800"}"#.to_vec(),
            FIXED_NOW,
            0,
        ),
        (
            "exp-float",
            br#"{"exp":1700000000.5}"#.to_vec(),
            FIXED_NOW,
            0,
        ),
        (
            "exp-i64-min",
            format!(r#"{{"exp":{}}}"#, i64::MIN).into_bytes(),
            i64::MIN,
            i64::MIN,
        ),
        (
            "nbf-u64-max",
            format!(r#"{{"nbf":{}}}"#, u64::MAX).into_bytes(),
            i64::MAX,
            i64::MAX,
        ),
        ("array", b"[1,2]".to_vec(), FIXED_NOW, 0),
        ("not-json", b"hello".to_vec(), FIXED_NOW, 0),
        ("empty", Vec::new(), FIXED_NOW, 0),
        ("dup", br#"{"sub":"a","sub":"b"}"#.to_vec(), FIXED_NOW, 0),
        (
            "deep",
            format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40)).into_bytes(),
            FIXED_NOW,
            0,
        ),
        ("invalid-utf8", b"{\"a\":\"\xe9\"}".to_vec(), FIXED_NOW, 0),
        ("bom", "\u{feff}{}".as_bytes().to_vec(), FIXED_NOW, 0),
        ("trailing", b"{} {}".to_vec(), FIXED_NOW, 0),
        (
            "numbers",
            br#"{"a":[0,-1,1.5e-3,1E+2,9007199254740993,18446744073709551616]}"#.to_vec(),
            FIXED_NOW,
            0,
        ),
        ("jws-text", inner.clone().into_bytes(), FIXED_NOW, 0),
    ] {
        add(
            &format!("plaintext-{name}"),
            RAW_ENCRYPTED,
            now,
            leeway,
            pt(&p).as_bytes(),
        );
    }

    // Sizes: empty, dots only, just too long, and a long valid-looking one.
    add("empty", RAW_ENCRYPTED, FIXED_NOW, 0, b"");
    add("dots", RAW_DECRYPT, FIXED_NOW, 0, b"....");
    add("dots-nested", RAW_NESTED, FIXED_NOW, 0, b"....");
    let big = pt(format!(r#"{{"pad":"{}"}}"#, "x".repeat(12_300)).as_bytes());
    assert!(big.len() > 16_384, "{}", big.len());
    add("too-large", RAW_ENCRYPTED, FIXED_NOW, 0, big.as_bytes());
    let near = pt(format!(r#"{{"pad":"{}"}}"#, "x".repeat(12_000)).as_bytes());
    assert!(near.len() <= 16_384, "{}", near.len());
    add(
        "ok-near-limit",
        RAW_ENCRYPTED,
        FIXED_NOW,
        0,
        near.as_bytes(),
    );

    // RFC 7520 JWE vectors (keys of the cookbook, so NoKey / DecryptFailed / UnsupportedEnc here).
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/vectors/jose-cookbook");
    for entry in fs::read_dir(vectors.join("jwe")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let stem = &stem[..stem.find('.').unwrap_or(stem.len())];
        if let Some(c) = v["output"]["compact"].as_str() {
            add(
                &format!("rfc-{stem}"),
                RAW_ENCRYPTED,
                FIXED_NOW,
                0,
                c.as_bytes(),
            );
            add(
                &format!("rfc-{stem}-dec"),
                RAW_DECRYPT,
                FIXED_NOW,
                0,
                c.as_bytes(),
            );
        }
    }
    let v: Value = serde_json::from_slice(
        &fs::read(vectors.join("6.nesting_signatures_and_encryption.json")).unwrap(),
    )
    .unwrap();
    add(
        "rfc-6-nested",
        RAW_NESTED,
        FIXED_NOW,
        0,
        v["encrypt"]["output"]["compact"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );

    // ENCRYPT mode: every (alg, recipient) entry, with every sub-mode spread over them.
    for (i, (alg, r)) in ENCRYPT_ALGS.iter().enumerate() {
        let name = seed_name(alg, "", &format!("{r:?}")).replace(['(', ')'], "");
        let sel = |sub: u8| ENCRYPT | (sub << 4) | i as u8;
        add(
            &format!("encrypt-{name}-claims"),
            sel(i as u8 % 6),
            FIXED_NOW,
            0,
            claims_text.as_bytes(),
        );
        add(
            &format!("encrypt-{name}-text"),
            sel((i as u8 + 3) % 6),
            FIXED_NOW,
            60,
            b"plain text, not JSON",
        );
        add(
            &format!("encrypt-{name}-nested"),
            sel(ENCRYPT_NESTED),
            FIXED_NOW,
            0,
            claims_text.as_bytes(),
        );
    }
    let sel = |i: u8, sub: u8| ENCRYPT | (sub << 4) | i;
    add("encrypt-empty", sel(1, 0), FIXED_NOW, 0, b"");
    add("encrypt-exp-past", sel(5, 2), FIXED_NOW, 0, br#"{"exp":1}"#);
    add(
        "encrypt-exp-string",
        sel(9, 3),
        FIXED_NOW,
        0,
        br#"{"exp":"1"}"#,
    );
    add(
        "encrypt-nbf-fuzzv",
        sel(10, 4),
        1_500_000_000,
        0,
        br#"{"nbf":1600000000}"#,
    );
    add(
        "encrypt-nested-not-json",
        sel(3, ENCRYPT_NESTED),
        FIXED_NOW,
        0,
        b"x",
    );
    add(
        "encrypt-nested-exp-past",
        sel(11, ENCRYPT_NESTED),
        FIXED_NOW,
        0,
        br#"{"exp":1}"#,
    );
    add(
        "encrypt-nested-empty",
        sel(0, ENCRYPT_NESTED),
        FIXED_NOW,
        0,
        b"",
    );
    for (j, (name, header)) in [
        ("kid-oct16", r#"{"kid":"oct16"}"#),
        ("kid-nope", r#"{"kid":"nope"}"#),
        ("apu-apv", r#"{"apu":"QWxpY2U","apv":"Qm9i"}"#),
        ("apu-bad", r#"{"apu":"!"}"#),
        ("cty-jwt", r#"{"cty":"JWT"}"#),
        ("zip", r#"{"zip":"DEF"}"#),
        ("crit", r#"{"crit":["x"]}"#),
        ("typ-extra", r#"{"typ":"JWT","x":{"y":[1,2,{"z":null}]},"n":1e300}"#),
        ("alg-override", r#"{"alg":"A256KW"}"#),
        ("enc-override", r#"{"enc":"A128GCM"}"#),
        ("epk-override", r#"{"epk":{"kty":"OKP","crv":"X25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#),
        ("not-object", "[1]"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = header.as_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(br#"{"sub":"h"}"#);
        let i = [5u8, 10, 13, 9, 1, 3, 6, 8, 15, 0, 14, 2][j];
        add(&format!("encrypt-header-{name}"), sel(i, ENCRYPT_HEADER), FIXED_NOW, 0, &body);
    }
    let deep = format!("{{\"x\":{}1{}}}", "[".repeat(31), "]".repeat(31));
    let mut body = deep.into_bytes();
    body.push(0);
    body.extend_from_slice(b"{}");
    add(
        "encrypt-header-deep",
        sel(3, ENCRYPT_HEADER),
        FIXED_NOW,
        0,
        &body,
    );

    // Short inputs.
    add("short-selector-only", RAW_ENCRYPTED, 0, 0, b"");
    seeds.push(("short-1".into(), vec![ENCRYPT]));
    seeds.push(("short-5".into(), vec![RAW_DECRYPT, 1, 2, 3, 4]));

    write_dir("jwe", &seeds);
}

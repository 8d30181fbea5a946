//! Seed corpora of the fuzz targets.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml` replays every committed seed
//! through the harness (stable, no libFuzzer, no sanitizer): a quick check that
//! the seeds still load and the oracles still hold.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml -- --ignored write_seeds`
//! regenerates the `gen-*` files of `seeds/verify/` and `seeds/keys/` (the other
//! files of `seeds/keys/` are copies of `t/keys/` and openssl output, see
//! `fuzz/README.md`).

use std::fs;
use std::path::{Path, PathBuf};

use auth_jwt_core::{verify, KeySet, Validation};
use auth_jwt_core_fuzz::{
    algs, fuzz_keys, fuzz_verify, key_set_files, key_sets, mint, verify_input, FIXED_NOW,
    PREFIX_LEN, RAW_HEADER, SIGNED,
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

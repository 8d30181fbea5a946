//! render(), lookup(), bearer_token(), is_truthy(), Status words.

use auth_jwt_core::{bearer_token, is_truthy, lookup, render, Status};
use serde_json::{json, Map, Value};

#[test]
fn render_values() {
    assert_eq!(render(&json!("alice")), "alice");
    assert_eq!(render(&json!("")), "");
    assert_eq!(render(&json!("a,b \"q\"")), "a,b \"q\"");
    assert_eq!(render(&json!(42)), "42");
    assert_eq!(render(&json!(-7)), "-7");
    assert_eq!(render(&json!(1.5)), "1.5");
    assert_eq!(
        render(&json!(18446744073709551615u64)),
        "18446744073709551615"
    );
    assert_eq!(render(&json!(true)), "true");
    assert_eq!(render(&json!(false)), "false");
    assert_eq!(render(&Value::Null), "");
    assert_eq!(render(&json!(["reader", "admin"])), "reader,admin");
    assert_eq!(render(&json!([])), "");
    assert_eq!(render(&json!(["a", 1, true, null, 2.5])), "a,1,true,,2.5");
    assert_eq!(
        render(&json!(["a", ["b", "c"], {"k": "v"}])),
        r#"a,["b","c"],{"k":"v"}"#
    );
    // Members keep the order they were sent in (serde_json "preserve_order").
    assert_eq!(
        render(&json!({"b": 1, "a": [1, "x"]})),
        r#"{"b":1,"a":[1,"x"]}"#
    );
    assert_eq!(render(&json!({})), "{}");
}

#[test]
fn lookup_paths() {
    let root: Map<String, Value> = serde_json::from_value(json!({
        "sub": "alice",
        "realm_access": {"roles": ["a", "b"], "deep": {"x": {"y": 1}}},
        "list": [{"z": 1}],
        "dotted.name": 2,
    }))
    .unwrap();
    assert_eq!(lookup(&root, &["sub"]), Some(&json!("alice")));
    assert_eq!(
        lookup(&root, &["realm_access", "roles"]),
        Some(&json!(["a", "b"]))
    );
    assert_eq!(
        lookup(&root, &["realm_access", "deep", "x", "y"]),
        Some(&json!(1))
    );
    assert_eq!(lookup(&root, &["dotted.name"]), Some(&json!(2)));
    assert_eq!(lookup(&root, &["realm_access", "missing"]), None);
    assert_eq!(lookup(&root, &["sub", "x"]), None);
    assert_eq!(lookup(&root, &["list", "0"]), None);
    assert_eq!(lookup(&root, &["missing"]), None);
    assert_eq!(lookup(&root, &[]), None);
}

#[test]
fn bearer() {
    fn some(s: &str) -> Option<&[u8]> {
        Some(s.as_bytes())
    }
    assert_eq!(bearer_token(b"Bearer x"), some("x"));
    assert_eq!(bearer_token(b"bearer   x"), some("x"));
    assert_eq!(bearer_token(b"BEARER\tx"), some("x"));
    assert_eq!(
        bearer_token(b"Bearer \t abc.def.ghi \t "),
        some("abc.def.ghi")
    );
    assert_eq!(bearer_token(b"Bearer a b"), some("a b"));
    assert_eq!(bearer_token(b"Basic x"), None);
    assert_eq!(bearer_token(b"Bearer"), None);
    assert_eq!(bearer_token(b"Bearer "), None);
    assert_eq!(bearer_token(b"Bearer \t \t"), None);
    assert_eq!(bearer_token(b"Bearerx"), None);
    assert_eq!(bearer_token(b"Bear"), None);
    assert_eq!(bearer_token(b""), None);
    assert_eq!(bearer_token(b"Bearer\xff\xfe"), None);
    assert_eq!(bearer_token(b"Bearer \xff"), Some(&b"\xff"[..]));
    assert_eq!(bearer_token(b"B\xc3\xa9arer x"), None);
}

#[test]
fn truthy() {
    assert!(is_truthy(b"1"));
    assert!(is_truthy(b"yes"));
    assert!(is_truthy(b"00"));
    assert!(is_truthy(b"false"));
    assert!(is_truthy(b" "));
    assert!(!is_truthy(b""));
    assert!(!is_truthy(b"0"));
}

#[test]
fn status_words() {
    let all = [
        (Status::Valid, "valid"),
        (Status::Missing, "missing"),
        (Status::TooLarge, "too_large"),
        (Status::Malformed, "malformed"),
        (Status::UnsupportedAlg, "unsupported_alg"),
        (Status::NoKey, "no_key"),
        (Status::BadSignature, "bad_signature"),
        (Status::BadClaim, "bad_claim"),
        (Status::Expired, "expired"),
        (Status::NotYetValid, "not_yet_valid"),
        (Status::BadCrit, "bad_crit"),
        (Status::DecryptFailed, "decrypt_failed"),
        (Status::UnsupportedEnc, "unsupported_enc"),
        (Status::TooManyKeys, "too_many_keys"),
        (Status::RequireFailed, "require_failed"),
        (Status::Revoked, "revoked"),
        (Status::Error, "error"),
    ];
    for (s, word) in all {
        assert_eq!(s.as_str(), word);
        assert_eq!(s.to_string(), word);
    }
}

/// The scheme is matched case-insensitively and exactly: every byte value at every position of
/// "Bearer" is accepted if and only if it is that letter in either case.
#[test]
fn bearer_scheme_every_byte() {
    for pos in 0..6 {
        for byte in 0..=255u8 {
            let mut header = b"Bearer x".to_vec();
            header[pos] = byte;
            let expected = header[..6].eq_ignore_ascii_case(b"Bearer");
            assert_eq!(
                bearer_token(&header).is_some(),
                expected,
                "byte {byte:#x} at {pos}"
            );
        }
    }
}

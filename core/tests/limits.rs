//! The bound on the work one token can cause: at most `MAX_KEY_TRIES` candidate keys are tried.

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_core::{verify, KeySet, Status, Validation, MAX_KEY_TRIES};
use base64::Engine as _;
use serde_json::json;

fn secret(i: usize) -> Vec<u8> {
    format!("limits-test-secret-number-{i:04}-padding").into_bytes()
}

/// `n` HMAC keys, without `kid` or with `kid` "k<i>".
fn set(n: usize, with_kid: bool) -> KeySet {
    let keys: Vec<_> = (0..n)
        .map(|i| {
            let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret(i));
            if with_kid {
                json!({"kty": "oct", "k": k, "kid": format!("k{i}")})
            } else {
                json!({"kty": "oct", "k": k})
            }
        })
        .collect();
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes())
        .unwrap()
        .0
}

fn token(i: usize, kid: Option<&str>) -> String {
    let header = match kid {
        Some(k) => json!({ "kid": k }),
        None => json!({}),
    };
    encode(
        "HS256",
        &header,
        &json!({"sub": "u"}),
        &SigningKey::hmac(&secret(i)),
    )
    .unwrap()
}

fn status(keys: &KeySet, t: &str) -> Status {
    let v = Validation { now: 0, leeway: 0 };
    match verify(t.as_bytes(), keys, &v) {
        Ok(_) => Status::Valid,
        Err(e) => e.status,
    }
}

#[test]
fn a_token_is_tried_against_at_most_max_key_tries_keys() {
    assert_eq!(MAX_KEY_TRIES, 16);
    let at_limit = set(MAX_KEY_TRIES, false);
    assert_eq!(at_limit.keys_without_kid(), MAX_KEY_TRIES);
    // Every key of a set at the limit can verify; a bad token is a bad signature.
    assert_eq!(status(&at_limit, &token(0, None)), Status::Valid);
    assert_eq!(
        status(&at_limit, &token(MAX_KEY_TRIES - 1, None)),
        Status::Valid
    );
    assert_eq!(status(&at_limit, &token(999, None)), Status::BadSignature);

    // One key more: the first 16 are tried; a later one is out of reach.
    let over = set(MAX_KEY_TRIES + 4, false);
    assert_eq!(status(&over, &token(3, None)), Status::Valid);
    assert_eq!(
        status(&over, &token(MAX_KEY_TRIES + 2, None)),
        Status::TooManyKeys
    );
    assert_eq!(status(&over, &token(999, None)), Status::TooManyKeys);
}

#[test]
fn a_kid_narrows_the_candidates_below_the_bound() {
    let many = set(5000, true);
    assert_eq!(many.keys_without_kid(), 0);
    // With its kid a token is checked against one key, wherever it is in the set.
    assert_eq!(status(&many, &token(4321, Some("k4321"))), Status::Valid);
    assert_eq!(
        status(&many, &token(1, Some("k4321"))),
        Status::BadSignature
    );
    // Without a kid it is bounded instead of trying 5,000 keys.
    assert_eq!(status(&many, &token(4321, None)), Status::TooManyKeys);
    assert_eq!(status(&many, &token(2, None)), Status::Valid);
}

#[test]
fn the_refusal_phrase_names_the_bound() {
    let over = set(MAX_KEY_TRIES + 1, false);
    let v = Validation { now: 0, leeway: 0 };
    let e = verify(token(999, None).as_bytes(), &over, &v).unwrap_err();
    assert!(
        e.detail.contains(&MAX_KEY_TRIES.to_string()),
        "{}",
        e.detail
    );
}

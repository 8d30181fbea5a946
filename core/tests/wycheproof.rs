//! C2SP Wycheproof's JOSE vectors (`core/tests/vectors/wycheproof/`, Apache-2.0, see the
//! LICENSE and README there) run against the core: every test of the four files.
//!
//! - `json_web_signature_test.json`: the group's public key (its private one for `oct`) is
//!   loaded with [`KeySet::parse`]; the signature layer ([`verify_jws`]: shape, header, `alg`,
//!   `kid`, key selection, signature, payload any bytes) must accept every `valid` vector and
//!   refuse every `invalid` one; the JWT layer ([`verify`], the one the module uses) must
//!   refuse every `invalid` vector too, and a `valid` one whose payload is not a JSON object
//!   as `malformed` (most payloads here are `foo`).
//! - `json_web_encryption_test.json`: the group's private key is loaded with
//!   [`KeySet::parse_with_private`]; [`decrypt`] must return exactly `pt` for a `valid`
//!   vector and refuse an `invalid` one; [`verify_typed`] (encrypted) refuses every `invalid`
//!   one and a `valid` one whose plaintext is not a JSON object as `malformed`.
//! - `json_web_key_test.json`: the key set (`public` if the group has one, else `private`) must
//!   load and verify the vector's JWS when `valid`; when `invalid` it must be refused at load,
//!   or (listed in [`KEPT_AT_LOAD`] with the reason) load and never verify the JWS.
//! - `json_web_crypto_test.json`: JWS groups as the signature file, JWE groups as the
//!   encryption file, key-set groups as the key file.
//!
//! A `valid` vector may only be refused if it is listed in [`OUT_OF_SCOPE`] (an algorithm or
//! feature the module refuses on purpose) with the reason. An `invalid` vector may only be
//! accepted if it is listed in [`ACCEPTED_INVALID`] (a known difference that needs a
//! decision). [`PENDING_KEY_RULES`] lists key vectors that rules being implemented elsewhere
//! will refuse at load: until then their check prints a note instead of failing. Every list
//! entry is also checked to still be needed, so a stale entry fails. A missing vector file is
//! a failure, not a skip.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use auth_jwt_core::{
    decrypt, verify, verify_jws, verify_reference, verify_typed, KeySet, Rejection, Status,
    TokenType, Validation,
};
use serde_json::Value;

const DIR: &str = "tests/vectors/wycheproof";
const SIG: &str = "json_web_signature_test.json";
const ENC: &str = "json_web_encryption_test.json";
const KEY: &str = "json_web_key_test.json";
const CRYPTO: &str = "json_web_crypto_test.json";

const V: Validation = Validation {
    now: 1_700_000_000,
    leeway: 0,
};

/// `valid` vectors the module refuses on purpose: (file, tcId, reason).
const OUT_OF_SCOPE: &[(&str, u64, &str)] = &[
    (SIG, 259, EMPTY_PAYLOAD),
    (SIG, 264, EMPTY_PAYLOAD),
    (SIG, 268, EMPTY_PAYLOAD),
    (SIG, 272, EMPTY_PAYLOAD),
    (SIG, 320, EMPTY_PAYLOAD),
    (SIG, 325, EMPTY_PAYLOAD),
    (SIG, 346, KEY_ALG_PS256),
    (SIG, 350, KEY_ALG_PS256),
    (SIG, 347, KEY_ALG_ES521),
    (SIG, 351, KEY_ALG_ES521),
    (SIG, 372, STRICT_BASE64URL),
    (SIG, 373, STRICT_BASE64URL),
    (ENC, 100, RSA1_5),
    (ENC, 101, RSA1_5),
    (ENC, 102, RSA1_5),
    (ENC, 103, RSA1_5),
    (ENC, 104, RSA1_5),
    (ENC, 105, RSA1_5),
    (ENC, 112, RSA1_5),
    (ENC, 128, RSA1_5),
    (
        ENC,
        135,
        "zip (DEFLATE) is refused on purpose as unsupported_enc: inflating attacker data is \
         a resource risk and a JWT rarely gains from it",
    ),
];

const EMPTY_PAYLOAD: &str = "empty payload segment: the JWS parser refuses it as malformed \
     before the signature (a JWT payload is never empty; the JWT layer would refuse it anyway)";
const KEY_ALG_PS256: &str = "the key's JWK alg is PS256 but the JWS alg is PS384 (RFC 7520 \
     figure 20 with an alg Wycheproof added to the key): the module enforces the JWK alg \
     (RFC 7517 section 4.4), so the key is no candidate (no_key)";
const KEY_ALG_ES521: &str = "the key's JWK alg is \"ES521\", not a JWA name (ES512 is): a JWK \
     with an unknown alg is refused at load (json_web_key_test.json tcId 19 calls the same \
     alg invalid)";
const STRICT_BASE64URL: &str = "a '?' inside a base64url segment: the module decodes strictly \
     (RFC 7515 section 2: no characters outside the alphabet) and refuses it as malformed";
const RSA1_5: &str = "RSA1_5 key management is refused on purpose (padding oracles): a JWK \
     with alg RSA1_5 is refused at load, and the token is refused as unsupported_enc by a key \
     without alg";

/// `invalid` vectors the core accepts today: (file, tcId, reason). Each needs a decision
/// (refuse, or document as deliberate), except the two byte-identical to a valid vector.
/// The mixed key sets (key tcId 1, crypto tcId 47) and the short HMAC keys (key tcIds 10, 11,
/// 12) are refused at load since the key rules: see `key_rules_refuse_these_vectors`.
const ACCEPTED_INVALID: &[(&str, u64, &str)] = &[(SIG, 367, SAME_AS_357), (SIG, 370, SAME_AS_357)];

const SAME_AS_357: &str = "byte-identical to tcId 357 (valid): the published file has lost \
     the padding this vector is about, so no verifier can refuse it and accept 357 (checked by \
     contradictory_vectors_are_identical)";
/// `invalid` key vectors whose key loads today and is kept on purpose: (file, tcId, reason).
/// The vector's JWS must still never verify.
const KEPT_AT_LOAD: &[(&str, u64, &str)] = &[(
    KEY,
    8,
    "RSA-1024 (rejects1024bitRsaKey) loads with a warning (shorter than 2048), like NGINX Plus; \
     the rule being added elsewhere refuses moduli shorter than 1024 bits only. Its JWS has an \
     empty payload and is refused as malformed; a token signed with the key would verify",
)];

/// `invalid` key vectors that key-loading rules being implemented in another branch (RSA
/// moduli shorter than 1024 bits, ROCA moduli) will refuse at load. The expectation is
/// "refused at load"; until those rules are merged a failure only prints a note. After the
/// merge, empty this list: the checks are then hard assertions.
const PENDING_KEY_RULES: &[(&str, u64, &str)] = &[];

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(DIR)
        .join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "Wycheproof vector file {} is missing ({e}); it belongs in core/{DIR} (copied from \
             C2SP/wycheproof testvectors_v1/)",
            path.display()
        )
    });
    let doc: Value =
        serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tests: usize = groups(&doc).iter().map(|g| tests(g).len()).sum();
    assert_eq!(
        doc["numberOfTests"].as_u64(),
        Some(tests as u64),
        "{name}: numberOfTests does not match the tests present"
    );
    doc
}

fn groups(doc: &Value) -> &Vec<Value> {
    doc["testGroups"].as_array().expect("testGroups")
}

fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().expect("tests")
}

fn listed(list: &'static [(&str, u64, &str)], file: &str, id: u64) -> Option<&'static str> {
    list.iter()
        .find(|(f, i, _)| *f == file && *i == id)
        .map(|(_, _, r)| *r)
}

/// The bytes of a `jws` / `jwe` member: a compact string as is, a JSON serialization (an
/// object) as its JSON text, which is what a client would send.
fn token_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        other => serde_json::to_vec(other).unwrap(),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Whether the payload (second segment of a compact JWS) decodes to a JSON object.
fn payload_is_object(token: &[u8]) -> bool {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let Ok(text) = std::str::from_utf8(token) else {
        return false;
    };
    let segs: Vec<&str> = text.split('.').collect();
    if segs.len() != 3 {
        return false;
    }
    URL_SAFE_NO_PAD
        .decode(segs[1])
        .ok()
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .is_some_and(|v| v.is_object())
}

#[derive(Default)]
struct Summary {
    valid_passed: usize,
    invalid_refused_at_load: usize,
    invalid_refused: usize,
    acceptable_accepted: usize,
    acceptable_refused: usize,
    out_of_scope: Vec<(u64, &'static str)>,
    accepted_invalid: Vec<(u64, &'static str)>,
    kept_at_load: Vec<(u64, &'static str)>,
    pending: Vec<(u64, &'static str)>,
    /// Status of each refusal of an invalid vector (the layer under test).
    statuses: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Summary {
    fn fail(&mut self, file: &str, id: u64, comment: &str, msg: String) {
        self.failures
            .push(format!("{file} tcId {id} ({comment}): {msg}"));
    }

    fn refused(&mut self, what: &str) {
        *self.statuses.entry(what.to_owned()).or_default() += 1;
    }

    fn report(&self, file: &str, total: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "== {file}: {total} tests");
        let _ = writeln!(s, "   valid passed:               {}", self.valid_passed);
        let _ = writeln!(
            s,
            "   invalid refused:            {} ({} of them at key load)",
            self.invalid_refused + self.invalid_refused_at_load,
            self.invalid_refused_at_load
        );
        let _ = writeln!(
            s,
            "   acceptable accepted/refused: {}/{}",
            self.acceptable_accepted, self.acceptable_refused
        );
        let _ = writeln!(s, "   refusals by status:         {:?}", self.statuses);
        for (title, list) in [
            (
                "out of scope (valid, refused on purpose)",
                &self.out_of_scope,
            ),
            (
                "ACCEPTED INVALID (needs a decision)",
                &self.accepted_invalid,
            ),
            (
                "invalid key kept at load (never verifies)",
                &self.kept_at_load,
            ),
            (
                "PENDING_KEY_RULES (note only, not yet refused)",
                &self.pending,
            ),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "   {title}: {}", list.len());
            for (id, why) in list {
                let _ = writeln!(s, "     tcId {id}: {why}");
            }
        }
        s
    }
}

fn status_of(r: &Rejection) -> String {
    r.status.as_str().to_owned()
}

/// What happened to one vector, before it is compared with the expected result.
enum Outcome {
    /// The key (set) was refused at load.
    KeyRefused(String),
    /// The layer under test refused the token (and the JWT layer too).
    Refused(String),
    /// The layer under test accepted the token.
    Accepted,
}

/// A JWS vector against one key set: signature layer, JWT layer and the reference verifier.
fn run_jws(
    file: &str,
    id: u64,
    comment: &str,
    keys: &KeySet,
    token: &[u8],
    sum: &mut Summary,
) -> Outcome {
    let sig = verify_jws(token, keys);
    let jwt = verify(token, keys, &V);
    let reference = verify_reference(token, keys, &V);
    match (&jwt, &reference) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) if a.status == b.status => {}
        _ => sum.fail(
            file,
            id,
            comment,
            format!("verify {jwt:?} and verify_reference {reference:?} disagree"),
        ),
    }
    // The JWT layer never accepts what the signature layer refuses.
    if let (Err(s), Ok(_)) = (&sig, &jwt) {
        sum.fail(
            file,
            id,
            comment,
            format!("verify accepts a token verify_jws refuses ({s})"),
        );
    }
    match sig {
        Ok(_) => {
            // The JWT layer: a payload that is not a JSON object is refused as malformed.
            if !payload_is_object(token) {
                match &jwt {
                    Err(r) if r.status == Status::Malformed => {}
                    other => sum.fail(
                        file,
                        id,
                        comment,
                        format!("payload is not a JSON object but verify answered {other:?}"),
                    ),
                }
            } else if let Err(r) = &jwt {
                sum.fail(
                    file,
                    id,
                    comment,
                    format!("signature verifies and the payload is an object, but verify: {r}"),
                );
            }
            Outcome::Accepted
        }
        Err(r) => Outcome::Refused(status_of(&r)),
    }
}

/// A JWE vector against one key set: [`decrypt`] (compared with `pt` when it succeeds) and
/// [`verify_typed`] (encrypted).
fn run_jwe(
    file: &str,
    id: u64,
    comment: &str,
    keys: &KeySet,
    token: &[u8],
    pt: Option<&str>,
    sum: &mut Summary,
) -> Outcome {
    let dec = decrypt(token, keys);
    let typed = verify_typed(token, keys, &V, TokenType::Encrypted);
    match dec {
        Ok(d) => {
            if let Some(pt) = pt {
                if d.plaintext != hex(pt) {
                    sum.fail(
                        file,
                        id,
                        comment,
                        "decrypted plaintext differs from pt".into(),
                    );
                }
            }
            let is_object = serde_json::from_slice::<Value>(&d.plaintext)
                .map(|v| v.is_object())
                .unwrap_or(false);
            match (&typed, is_object) {
                (Err(r), false) if r.status == Status::Malformed => {}
                (Ok(_), true) => {}
                (other, _) => sum.fail(
                    file,
                    id,
                    comment,
                    format!(
                        "decrypted (plaintext is an object: {is_object}) but verify_typed: \
                         {other:?}"
                    ),
                ),
            }
            Outcome::Accepted
        }
        Err(r) => {
            match &typed {
                Err(t) if t.status == r.status => {}
                other => sum.fail(
                    file,
                    id,
                    comment,
                    format!("decrypt refused ({r}) but verify_typed: {other:?}"),
                ),
            }
            Outcome::Refused(status_of(&r))
        }
    }
}

/// Load a JWK (wrapped as is: the core takes a single JWK or a JWKS).
fn load_keys(jwk: &Value, private: bool) -> Result<(KeySet, Vec<String>), String> {
    let data = serde_json::to_vec(jwk).unwrap();
    let r = if private {
        KeySet::parse_with_private(&data)
    } else {
        KeySet::parse(&data)
    };
    r.map_err(|e| e.to_string())
}

/// Compare an outcome with the vector's `result` and the lists; count it.
fn judge(file: &str, t: &Value, outcome: Outcome, sum: &mut Summary) {
    let id = t["tcId"].as_u64().unwrap();
    let comment = t["comment"].as_str().unwrap_or("");
    let result = t["result"].as_str().unwrap();
    let oos = listed(OUT_OF_SCOPE, file, id);
    let acc = listed(ACCEPTED_INVALID, file, id);
    let kept = listed(KEPT_AT_LOAD, file, id);
    let pending = listed(PENDING_KEY_RULES, file, id);
    match (result, &outcome) {
        ("valid", Outcome::Accepted) => {
            if oos.is_some() {
                sum.fail(
                    file,
                    id,
                    comment,
                    "listed in OUT_OF_SCOPE but passes".into(),
                );
            }
            sum.valid_passed += 1;
        }
        ("valid", Outcome::KeyRefused(why) | Outcome::Refused(why)) => match oos {
            Some(reason) => sum.out_of_scope.push((id, reason)),
            None => sum.fail(file, id, comment, format!("valid vector refused: {why}")),
        },
        ("invalid", Outcome::KeyRefused(why)) => {
            if acc.is_some() || kept.is_some() || pending.is_some() {
                sum.fail(
                    file,
                    id,
                    comment,
                    "listed as accepted / kept at load / pending, but the key is refused at \
                     load: remove it from the list"
                        .into(),
                );
            }
            sum.invalid_refused_at_load += 1;
            sum.refused(&format!("key refused at load: {why}"));
        }
        ("invalid", Outcome::Refused(why)) => {
            if let Some(reason) = pending {
                sum.pending.push((id, reason));
                eprintln!(
                    "NOTE (PENDING_KEY_RULES) {file} tcId {id} ({comment}): the key still loads \
                     (its token is refused: {why}); expected: refused at load"
                );
            } else if let Some(reason) = kept {
                sum.kept_at_load.push((id, reason));
            } else if acc.is_some() {
                sum.fail(
                    file,
                    id,
                    comment,
                    "listed in ACCEPTED_INVALID but refused".into(),
                );
            } else if key_vector(t) {
                sum.fail(
                    file,
                    id,
                    comment,
                    format!(
                        "invalid key loads (its token is refused: {why}): refuse it at load \
                         or list it in KEPT_AT_LOAD with the reason"
                    ),
                );
            }
            sum.invalid_refused += 1;
            sum.refused(&why.clone());
        }
        ("invalid", Outcome::Accepted) => {
            if let Some(reason) = pending {
                sum.pending.push((id, reason));
                eprintln!(
                    "NOTE (PENDING_KEY_RULES) {file} tcId {id} ({comment}): the key loads AND \
                     its token verifies; expected: refused at load"
                );
            } else if let Some(reason) = acc {
                sum.accepted_invalid.push((id, reason));
            } else {
                sum.fail(file, id, comment, "INVALID VECTOR ACCEPTED".into());
            }
        }
        ("acceptable", Outcome::Accepted) => sum.acceptable_accepted += 1,
        ("acceptable", _) => sum.acceptable_refused += 1,
        (other, _) => sum.fail(file, id, comment, format!("unknown result {other:?}")),
    }
}

/// Whether the vector tests a key (set) rather than a token: the key file, and the groups
/// of the crypto file that carry a key set or a key the file calls bad.
fn key_vector(t: &Value) -> bool {
    t["__key_vector"].as_bool() == Some(true)
}

/// The group's verification key set for a JWS vector: `public` if present, else `private`
/// (`oct` keys). A `keys` member makes it a JWKS; otherwise it is one JWK.
fn jws_group_key(group: &Value) -> &Value {
    group.get("public").unwrap_or(&group["private"])
}

fn run_file(file: &str) -> Summary {
    let doc = load(file);
    let mut sum = Summary::default();
    let mut total = 0;
    for group in groups(&doc) {
        for t in tests(group) {
            total += 1;
            let id = t["tcId"].as_u64().unwrap();
            let comment = t["comment"].as_str().unwrap_or("").to_owned();
            let mut t = t.clone();
            // A vector tests its key (set) when it comes from the key file or from a crypto
            // file group that carries a key set or the ROCA key, and no vector of the group
            // is valid (else the key set is fine and the vector tests its token).
            let key_group = file == KEY
                || jws_group_key(group).get("keys").is_some()
                || group["comment"] == "jws_rsa_roca_key";
            let group_has_valid = tests(group).iter().any(|t| t["result"] == "valid");
            t["__key_vector"] = Value::Bool(key_group && !group_has_valid);
            let outcome = if let Some(jws) = t.get("jws") {
                let token = token_bytes(jws);
                match load_keys(jws_group_key(group), false) {
                    Err(e) => Outcome::KeyRefused(e),
                    Ok((keys, _)) => run_jws(file, id, &comment, &keys, &token, &mut sum),
                }
            } else if let Some(jwe) = t.get("jwe") {
                let token = token_bytes(jwe);
                match load_keys(&group["private"], true) {
                    Err(e) => {
                        // The key is refused for its `alg` (RSA1_5): the token must also be
                        // refused by a key without that restriction.
                        let mut bare = group["private"].clone();
                        if let Some(m) = bare.as_object_mut() {
                            m.remove("alg");
                        }
                        if let Ok((keys, _)) = load_keys(&bare, true) {
                            match decrypt(&token, &keys) {
                                Err(r) if r.status == Status::UnsupportedEnc => {}
                                other => sum.fail(
                                    file,
                                    id,
                                    &comment,
                                    format!(
                                        "with the key without alg, decrypt answers {other:?} \
                                         (expected unsupported_enc)"
                                    ),
                                ),
                            }
                        }
                        Outcome::KeyRefused(e)
                    }
                    Ok((keys, _)) => run_jwe(
                        file,
                        id,
                        &comment,
                        &keys,
                        &token,
                        t.get("pt").and_then(Value::as_str),
                        &mut sum,
                    ),
                }
            } else {
                sum.fail(file, id, &comment, "neither jws nor jwe".into());
                continue;
            };
            judge(file, &t, outcome, &mut sum);
        }
    }
    // Every list entry for this file names a test of the file.
    for list in [
        OUT_OF_SCOPE,
        ACCEPTED_INVALID,
        KEPT_AT_LOAD,
        PENDING_KEY_RULES,
    ] {
        for (f, id, _) in list.iter().filter(|(f, _, _)| *f == file) {
            let found = groups(&doc)
                .iter()
                .flat_map(tests)
                .any(|t| t["tcId"].as_u64() == Some(*id));
            assert!(found, "{f} has no tcId {id}");
        }
    }
    eprintln!("{}", sum.report(file, total));
    sum
}

fn check(file: &str) {
    let sum = run_file(file);
    assert!(
        sum.failures.is_empty(),
        "{file}: {} failure(s):\n{}",
        sum.failures.len(),
        sum.failures.join("\n")
    );
}

#[test]
fn wycheproof_json_web_signature() {
    check(SIG);
}

#[test]
fn wycheproof_json_web_encryption() {
    check(ENC);
}

#[test]
fn wycheproof_json_web_key() {
    check(KEY);
}

#[test]
fn wycheproof_json_web_crypto() {
    check(CRYPTO);
}

/// tcIds 367 and 370 of the signature file are byte-identical to the valid tcId 357 (see
/// [`ACCEPTED_INVALID`]): if a later Wycheproof release fixes them, this fails and the list
/// entries go.
#[test]
fn contradictory_vectors_are_identical() {
    let doc = load(SIG);
    let jws = |id: u64| {
        groups(&doc)
            .iter()
            .flat_map(tests)
            .find(|t| t["tcId"].as_u64() == Some(id))
            .map(|t| t["jws"].clone())
            .unwrap()
    };
    assert_eq!(jws(367), jws(357));
    assert_eq!(jws(370), jws(357));
}

/// The key vectors the key rules refuse, with the rule: a JWKS mixing an `oct` signature key
/// with an asymmetric one (Wycheproof's MixedKeySet), and an HMAC key shorter than the hash
/// of its `alg` (RFC 7518 section 3.2). Each is refused by the strict parser with its own
/// message; the lenient one keeps the EC key of a mixed set and drops the `oct` key.
#[test]
fn key_rules_refuse_these_vectors() {
    let key = load(KEY);
    let crypto = load(CRYPTO);
    let group_of = |doc: &Value, id: u64| -> Value {
        groups(doc)
            .iter()
            .find(|g| tests(g).iter().any(|t| t["tcId"].as_u64() == Some(id)))
            .map(|g| jws_group_key(g).clone())
            .unwrap_or_else(|| panic!("no tcId {id}"))
    };
    let mixed = "a key set that holds public keys must not also hold secret (oct) keys";
    for (doc, id) in [(&key, 1), (&crypto, 47)] {
        let jwks = group_of(doc, id);
        let e = load_keys(&jwks, false).err().unwrap_or_default();
        assert!(e.contains(mixed), "tcId {id}: {e}");
        let data = serde_json::to_vec(&jwks).unwrap();
        let parsed = KeySet::parse_lenient(&data, false).unwrap();
        assert_eq!(parsed.refused.len(), 1, "tcId {id}");
        assert_eq!(parsed.set.len(), 1, "tcId {id}: the EC key is kept");
        assert!(parsed.refused[0].to_string().contains(mixed), "tcId {id}");
    }
    for (id, bytes, alg, needs) in [
        (10, 31, "HS256", 32),
        (11, 47, "HS384", 48),
        (12, 63, "HS512", 64),
    ] {
        let e = load_keys(&group_of(&key, id), false)
            .err()
            .unwrap_or_default();
        assert!(
            e.ends_with(&format!(
                "HMAC key of {bytes} bytes is refused: {alg} needs at least {needs} bytes \
                 (RFC 7518, section 3.2)"
            )),
            "tcId {id}: {e}"
        );
    }
}

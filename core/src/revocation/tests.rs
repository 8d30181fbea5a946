use std::collections::HashMap;

use super::*;

const NOW: i64 = 1_700_000_000;

fn parse(s: &str) -> RevocationList {
    RevocationList::parse(s.as_bytes(), NOW).unwrap()
}

fn err(s: &[u8]) -> RevocationError {
    RevocationList::parse(s, NOW).unwrap_err()
}

#[test]
fn is_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<RevocationList>();
    check::<RevocationError>();
}

#[test]
fn free_form_values() {
    let l = parse(
        r#"{"alice":"left","bob":true,"carol":null,"dave":1,"erin":[1,{"exp":1}],
            "frank":{"reason":"x","nested":{"a":[{}]}},"grace":{},"heidi":-2.5,"ivan":false}"#,
    );
    assert_eq!(l.len(), 9);
    for n in [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
    ] {
        assert!(l.contains(n, NOW), "{n}");
        assert!(l.contains(n, i64::MAX - 1), "{n} never expires");
    }
    assert!(!l.contains("mallory", NOW));
    assert!(!l.contains("Alice", NOW));
    assert!(!l.contains("alice ", NOW));
    assert!(!l.contains("", NOW));
}

#[test]
fn exact_byte_match_after_unescaping() {
    let l = parse(r#"{"\u0061b":1,"caf\u00e9":1,"":1,"a\"b\\c":1,"\ud83d\ude00":1}"#);
    assert_eq!(l.len(), 5);
    assert!(l.contains("ab", NOW));
    assert!(l.contains("café", NOW));
    assert!(l.contains("", NOW));
    assert!(l.contains("a\"b\\c", NOW));
    assert!(l.contains("😀", NOW));
    assert!(!l.contains("cafe", NOW));
    // Unicode normalization is not applied: e + combining acute is another name.
    assert!(!l.contains("cafe\u{301}", NOW));
}

#[test]
fn empty_object() {
    for s in ["{}", " {  } \n", "\u{feff}"] {
        if s.starts_with('\u{feff}') {
            // A byte order mark is not JSON.
            assert!(matches!(err(s.as_bytes()), RevocationError::Json { .. }));
            continue;
        }
        let l = parse(s);
        assert!(l.is_empty());
        assert_eq!(l.len(), 0);
        assert!(!l.contains("", NOW));
        assert!(!l.contains("x", NOW));
    }
    let d = RevocationList::default();
    assert!(d.is_empty() && !d.contains("x", NOW));
}

#[test]
fn empty_file() {
    for s in ["", " ", "\n\t\r\n"] {
        assert_eq!(err(s.as_bytes()), RevocationError::Empty);
    }
    assert_eq!(
        RevocationError::Empty.to_string(),
        "empty file (expected a JSON object, e.g. {})"
    );
}

#[test]
fn non_object_top_level() {
    for s in [
        "[]",
        "[\"alice\"]",
        "[1,",
        "\"alice\"",
        "12",
        "-1.5",
        "true",
        "null",
    ] {
        assert_eq!(err(s.as_bytes()), RevocationError::NotObject, "{s}");
    }
    assert_eq!(RevocationError::NotObject.to_string(), "not a JSON object");
}

#[test]
fn broken_json() {
    let cases: &[(&[u8], usize, usize)] = &[
        (b"{", 1, 1),
        (b"{\"a\":1,}", 1, 8),
        (b"{\"a\":1} x", 1, 9),
        (b"{\"a\":1}{}", 1, 8),
        (b"{\"a\" 1}", 1, 6),
        (b"{a:1}", 1, 2),
        (b"{\"a\":1,\n\"b\":}", 2, 5),
        (b"{\"a\":'x'}", 1, 6),
        (b"{\"a\":1e400}", 1, 10),
        (b"{\"a\":{\"exp\":1e400}}", 1, 17),
        (b"{\"a\":\"\\ud800\"}", 1, 13),
        (b"{\"a\":1 // comment\n}", 1, 8),
    ];
    for (s, line, column) in cases {
        match err(s) {
            RevocationError::Json {
                line: l,
                column: c,
                reason,
            } => {
                assert_eq!((l, c), (*line, *column), "{}", String::from_utf8_lossy(s));
                assert!(!reason.is_empty() && !reason.contains(" at line "));
            }
            e => panic!("{e:?} for {}", String::from_utf8_lossy(s)),
        }
    }
    let e = err(b"{\"a\":1,}");
    assert_eq!(
        e.to_string(),
        "invalid JSON at line 1 column 8: trailing comma"
    );
}

#[test]
fn non_utf8() {
    for s in [
        &b"{\"a\xff\":1}"[..],
        b"{\"a\":\"\xc3\"}",
        b"{\"a\":{\"x\":\"\xed\xa0\x80\"}}",
        b"\xff{}",
    ] {
        assert!(
            matches!(err(s), RevocationError::Json { .. }),
            "{:?}",
            err(s)
        );
    }
    let e = err(b"{\"a\xff\":1}").to_string();
    assert!(e.starts_with("invalid JSON at line 1 column "), "{e}");
}

#[test]
fn duplicate_names() {
    let l = parse(r#"{"a":1,"a":2,"\u0061":{"x":1},"b":1}"#);
    assert_eq!(l.len(), 2);
    assert!(l.contains("a", NOW));
    // Expiries of repeated names: the entry lasts as long as its longest-lived occurrence.
    let l = parse(&format!(
        r#"{{"a":{{"exp":{p}}},"a":{{"exp":{f}}},"b":{{"exp":{f}}},"b":"forever",
            "c":{{"exp":{p}}},"c":{{"exp":{p2}}},"d":{{"exp":{f2}}},"d":{{"exp":{f}}}}}"#,
        p = NOW - 10,
        p2 = NOW - 5,
        f = NOW + 10,
        f2 = NOW + 20,
    ));
    assert_eq!(l.len(), 3);
    assert!(l.contains("a", NOW + 9) && !l.contains("a", NOW + 10));
    assert!(l.contains("b", NOW + 1000));
    assert!(!l.contains("c", NOW - 100));
    assert!(l.contains("d", NOW + 19) && !l.contains("d", NOW + 20));
}

#[test]
fn jti_exp() {
    let l = parse(&format!(
        r#"{{"past":{{"exp":{past}}},"now":{{"exp":{NOW}}},"future":{{"exp":{future}}},
            "frac":{{"exp":{frac}}},"neg":{{"exp":-1}},"huge":{{"exp":18446744073709551615}},
            "str":{{"exp":"{past}"}},"null":{{"exp":null}},"bool":{{"exp":false}},
            "arr":{{"exp":[{past}]}},"obj":{{"exp":{{"exp":{past}}}}},
            "inarray":[{{"exp":{past}}}],"deeper":{{"x":{{"exp":{past}}}}},
            "other":{{"reason":"r","EXP":{past}}},"twice":{{"exp":{past},"exp":{future}}},
            "twice_str":{{"exp":{future},"exp":"x"}},"esc":{{"\u0065xp":{past}}},
            "big":{{"exp":1e300}},"float":{{"exp":{future}.0}}}}"#,
        past = NOW - 1,
        future = NOW + 100,
        frac = NOW as f64 + 0.5,
    ));
    // Dropped at parse time: exp <= now.
    for n in ["past", "now", "neg", "esc"] {
        assert!(!l.contains(n, NOW), "{n}");
        assert!(
            !l.contains(n, NOW - 1_000_000),
            "{n} was dropped, not just expired"
        );
    }
    assert_eq!(l.len(), 15);
    // A future exp: revoked until it is reached.
    for n in ["future", "twice", "float"] {
        assert!(l.contains(n, NOW), "{n}");
        assert!(l.contains(n, NOW + 99), "{n}");
        assert!(!l.contains(n, NOW + 100), "{n}");
        assert!(!l.contains(n, NOW + 101), "{n}");
    }
    // Fractional exp rounds up: still revoked at NOW (NOW < NOW + 0.5), not at NOW + 1.
    assert!(l.contains("frac", NOW) && !l.contains("frac", NOW + 1));
    // Non-numeric exp, exp not directly in the member's object, exp beyond i64: no expiry.
    for n in [
        "huge",
        "str",
        "null",
        "bool",
        "arr",
        "obj",
        "inarray",
        "deeper",
        "other",
        "twice_str",
        "big",
    ] {
        assert!(l.contains(n, NOW), "{n}");
        assert!(l.contains(n, i64::MAX - 1), "{n} never expires");
    }
}

#[test]
fn all_expired() {
    let l = parse(r#"{"a":{"exp":1},"b":{"exp":2}}"#);
    assert!(l.is_empty());
    assert!(!l.contains("a", 0));
}

#[test]
fn nesting_is_bounded() {
    // Exactly at the limit: the top-level object is level 1.
    let ok = format!(
        r#"{{"a":{}{}}}"#,
        "[".repeat(MAX_JSON_DEPTH - 1),
        "]".repeat(MAX_JSON_DEPTH - 1)
    );
    assert!(parse(&ok).contains("a", NOW));
    let ok_obj = format!(
        r#"{{"a":{}1{}}}"#,
        r#"{"exp":"#.repeat(MAX_JSON_DEPTH - 1),
        "}".repeat(MAX_JSON_DEPTH - 1)
    );
    assert!(parse(&ok_obj).contains("a", NOW));
    let deep = format!(
        r#"{{"a":{}{}}}"#,
        "[".repeat(MAX_JSON_DEPTH),
        "]".repeat(MAX_JSON_DEPTH)
    );
    assert!(matches!(
        err(deep.as_bytes()),
        RevocationError::TooDeep { line: 1, .. }
    ));
    for open in ["[", r#"{"x":"#, r#"{"exp":"#, r#"[{"exp":"#] {
        let huge = format!(r#"{{"ok":1,"a":{}"#, open.repeat(100_000));
        let e = err(huge.as_bytes());
        assert!(
            matches!(e, RevocationError::TooDeep { .. }),
            "{open}: {e:?}"
        );
        // Balanced too.
        let close = match open {
            "[" => "]",
            r#"[{"exp":"# => "}]",
            _ => "}",
        };
        let balanced = format!(
            r#"{{"a":{}0{}}}"#,
            open.repeat(100_000),
            close.repeat(100_000)
        );
        assert!(matches!(
            err(balanced.as_bytes()),
            RevocationError::TooDeep { .. }
        ));
    }
    assert_eq!(
        err(deep.as_bytes()).to_string(),
        format!(
            "too deeply nested (more than {MAX_JSON_DEPTH} levels) at line 1 column {}",
            6 + MAX_JSON_DEPTH
        )
    );
}

#[test]
fn heap_size_and_debug() {
    let l = parse(r#"{"abc":1,"de":{"exp":9999999999}}"#);
    // Two records (4-byte word + name, + 8 for the expiry) and 4 slots.
    assert_eq!(l.heap_size(), (4 + 3) + (4 + 2 + 8) + 4 * 8);
    let no_exp = parse(r#"{"abc":1,"de":2}"#);
    assert_eq!(no_exp.heap_size(), (4 + 3) + (4 + 2) + 4 * 8);
    assert_eq!(
        format!("{l:?}"),
        "RevocationList { len: 2, heap_size: 53, .. }"
    );
}

/// A tiny deterministic generator (no dev-dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn name(&mut self) -> String {
        const ALPHABET: &[char] = &['a', 'b', 'c', 'Z', '0', '-', '"', '\\', 'é', '😀', '\n'];
        let len = self.below(6);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
}

/// `contains` agrees with a reference `HashMap` (name -> latest expiry, `None`: never) for
/// random lists with duplicates, expiries around `now`, escapes and multi-byte characters,
/// probing every listed name and random other names at several times.
#[test]
fn matches_reference_hash_map() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..300 {
        let size = match round % 3 {
            0 => rng.below(8),
            1 => rng.below(100),
            _ => rng.below(2000),
        };
        let mut reference: HashMap<String, Option<i64>> = HashMap::new();
        let mut json = String::from("{");
        for i in 0..size {
            let name = rng.name();
            let (value, exp) = match rng.below(6) {
                0 => ("1".to_string(), None),
                1 => ("{\"why\":[1,2]}".to_string(), None),
                2 => ("{\"exp\":\"soon\"}".to_string(), None),
                _ => {
                    let exp = NOW + rng.below(21) as i64 - 10;
                    (format!("{{\"r\":null,\"exp\":{exp}}}"), Some(exp))
                }
            };
            if i > 0 {
                json.push(',');
            }
            json.push_str(&serde_json::to_string(&name).unwrap());
            json.push(':');
            json.push_str(&value);
            if exp.is_some_and(|e| e <= NOW) {
                continue; // dropped at parse time
            }
            reference
                .entry(name)
                .and_modify(|old| {
                    *old = match (*old, exp) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    }
                })
                .or_insert(exp);
        }
        json.push('}');
        let list = RevocationList::parse(json.as_bytes(), NOW).unwrap();
        assert_eq!(list.len(), reference.len(), "{json}");
        let mut probes: Vec<String> = reference.keys().cloned().collect();
        probes.extend((0..200).map(|_| rng.name()));
        for now in [NOW - 20, NOW, NOW + 1, NOW + 5, NOW + 11] {
            for p in &probes {
                let expected = match reference.get(p) {
                    None => false,
                    Some(None) => true,
                    Some(Some(exp)) => *exp > now,
                };
                assert_eq!(list.contains(p, now), expected, "{p:?} at {now} in {json}");
            }
        }
    }
}

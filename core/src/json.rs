//! Strict JSON parsing for token headers, payloads and key files.
//!
//! `serde_json` alone is too lenient for security decisions: when an object
//! repeats a member name it silently keeps the last one, so two parties can
//! read different values from the same token. RFC 7515 §4 lets a JWS
//! implementation *reject* such input, which is what this parser does:
//! a duplicate member name anywhere in the document is an error — never
//! "last wins", never "first wins".
//!
//! The parser also bounds nesting to [`MAX_JSON_DEPTH`] arrays/objects (the
//! visitor counts depth itself and stops before recursing further, so even
//! thousands of `[` cannot exhaust the stack; `serde_json`'s own limit of 128
//! applies too) and requires valid UTF-8 (enforced by `serde_json`).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::limits::MAX_JSON_DEPTH;

/// What made a document unacceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Not JSON (syntax, trailing data, bad UTF-8, number out of range ...).
    Syntax,
    /// An object repeats a member name.
    Duplicate,
    /// Nesting deeper than [`MAX_JSON_DEPTH`].
    TooDeep,
    /// Valid JSON, but the top level is not an object.
    NotObject,
}

/// A strict-parse failure; `Display` is meant for operators (key files), never
/// for logging token content.
#[derive(Debug)]
pub(crate) struct JsonError {
    pub(crate) fault: Fault,
    source: Option<serde_json::Error>,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fault {
            Fault::Duplicate => f.write_str("duplicate member name")?,
            Fault::TooDeep => write!(f, "nested deeper than {MAX_JSON_DEPTH} levels")?,
            Fault::NotObject => f.write_str("not a JSON object")?,
            Fault::Syntax => f.write_str("invalid JSON")?,
        }
        if let Some(e) = &self.source {
            write!(f, " ({e})")?;
        }
        Ok(())
    }
}

/// Parse a complete document into a `Value`, strictly.
pub(crate) fn parse_value(bytes: &[u8]) -> Result<Value, JsonError> {
    let fault = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = Seed {
        depth: 1,
        fault: &fault,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    result.map_err(|e| JsonError {
        fault: fault.get().unwrap_or(Fault::Syntax),
        source: Some(e),
    })
}

/// Parse a complete document that must be a JSON object.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes)? {
        Value::Object(m) => Ok(m),
        _ => Err(JsonError {
            fault: Fault::NotObject,
            source: None,
        }),
    }
}

/// Checks a complete document exactly as [`parse_object`] does (the same input gives the same
/// [`Fault`]) without building it, and returns the values of the named top-level members
/// (`None`: absent). A token's header and payload are checked this way on every request; the
/// whole object is built only when a variable asks for it.
pub(crate) fn scan_object<const N: usize>(
    text: &str,
    names: &[&str; N],
) -> Result<[Option<Value>; N], JsonError> {
    if let Some(values) = scan_flat(text.as_bytes(), names) {
        return Ok(values);
    }
    let fault = Cell::new(None);
    // From text (UTF-8 checked once by the caller): serde_json does not check each string again.
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Top {
        names,
        fault: &fault,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match result {
        Ok(Some(values)) => Ok(values),
        Ok(None) => Err(JsonError {
            fault: Fault::NotObject,
            source: None,
        }),
        Err(e) => Err(JsonError {
            fault: fault.get().unwrap_or(Fault::Syntax),
            source: Some(e),
        }),
    }
}

/// [`scan_object`]'s fast path for the objects tokens usually carry: one flat object whose
/// members are strings without escapes or control characters, integers from 0 to 10^18 - 1,
/// `true`, `false` or `null`, at most [`Names::FEW`] of them. It answers only when the input
/// is entirely of that form and has no duplicate name (then [`scan_object`]'s checks pass,
/// with the same values); for anything else (nesting, escapes, other numbers, an error of any
/// kind) it answers `None` and the full parser decides, so it can never accept what the full
/// parser refuses nor refuse anything itself.
fn scan_flat<const N: usize>(b: &[u8], names: &[&str; N]) -> Option<[Option<Value>; N]> {
    fn ws(b: &[u8], mut i: usize) -> usize {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
            i = i.wrapping_add(1);
        }
        i
    }
    /// A string without escapes starting at the quote at `i`: its contents and the index after
    /// the closing quote. The text is valid UTF-8, so bytes from 0x80 are parts of characters.
    fn string(b: &[u8], i: usize) -> Option<(&[u8], usize)> {
        let start = i.checked_add(1)?;
        let rest = b.get(start..)?;
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        Some((rest.get(..len)?, start.checked_add(len)?.checked_add(1)?))
    }
    let mut out: [Option<Value>; N] = std::array::from_fn(|_| None);
    let mut seen: [&[u8]; Names::FEW] = [&[]; Names::FEW];
    let mut count = 0usize;
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(b, i.checked_add(1)?);
    if b.get(i) == Some(&b'}') {
        i = i.checked_add(1)?;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (name, next) = string(b, i)?;
            if seen.get(..count)?.contains(&name) {
                return None;
            }
            *seen.get_mut(count)? = name;
            count = count.checked_add(1)?;
            i = ws(b, next);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = ws(b, i.checked_add(1)?);
            let (value, next) = match b.get(i)? {
                b'"' => {
                    let (v, next) = string(b, i)?;
                    (Value::String(std::str::from_utf8(v).ok()?.to_owned()), next)
                }
                b'0'..=b'9' => {
                    let digits = b
                        .get(i..)?
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    let end = i.checked_add(digits)?;
                    // A leading zero only alone; no fraction or exponent; at most 18 digits.
                    if digits > 18
                        || (digits > 1 && b.get(i) == Some(&b'0'))
                        || matches!(b.get(end), Some(b'.' | b'e' | b'E'))
                    {
                        return None;
                    }
                    let n = b.get(i..end)?.iter().fold(0u64, |n, c| {
                        n.wrapping_mul(10)
                            .wrapping_add(u64::from(c.wrapping_sub(b'0')))
                    });
                    (Value::Number(n.into()), end)
                }
                b't' if b.get(i..)?.starts_with(b"true") => (Value::Bool(true), i.checked_add(4)?),
                b'f' if b.get(i..)?.starts_with(b"false") => {
                    (Value::Bool(false), i.checked_add(5)?)
                }
                b'n' if b.get(i..)?.starts_with(b"null") => (Value::Null, i.checked_add(4)?),
                _ => return None,
            };
            // A literal must end where the grammar allows (`truex` is not `true`).
            if !matches!(
                b.get(next),
                Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}')
            ) {
                return None;
            }
            if let Some(slot) = names
                .iter()
                .position(|n| n.as_bytes() == name)
                .and_then(|k| out.get_mut(k))
            {
                *slot = Some(value);
            }
            i = ws(b, next);
            match b.get(i)? {
                b',' => i = ws(b, i.checked_add(1)?),
                b'}' => {
                    i = i.checked_add(1)?;
                    break;
                }
                _ => return None,
            }
        }
    }
    (ws(b, i) == b.len()).then_some(out)
}

/// [`scan_object`]'s seed for the top level: `Some(values)` for an object, `None` for any other
/// valid JSON value (which is checked all the same, so that the fault is the one
/// [`parse_object`] reports).
struct Top<'a, const N: usize> {
    names: &'a [&'a str; N],
    fault: &'a Cell<Option<Fault>>,
}

impl<'de, const N: usize> DeserializeSeed<'de> for Top<'_, N> {
    type Value = Option<[Option<Value>; N]>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Top<'_, N> {
    type Value = Option<[Option<Value>; N]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.skip().visit_f64(v).map(|()| None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.skip().visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let child = self.skip().enter()?;
        let mut out: [Option<Value>; N] = std::array::from_fn(|_| None);
        let mut seen = Names::default();
        while let Some(key) = map.next_key_seed(NameSeed)? {
            let wanted = self.names.iter().position(|n| *n == key);
            if !seen.insert(key) {
                // Rejected, never "last wins": see the module documentation.
                self.fault.set(Some(Fault::Duplicate));
                return Err(A::Error::custom("duplicate member name"));
            }
            match wanted.and_then(|i| out.get_mut(i)) {
                Some(slot) => *slot = Some(map.next_value_seed(child.0)?),
                None => map.next_value_seed(child)?,
            }
        }
        Ok(Some(out))
    }
}

impl<const N: usize> Top<'_, N> {
    fn skip(&self) -> Skip<'_> {
        Skip(Seed {
            depth: 1,
            fault: self.fault,
        })
    }
}

/// Checks a value as [`Seed`] does (same depth and fault tracking), building nothing.
#[derive(Clone, Copy)]
struct Skip<'a>(Seed<'a>);

impl Skip<'_> {
    fn enter<E: serde::de::Error>(self) -> Result<Self, E> {
        self.0.enter().map(Skip)
    }
}

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // As `Seed`: a number `Value` cannot hold is refused.
        Number::from_f64(v)
            .map(|_| ())
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let child = self.enter()?;
        while seq.next_element_seed(child)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let child = self.enter()?;
        let mut seen = Names::default();
        while let Some(key) = map.next_key_seed(NameSeed)? {
            if !seen.insert(key) {
                // Rejected, never "last wins": see the module documentation.
                self.0.fault.set(Some(Fault::Duplicate));
                return Err(A::Error::custom("duplicate member name"));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

/// The member names of one object seen so far: a short list while the object is small, a hash
/// set (SipHash, randomly keyed: no quadratic work on a crafted token) beyond that.
struct Names<'de> {
    /// The first names, while every one of them is borrowed from the input (no escapes).
    few: [&'de str; Names::FEW],
    len: usize,
    /// Every name, once there are more than [`Names::FEW`] or one had escapes.
    many: Option<HashSet<Cow<'de, str>>>,
}

impl Default for Names<'_> {
    fn default() -> Self {
        Names {
            few: [""; Names::FEW],
            len: 0,
            many: None,
        }
    }
}

impl<'de> Names<'de> {
    const FEW: usize = 16;

    /// False if `name` was seen before.
    fn insert(&mut self, name: Cow<'de, str>) -> bool {
        let Names { few, len, many } = self;
        if let (None, Cow::Borrowed(b)) = (&many, &name) {
            if few.get(..*len).unwrap_or_default().contains(b) {
                return false;
            }
            if let Some(slot) = few.get_mut(*len) {
                *slot = b;
                *len = len.saturating_add(1);
                return true;
            }
        }
        many.get_or_insert_with(|| {
            few.get(..*len)
                .unwrap_or_default()
                .iter()
                .map(|n| Cow::Borrowed(*n))
                .collect()
        })
        .insert(name)
    }
}

/// A member name, borrowed from the input when it has no escapes.
pub(crate) struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Deserialization seed building a `serde_json::Value`, tracking depth and
/// refusing duplicate member names. `depth` is the nesting level the value
/// being read would have if it is an array or object (top level = 1).
#[derive(Clone, Copy)]
struct Seed<'a> {
    depth: usize,
    fault: &'a Cell<Option<Fault>>,
}

impl Seed<'_> {
    fn enter<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth > MAX_JSON_DEPTH {
            self.fault.set(Some(Fault::TooDeep));
            return Err(E::custom("JSON nested too deeply"));
        }
        Ok(Seed {
            depth: self.depth.saturating_add(1),
            fault: self.fault,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(child)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                // Rejected, never "last wins": see the module documentation.
                self.fault.set(Some(Fault::Duplicate));
                return Err(A::Error::custom("duplicate member name"));
            }
            let value = map.next_value_seed(child)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(s: &str) -> Option<Fault> {
        parse_object(s.as_bytes()).err().map(|e| e.fault)
    }

    #[test]
    fn accepts_plain_objects() {
        let m = parse_object(br#" {"a":1,"b":[true,null,"x",1.5,-3],"c":{"d":{}}} "#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m["b"][3], serde_json::json!(1.5));
    }

    #[test]
    fn rejects_duplicates_anywhere() {
        assert_eq!(fault(r#"{"a":1,"a":1}"#), Some(Fault::Duplicate));
        assert_eq!(
            fault(r#"{"x":{"a":1,"b":2,"a":3}}"#),
            Some(Fault::Duplicate)
        );
        assert_eq!(
            fault(r#"{"x":[{"a":1,"\u0061":2}]}"#),
            Some(Fault::Duplicate)
        );
        // Same name in different objects is fine.
        assert_eq!(fault(r#"{"a":{"a":{"a":1}}}"#), None);
    }

    #[test]
    fn depth_limit() {
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(parse_value(ok.as_bytes()).is_ok());
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        assert_eq!(
            parse_value(deep.as_bytes()).unwrap_err().fault,
            Fault::TooDeep
        );
        let huge = format!(r#"{{"a":{}}}"#, "[".repeat(100_000));
        assert_eq!(fault(&huge), Some(Fault::TooDeep));
        let objs = format!(r#"{}1{}"#, r#"{"a":"#.repeat(40), "}".repeat(40));
        assert_eq!(fault(&objs), Some(Fault::TooDeep));
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        assert_eq!(fault("[]"), Some(Fault::NotObject));
        assert_eq!(fault("\"x\""), Some(Fault::NotObject));
        assert_eq!(fault("{} x"), Some(Fault::Syntax));
        assert_eq!(fault("{\"a\":1,}"), Some(Fault::Syntax));
        assert_eq!(fault(""), Some(Fault::Syntax));
        assert_eq!(fault("{\"a\":\"\\ud800\"}"), Some(Fault::Syntax));
        assert!(parse_object(b"{\"a\":\"\xff\"}").is_err());
        assert!(parse_object(b"{\"a\":1e400}").is_err());
    }

    /// `scan_object` refuses exactly what `parse_object` refuses, with the same fault, and
    /// returns the same member values.
    #[test]
    fn scan_matches_parse() {
        let many: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
        let deep_ok = format!(
            r#"{{"a":{}{}}}"#,
            "[".repeat(MAX_JSON_DEPTH - 1),
            "]".repeat(MAX_JSON_DEPTH - 1)
        );
        let deep = format!(
            r#"{{"a":{}{}}}"#,
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        let cases: Vec<Vec<u8>> = [
            r#"{"alg":"RS256","kid":"k","x":{"y":[1,2,{"z":null}]}}"#.to_string(),
            r#" {"exp":1e3,"nbf":-5,"sub":"\u00e9"} "#.to_string(),
            r#"{"exp":18446744073709551615,"nbf":-9223372036854775808}"#.to_string(),
            r#"{"a":1,"a":1}"#.to_string(),
            r#"{"a":1,"\u0061":2}"#.to_string(),
            r#"{"x":{"a":1,"b":2,"a":3}}"#.to_string(),
            r#"{"x":[{"a":1,"\u0061":2}]}"#.to_string(),
            r#"{"a":{"a":{"a":1}}}"#.to_string(),
            format!("{{{many}\"k7\":1}}"),
            format!("{{{many}\"z\":1}}"),
            format!("{{\"o\":{{{many}\"k39\":1}}}}"),
            deep_ok,
            deep,
            format!(r#"{{"a":{}}}"#, "[".repeat(100_000)),
            "[]".into(),
            "[1e400]".into(),
            "\"x\"".into(),
            "\"x\" y".into(),
            "{} x".into(),
            "{\"a\":1,}".into(),
            "".into(),
            "{\"a\":\"\\ud800\"}".into(),
            "{\"a\":1e400}".into(),
            "{\"exp\":1e400}".into(),
            "{\"exp\":\"1\",\"nbf\":[1,{}]}".into(),
            "null".into(),
            "true".into(),
            "12".into(),
            "-1.5".into(),
        ]
        .into_iter()
        .map(String::into_bytes)
        .chain([b"{\"a\":\"\xff\"}".to_vec(), b"{\"\xff\":1}".to_vec()])
        .collect();
        for c in &cases {
            let parsed = parse_object(c).map_err(|e| e.fault);
            let scanned = std::str::from_utf8(c)
                .map_err(|_| Fault::Syntax)
                .and_then(|c| {
                    scan_object(c, &["exp", "nbf", "alg", "k7", "a"]).map_err(|e| e.fault)
                });
            match (&parsed, &scanned) {
                (Ok(m), Ok(v)) => {
                    for (name, got) in ["exp", "nbf", "alg", "k7", "a"].iter().zip(v) {
                        assert_eq!(m.get(*name), got.as_ref(), "{name} of {c:?}");
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(c)),
                _ => panic!(
                    "parse {:?} / scan {:?} for {}",
                    parsed.is_ok(),
                    scanned.is_ok(),
                    String::from_utf8_lossy(c)
                ),
            }
        }
    }

    /// The fast path answers only for inputs the full parser accepts, with the same values:
    /// random flat objects, each also mutated (one byte changed, inserted or removed).
    #[test]
    fn the_flat_fast_path_agrees_with_the_full_parser() {
        let mut s: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let atoms = [
            "\"exp\"",
            "\"nbf\"",
            "\"alg\"",
            "\"a\"",
            "\"k7\"",
            "\"\"",
            "\"\u{e9}t\u{e9}\"",
            "0",
            "7",
            "1700000000",
            "999999999999999999",
            "1000000000000000000",
            "01",
            "-1",
            "1.5",
            "1e3",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "{}",
            "[]",
            "\"x\\\"y\"",
            "\"\\u0061\"",
            " ",
            "\t",
            "\n",
            ",",
            ":",
        ];
        let names = ["exp", "nbf", "alg", "k7", "a"];
        let mut answered = 0;
        for _ in 0..20_000 {
            let members = (next() % 6) as usize;
            let mut text = String::from("{");
            for m in 0..members {
                if m > 0 {
                    text.push(',');
                }
                text.push_str(atoms[(next() % 7) as usize]);
                text.push(':');
                text.push_str(atoms[(next() % atoms.len() as u64) as usize]);
            }
            text.push('}');
            let mut variants = vec![text.clone().into_bytes()];
            let mut b = text.into_bytes();
            let at = (next() as usize) % b.len();
            match next() % 3 {
                0 => b[at] = next() as u8,
                1 => b.insert(at, next() as u8),
                _ => {
                    b.remove(at);
                }
            }
            variants.push(b);
            for v in variants {
                let Ok(text) = std::str::from_utf8(&v) else {
                    continue;
                };
                if let Some(fast) = scan_flat(text.as_bytes(), &names) {
                    answered += 1;
                    let full = parse_object(&v).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                    for (name, got) in names.iter().zip(&fast) {
                        assert_eq!(full.get(*name), got.as_ref(), "{name} of {text:?}");
                    }
                }
            }
        }
        assert!(
            answered > 5_000,
            "the fast path answered only {answered} times"
        );
    }
}

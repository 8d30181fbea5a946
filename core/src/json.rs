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

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::MAX_JSON_DEPTH;

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
}

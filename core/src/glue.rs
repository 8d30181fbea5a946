//! Pure helpers of the nginx glue (the module crate cannot be unit-tested: its statics
//! reference nginx symbols). Nothing here knows nginx types.

use std::collections::HashMap;
use std::hash::Hash;

use serde_json::{Map, Value};

/// A client-sent path for a log line: control characters, `"`, `\` and non-ASCII bytes are
/// written as `\xHH`, so the line stays one line and quotes stay balanced.
pub fn escape_for_log(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02X}"));
        }
    }
    s
}

/// Control characters other than horizontal tab (CR, LF, NUL, DEL, ...): a value holding one
/// would split a header it is written into.
pub fn has_control(b: &[u8]) -> bool {
    b.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
}

/// nginx lowercases variable names, so `$jwt_claim_userId` asks for "userid": an exact match
/// wins, otherwise the first member (in the order sent) equal to it ignoring ASCII case.
pub fn find_member<'a>(map: &'a Map<String, Value>, key: &[u8]) -> Option<&'a Value> {
    let key = std::str::from_utf8(key).ok()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// `zone=name:size` of `auth_jwt_cache`, after `zone=`: the name and, when given, the size
/// text (`zone=name` alone names a zone declared with a size elsewhere).
pub fn split_zone(value: &[u8]) -> (&[u8], Option<&[u8]>) {
    match value.iter().position(|&b| b == b':') {
        None => (value, None),
        Some(i) => (
            value.get(..i).unwrap_or_default(),
            value.get(i.saturating_add(1)..),
        ),
    }
}

/// A per-worker map of at most `capacity` entries: inserting a new key into a full map first
/// removes the entry with the smallest `age` (the least recently checked or fetched).
pub struct BoundedMap<K, V> {
    map: HashMap<K, V>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> BoundedMap<K, V> {
    /// An empty map that holds at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        BoundedMap {
            map: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The entry of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// The entry of `key`, to change in place.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Makes room for `key` if it is new and the map is full.
    fn make_room<A: Ord>(&mut self, key: &K, age: impl Fn(&V) -> A) {
        if self.map.len() >= self.capacity && !self.map.contains_key(key) {
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, v)| age(v))
                .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
            }
        }
    }

    /// Inserts or replaces the entry of `key`, evicting by `age` when full.
    pub fn insert<A: Ord>(&mut self, key: K, value: V, age: impl Fn(&V) -> A) {
        self.make_room(&key, age);
        self.map.insert(key, value);
    }

    /// The entry of `key`, created with `make` (evicting by `age` when full) if missing.
    pub fn entry_or_insert_with<A: Ord>(
        &mut self,
        key: K,
        age: impl Fn(&V) -> A,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        self.make_room(&key, age);
        self.map.entry(key).or_insert_with(make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escape_for_log_keeps_one_line() {
        assert_eq!(escape_for_log(b"/a b"), "/a b");
        assert_eq!(
            escape_for_log(b"/\r\n\"\\\x7f\xc3"),
            "/\\x0D\\x0A\\x22\\x5C\\x7F\\xC3"
        );
    }

    #[test]
    fn has_control_spares_tab_only() {
        assert!(!has_control(b"a\tb \xc3\xa9"));
        for c in [0u8, b'\r', b'\n', 0x1f, 0x7f] {
            assert!(has_control(&[b'a', c]), "{c:#x}");
        }
    }

    #[test]
    fn find_member_prefers_exact_then_ascii_case() {
        let v = json!({"userId": 1, "userid": 2, "Role": "x"});
        let m = v.as_object().unwrap();
        assert_eq!(find_member(m, b"userid"), Some(&json!(2)));
        assert_eq!(find_member(m, b"role"), Some(&json!("x")));
        assert_eq!(find_member(m, b"nope"), None);
        assert_eq!(find_member(m, b"\xff"), None);
        let v = json!({"userId": 1});
        assert_eq!(
            find_member(v.as_object().unwrap(), b"userid"),
            Some(&json!(1))
        );
    }

    #[test]
    fn split_zone_name_and_size() {
        assert_eq!(split_zone(b"jwt:10m"), (&b"jwt"[..], Some(&b"10m"[..])));
        assert_eq!(split_zone(b"jwt"), (&b"jwt"[..], None));
        assert_eq!(split_zone(b":10m"), (&b""[..], Some(&b"10m"[..])));
        assert_eq!(split_zone(b"jwt:"), (&b"jwt"[..], Some(&b""[..])));
    }

    #[test]
    fn bounded_map_evicts_the_oldest() {
        let mut m = BoundedMap::new(2);
        m.insert("a", 1, |v| *v);
        m.insert("b", 2, |v| *v);
        m.insert("a", 5, |v| *v); // replaces: no eviction
        assert_eq!(m.len(), 2);
        m.insert("c", 3, |v| *v); // evicts b (2 < 3 < 5)
        assert!(m.get(&"b").is_none());
        assert_eq!(m.get(&"a"), Some(&5));
        *m.entry_or_insert_with("d", |v| *v, || 9) += 1; // evicts c
        assert_eq!(m.get(&"d"), Some(&10));
        assert!(m.get(&"c").is_none());
        assert_eq!(m.len(), 2);
    }
}

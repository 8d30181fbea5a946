//! Revocation lists: sets of revoked `sub`, `kid` or `jti` values loaded from a file.
//!
//! The file format is the one of kjdev/nginx-auth-jwt's `auth_jwt_revocation_list_sub` and
//! `auth_jwt_revocation_list_kid`: a JSON object whose member names are the revoked values.
//! The member values are free-form, with one addition (used for `jti` lists, but honoured for
//! every kind): a member value that is an object with a numeric `exp` member gives the entry an
//! expiry, so that lists can be pruned:
//!
//! ```json
//! {
//!   "alice": "left the company",
//!   "3f2c...": {"exp": 1700000000, "reason": "leaked"},
//!   "bob": null
//! }
//! ```
//!
//! Rules ([`RevocationList::parse`]):
//!
//! * The top level must be a JSON object (`{}` is an empty list). The document must be strict
//!   UTF-8 JSON (no byte order mark, no trailing data, no comments).
//! * Member names are compared byte for byte (after JSON unescaping: `"\u0061"` is `"a"`).
//!   A name may appear more than once; the entry then stays revoked for as long as any of its
//!   occurrences says so (fail closed).
//! * `exp` is in unix seconds, like the JWT claim. A fractional `exp` is rounded up; an
//!   integer beyond the range of `i64` saturates. An entry whose `exp` is at or before `now`
//!   is dropped at parse time, and [`RevocationList::contains`] ignores an entry once its `exp`
//!   is reached.
//! * **A non-numeric `exp`** (string, `null`, boolean, array, object) **gives no expiry**: the
//!   entry is revoked until it is removed from the file (fail closed: a typo such as
//!   `"exp": "1700000000"` never silently un-revokes a token). If an object repeats `exp`,
//!   the latest expiry wins, and any non-numeric one means no expiry.
//! * Any other member value (string, number, boolean, `null`, array, object without `exp`, or
//!   `exp` found anywhere but directly in the member's object) means no expiry.
//! * Member values are checked but never built: nested values are skipped as they are read,
//!   and nesting deeper than [`MAX_JSON_DEPTH`] arrays/objects (the
//!   top-level object counts as 1) is refused before recursing further, so a hostile file
//!   cannot exhaust the stack.
//!
//! Storage is compact: every name is copied once into one byte arena, and an open-addressing
//! table (linear probing, load factor at most 3/4) holds one `u64` per slot (entry index and
//! 32 bits of the hash, so most probes of a miss never touch the names). Hashing is std's
//! keyed SipHash ([`RandomState`]), so lookups with attacker-chosen values cannot be steered
//! into long probe chains. Per entry this costs the name's bytes, 4 bytes of offset, 8 bytes
//! of expiry (only if some entry has an expiry) and 10.7 to 21.3 bytes of table.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use crate::limits::MAX_JSON_DEPTH;

/// The expiry stored for an entry that never expires.
const NEVER: i64 = i64::MAX;

/// At most this many entries (an index + 1 must fit in 32 bits, and 0 marks a vacant slot).
const MAX_ENTRIES: usize = 0xffff_fffe;

/// Why a revocation list file could not be loaded; `Display` is operator facing and meant to be
/// printed after the directive and file name, e.g.
/// `auth_jwt_revocation_list_sub: "/etc/nginx/revoked.json": not a JSON object`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The file is empty or holds only whitespace.
    #[error("empty file (expected a JSON object, e.g. {{}})")]
    Empty,
    /// Valid JSON (or at least a valid start) whose top level is not an object.
    #[error("not a JSON object")]
    NotObject,
    /// Not JSON: a syntax error, invalid UTF-8, trailing data, a number out of range...
    #[error("invalid JSON at line {line} column {column}: {reason}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error (0: at the start of the line).
        column: usize,
        /// `serde_json`'s description, e.g. `expected `,` or `}``.
        reason: String,
    },
    /// A member value nests arrays/objects deeper than the limit.
    #[error(
        "too deeply nested (more than {MAX_JSON_DEPTH} levels) at line {line} column {column}"
    )]
    TooDeep {
        /// 1-based line where the limit was crossed.
        line: usize,
        /// 1-based column where the limit was crossed.
        column: usize,
    },
    /// More than 4 GiB of names or more than 2^32 - 2 entries.
    #[error("list too large (at most 4 GiB of names and 4294967294 entries)")]
    TooLarge,
}

/// A parsed revocation list; see the [module documentation](self) for the file format.
///
/// Immutable once built, `Send + Sync`: share it between threads with an `Arc`.
pub struct RevocationList {
    /// All kept names, concatenated (duplicates keep only their first copy in the table; the
    /// bytes of later copies stay here unused).
    names: Box<[u8]>,
    /// `ends[i]`: end offset of entry `i` in `names` (its start is `ends[i - 1]`, or 0).
    ends: Box<[u32]>,
    /// `exps[i]`: expiry of entry `i` ([`NEVER`]: none); empty when no entry has one.
    exps: Box<[i64]>,
    /// Open-addressing table: 0 = vacant, else `(hash >> 32) << 32 | (entry index + 1)`.
    /// Its length is a power of two (or 0 for an empty list).
    slots: Box<[u64]>,
    /// Distinct names in the table.
    len: usize,
    hasher: RandomState,
}

impl RevocationList {
    /// Parses a revocation list file. `now` (unix seconds) drops the entries whose `exp` is at
    /// or before it. Never panics; the work is linear in `data.len()` and the recursion depth
    /// is bounded by [`MAX_JSON_DEPTH`].
    pub fn parse(data: &[u8], now: i64) -> Result<RevocationList, RevocationError> {
        if data
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            return Err(RevocationError::Empty);
        }
        let fault = Cell::new(None);
        let mut builder = Builder::new(data.len(), now);
        let mut de = serde_json::Deserializer::from_slice(data);
        let result = de
            .deserialize_any(TopVisitor {
                builder: &mut builder,
                fault: &fault,
            })
            .and_then(|()| de.end());
        if let Err(e) = result {
            return Err(match fault.get() {
                Some(Fault::NotObject) => RevocationError::NotObject,
                Some(Fault::TooLarge) => RevocationError::TooLarge,
                Some(Fault::TooDeep) => RevocationError::TooDeep {
                    line: e.line(),
                    column: e.column(),
                },
                None => json_error(&e),
            });
        }
        builder.finish()
    }

    /// Whether `value` is revoked at `now` (unix seconds): listed, and its `exp` (if any) is
    /// after `now`. O(1) on average: one hash and a short probe.
    pub fn contains(&self, value: &str, now: i64) -> bool {
        if self.len == 0 {
            return false;
        }
        let hash = self.hasher.hash_one(value.as_bytes());
        match probe(&self.slots, hash, |i| {
            self.name(i) == Some(value.as_bytes())
        }) {
            Probe::Found(i) => match self.exps.get(i) {
                Some(&exp) => exp == NEVER || exp > now,
                None => true,
            },
            Probe::Vacant(_) => false,
        }
    }

    /// The number of distinct names kept at parse time (including those whose `exp` has been
    /// reached since: [`contains`](Self::contains) ignores them, `len` still counts them).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a list without entries (e.g. `{}`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap memory held by the list, in bytes (the arrays' sizes; the allocator's
    /// own overhead is not included).
    pub fn heap_size(&self) -> usize {
        self.names
            .len()
            .saturating_add(self.ends.len().saturating_mul(4))
            .saturating_add(self.exps.len().saturating_mul(8))
            .saturating_add(self.slots.len().saturating_mul(8))
    }

    fn name(&self, i: usize) -> Option<&[u8]> {
        name_of(&self.names, &self.ends, i)
    }
}

impl Default for RevocationList {
    /// An empty list.
    fn default() -> Self {
        RevocationList {
            names: Box::default(),
            ends: Box::default(),
            exps: Box::default(),
            slots: Box::default(),
            len: 0,
            hasher: RandomState::new(),
        }
    }
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("len", &self.len)
            .field("heap_size", &self.heap_size())
            .finish_non_exhaustive()
    }
}

/// Entry `i`'s name in the arena.
fn name_of<'a>(names: &'a [u8], ends: &[u32], i: usize) -> Option<&'a [u8]> {
    let start = match i.checked_sub(1) {
        Some(prev) => *ends.get(prev)?,
        None => 0,
    };
    let end = *ends.get(i)?;
    names.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
}

enum Probe {
    /// The entry with this index matches.
    Found(usize),
    /// Not present; this slot is where it would go.
    Vacant(usize),
}

/// Linear probing in `slots` (length a power of two, at least one vacant slot) for the entry
/// with hash `hash` for which `matches` holds.
fn probe(slots: &[u64], hash: u64, matches: impl Fn(usize) -> bool) -> Probe {
    let mask = slots.len().wrapping_sub(1);
    let tag = hash >> 32;
    // Truncation intended: the low bits pick the home slot.
    #[allow(clippy::cast_possible_truncation)]
    let mut pos = (hash as usize) & mask;
    // At most slots.len() probes; the table always has a vacant slot, so this never runs out.
    for _ in 0..slots.len() {
        let slot = match slots.get(pos) {
            Some(&s) => s,
            None => break,
        };
        if slot == 0 {
            return Probe::Vacant(pos);
        }
        if slot >> 32 == tag {
            #[allow(clippy::cast_possible_truncation)]
            let index = ((slot & 0xffff_ffff) as usize).wrapping_sub(1);
            if matches(index) {
                return Probe::Found(index);
            }
        }
        pos = pos.wrapping_add(1) & mask;
    }
    Probe::Vacant(usize::MAX)
}

/// What made the document unacceptable, when it was not a plain syntax error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    NotObject,
    TooDeep,
    TooLarge,
}

fn json_error(e: &serde_json::Error) -> RevocationError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let reason = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    RevocationError::Json {
        line: e.line(),
        column: e.column(),
        reason,
    }
}

/// Collects the entries while the document is read, then builds the table.
struct Builder {
    names: Vec<u8>,
    ends: Vec<u32>,
    exps: Vec<i64>,
    any_exp: bool,
    now: i64,
}

impl Builder {
    fn new(data_len: usize, now: i64) -> Self {
        // Names are never longer than the file: reserve once (untouched pages cost nothing).
        Builder {
            names: Vec::with_capacity(data_len.min(u32::MAX as usize)),
            ends: Vec::new(),
            exps: Vec::new(),
            any_exp: false,
            now,
        }
    }

    fn push(&mut self, name: &str, exp: i64) -> Result<(), Fault> {
        if exp != NEVER && exp <= self.now {
            return Ok(());
        }
        if self.ends.len() >= MAX_ENTRIES {
            return Err(Fault::TooLarge);
        }
        let end = self
            .names
            .len()
            .checked_add(name.len())
            .and_then(|e| u32::try_from(e).ok())
            .ok_or(Fault::TooLarge)?;
        self.names.extend_from_slice(name.as_bytes());
        self.ends.push(end);
        self.exps.push(exp);
        self.any_exp |= exp != NEVER;
        Ok(())
    }

    fn finish(self) -> Result<RevocationList, RevocationError> {
        let Builder {
            mut names,
            ends,
            mut exps,
            any_exp,
            now: _,
        } = self;
        let hasher = RandomState::new();
        let count = ends.len();
        if count == 0 {
            return Ok(RevocationList::default());
        }
        // Load factor at most 3/4.
        let capacity = count
            .checked_add(count / 3)
            .and_then(|c| c.checked_add(1))
            .and_then(usize::checked_next_power_of_two)
            .ok_or(RevocationError::TooLarge)?;
        let mut slots = vec![0u64; capacity];
        let mut len = 0usize;
        for i in 0..count {
            let Some(name) = name_of(&names, &ends, i) else {
                continue;
            };
            let hash = hasher.hash_one(name);
            match probe(&slots, hash, |j| name_of(&names, &ends, j) == Some(name)) {
                Probe::Found(j) => {
                    // A repeated name: revoked for as long as any occurrence says.
                    let exp = exps.get(i).copied().unwrap_or(NEVER);
                    if let Some(first) = exps.get_mut(j) {
                        *first = (*first).max(exp);
                    }
                }
                Probe::Vacant(pos) => {
                    let Some(slot) = slots.get_mut(pos) else {
                        return Err(RevocationError::TooLarge);
                    };
                    // i < u32::MAX - 1 (checked in push), so i + 1 fits in the low 32 bits.
                    *slot = ((hash >> 32) << 32) | (i as u64).wrapping_add(1);
                    len = len.wrapping_add(1);
                }
            }
        }
        names.shrink_to_fit();
        if !any_exp {
            exps = Vec::new();
        }
        Ok(RevocationList {
            names: names.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
            exps: exps.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            len,
            hasher,
        })
    }
}

/// The top level: must be an object; each member becomes an entry.
struct TopVisitor<'a> {
    builder: &'a mut Builder,
    fault: &'a Cell<Option<Fault>>,
}

impl TopVisitor<'_> {
    fn not_object<E: serde::de::Error>(&self) -> Result<(), E> {
        self.fault.set(Some(Fault::NotObject));
        Err(E::custom("not a JSON object"))
    }
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.not_object()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object()
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.not_object()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.not_object()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let value = Depth {
            depth: 2,
            fault: self.fault,
        };
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let exp = map.next_value_seed(EntrySeed(value))?;
            if let Err(f) = self.builder.push(&name, exp) {
                self.fault.set(Some(f));
                return Err(A::Error::custom("list too large"));
            }
        }
        Ok(())
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct NameSeed;

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

/// Nesting level of the value about to be read if it is an array or object (top level = 1),
/// and where to record a [`Fault::TooDeep`].
#[derive(Clone, Copy)]
struct Depth<'a> {
    depth: usize,
    fault: &'a Cell<Option<Fault>>,
}

impl Depth<'_> {
    /// The depth of this value's children, or an error if this array/object is too deep.
    fn enter<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth > MAX_JSON_DEPTH {
            self.fault.set(Some(Fault::TooDeep));
            return Err(E::custom("too deeply nested"));
        }
        Ok(Depth {
            depth: self.depth.saturating_add(1),
            fault: self.fault,
        })
    }
}

/// A member value of the top-level object: its expiry ([`NEVER`] unless an object with a
/// numeric `exp`).
struct EntrySeed<'a>(Depth<'a>);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = i64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<i64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_i64<E>(self, _: i64) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_u64<E>(self, _: u64) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_f64<E>(self, _: f64) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_str<E>(self, _: &str) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_unit<E>(self) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<i64, A::Error> {
        Skip(self.0).visit_seq(seq).map(|()| NEVER)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<i64, A::Error> {
        let child = self.0.enter()?;
        let mut exp: Option<i64> = None;
        while let Some(is_exp) = map.next_key_seed(IsExp)? {
            if is_exp {
                let this = map.next_value_seed(ExpSeed(child))?;
                // Repeated `exp`: the latest wins; a non-numeric one (NEVER) wins over all.
                exp = Some(exp.map_or(this, |e| e.max(this)));
            } else {
                map.next_value_seed(Skip(child))?;
            }
        }
        Ok(exp.unwrap_or(NEVER))
    }
}

/// A member name of an entry's object: is it `exp`?
struct IsExp;

impl<'de> DeserializeSeed<'de> for IsExp {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsExp {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == "exp")
    }
}

/// The value of an entry's `exp`: a number gives the expiry, anything else [`NEVER`].
struct ExpSeed<'a>(Depth<'a>);

impl<'de> DeserializeSeed<'de> for ExpSeed<'_> {
    type Value = i64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<i64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExpSeed<'_> {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_i64<E>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E>(self, v: u64) -> Result<i64, E> {
        Ok(i64::try_from(v).unwrap_or(NEVER))
    }

    fn visit_f64<E>(self, v: f64) -> Result<i64, E> {
        // Rounded up (revoked until the fractional exp has passed); `as` saturates.
        #[allow(clippy::cast_possible_truncation)]
        Ok(v.ceil() as i64)
    }

    fn visit_bool<E>(self, _: bool) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_str<E>(self, _: &str) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_unit<E>(self) -> Result<i64, E> {
        Ok(NEVER)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<i64, A::Error> {
        Skip(self.0).visit_seq(seq).map(|()| NEVER)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<i64, A::Error> {
        Skip(self.0).visit_map(map).map(|()| NEVER)
    }
}

/// Reads and checks a value without building it, bounding its depth.
#[derive(Clone, Copy)]
struct Skip<'a>(Depth<'a>);

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

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let child = Skip(self.0.enter()?);
        while seq.next_element_seed(child)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let child = Skip(self.0.enter()?);
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

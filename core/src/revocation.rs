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
//! Storage is compact: every entry is one record in a single byte arena (a 4-byte length, the
//! name, and an 8-byte expiry only if it has one), and an open-addressing table (linear
//! probing, load factor at most 3/4) holds one `u64` per slot: the record's offset and 24 bits
//! of the hash, so most probes of a miss never touch the arena, and a hit reads one slot and
//! one record (two cache misses on a large list). Hashing is std's keyed SipHash
//! ([`RandomState`]), so lookups with attacker-chosen values cannot be steered into long
//! probe chains. Per entry this costs the name's bytes, 4 bytes, 8 more with an expiry, and
//! 10.7 to 21.3 bytes of table (1,000,000 36-byte names: 56 MB; with expiries: 64 MB).

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
    /// A name of 2 GiB or more, or more than 1 TiB of names.
    #[error("list too large (names must be under 2 GiB each and 1 TiB in all)")]
    TooLarge,
}

/// A parsed revocation list; see the [module documentation](self) for the file format.
///
/// Immutable once built, `Send + Sync`: share it between threads with an `Arc`.
pub struct RevocationList {
    /// The entries, one record after the other: a little-endian `u32` holding the name's
    /// length (bits 0-30) and whether an expiry follows (bit 31), the name's bytes, then, if
    /// flagged, the expiry as a little-endian `i64`. A repeated name keeps only its first
    /// record in the table (later copies stay here unused).
    arena: Box<[u8]>,
    /// Open-addressing table: 0 = vacant, else `tag << 40 | (record offset + 1)`, where `tag`
    /// is the top 24 bits of the hash. Its length is a power of two (0 for an empty list).
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
    /// after `now`. O(1) on average: one hash, a short probe and one record read.
    pub fn contains(&self, value: &str, now: i64) -> bool {
        if self.len == 0 {
            return false;
        }
        let hash = self.hasher.hash_one(value.as_bytes());
        let found = probe(&self.slots, hash, |off| {
            record(&self.arena, off).is_some_and(|r| r.name == value.as_bytes())
        });
        match found {
            Probe::Found(off) => match record(&self.arena, off) {
                Some(r) => r.exp == NEVER || r.exp > now,
                None => false,
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

    /// Heap memory held by the list, in bytes (the arrays' sizes; the allocator's own overhead
    /// is not included).
    pub fn heap_size(&self) -> usize {
        self.arena
            .len()
            .saturating_add(self.slots.len().saturating_mul(8))
    }
}

impl Default for RevocationList {
    /// An empty list.
    fn default() -> Self {
        RevocationList {
            arena: Box::default(),
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

/// Bit 31 of a record's length word: an expiry follows the name.
const HAS_EXP: u32 = 1 << 31;

/// Record offsets must fit in 40 bits (the slot's low bits hold offset + 1).
const MAX_ARENA: usize = (1 << 40) - 2;

/// One decoded record of the arena.
struct Record<'a> {
    name: &'a [u8],
    /// [`NEVER`] when the record has no expiry.
    exp: i64,
    /// Offset of the expiry field, if present.
    exp_at: Option<usize>,
    /// Offset of the next record.
    next: usize,
}

/// The record at `off`.
fn record(arena: &[u8], off: usize) -> Option<Record<'_>> {
    let word_end = off.checked_add(4)?;
    let word = u32::from_le_bytes(arena.get(off..word_end)?.try_into().ok()?);
    let name_end = word_end.checked_add(usize::try_from(word & !HAS_EXP).ok()?)?;
    let name = arena.get(word_end..name_end)?;
    if word & HAS_EXP == 0 {
        return Some(Record {
            name,
            exp: NEVER,
            exp_at: None,
            next: name_end,
        });
    }
    let next = name_end.checked_add(8)?;
    let exp = i64::from_le_bytes(arena.get(name_end..next)?.try_into().ok()?);
    Some(Record {
        name,
        exp,
        exp_at: Some(name_end),
        next,
    })
}

enum Probe {
    /// The record at this offset matches.
    Found(usize),
    /// Not present; this slot is where it would go.
    Vacant(usize),
}

/// Linear probing in `slots` (length a power of two, at least one vacant slot) for the record
/// with hash `hash` for which `matches(offset)` holds.
fn probe(slots: &[u64], hash: u64, matches: impl Fn(usize) -> bool) -> Probe {
    let mask = slots.len().wrapping_sub(1);
    let tag = hash >> 40;
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
        if slot >> 40 == tag {
            #[allow(clippy::cast_possible_truncation)]
            let off = ((slot & ((1 << 40) - 1)) as usize).wrapping_sub(1);
            if matches(off) {
                return Probe::Found(off);
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

/// Collects the records while the document is read, then builds the table.
struct Builder {
    arena: Vec<u8>,
    count: usize,
    now: i64,
}

impl Builder {
    fn new(data_len: usize, now: i64) -> Self {
        // Records of `"name":1` members are about as long as the file: reserve that once
        // (untouched pages cost nothing).
        Builder {
            arena: Vec::with_capacity(data_len.min(MAX_ARENA)),
            count: 0,
            now,
        }
    }

    fn push(&mut self, name: &str, exp: i64) -> Result<(), Fault> {
        if exp != NEVER && exp <= self.now {
            return Ok(());
        }
        let mut word = u32::try_from(name.len())
            .ok()
            .filter(|&n| n & HAS_EXP == 0)
            .ok_or(Fault::TooLarge)?;
        if exp != NEVER {
            word |= HAS_EXP;
        }
        let fits = self
            .arena
            .len()
            .checked_add(name.len())
            .and_then(|e| e.checked_add(12))
            .is_some_and(|e| e <= MAX_ARENA);
        if !fits {
            return Err(Fault::TooLarge);
        }
        self.arena.extend_from_slice(&word.to_le_bytes());
        self.arena.extend_from_slice(name.as_bytes());
        if exp != NEVER {
            self.arena.extend_from_slice(&exp.to_le_bytes());
        }
        self.count = self.count.saturating_add(1);
        Ok(())
    }

    fn finish(self) -> Result<RevocationList, RevocationError> {
        let Builder {
            mut arena, count, ..
        } = self;
        if count == 0 {
            return Ok(RevocationList::default());
        }
        let hasher = RandomState::new();
        // Load factor at most 3/4.
        let capacity = count
            .checked_add(count / 3)
            .and_then(|c| c.checked_add(1))
            .and_then(usize::checked_next_power_of_two)
            .ok_or(RevocationError::TooLarge)?;
        let mut slots = vec![0u64; capacity];
        let mut len = 0usize;
        let mut off = 0usize;
        while let Some(r) = record(&arena, off) {
            let this = off;
            off = r.next;
            let hash = hasher.hash_one(r.name);
            match probe(&slots, hash, |o| {
                record(&arena, o).is_some_and(|first| first.name == r.name)
            }) {
                Probe::Found(first) => {
                    // A repeated name: revoked for as long as any occurrence says.
                    let exp = r.exp;
                    if let Some(f) = record(&arena, first) {
                        if exp > f.exp {
                            // `f` has an expiry (NEVER is the largest value), so a field.
                            if let Some(field) = f
                                .exp_at
                                .and_then(|at| arena.get_mut(at..at.checked_add(8)?))
                            {
                                field.copy_from_slice(&exp.to_le_bytes());
                            }
                        }
                    }
                }
                Probe::Vacant(pos) => {
                    let Some(slot) = slots.get_mut(pos) else {
                        return Err(RevocationError::TooLarge);
                    };
                    // this < MAX_ARENA (checked in push), so this + 1 fits in 40 bits.
                    *slot = ((hash >> 40) << 40) | (this as u64).wrapping_add(1);
                    len = len.wrapping_add(1);
                }
            }
        }
        arena.shrink_to_fit();
        Ok(RevocationList {
            arena: arena.into_boxed_slice(),
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

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

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use serde::de::Deserializer as _;

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

mod parse;

use parse::{json_error, Builder, Fault, TopVisitor};

#[cfg(test)]
mod tests;

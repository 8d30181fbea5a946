//! The parser of revocation list documents: a serde visitor that reads member names and only
//! the `exp` of member values, skipping everything else without building it, with a depth
//! bound.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use super::{probe, record, Probe, RevocationError, RevocationList, HAS_EXP, MAX_ARENA, NEVER};
use crate::json::NameSeed;
use crate::limits::MAX_JSON_DEPTH;

/// What made the document unacceptable, when it was not a plain syntax error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    NotObject,
    TooDeep,
    TooLarge,
}

pub(super) fn json_error(e: &serde_json::Error) -> RevocationError {
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
pub(super) struct Builder {
    arena: Vec<u8>,
    count: usize,
    now: i64,
}

impl Builder {
    pub(super) fn new(data_len: usize, now: i64) -> Self {
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

    pub(super) fn finish(self) -> Result<RevocationList, RevocationError> {
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
pub(super) struct TopVisitor<'a> {
    pub(super) builder: &'a mut Builder,
    pub(super) fault: &'a Cell<Option<Fault>>,
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

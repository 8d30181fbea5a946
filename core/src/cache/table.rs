//! The verified-token cache's table, in a region of memory that several processes share (the
//! nginx glue puts it in a shared memory zone; the contention benchmark,
//! `examples/cache_contention.rs`, in an anonymous shared mapping). No nginx types and no
//! unsafe code: the caller hands over the region as a slice of atomic words, its process id
//! and a way to tell whether another process is alive.
//!
//! # Layout
//!
//! Every word of the region is an `AtomicU64`, so concurrent access from several processes is
//! sound (no non-atomic data race), whatever the other processes do with the table.
//!
//! ```text
//! header   8 words: magic, layout version, number of sets, number of words of the table
//! cells    CELLS x 8 words: hits, misses, inserts, busy, skipped, recovered (one per worker)
//! sets     `sets` x 72 words (576 bytes, 72 per entry):
//!   head   8 words: the version/lock word, 8 16-bit key tags (2 words), 8 32-bit last-used
//!          stamps (4 words), a spare word
//!   slots  WAYS x 8 words: the 256-bit key (4), the expiry, the token's time claims (3)
//! ```
//!
//! With the region aligned to 64 bytes (the callers align it), a set's head and each slot is
//! one cache line. An entry lives in the set chosen by the first 8 bytes of its key (a SHA-256
//! digest); its tag is the next 2 bytes. A lookup reads the head's line and, on a tag match,
//! the slot's line.
//!
//! # Readers never lock
//!
//! Each set's lock word is a sequence number (its low 32 bits; odd while a writer is inside)
//! and, while odd, the writer's process id (its high 32 bits). A lookup loads the word
//! (acquire), reads the tags and the candidate slot with relaxed atomic loads, issues an
//! acquire fence and loads the word again: the same even value means no writer touched the set
//! meanwhile, so what it read is one consistent entry (a seqlock). Otherwise it retries,
//! [`RETRIES`] times in all, and then reports [`Lookup::Busy`] (the caller verifies the
//! signature, as for a miss). A hit writes nothing shared but its slot's last-used stamp, and
//! that only when the stamp (coarse: seconds) changes, so a hot entry dirties its set's head
//! at most once a second; there is no table-wide lock and no table-wide counter (each worker
//! counts in its own cell, a cache line of its own, with a plain load and store).
//!
//! # Writers lock one set
//!
//! An insert compare-and-swaps its set's word from even to odd (with its process id), issues a
//! release fence, writes the slot with relaxed stores and release-stores the next even value.
//! If the set is locked it does not wait: the insert is skipped (and counted). Inserts into
//! other sets never meet.
//!
//! # A writer that dies inside
//!
//! A process killed while it holds a set would leave the set odd forever: every lookup of it
//! busy, every insert skipped. The next insert that finds the set odd asks whether the holder
//! (the process id in the word) is alive; if it is not (or the holder is the inserting process
//! itself, which holds no lock outside an insert: its id was reused), it takes the set over
//! with a compare-and-swap to a new odd value, clears every slot of the set (the dead writer
//! may have left one half-written), inserts and unlocks. Readers meanwhile only retry and
//! report busy; they never take a lock over. A live holder is never robbed, however slow, so
//! no writer ever writes outside its lock. The one degraded case: the dead holder's id reused
//! by another live process before any insert into that set came along; that set then stays
//! busy (counted, never failing a request) until the zone is made anew.
//!
//! # Replacement
//!
//! Times before 1970 count as 1970: an empty slot (all zero) is an entry that expired then.
//!
//! The same key is overwritten in place; else a free or expired slot is taken; else the least
//! recently used slot of the set (by its last-used stamp, in seconds; the first of equals).

use std::num::NonZeroU64;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::{Lookup, TimeClaims};

/// Slots per set.
pub const WAYS: usize = 8;
/// Counter cells; worker `n` counts in cell `n % CELLS`.
pub const CELLS: usize = 64;
/// How many times a lookup reads a set that a writer is changing before it reports busy.
pub const RETRIES: usize = 4;
/// The first word of a formatted region.
const MAGIC: u64 = u64::from_le_bytes(*b"JWTvcach");
/// Bumped whenever the layout changes, so a reload with another version of the module never
/// reads a table it did not format.
pub const LAYOUT: u64 = 2;

/// Words of the header, of a cell, of a set's head, of a slot.
const LINE: usize = 8;
const CELL_WORDS: usize = LINE;
const SLOT_WORDS: usize = LINE;
/// Words of a set.
pub const SET_WORDS: usize = LINE + WAYS * SLOT_WORDS;
/// Words before the first set.
pub const FIXED_WORDS: usize = LINE + CELLS * CELL_WORDS;

// Header words.
const H_MAGIC: usize = 0;
const H_LAYOUT: usize = 1;
const H_SETS: usize = 2;
/// The words of the table, header included.
const H_WORDS: usize = 3;
// Cell words.
const C_HITS: usize = 0;
const C_MISSES: usize = 1;
const C_INSERTS: usize = 2;
const C_BUSY: usize = 3;
const C_SKIPPED: usize = 4;
const C_RECOVERED: usize = 5;
// Set head words: the lock (word 0), tags (4 per word: words 1 and 2), last-used stamps (2 per
// word, from word 3).
const S_USED: usize = 3;
// Slot words.
const K_EXPIRES: usize = 4;
const K_TIMES: usize = 5;

const LOW: u64 = 0xffff_ffff;

/// The process that uses the table: its id, and how to tell whether another one is alive.
pub trait Owner {
    /// This process's id (non-zero).
    fn pid(&self) -> u32;
    /// Whether the process `pid` may still be running (when in doubt: `true`).
    fn alive(&self, pid: u32) -> bool;
    /// Called while an insert holds its set's lock (a fault-injection hook for tests).
    fn in_set_lock(&self) {}
}

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Stored.
    Stored,
    /// Stored after taking over a set whose lock a dead process held (its id); the set's other
    /// entries were dropped.
    Recovered(u32),
    /// Not stored: another process was writing the set.
    Skipped,
    /// Not stored: already expired.
    Expired,
}

/// The zone's counters, summed over the cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups that found the key.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Entries stored.
    pub inserts: u64,
    /// Lookups that gave up because writers kept the set changing.
    pub busy: u64,
    /// Inserts not made because another process was writing the set.
    pub skipped: u64,
    /// Sets taken over from a writer that died inside.
    pub recovered: u64,
}

type Set = [AtomicU64; SET_WORDS];
type Line = [AtomicU64; LINE];

/// A view of a formatted table.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    cells: &'a [AtomicU64],
    sets: &'a [AtomicU64],
    count: NonZeroU64,
}

/// The key as four words.
#[inline]
fn words_of(key: &[u8; 32]) -> [u64; 4] {
    let mut k = [0u64; 4];
    for (w, chunk) in k.iter_mut().zip(key.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    k
}

/// The slots of a set.
#[inline]
fn slots(set: &Set) -> impl Iterator<Item = &Line> {
    set.get(LINE..)
        .unwrap_or(&[])
        .chunks_exact(SLOT_WORDS)
        .filter_map(|c| <&Line>::try_from(c).ok())
}

/// Slot `w` of a set.
#[inline]
fn slot(set: &Set, w: usize) -> Option<&Line> {
    let start = w.wrapping_mul(SLOT_WORDS).wrapping_add(LINE);
    set.get(start..start.wrapping_add(SLOT_WORDS))?
        .try_into()
        .ok()
}

/// The ways whose tag (in the tag words `t0`, `t1`) may be `tag`: a bit per way, never missing
/// one, sometimes (after a match) one too many; the key decides.
#[inline]
fn candidates(t0: u64, t1: u64, tag: u16) -> u32 {
    const ONES: u64 = 0x0001_0001_0001_0001;
    const HIGHS: u64 = 0x8000_8000_8000_8000;
    let spread = ONES.wrapping_mul(u64::from(tag));
    // The 16-bit lanes equal to `tag` have their high bit set (the classic zero-lane test).
    let lanes = |t: u64| {
        let x = t ^ spread;
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    // The high bit of each lane, gathered into 4 bits: the products of the bits (at 15, 31, 47,
    // 63, shifted to 0, 16, 32, 48) by the multiplier's (0, 15, 30, 45) all land on distinct
    // bits, no carries, and bits 45 to 48 are lanes 0 to 3.
    const GATHER: u64 = 1 | 1 << 15 | 1 << 30 | 1 << 45;
    let gather = |m: u64| ((m >> 15).wrapping_mul(GATHER) >> 45) as u32 & 0xf;
    gather(lanes(t0)) | gather(lanes(t1)) << 4
}

fn load(word: Option<&AtomicU64>) -> u64 {
    word.map_or(0, |w| w.load(Ordering::Relaxed))
}

impl<'a> Table<'a> {
    /// The words a table of `sets` sets needs.
    pub fn words_for(sets: usize) -> usize {
        sets.saturating_mul(SET_WORDS).saturating_add(FIXED_WORDS)
    }

    /// How many entries a region of `words` words holds (0 if too small for one set).
    pub fn capacity(words: usize) -> usize {
        (words.saturating_sub(FIXED_WORDS) / SET_WORDS).saturating_mul(WAYS)
    }

    /// Formats `region` as an empty table (as many sets as fit); `None` if there is no room
    /// for one set. The region must not be in use: formatting clears it.
    pub fn format(region: &'a [AtomicU64]) -> Option<Table<'a>> {
        let sets = region.len().checked_sub(FIXED_WORDS)? / SET_WORDS;
        if sets == 0 {
            return None;
        }
        for w in region.iter().take(Table::words_for(sets)) {
            w.store(0, Ordering::Relaxed);
        }
        let header = region.get(..LINE)?;
        header.get(H_SETS)?.store(sets as u64, Ordering::Relaxed);
        header
            .get(H_WORDS)?
            .store(Table::words_for(sets) as u64, Ordering::Relaxed);
        header.get(H_LAYOUT)?.store(LAYOUT, Ordering::Relaxed);
        header.get(H_MAGIC)?.store(MAGIC, Ordering::Release);
        Table::attach(region)
    }

    /// The table formatted in `region` by [`Table::format`] (of this layout version), if there
    /// is one and it fits. Only the first word is read unless it is the magic.
    #[inline]
    pub fn attach(region: &'a [AtomicU64]) -> Option<Table<'a>> {
        let [magic, layout, sets, words, ..] = <&Line>::try_from(region.get(..LINE)?).ok()?;
        if magic.load(Ordering::Acquire) != MAGIC || layout.load(Ordering::Relaxed) != LAYOUT {
            return None;
        }
        let count = NonZeroU64::new(sets.load(Ordering::Relaxed))?;
        // Only the words that the header says are the table's (a header that disagrees with
        // its set count makes lookups miss, never reach outside the table).
        let words = usize::try_from(words.load(Ordering::Relaxed)).ok()?;
        Some(Table {
            cells: region.get(LINE..FIXED_WORDS)?,
            sets: region.get(FIXED_WORDS..words)?,
            count,
        })
    }

    /// Entries the table holds.
    pub fn entries(&self) -> usize {
        (self.count.get() as usize).saturating_mul(WAYS)
    }

    /// The set of a key whose first word is `k0` (uniform: `k0` is part of a SHA-256 digest).
    #[inline]
    fn set(&self, k0: u64) -> Option<&'a Set> {
        // k0 * sets / 2^64: a multiplication where `k0 % sets` would divide.
        let index = (u128::from(k0).wrapping_mul(u128::from(self.count.get())) >> 64) as usize;
        let start = index.checked_mul(SET_WORDS)?;
        self.sets
            .get(start..start.checked_add(SET_WORDS)?)?
            .try_into()
            .ok()
    }

    /// Adds one to counter `which` of cell `cell`: a load and a store, not an atomic
    /// read-modify-write (a locked instruction would cost a hit more than the rest of the
    /// lookup). A cell has one writer, its worker; two processes share one only while old and
    /// new workers overlap after a reload, or with more than [`CELLS`] workers, and then an
    /// increment can be lost: the counters are statistics.
    #[inline]
    fn count(&self, cell: usize, which: usize) {
        let word = (cell % CELLS)
            .checked_mul(CELL_WORDS)
            .and_then(|c| c.checked_add(which))
            .and_then(|i| self.cells.get(i));
        if let Some(w) = word {
            w.store(w.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    /// The time claims stored with `key` if its entry expires after `now`; counted in the
    /// counter cell `cell` (the worker's number).
    #[inline]
    pub fn lookup(&self, key: &[u8; 32], now: i64, cell: usize) -> Lookup {
        // An empty slot (all zero, expiring at 0) never matches, not even the all-zero key.
        let now = now.max(0);
        let k = words_of(key);
        let Some(set) = self.set(k[0]) else {
            return Lookup::Miss;
        };
        let tag = k[1] as u16;
        let [lock, t0, t1, ..] = set;
        for _ in 0..RETRIES {
            let before = lock.load(Ordering::Acquire);
            if before & 1 == 0 {
                let mut ways =
                    candidates(t0.load(Ordering::Relaxed), t1.load(Ordering::Relaxed), tag);
                let mut found = None;
                while ways != 0 {
                    let w = ways.trailing_zeros() as usize;
                    ways &= ways.wrapping_sub(1);
                    let Some([a, b, c, d, expires, x, y, z]) = slot(set, w) else {
                        break;
                    };
                    if a.load(Ordering::Relaxed) == k[0]
                        && b.load(Ordering::Relaxed) == k[1]
                        && c.load(Ordering::Relaxed) == k[2]
                        && d.load(Ordering::Relaxed) == k[3]
                        && (expires.load(Ordering::Relaxed) as i64) > now
                    {
                        let times = [
                            x.load(Ordering::Relaxed),
                            y.load(Ordering::Relaxed),
                            z.load(Ordering::Relaxed),
                        ];
                        found = Some((w, times));
                        break;
                    }
                }
                // Orders the loads above before the check below (a seqlock reader).
                fence(Ordering::Acquire);
                if lock.load(Ordering::Relaxed) == before {
                    let hit = found.and_then(|(w, t)| Some((w, TimeClaims::from_words(t)?)));
                    return match hit {
                        Some((w, times)) => {
                            touch(set, w, now);
                            self.count(cell, C_HITS);
                            Lookup::Hit(times)
                        }
                        None => {
                            self.count(cell, C_MISSES);
                            Lookup::Miss
                        }
                    };
                }
            }
            std::hint::spin_loop();
        }
        self.count(cell, C_BUSY);
        Lookup::Busy
    }

    /// Stores `key` with `times` until `expires` (unix seconds), unless another process is
    /// writing its set (never waits); counted in the counter cell `cell`.
    pub fn insert(
        &self,
        key: &[u8; 32],
        expires: i64,
        now: i64,
        times: TimeClaims,
        cell: usize,
        owner: &impl Owner,
    ) -> Insert {
        let now = now.max(0);
        if expires <= now {
            return Insert::Expired;
        }
        let k = words_of(key);
        let Some(set) = self.set(k[0]) else {
            return Insert::Skipped;
        };
        let tag = k[1] as u16;
        let [lock, t0, t1, ..] = set;
        let me = u64::from(owner.pid());
        let current = lock.load(Ordering::Relaxed);
        let mut recovered = None;
        let locked = if current & 1 == 0 {
            (current.wrapping_add(1) & LOW) | me << 32
        } else {
            let holder = (current >> 32) as u32;
            if holder != 0 && u64::from(holder) != me && owner.alive(holder) {
                self.count(cell, C_SKIPPED);
                return Insert::Skipped;
            }
            recovered = Some(holder);
            (current.wrapping_add(2) & LOW) | me << 32
        };
        if lock
            .compare_exchange(current, locked, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.count(cell, C_SKIPPED);
            return Insert::Skipped;
        }
        // The odd word is visible before any of the stores below (a seqlock writer).
        fence(Ordering::Release);
        owner.in_set_lock();
        if recovered.is_some() {
            // The dead writer may have left any slot half-written: drop them all.
            for w in set.iter().skip(1) {
                w.store(0, Ordering::Relaxed);
            }
        }
        let stamp = now as u32;
        let ways = candidates(t0.load(Ordering::Relaxed), t1.load(Ordering::Relaxed), tag);
        let same = slots(set).enumerate().position(|(w, s)| {
            ways & (1 << w) != 0 && s.iter().zip(k).all(|(a, b)| a.load(Ordering::Relaxed) == b)
        });
        let free = || slots(set).position(|s| (s[K_EXPIRES].load(Ordering::Relaxed) as i64) <= now);
        let lru = || {
            // The oldest stamp (wrapping), the first of equals.
            let age = |w: usize| stamp.wrapping_sub(used(set, w));
            (1..WAYS).fold(0, |best, w| if age(w) > age(best) { w } else { best })
        };
        let victim = same.or_else(free).unwrap_or_else(lru);
        if let Some(s) = slot(set, victim) {
            for (word, value) in s.iter().zip(k) {
                word.store(value, Ordering::Relaxed);
            }
            for (word, value) in s.iter().skip(K_TIMES).zip(times.to_words()) {
                word.store(value, Ordering::Relaxed);
            }
            s[K_EXPIRES].store(expires as u64, Ordering::Relaxed);
            // Only writers change tags, under the lock.
            let (word, shift) = if victim < 4 {
                (t0, victim)
            } else {
                (t1, victim.wrapping_sub(4))
            };
            let shift = (shift as u32).wrapping_mul(16);
            let old = word.load(Ordering::Relaxed);
            word.store(
                old & !(0xffff << shift) | u64::from(tag) << shift,
                Ordering::Relaxed,
            );
            set_used(set, victim, stamp);
        }
        lock.store(locked.wrapping_add(1) & LOW, Ordering::Release);
        self.count(cell, C_INSERTS);
        match recovered {
            Some(holder) => {
                self.count(cell, C_RECOVERED);
                Insert::Recovered(holder)
            }
            None => Insert::Stored,
        }
    }

    /// The counters, summed over the cells (each read atomically, not all at one instant).
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for c in self.cells.chunks_exact(CELL_WORDS) {
            let get = |i: usize| load(c.get(i));
            s.hits = s.hits.wrapping_add(get(C_HITS));
            s.misses = s.misses.wrapping_add(get(C_MISSES));
            s.inserts = s.inserts.wrapping_add(get(C_INSERTS));
            s.busy = s.busy.wrapping_add(get(C_BUSY));
            s.skipped = s.skipped.wrapping_add(get(C_SKIPPED));
            s.recovered = s.recovered.wrapping_add(get(C_RECOVERED));
        }
        s
    }

    /// Leaves `key`'s set locked by `pid`, as a writer killed inside would.
    #[cfg(test)]
    fn lock_set_as(&self, key: &[u8; 32], pid: u32) {
        let lock = &self.set(words_of(key)[0]).unwrap()[0];
        let v = lock.load(Ordering::Relaxed);
        lock.store(((v | 1) & LOW) | u64::from(pid) << 32, Ordering::Release);
    }
}

/// The word and bit position of way `w`'s last-used stamp.
#[inline]
fn used_word(set: &Set, w: usize) -> (Option<&AtomicU64>, u32) {
    (
        set.get(S_USED.wrapping_add(w / 2)),
        ((w % 2) as u32).wrapping_mul(32),
    )
}

fn used(set: &Set, w: usize) -> u32 {
    let (word, shift) = used_word(set, w);
    (load(word) >> shift) as u32
}

fn set_used(set: &Set, w: usize, stamp: u32) {
    if let (Some(word), shift) = used_word(set, w) {
        let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
            Some(old & !(LOW << shift) | u64::from(stamp) << shift)
        });
    }
}

/// A hit's last-used stamp: written only when it changes (at most once a second), and given up
/// if another stamp of the word changes at the same moment (it is only a hint).
#[inline]
fn touch(set: &Set, w: usize, now: i64) {
    let stamp = now as u32;
    if let (Some(word), shift) = used_word(set, w) {
        let old = word.load(Ordering::Relaxed);
        if (old >> shift) as u32 != stamp {
            let new = old & !(LOW << shift) | u64::from(stamp) << shift;
            let _ = word.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hits={} misses={} inserts={} busy={} skipped={} recovered={}",
            self.hits, self.misses, self.inserts, self.busy, self.skipped, self.recovered
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;
    use crate::NumericDate;

    fn region(sets: usize) -> Vec<AtomicU64> {
        (0..Table::words_for(sets))
            .map(|_| AtomicU64::new(0))
            .collect()
    }

    struct Me {
        pid: u32,
        dead: Option<u32>,
    }
    impl Owner for Me {
        fn pid(&self) -> u32 {
            self.pid
        }
        fn alive(&self, pid: u32) -> bool {
            self.dead != Some(pid)
        }
    }
    const ME: Me = Me { pid: 7, dead: None };

    /// A key in set `set` of a table with `sets` sets, distinguished by `n`.
    fn key_in(sets: u64, set: u64, n: u64) -> [u8; 32] {
        let mut k = [0u8; 32];
        // The smallest first word that scales to `set`.
        let k0 = (u128::from(set) << 64).div_ceil(u128::from(sets)) as u64;
        k[..8].copy_from_slice(&k0.to_le_bytes());
        k[8..16].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        k[16..24].copy_from_slice(&n.to_le_bytes());
        k[24..].copy_from_slice(&(!n).to_le_bytes());
        k
    }

    /// Time claims derived from the key, so that a reader can tell a torn entry.
    fn times_of(k: &[u8; 32]) -> TimeClaims {
        let n = u64::from_le_bytes(k[16..24].try_into().unwrap());
        TimeClaims {
            exp: Some(NumericDate::Int(1_000_000 + n as i64)),
            nbf: Some(NumericDate::UInt(n)),
        }
    }

    fn hit(t: &Table, k: &[u8; 32], now: i64) -> bool {
        match t.lookup(k, now, 0) {
            Lookup::Hit(times) => {
                assert_eq!(times, times_of(k));
                true
            }
            Lookup::Miss => false,
            Lookup::Busy => panic!("busy without writers"),
        }
    }

    fn put(t: &Table, k: &[u8; 32], expires: i64, now: i64) -> Insert {
        t.insert(k, expires, now, times_of(k), 0, &ME)
    }

    #[test]
    fn candidates_never_miss_a_tag() {
        let mut s = 1u64;
        for _ in 0..20_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Few distinct tag values, so that equal lanes are frequent.
            let lanes: Vec<u16> = (0..8)
                .map(|i| ((s >> (i * 7)) & 3) as u16 * 0x4001)
                .collect();
            let word = |l: &[u16]| l.iter().rev().fold(0u64, |a, &t| a << 16 | u64::from(t));
            let (t0, t1) = (word(&lanes[..4]), word(&lanes[4..]));
            for tag in [0u16, 0x4001, 0x8002, 0xc003, 1, 0xffff] {
                let m = candidates(t0, t1, tag);
                for (w, &l) in lanes.iter().enumerate() {
                    if l == tag {
                        assert!(m & (1 << w) != 0, "{lanes:x?} {tag:x}");
                    }
                }
                assert!(m < 256);
                if !lanes.contains(&tag) {
                    assert_eq!(m, 0, "{lanes:x?} {tag:x}");
                }
            }
        }
    }

    #[test]
    fn hit_miss_and_expiry() {
        let r = region(4);
        let t = Table::format(&r).unwrap();
        assert_eq!(t.entries(), 4 * WAYS);
        let a = key_in(4, 1, 1);
        assert!(!hit(&t, &a, 100));
        assert_eq!(put(&t, &a, 200, 100), Insert::Stored);
        assert!(hit(&t, &a, 100));
        assert!(hit(&t, &a, 199));
        assert!(!hit(&t, &a, 200), "an entry is not found at its expiry");
        assert_eq!(put(&t, &a, 100, 100), Insert::Expired);
        // Overwriting the same key keeps one entry, with the new expiry.
        assert_eq!(put(&t, &a, 300, 150), Insert::Stored);
        assert!(hit(&t, &a, 250));
        let s = t.stats();
        assert_eq!((s.hits, s.misses, s.inserts, s.busy), (3, 2, 2, 0));
        // Plain time claims and absent ones round-trip too.
        let none = TimeClaims::default();
        t.insert(&a, 300, 150, none, 1, &ME);
        assert_eq!(t.lookup(&a, 150, 1), Lookup::Hit(none));
        let float = TimeClaims {
            exp: Some(NumericDate::Float(1.5e9)),
            nbf: None,
        };
        t.insert(&a, 300, 150, float, 1, &ME);
        assert_eq!(t.lookup(&a, 150, 1), Lookup::Hit(float));
    }

    #[test]
    fn all_32_bytes_of_the_key_are_compared() {
        let r = region(2);
        let t = Table::format(&r).unwrap();
        let a = key_in(2, 0, 5);
        put(&t, &a, 200, 100);
        for byte in 0..32 {
            for bit in [0x01, 0x80] {
                let mut b = a;
                b[byte] ^= bit;
                // Flipping a byte of the set index may land in the other set: a miss either way.
                assert!(!hit(&t, &b, 100), "byte {byte} bit {bit:#x}");
            }
        }
        assert!(hit(&t, &a, 100));
        // An empty slot (all zero) never matches the all-zero key.
        assert!(!hit(&t, &[0u8; 32], 0));
        assert!(!hit(&t, &[0u8; 32], -1));
    }

    #[test]
    fn lru_per_set_expired_first_and_a_full_set_keeps_working() {
        let r = region(2);
        let t = Table::format(&r).unwrap();
        let sets = t.count.get();
        assert_eq!(sets, 2);
        let keys: Vec<_> = (0..WAYS as u64).map(|n| key_in(2, 0, n)).collect();
        for k in &keys {
            assert_eq!(put(&t, k, 1000, 10), Insert::Stored);
        }
        // Another set is independent.
        let other = key_in(2, 1, 99);
        let set_of = |k: &[u8; 32]| t.set(words_of(k)[0]).unwrap().as_ptr();
        assert_ne!(set_of(&other), set_of(&keys[0]));
        assert!(keys.iter().all(|k| set_of(k) == set_of(&keys[0])));
        put(&t, &other, 1000, 10);
        // All but keys[3] used at 20: keys[3] is the least recently used.
        for (i, k) in keys.iter().enumerate() {
            if i != 3 {
                assert!(hit(&t, k, 20));
            }
        }
        let new = key_in(2, 0, 100);
        assert_eq!(put(&t, &new, 1000, 20), Insert::Stored);
        assert!(!hit(&t, &keys[3], 20));
        assert!(hit(&t, &new, 20));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(hit(&t, k, 21), i != 3, "key {i}");
        }
        assert!(hit(&t, &other, 21));
        // An expired entry goes first, even if it is the most recently used.
        let short = key_in(2, 0, 200);
        put(&t, &short, 30, 25); // replaces `new`, the least recently used (20; the rest 21)
        assert!(hit(&t, &short, 29));
        let survivors: Vec<_> = keys
            .iter()
            .chain([&new])
            .filter(|k| hit(&t, k, 29))
            .copied()
            .collect();
        assert_eq!(survivors.len(), WAYS - 1);
        let late = key_in(2, 0, 300);
        put(&t, &late, 1000, 30); // `short` expired at 30
        assert!(!hit(&t, &short, 30));
        for k in &survivors {
            assert!(
                hit(&t, k, 30),
                "a live entry was replaced before the expired one"
            );
        }
        // A full set never refuses: 100 more keys, the last 8 are found.
        for n in 1000..1100 {
            assert_eq!(
                put(&t, &key_in(2, 0, n), 5000, 40 + n as i64),
                Insert::Stored
            );
        }
        for n in 1092..1100 {
            assert!(hit(&t, &key_in(2, 0, n), 1200));
        }
        assert!(hit(&t, &other, 1200 - 300));
    }

    #[test]
    fn a_set_left_locked_by_a_dead_writer_is_taken_over() {
        let r = region(2);
        let t = Table::format(&r).unwrap();
        let a = key_in(2, 0, 1);
        let b = key_in(2, 0, 2);
        let c = key_in(2, 1, 3);
        put(&t, &a, 1000, 10);
        put(&t, &c, 1000, 10);
        t.lock_set_as(&a, 4242);
        // Readers of that set give up (they never take a lock over); other sets work.
        assert_eq!(t.lookup(&a, 10, 0), Lookup::Busy);
        assert!(hit(&t, &c, 10));
        // A live holder is never robbed.
        assert_eq!(put(&t, &b, 1000, 10), Insert::Skipped);
        assert_eq!(t.lookup(&a, 10, 0), Lookup::Busy);
        // A dead one is: the set is cleared (a slot may be half-written) and the insert made.
        let heir = Me {
            pid: 8,
            dead: Some(4242),
        };
        assert_eq!(
            t.insert(&b, 1000, 10, times_of(&b), 0, &heir),
            Insert::Recovered(4242)
        );
        assert!(hit(&t, &b, 10));
        assert!(!hit(&t, &a, 10));
        assert!(hit(&t, &c, 10));
        // The holder's id being the inserting process's own (reused): stale too.
        t.lock_set_as(&a, ME.pid);
        assert_eq!(put(&t, &a, 1000, 10), Insert::Recovered(ME.pid));
        assert!(hit(&t, &a, 10));
        let s = t.stats();
        assert_eq!((s.busy, s.skipped, s.recovered), (2, 1, 2));
    }

    #[test]
    fn attach_finds_only_this_layout() {
        let r = region(3);
        let t = Table::format(&r).unwrap();
        assert_eq!(t.entries(), 3 * WAYS);
        let a = key_in(3, 2, 1);
        put(&t, &a, 1000, 10);
        let again = Table::attach(&r).unwrap();
        assert!(hit(&again, &a, 10));
        assert_eq!(again.entries(), t.entries());
        // A region too short for its sets, an empty one: refused.
        assert!(Table::attach(&r[..r.len() - 1]).is_none());
        assert!(Table::attach(&[]).is_none());
        // The previous layout (a `sets` word, a clock word, then slots) or another version.
        let old = region(3);
        old[0].store(42, Ordering::Relaxed);
        old[1].store(1234, Ordering::Relaxed);
        assert!(Table::attach(&old).is_none());
        r[H_LAYOUT].store(LAYOUT + 1, Ordering::Relaxed);
        assert!(Table::attach(&r).is_none());
        // Too small for one set.
        assert!(Table::format(&r[..FIXED_WORDS + SET_WORDS - 1]).is_none());
        assert_eq!(Table::capacity(Table::words_for(10)), 10 * WAYS);
        // Formatting clears what was there.
        let t = Table::format(&r).unwrap();
        assert!(!hit(&t, &a, 10));
    }

    /// Readers and writers hammering one set: a hit always returns the times stored with that
    /// very key (they are derived from it, so a torn or misplaced entry shows).
    #[test]
    fn concurrent_readers_and_writers_never_see_a_torn_entry() {
        let r = Arc::new(region(1));
        Table::format(&r).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let keys: Arc<Vec<[u8; 32]>> = Arc::new((0..24).map(|n| key_in(1, 0, n)).collect());
        let mut threads = Vec::new();
        for id in 0..6u32 {
            let (r, stop, keys) = (r.clone(), stop.clone(), keys.clone());
            threads.push(std::thread::spawn(move || {
                let t = Table::attach(&r).unwrap();
                let me = Me {
                    pid: 100 + id,
                    dead: None,
                };
                let (mut hits, mut busy, mut i) = (0u64, 0u64, id as usize);
                while !stop.load(Ordering::Relaxed) {
                    i = i.wrapping_mul(31).wrapping_add(7) % keys.len();
                    let k = &keys[i];
                    if id % 2 == 0 {
                        t.insert(k, 1_000_000, (i % 50) as i64, times_of(k), id as usize, &me);
                    }
                    match t.lookup(k, 10, id as usize) {
                        Lookup::Hit(times) => {
                            assert_eq!(times, times_of(k), "torn entry");
                            hits += 1;
                        }
                        Lookup::Busy => busy += 1,
                        Lookup::Miss => {}
                    }
                }
                (hits, busy)
            }));
        }
        std::thread::sleep(std::time::Duration::from_millis(2000));
        stop.store(true, Ordering::Relaxed);
        let hits: u64 = threads.into_iter().map(|t| t.join().unwrap().0).sum();
        assert!(hits > 1000, "{hits}");
    }
}

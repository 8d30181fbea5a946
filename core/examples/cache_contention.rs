//! The contention benchmark of the verified-token cache: the real table code
//! (`auth_jwt_core::cache::table`) and, for comparison, the previous design (one table behind
//! the zone's slab mutex, taken with `ngx_shmtx_trylock`, and a table-wide clock ticked on every
//! use), run from several processes on one anonymous shared mapping, as nginx workers share a
//! zone.
//!
//!   cargo run --release -p auth-jwt-core --example cache_contention [-- OPTIONS]
//!
//!   --procs 1,2,4,8,16   process counts (default; more processes than CPUs included)
//!   --ms MS              length of each round (default 1000): all processes run throughout
//!   --work-ns NS         the paced rounds' work between lookups (default 5000: a worker
//!                        serving 200,000 requests a second)
//!   --keys N             distinct tokens, all stored before the run (default 4096)
//!
//! Each round starts all its processes together and stops them together. Each process looks
//! up stored keys (random, from its own generator); every 64th operation
//! stores its key again instead (an insert: a writer in the key's set). "tight" rounds do
//! nothing else (the worst case: every process in the cache all the time); "paced" rounds spin
//! `--work-ns` between lookups, like a worker doing the rest of a request. Per round: the busy
//! rate (lookups that gave up: the old design's failed try-lock, the new one's lookups that
//! found their set being written `RETRIES` times), the CPU time per lookup, and the hits a
//! second of all processes together. Then the old design's critical section, measured in one
//! process, for the model in docs/performance.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use auth_jwt_core::cache::table::{Insert, Owner, Table};
use auth_jwt_core::{Lookup, NumericDate, TimeClaims};

/// Bytes of each design's table (both fit every key without eviction).
const REGION: usize = 4 << 20;
/// One operation in this many is an insert.
const INSERT_EVERY: u64 = 64;
const NOW: i64 = 1_000_000;

/// The previous design, as it was in src/verdict_zone.rs: the zone's slab mutex
/// (`ngx_shmtx_t`: `ngx_shmtx_trylock` is `*lock == 0 && cmp_set(lock, 0, pid)`, unlock is
/// `cmp_set(lock, pid, 0)` and a read of the waiters word) guarding one table of `sets` x 8
/// slots with a table-wide clock ticked on every lookup and insert.
mod old {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub const WAYS: usize = 8;

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct Slot {
        pub key: [u8; 32],
        pub expires: i64,
        pub used: u64,
        pub times: [u64; 3],
    }

    #[repr(C)]
    pub struct Table {
        pub sets: u64,
        pub clock: u64,
    }

    /// The mutex words (`ngx_shmtx_sh_t`: lock, wait), then the table, in one region.
    pub struct Zone {
        pub lock: &'static AtomicU64,
        pub wait: &'static AtomicU64,
        pub table: *mut Table,
    }

    impl Zone {
        /// # Safety
        /// `base` is a zeroed shared mapping of `len` bytes, page-aligned.
        pub unsafe fn format(base: *mut u8, len: usize) -> Zone {
            // SAFETY: guaranteed by the caller.
            unsafe {
                let table = base.add(64).cast::<Table>();
                let room = len - 64 - std::mem::size_of::<Table>();
                (*table).sets = (room / (std::mem::size_of::<Slot>() * WAYS)) as u64;
                Zone {
                    lock: &*base.cast::<AtomicU64>(),
                    wait: &*base.add(8).cast::<AtomicU64>(),
                    table,
                }
            }
        }

        pub fn trylock(&self, pid: u64) -> bool {
            self.lock.load(Ordering::Relaxed) == 0
                && self
                    .lock
                    .compare_exchange(0, pid, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
        }

        pub fn unlock(&self, pid: u64) {
            if self
                .lock
                .compare_exchange(pid, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                // ngx_shmtx_wakeup: no one waits on a try-lock.
                std::hint::black_box(self.wait.load(Ordering::Relaxed));
            }
        }

        /// The set of `key` (the old `Table::set`).
        ///
        /// # Safety
        /// The mutex is held.
        unsafe fn set<'a>(table: *mut Table, key: &[u8; 32]) -> &'a mut [Slot] {
            // SAFETY: guaranteed by the caller; the slots follow the header.
            unsafe {
                let sets = (*table).sets.max(1);
                let mut first = [0u8; 8];
                first.copy_from_slice(&key[..8]);
                let index = (u64::from_le_bytes(first) % sets) as usize;
                let slots = table.add(1).cast::<Slot>();
                std::slice::from_raw_parts_mut(slots.add(index * WAYS), WAYS)
            }
        }

        /// # Safety
        /// The mutex is held.
        unsafe fn tick(&self) -> u64 {
            // SAFETY: guaranteed by the caller.
            unsafe {
                let t = &mut *self.table;
                t.clock = t.clock.wrapping_add(1);
                t.clock
            }
        }

        /// The old lookup, body only (the mutex held).
        ///
        /// # Safety
        /// The mutex is held.
        pub unsafe fn lookup_locked(&self, key: &[u8; 32], now: i64) -> Option<[u64; 3]> {
            // SAFETY: guaranteed by the caller.
            unsafe {
                let stamp = self.tick();
                let slot = Zone::set(self.table, key)
                    .iter_mut()
                    .find(|s| s.expires > now && s.key == *key)?;
                slot.used = stamp;
                Some(slot.times)
            }
        }

        /// The old lookup: `None` when the mutex is busy, `Some(None)` for a miss.
        pub fn lookup(&self, key: &[u8; 32], now: i64, pid: u64) -> Option<Option<[u64; 3]>> {
            if !self.trylock(pid) {
                return None;
            }
            // SAFETY: the mutex is held.
            let r = unsafe { self.lookup_locked(key, now) };
            self.unlock(pid);
            Some(r)
        }

        /// The old insert: `false` when the mutex is busy.
        pub fn insert(
            &self,
            key: &[u8; 32],
            expires: i64,
            now: i64,
            times: [u64; 3],
            pid: u64,
        ) -> bool {
            if !self.trylock(pid) {
                return false;
            }
            // SAFETY: the mutex is held.
            unsafe {
                let stamp = self.tick();
                let set = Zone::set(self.table, key);
                let victim = match set.iter().position(|s| s.key == *key) {
                    Some(i) => i,
                    None => match set.iter().position(|s| s.expires <= now) {
                        Some(i) => i,
                        None => set
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, s)| s.used)
                            .map_or(0, |(i, _)| i),
                    },
                };
                set[victim] = Slot {
                    key: *key,
                    expires,
                    used: stamp,
                    times,
                };
            }
            self.unlock(pid);
            true
        }
    }
}

struct Process(u32);

impl Owner for Process {
    fn pid(&self) -> u32 {
        self.0
    }
    fn alive(&self, pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as i32, 0) == 0 }
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn keys(n: usize) -> Vec<[u8; 32]> {
    let mut s = 42;
    (0..n)
        .map(|_| {
            let mut k = [0u8; 32];
            for c in k.chunks_exact_mut(8) {
                c.copy_from_slice(&splitmix(&mut s).to_le_bytes());
            }
            k
        })
        .collect()
}

fn times_of(k: &[u8; 32]) -> TimeClaims {
    TimeClaims {
        exp: Some(NumericDate::Int(NOW + 3600 + i64::from(k[0]))),
        nbf: None,
    }
}

fn shared(len: usize) -> *mut u8 {
    // SAFETY: an anonymous shared mapping, inherited by the children we fork.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    p.cast()
}

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Clone, Copy, PartialEq)]
enum Design {
    Old,
    New,
}

/// Per process: lookups, hits, busy, inserts, inserts skipped, CPU ns.
const RESULT_WORDS: usize = 6;
/// Control words: start, stop, ready count; then the results.
const GO: usize = 0;
const STOP: usize = 1;
const READY: usize = 2;
const RESULTS: usize = 3;

struct Bench {
    keys: Vec<[u8; 32]>,
    old: old::Zone,
    new: &'static [AtomicU64],
    /// See [`GO`], [`STOP`], [`READY`], [`RESULTS`] (RESULT_WORDS per process).
    control: &'static [AtomicU64],
}

impl Bench {
    /// One process's share of a round.
    fn child(&self, design: Design, id: usize, work_ns: u64) {
        let pid = std::process::id();
        let me = Process(pid);
        let mut rng = 0x1234_5678 + id as u64 * 7919;
        let (mut hits, mut busy, mut skipped, mut ops) = (0u64, 0u64, 0u64, 0u64);
        let work = std::time::Duration::from_nanos(work_ns);
        self.control[READY].fetch_add(1, Ordering::SeqCst);
        while self.control[GO].load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        let cpu = cpu_ns();
        loop {
            if ops % 256 == 0 && self.control[STOP].load(Ordering::Relaxed) != 0 {
                break;
            }
            let op = ops;
            ops += 1;
            let k = &self.keys[(splitmix(&mut rng) % self.keys.len() as u64) as usize];
            if op % INSERT_EVERY == INSERT_EVERY - 1 {
                let stored = match design {
                    Design::Old => {
                        self.old
                            .insert(k, NOW + 300, NOW, times_of(k).to_words(), u64::from(pid))
                    }
                    Design::New => {
                        let t = Table::attach(self.new).unwrap();
                        t.insert(k, NOW + 300, NOW, times_of(k), id, &me) != Insert::Skipped
                    }
                };
                skipped += u64::from(!stored);
                continue;
            }
            match design {
                Design::Old => match self.old.lookup(k, NOW, u64::from(pid)) {
                    Some(Some(t)) => {
                        assert_eq!(TimeClaims::from_words(t), Some(times_of(k)));
                        hits += 1;
                    }
                    Some(None) => panic!("old: a stored key missed"),
                    None => busy += 1,
                },
                Design::New => match Table::attach(self.new).unwrap().lookup(k, NOW, id) {
                    Lookup::Hit(t) => {
                        assert_eq!(t, times_of(k));
                        hits += 1;
                    }
                    Lookup::Miss => panic!("new: a stored key missed"),
                    Lookup::Busy => busy += 1,
                },
            }
            if work_ns > 0 {
                let start = Instant::now();
                while start.elapsed() < work {
                    std::hint::spin_loop();
                }
            }
        }
        let cpu = cpu_ns() - cpu;
        let out = &self.control[RESULTS + id * RESULT_WORDS..][..RESULT_WORDS];
        let inserts = ops / INSERT_EVERY;
        for (w, v) in out
            .iter()
            .zip([ops - inserts, hits, busy, inserts, skipped, cpu])
        {
            w.store(v, Ordering::SeqCst);
        }
    }

    /// A round: `procs` processes for `ms` milliseconds. Prints one row.
    fn round(&self, mode: &str, design: Design, procs: usize, ms: u64, work_ns: u64) {
        for w in self.control {
            w.store(0, Ordering::SeqCst);
        }
        let mut children = Vec::new();
        for id in 0..procs {
            // SAFETY: the child only computes and writes to the shared mappings, then exits
            // with `_exit` (no destructors, no buffered output of the parent).
            match unsafe { libc::fork() } {
                0 => {
                    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.child(design, id, work_ns)
                    }))
                    .is_ok();
                    // SAFETY: ends the child.
                    unsafe { libc::_exit(if ok { 0 } else { 1 }) };
                }
                -1 => panic!("fork failed"),
                pid => children.push(pid),
            }
        }
        while (self.control[READY].load(Ordering::SeqCst) as usize) < procs {
            std::thread::yield_now();
        }
        let start = Instant::now();
        self.control[GO].store(1, Ordering::Release);
        std::thread::sleep(std::time::Duration::from_millis(ms));
        self.control[STOP].store(1, Ordering::Release);
        for pid in children {
            let mut status = 0;
            // SAFETY: our child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "a child failed"
            );
        }
        let wall = start.elapsed().as_secs_f64();
        let mut sum = [0u64; RESULT_WORDS];
        for id in 0..procs {
            for (s, w) in sum
                .iter_mut()
                .zip(&self.control[RESULTS + id * RESULT_WORDS..][..RESULT_WORDS])
            {
                *s += w.load(Ordering::SeqCst);
            }
        }
        let [lookups, hits, busy, inserts, skipped, cpu] = sum;
        // CPU per lookup: only for tight rounds (a paced round's CPU time is mostly its work).
        let cost = if work_ns == 0 {
            format!("{:.1}", cpu as f64 / lookups as f64)
        } else {
            "-".to_owned()
        };
        println!(
            "| {mode} | {procs} | {} | {:.3} % | {:.3} % | {cost} | {:.2} |",
            if design == Design::Old { "old" } else { "new" },
            100.0 * busy as f64 / lookups as f64,
            100.0 * skipped as f64 / inserts.max(1) as f64,
            hits as f64 / wall / 1e6,
        );
    }
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().ok().expect("a number"))
        .unwrap_or(default)
}

/// CPU ns per operation of `f` (CPU time: the machine may be shared), the median of 5 runs
/// of `n`.
fn per_op(n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let start = cpu_ns();
            for i in 0..n {
                f(i);
            }
            (cpu_ns() - start) as f64 / n as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let procs: Vec<usize> = args
        .iter()
        .position(|a| a == "--procs")
        .and_then(|i| args.get(i + 1))
        .map_or(vec![1, 2, 4, 8, 16], |v| {
            v.split(',').map(|p| p.parse().expect("a number")).collect()
        });
    let ms = arg(&args, "--ms", 1000u64);
    let work_ns = arg(&args, "--work-ns", 5_000u64);
    let nkeys = arg(&args, "--keys", 4096usize);

    let old_base = shared(REGION);
    // SAFETY: a fresh zeroed mapping.
    let old = unsafe { old::Zone::format(old_base, REGION) };
    let new_base = shared(REGION);
    // SAFETY: a fresh, page-aligned shared mapping, only ever accessed as atomics.
    let new: &'static [AtomicU64] =
        unsafe { std::slice::from_raw_parts(new_base.cast::<AtomicU64>(), REGION / 8) };
    let table = Table::format(new).unwrap();
    let control_base = shared(4096 * 4);
    // SAFETY: as above.
    let control: &'static [AtomicU64] =
        unsafe { std::slice::from_raw_parts(control_base.cast::<AtomicU64>(), 4096 * 4 / 8) };
    let keys = keys(nkeys);
    let me = Process(std::process::id());
    for k in &keys {
        assert!(old.insert(k, NOW + 300, NOW, times_of(k).to_words(), 1));
        assert_eq!(
            table.insert(k, NOW + 300, NOW, times_of(k), 0, &me),
            Insert::Stored
        );
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{cpus} CPUs; {nkeys} tokens stored; 1 operation in {INSERT_EVERY} an insert; \
         rounds of {ms} ms; paced: {work_ns} ns of work between lookups\n"
    );
    println!("| rounds | procs | design | busy lookups | skipped inserts | CPU ns per lookup | hits/s (M), all processes |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    let bench = Bench {
        keys,
        old,
        new,
        control,
    };
    for &p in &procs {
        for design in [Design::Old, Design::New] {
            bench.round("tight", design, p, ms, 0);
        }
    }
    for &p in &procs {
        for design in [Design::Old, Design::New] {
            bench.round("paced", design, p, ms, work_ns);
        }
    }

    // The old design's critical section, one process, warm caches.
    let n = 2_000_000;
    let pid = u64::from(std::process::id());
    let k = &bench.keys;
    let pick = |i: u64| &k[(i.wrapping_mul(0x9e37_79b9) % k.len() as u64) as usize];
    let loop_only = per_op(n, |i| {
        std::hint::black_box(pick(i));
    });
    let whole = per_op(n, |i| {
        std::hint::black_box(bench.old.lookup(pick(i), NOW, pid));
    });
    let body = per_op(n, |i| {
        // SAFETY: no other process runs now: the table is ours.
        std::hint::black_box(unsafe { bench.old.lookup_locked(pick(i), NOW) });
    });
    let lock_unlock = per_op(n, |i| {
        std::hint::black_box(pick(i));
        assert!(bench.old.trylock(pid));
        bench.old.unlock(pid);
    });
    let new_hit = per_op(n, |i| {
        std::hint::black_box(Table::attach(bench.new).unwrap().lookup(pick(i), NOW, 0));
    });
    println!(
        "\none process, warm caches, ns per operation (the key choice, {:.1} ns, taken out):\n\
         old lookup (try-lock, tick, scan, unlock): {:.1}\n\
         old lookup body alone (tick, scan):         {:.1}\n\
         old try-lock + unlock alone:               {:.1}\n\
         old critical section (body + unlock, ~ body + half the lock pair): {:.1}\n\
         new lookup (attach, seqlock read, scan):    {:.1}",
        loop_only,
        whole - loop_only,
        body - loop_only,
        lock_unlock - loop_only,
        body - loop_only + (lock_unlock - loop_only) / 2.0,
        new_hit - loop_only,
    );
}

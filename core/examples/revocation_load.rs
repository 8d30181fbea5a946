//! Load time, memory and lookup cost of a 1,000,000-entry revocation list.
//!
//!     cargo run --release -p auth-jwt-core --example revocation_load -- plain
//!     cargo run --release -p auth-jwt-core --example revocation_load -- exp
//!     cargo run --release -p auth-jwt-core --example revocation_load -- hashset
//!
//! `plain`: `{"<uuid>":true, ...}` (sub/kid lists); `exp`: every entry is a jti object
//! `{"<uuid>":{"exp":<future>}, ...}`; `hashset`: for comparison, the same names in a
//! `std::collections::HashSet<Box<str>>` (no parsing). Names are 36-character UUID-like
//! strings. Memory is the growth of VmRSS (/proc/self/status) across the load, measured after
//! the file bytes and the lookup keys already exist. Lookups: 1,000,000 hits in shuffled order
//! and 1,000,000 misses (other UUIDs).

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

use auth_jwt_core::RevocationList;

const N: usize = 1_000_000;
const NOW: i64 = 1_700_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "plain".into());
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let names: Vec<String> = (0..N).map(|_| rng.uuid()).collect();
    let misses: Vec<String> = (0..N).map(|_| rng.uuid()).collect();
    // Shuffled hit order, so that hits do not walk the list sequentially; the keys are copied
    // in that order, so that reading a key is not itself a cache miss (a request's key is hot).
    let mut order: Vec<usize> = (0..N).collect();
    for i in (1..N).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let hits: Vec<String> = order.iter().map(|&i| names[i].clone()).collect();
    let mut json = String::with_capacity(N * 64);
    json.push('{');
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        json.push_str(n);
        json.push_str("\":");
        match mode.as_str() {
            "exp" => json.push_str(&format!("{{\"exp\":{}}}", NOW + 86_400 + i as i64)),
            _ => json.push_str("true"),
        }
    }
    json.push('}');
    let data = json.into_bytes();

    let before = vm_rss_kib();
    let t = Instant::now();
    let contains: Box<dyn Fn(&str) -> bool> = if mode == "hashset" {
        let set: HashSet<Box<str>> = names.iter().map(|n| n.as_str().into()).collect();
        let load = t.elapsed();
        let after = vm_rss_kib();
        println!(
            "mode=hashset entries={} build={:.1} ms rss_growth={:.1} MiB ({:.1} B/entry)",
            set.len(),
            load.as_secs_f64() * 1e3,
            (after - before) as f64 / 1024.0,
            (after - before) as f64 * 1024.0 / N as f64
        );
        Box::new(move |v| set.contains(v))
    } else {
        let list = RevocationList::parse(&data, NOW).unwrap();
        let load = t.elapsed();
        let after = vm_rss_kib();
        assert_eq!(list.len(), N);
        println!(
            "mode={mode} file={:.1} MiB entries={} parse={:.1} ms rss_growth={:.1} MiB ({:.1} B/entry) heap_size={:.1} MiB",
            data.len() as f64 / 1048576.0,
            list.len(),
            load.as_secs_f64() * 1e3,
            (after - before) as f64 / 1024.0,
            (after - before) as f64 * 1024.0 / N as f64,
            list.heap_size() as f64 / 1048576.0,
        );
        Box::new(move |v| list.contains(v, NOW))
    };

    for (what, keys, expected) in [("hits", &hits, N), ("misses", &misses, 0)] {
        let t = Instant::now();
        let found = keys
            .iter()
            .filter(|k| contains(black_box(k.as_str())))
            .count();
        let ns = t.elapsed().as_nanos() as f64 / keys.len() as f64;
        assert_eq!(found, expected);
        println!("  {what}: {ns:.0} ns/lookup");
    }
}

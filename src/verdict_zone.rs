//! The shared-memory store of the verified-token cache (`auth_jwt_cache`).
//!
//! What is stored and when is decided by `auth_jwt_core::cache`, and the table itself (its
//! layout, the lock-free lookups, the per-set insert locks, the counters) is
//! `auth_jwt_core::cache::table`; this file only puts that table in a shared memory zone, so
//! every worker sees every verdict, and tells it this process's id.

use std::ffi::c_void;
use std::sync::atomic::AtomicU64;

use auth_jwt_core::cache::table::{Insert, Owner, Stats, Table};
use auth_jwt_core::{Lookup, TimeClaims, VerdictCache};
use ngx::ffi::{
    ngx_int_t, ngx_log_t, ngx_pagesize, ngx_shm_zone_t, ngx_slab_calloc, ngx_slab_pool_t,
    NGX_ERROR, NGX_LOG_EMERG, NGX_LOG_NOTICE, NGX_LOG_WARN, NGX_OK,
};

use crate::ngx_ext::log_error;

/// The zone's name, for log lines.
fn zone_name(zone: &ngx_shm_zone_t) -> String {
    String::from_utf8_lossy(zone.shm.name.as_bytes()).into_owned()
}

/// The words from `base` (aligned to a cache line) to the end of the zone. `Table` reads the
/// table's size from its header and only ever touches the table's own words; the slice may
/// run on over the zone's free pages, which nothing reads or writes through it.
///
/// # Safety
/// `base` must lie within the zone's mapping, and every access to the table's bytes, by any
/// process, must be atomic (the table is only ever accessed through `Table`).
unsafe fn region<'a>(zone: &ngx_shm_zone_t, base: *mut u8) -> Option<&'a [AtomicU64]> {
    let end = zone.shm.addr as usize + zone.shm.size;
    let words = end.checked_sub(base as usize)? / 8;
    if base.is_null() || base.align_offset(64) != 0 {
        return None;
    }
    // SAFETY: guaranteed by the caller: `words` 8-byte words from an aligned `base`, mapped
    // for the cycle's life (nginx unmaps a zone only when no cycle uses it), only accessed
    // atomically.
    Some(unsafe { std::slice::from_raw_parts(base.cast::<AtomicU64>(), words) })
}

/// Formats a new table in about `bytes` bytes allocated from the zone's slab pool, aligned to
/// a cache line; null if they cannot be allocated.
///
/// # Safety
/// `shpool` must be the initialised slab pool of `zone`.
unsafe fn new_table(zone: &ngx_shm_zone_t, shpool: *mut ngx_slab_pool_t, bytes: usize) -> *mut u8 {
    // SAFETY: guaranteed by the caller; `ngx_slab_calloc` takes the pool's mutex.
    let start = unsafe { ngx_slab_calloc(shpool, bytes) }.cast::<u8>();
    if start.is_null() {
        return start;
    }
    let base = start.wrapping_add(start.align_offset(64));
    let len = bytes.saturating_sub(base as usize - start as usize) / 8 * 8;
    // SAFETY: the allocation is ours alone until its address is published (through
    // `zone.data` and the pool's `data`, read by workers forked later); `Table` accesses it
    // atomically. Only its `len` bytes are handed over, not the rest of the zone.
    let words = unsafe { region(zone, base) }.and_then(|w| w.get(..len / 8));
    match words.and_then(Table::format) {
        Some(_) => base,
        None => std::ptr::null_mut(),
    }
}

/// Initialises (or, on reload, takes over) the zone's table.
pub unsafe extern "C" fn ngx_http_auth_jwt_cache_init(
    shm_zone: *mut ngx_shm_zone_t,
    data: *mut c_void,
) -> ngx_int_t {
    // SAFETY: nginx calls zone init callbacks with the zone; its memory starts with the slab
    // pool nginx initialised.
    let zone = unsafe { &mut *shm_zone };
    let shpool = zone.shm.addr.cast::<ngx_slab_pool_t>();
    // SAFETY: the zone's log is set by nginx for the cycle.
    let log: &mut ngx_log_t = unsafe { &mut *zone.shm.log };
    // Leave a quarter of the zone to the slab allocator's own bookkeeping.
    let mut bytes = zone.shm.size / 4 * 3;
    // A table already there: on reload, the previous cycle's (`data`); on a platform where
    // shared memory outlives the master, the pool's.
    let existing = if !data.is_null() {
        data.cast::<u8>()
    } else if zone.shm.exists != 0 {
        // SAFETY: `shpool` is the zone's initialised slab pool.
        unsafe { (*shpool).data.cast::<u8>() }
    } else {
        std::ptr::null_mut()
    };
    if !existing.is_null() {
        // SAFETY: the previous table lies in the zone's mapping. A table of this layout is only
        // accessed atomically; anything else (the previous layout, whose first word is its
        // never-changing set count) is refused from its first word, never the magic.
        if unsafe { region(zone, existing) }
            .and_then(Table::attach)
            .is_some()
        {
            // Keep the table: its entries are keyed by the key set's fingerprint, so they
            // only ever match the same keys.
            zone.data = existing.cast();
            return NGX_OK as ngx_int_t;
        }
        // Made by another version of the module, whose workers may still be using it: leave
        // it to them and make a new table in what is free.
        // SAFETY: `shpool` is the zone's initialised slab pool; `pfree` is its count of free
        // pages (read without the mutex: only a size hint).
        bytes = unsafe { (*shpool).pfree } * unsafe { ngx_pagesize } / 4 * 3;
        log_error(
            log,
            NGX_LOG_NOTICE,
            &format!(
                "auth_jwt_cache: zone \"{}\" holds a table of another version of the module: \
                 starting a new one",
                zone_name(zone)
            ),
            false,
        );
    }
    // SAFETY: `shpool` is the zone's initialised slab pool.
    let table = unsafe { new_table(zone, shpool, bytes) };
    if table.is_null() {
        log_error(
            log,
            NGX_LOG_EMERG,
            &format!(
                "auth_jwt_cache: no room for a table in zone \"{}\"; give it a new name or size, \
                 or restart nginx",
                zone_name(zone)
            ),
            false,
        );
        return NGX_ERROR as ngx_int_t;
    }
    // SAFETY: as above.
    unsafe { (*shpool).data = table.cast() };
    zone.data = table.cast();
    NGX_OK as ngx_int_t
}

/// The zone's table, once the zone is initialised.
fn table(zone: &ngx_shm_zone_t) -> Option<Table<'_>> {
    // SAFETY: `zone.data` is null or a table formatted (or checked) by the zone's init, within
    // the zone's mapping; every process accesses it through `Table` only.
    unsafe { region(zone, zone.data.cast()) }.and_then(Table::attach)
}

/// The zone's counters (`$auth_jwt_cache_stats`).
pub fn stats(zone: &ngx_shm_zone_t) -> Option<Stats> {
    table(zone).map(|t| t.stats())
}

/// This worker's counter cell.
fn cell() -> usize {
    // SAFETY: set by nginx before the worker serves requests, never changed after.
    unsafe { ngx::ffi::ngx_worker }
}

/// This process, as the table needs it.
struct Worker;

impl Owner for Worker {
    fn pid(&self) -> u32 {
        // SAFETY: set by nginx when the process starts.
        unsafe { ngx::ffi::ngx_pid as u32 }
    }

    fn alive(&self, pid: u32) -> bool {
        const ESRCH: i32 = 3;
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let r = unsafe { ngx::ffi::kill(pid, 0) };
        // EPERM: it exists, under another user.
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(ESRCH)
    }

    fn in_set_lock(&self) {
        #[cfg(feature = "fault-injection")]
        die_if_asked();
    }
}

/// TEST-ONLY (`fault-injection`): when the file named by the environment variable
/// `AUTH_JWT_FAULT_DIE_IN_CACHE_LOCK` exists (passed to workers with nginx's `env` directive),
/// the worker removes it and kills itself with SIGKILL while it holds a set's lock (in an
/// insert), so a test can prove that a worker that dies there does not leave the set locked.
#[cfg(feature = "fault-injection")]
fn die_if_asked() {
    let Some(trigger) = std::env::var_os("AUTH_JWT_FAULT_DIE_IN_CACHE_LOCK") else {
        return;
    };
    if std::fs::remove_file(trigger).is_ok() {
        // SAFETY: plain libc calls on this process.
        unsafe {
            ngx::ffi::kill(ngx::ffi::getpid(), 9);
        }
    }
}

/// A request's view of the zone.
pub struct VerdictZone<'a> {
    pub zone: &'a ngx_shm_zone_t,
}

impl VerdictCache for VerdictZone<'_> {
    #[inline]
    fn lookup(&self, key: &[u8; 32], now: i64) -> Lookup {
        match table(self.zone) {
            Some(t) => t.lookup(key, now, cell()),
            None => Lookup::Miss,
        }
    }

    fn insert(&self, key: &[u8; 32], expires: i64, now: i64, times: TimeClaims) {
        let Some(t) = table(self.zone) else {
            return;
        };
        if let Insert::Recovered(pid) = t.insert(key, expires, now, times, cell(), &Worker) {
            // SAFETY: the cycle's log, valid in a worker.
            let log = unsafe { &mut *(*ngx::ffi::ngx_cycle).log };
            log_error(
                log,
                NGX_LOG_WARN,
                &format!(
                    "auth_jwt_cache: zone \"{}\": took over a set left locked by process {pid}, \
                     which exited; its entries were dropped",
                    zone_name(self.zone)
                ),
                false,
            );
        }
    }
}

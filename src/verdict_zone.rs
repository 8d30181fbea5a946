//! The shared-memory store of the verified-token cache (`auth_jwt_cache`).
//!
//! What is stored and when is decided by `auth_jwt_core::cache`; this file only keeps the
//! entries in a shared memory zone, so every worker sees every verdict.
//!
//! The zone holds one table: `sets` sets of `WAYS` slots. An entry lives in the set chosen by
//! the first bytes of its key (a SHA-256 digest); when a set is full the least recently used
//! slot of that set is replaced (expired slots first), so a full zone keeps working. The
//! zone's slab mutex guards the table, taken with `trylock` only: a busy zone counts as a miss
//! and a skipped insert, never as a wait or a failed request.

use std::ffi::c_void;
use std::mem;
use std::ptr::{self, NonNull};

use auth_jwt_core::{TimeClaims, VerdictCache};
use ngx::ffi::{
    ngx_int_t, ngx_shm_zone_t, ngx_shmtx_t, ngx_shmtx_trylock, ngx_shmtx_unlock, ngx_slab_calloc,
    ngx_slab_pool_t, NGX_ERROR, NGX_OK,
};

/// Slots per set.
const WAYS: usize = 8;

#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    key: [u8; 32],
    /// Unix seconds; 0 for an empty slot.
    expires: i64,
    /// Value of `Table::clock` at the last use; the smallest is the least recently used.
    used: u64,
    /// The token's `exp` and `nbf` ([`TimeClaims::to_words`]), checked again on every hit.
    times: [u64; 3],
}

#[repr(C)]
struct Table {
    sets: u64,
    clock: u64,
    // followed by `sets * WAYS` slots
}

impl Table {
    /// # Safety
    /// `this` must point at a table allocated by `ngx_http_auth_jwt_cache_init`, and the
    /// zone's mutex must be held.
    unsafe fn set<'a>(this: NonNull<Table>, key: &[u8; 32]) -> &'a mut [Slot] {
        // SAFETY: guaranteed by the caller; the slots follow the header and there are
        // `sets * WAYS` of them.
        unsafe {
            let sets = (*this.as_ptr()).sets.max(1);
            let mut first = [0u8; 8];
            first.copy_from_slice(&key[..8]);
            let index = (u64::from_le_bytes(first) % sets) as usize;
            let slots = this.as_ptr().add(1).cast::<Slot>();
            std::slice::from_raw_parts_mut(slots.add(index * WAYS), WAYS)
        }
    }

    /// # Safety
    /// As for [`Table::set`].
    unsafe fn tick(this: NonNull<Table>) -> u64 {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let t = &mut *this.as_ptr();
            t.clock = t.clock.wrapping_add(1);
            t.clock
        }
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
    if !data.is_null() {
        // Reload with the same zone: keep the table (its entries are keyed by the key set's
        // fingerprint, so they only ever match the same keys).
        zone.data = data;
        return NGX_OK as ngx_int_t;
    }
    // SAFETY: `shpool` is the zone's initialised slab pool.
    unsafe {
        if zone.shm.exists != 0 {
            zone.data = (*shpool).data;
            return NGX_OK as ngx_int_t;
        }
        // Leave a quarter of the zone to the slab allocator's own bookkeeping.
        let room = zone.shm.size / 4 * 3;
        let sets =
            (room.saturating_sub(mem::size_of::<Table>()) / (mem::size_of::<Slot>() * WAYS)).max(1);
        let bytes = mem::size_of::<Table>() + sets * WAYS * mem::size_of::<Slot>();
        let table = ngx_slab_calloc(shpool, bytes).cast::<Table>();
        if table.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*table).sets = sets as u64;
        (*table).clock = 0;
        (*shpool).data = table.cast();
        zone.data = table.cast();
    }
    NGX_OK as ngx_int_t
}

/// A request's view of the zone.
pub struct VerdictZone<'a> {
    pub zone: &'a ngx_shm_zone_t,
}

impl VerdictZone<'_> {
    /// Runs `f` on the table with the zone's mutex held; `None` when the zone is busy or not
    /// initialised.
    fn locked<R>(&self, f: impl FnOnce(NonNull<Table>) -> R) -> Option<R> {
        /// Unlocks when dropped, so the zone is released even if `f` unwinds.
        struct Held(*mut ngx_shmtx_t);
        impl Drop for Held {
            fn drop(&mut self) {
                // SAFETY: constructed only after a successful trylock of this mutex.
                unsafe { ngx_shmtx_unlock(self.0) };
            }
        }
        let table = NonNull::new(self.zone.data.cast::<Table>())?;
        let shpool = self.zone.shm.addr.cast::<ngx_slab_pool_t>();
        // SAFETY: the zone's memory starts with its slab pool, whose mutex guards the table.
        let mutex = unsafe { ptr::addr_of_mut!((*shpool).mutex) };
        // SAFETY: a valid, initialised shared-memory mutex.
        if unsafe { ngx_shmtx_trylock(mutex) } == 0 {
            return None;
        }
        let _held = Held(mutex);
        #[cfg(feature = "fault-injection")]
        die_if_asked();
        Some(f(table))
    }
}

/// TEST-ONLY (`fault-injection`): when the file named by the environment variable
/// `AUTH_JWT_FAULT_DIE_IN_CACHE_LOCK` exists (passed to workers with nginx's `env` directive),
/// the worker removes it and kills itself with SIGKILL while it holds the zone's mutex, so a
/// test can prove that a worker that dies there does not leave the zone locked.
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

impl VerdictCache for VerdictZone<'_> {
    fn lookup(&self, key: &[u8; 32], now: i64) -> Option<TimeClaims> {
        self.locked(|t| {
            // SAFETY: the mutex is held (see `locked`).
            unsafe {
                let stamp = Table::tick(t);
                let slot = Table::set(t, key)
                    .iter_mut()
                    .find(|s| s.expires > now && s.key == *key)?;
                slot.used = stamp;
                Some(slot.times)
            }
        })
        .flatten()
        .and_then(TimeClaims::from_words)
    }

    fn insert(&self, key: &[u8; 32], expires: i64, now: i64, times: TimeClaims) {
        if expires <= now {
            return;
        }
        self.locked(|t| {
            // SAFETY: the mutex is held (see `locked`).
            unsafe {
                let stamp = Table::tick(t);
                let set = Table::set(t, key);
                // The same key, else a free or expired slot, else the least recently used.
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
                if let Some(slot) = set.get_mut(victim) {
                    *slot = Slot {
                        key: *key,
                        expires,
                        used: stamp,
                        times: times.to_words(),
                    };
                }
            }
        });
    }
}

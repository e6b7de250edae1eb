// SPDX-License-Identifier: GPL-2.0

//! Giving the parked objects back: `pcpu_array_shrink()` and a shrinker per cache.
//!
//! The depots come first: they can be trimmed from any CPU, a whole magazine at a time, and
//! their magazines are the ones no CPU is using. A scan ends the depots' working-set interval
//! (what a depot did not use since the previous scan is its excess), trims that excess, then
//! flushes the CPUs' magazines, then trims the rest of the depots, within `nr_to_scan` in all.
//! `pcpu_array_shrink()` empties the depots and every CPU's magazines.
//!
//! A CPU's magazines can only be locked on that CPU, so flushing them means running on its CPU:
//! the cache's [`CpuWorks`](crate::percpu::cpu_work::CpuWorks) runs the flush in a kworker bound to
//! each CPU that has something to give, as SLUB flushes its sheaves. Only online CPUs whose
//! `objects_cached` counter is non-zero get a work item; a dead CPU's array is flushed by the
//! hotplug teardown.
//!
//! The shrinker counts the objects parked in the arrays of the online CPUs and, when reclaim
//! asks for `nr_to_scan` of them, gives back at most that many, the oldest of each array first,
//! waking as few CPUs as it can and starting where its previous scan stopped. While another
//! flush of the same cache runs, it stops rather than wait. Flushes of different caches never
//! wait for each other. It is registered from Rust, as binder's is.

use crate::{
    magazines::{
        state::CacheState,
        stats::Stat, //
    },
    percpu::cpu_work::IfBusy,
    policy::depot::TrimScope, //
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::c_ulong,
    prelude::*,
    str::CStr,
    sync::{
        atomic::Relaxed,
        Arc,
        ArcBorrow, //
    },
};

/// `SHRINK_STOP`: the scan could not free anything.
pub(crate) const SHRINK_STOP: c_ulong = !0;
/// `SHRINK_EMPTY`: nothing to free.
pub(crate) const SHRINK_EMPTY: c_ulong = !0 - 1;

/// Objects parked in the array of each online CPU, by their `objects_cached` counters (racy,
/// as a shrinker's count may be).
fn cached_on_online_cpus(state: &CacheState) -> impl Iterator<Item = (u32, usize)> + '_ {
    state
        .stats
        .online(Stat::ObjectsCached)
        .filter(|&(_, n)| n != 0)
        .map(|(cpu, n)| (cpu, usize::try_from(n).unwrap_or(usize::MAX)))
}

/// Gives up to `budget` objects back to the backing cache (`usize::MAX`: all of them), from
/// the arrays of the online CPUs that hold objects, each on its CPU. Starts at the CPU where
/// the previous call stopped and wakes no more CPUs than `budget` needs. May sleep. Returns how
/// many objects went back, or `None` when another flush of this cache runs and `if_busy` is
/// [`IfBusy::GiveUp`].
fn flush(state: &CacheState, budget: usize, if_busy: IfBusy) -> Option<usize> {
    // Called with the cache's work items to ourselves, so it sees what an earlier flush left.
    let plan = || {
        // Round the online CPUs from the one where the previous flush stopped.
        let start = state.shrink_cursor.load(Relaxed);
        let from_start = cached_on_online_cpus(state).filter(move |&(cpu, _)| cpu >= start);
        let wrapped = cached_on_online_cpus(state).filter(move |&(cpu, _)| cpu < start);
        let mut left = budget;
        Iterator::chain(from_start, wrapped).map_while(move |(cpu, cached)| {
            if left == 0 {
                return None;
            }
            // All of it, for `pcpu_array_shrink()`: what arrives meanwhile goes too.
            let take = if budget == usize::MAX {
                usize::MAX
            } else {
                cached.min(left)
            };
            left = left.saturating_sub(cached);
            state.shrink_cursor.store(cpu, Relaxed);
            Some((cpu, take))
        })
    };
    let ran = state.works.run(
        if_busy,
        state,
        |s, budget| {
            // Frees after a grace period wait in sealed magazines, to be trimmed once it ends.
            s.rcu_seal_this_cpu();
            s.flush_this_cpu(Stat::ShrinkFlush, budget)
        },
        plan,
    )?;
    state.count(Stat::ShrinkWork, ran.queued as u64);
    Some(ran.sum)
}

/// Flushes the array of every online CPU that holds objects, each on its CPU. May sleep, and
/// waits for a concurrent flush of the same cache. Returns how many objects went back to the
/// backing cache.
pub(crate) fn flush_all(state: &CacheState) -> usize {
    state.rcu_trim(usize::MAX)
        + state.trim_depots(usize::MAX, TrimScope::All)
        + flush(state, usize::MAX, IfBusy::Wait).unwrap_or(0)
}

/// What a scan of the shrinker gives back, at most `budget` objects: the depots' excess over
/// their working set, then the CPUs' magazines, then the rest of the depots. Returns how many
/// objects went back.
fn reclaim(state: &CacheState, budget: usize) -> usize {
    state.end_depot_intervals();
    // Sealed magazines whose grace period ended first: nothing uses them.
    let mut freed = state.rcu_trim(budget);
    freed += state.trim_depots(budget - freed, TrimScope::Excess);
    if freed < budget {
        // Another reclaimer (or `pcpu_array_shrink()`) is flushing the CPUs: leave them to it.
        freed += flush(state, budget - freed, IfBusy::GiveUp).unwrap_or(0);
    }
    if freed < budget {
        freed += state.trim_depots(budget - freed, TrimScope::All);
    }
    freed
}

/// A registered shrinker that flushes a cache's arrays under memory pressure.
///
/// # Invariants
///
/// `shrinker` is registered, and its `private_data` is a reference to a [`CacheState`] made with
/// `Arc::into_raw`, owned by this object and given back in `drop` after `shrinker_free()`.
pub(crate) struct Shrinker {
    shrinker: NonNull<bindings::shrinker>,
}

// SAFETY: The shrinker may be freed from any task, and the `CacheState` it refers to is `Send`.
unsafe impl Send for Shrinker {}
// SAFETY: `&Shrinker` gives access to nothing.
unsafe impl Sync for Shrinker {}

impl Shrinker {
    /// Registers a shrinker named `pcpu_array-<name>` that flushes the arrays of `state`.
    pub(crate) fn register(name: &CStr, state: Arc<CacheState>) -> Result<Self> {
        // SAFETY: The format and `name` are C strings; the name is formatted into the
        // shrinker's own copy (`shrinker_alloc()` takes a printf format).
        let raw = unsafe {
            bindings::shrinker_alloc(0, c"pcpu_array-%s".as_char_ptr(), name.as_char_ptr())
        };
        let shrinker = NonNull::new(raw).ok_or(ENOMEM)?;
        let data = Arc::into_raw(state);
        // SAFETY: `shrinker` is allocated and not registered yet, so nothing else reads these
        // fields; the callbacks have the exact types reclaim calls them through.
        unsafe {
            let s = shrinker.as_ptr();
            (*s).count_objects = Some(count_objects);
            (*s).scan_objects = Some(scan_objects);
            (*s).private_data = data.cast_mut().cast();
            bindings::shrinker_register(s);
        }
        // INVARIANT: Registered just above, with `private_data` from `Arc::into_raw`.
        Ok(Self { shrinker })
    }

    /// The registered `struct shrinker`, for tests that call it as reclaim would.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn raw(&self) -> *mut bindings::shrinker {
        self.shrinker.as_ptr()
    }
}

impl Drop for Shrinker {
    fn drop(&mut self) {
        let s = self.shrinker.as_ptr();
        // SAFETY: Registered (type invariant); `private_data` is read before the shrinker is
        // freed.
        let data = unsafe { (*s).private_data }.cast::<CacheState>();
        // SAFETY: Registered (type invariant); `shrinker_free()` waits for running callbacks,
        // so none can see `data` once it returns.
        unsafe { bindings::shrinker_free(s) };
        // SAFETY: `data` came from `Arc::into_raw` in `register` (type invariant), and no
        // callback can use it any more.
        drop(unsafe { Arc::from_raw(data) });
    }
}

/// The [`CacheState`] of a shrinker registered by [`Shrinker::register`].
///
/// # Safety
///
/// `s` must be a shrinker registered by [`Shrinker::register`] whose callbacks are running
/// (reclaim keeps it alive until they return).
unsafe fn shared_of<'a>(s: *mut bindings::shrinker) -> ArcBorrow<'a, CacheState> {
    // SAFETY: `private_data` is `Arc::into_raw` of a `CacheState` that the `Shrinker` owns until
    // `shrinker_free()`, which waits for this callback (guaranteed by the caller).
    unsafe { ArcBorrow::from_raw((*s).private_data.cast::<CacheState>()) }
}

/// The shrinker's `count_objects`.
///
/// # Safety
///
/// Called by reclaim with a shrinker registered by [`Shrinker::register`].
unsafe extern "C" fn count_objects(
    s: *mut bindings::shrinker,
    _sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: Guaranteed by the caller.
    let state = unsafe { shared_of(s) };
    // What a scan can free: the objects of the depots and those parked in the magazines of the
    // online CPUs (a dead CPU's magazines went to the depot in the hotplug teardown).
    let (_, ripe) = state.rcu_sealed_objects();
    let n = cached_on_online_cpus(&state).fold(state.depot_objects() + ripe, |sum, (_, n)| {
        sum.saturating_add(n)
    });
    match n {
        0 => SHRINK_EMPTY,
        n => n.min(SHRINK_EMPTY - 1),
    }
}

/// The shrinker's `scan_objects`: gives back at most `nr_to_scan` objects.
///
/// # Safety
///
/// As [`count_objects`], with a valid `sc`.
unsafe extern "C" fn scan_objects(
    s: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: Guaranteed by the caller.
    let state = unsafe { shared_of(s) };
    // SAFETY: Reclaim passes a valid control block.
    let nr_to_scan = unsafe { (*sc).nr_to_scan };
    let freed = reclaim(&state, nr_to_scan);
    // SAFETY: As above.
    unsafe { (*sc).nr_scanned = freed };
    if freed == 0 {
        SHRINK_STOP
    } else {
        freed
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "shrink_tests.rs"]
mod tests;

// SPDX-License-Identifier: GPL-2.0

//! Giving the parked objects back: `pcpu_array_shrink()`, a shrinker per cache, and the flush
//! of a dead CPU's array (for `crate::hotplug`).
//!
//! A CPU's array can only be locked on that CPU, so flushing every array means running on
//! every CPU: one work item per online CPU on a `WQ_MEM_RECLAIM` workqueue, as SLUB flushes its
//! sheaves. Each takes its CPU's objects out under the lock, 32 at a time, and bulk-frees them
//! with the lock dropped. The shrinker counts the objects parked in all arrays and, when reclaim
//! asks, flushes them all: they are free memory that the slab cannot give back while they are
//! parked.

use crate::{
    array::{
        Batch,
        ObjArray,
        BATCH_MAX, //
    },
    backing::BackingCache,
    cpu_pin::CpuPin,
    ffi,
    local_trylock::PerCpuTryLock,
    stats::{
        Stat,
        StatsTable, //
    },
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::{
        c_ulong,
        c_void, //
    },
    prelude::*,
    str::CStr,
    sync::Arc,
};

/// `SHRINK_STOP`: the scan could not free anything.
pub(crate) const SHRINK_STOP: c_ulong = !0;
/// `SHRINK_EMPTY`: nothing to free.
pub(crate) const SHRINK_EMPTY: c_ulong = !0 - 1;

/// What flushing a cache's arrays needs, reachable without the `PcpuArray`, which may move.
///
/// # Invariants
///
/// `arrays` is the [`PerCpuTryLock::raw_base`] of a live `PerCpuTryLock<ObjArray>` and
/// `backing` a live cache; both outlive this object (the owning `PcpuArray` drops it first).
pub(crate) struct FlushTarget {
    arrays: *mut c_void,
    backing: *mut bindings::kmem_cache,
    stats: Arc<StatsTable>,
}

// SAFETY: The flush runs on any CPU; the pointers are used there under the type invariant, and
// the per-CPU arrays are only reached through their locks.
unsafe impl Send for FlushTarget {}
// SAFETY: As above.
unsafe impl Sync for FlushTarget {}

impl FlushTarget {
    /// A target for `arrays` and `backing`.
    ///
    /// # Safety
    ///
    /// `arrays` and `backing` must outlive the returned object.
    pub(crate) unsafe fn new(
        arrays: &PerCpuTryLock<ObjArray>,
        backing: &BackingCache,
        stats: Arc<StatsTable>,
    ) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            arrays: arrays.raw_base(),
            backing: backing.as_ptr(),
            stats,
        }
    }

    /// Gives the objects of the array of the CPU the task runs on back to the backing cache.
    /// Returns how many. Stops early when the array's lock is held.
    fn flush_this_cpu(&self) -> usize {
        // SAFETY: The cache is alive (type invariant); the view is not dropped.
        let backing = unsafe { BackingCache::borrow_raw(self.backing) };
        let mut total = 0;
        loop {
            let mut batch = Batch::new();
            let n = {
                let pin = CpuPin::new();
                // SAFETY: `arrays` is the base of live arrays (type invariant).
                let locked = unsafe { PerCpuTryLock::<ObjArray>::try_lock_raw(self.arrays, &pin) };
                let Some(mut array) = locked else { break };
                let n = array.take_into(BATCH_MAX, &mut batch);
                let stats = self.stats.this_cpu(&pin);
                stats.add(Stat::ShrinkFlush, n as u64);
                stats.set(Stat::ObjectsCached, array.len() as u64);
                n
            };
            // SAFETY: The objects came out of an array, which owned them.
            batch.drain_with(|objs| unsafe { backing.free_bulk(objs) });
            total += n;
            // Fewer than a batch: the array was empty when we left it.
            if n < BATCH_MAX {
                break;
            }
        }
        total
    }

    /// Gives a dead CPU's array back to the backing cache, without its lock.
    ///
    /// # Safety
    ///
    /// `cpu` must be dead (no context can hold or take its lock), and calls for the same CPU
    /// must not run concurrently (the hotplug core serialises its teardowns).
    pub(crate) unsafe fn flush_dead_cpu(&self, cpu: u32) {
        // SAFETY: The cache is alive (type invariant); the view is not dropped.
        let backing = unsafe { BackingCache::borrow_raw(self.backing) };
        // SAFETY: The arrays are alive (type invariant), `cpu` is dead and we are alone on it
        // (guaranteed by the caller).
        let Some(array) =
            (unsafe { PerCpuTryLock::<ObjArray>::value_of_dead_cpu(self.arrays, cpu) })
        else {
            return;
        };
        let mut batch = Batch::new();
        let mut flushed = 0u64;
        while array.len() != 0 {
            flushed += array.take_into(BATCH_MAX, &mut batch) as u64;
            // SAFETY: An array's objects are live objects of the backing cache that it owns.
            batch.drain_with(|objs| unsafe { backing.free_bulk(objs) });
        }
        if let Some(s) = self.stats.on_cpu(cpu) {
            s.set(Stat::ObjectsCached, 0);
            s.add(Stat::CpuDeadFlush, flushed);
        }
    }

    /// Flushes every online CPU's array, each on its CPU. May sleep. Returns how many objects
    /// went back to the backing cache.
    pub(crate) fn flush_all(&self) -> usize {
        // SAFETY: `flush_cpu` takes a `FlushTarget`, and `self` outlives the call, which waits
        // for every work item.
        let n = unsafe {
            ffi::pcpu_array_on_each_cpu(flush_cpu, core::ptr::from_ref(self).cast_mut().cast())
        };
        n as usize
    }

    /// Objects parked in all arrays, by the counters (a racy sum, good enough for a shrinker).
    fn cached(&self) -> u64 {
        self.stats.snapshot().get(Stat::ObjectsCached)
    }
}

/// The work of [`FlushTarget::flush_all`] on one CPU.
///
/// # Safety
///
/// `arg` must point to a live [`FlushTarget`].
unsafe extern "C" fn flush_cpu(arg: *mut c_void) -> c_ulong {
    // SAFETY: Guaranteed by the caller.
    let target = unsafe { &*arg.cast::<FlushTarget>() };
    target.flush_this_cpu() as c_ulong
}

/// A registered shrinker that flushes a cache's arrays under memory pressure.
///
/// # Invariants
///
/// `shrinker` is registered with `private_data` pointing to `*target`, which lives in its own
/// allocation until `shrinker_free()` in `drop` has returned.
pub(crate) struct Shrinker {
    shrinker: NonNull<bindings::shrinker>,
    target: KBox<FlushTarget>,
}

// SAFETY: The shrinker may be freed from any task.
unsafe impl Send for Shrinker {}
// SAFETY: `&Shrinker` only reaches the target, which is `Sync`.
unsafe impl Sync for Shrinker {}

impl Shrinker {
    /// Registers a shrinker named `pcpu_array-<name>` for `target`.
    pub(crate) fn register(name: &CStr, target: FlushTarget) -> Result<Self> {
        let target = KBox::new(target, GFP_KERNEL)?;
        // SAFETY: `name` is a C string (copied), the callbacks have the shrinker signature, and
        // the target outlives the shrinker (freed only after `shrinker_free()`).
        let shrinker = unsafe {
            ffi::pcpu_array_shrinker_create(
                name.as_char_ptr(),
                count_objects,
                scan_objects,
                core::ptr::from_ref(&*target).cast_mut().cast(),
            )
        };
        // INVARIANT: Registered just above with a pointer to the boxed target.
        Ok(Self {
            shrinker: NonNull::new(shrinker).ok_or(ENOMEM)?,
            target,
        })
    }

    /// The target, to flush on demand.
    pub(crate) fn target(&self) -> &FlushTarget {
        &self.target
    }

    /// The registered `struct shrinker`, for tests that call it as reclaim would.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn raw(&self) -> *mut bindings::shrinker {
        self.shrinker.as_ptr()
    }
}

impl Drop for Shrinker {
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant); `shrinker_free()` waits for running callbacks,
        // so none can see the target once it returns.
        unsafe { bindings::shrinker_free(self.shrinker.as_ptr()) };
    }
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
    // SAFETY: `private_data` points to the live target (type invariant of `Shrinker`).
    let target = unsafe { &*(*s).private_data.cast::<FlushTarget>() };
    match target.cached() {
        0 => SHRINK_EMPTY,
        n => c_ulong::try_from(n).unwrap_or(SHRINK_EMPTY - 1),
    }
}

/// The shrinker's `scan_objects`: flushes every CPU's array.
///
/// # Safety
///
/// As [`count_objects`], with a valid `sc`.
unsafe extern "C" fn scan_objects(
    s: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: As in `count_objects`.
    let target = unsafe { &*(*s).private_data.cast::<FlushTarget>() };
    let freed = target.flush_all() as c_ulong;
    // SAFETY: Reclaim passes a valid control block.
    unsafe { (*sc).nr_scanned = freed };
    if freed == 0 {
        SHRINK_STOP
    } else {
        freed
    }
}

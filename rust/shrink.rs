// SPDX-License-Identifier: GPL-2.0

//! Giving the parked objects back: `pcpu_array_shrink()` and a shrinker per cache.
//!
//! A CPU's array can only be locked on that CPU, so flushing every array means running on
//! every CPU: [`crate::cpu_work::sum_on_each_cpu`] runs the flush in a kworker bound to each
//! online CPU, as SLUB flushes its sheaves. The shrinker counts the objects parked in all arrays
//! and, when reclaim asks, flushes them: they are free memory that the slab cannot give back
//! while they are parked. It is registered from Rust, as binder's is.

use crate::{
    shared::Shared,
    stats::Stat, //
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::c_ulong,
    prelude::*,
    str::CStr,
    sync::{
        Arc,
        ArcBorrow, //
    },
};

/// `SHRINK_STOP`: the scan could not free anything.
pub(crate) const SHRINK_STOP: c_ulong = !0;
/// `SHRINK_EMPTY`: nothing to free.
pub(crate) const SHRINK_EMPTY: c_ulong = !0 - 1;

/// Flushes every online CPU's array of `shared`, each on its CPU. May sleep. Returns how many
/// objects went back to the backing cache.
pub(crate) fn flush_all(shared: &Shared) -> usize {
    crate::cpu_work::sum_on_each_cpu(shared, |s| s.flush_this_cpu(Stat::ShrinkFlush))
}

/// A registered shrinker that flushes a cache's arrays under memory pressure.
///
/// # Invariants
///
/// `shrinker` is registered, and its `private_data` is a reference to a [`Shared`] made with
/// `Arc::into_raw`, owned by this object and given back in `drop` after `shrinker_free()`.
pub(crate) struct Shrinker {
    shrinker: NonNull<bindings::shrinker>,
}

// SAFETY: The shrinker may be freed from any task, and the `Shared` it refers to is `Send`.
unsafe impl Send for Shrinker {}
// SAFETY: `&Shrinker` gives access to nothing.
unsafe impl Sync for Shrinker {}

impl Shrinker {
    /// Registers a shrinker named `pcpu_array-<name>` that flushes the arrays of `shared`.
    pub(crate) fn register(name: &CStr, shared: Arc<Shared>) -> Result<Self> {
        // SAFETY: The format and `name` are C strings; the name is formatted into the
        // shrinker's own copy (`shrinker_alloc()` takes a printf format).
        let raw = unsafe {
            bindings::shrinker_alloc(0, c"pcpu_array-%s".as_char_ptr(), name.as_char_ptr())
        };
        let shrinker = NonNull::new(raw).ok_or(ENOMEM)?;
        let data = Arc::into_raw(shared);
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
        let data = unsafe { (*s).private_data }.cast::<Shared>();
        // SAFETY: Registered (type invariant); `shrinker_free()` waits for running callbacks,
        // so none can see `data` once it returns.
        unsafe { bindings::shrinker_free(s) };
        // SAFETY: `data` came from `Arc::into_raw` in `register` (type invariant), and no
        // callback can use it any more.
        drop(unsafe { Arc::from_raw(data) });
    }
}

/// The [`Shared`] of a shrinker registered by [`Shrinker::register`].
///
/// # Safety
///
/// `s` must be a shrinker registered by [`Shrinker::register`] whose callbacks are running
/// (reclaim keeps it alive until they return).
unsafe fn shared_of<'a>(s: *mut bindings::shrinker) -> ArcBorrow<'a, Shared> {
    // SAFETY: `private_data` is `Arc::into_raw` of a `Shared` that the `Shrinker` owns until
    // `shrinker_free()`, which waits for this callback (guaranteed by the caller).
    unsafe { ArcBorrow::from_raw((*s).private_data.cast::<Shared>()) }
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
    let shared = unsafe { shared_of(s) };
    // Objects parked in all arrays, by the counters: a racy sum, good enough for a shrinker.
    match shared.stats().get(Stat::ObjectsCached) {
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
    // SAFETY: Guaranteed by the caller.
    let shared = unsafe { shared_of(s) };
    let freed = flush_all(&shared) as c_ulong;
    // SAFETY: Reclaim passes a valid control block.
    unsafe { (*sc).nr_scanned = freed };
    if freed == 0 {
        SHRINK_STOP
    } else {
        freed
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A periodic, deferrable work item that calls [`Periodic::tick`] on a shared value
//! (`pcpu_array_tick_start()` of `pcpu_array_cpu_work.c`): it never wakes an idle CPU.

use crate::sys::ffi;
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*,
    sync::Arc, //
};

/// What a [`Tick`] calls, from a work item (a task, which may sleep).
pub(crate) trait Periodic: Send + Sync + 'static {
    /// Called every interval until the tick is dropped.
    fn tick(&self);
}

/// A periodic work item that holds a reference to a `T` and calls [`Periodic::tick`] on it.
///
/// # Invariants
///
/// `tick` came from `pcpu_array_tick_start()` with `run::<T>` and `arg` as its argument, and is
/// stopped only on drop; `arg` came from `Arc::into_raw` and is given back on drop.
pub(crate) struct Tick<T: Periodic> {
    tick: NonNull<c_void>,
    arg: *const T,
}

// SAFETY: The tick is a work item, stopped from whatever task drops it; `T` is `Send + Sync`.
unsafe impl<T: Periodic> Send for Tick<T> {}
// SAFETY: `&Tick<T>` gives access to nothing but the timer's flags.
unsafe impl<T: Periodic> Sync for Tick<T> {}

/// The tick's function.
///
/// # Safety
///
/// `arg` must be the `arg` of a live [`Tick<T>`].
unsafe extern "C" fn run<T: Periodic>(arg: *mut c_void) {
    // SAFETY: `arg` is a reference the tick holds until it has been stopped, and the tick is
    // stopped (waiting for this call) before that reference is dropped.
    unsafe { &*arg.cast::<T>() }.tick();
}

impl<T: Periodic> Tick<T> {
    /// Calls `arg.tick()` every `interval_ms` milliseconds until the result is dropped.
    pub(crate) fn start(arg: Arc<T>, interval_ms: u32) -> Result<Self> {
        let raw = Arc::into_raw(arg);
        // SAFETY: `run::<T>` may be called with `raw` until the tick is stopped, which `Drop`
        // does before giving the reference back.
        let tick =
            unsafe { ffi::pcpu_array_tick_start(run::<T>, raw.cast_mut().cast(), interval_ms) };
        let Some(tick) = NonNull::new(tick) else {
            // SAFETY: From `Arc::into_raw` just above; the tick does not exist.
            drop(unsafe { Arc::from_raw(raw) });
            return Err(ENOMEM);
        };
        // INVARIANT: Started with `run::<T>` and `raw`, which came from `Arc::into_raw`.
        Ok(Self { tick, arg: raw })
    }

    /// Whether the tick's timer is deferrable, for the tests.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn deferrable(&self) -> bool {
        // SAFETY: The tick lives until `drop` (type invariant); only its timer's flags are read.
        unsafe { ffi::pcpu_array_tick_deferrable(self.tick.as_ptr()) }
    }
}

impl<T: Periodic> Drop for Tick<T> {
    fn drop(&mut self) {
        // SAFETY: Started in `start` (type invariant), stopped once, here; this waits for a
        // running `run` and keeps it from running again.
        unsafe { ffi::pcpu_array_tick_stop(self.tick.as_ptr()) };
        // SAFETY: From `Arc::into_raw` (type invariant), and `run` can no longer use it.
        drop(unsafe { Arc::from_raw(self.arg) });
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Running a function on every online CPU, for `pcpu_array_shrink()` and the shrinkers.
//!
//! The engine is in `pcpu_array_cpu_work.c`: per-CPU work items on a `WQ_MEM_RECLAIM`
//! workqueue, as SLUB's `flush_all()` uses for its sheaves, so that a shrinker called under
//! memory pressure makes progress. The module owns the workqueue as a [`CpuWorkQueue`].

use crate::ffi;
use kernel::{
    error::to_result,
    ffi::{
        c_ulong,
        c_void, //
    },
    prelude::*,
};

/// The module's workqueue for [`sum_on_each_cpu`]: created with the module, destroyed with it.
///
/// # Invariants
///
/// While this object lives, the workqueue of `pcpu_array_cpu_work.c` exists. There is at most
/// one (the module's).
pub(crate) struct CpuWorkQueue {
    _private: (),
}

impl CpuWorkQueue {
    /// Creates the workqueue. Called once, from module init.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Called once, before any cache exists; `Drop` undoes it.
        to_result(unsafe { ffi::pcpu_array_cpu_work_init() })?;
        // INVARIANT: Created just above.
        Ok(Self { _private: () })
    }
}

impl Drop for CpuWorkQueue {
    fn drop(&mut self) {
        // SAFETY: Created in `new` (type invariant). The module drops it after every cache is
        // gone, so no work item can be queued any more; destroying the queue flushes it.
        unsafe { ffi::pcpu_array_cpu_work_exit() };
    }
}

/// What a work item runs: `f(arg)`.
struct Call<'a, T> {
    arg: &'a T,
    f: fn(&T) -> usize,
}

/// The C-callable side of [`Call`].
///
/// # Safety
///
/// `call` must point to a live `Call<'_, T>`.
unsafe extern "C" fn trampoline<T>(call: *mut c_void) -> c_ulong {
    // SAFETY: Guaranteed by the caller: `sum_on_each_cpu` passes its own `Call`, which outlives
    // every work item.
    let call = unsafe { &*call.cast::<Call<'_, T>>() };
    (call.f)(call.arg) as c_ulong
}

/// Runs `f(arg)` in a kworker bound to each online CPU, waits for all of them and returns the
/// sum of what they returned. May sleep. A work item whose CPU goes offline meanwhile runs on
/// another CPU, so `f` must act on the CPU it runs on (a dead CPU is the hotplug teardown's).
pub(crate) fn sum_on_each_cpu<T: Sync>(arg: &T, f: fn(&T) -> usize) -> usize {
    let call = Call { arg, f };
    // SAFETY: `trampoline::<T>` takes a `Call<'_, T>`; the C side waits for every work item
    // before returning, so `call` outlives them, and `T: Sync` lets them share `arg`.
    let sum = unsafe {
        ffi::pcpu_array_on_each_cpu(
            trampoline::<T>,
            core::ptr::from_ref(&call).cast_mut().cast(),
        )
    };
    sum as usize
}

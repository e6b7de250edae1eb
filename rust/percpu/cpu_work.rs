// SPDX-License-Identifier: GPL-2.0

//! Running a function on chosen CPUs, for `pcpu_array_shrink()` and the shrinkers.
//!
//! The engine is in `pcpu_array_cpu_work.c`: per-CPU work items on a `WQ_MEM_RECLAIM`
//! workqueue, as SLUB's `flush_all()` uses for its sheaves, so that a shrinker called under
//! memory pressure makes progress. The module owns the workqueue as a [`CpuWorkQueue`]; each
//! cache owns its work items as a [`CpuWorks`], so that flushes of different caches never wait
//! for each other, and queues an item only to the CPUs it names.

use crate::sys::ffi;
use core::ptr::NonNull;
use kernel::{
    error::to_result,
    ffi::{
        c_ulong,
        c_void, //
    },
    prelude::*,
};

/// The module's workqueues, for [`CpuWorks`] and for deferred teardown: created with the
/// module, destroyed with it.
///
/// # Invariants
///
/// While this object lives, the workqueues of `pcpu_array_cpu_work.c` exist. There is at most
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

/// What [`CpuWorks::run`] does when another caller is running the same items.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IfBusy {
    /// Sleep until that caller is done, then run.
    Wait,
    /// Return `None` at once (a shrinker: the other caller is already freeing these objects).
    GiveUp,
}

/// What one [`CpuWorks::run`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Ran {
    /// The sum of what the work items returned.
    pub(crate) sum: usize,
    /// How many work items were queued, each waking a kworker on its CPU.
    pub(crate) queued: usize,
}

/// One work item per possible CPU, owned by one cache, queued to the module's per-CPU workqueue
/// by one caller at a time.
///
/// # Invariants
///
/// `raw` is a `struct pcpu_array_cpu_works` from `pcpu_array_cpu_works_alloc()`, owned by this
/// object. Its mutex is only held inside [`CpuWorks::run`] (and the tests' `hold`), which queues
/// items only with it held and waits for all of them before releasing it: whenever the mutex
/// is free, no item is queued or running.
pub(crate) struct CpuWorks {
    raw: NonNull<c_void>,
}

// SAFETY: The C object may be used and freed from any task; every access to its items is made
// with its mutex held.
unsafe impl Send for CpuWorks {}
// SAFETY: `&CpuWorks` only gives `run`, which takes the mutex.
unsafe impl Sync for CpuWorks {}

/// What a work item runs: `f(arg, budget)`.
struct Call<'a, T> {
    arg: &'a T,
    f: fn(&T, usize) -> usize,
}

/// The C-callable side of [`Call`].
///
/// # Safety
///
/// `call` must point to a live `Call<'_, T>`.
unsafe extern "C" fn trampoline<T>(call: *mut c_void, budget: c_ulong) -> c_ulong {
    // SAFETY: Guaranteed by the caller: `CpuWorks::run` passes its own `Call`, which outlives
    // every work item it queues.
    let call = unsafe { &*call.cast::<Call<'_, T>>() };
    (call.f)(call.arg, budget)
}

impl CpuWorks {
    /// An idle work item for every possible CPU. Needs the module's [`CpuWorkQueue`] to run
    /// them, which exists whenever a cache can.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: No precondition; the result is owned by the new object.
        let raw = NonNull::new(unsafe { ffi::pcpu_array_cpu_works_alloc() }).ok_or(ENOMEM)?;
        // INVARIANT: Allocated just above; its mutex is free and nothing is queued.
        Ok(Self { raw })
    }

    /// Runs `f(arg, budget)` in a kworker bound to `cpu` for each `(cpu, budget)` that `plan()`
    /// yields, waits for all of them and returns the sum of what they returned and how many
    /// ran. A CPU named twice runs once, with the first budget. May sleep.
    ///
    /// One caller at a time: `plan` is called once the others are done, so it sees what they
    /// left; it must not call `run` on these items. When another caller is running, `if_busy`
    /// says whether to wait for it or to return `None` at once. A work item whose CPU goes
    /// offline meanwhile runs on another CPU, so `f` must act on the CPU it runs on (a dead
    /// CPU is the hotplug teardown's).
    pub(crate) fn run<T: Sync, I: IntoIterator<Item = (u32, usize)>>(
        &self,
        if_busy: IfBusy,
        arg: &T,
        f: fn(&T, usize) -> usize,
        plan: impl FnOnce() -> I,
    ) -> Option<Ran> {
        let works = self.raw.as_ptr();
        // SAFETY: `works` is live (type invariant).
        if !unsafe { ffi::pcpu_array_cpu_works_lock(works, if_busy == IfBusy::Wait) } {
            return None;
        }
        let call = Call { arg, f };
        let mut queued = 0;
        for (cpu, budget) in plan() {
            // SAFETY: We hold the mutex of the live `works`. `trampoline::<T>` takes a
            // `Call<'_, T>`, and `call` outlives the item: we wait for it below before
            // returning. `T: Sync` lets the items share `arg` across CPUs.
            let ok = unsafe {
                ffi::pcpu_array_cpu_work_queue(
                    works,
                    cpu,
                    trampoline::<T>,
                    core::ptr::from_ref(&call).cast_mut().cast(),
                    budget,
                )
            };
            queued += usize::from(ok);
        }
        // SAFETY: We hold the mutex; the wait returns once every item queued above has run.
        let sum = unsafe { ffi::pcpu_array_cpu_works_wait(works) };
        // INVARIANT: Nothing is queued or running any more when the mutex is released.
        // SAFETY: Taken above, by this task.
        unsafe { ffi::pcpu_array_cpu_works_unlock(works) };
        Some(Ran { sum, queued })
    }

    /// Runs `f` with the mutex held, as another caller of [`CpuWorks::run`] would: for the
    /// tests of what a second caller does. `f` must not run these items with
    /// [`IfBusy::Wait`], which would wait for itself.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn hold<R>(&self, f: impl FnOnce() -> R) -> R {
        let works = self.raw.as_ptr();
        // SAFETY: `works` is live (type invariant).
        unsafe { ffi::pcpu_array_cpu_works_lock(works, true) };
        let r = f();
        // INVARIANT: Nothing was queued with the mutex held here.
        // SAFETY: Taken above, by this task.
        unsafe { ffi::pcpu_array_cpu_works_unlock(works) };
        r
    }
}

impl Drop for CpuWorks {
    fn drop(&mut self) {
        // SAFETY: Owned by us (type invariant). `&mut self`: no `run` is in progress, so no item
        // is queued or running.
        unsafe { ffi::pcpu_array_cpu_works_free(self.raw.as_ptr()) };
    }
}

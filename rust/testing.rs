// SPDX-License-Identifier: GPL-2.0

//! Helpers for the KUnit suites: running code on a chosen CPU, with interrupts off, or with
//! slab fault injection armed.

use crate::ffi;
use kernel::ffi::{
    c_long,
    c_void, //
};

/// The online CPUs, in increasing order.
pub(crate) fn online_cpus() -> impl Iterator<Item = u32> {
    let mut next = -1i32;
    core::iter::from_fn(move || {
        // SAFETY: Reading the online mask and `nr_cpu_ids` has no preconditions.
        let (cpu, nr) = unsafe {
            (
                ffi::pcpu_array_next_online_cpu(next),
                ffi::pcpu_array_nr_cpu_ids(),
            )
        };
        if cpu >= nr {
            return None;
        }
        next = i32::try_from(cpu).ok()?;
        Some(cpu)
    })
}

/// Runs `f` in a kworker bound to `cpu` and returns its result, or `None` when it did not run.
///
/// The kworker cannot migrate, so everything `f` does happens on `cpu`. Assertions belong in
/// the test's own thread: `f` returns what it saw.
pub(crate) fn on_cpu<R, F: FnOnce() -> R>(cpu: u32, f: F) -> Option<R> {
    struct Call<F, R> {
        f: Option<F>,
        r: Option<R>,
    }

    /// # Safety
    ///
    /// `arg` must point to a live `Call<F, R>` that nothing else accesses during the call.
    unsafe extern "C" fn trampoline<F: FnOnce() -> R, R>(arg: *mut c_void) -> c_long {
        // SAFETY: Guaranteed by the caller (`work_on_cpu()` passes `on_cpu`'s `call`).
        let call = unsafe { &mut *arg.cast::<Call<F, R>>() };
        if let Some(f) = call.f.take() {
            call.r = Some(f());
        }
        0
    }

    let mut call = Call {
        f: Some(f),
        r: None,
    };
    let cpu = i32::try_from(cpu).ok()?;
    // SAFETY: `work_on_cpu()` waits for the work to finish, so `call` outlives its use, and
    // only the trampoline touches it meanwhile.
    unsafe {
        ffi::pcpu_array_work_on_cpu(
            cpu,
            trampoline::<F, R>,
            core::ptr::from_mut(&mut call).cast(),
        )
    };
    call.r
}

/// Runs `f` with interrupts disabled.
pub(crate) fn irqs_off<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: Balanced by the restore below, in the same context.
    let flags = unsafe { ffi::pcpu_array_local_irq_save() };
    let r = f();
    // SAFETY: `flags` came from the save above.
    unsafe { ffi::pcpu_array_local_irq_restore(flags) };
    r
}

/// Runs `f` with the current task marked for fault injection (`make-it-fail`).
///
/// `make test` arms failslab for tasks so marked and for caches with `SLAB_FAILSLAB` (set by
/// name with the `slab_debug=A,<cache>` boot option), so every slab allocation `f` makes from
/// such a cache fails.
#[cfg(CONFIG_FAILSLAB)]
pub(crate) fn failing_slab<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: Only changes the current task's fault-injection filter.
    unsafe { ffi::pcpu_array_set_make_it_fail(true) };
    let r = f();
    // SAFETY: As above.
    unsafe { ffi::pcpu_array_set_make_it_fail(false) };
    r
}

// SPDX-License-Identifier: GPL-2.0

//! Pinning the current task to the CPU it runs on, and what the current context allows.

use crate::{
    percpu::this_cpu,
    sys::ffi, //
};
use core::marker::PhantomData;
use kernel::ffi::c_void;

/// A guard that keeps the current task on its CPU.
///
/// Creating a [`CpuPin`] disables preemption (migration on PREEMPT_RT, where the per-CPU lock
/// may sleep); dropping it enables it again. On PREEMPT_RT in hard interrupt or NMI context,
/// where neither preemption nor migration can happen, it changes nothing, as upstream's
/// `__local_trylock()` decides before it would migrate_disable() (and its trylock fails there). Anything that needs "this CPU" takes a `&CpuPin`,
/// so the requirement is checked by the compiler rather than stated in a comment. Pins nest.
///
/// While a pin is held on a !PREEMPT_RT kernel the task must not sleep.
///
/// # Invariants
///
/// From creation until drop, the current task cannot leave the CPU it ran on at creation, and on
/// !PREEMPT_RT it cannot be preempted. The guard is not `Send`, so it is dropped by the task that
/// created it.
///
/// # Examples
///
/// ```ignore
/// let pin = CpuPin::new();
/// pr_info!("running on CPU {}\n", pin.cpu());
/// ```
#[must_use = "the task is unpinned as soon as the guard is dropped"]
pub(crate) struct CpuPin {
    /// On PREEMPT_RT, whether `new` disabled migration, which `drop` enables again.
    #[cfg(CONFIG_PREEMPT_RT)]
    migrate_disabled: bool,
    _not_send: PhantomData<*mut ()>,
}

impl CpuPin {
    /// Pins the current task to its CPU.
    #[inline]
    pub(crate) fn new() -> Self {
        #[cfg(CONFIG_PREEMPT_RT)]
        {
            // In hard interrupt or NMI context the task cannot move: nothing to disable.
            let migrate_disabled = !this_cpu::in_hardirq_or_nmi();
            if migrate_disabled {
                // SAFETY: Always callable in a task or softirq; `Drop` balances it.
                unsafe { ffi::pcpu_array_migrate_disable() };
            }
            // INVARIANT: Pinned just above, or by the context; unpinned only in `drop`.
            Self {
                migrate_disabled,
                _not_send: PhantomData,
            }
        }
        #[cfg(not(CONFIG_PREEMPT_RT))]
        {
            this_cpu::preempt_disable();
            // INVARIANT: Pinned just above; unpinned only in `drop`.
            Self {
                _not_send: PhantomData,
            }
        }
    }

    /// The CPU the task is pinned to.
    #[cfg(pcpu_array_kunit)]
    #[inline]
    pub(crate) fn cpu(&self) -> u32 {
        // The pin keeps the task on this CPU (type invariant), so the answer stays true.
        this_cpu::cpu()
    }

    /// This CPU's instance of the `__percpu` address `ptr`.
    #[inline]
    pub(crate) fn this_cpu_ptr(&self, ptr: *mut c_void) -> *mut c_void {
        // The pin keeps the task on this CPU (type invariant).
        this_cpu::ptr(ptr)
    }
}

/// Whether the slab bulk calls, and so a refill or a flush, may be made now: interrupts enabled
/// and not in hard interrupt or NMI context, as `kmem_cache_alloc_bulk()` and
/// `kmem_cache_free_bulk()` require. The bulk call itself must still be made without a
/// [`CpuPin`] held: a bulk allocation may sleep.
#[inline]
pub(crate) fn bulk_allowed() -> bool {
    !this_cpu::irqs_disabled() && !this_cpu::in_hardirq_or_nmi()
}

/// Whether the current context may use a depot: a task or a softirq with interrupts enabled, on
/// PREEMPT_RT (where the depot's lock sleeps) a preemptible one (`crate::magazines::state`).
#[inline]
pub(crate) fn depot_allowed() -> bool {
    // SAFETY: Only reads the current context.
    unsafe { ffi::pcpu_array_depot_allowed() }
}

/// Whether the current context is an NMI, where the slab allocator may not be entered.
#[inline]
pub(crate) fn in_nmi() -> bool {
    // SAFETY: Only reads the current context.
    unsafe { ffi::pcpu_array_in_nmi() }
}

/// CPU hotplug held off (`cpus_read_lock()`): no CPU comes or goes until the guard is dropped.
///
/// # Invariants
///
/// `cpus_read_lock()` was taken for this guard, on this task, and is released on drop.
#[must_use]
pub(crate) struct CpusReadGuard {
    _not_send: PhantomData<*mut ()>,
}

impl CpusReadGuard {
    /// Holds off CPU hotplug. May sleep.
    pub(crate) fn new() -> Self {
        // SAFETY: The caller may sleep (documented above); balanced on drop.
        unsafe { ffi::pcpu_array_cpus_read_lock() };
        // INVARIANT: Taken just above.
        Self {
            _not_send: PhantomData,
        }
    }
}

impl Drop for CpusReadGuard {
    fn drop(&mut self) {
        // SAFETY: Taken in `new` on this task (type invariant; the guard is not `Send`).
        unsafe { ffi::pcpu_array_cpus_read_unlock() };
    }
}

impl Drop for CpuPin {
    #[inline]
    fn drop(&mut self) {
        #[cfg(CONFIG_PREEMPT_RT)]
        if self.migrate_disabled {
            // SAFETY: Balances the `migrate_disable()` in `new`, on the same task (the guard is
            // not `Send`).
            unsafe { ffi::pcpu_array_migrate_enable() };
        }
        #[cfg(not(CONFIG_PREEMPT_RT))]
        // SAFETY: Balances the `preempt_disable()` in `new`, on the same task (the guard is not
        // `Send`).
        unsafe {
            this_cpu::preempt_enable()
        };
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "cpu_pin_tests.rs"]
mod tests;

// SPDX-License-Identifier: GPL-2.0

//! The per-CPU operations of the fast path, inlined on x86-64.
//!
//! The kernel's `preempt_disable()`, `this_cpu_ptr()`, `this_cpu_add()` and `local_trylock()`
//! are macros and inline functions. Rust reaches them through C helpers, and each helper is an
//! out-of-line call (rustc and our clang do not share an LLVM version, so
//! `CONFIG_RUST_INLINE_HELPERS` is not available). On the fast path those calls cost more than
//! the work itself (see `Documentation/performance.rst`), so on x86-64 SMP this module uses what
//! the C macros compile to (`crate::percpu::inline_percpu`): `%gs`-relative instructions on the exported
//! per-CPU variables `__preempt_count`, `this_cpu_off` and `cpu_number`. Everywhere else, and
//! wherever a debug option adds checks to the C version (`CONFIG_DEBUG_PREEMPT`,
//! `CONFIG_TRACE_PREEMPT_TOGGLE`, lockdep's `CONFIG_DEBUG_LOCK_ALLOC`), it calls the C helpers
//! instead, so that those checks still see every operation. `fast_path.mk` makes that choice
//! once, as the `pcpu_array_inline_percpu` and `pcpu_array_inline_preempt` cfgs.

use kernel::ffi::c_void;

#[cfg(pcpu_array_inline_percpu)]
use crate::percpu::inline_percpu::x86;

/// `preempt_disable()` and `preempt_enable()`, the pin on !PREEMPT_RT, and what the current
/// context is, inlined.
#[cfg(pcpu_array_inline_preempt)]
use crate::percpu::inline_percpu::preempt;

/// `preempt_disable()` and `preempt_enable()` through the C helpers, where a debug option
/// instruments them or the architecture is not x86-64 SMP.
#[cfg(all(not(CONFIG_PREEMPT_RT), not(pcpu_array_inline_preempt)))]
mod preempt {
    /// `preempt_disable()`.
    #[inline(always)]
    pub(crate) fn preempt_disable() {
        // SAFETY: Always callable; the caller balances it with `preempt_enable`.
        unsafe { crate::sys::ffi::pcpu_array_preempt_disable() };
    }

    /// `preempt_enable()`.
    ///
    /// # Safety
    ///
    /// Must balance an earlier [`preempt_disable`] of the current task.
    #[inline(always)]
    pub(crate) unsafe fn preempt_enable() {
        // SAFETY: Guaranteed by the caller.
        unsafe { crate::sys::ffi::pcpu_array_preempt_enable() };
    }
}

/// `in_hardirq() || in_nmi()` and `irqs_disabled()` through the C helpers, where
/// `preempt_count()` is not inlined.
#[cfg(not(pcpu_array_inline_preempt))]
mod context {
    /// `in_hardirq() || in_nmi()`.
    #[inline(always)]
    pub(crate) fn in_hardirq_or_nmi() -> bool {
        // SAFETY: Only reads the current context.
        unsafe { crate::sys::ffi::pcpu_array_in_hardirq() }
    }

    /// `irqs_disabled()`.
    #[inline(always)]
    pub(crate) fn irqs_disabled() -> bool {
        // SAFETY: Only reads the current context.
        unsafe { crate::sys::ffi::pcpu_array_irqs_disabled() }
    }
}

/// What the current context is: inline on x86-64 with the inlined `preempt_count()`.
#[cfg(not(pcpu_array_inline_preempt))]
pub(crate) use context::{
    in_hardirq_or_nmi,
    irqs_disabled, //
};
#[cfg(pcpu_array_inline_preempt)]
pub(crate) use preempt::{
    in_hardirq_or_nmi,
    irqs_disabled, //
};

/// The pin on !PREEMPT_RT (PREEMPT_RT disables migration instead).
#[cfg(not(CONFIG_PREEMPT_RT))]
pub(crate) use preempt::{
    preempt_disable,
    preempt_enable, //
};

/// `raw_smp_processor_id()`: meaningful only while the task is pinned.
#[cfg(any(pcpu_array_kunit, not(pcpu_array_inline_percpu)))]
#[inline(always)]
pub(crate) fn cpu() -> u32 {
    #[cfg(pcpu_array_inline_percpu)]
    return x86::cpu();
    #[cfg(not(pcpu_array_inline_percpu))]
    // SAFETY: Reading the CPU number has no preconditions.
    unsafe {
        crate::sys::ffi::pcpu_array_cpu_id()
    }
}

/// `this_cpu_ptr(ptr)`: the current CPU's instance of the `__percpu` address `ptr`, meaningful
/// only while the task is pinned.
#[inline(always)]
pub(crate) fn ptr(ptr: *mut c_void) -> *mut c_void {
    #[cfg(pcpu_array_inline_percpu)]
    return ptr.wrapping_byte_add(x86::offset());
    #[cfg(not(pcpu_array_inline_percpu))]
    // SAFETY: `per_cpu_ptr()` only computes an address.
    unsafe {
        crate::sys::ffi::pcpu_array_per_cpu_ptr(ptr, cpu())
    }
}

/// `this_cpu_add(*ptr, n)` on a `__percpu` `u64`.
///
/// # Safety
///
/// `ptr` must be the `__percpu` address of a live per-CPU `u64` that is only accessed with
/// these functions and atomic reads.
#[inline(always)]
pub(crate) unsafe fn add_u64(ptr: *mut u64, n: u64) {
    #[cfg(pcpu_array_inline_percpu)]
    // SAFETY: Guaranteed by the caller.
    unsafe {
        x86::add_u64(ptr, n)
    };
    #[cfg(not(pcpu_array_inline_percpu))]
    // SAFETY: Guaranteed by the caller. The C `this_cpu_add()` is interrupt-safe on every
    // architecture (a load and a store here would lose an interrupt's increment).
    unsafe {
        crate::sys::ffi::pcpu_array_this_cpu_add_u64(ptr, n)
    };
}

/// `this_cpu_inc(*ptr)` on a `__percpu` `u64`.
///
/// # Safety
///
/// As [`add_u64`].
#[inline(always)]
pub(crate) unsafe fn inc_u64(ptr: *mut u64) {
    #[cfg(pcpu_array_inline_percpu)]
    // SAFETY: Guaranteed by the caller.
    unsafe {
        x86::inc_u64(ptr)
    };
    #[cfg(not(pcpu_array_inline_percpu))]
    // SAFETY: Guaranteed by the caller.
    unsafe {
        add_u64(ptr, 1)
    };
}

/// `this_cpu_read(*ptr)` on a `__percpu` `u64`.
///
/// # Safety
///
/// As [`add_u64`].
#[inline(always)]
pub(crate) unsafe fn read_u64(ptr: *mut u64) -> u64 {
    #[cfg(pcpu_array_inline_percpu)]
    // SAFETY: Guaranteed by the caller.
    return unsafe { x86::read_u64(ptr) };
    #[cfg(not(pcpu_array_inline_percpu))]
    // SAFETY: Guaranteed by the caller: `ptr(..)` is this CPU's instance of a live `u64`, read
    // atomically as the other CPUs read it.
    unsafe {
        kernel::sync::atomic::Atomic::<u64>::from_ptr(self::ptr(ptr.cast()).cast())
            .load(kernel::sync::atomic::Relaxed)
    }
}

/// `this_cpu_write(*ptr, v)` on a `__percpu` `u64`.
///
/// # Safety
///
/// As [`add_u64`].
#[inline(always)]
pub(crate) unsafe fn write_u64(ptr: *mut u64, v: u64) {
    #[cfg(pcpu_array_inline_percpu)]
    // SAFETY: Guaranteed by the caller.
    unsafe {
        x86::write_u64(ptr, v)
    };
    #[cfg(not(pcpu_array_inline_percpu))]
    // SAFETY: Guaranteed by the caller.
    unsafe {
        crate::sys::ffi::pcpu_array_this_cpu_write_u64(ptr, v)
    };
}

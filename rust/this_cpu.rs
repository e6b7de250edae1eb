// SPDX-License-Identifier: GPL-2.0

//! The per-CPU operations of the fast path, inlined on x86-64.
//!
//! The kernel's `preempt_disable()`, `this_cpu_ptr()`, `this_cpu_add()` and `local_trylock()`
//! are macros and inline functions. Rust reaches them through C helpers, and each helper is an
//! out-of-line call (rustc and our clang do not share an LLVM version, so
//! `CONFIG_RUST_INLINE_HELPERS` is not available). On the fast path those calls cost more than
//! the work itself (see `Documentation/performance.rst`), so on x86-64 SMP this module does what
//! the C macros compile to: `%gs`-relative instructions on the exported per-CPU variables
//! `__preempt_count`, `this_cpu_off` and `cpu_number`. Everywhere else, and wherever a debug
//! option adds checks to the C version (`CONFIG_DEBUG_PREEMPT`, `CONFIG_TRACE_PREEMPT_TOGGLE`,
//! lockdep's `CONFIG_DEBUG_LOCK_ALLOC`), it calls the C helpers instead, so that those checks
//! still see every operation. `Kbuild` makes that choice once, as the `pcpu_array_inline_percpu`
//! and `pcpu_array_inline_preempt` cfgs.

use kernel::ffi::c_void;

#[cfg(pcpu_array_inline_percpu)]
mod x86 {
    use core::arch::asm;

    extern "C" {
        /// `this_cpu_off`: this CPU's offset from a `__percpu` address to its instance.
        static this_cpu_off: usize;
        /// `cpu_number`: `smp_processor_id()`.
        #[cfg(pcpu_array_kunit)]
        static cpu_number: i32;
    }

    /// `this_cpu_read(this_cpu_off)`.
    #[inline(always)]
    pub(super) fn offset() -> usize {
        let off: usize;
        // SAFETY: A `%gs`-relative load of an exported per-CPU variable, as `this_cpu_read()`
        // compiles to; it accesses no other memory.
        unsafe {
            asm!(
                "mov {off}, qword ptr gs:[rip + {var}]",
                off = out(reg) off,
                var = sym this_cpu_off,
                options(nostack, preserves_flags, readonly),
            )
        };
        off
    }

    /// `raw_smp_processor_id()`.
    #[cfg(pcpu_array_kunit)]
    #[inline(always)]
    pub(super) fn cpu() -> u32 {
        let cpu: u32;
        // SAFETY: As in `offset`.
        unsafe {
            asm!(
                "mov {cpu:e}, dword ptr gs:[rip + {var}]",
                cpu = out(reg) cpu,
                var = sym cpu_number,
                options(nostack, preserves_flags, readonly),
            )
        };
        cpu
    }

    /// `this_cpu_add(*ptr, n)` on a `__percpu` `u64`: one instruction, so an interrupt cannot
    /// split it.
    ///
    /// # Safety
    ///
    /// `ptr` must be the `__percpu` address of a live per-CPU `u64`.
    #[inline(always)]
    pub(super) unsafe fn add_u64(ptr: *mut u64, n: u64) {
        // SAFETY: Guaranteed by the caller; `%gs:ptr` is this CPU's instance.
        unsafe {
            asm!(
                "add qword ptr gs:[{ptr}], {n}",
                ptr = in(reg) ptr,
                n = in(reg) n,
                options(nostack),
            )
        };
    }

    /// `this_cpu_read(*ptr)` on a `__percpu` `u64`.
    ///
    /// # Safety
    ///
    /// As [`add_u64`].
    #[inline(always)]
    pub(super) unsafe fn read_u64(ptr: *mut u64) -> u64 {
        let v: u64;
        // SAFETY: Guaranteed by the caller; `%gs:ptr` is this CPU's instance.
        unsafe {
            asm!(
                "mov {v}, qword ptr gs:[{ptr}]",
                ptr = in(reg) ptr,
                v = out(reg) v,
                options(nostack, preserves_flags, readonly),
            )
        };
        v
    }

    /// `this_cpu_write(*ptr, v)` on a `__percpu` `u64`.
    ///
    /// # Safety
    ///
    /// As [`add_u64`].
    #[inline(always)]
    pub(super) unsafe fn write_u64(ptr: *mut u64, v: u64) {
        // SAFETY: Guaranteed by the caller.
        unsafe {
            asm!(
                "mov qword ptr gs:[{ptr}], {v}",
                ptr = in(reg) ptr,
                v = in(reg) v,
                options(nostack, preserves_flags),
            )
        };
    }
}

/// `preempt_disable()` and `preempt_enable()`, the pin on !PREEMPT_RT, inlined.
#[cfg(pcpu_array_inline_preempt)]
mod preempt {
    use core::arch::asm;

    extern "C" {
        /// `__preempt_count`, with `PREEMPT_NEED_RESCHED` folded in, inverted.
        static __preempt_count: i32;
    }

    #[cfg(CONFIG_PREEMPTION)]
    extern "C" {
        /// What x86's `__preempt_schedule()` calls: the static call of `preempt_schedule`
        /// (`preempt_schedule_thunk`, or a bare return in the `none` and `voluntary` modes).
        #[cfg(CONFIG_PREEMPT_DYNAMIC)]
        #[link_name = "__SCT__preempt_schedule"]
        fn preempt_schedule_call();
        /// What x86's `__preempt_schedule()` calls: `preempt_schedule_thunk`.
        #[cfg(not(CONFIG_PREEMPT_DYNAMIC))]
        #[link_name = "preempt_schedule_thunk"]
        fn preempt_schedule_call();
    }

    /// `HARDIRQ_MASK | NMI_MASK` of `<linux/preempt.h>`: the hard interrupt count (the four
    /// bits from `HARDIRQ_OFFSET`) and the NMI count (the four above). `pcpu_array_helpers.c`
    /// checks this against the C macros at build time.
    const HARDIRQ_NMI_MASK: u32 = 0xff * kernel::bindings::HARDIRQ_OFFSET;

    /// `in_hardirq() || in_nmi()`: the hard interrupt and NMI counts of `preempt_count()`.
    #[inline(always)]
    pub(crate) fn in_hardirq_or_nmi() -> bool {
        let count: u32;
        // SAFETY: A `%gs`-relative load of this CPU's preemption count, as `preempt_count()`
        // compiles to; it accesses no other memory.
        unsafe {
            asm!(
                "mov {count:e}, dword ptr gs:[rip + {var}]",
                count = out(reg) count,
                var = sym __preempt_count,
                options(nostack, preserves_flags, readonly),
            )
        };
        count & HARDIRQ_NMI_MASK != 0
    }

    /// `irqs_disabled()`: the interrupt flag of `RFLAGS` is clear.
    #[inline(always)]
    pub(crate) fn irqs_disabled() -> bool {
        let flags: u64;
        // SAFETY: `pushf`/`pop` reads `RFLAGS`, as `native_save_fl()` does; the stack slot it
        // uses is popped right away.
        unsafe {
            asm!(
                "pushfq",
                "pop {flags}",
                flags = out(reg) flags,
                options(nomem, preserves_flags),
            )
        };
        flags & (1 << 9) == 0
    }

    /// `preempt_disable()`: `preempt_count_inc()` and `barrier()`.
    #[inline(always)]
    pub(crate) fn preempt_disable() {
        // SAFETY: Raises this CPU's preemption count, as `preempt_disable()` does; the asm is
        // also the compiler barrier.
        unsafe {
            asm!(
                "add dword ptr gs:[rip + {var}], 1",
                var = sym __preempt_count,
                options(nostack),
            )
        };
    }

    /// `preempt_enable()`: `barrier()`, then decrement, and reschedule when that reached zero
    /// with a reschedule pending (x86 folds `PREEMPT_NEED_RESCHED` into the count, inverted).
    ///
    /// As in C, the reschedule is a `call` from the asm to a thunk that saves and restores every
    /// register a C callee may clobber, so the hit paths around it keep their values in any
    /// register and need no stack frame of their own for it.
    ///
    /// # Safety
    ///
    /// Must balance an earlier [`preempt_disable`] of the current task.
    #[inline(always)]
    pub(crate) unsafe fn preempt_enable() {
        #[cfg(CONFIG_PREEMPTION)]
        // SAFETY: Undoes a `preempt_disable()` of this task on this CPU (guaranteed by the
        // caller); the asm is also the compiler barrier. When the count reaches zero with a
        // reschedule pending it calls what `__preempt_schedule()` calls, which preserves every
        // register but the flags (it saves the C ABI's caller-saved ones), with the stack
        // aligned for a call (no `nostack`).
        unsafe {
            asm!(
                "sub dword ptr gs:[rip + {var}], 1",
                "jnz 2f",
                "call {resched}",
                "2:",
                var = sym __preempt_count,
                resched = sym preempt_schedule_call,
            )
        };
        #[cfg(not(CONFIG_PREEMPTION))]
        // SAFETY: As above; without preemption there is no reschedule to make.
        unsafe {
            asm!(
                "sub dword ptr gs:[rip + {var}], 1",
                var = sym __preempt_count,
                options(nostack),
            )
        };
    }
}

/// `preempt_disable()` and `preempt_enable()` through the C helpers, where a debug option
/// instruments them or the architecture is not x86-64 SMP.
#[cfg(all(not(CONFIG_PREEMPT_RT), not(pcpu_array_inline_preempt)))]
mod preempt {
    /// `preempt_disable()`.
    #[inline(always)]
    pub(crate) fn preempt_disable() {
        // SAFETY: Always callable; the caller balances it with `preempt_enable`.
        unsafe { crate::ffi::pcpu_array_preempt_disable() };
    }

    /// `preempt_enable()`.
    ///
    /// # Safety
    ///
    /// Must balance an earlier [`preempt_disable`] of the current task.
    #[inline(always)]
    pub(crate) unsafe fn preempt_enable() {
        // SAFETY: Guaranteed by the caller.
        unsafe { crate::ffi::pcpu_array_preempt_enable() };
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
        unsafe { crate::ffi::pcpu_array_in_hardirq() }
    }

    /// `irqs_disabled()`.
    #[inline(always)]
    pub(crate) fn irqs_disabled() -> bool {
        // SAFETY: Only reads the current context.
        unsafe { crate::ffi::pcpu_array_irqs_disabled() }
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
        crate::ffi::pcpu_array_cpu_id()
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
        crate::ffi::pcpu_array_per_cpu_ptr(ptr, cpu())
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
        crate::ffi::pcpu_array_this_cpu_add_u64(ptr, n)
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
        crate::ffi::pcpu_array_this_cpu_write_u64(ptr, v)
    };
}

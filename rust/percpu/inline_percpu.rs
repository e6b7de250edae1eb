// SPDX-License-Identifier: GPL-2.0

//! What the kernel's per-CPU C macros compile to on x86-64 SMP, written inline: the `%gs`-relative
//! `this_cpu_*()` operations, `preempt_disable()` and `preempt_enable()`, and `local_trylock()`
//! as the byte it is on !PREEMPT_RT without lockdep.
//!
//! CacheState by `pcpu_array.ko` (`crate::percpu::this_cpu`, `crate::percpu::local_trylock`) and the Rust binding
//! of its consumers (`rust/abi/inline_hit.rs`), which compile the same file. Each part exists only
//! where `fast_path.mk` chose it (`pcpu_array_inline_percpu`, `pcpu_array_inline_preempt`,
//! `pcpu_array_inline_trylock`): where a debug option instruments the C macros, their users call
//! them through C instead, so that the checks see every operation.

/// The `%gs`-relative per-CPU accesses.
#[cfg(pcpu_array_inline_percpu)]
pub(crate) mod x86 {
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
    pub(crate) fn offset() -> usize {
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
    pub(crate) fn cpu() -> u32 {
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
    pub(crate) unsafe fn add_u64(ptr: *mut u64, n: u64) {
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

    /// `this_cpu_inc(*ptr)` on a `__percpu` `u64`: [`add_u64`] of 1 without the register that
    /// holds the 1.
    ///
    /// # Safety
    ///
    /// As [`add_u64`].
    #[inline(always)]
    pub(crate) unsafe fn inc_u64(ptr: *mut u64) {
        // SAFETY: Guaranteed by the caller; `%gs:ptr` is this CPU's instance.
        unsafe {
            asm!(
                "inc qword ptr gs:[{ptr}]",
                ptr = in(reg) ptr,
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
    pub(crate) unsafe fn read_u64(ptr: *mut u64) -> u64 {
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
    pub(crate) unsafe fn write_u64(ptr: *mut u64, v: u64) {
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

/// `preempt_disable()`, `preempt_enable()` and the context tests of `preempt_count()`.
#[cfg(pcpu_array_inline_preempt)]
pub(crate) mod preempt {
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

/// `local_trylock()` and `local_unlock()` of one CPU's `local_trylock_t`, for a pinned task:
/// the byte `acquired`, which only its CPU writes.
#[cfg(pcpu_array_inline_trylock)]
pub(crate) mod trylock {
    use core::arch::asm;
    use kernel::bindings::local_trylock_t;

    /// Tries `lock`, this CPU's instance of a `local_trylock_t`.
    ///
    /// # Safety
    ///
    /// `lock` must be the current CPU's instance of an initialised per-CPU `local_trylock_t`,
    /// and the caller pinned to this CPU with preemption disabled; a successful attempt must be
    /// undone with [`unlock`] before that ends.
    #[inline(always)]
    pub(crate) unsafe fn trylock(lock: *mut local_trylock_t) -> bool {
        // SAFETY: `lock` is this CPU's instance (guaranteed by the caller), and only this CPU
        // writes `acquired`, with preemption disabled, so an interrupt either sees our store or
        // runs entirely between our load and store (and leaves it 0).
        unsafe {
            let acquired = &raw mut (*lock).acquired;
            if acquired.read_volatile() != 0 {
                return false;
            }
            acquired.write_volatile(1);
        }
        // `barrier()`: nothing of the critical section moves above the store.
        // SAFETY: An empty asm block.
        unsafe { asm!("") };
        true
    }

    /// Releases `lock`.
    ///
    /// # Safety
    ///
    /// `lock` must be this CPU's instance, held by the caller from [`trylock`] on this CPU.
    #[inline(always)]
    pub(crate) unsafe fn unlock(lock: *mut local_trylock_t) {
        // `barrier()`: nothing of the critical section moves below the store.
        // SAFETY: An empty asm block.
        unsafe { asm!("") };
        // SAFETY: This CPU's instance, held by us (guaranteed by the caller).
        unsafe { (&raw mut (*lock).acquired).write_volatile(0) };
    }
}

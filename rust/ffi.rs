// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers in `pcpu_array_helpers.c`.
//!
//! Each helper wraps one macro or inline function that Rust cannot call. They are `unsafe`
//! because they are foreign functions; the safe wrappers that call them state why each call is
//! sound.

use kernel::ffi::{
    c_char,
    c_int,
    c_long,
    c_uint,
    c_ulong,
    c_void, //
};

extern "C" {
    /// `preempt_disable()`, or `migrate_disable()` on PREEMPT_RT.
    pub(crate) fn pcpu_array_cpu_pin();
    /// Undoes one [`pcpu_array_cpu_pin`].
    pub(crate) fn pcpu_array_cpu_unpin();
    /// `smp_processor_id()`: only meaningful while pinned.
    pub(crate) fn pcpu_array_cpu_id() -> c_uint;
    /// `preempt_count()`.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn pcpu_array_preempt_count() -> c_int;
    /// `in_hardirq() || in_nmi()`.
    pub(crate) fn pcpu_array_in_hardirq() -> bool;
    /// `irqs_disabled()`.
    pub(crate) fn pcpu_array_irqs_disabled() -> bool;

    /// `__alloc_percpu(size, align)`: zeroed per-CPU memory, or NULL.
    pub(crate) fn pcpu_array_alloc_percpu(size: usize, align: usize) -> *mut c_void;
    /// `per_cpu_ptr(ptr, cpu)`.
    pub(crate) fn pcpu_array_per_cpu_ptr(ptr: *mut c_void, cpu: c_uint) -> *mut c_void;
    /// `cpumask_next(cpu, cpu_possible_mask)`: `>= nr_cpu_ids` when there is none.
    pub(crate) fn pcpu_array_next_possible_cpu(cpu: c_int) -> c_uint;
    /// `nr_cpu_ids`.
    pub(crate) fn pcpu_array_nr_cpu_ids() -> c_uint;

    /// `cpumask_next(cpu, cpu_online_mask)`: `>= nr_cpu_ids` when there is none.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn pcpu_array_next_online_cpu(cpu: c_int) -> c_uint;
    /// `local_irq_save(flags)`, returning `flags`.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn pcpu_array_local_irq_save() -> c_ulong;
    /// `local_irq_restore(flags)`.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn pcpu_array_local_irq_restore(flags: c_ulong);

    // The lock pointers are `local_trylock_t *`, passed as `void *`: the generated binding of
    // `local_trylock_t` contains types that are not FFI-safe for rustc's lint.
    /// `local_trylock_init(lock)`.
    pub(crate) fn pcpu_array_local_trylock_init(lock: *mut c_void);
    /// `local_trylock(lock)` on a `__percpu` lock: true when this CPU's instance was taken.
    pub(crate) fn pcpu_array_local_trylock(lock: *mut c_void) -> bool;
    /// `local_unlock(lock)` on a `__percpu` lock.
    pub(crate) fn pcpu_array_local_unlock(lock: *mut c_void);

    /// `cpuhp_setup_state_multi(CPUHP_BP_PREPARE_DYN, name, NULL, teardown)`: the new state, or
    /// a negative errno.
    pub(crate) fn pcpu_array_cpuhp_setup_multi(
        name: *const c_char,
        teardown: unsafe extern "C" fn(cpu: c_uint, node: *mut c_void) -> c_int,
    ) -> c_int;
    /// `cpuhp_remove_multi_state(state)`.
    pub(crate) fn pcpu_array_cpuhp_remove_multi(state: c_int);
    /// `cpuhp_state_add_instance_nocalls(state, node)`.
    pub(crate) fn pcpu_array_cpuhp_add_instance(state: c_int, node: *mut c_void) -> c_int;
    /// `cpuhp_state_remove_instance_nocalls(state, node)`.
    pub(crate) fn pcpu_array_cpuhp_remove_instance(state: c_int, node: *mut c_void) -> c_int;

    /// `work_on_cpu(cpu, fn, arg)`: runs `fn(arg)` in a kworker bound to `cpu` and waits.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn pcpu_array_work_on_cpu(
        cpu: c_int,
        f: unsafe extern "C" fn(*mut c_void) -> c_long,
        arg: *mut c_void,
    ) -> c_long;
    /// Sets `current->make_it_fail`, the fault-injection task filter.
    #[cfg(all(CONFIG_KUNIT, CONFIG_FAILSLAB))]
    pub(crate) fn pcpu_array_set_make_it_fail(fail: bool);
}

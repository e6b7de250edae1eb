// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers in `pcpu_array_helpers.c`.
//!
//! Each helper wraps one macro or inline function that Rust cannot call. They are `unsafe`
//! because they are foreign functions; the safe wrappers that call them state why each call is
//! sound.

use kernel::{
    bindings,
    ffi::{
        c_char,
        c_int,
        c_long,
        c_uint,
        c_ulong,
        c_void, //
    },
};

extern "C" {
    /// `migrate_disable()`: the pin on PREEMPT_RT.
    #[cfg(CONFIG_PREEMPT_RT)]
    pub(crate) fn pcpu_array_migrate_disable();
    /// `migrate_enable()`.
    #[cfg(CONFIG_PREEMPT_RT)]
    pub(crate) fn pcpu_array_migrate_enable();
    /// `smp_processor_id()`: only meaningful while pinned.
    #[cfg(any(CONFIG_KUNIT, not(all(CONFIG_X86_64, CONFIG_SMP))))]
    pub(crate) fn pcpu_array_cpu_id() -> c_uint;
    /// `preempt_count()`.
    #[cfg(all(CONFIG_KUNIT, not(CONFIG_PREEMPT_RT)))]
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
    /// Used where `crate::local_trylock` does not inline it.
    #[cfg(any(CONFIG_DEBUG_LOCK_ALLOC, CONFIG_PREEMPT_RT))]
    pub(crate) fn pcpu_array_local_trylock(lock: *mut c_void) -> bool;
    /// `local_unlock(lock)` on a `__percpu` lock.
    #[cfg(any(CONFIG_DEBUG_LOCK_ALLOC, CONFIG_PREEMPT_RT))]
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
    /// Creates the workqueue of [`pcpu_array_on_each_cpu`]: 0 or `-ENOMEM`.
    pub(crate) fn pcpu_array_wq_init() -> c_int;
    /// Destroys that workqueue.
    pub(crate) fn pcpu_array_wq_exit();
    /// Runs `f(arg)` in a kworker bound to each online CPU (a work item of a `WQ_MEM_RECLAIM`
    /// workqueue), waits for all of them and returns the sum of what they returned. Calls are
    /// serialised. A work item whose CPU goes offline meanwhile runs on another CPU.
    pub(crate) fn pcpu_array_on_each_cpu(
        f: unsafe extern "C" fn(arg: *mut c_void) -> c_ulong,
        arg: *mut c_void,
    ) -> c_ulong;
    /// `shrinker_alloc(0, "pcpu_array-%s", name)`, sets the callbacks and `private_data`, and
    /// registers it. NULL when memory runs out.
    pub(crate) fn pcpu_array_shrinker_create(
        name: *const c_char,
        count: unsafe extern "C" fn(
            *mut bindings::shrinker,
            *mut bindings::shrink_control,
        ) -> c_ulong,
        scan: unsafe extern "C" fn(
            *mut bindings::shrinker,
            *mut bindings::shrink_control,
        ) -> c_ulong,
        private_data: *mut c_void,
    ) -> *mut bindings::shrinker;

    /// Poisons the `size` bytes of slab object `obj` as freed (`KASAN_SLAB_FREE`).
    #[cfg(CONFIG_KASAN_GENERIC)]
    pub(crate) fn pcpu_array_kasan_poison(obj: *const c_void, size: usize);
    /// Unpoisons the `size` bytes of slab object `obj`, as `kasan_unpoison()`.
    #[cfg(CONFIG_KASAN_GENERIC)]
    pub(crate) fn pcpu_array_kasan_unpoison(obj: *const c_void, size: usize);
    /// `kasan_check_read(obj, 1)`: false, after a KASAN report, when `obj` is poisoned.
    #[cfg(CONFIG_KASAN_GENERIC)]
    pub(crate) fn pcpu_array_kasan_check(obj: *const c_void) -> bool;

    /// Sets `current->make_it_fail`, the fault-injection task filter.
    #[cfg(all(CONFIG_KUNIT, CONFIG_FAILSLAB))]
    pub(crate) fn pcpu_array_set_make_it_fail(fail: bool);
}

// The `preempt_disable()`/`preempt_enable()` of `crate::this_cpu`, under the same conditions as
// its two `preempt` modules.
#[cfg(all(
    not(CONFIG_PREEMPT_RT),
    not(all(
        CONFIG_X86_64,
        CONFIG_SMP,
        CONFIG_PREEMPT_COUNT,
        not(CONFIG_DEBUG_PREEMPT),
        not(CONFIG_TRACE_PREEMPT_TOGGLE)
    ))
))]
extern "C" {
    /// `preempt_disable()`, where `crate::this_cpu` does not inline it.
    pub(crate) fn pcpu_array_preempt_disable();
    /// `preempt_enable()`, where `crate::this_cpu` does not inline it.
    pub(crate) fn pcpu_array_preempt_enable();
}

#[cfg(all(
    CONFIG_X86_64,
    CONFIG_SMP,
    CONFIG_PREEMPT_COUNT,
    not(CONFIG_DEBUG_PREEMPT),
    not(CONFIG_TRACE_PREEMPT_TOGGLE),
    not(CONFIG_PREEMPT_RT)
))]
extern "C" {
    /// `__preempt_schedule()` (nothing without `CONFIG_PREEMPTION`): the slow path of the
    /// `preempt_enable()` that `crate::this_cpu` inlines.
    pub(crate) fn pcpu_array_preempt_schedule();
}

// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C functions of the module's C files: the one-line wrappers of
//! `pcpu_array_helpers.c`, the per-CPU work of `pcpu_array_cpu_work.c`, the KASAN shadow writes
//! of `pcpu_array_kasan.c`, and the test-only wrappers of `pcpu_array_kunit_helpers.c`.
//!
//! Each wrapper wraps one macro or inline function that Rust cannot call. They are `unsafe`
//! because they are foreign functions; the safe wrappers that call them state why each call is
//! sound.

use kernel::{
    bindings,
    ffi::{
        c_char,
        c_int,
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
    #[cfg(any(pcpu_array_kunit, not(pcpu_array_inline_percpu)))]
    pub(crate) fn pcpu_array_cpu_id() -> c_uint;
    /// `in_hardirq() || in_nmi()`, where `crate::percpu::this_cpu` does not inline it.
    #[cfg(any(pcpu_array_kunit, not(pcpu_array_inline_preempt)))]
    pub(crate) fn pcpu_array_in_hardirq() -> bool;
    /// `in_nmi()`.
    pub(crate) fn pcpu_array_in_nmi() -> bool;
    /// Whether a depot may be used: `!irqs_disabled() && !in_hardirq() && !in_nmi()` (a task
    /// or a softirq), on PREEMPT_RT `preemptible()`.
    pub(crate) fn pcpu_array_depot_allowed() -> bool;
    /// `spin_lock_irqsave()`: returns the flags to restore.
    pub(crate) fn pcpu_array_spin_lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong;
    /// `spin_trylock_irqsave()`: on success, stores the flags to restore in `*flags`.
    pub(crate) fn pcpu_array_spin_trylock_irqsave(
        lock: *mut bindings::spinlock_t,
        flags: *mut c_ulong,
    ) -> bool;
    /// `spin_unlock_irqrestore()`.
    pub(crate) fn pcpu_array_spin_unlock_irqrestore(
        lock: *mut bindings::spinlock_t,
        flags: c_ulong,
    );
    /// `cpus_read_lock()`: no CPU comes or goes until `pcpu_array_cpus_read_unlock()`. May
    /// sleep.
    pub(crate) fn pcpu_array_cpus_read_lock();
    /// `cpus_read_unlock()`.
    pub(crate) fn pcpu_array_cpus_read_unlock();
    /// `irqs_disabled()`, where `crate::percpu::this_cpu` does not inline it.
    #[cfg(not(pcpu_array_inline_preempt))]
    pub(crate) fn pcpu_array_irqs_disabled() -> bool;
    /// `this_cpu_add(*ptr, n)` on a `__percpu` `u64`, where `crate::percpu::this_cpu` does not inline it.
    #[cfg(not(pcpu_array_inline_percpu))]
    pub(crate) fn pcpu_array_this_cpu_add_u64(ptr: *mut u64, n: u64);
    /// `this_cpu_write(*ptr, v)` on a `__percpu` `u64`, where `crate::percpu::this_cpu` does not inline
    /// it.
    #[cfg(not(pcpu_array_inline_percpu))]
    pub(crate) fn pcpu_array_this_cpu_write_u64(ptr: *mut u64, v: u64);
    /// `try_module_get(module)`. The `struct module *` is passed as `void *`: its generated
    /// binding contains types that are not FFI-safe for rustc's lint.
    pub(crate) fn pcpu_array_try_module_get(module: *mut c_void) -> bool;

    /// `folio_nid(virt_to_folio(obj))`: the memory node of slab object `obj`.
    pub(crate) fn pcpu_array_obj_node(obj: *const c_void) -> c_int;
    /// `slab_test_pfmemalloc()` of `obj`'s slab: whether it was allocated from the reserves.
    pub(crate) fn pcpu_array_obj_pfmemalloc(obj: *const c_void) -> bool;
    /// `numa_mem_id()`: the nearest memory node of the current CPU.
    pub(crate) fn pcpu_array_numa_mem_id() -> c_int;
    /// `cpu_to_mem(cpu)`: the nearest memory node of `cpu`.
    pub(crate) fn pcpu_array_cpu_to_mem(cpu: c_uint) -> c_int;
    /// `nr_node_ids`.
    pub(crate) fn pcpu_array_nr_node_ids() -> c_uint;
    /// `might_alloc(gfp)`: the sleep and reclaim checks of an allocation.
    #[cfg(any(CONFIG_DEBUG_ATOMIC_SLEEP, CONFIG_LOCKDEP))]
    pub(crate) fn pcpu_array_might_alloc(gfp: bindings::gfp_t);
    /// `call_rcu_hurry(head, func)`: `call_rcu()` that a `CONFIG_RCU_LAZY` kernel does not
    /// batch lazily (an inline alias of `call_rcu()` without it).
    pub(crate) fn pcpu_array_call_rcu_hurry(
        head: *mut bindings::callback_head,
        func: bindings::rcu_callback_t,
    );
    /// `start_poll_synchronize_rcu_full()` on a cookie of `GP_COOKIE_WORDS` words (a
    /// `struct rcu_gp_oldstate`, asserted in `pcpu_array_helpers.c`).
    pub(crate) fn pcpu_array_gp_start(cookie: *mut c_ulong);
    /// `poll_state_synchronize_rcu_full()` of such a cookie.
    pub(crate) fn pcpu_array_gp_elapsed(cookie: *mut c_ulong) -> bool;
    /// `cond_synchronize_rcu_full()` of such a cookie. Sleeps.
    pub(crate) fn pcpu_array_gp_wait(cookie: *mut c_ulong);
    /// `kmemleak_alloc(obj, size, 1, gfp)`.
    #[cfg(CONFIG_DEBUG_KMEMLEAK)]
    pub(crate) fn pcpu_array_kmemleak_alloc(obj: *const c_void, size: usize, gfp: bindings::gfp_t);
    /// `kmemleak_free(obj)`.
    #[cfg(CONFIG_DEBUG_KMEMLEAK)]
    pub(crate) fn pcpu_array_kmemleak_free(obj: *const c_void);

    /// `__alloc_percpu(size, align)`: zeroed per-CPU memory, or NULL.
    pub(crate) fn pcpu_array_alloc_percpu(size: usize, align: usize) -> *mut c_void;
    /// `per_cpu_ptr(ptr, cpu)`.
    pub(crate) fn pcpu_array_per_cpu_ptr(ptr: *mut c_void, cpu: c_uint) -> *mut c_void;
    /// `cpumask_next(cpu, cpu_possible_mask)`: `>= nr_cpu_ids` when there is none.
    pub(crate) fn pcpu_array_next_possible_cpu(cpu: c_int) -> c_uint;
    /// `cpumask_next(cpu, cpu_online_mask)`: `>= nr_cpu_ids` when there is none.
    pub(crate) fn pcpu_array_next_online_cpu(cpu: c_int) -> c_uint;
    /// `nr_cpu_ids`.
    pub(crate) fn pcpu_array_nr_cpu_ids() -> c_uint;

    // The lock pointers are `local_trylock_t *`, passed as `void *`: the generated binding of
    // `local_trylock_t` contains types that are not FFI-safe for rustc's lint.
    /// `local_trylock_init(lock)`.
    pub(crate) fn pcpu_array_local_trylock_init(lock: *mut c_void);
    /// `local_trylock(lock)` on a `__percpu` lock: true when this CPU's instance was taken.
    /// Used where `crate::percpu::local_trylock` does not inline it.
    #[cfg(not(pcpu_array_inline_trylock))]
    pub(crate) fn pcpu_array_local_trylock(lock: *mut c_void) -> bool;
    /// `local_unlock(lock)` on a `__percpu` lock.
    #[cfg(not(pcpu_array_inline_trylock))]
    pub(crate) fn pcpu_array_local_unlock(lock: *mut c_void);

    /// `cpuhp_setup_state_multi(CPUHP_BP_PREPARE_DYN, name, startup, teardown)`: the new state,
    /// or a negative errno. The callbacks have the exact type the hotplug core calls them
    /// through.
    pub(crate) fn pcpu_array_cpuhp_setup_multi(
        name: *const c_char,
        startup: unsafe extern "C" fn(cpu: c_uint, node: *mut bindings::hlist_node) -> c_int,
        teardown: unsafe extern "C" fn(cpu: c_uint, node: *mut bindings::hlist_node) -> c_int,
    ) -> c_int;
    /// `cpuhp_remove_multi_state(state)`.
    pub(crate) fn pcpu_array_cpuhp_remove_multi(state: c_int);
    /// `cpuhp_state_add_instance_nocalls(state, node)`.
    pub(crate) fn pcpu_array_cpuhp_add_instance(
        state: c_int,
        node: *mut bindings::hlist_node,
    ) -> c_int;
    /// `cpuhp_state_remove_instance_nocalls(state, node)`.
    pub(crate) fn pcpu_array_cpuhp_remove_instance(
        state: c_int,
        node: *mut bindings::hlist_node,
    ) -> c_int;

    /// Creates the module's workqueues (`pcpu_array_cpu_work.c`): a per-CPU `WQ_MEM_RECLAIM`
    /// one for the per-CPU items and an unbound one for deferred teardown. 0 or `-ENOMEM`.
    pub(crate) fn pcpu_array_cpu_work_init() -> c_int;
    /// Destroys those workqueues, after every work item queued to them has run.
    pub(crate) fn pcpu_array_cpu_work_exit();
    /// Whether the caller may sleep, as far as the kernel can tell (`in_task()`,
    /// `preemptible()`, interrupts on, no RCU read-side section); always `false` without
    /// `CONFIG_PREEMPT_COUNT`. What [`pcpu_array_run_sleepable`] decides with; the tests check
    /// it, and a free after a grace period that cannot queue a callback waits where it may.
    pub(crate) fn pcpu_array_may_sleep() -> bool;
    /// Calls `f(work)` at once when `pcpu_array_may_sleep()`, else `INIT_WORK(work, f)` and
    /// queues it to the teardown workqueue. Not from NMI.
    pub(crate) fn pcpu_array_run_sleepable(
        work: *mut bindings::work_struct,
        f: unsafe extern "C" fn(work: *mut bindings::work_struct),
    );
    /// `flush_workqueue()` of the teardown workqueue: waits for every item queued so far.
    pub(crate) fn pcpu_array_defer_flush();
    /// Calls `f(arg)` every `period_ms` milliseconds from a work item on `system_long_wq`
    /// until [`pcpu_array_tick_stop`] (a `struct pcpu_array_tick *`, opaque here), or NULL.
    pub(crate) fn pcpu_array_tick_start(
        f: unsafe extern "C" fn(arg: *mut c_void),
        arg: *mut c_void,
        period_ms: c_uint,
    ) -> *mut c_void;
    /// Stops such a tick, waiting for a running call, and frees it.
    pub(crate) fn pcpu_array_tick_stop(tick: *mut c_void);
    /// Whether such a tick's timer is deferrable (it never wakes an idle CPU).
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn pcpu_array_tick_deferrable(tick: *const c_void) -> bool;
    /// A set of work items, one per possible CPU, with the mutex of the caller that queues them
    /// (a `struct pcpu_array_cpu_works *`, opaque here), or NULL.
    pub(crate) fn pcpu_array_cpu_works_alloc() -> *mut c_void;
    /// Frees such a set; none of its items may be queued or running.
    pub(crate) fn pcpu_array_cpu_works_free(works: *mut c_void);
    /// Takes the set's mutex: waits for it when `wait`, otherwise tries once. True when taken.
    pub(crate) fn pcpu_array_cpu_works_lock(works: *mut c_void, wait: bool) -> bool;
    /// Releases the set's mutex.
    pub(crate) fn pcpu_array_cpu_works_unlock(works: *mut c_void);
    /// With the mutex held: queues `f(arg, budget)` on the module's workqueue, bound to `cpu`
    /// (which runs it elsewhere if `cpu` goes offline). False, queueing nothing, when `cpu` is
    /// not a possible CPU or its item is already queued.
    pub(crate) fn pcpu_array_cpu_work_queue(
        works: *mut c_void,
        cpu: c_uint,
        f: unsafe extern "C" fn(arg: *mut c_void, budget: c_ulong) -> c_ulong,
        arg: *mut c_void,
        budget: c_ulong,
    ) -> bool;
    /// With the mutex held: waits for every item queued since the last wait and returns the
    /// sum of what they returned.
    pub(crate) fn pcpu_array_cpu_works_wait(works: *mut c_void) -> c_ulong;

    /// Poisons the `size` bytes of slab object `obj` as freed (`KASAN_SLAB_FREE`).
    #[cfg(CONFIG_KASAN_GENERIC)]
    pub(crate) fn pcpu_array_kasan_poison(obj: *const c_void, size: usize);
    /// Unpoisons the `size` bytes of slab object `obj`, as `kasan_unpoison()`.
    #[cfg(CONFIG_KASAN_GENERIC)]
    pub(crate) fn pcpu_array_kasan_unpoison(obj: *const c_void, size: usize);
    /// `kasan_check_read(obj, 1)`: false, after a KASAN report, when `obj` is poisoned.
    #[cfg(CONFIG_KASAN_GENERIC)]
    pub(crate) fn pcpu_array_kasan_check(obj: *const c_void) -> bool;
}

// `preempt_disable()`/`preempt_enable()`, where `crate::percpu::this_cpu` does not inline them.
#[cfg(all(not(CONFIG_PREEMPT_RT), not(pcpu_array_inline_preempt)))]
extern "C" {
    /// `preempt_disable()`.
    pub(crate) fn pcpu_array_preempt_disable();
    /// `preempt_enable()`.
    pub(crate) fn pcpu_array_preempt_enable();
}

// The wrappers of `pcpu_array_kunit_helpers.c`, compiled into the test build only.
#[cfg(pcpu_array_kunit)]
extern "C" {
    /// `preempt_count()` (for the pin's test, which PREEMPT_RT does not build).
    #[cfg(not(CONFIG_PREEMPT_RT))]
    pub(crate) fn pcpu_array_preempt_count() -> c_int;
    /// `local_irq_save(flags)`, returning `flags`.
    pub(crate) fn pcpu_array_local_irq_save() -> c_ulong;
    /// `local_irq_restore(flags)`.
    pub(crate) fn pcpu_array_local_irq_restore(flags: c_ulong);
    /// `local_bh_disable()`.
    pub(crate) fn pcpu_array_local_bh_disable();
    /// `local_bh_enable()`.
    pub(crate) fn pcpu_array_local_bh_enable();
    /// Runs `fn(arg)` in hard interrupt context on this CPU (a hard irq_work) and waits.
    pub(crate) fn pcpu_array_call_in_hardirq(
        f: unsafe extern "C" fn(*mut c_void) -> kernel::ffi::c_long,
        arg: *mut c_void,
    );
    /// `current->migration_disabled`.
    pub(crate) fn pcpu_array_migration_disabled() -> c_uint;
    /// `work_on_cpu(cpu, fn, arg)`: runs `fn(arg)` in a kworker bound to `cpu` and waits.
    pub(crate) fn pcpu_array_work_on_cpu(
        cpu: c_int,
        f: unsafe extern "C" fn(*mut c_void) -> kernel::ffi::c_long,
        arg: *mut c_void,
    ) -> kernel::ffi::c_long;
    /// Runs `fa(a)` in a work item of `system_dfl_wq` (unbound) while the caller runs `fb(b)`,
    /// and returns once both are done.
    pub(crate) fn pcpu_array_in_parallel(
        fa: unsafe extern "C" fn(*mut c_void) -> kernel::ffi::c_long,
        a: *mut c_void,
        fb: unsafe extern "C" fn(*mut c_void) -> kernel::ffi::c_long,
        b: *mut c_void,
    );
    /// Runs `f(arg)` in an RCU callback (`call_rcu_hurry()`: a softirq, or a kthread with
    /// softirqs disabled) and waits for it.
    pub(crate) fn pcpu_array_in_rcu_callback(
        f: unsafe extern "C" fn(*mut c_void) -> kernel::ffi::c_long,
        arg: *mut c_void,
    );
    /// `rcu_read_lock()`.
    pub(crate) fn pcpu_array_rcu_read_lock();
    /// `rcu_read_unlock()`.
    pub(crate) fn pcpu_array_rcu_read_unlock();
    /// Sets `current->make_it_fail`, the fault-injection task filter.
    #[cfg(CONFIG_FAILSLAB)]
    pub(crate) fn pcpu_array_set_make_it_fail(fail: bool);
    /// Marks the running KUnit case skipped with the reason `reason`.
    pub(crate) fn pcpu_array_kunit_skip(reason: *const c_char);
}

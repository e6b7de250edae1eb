// SPDX-License-Identifier: GPL-2.0

//! Helpers for the KUnit suites of the test build (`pcpu_array_kunit.ko`): owning what a case
//! creates so that a failed assertion cannot leak it, skipping a case whose precondition is
//! missing, running code on a chosen CPU, with interrupts off, in an RCU callback, or with slab
//! fault injection armed.

pub(crate) use crate::percpu::storage::online_cpus;
use crate::{
    cache::handle::{
        Cache,
        Config, //
    },
    semantics::gfp::Gfp,
    sys::ffi, //
};
use core::{
    ops::Deref,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    ffi::{
        c_long,
        c_void, //
    },
    prelude::*,
    str::CStr,
};

/// A value owned by the running KUnit case.
///
/// A failed KUnit assertion aborts the case without running destructors. A `CaseBox` also hands
/// its value to KUnit as a deferred action, so that the value is dropped either when the
/// `CaseBox` is (the usual way) or, if the case aborts, when KUnit cleans the case up. A cache
/// created by a failing case is destroyed all the same, and unloading the test build stays
/// clean.
///
/// # Invariants
///
/// `ptr` is `KBox::into_raw` of a live `T`, owned by this object; `test` is the case it is
/// registered with (through [`drop_boxed::<T>`]), or null outside KUnit.
pub(crate) struct CaseBox<T> {
    ptr: NonNull<T>,
    test: *mut bindings::kunit,
}

/// The deferred action of a [`CaseBox`]: drops the boxed `T`.
///
/// # Safety
///
/// `ptr` must be `KBox::into_raw` of a live `T` that nothing uses any more.
unsafe extern "C" fn drop_boxed<T>(ptr: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    drop(unsafe { KBox::from_raw(ptr.cast::<T>()) });
}

impl<T> CaseBox<T> {
    /// Moves `value` into the running case's care.
    pub(crate) fn new(value: T) -> Result<Self> {
        let ptr = KBox::into_raw(KBox::new(value, GFP_KERNEL)?);
        // SAFETY: Reading the current task's KUnit case has no preconditions.
        let test = unsafe { bindings::kunit_get_current_test() };
        if !test.is_null() {
            // SAFETY: `test` is the running case; `drop_boxed::<T>` takes `ptr`, which stays
            // live until the action runs (from `drop` or at the end of the case). On failure the
            // action runs at once and frees the value.
            let ret = unsafe {
                bindings::kunit_add_action_or_reset(test, Some(drop_boxed::<T>), ptr.cast())
            };
            kernel::error::to_result(ret)?;
        }
        // INVARIANT: `ptr` is a live box, registered with `test` when there is one.
        Ok(Self {
            // SAFETY: `KBox::into_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            test,
        })
    }
}

impl<T> Deref for CaseBox<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `ptr` is a live `T` owned by us (type invariant).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for CaseBox<T> {
    fn drop(&mut self) {
        let ptr = self.ptr.as_ptr().cast::<c_void>();
        if self.test.is_null() {
            // SAFETY: The box is ours and was never registered (type invariant).
            unsafe { drop_boxed::<T>(ptr) };
        } else {
            // SAFETY: The action was registered with `self.test` for `ptr` (type invariant);
            // releasing runs it now, once, and cancels it for the end of the case.
            unsafe { bindings::kunit_release_action(self.test, Some(drop_boxed::<T>), ptr) };
        }
    }
}

/// Marks the running case skipped, with `reason` in its result line. The case should return
/// right after, successfully.
pub(crate) fn skip(reason: &CStr) {
    // SAFETY: `reason` is a C string, copied into the case's status comment.
    unsafe { ffi::pcpu_array_kunit_skip(reason.as_char_ptr()) };
}

/// A closure to run once from C, and what it returned.
struct Call<F, R> {
    f: Option<F>,
    r: Option<R>,
}

impl<F: FnOnce() -> R, R> Call<F, R> {
    fn new(f: F) -> Self {
        Self {
            f: Some(f),
            r: None,
        }
    }

    /// The C-callable side: runs the closure of the `Call<F, R>` at `arg`, once.
    ///
    /// # Safety
    ///
    /// `arg` must point to a live `Call<F, R>` that nothing else accesses during the call.
    unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_long {
        // SAFETY: Guaranteed by the caller.
        let call = unsafe { &mut *arg.cast::<Self>() };
        if let Some(f) = call.f.take() {
            call.r = Some(f());
        }
        0
    }

    fn as_arg(&mut self) -> *mut c_void {
        core::ptr::from_mut(self).cast()
    }
}

/// The first online CPU: where the cases that need one CPU's magazines run.
pub(crate) fn first_cpu() -> Result<u32> {
    online_cpus().next().ok_or(ENODEV)
}

/// Allocates `n` objects of `c` with `gfp`, or `None` (having freed those it got).
pub(crate) fn alloc_n(c: &Cache, n: usize, gfp: Gfp) -> Option<KVec<NonNull<c_void>>> {
    let mut v = KVec::with_capacity(n, GFP_KERNEL).ok()?;
    for _ in 0..n {
        let Some(obj) = c.alloc(gfp) else {
            free_all(c, v);
            return None;
        };
        // Cannot fail: the capacity was reserved above.
        let _ = v.push(obj, GFP_NOWAIT);
    }
    Some(v)
}

/// Frees every object of `v`, in order.
pub(crate) fn free_all(c: &Cache, v: KVec<NonNull<c_void>>) {
    for obj in v {
        // SAFETY: Every object of `v` was allocated from `c` by the case and is unused now.
        unsafe { c.free(obj) };
    }
}

/// Runs `f` in a kworker bound to `cpu` and returns its result, or `None` when it did not run.
///
/// The kworker cannot migrate, so everything `f` does happens on `cpu`. Assertions belong in
/// the test's own thread: `f` returns what it saw.
pub(crate) fn on_cpu<R, F: FnOnce() -> R>(cpu: u32, f: F) -> Option<R> {
    let mut call = Call::new(f);
    let cpu = i32::try_from(cpu).ok()?;
    // SAFETY: `work_on_cpu()` waits for the work to finish, so `call` outlives its use, and
    // only the trampoline touches it meanwhile.
    unsafe { ffi::pcpu_array_work_on_cpu(cpu, Call::<F, R>::trampoline, call.as_arg()) };
    call.r
}

/// Runs `f` in hard interrupt context on the current CPU and returns its result, or `None`
/// when it did not run. Assertions belong in the test's own thread.
pub(crate) fn in_hardirq<R, F: FnOnce() -> R>(f: F) -> Option<R> {
    let mut call = Call::new(f);
    // SAFETY: The helper waits for the irq_work to finish, so `call` outlives its use, and
    // only the trampoline touches it meanwhile.
    unsafe { ffi::pcpu_array_call_in_hardirq(Call::<F, R>::trampoline, call.as_arg()) };
    call.r
}

/// `current->migration_disabled`: how many `migrate_disable()` the current task holds.
pub(crate) fn migration_disabled() -> u32 {
    // SAFETY: Only reads the current task.
    unsafe { ffi::pcpu_array_migration_disabled() }
}

/// Runs `a` in an unbound kworker and `b` in the calling task at the same time, and returns
/// both results once both are done (`None` only if a closure did not run). Assertions belong
/// after it returns.
pub(crate) fn in_parallel<FA, RA, FB, RB>(a: FA, b: FB) -> Option<(RA, RB)>
where
    FA: FnOnce() -> RA + Send,
    RA: Send,
    FB: FnOnce() -> RB,
{
    let (mut ca, mut cb) = (Call::new(a), Call::new(b));
    // SAFETY: The C side waits for the work item before returning, so both `Call`s outlive
    // their use; each is touched only by its own trampoline meanwhile. `a` and its result are
    // `Send`, as they run in another task; `b` stays in ours.
    unsafe {
        ffi::pcpu_array_in_parallel(
            Call::<FA, RA>::trampoline,
            ca.as_arg(),
            Call::<FB, RB>::trampoline,
            cb.as_arg(),
        )
    };
    Some((ca.r?, cb.r?))
}

/// References to this module (the test build): every cache holds one until its teardown is
/// done.
pub(crate) fn module_refs() -> i32 {
    // SAFETY: `THIS_MODULE` is this module, alive while its code runs.
    unsafe { bindings::module_refcount(crate::percpu::deferred::this_module()) }
}

/// Runs `f` in an RCU callback, where the documented uses of an `OwnedArrayBox` end (a softirq,
/// or an RCU kthread with softirqs disabled), and returns its result once it has run (`None`
/// only if it did not).
pub(crate) fn in_rcu_callback<R: Send, F: FnOnce() -> R + Send>(f: F) -> Option<R> {
    let mut call = Call::new(f);
    // SAFETY: The C side waits for the callback before returning, so `call` outlives its use,
    // and only the trampoline touches it meanwhile. `f` and its result are `Send`: the callback
    // may run in another task.
    unsafe { ffi::pcpu_array_in_rcu_callback(Call::<F, R>::trampoline, call.as_arg()) };
    call.r
}

/// Runs `f` inside an RCU read-side critical section.
pub(crate) fn rcu_read<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: Balanced by the unlock below, in the same context.
    unsafe { ffi::pcpu_array_rcu_read_lock() };
    let r = f();
    // SAFETY: Locked above.
    unsafe { ffi::pcpu_array_rcu_read_unlock() };
    r
}

/// Runs `f` with interrupts disabled, except on PREEMPT_RT, where `f` runs as it is: there a
/// spinlock is a sleeping lock that may not be taken with interrupts off, and holding it is
/// what makes a section atomic for the code inside.
pub(crate) fn irqs_off_unless_rt<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(CONFIG_PREEMPT_RT)]
    return f();
    #[cfg(not(CONFIG_PREEMPT_RT))]
    irqs_off(f)
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

/// Runs `f` with softirqs disabled, in the context a softirq (an RCU callback) runs in as far as
/// the module can tell (`in_interrupt()` holds).
pub(crate) fn bh_off<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: Balanced by the enable below, in the same context.
    unsafe { ffi::pcpu_array_local_bh_disable() };
    let r = f();
    // SAFETY: Disabled above.
    unsafe { ffi::pcpu_array_local_bh_enable() };
    r
}

/// The configuration of the caches of most cases: 64-byte objects, a capacity of `capacity`
/// that does not adapt (the adaptation's periodic work could change it between a case's steps).
pub(crate) fn fixed_config(capacity: u32) -> Config {
    Config {
        adaptive: false,
        ..Config::new(64, capacity)
    }
}

/// A cache of [`fixed_config`], destroyed even when the case fails.
pub(crate) fn fixed_cache(name: &CStr, capacity: u32) -> Result<CaseBox<Cache>> {
    CaseBox::new(Cache::new(name, fixed_config(capacity))?)
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

// SPDX-License-Identifier: GPL-2.0

//! Work deferred to where sleeping is allowed: [`SleepableDrop`], the one way a cache's
//! teardown, which sleeps, runs from whatever context lets go of the cache last (a task, an RCU
//! callback, a spinlock, interrupts off), and the module reference ([`ModuleRef`]) that keeps
//! the module loaded while a cache exists.

use crate::sys::ffi;
use core::{
    ops::Deref,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    prelude::*,
    types::Opaque, //
};

/// This module's `struct module`: `THIS_MODULE`, a static of the crate root that `module!`
/// defines before Linux 7.3, a constant of `kernel::ModuleMetadata` from 7.3 on.
#[cfg(not(pcpu_array_kernel_7_3))]
pub(crate) fn this_module() -> *mut bindings::module {
    crate::THIS_MODULE.as_ptr()
}

/// This module's `struct module`: `THIS_MODULE`, a static of the crate root that `module!`
/// defines before Linux 7.3, a constant of `kernel::ModuleMetadata` from 7.3 on.
#[cfg(pcpu_array_kernel_7_3)]
pub(crate) fn this_module() -> *mut bindings::module {
    kernel::module::this_module::<crate::LocalModule>().as_ptr()
}

/// A reference to this module: `rmmod` fails with `EBUSY` while one exists.
///
/// Every cache holds one, so that a cache a consumer leaked keeps the module, its shrinker
/// callbacks and its hotplug state loaded instead of leaving them to point into freed module
/// text.
///
/// # Invariants
///
/// The module's reference count was raised for this object and is dropped once, on drop.
pub(crate) struct ModuleRef {
    _private: (),
}

impl ModuleRef {
    /// Takes a reference to this module; `ENODEV` when it is being unloaded.
    pub(crate) fn get() -> Result<Self> {
        // SAFETY: `THIS_MODULE` is this module, alive while its code runs.
        if !unsafe { ffi::pcpu_array_try_module_get(this_module().cast()) } {
            return Err(ENODEV);
        }
        // INVARIANT: Raised just above.
        Ok(Self { _private: () })
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: Raised by `get` (type invariant). The last reference is dropped either by a
        // consumer, whose own dependency on this module keeps it loaded during the call, or by
        // a work item on the module's teardown workqueue ([`SleepableDrop`]), which module exit
        // waits for.
        unsafe { bindings::module_put(this_module()) };
    }
}

/// A `T` whose drop may sleep (a cache's shrinker, hotplug instance, debugfs files, backing
/// cache and module reference), dropped where sleeping is allowed: at once when the context
/// that drops this may sleep, else from a work item on the module's teardown workqueue.
///
/// The decision is `pcpu_array_may_sleep()` (`pcpu_array_cpu_work.c`): a task with
/// preemption, softirqs and interrupts enabled, outside an RCU read-side section. A kernel
/// without `CONFIG_PREEMPT_COUNT` cannot see a held spinlock, so there every drop is deferred.
/// The work item lives in the same allocation as the `T`, made with the `T`, so that a drop
/// where nothing may sleep allocates nothing and cannot fail. Module exit waits for the
/// workqueue, and [`wait_for_deferred_drops`] for what is queued so far. Not from NMI.
///
/// The workqueue exists from the start of module init to the end of module exit: a
/// `SleepableDrop` is dropped in between, as the caches' are (each holds a module reference).
///
/// # Invariants
///
/// `ptr` is `KBox::leak` of a live `Deferred<T>`, owned by this object; its work item is
/// neither initialised nor queued until this object is dropped.
pub(crate) struct SleepableDrop<T: Send + 'static> {
    ptr: NonNull<Deferred<T>>,
}

/// What a [`SleepableDrop`] owns: the value and the work item that drops it.
struct Deferred<T> {
    work: Opaque<bindings::work_struct>,
    value: T,
}

// SAFETY: The object owns its `T`, which it drops in another task when it defers; `T: Send`.
unsafe impl<T: Send + 'static> Send for SleepableDrop<T> {}
// SAFETY: `&SleepableDrop<T>` gives only `&T`.
unsafe impl<T: Send + Sync + 'static> Sync for SleepableDrop<T> {}

impl<T: Send + 'static> SleepableDrop<T> {
    /// Moves `value` into a new allocation with the work item that may drop it. May sleep.
    pub(crate) fn new(value: T) -> Result<Self> {
        let b = KBox::new(
            Deferred {
                work: Opaque::uninit(),
                value,
            },
            GFP_KERNEL,
        )?;
        // INVARIANT: A live box, ours, with its work item untouched.
        Ok(Self {
            ptr: NonNull::from(KBox::leak(b)),
        })
    }
}

impl<T: Send + 'static> Deref for SleepableDrop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `ptr` is live and ours (type invariant); only shared references are given out.
        unsafe { &self.ptr.as_ref().value }
    }
}

impl<T: Send + 'static> Drop for SleepableDrop<T> {
    fn drop(&mut self) {
        let ptr = self.ptr.as_ptr();
        // SAFETY: `ptr` is a live `Deferred<T>` that we own and give up here (type invariant);
        // `drop_deferred::<T>` takes it back once, either at once or from the work item, which
        // lives in that allocation until then and is queued nowhere else. The teardown
        // workqueue exists (see the type's documentation).
        unsafe {
            ffi::pcpu_array_run_sleepable(
                Opaque::cast_into(&raw const (*ptr).work),
                drop_deferred::<T>,
            )
        };
    }
}

/// Drops the `Deferred<T>` around `work`: the end of a [`SleepableDrop`].
///
/// # Safety
///
/// `work` must be the work item of a `Deferred<T>` made by `KBox::leak`, which nothing else
/// uses any more.
unsafe extern "C" fn drop_deferred<T>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` field of a `Deferred<T>` (guaranteed by the caller), and
    // `Opaque<T>` has the layout of `T`.
    let ptr = unsafe {
        kernel::container_of!(
            work.cast::<Opaque<bindings::work_struct>>(),
            Deferred<T>,
            work
        )
    };
    // SAFETY: `ptr` came from the box, and is ours (guaranteed by the caller). A work item may
    // be freed by its own function.
    drop(unsafe { KBox::from_raw(ptr) });
}

/// Whether the caller may sleep, by the decision every [`SleepableDrop`] takes.
pub(crate) fn may_sleep() -> bool {
    // SAFETY: Only reads the current context.
    unsafe { ffi::pcpu_array_may_sleep() }
}

/// Waits for every [`SleepableDrop`] deferred so far to be done. May sleep.
pub(crate) fn wait_for_deferred_drops() {
    // SAFETY: The teardown workqueue exists from the start of module init to the end of module
    // exit; callers are in between (`Cache::new` holds a module reference, the tests run after
    // init).
    unsafe { ffi::pcpu_array_defer_flush() };
}

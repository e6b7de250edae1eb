// SPDX-License-Identifier: GPL-2.0

//! A per-CPU value behind a per-CPU `local_trylock_t`.
//!
//! This is the only way to reach a CPU's array: pin the task ([`CpuPin`]), then try the lock of
//! the pinned CPU. The attempt never spins. It fails when the lock is already held on this CPU,
//! that is, when an interrupt arrived while the task held it (or, on PREEMPT_RT, when another
//! task on this CPU holds it, or in hard interrupt context), and the caller must then go around
//! the protected value.
//!
//! `local_trylock_t` rather than a `spinlock_t`: on !PREEMPT_RT it is a per-CPU flag with
//! preemption disabled, with no atomic instruction and no cache line shared with other CPUs, and
//! it fails correctly on a uniprocessor kernel, where `spin_trylock()` always succeeds and the
//! 2023 design had to disable interrupts instead. On PREEMPT_RT it becomes a per-CPU
//! `spinlock_t` (a sleeping lock) and `local_trylock()` always fails in hard interrupt context.

use crate::{
    percpu::{
        cpu_pin::CpuPin,
        storage::PerCpu, //
    },
    sys::ffi, //
};
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ops::{
        Deref,
        DerefMut, //
    },
};
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    types::Opaque, //
};

/// `local_trylock()` and `local_unlock()` of a `__percpu` `local_trylock_t`, for a pinned task.
///
/// Inline on !PREEMPT_RT without lockdep, where the lock is a byte of this CPU's instance and the
/// pin already disables preemption: the same loads and stores as the C macros, without two
/// out-of-line calls and a nested `preempt_disable()`. With lockdep or on PREEMPT_RT (a
/// sleeping lock) the C macros run, so lockdep sees every acquisition.
///
/// Both take the lock's `__percpu` address and this CPU's instance of it, which the caller
/// computes once for the whole access: the inline forms use the instance, the C macros the
/// `__percpu` address.
mod raw {
    use kernel::ffi::c_void;

    /// Tries this CPU's instance of `lock`.
    ///
    /// # Safety
    ///
    /// `lock` must be the `__percpu` address of an initialised `local_trylock_t` and `this_cpu`
    /// its instance on the current CPU, which the caller is pinned to; a successful attempt must
    /// be undone with [`unlock`] before the task is unpinned.
    #[inline(always)]
    pub(super) unsafe fn trylock(lock: *mut c_void, this_cpu: *mut c_void) -> bool {
        #[cfg(pcpu_array_inline_trylock)]
        {
            let _ = lock;
            // SAFETY: `this_cpu` is this CPU's instance of an initialised `local_trylock_t`,
            // and the caller is pinned (guaranteed by the caller).
            unsafe { crate::percpu::inline_percpu::trylock::trylock(this_cpu.cast()) }
        }
        #[cfg(not(pcpu_array_inline_trylock))]
        {
            let _ = this_cpu;
            // SAFETY: Guaranteed by the caller.
            unsafe { crate::sys::ffi::pcpu_array_local_trylock(lock) }
        }
    }

    /// Releases this CPU's instance of `lock`.
    ///
    /// # Safety
    ///
    /// This CPU's instance of `lock`, `this_cpu`, must be held by the caller, from [`trylock`]
    /// on this CPU.
    #[inline(always)]
    pub(super) unsafe fn unlock(lock: *mut c_void, this_cpu: *mut c_void) {
        #[cfg(pcpu_array_inline_trylock)]
        {
            let _ = lock;
            // SAFETY: This CPU's instance, held by the caller (guaranteed by the caller).
            unsafe { crate::percpu::inline_percpu::trylock::unlock(this_cpu.cast()) };
        }
        #[cfg(not(pcpu_array_inline_trylock))]
        {
            let _ = this_cpu;
            // SAFETY: Guaranteed by the caller.
            unsafe { crate::sys::ffi::pcpu_array_local_unlock(lock) };
        }
    }
}

/// A CPU's lock and the value it protects.
///
/// The lock is the first field, so the `__percpu` address of the slot is the `__percpu` address
/// of the lock.
#[repr(C)]
#[pin_data]
struct Slot<T> {
    #[pin]
    lock: Opaque<bindings::local_trylock_t>,
    value: UnsafeCell<T>,
}

// SAFETY: Owning a slot owns its value; the lock has no owner while the slot can be moved
// (it is only held through a guard that borrows the slot).
unsafe impl<T: Send> Send for Slot<T> {}

// SAFETY: `value` is reached only through a `LocalTryLockGuard` (one context at a time, on the
// slot's own CPU, while that CPU's lock is held) or through `&mut PerCpuTryLock`.
unsafe impl<T: Send> Sync for Slot<T> {}

/// A `T` for every possible CPU, each protected by a per-CPU `local_trylock_t`.
///
/// # Invariants
///
/// For every possible CPU, `slots` holds an initialised `local_trylock_t` at offset 0 of the
/// CPU's slot, and the slot's `value` is only accessed while that lock is held by the accessor
/// or through `&mut self`.
pub(crate) struct PerCpuTryLock<T> {
    slots: PerCpu<Slot<T>>,
}

impl<T: Send> PerCpuTryLock<T> {
    /// Creates the per-CPU values, `init(cpu)` for each possible CPU, with their locks. Fails
    /// with the first error `init` returns, after dropping the values already made.
    pub(crate) fn new(mut init: impl FnMut(u32) -> Result<T>) -> Result<Self> {
        let slots = PerCpu::new(|cpu| {
            let value = init(cpu);
            try_pin_init!(Slot {
                lock <- Opaque::ffi_init(|lock: *mut bindings::local_trylock_t| {
                    // SAFETY: `lock` points to uninitialised memory for a `local_trylock_t`
                    // that will not move.
                    unsafe { ffi::pcpu_array_local_trylock_init(lock.cast()) }
                }),
                value: UnsafeCell::new(value?),
            }? Error)
        })?;
        // INVARIANT: Every slot's lock was initialised above; nothing has accessed a value.
        Ok(Self { slots })
    }

    /// Where a CPU's value is in its `__percpu` slot, after the lock (`repr(C)`): the lock's
    /// size rounded up to the value's alignment.
    pub(crate) const VALUE_OFFSET: usize = core::mem::offset_of!(Slot<T>, value);

    /// The `__percpu` address of the slots: each CPU's lock, followed by its value at
    /// [`Self::VALUE_OFFSET`]. For the inline hit path of consumers, which takes the lock as
    /// `local_trylock()` does and then uses the value.
    pub(crate) fn as_percpu_ptr(&self) -> *mut c_void {
        self.slots.as_percpu_ptr()
    }

    /// Tries to lock the value of the CPU `pin` holds the task on. Never spins.
    ///
    /// Returns `None` when this CPU's lock is already held: the caller must then not touch this
    /// CPU's value and take another path.
    #[inline]
    #[must_use = "the lock is released as soon as the guard is dropped"]
    pub(crate) fn try_lock<'a>(&'a self, pin: &'a CpuPin) -> Option<LocalTryLockGuard<'a, T>> {
        let base = self.slots.as_percpu_ptr();
        // Computed once: the pin keeps this CPU's instance the same until the guard drops.
        let slot = pin.this_cpu_ptr(base).cast::<Slot<T>>();
        // SAFETY: `base` is the `__percpu` address of a `local_trylock_t` initialised for every
        // possible CPU (type invariant; `Slot` is `repr(C)` with the lock first), `slot` its
        // instance on this CPU, and the pin keeps us on this CPU with preemption (on
        // PREEMPT_RT, migration) disabled. The guard unlocks while the pin is still held: it
        // borrows the pin.
        if !unsafe { raw::trylock(base, slot.cast()) } {
            return None;
        }
        // INVARIANT: This CPU's lock is held by us until the guard drops, and the guard's
        // borrow of `pin` keeps us on this CPU until then.
        Some(LocalTryLockGuard {
            lock: base,
            this_cpu: slot.cast(),
            // SAFETY: `slot` is this CPU's initialised slot, alive as long as `self`.
            value: unsafe { (*slot).value.get() },
            _pin: PhantomData,
        })
    }

    /// The value of a CPU that is dead, reached without its lock; `None` when `cpu` is not
    /// possible.
    ///
    /// # Safety
    ///
    /// `cpu` must be offline and dead, so that no context can hold or take its lock, and
    /// nothing else may use that CPU's value while the returned reference lives.
    #[expect(clippy::mut_from_ref, reason = "exclusive by the caller's guarantee")]
    pub(crate) unsafe fn value_of_dead_cpu(&self, cpu: u32) -> Option<&mut T> {
        let slot = self.slots.on_cpu(cpu)?;
        // SAFETY: The slot is initialised and lives as long as `self`; no lock can be held on a
        // dead CPU and exclusive access is guaranteed by the caller.
        Some(unsafe { &mut *slot.value.get() })
    }

    /// Calls `f` with each possible CPU's value, without locking.
    ///
    /// `&mut self` proves that no other context can hold any of the locks.
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(u32, &mut T)) {
        self.slots
            .for_each_mut(|cpu, slot| f(cpu, slot.value.get_mut()));
    }
}

/// Exclusive access to the current CPU's value, while its `local_trylock_t` is held.
///
/// Dropping the guard unlocks. The guard borrows the [`CpuPin`], so the task cannot be unpinned
/// (and move to another CPU) while it holds the lock.
///
/// # Invariants
///
/// The current CPU's lock at `lock` (`__percpu`), whose instance on this CPU is `this_cpu`, is
/// held by this guard, and `value` is that CPU's value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub(crate) struct LocalTryLockGuard<'a, T> {
    lock: *mut c_void,
    this_cpu: *mut c_void,
    value: *mut T,
    _pin: PhantomData<(&'a CpuPin, &'a mut T)>,
}

impl<T> Deref for LocalTryLockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: By the type invariant we hold the lock that protects `value`.
        unsafe { &*self.value }
    }
}

impl<T> DerefMut for LocalTryLockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: By the type invariant we hold the lock that protects `value`.
        unsafe { &mut *self.value }
    }
}

impl<T> Drop for LocalTryLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariant this CPU's lock is held by us, and we are still on the
        // CPU that took it (the pin outlives the guard).
        unsafe { raw::unlock(self.lock, self.this_cpu) };
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "local_trylock_tests.rs"]
mod tests;

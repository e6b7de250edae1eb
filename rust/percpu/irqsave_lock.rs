// SPDX-License-Identifier: GPL-2.0

//! A `spinlock_t` taken with `spin_lock_irqsave()`, for the depots.
//!
//! Objects are freed from softirqs (RCU callbacks, network completions) as often as from tasks,
//! so a depot must be usable there. A plain `spin_lock()` taken in a task could then be
//! interrupted on its own CPU by a softirq that spins on it forever; disabling interrupts while
//! the lock is held, as SLUB's barn does, rules that out. The kernel crate of the kernels this
//! module builds against has no such lock, so this is a [`Backend`] for
//! [`kernel::sync::lock::Lock`] over three one-line C wrappers. On PREEMPT_RT the lock sleeps
//! and leaves interrupts enabled, as `spin_lock_irqsave()` does there.

use crate::sys::ffi;
use kernel::{
    bindings,
    ffi::{
        c_char,
        c_ulong, //
    },
    sync::lock::{
        Backend,
        Guard,
        Lock, //
    },
};

/// A spinlock whose holder has interrupts disabled (on !PREEMPT_RT).
pub(crate) type SpinLockIrqSave<T> = Lock<T, IrqSaveBackend>;

/// A held [`SpinLockIrqSave`].
pub(crate) type SpinLockIrqSaveGuard<'a, T> = Guard<'a, T, IrqSaveBackend>;

/// The backend of [`SpinLockIrqSave`]: `spin_lock_irqsave()`, `spin_trylock_irqsave()` and
/// `spin_unlock_irqrestore()`, with the saved interrupt flags as the guard's state.
pub(crate) struct IrqSaveBackend;

// SAFETY: `lock` and `try_lock` (when it succeeds) make the caller the owner of the
// `spinlock_t` until `unlock`, which gives back the flags that the same acquisition saved;
// `relock` is the default, which locks the same way.
unsafe impl Backend for IrqSaveBackend {
    type State = bindings::spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: `ptr` is valid for writing, and `name` and `key` stay valid for reading
        // (guaranteed by the caller).
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The lock was initialised (guaranteed by the caller).
        unsafe { ffi::pcpu_array_spin_lock_irqsave(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        let mut flags = 0;
        // SAFETY: The lock was initialised (guaranteed by the caller); `flags` is a local.
        unsafe { ffi::pcpu_array_spin_trylock_irqsave(ptr, &mut flags) }.then_some(flags)
    }

    unsafe fn unlock(ptr: *mut Self::State, flags: &Self::GuardState) {
        // SAFETY: The caller owns the lock, and `flags` are what its acquisition saved.
        unsafe { ffi::pcpu_array_spin_unlock_irqrestore(ptr, *flags) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The lock was initialised (guaranteed by the caller).
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}

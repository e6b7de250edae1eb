// SPDX-License-Identifier: GPL-2.0

//! The RCU primitives a free after a grace period needs: a grace-period cookie, callbacks, and
//! the waits for them.
//!
//! A [`GpCookie`] is a full snapshot of RCU's grace-period state (`struct rcu_gp_oldstate`):
//! [`GpCookie::start`] takes one and makes sure a grace period that ends it is under way
//! (`start_poll_synchronize_rcu_full()`), [`GpCookie::elapsed`] says whether it has ended
//! (`poll_state_synchronize_rcu_full()`, a few loads). [`RcuHead`] is a `struct rcu_head` that
//! [`call_rcu`] queues. All of them are exported to modules (GPL) by Linux 7.2.

use crate::sys::ffi;
use kernel::{
    bindings,
    ffi::c_ulong,
    types::Opaque, //
};

/// A full snapshot of RCU's grace-period state: every RCU reader that was running when it was
/// taken has finished once [`GpCookie::elapsed`] returns true.
#[derive(Clone, Copy)]
pub(crate) struct GpCookie([c_ulong; GP_COOKIE_WORDS]);

/// The words of a [`GpCookie`]: `PCPU_ARRAY_GP_COOKIE_WORDS` of `pcpu_array_helpers.h`, which
/// asserts that a `struct rcu_gp_oldstate` fits (the type is opaque here: not every kernel's
/// Rust bindings carry it).
const GP_COOKIE_WORDS: usize = 2;

// SAFETY: Two counters, copied by value; nothing ties them to a thread.
unsafe impl Send for GpCookie {}

impl GpCookie {
    /// A cookie that stands for no snapshot, until [`GpCookie::start`] replaces it.
    pub(crate) fn unset() -> Self {
        Self([0; GP_COOKIE_WORDS])
    }

    /// A snapshot of now, with a grace period that ends it started if none is under way
    /// (`start_poll_synchronize_rcu_full()`). Not in NMI context.
    pub(crate) fn start() -> Self {
        let mut state = [0; GP_COOKIE_WORDS];
        // SAFETY: `state` is valid for writing a `struct rcu_gp_oldstate` (asserted in C); the
        // function may be called in any context but NMI (the callers check).
        unsafe { ffi::pcpu_array_gp_start(state.as_mut_ptr()) };
        Self(state)
    }

    /// Whether a full grace period has passed since the snapshot: no RCU reader that might have
    /// seen what was unlinked before it is still running.
    pub(crate) fn elapsed(&self) -> bool {
        let mut state = self.0;
        // SAFETY: `state` is a snapshot taken by `start`; the function only reads it, in any
        // context.
        unsafe { ffi::pcpu_array_gp_elapsed(state.as_mut_ptr()) }
    }

    /// Waits, sleeping, until [`GpCookie::elapsed`] (`cond_synchronize_rcu_full()`): returns at
    /// once when it has. Only where the caller may sleep.
    pub(crate) fn wait(&self) {
        let mut state = self.0;
        // SAFETY: As in `elapsed`; the caller may sleep.
        unsafe { ffi::pcpu_array_gp_wait(state.as_mut_ptr()) };
    }
}

/// Waits until every RCU callback queued so far has run (`rcu_barrier()`). Sleeps.
pub(crate) fn rcu_barrier() {
    // SAFETY: The callers may sleep (a cache's teardown).
    unsafe { bindings::rcu_barrier() };
}

/// Waits for a full grace period (`synchronize_rcu()`). Sleeps.
pub(crate) fn synchronize_rcu() {
    // SAFETY: The callers may sleep.
    unsafe { bindings::synchronize_rcu() };
}

/// A `struct rcu_head`, to be embedded as the first field of a `repr(C)` value that an RCU
/// callback receives: the head's address is the value's.
#[repr(transparent)]
pub(crate) struct RcuHead(Opaque<bindings::callback_head>);

impl RcuHead {
    /// A head that is not queued.
    pub(crate) const fn new() -> Self {
        Self(Opaque::uninit())
    }
}

// SAFETY: The head is only written by RCU while queued, and by the owner of what embeds it.
unsafe impl Send for RcuHead {}
// SAFETY: `&RcuHead` gives access to nothing but its address.
unsafe impl Sync for RcuHead {}

/// The type of an RCU callback.
pub(crate) type RcuCallback = unsafe extern "C" fn(head: *mut bindings::callback_head);

/// Queues `f(head)` to run after a grace period: with `call_rcu_hurry()` when `hurry` (a
/// `CONFIG_RCU_LAZY` kernel then does not batch it for seconds), else `call_rcu()`. Any
/// context but NMI.
///
/// # Safety
///
/// `head` must be valid, not queued, and stay valid and untouched until `f` runs; `f` must be
/// sound to call with it then.
pub(crate) unsafe fn call_rcu(head: *mut bindings::callback_head, f: RcuCallback, hurry: bool) {
    if hurry {
        // SAFETY: Guaranteed by the caller.
        unsafe { ffi::pcpu_array_call_rcu_hurry(head, Some(f)) };
    } else {
        // SAFETY: Guaranteed by the caller.
        unsafe { bindings::call_rcu(head, Some(f)) };
    }
}

/// Whether a `GFP_ATOMIC`/`GFP_NOWAIT` allocation may be made now: not in NMI; on PREEMPT_RT,
/// where the slab allocator takes sleeping locks, only where a depot may be used.
pub(crate) fn atomic_alloc_allowed() -> bool {
    if cfg!(CONFIG_PREEMPT_RT) {
        super::cpu_pin::depot_allowed()
    } else {
        !super::cpu_pin::in_nmi()
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The free after an RCU grace period of a [`Cache`] (`pcpu_array_free_rcu()`): the object waits
//! in this CPU's pending magazine, which is sealed with one grace-period cookie when full and
//! comes back as a full magazine once the grace period has ended (`crate::magazines::rcu`
//! describes the magazines, the lists and the callbacks).
//!
//! Contexts: as [`Cache::free`]. Where this CPU's pending lock is held (an interrupted holder,
//! another task on PREEMPT_RT) or no pending magazine can be had, the object waits on its own
//! (a `call_rcu()` of a small record, or a wait where the caller may sleep). In NMI context an
//! object that does not fit the pending magazine without filling it is leaked after a warning,
//! as a free there that does not fit the magazines is.

use super::handle::Cache;
use crate::{
    magazines::rcu::{
        After,
        Pending,
        Pushed,
        Target, //
    },
    magazines::stats::Stat,
    semantics::{
        hardening,
        placement::{
            this_node,
            FreeTo, //
        },
    },
};
use core::ptr::NonNull;
use kernel::ffi::c_void;

impl Cache {
    /// Frees `obj` once every RCU reader that might still see it has finished: it waits in this
    /// CPU's pending magazine, not poisoned for KASAN nor wiped for `init_on_free` until then,
    /// and comes back as a cached object (or to the backing cache) after the grace period.
    ///
    /// # Safety
    ///
    /// `obj` must be an object allocated from this cache (or its backing cache), owned by the
    /// caller, unlinked from whatever RCU readers find it through, and not written afterwards.
    /// Readers that found it before may read it until they leave their read-side section.
    #[inline(always)]
    pub unsafe fn free_rcu(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller passes an object of this cache.
        if !unsafe { crate::semantics::kasan::check(obj) } {
            // Poisoned: the object is parked in a magazine already (a double free, reported).
            return;
        }
        let target = if cfg!(CONFIG_PREEMPT_RT) {
            // As SLUB's sheaves: no parking of frees after a grace period on PREEMPT_RT.
            Target::Backing
        } else if self.state.placement.free_needs_check() || hardening::is_kfence(obj) {
            // SAFETY: Guaranteed by the caller.
            unsafe { self.rcu_target(obj) }
        } else {
            Target::Park(None)
        };
        let pushed = self.state.with_this_cpu_pending(|p, stats| {
            // SAFETY: The caller hands `obj` over; `target` names its node when the cache keeps
            // nodes apart.
            let pushed = unsafe { p.push(obj, target) };
            if !matches!(pushed, Pushed::NoMagazine(..)) {
                stats.inc(Stat::FreeRcu);
            }
            pushed
        });
        match pushed {
            Some(Pushed::Done) => {}
            Some(Pushed::Full(pending, after)) => self.seal_and_restock(pending, after),
            // SAFETY: Guaranteed by the caller.
            Some(Pushed::NoMagazine(obj, after)) => unsafe {
                self.free_rcu_slow(obj, target, after)
            },
            // SAFETY: Guaranteed by the caller.
            None => unsafe { self.state.rcu_free_one(obj) },
        }
    }

    /// Seals `pending`, which filled, and gives this CPU a new spare for the next one.
    #[cold]
    #[inline(never)]
    fn seal_and_restock(&self, pending: Pending, after: After) {
        self.state.rcu_seal(pending, after);
        self.state.rcu_restock();
    }

    /// Which pending magazine `obj` goes to, for a cache whose placement rules apply
    /// (`crate::semantics::placement`): one that is parked again, of the object's node, or one
    /// that goes to the backing cache.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of this cache.
    #[cold]
    #[inline(never)]
    unsafe fn rcu_target(&self, obj: NonNull<c_void>) -> Target {
        // SAFETY: Guaranteed by the caller.
        match unsafe { self.state.placement.free_to(obj) } {
            FreeTo::Backing(why) => {
                self.state.count(why.into(), 1);
                Target::Backing
            }
            FreeTo::NodeArray(node) => Target::Park(Some(node)),
            FreeTo::AnyArray => Target::Park(None),
        }
    }

    /// A free after a grace period that found no pending magazine of the kind it needs on its
    /// CPU: brings one (an empty magazine and its shell, with no lock held) and pushes `obj`
    /// onto it; the object waits on its own when none can be had.
    ///
    /// # Safety
    ///
    /// As [`Cache::free_rcu`], for an object whose pending magazine is the one for `after`.
    #[cold]
    #[inline(never)]
    unsafe fn free_rcu_slow(&self, obj: NonNull<c_void>, target: Target, mut after: After) {
        // Twice at most: a pending magazine for parking may turn out to be of another node than
        // the object, which then needs one for the backing cache.
        for _ in 0..2 {
            let Some(fresh) = self.state.rcu_new_pending(this_node()) else {
                break;
            };
            let target = match after {
                After::Park => target,
                After::Backing => Target::Backing,
            };
            // SAFETY: Guaranteed by the caller.
            let (pushed, left) = unsafe { self.state.rcu_install_and_push(fresh, obj, target) };
            if let Some(left) = left {
                self.state.rcu_drop_pending(left);
            }
            match pushed {
                Some(Pushed::Done) => return,
                Some(Pushed::Full(pending, a)) => return self.seal_and_restock(pending, a),
                Some(Pushed::NoMagazine(_, a)) => after = a,
                None => break,
            }
        }
        // SAFETY: Guaranteed by the caller.
        unsafe { self.state.rcu_free_one(obj) };
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "free_rcu_tests.rs"]
mod tests;

// SPDX-License-Identifier: GPL-2.0

//! Guaranteed reservations: a caller-owned batch of objects that cannot run out early.
//!
//! [`Cache::prefill`] is opportunistic: the task may migrate and an interrupt may take the
//! objects. A reservation owns its objects instead, so allocating from it cannot fail until it
//! is empty, in any context and on any CPU. This is what `kmem_cache_prefill_sheaf()` gives
//! in-tree users and what maple-tree-like writers need before taking their spinlock.

use crate::{
    cache::Cache,
    cpu_pin::bulk_allowed,
    gfp::Gfp,
    typed::RawReservation, //
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*, //
};

/// The largest reservation (`PCPU_ARRAY_MAX_RESERVE` of the C ABI): enough for a B-tree write
/// that splits every level.
use crate::abi_types::MAX_RESERVE;

/// The objects of a reservation, without a reference to their cache.
///
/// The owner must give the objects back to the cache they came from, with
/// [`ReservedObjs::release`], before dropping it; dropping a non-empty set leaks.
///
/// # Invariants
///
/// Every pointer in `objs` is a live object of the cache that filled the set, owned by the set.
pub(crate) struct ReservedObjs {
    objs: KVec<*mut c_void>,
}

// SAFETY: The pointers are owned objects of a slab cache, usable from any CPU.
unsafe impl Send for ReservedObjs {}

impl ReservedObjs {
    /// Takes `count` objects from `cache`: from this CPU's array where possible, the rest with
    /// one bulk allocation. All or nothing.
    ///
    /// `EINVAL` when `count` exceeds [`MAX_RESERVE`] or the context may not use the bulk API
    /// (interrupts disabled, hard interrupt or NMI), `ENOMEM` when memory runs out.
    pub(crate) fn fill(cache: &Cache, count: usize, gfp: Gfp) -> Result<Self> {
        if count > MAX_RESERVE || !bulk_allowed() {
            return Err(EINVAL);
        }
        let vec_flags = gfp.kernel_flags();
        let mut objs = KVec::with_capacity(count, vec_flags)?;
        for _ in 0..count {
            objs.push(core::ptr::null_mut(), vec_flags)?;
        }
        if count != 0 && !cache.alloc_bulk(gfp, &mut objs) {
            return Err(ENOMEM);
        }
        // INVARIANT: `alloc_bulk` filled every entry with an object of `cache`.
        Ok(Self { objs })
    }

    /// Objects left.
    pub(crate) fn len(&self) -> usize {
        self.objs.len()
    }

    /// Takes one object, zeroed if `gfp` has `__GFP_ZERO`. Cannot fail until the set is empty.
    pub(crate) fn take(&mut self, cache: &Cache, gfp: Gfp) -> Option<NonNull<c_void>> {
        let obj = NonNull::new(self.objs.pop()?)?;
        cache.zero_if_asked(obj, gfp);
        Some(obj)
    }

    /// Gives every object left back to `cache`, which must be the cache that filled the set.
    pub(crate) fn release(&mut self, cache: &Cache) {
        // SAFETY: By the type invariant the objects are live objects of `cache`, owned by us;
        // the set is emptied right after.
        unsafe { cache.free_bulk(&mut self.objs) };
        self.objs.clear();
    }
}

/// A guaranteed batch of objects from a [`Cache`]; unused objects go back on drop.
///
/// # Examples
///
/// ```ignore
/// let mut r = Reservation::new(&cache, 4, Gfp::KERNEL)?; // may sleep
/// let guard = lock.lock();                       // no sleeping from here on
/// let node = r.alloc(Gfp::NOWAIT).ok_or(ENOMEM)?; // cannot fail: 4 were reserved
/// ```
pub struct Reservation<'a> {
    cache: &'a Cache,
    objs: ReservedObjs,
}

impl<'a> Reservation<'a> {
    /// Reserves `count` objects (at most [`MAX_RESERVE`]) of `cache` that the caller owns until
    /// it drops the reservation: allocating from it cannot fail until it is empty, in any
    /// context and on any CPU.
    pub fn new(cache: &'a Cache, count: usize, gfp: Gfp) -> Result<Self> {
        Ok(Self {
            cache,
            objs: ReservedObjs::fill(cache, count, gfp)?,
        })
    }

    /// Objects left in the reservation.
    pub fn len(&self) -> usize {
        self.objs.len()
    }

    /// Whether the reservation is used up.
    pub fn is_empty(&self) -> bool {
        self.objs.len() == 0
    }

    /// Takes one reserved object. Never fails while [`Reservation::len`] is non-zero; never
    /// sleeps.
    pub fn alloc(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        self.objs.take(self.cache, gfp)
    }
}

impl RawReservation for Reservation<'_> {
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        self.alloc(gfp)
    }

    fn remaining(&self) -> usize {
        self.len()
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.objs.release(self.cache);
    }
}

#[cfg(pcpu_array_kunit)]
#[kunit_tests(pcpu_array_reservation)]
mod tests {
    use super::*;
    use crate::{
        cache::Config,
        stats::Stat,
        testing::{
            irqs_off,
            CaseBox, //
        },
    };

    #[test]
    fn reserved_objects_cannot_run_out_early() -> Result {
        let c = CaseBox::new(Cache::new(c"pcpu_array_test_reserve", Config::new(64, 8))?)?;
        assert_eq!(
            Reservation::new(&c, MAX_RESERVE + 1, Gfp::KERNEL).err(),
            Some(EINVAL)
        );
        let mut r = Reservation::new(&c, 20, Gfp::KERNEL)?;
        assert_eq!(r.len(), 20);
        let mut got = KVec::with_capacity(21, GFP_KERNEL)?;
        // With interrupts off nothing may sleep or refill: the reservation must still deliver.
        irqs_off(|| {
            for _ in 0..21 {
                got.push(r.alloc(Gfp::NOWAIT), GFP_NOWAIT)?;
            }
            Ok::<(), Error>(())
        })?;
        assert!(got.iter().take(20).all(Option::is_some));
        assert!(got[20].is_none());
        assert!(r.is_empty());
        drop(r);
        for obj in got.into_iter().flatten() {
            // SAFETY: Allocated from `c` through the reservation; unused.
            unsafe { c.free(obj) };
        }
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn unused_objects_go_back() -> Result {
        let c = CaseBox::new(Cache::new(
            c"pcpu_array_test_unreserve",
            Config::new(64, 8),
        )?)?;
        let r = Reservation::new(&c, 6, Gfp::KERNEL)?;
        let during = c.stats();
        assert_eq!(during.in_use(), 6);
        drop(r);
        let after = c.stats();
        assert_eq!(after.in_use(), 0);
        assert_eq!(
            after.since(&during, Stat::FreeArray) + after.since(&during, Stat::FreeBacking),
            6
        );
        Ok(())
    }
}

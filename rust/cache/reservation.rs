// SPDX-License-Identifier: GPL-2.0

//! Guaranteed reservations: a caller-owned batch of objects that cannot run out early.
//!
//! [`Cache::prefill`] is opportunistic: the task may migrate and an interrupt may take the
//! objects. A reservation owns its objects instead, so allocating from it cannot fail until it
//! is empty, in any context and on any CPU. This is what `kmem_cache_prefill_sheaf()` gives
//! in-tree users and what maple-tree-like writers need before taking their spinlock.

use crate::{
    cache::handle::Cache,
    percpu::cpu_pin::bulk_allowed,
    semantics::gfp::Gfp, //
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*, //
};

/// The largest reservation (`PCPU_ARRAY_MAX_RESERVE` of the C ABI): enough for a B-tree write
/// that splits every level.
use crate::sys::abi_types::MAX_RESERVE;

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
        top_up(cache, &mut objs, 0, count, gfp)?;
        // INVARIANT: `top_up` filled every entry with an object of `cache`.
        Ok(Self { objs })
    }

    /// Objects left.
    pub(crate) fn len(&self) -> usize {
        self.objs.len()
    }

    /// Takes one object, zeroed if `gfp` has `__GFP_ZERO`. Cannot fail until the set is empty.
    pub(crate) fn take(&mut self, cache: &Cache, gfp: Gfp) -> Option<NonNull<c_void>> {
        Some(hand_out(cache, NonNull::new(self.objs.pop()?)?, gfp))
    }

    /// Gives every object left back to `cache`, which must be the cache that filled the set.
    pub(crate) fn release(&mut self, cache: &Cache) {
        // SAFETY: By the type invariant the objects are live objects of `cache`, owned by us;
        // the set is emptied right after.
        unsafe { cache.free_bulk(&mut self.objs) };
        self.objs.clear();
    }
}

/// Makes a reservation kept in `slots`, whose first `count` entries are its objects, hold
/// `want` objects of `cache`: the missing ones come from this CPU's magazines, then from full
/// magazines of its node's depot, the rest from one bulk allocation, unzeroed (they are zeroed
/// as they are handed out). Returns the new count, `count` when it was `want` or more.
///
/// All or nothing: on failure the reservation is as it was. `EINVAL` when `want` exceeds
/// `slots` or [`MAX_RESERVE`], or the context may not use the bulk API (interrupts disabled,
/// hard interrupt or NMI); `ENOMEM` when memory runs out.
pub(crate) fn top_up(
    cache: &Cache,
    slots: &mut [*mut c_void],
    count: usize,
    want: usize,
    gfp: Gfp,
) -> Result<usize> {
    if want > slots.len() || want > MAX_RESERVE || count > slots.len() || !bulk_allowed() {
        return Err(EINVAL);
    }
    if count >= want {
        return Ok(count);
    }
    if !cache.alloc_bulk_zeroing(gfp, &mut slots[count..want], false) {
        return Err(ENOMEM);
    }
    Ok(want)
}

/// Hands `obj`, taken out of a reservation of `cache`, to its caller: zeroed when `gfp` asks
/// for it or the kernel runs with `init_on_alloc`, and charged to the caller's memory cgroup
/// when `gfp` has `__GFP_ACCOUNT`, as `kmem_cache_alloc_from_sheaf()` does (whatever flags the
/// reservation was made with).
#[inline]
pub(crate) fn hand_out(cache: &Cache, obj: NonNull<c_void>, gfp: Gfp) -> NonNull<c_void> {
    cache.zero_if_asked(obj, gfp);
    if gfp.accounts() {
        // SAFETY: `obj` is a live object of `cache`, leaving its reservation for the caller.
        unsafe { cache.charge_handed_out(obj, gfp) };
    }
    obj
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

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.objs.release(self.cache);
    }
}

/// A reservation of up to `N` objects of a [`Cache`] kept in the reservation itself: reserving
/// allocates nothing (no vector, no handle), as a sheaf from `kmem_cache_prefill_sheaf()`. The
/// Rust form of the C ABI's `struct pcpu_array_rsv`. Unused objects go back on drop.
///
/// # Examples
///
/// ```ignore
/// let mut r = StoredReservation::<8>::new(&cache, 8, Gfp::KERNEL)?; // may sleep
/// let guard = lock.lock();
/// let node = r.alloc(Gfp::NOWAIT).ok_or(ENOMEM)?;                   // cannot fail
/// ```
///
/// # Invariants
///
/// `slots[..count]` are live objects of `cache`, owned by the reservation.
pub struct StoredReservation<'a, const N: usize> {
    cache: &'a Cache,
    count: usize,
    slots: [*mut c_void; N],
}

impl<'a, const N: usize> StoredReservation<'a, N> {
    /// Reserves `count` objects of `cache` (at most `N` and [`MAX_RESERVE`]): see
    /// [`StoredReservation::refill`].
    pub fn new(cache: &'a Cache, count: usize, gfp: Gfp) -> Result<Self> {
        let mut r = Self {
            cache,
            count: 0,
            slots: [core::ptr::null_mut(); N],
        };
        r.refill(count, gfp)?;
        Ok(r)
    }

    /// Makes the reservation hold at least `count` objects (at most `N` and [`MAX_RESERVE`]):
    /// from this CPU's magazines, then whole magazines of its node's depot, then one bulk
    /// allocation. All or nothing: `ENOMEM` leaves it as it was. `EINVAL` above the bounds or
    /// where the bulk API may not be used (interrupts disabled, hard interrupt, NMI).
    pub fn refill(&mut self, count: usize, gfp: Gfp) -> Result {
        // INVARIANT: `top_up` adds only live objects of `cache`, and returns how many are held.
        self.count = top_up(self.cache, &mut self.slots, self.count, count, gfp)?;
        Ok(())
    }

    /// Objects left in the reservation.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the reservation is used up.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Takes one reserved object, zeroed if `gfp` has `__GFP_ZERO` or `init_on_alloc` is on.
    /// Never fails while [`StoredReservation::len`] is non-zero; never sleeps.
    pub fn alloc(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        let last = self.count.checked_sub(1)?;
        let obj = NonNull::new(self.slots[last])?;
        // INVARIANT: The object leaves the reservation.
        self.count = last;
        Some(hand_out(self.cache, obj, gfp))
    }
}

impl<const N: usize> Drop for StoredReservation<'_, N> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `slots[..count]` are live objects of `cache` that the
        // reservation owns and gives back here.
        unsafe { self.cache.free_bulk(&mut self.slots[..self.count]) };
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "reservation_tests.rs"]
mod tests;

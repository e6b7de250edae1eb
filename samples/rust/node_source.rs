// SPDX-License-Identifier: GPL-2.0

//! Where the range map's nodes come from: a pcpu_array cache (the point of the sample), or a
//! plain `kmem_cache` with the maple tree's pre-sheaves protocol, so that `bench=N` can run the
//! very same tree code over both.
//!
//! The plain cache keeps SLUB's sheaves (Linux 7.2's per-CPU layer, what a new cache gets) and
//! reserves the way the maple tree did before sheaves: one bulk allocation of the worst case
//! before the lock, and one bulk free of what the write did not use. The pcpu_array cache
//! reserves into a caller-stored reservation (`struct pcpu_array_rsv`) of the same size, on the
//! writer's stack: neither allocates anything for the reservation itself.

use crate::{
    kmem_cache::KmemCache,
    pcpu_array::{
        typed::{
            layout_of,
            RawCache,
            RawReservation, //
        },
        AbiCache,
        AbiStoredReservation,
        Gfp,
        Stats, //
    },
};
use core::ptr::{
    null_mut,
    NonNull, //
};
use kernel::{
    ffi::c_void,
    prelude::*,
    str::CStr, //
};

/// The most objects a [`NodeReservation`] holds: a write's worst case in the range map.
pub(crate) const RESERVE_MAX: usize = 64;

/// What a [`NodeSource`] draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// pcpu_array, through its C ABI.
    PcpuArray,
    /// A plain `kmem_cache` (with SLUB's sheaves), bulk preallocation for reservations.
    Slab,
}

/// Where a range map's nodes come from: the untyped cache under its typed one.
///
/// Its objects begin with a `struct rcu_head`, which the plain cache's frees after a grace
/// period hand to `kfree_rcu()` (pcpu_array needs none).
pub(crate) enum NodeSource {
    /// A pcpu_array cache.
    Array(AbiCache),
    /// A plain `kmem_cache`.
    Slab(KmemCache),
}

impl NodeSource {
    /// Creates a source `name` of `T`s; `capacity` is the pcpu_array per-CPU capacity.
    pub(crate) fn new<T>(name: &CStr, backend: Backend, capacity: u32) -> Result<Self> {
        let (size, align) = layout_of::<T>()?;
        Ok(match backend {
            Backend::PcpuArray => Self::Array(AbiCache::new(name, size, align, capacity)?),
            Backend::Slab => Self::Slab(KmemCache::new(name, size, align)?),
        })
    }
}

// SAFETY: Both variants return objects of the size and alignment the cache was created with and
// take them back; a slab reservation holds objects of its own cache.
unsafe impl RawCache for NodeSource {
    type Reservation<'a> = NodeReservation<'a>;

    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        match self {
            Self::Array(a) => a.alloc_raw(gfp),
            Self::Slab(s) => s.alloc(gfp),
        }
    }

    unsafe fn free_raw(&self, obj: NonNull<c_void>) {
        match self {
            // SAFETY: Guaranteed by the caller.
            Self::Array(a) => unsafe { a.free_raw(obj) },
            // SAFETY: Guaranteed by the caller: an object of this cache.
            Self::Slab(s) => unsafe { s.free(obj) },
        }
    }

    fn alloc_node_raw(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
        match self {
            Self::Array(a) => a.alloc_node_raw(gfp, node),
            Self::Slab(s) => s.alloc_node(gfp, node),
        }
    }

    fn alloc_bulk_raw(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool {
        match self {
            Self::Array(a) => a.alloc_bulk_raw(gfp, out),
            // `kmem_cache_alloc_bulk()` fails for none, as `pcpu_array_alloc_bulk()` does.
            Self::Slab(s) => !out.is_empty() && s.alloc_bulk(gfp, out),
        }
    }

    unsafe fn free_bulk_raw(&self, objs: &mut [*mut c_void]) {
        match self {
            // SAFETY: Guaranteed by the caller.
            Self::Array(a) => unsafe { a.free_bulk_raw(objs) },
            Self::Slab(s) => {
                for &obj in objs.iter() {
                    if let Some(obj) = NonNull::new(obj) {
                        // SAFETY: Guaranteed by the caller: an object of this cache.
                        unsafe { s.free(obj) };
                    }
                }
            }
        }
    }

    /// The objects a pcpu_array cache gave back; a plain cache parks none of ours.
    fn shrink_raw(&self) -> usize {
        match self {
            Self::Array(a) => a.shrink_raw(),
            Self::Slab(_) => 0,
        }
    }

    unsafe fn free_rcu_raw(&self, obj: NonNull<c_void>) {
        match self {
            // SAFETY: Guaranteed by the caller.
            Self::Array(a) => unsafe { a.free_rcu_raw(obj) },
            // SAFETY: Guaranteed by the caller: an unlinked object of this cache, whose first
            // bytes are a `struct rcu_head` (see `NodeSource`).
            Self::Slab(s) => unsafe { s.free_rcu(obj) },
        }
    }

    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result {
        match self {
            Self::Array(a) => a.prefill_raw(count, gfp),
            // A plain cache has no array of ours to fill.
            Self::Slab(_) => Ok(()),
        }
    }

    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<NodeReservation<'_>> {
        match self {
            Self::Array(a) => Ok(NodeReservation::Array(
                a.reserve_stored_raw::<RESERVE_MAX>(count, gfp)?,
            )),
            Self::Slab(s) => {
                if count > RESERVE_MAX {
                    return Err(EINVAL);
                }
                let mut r = SlabReservation {
                    cache: s,
                    objs: [null_mut(); RESERVE_MAX],
                    left: 0,
                };
                if !s.alloc_bulk(gfp, &mut r.objs[..count]) {
                    return Err(ENOMEM);
                }
                // INVARIANT: The bulk call filled `objs[..count]`.
                r.left = count;
                Ok(NodeReservation::Slab(r))
            }
        }
    }

    /// Every reservation of a node cache is kept on the writer's stack already.
    type StoredReservation<'a, const N: usize> = NodeReservation<'a>;

    fn reserve_stored_raw<const N: usize>(
        &self,
        count: usize,
        gfp: Gfp,
    ) -> Result<NodeReservation<'_>> {
        if count > N {
            return Err(EINVAL);
        }
        self.reserve_raw(count, gfp)
    }

    /// The pcpu_array counters; all zero for a plain cache.
    fn stats(&self) -> Stats {
        match self {
            Self::Array(a) => a.stats(),
            Self::Slab(_) => Stats::default(),
        }
    }
}

/// Objects bulk-allocated from a plain cache, the rest bulk-freed on drop.
///
/// # Invariants
///
/// `objs[..left]` are live objects of `cache` owned by the reservation.
pub(crate) struct SlabReservation<'a> {
    cache: &'a KmemCache,
    objs: [*mut c_void; RESERVE_MAX],
    left: usize,
}

impl Drop for SlabReservation<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant these are ours, and they are not used afterwards.
        unsafe { self.cache.free_bulk(&mut self.objs[..self.left]) };
    }
}

/// A reservation of a [`NodeSource`]: both kinds live on the writer's stack for one write
/// (`RESERVE_MAX` pointers), with no allocation of their own.
pub(crate) enum NodeReservation<'a> {
    /// From pcpu_array, caller-stored.
    Array(AbiStoredReservation<'a, RESERVE_MAX>),
    /// Bulk-preallocated from a plain cache.
    Slab(SlabReservation<'a>),
}

impl RawReservation for NodeReservation<'_> {
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        match self {
            Self::Array(r) => r.take_raw(gfp),
            Self::Slab(r) => {
                r.left = r.left.checked_sub(1)?;
                // INVARIANT: The object at the new `left` leaves the reservation.
                NonNull::new(r.objs[r.left])
            }
        }
    }

    fn remaining(&self) -> usize {
        match self {
            Self::Array(r) => r.remaining(),
            Self::Slab(r) => r.left,
        }
    }
}

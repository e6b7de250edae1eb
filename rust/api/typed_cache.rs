// SPDX-License-Identifier: GPL-2.0

//! The typed API (`crate::api::typed`) over the module's own [`Cache`]: what Rust code inside
//! `pcpu_array.ko` (and its tests) uses; consumer modules get the same API over the C ABI from
//! the binding (`binding/pcpu_array.rs`).

use crate::{
    api::typed::{
        NewRawCache,
        Options,
        RawCache,
        RawReservation, //
    },
    cache::{
        handle::{
            Cache,
            Config, //
        },
        reservation::{
            Reservation,
            StoredReservation, //
        },
    },
    semantics::{
        backing::Sheaves,
        gfp::Gfp, //
    },
    sys::abi_types::PcpuArrayStats, //
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*,
    str::CStr, //
};

impl RawReservation for Reservation<'_> {
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        self.alloc(gfp)
    }

    fn remaining(&self) -> usize {
        self.len()
    }
}

impl<const N: usize> RawReservation for StoredReservation<'_, N> {
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        self.alloc(gfp)
    }

    fn remaining(&self) -> usize {
        self.len()
    }
}

// SAFETY: `alloc` returns objects of the backing cache, created with the size and alignment
// asked for, and `free` takes them back.
unsafe impl RawCache for Cache {
    type Reservation<'a> = Reservation<'a>;

    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        self.alloc(gfp)
    }

    fn alloc_node_raw(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
        self.alloc_node(gfp, node)
    }

    fn alloc_bulk_raw(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool {
        self.alloc_bulk(gfp, out)
    }

    unsafe fn free_raw(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller passes an object that `alloc_raw` (or a reservation) of this cache
        // handed out and no longer uses: what `Cache::free` requires.
        unsafe { self.free(obj) }
    }

    unsafe fn free_bulk_raw(&self, objs: &mut [*mut c_void]) {
        // SAFETY: The caller passes objects of this cache (or NULLs) that it no longer uses:
        // what `Cache::free_bulk` requires.
        unsafe { self.free_bulk(objs) }
    }

    unsafe fn free_rcu_raw(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller passes an object of this cache that it gives up and unlinked: what
        // `Cache::free_rcu` requires.
        unsafe { self.free_rcu(obj) }
    }

    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result {
        self.prefill(count, gfp)
    }

    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<Reservation<'_>> {
        Reservation::new(self, count, gfp)
    }

    type StoredReservation<'a, const N: usize> = StoredReservation<'a, N>;

    fn reserve_stored_raw<const N: usize>(
        &self,
        count: usize,
        gfp: Gfp,
    ) -> Result<StoredReservation<'_, N>> {
        StoredReservation::new(self, count, gfp)
    }

    fn shrink_raw(&self) -> usize {
        self.shrink()
    }

    fn stats(&self) -> PcpuArrayStats {
        // The same counters as `pcpu_array_get_stats()` gives C callers.
        Cache::stats(self).to_abi()
    }
}

// SAFETY: `Cache::new` creates the backing cache with the size and alignment given.
unsafe impl NewRawCache for Cache {
    fn new_raw(name: &CStr, size: u32, align: u32, options: &Options) -> Result<Self> {
        let config = Config {
            align,
            flags: options.flags,
            sheaves: if options.keep_sheaves {
                Sheaves::On
            } else {
                Sheaves::Off
            },
            adaptive: !options.fixed_capacity,
            ..Config::new(size, options.capacity)
        };
        Cache::new(name, config)
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "typed_cache_tests.rs"]
mod tests;

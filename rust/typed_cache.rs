// SPDX-License-Identifier: GPL-2.0

//! The typed API (`crate::typed`) over the module's own [`Cache`]: what Rust code inside
//! `pcpu_array.ko` (and its tests) uses; consumer modules get the same API over the C ABI from
//! `samples/rust/pcpu_array_binding.rs`.

use crate::{
    backing::Sheaves,
    cache::{
        Cache,
        Config, //
    },
    gfp::Gfp,
    reservation::Reservation,
    stats::Stats,
    typed::{
        layout_of,
        ArrayCache,
        RawCache, //
    },
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*,
    str::CStr, //
};

// SAFETY: `alloc` returns objects of the backing cache, created with the size and alignment
// asked for, and `free` takes them back.
unsafe impl RawCache for Cache {
    type Reservation<'a> = Reservation<'a>;

    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        self.alloc(gfp)
    }

    unsafe fn free_raw(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller passes an object that `alloc_raw` (or a reservation) of this cache
        // handed out and no longer uses: what `Cache::free` requires.
        unsafe { self.free(obj) }
    }

    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result {
        self.prefill(count, gfp)
    }

    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<Reservation<'_>> {
        Reservation::new(self, count, gfp)
    }
}

impl<T: Send> ArrayCache<T, Cache> {
    /// Creates a cache of `T`s named `name` whose CPUs each keep up to `capacity` free
    /// objects, over a backing cache without sheaves.
    pub fn new(name: &CStr, capacity: u32) -> Result<Self> {
        Self::with_sheaves(name, capacity, Sheaves::Off)
    }

    /// As [`ArrayCache::new`], choosing whether the backing cache keeps SLUB's sheaves.
    pub fn with_sheaves(name: &CStr, capacity: u32, sheaves: Sheaves) -> Result<Self> {
        let (size, align) = layout_of::<T>()?;
        let config = Config {
            align,
            sheaves,
            ..Config::new(size, capacity)
        };
        // SAFETY: The cache was created with `T`'s size and alignment.
        Ok(unsafe { Self::from_raw_cache(Cache::new(name, config)?) })
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> Stats {
        self.raw().stats()
    }
}

#[cfg(pcpu_array_kunit)]
#[kunit_tests(pcpu_array_typed)]
mod tests {
    use super::*;
    use crate::{
        stats::Stat,
        testing::CaseBox, //
    };
    use pin_init::init_from_closure;

    #[test]
    fn typed_objects_go_back_on_drop() -> Result {
        let c = CaseBox::new(ArrayCache::<[u64; 16], Cache>::new(
            c"pcpu_array_test_typed",
            8,
        )?)?;
        let before = c.stats();
        {
            let mut a = c.alloc([7; 16], Gfp::KERNEL)?;
            a[3] = 9;
            assert_eq!(a[3] + a[0], 16);
            let b = c.init(
                // SAFETY: The closure fully initialises the slot and reports success.
                unsafe {
                    init_from_closure(|slot: *mut [u64; 16]| {
                        slot.write([0; 16]);
                        Ok::<(), Error>(())
                    })
                },
                Gfp::KERNEL,
            )?;
            assert!(b.iter().all(|&v| v == 0));
            let failed = c.init(
                // SAFETY: The closure initialises nothing and reports failure.
                unsafe { init_from_closure(|_: *mut [u64; 16]| Err(EIO)) },
                Gfp::KERNEL,
            );
            assert_eq!(failed.err(), Some(EIO));
            assert_eq!(c.stats().in_use(), 2);
        }
        let after = c.stats();
        assert_eq!(after.in_use(), 0);
        assert_eq!(after.since(&before, Stat::FreeArray), 3);
        Ok(())
    }
}

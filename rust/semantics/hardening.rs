// SPDX-License-Identifier: GPL-2.0

//! The kernel's memory-initialisation hardening, applied to cached objects.
//!
//! With `init_on_alloc` (boot option `init_on_alloc=1`, or `CONFIG_INIT_ON_ALLOC_DEFAULT_ON`,
//! which many distributions enable) SLUB zeroes every object it hands out; with `init_on_free`
//! it wipes every object freed. Both happen in SLUB's per-object hooks, which an array hit
//! skips, so the cache applies them itself: an object served from an array is zeroed when
//! `init_on_alloc` is on (as for `__GFP_ZERO`), and an object freed into an array is wiped when
//! `init_on_free` is on, so that no data of its previous user survives in it. The kernel
//! exports both static keys; reading one is a load. A cache exempt from both, as SLUB exempts it,
//! is decided in `crate::semantics::placement`.
//!
//! KFENCE objects are never parked ([`is_kfence`]): SLUB gives them to `kfence_free()`.
//!
//! Compiled into consumers as well, by the binding's inline hit path.

use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::c_void, //
};

/// `want_init_on_alloc()` without the gfp flags: whether `init_on_alloc` is on.
#[inline(always)]
pub(crate) fn init_on_alloc() -> bool {
    // SAFETY: `init_on_alloc` is an exported static key that lives as long as the kernel; its
    // count is only read here, as `static_key_enabled()` reads it (non-zero: enabled, or being
    // enabled).
    unsafe { (&raw const bindings::init_on_alloc.key.enabled.counter).read_volatile() != 0 }
}

/// `want_init_on_free()`: whether `init_on_free` is on.
#[inline(always)]
pub(crate) fn init_on_free() -> bool {
    // SAFETY: As in `init_on_alloc`, for the `init_on_free` key.
    unsafe { (&raw const bindings::init_on_free.key.enabled.counter).read_volatile() != 0 }
}

/// Whether `obj` is a KFENCE object (`is_kfence_address()`): SLUB gives those to
/// `kfence_free()`, so an array never holds one. A compare with the bounds of KFENCE's pool,
/// which `mm/kfence/core.c` exports.
#[inline(always)]
pub(crate) fn is_kfence(obj: NonNull<c_void>) -> bool {
    #[cfg(CONFIG_KFENCE)]
    {
        extern "C" {
            /// The start of KFENCE's pool, NULL until it is set up (`mm/kfence/core.c`).
            static __kfence_pool: *mut u8;
        }
        /// `KFENCE_POOL_SIZE`.
        const POOL_SIZE: usize =
            (bindings::CONFIG_KFENCE_NUM_OBJECTS as usize + 1) * 2 * kernel::page::PAGE_SIZE;
        // SAFETY: `__kfence_pool` is set once, at boot, before any module is loaded; reading
        // it is `is_kfence_address()`'s plain load.
        let pool = unsafe { (&raw const __kfence_pool).read() };
        (obj.as_ptr() as usize).wrapping_sub(pool as usize) < POOL_SIZE && !pool.is_null()
    }
    #[cfg(not(CONFIG_KFENCE))]
    {
        let _ = obj;
        false
    }
}

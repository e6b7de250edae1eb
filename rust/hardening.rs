// SPDX-License-Identifier: GPL-2.0

//! The kernel's memory-initialisation hardening, applied to cached objects.
//!
//! With `init_on_alloc` (boot option `init_on_alloc=1`, or `CONFIG_INIT_ON_ALLOC_DEFAULT_ON`,
//! which many distributions enable) SLUB zeroes every object it hands out; with `init_on_free`
//! it wipes every object freed. Both happen in SLUB's per-object hooks, which an array hit
//! skips, so the cache applies them itself: an object served from an array is zeroed when
//! `init_on_alloc` is on (as for `__GFP_ZERO`), and an object freed into an array is wiped when
//! `init_on_free` is on, so that no data of its previous user survives in it. The kernel
//! exports both static keys; reading one is a load.

use kernel::bindings;

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

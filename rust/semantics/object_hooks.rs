// SPDX-License-Identifier: GPL-2.0

//! SLUB's per-object allocation hooks that an array hit would skip, run by the cache.
//!
//! `kmem_cache_alloc()` runs `slab_pre_alloc_hook()` and `slab_post_alloc_hook()` on every
//! object, whether it comes from a sheaf or from a slab. What a module can run of them:
//!
//! - `might_alloc()`: the sleep and reclaim checks, on every allocation in kernels built with
//!   `CONFIG_DEBUG_ATOMIC_SLEEP` or lockdep, so that `GFP_KERNEL` under a spinlock is reported on
//!   the first call, not only on the call that refills ([`might_alloc`]).
//! - zeroing for `__GFP_ZERO` and `init_on_alloc` ([`crate::semantics::hardening`]), and the KASAN
//!   (un)poisoning of parked objects ([`crate::semantics::kasan`]).
//! - kmemleak: the backing cache tells it about its objects itself ([`crate::semantics::backing`]).
//!
//! It cannot run failslab (`should_failslab()` is not exported): fault injection sees only the
//! refills and the allocations that reach the backing cache.

use crate::semantics::gfp::Gfp;

/// `might_alloc(gfp)`, at the start of every allocation; nothing outside debug kernels.
#[inline(always)]
pub(crate) fn might_alloc(gfp: Gfp) {
    #[cfg(any(CONFIG_DEBUG_ATOMIC_SLEEP, CONFIG_LOCKDEP))]
    // SAFETY: Only checks the current context against `gfp`.
    unsafe {
        crate::sys::ffi::pcpu_array_might_alloc(gfp.as_raw())
    };
    #[cfg(not(any(CONFIG_DEBUG_ATOMIC_SLEEP, CONFIG_LOCKDEP)))]
    let _ = gfp;
}

// SPDX-License-Identifier: GPL-2.0

//! Allocation flags: the one type every Rust entry point of the cache takes, and the only
//! place the raw `gfp_t` bits are spelled out.
//!
//! `kernel::alloc::Flags` keeps its raw value private to the `kernel` crate, and the slab calls
//! need the raw `gfp_t`, so the cache has its own small flag type with the same constants.

use kernel::bindings;

/// `gfp_t` allocation flags.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Gfp(bindings::gfp_t);

/// `__GFP_DIRECT_RECLAIM`: the caller may block.
const DIRECT_RECLAIM: bindings::gfp_t = 1 << bindings::___GFP_DIRECT_RECLAIM_BIT;
/// `__GFP_NOMEMALLOC`: never the memory reserves.
const NOMEMALLOC: bindings::gfp_t = 1 << bindings::___GFP_NOMEMALLOC_BIT;

impl Gfp {
    /// `GFP_KERNEL`: may sleep and reclaim.
    pub const KERNEL: Gfp = Gfp(bindings::GFP_KERNEL);
    /// `GFP_NOWAIT`: never sleeps; for atomic context and under spinlocks.
    pub const NOWAIT: Gfp = Gfp(bindings::GFP_NOWAIT);
    /// `GFP_ATOMIC`: never sleeps, may use the reserves.
    pub const ATOMIC: Gfp = Gfp(bindings::GFP_ATOMIC);
    /// `__GFP_ZERO`: the object comes back zeroed.
    pub const ZERO: Gfp = Gfp(bindings::__GFP_ZERO);
    /// `__GFP_NOWARN`: no warning on failure.
    pub const NOWARN: Gfp = Gfp(bindings::__GFP_NOWARN);

    /// Flags from a raw `gfp_t`, as C callers pass them.
    pub const fn from_raw(raw: bindings::gfp_t) -> Self {
        Self(raw)
    }

    /// The raw `gfp_t`.
    pub const fn as_raw(self) -> bindings::gfp_t {
        self.0
    }

    /// Whether the caller may block (`__GFP_DIRECT_RECLAIM`).
    pub const fn allows_blocking(self) -> bool {
        self.0 & DIRECT_RECLAIM != 0
    }

    /// Whether the object must come back zeroed (`__GFP_ZERO`).
    pub const fn wants_zero(self) -> bool {
        self.0 & bindings::__GFP_ZERO != 0
    }

    /// The flags of a refill made on behalf of an allocation with these flags: never the
    /// reserves, so that reserve memory is never parked in an array; no warning, because the
    /// caller falls back to a single allocation; never zeroed, because objects served from an
    /// array are zeroed on the way out instead.
    pub const fn for_refill(self) -> Self {
        Self((self.0 | NOMEMALLOC | bindings::__GFP_NOWARN) & !bindings::__GFP_ZERO)
    }

    /// `kernel::alloc` flags for the module's own bookkeeping allocations made on behalf of a
    /// caller with these flags: `GFP_KERNEL` when the caller may block, `GFP_NOWAIT` otherwise.
    pub fn kernel_flags(self) -> kernel::alloc::Flags {
        if self.allows_blocking() {
            kernel::alloc::flags::GFP_KERNEL
        } else {
            kernel::alloc::flags::GFP_NOWAIT
        }
    }
}

impl core::ops::BitOr for Gfp {
    type Output = Gfp;

    fn bitor(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 | rhs.0)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Allocation flags for the cache's Rust API.
//!
//! `kernel::alloc::Flags` keeps its raw value private to the `kernel` crate, and the slab calls
//! need the raw `gfp_t`, so the cache has its own small flag type with the same constants.

use kernel::bindings;

/// `gfp_t` allocation flags.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Gfp(bindings::gfp_t);

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
        self.0 & (1 << bindings::___GFP_DIRECT_RECLAIM_BIT) != 0
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

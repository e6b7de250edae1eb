// SPDX-License-Identifier: GPL-2.0

//! Allocation flags as the slab calls take them: the raw `gfp_t`, and the only place its bits
//! are spelled out.
//!
//! The typed API (`typed.rs`) takes `kernel::alloc::Flags`, as `KBox` and `KVec` do. `Flags`
//! keeps its raw value private to the `kernel` crate (only `contains`, `|`, `&` and `!` are
//! public), and the slab calls need the raw `gfp_t`, so the module's raw layer speaks [`Gfp`]
//! and [`Gfp::from_flags`] recovers the bits of any `Flags` from its public constants alone.

use kernel::{
    alloc::{
        flags,
        Flags, //
    },
    bindings,
};

/// `gfp_t` allocation flags.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Gfp(bindings::gfp_t);

/// `__GFP_DIRECT_RECLAIM`: the caller may block.
const DIRECT_RECLAIM: bindings::gfp_t = 1 << bindings::___GFP_DIRECT_RECLAIM_BIT;
/// `__GFP_NOMEMALLOC`: never the memory reserves.
const NOMEMALLOC: bindings::gfp_t = 1 << bindings::___GFP_NOMEMALLOC_BIT;
/// `__GFP_THISNODE`: no fallback to another memory node.
const THISNODE: bindings::gfp_t = 1 << bindings::___GFP_THISNODE_BIT;
/// `__GFP_NOFAIL`.
const NOFAIL: bindings::gfp_t = 1 << bindings::___GFP_NOFAIL_BIT;
/// `__GFP_ACCOUNT`: charge the allocation to the current task's memory cgroup.
const ACCOUNT: bindings::gfp_t = 1 << bindings::___GFP_ACCOUNT_BIT;

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

    /// These flags with `__GFP_NOFAIL`.
    pub const fn no_fail(self) -> Self {
        Self(self.0 | NOFAIL)
    }

    /// These flags with `__GFP_THISNODE`: only the node asked for.
    pub const fn this_node(self) -> Self {
        Self(self.0 | THISNODE)
    }

    /// Whether the allocation is charged to the current task's memory cgroup
    /// (`__GFP_ACCOUNT`).
    pub const fn accounts(self) -> bool {
        self.0 & ACCOUNT != 0
    }

    /// The flags of a refill made on behalf of an allocation with these flags: never the
    /// reserves, so that reserve memory is never parked in an array; no warning, because the
    /// caller falls back to a single allocation; never zeroed, because objects served from an
    /// array are zeroed on the way out instead; never charged to a memory cgroup, because
    /// objects parked in an array belong to no one (`crate::semantics::placement`).
    pub const fn for_refill(self) -> Self {
        Self((self.0 | NOMEMALLOC | bindings::__GFP_NOWARN) & !(bindings::__GFP_ZERO | ACCOUNT))
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

/// The public constants of `kernel::alloc::flags`, each with the `gfp_t` it is defined as
/// (`Flags(bindings::X)` in `rust/kernel/alloc.rs`).
const PUBLIC: [(Flags, bindings::gfp_t); 7] = [
    (flags::GFP_KERNEL, bindings::GFP_KERNEL),
    (flags::GFP_KERNEL_ACCOUNT, bindings::GFP_KERNEL_ACCOUNT),
    (flags::GFP_ATOMIC, bindings::GFP_ATOMIC),
    (flags::GFP_NOWAIT, bindings::GFP_NOWAIT),
    (flags::__GFP_ZERO, bindings::__GFP_ZERO),
    (flags::__GFP_HIGHMEM, bindings::__GFP_HIGHMEM),
    (flags::__GFP_NOWARN, bindings::__GFP_NOWARN),
];

/// The most atoms there can be: they are disjoint and non-empty, so at most one per bit.
const MAX_ATOMS: usize = bindings::gfp_t::BITS as usize;

/// An atom of the flags a module can build: the bits that lie in exactly the public constants
/// whose bit is set in `inside` (bit `i` for `PUBLIC[i]`) and in none of the others.
#[derive(Clone, Copy)]
struct Atom {
    inside: u32,
    bits: bindings::gfp_t,
}

/// Every non-empty atom, computed at build time from the raw constants, and their number.
const ATOMS: ([Atom; MAX_ATOMS], usize) = atoms();

/// Whether the atoms tell `bits` apart from every other bit: each bit of `bits` that any
/// public constant has lies in an atom made of bits of `bits` alone, so that
/// [`Gfp::from_flags`] finds exactly those bits in any `Flags` a module can build.
const fn atoms_isolate(bits: bindings::gfp_t) -> bool {
    let mut i = 0;
    while i < ATOMS.1 {
        let atom = ATOMS.0[i].bits;
        if atom & bits != 0 && atom & !bits != 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether some public constant has every bit of `bits`.
const fn public_has(bits: bindings::gfp_t) -> bool {
    let mut i = 0;
    while i < PUBLIC.len() {
        if PUBLIC[i].1 & bits == bits {
            return true;
        }
        i += 1;
    }
    false
}

// What the module reads of a caller's flags, it reads exactly: the bits of each question
// [`Gfp`] asks (may it block, is it charged, zeroed, silent) are carried by the kernel
// crate's public constants and told apart from the others by the atoms. A kernel crate
// whose constants stop carrying one of them, or start mixing it with others, fails the build
// here instead of making `from_flags` answer wrongly.
const _: () = {
    assert!(public_has(ACCOUNT) && atoms_isolate(ACCOUNT));
    assert!(public_has(bindings::__GFP_ZERO) && atoms_isolate(bindings::__GFP_ZERO));
    assert!(public_has(bindings::__GFP_NOWARN) && atoms_isolate(bindings::__GFP_NOWARN));
    assert!(public_has(DIRECT_RECLAIM));
    // Blocking is read from `__GFP_DIRECT_RECLAIM` alone: its atom may carry other bits
    // (`__GFP_IO`, `__GFP_FS` of `GFP_KERNEL`), but none that a non-blocking constant has.
    assert!(!public_has(
        DIRECT_RECLAIM | (1 << bindings::___GFP_HIGH_BIT)
    ));
    // Refills add `__GFP_NOMEMALLOC` and node allocations `__GFP_THISNODE` themselves: no
    // public constant may carry them, or a caller's flags would look like the module's own.
    assert!(!public_has(NOMEMALLOC) && !public_has(THISNODE));
};

/// Computes [`ATOMS`].
const fn atoms() -> ([Atom; MAX_ATOMS], usize) {
    let mut out = [Atom { inside: 0, bits: 0 }; MAX_ATOMS];
    let mut n = 0;
    let mut inside = 0u32;
    while inside < 1 << PUBLIC.len() {
        let mut bits = !0;
        let mut i = 0;
        while i < PUBLIC.len() {
            bits &= if inside & (1 << i) != 0 {
                PUBLIC[i].1
            } else {
                !PUBLIC[i].1
            };
            i += 1;
        }
        if bits != 0 {
            out[n] = Atom { inside, bits };
            n += 1;
        }
        inside += 1;
    }
    (out, n)
}

impl Gfp {
    /// The `gfp_t` that `flags` stands for, exactly.
    ///
    /// A module builds a `Flags` only from the public constants of `kernel::alloc::flags` with
    /// `|`, `&` and `!`, so every `Flags` is a union of *atoms*: the non-empty intersections of
    /// each constant or its complement. The atoms' bits are known at build time from the same
    /// constants in `bindings`; `Flags::contains` tells which atoms `flags` holds, and their
    /// bits together are its `gfp_t`. Nothing relies on the private layout of `Flags`. For a
    /// constant `flags` the loops fold to a constant once inlined.
    #[inline]
    pub fn from_flags(flags: Flags) -> Self {
        let (all, _) = PUBLIC[0];
        let mut raw = 0;
        for atom in ATOMS.0.iter().take(ATOMS.1) {
            // The atom as a `Flags`: the intersection, as in `atoms()`, of the same constants.
            let mut a = all | !all;
            for (i, (f, _)) in PUBLIC.iter().enumerate() {
                a = a & if atom.inside & (1 << i) != 0 { *f } else { !*f };
            }
            if flags.contains(a) {
                raw |= atom.bits;
            }
        }
        Self(raw)
    }
}

impl From<Flags> for Gfp {
    fn from(flags: Flags) -> Self {
        Self::from_flags(flags)
    }
}

impl core::ops::BitOr for Gfp {
    type Output = Gfp;

    fn bitor(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 | rhs.0)
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "gfp_tests.rs"]
mod tests;

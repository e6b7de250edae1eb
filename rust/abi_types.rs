// SPDX-License-Identifier: GPL-2.0

//! Types and limits of the C ABI (`include/pcpu_array.h`) that Rust on both sides shares:
//! compiled into `pcpu_array.ko` and, through `samples/rust/pcpu_array_binding.rs`, into
//! consumers.
//!
//! The layout is part of the ABI, so it is pinned twice: by the `const` assertions below and by
//! the `static_assert()`s on the same numbers in `rust/pcpu_array_exports.c`, which compiles the
//! header. A change to either side alone fails the build.

use core::mem::{
    offset_of,
    size_of, //
};
use kernel::{
    bindings,
    ffi::c_uint, //
};

/// `PCPU_ARRAY_MAX_CAPACITY`: objects each CPU's array may hold at most.
pub const MAX_CAPACITY: usize = 64;
/// `PCPU_ARRAY_MAX_RESERVE`: objects one reservation may hold at most.
pub const MAX_RESERVE: usize = 256;

/// `struct pcpu_array_stats`: a cache's counters, summed over every CPU.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct PcpuArrayStats {
    /// Allocations served from an array.
    pub alloc_array: u64,
    /// Frees into an array.
    pub free_array: u64,
    /// Bulk refills.
    pub array_refill: u64,
    /// Flushes of half a full array.
    pub array_flush: u64,
    /// Objects from the backing cache to a caller.
    pub alloc_backing: u64,
    /// Objects from a caller to the backing cache.
    pub free_backing: u64,
    /// Objects the arrays hold now.
    pub objects_cached: u64,
}

/// `struct pcpu_array_args`: every option of `pcpu_array_create_args()`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct PcpuArrayArgs {
    /// Object size in bytes.
    pub size: c_uint,
    /// Object alignment (0 for the default).
    pub align: c_uint,
    /// `SLAB_*` flags of the backing cache.
    pub flags: bindings::slab_flags_t,
    /// Objects each CPU's array holds.
    pub capacity: c_uint,
    /// Whether the backing cache keeps SLUB's sheaves.
    pub keep_sheaves: bool,
}

// The layout `rust/pcpu_array_exports.c` checks on the C side.
const _: () = {
    assert!(size_of::<PcpuArrayStats>() == 56);
    assert!(offset_of!(PcpuArrayStats, alloc_array) == 0);
    assert!(offset_of!(PcpuArrayStats, free_array) == 8);
    assert!(offset_of!(PcpuArrayStats, array_refill) == 16);
    assert!(offset_of!(PcpuArrayStats, array_flush) == 24);
    assert!(offset_of!(PcpuArrayStats, alloc_backing) == 32);
    assert!(offset_of!(PcpuArrayStats, free_backing) == 40);
    assert!(offset_of!(PcpuArrayStats, objects_cached) == 48);
    assert!(size_of::<PcpuArrayArgs>() == 20);
    assert!(offset_of!(PcpuArrayArgs, size) == 0);
    assert!(offset_of!(PcpuArrayArgs, align) == 4);
    assert!(offset_of!(PcpuArrayArgs, flags) == 8);
    assert!(offset_of!(PcpuArrayArgs, capacity) == 12);
    assert!(offset_of!(PcpuArrayArgs, keep_sheaves) == 16);
    assert!(MAX_CAPACITY == 64);
    assert!(MAX_RESERVE == 256);
};

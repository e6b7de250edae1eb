// SPDX-License-Identifier: GPL-2.0

//! Types of the C ABI (`include/pcpu_array.h`) that Rust on both sides shares: compiled into
//! `pcpu_array.ko` and, through `samples/rust/pcpu_array_binding.rs`, into consumers.

/// `struct pcpu_array_stats`: a cache's counters, summed over every CPU.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct PcpuArrayStats {
    /// Allocations served from an array.
    pub alloc_cpu_cache: u64,
    /// Frees into an array.
    pub free_cpu_cache: u64,
    /// Bulk refills.
    pub cpu_cache_refill: u64,
    /// Flushes of half a full array.
    pub cpu_cache_flush: u64,
    /// Objects from the backing cache to a caller.
    pub alloc_backing: u64,
    /// Objects from a caller to the backing cache.
    pub free_backing: u64,
    /// Objects the arrays hold now.
    pub objects_cached: u64,
}

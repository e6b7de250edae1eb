// SPDX-License-Identifier: GPL-2.0

//! Types and limits of the C ABI (`include/pcpu_array.h`) that Rust on both sides shares:
//! compiled into `pcpu_array.ko` and, through the binding (`binding/pcpu_array.rs`), into
//! consumers.
//!
//! The layout is part of the ABI, so it is pinned twice: by the `const` assertions below and by
//! the `static_assert()`s on the same numbers in `rust/pcpu_array_exports.c`, which compiles the
//! header. A change to either side alone fails the build.
//!
//! The types that the exported functions take or return are also part of their kCFI type: in
//! an `extern "C"` function's type, rustc encodes a pointer to a `#[repr(C)]` type by the type's
//! name alone, as clang encodes a `struct` pointer. So those types carry the C names
//! ([`pcpu_array`], [`pcpu_array_reservation`], [`pcpu_array_args`], [`pcpu_array_rsv`],
//! [`pcpu_array_stats`]): then each exported function has the type id of its prototype in the
//! header, and a C caller may call it through a function pointer of that type on a kernel with
//! `CONFIG_CFI`. Under another name the call traps ("CFI failure"). The Rust names
//! ([`PcpuArrayArgs`], [`PcpuArrayRsv`], [`PcpuArrayStats`]) are aliases of the C ones. (rustc's
//! `non_camel_case_types` lint leaves `#[repr(C)]` types alone.)

use core::{
    marker::{
        PhantomData,
        PhantomPinned, //
    },
    mem::{
        offset_of,
        size_of, //
    },
};
use kernel::{
    bindings,
    ffi::{
        c_int,
        c_uint,
        c_void, //
    },
};

/// `PCPU_ARRAY_MAX_CAPACITY`: objects each CPU's array may hold at most.
pub const MAX_CAPACITY: usize = 64;
/// `PCPU_ARRAY_MAX_RESERVE`: objects one reservation may hold at most.
pub const MAX_RESERVE: usize = 256;

/// `struct pcpu_array`: what a cache handle of the C ABI points to, opaque to its users.
///
/// Never constructed: a handle is a `*mut pcpu_array`, which `pcpu_array.ko` casts to its own
/// type. Its name is what matters, for kCFI (see the module's documentation).
#[repr(C)]
pub struct pcpu_array {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `struct pcpu_array_reservation`: what a reservation handle of the C ABI points to, opaque to
/// its users. Never constructed, as [`pcpu_array`].
#[repr(C)]
pub struct pcpu_array_reservation {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `struct pcpu_array_stats`: a cache's counters, summed over every CPU.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct pcpu_array_stats {
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

/// The Rust name of [`pcpu_array_stats`].
pub type PcpuArrayStats = pcpu_array_stats;

impl pcpu_array_stats {
    /// Objects handed out by the cache and not given back yet: `alloc_array + alloc_backing -
    /// free_array - free_backing`.
    ///
    /// Objects held by a reservation count as in use from the moment they are reserved: a
    /// reservation takes its objects out of the cache when it is made, and gives back the ones
    /// it did not hand out when it is dropped. The counters are per CPU and summed on read, so
    /// while other CPUs allocate and free the sum may be off by what they did meanwhile (even
    /// below zero); it is exact when nothing runs concurrently.
    pub fn in_use(&self) -> i64 {
        let allocs = self.alloc_array.wrapping_add(self.alloc_backing);
        let frees = self.free_array.wrapping_add(self.free_backing);
        allocs.wrapping_sub(frees) as i64
    }

    /// Free objects the arrays hold now, over every CPU: memory that the cache keeps ready and
    /// that the shrinker can give back.
    pub fn cached(&self) -> u64 {
        self.objects_cached
    }

    /// The share of allocations served from the arrays, in percent, rounded down: `100 *
    /// alloc_array / (alloc_array + alloc_backing)`; 0 when nothing was allocated.
    ///
    /// Objects a reservation takes count as allocations, from the array or from the backing
    /// cache as they came; objects handed out of a reservation afterwards do not count again.
    pub fn hit_rate(&self) -> u32 {
        let hits = self.alloc_array;
        let all = hits.saturating_add(self.alloc_backing);
        let rate = match hits.checked_mul(100) {
            Some(h) => h.checked_div(all),
            // Beyond `u64::MAX / 100` allocations, `all / 100` is not zero.
            None => hits.checked_div(all / 100),
        };
        // At most 100: `hits <= all`.
        rate.unwrap_or(0) as u32
    }
}

/// `struct pcpu_array_args`: every option of `pcpu_array_create_args()`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct pcpu_array_args {
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
    /// Whether the capacity stays as given instead of adapting.
    pub fixed_capacity: bool,
}

/// The Rust name of [`pcpu_array_args`].
pub type PcpuArrayArgs = pcpu_array_args;

/// `struct pcpu_array_rsv`: a reservation kept in storage its owner provides (a caller-stored
/// reservation). Its owner sets `objs` and `size` and only reads the rest: the module owns
/// `pa` and `count`.
#[repr(C)]
#[derive(Debug)]
pub struct pcpu_array_rsv {
    /// The cache, while the reservation holds a reference to it; NULL otherwise.
    pub pa: *mut pcpu_array,
    /// The owner's storage, `size` entries.
    pub objs: *mut *mut c_void,
    /// Entries of `objs`.
    pub size: c_uint,
    /// Objects held: `objs[0]` to `objs[count - 1]`.
    pub count: c_uint,
}

/// The Rust name of [`pcpu_array_rsv`].
pub type PcpuArrayRsv = pcpu_array_rsv;

/// `PCPU_ARRAY_LAYOUT`: the version of the layout that the inline hit path reads
/// ([`PcpuArrayHot`], [`PcpuArrayCpu`], [`PcpuArrayMagazine`]) and of its protocol (the
/// `CHECK_*` and `STAT_*` numbers). Any change to those takes a new version, and with it a new
/// name of the symbol that `pcpu_array.ko` exports for it and that every consumer compiled
/// against the layout references, `pcpu_array_layout_v2` for version 2: a consumer of another
/// layout fails to load with "Unknown symbol pcpu_array_layout_v<N>".
///
/// [`LAYOUT_FINGERPRINT`] is computed from all of them, here and in the header, and each side
/// fails to build unless it equals the fingerprint recorded for this version: a change to the
/// layout or the protocol fails the build until a new version is recorded with its fingerprint.
pub const LAYOUT: u32 = 2;

/// The fingerprint of layout version [`LAYOUT`], as recorded when the version was made
/// (`PCPU_ARRAY_LAYOUT_V2_FINGERPRINT` in C). A version's fingerprint never changes: a layout
/// or protocol with another fingerprint is another version.
pub const LAYOUT_FINGERPRINT: u64 = 0x0c7b_795c_62e9_d80f;

/// One term of the fingerprint: the `i`th value of the layout, `PCPU_ARRAY_FP(i, v)` in C.
const fn fingerprint_term(i: u64, v: u64) -> u64 {
    v.wrapping_mul(2 * i + 1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The fingerprint of the layout and protocol as compiled, `PCPU_ARRAY_LAYOUT_FINGERPRINT_OF()`
/// in C: the same values in the same order. The lock's size depends on the kernel's
/// configuration (lockdep), so the slot of a CPU enters by its offsets from `loaded`.
pub const fn layout_fingerprint() -> u64 {
    let lock_end = size_of::<bindings::local_trylock_t>().next_multiple_of(size_of::<usize>());
    let loaded = offset_of!(PcpuArrayCpu, loaded);
    let values: [u64; 24] = [
        size_of::<PcpuArrayHot>() as u64,
        offset_of!(PcpuArrayHot, cpu) as u64,
        offset_of!(PcpuArrayHot, stats) as u64,
        offset_of!(PcpuArrayHot, checks) as u64,
        offset_of!(PcpuArrayHot, object_size) as u64,
        (loaded - lock_end) as u64,
        (offset_of!(PcpuArrayCpu, previous) - loaded) as u64,
        (offset_of!(PcpuArrayCpu, node) - loaded) as u64,
        (size_of::<PcpuArrayCpu>() - loaded) as u64,
        size_of::<PcpuArrayMagazine>() as u64,
        offset_of!(PcpuArrayMagazine, len) as u64,
        offset_of!(PcpuArrayMagazine, capacity) as u64,
        offset_of!(PcpuArrayMagazine, kasan_size) as u64,
        offset_of!(PcpuArrayMagazine, objs) as u64,
        MAX_CAPACITY as u64,
        CHECK_NUMA as u64,
        CHECK_SLAB_ACCOUNTED as u64,
        CHECK_GFP_ACCOUNTED as u64,
        CHECK_INIT_EXEMPT as u64,
        CHECK_RESERVE_OBJECTS as u64,
        CHECK_ALLOC_INLINE as u64,
        STAT_ALLOC_ARRAY as u64,
        STAT_FREE_ARRAY as u64,
        LAYOUT as u64,
    ];
    let mut fp = 0u64;
    let mut i = 0;
    while i < values.len() {
        fp = fp.wrapping_add(fingerprint_term(i as u64, values[i]));
        i += 1;
    }
    fp
}

/// `struct pcpu_array_magazine`: one magazine of a CPU, a stack of free objects.
#[repr(C)]
pub struct PcpuArrayMagazine {
    /// Objects held: `objs[0]` to `objs[len - 1]`, the last pushed on top.
    pub len: usize,
    /// Objects it may hold, at most [`MAX_CAPACITY`].
    pub capacity: usize,
    /// The object size when the magazine poisons its objects for KASAN, else 0.
    pub kasan_size: usize,
    /// The objects.
    pub objs: [*mut c_void; MAX_CAPACITY],
}

/// `struct pcpu_array_cpu`: one CPU's lock and magazines, a `__percpu` object.
#[repr(C)]
pub struct PcpuArrayCpu {
    /// Held while the magazines are used; tried, never waited for.
    pub lock: bindings::local_trylock_t,
    /// The magazine allocations pop from and frees push onto.
    pub loaded: *mut PcpuArrayMagazine,
    /// The other magazine, swapped in by the exported functions.
    pub previous: *mut PcpuArrayMagazine,
    /// The memory node of the objects the magazines hold.
    pub node: c_int,
}

/// `struct pcpu_array_hot`: the first bytes of every `struct pcpu_array`, what the inline hit
/// path reads. Set when the cache is created, never changed.
#[repr(C)]
pub struct PcpuArrayHot {
    /// Every CPU's lock and magazines (`__percpu`).
    pub cpu: *mut PcpuArrayCpu,
    /// Every CPU's counters (`__percpu`), indexed by [`STAT_ALLOC_ARRAY`] and
    /// [`STAT_FREE_ARRAY`].
    pub stats: *mut u64,
    /// The cache's placement checks: a free may take the inline path only when the word is 0
    /// (or [`CHECK_NUMA`] alone, in C, for an object of the CPU's node), [`CHECK_INIT_EXEMPT`]
    /// aside; an allocation only when it has no bit outside [`CHECK_ALLOC_INLINE`].
    pub checks: *const i64,
    /// The object size, for zeroing.
    pub object_size: c_uint,
}

// SAFETY: The pointers are addresses of a cache's per-CPU slots and counters and of its checks
// word, which live as long as the cache. Nothing is reached through `PcpuArrayHot` itself: the
// inline hit path uses a CPU's slot under its lock and its counters with `this_cpu_*()`, and
// reads the checks word atomically, from any task.
unsafe impl Send for PcpuArrayHot {}

// SAFETY: As above; `&PcpuArrayHot` gives nothing but the addresses.
unsafe impl Sync for PcpuArrayHot {}

/// `PCPU_ARRAY_CHECK_NUMA`: the bit of [`PcpuArrayHot::checks`] set on a kernel with several
/// memory nodes, where an object may only go into an array of its own node.
pub const CHECK_NUMA: i64 = 1 << 62;
/// `PCPU_ARRAY_CHECK_SLAB_ACCOUNTED`: the bit of [`PcpuArrayHot::checks`] set while every
/// allocation of the cache must be charged, and so go to the backing cache.
pub const CHECK_SLAB_ACCOUNTED: i64 = 1 << 61;
/// `PCPU_ARRAY_CHECK_GFP_ACCOUNTED`: the bit of [`PcpuArrayHot::checks`] set once an allocation
/// with `__GFP_ACCOUNT` was served: frees must check whether accounting is online.
pub const CHECK_GFP_ACCOUNTED: i64 = 1 << 60;
/// `PCPU_ARRAY_CHECK_INIT_EXEMPT`: the bit of [`PcpuArrayHot::checks`] set for a cache that
/// `init_on_alloc` and `init_on_free` leave alone (`SLAB_TYPESAFE_BY_RCU`, `SLAB_POISON`). Not a
/// reason for a free to take the call.
pub const CHECK_INIT_EXEMPT: i64 = 1 << 59;
/// `PCPU_ARRAY_CHECK_RESERVE_OBJECTS`: the bits of [`PcpuArrayHot::checks`] that count the
/// objects of reserve (pfmemalloc) slabs handed out: while not zero, frees must check their
/// objects.
pub const CHECK_RESERVE_OBJECTS: i64 = CHECK_INIT_EXEMPT - 1;
/// `PCPU_ARRAY_CHECK_ALLOC_INLINE`: the bits of [`PcpuArrayHot::checks`] with which an
/// allocation without `__GFP_ACCOUNT` may still take the inline hit; any other bit, one this
/// layout does not know included, sends it to the call.
pub const CHECK_ALLOC_INLINE: i64 =
    CHECK_NUMA | CHECK_GFP_ACCOUNTED | CHECK_INIT_EXEMPT | CHECK_RESERVE_OBJECTS;
/// `PCPU_ARRAY_STAT_ALLOC_ARRAY`: the counter of allocations served from a magazine.
pub const STAT_ALLOC_ARRAY: usize = 0;
/// `PCPU_ARRAY_STAT_FREE_ARRAY`: the counter of frees into a magazine.
pub const STAT_FREE_ARRAY: usize = 1;

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
    assert!(offset_of!(PcpuArrayArgs, fixed_capacity) == 17);
    assert!(size_of::<PcpuArrayRsv>() == 24);
    assert!(offset_of!(PcpuArrayRsv, pa) == 0);
    assert!(offset_of!(PcpuArrayRsv, objs) == 8);
    assert!(offset_of!(PcpuArrayRsv, size) == 16);
    assert!(offset_of!(PcpuArrayRsv, count) == 20);
    assert!(MAX_CAPACITY == 64);
    assert!(MAX_RESERVE == 256);
    assert!(size_of::<PcpuArrayMagazine>() == 24 + 8 * MAX_CAPACITY);
    assert!(offset_of!(PcpuArrayMagazine, len) == 0);
    assert!(offset_of!(PcpuArrayMagazine, capacity) == 8);
    assert!(offset_of!(PcpuArrayMagazine, objs) == 24);
    assert!(offset_of!(PcpuArrayHot, cpu) == 0);
    assert!(offset_of!(PcpuArrayHot, stats) == 8);
    assert!(offset_of!(PcpuArrayHot, checks) == 16);
    assert!(offset_of!(PcpuArrayHot, object_size) == 24);
    assert!(CHECK_NUMA == 1 << 62);
    assert!(CHECK_SLAB_ACCOUNTED == 1 << 61);
    assert!(STAT_ALLOC_ARRAY == 0);
    assert!(STAT_FREE_ARRAY == 1);
    assert!(LAYOUT == 2);
    // The layout and protocol as compiled are those recorded for version `LAYOUT`.
    assert!(layout_fingerprint() == LAYOUT_FINGERPRINT);
};

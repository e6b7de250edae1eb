// SPDX-License-Identifier: GPL-2.0

//! A range map in the style of the maple tree, whose nodes come from a pcpu_array cache.
//!
//! [`RangeMap`] maps non-overlapping inclusive `u64` ranges to `u64` values. It is a B+tree of
//! fixed-size [`Node`]s (no bigger than a `struct maple_node`, 256 bytes) keyed by the *last*
//! index of each range, like the maple tree's pivots:
//!
//! - a leaf holds up to [`LEAF_CAP`] sorted, non-overlapping ranges;
//! - an internal node holds up to [`FANOUT`] children, each with the exact largest `last` of its
//!   subtree, so that the range holding an index, if any, is the first range whose `last` is not
//!   below it, found in one descent.
//!
//! Writes follow the maple tree's protocol: reserve the worst case before the tree's spinlock,
//! allocate under it only from the reservation, publish a new root with one release store, and
//! free unlinked nodes after a grace period with `ArrayBox::drop_rcu()` (pcpu_array's
//! `pcpu_array_free_rcu()`, which needs no `rcu_head`; `kfree_rcu()` for the plain cache).
//! Readers run under `rcu_read_lock()` alone.
//!
//! This file holds the map itself: its state, construction, counters and teardown. The rest is
//! one file per concern under `range_map/`:
//!
//! - `node.rs`: the node layout;
//! - `writer.rs`: store, insert and erase, with the reservation protocol;
//! - `read.rs`: lookup and iteration, the RCU readers;
//! - `check.rs`: the structural self-check;
//! - `xorshift.rs`: the pseudo-random generator of the demo and the tests.

mod check;
mod node;
mod read;
mod writer;
mod xorshift;

pub use node::{
    Node,
    Range,
    FANOUT,
    LEAF_CAP, //
};
pub use read::RangeIter;
pub use writer::{
    worst_case_nodes,
    MAX_HEIGHT, //
};
pub use xorshift::XorShift;

use crate::{
    node_source::{
        Backend,
        NodeSource, //
    },
    pcpu_array::typed, //
};
use core::{
    marker::PhantomPinned,
    ptr::{
        self,
        NonNull, //
    },
};
use kernel::{
    bindings, new_spinlock,
    prelude::*,
    str::CStr,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        SpinLock, //
    },
};

/// Per-CPU capacity of the node cache.
const CACHE_CAPACITY: u32 = 32;

/// The node cache.
type ArrayCache<T> = typed::ArrayCache<T, NodeSource>;
/// A node allocated from it.
type ArrayBox<'a, T> = typed::ArrayBox<'a, T, NodeSource>;
/// Nodes reserved from it.
type Reservation<'a, T> = typed::Reservation<'a, T, NodeSource>;

/// Node counters of a [`RangeMap`].
pub struct Stats {
    /// Nodes taken from the cache.
    pub allocated: Atomic<u64>,
    /// Nodes given back to the cache.
    pub freed: Atomic<u64>,
    /// Allocations from a reservation under the lock that failed (must stay 0).
    pub failed_under_lock: Atomic<u64>,
    /// Writes that changed the tree.
    pub writes: Atomic<u64>,
    /// Nodes reserved in total.
    pub reserved: Atomic<u64>,
    /// The most nodes one write used.
    pub max_used: Atomic<u64>,
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Nodes taken from the cache.
    pub allocated: u64,
    /// Nodes given back to the cache.
    pub freed: u64,
    /// Allocations under the lock that failed.
    pub failed_under_lock: u64,
    /// Writes that changed the tree.
    pub writes: u64,
    /// Nodes reserved in total.
    pub reserved: u64,
    /// The most nodes one write used.
    pub max_used: u64,
}

/// What the tree's lock protects.
struct Inner {
    height: usize,
    nodes: u64,
    ranges: u64,
}

/// A range map whose nodes come from a pcpu_array cache: see the module documentation.
///
/// # Invariants
///
/// - `root` is null (empty map) or a node of `cache` of height `lock.height`; every node
///   reachable from it holds at least one range or child, all leaves are at the same depth,
///   ranges are sorted and do not overlap, and each `Child::max` is the largest `last` of its
///   subtree.
/// - `root` is only stored with the lock held; nodes reachable from it are freed only after
///   being unlinked and an RCU grace period, or in drop.
/// - `lock.nodes` and `lock.ranges` count the nodes and ranges reachable from `root`.
#[pin_data(PinnedDrop)]
pub struct RangeMap {
    #[pin]
    lock: SpinLock<Inner>,
    root: Atomic<*mut Node>,
    height_hint: Atomic<usize>,
    cache: ArrayCache<Node>,
    stats: Stats,
    // Nodes point back to the map.
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The mutable state is behind the spinlock or atomics, and published nodes are
// immutable; unlinked nodes are freed only after a grace period.
unsafe impl Send for RangeMap {}
// SAFETY: As above: readers use RCU and acquire loads, writers the spinlock.
unsafe impl Sync for RangeMap {}

impl RangeMap {
    /// Creates an empty map whose nodes come from a new pcpu_array cache named `name`.
    pub fn new(name: &'static CStr) -> impl PinInit<Self, Error> {
        Self::with_backend(name, Backend::PcpuArray)
    }

    /// Creates an empty map whose nodes come from a new cache named `name` of kind `backend`.
    pub fn with_backend(name: &'static CStr, backend: Backend) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            lock <- new_spinlock!(
                Inner {
                    height: 0,
                    nodes: 0,
                    ranges: 0,
                },
                "RangeMap::lock"
            ),
            root: Atomic::new(ptr::null_mut()),
            height_hint: Atomic::new(0),
            // SAFETY: The cache is created for `Node`s.
            cache: unsafe {
                ArrayCache::from_raw_cache(NodeSource::new::<Node>(name, backend, CACHE_CAPACITY)?)
            },
            stats: Stats {
                allocated: Atomic::new(0),
                freed: Atomic::new(0),
                failed_under_lock: Atomic::new(0),
                writes: Atomic::new(0),
                reserved: Atomic::new(0),
                max_used: Atomic::new(0),
            },
            _pin: PhantomPinned,
        }? Error)
    }

    /// Gives a node back to the cache.
    ///
    /// # Safety
    ///
    /// `p` must be a node of this map's cache that nothing uses anymore.
    unsafe fn free_node(&self, p: *mut Node) {
        if let Some(nn) = NonNull::new(p) {
            // SAFETY: Guaranteed by the caller: `p` came from `ArrayBox::into_raw` on `cache`.
            drop(unsafe { ArrayBox::from_raw(&self.cache, nn) });
            self.stats.freed.add(1, Relaxed);
        }
    }

    /// Gives an unlinked node back to the cache once every RCU reader that may see it has
    /// finished.
    ///
    /// # Safety
    ///
    /// `p` must be a node of this map's cache, unlinked from every root a reader may still find,
    /// and no longer used by any writer.
    unsafe fn free_node_rcu(&self, p: *mut Node) {
        if let Some(nn) = NonNull::new(p) {
            // SAFETY: Guaranteed by the caller: `p` came from `ArrayBox::into_raw` on `cache`.
            ArrayBox::drop_rcu(unsafe { ArrayBox::from_raw(&self.cache, nn) });
            self.stats.freed.add(1, Relaxed);
        }
    }

    /// The number of ranges.
    pub fn len(&self) -> u64 {
        self.lock.lock().ranges
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of nodes in the tree.
    pub fn nodes(&self) -> u64 {
        self.lock.lock().nodes
    }

    /// The height of the tree (0 when empty).
    pub fn height(&self) -> usize {
        self.lock.lock().height
    }

    /// Waits until the RCU callbacks queued so far have run: the frees after a grace period of
    /// the nodes unlinked so far that went to one (pcpu_array's own, `kfree_rcu()`'s).
    pub fn barrier(&self) {
        // SAFETY: May sleep; the callers are in process context.
        unsafe { bindings::rcu_barrier() };
    }

    /// The node cache's counters (from `pcpu_array.ko`; zero for a plain cache).
    pub fn cache_stats(&self) -> crate::pcpu_array::Stats {
        self.cache.stats()
    }

    /// The node counters.
    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            allocated: self.stats.allocated.load(Relaxed),
            freed: self.stats.freed.load(Relaxed),
            failed_under_lock: self.stats.failed_under_lock.load(Relaxed),
            writes: self.stats.writes.load(Relaxed),
            reserved: self.stats.reserved.load(Relaxed),
            max_used: self.stats.max_used.load(Relaxed),
        }
    }
}

#[pinned_drop]
impl PinnedDrop for RangeMap {
    fn drop(self: Pin<&mut Self>) {
        // Nodes freed after a grace period are the cache's now: its teardown waits for them.
        let root = self.root.load(Relaxed);
        // SAFETY: Nothing else can use the map anymore, and every node still reachable from the
        // root belongs to it.
        unsafe { free_subtree(&self, root) };
    }
}

/// Frees every node of the subtree `n`.
///
/// # Safety
///
/// `n` must be null or a node of `map` that nothing else uses anymore, nor any node below it.
unsafe fn free_subtree(map: &RangeMap, n: *mut Node) {
    if n.is_null() {
        return;
    }
    // SAFETY: Guaranteed by the caller.
    for c in unsafe { (*n).body.children() } {
        // SAFETY: A child of an unused node is unused.
        unsafe { free_subtree(map, c.node) };
    }
    // SAFETY: Guaranteed by the caller.
    unsafe { map.free_node(n) };
}

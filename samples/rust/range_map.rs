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
//! # Writes
//!
//! Writes follow the maple tree's protocol. A writer computes the worst-case number of nodes its
//! write may need from the tree's height, reserves that many with `GFP_KERNEL` *before* taking
//! the tree's spinlock, and under the lock only takes nodes from that reservation, which never
//! sleeps and never fails while it has nodes. Unused nodes go back to the cache when the
//! reservation is dropped.
//!
//! A write replaces the contiguous run of ranges that overlap `[first, last]` by at most three
//! ranges (the parts of the two boundary ranges outside `[first, last]`, and the new range). It
//! copies, root to leaf, only the nodes on the two boundary paths: at most three new nodes per
//! level (the left boundary node may split in two, the right boundary node only shrinks) and one
//! new root, so `3 * height + 1` nodes. Subtrees entirely inside the run are unlinked whole.
//! Empty nodes are dropped, and a root left with a single child is replaced by that child.
//!
//! # Readers and RCU
//!
//! Published nodes are never modified: a write builds new nodes and publishes them with one
//! release store of the root pointer. Readers run under `rcu_read_lock()` without the spinlock,
//! load the root with acquire ordering and see a consistent snapshot, either before or after
//! any write. Nodes a write unlinks are freed through `call_rcu()` once that write's new root is
//! published, so no reader can still be using them when they go back to the cache.

use crate::{
    node_cache::{
        Backend,
        NodeCache, //
    },
    pcpu_array::{
        typed,
        Gfp, //
    },
};
use core::{
    cell::UnsafeCell,
    marker::PhantomPinned,
    mem::{
        offset_of,
        size_of, //
    },
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
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
        rcu,
        SpinLock, //
    },
    types::Opaque,
};

/// Ranges a leaf holds at most.
pub const LEAF_CAP: usize = 9;
/// Children an internal node holds at most.
pub const FANOUT: usize = 13;
/// The height beyond which writes are refused (never reached: it takes ~7^15 ranges).
pub const MAX_HEIGHT: usize = 16;
/// Nodes one write needs at most, for a tree of [`MAX_HEIGHT`].
const MAX_WRITE_NODES: usize = 3 * MAX_HEIGHT + 1;
/// Per-CPU capacity of the node cache.
const CACHE_CAPACITY: u32 = 32;

/// The node cache.
type ArrayCache<T> = typed::ArrayCache<T, NodeCache>;
/// A node allocated from it.
type ArrayBox<'a, T> = typed::ArrayBox<'a, T, NodeCache>;
/// Nodes reserved from it.
type Reservation<'a, T> = typed::Reservation<'a, T, NodeCache>;

/// The nodes one write may need at most in a tree of height `height`.
pub const fn worst_case_nodes(height: usize) -> usize {
    3 * height + 1
}

/// A range of the map and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The first index of the range.
    pub first: u64,
    /// The last index of the range (inclusive).
    pub last: u64,
    /// The value stored for every index of the range.
    pub value: u64,
}

impl Range {
    const EMPTY: Range = Range {
        first: 0,
        last: 0,
        value: 0,
    };
}

/// A child of an internal node: its subtree and the largest `last` in it.
#[derive(Clone, Copy)]
struct Child {
    max: u64,
    node: *mut Node,
}

impl Child {
    const EMPTY: Child = Child {
        max: 0,
        node: ptr::null_mut(),
    };
}

/// What a node holds. The variants keep their length next to the tag, so that the body fits in
/// 224 bytes.
enum Body {
    Leaf { len: u8, entries: [Range; LEAF_CAP] },
    Internal { len: u8, children: [Child; FANOUT] },
}

impl Body {
    fn leaf(src: &[Range]) -> Body {
        let mut entries = [Range::EMPTY; LEAF_CAP];
        let mut len = 0u8;
        for (d, s) in entries.iter_mut().zip(src) {
            *d = *s;
            len += 1;
        }
        Body::Leaf { len, entries }
    }

    fn internal(src: &[Child]) -> Body {
        let mut children = [Child::EMPTY; FANOUT];
        let mut len = 0u8;
        for (d, s) in children.iter_mut().zip(src) {
            *d = *s;
            len += 1;
        }
        Body::Internal { len, children }
    }

    /// The ranges of a leaf; empty for an internal node.
    fn entries(&self) -> &[Range] {
        match self {
            Body::Leaf { len, entries } => entries.get(..usize::from(*len)).unwrap_or(&[]),
            Body::Internal { .. } => &[],
        }
    }

    /// The children of an internal node; empty for a leaf.
    fn children(&self) -> &[Child] {
        match self {
            Body::Internal { len, children } => children.get(..usize::from(*len)).unwrap_or(&[]),
            Body::Leaf { .. } => &[],
        }
    }

    fn is_leaf(&self) -> bool {
        matches!(self, Body::Leaf { .. })
    }

    /// The largest `last` in the node (0 for an empty node, which the tree never holds).
    fn max_key(&self) -> u64 {
        match self {
            Body::Leaf { .. } => self.entries().last().map_or(0, |e| e.last),
            Body::Internal { .. } => self.children().last().map_or(0, |c| c.max),
        }
    }
}

/// A node of the tree: the size of a `struct maple_node`.
///
/// # Invariants
///
/// - `owner` points to the pinned [`RangeMap`] whose cache the node was allocated from.
/// - Once published (reachable from a root that was stored), `body` is never written again.
/// - `rcu` and `retired_next` are only used once the node is unlinked, by the writer holding
///   the tree's lock and then by RCU; readers never look at them.
#[repr(C)]
pub struct Node {
    rcu: Opaque<bindings::callback_head>,
    owner: *const RangeMap,
    retired_next: UnsafeCell<*mut Node>,
    body: Body,
}

// The node must not be bigger than a maple tree node, and `free_node_rcu()` finds it from its
// `rcu` field.
const _: () = assert!(size_of::<Node>() <= 256);
const _: () = assert!(offset_of!(Node, rcu) == 0);

// SAFETY: A node is plain data with pointers into its own tree; it may be freed from any CPU
// (by RCU callbacks), which the cache allows.
unsafe impl Send for Node {}

/// A small fixed-capacity vector, so that writes need no allocation under the lock.
struct Small<T: Copy, const N: usize> {
    len: usize,
    items: [T; N],
}

impl<T: Copy, const N: usize> Small<T, N> {
    fn new(fill: T) -> Self {
        Self {
            len: 0,
            items: [fill; N],
        }
    }

    fn push(&mut self, v: T) -> Result {
        let slot = self.items.get_mut(self.len).ok_or(EOVERFLOW)?;
        *slot = v;
        self.len += 1;
        Ok(())
    }

    fn extend(&mut self, vs: &[T]) -> Result {
        vs.iter().try_for_each(|v| self.push(*v))
    }

    fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }
}

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
///   ranges are sorted and do not overlap, and each [`Child::max`] is the largest `last` of its
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

/// How a write treats what is already in its range.
#[derive(Clone, Copy)]
enum Mode {
    /// Overwrite whatever overlaps.
    Store(u64),
    /// Fail with `EEXIST` when anything overlaps.
    Insert(u64),
    /// Remove whatever overlaps.
    Erase,
}

/// One write: replace the ranges overlapping `[a, b]` by `repl`.
struct Op {
    a: u64,
    b: u64,
    repl: Small<Range, 3>,
}

/// Up to two nodes that replace one node.
type Out = Small<Child, 2>;

/// The state of one write, under the lock.
struct Writer<'a, 'r> {
    map: &'a RangeMap,
    res: &'r mut Reservation<'a, Node>,
    /// Nodes allocated by this write, freed directly if it fails (they were never published).
    fresh: Small<*mut Node, MAX_WRITE_NODES>,
    /// Nodes this write unlinks, linked through `retired_next`.
    retired: *mut Node,
    retired_nodes: u64,
    removed_ranges: u64,
}

impl<'a> Writer<'a, '_> {
    fn alloc(&mut self, body: Body) -> Result<Child> {
        if self.fresh.len >= MAX_WRITE_NODES {
            return Err(EOVERFLOW);
        }
        let max = body.max_key();
        let node = Node {
            rcu: Opaque::uninit(),
            owner: self.map,
            retired_next: UnsafeCell::new(ptr::null_mut()),
            body,
        };
        match self.res.alloc(node) {
            Ok(b) => {
                let p = ArrayBox::into_raw(b).as_ptr();
                self.fresh.push(p)?;
                self.map.stats.allocated.add(1, Relaxed);
                Ok(Child { max, node: p })
            }
            Err(_) => {
                self.map.stats.failed_under_lock.add(1, Relaxed);
                Err(ENOMEM)
            }
        }
    }

    /// Unlinks `n`; it is freed after the grace period that follows the publication.
    fn retire(&mut self, n: *mut Node) {
        // SAFETY: `n` is a live node of this tree (reachable from the root, or allocated by this
        // write), and `retired_next` is only used by the writer holding the lock.
        unsafe { *(*n).retired_next.get() = self.retired };
        self.retired = n;
        self.retired_nodes += 1;
    }

    /// Unlinks a whole subtree.
    fn retire_subtree(&mut self, n: *mut Node) {
        // SAFETY: `n` is reachable from the root and we hold the lock: it is live and immutable.
        let body = unsafe { &(*n).body };
        self.removed_ranges += body.entries().len() as u64;
        for c in body.children() {
            self.retire_subtree(c.node);
        }
        self.retire(n);
    }

    /// Makes one or two leaves from `entries` (at most `2 * LEAF_CAP`).
    fn pack_leaves(&mut self, entries: &[Range], out: &mut Out) -> Result {
        self.pack(entries, LEAF_CAP, Body::leaf, out)
    }

    /// Makes one or two internal nodes from `children` (at most `2 * FANOUT`).
    fn pack_internal(&mut self, children: &[Child], out: &mut Out) -> Result {
        self.pack(children, FANOUT, Body::internal, out)
    }

    /// Makes one node of `items` with `make`, or two halves when more than `cap` (at most
    /// `2 * cap`).
    fn pack<I>(
        &mut self,
        items: &[I],
        cap: usize,
        make: impl Fn(&[I]) -> Body,
        out: &mut Out,
    ) -> Result {
        let half = if items.len() > cap {
            items.len().div_ceil(2)
        } else {
            items.len()
        };
        let (l, r) = items.split_at(half);
        for part in [l, r] {
            if !part.is_empty() {
                let c = self.alloc(make(part))?;
                out.push(c)?;
            }
        }
        Ok(())
    }

    /// Applies `op` to the subtree `n`, putting what replaces it into `out` (`n` itself when it
    /// does not change). The replacement ranges go into this subtree when `insert` is set.
    fn rebuild(&mut self, n: *mut Node, insert: bool, op: &Op, out: &mut Out) -> Result {
        // SAFETY: `n` is reachable from the root and we hold the lock: it is live and immutable.
        let body = unsafe { &(*n).body };
        if body.is_leaf() {
            let mut v = Small::<Range, { LEAF_CAP + 3 }>::new(Range::EMPTY);
            let mut inserted = !insert;
            let mut removed = 0u64;
            for e in body.entries() {
                if e.last < op.a {
                    v.push(*e)?;
                } else if e.first > op.b {
                    if !inserted {
                        v.extend(op.repl.as_slice())?;
                        inserted = true;
                    }
                    v.push(*e)?;
                } else {
                    removed += 1;
                }
            }
            if !inserted {
                v.extend(op.repl.as_slice())?;
            }
            if removed == 0 && !insert {
                return out.push(Child {
                    max: body.max_key(),
                    node: n,
                });
            }
            self.removed_ranges += removed;
            self.retire(n);
            return self.pack_leaves(v.as_slice(), out);
        }

        let ch = body.children();
        let last = ch.len().saturating_sub(1);
        let ci = ch.iter().position(|c| c.max >= op.a).unwrap_or(last);
        let cj = ch
            .iter()
            .position(|c| c.max >= op.b)
            .unwrap_or(last)
            .max(ci);
        let (Some(left), Some(right)) = (ch.get(ci), ch.get(cj)) else {
            return Err(EINVAL);
        };
        let mut sub_l = Out::new(Child::EMPTY);
        self.rebuild(left.node, insert, op, &mut sub_l)?;
        let mut sub_r = Out::new(Child::EMPTY);
        if cj > ci {
            self.rebuild(right.node, false, op, &mut sub_r)?;
        }
        let same = |sub: &Out, c: &Child| matches!(sub.as_slice(), [s] if s.node == c.node);
        if same(&sub_l, left) && (cj == ci || (cj == ci + 1 && same(&sub_r, right))) {
            return out.push(Child {
                max: body.max_key(),
                node: n,
            });
        }
        for c in ch.get(ci + 1..cj).unwrap_or(&[]) {
            self.retire_subtree(c.node);
        }
        let mut v = Small::<Child, { FANOUT + 2 }>::new(Child::EMPTY);
        v.extend(ch.get(..ci).unwrap_or(&[]))?;
        v.extend(sub_l.as_slice())?;
        v.extend(sub_r.as_slice())?;
        v.extend(ch.get(cj + 1..).unwrap_or(&[]))?;
        self.retire(n);
        self.pack_internal(v.as_slice(), out)
    }

    /// Applies `op` to the tree `root` of height `height`: the new root and height.
    fn run(&mut self, root: *mut Node, height: usize, op: &Op) -> Result<(*mut Node, usize)> {
        let mut out = Out::new(Child::EMPTY);
        if root.is_null() {
            self.pack_leaves(op.repl.as_slice(), &mut out)?;
            return Ok(match out.as_slice() {
                [] => (ptr::null_mut(), 0),
                [c] => (c.node, 1),
                [..] => (self.alloc(Body::internal(out.as_slice()))?.node, 2),
            });
        }
        self.rebuild(root, true, op, &mut out)?;
        let (mut new_root, mut new_height) = match out.as_slice() {
            [] => (ptr::null_mut(), 0),
            [c] => (c.node, height),
            [..] => (self.alloc(Body::internal(out.as_slice()))?.node, height + 1),
        };
        // A root with a single child gives way to that child.
        while !new_root.is_null() {
            // SAFETY: `new_root` is a live node: allocated by this write or still in the tree.
            let body = unsafe { &(*new_root).body };
            let [only] = body.children() else {
                break;
            };
            let child = only.node;
            self.retire(new_root);
            new_root = child;
            new_height = new_height.saturating_sub(1);
        }
        Ok((new_root, new_height))
    }

    /// Gives the nodes of a failed write back: they were never published.
    fn abort(self) {
        for &p in self.fresh.as_slice() {
            // SAFETY: `p` was allocated by this write from the map's cache and never published.
            unsafe { self.map.free_node(p) };
        }
    }
}

/// The RCU callback that frees an unlinked node.
///
/// # Safety
///
/// `head` must be the `rcu` field of an unlinked node, queued by [`RangeMap::write`].
unsafe extern "C" fn free_node_rcu(head: *mut bindings::callback_head) {
    // `rcu` is the first field of the `repr(C)` node, and `Opaque` is transparent.
    let node = head.cast::<Node>();
    // SAFETY: The node is live until freed below; by the invariant of `Node`, `owner` points to
    // its map, which drop keeps alive until every callback has run (`rcu_barrier()`).
    let map = unsafe { &*(*node).owner };
    // SAFETY: A grace period has passed since the node was unlinked: nothing uses it anymore.
    unsafe { map.free_node(node) };
}

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
                ArrayCache::from_raw_cache(NodeCache::new::<Node>(name, backend, CACHE_CAPACITY)?)
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

    /// Stores `value` for `[first, last]`, overwriting (and trimming) what overlaps.
    pub fn store(&self, first: u64, last: u64, value: u64) -> Result {
        self.write(first, last, Mode::Store(value)).map(|_| ())
    }

    /// Stores `value` for `[first, last]`; `EEXIST` when anything overlaps.
    pub fn insert(&self, first: u64, last: u64, value: u64) -> Result {
        self.write(first, last, Mode::Insert(value)).map(|_| ())
    }

    /// Erases `[first, last]`, trimming the ranges that overlap it partially. Returns the
    /// number of ranges that were removed or trimmed.
    pub fn erase(&self, first: u64, last: u64) -> Result<u64> {
        self.write(first, last, Mode::Erase)
    }

    /// Erases the whole range that holds `index`, as `mtree_erase()` does, and returns it.
    pub fn erase_at(&self, index: u64) -> Result<Option<Range>> {
        loop {
            let Some(r) = self.find(index).filter(|r| r.first <= index) else {
                return Ok(None);
            };
            // Erase it only if it is still the same range: another writer may have changed it.
            if self.write_if(r.first, r.last, Mode::Erase, Some(r))? > 0 {
                return Ok(Some(r));
            }
        }
    }

    /// Erases everything.
    pub fn clear(&self) -> Result {
        self.erase(0, u64::MAX).map(|_| ())
    }

    fn write(&self, a: u64, b: u64, mode: Mode) -> Result<u64> {
        self.write_if(a, b, mode, None)
    }

    /// The write protocol: reserve, lock, compute, publish, unlock, retire. With `expect`, the
    /// write happens only if `expect` is still in the map (otherwise it returns 0).
    fn write_if(&self, a: u64, b: u64, mode: Mode, expect: Option<Range>) -> Result<u64> {
        if a > b {
            return Err(EINVAL);
        }
        loop {
            let height = self.height_hint.load(Relaxed);
            if height >= MAX_HEIGHT {
                return Err(E2BIG);
            }
            let want = worst_case_nodes(height);
            // May sleep: before the lock.
            let mut res = self.cache.reserve(want, Gfp::KERNEL)?;
            self.stats.reserved.add(want as u64, Relaxed);
            let mut guard = self.lock.lock();
            if guard.height > height {
                // The tree grew since the hint was read: reserve again.
                drop(guard);
                continue;
            }
            let root = self.root.load(Relaxed);
            // SAFETY: We hold the lock: `root` is the current tree and cannot be freed.
            let find = |x: u64| unsafe { successor(root, x) };
            if let Some(e) = expect {
                if find(e.first) != Some(e) {
                    return Ok(0);
                }
            }
            let overlap = find(a).filter(|e| e.first <= b);
            let mut repl = Small::new(Range::EMPTY);
            let value = match mode {
                Mode::Insert(_) if overlap.is_some() => return Err(EEXIST),
                Mode::Erase if overlap.is_none() => return Ok(0),
                Mode::Store(v) | Mode::Insert(v) => Some(v),
                Mode::Erase => None,
            };
            if let Some(e) = overlap.filter(|e| e.first < a) {
                repl.push(Range {
                    first: e.first,
                    last: a - 1,
                    value: e.value,
                })?;
            }
            if let Some(value) = value {
                repl.push(Range {
                    first: a,
                    last: b,
                    value,
                })?;
            }
            if let Some(e) = find(b).filter(|e| e.first <= b && e.last > b) {
                repl.push(Range {
                    first: b + 1,
                    last: e.last,
                    value: e.value,
                })?;
            }
            let added = repl.len as u64;
            let op = Op { a, b, repl };
            let mut w = Writer {
                map: self,
                res: &mut res,
                fresh: Small::new(ptr::null_mut()),
                retired: ptr::null_mut(),
                retired_nodes: 0,
                removed_ranges: 0,
            };
            let (new_root, new_height) = match w.run(root, guard.height, &op) {
                Ok(r) => r,
                Err(e) => {
                    w.abort();
                    return Err(e);
                }
            };
            // Publish: readers that load the new root see the new nodes fully written.
            self.root.store(new_root, Release);
            guard.height = new_height;
            self.height_hint.store(new_height, Relaxed);
            let used = w.fresh.len as u64;
            guard.nodes = (guard.nodes + used).saturating_sub(w.retired_nodes);
            guard.ranges = (guard.ranges + added).saturating_sub(w.removed_ranges);
            let removed = w.removed_ranges;
            let mut retired = w.retired;
            drop(guard);
            // Unused reserved nodes go back to the cache.
            drop(res);

            self.stats.writes.add(1, Relaxed);
            let mut max = self.stats.max_used.load(Relaxed);
            while used > max {
                match self.stats.max_used.cmpxchg(max, used, Relaxed) {
                    Ok(_) => break,
                    Err(cur) => max = cur,
                }
            }
            while !retired.is_null() {
                let n = retired;
                // SAFETY: `n` is on this write's retired list: unlinked by the root stored above,
                // and no longer touched by any writer. Readers that still see it started before
                // that store, so the grace period `call_rcu()` waits for covers them.
                unsafe {
                    retired = *(*n).retired_next.get();
                    bindings::call_rcu((*n).rcu.get(), Some(free_node_rcu));
                }
            }
            return Ok(removed);
        }
    }

    /// The value stored at `index`.
    pub fn load(&self, index: u64) -> Option<u64> {
        self.find(index)
            .filter(|r| r.first <= index)
            .map(|r| r.value)
    }

    /// The first range that ends at or after `index`.
    pub fn find(&self, index: u64) -> Option<Range> {
        let _rcu = rcu::read_lock();
        let root = self.root.load(Acquire);
        // SAFETY: We are in an RCU read-side critical section and loaded `root` with acquire
        // ordering: it and the nodes below it are fully written and not freed before we leave.
        unsafe { successor(root, index) }
    }

    /// The ranges in increasing order, from `start` on. Each step is an RCU lookup, so a
    /// concurrent writer may change the map between two steps, never within one range.
    pub fn iter_from(&self, start: u64) -> RangeIter<'_> {
        RangeIter {
            map: self,
            next: Some(start),
        }
    }

    /// All the ranges in increasing order.
    pub fn iter(&self) -> RangeIter<'_> {
        self.iter_from(0)
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

    /// Waits until every node unlinked so far is back in the cache.
    pub fn barrier(&self) {
        // SAFETY: May sleep; the callers are in process context.
        unsafe { bindings::rcu_barrier() };
    }

    /// The node cache's counters (from `pcpu_array.ko`; zero for a plain cache).
    pub fn cache_stats(&self) -> crate::pcpu_array::Stats {
        self.cache.raw().stats()
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

    /// Checks the structure of the tree under the lock: `EIO` when an invariant is broken.
    /// Returns the number of nodes found.
    pub fn check(&self) -> Result<u64> {
        let guard = self.lock.lock();
        let root = self.root.load(Relaxed);
        let mut walk = Walk {
            nodes: 0,
            ranges: 0,
            prev_last: None,
        };
        if root.is_null() {
            if guard.height != 0 {
                return Err(EIO);
            }
        } else {
            // SAFETY: We hold the lock: the tree is live and immutable.
            unsafe { walk.node(root, guard.height, None) }?;
        }
        if walk.nodes != guard.nodes || walk.ranges != guard.ranges {
            return Err(EIO);
        }
        Ok(walk.nodes)
    }
}

/// The state of [`RangeMap::check`].
struct Walk {
    nodes: u64,
    ranges: u64,
    prev_last: Option<u64>,
}

impl Walk {
    /// Checks the subtree `n`, `depth` levels high, whose largest `last` should be `max`.
    ///
    /// # Safety
    ///
    /// `n` must be a live node that no writer changes during the call.
    unsafe fn node(&mut self, n: *mut Node, depth: usize, max: Option<u64>) -> Result {
        // SAFETY: Guaranteed by the caller.
        let body = unsafe { &(*n).body };
        self.nodes += 1;
        if max.is_some_and(|m| m != body.max_key()) {
            return Err(EIO);
        }
        if body.is_leaf() {
            if depth != 1 || body.entries().is_empty() {
                return Err(EIO);
            }
            for e in body.entries() {
                if e.first > e.last || self.prev_last.is_some_and(|p| e.first <= p) {
                    return Err(EIO);
                }
                self.prev_last = Some(e.last);
                self.ranges += 1;
            }
            return Ok(());
        }
        if depth <= 1 || body.children().is_empty() {
            return Err(EIO);
        }
        for c in body.children() {
            // SAFETY: A child of a live node of the same tree.
            unsafe { self.node(c.node, depth - 1, Some(c.max)) }?;
        }
        Ok(())
    }
}

/// The first range of the tree `root` that ends at or after `x`.
///
/// # Safety
///
/// `root` must be null or the root of a tree whose nodes stay live and unchanged during the call:
/// read under the tree's lock, or loaded with acquire ordering in an RCU read-side critical
/// section that lasts for the call.
unsafe fn successor(root: *mut Node, x: u64) -> Option<Range> {
    let mut n = root;
    loop {
        if n.is_null() {
            return None;
        }
        // SAFETY: Guaranteed by the caller, for the root and, as nodes are published fully
        // written and freed only after a grace period, for every node below it.
        let body = unsafe { &(*n).body };
        if body.is_leaf() {
            return body.entries().iter().find(|e| e.last >= x).copied();
        }
        n = body.children().iter().find(|c| c.max >= x)?.node;
    }
}

/// Ordered iteration over a [`RangeMap`]: see [`RangeMap::iter_from`].
pub struct RangeIter<'a> {
    map: &'a RangeMap,
    next: Option<u64>,
}

impl Iterator for RangeIter<'_> {
    type Item = Range;

    fn next(&mut self) -> Option<Range> {
        let r = self.map.find(self.next?)?;
        self.next = r.last.checked_add(1);
        Some(r)
    }
}

#[pinned_drop]
impl PinnedDrop for RangeMap {
    fn drop(self: Pin<&mut Self>) {
        // Queued callbacks free nodes into `cache` and count them in `stats`: let them finish.
        self.barrier();
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

/// A small xorshift64 pseudo-random generator, for the demo and the tests.
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The range map's writer: store, insert and erase, with the maple tree's reservation protocol.
//!
//! A writer computes the worst-case number of nodes its write may need from the tree's height
//! ([`worst_case_nodes`]), reserves that many with `GFP_KERNEL` *before* taking the tree's
//! spinlock, and under the lock only takes nodes from that reservation, which never sleeps and
//! never fails while it has nodes. Unused nodes go back to the cache when the reservation is
//! dropped.
//!
//! A write replaces the contiguous run of ranges that overlap `[first, last]` by at most three
//! ranges (the parts of the two boundary ranges outside `[first, last]`, and the new range). It
//! copies, root to leaf, only the nodes on the two boundary paths: at most three new nodes per
//! level (the left boundary node may split in two, the right boundary node only shrinks) and one
//! new root, so `3 * height + 1` nodes. Subtrees entirely inside the run are unlinked whole.
//! Empty nodes are dropped, and a root left with a single child is replaced by that child.
//!
//! Published nodes are never modified: a write builds new nodes and publishes them with one
//! release store of the root pointer. The nodes it unlinks are freed after a grace period
//! (`pcpu_array_free_rcu()`, or `kfree_rcu()` for the plain cache) once that root is published,
//! so no reader can still be using them when they go back to the cache.

use super::{
    node::{
        Body,
        Child,
        Node,
        Range,
        FANOUT,
        LEAF_CAP, //
    },
    read::successor,
    ArrayBox,
    RangeMap,
    Reservation, //
};
use core::ptr;
use kernel::{
    prelude::*,
    sync::atomic::{
        Relaxed,
        Release, //
    },
};

/// The height beyond which writes are refused (never reached: it takes ~7^15 ranges).
pub const MAX_HEIGHT: usize = 16;
/// Nodes one write needs at most, for a tree of [`MAX_HEIGHT`].
const MAX_WRITE_NODES: usize = 3 * MAX_HEIGHT + 1;

/// The nodes one write may need at most in a tree of height `height`.
pub const fn worst_case_nodes(height: usize) -> usize {
    3 * height + 1
}

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
        let node = Node::new(body);
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

impl RangeMap {
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
            let mut res = self.cache.reserve(want, GFP_KERNEL)?;
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
                // that store, so the grace period the free waits for covers them.
                unsafe {
                    retired = *(*n).retired_next.get();
                    self.free_node_rcu(n);
                }
            }
            return Ok(removed);
        }
    }
}

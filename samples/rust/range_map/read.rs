// SPDX-License-Identifier: GPL-2.0

//! The range map's readers: lookup and ordered iteration under RCU.
//!
//! Readers run under `rcu_read_lock()` without the tree's spinlock. They load the root with
//! acquire ordering, which pairs with the writer's release store of a new root, and so see a
//! consistent snapshot of the tree, from before or after any write: published nodes are never
//! modified, and the nodes a write unlinks are freed only after a grace period.

use super::{
    node::{
        Node,
        Range, //
    },
    RangeMap, //
};
use kernel::sync::{
    atomic::Acquire,
    rcu, //
};

impl RangeMap {
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
}

/// The first range of the tree `root` that ends at or after `x`.
///
/// # Safety
///
/// `root` must be null or the root of a tree whose nodes stay live and unchanged during the call:
/// read under the tree's lock, or loaded with acquire ordering in an RCU read-side critical
/// section that lasts for the call.
pub(super) unsafe fn successor(root: *mut Node, x: u64) -> Option<Range> {
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

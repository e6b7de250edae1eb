// SPDX-License-Identifier: GPL-2.0

//! The range map's self-check: a walk of the whole tree under the lock that verifies the
//! invariants of [`RangeMap`] and its counters, for the KUnit suite and the demo.

use super::{
    node::Node,
    RangeMap, //
};
use kernel::{
    prelude::*,
    sync::atomic::Relaxed, //
};

impl RangeMap {
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

// SPDX-License-Identifier: GPL-2.0

//! The node layout of the range map: what a [`Node`] holds and how it fits in 256 bytes.
//!
//! A leaf holds up to [`LEAF_CAP`] sorted, non-overlapping ranges. An internal node holds up to
//! [`FANOUT`] children, each with the exact largest `last` of its subtree (the maple tree's
//! pivots), so that the range holding an index, if any, is the first range whose `last` is not
//! below it, found in one descent.
//!
//! Next to the body, a node carries what the writer needs once it unlinks the node: the
//! `callback_head` that `kfree_rcu()` queues for the plain cache (pcpu_array's
//! `pcpu_array_free_rcu()` needs none), and a link for the writer's list of nodes to retire.

use core::{
    cell::UnsafeCell,
    mem::{
        offset_of,
        size_of, //
    },
    ptr, //
};
use kernel::{
    bindings,
    types::Opaque, //
};

/// Ranges a leaf holds at most.
pub const LEAF_CAP: usize = 9;
/// Children an internal node holds at most.
pub const FANOUT: usize = 13;

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
    pub(super) const EMPTY: Range = Range {
        first: 0,
        last: 0,
        value: 0,
    };
}

/// A child of an internal node: its subtree and the largest `last` in it.
#[derive(Clone, Copy)]
pub(super) struct Child {
    pub(super) max: u64,
    pub(super) node: *mut Node,
}

impl Child {
    pub(super) const EMPTY: Child = Child {
        max: 0,
        node: ptr::null_mut(),
    };
}

/// What a node holds. The variants keep their length next to the tag, so that the body fits in
/// 224 bytes.
pub(super) enum Body {
    Leaf { len: u8, entries: [Range; LEAF_CAP] },
    Internal { len: u8, children: [Child; FANOUT] },
}

impl Body {
    /// A leaf holding `src` (at most [`LEAF_CAP`] ranges; the rest is dropped).
    pub(super) fn leaf(src: &[Range]) -> Body {
        let mut entries = [Range::EMPTY; LEAF_CAP];
        let mut len = 0u8;
        for (d, s) in entries.iter_mut().zip(src) {
            *d = *s;
            len += 1;
        }
        Body::Leaf { len, entries }
    }

    /// An internal node holding `src` (at most [`FANOUT`] children; the rest is dropped).
    pub(super) fn internal(src: &[Child]) -> Body {
        let mut children = [Child::EMPTY; FANOUT];
        let mut len = 0u8;
        for (d, s) in children.iter_mut().zip(src) {
            *d = *s;
            len += 1;
        }
        Body::Internal { len, children }
    }

    /// The ranges of a leaf; empty for an internal node.
    pub(super) fn entries(&self) -> &[Range] {
        match self {
            Body::Leaf { len, entries } => entries.get(..usize::from(*len)).unwrap_or(&[]),
            Body::Internal { .. } => &[],
        }
    }

    /// The children of an internal node; empty for a leaf.
    pub(super) fn children(&self) -> &[Child] {
        match self {
            Body::Internal { len, children } => children.get(..usize::from(*len)).unwrap_or(&[]),
            Body::Leaf { .. } => &[],
        }
    }

    /// Whether the node is a leaf.
    pub(super) fn is_leaf(&self) -> bool {
        matches!(self, Body::Leaf { .. })
    }

    /// The largest `last` in the node (0 for an empty node, which the tree never holds).
    pub(super) fn max_key(&self) -> u64 {
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
/// - Once published (reachable from a root that was stored), `body` is never written again.
/// - `rcu` and `retired_next` are only used once the node is unlinked, by the writer holding
///   the tree's lock and then by RCU; readers never look at them.
#[repr(C)]
pub struct Node {
    pub(super) rcu: Opaque<bindings::callback_head>,
    pub(super) retired_next: UnsafeCell<*mut Node>,
    pub(super) body: Body,
}

impl Node {
    /// A node holding `body`, not yet on any list.
    pub(super) fn new(body: Body) -> Node {
        Node {
            rcu: Opaque::uninit(),
            retired_next: UnsafeCell::new(ptr::null_mut()),
            body,
        }
    }
}

// The node must not be bigger than a maple tree node, and the plain cache's `kfree_rcu()` takes
// its `rcu` field as the object's first bytes (`NodeSource`).
const _: () = assert!(size_of::<Node>() <= 256);
const _: () = assert!(offset_of!(Node, rcu) == 0);

// SAFETY: A node is plain data with pointers into its own tree; it may be freed from any CPU
// (by RCU callbacks), which the cache allows.
unsafe impl Send for Node {}

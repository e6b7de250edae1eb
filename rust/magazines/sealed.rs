// SPDX-License-Identifier: GPL-2.0

//! One memory node's sealed magazines of frees after a grace period, oldest first, and its
//! spare shells (`crate::magazines::rcu`): plain data, under the node's lock there.
//!
//! A magazine whose grace period has not ended cannot be used, wherever it waits: on this list
//! or in an RCU callback, its objects are the same memory. So the list is not bounded by the
//! magazines that wait (up to [`SEALED_MAX`], a guard against a grace period that does not
//! end), which adapts it to the node's rate of frees times the length of a grace period, but by
//! those that are *ripe*: grace periods end in batches, and the ripe magazines beyond what the
//! allocations will want before the next one ends leave the list ([`NodeRcu::pop_excess`]), as
//! the depot gives up full magazines beyond its limit.

use crate::magazines::rcu::{
    Waiting,
    WaitingBox, //
};

/// The most sealed magazines a node keeps once their grace period has ended, as many as its
/// depot keeps full ones (`DEPOT_DEFAULT_LIMIT`).
pub(crate) const SEALED_LIMIT: usize = crate::policy::depot::DEPOT_DEFAULT_LIMIT;

/// The most sealed magazines a node keeps waiting; beyond it, a sealed magazine goes to
/// `call_rcu_hurry()`. Reached only when grace periods are very long against the rate of
/// frees (a stalled grace period); it bounds how many magazines one call may find ripe, under
/// the node's lock with interrupts off ([`NodeRcu::pop_excess`] and the others learn it).
pub(crate) const SEALED_MAX: usize = 1024;

/// The most empty shells a node keeps for the next pending magazines.
const SPARE_LIMIT: usize = 2 * SEALED_LIMIT;

/// One node's sealed magazines, oldest first, and its spare shells.
///
/// # Invariants
///
/// `head` starts a chain, through [`Waiting::next`], of the `len` sealed shells, each with a
/// magazine, in the order they were sealed, holding `objects` objects; `tail` points to the
/// last of them (null when `len` is 0), which is owned through that chain. The first `ripe`
/// shells, holding `ripe_objects` objects, are known to have reached the end of their grace
/// period; `unknown` points to the shell after them (null when `ripe` is `len`). `spare` starts
/// a chain of `spares` empty shells.
pub(crate) struct NodeRcu {
    head: Option<WaitingBox>,
    tail: *mut Waiting,
    len: usize,
    objects: usize,
    ripe: usize,
    ripe_objects: usize,
    unknown: *mut Waiting,
    /// How many ripened at the end of the last grace period seen to end: what allocations
    /// took, or will, during a grace period.
    last_batch: usize,
    spare: Option<WaitingBox>,
    spares: usize,
}

// SAFETY: `tail` and `unknown` point into the chain that `head` owns: the list owns everything
// it points to, and the shells are `Send`.
unsafe impl Send for NodeRcu {}

impl NodeRcu {
    /// Nothing sealed, no spare shell.
    pub(super) fn new() -> Self {
        // INVARIANT: Empty chains.
        Self {
            head: None,
            tail: core::ptr::null_mut(),
            len: 0,
            objects: 0,
            ripe: 0,
            ripe_objects: 0,
            unknown: core::ptr::null_mut(),
            last_batch: 0,
            spare: None,
            spares: 0,
        }
    }

    /// Adds `shell`, just sealed, at the end; gives it back when [`SEALED_MAX`] wait already.
    pub(super) fn push_sealed(&mut self, mut shell: WaitingBox) -> Result<(), WaitingBox> {
        if self.len == SEALED_MAX {
            return Err(shell);
        }
        shell.next = None;
        let n = shell.objects();
        let last: *mut Waiting = &raw mut *shell;
        match self.len {
            0 => self.head = Some(shell),
            // SAFETY: `tail` points to the last shell of the chain (type invariant), owned
            // through `head`, which `&mut self` gives exclusive access to.
            _ => unsafe { (*self.tail).next = Some(shell) },
        }
        // INVARIANT: `shell` is last, and the first not known to be ripe when all before it
        // are; moving the box did not move the shell `last` points to.
        self.tail = last;
        if self.unknown.is_null() {
            self.unknown = last;
        }
        self.len += 1;
        self.objects += n;
        Ok(())
    }

    /// Learns which more of the sealed magazines have reached the end of their grace period.
    /// Grace periods end in the order they were started, so the ripe ones are the oldest, up
    /// to the first that is not: each shell is looked at until it is found ripe, and a call
    /// looks at one that is not.
    fn ripen(&mut self) {
        let before = self.ripe;
        self.ripen_all();
        if self.ripe != before {
            self.last_batch = self.ripe - before;
        }
    }

    /// [`NodeRcu::ripen`]'s walk.
    fn ripen_all(&mut self) {
        // SAFETY: `unknown` is null or points to a shell of the chain, owned through `head`
        // (type invariant), which `&mut self` gives exclusive access to.
        while let Some(s) = unsafe { self.unknown.as_mut() } {
            if !s.cookie.elapsed() {
                return;
            }
            // INVARIANT: `s` is ripe; the next shell, if any, is the first not known to be.
            self.ripe += 1;
            self.ripe_objects += s.objects();
            self.unknown = s
                .next
                .as_deref_mut()
                .map_or(core::ptr::null_mut(), core::ptr::from_mut);
        }
    }

    /// Takes the oldest sealed magazine if its grace period has ended.
    pub(super) fn pop_ripe(&mut self) -> Option<WaitingBox> {
        if self.ripe == 0 {
            self.ripen();
            if self.ripe == 0 {
                return None;
            }
        }
        self.pop_oldest()
    }

    /// Takes the oldest sealed magazine when it is *excess*: more magazines are ripe than
    /// [`SEALED_LIMIT`] beyond what allocations may want before the next grace period ends.
    /// That is about a batch (what ripened at the end of the last grace period, or what waits
    /// now, the more of the two), taken twice because grace periods differ in length: while
    /// allocations take ripe magazines as fast as frees seal new ones, the ripe ones stay
    /// below that; where no allocation takes them, batches pile up and the oldest leave. After
    /// a pause, the last batch stays for the next burst of allocations, until the periodic
    /// tick or a shrinker says it is not wanted ([`NodeRcu::forget_batch`]).
    pub(super) fn pop_excess(&mut self) -> Option<WaitingBox> {
        self.ripen();
        let wanted = 2 * (self.len - self.ripe).max(self.last_batch);
        if self.ripe <= SEALED_LIMIT + wanted {
            return None;
        }
        self.pop_oldest()
    }

    /// Forgets the last batch that ripened: from now on, the ripe magazines beyond
    /// [`SEALED_LIMIT`] and those that still wait are excess.
    pub(super) fn forget_batch(&mut self) {
        self.ripen();
        self.last_batch = 0;
    }

    /// Takes the oldest sealed magazine, whether or not its grace period has ended.
    pub(super) fn pop_oldest(&mut self) -> Option<WaitingBox> {
        let mut shell = self.head.take()?;
        self.head = shell.next.take();
        let n = shell.objects();
        self.len -= 1;
        self.objects -= n;
        if self.ripe != 0 {
            self.ripe -= 1;
            self.ripe_objects -= n;
        } else {
            // INVARIANT: `shell` was the first not known to be ripe; the new head is.
            self.unknown = self
                .head
                .as_deref_mut()
                .map_or(core::ptr::null_mut(), core::ptr::from_mut);
        }
        if self.len == 0 {
            // INVARIANT: The last one left.
            self.tail = core::ptr::null_mut();
        }
        Some(shell)
    }

    /// The objects of the oldest sealed magazine.
    pub(super) fn oldest_objects(&self) -> Option<usize> {
        self.head.as_ref().map(|s| s.objects())
    }

    /// The sealed magazines' objects, and those whose grace period has ended.
    pub(super) fn objects(&mut self) -> (usize, usize) {
        self.ripen();
        (self.objects, self.ripe_objects)
    }

    /// Keeps `shell`, empty, for a next pending magazine; gives it back when there is no room.
    pub(super) fn put_spare(&mut self, mut shell: WaitingBox) -> Option<WaitingBox> {
        if self.spares == SPARE_LIMIT {
            return Some(shell);
        }
        // INVARIANT: `shell` heads the chain of spares.
        shell.next = self.spare.take();
        self.spare = Some(shell);
        self.spares += 1;
        None
    }

    /// An empty shell kept for a next pending magazine.
    pub(super) fn get_spare(&mut self) -> Option<WaitingBox> {
        let mut shell = self.spare.take()?;
        // INVARIANT: The first spare leaves.
        self.spare = shell.next.take();
        self.spares -= 1;
        Some(shell)
    }
}

impl Drop for NodeRcu {
    fn drop(&mut self) {
        // One at a time: dropping the chain whole would recurse once per shell.
        while self.pop_oldest().is_some() {}
        while self.get_spare().is_some() {}
    }
}

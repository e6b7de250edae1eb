// SPDX-License-Identifier: GPL-2.0

//! One memory node's sealed magazines of frees after a grace period, oldest first, and its
//! spare shells (`crate::magazines::rcu`): plain data, under the node's lock there.

use crate::magazines::rcu::WaitingBox;

/// The most sealed magazines a node keeps waiting for their grace periods, as many as its
/// depot keeps full ones (`DEPOT_DEFAULT_LIMIT`); beyond it, a sealed magazine goes to
/// `call_rcu_hurry()`.
pub(crate) const SEALED_LIMIT: usize = crate::policy::depot::DEPOT_DEFAULT_LIMIT;

/// The most empty shells a node keeps for the next pending magazines.
const SPARE_LIMIT: usize = 2 * SEALED_LIMIT;

/// One node's sealed magazines, oldest first, and its spare shells.
///
/// # Invariants
///
/// `sealed[(first + i) % SEALED_LIMIT]` for `i < len` hold shells with a magazine, sealed in
/// that order; the other slots are `None`. `spare[..spares]` hold empty shells, the rest `None`.
pub(crate) struct NodeRcu {
    sealed: [Option<WaitingBox>; SEALED_LIMIT],
    first: usize,
    len: usize,
    spare: [Option<WaitingBox>; SPARE_LIMIT],
    spares: usize,
}

impl NodeRcu {
    /// Nothing sealed, no spare shell.
    pub(super) fn new() -> Self {
        Self {
            sealed: [const { None }; SEALED_LIMIT],
            first: 0,
            len: 0,
            spare: [const { None }; SPARE_LIMIT],
            spares: 0,
        }
    }

    /// Adds `shell`, just sealed, at the end. When the list is full and its oldest magazine's
    /// grace period has ended, that one makes room and is returned; when it has not, `shell`
    /// is given back.
    pub(super) fn push_sealed(
        &mut self,
        shell: WaitingBox,
    ) -> Result<Option<WaitingBox>, WaitingBox> {
        let ripe = if self.len == SEALED_LIMIT {
            match self.pop_ripe() {
                Some(ripe) => Some(ripe),
                None => return Err(shell),
            }
        } else {
            None
        };
        // INVARIANT: The slot after the last is free (`len < SEALED_LIMIT`).
        self.sealed[(self.first + self.len) % SEALED_LIMIT] = Some(shell);
        self.len += 1;
        Ok(ripe)
    }

    /// Takes the oldest sealed magazine's shell when its grace period has ended.
    pub(super) fn pop_ripe(&mut self) -> Option<WaitingBox> {
        let ripe = self.len != 0
            && self.sealed[self.first]
                .as_ref()
                .is_some_and(|s| s.cookie.elapsed());
        if !ripe {
            return None;
        }
        self.pop_oldest()
    }

    /// Takes the oldest sealed magazine's shell, whatever its grace period.
    pub(super) fn pop_oldest(&mut self) -> Option<WaitingBox> {
        if self.len == 0 {
            return None;
        }
        let shell = self.sealed[self.first].take();
        // INVARIANT: The oldest left the list.
        self.first = (self.first + 1) % SEALED_LIMIT;
        self.len -= 1;
        shell
    }

    /// The objects of the oldest sealed magazine, if any.
    pub(super) fn oldest_objects(&self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        self.sealed[self.first].as_ref().map(|s| s.objects())
    }

    /// The sealed magazines' objects, and those whose grace period has ended.
    pub(super) fn objects(&self) -> (usize, usize) {
        (0..self.len)
            .filter_map(|i| self.sealed[(self.first + i) % SEALED_LIMIT].as_ref())
            .fold((0, 0), |(all, ripe), s| {
                let n = s.objects();
                (all + n, if s.cookie.elapsed() { ripe + n } else { ripe })
            })
    }

    /// Keeps `shell`, empty, for a next pending magazine; gives it back when there is no room.
    pub(super) fn put_spare(&mut self, shell: WaitingBox) -> Option<WaitingBox> {
        if self.spares == SPARE_LIMIT {
            return Some(shell);
        }
        // INVARIANT: `spare[spares]` is free.
        self.spare[self.spares] = Some(shell);
        self.spares += 1;
        None
    }

    /// An empty shell kept for a next pending magazine.
    pub(super) fn get_spare(&mut self) -> Option<WaitingBox> {
        let i = self.spares.checked_sub(1)?;
        // INVARIANT: The last spare leaves.
        self.spares = i;
        self.spare[i].take()
    }
}

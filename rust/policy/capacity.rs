// SPDX-License-Identifier: GPL-2.0

//! The adaptive magazine capacity of a cache, as a pure controller.

use super::{
    depot::IntervalCounts,
    pair::MAGAZINE_MAX, //
};

/// Why [`CapacityController::new`] or [`CapacityController::set`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfBounds;

/// The adaptive magazine capacity of a cache: grows it when the depots are busy, shrinks it when
/// the cache goes quiet, always within `min..=max`.
///
/// Deterministic and pure: it sees one [`IntervalCounts`] per interval (the kernel's interval is
/// its periodic work, every few seconds) and returns the capacity for the next interval.
///
/// - **Grow**, by half (at least one), up to `max`, when during the interval the depot lock was
///   found held more than [`CapacityController::CONTENTION_LIMIT`] times (Bonwick's contention
///   counter), or when more than one depot request in
///   [`CapacityController::MISS_RATIO`] fell back to the bulk API and there were at least
///   [`CapacityController::MIN_MISSES`] of them. Larger magazines mean fewer depot trips and
///   fewer bulk calls per object.
/// - **Shrink**, by a quarter (at least one), down to `min`, after
///   [`CapacityController::QUIET_INTERVALS`] quiet intervals in a row: intervals that neither
///   grew nor moved as many objects as one magazine holds. Smaller magazines park less memory
///   per CPU. Growing is fast and shrinking slow, so that a busy cache does not oscillate.
///
/// # Invariants
///
/// `1 <= min <= capacity <= max <= MAGAZINE_MAX`.
#[derive(Clone, Debug)]
pub(crate) struct CapacityController {
    min: usize,
    max: usize,
    capacity: usize,
    quiet: u32,
}

impl CapacityController {
    /// More contended depot-lock acquisitions than this in one interval grow the capacity (3, as
    /// Bonwick's `kmem_depot_contention`).
    pub(crate) const CONTENTION_LIMIT: u64 = 3;
    /// More than one depot request in this many missing grows the capacity.
    pub(crate) const MISS_RATIO: u64 = 4;
    /// Fewer misses than this in one interval never grow the capacity, whatever the ratio.
    pub(crate) const MIN_MISSES: u64 = 4;
    /// Quiet intervals in a row that shrink the capacity.
    pub(crate) const QUIET_INTERVALS: u32 = 4;

    /// A controller starting at `capacity`, within `min..=max`.
    ///
    /// Fails unless `1 <= min <= capacity <= max <= MAGAZINE_MAX`.
    pub(crate) fn new(min: usize, max: usize, capacity: usize) -> Result<Self, OutOfBounds> {
        if min == 0 || min > capacity || capacity > max || max > MAGAZINE_MAX {
            return Err(OutOfBounds);
        }
        // INVARIANT: Checked above.
        Ok(Self {
            min,
            max,
            capacity,
            quiet: 0,
        })
    }

    /// The smallest capacity.
    pub(crate) fn min(&self) -> usize {
        self.min
    }

    /// The largest capacity.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The capacity now.
    #[cfg(test)] // For the models of tools/depot-policy only.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the capacity by hand (debugfs), and starts counting quiet intervals over. Fails
    /// outside `min..=max`.
    #[cfg(test)] // For the models of tools/depot-policy only.
    pub(crate) fn set(&mut self, capacity: usize) -> Result<(), OutOfBounds> {
        if capacity < self.min || capacity > self.max {
            return Err(OutOfBounds);
        }
        // INVARIANT: Checked above.
        self.capacity = capacity;
        self.quiet = 0;
        Ok(())
    }

    /// Whether `counts` make the capacity grow.
    fn busy(counts: &IntervalCounts) -> bool {
        let requests = counts.trades.saturating_add(counts.misses);
        counts.contended > Self::CONTENTION_LIMIT
            || (counts.misses >= Self::MIN_MISSES
                && counts.misses.saturating_mul(Self::MISS_RATIO) > requests)
    }

    /// Takes one interval's counts and returns the capacity for the next interval.
    pub(crate) fn update(&mut self, counts: &IntervalCounts) -> usize {
        let capacity = self.capacity;
        if Self::busy(counts) {
            self.quiet = 0;
            // INVARIANT: At most `max`, and larger than `capacity >= min`.
            self.capacity = (capacity + (capacity / 2).max(1)).min(self.max);
        } else if counts.ops < capacity as u64 && counts.contended == 0 && counts.misses == 0 {
            self.quiet = self.quiet.saturating_add(1);
            if self.quiet >= Self::QUIET_INTERVALS {
                self.quiet = 0;
                // INVARIANT: At least `min`, and smaller than `capacity <= max`.
                self.capacity = capacity.saturating_sub((capacity / 4).max(1)).max(self.min);
            }
        } else {
            self.quiet = 0;
        }
        self.capacity
    }
}

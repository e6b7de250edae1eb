// SPDX-License-Identifier: GPL-2.0

//! The adaptive magazine capacity of a cache.
//!
//! Every [`ADAPT_INTERVAL_MS`] a periodic work item (`crate::magazines::state::AdaptTick`) hands the counters of the
//! interval that ended to the cache's [`CapacityController`] (`crate::policy::capacity`, where the
//! rule is tested in user space): the capacity grows by half when the depot lock was contended
//! or depot requests kept missing (Bonwick's contention counter, UMA's bucket sizing), and
//! shrinks by a quarter after quiet intervals. It stays between a floor, the capacity the cache
//! was created with or last given through debugfs, and [`MAX_CAPACITY`]. A change goes through
//! [`Resize::set_capacity`] and counts as a `capacity_resize`.

use crate::{
    magazines::{
        magazine::MAX_CAPACITY,
        stats::{
            Stat,
            Stats, //
        },
    },
    policy::{
        capacity::CapacityController,
        depot::IntervalCounts, //
    },
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::Mutex, //
};

/// How often the capacity of an adaptive cache is reconsidered, in milliseconds.
pub(crate) const ADAPT_INTERVAL_MS: u32 = 5000;

/// What the adaptation remembers between intervals.
struct AdaptState {
    /// Within `capacity..=MAX_CAPACITY` for an adaptive cache, `capacity..=capacity` for a
    /// fixed one.
    controller: CapacityController,
    adaptive: bool,
    /// The counters when the interval began.
    last: Stats,
}

/// The adaptation state of one cache, shared by its periodic work, its debugfs `capacity` file
/// and the tests.
pub(crate) struct Adaptation {
    state: Pin<KBox<Mutex<AdaptState>>>,
}

/// The controller of a cache at `capacity`, which is also its floor.
fn controller(capacity: usize, adaptive: bool) -> Result<CapacityController> {
    let max = if adaptive { MAX_CAPACITY } else { capacity };
    CapacityController::new(capacity, max, capacity).map_err(|_| EINVAL)
}

impl Adaptation {
    /// Adaptation starting at `capacity`, which is also the floor; with `adaptive` false the
    /// capacity changes only by hand.
    pub(crate) fn new(capacity: usize, adaptive: bool, now: Stats) -> Result<Self> {
        let state = KBox::pin_init(
            new_mutex!(
                AdaptState {
                    controller: controller(capacity, adaptive)?,
                    adaptive,
                    last: now,
                },
                "pcpu_array_adapt"
            ),
            GFP_KERNEL,
        )?;
        Ok(Self { state })
    }
}

/// The counts of the interval between `earlier` and `now` that [`CapacityController`] decides
/// on.
fn interval_counts(now: &Stats, earlier: &Stats) -> IntervalCounts {
    let ops = [
        Stat::AllocArray,
        Stat::FreeArray,
        Stat::AllocBacking,
        Stat::FreeBacking,
    ]
    .iter()
    .map(|&s| now.since(earlier, s))
    .fold(0, u64::saturating_add);
    IntervalCounts {
        ops,
        trades: now
            .since(earlier, Stat::DepotGet)
            .saturating_add(now.since(earlier, Stat::DepotPut)),
        misses: now.since(earlier, Stat::DepotMiss),
        contended: now.since(earlier, Stat::DepotContended),
    }
}

/// What the adaptation resizes: the cache's state (`crate::magazines::state`).
pub(crate) trait Resize {
    /// The counters now.
    fn stats(&self) -> Stats;
    /// The capacity of the magazines now.
    fn capacity(&self) -> usize;
    /// Gives every magazine `capacity`. May sleep.
    fn set_capacity(&self, capacity: usize) -> Result;
}

impl Adaptation {
    /// Ends an adaptation interval of `cache`: gives its counts to the controller and applies
    /// the capacity it returns. Returns the new capacity when it changed. May sleep.
    pub(crate) fn adapt(&self, cache: &impl Resize) -> Result<Option<usize>> {
        let mut state = self.state.lock();
        let now = cache.stats();
        let counts = interval_counts(&now, &state.last);
        state.last = now;
        let capacity = state.controller.update(&counts);
        if capacity == cache.capacity() {
            return Ok(None);
        }
        cache.set_capacity(capacity)?;
        // The resize itself is not traffic of the next interval.
        state.last = cache.stats();
        Ok(Some(capacity))
    }

    /// Sets the capacity of `cache` by hand (the debugfs `capacity` file), which also becomes
    /// the floor of the adaptation. May sleep. `EINVAL` outside 1 to [`MAX_CAPACITY`].
    pub(crate) fn set_by_hand(&self, cache: &impl Resize, capacity: usize) -> Result {
        let mut state = self.state.lock();
        let controller = controller(capacity, state.adaptive)?;
        cache.set_capacity(capacity)?;
        state.controller = controller;
        state.last = cache.stats();
        Ok(())
    }

    /// The bounds the capacity adapts within: the floor and [`MAX_CAPACITY`] (the floor twice
    /// for a fixed capacity).
    pub(crate) fn bounds(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.controller.min(), state.controller.max())
    }
}

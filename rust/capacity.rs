// SPDX-License-Identifier: GPL-2.0

//! The adaptive magazine capacity of a cache.
//!
//! Every [`ADAPT_INTERVAL_MS`] a periodic work item ([`AdaptTick`]) hands the counters of the
//! interval that ended to the cache's [`CapacityController`] (`crate::depot_policy`, where the
//! rule is tested in user space): the capacity grows by half when the depot lock was contended
//! or depot requests kept missing (Bonwick's contention counter, UMA's bucket sizing), and
//! shrinks by a quarter after quiet intervals. It stays between a floor, the capacity the cache
//! was created with or last given through debugfs, and [`MAX_CAPACITY`]. A change goes through
//! [`Shared::set_capacity`] and counts as a `capacity_resize`.

use crate::{
    cpu_array::MAX_CAPACITY,
    depot_policy::{
        CapacityController,
        IntervalCounts, //
    },
    ffi,
    shared::Shared,
    stats::{
        Stat,
        Stats, //
    },
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
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

impl Shared {
    /// Ends an adaptation interval: gives its counts to the controller and applies the capacity
    /// it returns. Returns the new capacity when it changed. May sleep.
    pub(crate) fn adapt_capacity(&self) -> Result<Option<usize>> {
        let mut state = self.adaptation.state.lock();
        let now = self.stats();
        let counts = interval_counts(&now, &state.last);
        state.last = now;
        let capacity = state.controller.update(&counts);
        if capacity == self.capacity() {
            return Ok(None);
        }
        self.set_capacity(capacity)?;
        // The resize itself is not traffic of the next interval.
        state.last = self.stats();
        Ok(Some(capacity))
    }

    /// Sets the capacity by hand (the debugfs `capacity` file), which also becomes the floor of
    /// the adaptation. May sleep. `EINVAL` outside 1 to [`MAX_CAPACITY`].
    pub(crate) fn set_capacity_by_hand(&self, capacity: usize) -> Result {
        let mut state = self.adaptation.state.lock();
        let controller = controller(capacity, state.adaptive)?;
        self.set_capacity(capacity)?;
        state.controller = controller;
        state.last = self.stats();
        Ok(())
    }

    /// The bounds the capacity adapts within: the floor and [`MAX_CAPACITY`] (the floor twice
    /// for a fixed capacity).
    pub(crate) fn capacity_bounds(&self) -> (usize, usize) {
        let state = self.adaptation.state.lock();
        (state.controller.min(), state.controller.max())
    }
}

/// The periodic work item that adapts a cache's capacity (see the module documentation),
/// holding a reference to what the cache shares.
///
/// # Invariants
///
/// `tick` came from `pcpu_array_tick_start()` with [`adapt`] and `shared` as its argument, and
/// is stopped only on drop; `shared` came from `Arc::into_raw` and is given back on drop.
pub(crate) struct AdaptTick {
    tick: NonNull<c_void>,
    shared: *const Shared,
}

// SAFETY: The tick is a work item, stopped from whatever task drops the cache; `Shared` is
// shared between tasks already (through `Arc`).
unsafe impl Send for AdaptTick {}
// SAFETY: `&AdaptTick` gives access to nothing.
unsafe impl Sync for AdaptTick {}

/// The tick's function.
///
/// # Safety
///
/// `arg` must be the `shared` of a live [`AdaptTick`].
unsafe extern "C" fn adapt(arg: *mut c_void) {
    // SAFETY: `arg` is a reference the tick holds until it has been stopped, and the tick is
    // stopped (waiting for this call) before that reference is dropped.
    let shared = unsafe { &*arg.cast::<Shared>() };
    // A failed resize (memory) keeps the old capacity; the next interval tries again.
    let _ = shared.adapt_capacity();
}

impl AdaptTick {
    /// Starts adapting the capacity of `shared` every [`ADAPT_INTERVAL_MS`].
    pub(crate) fn start(shared: Arc<Shared>) -> Result<Self> {
        let raw = Arc::into_raw(shared);
        // SAFETY: `adapt` may be called with `raw` until the tick is stopped, which `Drop` does
        // before giving the reference back.
        let tick =
            unsafe { ffi::pcpu_array_tick_start(adapt, raw.cast_mut().cast(), ADAPT_INTERVAL_MS) };
        let Some(tick) = NonNull::new(tick) else {
            // SAFETY: From `Arc::into_raw` just above; the tick does not exist.
            drop(unsafe { Arc::from_raw(raw) });
            return Err(ENOMEM);
        };
        // INVARIANT: Started with `adapt` and `raw`, which came from `Arc::into_raw`.
        Ok(Self { tick, shared: raw })
    }
}

impl AdaptTick {
    /// Whether the tick's timer is deferrable, for the tests.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn deferrable(&self) -> bool {
        // SAFETY: The tick lives until `drop` (type invariant); only its timer's flags are read.
        unsafe { ffi::pcpu_array_tick_deferrable(self.tick.as_ptr()) }
    }
}

impl Drop for AdaptTick {
    fn drop(&mut self) {
        // SAFETY: Started in `start` (type invariant), stopped once, here; this waits for a
        // running `adapt` and keeps it from running again.
        unsafe { ffi::pcpu_array_tick_stop(self.tick.as_ptr()) };
        // SAFETY: From `Arc::into_raw` (type invariant), and `adapt` can no longer use it.
        drop(unsafe { Arc::from_raw(self.shared) });
    }
}

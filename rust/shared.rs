// SPDX-License-Identifier: GPL-2.0

//! What a cache's handle, its shrinker and its CPU hotplug instance share: the per-CPU arrays,
//! the backing cache and the counters, in one reference-counted owner.
//!
//! [`Shared::with_this_cpu`] is the only way to the current CPU's array: it pins the task, takes
//! this CPU's counters and tries the CPU's lock. [`drain`] is the only loop that gives
//! an array's objects back to the backing cache. Everything above (the allocation policy in
//! `crate::cache`, the shrinker, the hotplug teardown) is built on these two.

use crate::{
    backing::BackingCache,
    cpu_array::{
        Batch,
        CpuArray,
        BATCH_MAX, //
    },
    cpu_pin::CpuPin,
    cpu_work::CpuWorks,
    local_trylock::PerCpuTryLock,
    placement::{
        cpu_node,
        Placement, //
    },
    stats::{
        Stat,
        Stats,
        StatsTable,
        ThisCpuStats, //
    },
};
use kernel::{
    prelude::*,
    sync::atomic::Atomic, //
};

/// The arrays, the backing cache and the counters of one cache.
///
/// Owned through an `Arc` by the cache handle (`crate::cache::Cache`), its shrinker and its
/// hotplug instance; the last one to let go flushes every array and destroys the backing cache.
pub(crate) struct Shared {
    // Dropped after `Drop::drop` has emptied the arrays: the arrays, then the backing cache.
    arrays: PerCpuTryLock<CpuArray>,
    pub(crate) backing: BackingCache,
    /// Which objects the arrays may hold and which allocations they may serve.
    pub(crate) placement: Placement,
    pub(crate) stats: StatsTable,
    /// Objects each CPU's array holds at most.
    pub(crate) capacity: usize,
    /// Objects a refill brings and a flush takes away: half the capacity, at least one.
    pub(crate) batch: usize,
    /// The work items that flush the arrays on their CPUs, for the shrinker and
    /// `pcpu_array_shrink()` (`crate::shrink`).
    pub(crate) works: CpuWorks,
    /// The CPU whose array the shrinker looks at first next time, so that successive partial
    /// scans take their turns on every CPU (`crate::shrink`).
    pub(crate) shrink_cursor: Atomic<u32>,
}

impl Shared {
    /// An empty array of `capacity` objects for every possible CPU in front of `backing`, and
    /// zeroed counters. The arrays show their objects to KASAN as freed unless `rcu_readers`
    /// (a `SLAB_TYPESAFE_BY_RCU` cache, whose freed objects RCU readers may still read).
    pub(crate) fn new(
        backing: BackingCache,
        placement: Placement,
        capacity: usize,
        batch: usize,
        rcu_readers: bool,
    ) -> Result<Self> {
        let obj_size = backing.object_size();
        let arrays = PerCpuTryLock::new(|cpu| {
            let array = if rcu_readers {
                CpuArray::new(capacity)
            } else {
                CpuArray::poisoning(capacity, obj_size)
            };
            array.on_node(cpu_node(cpu))
        })?;
        Ok(Self {
            arrays,
            backing,
            placement,
            stats: StatsTable::new()?,
            capacity,
            batch,
            works: CpuWorks::new()?,
            shrink_cursor: Atomic::new(0),
        })
    }

    /// Runs `f` on the current CPU's array with its lock held, and records how many objects the
    /// array holds afterwards.
    ///
    /// Returns `None`, after counting `bypass` when given, if the lock is already held on this
    /// CPU (an interrupted holder, or another task on PREEMPT_RT): the caller must then go
    /// around the array. Never spins. `f` runs pinned with the lock held: it must not sleep.
    #[inline(always)]
    pub(crate) fn with_this_cpu<R>(
        &self,
        bypass: Option<Stat>,
        f: impl FnOnce(&mut CpuArray, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let pin = CpuPin::new();
        let stats = self.stats.this_cpu(&pin);
        let Some(mut array) = self.arrays.try_lock(&pin) else {
            if let Some(stat) = bypass {
                stats.inc(stat);
            }
            return None;
        };
        let r = f(&mut array, stats);
        stats.set(Stat::ObjectsCached, array.len() as u64);
        Some(r)
    }

    /// Counts `n` of `stat` on the current CPU.
    #[inline]
    pub(crate) fn count(&self, stat: Stat, n: u64) {
        let pin = CpuPin::new();
        self.stats.this_cpu(&pin).add(stat, n);
    }

    /// The counters, summed over every CPU.
    pub(crate) fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Gives the objects of `batch` back to the backing cache.
    pub(crate) fn free_batch(&self, batch: &mut Batch) {
        free_batch(&self.backing, batch);
    }

    /// Gives up to `budget` objects of the current CPU's array back to the backing cache, the
    /// oldest first (the least recently freed, whose cache lines are the coldest), counting
    /// them as `stat`. Returns how many. Stops early when the array's lock is held.
    pub(crate) fn flush_this_cpu(&self, stat: Stat, budget: usize) -> usize {
        let mut left = budget;
        drain(&self.backing, |batch| {
            self.with_this_cpu(None, |array, stats| {
                let n = array.take_oldest_into(left.min(BATCH_MAX), batch);
                stats.add(stat, n as u64);
                n
            })
            .inspect(|&n| left -= n)
            .unwrap_or(0)
        })
    }

    /// Gives a dead CPU's array back to the backing cache, without its lock.
    ///
    /// # Safety
    ///
    /// `cpu` must be dead (no context can hold or take its lock), and calls for the same CPU
    /// must not run concurrently (the hotplug core serialises its teardowns).
    pub(crate) unsafe fn flush_dead_cpu(&self, cpu: u32) {
        // SAFETY: Guaranteed by the caller.
        let Some(array) = (unsafe { self.arrays.value_of_dead_cpu(cpu) }) else {
            return;
        };
        let flushed = drain(&self.backing, |batch| array.take_into(BATCH_MAX, batch));
        if let Some(s) = self.stats.on_cpu(cpu) {
            s.set(Stat::ObjectsCached, 0);
            s.add(Stat::CpuDeadFlush, flushed as u64);
        }
    }

    /// Tries the current CPU's lock without touching anything, for the tests that play an
    /// interrupted lock holder.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn hold_this_cpu<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let pin = CpuPin::new();
        let _guard = self.arrays.try_lock(&pin)?;
        Some(f())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Every CPU's array goes back to the backing cache before it is destroyed (the 2023
        // patch destroyed the cache first). `&mut self`: the handle, the shrinker and the
        // hotplug instance are gone, so no other context can reach an array.
        let Self {
            arrays, backing, ..
        } = self;
        arrays.for_each_mut(|_, array| {
            drain(backing, |batch| array.take_into(BATCH_MAX, batch));
        });
        let in_use = self.stats.snapshot().in_use();
        if in_use != 0 {
            pr_warn!("cache destroyed with {} objects still allocated\n", in_use);
        }
    }
}

/// Gives the objects of `batch` back to `backing`.
fn free_batch(backing: &BackingCache, batch: &mut Batch) {
    // SAFETY: A batch's objects are live objects of the backing cache owned by whoever filled
    // it, who hands them over here; every caller's batch was filled from `backing` or from an
    // array in front of it.
    batch.drain_with(|objs| unsafe { backing.free_bulk(objs) });
}

/// Gives objects back to `backing`, [`BATCH_MAX`] at a time, until `take` (which moves up to
/// that many objects of `backing` into the batch it is given and says how many) comes up short.
/// Each bulk free runs after `take` has returned, so `take` may lock an array and the free still
/// happens unlocked. Returns how many objects went back. The one loop that empties arrays: for
/// the shrinker, the hotplug teardown and destroy.
fn drain(backing: &BackingCache, mut take: impl FnMut(&mut Batch) -> usize) -> usize {
    let mut total = 0;
    loop {
        let mut batch = Batch::new();
        let n = take(&mut batch);
        free_batch(backing, &mut batch);
        total += n;
        if n < BATCH_MAX {
            return total;
        }
    }
}

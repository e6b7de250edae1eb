// SPDX-License-Identifier: GPL-2.0

//! What a cache's handle, its shrinker and its CPU hotplug instance share: the per-CPU
//! magazines, the per-node depots, the backing cache and the counters, in one reference-counted
//! owner.
//!
//! [`CacheState::with_this_cpu`] is the only way to the current CPU's magazines: it pins the task,
//! takes this CPU's counters and tries the CPU's lock. [`drain`] is the only loop that gives
//! a magazine's objects back to the backing cache. Everything above (the allocation policy in
//! `crate::cache::handle`, the shrinker, the hotplug teardown) is built on these two.
//!
//! # The depots
//!
//! Each memory node has a depot: bounded lists of full and empty magazines
//! ([`crate::policy::depot::Depot`]) under a spinlock. A CPU goes to its node's depot only when
//! both of its magazines are exhausted, and only with its own lock dropped: it takes what it
//! needs from the depot ([`CacheState::get_full`], [`CacheState::get_empty_for_full`]),
//! re-locks its magazines, re-checks them (the task may have moved, an interrupt may have
//! changed them, the capacity may have changed: `CpuMagazines::commit_full`,
//! `CpuMagazines::commit_empty`) and gives back what it did not use ([`CacheState::put_full`],
//! [`CacheState::recycle`]). Every decision on the way is the policy's
//! ([`crate::policy::pair::MagazinePair`] describes the phases). The per-CPU lock and the
//! depot lock are therefore never held together, and neither is held across a call into the
//! slab allocator (a new magazine, a bulk call), which is made with both dropped.
//!
//! The depot lock is a spinlock taken with interrupts disabled
//! ([`crate::percpu::irqsave_lock::SpinLockIrqSave`], as SLUB's barn), only where [`depot_allowed`]
//! holds: where the slab bulk calls may be made, in a task or a softirq (an RCU callback freeing
//! objects) with interrupts enabled, and on PREEMPT_RT, where it sleeps, where the task may
//! sleep. No interrupt can take it on a CPU that holds it.

use crate::{
    magazines::{
        capacity::{
            Adaptation,
            Resize, //
        },
        hit::ThisCpu,
        magazine::{
            batch_for,
            Batch,
            CpuMagazines,
            Magazine,
            MagazineBox,
            BATCH_MAX,
            MAX_CAPACITY, //
        },
        rcu::RcuMagazines,
        stats::{
            Stat,
            Stats,
            StatsTable,
            ThisCpuStats, //
        },
    },
    percpu::{
        cpu_pin::{
            CpuPin,
            CpusReadGuard, //
        },
        cpu_work::{
            CpuWorks,
            IfBusy, //
        },
        irqsave_lock::{
            SpinLockIrqSave,
            SpinLockIrqSaveGuard, //
        },
        local_trylock::PerCpuTryLock,
        storage::{
            online_cpus,
            possible_cpus, //
        },
        tick::{
            Periodic,
            Tick, //
        },
    },
    policy::{
        depot::{
            Depot,
            EmptyForFull,
            Refused,
            TrimScope,
            DEPOT_DEFAULT_LIMIT, //
        },
        pair::Stack,
    },
    semantics::{
        backing::BackingCache,
        placement::{
            cpu_node,
            node_ids,
            Placement, //
        },
    },
    sys::abi_types::{
        PcpuArrayCpu,
        PcpuArrayHot, //
    },
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

// A CPU's slot is a `struct pcpu_array_cpu`: its magazines follow the lock where the C ABI puts
// `loaded` (`crate::magazines::magazine` checks the rest), and the slot is no larger.
const _: () = {
    assert!(
        PerCpuTryLock::<CpuMagazines>::VALUE_OFFSET == core::mem::offset_of!(PcpuArrayCpu, loaded)
    );
    assert!(
        PerCpuTryLock::<CpuMagazines>::VALUE_OFFSET + core::mem::size_of::<CpuMagazines>()
            <= core::mem::size_of::<PcpuArrayCpu>()
    );
};

/// One memory node's depot of magazines.
type NodeDepot = SpinLockIrqSave<Depot<MagazineBox>>;

/// The magazines, the depots, the backing cache and the counters of one cache.
///
/// Owned through an `Arc` by the cache handle (`crate::cache::handle::Cache`), its shrinker and its
/// hotplug instance; the last one to let go empties every magazine and destroys the backing
/// cache.
///
/// # Invariants
///
/// Every magazine of `magazines` and `depots` was made by [`CacheState::new_magazine`], and holds
/// only live objects of `backing` that it owns.
pub(crate) struct CacheState {
    // Dropped after `Drop::drop` has emptied every magazine: the magazines, the depots, then
    // the backing cache.
    magazines: PerCpuTryLock<CpuMagazines>,
    /// One per memory node (`nr_node_ids`), indexed by node.
    depots: KVec<Pin<KBox<NodeDepot>>>,
    /// An empty magazine of this cache, copied by [`CacheState::new_magazine`].
    template: Magazine,
    pub(crate) backing: BackingCache,
    /// Which objects the magazines may hold and which allocations they may serve.
    pub(crate) placement: Placement,
    pub(crate) stats: StatsTable,
    /// Objects each magazine holds at most: 1 to `MAX_CAPACITY`, set at creation and through
    /// [`CacheState::set_capacity`].
    capacity: Atomic<usize>,
    /// How the capacity adapts (`crate::magazines::capacity`).
    pub(crate) adaptation: Adaptation,
    /// The work items that flush the magazines on their CPUs, for the shrinker and
    /// `pcpu_array_shrink()` (`crate::reclaim::shrink`).
    pub(crate) works: CpuWorks,
    /// The CPU whose magazines the shrinker looks at first next time, so that successive partial
    /// scans take their turns on every CPU (`crate::reclaim::shrink`).
    pub(crate) shrink_cursor: Atomic<u32>,
    /// The pending and sealed magazines of frees after a grace period (`crate::magazines::rcu`).
    pub(crate) rcu: RcuMagazines,
}

impl CacheState {
    /// Two empty magazines of `capacity` objects for every possible CPU and an empty depot for
    /// every memory node, in front of `backing`, and zeroed counters. The magazines show their
    /// objects to KASAN as freed unless `rcu_readers` (a `SLAB_TYPESAFE_BY_RCU` cache, whose
    /// freed objects RCU readers may still read). The capacity may grow from `capacity` when
    /// `adaptive` (`crate::magazines::capacity`).
    pub(crate) fn new(
        backing: BackingCache,
        placement: Placement,
        capacity: usize,
        adaptive: bool,
        rcu_readers: bool,
    ) -> Result<Self> {
        let template = if rcu_readers {
            Magazine::new(capacity)
        } else {
            Magazine::poisoning(capacity, backing.object_size())
        };
        let magazines = PerCpuTryLock::new(|cpu| {
            let loaded = KBox::new(template.empty_like(), GFP_KERNEL)?;
            let previous = KBox::new(template.empty_like(), GFP_KERNEL)?;
            Ok(CpuMagazines::new(loaded, previous, cpu_node(cpu)))
        })?;
        let nodes = node_ids().max(1);
        let mut depots = KVec::with_capacity(nodes as usize, GFP_KERNEL)?;
        for _ in 0..nodes {
            let depot = KBox::pin_init(
                SpinLockIrqSave::new(
                    Depot::new(DEPOT_DEFAULT_LIMIT),
                    c"pcpu_array_depot",
                    kernel::static_lock_class!(),
                ),
                GFP_KERNEL,
            )?;
            depots.push(depot, GFP_KERNEL)?;
        }
        let stats = StatsTable::new()?;
        let rcu = RcuMagazines::new(template.empty_like().stop_poisoning().unwrap_or(0))?;
        let adaptation = Adaptation::new(capacity, adaptive, stats.snapshot())?;
        // INVARIANT: Every magazine is a copy of `template`, empty; the depots are empty.
        Ok(Self {
            magazines,
            depots,
            template,
            backing,
            placement,
            stats,
            capacity: Atomic::new(capacity),
            adaptation,
            works: CpuWorks::new()?,
            shrink_cursor: Atomic::new(0),
            rcu,
        })
    }

    /// What the inline hit path of consumers reads (`struct pcpu_array_hot`): where every CPU's
    /// lock and magazines, every CPU's counters and the placement checks are. All of them live
    /// as long as `self`.
    pub(crate) fn hot(&self) -> PcpuArrayHot {
        PcpuArrayHot {
            cpu: self.magazines.as_percpu_ptr().cast(),
            stats: self.stats.as_percpu_ptr(),
            checks: self.placement.checks_ptr(),
            // Exact: the size was a `c_uint` when the cache was created.
            object_size: self.backing.object_size() as u32,
        }
    }

    /// Runs `f` on the current CPU's magazines with its lock held, and records how many objects
    /// they hold afterwards.
    ///
    /// Returns `None`, after counting `bypass` when given, if the lock is already held on this
    /// CPU (an interrupted holder, or another task on PREEMPT_RT): the caller must then go
    /// around the magazines. Never spins. `f` runs pinned with the lock held: it must not sleep,
    /// call the slab allocator or take a depot's lock.
    #[inline(always)]
    pub(crate) fn with_this_cpu<R>(
        &self,
        bypass: Option<Stat>,
        f: impl FnOnce(&mut CpuMagazines, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        self.with_this_cpu_raw(bypass, |mags, stats| {
            let r = f(mags, stats);
            stats.set_cached(mags.len() as u64);
            r
        })
    }

    /// As [`CacheState::with_this_cpu`], for the hit paths, which keep `objects_cached` right
    /// themselves (one object in or out is one increment or decrement, cheaper than reading both
    /// magazines' lengths).
    #[inline(always)]
    pub(crate) fn with_this_cpu_raw<R>(
        &self,
        bypass: Option<Stat>,
        f: impl FnOnce(&mut CpuMagazines, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let pin = CpuPin::new();
        let stats = self.stats.this_cpu(&pin);
        let Some(mut mags) = self.magazines.try_lock(&pin) else {
            if let Some(stat) = bypass {
                stats.inc(stat);
            }
            return None;
        };
        Some(f(&mut mags, stats))
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

    /// Objects each magazine holds at most.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity.load(Relaxed)
    }

    /// Objects a refill brings and a flush takes away: half the capacity, at least one.
    #[inline]
    pub(crate) fn batch(&self) -> usize {
        batch_for(self.capacity())
    }

    /// A new empty magazine of this cache, of the capacity now, allocated with `flags`. Never
    /// called with a per-CPU or depot lock held.
    pub(crate) fn new_magazine(&self, flags: kernel::alloc::Flags) -> Result<MagazineBox> {
        let mut magazine = KBox::new(self.template.empty_like(), flags)?;
        // Cannot fail: an empty magazine takes any capacity.
        let _ = magazine.set_capacity(self.capacity());
        Ok(magazine)
    }

    /// Gives `magazine` the capacity now, first giving back to the backing cache the objects
    /// it holds beyond it (its oldest). For a magazine that was on its way through a depot
    /// while the capacity changed. Returns how many objects went back.
    pub(crate) fn fit(&self, magazine: &mut MagazineBox) -> usize {
        let capacity = self.capacity();
        let mut freed = 0;
        while let Err(excess) = magazine.set_capacity(capacity) {
            let mut batch = Batch::new();
            freed += magazine.take_oldest_into(excess.min(BATCH_MAX), &mut batch);
            self.free_batch(&mut batch);
        }
        freed
    }

    /// Changes the capacity of every magazine to `capacity` (1 to `MAX_CAPACITY`), for the
    /// debugfs `capacity` file: empties the depots, then has each online CPU give back what
    /// its magazines hold beyond the new capacity, and resizes the magazines of the offline
    /// CPUs, with CPU hotplug held off. A magazine on its way through a depot meanwhile is
    /// fitted when it reaches the depot or a CPU: each takes the capacity it reads under the
    /// depot's lock (`Depot::put_full`, `Depot::put_empty`) or the CPU's
    /// (`CpuMagazines::commit_full`, `CpuMagazines::commit_empty`), so that none of the old
    /// capacity arrives after its depot was emptied or its CPU resized here. May sleep.
    /// `EINVAL` outside the bounds.
    pub(crate) fn set_capacity(&self, capacity: usize) -> Result {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(EINVAL);
        }
        let _hotplug_held_off = CpusReadGuard::new();
        self.capacity.store(capacity, Relaxed);
        self.trim_depots(usize::MAX, TrimScope::All);
        self.works.run(
            IfBusy::Wait,
            self,
            |s, _| s.resize_this_cpu(),
            || online_cpus().map(|cpu| (cpu, 0)),
        );
        let online = |cpu| online_cpus().any(|c| c == cpu);
        for cpu in possible_cpus().filter(|&cpu| !online(cpu)) {
            // SAFETY: With CPU hotplug held off, an offline CPU is dead and its teardown done:
            // nothing holds or takes its lock, and no teardown runs for it concurrently.
            if let Some(mags) = unsafe { self.magazines.value_of_dead_cpu(cpu) } {
                drain(&self.backing, |batch| {
                    mags.take_oldest_into(BATCH_MAX, batch)
                });
                // Cannot fail: drained, the magazines are empty.
                let _ = mags.set_capacity(capacity);
            }
        }
        self.count(Stat::CapacityResize, 1);
        Ok(())
    }

    /// Gives this CPU's magazines the capacity now, giving back to the backing cache the
    /// oldest objects they hold beyond it. Returns how many went back. Gives up when this CPU's
    /// lock stays held (PREEMPT_RT): the magazines then keep their capacity.
    fn resize_this_cpu(&self) -> usize {
        let capacity = self.capacity();
        let mut freed = 0;
        let mut busy = 0;
        while busy < 8 {
            let mut batch = Batch::new();
            let done = self.with_this_cpu(None, |mags, _| {
                if mags.set_capacity(capacity).is_ok() {
                    return true;
                }
                freed += mags.take_oldest_into(BATCH_MAX, &mut batch);
                false
            });
            self.free_batch(&mut batch);
            match done {
                Some(true) => break,
                Some(false) => {}
                None => busy += 1,
            }
        }
        freed
    }

    /// The depot of memory node `node`, or `None` for a node the kernel does not have.
    fn depot(&self, node: i32) -> Option<&NodeDepot> {
        let node = usize::try_from(node).ok()?;
        self.depots.get(node).map(|d| &**d)
    }

    /// Locks `depot`, counting `depot_contended` when it was held.
    fn lock_depot<'a>(&self, depot: &'a NodeDepot) -> SpinLockIrqSaveGuard<'a, Depot<MagazineBox>> {
        if let Some(guard) = depot.try_lock() {
            return guard;
        }
        self.count(Stat::DepotContended, 1);
        depot.lock()
    }

    /// A full magazine from the depot of `node`, for an allocation that found both of its
    /// magazines empty; `None` (a `depot_miss`) when the depot has none.
    ///
    /// Must be called where [`depot_allowed`] holds.
    pub(crate) fn get_full(&self, node: i32) -> Option<MagazineBox> {
        // The depot's first, then a magazine of frees after a grace period that has ended
        // (`crate::magazines::rcu`): taking those while the depot has full ones would leave the
        // depot no room for the frees that follow, which would then go to the backing cache.
        let got = self
            .depot(node)
            .and_then(|d| self.lock_depot(d).get_full())
            .or_else(|| self.rcu_take_ripe(node));
        match got {
            Some(mut magazine) => {
                self.fit(&mut magazine);
                // Fitting may have emptied it (a capacity change as it went through).
                (!magazine.is_empty()).then_some(magazine)
            }
            None => {
                self.count(Stat::DepotMiss, 1);
                None
            }
        }
    }

    /// An empty magazine for a free that found both of its magazines full, provided the depot
    /// of `node` has room for the full one it will give back: the depot's own, or a new one
    /// (`GFP_NOWAIT`). `None` (a `depot_miss`) when the depot is at its limit or no magazine
    /// could be had: the caller flushes instead.
    ///
    /// Must be called where [`depot_allowed`] holds.
    pub(crate) fn get_empty_for_full(&self, node: i32) -> Option<MagazineBox> {
        let got = self
            .depot(node)
            .map(|d| self.lock_depot(d).get_empty_for_full());
        // Its capacity is set when it is installed (`CpuMagazines::commit_empty`).
        let magazine = match got {
            Some(EmptyForFull::Empty(magazine)) => Some(magazine),
            Some(EmptyForFull::NoEmpty) => self.new_magazine(GFP_NOWAIT).ok(),
            Some(EmptyForFull::Miss) | None => None,
        };
        if magazine.is_none() {
            self.count(Stat::DepotMiss, 1);
        }
        magazine
    }

    /// An empty magazine of the depot of `node`, with the capacity now; `None` when it has
    /// none. Must be called where [`depot_allowed`] holds.
    pub(crate) fn take_empty(&self, node: i32) -> Option<MagazineBox> {
        let got = self
            .depot(node)
            .and_then(|d| self.lock_depot(d).get_empty());
        got.map(|m| self.fitted_empty(m))
    }

    /// `magazine`, an empty one from a depot, with the capacity now, for a dead CPU: CPU
    /// hotplug and `CacheState::set_capacity` exclude each other.
    fn fitted_empty(&self, mut magazine: MagazineBox) -> MagazineBox {
        // Cannot fail: an empty magazine takes any capacity up to `MAX_CAPACITY`.
        let _ = magazine.set_capacity(self.capacity());
        magazine
    }

    /// Gives a full magazine, taken from a CPU of memory node `node`, to that node's depot.
    /// When the depot has no room, the magazine is emptied into the backing cache and kept
    /// empty ([`CacheState::recycle`]). Returns whether the depot took it.
    ///
    /// Must be called where [`depot_allowed`] holds, or from the hotplug teardown.
    pub(crate) fn put_full(&self, node: i32, mut magazine: MagazineBox) -> bool {
        loop {
            self.fit(&mut magazine);
            let refused = match self.depot(node) {
                Some(d) => {
                    let mut depot = self.lock_depot(d);
                    // The capacity read under the lock, where `set_capacity` empties the depot.
                    depot.put_full(magazine, self.capacity()).err()
                }
                None => Some(Refused::Rejected(magazine)),
            };
            match refused {
                None => return true,
                // The capacity shrank since the fit: fit again.
                Some(Refused::Unfit(m)) => magazine = m,
                Some(Refused::Rejected(m)) => {
                    self.recycle(node, m);
                    return false;
                }
            }
        }
    }

    /// Gives a magazine that a CPU no longer uses to the depot of `node` as an empty one, after
    /// emptying it into the backing cache, or frees it when the depot has room for no more.
    /// Returns how many objects went back to the backing cache.
    pub(crate) fn recycle(&self, node: i32, mut magazine: MagazineBox) -> usize {
        let freed = drain(&self.backing, |batch| magazine.take_into(BATCH_MAX, batch));
        if let Some(d) = self.depot(node) {
            let mut depot = self.lock_depot(d);
            // The capacity read under the lock, as in `put_full`.
            let rejected = depot.put_empty(magazine, self.capacity()).err();
            drop(depot);
            // Freed with the lock dropped.
            drop(rejected);
        }
        freed
    }

    /// Objects held by the depots' full magazines.
    pub(crate) fn depot_objects(&self) -> usize {
        self.depots
            .iter()
            .map(|d| d.lock().objects())
            .fold(0, usize::saturating_add)
    }

    /// Full and empty magazines held by the depots.
    pub(crate) fn depot_magazines(&self) -> (usize, usize) {
        self.depots.iter().fold((0, 0), |(full, empty), d| {
            let depot = d.lock();
            (full + depot.full_len(), empty + depot.empty_len())
        })
    }

    /// The most magazines each list of a depot holds.
    pub(crate) fn depot_limit(&self) -> usize {
        self.depots.first().map_or(0, |d| d.lock().limit())
    }

    /// Ends the working-set interval of every depot: what a depot did not use since the
    /// previous call becomes what [`TrimScope::Excess`] may trim. Called by each shrinker scan.
    pub(crate) fn end_depot_intervals(&self) {
        for d in &self.depots {
            self.lock_depot(d).end_interval();
        }
    }

    /// Gives up to `budget` objects of the depots' magazines back to the backing cache, whole
    /// magazines only, the oldest full ones first, within `scope`; frees the magazines, and the
    /// empty ones in `scope` too. Returns how many objects went back (counted as `depot_trim`).
    /// Each magazine is emptied and freed with the depot's lock dropped.
    pub(crate) fn trim_depots(&self, budget: usize, scope: TrimScope) -> usize {
        let mut left = budget;
        let mut freed = 0;
        for d in &self.depots {
            loop {
                let Some(mut magazine) = self.lock_depot(d).trim(&mut left, scope) else {
                    break;
                };
                freed += drain(&self.backing, |batch| magazine.take_into(BATCH_MAX, batch));
            }
        }
        if freed != 0 {
            self.count(Stat::DepotTrim, freed as u64);
        }
        freed
    }

    /// Gives up to `budget` objects of the current CPU's magazines back to the backing cache,
    /// the oldest first (the least recently freed, whose cache lines are the coldest), counting
    /// them as `stat`. Returns how many. Stops early when the CPU's lock is held.
    pub(crate) fn flush_this_cpu(&self, stat: Stat, budget: usize) -> usize {
        let mut left = budget;
        drain(&self.backing, |batch| {
            self.with_this_cpu(None, |mags, stats| {
                let n = mags.take_oldest_into(left.min(BATCH_MAX), batch);
                stats.add(stat, n as u64);
                n
            })
            .inspect(|&n| left -= n)
            .unwrap_or(0)
        })
    }

    /// Gives a dead CPU's magazines to its node's depot, without its lock: each magazine that
    /// holds objects is swapped for an empty one (the depot's, or a new one) and goes to the
    /// depot whole. What the depot has no room for, or what cannot be swapped, goes back to the
    /// backing cache (`cpu_dead_flush`).
    ///
    /// # Safety
    ///
    /// `cpu` must be dead (no context can hold or take its lock), and calls for the same CPU
    /// must not run concurrently (the hotplug core serialises its teardowns).
    pub(crate) unsafe fn flush_dead_cpu(&self, cpu: u32) {
        // SAFETY: Guaranteed by the caller.
        let Some(mags) = (unsafe { self.magazines.value_of_dead_cpu(cpu) }) else {
            return;
        };
        let node = mags.node();
        let mut flushed = 0;
        let mut put = 0;
        let mut each = |slot: &mut MagazineBox| {
            if slot.is_empty() {
                return;
            }
            let empty = self
                .depot(node)
                .and_then(|d| self.lock_depot(d).get_empty())
                .map(|m| self.fitted_empty(m))
                .or_else(|| self.new_magazine(GFP_KERNEL).ok());
            match empty {
                Some(empty) => {
                    let full = core::mem::replace(slot, empty);
                    let objects = Stack::len(&*full);
                    if self.put_full(node, full) {
                        put += 1;
                    } else {
                        // The depot had no room: its objects went to the backing cache.
                        flushed += objects;
                    }
                }
                None => flushed += drain(&self.backing, |batch| slot.take_into(BATCH_MAX, batch)),
            }
        };
        // SAFETY: What replaces a magazine is empty and from `new_magazine` (type invariant of
        // the depot's magazines, or made just above).
        unsafe { mags.for_each_magazine(&mut each) };
        if let Some(s) = self.stats.on_cpu(cpu) {
            s.set_cached(0);
            s.add(Stat::CpuDeadFlush, flushed as u64);
            s.add(Stat::DepotPut, put);
        }
    }

    /// Prepares the magazines of `cpu`, about to come online, for the memory node it has now
    /// (`cpu_to_mem()`), which may not be the one it had when the cache was created: a CPU
    /// hot-added to a node, or brought back after its node changed. Its magazines are empty
    /// (they went to the depot when it died, or it never ran); anything left in them goes back
    /// to the backing cache first.
    ///
    /// # Safety
    ///
    /// `cpu` must be offline (no context can hold or take its lock), and calls for the same CPU
    /// must not run concurrently (the hotplug core serialises its callbacks).
    pub(crate) unsafe fn prepare_cpu(&self, cpu: u32) {
        // SAFETY: Guaranteed by the caller.
        let Some(mags) = (unsafe { self.magazines.value_of_dead_cpu(cpu) }) else {
            return;
        };
        let node = cpu_node(cpu);
        if mags.node() == node {
            return;
        }
        let flushed = drain(&self.backing, |batch| {
            mags.take_oldest_into(BATCH_MAX, batch)
        });
        mags.set_node(node);
        if let Some(s) = self.stats.on_cpu(cpu) {
            s.set_cached(0);
            s.add(Stat::CpuDeadFlush, flushed as u64);
        }
    }

    /// Sets the memory node of `cpu`'s magazines to `node`, whatever the CPU's node: for the
    /// tests that play a CPU whose node changed. `false` while they hold objects.
    ///
    /// # Safety
    ///
    /// As [`CacheState::prepare_cpu`].
    #[cfg(pcpu_array_kunit)]
    pub(crate) unsafe fn set_offline_cpu_node(&self, cpu: u32, node: i32) -> bool {
        // SAFETY: Guaranteed by the caller.
        unsafe { self.magazines.value_of_dead_cpu(cpu) }.is_some_and(|mags| mags.set_node(node))
    }

    /// Sets the capacity without resizing anything, for the tests that play a magazine that was
    /// on its way through a depot while the capacity changed.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn store_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Relaxed);
    }

    /// The memory node of the current CPU's magazines; `None` when its lock is held.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn this_cpu_node(&self) -> Option<i32> {
        self.with_this_cpu(None, |mags, _| mags.node())
    }

    /// Sets the memory node of the current CPU's magazines to `node`, for the tests that play a
    /// CPU whose node changed: `Some(false)` while they hold objects, `None` when the lock is
    /// held.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn set_this_cpu_node(&self, node: i32) -> Option<bool> {
        self.with_this_cpu(None, |mags, _| mags.set_node(node))
    }

    /// Tries the current CPU's lock without touching anything, for the tests that play an
    /// interrupted lock holder.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn hold_this_cpu<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let pin = CpuPin::new();
        let _guard = self.magazines.try_lock(&pin)?;
        Some(f())
    }
}

impl ThisCpu for CacheState {
    #[inline(always)]
    fn checks(&self) -> i64 {
        self.placement.checks()
    }

    #[inline(always)]
    fn pop_loaded(&self) -> Option<Option<NonNull<c_void>>> {
        self.with_this_cpu_raw(Some(Stat::AllocBypassTrylock), |mags, stats| {
            let obj = mags.pop_loaded();
            if obj.is_some() {
                stats.inc(Stat::AllocArray);
            }
            obj
        })
    }

    #[inline(always)]
    unsafe fn push_loaded(&self, obj: NonNull<c_void>) -> Option<bool> {
        self.with_this_cpu_raw(Some(Stat::FreeBypassTrylock), |mags, stats| {
            // SAFETY: Guaranteed by the caller: an object of the backing cache, handed over, of
            // this CPU's node when the cache keeps nodes apart.
            let pushed = unsafe { mags.push_loaded(obj) }.is_ok();
            if pushed {
                stats.inc(Stat::FreeArray);
            }
            pushed
        })
    }

    #[inline]
    fn zero(&self, obj: NonNull<c_void>) {
        let size = self.backing.object_size();
        // SAFETY: `obj` is a live object of the backing cache, whose objects are `object_size()`
        // bytes, owned by the caller (the trait's contract).
        unsafe { core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0, size) };
    }
}

impl Resize for CacheState {
    fn stats(&self) -> Stats {
        CacheState::stats(self)
    }

    fn capacity(&self) -> usize {
        CacheState::capacity(self)
    }

    fn set_capacity(&self, capacity: usize) -> Result {
        CacheState::set_capacity(self, capacity)
    }
}

impl CacheState {
    /// Ends an adaptation interval: the capacity the adaptation decides on, applied
    /// (`crate::magazines::capacity`). Returns the new capacity when it changed. May sleep.
    pub(crate) fn adapt_capacity(&self) -> Result<Option<usize>> {
        self.adaptation.adapt(self)
    }

    /// Sets the capacity by hand (the debugfs `capacity` file), which also becomes the floor of
    /// the adaptation. May sleep. `EINVAL` outside 1 to `MAX_CAPACITY`.
    pub(crate) fn set_capacity_by_hand(&self, capacity: usize) -> Result {
        self.adaptation.set_by_hand(self, capacity)
    }

    /// The bounds the capacity adapts within (`crate::magazines::capacity`).
    pub(crate) fn capacity_bounds(&self) -> (usize, usize) {
        self.adaptation.bounds()
    }
}

/// The periodic work item that adapts a cache's capacity (`crate::magazines::capacity`) and
/// trims its ripe sealed magazines beyond their bound (`crate::magazines::sealed`),
/// holding a reference to the cache's state.
pub(crate) type AdaptTick = Tick<CacheState>;

impl Periodic for CacheState {
    fn tick(&self) {
        // A failed resize (memory) keeps the old capacity; the next interval tries again.
        let _ = self.adapt_capacity();
        self.rcu_trim_excess();
    }
}

impl Drop for CacheState {
    fn drop(&mut self) {
        // Every magazine goes back to the backing cache before it is destroyed (the 2023 patch
        // destroyed the cache first). `&mut self`: the handle, the shrinker and the hotplug
        // instance are gone, so no other context can reach a magazine; the RCU callbacks are
        // done (`Registrations` waited for them). The objects freed after a grace period first,
        // once it has ended.
        self.rcu_teardown();
        self.trim_depots(usize::MAX, TrimScope::All);
        let Self {
            magazines, backing, ..
        } = self;
        magazines.for_each_mut(|_, mags| {
            drain(backing, |batch| mags.take_oldest_into(BATCH_MAX, batch));
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
/// Each bulk free runs after `take` has returned, so `take` may lock a CPU's magazines and the
/// free still happens unlocked. Returns how many objects went back. The one loop that empties
/// magazines: for the shrinker, the depots, the hotplug teardown and destroy.
pub(crate) fn drain(backing: &BackingCache, mut take: impl FnMut(&mut Batch) -> usize) -> usize {
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

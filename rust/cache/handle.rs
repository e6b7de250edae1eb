// SPDX-License-Identifier: GPL-2.0

//! The cache: the allocation policy of the per-CPU magazines in front of the backing
//! `kmem_cache`.
//!
//! # Layers
//!
//! 1. Each possible CPU has two magazines ([`CpuMagazines`]: a loaded one and a previous one)
//!    behind its own `local_trylock_t`. An allocation pops from the loaded one and a free pushes
//!    onto it; when it is empty (allocation) or full (free) and the previous one is not, the two
//!    swap.
//! 2. When both are exhausted, the CPU goes to its memory node's depot (`crate::magazines::state`): an
//!    allocation swaps its empty loaded magazine for a full one, a free swaps its full loaded
//!    magazine for an empty one, with no bulk call.
//! 3. Only when the depot has nothing to give (allocation) or no room to take (free), or the
//!    context may not use it, does the CPU use the backing cache's bulk API: a refill by half,
//!    a flush by half.
//!
//! # Locking and context
//!
//! A CPU's magazines are reached only through [`CacheState::with_this_cpu`]: it pins the task and
//! *tries* the lock of the pinned CPU; when the attempt fails (an interrupt arrived while this
//! CPU's lock was held, or on PREEMPT_RT another task on this CPU holds it) the operation goes
//! to the backing cache instead. Nothing ever spins on a per-CPU lock and no object is lost on
//! any path.
//!
//! Lock order: the per-CPU lock is innermost, and never held together with a depot's lock. The
//! backing cache's bulk calls and the allocation of a magazine are never made with either held,
//! nor while pinned: pointers move through an on-stack [`Batch`] of at most [`BATCH_MAX`]
//! entries, and magazines are taken from or given to the depot with the per-CPU lock dropped;
//! then the task pins and locks again, re-checks (it may now be on another CPU, and the
//! magazines may have changed) and gives back whatever no longer fits.
//!
//! Contexts:
//! - `alloc` and `free` may be called from any context the gfp flags allow, interrupts
//!   included. They refill only when the gfp flags allow blocking and not in hard interrupt
//!   context, and flush only with interrupts enabled outside hard interrupts; otherwise a miss
//!   goes to the backing cache for one object.
//! - `alloc_bulk`, `free_bulk` and `prefill` need interrupts enabled, like
//!   `kmem_cache_alloc_bulk()`.
//! - The cache may be dropped in any context but NMI: where the caller may not sleep, the
//!   teardown goes to the module's teardown workqueue (`crate::percpu::deferred::SleepableDrop`).
//!

use crate::{
    magazines::{
        capacity::ADAPT_INTERVAL_MS,
        magazine::{
            Batch,
            BATCH_MAX,
            MAX_CAPACITY, //
        },
        state::{
            AdaptTick,
            CacheState, //
        },
        stats::Stats, //
    },
    percpu::{
        cpu_pin::bulk_allowed,
        deferred::{
            wait_for_deferred_drops,
            ModuleRef,
            SleepableDrop, //
        },
    },
    reclaim::{
        debugfs::CacheDir,
        hotplug::HotplugInstance,
        shrink::Shrinker, //
    },
    semantics::{
        backing::{
            BackingCache,
            Sheaves, //
        },
        gfp::Gfp,
        placement::Placement, //
    },
};
use core::pin::Pin;
use kernel::{
    bindings,
    prelude::*,
    str::CStr,
    sync::Arc, //
};

/// `SLAB_TYPESAFE_BY_RCU`: RCU readers may still read a freed object, so objects parked in an
/// array must not be poisoned for KASAN.
const SLAB_TYPESAFE_BY_RCU: bindings::slab_flags_t =
    1 << bindings::_slab_flag_bits__SLAB_TYPESAFE_BY_RCU;

/// The `SLAB_*` flags a caller may pass: every flag of this kernel (the bits below
/// `_SLAB_FLAGS_LAST_BIT`) but `SLAB_KMALLOC`, which marks the kernel's own kmalloc caches.
const CALLER_SLAB_FLAGS: bindings::slab_flags_t =
    ((1 << bindings::_slab_flag_bits__SLAB_FLAGS_LAST_BIT) - 1)
        & !(1 << bindings::_slab_flag_bits__SLAB_KMALLOC);

/// What a cache is made of. See [`Cache::new`].
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Object size in bytes, non-zero.
    pub size: u32,
    /// Object alignment in bytes (0 for the slab default).
    pub align: u32,
    /// Extra `SLAB_*` flags for the backing cache.
    pub flags: bindings::slab_flags_t,
    /// Objects each CPU's array holds, 1 to [`MAX_CAPACITY`].
    pub capacity: u32,
    /// Whether the backing cache keeps SLUB's sheaves.
    pub sheaves: Sheaves,
    /// Whether the capacity adapts to the traffic (`crate::magazines::capacity`), from `capacity` up to
    /// [`MAX_CAPACITY`]; otherwise it changes only through debugfs.
    pub adaptive: bool,
}

impl Config {
    /// `size`-byte objects, default alignment and flags, no sheaves, an adaptive capacity.
    pub const fn new(size: u32, capacity: u32) -> Self {
        Self {
            size,
            align: 0,
            flags: 0,
            capacity,
            sheaves: Sheaves::Off,
            adaptive: true,
        }
    }
}

/// A cache: a per-CPU array of free objects for every possible CPU in front of a backing
/// `kmem_cache`, with its shrinker, its CPU hotplug instance and its debugfs directory.
///
/// The raw entry points (`alloc`, `free`, ...) serve the C ABI and the typed API of
/// `crate::api::typed`.
///
/// It may be dropped in any context but NMI: the teardown, which sleeps, runs at once where
/// the caller may sleep and otherwise on the module's teardown workqueue
/// (`crate::percpu::deferred::SleepableDrop`).
/// [`Cache::new`] waits for such teardowns first, so that a cache can be created again under
/// the name of one just dropped.
pub struct Cache {
    // `state` first drops a reference that is never the last: `registrations` holds another.
    pub(super) state: Arc<CacheState>,
    #[cfg_attr(
        not(pcpu_array_kunit),
        expect(
            dead_code,
            reason = "held until the teardown; the tests read the shrinker"
        )
    )]
    registrations: SleepableDrop<Registrations>,
}

/// What a cache registered, and the references that must outlive those registrations.
struct Registrations {
    // Fields drop in this order: the adaptation's periodic work, the shrinker and the hotplug
    // instance first (each waits for its running callbacks and lets go of `state`), then the
    // debugfs files, then the wait for the RCU callbacks of frees after a grace period, then
    // `state`, whose last reference flushes every array and destroys the backing cache, and
    // only then the reference to the module.
    #[cfg_attr(
        not(pcpu_array_kunit),
        expect(dead_code, reason = "held for its periodic work; the tests read it")
    )]
    adapt: Option<AdaptTick>,
    #[cfg_attr(
        not(pcpu_array_kunit),
        expect(dead_code, reason = "held for its registration; the tests call it")
    )]
    shrinker: Shrinker,
    _hotplug: Pin<KBox<HotplugInstance>>,
    _debugfs: Option<CacheDir>,
    _rcu_callbacks: RcuCallbacksDone,
    _shared: Arc<CacheState>,
    _module: ModuleRef,
}

/// Waits, when dropped, for the RCU callbacks of the cache's frees after a grace period
/// (`crate::magazines::rcu`): after the shrinker and the hotplug instance, the last that could
/// queue one, and before the state those callbacks use goes.
struct RcuCallbacksDone(Arc<CacheState>);

impl Drop for RcuCallbacksDone {
    fn drop(&mut self) {
        self.0.rcu_barrier();
    }
}

impl Cache {
    /// Creates the backing cache `name` and an empty array of `config.capacity` objects for
    /// every possible CPU, with counters in `/sys/kernel/debug/pcpu_array/<name>/`.
    ///
    /// Fails with `EINVAL` for a zero size, a capacity outside 1..=[`MAX_CAPACITY`], an
    /// alignment that is not a power of two (or 0), or a flag the backing cache cannot take;
    /// `ENODEV` while the module is being unloaded; `ENOMEM` when memory runs out. May sleep:
    /// it first waits for the teardowns of dropped caches still queued, whose backing caches
    /// and debugfs directories may hold `name`.
    pub fn new(name: &CStr, config: Config) -> Result<Self> {
        let capacity = usize::try_from(config.capacity).map_err(|_| EINVAL)?;
        if config.size == 0 || capacity == 0 || capacity > MAX_CAPACITY {
            return Err(EINVAL);
        }
        if config.align != 0 && !config.align.is_power_of_two() {
            return Err(EINVAL);
        }
        if config.flags & !CALLER_SLAB_FLAGS != 0 {
            return Err(EINVAL);
        }
        let module = ModuleRef::get()?;
        wait_for_deferred_drops();
        // The allocations of a `SLAB_ACCOUNT` cache go to the backing cache while accounting is
        // online (`crate::semantics::placement`): it keeps SLUB's sheaves, so that they cost what they cost
        // without this module.
        let sheaves = if crate::semantics::placement::slab_account(config.flags) {
            Sheaves::On
        } else {
            config.sheaves
        };
        let backing = BackingCache::new(name, config.size, config.align, config.flags, sheaves)?;
        let state = CacheState::new(
            backing,
            Placement::new(name, config.flags)?,
            capacity,
            config.adaptive,
            config.flags & SLAB_TYPESAFE_BY_RCU != 0,
        )?;
        let state = Arc::new(state, GFP_KERNEL)?;
        let debugfs = CacheDir::new(name, &state).ok();
        let hotplug = HotplugInstance::register(state.clone())?;
        let shrinker = Shrinker::register(name, state.clone())?;
        let adapt = if config.adaptive {
            Some(AdaptTick::start(state.clone(), ADAPT_INTERVAL_MS)?)
        } else {
            None
        };
        let registrations = SleepableDrop::new(Registrations {
            adapt,
            shrinker,
            _hotplug: hotplug,
            _debugfs: debugfs,
            _rcu_callbacks: RcuCallbacksDone(state.clone()),
            _shared: state.clone(),
            _module: module,
        })?;
        Ok(Self {
            state,
            registrations,
        })
    }

    /// Objects each magazine holds at most (a CPU holds two); the debugfs `capacity` file
    /// changes it.
    pub fn capacity(&self) -> usize {
        self.state.capacity()
    }

    /// Objects a refill brings and a flush takes away: half the capacity.
    pub fn batch(&self) -> usize {
        self.state.batch()
    }

    /// The backing `kmem_cache`.
    pub fn kmem_cache(&self) -> *mut bindings::kmem_cache {
        self.state.backing.as_ptr()
    }

    /// What the inline hit path of consumers reads (`struct pcpu_array_hot`), valid while
    /// the cache lives.
    pub(crate) fn hot(&self) -> crate::sys::abi_types::PcpuArrayHot {
        self.state.hot()
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// The adaptation's tick, for tests; `None` for a cache of fixed capacity.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn adapt_tick(&self) -> Option<&AdaptTick> {
        self.registrations.adapt.as_ref()
    }

    /// The registered shrinker, for tests that call it as reclaim would.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn shrinker(&self) -> &Shrinker {
        &self.registrations.shrinker
    }

    /// What the cache shares with its shrinker and hotplug instance, for tests.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn state(&self) -> &CacheState {
        &self.state
    }

    /// Gives every object parked in every online CPU's array back to the backing cache, each
    /// CPU's on that CPU (only the CPUs whose array holds objects are woken). Returns how many.
    /// May sleep, and waits for a shrinker scan of this cache that is running.
    pub fn shrink(&self) -> usize {
        crate::reclaim::shrink::flush_all(&self.state)
    }

    /// Makes this CPU's array hold at least `count` objects, so that the next `count`
    /// allocations on this CPU are likely served from it.
    ///
    /// Opportunistic, as in the 2023 design: nothing keeps the task on this CPU afterwards, and
    /// an interrupt may take objects first. Callers that need a guarantee reserve instead.
    /// `EINVAL` when `count` exceeds the capacity or interrupts are off, `ENOMEM` when the bulk
    /// allocation fails, `EAGAIN` when the array kept changing under us.
    pub fn prefill(&self, count: usize, gfp: Gfp) -> Result {
        if count > self.state.capacity() || !bulk_allowed() {
            return Err(EINVAL);
        }
        if !self.state.placement.alloc_may_use_array(gfp) {
            // Accounted allocations do not use the arrays (`crate::semantics::placement`): nothing to fill.
            return Ok(());
        }
        for _ in 0..4 {
            let missing = self
                .state
                .with_this_cpu(None, |mags, _| count.saturating_sub(mags.len()))
                .ok_or(EAGAIN)?;
            if missing == 0 {
                return Ok(());
            }
            let mut batch = Batch::new();
            if !self.bulk_into(gfp, missing.min(BATCH_MAX), &mut batch) {
                return Err(ENOMEM);
            }
            // What does not fit, or all of it when the lock was held, goes back.
            self.refill_this_cpu(&mut batch, None, |_, _| ());
            self.state.free_batch(&mut batch);
        }
        Err(EAGAIN)
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "cache_tests.rs"]
mod tests;

// SPDX-License-Identifier: GPL-2.0

//! Per-CPU counters of what the arrays did, summed on read.

use crate::{
    magazines::magazine::MAX_CAPACITY,
    percpu::{
        cpu_pin::CpuPin,
        storage::PerCpu,
        this_cpu, //
    },
    semantics::placement::Bypass,
    sys::abi_types::PcpuArrayStats, //
};
use core::{
    fmt,
    marker::PhantomData, //
};
use kernel::{
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

macro_rules! stats {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// One counter.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(usize)]
        pub enum Stat {
            $($(#[$doc])* $variant,)*
        }

        impl Stat {
            /// Every counter, in the order the files list them.
            pub const ALL: &'static [Stat] = &[$(Stat::$variant,)*];

            /// The counter's name, as in debugfs.
            pub const fn name(self) -> &'static CStr {
                match self {
                    $(Stat::$variant => $name,)*
                }
            }
        }
    };
}

stats! {
    /// Allocations served from a CPU's array.
    AllocArray => c"alloc_array",
    /// Frees that went into a CPU's array.
    FreeArray => c"free_array",
    /// Bulk refills of an array, from an empty array or a prefill.
    ArrayRefill => c"array_refill",
    /// Flushes of half a full array.
    ArrayFlush => c"array_flush",
    /// Allocations that went to the backing cache because this CPU's lock was held.
    AllocBypassTrylock => c"alloc_bypass_trylock",
    /// Frees that went to the backing cache because this CPU's lock was held.
    FreeBypassTrylock => c"free_bypass_trylock",
    /// Node-specific allocations that the array did not serve (another node than the CPU's, or
    /// an empty array), which went to the backing cache.
    AllocBypassNode => c"alloc_bypass_node",
    /// Allocations from an empty array when a refill was not allowed (gfp cannot block, or hard
    /// interrupt context).
    AllocBypassNoBlock => c"alloc_bypass_noblock",
    /// Allocations from an empty array whose bulk refill failed.
    AllocBypassRefillFailed => c"alloc_bypass_refill_failed",
    /// Frees into a full array that could not be flushed (interrupts off or hard interrupt).
    FreeBypassFull => c"free_bypass_full",
    /// Objects that came from the backing cache straight to a caller.
    AllocBacking => c"alloc_backing",
    /// Objects that went from a caller straight to the backing cache.
    FreeBacking => c"free_backing",
    /// Objects given back to the backing cache because their CPU went offline.
    CpuDeadFlush => c"cpu_dead_flush",
    /// Objects given back to the backing cache by `pcpu_array_shrink()` or the shrinker.
    ShrinkFlush => c"shrink_flush",
    /// Work items queued to flush a CPU's array, by `pcpu_array_shrink()` or the shrinker
    /// (counted on the CPU that queued them): each wakes a kworker on the CPU it flushes.
    ShrinkWork => c"shrink_work",
    /// Frees of an object of another memory node than the CPU's, which went to the backing
    /// cache.
    FreeRemoteNode => c"free_remote_node",
    /// Objects of a refill that were of another memory node, given back at once.
    RefillRemoteNode => c"refill_remote_node",
    /// Allocations that may be charged to a memory cgroup, which went to the backing cache.
    AllocBypassMemcg => c"alloc_bypass_memcg",
    /// Frees of a cache whose objects may be charged to a memory cgroup, which went to the
    /// backing cache.
    FreeBypassMemcg => c"free_bypass_memcg",
    /// Frees of an object from the memory reserves (a pfmemalloc slab), which went to the
    /// backing cache.
    FreeBypassPfmemalloc => c"free_bypass_pfmemalloc",
    /// Frees of KFENCE objects, which go to the backing cache and from there to KFENCE.
    FreeBypassKfence => c"free_bypass_kfence",
    /// Full magazines an allocation took from its node's depot, instead of a bulk refill.
    DepotGet => c"depot_get",
    /// Full magazines a free (or a dead CPU) gave to its node's depot, instead of a bulk flush.
    DepotPut => c"depot_put",
    /// Depot requests that went to the bulk API: an allocation that found no full magazine, a
    /// free that found the depot's full list at its limit or could get no empty magazine.
    DepotMiss => c"depot_miss",
    /// Depot lock acquisitions that found the lock held and had to wait.
    DepotContended => c"depot_contended",
    /// Objects given back to the backing cache from a depot, by the shrinker or
    /// `pcpu_array_shrink()`.
    DepotTrim => c"depot_trim",
    /// Changes of the magazine capacity (the debugfs `capacity` file).
    CapacityResize => c"capacity_resize",
    /// Objects freed after an RCU grace period (`pcpu_array_free_rcu()`), counted when freed.
    FreeRcu => c"free_rcu",
    /// Pending magazines of frees after a grace period that were sealed with a grace-period
    /// cookie (full, or at a shrink or a CPU's death).
    RcuSeal => c"rcu_seal",
    /// Sealed magazines whose grace period had ended that an allocation took instead of a
    /// depot trade or a refill.
    RcuReuse => c"rcu_reuse",
    /// Sealed magazines handed to `call_rcu_hurry()`: their node's list was full, or the
    /// context could not take its lock, or their objects go to the backing cache.
    RcuCallback => c"rcu_callback",
    /// Objects freed after a grace period on their own (a `call_rcu()` each, or a wait), when
    /// no pending magazine could take them.
    RcuFallback => c"rcu_fallback",
    /// Objects of sealed magazines given back to the backing cache by the shrinker or
    /// `pcpu_array_shrink()`.
    RcuTrim => c"rcu_trim",
    /// Objects a CPU's two magazines hold now (a level, not an event count). Derived when read
    /// (see [`CpuStats`]), so that the hit paths write one counter, not two.
    ObjectsCached => c"objects_cached",
}

/// The number of counters.
pub(crate) const NR_STATS: usize = Stat::ALL.len();

impl From<Bypass> for Stat {
    fn from(why: Bypass) -> Self {
        match why {
            Bypass::Pfmemalloc => Stat::FreeBypassPfmemalloc,
            Bypass::Memcg => Stat::FreeBypassMemcg,
            Bypass::Kfence => Stat::FreeBypassKfence,
        }
    }
}

// The counters the inline hit path of consumers increments, by index (`PCPU_ARRAY_STAT_*`).
const _: () = {
    assert!(Stat::AllocArray as usize == crate::sys::abi_types::STAT_ALLOC_ARRAY);
    assert!(Stat::FreeArray as usize == crate::sys::abi_types::STAT_FREE_ARRAY);
    assert!(core::mem::offset_of!(CpuStats, counters) == 0);
};

/// One CPU's counters.
///
/// Each is written by its own CPU, through [`ThisCpuStats`] (`this_cpu_add()`, one instruction
/// on x86-64 that an interrupt cannot split), and by the CPU hotplug teardown once the CPU is
/// dead; any CPU reads them.
///
/// The slot of [`Stat::ObjectsCached`] holds a base, not the level: the level is `base +
/// free_array - alloc_array` (wrapping). A hit moves one object and counts one `alloc_array` or
/// `free_array`, which moves the level with it; every other change of a CPU's magazines is
/// followed, under the CPU's lock, by [`ThisCpuStats::set_cached`], which sets the base from the
/// level it is given. While the CPU's lock is held only its holder changes those three counters
/// (an interrupt that finds the lock held bypasses the magazines), so the base is exact. A
/// reader on another CPU may see the three at slightly different moments, as it may see any
/// two counters; [`CpuStats::get`] clamps the level to what two magazines can hold.
#[repr(C)]
pub(crate) struct CpuStats {
    counters: [Atomic<u64>; NR_STATS],
}

impl CpuStats {
    /// All counters zero.
    pub(crate) fn new() -> Self {
        Self {
            counters: [const { Atomic::new(0) }; NR_STATS],
        }
    }

    /// Adds `n` to `stat` of a CPU that cannot update its own counters (it is dead).
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        let c = &self.counters[stat as usize];
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Sets the `objects_cached` level of a CPU that cannot update its own counters (it is
    /// dead).
    pub(crate) fn set_cached(&self, level: u64) {
        let base = level
            .wrapping_sub(self.raw(Stat::FreeArray))
            .wrapping_add(self.raw(Stat::AllocArray));
        self.counters[Stat::ObjectsCached as usize].store(base, Relaxed);
    }

    /// The stored value of `stat` (for `objects_cached`, the base).
    fn raw(&self, stat: Stat) -> u64 {
        self.counters[stat as usize].load(Relaxed)
    }

    /// Reads `stat`.
    pub(crate) fn get(&self, stat: Stat) -> u64 {
        if stat != Stat::ObjectsCached {
            return self.raw(stat);
        }
        let level = self
            .raw(Stat::ObjectsCached)
            .wrapping_add(self.raw(Stat::FreeArray))
            .wrapping_sub(self.raw(Stat::AllocArray));
        level.min(2 * MAX_CAPACITY as u64)
    }
}

/// Every CPU's counters.
pub(crate) struct StatsTable {
    cpus: PerCpu<CpuStats>,
}

impl StatsTable {
    /// Zeroed counters for every possible CPU.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            cpus: PerCpu::new(|_| Ok::<_, Error>(CpuStats::new()))?,
        })
    }

    /// The counters of `cpu`, or `None` when it is not possible.
    pub(crate) fn on_cpu(&self, cpu: u32) -> Option<&CpuStats> {
        self.cpus.on_cpu(cpu)
    }

    /// `stat` of each online CPU, with the CPU. Racy against CPU hotplug.
    pub(crate) fn online(&self, stat: Stat) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.cpus.online().map(move |(cpu, c)| (cpu, c.get(stat)))
    }

    /// The `__percpu` address of every CPU's counters, an array of `u64` indexed by [`Stat`]:
    /// for the inline hit path of consumers, which counts its hits with `this_cpu_inc()`.
    pub(crate) fn as_percpu_ptr(&self) -> *mut u64 {
        self.cpus.as_percpu_ptr().cast()
    }

    /// The counters of the CPU `pin` holds the task on.
    #[inline]
    pub(crate) fn this_cpu<'a>(&'a self, _pin: &'a CpuPin) -> ThisCpuStats<'a> {
        // INVARIANT: The base of our live per-CPU counters; `pin` is borrowed for `'a`.
        ThisCpuStats {
            base: self.cpus.as_percpu_ptr().cast(),
            _p: PhantomData,
        }
    }

    /// A snapshot of every counter, summed over the CPUs.
    pub(crate) fn snapshot(&self) -> Stats {
        let mut s = Stats {
            totals: [0; NR_STATS],
        };
        self.cpus.for_each(|_, c| {
            for (i, t) in s.totals.iter_mut().enumerate() {
                *t = t.wrapping_add(c.get(Stat::ALL[i]));
            }
        });
        s
    }

    /// Writes `stat` as slub's statistics files do: the total, then `C<cpu>=<n>` for each CPU
    /// with a non-zero count.
    pub(crate) fn write_stat(&self, stat: Stat, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut total = 0u64;
        self.cpus
            .for_each(|_, c| total = total.wrapping_add(c.get(stat)));
        write!(f, "{total}")?;
        let mut res = Ok(());
        self.cpus.for_each(|cpu, c| {
            let v = c.get(stat);
            if v != 0 && res.is_ok() {
                res = write!(f, " C{cpu}={v}");
            }
        });
        res?;
        writeln!(f)
    }
}

/// The counters of the current CPU, updated with `this_cpu_*()` operations.
///
/// # Invariants
///
/// `base` is the `__percpu` address of a live `PerCpu<CpuStats>`, and the task stays pinned
/// for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct ThisCpuStats<'a> {
    base: *mut CpuStats,
    _p: PhantomData<(&'a StatsTable, &'a CpuPin)>,
}

impl ThisCpuStats<'_> {
    /// The `__percpu` address of `stat`.
    #[inline(always)]
    fn counter(&self, stat: Stat) -> *mut u64 {
        // `Atomic<u64>` has the layout of `u64`; the address is only computed here.
        self.base
            .cast::<u64>()
            .wrapping_add(core::mem::offset_of!(CpuStats, counters) / 8 + stat as usize)
    }

    /// Adds `n` to `stat`.
    #[inline(always)]
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        // SAFETY: A `__percpu` counter of a live table (type invariant), written only with
        // `this_cpu_*()` by its CPU, read atomically; we are pinned.
        unsafe { this_cpu::add_u64(self.counter(stat), n) };
    }

    /// Adds one to `stat`.
    #[inline(always)]
    pub(crate) fn inc(&self, stat: Stat) {
        // SAFETY: As in `add`.
        unsafe { this_cpu::inc_u64(self.counter(stat)) };
    }

    /// Sets this CPU's `objects_cached` level (see [`CpuStats`]). Must be called with this
    /// CPU's lock held, so that nothing else changes `alloc_array` or `free_array` meanwhile.
    #[inline(always)]
    pub(crate) fn set_cached(&self, level: u64) {
        // SAFETY: As in `add`; the reads are of this CPU's counters, which only the lock's
        // holder changes.
        let base = unsafe {
            level
                .wrapping_sub(this_cpu::read_u64(self.counter(Stat::FreeArray)))
                .wrapping_add(this_cpu::read_u64(self.counter(Stat::AllocArray)))
        };
        // SAFETY: As in `add`.
        unsafe { this_cpu::write_u64(self.counter(Stat::ObjectsCached), base) };
    }
}

/// Counters summed over every CPU, at one moment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stats {
    totals: [u64; NR_STATS],
}

impl Stats {
    /// The counters of the C ABI's `struct pcpu_array_stats`.
    pub(crate) fn to_abi(self) -> PcpuArrayStats {
        PcpuArrayStats {
            alloc_array: self.get(Stat::AllocArray),
            free_array: self.get(Stat::FreeArray),
            array_refill: self.get(Stat::ArrayRefill),
            array_flush: self.get(Stat::ArrayFlush),
            alloc_backing: self.get(Stat::AllocBacking),
            free_backing: self.get(Stat::FreeBacking),
            objects_cached: self.get(Stat::ObjectsCached),
        }
    }

    /// One counter's total.
    pub fn get(&self, stat: Stat) -> u64 {
        self.totals[stat as usize]
    }

    /// How much `stat` grew since `earlier`.
    pub fn since(&self, earlier: &Stats, stat: Stat) -> u64 {
        self.get(stat).wrapping_sub(earlier.get(stat))
    }

    /// Objects handed out and not yet freed, according to the counters.
    pub fn in_use(&self) -> i64 {
        let allocs = self.get(Stat::AllocArray) + self.get(Stat::AllocBacking);
        let frees =
            self.get(Stat::FreeArray) + self.get(Stat::FreeBacking) + self.get(Stat::FreeRcu);
        allocs.wrapping_sub(frees) as i64
    }
}

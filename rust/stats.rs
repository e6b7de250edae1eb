// SPDX-License-Identifier: GPL-2.0

//! Per-CPU counters of what the arrays did, summed on read.

use crate::{
    cpu_pin::CpuPin,
    percpu::PerCpu, //
};
use core::fmt;
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
    /// Allocations served from a CPU's array (the seed's name).
    AllocCpuCache => c"alloc_cpu_cache",
    /// Frees that went into a CPU's array.
    FreeCpuCache => c"free_cpu_cache",
    /// Bulk refills of an array, from an empty array or a prefill.
    CpuCacheRefill => c"cpu_cache_refill",
    /// Flushes of half a full array.
    CpuCacheFlush => c"cpu_cache_flush",
    /// Allocations that went to the backing cache because this CPU's lock was held.
    AllocBypassTrylock => c"alloc_bypass_trylock",
    /// Frees that went to the backing cache because this CPU's lock was held.
    FreeBypassTrylock => c"free_bypass_trylock",
    /// Node-specific allocations, which always go to the backing cache.
    AllocBypassNode => c"alloc_bypass_node",
    /// Allocations from an empty array when a refill was not allowed (gfp cannot block, or hard
    /// interrupt context).
    AllocBypassNoBlock => c"alloc_bypass_noblock",
    /// Allocations from an empty array whose bulk refill failed.
    AllocBypassRefillFailed => c"alloc_bypass_refill_failed",
    /// Frees into a full array that could not be flushed (interrupts off or hard interrupt).
    FreeBypassFull => c"free_bypass_full",
    /// Objects that came from the backing cache straight to a caller.
    AllocBackingCache => c"alloc_backing",
    /// Objects that went from a caller straight to the backing cache.
    FreeBackingCache => c"free_backing",
    /// Objects given back to the backing cache because their CPU went offline.
    CpuDeadFlush => c"cpu_dead_flush",
    /// Objects a CPU's array holds now (a level, not an event count).
    ObjectsCached => c"objects_cached",
}

/// The number of counters.
pub(crate) const NR_STATS: usize = Stat::ALL.len();

/// One CPU's counters.
///
/// Each is written only by its own CPU: the array counters with the CPU's lock held, the bypass
/// counters while pinned. An increment is a relaxed load and store, not an atomic
/// read-modify-write, so an interrupt on the same CPU may rarely lose an increment of a bypass
/// counter; the counters are statistics, not accounting.
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

    /// Adds `n` to `stat`.
    #[inline]
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        let c = &self.counters[stat as usize];
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds one to `stat`.
    #[inline]
    pub(crate) fn inc(&self, stat: Stat) {
        self.add(stat, 1);
    }

    /// Sets a level counter.
    #[inline]
    pub(crate) fn set(&self, stat: Stat, v: u64) {
        self.counters[stat as usize].store(v, Relaxed);
    }

    /// Reads `stat`.
    pub(crate) fn get(&self, stat: Stat) -> u64 {
        self.counters[stat as usize].load(Relaxed)
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

    /// The counters of the CPU `pin` holds the task on.
    #[inline]
    pub(crate) fn this_cpu<'a>(&'a self, pin: &'a CpuPin) -> &'a CpuStats {
        self.cpus.this_cpu(pin)
    }

    /// A snapshot of every counter, summed over the CPUs.
    pub(crate) fn snapshot(&self) -> Stats {
        let mut s = Stats {
            totals: [0; NR_STATS],
        };
        self.cpus.for_each(|_, c| {
            for (i, t) in s.totals.iter_mut().enumerate() {
                *t = t.wrapping_add(c.counters[i].load(Relaxed));
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

/// Counters summed over every CPU, at one moment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stats {
    totals: [u64; NR_STATS],
}

impl Stats {
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
        let allocs = self.get(Stat::AllocCpuCache) + self.get(Stat::AllocBackingCache);
        let frees = self.get(Stat::FreeCpuCache) + self.get(Stat::FreeBackingCache);
        allocs.wrapping_sub(frees) as i64
    }
}

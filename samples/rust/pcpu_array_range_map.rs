// SPDX-License-Identifier: GPL-2.0

//! A sample consumer of pcpu_array: a maple-tree-like range map whose nodes come from a
//! pcpu_array cache, with the maple tree's write protocol (reserve nodes before the lock,
//! allocate under it only from the reservation, free replaced nodes through RCU).
//!
//! Its KUnit suites run when the module loads: `pcpu_array_range_map`, and
//! `pcpu_array_binding`, which checks the binding's typed API itself. With `demo=N`, the module
//! also runs N random stores and erases at load and prints the map's size and node count. With
//! `bench=N` it times N inserts and N erases of the same ranges, in shuffled orders, after an
//! untimed round of the same, on this map over pcpu_array, on the same map over a plain
//! `kmem_cache`, and on the kernel's maple tree, and prints one `scenario=range_map backend=...`
//! line per run for `make bench`.

// Written by the build (consumer.mk); rustfmt need not find it before.
#[rustfmt::skip]
mod pcpu_array;

#[cfg(CONFIG_KUNIT)]
mod binding_tests;
mod kmem_cache;
pub mod node_source;
pub mod range_map;
#[cfg(CONFIG_KUNIT)]
mod range_map_tests;

use kernel::{
    bindings,
    maple_tree::MapleTree,
    prelude::*, //
};
use node_source::Backend;
use pcpu_array::Stats;
use range_map::{
    RangeMap,
    XorShift, //
};

module! {
    type: RangeMapModule,
    name: "pcpu_array_range_map",
    authors: ["pcpu_array developers"],
    description: "A maple-tree-like range map on a pcpu_array cache",
    license: "GPL",
    params: {
        demo: u32 {
            default: 0,
            description: "Run N random inserts and erases at load and print the map's size",
        },
        bench: u32 {
            default: 0,
            description: "Time N inserts and N erases on each node source, print the results",
        },
    },
}

struct RangeMapModule {
    /// The demo's map, kept until unload so that its cache's counters can be read in
    /// `/sys/kernel/debug/pcpu_array/pcpu_array_range_map_demo/`.
    demo: Option<Pin<KBox<RangeMap>>>,
}

/// Runs `ops` random stores and erases on a fresh map and prints what it holds.
fn run_demo(ops: u32) -> Result<Pin<KBox<RangeMap>>> {
    let map = KBox::pin_init(RangeMap::new(c"pcpu_array_range_map_demo"), GFP_KERNEL)?;
    let mut rng = XorShift::new(u64::from(ops));
    let space = u64::from(ops).max(64) * 16;
    for i in 0..u64::from(ops) {
        let first = rng.below(space);
        let last = first + rng.below(32);
        if rng.below(4) == 0 {
            map.erase(first, last)?;
        } else {
            map.store(first, last, i + 1)?;
        }
    }
    map.check()?;
    let s = map.stats();
    pr_info!(
        "demo: {} ops: {} ranges in {} nodes, height {}\n",
        ops,
        map.len(),
        map.nodes(),
        map.height()
    );
    pr_info!(
        "demo: {} writes, {} nodes allocated from the cache, {} freed, {} reserved, \
         at most {} per write, {} allocation failures under the lock\n",
        s.writes,
        s.allocated,
        s.freed,
        s.reserved,
        s.max_used,
        s.failed_under_lock
    );
    Ok(map)
}

/// The `i`th of `n` (a power of two) keys in a shuffled order: `i * mult mod n` visits every key
/// once for an odd `mult`. Ranges are 8 wide, 16 apart, so none overlap.
fn bench_range(i: u64, n: u64, mult: u64) -> (u64, u64) {
    let k = i.wrapping_mul(mult) & (n - 1);
    (k * 16, k * 16 + 7)
}

/// Nanoseconds of `CLOCK_MONOTONIC` (instructions, under QEMU's `-icount shift=0`).
fn now_ns() -> i64 {
    // SAFETY: `ktime_get()` has no preconditions.
    unsafe { bindings::ktime_get() }
}

/// Times `n` inserts then `n` erases on a [`RangeMap`] over `backend`. Returns the elapsed
/// nanoseconds and the pcpu_array hits and misses.
fn bench_range_map(backend: Backend, n: u64) -> Result<(i64, u64, u64)> {
    let name = match backend {
        Backend::PcpuArray => c"pcpu_array_range_map_bench",
        Backend::Slab => c"pcpu_array_range_map_bench_slab",
    };
    let map = KBox::pin_init(RangeMap::with_backend(name, backend), GFP_KERNEL)?;
    let round = |map: &RangeMap| -> Result {
        for i in 0..n {
            let (first, last) = bench_range(i, n, 0x9e37_79b9);
            map.insert(first, last, i + 1)?;
        }
        for i in 0..n {
            let (first, _) = bench_range(i, n, 0x85eb_ca6b);
            map.erase_at(first)?.ok_or(ENOENT)?;
        }
        Ok(())
    };
    // A round untimed first, as the slab benchmarks warm up: the timed one then meets the
    // steady state of a map in use, with nodes waiting for grace periods, not an empty cache.
    round(&map)?;
    let before = map.cache_stats();
    let start = now_ns();
    round(&map)?;
    let ns = now_ns() - start;
    // Outside the timing: the RCU callbacks that free the last nodes.
    map.barrier();
    if !map.is_empty() {
        return Err(EINVAL);
    }
    // As in `bench/pcpu_array_bench.c`: a hit is served by the array without the backing
    // cache; refills, flushes and bypasses are misses.
    let d = |f: fn(&Stats) -> u64| f(&map.cache_stats()).wrapping_sub(f(&before));
    let served = d(|s| s.alloc_array) + d(|s| s.free_array);
    let trips = d(|s| s.array_refill) + d(|s| s.array_flush);
    let bypass = d(|s| s.alloc_backing) + d(|s| s.free_backing);
    if matches!(backend, Backend::PcpuArray) {
        // The counters behind the hit rate, for `Documentation/performance.rst`.
        pr_info!(
            "range_map counters: alloc_array {} free_array {} array_refill {} array_flush {} \
             alloc_backing {} free_backing {}\n",
            d(|s| s.alloc_array),
            d(|s| s.free_array),
            d(|s| s.array_refill),
            d(|s| s.array_flush),
            d(|s| s.alloc_backing),
            d(|s| s.free_backing)
        );
    }
    Ok((ns, served.saturating_sub(trips), bypass + trips))
}

/// The same workload on the kernel's maple tree (`kernel::maple_tree`), as a reference.
fn bench_maple_tree(n: u64) -> Result<i64> {
    let tree = KBox::pin_init(MapleTree::<()>::new(), GFP_KERNEL)?;
    let round = |tree: &MapleTree<()>| -> Result {
        for i in 0..n {
            let (first, last) = bench_range(i, n, 0x9e37_79b9);
            let (first, last) = (first as usize, last as usize);
            tree.insert_range(first..=last, (), GFP_KERNEL)
                .map_err(|e| e.cause)?;
        }
        for i in 0..n {
            let (first, _) = bench_range(i, n, 0x85eb_ca6b);
            tree.erase(first as usize).ok_or(ENOENT)?;
        }
        Ok(())
    };
    // Untimed first, as for the map.
    round(&tree)?;
    let start = now_ns();
    round(&tree)?;
    Ok(now_ns() - start)
}

/// Runs the benchmark: three repetitions of each node source, `n` rounded up to a power of two.
fn run_bench(n: u32) -> Result {
    let n = u64::from(n.max(2)).next_power_of_two();
    let size = core::mem::size_of::<range_map::Node>();
    for rep in 0..3 {
        for (name, backend) in [
            ("pcpu_array", Backend::PcpuArray),
            ("kmem_cache", Backend::Slab),
        ] {
            let (ns, hits, misses) = bench_range_map(backend, n)?;
            pr_info!(
                "scenario=range_map backend={} size={} ops={} ns={} \
                 cycles=0 hits={} misses={} rep={}\n",
                name,
                size,
                2 * n,
                ns,
                hits,
                misses,
                rep
            );
        }
        let ns = bench_maple_tree(n)?;
        pr_info!(
            "scenario=range_map backend=maple_tree size={} ops={} ns={} \
             cycles=0 hits=0 misses=0 rep={}\n",
            size,
            2 * n,
            ns,
            rep
        );
    }
    Ok(())
}

impl kernel::Module for RangeMapModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Linux 7.3's `value()` gives the value, 7.2's a reference to it.
        #[cfg(not(pcpu_array_kernel_7_3))]
        let bench = *module_parameters::bench.value();
        #[cfg(pcpu_array_kernel_7_3)]
        let bench = module_parameters::bench.value();
        if bench != 0 {
            run_bench(bench)?;
        }
        // Linux 7.3's `value()` gives the value, 7.2's a reference to it.
        #[cfg(not(pcpu_array_kernel_7_3))]
        let ops = *module_parameters::demo.value();
        #[cfg(pcpu_array_kernel_7_3)]
        let ops = module_parameters::demo.value();
        let demo = match ops {
            0 => None,
            n => Some(run_demo(n)?),
        };
        Ok(Self { demo })
    }
}

impl Drop for RangeMapModule {
    fn drop(&mut self) {
        let Some(map) = self.demo.take() else {
            return;
        };
        if map.clear().is_ok() {
            map.barrier();
            let s = map.stats();
            pr_info!(
                "demo: cleared: {} nodes live, {} allocated, {} freed\n",
                map.nodes(),
                s.allocated,
                s.freed
            );
        }
    }
}

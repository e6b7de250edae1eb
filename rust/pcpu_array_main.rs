// SPDX-License-Identifier: GPL-2.0

//! pcpu_array: a per-CPU array of cached objects in front of a slab cache.
//!
//! See `Documentation/pcpu_array.rst` for the design, the locking rules and the statistics.

pub mod abi_types;
mod array;
mod backing;
mod cache;
pub mod capi;
mod cpu_pin;
mod debugfs;
mod ffi;
mod gfp;
mod hotplug;
mod kasan;
mod local_trylock;
mod lock_bench;
mod percpu;
mod reservation;
mod shrink;
mod stats;
#[cfg(CONFIG_KUNIT)]
mod testing;
mod this_cpu;
pub mod typed;

use kernel::prelude::*;

pub use array::MAX_CAPACITY;
pub use backing::Sheaves;
pub use cache::{
    Config,
    PcpuArray, //
};
pub use gfp::Gfp;
pub use reservation::{
    Reservation,
    MAX_RESERVE, //
};
pub use stats::{
    Stat,
    Stats, //
};
pub use typed::RawCache;

/// A per-CPU array cache of `T`s: see [`typed::ArrayCache`].
pub type ArrayCache<T> = typed::ArrayCache<T, PcpuArray>;
/// An object of an [`ArrayCache`].
pub type ArrayBox<'a, T> = typed::ArrayBox<'a, T, PcpuArray>;
/// A typed reservation of an [`ArrayCache`].
pub type TypedReservation<'a, T> = typed::Reservation<'a, T, PcpuArray>;

module! {
    type: PcpuArrayModule,
    name: "pcpu_array",
    authors: ["pcpu_array developers"],
    description: "Per-CPU array cache of objects in front of a slab cache",
    license: "GPL",
    params: {
        demo: u32 {
            default: 0,
            description: "Run a demo of N rounds of 100 allocations at load, keep its cache until unload",
        },
        lock_bench: u32 {
            default: 0,
            description: "Time N lock/unlock pairs of local_trylock_t and of spinlock_t at load",
        },
    },
}

/// The demo's object: about the size of a maple tree node.
struct DemoNode {
    slots: [u64; 32],
}

struct PcpuArrayModule {
    demo: Option<ArrayCache<DemoNode>>,
}

/// Allocates and frees a few hundred nodes in bursts and prints what the arrays did.
fn run_demo(rounds: u32) -> Result<ArrayCache<DemoNode>> {
    let cache = ArrayCache::<DemoNode>::new(c"pcpu_array_demo", 32)?;
    let mut held = KVec::with_capacity(100, GFP_KERNEL)?;
    for round in 0..u64::from(rounds) {
        for i in 0..100u64 {
            let node = cache.alloc(
                DemoNode {
                    slots: [round * 1000 + i; 32],
                },
                Gfp::KERNEL,
            )?;
            held.push(node, GFP_KERNEL)?;
        }
        let sum: u64 = held.iter().map(|n| n.slots[0]).sum();
        if round == 0 {
            pr_info!("demo: first round holds 100 nodes, checksum {}\n", sum);
        }
        held.clear();
    }
    let s = cache.stats();
    pr_info!(
        "demo: {} allocs: {} from the arrays, {} refills, {} flushes, {} straight from the slab\n",
        u64::from(rounds) * 100,
        s.get(Stat::AllocCpuCache),
        s.get(Stat::CpuCacheRefill),
        s.get(Stat::CpuCacheFlush),
        s.get(Stat::AllocBackingCache)
    );
    drop(held);
    Ok(cache)
}

impl kernel::Module for PcpuArrayModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let bench = *module_parameters::lock_bench.value();
        if bench != 0 {
            lock_bench::run(bench)?;
        }
        // SAFETY: Called once, before any cache exists; `Drop` undoes it.
        kernel::error::to_result(unsafe { ffi::pcpu_array_wq_init() })?;
        hotplug::register().inspect_err(|_| {
            // SAFETY: Created above; no cache uses it.
            unsafe { ffi::pcpu_array_wq_exit() }
        })?;
        debugfs::init_root();
        let rounds = *module_parameters::demo.value();
        let demo = match rounds {
            0 => None,
            n => Some(run_demo(n).inspect_err(|_| {
                debugfs::remove_root();
                hotplug::unregister();
                // SAFETY: Created above; the demo's cache is gone.
                unsafe { ffi::pcpu_array_wq_exit() };
            })?),
        };
        Ok(Self { demo })
    }
}

impl Drop for PcpuArrayModule {
    fn drop(&mut self) {
        if let Some(cache) = self.demo.take() {
            let in_use = cache.stats().in_use();
            drop(cache);
            pr_info!("demo: cache destroyed, {} objects were in use\n", in_use);
        }
        debugfs::remove_root();
        hotplug::unregister();
        // SAFETY: Created in `init`; every cache is gone (consumers hold a reference to this
        // module while theirs live).
        unsafe { ffi::pcpu_array_wq_exit() };
    }
}

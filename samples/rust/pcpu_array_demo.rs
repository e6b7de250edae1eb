// SPDX-License-Identifier: GPL-2.0

//! The smallest consumer of pcpu_array: a Rust module that uses the cache through the binding,
//! as any other module would.
//!
//! With `demo=N` it creates a cache `pcpu_array_demo` of 256-byte objects (about a maple tree
//! node), allocates and frees them in N rounds of 100, and prints a checksum of the first round
//! and what the arrays did. It keeps the cache until unload, so that its counters can be read in
//! `/sys/kernel/debug/pcpu_array/pcpu_array_demo/`, and prints at unload how many objects were
//! still in use. Without `demo`, it loads and does nothing.

// Written by the build (consumer.mk); rustfmt need not find it before.
#[rustfmt::skip]
mod pcpu_array;

use kernel::prelude::*;
use pcpu_array::{
    ArrayCache,
    Options, //
};

module! {
    type: DemoModule,
    name: "pcpu_array_demo",
    authors: ["pcpu_array developers"],
    description: "A demo of a pcpu_array cache used from another Rust module",
    license: "GPL",
    params: {
        demo: u32 {
            default: 0,
            description: "Run N rounds of 100 allocations at load, keep the cache until unload",
        },
    },
}

/// Objects each CPU's array keeps at most.
const CAPACITY: u32 = 32;
/// Objects held at once in each round.
const PER_ROUND: u64 = 100;

/// The demo's object: about the size of a maple tree node.
struct DemoNode {
    slots: [u64; 32],
}

/// Allocates and frees `rounds * 100` nodes in bursts and prints what the arrays did.
fn run_demo(rounds: u32) -> Result<ArrayCache<DemoNode>> {
    // Each node on cache lines of its own, as a maple tree node is.
    let cache = ArrayCache::<DemoNode>::with_options(
        c"pcpu_array_demo",
        &Options {
            capacity: CAPACITY,
            flags: Options::HWCACHE_ALIGN,
            ..Options::default()
        },
    )?;
    {
        // The nodes borrow the cache: they must all be gone before it is returned.
        let mut held = KVec::with_capacity(PER_ROUND as usize, GFP_KERNEL)?;
        for round in 0..u64::from(rounds) {
            for i in 0..PER_ROUND {
                let node = cache.alloc(
                    DemoNode {
                        slots: [round * 1000 + i; 32],
                    },
                    GFP_KERNEL,
                )?;
                held.push(node, GFP_KERNEL)?;
            }
            let sum: u64 = held.iter().map(|n| n.slots[0]).sum();
            if round == 0 {
                pr_info!(
                    "demo: first round holds {} nodes, checksum {}\n",
                    held.len(),
                    sum
                );
            }
            // Every node goes back to this CPU's array (or, when it is full, the slab).
            held.clear();
        }
    }
    let s = cache.stats();
    pr_info!(
        "demo: {} allocs: {} from the arrays, {} refills, {} flushes, {} straight from the slab\n",
        u64::from(rounds) * PER_ROUND,
        s.alloc_array,
        s.array_refill,
        s.array_flush,
        s.alloc_backing
    );
    Ok(cache)
}

struct DemoModule {
    /// The demo's cache, kept until unload.
    cache: Option<ArrayCache<DemoNode>>,
}

impl kernel::Module for DemoModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Linux 7.3's `value()` gives the value, 7.2's a reference to it.
        #[cfg(not(pcpu_array_kernel_7_3))]
        let rounds = *module_parameters::demo.value();
        #[cfg(pcpu_array_kernel_7_3)]
        let rounds = module_parameters::demo.value();
        let cache = match rounds {
            0 => None,
            rounds => Some(run_demo(rounds)?),
        };
        Ok(Self { cache })
    }
}

impl Drop for DemoModule {
    fn drop(&mut self) {
        if let Some(cache) = self.cache.take() {
            let in_use = cache.stats().in_use();
            drop(cache);
            pr_info!("demo: cache destroyed, {} objects were in use\n", in_use);
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A sample consumer of pcpu_array: a maple-tree-like range map whose nodes come from a
//! pcpu_array cache, with the maple tree's write protocol (reserve nodes before the lock,
//! allocate under it only from the reservation, free replaced nodes through RCU).
//!
//! Its KUnit suite `pcpu_array_range_map` runs when the module loads. With `demo=N`, the module
//! also runs N random stores and erases at load and prints the map's size and node count.

#[path = "pcpu_array_binding.rs"]
pub mod pcpu_array;

pub mod range_map;
#[cfg(CONFIG_KUNIT)]
mod range_map_tests;

use kernel::prelude::*;
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

impl kernel::Module for RangeMapModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let ops = *module_parameters::demo.value();
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

// SPDX-License-Identifier: GPL-2.0

//! pcpu_array_kunit: the test build of pcpu_array.
//!
//! The same sources as `pcpu_array.ko` (`pcpu_array_main.rs`), compiled with the
//! `pcpu_array_kunit` cfg, which adds each file's `#[kunit_tests]` suite, the test helpers of
//! `testing.rs` and the lock benchmark of `bench/lock_bench.rs`. It exports nothing and keeps
//! its own debugfs root (`/sys/kernel/debug/pcpu_array_kunit/`), so that it can be loaded
//! beside `pcpu_array.ko`. `make test` loads it; users never need to.

include!("crate_items.rs");

#[path = "../bench/lock_bench.rs"]
mod lock_bench;
mod testing;

use kernel::prelude::*;

module! {
    type: PcpuArrayKunit,
    name: "pcpu_array_kunit",
    authors: ["pcpu_array developers"],
    description: "KUnit suites of pcpu_array (the test build)",
    license: "GPL",
    params: {
        lock_bench: u32 {
            default: 0,
            description: "Time N lock/unlock pairs of local_trylock_t and of spinlock_t at load",
        },
        reclaim_reps: u32 {
            default: 1,
            description: "Runs of each pass of pcpu_array_shrink.reclaim_over_100_caches (1 to 9; \
                          Documentation/performance.rst's figures take the median of 5)",
        },
    },
}

/// The `reclaim_reps` parameter, at least 1 (the case takes at most 9).
pub(crate) fn reclaim_reps() -> usize {
    // Linux 7.3's `value()` gives the value, 7.2's a reference to it.
    #[cfg(not(pcpu_array_kernel_7_3))]
    let reps = *module_parameters::reclaim_reps.value();
    #[cfg(pcpu_array_kernel_7_3)]
    let reps = module_parameters::reclaim_reps.value();
    reps.max(1) as usize
}

struct PcpuArrayKunit {
    _registrations: cache::lifecycle::Registrations,
}

impl kernel::Module for PcpuArrayKunit {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let registrations = cache::lifecycle::Registrations::new()?;
        // Linux 7.3's `value()` gives the value, 7.2's a reference to it.
        #[cfg(not(pcpu_array_kernel_7_3))]
        let iters = *module_parameters::lock_bench.value();
        #[cfg(pcpu_array_kernel_7_3)]
        let iters = module_parameters::lock_bench.value();
        if iters != 0 {
            lock_bench::run(iters)?;
        }
        Ok(Self {
            _registrations: registrations,
        })
    }
}

// SPDX-License-Identifier: GPL-2.0

//! pcpu_array: a per-CPU array of cached objects in front of a slab cache.
//!
//! The module users load: the caches and their C ABI (`include/pcpu_array.h`), nothing else.
//! Its KUnit suites are built from the same sources into `pcpu_array_kunit.ko`
//! (`pcpu_array_kunit.rs`). See `Documentation/pcpu_array.rst` for the design, the locking
//! rules and the statistics.

include!("crate_items.rs");

use kernel::prelude::*;

module! {
    type: PcpuArrayModule,
    name: "pcpu_array",
    authors: ["pcpu_array developers"],
    description: "Per-CPU array cache of objects in front of a slab cache",
    license: "GPL",
}

struct PcpuArrayModule {
    _registrations: cache::lifecycle::Registrations,
}

impl kernel::Module for PcpuArrayModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _registrations: cache::lifecycle::Registrations::new()?,
        })
    }
}

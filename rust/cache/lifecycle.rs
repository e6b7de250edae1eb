// SPDX-License-Identifier: GPL-2.0

//! What the module registers at load and removes at unload, as fields of one value: the
//! per-CPU workqueue, the CPU hotplug state and the debugfs root. Teardown is their `Drop`s,
//! in field order, after every cache is gone (a consumer of the C ABI keeps the module loaded
//! while it is loaded itself).
//!
//! How a cache ends, from whatever context lets go of it last, is
//! [`crate::percpu::deferred::SleepableDrop`].

use crate::{
    percpu::cpu_work::CpuWorkQueue,
    reclaim::{
        debugfs::DebugfsRoot,
        hotplug::CacheHotplugState, //
    },
};
use kernel::{
    prelude::*,
    str::CStr, //
};

/// The debugfs root and the hotplug state's name: `pcpu_array` for the module users load, its
/// own for the test build, so that both can be loaded at once.
#[cfg(not(pcpu_array_kunit))]
const NAMES: (&CStr, &CStr) = (c"pcpu_array", c"pcpu_array:dead");
#[cfg(pcpu_array_kunit)]
const NAMES: (&CStr, &CStr) = (c"pcpu_array_kunit", c"pcpu_array_kunit:dead");

/// The module's registrations.
pub(crate) struct Registrations {
    // Dropped in this order: the reverse of `new`.
    _debugfs: DebugfsRoot,
    _hotplug: CacheHotplugState,
    _cpu_work: CpuWorkQueue,
}

impl Registrations {
    /// Registers everything the caches rely on. Called once, from module init.
    pub(crate) fn new() -> Result<Self> {
        let cpu_work = CpuWorkQueue::new()?;
        let hotplug = CacheHotplugState::register(NAMES.1)?;
        let debugfs = DebugfsRoot::new(NAMES.0);
        Ok(Self {
            _debugfs: debugfs,
            _hotplug: hotplug,
            _cpu_work: cpu_work,
        })
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "lifecycle_tests.rs"]
mod tests;

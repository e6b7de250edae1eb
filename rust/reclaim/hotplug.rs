// SPDX-License-Identifier: GPL-2.0

//! CPU hotplug: a CPU that goes offline gives its magazines to its node's depot; a CPU that comes
//! up takes its memory node as it is then.
//!
//! The module registers one multi-instance `CPUHP_BP_PREPARE_DYN` state ([`HotplugState`]);
//! each cache adds an instance ([`HotplugInstance`]). The teardown of a prepare state runs on a
//! control CPU after the CPU is dead, when nothing can run on it any more, so the dead CPU's
//! magazines are reached without taking its lock: each one that holds objects goes to the depot
//! whole, replaced by an empty one (what the depot has no room for goes back to the backing
//! cache). A CPU that comes back starts with empty magazines, set up by the state's startup,
//! which runs on a control CPU before the CPU comes up, for the memory node the CPU has then
//! (`cpu_to_mem()`): a CPU hot-added to a node after the cache was created does not keep
//! magazines of the node it was first given.

use crate::{
    magazines::state::CacheState,
    percpu::cpu_hotplug::{
        CpuHotplug,
        HotplugState,
        Instance, //
    },
};
use kernel::sync::Arc;

/// The module's hotplug state, whose instances are the caches'.
pub(crate) type CacheHotplugState = HotplugState<Arc<CacheState>>;

/// One cache's hotplug instance: sets up a CPU's magazines before it comes up, flushes them
/// once it is dead.
pub(crate) type HotplugInstance = Instance<Arc<CacheState>>;

impl CpuHotplug for Arc<CacheState> {
    unsafe fn prepare_cpu(&self, cpu: u32) {
        // SAFETY: Before `cpu` runs, one at a time (the trait's contract).
        unsafe { CacheState::prepare_cpu(self, cpu) }
    }

    unsafe fn cpu_dead(&self, cpu: u32) {
        // SAFETY: `cpu` is dead, one at a time (the trait's contract).
        unsafe { self.rcu_flush_dead_cpu(cpu) };
        // SAFETY: As above.
        unsafe { self.flush_dead_cpu(cpu) }
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "hotplug_tests.rs"]
mod tests;

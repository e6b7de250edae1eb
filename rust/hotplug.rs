// SPDX-License-Identifier: GPL-2.0

//! CPU hotplug: a CPU that goes offline gives its array back to the backing cache.
//!
//! The module registers one multi-instance `CPUHP_BP_PREPARE_DYN` state; each cache adds an
//! instance. The teardown of a prepare state runs on a control CPU after the CPU is dead, when
//! nothing can run on it any more, so the dead CPU's array is flushed without taking its lock.
//! A CPU that comes back starts with an empty array.

use crate::{
    ffi,
    shrink::FlushTarget, //
};
use kernel::{
    bindings,
    error::to_result,
    ffi::{
        c_int,
        c_uint,
        c_void, //
    },
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    types::Opaque,
};

/// The dynamic hotplug state, or -1 before [`register`] and after [`unregister`].
static STATE: Atomic<i32> = Atomic::new(-1);

/// Registers the module's hotplug state. Called from module init, before any cache exists.
pub(crate) fn register() -> Result {
    // SAFETY: The name is a static C string and `cpu_dead` has the signature the multi-instance
    // state calls.
    let state =
        unsafe { ffi::pcpu_array_cpuhp_setup_multi(c"pcpu_array:dead".as_char_ptr(), cpu_dead) };
    to_result(state)?;
    STATE.store(state, Relaxed);
    Ok(())
}

/// Removes the module's hotplug state. Called from module exit, after every cache is gone.
pub(crate) fn unregister() {
    let state = STATE.xchg(-1, Relaxed);
    if state >= 0 {
        // SAFETY: `state` came from `register` and has no instance left.
        unsafe { ffi::pcpu_array_cpuhp_remove_multi(state) };
    }
}

/// One cache's hotplug instance: what the teardown needs to flush a dead CPU's array.
///
/// # Invariants
///
/// While `state >= 0`, `node` is registered as an instance of hotplug state `state`.
#[pin_data(PinnedDrop)]
pub(crate) struct HotplugInstance {
    #[pin]
    node: Opaque<bindings::hlist_node>,
    state: Atomic<i32>,
    target: FlushTarget,
}

// SAFETY: The teardown may run on any CPU; `node` is only touched by the hotplug core and by
// register/drop, and the target is `Send` and `Sync`.
unsafe impl Send for HotplugInstance {}
// SAFETY: As above.
unsafe impl Sync for HotplugInstance {}

impl HotplugInstance {
    /// Registers an instance that flushes `target`'s arrays when a CPU dies.
    pub(crate) fn register(target: FlushTarget) -> Result<Pin<KBox<Self>>> {
        let state = STATE.load(Relaxed);
        let inst = KBox::pin_init(
            pin_init!(Self {
                node <- Opaque::uninit(),
                state: Atomic::new(-1),
                target,
            }),
            GFP_KERNEL,
        )?;
        if state < 0 {
            return Ok(inst);
        }
        // SAFETY: `node` is pinned in the box and not registered anywhere.
        to_result(unsafe { ffi::pcpu_array_cpuhp_add_instance(state, inst.node.get().cast()) })?;
        // INVARIANT: Registered just above.
        inst.state.store(state, Relaxed);
        Ok(inst)
    }
}

#[pinned_drop]
impl PinnedDrop for HotplugInstance {
    fn drop(self: Pin<&mut Self>) {
        let state = self.state.load(Relaxed);
        if state >= 0 {
            // SAFETY: `node` is registered with `state` (type invariant). Removal waits for
            // running callbacks, so none can see this instance afterwards.
            unsafe { ffi::pcpu_array_cpuhp_remove_instance(state, self.node.get().cast()) };
        }
    }
}

/// The teardown of the hotplug state: called for each instance once `cpu` is dead.
///
/// # Safety
///
/// Called by the hotplug core with `node` the `node` field of a registered
/// [`HotplugInstance`].
unsafe extern "C" fn cpu_dead(cpu: c_uint, node: *mut c_void) -> c_int {
    let offset = core::mem::offset_of!(HotplugInstance, node);
    // SAFETY: `node` is the `node` field of a live, registered `HotplugInstance`.
    let inst = unsafe { &*node.cast::<u8>().sub(offset).cast::<HotplugInstance>() };
    // SAFETY: The core calls a prepare state's teardown after `cpu` is dead, one at a time.
    unsafe { inst.target.flush_dead_cpu(cpu) };
    0
}

#[kunit_tests(pcpu_array_hotplug)]
mod tests {
    use super::*;
    use crate::{
        cache::{
            Config,
            PcpuArray, //
        },
        stats::Stat,
        testing::{
            on_cpu,
            online_cpus, //
        },
    };

    #[test]
    fn offline_cpu_gives_its_array_back() -> Result {
        // The last online CPU other than the boot CPU; a uniprocessor guest has nothing to test.
        let Some(victim) = online_cpus().filter(|&c| c != 0).last() else {
            return Ok(());
        };
        let c = PcpuArray::new(c"pcpu_array_test_hotplug", Config::new(64, 8))?;
        on_cpu(victim, || c.prefill(8, bindings::GFP_KERNEL))
            .ok_or(EIO)
            .flatten()?;
        let before = c.stats();
        assert!(before.get(Stat::ObjectsCached) >= 8);

        // SAFETY: Plain exported call; the CPU is brought back below.
        assert_eq!(unsafe { bindings::remove_cpu(victim) }, 0);
        let offline = c.stats();
        // SAFETY: As above.
        assert_eq!(unsafe { bindings::add_cpu(victim) }, 0);

        assert_eq!(offline.since(&before, Stat::CpuDeadFlush), 8);
        assert_eq!(
            before.get(Stat::ObjectsCached) - offline.get(Stat::ObjectsCached),
            8
        );
        assert_eq!(offline.in_use(), 0);

        // The CPU came back with an empty array, and it works.
        let worked = on_cpu(victim, || {
            let obj = c.alloc(bindings::GFP_KERNEL)?;
            // SAFETY: Just allocated from `c`, unused.
            unsafe { c.free(obj) };
            Some(())
        })
        .flatten();
        assert!(worked.is_some());
        assert_eq!(c.stats().since(&offline, Stat::CpuCacheRefill), 1);
        Ok(())
    }
}

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
    ffi,
    shared::Shared, //
};
use kernel::{
    bindings,
    error::to_result,
    ffi::{
        c_int,
        c_uint, //
    },
    prelude::*,
    str::CStr,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
    },
    types::Opaque,
};

/// The module's dynamic hotplug state, or -1 while no [`HotplugState`] exists.
static STATE: Atomic<i32> = Atomic::new(-1);

/// The module's multi-instance hotplug state: registered with the module, removed with it.
///
/// # Invariants
///
/// `state` is a registered multi-instance state, published in `STATE`, and there is at most one
/// `HotplugState`.
pub(crate) struct HotplugState {
    state: c_int,
}

impl HotplugState {
    /// Registers the state as `name`. Called once, from module init, before any cache exists.
    pub(crate) fn register(name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` is a static C string and `cpu_prepare` and `cpu_dead` have the type the
        // multi-instance state calls its callbacks through.
        let state =
            unsafe { ffi::pcpu_array_cpuhp_setup_multi(name.as_char_ptr(), cpu_prepare, cpu_dead) };
        to_result(state)?;
        STATE.store(state, Relaxed);
        // INVARIANT: Registered and published just above.
        Ok(Self { state })
    }
}

impl Drop for HotplugState {
    fn drop(&mut self) {
        STATE.store(-1, Relaxed);
        // SAFETY: `state` is registered (type invariant); the module drops it after every cache
        // is gone, so it has no instance left.
        unsafe { ffi::pcpu_array_cpuhp_remove_multi(self.state) };
    }
}

/// One cache's hotplug instance: flushes the cache's array of a CPU that died.
///
/// # Invariants
///
/// While `state >= 0`, `node` is registered as an instance of hotplug state `state`.
#[pin_data(PinnedDrop)]
pub(crate) struct HotplugInstance {
    #[pin]
    node: Opaque<bindings::hlist_node>,
    state: Atomic<i32>,
    shared: Arc<Shared>,
}

// SAFETY: The teardown may run on any CPU; `node` is only touched by the hotplug core and by
// register/drop, and `Shared` is `Send` and `Sync`.
unsafe impl Send for HotplugInstance {}
// SAFETY: As above.
unsafe impl Sync for HotplugInstance {}

impl HotplugInstance {
    /// Registers an instance that flushes the arrays of `shared` when a CPU dies. Without the
    /// module's [`HotplugState`] (only before module init), nothing is registered.
    pub(crate) fn register(shared: Arc<Shared>) -> Result<Pin<KBox<Self>>> {
        let state = STATE.load(Relaxed);
        let inst = KBox::pin_init(
            pin_init!(Self {
                node <- Opaque::uninit(),
                state: Atomic::new(-1),
                shared,
            }),
            GFP_KERNEL,
        )?;
        if state < 0 {
            return Ok(inst);
        }
        // SAFETY: `node` is pinned in the box and not registered anywhere.
        to_result(unsafe { ffi::pcpu_array_cpuhp_add_instance(state, inst.node.get()) })?;
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
            unsafe { ffi::pcpu_array_cpuhp_remove_instance(state, self.node.get()) };
        }
    }
}

/// The instance whose `node` field `node` is.
///
/// # Safety
///
/// `node` must be the `node` field of a live, registered [`HotplugInstance`].
unsafe fn instance<'a>(node: *mut bindings::hlist_node) -> &'a HotplugInstance {
    // SAFETY: Guaranteed by the caller, and `Opaque<T>` has the layout of `T`.
    unsafe {
        &*kernel::container_of!(
            node.cast::<Opaque<bindings::hlist_node>>(),
            HotplugInstance,
            node
        )
    }
}

/// The startup of the hotplug state: called for each instance before `cpu` comes up, through
/// `int (*)(unsigned int, struct hlist_node *)`.
///
/// # Safety
///
/// Called by the hotplug core with `node` the `node` field of a registered
/// [`HotplugInstance`].
unsafe extern "C" fn cpu_prepare(cpu: c_uint, node: *mut bindings::hlist_node) -> c_int {
    // SAFETY: Guaranteed by the caller.
    let inst = unsafe { instance(node) };
    // SAFETY: The core calls a prepare state's startup before `cpu` runs, one at a time.
    unsafe { inst.shared.prepare_cpu(cpu) };
    0
}

/// The teardown of the hotplug state: called for each instance once `cpu` is dead, through
/// `int (*)(unsigned int, struct hlist_node *)`.
///
/// # Safety
///
/// Called by the hotplug core with `node` the `node` field of a registered
/// [`HotplugInstance`].
unsafe extern "C" fn cpu_dead(cpu: c_uint, node: *mut bindings::hlist_node) -> c_int {
    // SAFETY: Guaranteed by the caller.
    let inst = unsafe { instance(node) };
    // SAFETY: The core calls a prepare state's teardown after `cpu` is dead, one at a time.
    unsafe { inst.shared.flush_dead_cpu(cpu) };
    0
}

#[cfg(pcpu_array_kunit)]
#[kunit_tests(pcpu_array_hotplug)]
mod tests {
    use super::*;
    use crate::{
        cache::{
            Cache,
            Config, //
        },
        gfp::Gfp,
        stats::Stat,
        testing::{
            on_cpu,
            online_cpus,
            skip,
            CaseBox, //
        },
    };

    #[test]
    fn offline_cpu_gives_its_magazines_to_the_depot() -> Result {
        // The last online CPU other than the boot CPU.
        let Some(victim) = online_cpus().filter(|&c| c != 0).last() else {
            skip(c"needs a second online CPU");
            return Ok(());
        };
        let c = CaseBox::new(Cache::new(c"pcpu_array_test_hotplug", Config::new(64, 8))?)?;
        on_cpu(victim, || c.prefill(8, Gfp::KERNEL))
            .ok_or(EIO)
            .flatten()?;
        let before = c.stats();
        assert!(before.get(Stat::ObjectsCached) >= 8);
        assert_eq!(c.shared().depot_objects(), 0);

        // SAFETY: Plain exported call; the CPU is brought back below.
        assert_eq!(unsafe { bindings::remove_cpu(victim) }, 0);
        let offline = c.stats();
        let in_depot = c.shared().depot_objects();
        // SAFETY: As above.
        assert_eq!(unsafe { bindings::add_cpu(victim) }, 0);

        // The loaded magazine went to the depot whole: no object went back to the backing
        // cache.
        assert_eq!(offline.since(&before, Stat::DepotPut), 1);
        assert_eq!(offline.since(&before, Stat::CpuDeadFlush), 0);
        assert_eq!(in_depot, 8);
        assert_eq!(
            before.get(Stat::ObjectsCached) - offline.get(Stat::ObjectsCached),
            8
        );
        assert_eq!(offline.in_use(), 0);

        // The CPU came back with empty magazines; its first allocation is served from the
        // depot, without a refill.
        let worked = on_cpu(victim, || {
            let obj = c.alloc(Gfp::KERNEL)?;
            // SAFETY: Just allocated from `c`, unused.
            unsafe { c.free(obj) };
            Some(())
        })
        .flatten();
        assert!(worked.is_some());
        let after = c.stats();
        assert_eq!(after.since(&offline, Stat::DepotGet), 1);
        assert_eq!(after.since(&offline, Stat::ArrayRefill), 0);
        assert_eq!(c.shared().depot_objects(), 0);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }
}

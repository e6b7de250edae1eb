// SPDX-License-Identifier: GPL-2.0

//! CPU hotplug, as a multi-instance `CPUHP_BP_PREPARE_DYN` state: the module registers one
//! [`HotplugState`], each user of it an [`Instance`] whose value is told when a CPU is about to
//! come up and when it is dead ([`CpuHotplug`]).
//!
//! The startup of a prepare state runs on a control CPU before the CPU comes up, its teardown on
//! a control CPU after the CPU is dead, when nothing can run on it any more.

use crate::sys::ffi;
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::to_result,
    ffi::{
        c_int,
        c_uint, //
    },
    prelude::*,
    str::CStr,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    types::Opaque,
};

/// What an [`Instance`] does when a CPU comes and goes.
pub(crate) trait CpuHotplug: Send + Sync + 'static {
    /// Called before `cpu` comes up.
    ///
    /// # Safety
    ///
    /// Only the hotplug core calls this, from the state's startup: `cpu` does not run yet, and
    /// no other startup or teardown of the state runs meanwhile.
    unsafe fn prepare_cpu(&self, cpu: u32);

    /// Called once `cpu` is dead.
    ///
    /// # Safety
    ///
    /// Only the hotplug core calls this, from the state's teardown: `cpu` is dead, and no other
    /// startup or teardown of the state runs meanwhile.
    unsafe fn cpu_dead(&self, cpu: u32);
}

/// The module's dynamic hotplug state, or -1 while no [`HotplugState`] exists.
static STATE: Atomic<i32> = Atomic::new(-1);

/// The module's multi-instance hotplug state, whose instances are [`Instance<T>`]s: registered
/// with the module, removed with it.
///
/// # Invariants
///
/// `state` is a registered multi-instance state, published in `STATE`, whose callbacks take
/// `Instance<T>`s; there is at most one `HotplugState`.
pub(crate) struct HotplugState<T: CpuHotplug> {
    state: c_int,
    _instances: PhantomData<fn(&T)>,
}

impl<T: CpuHotplug> HotplugState<T> {
    /// Registers the state as `name`. Called once, from module init, before any instance exists.
    pub(crate) fn register(name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` is a static C string and `prepare::<T>` and `dead::<T>` have the type
        // the multi-instance state calls its callbacks through.
        let state = unsafe {
            ffi::pcpu_array_cpuhp_setup_multi(name.as_char_ptr(), prepare::<T>, dead::<T>)
        };
        to_result(state)?;
        STATE.store(state, Relaxed);
        // INVARIANT: Registered and published just above, with the callbacks of `T`.
        Ok(Self {
            state,
            _instances: PhantomData,
        })
    }
}

impl<T: CpuHotplug> Drop for HotplugState<T> {
    fn drop(&mut self) {
        STATE.store(-1, Relaxed);
        // SAFETY: `state` is registered (type invariant); the module drops it after every
        // instance is gone.
        unsafe { ffi::pcpu_array_cpuhp_remove_multi(self.state) };
    }
}

/// One instance of the module's hotplug state, which tells its `value` when a CPU comes and goes.
///
/// # Invariants
///
/// While `state >= 0`, `node` is registered as an instance of hotplug state `state`, whose
/// callbacks take `Instance<T>`s.
#[pin_data(PinnedDrop)]
pub(crate) struct Instance<T: CpuHotplug> {
    #[pin]
    node: Opaque<bindings::hlist_node>,
    state: Atomic<i32>,
    value: T,
}

// SAFETY: The callbacks may run on any CPU; `node` is only touched by the hotplug core and by
// register/drop, and `T` is `Send` and `Sync`.
unsafe impl<T: CpuHotplug> Send for Instance<T> {}
// SAFETY: As above.
unsafe impl<T: CpuHotplug> Sync for Instance<T> {}

impl<T: CpuHotplug> Instance<T> {
    /// Registers an instance that tells `value` when a CPU comes and goes. Without the module's
    /// [`HotplugState`] (only before module init), nothing is registered. The module's state
    /// must have been registered for `T`, the only type of instance it has.
    pub(crate) fn register(value: T) -> Result<Pin<KBox<Self>>> {
        let state = STATE.load(Relaxed);
        let inst = KBox::pin_init(
            pin_init!(Self {
                node <- Opaque::uninit(),
                state: Atomic::new(-1),
                value,
            }),
            GFP_KERNEL,
        )?;
        if state < 0 {
            return Ok(inst);
        }
        // SAFETY: `node` is pinned in the box and not registered anywhere.
        to_result(unsafe { ffi::pcpu_array_cpuhp_add_instance(state, inst.node.get()) })?;
        // INVARIANT: Registered just above, with the state whose instances are `Instance<T>`.
        inst.state.store(state, Relaxed);
        Ok(inst)
    }
}

#[pinned_drop]
impl<T: CpuHotplug> PinnedDrop for Instance<T> {
    fn drop(self: Pin<&mut Self>) {
        let state = self.state.load(Relaxed);
        if state >= 0 {
            // SAFETY: `node` is registered with `state` (type invariant). Removal waits for
            // running callbacks, so none can see this instance afterwards.
            unsafe { ffi::pcpu_array_cpuhp_remove_instance(state, self.node.get()) };
        }
    }
}

/// The value of the instance whose `node` field `node` is.
///
/// # Safety
///
/// `node` must be the `node` field of a live, registered [`Instance<T>`].
unsafe fn value_of<'a, T: CpuHotplug>(node: *mut bindings::hlist_node) -> &'a T {
    // SAFETY: Guaranteed by the caller, and `Opaque<T>` has the layout of `T`.
    let inst = unsafe {
        &*kernel::container_of!(
            node.cast::<Opaque<bindings::hlist_node>>(),
            Instance<T>,
            node
        )
    };
    &inst.value
}

/// The startup of the hotplug state: called for each instance before `cpu` comes up, through
/// `int (*)(unsigned int, struct hlist_node *)`.
///
/// # Safety
///
/// Called by the hotplug core with `node` the `node` field of a registered [`Instance<T>`].
unsafe extern "C" fn prepare<T: CpuHotplug>(cpu: c_uint, node: *mut bindings::hlist_node) -> c_int {
    // SAFETY: Guaranteed by the caller.
    let value = unsafe { value_of::<T>(node) };
    // SAFETY: The core calls a prepare state's startup before `cpu` runs, one at a time.
    unsafe { value.prepare_cpu(cpu) };
    0
}

/// The teardown of the hotplug state: called for each instance once `cpu` is dead, through
/// `int (*)(unsigned int, struct hlist_node *)`.
///
/// # Safety
///
/// Called by the hotplug core with `node` the `node` field of a registered [`Instance<T>`].
unsafe extern "C" fn dead<T: CpuHotplug>(cpu: c_uint, node: *mut bindings::hlist_node) -> c_int {
    // SAFETY: Guaranteed by the caller.
    let value = unsafe { value_of::<T>(node) };
    // SAFETY: The core calls a prepare state's teardown after `cpu` is dead, one at a time.
    unsafe { value.cpu_dead(cpu) };
    0
}

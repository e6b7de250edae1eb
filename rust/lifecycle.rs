// SPDX-License-Identifier: GPL-2.0

//! What the module registers at load and removes at unload, as fields of one value: the
//! per-CPU workqueue, the CPU hotplug state and the debugfs root. Teardown is their `Drop`s,
//! in field order, after every cache is gone (a consumer of the C ABI keeps the module loaded
//! while it is loaded itself).

use crate::{
    cpu_work::CpuWorkQueue,
    debugfs::DebugfsRoot,
    ffi,
    hotplug::HotplugState, //
};
use kernel::{
    bindings,
    prelude::*,
    str::CStr, //
};

/// The debugfs root and the hotplug state's name: `pcpu_array` for the module users load, its
/// own for the test build, so that both can be loaded at once.
#[cfg(not(pcpu_array_kunit))]
const NAMES: (&CStr, &CStr) = (c"pcpu_array", c"pcpu_array:dead");
#[cfg(pcpu_array_kunit)]
const NAMES: (&CStr, &CStr) = (c"pcpu_array_kunit", c"pcpu_array_kunit:dead");

/// This module's `struct module`: `THIS_MODULE`, a static of the crate root that `module!`
/// defines before Linux 7.3, a constant of `kernel::ModuleMetadata` from 7.3 on.
#[cfg(not(pcpu_array_kernel_7_3))]
pub(crate) fn this_module() -> *mut bindings::module {
    crate::THIS_MODULE.as_ptr()
}

/// This module's `struct module`: `THIS_MODULE`, a static of the crate root that `module!`
/// defines before Linux 7.3, a constant of `kernel::ModuleMetadata` from 7.3 on.
#[cfg(pcpu_array_kernel_7_3)]
pub(crate) fn this_module() -> *mut bindings::module {
    kernel::module::this_module::<crate::LocalModule>().as_ptr()
}

/// A reference to this module: `rmmod` fails with `EBUSY` while one exists.
///
/// Every cache holds one, so that a cache a consumer leaked keeps the module, its shrinker
/// callbacks and its hotplug state loaded instead of leaving them to point into freed module
/// text.
///
/// # Invariants
///
/// The module's reference count was raised for this object and is dropped once, on drop.
pub(crate) struct ModuleRef {
    _private: (),
}

impl ModuleRef {
    /// Takes a reference to this module; `ENODEV` when it is being unloaded.
    pub(crate) fn get() -> Result<Self> {
        // SAFETY: `THIS_MODULE` is this module, alive while its code runs.
        if !unsafe { ffi::pcpu_array_try_module_get(this_module().cast()) } {
            return Err(ENODEV);
        }
        // INVARIANT: Raised just above.
        Ok(Self { _private: () })
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: Raised by `get` (type invariant). The last reference is dropped either by a
        // consumer, whose own dependency on this module keeps it loaded during the call, or by
        // a work item on the module's teardown workqueue, which module exit waits for.
        unsafe { bindings::module_put(this_module()) };
    }
}

/// The module's registrations.
pub(crate) struct Registrations {
    // Dropped in this order: the reverse of `new`.
    _debugfs: DebugfsRoot,
    _hotplug: HotplugState,
    _cpu_work: CpuWorkQueue,
}

impl Registrations {
    /// Registers everything the caches rely on. Called once, from module init.
    pub(crate) fn new() -> Result<Self> {
        let cpu_work = CpuWorkQueue::new()?;
        let hotplug = HotplugState::register(NAMES.1)?;
        let debugfs = DebugfsRoot::new(NAMES.0);
        Ok(Self {
            _debugfs: debugfs,
            _hotplug: hotplug,
            _cpu_work: cpu_work,
        })
    }
}

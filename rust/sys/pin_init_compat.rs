// SPDX-License-Identifier: GPL-2.0

//! Where pin-init differs between the supported kernels (7.2, 7.3): one name for running an
//! initialiser on raw memory. Also compiled into consumers by `binding/generate.sh`.

#[cfg(not(pcpu_array_kernel_7_3))]
use kernel::prelude::*;

/// Runs the initialiser `init` on `slot`: pin-init's `raw_try_init` from Linux 7.3 on, where
/// `PinInit::__pinned_init` became `PinInit::__init`.
#[cfg(pcpu_array_kernel_7_3)]
pub(crate) use pin_init::raw_try_init;

/// Runs the initialiser `init` on `slot`: `PinInit::__pinned_init` before Linux 7.3, under the
/// name of 7.3's `pin_init::raw_try_init`.
///
/// # Safety
///
/// `slot` must be valid for writes and hold no value; when `init` fails the caller must not
/// touch `slot` (only free it); the value must not move until it is dropped unless `init` is
/// an `Init`.
#[cfg(not(pcpu_array_kernel_7_3))]
#[inline(always)]
pub(crate) unsafe fn raw_try_init<T, E>(slot: *mut T, init: impl PinInit<T, E>) -> Result<(), E> {
    // SAFETY: The contract of `__pinned_init` is the caller's, above.
    unsafe { init.__pinned_init(slot) }
}

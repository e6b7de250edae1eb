// SPDX-License-Identifier: GPL-2.0

//! What KASAN sees of the objects parked in an array.
//!
//! To the slab allocator an object in an array is allocated, so without help KASAN would not
//! report a use after free of an object the array holds (the 2023 patch documented this as a
//! limitation). With generic KASAN the array marks the objects it holds as freed, and marks
//! them valid again when it hands them out, except KFENCE objects, which KASAN does not track.
//! Without generic KASAN these are no-ops.

use core::ptr::NonNull;
use kernel::ffi::c_void;

#[cfg(CONFIG_KASAN_GENERIC)]
use crate::sys::ffi;

/// Whether the arrays poison the objects they hold.
pub(crate) const ENABLED: bool = cfg!(CONFIG_KASAN_GENERIC);

/// Whether `obj` is a KFENCE object. KASAN never poisons or unpoisons those (KFENCE guards them
/// with pages of its own), and a shadow written for one would outlive it: a later object in
/// the same KFENCE slot could get a false report. The arrays leave them alone as well.
#[cfg(CONFIG_KASAN_GENERIC)]
use crate::semantics::hardening::is_kfence;

/// Marks the `size` bytes at `obj` as a freed slab object: KASAN then reports any access.
///
/// # Safety
///
/// `obj` must be a live slab object of at least `size` bytes, owned by the caller, that nothing
/// accesses until [`unpoison`] is called on it.
#[inline]
pub(crate) unsafe fn poison(obj: NonNull<c_void>, size: usize) {
    #[cfg(CONFIG_KASAN_GENERIC)]
    if !is_kfence(obj) {
        // SAFETY: Guaranteed by the caller: the shadow of `obj` covers its `size` bytes.
        unsafe { ffi::pcpu_array_kasan_poison(obj.as_ptr(), size) };
    }
    #[cfg(not(CONFIG_KASAN_GENERIC))]
    let _ = (obj, size);
}

/// Marks the `size` bytes at `obj` as valid again, exactly as the slab allocator left them.
///
/// # Safety
///
/// `obj` must be a slab object of `size` bytes (its `kmem_cache_size()`) owned by the caller.
#[inline]
pub(crate) unsafe fn unpoison(obj: NonNull<c_void>, size: usize) {
    #[cfg(CONFIG_KASAN_GENERIC)]
    if !is_kfence(obj) {
        // SAFETY: Guaranteed by the caller.
        unsafe { ffi::pcpu_array_kasan_unpoison(obj.as_ptr(), size) };
    }
    #[cfg(not(CONFIG_KASAN_GENERIC))]
    let _ = (obj, size);
}

/// Whether the first byte of `obj` may be accessed. When it may not, because `obj` is parked in
/// an array already (it is being freed twice), KASAN reports the access and this returns false.
///
/// # Safety
///
/// `obj` must point into slab memory.
#[inline]
pub(crate) unsafe fn check(obj: NonNull<c_void>) -> bool {
    #[cfg(CONFIG_KASAN_GENERIC)]
    // SAFETY: Guaranteed by the caller; only the shadow is read.
    return unsafe { ffi::pcpu_array_kasan_check(obj.as_ptr()) };
    #[cfg(not(CONFIG_KASAN_GENERIC))]
    {
        let _ = obj;
        true
    }
}

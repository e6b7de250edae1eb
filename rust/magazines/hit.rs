// SPDX-License-Identifier: GPL-2.0

//! The hit path: one object popped from, or pushed onto, this CPU's loaded magazine, and which
//! calls may be served that way.
//!
//! One copy for `pcpu_array.ko` and for its Rust consumers: the module's own `Cache::alloc` and
//! `Cache::free` call [`alloc`] and [`free`] over its cache state, and the binding's inline hit
//! (`rust/abi/inline_hit.rs`, compiled into consumers by `binding/generate.sh`) calls them over
//! the C ABI's layout. The two differ only in how they reach the loaded magazine ([`ThisCpu`]):
//! the module through its pin, trylock and counters, with KASAN and kmemleak around each
//! object where the kernel has them; the binding through the layout of `struct pcpu_array_cpu`
//! with the inline per-CPU operations. The C header's `pcpu_array_alloc_inline()` and
//! `pcpu_array_free_inline()` are the only other copy, pinned to this one by the layout
//! fingerprint (`abi_types::LAYOUT`).

use super::{
    abi_types::{
        PcpuArrayMagazine,
        CHECK_ALLOC_INLINE,
        CHECK_INIT_EXEMPT, //
    },
    gfp::Gfp,
    hardening, //
};
use core::ptr::NonNull;
use kernel::ffi::c_void;

/// Why a call was not a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The cache's checks word or the call itself needs the full path (accounting, placement,
    /// `init_on_free`, a KFENCE object).
    Checks,
    /// This CPU's lock was held: an interrupted context, or another task on PREEMPT_RT.
    Locked,
    /// The loaded magazine was empty (allocation) or full (free).
    Exhausted,
}

/// How a hit reaches this CPU's loaded magazine.
pub(crate) trait ThisCpu {
    /// The cache's checks word (`struct pcpu_array_hot`'s `checks`).
    fn checks(&self) -> i64;

    /// Pins the task, tries this CPU's lock and pops the loaded magazine, counting
    /// `alloc_array` on a hit. `None` when the lock is held; `Some(None)` when the magazine is
    /// empty.
    fn pop_loaded(&self) -> Option<Option<NonNull<c_void>>>;

    /// Pins the task, tries this CPU's lock and pushes `obj` onto the loaded magazine, counting
    /// `free_array` on a hit. `None` when the lock is held; `Some(false)` when the magazine is
    /// full.
    ///
    /// # Safety
    ///
    /// `obj` must be an object of the cache that the caller owns and no longer uses, of this
    /// CPU's node when the cache keeps nodes apart.
    unsafe fn push_loaded(&self, obj: NonNull<c_void>) -> Option<bool>;

    /// Zeroes `obj`, an object of the cache that is now the caller's.
    fn zero(&self, obj: NonNull<c_void>);
}

/// Pops the most recently pushed object of `mag`, or `None` when it is empty.
///
/// # Safety
///
/// `mag` must keep the layout's contract: `len <= capacity <= MAX_CAPACITY` and `objs[..len]`
/// non-null.
#[inline(always)]
pub(crate) unsafe fn pop(mag: &mut PcpuArrayMagazine) -> Option<NonNull<c_void>> {
    let len = mag.len.checked_sub(1)?;
    mag.len = len;
    // SAFETY: `len < capacity <= MAX_CAPACITY` and `objs[..len + 1]` are non-null (guaranteed
    // by the caller). Unchecked: the hit pays no bounds or null test.
    Some(unsafe { NonNull::new_unchecked(*mag.objs.get_unchecked(len)) })
}

/// Pushes `obj` onto `mag`, or gives it back when `mag` is full.
///
/// # Safety
///
/// As [`pop`]; `obj` is handed over to the magazine.
#[inline(always)]
pub(crate) unsafe fn push(
    mag: &mut PcpuArrayMagazine,
    obj: NonNull<c_void>,
) -> Result<(), NonNull<c_void>> {
    // `==` rather than `>=`, the same under the layout's contract (`len <= capacity`): the test
    // a caller that just asked whether the magazine is full made, which the compiler then does
    // not repeat.
    if mag.len == mag.capacity {
        return Err(obj);
    }
    // SAFETY: `len < capacity <= MAX_CAPACITY` (checked above; guaranteed by the caller).
    // Unchecked: the hit pays no second bounds test.
    unsafe { *mag.objs.get_unchecked_mut(mag.len) = obj.as_ptr() };
    mag.len += 1;
    Ok(())
}

/// Whether an allocation with `gfp` may be a hit for a cache whose checks word is `checks`:
/// not a charged allocation, and no check bit outside `CHECK_ALLOC_INLINE` (fail closed: a bit
/// this layout does not know takes the full path).
#[inline(always)]
pub(crate) fn alloc_allowed(checks: i64, gfp: Gfp) -> bool {
    !gfp.accounts() && checks & !CHECK_ALLOC_INLINE == 0
}

/// Whether an object handed out with `gfp` must be zeroed: `__GFP_ZERO`, or `init_on_alloc`
/// on a cache that is not exempt (`slab_want_init_on_alloc()`).
#[inline(always)]
pub(crate) fn zero_on_alloc(checks: i64, gfp: Gfp) -> bool {
    gfp.wants_zero() || (checks & CHECK_INIT_EXEMPT == 0 && hardening::init_on_alloc())
}

/// Whether a free of `obj` may be a hit for a cache whose checks word is `checks`: not a KFENCE
/// object, no check bit but `CHECK_INIT_EXEMPT` (fail closed), and no `init_on_free` wipe
/// (`slab_want_init_on_free()`: an exempt cache is not wiped).
#[inline(always)]
pub(crate) fn free_allowed(checks: i64, obj: NonNull<c_void>) -> bool {
    !hardening::is_kfence(obj)
        && checks & !CHECK_INIT_EXEMPT == 0
        && (checks != 0 || !hardening::init_on_free())
}

/// The allocation hit: an object from this CPU's loaded magazine, zeroed as `gfp` and
/// `init_on_alloc` ask, or why not.
#[inline(always)]
pub(crate) fn alloc(cpu: &impl ThisCpu, gfp: Gfp) -> Result<NonNull<c_void>, Miss> {
    let checks = cpu.checks();
    if !alloc_allowed(checks, gfp) {
        return Err(Miss::Checks);
    }
    let obj = cpu
        .pop_loaded()
        .ok_or(Miss::Locked)?
        .ok_or(Miss::Exhausted)?;
    if zero_on_alloc(checks, gfp) {
        cpu.zero(obj);
    }
    Ok(obj)
}

/// The free hit: `obj` onto this CPU's loaded magazine, or why not.
///
/// # Safety
///
/// `obj` must be an object of the cache that the caller owns and no longer uses.
#[inline(always)]
pub(crate) unsafe fn free(cpu: &impl ThisCpu, obj: NonNull<c_void>) -> Result<(), Miss> {
    if !free_allowed(cpu.checks(), obj) {
        return Err(Miss::Checks);
    }
    // SAFETY: Guaranteed by the caller; with no check bit the cache keeps no node apart.
    match unsafe { cpu.push_loaded(obj) } {
        Some(true) => Ok(()),
        Some(false) => Err(Miss::Exhausted),
        None => Err(Miss::Locked),
    }
}

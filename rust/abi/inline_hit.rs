// SPDX-License-Identifier: GPL-2.0

//! The inline hit path of the Rust binding: what `pcpu_array_alloc_inline()` and
//! `pcpu_array_free_inline()` of `include/pcpu_array.h` do in C, for Rust consumers.
//!
//! A hit pops an object from this CPU's loaded magazine, or pushes one onto it, under the CPU's
//! lock, and counts it, without calling `pcpu_array.ko`; everything else is left to the exported
//! functions, which the binding calls when these return `None` or `Err`. They read the cache's
//! per-CPU state through the layout of [`LAYOUT`], the structures of `abi_types`, and hit only
//! where `fast_path.mk` chose `pcpu_array_inline_hit` (x86-64 SMP, not PREEMPT_RT, no debug
//! option that checks what a hit does); elsewhere they always miss.
//!
//! Compiled into consumers by `binding/generate.sh`, next to the `abi_types`, `gfp`,
//! `hardening` and `inline_percpu` files it uses.
//!
//! [`LAYOUT`]: super::abi_types::LAYOUT

use core::ptr::NonNull;
use kernel::ffi::c_void;

use super::{
    abi_types::pcpu_array,
    gfp::Gfp, //
};

/// Takes an object from this CPU's loaded magazine of `pa`, zeroed when `gfp` or
/// `init_on_alloc` asks for it, as `pcpu_array_alloc()` would. `None`, with nothing changed, when
/// the caller must call `pcpu_array_alloc()`: a miss, a lock held by an interrupted context, an
/// allocation the placement rules send elsewhere, or no inline hit path in this build.
///
/// # Safety
///
/// `pa` must be a live cache returned by `pcpu_array_create_args()`.
#[inline(always)]
pub(crate) unsafe fn alloc(pa: NonNull<pcpu_array>, gfp: Gfp) -> Option<NonNull<c_void>> {
    #[cfg(pcpu_array_inline_hit)]
    // SAFETY: Guaranteed by the caller.
    return unsafe { hit::alloc(pa, gfp) };
    #[cfg(not(pcpu_array_inline_hit))]
    {
        let _ = (pa, gfp);
        None
    }
}

/// Puts `obj` onto this CPU's loaded magazine of `pa`, as `pcpu_array_free()` would. Gives it
/// back when the caller must call `pcpu_array_free()`: a full magazine, a lock held by an
/// interrupted context, a free that needs a placement check, a KFENCE object, `init_on_free` on
/// a cache it applies to, or no inline hit path in this build.
///
/// # Safety
///
/// `pa` must be a live cache returned by `pcpu_array_create_args()`, and `obj` an object
/// allocated from it that the caller owns and does not use afterwards.
#[inline(always)]
pub(crate) unsafe fn free(
    pa: NonNull<pcpu_array>,
    obj: NonNull<c_void>,
) -> Result<(), NonNull<c_void>> {
    #[cfg(pcpu_array_inline_hit)]
    // SAFETY: Guaranteed by the caller.
    return unsafe { hit::free(pa, obj) };
    #[cfg(not(pcpu_array_inline_hit))]
    {
        let _ = pa;
        Err(obj)
    }
}

#[cfg(pcpu_array_inline_hit)]
mod hit {
    use super::super::{
        abi_types::{
            pcpu_array,
            PcpuArrayHot,
            PcpuArrayMagazine,
            CHECK_ALLOC_INLINE,
            CHECK_INIT_EXEMPT,
            STAT_ALLOC_ARRAY,
            STAT_FREE_ARRAY, //
        },
        gfp::Gfp,
        hardening,
        inline_percpu::{
            preempt,
            trylock,
            x86, //
        },
    };
    use core::ptr::NonNull;
    use kernel::ffi::c_void;

    /// Runs `f` on this CPU's loaded magazine of `hot`, with the CPU's lock held, and counts
    /// `stat` when it returns `Ok`. `None` when the lock is held.
    ///
    /// # Safety
    ///
    /// `hot` must be the `struct pcpu_array_hot` of a live cache.
    #[inline(always)]
    unsafe fn with_loaded<R, E>(
        hot: &PcpuArrayHot,
        stat: usize,
        f: impl FnOnce(&mut PcpuArrayMagazine) -> Result<R, E>,
    ) -> Option<Result<R, E>> {
        preempt::preempt_disable();
        let cpu = hot.cpu.wrapping_byte_add(x86::offset());
        // SAFETY: `hot.cpu` is the `__percpu` address of every CPU's `struct pcpu_array_cpu`,
        // `cpu` this CPU's instance, and preemption is disabled until the unlock below.
        let locked = unsafe { trylock::trylock(&raw mut (*cpu).lock) };
        let r = if locked {
            // SAFETY: With this CPU's lock held the loaded magazine is ours: a live magazine of
            // the cache that nothing else touches until the unlock (the layout's contract).
            let r = f(unsafe { &mut *(*cpu).loaded });
            if r.is_ok() {
                // SAFETY: `stats` is the `__percpu` address of every CPU's counters, of which
                // `stat` is one.
                unsafe { x86::inc_u64(hot.stats.wrapping_add(stat)) };
            }
            // SAFETY: Taken above, on this CPU.
            unsafe { trylock::unlock(&raw mut (*cpu).lock) };
            Some(r)
        } else {
            None
        };
        // SAFETY: Balances the `preempt_disable()` above.
        unsafe { preempt::preempt_enable() };
        r
    }

    /// The inline [`super::alloc`].
    ///
    /// # Safety
    ///
    /// As [`super::alloc`].
    #[inline(always)]
    pub(super) unsafe fn alloc(pa: NonNull<pcpu_array>, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: A live cache begins with its `struct pcpu_array_hot`, set at creation and
        // never changed (guaranteed by the caller; the layout's contract).
        let hot = unsafe { pa.cast::<PcpuArrayHot>().as_ref() };
        if gfp.accounts() {
            return None;
        }
        // SAFETY: `checks` points to the cache's checks word, which lives as long as the cache
        // and is written atomically; this is `READ_ONCE()`.
        let checks = unsafe { hot.checks.read_volatile() };
        // Fail closed: a bit this layout does not know takes the call.
        if checks & !CHECK_ALLOC_INLINE != 0 {
            return None;
        }
        let pop = |mag: &mut PcpuArrayMagazine| {
            let Some(len) = mag.len.checked_sub(1) else {
                return Err(());
            };
            mag.len = len;
            // SAFETY: `len < capacity <= MAX_CAPACITY`, and `objs[..len + 1]` are non-null
            // objects (the layout's contract).
            Ok(unsafe { NonNull::new_unchecked(*mag.objs.get_unchecked(len)) })
        };
        // SAFETY: As above.
        let popped = unsafe { with_loaded(hot, STAT_ALLOC_ARRAY, pop) };
        let obj = popped?.ok()?;
        // `slab_want_init_on_alloc()`: an exempt cache zeroes for `__GFP_ZERO` alone.
        if gfp.wants_zero() || (checks & CHECK_INIT_EXEMPT == 0 && hardening::init_on_alloc()) {
            // SAFETY: `obj` is an object of `object_size` bytes, now the caller's.
            unsafe {
                core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0, hot.object_size as usize)
            };
        }
        Some(obj)
    }

    /// The inline [`super::free`].
    ///
    /// # Safety
    ///
    /// As [`super::free`].
    #[inline(always)]
    pub(super) unsafe fn free(
        pa: NonNull<pcpu_array>,
        obj: NonNull<c_void>,
    ) -> Result<(), NonNull<c_void>> {
        // SAFETY: As in `alloc`.
        let hot = unsafe { pa.cast::<PcpuArrayHot>().as_ref() };
        if hardening::is_kfence(obj) {
            return Err(obj);
        }
        // SAFETY: As in `alloc`.
        let checks = unsafe { hot.checks.read_volatile() };
        // `slab_want_init_on_free()`: an exempt cache is not wiped; any other check, one this
        // layout does not know included, takes the call.
        if checks & !CHECK_INIT_EXEMPT != 0 || (checks == 0 && hardening::init_on_free()) {
            return Err(obj);
        }
        let push = |mag: &mut PcpuArrayMagazine| {
            if mag.len >= mag.capacity {
                return Err(());
            }
            // SAFETY: `len < capacity <= MAX_CAPACITY` (the layout's contract). The object is
            // handed over to the magazine (guaranteed by the caller).
            unsafe { *mag.objs.get_unchecked_mut(mag.len) = obj.as_ptr() };
            mag.len += 1;
            Ok(())
        };
        // SAFETY: As in `alloc`.
        let pushed = unsafe { with_loaded(hot, STAT_FREE_ARRAY, push) };
        match pushed {
            Some(Ok(())) => Ok(()),
            _ => Err(obj),
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The inline hit path of the Rust binding: what `pcpu_array_alloc_inline()` and
//! `pcpu_array_free_inline()` of `include/pcpu_array.h` do in C, for Rust consumers.
//!
//! A hit is the module's own hit path, `hit::alloc` and `hit::free` (`rust/magazines/hit.rs`),
//! run without calling `pcpu_array.ko`: this file only gives it the way to this CPU's loaded
//! magazine, through the layout of [`LAYOUT`] (the structures of `abi_types`) and the inline
//! per-CPU operations. Everything else is left to the exported functions, which the binding
//! calls when these return `None` or `Err`. They hit only where `fast_path.mk` chose
//! `pcpu_array_inline_hit` (x86-64 SMP, not PREEMPT_RT, no debug option that checks what a hit
//! does); elsewhere they always miss.
//!
//! Compiled into consumers by `binding/generate.sh`, next to the `abi_types`, `gfp`, `hit`,
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
    return unsafe { inline::alloc(pa, gfp) };
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
    return unsafe { inline::free(pa, obj) };
    #[cfg(not(pcpu_array_inline_hit))]
    {
        let _ = pa;
        Err(obj)
    }
}

#[cfg(pcpu_array_inline_hit)]
mod inline {
    use super::super::{
        abi_types::{
            pcpu_array,
            PcpuArrayHot,
            PcpuArrayMagazine,
            STAT_ALLOC_ARRAY,
            STAT_FREE_ARRAY, //
        },
        gfp::Gfp,
        hit::{
            self,
            ThisCpu, //
        },
        inline_percpu::{
            preempt,
            trylock,
            x86, //
        },
    };
    use core::ptr::NonNull;
    use kernel::ffi::c_void;

    /// A live cache's `struct pcpu_array_hot`, reached the way the C header's inline functions
    /// reach it: the hit path's [`ThisCpu`] in consumers.
    ///
    /// # Invariants
    ///
    /// `hot` is the `struct pcpu_array_hot` of a live cache.
    struct Hot<'a> {
        hot: &'a PcpuArrayHot,
    }

    impl Hot<'_> {
        /// Runs `f` on this CPU's loaded magazine, with the CPU's lock held, and counts `stat`
        /// when it returns `Ok`. `None` when the lock is held.
        #[inline(always)]
        fn with_loaded<R, E>(
            &self,
            stat: usize,
            f: impl FnOnce(&mut PcpuArrayMagazine) -> Result<R, E>,
        ) -> Option<Result<R, E>> {
            let hot = self.hot;
            preempt::preempt_disable();
            let cpu = hot.cpu.wrapping_byte_add(x86::offset());
            // SAFETY: `hot.cpu` is the `__percpu` address of every CPU's `struct
            // pcpu_array_cpu` (type invariant), `cpu` this CPU's instance, and preemption is
            // disabled until the unlock below.
            let locked = unsafe { trylock::trylock(&raw mut (*cpu).lock) };
            let r = if locked {
                // SAFETY: With this CPU's lock held the loaded magazine is ours: a live
                // magazine of the cache that nothing else touches until the unlock (the
                // layout's contract).
                let r = f(unsafe { &mut *(*cpu).loaded });
                if r.is_ok() {
                    // SAFETY: `stats` is the `__percpu` address of every CPU's counters, of
                    // which `stat` is one.
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
    }

    impl ThisCpu for Hot<'_> {
        #[inline(always)]
        fn checks(&self) -> i64 {
            // SAFETY: `checks` points to the cache's checks word, which lives as long as the
            // cache (type invariant) and is written atomically; this is `READ_ONCE()`.
            unsafe { self.hot.checks.read_volatile() }
        }

        #[inline(always)]
        fn pop_loaded(&self) -> Option<Option<NonNull<c_void>>> {
            // SAFETY: The layout's contract holds for a live cache's magazines.
            let popped = self.with_loaded(STAT_ALLOC_ARRAY, |m| unsafe { hit::pop(m) }.ok_or(()));
            popped.map(Result::ok)
        }

        #[inline(always)]
        unsafe fn push_loaded(&self, obj: NonNull<c_void>) -> Option<bool> {
            // SAFETY: The layout's contract holds for a live cache's magazines; `obj` is handed
            // over (guaranteed by the caller).
            let pushed = self.with_loaded(STAT_FREE_ARRAY, |m| unsafe { hit::push(m, obj) });
            pushed.map(|r| r.is_ok())
        }

        #[inline(always)]
        fn zero(&self, obj: NonNull<c_void>) {
            // SAFETY: `obj` is an object of `object_size` bytes, now the caller's (the trait's
            // contract).
            unsafe {
                core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0, self.hot.object_size as usize)
            };
        }
    }

    /// The inline [`super::alloc`]: [`hit::alloc`] over the C ABI's layout.
    ///
    /// # Safety
    ///
    /// As [`super::alloc`].
    #[inline(always)]
    pub(super) unsafe fn alloc(pa: NonNull<pcpu_array>, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: A live cache begins with its `struct pcpu_array_hot`, set at creation and
        // never changed (guaranteed by the caller; the layout's contract).
        let hot = unsafe { pa.cast::<PcpuArrayHot>().as_ref() };
        // INVARIANT: As above.
        let hot = Hot { hot };
        hit::alloc(&hot, gfp).ok()
    }

    /// The inline [`super::free`]: [`hit::free`] over the C ABI's layout.
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
        // INVARIANT: As in `alloc`.
        let hot = Hot { hot };
        // SAFETY: Guaranteed by the caller.
        unsafe { hit::free(&hot, obj) }.map_err(|_| obj)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The backing `kmem_cache` the arrays sit in front of.
//!
//! # kmemleak
//!
//! Without sheaves the backing cache has `SLAB_NOLEAKTRACE`, which also keeps SLUB from telling
//! kmemleak about its objects. The backing cache then tells it itself, at the same points SLUB
//! would: `kmemleak_alloc()` for every object it allocates (refills included) and
//! `kmemleak_free()` for every object it frees, in the context of that slab call. To kmemleak an
//! object parked in an array is an allocated object referenced by the array (per-CPU memory,
//! which it scans), an object handed out is referenced by its caller, and an object the caller
//! drops is a leak it reports, with the backtrace of the slab call that brought it into the
//! cache (a refill, made by an allocation on the same CPU). Compiled out without
//! `CONFIG_DEBUG_KMEMLEAK`.

use crate::semantics::gfp::Gfp;
use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    str::CStr, //
};

/// Raw slab flags (`slab_flags_t`) for a flag's bit number from `enum _slab_flag_bits`.
const fn slab_flag(bit: u32) -> bindings::slab_flags_t {
    1 << bit
}

/// `SLAB_NO_MERGE`: the backing cache is never an alias of another cache, so its objects and
/// statistics are its own.
pub(crate) const SLAB_NO_MERGE: bindings::slab_flags_t =
    slab_flag(bindings::_slab_flag_bits__SLAB_NO_MERGE);
/// `SLAB_NOLEAKTRACE`: the way a module can create a cache without sheaves on Linux 7.2 (it also
/// hides the cache from kmemleak; see `Documentation/pcpu_array.rst`).
pub(crate) const SLAB_NOLEAKTRACE: bindings::slab_flags_t =
    slab_flag(bindings::_slab_flag_bits__SLAB_NOLEAKTRACE);

/// Whether the backing cache keeps its own per-CPU layer (SLUB sheaves) under the arrays.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sheaves {
    /// No sheaves: the arrays are the only per-CPU layer, as in the 2023 design. The default.
    Off,
    /// Keep SLUB's sheaves below the arrays.
    On,
}

/// An owned `kmem_cache`.
///
/// # Invariants
///
/// `cache` is a live cache from `__kmem_cache_create_args()`, destroyed only on drop, and
/// `object_size` is its `kmem_cache_size()`, which does not change while it lives.
pub(crate) struct BackingCache {
    cache: NonNull<bindings::kmem_cache>,
    object_size: usize,
    /// Whether the cache tells kmemleak about its objects (see the module documentation).
    #[cfg_attr(
        not(CONFIG_DEBUG_KMEMLEAK),
        expect(dead_code, reason = "kmemleak only")
    )]
    tells_kmemleak: bool,
}

// SAFETY: The slab API may be called on a cache from any CPU and any task.
unsafe impl Send for BackingCache {}
// SAFETY: As above; every method takes `&self` and the slab API does its own locking.
unsafe impl Sync for BackingCache {}

impl BackingCache {
    /// Creates a cache of `size`-byte objects aligned to `align`.
    ///
    /// `SLAB_NO_MERGE` is always added, and `SLAB_NOLEAKTRACE` too unless `sheaves` is
    /// [`Sheaves::On`].
    pub(crate) fn new(
        name: &CStr,
        size: u32,
        align: u32,
        flags: bindings::slab_flags_t,
        sheaves: Sheaves,
    ) -> Result<Self> {
        if size == 0 {
            return Err(EINVAL);
        }
        // Only when we add `SLAB_NOLEAKTRACE`: a caller that passes it wants kmemleak blind.
        let tells_kmemleak = sheaves == Sheaves::Off && flags & SLAB_NOLEAKTRACE == 0;
        let mut flags = flags | SLAB_NO_MERGE;
        if sheaves == Sheaves::Off {
            flags |= SLAB_NOLEAKTRACE;
        }
        // SAFETY: All-zero is a valid `kmem_cache_args`: no constructor, no usercopy region,
        // default sheaf capacity.
        let mut args: bindings::kmem_cache_args = unsafe { core::mem::zeroed() };
        args.align = align;
        // SAFETY: `name` is a valid C string (the slab code copies it) and `args` lives across
        // the call.
        let cache = unsafe {
            bindings::__kmem_cache_create_args(name.as_char_ptr(), size, &mut args, flags)
        };
        let cache = NonNull::new(cache).ok_or(ENOMEM)?;
        // SAFETY: `cache` is the live cache just created.
        let object_size = unsafe { bindings::kmem_cache_size(cache.as_ptr()) } as usize;
        // INVARIANT: A non-null return is a live cache that we now own; its size was read
        // just above.
        Ok(Self {
            cache,
            object_size,
            tells_kmemleak,
        })
    }

    /// Tells kmemleak about `objs`, just allocated with `gfp`.
    #[inline(always)]
    fn kmemleak_alloc(&self, objs: &[*mut c_void], gfp: Gfp) {
        #[cfg(CONFIG_DEBUG_KMEMLEAK)]
        if self.tells_kmemleak {
            for &obj in objs {
                // SAFETY: `obj` is an object of `object_size` bytes that the slab just allocated
                // and did not tell kmemleak about (`SLAB_NOLEAKTRACE`); called in the context of
                // that slab call, where kmemleak may allocate with `gfp` too.
                unsafe {
                    crate::sys::ffi::pcpu_array_kmemleak_alloc(obj, self.object_size, gfp.as_raw())
                };
            }
        }
        #[cfg(not(CONFIG_DEBUG_KMEMLEAK))]
        let _ = (objs, gfp);
    }

    /// Tells kmemleak that `objs` are about to be freed.
    #[inline(always)]
    fn kmemleak_free(&self, objs: &[*mut c_void]) {
        #[cfg(CONFIG_DEBUG_KMEMLEAK)]
        if self.tells_kmemleak {
            for &obj in objs {
                // SAFETY: `obj` was allocated from this cache, which told kmemleak about it.
                unsafe { crate::sys::ffi::pcpu_array_kmemleak_free(obj) };
            }
        }
        #[cfg(not(CONFIG_DEBUG_KMEMLEAK))]
        let _ = objs;
    }

    /// The `struct kmem_cache` itself.
    pub(crate) fn as_ptr(&self) -> *mut bindings::kmem_cache {
        self.cache.as_ptr()
    }

    /// The size of its objects, `kmem_cache_size()`: at least the size asked for. Read once, at
    /// creation: zeroing an object served from an array (`__GFP_ZERO`, `init_on_alloc`) needs
    /// it on the hit path.
    #[inline]
    pub(crate) fn object_size(&self) -> usize {
        self.object_size
    }

    /// Allocates one object.
    #[inline]
    pub(crate) fn alloc(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: The cache is live (type invariant).
        let obj = NonNull::new(unsafe {
            bindings::kmem_cache_alloc_noprof(self.as_ptr(), gfp.as_raw())
        })?;
        self.kmemleak_alloc(&[obj.as_ptr()], gfp);
        Some(obj)
    }

    /// Allocates one object on `node`.
    pub(crate) fn alloc_node(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
        // SAFETY: The cache is live; the slab code checks the node.
        let obj = NonNull::new(unsafe {
            bindings::kmem_cache_alloc_node_noprof(self.as_ptr(), gfp.as_raw(), node)
        })?;
        self.kmemleak_alloc(&[obj.as_ptr()], gfp);
        Some(obj)
    }

    /// Fills all of `out` with new objects, or allocates none of them (one bulk call).
    ///
    /// Must be called where [`crate::percpu::cpu_pin::bulk_allowed`] holds.
    pub(crate) fn alloc_bulk(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool {
        if out.is_empty() {
            return true;
        }
        // SAFETY: The cache is live and `out` has room for `out.len()` pointers.
        let ok = unsafe {
            bindings::kmem_cache_alloc_bulk_noprof(
                self.as_ptr(),
                gfp.as_raw(),
                out.len(),
                out.as_mut_ptr(),
            )
        };
        if ok {
            self.kmemleak_alloc(out, gfp);
        }
        ok
    }

    /// Fills all of `out` with new objects of memory node `node` and no other
    /// (`__GFP_THISNODE`), one allocation each, or allocates none of them. Must be called where
    /// [`crate::percpu::cpu_pin::bulk_allowed`] holds, as [`BackingCache::alloc_bulk`].
    ///
    /// `kmem_cache_alloc_bulk()` takes no node, and when the local node has no partial slab it
    /// takes another node's: a refill that needs local objects asks for each one.
    pub(crate) fn alloc_bulk_on_node(&self, gfp: Gfp, node: i32, out: &mut [*mut c_void]) -> bool {
        let gfp = gfp.this_node();
        for i in 0..out.len() {
            match self.alloc_node(gfp, node) {
                Some(obj) => out[i] = obj.as_ptr(),
                None => {
                    // SAFETY: `out[..i]` were allocated just above, not handed to anyone.
                    unsafe { self.free_bulk(&mut out[..i]) };
                    return false;
                }
            }
        }
        true
    }

    /// Frees one object.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of this cache, owned by the caller and not used afterwards.
    #[inline]
    pub(crate) unsafe fn free(&self, obj: NonNull<c_void>) {
        self.kmemleak_free(&[obj.as_ptr()]);
        // SAFETY: Guaranteed by the caller.
        unsafe { bindings::kmem_cache_free(self.as_ptr(), obj.as_ptr()) }
    }

    /// Frees every object in `objs` (one bulk call).
    ///
    /// # Safety
    ///
    /// Every pointer in `objs` must be a live object of this cache, owned by the caller and not
    /// used afterwards.
    pub(crate) unsafe fn free_bulk(&self, objs: &mut [*mut c_void]) {
        if objs.is_empty() {
            return;
        }
        self.kmemleak_free(objs);
        // SAFETY: Guaranteed by the caller.
        unsafe { bindings::kmem_cache_free_bulk(self.as_ptr(), objs.len(), objs.as_mut_ptr()) }
    }
}

impl Drop for BackingCache {
    fn drop(&mut self) {
        // SAFETY: The cache is live and, with `&mut self`, unused by anyone else. The slab code
        // reports any object still allocated.
        unsafe { bindings::kmem_cache_destroy(self.as_ptr()) }
    }
}

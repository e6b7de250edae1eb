// SPDX-License-Identifier: GPL-2.0

//! A plain `kmem_cache`, the baseline the range map's benchmark compares pcpu_array against.
//!
//! The cache is what a module gets from the slab API without pcpu_array: SLUB's own per-CPU
//! layer (sheaves, in Linux 7.2) included. `SLAB_NO_MERGE` keeps it from being an alias of
//! another cache of the same size, so that the objects and the timings are its own.

use crate::pcpu_array::Gfp;
use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    str::CStr, //
};

/// `SLAB_NO_MERGE` (bit `_SLAB_NO_MERGE` of `enum _slab_flag_bits`).
const SLAB_NO_MERGE: bindings::slab_flags_t = 1 << bindings::_slab_flag_bits__SLAB_NO_MERGE;

/// An owned `kmem_cache`.
///
/// # Invariants
///
/// `cache` is a live cache from `__kmem_cache_create_args()`, owned by this value and destroyed
/// only on drop.
pub(crate) struct KmemCache {
    cache: NonNull<bindings::kmem_cache>,
}

// SAFETY: The slab API may be called on a cache from any CPU and any task.
unsafe impl Send for KmemCache {}
// SAFETY: As above; every method takes `&self` and the slab API does its own locking.
unsafe impl Sync for KmemCache {}

impl KmemCache {
    /// Creates a cache `name` of `size`-byte objects aligned to `align` (0 for the default).
    pub(crate) fn new(name: &CStr, size: u32, align: u32) -> Result<Self> {
        if size == 0 {
            return Err(EINVAL);
        }
        // SAFETY: All-zero is a valid `kmem_cache_args`: no constructor, no usercopy region,
        // default sheaf capacity.
        let mut args: bindings::kmem_cache_args = unsafe { core::mem::zeroed() };
        args.align = align;
        // SAFETY: `name` is a valid C string (the slab code copies it) and `args` lives across
        // the call.
        let cache = unsafe {
            bindings::__kmem_cache_create_args(name.as_char_ptr(), size, &mut args, SLAB_NO_MERGE)
        };
        // INVARIANT: A non-null return is a live cache that we now own.
        Ok(Self {
            cache: NonNull::new(cache).ok_or(ENOMEM)?,
        })
    }

    /// Frees `obj` after an RCU grace period, with `kfree_rcu()` (`kvfree_call_rcu()`), which
    /// batches it on SLUB's per-CPU `rcu_free` sheaf. Any context but NMI.
    ///
    /// # Safety
    ///
    /// `obj` must be an object of this cache, unlinked from what RCU readers find it through
    /// and not used afterwards, whose first bytes are a `struct rcu_head` that readers do not
    /// read.
    pub(crate) unsafe fn free_rcu(&self, obj: NonNull<c_void>) {
        // SAFETY: Guaranteed by the caller: the head is the object's first bytes, and `kfree()`
        // takes an object of any slab cache.
        unsafe { bindings::kvfree_call_rcu(obj.as_ptr().cast(), obj.as_ptr()) };
    }

    /// Allocates one object.
    pub(crate) fn alloc(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: The cache is live (type invariant).
        NonNull::new(unsafe {
            bindings::kmem_cache_alloc_noprof(self.cache.as_ptr(), gfp.as_raw())
        })
    }

    /// Allocates one object on memory node `node` (any for `NUMA_NO_NODE`).
    pub(crate) fn alloc_node(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
        // SAFETY: The cache is live (type invariant).
        NonNull::new(unsafe {
            bindings::kmem_cache_alloc_node_noprof(self.cache.as_ptr(), gfp.as_raw(), node)
        })
    }

    /// Fills all of `out` with new objects, or allocates none of them (one bulk call). Must be
    /// called with interrupts enabled, as the slab bulk API requires.
    pub(crate) fn alloc_bulk(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool {
        if out.is_empty() {
            return true;
        }
        // SAFETY: The cache is live (type invariant) and `out` has room for `out.len()`
        // pointers, which the call fills in full or not at all.
        unsafe {
            bindings::kmem_cache_alloc_bulk_noprof(
                self.cache.as_ptr(),
                gfp.as_raw(),
                out.len(),
                out.as_mut_ptr(),
            )
        }
    }

    /// Frees one object.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of this cache, owned by the caller and not used afterwards.
    pub(crate) unsafe fn free(&self, obj: NonNull<c_void>) {
        // SAFETY: The cache is live (type invariant); the caller guarantees `obj`.
        unsafe { bindings::kmem_cache_free(self.cache.as_ptr(), obj.as_ptr()) }
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
        // SAFETY: The cache is live (type invariant); the caller guarantees every object.
        unsafe {
            bindings::kmem_cache_free_bulk(self.cache.as_ptr(), objs.len(), objs.as_mut_ptr())
        }
    }
}

impl Drop for KmemCache {
    fn drop(&mut self) {
        // SAFETY: The cache is live (type invariant) and, with `&mut self`, unused by anyone
        // else; nothing uses the pointer afterwards. The slab code reports any object still
        // allocated.
        unsafe { bindings::kmem_cache_destroy(self.cache.as_ptr()) }
    }
}

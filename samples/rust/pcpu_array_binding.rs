// SPDX-License-Identifier: GPL-2.0

//! The pcpu_array API for other Rust modules, over the C ABI of `include/pcpu_array.h`.
//!
//! A Rust module cannot import another module's crate, so a consumer compiles this file into
//! itself, at its crate root:
//!
//! ```ignore
//! #[path = "pcpu_array_binding.rs"]
//! pub mod pcpu_array;
//! use pcpu_array::{ArrayCache, Gfp};
//! ```
//!
//! It brings the same typed API as inside `pcpu_array.ko` (the very same `rust/typed.rs` and
//! `rust/gfp.rs`): [`ArrayCache`], its `ArrayBox` objects and typed reservations. The consumer's
//! Kbuild needs `KBUILD_EXTRA_SYMBOLS := <pcpu_array>/Module.symvers`, and the module must load
//! after `pcpu_array.ko` (modprobe does that from the symbol dependency; with insmod, a
//! consumer loaded first fails with "Unknown symbol pcpu_array_create").

#[path = "../../rust/abi_types.rs"]
pub mod abi_types;
#[path = "../../rust/gfp.rs"]
pub mod gfp;
#[path = "../../rust/typed.rs"]
pub mod typed;

pub use abi_types::PcpuArrayStats as Stats;
pub use gfp::Gfp;

use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    error::from_err_ptr,
    ffi::{
        c_char,
        c_int,
        c_uint,
        c_void, //
    },
    prelude::*,
    str::CStr,
};
use typed::{
    layout_of,
    RawCache,
    RawReservation, //
};

extern "C" {
    fn pcpu_array_create(
        name: *const c_char,
        size: c_uint,
        align: c_uint,
        flags: bindings::slab_flags_t,
        capacity: c_uint,
    ) -> *mut c_void;
    fn pcpu_array_destroy(pa: *mut c_void);
    fn pcpu_array_alloc(pa: *mut c_void, gfp: bindings::gfp_t) -> *mut c_void;
    fn pcpu_array_free(pa: *mut c_void, obj: *mut c_void);
    fn pcpu_array_prefill(pa: *mut c_void, count: c_uint, gfp: bindings::gfp_t) -> c_int;
    fn pcpu_array_reserve(pa: *mut c_void, count: c_uint, gfp: bindings::gfp_t) -> *mut c_void;
    fn pcpu_array_alloc_reserved(r: *mut c_void, gfp: bindings::gfp_t) -> *mut c_void;
    fn pcpu_array_unreserve(r: *mut c_void);
    fn pcpu_array_get_stats(pa: *mut c_void, st: *mut Stats);
}

/// A `struct pcpu_array *` owned by this module.
///
/// # Invariants
///
/// `pa` came from `pcpu_array_create()` and is destroyed only on drop.
pub struct ExternCache {
    pa: NonNull<c_void>,
}

// SAFETY: The C ABI may be called from any CPU and task.
unsafe impl Send for ExternCache {}
// SAFETY: As above; every entry point takes the cache by shared pointer.
unsafe impl Sync for ExternCache {}

impl ExternCache {
    /// Creates a cache: see `pcpu_array_create()`.
    pub fn new(name: &CStr, size: u32, align: u32, capacity: u32) -> Result<Self> {
        // SAFETY: `name` is a valid C string.
        let pa = from_err_ptr(unsafe {
            pcpu_array_create(name.as_char_ptr(), size, align, 0, capacity)
        })?;
        // INVARIANT: A non-error pointer from `pcpu_array_create()`.
        Ok(Self {
            pa: NonNull::new(pa).ok_or(ENOMEM)?,
        })
    }
}

impl ExternCache {
    /// The cache's counters.
    pub fn stats(&self) -> Stats {
        let mut st = Stats::default();
        // SAFETY: `pa` is live and `st` is a valid `struct pcpu_array_stats`.
        unsafe { pcpu_array_get_stats(self.pa.as_ptr(), &mut st) };
        st
    }
}

impl Drop for ExternCache {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `pa` is live, and `&mut self` means it is unused.
        unsafe { pcpu_array_destroy(self.pa.as_ptr()) };
    }
}

// SAFETY: `pcpu_array_alloc()` returns objects of the size and alignment the cache was created
// with; `pcpu_array_free()` takes them back.
unsafe impl RawCache for ExternCache {
    type Reservation<'a> = ExternReservation<'a>;

    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: `pa` is live (type invariant).
        NonNull::new(unsafe { pcpu_array_alloc(self.pa.as_ptr(), gfp.as_raw()) })
    }

    unsafe fn free_raw(&self, obj: NonNull<c_void>) {
        // SAFETY: `pa` is live; the caller guarantees `obj`.
        unsafe { pcpu_array_free(self.pa.as_ptr(), obj.as_ptr()) };
    }

    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result {
        let count = u32::try_from(count).map_err(|_| EINVAL)?;
        // SAFETY: `pa` is live.
        let ret = unsafe { pcpu_array_prefill(self.pa.as_ptr(), count, gfp.as_raw()) };
        kernel::error::to_result(ret)
    }

    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<ExternReservation<'_>> {
        let n = u32::try_from(count).map_err(|_| EINVAL)?;
        // SAFETY: `pa` is live.
        let r = from_err_ptr(unsafe { pcpu_array_reserve(self.pa.as_ptr(), n, gfp.as_raw()) })?;
        // INVARIANT: A non-error reservation of `count` objects.
        Ok(ExternReservation {
            r: NonNull::new(r).ok_or(ENOMEM)?,
            left: count,
            _cache: PhantomData,
        })
    }
}

/// A `struct pcpu_array_reservation *`, given back on drop.
///
/// # Invariants
///
/// `r` came from `pcpu_array_reserve()` on a cache that outlives `'a`, holds `left` objects,
/// and is unreserved only on drop.
pub struct ExternReservation<'a> {
    r: NonNull<c_void>,
    left: usize,
    _cache: PhantomData<&'a ExternCache>,
}

impl RawReservation for ExternReservation<'_> {
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: `r` is live and used only through `&mut self`.
        let obj =
            NonNull::new(unsafe { pcpu_array_alloc_reserved(self.r.as_ptr(), gfp.as_raw()) })?;
        self.left = self.left.saturating_sub(1);
        Some(obj)
    }

    fn remaining(&self) -> usize {
        self.left
    }
}

impl Drop for ExternReservation<'_> {
    fn drop(&mut self) {
        // SAFETY: `r` is live and not used afterwards.
        unsafe { pcpu_array_unreserve(self.r.as_ptr()) };
    }
}

/// A per-CPU array cache of `T`s in `pcpu_array.ko`.
pub type ArrayCache<T> = typed::ArrayCache<T, ExternCache>;
/// An object of an [`ArrayCache`].
pub type ArrayBox<'a, T> = typed::ArrayBox<'a, T, ExternCache>;
/// A typed reservation of an [`ArrayCache`].
pub type Reservation<'a, T> = typed::Reservation<'a, T, ExternCache>;

impl<T: Send> typed::ArrayCache<T, ExternCache> {
    /// Creates a cache of `T`s named `name`, whose CPUs each keep up to `capacity` objects.
    pub fn new(name: &CStr, capacity: u32) -> Result<Self> {
        let (size, align) = layout_of::<T>()?;
        // SAFETY: The cache was created with `T`'s size and alignment.
        Ok(unsafe { Self::from_raw_cache(ExternCache::new(name, size, align, capacity)?) })
    }

    /// The cache's counters.
    pub fn stats(&self) -> Stats {
        self.raw().stats()
    }
}

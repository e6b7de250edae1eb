// SPDX-License-Identifier: GPL-2.0

//! The pcpu_array API for Rust modules, over the C ABI of `include/pcpu_array.h`.
//!
//! A Rust module cannot import another module's crate, so a consumer compiles this binding
//! into itself. Its Kbuild includes pcpu_array's `consumer.mk`, which writes the binding as one
//! self-contained file, `pcpu_array.rs`, next to each Rust module of the directory; the module
//! declares it at its crate root, private or `pub` as it likes:
//!
//! ```ignore
//! #[rustfmt::skip]
//! mod pcpu_array;
//! use pcpu_array::SharedArrayCache;
//! ```
//!
//! It brings the same typed API as inside `pcpu_array.ko` (the very same `rust/api/typed*.rs`,
//! `rust/semantics/gfp.rs` and `rust/sys/abi_types.rs`, inlined by `binding/generate.sh`): [`ArrayCache`]
//! with its borrowing [`ArrayBox`], [`SharedArrayCache`] with its owning [`OwnedArrayBox`],
//! typed [`Reservation`]s of both, [`Options`] with its flags and [`Stats`], over [`AbiCache`],
//! a cache of `pcpu_array.ko` seen through its C ABI. Every entry point takes
//! `kernel::alloc::Flags` and every initialiser `KBox` takes. See `Documentation/pcpu_array.rst`,
//! "Using pcpu_array from your Rust module".
//!
//! The module must load after `pcpu_array.ko`: `modprobe` does that from the symbol
//! dependency; with `insmod`, a consumer loaded first fails with "Unknown symbol
//! pcpu_array_create_args".

// A consumer uses some of the API, not all of it, from a private or a public module: which
// items (and re-exports) stay unused and unreachable depends on the consumer, so `expect`
// would fail for one that happens to use them all.
#![allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    reason = "a library compiled into each consumer, which uses what it needs"
)]

#[path = "../rust/sys/abi_types.rs"]
pub mod abi_types;
#[path = "../rust/semantics/gfp.rs"]
pub mod gfp;
#[path = "../rust/semantics/hardening.rs"]
pub mod hardening;
#[path = "../rust/magazines/hit.rs"]
pub mod hit;
#[path = "../rust/abi/inline_hit.rs"]
pub mod inline_hit;
#[path = "../rust/percpu/inline_percpu.rs"]
pub mod inline_percpu;
#[path = "../rust/sys/pin_init_compat.rs"]
pub mod pin_init_compat;
#[path = "../rust/api/typed.rs"]
pub mod typed;
#[path = "../rust/api/typed_array.rs"]
pub mod typed_array;
#[path = "../rust/api/typed_box.rs"]
pub mod typed_box;

pub use abi_types::{
    PcpuArrayStats as Stats,
    MAX_CAPACITY,
    MAX_RESERVE, //
};
pub use gfp::Gfp;
pub use typed::{
    layout_of,
    Borrowing,
    Kind,
    NewRawCache,
    Options,
    RawCache,
    RawReservation,
    Sharing,
    DEFAULT_CAPACITY,
    NO_NODE, //
};

use abi_types::{
    pcpu_array,
    pcpu_array_reservation,
    PcpuArrayArgs,
    PcpuArrayRsv, //
};
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
        c_ulong,
        c_void, //
    },
    prelude::*,
    str::CStr,
};

// The prototypes of `include/pcpu_array.h`, with the types of its C names (see `abi_types`), so
// that a function pointer to one of them has the kCFI type of the exported function.
extern "C" {
    fn pcpu_array_create_args(name: *const c_char, args: *const PcpuArrayArgs) -> *mut pcpu_array;
    fn pcpu_array_destroy(pa: *mut pcpu_array);
    fn pcpu_array_alloc(pa: *mut pcpu_array, gfp: bindings::gfp_t) -> *mut c_void;
    fn pcpu_array_alloc_node(pa: *mut pcpu_array, gfp: bindings::gfp_t, node: c_int)
        -> *mut c_void;
    fn pcpu_array_free(pa: *mut pcpu_array, obj: *mut c_void);
    fn pcpu_array_alloc_bulk(
        pa: *mut pcpu_array,
        gfp: bindings::gfp_t,
        n: usize,
        p: *mut *mut c_void,
    ) -> bool;
    fn pcpu_array_free_bulk(pa: *mut pcpu_array, n: usize, p: *mut *mut c_void);
    fn pcpu_array_free_rcu(pa: *mut pcpu_array, obj: *mut c_void);
    fn pcpu_array_prefill(pa: *mut pcpu_array, count: c_uint, gfp: bindings::gfp_t) -> c_int;
    fn pcpu_array_reserve(
        pa: *mut pcpu_array,
        count: c_uint,
        gfp: bindings::gfp_t,
    ) -> *mut pcpu_array_reservation;
    fn pcpu_array_alloc_reserved(
        r: *mut pcpu_array_reservation,
        gfp: bindings::gfp_t,
    ) -> *mut c_void;
    fn pcpu_array_unreserve(r: *mut pcpu_array_reservation);
    fn pcpu_array_rsv_fill(
        pa: *mut pcpu_array,
        rsv: *mut PcpuArrayRsv,
        count: c_uint,
        gfp: bindings::gfp_t,
    ) -> c_int;
    fn pcpu_array_rsv_alloc(rsv: *mut PcpuArrayRsv, gfp: bindings::gfp_t) -> *mut c_void;
    fn pcpu_array_rsv_release(rsv: *mut PcpuArrayRsv);
    fn pcpu_array_get_stats(pa: *mut pcpu_array, st: *mut Stats);
    fn pcpu_array_shrink(pa: *mut pcpu_array) -> c_ulong;
}

extern "C" {
    /// The symbol of layout version [`abi_types::LAYOUT`], exported by a `pcpu_array.ko` of
    /// that layout only.
    static pcpu_array_layout_v2: c_uint;
}

/// The reference to `pcpu_array_layout_v2` that the inline hit path needs: a module compiled
/// with this binding fails to load against a `pcpu_array.ko` of another layout ("Unknown symbol
/// pcpu_array_layout_v2"), where its inline path would misread the per-CPU state.
#[used]
// SAFETY: Only the address of the symbol is taken; nothing reads it.
static LAYOUT_REFERENCE: &c_uint = unsafe { &pcpu_array_layout_v2 };

/// A cache of `pcpu_array.ko` seen through its C ABI: a `struct pcpu_array *` owned by this
/// module, the untyped cache under the typed ones. Its raw calls ([`RawCache`]) are the C ABI's
/// functions, one for one.
///
/// # Invariants
///
/// `pa` came from `pcpu_array_create_args()` and is destroyed only on drop.
pub struct AbiCache {
    pa: NonNull<pcpu_array>,
}

// SAFETY: The C ABI may be called from any CPU and task.
unsafe impl Send for AbiCache {}
// SAFETY: As above; every entry point takes the cache by shared pointer.
unsafe impl Sync for AbiCache {}

impl AbiCache {
    /// Creates a cache of `size`-byte objects aligned to `align` (0 for the default): see
    /// `pcpu_array_create_args()`. May sleep.
    pub fn new(name: &CStr, size: u32, align: u32, capacity: u32) -> Result<Self> {
        Self::new_raw(name, size, align, &Options::with_capacity(capacity))
    }
}

// SAFETY: `pcpu_array_create_args()` creates the backing cache with the size and alignment
// given, and `pcpu_array_alloc()` returns its objects.
unsafe impl NewRawCache for AbiCache {
    fn new_raw(name: &CStr, size: u32, align: u32, options: &Options) -> Result<Self> {
        let args = PcpuArrayArgs {
            size,
            align,
            flags: options.flags,
            capacity: options.capacity,
            keep_sheaves: options.keep_sheaves,
            fixed_capacity: options.fixed_capacity,
        };
        // SAFETY: `name` is a valid C string and `args` a valid `struct pcpu_array_args`, both
        // live across the call (the module copies what it keeps).
        let pa = from_err_ptr(unsafe { pcpu_array_create_args(name.as_char_ptr(), &args) })?;
        // INVARIANT: A non-error pointer from `pcpu_array_create_args()`.
        Ok(Self {
            pa: NonNull::new(pa).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for AbiCache {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `pa` is live, and `&mut self` means it is unused.
        unsafe { pcpu_array_destroy(self.pa.as_ptr()) };
    }
}

// SAFETY: `pcpu_array_alloc()` returns objects of the size and alignment the cache was created
// with; `pcpu_array_free()` takes them back, on any CPU.
unsafe impl RawCache for AbiCache {
    type Reservation<'a> = AbiReservation<'a>;

    /// `pcpu_array_alloc_inline()`: the hit without a call ([`inline_hit`]).
    #[inline]
    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: `pa` is live (type invariant).
        if let Some(obj) = unsafe { inline_hit::alloc(self.pa, gfp) } {
            return Some(obj);
        }
        // SAFETY: `pa` is live (type invariant).
        NonNull::new(unsafe { pcpu_array_alloc(self.pa.as_ptr(), gfp.as_raw()) })
    }

    /// `pcpu_array_free_inline()`: the hit without a call ([`inline_hit`]).
    #[inline]
    unsafe fn free_raw(&self, obj: NonNull<c_void>) {
        // SAFETY: `pa` is live (type invariant); the caller guarantees `obj`.
        if let Err(obj) = unsafe { inline_hit::free(self.pa, obj) } {
            // SAFETY: As above.
            unsafe { pcpu_array_free(self.pa.as_ptr(), obj.as_ptr()) };
        }
    }

    fn alloc_node_raw(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
        // SAFETY: `pa` is live (type invariant).
        NonNull::new(unsafe { pcpu_array_alloc_node(self.pa.as_ptr(), gfp.as_raw(), node) })
    }

    fn alloc_bulk_raw(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool {
        // SAFETY: `pa` is live (type invariant) and `out` is valid for writing `out.len()`
        // pointers, with no other access during the call.
        unsafe {
            pcpu_array_alloc_bulk(self.pa.as_ptr(), gfp.as_raw(), out.len(), out.as_mut_ptr())
        }
    }

    unsafe fn free_bulk_raw(&self, objs: &mut [*mut c_void]) {
        // SAFETY: `pa` is live (type invariant); `objs` holds objects of this cache (or NULLs)
        // that the caller gives up (guaranteed by the caller).
        unsafe { pcpu_array_free_bulk(self.pa.as_ptr(), objs.len(), objs.as_mut_ptr()) }
    }

    fn shrink_raw(&self) -> usize {
        // SAFETY: `pa` is live (type invariant).
        unsafe { pcpu_array_shrink(self.pa.as_ptr()) }
    }

    unsafe fn free_rcu_raw(&self, obj: NonNull<c_void>) {
        // SAFETY: `pa` is live (type invariant); the caller guarantees `obj`.
        unsafe { pcpu_array_free_rcu(self.pa.as_ptr(), obj.as_ptr()) };
    }

    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result {
        let count = u32::try_from(count).map_err(|_| EINVAL)?;
        // SAFETY: `pa` is live.
        let ret = unsafe { pcpu_array_prefill(self.pa.as_ptr(), count, gfp.as_raw()) };
        kernel::error::to_result(ret)
    }

    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<AbiReservation<'_>> {
        let n = u32::try_from(count).map_err(|_| EINVAL)?;
        // SAFETY: `pa` is live.
        let r = from_err_ptr(unsafe { pcpu_array_reserve(self.pa.as_ptr(), n, gfp.as_raw()) })?;
        // INVARIANT: A non-error reservation of `count` objects.
        Ok(AbiReservation {
            r: NonNull::new(r).ok_or(ENOMEM)?,
            left: count,
            _cache: PhantomData,
        })
    }

    type StoredReservation<'a, const N: usize> = AbiStoredReservation<'a, N>;

    fn reserve_stored_raw<const N: usize>(
        &self,
        count: usize,
        gfp: Gfp,
    ) -> Result<AbiStoredReservation<'_, N>> {
        // INVARIANT: `size` is `N`, the storage `rsv()` points `objs` at before every call; the
        // reservation is empty.
        let mut r = AbiStoredReservation {
            rsv: PcpuArrayRsv {
                pa: core::ptr::null_mut(),
                objs: core::ptr::null_mut(),
                size: u32::try_from(N).map_err(|_| EINVAL)?,
                count: 0,
            },
            slots: [core::ptr::null_mut(); N],
            cache: self,
        };
        r.refill(count, gfp)?;
        Ok(r)
    }

    fn stats(&self) -> Stats {
        let mut st = Stats::default();
        // SAFETY: `pa` is live and `st` is a valid `struct pcpu_array_stats`.
        unsafe { pcpu_array_get_stats(self.pa.as_ptr(), &mut st) };
        st
    }
}

/// A `struct pcpu_array_reservation *`, given back on drop.
///
/// # Invariants
///
/// `r` came from `pcpu_array_reserve()` on a cache that outlives `'a`, holds `left` objects,
/// and is unreserved only on drop.
pub struct AbiReservation<'a> {
    r: NonNull<pcpu_array_reservation>,
    left: usize,
    _cache: PhantomData<&'a AbiCache>,
}

impl RawReservation for AbiReservation<'_> {
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        // SAFETY: `r` is live and used only through `&mut self`.
        let obj =
            NonNull::new(unsafe { pcpu_array_alloc_reserved(self.r.as_ptr(), gfp.as_raw()) })?;
        // INVARIANT: One object fewer.
        self.left = self.left.saturating_sub(1);
        Some(obj)
    }

    fn remaining(&self) -> usize {
        self.left
    }
}

impl Drop for AbiReservation<'_> {
    fn drop(&mut self) {
        // SAFETY: `r` is live and not used afterwards.
        unsafe { pcpu_array_unreserve(self.r.as_ptr()) };
    }
}

/// A `struct pcpu_array_rsv` with its storage for `N` objects: a caller-stored reservation,
/// which allocates nothing of its own. Given back on drop.
///
/// # Invariants
///
/// `rsv` was set up for `slots` (its `size` is `N`) and is changed only by the C ABI, called
/// with `rsv.objs` pointing at `slots`; its objects are objects of `cache`.
pub struct AbiStoredReservation<'a, const N: usize> {
    rsv: PcpuArrayRsv,
    slots: [*mut c_void; N],
    cache: &'a AbiCache,
}

impl<const N: usize> AbiStoredReservation<'_, N> {
    /// The reservation, pointing at its storage where it is now (the value may have moved
    /// since the last call).
    fn rsv(&mut self) -> *mut PcpuArrayRsv {
        self.rsv.objs = self.slots.as_mut_ptr();
        &mut self.rsv
    }

    /// Makes the reservation hold at least `count` objects (at most `N`): see
    /// `pcpu_array_rsv_fill()`. May sleep if `gfp` may.
    pub fn refill(&mut self, count: usize, gfp: Gfp) -> Result {
        let count = u32::try_from(count).map_err(|_| EINVAL)?;
        let pa = self.cache.pa.as_ptr();
        let rsv = self.rsv();
        // SAFETY: `pa` is live for `'a`; `rsv` is ours, set up for `slots`, which it points at.
        let ret = unsafe { pcpu_array_rsv_fill(pa, rsv, count, gfp.as_raw()) };
        kernel::error::to_result(ret)
    }
}

impl<const N: usize> RawReservation for AbiStoredReservation<'_, N> {
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>> {
        let rsv = self.rsv();
        // SAFETY: `rsv` is ours, pointing at its storage.
        NonNull::new(unsafe { pcpu_array_rsv_alloc(rsv, gfp.as_raw()) })
    }

    fn remaining(&self) -> usize {
        self.rsv.count as usize
    }
}

impl<const N: usize> Drop for AbiStoredReservation<'_, N> {
    fn drop(&mut self) {
        let rsv = self.rsv();
        // SAFETY: `rsv` is ours, pointing at its storage, and not used afterwards.
        unsafe { pcpu_array_rsv_release(rsv) };
    }
}

/// A per-CPU array cache of `T`s in `pcpu_array.ko`, whose objects borrow it.
pub type ArrayCache<T> = typed::ArrayCache<T, AbiCache>;
/// An object of an [`ArrayCache`], borrowing it.
pub type ArrayBox<'a, T> = typed::ArrayBox<'a, T, AbiCache>;
/// A typed reservation of an [`ArrayCache`].
pub type Reservation<'a, T> = typed::Reservation<'a, T, AbiCache>;
/// A typed caller-stored reservation of up to `N` objects of an [`ArrayCache`]
/// ([`ArrayCache::reserve_stored`]).
pub type StoredReservation<'a, T, const N: usize> =
    typed::Reservation<'a, T, AbiCache, AbiStoredReservation<'a, N>>;
/// A handle to a per-CPU array cache of `T`s in `pcpu_array.ko`, whose objects own a reference
/// to it.
pub type SharedArrayCache<T> = typed::SharedArrayCache<T, AbiCache>;
/// An object of a [`SharedArrayCache`], owning a reference to it.
pub type OwnedArrayBox<T> = typed::OwnedArrayBox<T, AbiCache>;
/// A typed reservation of a [`SharedArrayCache`]: its objects come as [`OwnedArrayBox`]es.
pub type SharedReservation<'a, T> = typed::SharedReservation<'a, T, AbiCache>;
/// A typed caller-stored reservation of up to `N` objects of a [`SharedArrayCache`].
pub type SharedStoredReservation<'a, T, const N: usize> =
    typed::SharedReservation<'a, T, AbiCache, AbiStoredReservation<'a, N>>;

// SPDX-License-Identifier: GPL-2.0

//! The typed caches, their object handles and their typed reservations.
//!
//! These files are compiled twice: into `pcpu_array.ko`, over [`Cache`] directly, and into
//! consumer modules by the binding (`binding/pcpu_array.rs`), over the C ABI. They only need a
//! [`RawCache`] and the sibling `gfp` and `abi_types` modules, so both see the same safe API:
//!
//! - [`ArrayCache`] and its [`ArrayBox`], which borrows the cache: no reference count, and the
//!   cache cannot be dropped while an object is live;
//! - [`SharedArrayCache`], a handle that can be cloned, and its [`OwnedArrayBox`], which owns a
//!   reference to its cache: it can go to a work item, an RCU callback or another thread, and
//!   through `ForeignOwnable` into an XArray or a maple tree;
//! - [`Reservation`], objects taken ahead of a context that cannot sleep, from either.
//!
//! Both caches are one generic type, [`ArrayCache<T, C, K>`](ArrayCache), whose [`Kind`] `K`
//! ([`Borrowing`] or [`Sharing`]) says how it holds its untyped cache and which box its objects
//! come in. This file holds the raw layer and what the two share; `typed_array.rs` the caches
//! and their reservations, `typed_box.rs` the boxes and the kinds.
//!
//! Every entry point takes `kernel::alloc::Flags` (`GFP_KERNEL`, ...), and every initialiser
//! that `KBox` takes: a value, `init!`, `pin_init!`, `try_init!`, `try_pin_init!` or
//! `init_zeroed()`.
//!
//! [`Cache`]: ../cache/struct.Cache.html

pub use super::{
    typed_array::{
        ArrayCache,
        Reservation,
        SharedArrayCache,
        SharedReservation, //
    },
    typed_box::{
        ArrayBox,
        Borrowing,
        Kind,
        OwnedArrayBox,
        Sharing, //
    },
};

use super::{
    abi_types::PcpuArrayStats,
    gfp::Gfp,
    pin_init_compat::raw_try_init, //
};
use core::{
    mem::{
        align_of,
        size_of, //
    },
    ptr::NonNull,
};
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    str::CStr, //
};

/// An untyped per-CPU array cache: what the typed caches are built on.
///
/// This is the raw layer: it speaks [`Gfp`], the `gfp_t` bits that the C calls take, and raw
/// object pointers, as the C ABI does. The typed caches convert the caller's
/// `kernel::alloc::Flags` to it.
///
/// # Safety
///
/// `alloc_raw`, `alloc_node_raw` and the reservations must return objects of at least the size
/// and alignment the cache was created with, owned by the caller, that `free_raw` and
/// `free_bulk_raw` accept back, on any CPU; `alloc_bulk_raw` must fill every entry of `out`
/// with such an object when it returns `true`.
pub unsafe trait RawCache: Sync {
    /// A guaranteed batch of objects of this cache.
    type Reservation<'a>: RawReservation
    where
        Self: 'a;

    /// Allocates an object: `pcpu_array_alloc()`.
    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>>;

    /// Allocates an object on memory node `node`, or on any node for `NUMA_NO_NODE`
    /// ([`NO_NODE`]): `pcpu_array_alloc_node()`.
    fn alloc_node_raw(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>>;

    /// Fills all of `out` with objects, or allocates none (`false`): `pcpu_array_alloc_bulk()`.
    /// An empty `out` fails, and so does a context where the slab bulk API may not be used
    /// (interrupts disabled, hard interrupt, NMI).
    fn alloc_bulk_raw(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool;

    /// Frees an object: `pcpu_array_free()`.
    ///
    /// # Safety
    ///
    /// `obj` must come from an allocation (or a reservation) of this cache, and not be used
    /// afterwards.
    unsafe fn free_raw(&self, obj: NonNull<c_void>);

    /// Frees every object of `objs`, skipping null entries: `pcpu_array_free_bulk()`. `objs`
    /// is scratch space afterwards.
    ///
    /// # Safety
    ///
    /// Every non-null pointer of `objs` must come from an allocation (or a reservation) of this
    /// cache, and not be used afterwards.
    unsafe fn free_bulk_raw(&self, objs: &mut [*mut c_void]);

    /// Frees an object once every RCU reader that might still see it has finished
    /// (`pcpu_array_free_rcu()`).
    ///
    /// # Safety
    ///
    /// As for `free_raw`; the object must also be unlinked from whatever RCU readers find it
    /// through, and not written afterwards.
    unsafe fn free_rcu_raw(&self, obj: NonNull<c_void>);

    /// Opportunistically fills this CPU's array with at least `count` objects.
    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result;

    /// Reserves `count` objects owned by the caller.
    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<Self::Reservation<'_>>;

    /// A guaranteed batch of up to `N` objects of this cache, kept in the batch itself: a
    /// caller-stored reservation.
    type StoredReservation<'a, const N: usize>: RawReservation
    where
        Self: 'a;

    /// Reserves `count` objects (at most `N`) owned by the caller, without allocating.
    fn reserve_stored_raw<const N: usize>(
        &self,
        count: usize,
        gfp: Gfp,
    ) -> Result<Self::StoredReservation<'_, N>>;

    /// Gives every object parked in the arrays back to the backing cache and returns how many
    /// that was: `pcpu_array_shrink()`. May sleep.
    fn shrink_raw(&self) -> usize;

    /// The counters, summed over every CPU.
    fn stats(&self) -> PcpuArrayStats;
}

/// An untyped cache that can be created for objects of a given size and alignment: what
/// [`ArrayCache::new`] and [`ArrayCache::with_options`] create.
///
/// # Safety
///
/// A cache returned by `new_raw` must hand out objects of at least `size` bytes aligned to
/// `align`.
pub unsafe trait NewRawCache: RawCache + Sized {
    /// Creates a cache named `name` of `size`-byte objects aligned to `align`, with the other
    /// settings of `options` (its `align` is already folded into `align`).
    fn new_raw(name: &CStr, size: u32, align: u32, options: &Options) -> Result<Self>;
}

/// A guaranteed batch of objects. Unused objects go back to the cache on drop.
pub trait RawReservation {
    /// Takes one object; cannot fail until the batch is empty.
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>>;

    /// Objects left.
    fn remaining(&self) -> usize;
}

/// No preference of memory node: `NUMA_NO_NODE`, for [`ArrayCache::alloc_node`].
pub const NO_NODE: i32 = bindings::NUMA_NO_NODE;

/// The per-CPU capacity of [`Options::default`].
pub const DEFAULT_CAPACITY: u32 = 32;

/// The `slab_flags_t` of `SLAB_*` flag bit `bit` (`enum _slab_flag_bits`).
const fn slab_flag(bit: u32) -> bindings::slab_flags_t {
    1 << bit
}

/// How a typed cache is made: every setting of `pcpu_array_create_args()` but the object size,
/// which is the type's.
///
/// # Examples
///
/// ```ignore
/// let cache = ArrayCache::<Node>::with_options(
///     c"my_nodes",
///     &Options {
///         flags: Options::HWCACHE_ALIGN | Options::ACCOUNT,
///         ..Options::default()
///     },
/// )?;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Objects each CPU's array keeps, 1 to [`MAX_CAPACITY`]; [`DEFAULT_CAPACITY`] by default.
    ///
    /// [`MAX_CAPACITY`]: super::abi_types::MAX_CAPACITY
    pub capacity: u32,
    /// Object alignment in bytes, a power of two; the type's own alignment when it is larger
    /// (0, the default, means the type's).
    pub align: u32,
    /// `SLAB_*` flags for the backing cache, the constants below ([`Options::HWCACHE_ALIGN`],
    /// [`Options::ACCOUNT`], ...) or'ed together; 0 by default. `SLAB_NO_MERGE` is always
    /// added.
    pub flags: bindings::slab_flags_t,
    /// Whether the backing cache keeps SLUB's sheaves under the arrays; `false` by default.
    pub keep_sheaves: bool,
    /// Whether `capacity` stays as given; `false` by default: it grows while the depot is busy
    /// and comes back when the cache is quiet (`Documentation/pcpu_array.rst`, "Adaptive
    /// capacity").
    pub fixed_capacity: bool,
}

/// The `SLAB_*` flags a caller may put in [`Options::flags`], with the kernel's meanings. A flag
/// that this kernel's configuration compiles out is 0, as in C.
impl Options {
    /// `SLAB_HWCACHE_ALIGN`: objects aligned to the cache line (when they are bigger than half
    /// of one).
    pub const HWCACHE_ALIGN: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_HWCACHE_ALIGN);
    /// `SLAB_ACCOUNT`: objects charged to the allocating task's memory cgroup (0 without
    /// `CONFIG_MEMCG`).
    #[cfg(CONFIG_MEMCG)]
    pub const ACCOUNT: bindings::slab_flags_t = slab_flag(bindings::_slab_flag_bits__SLAB_ACCOUNT);
    /// `SLAB_ACCOUNT`: objects charged to the allocating task's memory cgroup (0 without
    /// `CONFIG_MEMCG`).
    #[cfg(not(CONFIG_MEMCG))]
    pub const ACCOUNT: bindings::slab_flags_t = 0;
    /// `SLAB_RECLAIM_ACCOUNT`: reclaimable objects (the cache has a shrinker of its own), grouped
    /// with reclaimable pages and counted in `SReclaimable` (0 with `CONFIG_SLUB_TINY`).
    #[cfg(not(CONFIG_SLUB_TINY))]
    pub const RECLAIM_ACCOUNT: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_RECLAIM_ACCOUNT);
    /// `SLAB_RECLAIM_ACCOUNT`: reclaimable objects (the cache has a shrinker of its own), grouped
    /// with reclaimable pages and counted in `SReclaimable` (0 with `CONFIG_SLUB_TINY`).
    #[cfg(CONFIG_SLUB_TINY)]
    pub const RECLAIM_ACCOUNT: bindings::slab_flags_t = 0;
    /// `SLAB_TYPESAFE_BY_RCU`: a freed object may be reused at once, but its memory stays a
    /// slab object of this cache until an RCU grace period has passed.
    pub const TYPESAFE_BY_RCU: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_TYPESAFE_BY_RCU);
    /// `SLAB_CACHE_DMA`: objects in `ZONE_DMA`.
    pub const CACHE_DMA: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_CACHE_DMA);
    /// `SLAB_CACHE_DMA32`: objects in `ZONE_DMA32`.
    pub const CACHE_DMA32: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_CACHE_DMA32);
    /// `SLAB_PANIC`: panic if the backing cache cannot be created.
    pub const PANIC: bindings::slab_flags_t = slab_flag(bindings::_slab_flag_bits__SLAB_PANIC);
    /// `SLAB_NOLEAKTRACE`: kmemleak does not track the objects.
    pub const NOLEAKTRACE: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_NOLEAKTRACE);
    /// `SLAB_RED_ZONE`: slub_debug red zones around each object.
    pub const RED_ZONE: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_RED_ZONE);
    /// `SLAB_POISON`: slub_debug poisons free objects.
    pub const POISON: bindings::slab_flags_t = slab_flag(bindings::_slab_flag_bits__SLAB_POISON);
    /// `SLAB_STORE_USER`: slub_debug records who allocated and freed each object.
    pub const STORE_USER: bindings::slab_flags_t =
        slab_flag(bindings::_slab_flag_bits__SLAB_STORE_USER);

    /// The default options with `capacity` objects per CPU.
    pub fn with_capacity(capacity: u32) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            align: 0,
            flags: 0,
            keep_sheaves: false,
            fixed_capacity: false,
        }
    }
}

/// The object size and alignment of `T`, as the slab API takes them.
pub fn layout_of<T>() -> Result<(u32, u32)> {
    let size = u32::try_from(size_of::<T>()).map_err(|_| EINVAL)?;
    let align = u32::try_from(align_of::<T>()).map_err(|_| EINVAL)?;
    Ok((size, align))
}

/// Initialises a `U` in `obj`, an object of `raw`, with `init`; gives the object back when
/// `init` fails. The `U` never moves afterwards unless the caller moves it.
///
/// # Safety
///
/// `obj` must be a fresh object of `raw`, big enough and aligned for a `U`, owned by the caller,
/// who gives it up.
pub(super) unsafe fn new_object<U, E, C: RawCache>(
    raw: &C,
    obj: NonNull<c_void>,
    init: impl PinInit<U, E>,
) -> Result<NonNull<U>, E> {
    let slot = obj.cast::<U>();
    // SAFETY: `slot` is a fresh object of `raw`, big and aligned enough for a `U` (guaranteed by
    // the caller), that nothing else uses; the caller keeps the value in place when pinned.
    if let Err(e) = unsafe { raw_try_init(slot.as_ptr(), init) } {
        // SAFETY: `obj` came from `raw`, is ours, and holds no value.
        unsafe { raw.free_raw(obj) };
        return Err(e);
    }
    Ok(slot)
}

/// The initialiser that moves `value` in; it never fails, whatever its error type says.
pub(super) fn value_init<T, E>(value: T) -> impl Init<T, E> {
    // SAFETY: The closure initialises the slot fully and always succeeds.
    unsafe {
        pin_init::init_from_closure(move |slot: *mut T| {
            slot.write(value);
            Ok(())
        })
    }
}

/// Makes an initialiser that fails with `Error` out of one that fails with `E`, as
/// `InPlaceInit::pin_init` does for `KBox`.
pub(super) fn into_error<T, E>(init: impl PinInit<T, E>) -> impl PinInit<T, Error>
where
    Error: From<E>,
{
    // SAFETY: The closure delegates to `init` and only changes the error type.
    unsafe {
        pin_init::pin_init_from_closure(move |slot| raw_try_init(slot, init).map_err(Error::from))
    }
}

/// Makes an `Init` that fails with `Error` out of one that fails with `E`.
pub(super) fn into_error_init<T, E>(init: impl Init<T, E>) -> impl Init<T, Error>
where
    Error: From<E>,
{
    // SAFETY: The closure delegates to `init` and only changes the error type.
    unsafe { pin_init::init_from_closure(move |slot| init.__init(slot).map_err(Error::from)) }
}

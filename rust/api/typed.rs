// SPDX-License-Identifier: GPL-2.0

//! The typed caches, their object handles and their typed reservations.
//!
//! This file is compiled twice: into `pcpu_array.ko`, over [`Cache`] directly, and into
//! consumer modules by the binding (`binding/pcpu_array.rs`), over the C ABI. It only needs a
//! [`RawCache`] and the sibling `gfp` and `abi_types` modules, so both see the same safe API:
//!
//! - [`ArrayCache`] and its [`ArrayBox`], which borrows the cache: no reference count, and the
//!   cache cannot be dropped while an object is live;
//! - [`SharedArrayCache`], a handle that can be cloned, and its [`OwnedArrayBox`], which owns a
//!   reference to its cache: it can go to a work item, an RCU callback or another thread, and
//!   through [`ForeignOwnable`] into an XArray or a maple tree;
//! - [`Reservation`], objects taken ahead of a context that cannot sleep.
//!
//! Every entry point takes `kernel::alloc::Flags` (`GFP_KERNEL`, ...), and every initialiser
//! that `KBox` takes: a value, `init!`, `pin_init!`, `try_init!`, `try_pin_init!` or
//! `init_zeroed()`.
//!
//! [`Cache`]: ../cache/struct.Cache.html

use super::{
    abi_types::PcpuArrayStats,
    gfp::Gfp,
    pin_init_compat::raw_try_init, //
};
use core::{
    marker::PhantomData,
    mem::{
        align_of,
        size_of, //
    },
    ops::{
        Deref,
        DerefMut, //
    },
    pin::Pin,
    ptr::NonNull,
};
use kernel::{
    alloc::{
        AllocError,
        Flags, //
    },
    bindings,
    ffi::c_void,
    prelude::*,
    str::CStr,
    sync::Arc,
    types::ForeignOwnable, //
};

/// An untyped per-CPU array cache: what the typed caches are built on.
///
/// This is the raw layer: it speaks [`Gfp`], the `gfp_t` bits that the C calls take. The typed
/// caches convert the caller's `kernel::alloc::Flags` to it.
///
/// # Safety
///
/// `alloc_raw` must return objects of at least the size and alignment the cache was created
/// with, owned by the caller, that `free_raw` accepts back, on any CPU.
pub unsafe trait RawCache: Sync {
    /// A guaranteed batch of objects of this cache.
    type Reservation<'a>: RawReservation
    where
        Self: 'a;

    /// Allocates an object.
    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>>;

    /// Frees an object.
    ///
    /// # Safety
    ///
    /// `obj` must come from `alloc_raw` (or a reservation) of this cache, and not be used
    /// afterwards.
    unsafe fn free_raw(&self, obj: NonNull<c_void>);

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

    /// The counters, summed over every CPU.
    fn stats(&self) -> PcpuArrayStats;
}

/// An untyped cache that can be created for objects of a given size and alignment: what
/// [`ArrayCache::new`] and [`SharedArrayCache::new`] create.
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

/// The per-CPU capacity of [`Options::default`].
pub const DEFAULT_CAPACITY: u32 = 32;

/// How a typed cache is made: every setting of `pcpu_array_create_args()` but the object size,
/// which is the type's.
///
/// # Examples
///
/// ```ignore
/// let cache = ArrayCache::<Node>::with_options(
///     c"my_nodes",
///     &Options { align: 64, ..Options::default() },
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
    /// `SLAB_*` flags for the backing cache (`SLAB_HWCACHE_ALIGN`, `SLAB_ACCOUNT`, ...); 0 by
    /// default. `SLAB_NO_MERGE` is always added.
    pub flags: bindings::slab_flags_t,
    /// Whether the backing cache keeps SLUB's sheaves under the arrays; `false` by default.
    pub keep_sheaves: bool,
    /// Whether `capacity` stays as given; `false` by default: it grows while the depot is busy
    /// and comes back when the cache is quiet (`Documentation/pcpu_array.rst`, "Adaptive
    /// capacity").
    pub fixed_capacity: bool,
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

impl Options {
    /// The default options with `capacity` objects per CPU.
    pub fn with_capacity(capacity: u32) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }
}

/// The object size and alignment of `T`, as the slab API takes them.
pub fn layout_of<T>() -> Result<(u32, u32)> {
    let size = u32::try_from(size_of::<T>()).map_err(|_| EINVAL)?;
    let align = u32::try_from(align_of::<T>()).map_err(|_| EINVAL)?;
    Ok((size, align))
}

/// Creates a cache whose objects hold a `U`, with `options`.
fn new_raw_for<U, C: NewRawCache>(name: &CStr, options: &Options) -> Result<C> {
    let (size, align) = layout_of::<U>()?;
    if options.align != 0 && !options.align.is_power_of_two() {
        return Err(EINVAL);
    }
    C::new_raw(name, size, align.max(options.align), options)
}

/// Allocates an object of `raw` and initialises a `U` in it with `init`; gives the object back
/// when `init` fails. The `U` never moves afterwards unless the caller moves it.
///
/// # Safety
///
/// The objects of `raw` must be big enough and aligned for a `U`.
unsafe fn new_object<U, E, C: RawCache>(
    raw: &C,
    obj: Option<NonNull<c_void>>,
    init: impl PinInit<U, E>,
) -> Result<NonNull<U>, E>
where
    E: From<AllocError>,
{
    let obj = obj.ok_or(AllocError)?;
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

/// The initialiser that moves `value` in, failing with `AllocError` (never, in fact) so that
/// [`new_object`] can report an allocation failure.
fn value_init<T>(value: T) -> impl Init<T, AllocError> {
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
fn into_error<T, E>(init: impl PinInit<T, E>) -> impl PinInit<T, Error>
where
    Error: From<E>,
{
    // SAFETY: The closure delegates to `init` and only changes the error type.
    unsafe {
        pin_init::pin_init_from_closure(move |slot| raw_try_init(slot, init).map_err(Error::from))
    }
}

/// Makes an `Init` that fails with `Error` out of one that fails with `E`.
fn into_error_init<T, E>(init: impl Init<T, E>) -> impl Init<T, Error>
where
    Error: From<E>,
{
    // SAFETY: The closure delegates to `init` and only changes the error type.
    unsafe { pin_init::init_from_closure(move |slot| init.__init(slot).map_err(Error::from)) }
}

/// A per-CPU array cache of `T`s over the untyped cache `C`.
///
/// Allocation gives an [`ArrayBox`], which borrows the cache: the cache cannot be dropped
/// while an object is live, so destroy never meets an object it does not own. For objects that
/// must outlive the borrow (a work item, an RCU callback), use a [`SharedArrayCache`].
///
/// # Invariants
///
/// The objects of `raw` are big enough and aligned for a `T`.
pub struct ArrayCache<T, C: RawCache> {
    raw: C,
    // The cache holds no `T`, only room for them: it is `Send` and `Sync` as `C` is.
    _t: PhantomData<fn(T) -> T>,
}

impl<T, C: NewRawCache> ArrayCache<T, C> {
    /// Creates a cache of `T`s named `name` whose CPUs each keep up to `capacity` free objects;
    /// the other options are [`Options::default`]'s.
    pub fn new(name: &CStr, capacity: u32) -> Result<Self> {
        Self::with_options(name, &Options::with_capacity(capacity))
    }

    /// Creates a cache of `T`s named `name` made as `options` say.
    ///
    /// Fails with `EINVAL` for a capacity outside 1..=[`MAX_CAPACITY`], an alignment that is
    /// not a power of two, a flag the backing cache cannot take or a zero-sized `T`; with
    /// `ENOMEM` when memory runs out. May sleep.
    ///
    /// [`MAX_CAPACITY`]: super::abi_types::MAX_CAPACITY
    pub fn with_options(name: &CStr, options: &Options) -> Result<Self> {
        // INVARIANT: The cache is created for `T`'s layout.
        Ok(Self {
            raw: new_raw_for::<T, C>(name, options)?,
            _t: PhantomData,
        })
    }
}

impl<T, C: RawCache> ArrayCache<T, C> {
    /// Wraps an untyped cache created for `T`'s layout (see [`layout_of`]).
    ///
    /// # Safety
    ///
    /// `raw`'s objects must be at least `size_of::<T>()` bytes, aligned for `T`.
    pub unsafe fn from_raw_cache(raw: C) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            raw,
            _t: PhantomData,
        }
    }

    /// Allocates an object holding `value`.
    pub fn alloc(&self, value: T, flags: Flags) -> Result<ArrayBox<'_, T, C>, AllocError> {
        self.try_init(value_init(value), flags)
    }

    /// Allocates an object and initialises it in place with `init`.
    pub fn init<E>(&self, init: impl Init<T, E>, flags: Flags) -> Result<ArrayBox<'_, T, C>>
    where
        Error: From<E>,
    {
        self.try_init(into_error_init(init), flags)
    }

    /// As [`ArrayCache::init`], keeping the initialiser's own error type.
    pub fn try_init<E>(&self, init: impl Init<T, E>, flags: Flags) -> Result<ArrayBox<'_, T, C>, E>
    where
        E: From<AllocError>,
    {
        let b = self.try_pin_init(init, flags)?;
        // SAFETY: The value was built by an `Init`, which does not rely on being pinned, and
        // nothing has observed it pinned: it may move.
        Ok(unsafe { Pin::into_inner_unchecked(b) })
    }

    /// Allocates an object and initialises it in place, pinned, with `init`.
    pub fn pin_init<E>(
        &self,
        init: impl PinInit<T, E>,
        flags: Flags,
    ) -> Result<Pin<ArrayBox<'_, T, C>>>
    where
        Error: From<E>,
    {
        self.try_pin_init(into_error(init), flags)
    }

    /// As [`ArrayCache::pin_init`], keeping the initialiser's own error type.
    pub fn try_pin_init<E>(
        &self,
        init: impl PinInit<T, E>,
        flags: Flags,
    ) -> Result<Pin<ArrayBox<'_, T, C>>, E>
    where
        E: From<AllocError>,
    {
        let obj = self.raw.alloc_raw(Gfp::from(flags));
        // SAFETY: By the type invariant the objects of `raw` can hold a `T`.
        let ptr = unsafe { new_object(&self.raw, obj, init)? };
        // SAFETY: `ptr` is an object of `raw` holding a `T` that the handle now owns.
        let b = unsafe { ArrayBox::from_object(&self.raw, ptr) };
        // SAFETY: The value never moves: `ArrayBox` only gives out references to it.
        Ok(unsafe { Pin::new_unchecked(b) })
    }

    /// Opportunistically makes this CPU's array hold at least `count` objects.
    pub fn prefill(&self, count: usize, flags: Flags) -> Result {
        self.raw.prefill_raw(count, Gfp::from(flags))
    }

    /// Reserves `count` objects that cannot run out before they are used: see
    /// [`Reservation`].
    pub fn reserve(&self, count: usize, flags: Flags) -> Result<Reservation<'_, T, C>> {
        Ok(Reservation {
            raw: self.raw.reserve_raw(count, Gfp::from(flags))?,
            cache: &self.raw,
            _t: PhantomData,
        })
    }

    /// Reserves `count` objects, at most `N`, in storage the reservation keeps itself (`N`
    /// pointers): as [`ArrayCache::reserve`], without allocating anything for the reservation.
    /// Meant for a reservation on the stack that ends where it began, as a maple-tree write's.
    pub fn reserve_stored<const N: usize>(
        &self,
        count: usize,
        flags: Flags,
    ) -> Result<Reservation<'_, T, C, C::StoredReservation<'_, N>>> {
        Ok(Reservation {
            raw: self.raw.reserve_stored_raw::<N>(count, Gfp::from(flags))?,
            cache: &self.raw,
            _t: PhantomData,
        })
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> PcpuArrayStats {
        self.raw.stats()
    }

    /// The untyped cache underneath.
    pub fn raw(&self) -> &C {
        &self.raw
    }
}

/// Objects reserved from an [`ArrayCache`]: allocating from it cannot fail until it is empty,
/// never sleeps, and works in any context. Unused objects go back on drop.
///
/// Reserved objects count as in use in the cache's counters from the moment they are reserved
/// until they are freed or the reservation gives them back.
///
/// # Examples
///
/// ```ignore
/// let mut r = cache.reserve(4, GFP_KERNEL)?;        // may sleep: before the lock
/// let _guard = tree_lock.lock();
/// let node = r.pin_init(pin_init!(Node { ... }))?;  // cannot fail: 4 are reserved
/// ```
pub struct Reservation<'a, T, C: RawCache, R: RawReservation = <C as RawCache>::Reservation<'a>> {
    raw: R,
    cache: &'a C,
    _t: PhantomData<fn(T) -> T>,
}

impl<'a, T, C: RawCache, R: RawReservation> Reservation<'a, T, C, R> {
    /// Moves `value` into a reserved object; gives `value` back when the reservation is empty.
    pub fn alloc(&mut self, value: T) -> Result<ArrayBox<'a, T, C>, T> {
        let Some(obj) = self.raw.take_raw(Gfp::NOWAIT) else {
            return Err(value);
        };
        let ptr = obj.cast::<T>();
        // SAFETY: A fresh reserved object of `cache`, whose objects can hold a `T` (the
        // invariant of the `ArrayCache` this reservation came from), that nothing else uses.
        unsafe { ptr.as_ptr().write(value) };
        // SAFETY: `ptr` is an object of `cache` holding a `T` that the handle now owns.
        Ok(unsafe { ArrayBox::from_object(self.cache, ptr) })
    }

    /// Initialises a reserved object in place with `init`. Fails with `ENOMEM` when the
    /// reservation is empty; an object whose initialiser fails goes back to the cache.
    pub fn init<E>(&mut self, init: impl Init<T, E>) -> Result<ArrayBox<'a, T, C>>
    where
        Error: From<E>,
    {
        self.try_init(into_error_init(init))
    }

    /// As [`Reservation::init`], keeping the initialiser's own error type.
    pub fn try_init<E>(&mut self, init: impl Init<T, E>) -> Result<ArrayBox<'a, T, C>, E>
    where
        E: From<AllocError>,
    {
        let b = self.try_pin_init(init)?;
        // SAFETY: Built by an `Init`, never observed pinned: it may move.
        Ok(unsafe { Pin::into_inner_unchecked(b) })
    }

    /// Initialises a reserved object in place, pinned, with `init`. Never sleeps, in any
    /// context; fails with `ENOMEM` only when the reservation is empty.
    pub fn pin_init<E>(&mut self, init: impl PinInit<T, E>) -> Result<Pin<ArrayBox<'a, T, C>>>
    where
        Error: From<E>,
    {
        self.try_pin_init(into_error(init))
    }

    /// As [`Reservation::pin_init`], keeping the initialiser's own error type.
    pub fn try_pin_init<E>(
        &mut self,
        init: impl PinInit<T, E>,
    ) -> Result<Pin<ArrayBox<'a, T, C>>, E>
    where
        E: From<AllocError>,
    {
        let obj = self.raw.take_raw(Gfp::NOWAIT);
        // SAFETY: Reserved objects are objects of `cache`, whose objects can hold a `T` (the
        // invariant of the `ArrayCache` this reservation came from).
        let ptr = unsafe { new_object(self.cache, obj, init)? };
        // SAFETY: `ptr` is an object of `cache` holding a `T` that the handle now owns.
        let b = unsafe { ArrayBox::from_object(self.cache, ptr) };
        // SAFETY: The value never moves: `ArrayBox` only gives out references to it.
        Ok(unsafe { Pin::new_unchecked(b) })
    }

    /// Objects left.
    pub fn len(&self) -> usize {
        self.raw.remaining()
    }

    /// Whether the reservation is used up.
    pub fn is_empty(&self) -> bool {
        self.raw.remaining() == 0
    }
}

/// An owned `T` in an object of an [`ArrayCache`], returned to the cache on drop.
///
/// # Invariants
///
/// `ptr` is an object allocated from `cache` that holds an initialised `T` owned by this handle.
pub struct ArrayBox<'a, T, C: RawCache> {
    ptr: NonNull<T>,
    cache: &'a C,
    _t: PhantomData<T>,
}

// SAFETY: The handle owns its `T`; the cache may be used from any CPU (`RawCache: Sync`).
unsafe impl<T: Send, C: RawCache> Send for ArrayBox<'_, T, C> {}
// SAFETY: `&ArrayBox` gives out only `&T`.
unsafe impl<T: Sync, C: RawCache> Sync for ArrayBox<'_, T, C> {}

impl<'a, T, C: RawCache> ArrayBox<'a, T, C> {
    /// The handle of an initialised object.
    ///
    /// # Safety
    ///
    /// `ptr` must be an object of `cache` holding an initialised `T`, owned by the caller, who
    /// gives it up.
    unsafe fn from_object(cache: &'a C, ptr: NonNull<T>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            ptr,
            cache,
            _t: PhantomData,
        }
    }

    /// Gives up ownership without freeing: the object must come back through
    /// [`ArrayBox::from_raw`] with the same cache.
    pub fn into_raw(b: Self) -> NonNull<T> {
        let ptr = b.ptr;
        core::mem::forget(b);
        ptr
    }

    /// Drops the value now and gives the object back to the cache once every RCU reader that
    /// might still see it has finished (`pcpu_array_free_rcu()`), with no `rcu_head` in it.
    ///
    /// Only the memory waits: `T`'s destructor runs at once, so readers may still read the
    /// value's fields until the grace period ends, but not what the destructor released. The
    /// caller must have unlinked the object from whatever readers find it through.
    pub fn drop_rcu(b: Self) {
        let ptr = b.ptr;
        let cache = b.cache;
        core::mem::forget(b);
        // SAFETY: By the type invariant `ptr` holds a `T` that we own; it is dropped once.
        unsafe { core::ptr::drop_in_place(ptr.as_ptr()) };
        // SAFETY: The object came from `cache`, is no longer used by us, and was unlinked by
        // the caller.
        unsafe { cache.free_rcu_raw(ptr.cast()) };
    }

    /// Takes back an object given up with [`ArrayBox::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`ArrayBox::into_raw`] on a handle of `cache`, and must not be used
    /// by anything else afterwards.
    pub unsafe fn from_raw(cache: &'a ArrayCache<T, C>, ptr: NonNull<T>) -> Self {
        // SAFETY: Guaranteed by the caller.
        unsafe { Self::from_object(&cache.raw, ptr) }
    }
}

impl<T, C: RawCache> Deref for ArrayBox<'_, T, C> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant `ptr` holds a `T` that we own.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T, C: RawCache> DerefMut for ArrayBox<'_, T, C> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: By the type invariant `ptr` holds a `T` that we own exclusively.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T, C: RawCache> Drop for ArrayBox<'_, T, C> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `ptr` holds a `T` that we own; it is dropped once.
        unsafe { core::ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: The object came from `self.cache` and is no longer used.
        unsafe { self.cache.free_raw(self.ptr.cast()) };
    }
}

/// What an object of a [`SharedArrayCache`] holds: the reference to the cache that its
/// [`OwnedArrayBox`] owns, then the value.
struct Slot<T, C> {
    cache: Arc<C>,
    value: T,
}

/// A handle to a per-CPU array cache of `T`s whose objects each own a reference to it.
///
/// Cloning the handle clones the reference. Allocation gives an [`OwnedArrayBox`], which keeps
/// the cache alive by itself, so it can go anywhere a `KBox` can: to a work item, an RCU
/// callback, another thread, or through [`ForeignOwnable`] into an XArray or a maple tree. Each
/// object carries that reference (one pointer) before the `T`; an [`ArrayCache`] does without
/// it.
///
/// The cache is destroyed when the last handle or box is dropped, in whatever context that
/// happens but NMI: where nothing may sleep (an RCU callback, a spinlock), the teardown goes to
/// pcpu_array's workqueue and completes later, and the next cache created waits for it (see
/// `pcpu_array_destroy()`).
///
/// # Invariants
///
/// The objects of `raw` are big enough and aligned for a `Slot<T, C>`.
pub struct SharedArrayCache<T, C: RawCache> {
    raw: Arc<C>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T, C: RawCache> Clone for SharedArrayCache<T, C> {
    fn clone(&self) -> Self {
        // INVARIANT: The same cache.
        Self {
            raw: self.raw.clone(),
            _t: PhantomData,
        }
    }
}

impl<T, C: NewRawCache> SharedArrayCache<T, C> {
    /// Creates a cache of `T`s named `name` whose CPUs each keep up to `capacity` free objects;
    /// the other options are [`Options::default`]'s.
    pub fn new(name: &CStr, capacity: u32) -> Result<Self> {
        Self::with_options(name, &Options::with_capacity(capacity))
    }

    /// Creates a cache of `T`s named `name` made as `options` say; fails as
    /// [`ArrayCache::with_options`] does. May sleep.
    pub fn with_options(name: &CStr, options: &Options) -> Result<Self> {
        let raw = new_raw_for::<Slot<T, C>, C>(name, options)?;
        // INVARIANT: The cache is created for the layout of a `Slot<T, C>`.
        Ok(Self {
            raw: Arc::new(raw, GFP_KERNEL)?,
            _t: PhantomData,
        })
    }
}

impl<T, C: RawCache> SharedArrayCache<T, C> {
    /// Allocates an object holding `value`.
    pub fn alloc(&self, value: T, flags: Flags) -> Result<OwnedArrayBox<T, C>, AllocError> {
        self.try_init(value_init(value), flags)
    }

    /// Allocates an object and initialises it in place with `init`.
    pub fn init<E>(&self, init: impl Init<T, E>, flags: Flags) -> Result<OwnedArrayBox<T, C>>
    where
        Error: From<E>,
    {
        self.try_init(into_error_init(init), flags)
    }

    /// As [`SharedArrayCache::init`], keeping the initialiser's own error type.
    pub fn try_init<E>(&self, init: impl Init<T, E>, flags: Flags) -> Result<OwnedArrayBox<T, C>, E>
    where
        E: From<AllocError>,
    {
        let b = self.try_pin_init(init, flags)?;
        // SAFETY: Built by an `Init`, never observed pinned: it may move.
        Ok(unsafe { Pin::into_inner_unchecked(b) })
    }

    /// Allocates an object and initialises it in place, pinned, with `init`.
    pub fn pin_init<E>(
        &self,
        init: impl PinInit<T, E>,
        flags: Flags,
    ) -> Result<Pin<OwnedArrayBox<T, C>>>
    where
        Error: From<E>,
    {
        self.try_pin_init(into_error(init), flags)
    }

    /// As [`SharedArrayCache::pin_init`], keeping the initialiser's own error type.
    pub fn try_pin_init<E>(
        &self,
        init: impl PinInit<T, E>,
        flags: Flags,
    ) -> Result<Pin<OwnedArrayBox<T, C>>, E>
    where
        E: From<AllocError>,
    {
        let cache = self.raw.clone();
        let write_slot = move |slot: *mut Slot<T, C>| -> Result<(), E> {
            // SAFETY: `slot` is valid for writes and its value will not move (the contract of
            // `pin_init_from_closure`'s closure).
            unsafe { raw_try_init(&raw mut (*slot).value, init) }?;
            // SAFETY: As above; the field holds no value yet.
            unsafe { (&raw mut (*slot).cache).write(cache) };
            Ok(())
        };
        // SAFETY: The closure initialises both fields of the slot, or on failure neither (the
        // value's initialiser cleans up after itself, the reference is dropped unwritten).
        let slot_init = unsafe { pin_init::pin_init_from_closure(write_slot) };
        let obj = self.raw.alloc_raw(Gfp::from(flags));
        // SAFETY: By the type invariant the objects of `raw` can hold a `Slot<T, C>`.
        let slot = unsafe { new_object(&*self.raw, obj, slot_init)? };
        // SAFETY: `slot` is an object of the cache that its `cache` field refers to, holding an
        // initialised slot that the box now owns.
        let b = unsafe { OwnedArrayBox::from_slot(slot) };
        // SAFETY: The value never moves: `OwnedArrayBox` only gives out references to it.
        Ok(unsafe { Pin::new_unchecked(b) })
    }

    /// Opportunistically makes this CPU's array hold at least `count` objects.
    pub fn prefill(&self, count: usize, flags: Flags) -> Result {
        self.raw.prefill_raw(count, Gfp::from(flags))
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> PcpuArrayStats {
        self.raw.stats()
    }

    /// The untyped cache underneath.
    pub fn raw(&self) -> &C {
        &self.raw
    }
}

/// An owned `T` in an object of a [`SharedArrayCache`], holding a reference to the cache: the
/// object goes back to the cache on drop, and the cache lives as long as one box or handle
/// does.
///
/// It is one pointer, `Send` when `T` is, and a [`ForeignOwnable`], so it can be stored in an
/// XArray or a maple tree, or handed to C and taken back.
///
/// # Invariants
///
/// `slot` is an object of the cache `slot.cache` refers to, holding an initialised
/// `Slot<T, C>` owned by this handle.
pub struct OwnedArrayBox<T, C: RawCache> {
    slot: NonNull<Slot<T, C>>,
    _t: PhantomData<T>,
}

// SAFETY: The handle owns its `T` and a reference to the cache, which any CPU may use and free
// (`RawCache: Sync`, `C: Send`).
unsafe impl<T: Send, C: RawCache + Send> Send for OwnedArrayBox<T, C> {}
// SAFETY: `&OwnedArrayBox` gives out only `&T`.
unsafe impl<T: Sync, C: RawCache> Sync for OwnedArrayBox<T, C> {}

impl<T, C: RawCache> OwnedArrayBox<T, C> {
    /// The handle of an initialised slot.
    ///
    /// # Safety
    ///
    /// `slot` must be an object of the cache its `cache` field refers to, holding an
    /// initialised `Slot<T, C>` owned by the caller, who gives it up.
    unsafe fn from_slot(slot: NonNull<Slot<T, C>>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            slot,
            _t: PhantomData,
        }
    }

    /// The value's address.
    fn value_ptr(&self) -> *mut T {
        // SAFETY: By the type invariant `slot` is a live slot; this only computes an address.
        unsafe { &raw mut (*self.slot.as_ptr()).value }
    }

    /// Drops the value now and gives the object back to its cache once every RCU reader that
    /// might still see it has finished (`pcpu_array_free_rcu()`), as [`ArrayBox::drop_rcu`].
    /// The box's reference to the cache goes at once: when it is the last, the cache's teardown
    /// waits for the grace period before the object's memory goes.
    pub fn drop_rcu(b: Self) {
        let slot = b.slot.as_ptr();
        core::mem::forget(b);
        // SAFETY: By the type invariant the slot holds a `T` that we own; it is dropped once.
        unsafe { core::ptr::drop_in_place(&raw mut (*slot).value) };
        // SAFETY: The slot's reference to the cache is ours and is read out once; readers may
        // still read the slot's bytes, which stay as they are.
        let cache = unsafe { (&raw const (*slot).cache).read() };
        // SAFETY: The object came from `cache`, is no longer used by us, and was unlinked by
        // the caller.
        unsafe { cache.free_rcu_raw(NonNull::new_unchecked(slot).cast()) };
        drop(cache);
    }

    /// The cache the object belongs to.
    pub fn cache(b: &Self) -> &C {
        // SAFETY: By the type invariant `slot` holds an initialised slot that we own.
        unsafe { &(*b.slot.as_ptr()).cache }
    }
}

impl<T, C: RawCache> Deref for OwnedArrayBox<T, C> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant the slot holds a `T` that we own.
        unsafe { &*self.value_ptr() }
    }
}

impl<T, C: RawCache> DerefMut for OwnedArrayBox<T, C> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: By the type invariant the slot holds a `T` that we own exclusively.
        unsafe { &mut *self.value_ptr() }
    }
}

impl<T, C: RawCache> Drop for OwnedArrayBox<T, C> {
    fn drop(&mut self) {
        let slot = self.slot.as_ptr();
        // SAFETY: By the type invariant the slot holds a `T` that we own; it is dropped once.
        unsafe { core::ptr::drop_in_place(&raw mut (*slot).value) };
        // SAFETY: The slot's reference to the cache is ours and is read out once; the slot is
        // not used as a slot afterwards.
        let cache = unsafe { (&raw const (*slot).cache).read() };
        // SAFETY: The object came from `cache` and is no longer used.
        unsafe { cache.free_raw(self.slot.cast()) };
        // The last reference destroys the cache, after its last object went back.
        drop(cache);
    }
}

// SAFETY: `into_foreign` returns the slot's address, non-null and aligned to the slot, and
// `from_foreign` takes it back once; the borrows give out what `&self` and `&mut self` would.
unsafe impl<T, C: RawCache> ForeignOwnable for OwnedArrayBox<T, C> {
    const FOREIGN_ALIGN: usize = align_of::<Slot<T, C>>();
    type Borrowed<'a>
        = &'a T
    where
        Self: 'a;
    type BorrowedMut<'a>
        = &'a mut T
    where
        Self: 'a;

    fn into_foreign(self) -> *mut c_void {
        let slot = self.slot;
        core::mem::forget(self);
        slot.as_ptr().cast()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // SAFETY: `ptr` came from `into_foreign` (the caller's contract), which gave up a
        // non-null slot that we take back once.
        unsafe { Self::from_slot(NonNull::new_unchecked(ptr.cast())) }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> &'a T {
        let slot = ptr.cast::<Slot<T, C>>();
        // SAFETY: `ptr` came from `into_foreign` and the object stays alive and unchanged for
        // `'a` (the caller's contract).
        unsafe { &(*slot).value }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> &'a mut T {
        let slot = ptr.cast::<Slot<T, C>>();
        // SAFETY: `ptr` came from `into_foreign`, the object stays alive for `'a` and nothing
        // else accesses it meanwhile (the caller's contract).
        unsafe { &mut (*slot).value }
    }
}

// SAFETY: As for `OwnedArrayBox`; the pointer is the same, and the borrows stay pinned.
unsafe impl<T, C: RawCache> ForeignOwnable for Pin<OwnedArrayBox<T, C>> {
    const FOREIGN_ALIGN: usize = <OwnedArrayBox<T, C> as ForeignOwnable>::FOREIGN_ALIGN;
    type Borrowed<'a>
        = Pin<&'a T>
    where
        Self: 'a;
    type BorrowedMut<'a>
        = Pin<&'a mut T>
    where
        Self: 'a;

    fn into_foreign(self) -> *mut c_void {
        // SAFETY: The box is still treated as pinned: `from_foreign` pins it again and the
        // value is not moved meanwhile.
        unsafe { Pin::into_inner_unchecked(self) }.into_foreign()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // SAFETY: `ptr` came from `into_foreign` of a pinned box (the caller's contract).
        let b = unsafe { OwnedArrayBox::from_foreign(ptr) };
        // SAFETY: The value was pinned before `into_foreign` and has not moved.
        unsafe { Pin::new_unchecked(b) }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> Pin<&'a T> {
        let slot = ptr.cast::<Slot<T, C>>();
        // SAFETY: `ptr` came from `into_foreign` and the object stays alive and unchanged for
        // `'a` (the caller's contract).
        let r = unsafe { &(*slot).value };
        // SAFETY: The value is pinned: it came from a pinned box.
        unsafe { Pin::new_unchecked(r) }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> Pin<&'a mut T> {
        let slot = ptr.cast::<Slot<T, C>>();
        // SAFETY: `ptr` came from `into_foreign`, the object stays alive for `'a` and nothing
        // else accesses it meanwhile (the caller's contract).
        let r = unsafe { &mut (*slot).value };
        // SAFETY: The value is pinned: it came from a pinned box.
        unsafe { Pin::new_unchecked(r) }
    }
}

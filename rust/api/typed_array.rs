// SPDX-License-Identifier: GPL-2.0

//! The typed caches, [`ArrayCache`] and [`SharedArrayCache`] (one generic type over the two
//! [`Kind`]s), and their typed [`Reservation`]s.
//!
//! Shared with the binding as `typed.rs` is (see there); its siblings are `super::NAME`.

use super::{
    abi_types::PcpuArrayStats,
    gfp::Gfp,
    typed::{
        into_error,
        into_error_init,
        value_init,
        NewRawCache,
        Options,
        RawCache,
        RawReservation,
        NO_NODE, //
    },
    typed_box::{
        Borrowing,
        Kind,
        Sharing, //
    },
};
use core::{
    convert::Infallible,
    marker::PhantomData,
    pin::Pin,
    ptr::{
        null_mut,
        NonNull, //
    },
};
use kernel::{
    alloc::{
        AllocError,
        Flags, //
    },
    ffi::c_void,
    prelude::*,
    str::CStr, //
};

/// The objects [`ArrayCache::free_bulk`] gathers for one bulk free.
const FREE_BULK_BATCH: usize = 16;

/// A per-CPU array cache of `T`s over the untyped cache `C`, of kind `K`.
///
/// With the default kind, [`Borrowing`], allocation gives an [`ArrayBox`], which borrows the
/// cache: the cache cannot be dropped while an object is live, so destroy never meets an object
/// it does not own. For objects that must outlive the borrow (a work item, an RCU callback),
/// use a [`SharedArrayCache`], the same type of kind [`Sharing`].
///
/// [`ArrayBox`]: super::typed_box::ArrayBox
///
/// # Invariants
///
/// The objects of the cache `raw` holds have the layout of `K::object_layout::<T, C>()`.
pub struct ArrayCache<T, C: RawCache, K: Kind = Borrowing> {
    raw: K::Holder<C>,
    // The cache holds no `T`, only room for them: it is `Send` and `Sync` as its holder is.
    _t: PhantomData<fn(T) -> T>,
}

/// A handle to a per-CPU array cache of `T`s whose objects each own a reference to it.
///
/// Cloning the handle clones the reference. Allocation gives an [`OwnedArrayBox`], which keeps
/// the cache alive by itself, so it can go anywhere a `KBox` can: to a work item, an RCU
/// callback, another thread, or through `ForeignOwnable` into an XArray or a maple tree. Each
/// object carries that reference (one pointer) before the `T`; an [`ArrayCache`] of the default
/// kind does without it.
///
/// The cache is destroyed when the last handle or box is dropped, in whatever context that
/// happens but NMI: where nothing may sleep (an RCU callback, a spinlock), the teardown goes to
/// pcpu_array's workqueue and completes later, and the next cache created waits for it (see
/// `pcpu_array_destroy()`).
///
/// [`OwnedArrayBox`]: super::typed_box::OwnedArrayBox
pub type SharedArrayCache<T, C> = ArrayCache<T, C, Sharing>;

impl<T, C: RawCache> Clone for ArrayCache<T, C, Sharing> {
    fn clone(&self) -> Self {
        // INVARIANT: The same cache.
        Self {
            raw: self.raw.clone(),
            _t: PhantomData,
        }
    }
}

impl<T, C: NewRawCache, K: Kind> ArrayCache<T, C, K> {
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
        let (size, align) = K::object_layout::<T, C>()?;
        if options.align != 0 && !options.align.is_power_of_two() {
            return Err(EINVAL);
        }
        let raw = C::new_raw(name, size, align.max(options.align), options)?;
        // INVARIANT: The cache is created for the layout of the kind's objects.
        Ok(Self {
            raw: K::hold(raw)?,
            _t: PhantomData,
        })
    }
}

impl<T, C: RawCache> ArrayCache<T, C, Borrowing> {
    /// Wraps an untyped cache created for `T`'s layout (see [`layout_of`]).
    ///
    /// [`layout_of`]: super::typed::layout_of
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
}

impl<T, C: RawCache, K: Kind> ArrayCache<T, C, K> {
    /// Builds a box around `obj`, fresh from this cache, with `init`.
    fn make_box<E>(
        &self,
        obj: Option<NonNull<c_void>>,
        init: impl PinInit<T, E>,
    ) -> Result<Pin<K::Box<'_, T, C>>, E>
    where
        E: From<AllocError>,
    {
        let obj = obj.ok_or(AllocError)?;
        // SAFETY: `obj` is a fresh object of this cache, whose objects have the kind's layout
        // (type invariant), and ours to give.
        let b = unsafe { K::new_box(&self.raw, obj, init)? };
        // SAFETY: The value never moves: a box of a kind only gives out references to it.
        Ok(unsafe { Pin::new_unchecked(b) })
    }

    /// Allocates an object holding `value`.
    pub fn alloc(&self, value: T, flags: Flags) -> Result<K::Box<'_, T, C>, AllocError> {
        self.try_init(value_init(value), flags)
    }

    /// Allocates an object and initialises it in place with `init`.
    pub fn init<E>(&self, init: impl Init<T, E>, flags: Flags) -> Result<K::Box<'_, T, C>>
    where
        Error: From<E>,
    {
        self.try_init(into_error_init(init), flags)
    }

    /// As [`ArrayCache::init`], keeping the initialiser's own error type.
    pub fn try_init<E>(&self, init: impl Init<T, E>, flags: Flags) -> Result<K::Box<'_, T, C>, E>
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
    ) -> Result<Pin<K::Box<'_, T, C>>>
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
    ) -> Result<Pin<K::Box<'_, T, C>>, E>
    where
        E: From<AllocError>,
    {
        self.make_box(self.raw().alloc_raw(Gfp::from(flags)), init)
    }

    /// Allocates an object holding `value` on memory node `node` (or any, for [`NO_NODE`]), as
    /// `kmem_cache_alloc_node()` does: from this CPU's array when `node` is its CPU's memory
    /// node, otherwise from the backing cache on `node` (`pcpu_array_alloc_node()`).
    pub fn alloc_node(
        &self,
        value: T,
        flags: Flags,
        node: i32,
    ) -> Result<K::Box<'_, T, C>, AllocError> {
        let b = self.try_pin_init_node(value_init(value), flags, node)?;
        // SAFETY: The value was moved in by an `Init` and nothing has observed it pinned.
        Ok(unsafe { Pin::into_inner_unchecked(b) })
    }

    /// As [`ArrayCache::pin_init`], on memory node `node` (see [`ArrayCache::alloc_node`]).
    pub fn pin_init_node<E>(
        &self,
        init: impl PinInit<T, E>,
        flags: Flags,
        node: i32,
    ) -> Result<Pin<K::Box<'_, T, C>>>
    where
        Error: From<E>,
    {
        self.try_pin_init_node(into_error(init), flags, node)
    }

    /// As [`ArrayCache::try_pin_init`], on memory node `node`.
    fn try_pin_init_node<E>(
        &self,
        init: impl PinInit<T, E>,
        flags: Flags,
        node: i32,
    ) -> Result<Pin<K::Box<'_, T, C>>, E>
    where
        E: From<AllocError>,
    {
        let obj = if node == NO_NODE {
            self.raw().alloc_raw(Gfp::from(flags))
        } else {
            self.raw().alloc_node_raw(Gfp::from(flags), node)
        };
        self.make_box(obj, init)
    }

    /// Allocates `N` objects with one bulk call (`pcpu_array_alloc_bulk()`: from this CPU's
    /// array, then the depot, the rest from the backing cache) and moves `value(i)` into the
    /// `i`-th. All or nothing: fails with `AllocError` when memory runs out, for `N == 0`, and
    /// where the slab bulk API may not be used (interrupts disabled, hard interrupt, NMI).
    ///
    /// The boxes and a vector of `N` object pointers live on the stack: keep `N` small.
    pub fn alloc_bulk<const N: usize>(
        &self,
        flags: Flags,
        mut value: impl FnMut(usize) -> T,
    ) -> Result<[K::Box<'_, T, C>; N], AllocError> {
        let mut objs = [null_mut(); N];
        if !self.raw().alloc_bulk_raw(Gfp::from(flags), &mut objs) {
            return Err(AllocError);
        }
        Ok(core::array::from_fn(|i| {
            // SAFETY: A successful bulk allocation filled every entry with an object (the
            // contract of `RawCache`).
            let obj = unsafe { NonNull::new_unchecked(objs[i]) };
            // SAFETY: `obj` is a fresh object of this cache, with the kind's layout (type
            // invariant), given up here: each entry is used once.
            match unsafe { K::new_box(&self.raw, obj, value_init::<T, Infallible>(value(i))) } {
                Ok(b) => b,
                Err(never) => match never {},
            }
        }))
    }

    /// Drops the values of `boxes` and frees their objects with one bulk call per 16
    /// (`pcpu_array_free_bulk()`). A box of another cache is dropped as usual.
    pub fn free_bulk<'b>(&'b self, boxes: impl IntoIterator<Item = K::Box<'b, T, C>>) {
        let mut objs = [null_mut(); FREE_BULK_BATCH];
        let mut n = 0;
        for b in boxes {
            match K::into_object(&self.raw, b) {
                Ok(obj) => {
                    objs[n] = obj.as_ptr();
                    n += 1;
                }
                Err(other) => drop(other),
            }
            if n == FREE_BULK_BATCH {
                // SAFETY: The objects are this cache's, their values dropped and not used
                // afterwards.
                unsafe { self.raw().free_bulk_raw(&mut objs) };
                n = 0;
            }
        }
        if n != 0 {
            // SAFETY: As above.
            unsafe { self.raw().free_bulk_raw(&mut objs[..n]) };
        }
    }

    /// Opportunistically makes this CPU's array hold at least `count` objects.
    pub fn prefill(&self, count: usize, flags: Flags) -> Result {
        self.raw().prefill_raw(count, Gfp::from(flags))
    }

    /// Reserves `count` objects that cannot run out before they are used: see
    /// [`Reservation`].
    pub fn reserve(
        &self,
        count: usize,
        flags: Flags,
    ) -> Result<Reservation<'_, T, C, C::Reservation<'_>, K>> {
        Ok(Reservation {
            raw: self.raw().reserve_raw(count, Gfp::from(flags))?,
            holder: &self.raw,
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
    ) -> Result<Reservation<'_, T, C, C::StoredReservation<'_, N>, K>> {
        Ok(Reservation {
            raw: self
                .raw()
                .reserve_stored_raw::<N>(count, Gfp::from(flags))?,
            holder: &self.raw,
            _t: PhantomData,
        })
    }

    /// Gives every object parked in the arrays back to the backing cache and returns how many
    /// that was: `pcpu_array_shrink()`, what the cache's shrinker does under memory pressure.
    /// May sleep.
    pub fn shrink(&self) -> usize {
        self.raw().shrink_raw()
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> PcpuArrayStats {
        self.raw().stats()
    }

    /// The untyped cache underneath.
    pub fn raw(&self) -> &C {
        K::raw(&self.raw)
    }
}

/// Objects reserved from an [`ArrayCache`] of either kind: allocating from it cannot fail until
/// it is empty, never sleeps, and works in any context. Unused objects go back on drop. A
/// reservation of a [`SharedArrayCache`] gives [`OwnedArrayBox`]es, each taking a reference
/// to the cache (no allocation).
///
/// Reserved objects count as in use in the cache's counters from the moment they are reserved
/// until they are freed or the reservation gives them back.
///
/// [`OwnedArrayBox`]: super::typed_box::OwnedArrayBox
///
/// # Examples
///
/// ```ignore
/// let mut r = cache.reserve(4, GFP_KERNEL)?;        // may sleep: before the lock
/// let _guard = tree_lock.lock();
/// let node = r.pin_init(pin_init!(Node { ... }))?;  // cannot fail: 4 are reserved
/// ```
///
/// # Invariants
///
/// The objects of `raw` are objects of the cache `holder` holds.
pub struct Reservation<
    'a,
    T,
    C: RawCache,
    R: RawReservation = <C as RawCache>::Reservation<'a>,
    K: Kind = Borrowing,
> {
    raw: R,
    holder: &'a K::Holder<C>,
    _t: PhantomData<fn(T) -> T>,
}

/// A reservation of a [`SharedArrayCache`].
pub type SharedReservation<'a, T, C, R = <C as RawCache>::Reservation<'a>> =
    Reservation<'a, T, C, R, Sharing>;

impl<'a, T, C: RawCache + 'a, R: RawReservation, K: Kind> Reservation<'a, T, C, R, K> {
    /// Moves `value` into a reserved object; gives `value` back when the reservation is empty.
    pub fn alloc(&mut self, value: T) -> Result<K::Box<'a, T, C>, T> {
        let Some(obj) = self.raw.take_raw(Gfp::NOWAIT) else {
            return Err(value);
        };
        // SAFETY: A reserved object is a fresh object of the cache (type invariant), of the
        // kind's layout (the invariant of the `ArrayCache` this reservation came from), ours.
        match unsafe { K::new_box(self.holder, obj, value_init::<T, Infallible>(value)) } {
            Ok(b) => Ok(b),
            Err(never) => match never {},
        }
    }

    /// Initialises a reserved object in place with `init`. Fails with `ENOMEM` when the
    /// reservation is empty; an object whose initialiser fails goes back to the cache.
    pub fn init<E>(&mut self, init: impl Init<T, E>) -> Result<K::Box<'a, T, C>>
    where
        Error: From<E>,
    {
        self.try_init(into_error_init(init))
    }

    /// As [`Reservation::init`], keeping the initialiser's own error type.
    pub fn try_init<E>(&mut self, init: impl Init<T, E>) -> Result<K::Box<'a, T, C>, E>
    where
        E: From<AllocError>,
    {
        let b = self.try_pin_init(init)?;
        // SAFETY: Built by an `Init`, never observed pinned: it may move.
        Ok(unsafe { Pin::into_inner_unchecked(b) })
    }

    /// Initialises a reserved object in place, pinned, with `init`. Never sleeps, in any
    /// context; fails with `ENOMEM` only when the reservation is empty.
    pub fn pin_init<E>(&mut self, init: impl PinInit<T, E>) -> Result<Pin<K::Box<'a, T, C>>>
    where
        Error: From<E>,
    {
        self.try_pin_init(into_error(init))
    }

    /// As [`Reservation::pin_init`], keeping the initialiser's own error type.
    pub fn try_pin_init<E>(&mut self, init: impl PinInit<T, E>) -> Result<Pin<K::Box<'a, T, C>>, E>
    where
        E: From<AllocError>,
    {
        let obj = self.raw.take_raw(Gfp::NOWAIT).ok_or(AllocError)?;
        // SAFETY: A reserved object is a fresh object of the cache (type invariant), of the
        // kind's layout (the invariant of the `ArrayCache` this reservation came from), ours.
        let b = unsafe { K::new_box(self.holder, obj, init)? };
        // SAFETY: The value never moves: a box of a kind only gives out references to it.
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

// SPDX-License-Identifier: GPL-2.0

//! The typed cache, its owning object handle and its typed reservation.
//!
//! This file is compiled twice: into `pcpu_array.ko`, over [`Cache`] directly, and into
//! consumer modules by `samples/rust/pcpu_array_binding.rs`, over the C ABI. It only needs a
//! [`RawCache`] and the sibling `gfp` module, so both see the same safe API.
//!
//! [`Cache`]: ../cache/struct.Cache.html

use super::gfp::Gfp;
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
    alloc::AllocError,
    ffi::c_void,
    prelude::*, //
};

/// An untyped per-CPU array cache: what [`ArrayCache`] is built on.
///
/// # Safety
///
/// `alloc_raw` must return objects of at least the size and alignment the cache was created
/// with, owned by the caller, that `free_raw` accepts back.
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

    /// Opportunistically fills this CPU's array with at least `count` objects.
    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result;

    /// Reserves `count` objects owned by the caller.
    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<Self::Reservation<'_>>;
}

/// A guaranteed batch of objects. Unused objects go back to the cache on drop.
pub trait RawReservation {
    /// Takes one object; cannot fail until the batch is empty.
    fn take_raw(&mut self, gfp: Gfp) -> Option<NonNull<c_void>>;

    /// Objects left.
    fn remaining(&self) -> usize;
}

/// A per-CPU array cache of `T`s over the untyped cache `C`.
///
/// Allocation gives an [`ArrayBox`], which borrows the cache: the cache cannot be dropped
/// while an object is live, so destroy never meets an object it does not own.
pub struct ArrayCache<T, C: RawCache> {
    raw: C,
    _t: PhantomData<T>,
}

/// The object size and alignment of `T`, as the slab API takes them.
pub(crate) fn layout_of<T>() -> Result<(u32, u32)> {
    let size = u32::try_from(size_of::<T>()).map_err(|_| EINVAL)?;
    let align = u32::try_from(align_of::<T>()).map_err(|_| EINVAL)?;
    Ok((size, align))
}

impl<T: Send, C: RawCache> ArrayCache<T, C> {
    /// Wraps an untyped cache created for `T`'s layout (see [`layout_of`]).
    ///
    /// # Safety
    ///
    /// `raw`'s objects must be at least `size_of::<T>()` bytes, aligned for `T`.
    pub(crate) unsafe fn from_raw_cache(raw: C) -> Self {
        Self {
            raw,
            _t: PhantomData,
        }
    }

    /// Allocates an object holding `value`.
    pub fn alloc(&self, value: T, gfp: Gfp) -> Result<ArrayBox<'_, T, C>, AllocError> {
        let obj = self.raw.alloc_raw(gfp).ok_or(AllocError)?;
        // SAFETY: `obj` is a fresh object of this cache, which holds `T`s.
        Ok(unsafe { ArrayBox::write(&self.raw, obj, value) })
    }

    /// Allocates an object and initialises it in place with `init`.
    pub fn init<E>(&self, init: impl Init<T, E>, gfp: Gfp) -> Result<ArrayBox<'_, T, C>, E>
    where
        E: From<AllocError>,
    {
        let b = self.pin_init(init, gfp)?;
        // SAFETY: The value was built by an `Init`, which does not rely on being pinned, and
        // nothing has observed it pinned: it may move.
        Ok(unsafe { Pin::into_inner_unchecked(b) })
    }

    /// Allocates an object and initialises it in place, pinned, with `init`.
    pub fn pin_init<E>(
        &self,
        init: impl PinInit<T, E>,
        gfp: Gfp,
    ) -> Result<Pin<ArrayBox<'_, T, C>>, E>
    where
        E: From<AllocError>,
    {
        let obj = self.raw.alloc_raw(gfp).ok_or(AllocError)?;
        let slot = obj.cast::<T>();
        // SAFETY: `slot` is a fresh object that will not move until it is dropped: the handle
        // is pinned below and never gives out the pointer.
        if let Err(e) = unsafe { init.__pinned_init(slot.as_ptr()) } {
            // SAFETY: `obj` came from this cache, is ours and holds no value.
            unsafe { self.raw.free_raw(obj) };
            return Err(e);
        }
        // INVARIANT: Initialised just above.
        let b = ArrayBox {
            ptr: slot,
            cache: &self.raw,
            _t: PhantomData,
        };
        // SAFETY: The object never moves: `ArrayBox` only gives out references to it.
        Ok(unsafe { Pin::new_unchecked(b) })
    }

    /// Opportunistically makes this CPU's array hold at least `count` objects.
    pub fn prefill(&self, count: usize, gfp: Gfp) -> Result {
        self.raw.prefill_raw(count, gfp)
    }

    /// Reserves `count` objects that cannot run out before they are used: see
    /// [`Reservation`].
    pub fn reserve(&self, count: usize, gfp: Gfp) -> Result<Reservation<'_, T, C>> {
        Ok(Reservation {
            raw: self.raw.reserve_raw(count, gfp)?,
            cache: &self.raw,
            _t: PhantomData,
        })
    }

    /// The untyped cache underneath.
    pub fn raw(&self) -> &C {
        &self.raw
    }
}

/// Objects reserved from an [`ArrayCache`]: allocating from it cannot fail until it is empty,
/// never sleeps, and works in any context. Unused objects go back on drop.
///
/// # Examples
///
/// ```ignore
/// let mut r = cache.reserve(4, Gfp::KERNEL)?;     // may sleep: before the lock
/// let _guard = tree_lock.lock();
/// let node = r.alloc(Node::new()).map_err(|_| ENOMEM)?; // cannot fail: 4 are reserved
/// ```
pub struct Reservation<'a, T, C: RawCache> {
    raw: C::Reservation<'a>,
    cache: &'a C,
    _t: PhantomData<T>,
}

impl<'a, T, C: RawCache> Reservation<'a, T, C> {
    /// Moves `value` into a reserved object; gives `value` back when the reservation is empty.
    pub fn alloc(&mut self, value: T) -> Result<ArrayBox<'a, T, C>, T> {
        match self.raw.take_raw(Gfp::NOWAIT) {
            // SAFETY: A fresh object of `cache`, which holds `T`s.
            Some(obj) => Ok(unsafe { ArrayBox::write(self.cache, obj, value) }),
            None => Err(value),
        }
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
    /// Moves `value` into `obj`.
    ///
    /// # Safety
    ///
    /// `obj` must be a fresh object of `cache`, big and aligned enough for a `T`, owned by the
    /// caller.
    unsafe fn write(cache: &'a C, obj: NonNull<c_void>, value: T) -> Self {
        let ptr = obj.cast::<T>();
        // SAFETY: Guaranteed by the caller.
        unsafe { ptr.as_ptr().write(value) };
        // INVARIANT: `ptr` holds an initialised `T` and came from `cache`.
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

    /// Takes back an object given up with [`ArrayBox::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`ArrayBox::into_raw`] on a handle of `cache`, and must not be used
    /// by anything else afterwards.
    pub unsafe fn from_raw(cache: &'a ArrayCache<T, C>, ptr: NonNull<T>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            ptr,
            cache: &cache.raw,
            _t: PhantomData,
        }
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

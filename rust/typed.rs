// SPDX-License-Identifier: GPL-2.0

//! The typed cache and its owning object handle.

use crate::{
    backing::Sheaves,
    cache::{
        Config,
        PcpuArray, //
    },
    gfp::Gfp,
    stats::Stats,
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
    alloc::AllocError,
    prelude::*,
    str::CStr, //
};

/// A per-CPU array cache of `T`s.
///
/// Allocation gives an [`ArrayBox`], which borrows the cache: the cache cannot be dropped while
/// an object is live, so destroy never meets an object it does not own.
///
/// # Examples
///
/// ```ignore
/// let cache = ArrayCache::<[u64; 8]>::new(c"example", 16)?;
/// let obj = cache.alloc([0; 8], Gfp::KERNEL)?;
/// assert_eq!(obj[3], 0);
/// ```
pub struct ArrayCache<T> {
    raw: PcpuArray,
    _t: PhantomData<T>,
}

impl<T: Send> ArrayCache<T> {
    /// Creates a cache named `name` whose CPUs each keep up to `capacity` free objects.
    pub fn new(name: &CStr, capacity: u32) -> Result<Self> {
        Self::with_sheaves(name, capacity, Sheaves::Off)
    }

    /// As [`ArrayCache::new`], choosing whether the backing cache keeps SLUB's sheaves.
    pub fn with_sheaves(name: &CStr, capacity: u32, sheaves: Sheaves) -> Result<Self> {
        let size = u32::try_from(size_of::<T>()).map_err(|_| EINVAL)?;
        let align = u32::try_from(align_of::<T>()).map_err(|_| EINVAL)?;
        let config = Config {
            align,
            sheaves,
            ..Config::new(size, capacity)
        };
        Ok(Self {
            raw: PcpuArray::new(name, config)?,
            _t: PhantomData,
        })
    }

    /// Allocates an object holding `value`.
    pub fn alloc(&self, value: T, flags: Gfp) -> Result<ArrayBox<'_, T>, AllocError> {
        let obj = self
            .raw
            .alloc(flags.as_raw())
            .ok_or(AllocError)?
            .cast::<T>();
        // SAFETY: `obj` is a fresh object of `size_of::<T>()` bytes aligned for `T`.
        unsafe { obj.as_ptr().write(value) };
        // INVARIANT: `obj` holds an initialised `T` and came from `self.raw`.
        Ok(ArrayBox {
            ptr: obj,
            cache: &self.raw,
            _t: PhantomData,
        })
    }

    /// Allocates an object and initialises it in place with `init`.
    pub fn init<E>(&self, init: impl Init<T, E>, flags: Gfp) -> Result<ArrayBox<'_, T>, E>
    where
        E: From<AllocError>,
    {
        let obj = self.raw.alloc(flags.as_raw()).ok_or(AllocError)?;
        let slot = obj.cast::<T>();
        // SAFETY: `slot` is a fresh object big and aligned enough for a `T`.
        if let Err(e) = unsafe { init.__init(slot.as_ptr()) } {
            // SAFETY: `obj` came from `self.raw`, is ours and holds no value.
            unsafe { self.raw.free(obj) };
            return Err(e);
        }
        // INVARIANT: Initialised just above.
        Ok(ArrayBox {
            ptr: slot,
            cache: &self.raw,
            _t: PhantomData,
        })
    }

    /// Allocates an object and initialises it in place, pinned, with `init`.
    pub fn pin_init<E>(
        &self,
        init: impl PinInit<T, E>,
        flags: Gfp,
    ) -> Result<Pin<ArrayBox<'_, T>>, E>
    where
        E: From<AllocError>,
    {
        let obj = self.raw.alloc(flags.as_raw()).ok_or(AllocError)?;
        let slot = obj.cast::<T>();
        // SAFETY: `slot` is a fresh object that will not move until it is dropped: the handle
        // is pinned below and never gives out the pointer.
        if let Err(e) = unsafe { init.__pinned_init(slot.as_ptr()) } {
            // SAFETY: `obj` came from `self.raw`, is ours and holds no value.
            unsafe { self.raw.free(obj) };
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

    /// See [`PcpuArray::prefill`].
    pub fn prefill(&self, count: usize, flags: Gfp) -> Result {
        self.raw.prefill(count, flags.as_raw())
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> Stats {
        self.raw.stats()
    }

    /// The untyped cache underneath.
    pub fn raw(&self) -> &PcpuArray {
        &self.raw
    }
}

/// An owned `T` in an object of an [`ArrayCache`], returned to the cache on drop.
///
/// # Invariants
///
/// `ptr` is an object allocated from `cache` that holds an initialised `T` owned by this handle.
pub struct ArrayBox<'a, T> {
    ptr: NonNull<T>,
    cache: &'a PcpuArray,
    _t: PhantomData<T>,
}

// SAFETY: The handle owns its `T`; the cache may be used from any CPU.
unsafe impl<T: Send> Send for ArrayBox<'_, T> {}
// SAFETY: `&ArrayBox` gives out only `&T`.
unsafe impl<T: Sync> Sync for ArrayBox<'_, T> {}

impl<'a, T> ArrayBox<'a, T> {
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
    pub unsafe fn from_raw(cache: &'a ArrayCache<T>, ptr: NonNull<T>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            ptr,
            cache: &cache.raw,
            _t: PhantomData,
        }
    }
}

impl<T> Deref for ArrayBox<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant `ptr` holds a `T` that we own.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for ArrayBox<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: By the type invariant `ptr` holds a `T` that we own exclusively.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for ArrayBox<'_, T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `ptr` holds a `T` that we own; it is dropped once.
        unsafe { core::ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: The object came from `self.cache` and is no longer used.
        unsafe { self.cache.free(self.ptr.cast()) };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The boxes of the typed caches, [`ArrayBox`] and [`OwnedArrayBox`], and the two [`Kind`]s of
//! typed cache they belong to: [`Borrowing`] and [`Sharing`].
//!
//! Shared with the binding as `typed.rs` is (see there); its siblings are `super::NAME`.

use super::{
    pin_init_compat::raw_try_init,
    typed::{
        layout_of,
        new_object,
        ArrayCache,
        RawCache, //
    },
};
use core::{
    marker::PhantomData,
    mem::align_of,
    ops::{
        Deref,
        DerefMut, //
    },
    pin::Pin,
    ptr::NonNull,
};
use kernel::{
    ffi::c_void,
    prelude::*,
    sync::Arc,
    types::ForeignOwnable, //
};

mod sealed {
    /// Only the kinds of this file are kinds: the typed caches rely on what their boxes do.
    pub trait Sealed {}
}

/// What a typed cache is: how it holds its untyped cache `C`, what each of its objects holds
/// and which box owns an object. [`ArrayCache<T, C, K>`](ArrayCache) is one type for both
/// kinds, [`Borrowing`] (the default) and [`Sharing`]; no other kind can be made.
///
/// The methods are the typed caches' own building blocks, not meant to be called elsewhere.
pub trait Kind: sealed::Sealed + Sized {
    /// How a typed cache holds its untyped cache `C`.
    type Holder<C: RawCache>;

    /// An owned `T` in an object of a typed cache of this kind. It only ever gives out
    /// references to the `T`, which therefore never moves.
    type Box<'a, T, C: RawCache + 'a>: Deref<Target = T> + DerefMut;

    /// Holds `raw`. May sleep.
    #[doc(hidden)]
    fn hold<C: RawCache>(raw: C) -> Result<Self::Holder<C>>;

    /// The untyped cache held by `holder`.
    #[doc(hidden)]
    fn raw<C: RawCache>(holder: &Self::Holder<C>) -> &C;

    /// The size and alignment of an object of a cache of `T`s.
    #[doc(hidden)]
    fn object_layout<T, C: RawCache>() -> Result<(u32, u32)>;

    /// Initialises a `T` in `obj` with `init` and returns its box; gives the object back to the
    /// cache when `init` fails.
    ///
    /// # Safety
    ///
    /// `obj` must be a fresh object of `holder`'s cache, created with the layout of
    /// `object_layout::<T, C>()`, owned by the caller, who gives it up.
    #[doc(hidden)]
    unsafe fn new_box<'a, T, C: RawCache + 'a, E>(
        holder: &'a Self::Holder<C>,
        obj: NonNull<c_void>,
        init: impl PinInit<T, E>,
    ) -> Result<Self::Box<'a, T, C>, E>;

    /// Drops the value of `b` and returns its object, now owned by the caller, when `b` belongs
    /// to `holder`'s cache; otherwise gives `b` back.
    #[doc(hidden)]
    fn into_object<'a, T, C: RawCache + 'a>(
        holder: &Self::Holder<C>,
        b: Self::Box<'a, T, C>,
    ) -> Result<NonNull<c_void>, Self::Box<'a, T, C>>;
}

/// The kind of [`ArrayCache`]: the typed cache holds its untyped cache by value and its
/// objects come in [`ArrayBox`]es, which borrow it.
pub enum Borrowing {}

/// The kind of [`SharedArrayCache`]: the typed cache is a handle to a reference-counted
/// untyped cache, and its objects come in [`OwnedArrayBox`]es, which each own a reference
/// (kept in the object, before the value).
///
/// [`SharedArrayCache`]: super::typed::SharedArrayCache
pub enum Sharing {}

impl sealed::Sealed for Borrowing {}
impl sealed::Sealed for Sharing {}

impl Kind for Borrowing {
    type Holder<C: RawCache> = C;
    type Box<'a, T, C: RawCache + 'a> = ArrayBox<'a, T, C>;

    fn hold<C: RawCache>(raw: C) -> Result<C> {
        Ok(raw)
    }

    fn raw<C: RawCache>(holder: &C) -> &C {
        holder
    }

    fn object_layout<T, C: RawCache>() -> Result<(u32, u32)> {
        layout_of::<T>()
    }

    unsafe fn new_box<'a, T, C: RawCache + 'a, E>(
        holder: &'a C,
        obj: NonNull<c_void>,
        init: impl PinInit<T, E>,
    ) -> Result<ArrayBox<'a, T, C>, E> {
        // SAFETY: `obj` is a fresh object of `holder` with the layout of a `T`, ours to give.
        let ptr = unsafe { new_object(holder, obj, init)? };
        // SAFETY: `ptr` is an object of `holder` holding a `T` that the box now owns.
        Ok(unsafe { ArrayBox::from_object(holder, ptr) })
    }

    fn into_object<'a, T, C: RawCache + 'a>(
        holder: &C,
        b: ArrayBox<'a, T, C>,
    ) -> Result<NonNull<c_void>, ArrayBox<'a, T, C>> {
        if !core::ptr::eq(b.cache, holder) {
            return Err(b);
        }
        let ptr = ArrayBox::into_raw(b);
        // SAFETY: `into_raw` gave up the box's `T`, which is ours and dropped once; the object
        // is not used as a `T` afterwards.
        unsafe { core::ptr::drop_in_place(ptr.as_ptr()) };
        Ok(ptr.cast())
    }
}

impl Kind for Sharing {
    type Holder<C: RawCache> = Arc<C>;
    type Box<'a, T, C: RawCache + 'a> = OwnedArrayBox<T, C>;

    fn hold<C: RawCache>(raw: C) -> Result<Arc<C>> {
        Ok(Arc::new(raw, GFP_KERNEL)?)
    }

    fn raw<C: RawCache>(holder: &Arc<C>) -> &C {
        holder
    }

    fn object_layout<T, C: RawCache>() -> Result<(u32, u32)> {
        layout_of::<Slot<T, C>>()
    }

    unsafe fn new_box<'a, T, C: RawCache + 'a, E>(
        holder: &'a Arc<C>,
        obj: NonNull<c_void>,
        init: impl PinInit<T, E>,
    ) -> Result<OwnedArrayBox<T, C>, E> {
        let cache = holder.clone();
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
        // SAFETY: `obj` is a fresh object of the cache, with the layout of a `Slot<T, C>`, ours
        // to give.
        let slot = unsafe { new_object(&**holder, obj, slot_init)? };
        // SAFETY: `slot` is an object of the cache that its `cache` field refers to, holding an
        // initialised slot that the box now owns.
        Ok(unsafe { OwnedArrayBox::from_slot(slot) })
    }

    fn into_object<'a, T, C: RawCache + 'a>(
        holder: &Arc<C>,
        b: OwnedArrayBox<T, C>,
    ) -> Result<NonNull<c_void>, OwnedArrayBox<T, C>> {
        if !core::ptr::eq(OwnedArrayBox::cache(&b), &**holder) {
            return Err(b);
        }
        let slot = b.slot;
        core::mem::forget(b);
        let slot_ptr = slot.as_ptr();
        // SAFETY: The box gave up its slot, whose `T` is ours and dropped once.
        unsafe { core::ptr::drop_in_place(&raw mut (*slot_ptr).value) };
        // SAFETY: The slot's reference to the cache is ours and read out once; it is not the
        // last, since `holder` refers to the same cache for the whole call.
        drop(unsafe { (&raw const (*slot_ptr).cache).read() });
        Ok(slot.cast())
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
        // SAFETY: Guaranteed by the caller.
        unsafe { Self::from_object(cache.raw(), ptr) }
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

/// What an object of a [`Sharing`] cache holds: the reference to the cache that its
/// [`OwnedArrayBox`] owns, then the value.
struct Slot<T, C> {
    cache: Arc<C>,
    value: T,
}

/// An owned `T` in an object of a [`SharedArrayCache`](super::typed::SharedArrayCache),
/// holding a reference to the cache: the object goes back to the cache on drop, and the cache
/// lives as long as one box or handle does.
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

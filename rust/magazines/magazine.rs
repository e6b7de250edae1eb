// SPDX-License-Identifier: GPL-2.0

//! The magazines of cached objects one CPU holds, and the on-stack batch that carries objects
//! between them and the backing cache.
//!
//! A [`Magazine`] is one magazine: a stack of free objects. It lives on the heap ([`MagazineBox`])
//! so that it moves between a CPU and its node's depot (`crate::magazines::state`) as one pointer. Each CPU
//! holds two ([`CpuMagazines`]): the loaded one, which allocations pop and frees push, and the
//! previous one, swapped in when the loaded one is empty (allocation) or full (free).
//!
//! Plain data: the locking around a CPU's magazines is the job of [`crate::percpu::local_trylock`], and
//! the pointers they store are never dereferenced here. The only memory an array touches through
//! them is KASAN's shadow, when it was made by [`Magazine::poisoning`]; that is why putting an
//! object in is `unsafe`.

use crate::{
    magazines::hit,
    policy::pair::{
        MagazinePair,
        Stack, //
    },
    sys::abi_types::PcpuArrayMagazine,
};
use core::{
    mem::MaybeUninit,
    ptr::{
        null_mut,
        NonNull, //
    },
};
use kernel::{
    ffi::c_void,
    prelude::*, //
};

/// The largest capacity a cache may have (`PCPU_ARRAY_MAX_CAPACITY` of the C ABI).
pub(crate) use crate::sys::abi_types::MAX_CAPACITY;

// Half the largest capacity, the refill and flush size, fits the on-stack [`Batch`], so that a
// refill or a flush is one bulk call and its pointers never need a heap buffer.
const _: () = assert!(MAX_CAPACITY == 2 * BATCH_MAX);

// A magazine of the policy (`crate::policy::pair`) and an array hold as many objects at most.
const _: () = assert!(MAX_CAPACITY == crate::policy::pair::MAGAZINE_MAX);

// What the inline hit path of consumers reads: an array is a `struct pcpu_array_magazine`, and
// a CPU's magazines are the `loaded`, `previous` and `node` of a `struct pcpu_array_cpu`.
const _: () = {
    use crate::sys::abi_types::PcpuArrayCpu;
    use core::mem::{
        offset_of,
        size_of, //
    };
    assert!(size_of::<Magazine>() == size_of::<PcpuArrayMagazine>());
    assert!(offset_of!(Magazine, len) == offset_of!(PcpuArrayMagazine, len));
    assert!(offset_of!(Magazine, capacity) == offset_of!(PcpuArrayMagazine, capacity));
    assert!(offset_of!(Magazine, kasan_size) == offset_of!(PcpuArrayMagazine, kasan_size));
    assert!(offset_of!(Magazine, objs) == offset_of!(PcpuArrayMagazine, objs));
    // Where a CPU's magazines start in its slot, after the lock (`crate::magazines::state` checks that the
    // slot puts them there).
    let mags = offset_of!(PcpuArrayCpu, loaded);
    assert!(offset_of!(CpuMagazines, pair) == 0);
    assert!(mags + MagazinePair::<MagazineBox>::LOADED_OFFSET == offset_of!(PcpuArrayCpu, loaded));
    assert!(
        mags + MagazinePair::<MagazineBox>::PREVIOUS_OFFSET == offset_of!(PcpuArrayCpu, previous)
    );
    assert!(mags + offset_of!(CpuMagazines, node) == offset_of!(PcpuArrayCpu, node));
    assert!(size_of::<MagazineBox>() == size_of::<*mut PcpuArrayMagazine>());
};

/// How many pointers a [`Batch`] holds: 32, as the 2023 design moved at most 32 pointers
/// through the stack (256 bytes on 64-bit).
pub(crate) const BATCH_MAX: usize = 32;

/// The refill and flush size for a capacity: half of it, at least one.
pub(crate) const fn batch_for(capacity: usize) -> usize {
    if capacity / 2 == 0 {
        1
    } else {
        capacity / 2
    }
}

/// The free objects one CPU keeps, as a stack: the most recently freed object, whose cache
/// lines are the most likely to be hot, is handed out first.
///
/// An array made by [`Magazine::poisoning`] also shows its objects to KASAN as freed while it
/// holds them ([`crate::semantics::kasan`]): every way in poisons an object, every way out unpoisons it.
///
/// # Invariants
///
/// `len <= capacity <= MAX_CAPACITY`, and `objs[..len]` are non-null. When `kasan_size` is
/// non-zero, `objs[..len]` are slab objects of `kasan_size` bytes, owned by the array and
/// poisoned.
///
/// `repr(C)`: the layout is `struct pcpu_array_magazine` of the C ABI, which the inline hit path
/// of consumers reads and writes ([`PcpuArrayMagazine`]).
#[repr(C)]
pub(crate) struct Magazine {
    len: usize,
    capacity: usize,
    kasan_size: usize,
    objs: [*mut c_void; MAX_CAPACITY],
}

// SAFETY: The pointers are addresses of free objects owned by whoever owns the array; nothing
// ties them to a thread.
unsafe impl Send for Magazine {}

// SAFETY: Through `&Magazine` only the lengths and the capacity can be read: the pointers are
// neither handed out nor dereferenced without `&mut`.
unsafe impl Sync for Magazine {}

impl Magazine {
    /// An empty array holding at most `capacity` objects (clamped to [`MAX_CAPACITY`]), that
    /// never touches its objects.
    pub(crate) fn new(capacity: usize) -> Self {
        // INVARIANT: Empty, the capacity is clamped, no poisoning.
        Self {
            len: 0,
            capacity: capacity.min(MAX_CAPACITY),
            kasan_size: 0,
            objs: [null_mut(); MAX_CAPACITY],
        }
    }

    /// As [`Magazine::new`], for slab objects of `obj_size` bytes that KASAN sees as freed while
    /// the array holds them (when KASAN is on; otherwise this is [`Magazine::new`]).
    pub(crate) fn poisoning(capacity: usize, obj_size: usize) -> Self {
        // INVARIANT: Empty, so no object needs to be poisoned yet.
        Self {
            kasan_size: if crate::semantics::kasan::ENABLED {
                obj_size
            } else {
                0
            },
            ..Self::new(capacity)
        }
    }

    /// An empty array of the same capacity and poisoning as `self`.
    pub(crate) fn empty_like(&self) -> Self {
        // INVARIANT: Empty; the capacity and the poisoning are those of a valid array.
        Self {
            len: 0,
            capacity: self.capacity,
            kasan_size: self.kasan_size,
            objs: [null_mut(); MAX_CAPACITY],
        }
    }

    /// Whether the array holds no object.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the capacity to `capacity`, clamped to `1..=MAX_CAPACITY`. Fails, changing nothing,
    /// when the array holds more objects than that: `Err(n)` says how many to take out first.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Result<(), usize> {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        if self.len > capacity {
            return Err(self.len - capacity);
        }
        // INVARIANT: `len <= capacity <= MAX_CAPACITY`.
        self.capacity = capacity;
        Ok(())
    }

    /// Whether the array holds `capacity` objects.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// Takes the most recently pushed object.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<NonNull<c_void>> {
        debug_assert!(self.len == 0 || !self.objs[self.len - 1].is_null());
        // SAFETY: The type invariant is the layout's contract.
        // INVARIANT: `len` shrinks by one; the object leaves the array unpoisoned below.
        let obj = unsafe { hit::pop(self.as_layout()) }?;
        let len = self.len;
        self.forget(len..len + 1);
        self.unpoison(obj);
        Some(obj)
    }

    /// The magazine as `struct pcpu_array_magazine`, the layout the hit path
    /// ([`crate::magazines::hit`]) works on.
    #[inline(always)]
    fn as_layout(&mut self) -> &mut PcpuArrayMagazine {
        // SAFETY: `Magazine` is `repr(C)` with the fields of `PcpuArrayMagazine`, of the same
        // types, in the same order, at the same offsets (asserted above); the exclusive borrow
        // carries over.
        unsafe { &mut *core::ptr::from_mut(self).cast::<PcpuArrayMagazine>() }
    }

    /// Clears slots that no longer hold an object, where kmemleak scans the array: a stale
    /// pointer to an object handed out would hide its leak.
    #[inline(always)]
    fn forget(&mut self, slots: core::ops::Range<usize>) {
        #[cfg(CONFIG_DEBUG_KMEMLEAK)]
        self.objs[slots].fill(null_mut());
        #[cfg(not(CONFIG_DEBUG_KMEMLEAK))]
        let _ = slots;
    }

    /// Pushes `obj`, or gives it back when the array is full.
    ///
    /// # Safety
    ///
    /// `obj` must be a free object the caller hands over to the array: for an array made by
    /// [`Magazine::poisoning`], a live slab object of that size that nothing accesses until it
    /// leaves the array.
    #[inline]
    pub(crate) unsafe fn push(&mut self, obj: NonNull<c_void>) -> Result<(), NonNull<c_void>> {
        debug_assert!(self.len <= self.capacity && self.capacity <= MAX_CAPACITY);
        // SAFETY: The type invariant is the layout's contract; `obj` is handed over (guaranteed
        // by the caller).
        unsafe { hit::push(self.as_layout(), obj) }?;
        if self.kasan_size != 0 {
            // SAFETY: Guaranteed by the caller.
            unsafe { crate::semantics::kasan::poison(obj, self.kasan_size) };
        }
        // INVARIANT: `objs[len - 1]` was just set to a non-null pointer, poisoned when needed,
        // and `len <= capacity`.
        Ok(())
    }

    /// Unpoisons an object leaving the array.
    #[inline]
    fn unpoison(&self, obj: NonNull<c_void>) {
        if self.kasan_size != 0 {
            // SAFETY: By the type invariant, an object leaving a poisoning array is a slab
            // object of `kasan_size` bytes that the array owned.
            unsafe { crate::semantics::kasan::unpoison(obj, self.kasan_size) };
        }
    }

    /// Moves up to `n` objects from the top of the array to the end of `batch`. Returns how many
    /// moved.
    pub(crate) fn take_into(&mut self, n: usize, batch: &mut Batch) -> usize {
        let n = n.min(self.len).min(BATCH_MAX - batch.len);
        let from = self.len - n;
        if self.kasan_size != 0 {
            for &obj in &self.objs[from..self.len] {
                if let Some(o) = NonNull::new(obj) {
                    self.unpoison(o);
                }
            }
        }
        // SAFETY: `objs[from..len]` and `batch.objs[batch.len..batch.len + n]` are in bounds
        // (`n` fits both) and do not overlap; `MaybeUninit<P>` has the layout of `P`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.objs.as_ptr().add(from),
                batch.objs.as_mut_ptr().add(batch.len).cast::<*mut c_void>(),
                n,
            )
        };
        self.forget(from..self.len);
        // INVARIANT: The batch's new entries are initialised and non-null (array invariant);
        // the array shrinks, and the objects that left it were unpoisoned.
        batch.len += n;
        self.len = from;
        n
    }

    /// Moves up to `n` objects from the bottom of the array (the least recently pushed, whose
    /// cache lines are the coldest) to the end of `batch`; the others move down. Returns how
    /// many moved.
    pub(crate) fn take_oldest_into(&mut self, n: usize, batch: &mut Batch) -> usize {
        let n = n.min(self.len).min(BATCH_MAX - batch.len);
        if self.kasan_size != 0 {
            for &obj in &self.objs[..n] {
                if let Some(o) = NonNull::new(obj) {
                    self.unpoison(o);
                }
            }
        }
        // SAFETY: `objs[..n]` and `batch.objs[batch.len..batch.len + n]` are in bounds (`n`
        // fits both) and do not overlap; `MaybeUninit<P>` has the layout of `P`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.objs.as_ptr(),
                batch.objs.as_mut_ptr().add(batch.len).cast::<*mut c_void>(),
                n,
            )
        };
        self.objs.copy_within(n..self.len, 0);
        self.forget(self.len - n..self.len);
        // INVARIANT: The batch's new entries are initialised and non-null (array invariant);
        // the array keeps its other objects, moved down, and those that left were unpoisoned.
        batch.len += n;
        self.len -= n;
        n
    }

    /// Moves as many objects from `batch` as fit. Returns how many moved; the rest stay in
    /// `batch`.
    ///
    /// # Safety
    ///
    /// As [`Magazine::push`], for every object of `batch`.
    pub(crate) unsafe fn fill_from(&mut self, batch: &mut Batch) -> usize {
        let n = batch.len.min(self.capacity - self.len);
        let from = batch.len - n;
        // SAFETY: `batch.objs[from..batch.len]` are initialised (batch invariant) and
        // `objs[len..len + n]` has room (`n` fits); the two do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                batch.objs.as_ptr().add(from).cast::<*mut c_void>(),
                self.objs.as_mut_ptr().add(self.len),
                n,
            )
        };
        if self.kasan_size != 0 {
            for &obj in &self.objs[self.len..self.len + n] {
                if let Some(o) = NonNull::new(obj) {
                    // SAFETY: Guaranteed by the caller: a live object of `kasan_size` bytes
                    // handed over to the array.
                    unsafe { crate::semantics::kasan::poison(o, self.kasan_size) };
                }
            }
        }
        // INVARIANT: The batch gave up its last `n` entries, which are non-null, now in the
        // array and poisoned when needed.
        batch.len = from;
        self.len += n;
        n
    }
}

/// What a magazine waiting for an RCU grace period needs (`crate::magazines::rcu`): RCU readers
/// may still read its objects, so KASAN must not see them as freed until the grace period ends.
impl Magazine {
    /// Stops poisoning the objects pushed from now on, for an empty magazine about to take
    /// objects that RCU readers may still read. Returns the object size it poisoned with (0
    /// when it did not), for [`Magazine::start_poisoning`]; `None`, changing nothing, when it
    /// holds objects.
    pub(crate) fn stop_poisoning(&mut self) -> Option<usize> {
        if !self.is_empty() {
            return None;
        }
        // INVARIANT: Empty: no object needs to be poisoned.
        Some(core::mem::replace(&mut self.kasan_size, 0))
    }

    /// Poisons the objects the magazine holds as `kasan_size`-byte freed slab objects and makes
    /// it poison those pushed from now on, as a magazine made by [`Magazine::poisoning`] does
    /// (nothing when `kasan_size` is 0 or the magazine poisons already).
    ///
    /// # Safety
    ///
    /// Every object the magazine holds must be a live slab object of `kasan_size` bytes that the
    /// magazine owns and that nothing accesses until it leaves the magazine.
    pub(crate) unsafe fn start_poisoning(&mut self, kasan_size: usize) {
        if self.kasan_size != 0 || kasan_size == 0 {
            return;
        }
        for &obj in &self.objs[..self.len] {
            if let Some(o) = NonNull::new(obj) {
                // SAFETY: Guaranteed by the caller.
                unsafe { crate::semantics::kasan::poison(o, kasan_size) };
            }
        }
        // INVARIANT: Every object held was just poisoned with `kasan_size`.
        self.kasan_size = kasan_size;
    }

    /// The objects the magazine holds, oldest first.
    pub(crate) fn objects(&self) -> impl Iterator<Item = NonNull<c_void>> + '_ {
        self.objs[..self.len]
            .iter()
            .filter_map(|&obj| NonNull::new(obj))
    }
}

impl Stack for Magazine {
    type Handle = NonNull<c_void>;

    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn set_capacity(&mut self, capacity: usize) -> Result<(), usize> {
        Magazine::set_capacity(self, capacity)
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<NonNull<c_void>> {
        Magazine::pop(self)
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        Magazine::is_empty(self)
    }

    // `len == capacity`, as the push tests it (`Magazine::is_full`), so that a push after the
    // pair's decision does not test again.
    #[inline(always)]
    fn is_full(&self) -> bool {
        Magazine::is_full(self)
    }
}

/// One magazine on the heap: what moves between a CPU and its node's depot, as one pointer.
///
/// A magazine that holds objects must be emptied (into a [`Batch`] and a bulk free) before it is
/// dropped; dropping it would leak them. `crate::magazines::state` drops magazines only through
/// `CacheState::discard`, which does that.
pub(crate) type MagazineBox = KBox<Magazine>;

/// The two magazines of one CPU, and the memory node of its objects.
///
/// Allocations pop from the loaded magazine; when it is empty and the previous one is not, the
/// two swap. Frees push onto the loaded magazine; when it is full and the previous one is not,
/// the two swap. Only when both are exhausted does the CPU need its depot or the backing cache.
/// Every such decision is the policy's ([`MagazinePair`]: [`crate::policy::pair::alloc_step`],
/// [`crate::policy::pair::free_step`], [`MagazinePair::commit_full`],
/// [`MagazinePair::commit_empty`], [`MagazinePair::set_capacity`]), checked in user space by
/// `make policy-test`; the hit paths ([`CpuMagazines::pop_loaded`],
/// [`CpuMagazines::push_loaded`]) take none.
///
/// # Invariants
///
/// Both magazines hold only objects of memory node `node` (when `crate::semantics::placement` keeps
/// objects apart by node), and both come from the same cache's [`CacheState::new_magazine`], so they
/// have its capacity and poisoning.
///
/// [`CacheState::new_magazine`]: crate::magazines::state::CacheState::new_magazine
///
/// `repr(C)`, as [`MagazinePair`]: after a CPU's lock, the layout is that of `struct
/// pcpu_array_cpu` of the C ABI ([`crate::sys::abi_types::PcpuArrayCpu`]).
#[repr(C)]
pub(crate) struct CpuMagazines {
    pair: MagazinePair<MagazineBox>,
    node: i32,
}

impl CpuMagazines {
    /// The magazines of a CPU of memory node `node`: `loaded` and `previous`, both empty.
    pub(crate) fn new(loaded: MagazineBox, previous: MagazineBox, node: i32) -> Self {
        // INVARIANT: Empty magazines hold no object of any node.
        Self {
            pair: MagazinePair::new(loaded, previous),
            node,
        }
    }

    /// The memory node whose objects the magazines hold.
    #[inline(always)]
    pub(crate) fn node(&self) -> i32 {
        self.node
    }

    /// Makes the magazines hold objects of memory node `node` from now on: the CPU's memory node
    /// changed (a CPU hot-added to a node, a memoryless node that got memory). Fails, changing
    /// nothing, while they hold objects, which are of the old node.
    pub(crate) fn set_node(&mut self, node: i32) -> bool {
        if !self.is_empty() {
            return false;
        }
        // INVARIANT: Empty magazines hold no object of any node.
        self.node = node;
        true
    }

    /// How many objects the two magazines hold.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.pair.len()
    }

    /// Whether neither magazine holds an object ([`MagazinePair::is_empty`]).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pair.is_empty()
    }

    /// Whether both magazines are full: a free needs the depot or the backing cache
    /// ([`MagazinePair::is_full`]).
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.pair.is_full()
    }

    /// Takes the most recently pushed object of the loaded magazine, swapping in the previous
    /// one first when the loaded one is empty ([`MagazinePair::pop`]). `None` when both are
    /// empty.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<NonNull<c_void>> {
        // Inline, swap included: a call here would cost the miss path the registers it saves.
        self.pair.pop()
    }

    /// Takes the most recently pushed object of the loaded magazine, without a swap: the hit
    /// path's pop, which leaves the swap to [`CpuMagazines::pop`] on the miss path, so that it
    /// carries one magazine pointer, not two.
    #[inline(always)]
    pub(crate) fn pop_loaded(&mut self) -> Option<NonNull<c_void>> {
        self.pair.loaded_mut().pop()
    }

    /// Pushes `obj` onto the loaded magazine, without a swap, or gives it back when that one is
    /// full: the hit path's push, as [`CpuMagazines::pop_loaded`] is its pop.
    ///
    /// # Safety
    ///
    /// As [`CpuMagazines::push`].
    #[inline(always)]
    pub(crate) unsafe fn push_loaded(
        &mut self,
        obj: NonNull<c_void>,
    ) -> Result<(), NonNull<c_void>> {
        // SAFETY: Guaranteed by the caller.
        unsafe { self.pair.loaded_mut().push(obj) }
    }

    /// Pushes `obj` onto the loaded magazine, swapping in the previous one first when the loaded
    /// one is full. Gives `obj` back when both are full.
    ///
    /// # Safety
    ///
    /// As [`Magazine::push`]; `obj` must also be of memory node [`CpuMagazines::node`] when the
    /// cache keeps objects apart by node.
    #[inline(always)]
    pub(crate) unsafe fn push(&mut self, obj: NonNull<c_void>) -> Result<(), NonNull<c_void>> {
        // Inline, swap included, as in `pop`.
        match self.pair.push_magazine() {
            // SAFETY: Guaranteed by the caller.
            Some(magazine) => unsafe { magazine.push(obj) },
            None => Err(obj),
        }
    }

    /// The loaded magazine, for a refill.
    pub(crate) fn loaded_mut(&mut self) -> &mut Magazine {
        self.pair.loaded_mut()
    }

    /// The commit of an allocation's trade with the depot ([`MagazinePair::commit_full`]):
    /// installs `full` as the loaded magazine when both are still empty and it takes
    /// `capacity`, the capacity now, and returns the one it replaces; otherwise gives `full`
    /// back.
    ///
    /// # Safety
    ///
    /// `full` must come from the same cache's `CacheState::new_magazine`, and hold only objects
    /// of memory node [`CpuMagazines::node`] when the cache keeps objects apart by node.
    pub(crate) unsafe fn commit_full(
        &mut self,
        full: MagazineBox,
        capacity: usize,
    ) -> Result<MagazineBox, MagazineBox> {
        // INVARIANT: Guaranteed by the caller.
        self.pair.commit_full(full, capacity)
    }

    /// The commit of a free's trade with the depot ([`MagazinePair::commit_empty`]): installs
    /// `empty` as the loaded magazine, with `capacity`, when both are still full, and returns
    /// the full one it replaces; otherwise gives `empty` back.
    ///
    /// # Safety
    ///
    /// `empty` must come from the same cache's `CacheState::new_magazine` (it holds no object,
    /// so of no node).
    pub(crate) unsafe fn commit_empty(
        &mut self,
        empty: MagazineBox,
        capacity: usize,
    ) -> Result<MagazineBox, MagazineBox> {
        // INVARIANT: Guaranteed by the caller; `commit_empty` installs only an empty magazine.
        self.pair.commit_empty(empty, capacity)
    }

    /// Each magazine in turn, previous first, for a dead CPU whose magazines go to the depot.
    ///
    /// # Safety
    ///
    /// Whatever `f` leaves in place of a magazine must come from the same cache's
    /// `CacheState::new_magazine`, and hold only objects of memory node [`CpuMagazines::node`]
    /// when the cache keeps objects apart by node.
    pub(crate) unsafe fn for_each_magazine(&mut self, mut f: impl FnMut(&mut MagazineBox)) {
        f(self.pair.previous_owner());
        f(self.pair.loaded_owner());
    }

    /// Sets the capacity of both magazines to `capacity` ([`MagazinePair::set_capacity`]).
    /// Fails, changing nothing, when either holds more objects than that.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Result<(), usize> {
        self.pair.set_capacity(capacity)
    }

    /// Moves up to `n` of the oldest objects to the end of `batch`: those of the previous
    /// magazine first, then the bottom of the loaded one. Returns how many moved.
    pub(crate) fn take_oldest_into(&mut self, n: usize, batch: &mut Batch) -> usize {
        let from_previous = self.pair.previous_mut().take_oldest_into(n, batch);
        from_previous
            + self
                .pair
                .loaded_mut()
                .take_oldest_into(n - from_previous, batch)
    }
}

/// Up to [`BATCH_MAX`] object pointers on the stack, the buffer of one bulk call.
///
/// A batch only carries pointers: whoever fills it owns the objects and must empty it (into an
/// array or a bulk free) before it goes out of scope.
///
/// # Invariants
///
/// `len <= BATCH_MAX`, and `objs[..len]` are initialised and non-null.
pub(crate) struct Batch {
    len: usize,
    objs: [MaybeUninit<*mut c_void>; BATCH_MAX],
}

impl Batch {
    /// An empty batch.
    #[inline]
    pub(crate) fn new() -> Self {
        // INVARIANT: Empty.
        Self {
            len: 0,
            objs: [MaybeUninit::uninit(); BATCH_MAX],
        }
    }

    /// How many objects the batch holds.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch is empty.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes the last object.
    pub(crate) fn pop(&mut self) -> Option<NonNull<c_void>> {
        let len = self.len.checked_sub(1)?;
        // INVARIANT: `len` shrinks.
        self.len = len;
        // SAFETY: `objs[..len]` are initialised (type invariant).
        NonNull::new(unsafe { self.objs[len].assume_init() })
    }

    /// The objects the batch holds.
    fn objs_mut(&mut self) -> &mut [*mut c_void] {
        let init = &mut self.objs[..self.len];
        // SAFETY: `objs[..len]` are initialised (type invariant), and `MaybeUninit<P>` has the
        // layout of `P`.
        unsafe { &mut *(core::ptr::from_mut(init) as *mut [*mut c_void]) }
    }

    /// Adds `obj` at the end; gives it back when the batch is full.
    pub(crate) fn push(&mut self, obj: NonNull<c_void>) -> Result<(), NonNull<c_void>> {
        if self.len == BATCH_MAX {
            return Err(obj);
        }
        self.objs[self.len].write(obj.as_ptr());
        // INVARIANT: The new entry is initialised and non-null, and `len <= BATCH_MAX`.
        self.len += 1;
        Ok(())
    }

    /// Moves the objects for which `reject` is true into `out`, which is empty, keeping the
    /// others in order. Returns how many moved.
    pub(crate) fn move_where(
        &mut self,
        out: &mut Batch,
        mut reject: impl FnMut(NonNull<c_void>) -> bool,
    ) -> usize {
        let mut kept = 0;
        for i in 0..self.len {
            // SAFETY: `objs[..len]` are initialised (type invariant).
            let obj = unsafe { self.objs[i].assume_init() };
            match NonNull::new(obj) {
                Some(o) if reject(o) && out.len < BATCH_MAX => {
                    out.objs[out.len].write(obj);
                    // INVARIANT: `out` gained an initialised, non-null entry; `out.len` stays
                    // below `BATCH_MAX` by the test above.
                    out.len += 1;
                }
                _ => {
                    self.objs[kept].write(obj);
                    kept += 1;
                }
            }
        }
        let moved = self.len - kept;
        // INVARIANT: `objs[..kept]` are the kept entries, initialised and non-null.
        self.len = kept;
        moved
    }

    /// Empties the batch, handing its objects to `f` (a bulk free) first.
    pub(crate) fn drain_with(&mut self, f: impl FnOnce(&mut [*mut c_void])) {
        if self.len != 0 {
            f(self.objs_mut());
        }
        // INVARIANT: Empty.
        self.len = 0;
    }

    /// Lets `fill` write `n` pointers (at most [`BATCH_MAX`]) into an empty batch; they are kept
    /// when `fill` returns true and every one of them is non-null.
    pub(crate) fn fill_with(
        &mut self,
        n: usize,
        fill: impl FnOnce(&mut [*mut c_void]) -> bool,
    ) -> bool {
        let n = n.min(BATCH_MAX);
        for slot in &mut self.objs[..n] {
            slot.write(null_mut());
        }
        // The entries are initialised (to NULL) for `objs_mut`; the invariant is restored below.
        self.len = n;
        let slots = self.objs_mut();
        if !fill(slots) || slots.iter().any(|p| p.is_null()) {
            // INVARIANT: Empty.
            self.len = 0;
            return false;
        }
        // INVARIANT: `n <= BATCH_MAX` entries, checked non-null just above.
        true
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "magazine_tests.rs"]
mod tests;

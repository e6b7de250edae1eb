// SPDX-License-Identifier: GPL-2.0

//! The depot's policy: magazines, what a CPU does with its two magazines, what one memory node's
//! depot holds, and how the magazine capacity adapts to the load.
//!
//! # Layers
//!
//! 1. Each CPU holds a *loaded* and a *previous* [`PlainMagazine`] ([`MagazinePair`]), under its
//!    `local_trylock_t`. An allocation pops from the loaded one; when that is empty and the
//!    previous one is not, the two swap. A free pushes; when the loaded one is full and the
//!    previous one is not, the two swap.
//! 2. Only when both are exhausted does the CPU go to its node's [`Depot`], under the depot's
//!    spinlock: an allocation trades its empty magazine for a full one
//!    ([`Depot::trade_empty`]), a free trades its full magazine for an empty one
//!    ([`Depot::trade_full`]). Both are O(1) and move no object.
//! 3. Only when the depot has nothing to give, or no room to take, does the caller use the
//!    backing cache's bulk API.
//!
//! # Memory bound
//!
//! With `C` possible CPUs, magazines of at most `max` objects ([`CapacityController::max`], at
//! most [`MAGAZINE_MAX`]) and depots of at most `limit` full magazines each ([`Depot::limit`], at
//! most [`DEPOT_MAX`]), a cache parks at most `C * 2 * max + nodes * limit * max` objects.
//!
//! # What this file is not
//!
//! It depends on `core` alone: nothing here locks, allocates, sleeps or calls the slab allocator.
//! Each function decides, or moves handles between magazines and lists the caller owns, and the
//! caller carries the decision out under its locks. That is what lets the same file build into
//! the module and, unchanged, into the user-space crate `tools/depot-policy`, whose `cargo test`
//! (`make policy-test`) checks it against a reference model over random operation sequences, and
//! runs the kernel's two-phase depot protocol (take under the depot lock, re-lock the CPU,
//! re-check, give back) with concurrent actors over it: every interleaving of small cases, random
//! schedules of larger ones (`tools/depot-policy/src/concurrent.rs`). The kernel's own
//! concurrency is also tested by KUnit and the stress suite.

use core::ops::{
    Deref,
    DerefMut, //
};

/// The most objects a magazine holds: `PCPU_ARRAY_MAX_CAPACITY` of the C ABI (the kernel side
/// asserts that the two agree), so that a magazine is never larger than today's per-CPU array.
pub(crate) const MAGAZINE_MAX: usize = 64;

/// The most magazines one list of a [`Depot`] can hold, whatever limit it is given.
pub(crate) const DEPOT_MAX: usize = 32;

/// The default limit of each list of a [`Depot`]: 10, as SLUB's barn (`MAX_FULL_SHEAVES`,
/// `MAX_EMPTY_SHEAVES`).
pub(crate) const DEPOT_DEFAULT_LIMIT: usize = 10;

/// `value` clamped to `min..=max`, usable in a `const fn`.
const fn clamp(value: usize, min: usize, max: usize) -> usize {
    if value < min {
        min
    } else if value > max {
        max
    } else {
        value
    }
}

/// What the policy needs to know of a magazine: how many objects it holds, and how many it can
/// hold. [`PlainMagazine`] is one; the module's magazine (`crate::magazines::magazine::Magazine`, which also
/// shows its objects to KASAN as freed) is another.
pub(crate) trait Stack {
    /// How many objects the magazine holds.
    fn len(&self) -> usize;

    /// How many objects the magazine holds at most.
    fn capacity(&self) -> usize;

    /// Whether the magazine holds no object.
    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the magazine holds as many objects as it can.
    #[inline]
    fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }
}

impl<H: Copy> Stack for PlainMagazine<H> {
    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A stack of up to `capacity` object handles: the unit that moves between a CPU and its depot.
///
/// `H` is the handle of one free object (`NonNull<c_void>` in the kernel). A magazine only
/// carries handles: it never touches the objects, and whoever owns the magazine owns them.
///
/// # Invariants
///
/// `1 <= capacity <= MAGAZINE_MAX`, `len <= capacity`, `slots[..len]` are `Some` and
/// `slots[len..]` are `None`.
pub(crate) struct PlainMagazine<H> {
    len: usize,
    capacity: usize,
    slots: [Option<H>; MAGAZINE_MAX],
}

impl<H: Copy> PlainMagazine<H> {
    /// An empty magazine of `capacity` objects, clamped to `1..=MAGAZINE_MAX`.
    pub(crate) const fn new(capacity: usize) -> Self {
        // INVARIANT: Empty, and the capacity is clamped.
        Self {
            len: 0,
            capacity: clamp(capacity, 1, MAGAZINE_MAX),
            slots: [None; MAGAZINE_MAX],
        }
    }

    /// How many objects the magazine holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many objects the magazine holds at most.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the magazine holds no object.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the magazine holds `capacity` objects.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// Pushes `obj`, or gives it back when the magazine is full.
    #[inline]
    pub(crate) fn push(&mut self, obj: H) -> Result<(), H> {
        if self.len >= self.capacity {
            return Err(obj);
        }
        self.slots[self.len] = Some(obj);
        // INVARIANT: `slots[len]` was just set and `len < capacity`.
        self.len += 1;
        Ok(())
    }

    /// Takes the most recently pushed object, whose cache lines are the most likely to be hot.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<H> {
        let len = self.len.checked_sub(1)?;
        // INVARIANT: `slots[len]` becomes `None` and `len` shrinks by one.
        self.len = len;
        self.slots[len].take()
    }

    /// The objects held, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = H> + '_ {
        self.slots[..self.len].iter().flatten().copied()
    }

    /// Sets the capacity to `capacity`, clamped to `1..=MAGAZINE_MAX`.
    ///
    /// Fails, changing nothing, when the magazine holds more objects than the new capacity:
    /// `Err(n)` says how many to [`Magazine::pop`] first.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Result<(), usize> {
        let capacity = clamp(capacity, 1, MAGAZINE_MAX);
        if self.len > capacity {
            return Err(self.len - capacity);
        }
        // INVARIANT: `1 <= capacity <= MAGAZINE_MAX` and `len <= capacity`.
        self.capacity = capacity;
        Ok(())
    }
}

/// What an allocation does on a CPU's [`MagazinePair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AllocStep {
    /// Pop from the loaded magazine.
    Pop,
    /// The loaded magazine is empty and the previous one is not: swap them, then pop.
    SwapThenPop,
    /// Both are empty: go to the depot and trade the empty loaded magazine for a full one
    /// ([`Depot::trade_empty`]).
    TradeEmptyForFull,
}

/// What a free does on a CPU's [`MagazinePair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeStep {
    /// Push onto the loaded magazine.
    Push,
    /// The loaded magazine is full and the previous one is not: swap them, then push.
    SwapThenPush,
    /// Both are full: go to the depot and trade the full loaded magazine for an empty one
    /// ([`Depot::trade_full`]).
    TradeFullForEmpty,
}

/// What an allocation does, given a CPU's loaded and previous magazines.
pub(crate) fn alloc_step<S: Stack + ?Sized>(loaded: &S, previous: &S) -> AllocStep {
    if !loaded.is_empty() {
        AllocStep::Pop
    } else if !previous.is_empty() {
        AllocStep::SwapThenPop
    } else {
        AllocStep::TradeEmptyForFull
    }
}

/// What a free does, given a CPU's loaded and previous magazines.
pub(crate) fn free_step<S: Stack + ?Sized>(loaded: &S, previous: &S) -> FreeStep {
    if !loaded.is_full() {
        FreeStep::Push
    } else if !previous.is_full() {
        FreeStep::SwapThenPush
    } else {
        FreeStep::TradeFullForEmpty
    }
}

/// One CPU's two magazines: the loaded one, which allocations and frees use, and the previous
/// one, which they swap in before going to the depot.
///
/// `M` owns a magazine (`KBox<PlainMagazine<_>>` in the kernel). Having two magazines is what makes a
/// CPU that alternates allocations and frees around a magazine boundary stay off the depot: it
/// swaps, where a single magazine would trade on every other operation.
///
/// `repr(C)`, loaded first: in the kernel a pair is part of the layout that the inline hit path
/// of consumers reads (`struct pcpu_array_cpu`).
#[repr(C)]
pub(crate) struct MagazinePair<M> {
    loaded: M,
    previous: M,
}

impl<M> MagazinePair<M> {
    /// Where the loaded magazine is in a pair.
    pub(crate) const LOADED_OFFSET: usize = core::mem::offset_of!(Self, loaded);
    /// Where the previous magazine is in a pair.
    pub(crate) const PREVIOUS_OFFSET: usize = core::mem::offset_of!(Self, previous);
}

impl<M, S> MagazinePair<M>
where
    M: DerefMut<Target = S>,
    S: Stack + ?Sized,
{
    /// A pair of `loaded` and `previous`.
    pub(crate) fn new(loaded: M, previous: M) -> Self {
        Self { loaded, previous }
    }

    /// The loaded magazine.
    #[inline(always)]
    pub(crate) fn loaded(&self) -> &S {
        &self.loaded
    }

    /// The previous magazine.
    #[inline(always)]
    pub(crate) fn previous(&self) -> &S {
        &self.previous
    }

    /// Objects held in both magazines.
    pub(crate) fn len(&self) -> usize {
        self.loaded.len() + self.previous.len()
    }

    /// What an allocation does now.
    pub(crate) fn alloc_step(&self) -> AllocStep {
        alloc_step(&*self.loaded, &*self.previous)
    }

    /// What a free does now.
    pub(crate) fn free_step(&self) -> FreeStep {
        free_step(&*self.loaded, &*self.previous)
    }

    /// Swaps the loaded and previous magazines.
    #[inline]
    pub(crate) fn swap(&mut self) {
        core::mem::swap(&mut self.loaded, &mut self.previous);
    }

    /// The loaded magazine, for a depot trade ([`Depot::trade_empty`], [`Depot::trade_full`]).
    #[inline(always)]
    pub(crate) fn loaded_mut(&mut self) -> &mut M {
        &mut self.loaded
    }

    /// The previous magazine.
    #[inline(always)]
    pub(crate) fn previous_mut(&mut self) -> &mut M {
        &mut self.previous
    }

    /// Makes `magazine` the loaded one and returns the one it replaces.
    pub(crate) fn replace_loaded(&mut self, magazine: M) -> M {
        core::mem::replace(&mut self.loaded, magazine)
    }

    /// The two magazines, loaded first: what a dead CPU hands to its depot.
    pub(crate) fn into_parts(self) -> (M, M) {
        (self.loaded, self.previous)
    }
}

impl<M, H> MagazinePair<M>
where
    M: DerefMut<Target = PlainMagazine<H>>,
    H: Copy,
{
    /// Allocates from the pair: pops, swapping first when [`AllocStep::SwapThenPop`] says so.
    ///
    /// Returns `None` when both magazines are empty ([`AllocStep::TradeEmptyForFull`]).
    pub(crate) fn alloc(&mut self) -> Option<H> {
        match self.alloc_step() {
            AllocStep::Pop => self.loaded.pop(),
            AllocStep::SwapThenPop => {
                self.swap();
                self.loaded.pop()
            }
            AllocStep::TradeEmptyForFull => None,
        }
    }

    /// Frees into the pair: pushes, swapping first when [`FreeStep::SwapThenPush`] says so.
    ///
    /// Gives `obj` back when both magazines are full ([`FreeStep::TradeFullForEmpty`]).
    pub(crate) fn free(&mut self, obj: H) -> Result<(), H> {
        match self.free_step() {
            FreeStep::Push => self.loaded.push(obj),
            FreeStep::SwapThenPush => {
                self.swap();
                self.loaded.push(obj)
            }
            FreeStep::TradeFullForEmpty => Err(obj),
        }
    }
}

/// Up to [`DEPOT_MAX`] magazines in a ring: the depot uses the newest end, the trim the oldest.
///
/// # Invariants
///
/// `head < DEPOT_MAX`, `len <= DEPOT_MAX`, and the slots `(head + i) % DEPOT_MAX` for `i` in
/// `0..len` are `Some`, every other slot `None`.
struct MagazineRing<M> {
    head: usize,
    len: usize,
    slots: [Option<M>; DEPOT_MAX],
}

impl<M> MagazineRing<M> {
    /// An empty ring.
    fn new() -> Self {
        // INVARIANT: Empty, every slot `None`.
        Self {
            head: 0,
            len: 0,
            slots: core::array::from_fn(|_| None),
        }
    }

    /// Magazines in the ring.
    fn len(&self) -> usize {
        self.len
    }

    /// Puts `magazine` at the newest end, or gives it back when the ring is full.
    fn push_newest(&mut self, magazine: M) -> Result<(), M> {
        if self.len == DEPOT_MAX {
            return Err(magazine);
        }
        self.slots[(self.head + self.len) % DEPOT_MAX] = Some(magazine);
        // INVARIANT: The slot after the last one is now `Some`.
        self.len += 1;
        Ok(())
    }

    /// Takes the newest magazine.
    fn pop_newest(&mut self) -> Option<M> {
        let len = self.len.checked_sub(1)?;
        // INVARIANT: The last slot becomes `None`.
        self.len = len;
        self.slots[(self.head + len) % DEPOT_MAX].take()
    }

    /// The oldest magazine.
    fn oldest(&self) -> Option<&M> {
        if self.len == 0 {
            return None;
        }
        self.slots[self.head].as_ref()
    }

    /// The magazines, oldest first.
    fn iter(&self) -> impl Iterator<Item = &M> + '_ {
        (0..self.len).filter_map(move |i| self.slots[(self.head + i) % DEPOT_MAX].as_ref())
    }

    /// Takes the oldest magazine.
    fn pop_oldest(&mut self) -> Option<M> {
        if self.len == 0 {
            return None;
        }
        let magazine = self.slots[self.head].take();
        // INVARIANT: The first slot became `None`, and the next one is the first.
        self.head = (self.head + 1) % DEPOT_MAX;
        self.len -= 1;
        magazine
    }
}

/// How [`Depot::trade_empty`] went, for an allocation that found both of its magazines empty.
pub(crate) enum AllocTrade<M> {
    /// The loaded magazine is now a full one. The empty one stayed in the depot, unless the
    /// depot held [`Depot::limit`] empty magazines already: then it comes back as `surplus`,
    /// for the caller to free.
    Full {
        /// The empty magazine the depot had no room for.
        surplus: Option<M>,
    },
    /// The depot has no full magazine (a miss): nothing changed. The caller refills the loaded
    /// magazine with the bulk API, or goes around it for one object.
    Miss,
}

/// How [`Depot::trade_full`] went, for a free that found both of its magazines full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeTrade {
    /// The loaded magazine is now an empty one; the depot kept the full one.
    Empty,
    /// The depot has room for the full magazine but no empty one to give: nothing changed.
    /// The caller allocates an empty magazine, loads it ([`MagazinePair::replace_loaded`]) and
    /// [`Depot::put_full`]s the full one, or flushes the loaded magazine with the bulk API.
    NoEmpty,
    /// The depot holds [`Depot::limit`] full magazines (a miss): nothing changed. The caller
    /// flushes the loaded magazine with the bulk API.
    Miss,
}

/// How far [`Depot::trim`] may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TrimScope {
    /// Only the magazines that the last interval's working set did not use: the shrinker's
    /// normal scan.
    Excess,
    /// Every magazine: `pcpu_array_shrink()`, CPU teardown, cache destruction.
    All,
}

/// One interval's counts of a cache, the input of [`CapacityController::update`].
///
/// [`Depot::end_interval`] gives `trades` and `misses` for one depot; the caller adds the
/// depots of every node together ([`IntervalCounts::add`]) and fills in `ops` and `contended`,
/// which only it sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IntervalCounts {
    /// Allocations and frees through the magazines.
    pub(crate) ops: u64,
    /// Magazines that went into or out of a depot.
    pub(crate) trades: u64,
    /// Depot requests that had to fall back to the bulk API ([`AllocTrade::Miss`],
    /// [`FreeTrade::Miss`]).
    pub(crate) misses: u64,
    /// Times the depot's lock was found held (a failed `spin_trylock()` before `spin_lock()`).
    pub(crate) contended: u64,
}

impl IntervalCounts {
    /// The sum of `self` and `other`, saturating.
    pub(crate) fn add(self, other: Self) -> Self {
        Self {
            ops: self.ops.saturating_add(other.ops),
            trades: self.trades.saturating_add(other.trades),
            misses: self.misses.saturating_add(other.misses),
            contended: self.contended.saturating_add(other.contended),
        }
    }
}

/// What one memory node's depot holds: bounded lists of full and empty magazines, and the
/// working-set estimate that tells the shrinker how many of them went unused.
///
/// `M` owns a magazine (`KBox<PlainMagazine<_>>` in the kernel); the caller keeps the depot behind a
/// spinlock. The full list takes any non-empty magazine (a dead CPU's half-full magazines too),
/// the empty list only empty ones.
///
/// The working set follows Bonwick's depot: during an interval the depot records the lowest
/// length each list reached. Those magazines were never taken during the interval, so at its end
/// ([`Depot::end_interval`]) that minimum becomes how many magazines [`Depot::trim`] may give
/// back with [`TrimScope::Excess`].
///
/// # Invariants
///
/// `limit <= DEPOT_MAX`; each list holds at most `limit` magazines; every magazine in `full` is
/// non-empty and every magazine in `empty` is empty; `objects` is the sum of the lengths of the
/// magazines in `full`; `min_full <= full.len()` and `min_empty <= empty.len()`.
pub(crate) struct Depot<M> {
    full: MagazineRing<M>,
    empty: MagazineRing<M>,
    limit: usize,
    objects: usize,
    min_full: usize,
    min_empty: usize,
    reap_full: usize,
    reap_empty: usize,
    counts: IntervalCounts,
}

impl<M, S> Depot<M>
where
    M: Deref<Target = S>,
    S: Stack + ?Sized,
{
    /// An empty depot whose lists hold at most `limit` magazines each, clamped to
    /// `0..=DEPOT_MAX` (a limit of 0 makes a depot that never holds anything).
    pub(crate) fn new(limit: usize) -> Self {
        // INVARIANT: Empty lists, zero objects and minima, the limit clamped.
        Self {
            full: MagazineRing::new(),
            empty: MagazineRing::new(),
            limit: clamp(limit, 0, DEPOT_MAX),
            objects: 0,
            min_full: 0,
            min_empty: 0,
            reap_full: 0,
            reap_empty: 0,
            counts: IntervalCounts::default(),
        }
    }

    /// How many magazines each list holds at most.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Full (non-empty) magazines held.
    pub(crate) fn full_len(&self) -> usize {
        self.full.len()
    }

    /// Empty magazines held.
    pub(crate) fn empty_len(&self) -> usize {
        self.empty.len()
    }

    /// Objects held, in the full magazines: what the shrinker can count.
    pub(crate) fn objects(&self) -> usize {
        self.objects
    }

    /// Every magazine held, the full ones first, each list oldest first.
    pub(crate) fn magazines(&self) -> impl Iterator<Item = &M> + '_ {
        self.full.iter().chain(self.empty.iter())
    }

    /// The full magazines [`TrimScope::Excess`] may trim now: the lowest number held during the
    /// last interval, no more than are held now.
    pub(crate) fn excess_full(&self) -> usize {
        self.reap_full.min(self.full.len())
    }

    /// The empty magazines [`TrimScope::Excess`] may trim now.
    pub(crate) fn excess_empty(&self) -> usize {
        self.reap_empty.min(self.empty.len())
    }

    /// Takes the newest full magazine, or `None` when there is none (a miss: the caller goes to
    /// the bulk API).
    pub(crate) fn get_full(&mut self) -> Option<M> {
        let Some(magazine) = self.full.pop_newest() else {
            self.counts.misses += 1;
            return None;
        };
        self.counts.trades += 1;
        // INVARIANT: The magazine and its objects left the list; the minimum follows it down.
        self.objects -= magazine.len();
        self.min_full = self.min_full.min(self.full.len());
        Some(magazine)
    }

    /// Keeps a non-empty `magazine`, or gives it back when it is empty or the list holds
    /// [`Depot::limit`] magazines (a miss when full: the caller flushes it with the bulk API).
    pub(crate) fn put_full(&mut self, magazine: M) -> Result<(), M> {
        if magazine.is_empty() {
            return Err(magazine);
        }
        if self.full.len() >= self.limit {
            self.counts.misses += 1;
            return Err(magazine);
        }
        let objects = magazine.len();
        self.full.push_newest(magazine)?;
        // INVARIANT: A non-empty magazine joined the list, which stays within the limit, and its
        // objects are counted.
        self.objects += objects;
        self.counts.trades += 1;
        Ok(())
    }

    /// Takes the newest empty magazine, or `None` when there is none.
    pub(crate) fn get_empty(&mut self) -> Option<M> {
        let magazine = self.empty.pop_newest()?;
        self.counts.trades += 1;
        // INVARIANT: The minimum follows the list down.
        self.min_empty = self.min_empty.min(self.empty.len());
        Some(magazine)
    }

    /// Keeps an empty `magazine`, or gives it back when it is not empty or the list holds
    /// [`Depot::limit`] magazines (the caller then frees the magazine itself).
    pub(crate) fn put_empty(&mut self, magazine: M) -> Result<(), M> {
        if !magazine.is_empty() || self.empty.len() >= self.limit {
            return Err(magazine);
        }
        // INVARIANT: An empty magazine joined the list, which stays within the limit.
        self.empty.push_newest(magazine)?;
        self.counts.trades += 1;
        Ok(())
    }

    /// An allocation's trade, O(1): swaps the (empty) magazine `loaded` for a full one.
    ///
    /// A `loaded` magazine that is not empty is traded all the same, and comes back as
    /// `surplus` when the depot does not take it.
    pub(crate) fn trade_empty(&mut self, loaded: &mut M) -> AllocTrade<M> {
        let Some(mut magazine) = self.get_full() else {
            return AllocTrade::Miss;
        };
        core::mem::swap(loaded, &mut magazine);
        let surplus = if magazine.is_empty() {
            self.put_empty(magazine).err()
        } else {
            self.put_full(magazine).err()
        };
        AllocTrade::Full { surplus }
    }

    /// A free's trade, O(1): swaps the (full) magazine `loaded` for an empty one. All or
    /// nothing: the depot keeps `loaded` only when it gives an empty one back.
    pub(crate) fn trade_full(&mut self, loaded: &mut M) -> FreeTrade {
        if loaded.is_empty() {
            // Nothing to keep: flushing it is a no-op.
            return FreeTrade::Miss;
        }
        if self.full.len() >= self.limit {
            self.counts.misses += 1;
            return FreeTrade::Miss;
        }
        let Some(mut magazine) = self.get_empty() else {
            return FreeTrade::NoEmpty;
        };
        core::mem::swap(loaded, &mut magazine);
        if let Err(mut full) = self.put_full(magazine) {
            // Not reached: the magazine is not empty and there is room. Should it be, the trade
            // is undone and nothing is lost.
            core::mem::swap(loaded, &mut full);
            // The empty magazine, back where it came from (or dropped: it holds no object).
            let _ = self.put_empty(full);
            return FreeTrade::NoEmpty;
        }
        FreeTrade::Empty
    }

    /// Ends an interval: the lowest lengths the lists reached become the working-set estimate
    /// that [`TrimScope::Excess`] trims by, the next interval starts from the lengths now, and
    /// the interval's counts are returned (`trades` and `misses`; the others are zero).
    pub(crate) fn end_interval(&mut self) -> IntervalCounts {
        self.reap_full = self.min_full;
        self.reap_empty = self.min_empty;
        // INVARIANT: The minima start over from the lengths now.
        self.min_full = self.full.len();
        self.min_empty = self.empty.len();
        core::mem::take(&mut self.counts)
    }

    /// Takes the next magazine to give back under memory pressure, or `None` when the trim is
    /// done.
    ///
    /// `budget` is what is left of the shrinker's `nr_to_scan`, in objects: a full magazine
    /// comes out only when all its objects fit in it, and then they are deducted. Full magazines
    /// come first, oldest first (their objects are the coldest), then empty ones, which hold no
    /// object and cost no budget. With [`TrimScope::Excess`] at most [`Depot::excess_full`] full
    /// and [`Depot::excess_empty`] empty magazines come out; with [`TrimScope::All`], every one
    /// whose objects fit. The caller frees what it gets outside the depot's lock and calls again.
    pub(crate) fn trim(&mut self, budget: &mut usize, scope: TrimScope) -> Option<M> {
        let full_allowed = match scope {
            TrimScope::Excess => self.excess_full(),
            TrimScope::All => self.full.len(),
        };
        if full_allowed > 0 {
            if let Some(objects) = self.full.oldest().map(|m| m.len()) {
                if objects <= *budget {
                    let magazine = self.full.pop_oldest()?;
                    *budget -= objects;
                    // INVARIANT: The magazine and its objects left the list, and the minimum
                    // follows it down.
                    self.objects -= objects;
                    self.min_full = self.min_full.min(self.full.len());
                    self.reap_full = self.reap_full.saturating_sub(1);
                    return Some(magazine);
                }
            }
        }
        let empty_allowed = match scope {
            TrimScope::Excess => self.excess_empty(),
            TrimScope::All => self.empty.len(),
        };
        if empty_allowed > 0 {
            let magazine = self.empty.pop_oldest()?;
            // INVARIANT: The minimum follows the list down.
            self.min_empty = self.min_empty.min(self.empty.len());
            self.reap_empty = self.reap_empty.saturating_sub(1);
            return Some(magazine);
        }
        None
    }
}

/// Why [`CapacityController::new`] or [`CapacityController::set`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfBounds;

/// The adaptive magazine capacity of a cache: grows it when the depots are busy, shrinks it when
/// the cache goes quiet, always within `min..=max`.
///
/// Deterministic and pure: it sees one [`IntervalCounts`] per interval (the kernel's interval is
/// its periodic work, every few seconds) and returns the capacity for the next interval.
///
/// - **Grow**, by half (at least one), up to `max`, when during the interval the depot lock was
///   found held more than [`CapacityController::CONTENTION_LIMIT`] times (Bonwick's contention
///   counter), or when more than one depot request in
///   [`CapacityController::MISS_RATIO`] fell back to the bulk API and there were at least
///   [`CapacityController::MIN_MISSES`] of them. Larger magazines mean fewer depot trips and
///   fewer bulk calls per object.
/// - **Shrink**, by a quarter (at least one), down to `min`, after
///   [`CapacityController::QUIET_INTERVALS`] quiet intervals in a row: intervals that neither
///   grew nor moved as many objects as one magazine holds. Smaller magazines park less memory
///   per CPU. Growing is fast and shrinking slow, so that a busy cache does not oscillate.
///
/// # Invariants
///
/// `1 <= min <= capacity <= max <= MAGAZINE_MAX`.
#[derive(Clone, Debug)]
pub(crate) struct CapacityController {
    min: usize,
    max: usize,
    capacity: usize,
    quiet: u32,
}

impl CapacityController {
    /// More contended depot-lock acquisitions than this in one interval grow the capacity (3, as
    /// Bonwick's `kmem_depot_contention`).
    pub(crate) const CONTENTION_LIMIT: u64 = 3;
    /// More than one depot request in this many missing grows the capacity.
    pub(crate) const MISS_RATIO: u64 = 4;
    /// Fewer misses than this in one interval never grow the capacity, whatever the ratio.
    pub(crate) const MIN_MISSES: u64 = 4;
    /// Quiet intervals in a row that shrink the capacity.
    pub(crate) const QUIET_INTERVALS: u32 = 4;

    /// A controller starting at `capacity`, within `min..=max`.
    ///
    /// Fails unless `1 <= min <= capacity <= max <= MAGAZINE_MAX`.
    pub(crate) fn new(min: usize, max: usize, capacity: usize) -> Result<Self, OutOfBounds> {
        if min == 0 || min > capacity || capacity > max || max > MAGAZINE_MAX {
            return Err(OutOfBounds);
        }
        // INVARIANT: Checked above.
        Ok(Self {
            min,
            max,
            capacity,
            quiet: 0,
        })
    }

    /// The smallest capacity.
    pub(crate) fn min(&self) -> usize {
        self.min
    }

    /// The largest capacity.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The capacity now.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the capacity by hand (debugfs), and starts counting quiet intervals over. Fails
    /// outside `min..=max`.
    pub(crate) fn set(&mut self, capacity: usize) -> Result<(), OutOfBounds> {
        if capacity < self.min || capacity > self.max {
            return Err(OutOfBounds);
        }
        // INVARIANT: Checked above.
        self.capacity = capacity;
        self.quiet = 0;
        Ok(())
    }

    /// Whether `counts` make the capacity grow.
    fn busy(counts: &IntervalCounts) -> bool {
        let requests = counts.trades.saturating_add(counts.misses);
        counts.contended > Self::CONTENTION_LIMIT
            || (counts.misses >= Self::MIN_MISSES
                && counts.misses.saturating_mul(Self::MISS_RATIO) > requests)
    }

    /// Takes one interval's counts and returns the capacity for the next interval.
    pub(crate) fn update(&mut self, counts: &IntervalCounts) -> usize {
        let capacity = self.capacity;
        if Self::busy(counts) {
            self.quiet = 0;
            // INVARIANT: At most `max`, and larger than `capacity >= min`.
            self.capacity = (capacity + (capacity / 2).max(1)).min(self.max);
        } else if counts.ops < capacity as u64 && counts.contended == 0 && counts.misses == 0 {
            self.quiet = self.quiet.saturating_add(1);
            if self.quiet >= Self::QUIET_INTERVALS {
                self.quiet = 0;
                // INVARIANT: At least `min`, and smaller than `capacity <= max`.
                self.capacity = capacity.saturating_sub((capacity / 4).max(1)).max(self.min);
            }
        } else {
            self.quiet = 0;
        }
        self.capacity
    }
}

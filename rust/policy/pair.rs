// SPDX-License-Identifier: GPL-2.0

//! What a CPU does with its two magazines: the pop-or-swap and push-or-swap decisions, the
//! resize, and the re-check that commits the CPU's half of a two-phase depot trade.

/// The most objects a magazine holds: `PCPU_ARRAY_MAX_CAPACITY` of the C ABI (the kernel side
/// asserts that the two agree), so that a magazine is never larger than today's per-CPU array.
pub(crate) const MAGAZINE_MAX: usize = 64;

/// What the policy needs to know of a magazine: how many objects it holds, how many it can
/// hold, and how to change that. The module's magazine (`crate::magazines::magazine::Magazine`,
/// which also shows its objects to KASAN as freed) is one; the reference magazine of
/// `tools/depot-policy` is another.
pub(crate) trait Stack {
    /// The handle of one object.
    type Handle;

    /// How many objects the magazine holds.
    fn len(&self) -> usize;

    /// How many objects the magazine holds at most.
    fn capacity(&self) -> usize;

    /// Sets the capacity to `capacity`, clamped to `1..=MAGAZINE_MAX`.
    ///
    /// Fails, changing nothing, when the magazine holds more objects than the new capacity:
    /// `Err(n)` says how many (its oldest) to give back first, with every lock dropped.
    fn set_capacity(&mut self, capacity: usize) -> Result<(), usize>;

    /// Takes the most recently pushed object, whose cache lines are the most likely to be hot.
    fn pop(&mut self) -> Option<Self::Handle>;

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

/// What an allocation does on a CPU's [`MagazinePair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AllocStep {
    /// Pop from the loaded magazine.
    Pop,
    /// The loaded magazine is empty and the previous one is not: swap them, then pop.
    SwapThenPop,
    /// Both are empty: go to the depot for a full magazine
    /// ([`crate::policy::depot::Depot::get_full`], then [`MagazinePair::commit_full`]).
    TradeEmptyForFull,
}

/// What a free does on a CPU's [`MagazinePair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeStep {
    /// Push onto the loaded magazine.
    Push,
    /// The loaded magazine is full and the previous one is not: swap them, then push.
    SwapThenPush,
    /// Both are full: go to the depot for an empty magazine
    /// ([`crate::policy::depot::Depot::get_empty_for_full`], then [`MagazinePair::commit_empty`]).
    TradeFullForEmpty,
}

/// What an allocation does, given a CPU's loaded and previous magazines.
#[inline(always)]
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
#[inline(always)]
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
/// `M` owns a magazine (`KBox<Magazine>` in the kernel). Having two magazines is what makes a CPU
/// that alternates allocations and frees around a magazine boundary stay off the depot: it
/// swaps, where a single magazine would trade on every other operation.
///
/// # Two-phase trades
///
/// A CPU's lock and its depot's lock are never held together, so a trade with the depot comes in
/// phases: the plan ([`alloc_step`] or [`free_step`] says to trade), the take under the depot's
/// lock ([`crate::policy::depot::Depot::get_full`],
/// [`crate::policy::depot::Depot::get_empty_for_full`]), the re-check under the CPU's lock again
/// ([`MagazinePair::commit_full`], [`MagazinePair::commit_empty`]: the magazines may have changed
/// meanwhile), and the give-back of what was not used or was replaced
/// ([`crate::policy::depot::Depot::put_full`], [`crate::policy::depot::Depot::put_empty`]).
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
    M: core::ops::DerefMut<Target = S>,
    S: Stack + ?Sized,
{
    /// A pair of `loaded` and `previous`.
    pub(crate) fn new(loaded: M, previous: M) -> Self {
        Self { loaded, previous }
    }

    /// The loaded magazine.
    #[cfg(test)] // For the models of tools/depot-policy only.
    #[inline(always)]
    pub(crate) fn loaded(&self) -> &S {
        &self.loaded
    }

    /// The previous magazine.
    #[cfg(test)] // For the models of tools/depot-policy only.
    #[inline(always)]
    pub(crate) fn previous(&self) -> &S {
        &self.previous
    }

    /// Objects held in both magazines.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.loaded.len() + self.previous.len()
    }

    /// What an allocation does now.
    #[inline(always)]
    pub(crate) fn alloc_step(&self) -> AllocStep {
        alloc_step(&*self.loaded, &*self.previous)
    }

    /// What a free does now.
    #[inline(always)]
    pub(crate) fn free_step(&self) -> FreeStep {
        free_step(&*self.loaded, &*self.previous)
    }

    /// Whether both magazines are empty: an allocation would trade at the depot.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.alloc_step() == AllocStep::TradeEmptyForFull
    }

    /// Whether both magazines are full: a free would trade at the depot.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.free_step() == FreeStep::TradeFullForEmpty
    }

    /// The loaded magazine, the hit path's: its pop and its push take no decision of the pair.
    #[inline(always)]
    pub(crate) fn loaded_mut(&mut self) -> &mut S {
        &mut self.loaded
    }

    /// The magazine an allocation pops from, as [`alloc_step`] says: the loaded one, or the
    /// previous one, swapped in first. `None` when both are empty
    /// ([`AllocStep::TradeEmptyForFull`]).
    #[inline(always)]
    pub(crate) fn pop_magazine(&mut self) -> Option<&mut S> {
        match self.alloc_step() {
            AllocStep::Pop => {}
            AllocStep::SwapThenPop => core::mem::swap(&mut self.loaded, &mut self.previous),
            AllocStep::TradeEmptyForFull => return None,
        }
        Some(&mut self.loaded)
    }

    /// The magazine a free pushes onto, as [`free_step`] says: the loaded one, or the previous
    /// one, swapped in first. `None` when both are full ([`FreeStep::TradeFullForEmpty`]).
    #[inline(always)]
    pub(crate) fn push_magazine(&mut self) -> Option<&mut S> {
        match self.free_step() {
            FreeStep::Push => {}
            FreeStep::SwapThenPush => core::mem::swap(&mut self.loaded, &mut self.previous),
            FreeStep::TradeFullForEmpty => return None,
        }
        Some(&mut self.loaded)
    }

    /// Pops an object, swapping first when [`alloc_step`] says so
    /// ([`MagazinePair::pop_magazine`]).
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<S::Handle> {
        self.pop_magazine()?.pop()
    }

    /// Sets the capacity of both magazines to `capacity`. Fails, changing nothing, when either
    /// holds more objects than that: `Err(n)` says how many objects to give back first (the
    /// larger excess of the two).
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Result<(), usize> {
        let excess = |m: &S| m.len().saturating_sub(capacity.max(1));
        let n = excess(&self.loaded).max(excess(&self.previous));
        if n != 0 {
            return Err(n);
        }
        self.loaded.set_capacity(capacity)?;
        self.previous.set_capacity(capacity)
    }

    /// The commit of an allocation's two-phase trade, with the CPU re-locked: installs `full`,
    /// taken from the depot ([`crate::policy::depot::Depot::get_full`]) and fitted to the
    /// capacity with the locks dropped, as the loaded magazine, and returns the one it replaces
    /// (empty, for [`crate::policy::depot::Depot::put_empty`]).
    ///
    /// Installs only what the plan still holds for: both magazines are still empty (an
    /// interrupt, or another task on PREEMPT_RT, may have freed meanwhile), and `full` takes
    /// `capacity`, the capacity now (read under the CPU's lock: it may have changed since the
    /// fit). Otherwise `full` comes back unchanged (`Err`), for
    /// [`crate::policy::depot::Depot::put_full`], and the caller allocates from the magazines
    /// as they are.
    pub(crate) fn commit_full(&mut self, mut full: M, capacity: usize) -> Result<M, M> {
        if !self.is_empty() || full.is_empty() || full.set_capacity(capacity).is_err() {
            return Err(full);
        }
        Ok(core::mem::replace(&mut self.loaded, full))
    }

    /// The commit of a free's two-phase trade, with the CPU re-locked: installs `empty`, taken
    /// from the depot ([`crate::policy::depot::Depot::get_empty_for_full`]) or new, as the
    /// loaded magazine, with `capacity` (the capacity now, read under the CPU's lock), and
    /// returns the full one it replaces, for [`crate::policy::depot::Depot::put_full`].
    ///
    /// Installs only when both magazines are still full; otherwise (an interrupt allocated
    /// meanwhile, the task moved to a CPU with room) `empty` comes back (`Err`), for
    /// [`crate::policy::depot::Depot::put_empty`], and the free pushes as usual.
    pub(crate) fn commit_empty(&mut self, mut empty: M, capacity: usize) -> Result<M, M> {
        if !self.is_full() || !empty.is_empty() || empty.set_capacity(capacity).is_err() {
            return Err(empty);
        }
        Ok(core::mem::replace(&mut self.loaded, empty))
    }

    /// The loaded magazine as the owner it is, for a dead CPU whose magazines go to the depot.
    pub(crate) fn loaded_owner(&mut self) -> &mut M {
        &mut self.loaded
    }

    /// The previous magazine as the owner it is, for a dead CPU whose magazines go to the
    /// depot.
    pub(crate) fn previous_owner(&mut self) -> &mut M {
        &mut self.previous
    }

    /// The previous magazine.
    #[inline]
    pub(crate) fn previous_mut(&mut self) -> &mut S {
        &mut self.previous
    }
}

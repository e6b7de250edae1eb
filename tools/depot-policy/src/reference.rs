// SPDX-License-Identifier: GPL-2.0

//! What the models need beside the policy the module ships: a plain magazine, and the depot's
//! trades in one critical section.
//!
//! The module compiles none of this: its magazine is `crate::magazines::magazine::Magazine`,
//! and it runs each trade in phases, with the CPU's lock and the depot's never held together.
//! [`Depot::trade_empty`] and [`Depot::trade_full`] are those phases ([`Depot::get_full`],
//! [`MagazinePair::commit_full`], [`Depot::put_empty`]; [`Depot::get_empty_for_full`],
//! [`MagazinePair::commit_empty`], [`Depot::put_full`]) run back to back, which is what
//! `model.rs` checks against its reference queues; `concurrent.rs` runs the same phases apart,
//! as the module does.

use crate::policy::{
    depot::{
        Depot,
        EmptyForFull,
        Refused, //
    },
    pair::{
        MagazinePair,
        Stack,
        MAGAZINE_MAX, //
    },
};
use core::ops::DerefMut;

/// A stack of up to `capacity` object handles: the unit that moves between a CPU and its depot.
///
/// `H` is the handle of one free object. A magazine only carries handles: it never touches the
/// objects, and whoever owns the magazine owns them.
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
        let capacity = if capacity == 0 {
            1
        } else if capacity > MAGAZINE_MAX {
            MAGAZINE_MAX
        } else {
            capacity
        };
        // INVARIANT: Empty, and the capacity is clamped.
        Self {
            len: 0,
            capacity,
            slots: [None; MAGAZINE_MAX],
        }
    }

    /// How many objects the magazine holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many objects the magazine holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the magazine holds no object.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the magazine holds `capacity` objects.
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// Pushes `obj`, or gives it back when the magazine is full.
    pub(crate) fn push(&mut self, obj: H) -> Result<(), H> {
        if self.len >= self.capacity {
            return Err(obj);
        }
        self.slots[self.len] = Some(obj);
        // INVARIANT: `slots[len]` was just set and `len < capacity`.
        self.len += 1;
        Ok(())
    }

    /// Takes the most recently pushed object.
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
    /// `Err(n)` says how many to [`PlainMagazine::pop`] first.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Result<(), usize> {
        let capacity = capacity.clamp(1, MAGAZINE_MAX);
        if self.len > capacity {
            return Err(self.len - capacity);
        }
        // INVARIANT: `1 <= capacity <= MAGAZINE_MAX` and `len <= capacity`.
        self.capacity = capacity;
        Ok(())
    }
}

impl<H: Copy> Stack for PlainMagazine<H> {
    type Handle = H;

    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn set_capacity(&mut self, capacity: usize) -> Result<(), usize> {
        PlainMagazine::set_capacity(self, capacity)
    }

    fn pop(&mut self) -> Option<H> {
        PlainMagazine::pop(self)
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
    ///
    /// [`AllocStep::SwapThenPop`]: crate::policy::pair::AllocStep::SwapThenPop
    /// [`AllocStep::TradeEmptyForFull`]: crate::policy::pair::AllocStep::TradeEmptyForFull
    pub(crate) fn alloc(&mut self) -> Option<H> {
        self.pop()
    }

    /// Frees into the pair: pushes, swapping first when [`FreeStep::SwapThenPush`] says so.
    ///
    /// Gives `obj` back when both magazines are full ([`FreeStep::TradeFullForEmpty`]).
    ///
    /// [`FreeStep::SwapThenPush`]: crate::policy::pair::FreeStep::SwapThenPush
    /// [`FreeStep::TradeFullForEmpty`]: crate::policy::pair::FreeStep::TradeFullForEmpty
    pub(crate) fn free(&mut self, obj: H) -> Result<(), H> {
        match self.push_magazine() {
            Some(magazine) => magazine.push(obj),
            None => Err(obj),
        }
    }

    /// Makes `magazine` the loaded one and returns the one it replaces, with no check.
    pub(crate) fn replace_loaded(&mut self, magazine: M) -> M {
        core::mem::replace(self.loaded_owner(), magazine)
    }
}

/// The magazine a [`Refused`] gives back.
pub(crate) fn refused<M>(r: Refused<M>) -> M {
    match r {
        Refused::Unfit(m) | Refused::Rejected(m) => m,
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
    /// The depot has no full magazine (a miss): nothing changed.
    Miss,
}

/// How [`Depot::trade_full`] went, for a free that found both of its magazines full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeTrade {
    /// The loaded magazine is now an empty one; the depot kept the full one.
    Empty,
    /// The depot has room for the full magazine but no empty one to give: nothing changed.
    NoEmpty,
    /// The depot holds [`Depot::limit`] full magazines (a miss): nothing changed.
    Miss,
}

impl<M, S> Depot<M>
where
    M: DerefMut<Target = S>,
    S: Stack + ?Sized,
{
    /// An allocation's trade in one critical section: swaps the magazine `loaded` for a full
    /// one ([`Depot::get_full`]) and keeps the one it replaces ([`Depot::put_empty`], or
    /// [`Depot::put_full`] when it is not empty), at its own capacity.
    ///
    /// A `loaded` magazine that is not empty is traded all the same, and comes back as
    /// `surplus` when the depot does not take it.
    pub(crate) fn trade_empty(&mut self, loaded: &mut M) -> AllocTrade<M> {
        let Some(mut magazine) = self.get_full() else {
            return AllocTrade::Miss;
        };
        core::mem::swap(loaded, &mut magazine);
        let capacity = magazine.capacity();
        let surplus = if magazine.is_empty() {
            self.put_empty(magazine, capacity).err()
        } else {
            self.put_full(magazine, capacity).err().map(refused)
        };
        AllocTrade::Full { surplus }
    }

    /// A free's trade in one critical section: swaps the (full) magazine `loaded` for an empty
    /// one ([`Depot::get_empty_for_full`]) and keeps it ([`Depot::put_full`]). All or nothing:
    /// the depot keeps `loaded` only when it gives an empty one back.
    pub(crate) fn trade_full(&mut self, loaded: &mut M) -> FreeTrade {
        if loaded.is_empty() {
            // Nothing to keep: flushing it is a no-op.
            return FreeTrade::Miss;
        }
        let mut magazine = match self.get_empty_for_full() {
            EmptyForFull::Empty(magazine) => magazine,
            EmptyForFull::NoEmpty => return FreeTrade::NoEmpty,
            EmptyForFull::Miss => return FreeTrade::Miss,
        };
        core::mem::swap(loaded, &mut magazine);
        let capacity = magazine.capacity();
        if let Err(full) = self.put_full(magazine, capacity) {
            // Not reached: the magazine is not empty, there is room and it keeps its capacity.
            // Should it be, the trade is undone and nothing is lost.
            let mut full = refused(full);
            core::mem::swap(loaded, &mut full);
            // The empty magazine, back where it came from (or dropped: it holds no object).
            let capacity = full.capacity();
            let _ = self.put_empty(full, capacity);
            return FreeTrade::NoEmpty;
        }
        FreeTrade::Empty
    }
}

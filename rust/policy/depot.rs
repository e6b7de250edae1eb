// SPDX-License-Identifier: GPL-2.0

//! What one memory node's depot holds: bounded lists of full and empty magazines, the phases of
//! the trades a CPU makes with it, and the working set that the shrinker trims by.
//!
//! A CPU goes to its node's depot only when both of its magazines are exhausted
//! ([`crate::policy::pair::AllocStep::TradeEmptyForFull`],
//! [`crate::policy::pair::FreeStep::TradeFullForEmpty`]). An allocation takes a full magazine
//! ([`Depot::get_full`]) and gives back the empty one it replaces ([`Depot::put_empty`]); a free
//! takes an empty magazine, provided there is room for its full one
//! ([`Depot::get_empty_for_full`]), and gives back the full one ([`Depot::put_full`]). Each is
//! O(1) and moves no object. Only when the depot has nothing to give, or no room to take, does
//! the caller use the backing cache's bulk API.

use super::pair::Stack;
use core::ops::DerefMut;

/// The most magazines one list of a [`Depot`] can hold, whatever limit it is given.
pub(crate) const DEPOT_MAX: usize = 32;

/// The default limit of each list of a [`Depot`]: 10, as SLUB's barn (`MAX_FULL_SHEAVES`,
/// `MAX_EMPTY_SHEAVES`).
pub(crate) const DEPOT_DEFAULT_LIMIT: usize = 10;

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
    #[cfg(test)] // For the models of tools/depot-policy only.
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

/// What [`Depot::get_empty_for_full`] gives a free whose CPU's magazines are both full.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EmptyForFull<M> {
    /// An empty magazine of the depot, which has room for the full one.
    Empty(M),
    /// The depot has room for the full magazine but no empty one to give: the caller makes
    /// one.
    NoEmpty,
    /// The depot holds [`Depot::limit`] full magazines (a miss): the caller flushes the loaded
    /// magazine with the bulk API instead.
    Miss,
}

/// Why [`Depot::put_full`] gave a magazine back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused<M> {
    /// It holds more objects than the capacity now: the caller gives back the oldest ones
    /// ([`Stack::set_capacity`] says how many) with the lock dropped, and tries again.
    Unfit(M),
    /// It is empty, or the list holds [`Depot::limit`] magazines (a miss when it is not empty):
    /// the caller empties it into the backing cache and offers it as an empty one.
    Rejected(M),
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

/// One interval's counts of a cache, the input of
/// [`crate::policy::capacity::CapacityController::update`].
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
    /// Depot requests that had to fall back to the bulk API ([`Depot::get_full`] with nothing
    /// to give, [`EmptyForFull::Miss`], [`Depot::put_full`] at the limit).
    pub(crate) misses: u64,
    /// Times the depot's lock was found held (a failed `spin_trylock()` before `spin_lock()`).
    pub(crate) contended: u64,
}

impl IntervalCounts {
    /// The sum of `self` and `other`, saturating.
    #[cfg(test)] // For the models of tools/depot-policy only.
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
/// `M` owns a magazine (`KBox<Magazine>` in the kernel); the caller keeps the depot behind a
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
    M: DerefMut<Target = S>,
    S: Stack + ?Sized,
{
    /// An empty depot whose lists hold at most `limit` magazines each, clamped to
    /// `0..=DEPOT_MAX` (a limit of 0 makes a depot that never holds anything).
    pub(crate) fn new(limit: usize) -> Self {
        // INVARIANT: Empty lists, zero objects and minima, the limit clamped.
        Self {
            full: MagazineRing::new(),
            empty: MagazineRing::new(),
            limit: if limit < DEPOT_MAX { limit } else { DEPOT_MAX },
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
    #[cfg(test)] // For the models of tools/depot-policy only.
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

    /// Keeps a non-empty `magazine`, with the capacity `capacity` (the capacity now, read under
    /// the depot's lock), or gives it back: [`Refused::Unfit`] when it holds more objects than
    /// that, [`Refused::Rejected`] when it is empty or the list holds [`Depot::limit`]
    /// magazines (a miss when full: the caller flushes it with the bulk API).
    ///
    /// Setting the capacity here, under the lock, rather than before taking it, is what lets a
    /// capacity change empty the depots once and be sure that no magazine of the old capacity
    /// reaches them afterwards.
    pub(crate) fn put_full(&mut self, mut magazine: M, capacity: usize) -> Result<(), Refused<M>> {
        if magazine.is_empty() {
            return Err(Refused::Rejected(magazine));
        }
        if self.full.len() >= self.limit {
            self.counts.misses += 1;
            return Err(Refused::Rejected(magazine));
        }
        if magazine.set_capacity(capacity).is_err() {
            return Err(Refused::Unfit(magazine));
        }
        let objects = magazine.len();
        self.full.push_newest(magazine).map_err(Refused::Rejected)?;
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

    /// The first phase of a free's trade: an empty magazine for a CPU whose magazines are both
    /// full, provided the full list has room for the full one it will give back
    /// ([`Depot::put_full`]). Takes nothing, and counts a miss, when the list is at its limit.
    pub(crate) fn get_empty_for_full(&mut self) -> EmptyForFull<M> {
        if self.full.len() >= self.limit {
            self.counts.misses += 1;
            return EmptyForFull::Miss;
        }
        match self.get_empty() {
            Some(magazine) => EmptyForFull::Empty(magazine),
            None => EmptyForFull::NoEmpty,
        }
    }

    /// Keeps an empty `magazine`, with the capacity `capacity` (the capacity now, read under
    /// the depot's lock, as [`Depot::put_full`]), or gives it back when it is not empty or the
    /// list holds [`Depot::limit`] magazines (the caller then frees the magazine itself).
    pub(crate) fn put_empty(&mut self, mut magazine: M, capacity: usize) -> Result<(), M> {
        if !magazine.is_empty() || self.empty.len() >= self.limit {
            return Err(magazine);
        }
        if magazine.set_capacity(capacity).is_err() {
            return Err(magazine);
        }
        // INVARIANT: An empty magazine joined the list, which stays within the limit.
        self.empty.push_newest(magazine)?;
        self.counts.trades += 1;
        Ok(())
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

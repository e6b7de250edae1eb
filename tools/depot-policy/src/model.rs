// SPDX-License-Identifier: GPL-2.0

//! The policy against reference models, over pseudo-random operation sequences.
//!
//! - `pair_matches_reference`: a CPU's [`MagazinePair`] against two plain stacks.
//! - `depot_matches_reference`: a [`Depot`] against two plain queues with a limit, and its
//!   working set and trim against minima tracked here.
//! - `controller_stays_in_bounds`: the [`CapacityController`] against its documented rules.
//! - `system_conserves_objects`: CPUs, per-node depots, a backing cache and users, run the way
//!   the module runs them (swaps, trades, bulk fallbacks, resizes, CPU death, trims), checking
//!   after every step that no object is lost or duplicated and that every bound holds.
//!
//! Each sequence is reproducible from its seed, printed when a check fails.

use crate::{
    policy::{
        capacity::{
            CapacityController,
            OutOfBounds, //
        },
        depot::{
            Depot,
            IntervalCounts,
            TrimScope,
            DEPOT_DEFAULT_LIMIT,
            DEPOT_MAX, //
        },
        pair::{
            alloc_step,
            free_step,
            AllocStep,
            FreeStep,
            MagazinePair,
            MAGAZINE_MAX, //
        },
    },
    reference::{
        refused,
        AllocTrade,
        FreeTrade,
        PlainMagazine, //
    },
};
use core::ops::{
    Deref,
    DerefMut, //
};
use std::{
    boxed::Box,
    collections::VecDeque,
    vec,
    vec::Vec, //
};

/// Sequences per test, and operations per sequence.
const SEEDS: u64 = 200;
const STEPS: usize = 2_000;

/// Marsaglia's xorshift64: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Any non-zero state; mix the seed so that neighbouring seeds differ at once.
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (`n > 0`), up to a negligible bias.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A magazine with a name, so that the tests can tell which magazine came back.
struct Tagged {
    tag: u32,
    magazine: PlainMagazine<u32>,
}

impl Deref for Tagged {
    type Target = PlainMagazine<u32>;

    fn deref(&self) -> &PlainMagazine<u32> {
        &self.magazine
    }
}

impl DerefMut for Tagged {
    fn deref_mut(&mut self) -> &mut PlainMagazine<u32> {
        &mut self.magazine
    }
}

fn tagged(tag: u32, capacity: usize, objects: impl IntoIterator<Item = u32>) -> Tagged {
    let mut magazine = PlainMagazine::new(capacity);
    for obj in objects {
        magazine.push(obj).unwrap();
    }
    Tagged { tag, magazine }
}

fn contents(magazine: &PlainMagazine<u32>) -> Vec<u32> {
    magazine.iter().collect()
}

#[test]
fn magazine_is_a_bounded_stack() {
    let mut m = PlainMagazine::<u32>::new(3);
    assert!(m.is_empty() && !m.is_full() && m.capacity() == 3);
    assert_eq!(m.pop(), None);
    for i in 0..3 {
        m.push(i).unwrap();
    }
    assert!(m.is_full());
    assert_eq!(m.push(9), Err(9));
    assert_eq!(contents(&m), [0, 1, 2]);
    assert_eq!(m.set_capacity(1), Err(2));
    assert_eq!(m.capacity(), 3);
    assert_eq!(m.pop(), Some(2));
    assert_eq!(m.set_capacity(2), Ok(()));
    assert!(m.is_full());
    assert_eq!(m.pop(), Some(1));
    assert_eq!(m.pop(), Some(0));
    assert_eq!(m.pop(), None);
    // Capacities are clamped to 1..=MAGAZINE_MAX.
    assert_eq!(PlainMagazine::<u32>::new(0).capacity(), 1);
    assert_eq!(
        PlainMagazine::<u32>::new(MAGAZINE_MAX + 1).capacity(),
        MAGAZINE_MAX
    );
    assert_eq!(m.set_capacity(usize::MAX), Ok(()));
    assert_eq!(m.capacity(), MAGAZINE_MAX);
}

#[test]
fn pair_keeps_its_loaded_magazine_first() {
    // The kernel's inline hit path reads a CPU's pair as the `loaded` and `previous` pointers of
    // `struct pcpu_array_cpu`, in that order.
    type Pair = MagazinePair<Box<PlainMagazine<u32>>>;
    assert_eq!(Pair::LOADED_OFFSET, 0);
    assert_eq!(
        Pair::PREVIOUS_OFFSET,
        core::mem::size_of::<Box<PlainMagazine<u32>>>()
    );
}

/// A pair of boxed magazines of `cap` objects holding `loaded` and `previous`.
fn pair_of(cap: usize, loaded: &[u32], previous: &[u32]) -> MagazinePair<Box<PlainMagazine<u32>>> {
    let boxed = |objs: &[u32]| {
        let mut m = Box::new(PlainMagazine::new(cap));
        objs.iter().for_each(|&o| m.push(o).unwrap());
        m
    };
    MagazinePair::new(boxed(loaded), boxed(previous))
}

#[test]
fn commit_full_installs_only_what_the_plan_holds_for() {
    let full = |objs: &[u32], cap| tagged(9, cap, objs.iter().copied());
    // Both still empty: installed, the empty one comes back, the capacity set.
    let mut pair = pair_of(4, &[], &[]);
    let mut t = full(&[1, 2], 4);
    t.set_capacity(3).unwrap();
    let old = pair.commit_full(Box::new(t.magazine), 4);
    assert!(old.is_ok_and(|m| m.is_empty() && m.capacity() == 4));
    assert_eq!(contents(pair.loaded()), [1, 2]);
    assert_eq!(pair.loaded().capacity(), 4);
    // An object arrived meanwhile (an interrupt freed): given back unchanged.
    let mut pair = pair_of(4, &[], &[5]);
    let back = pair.commit_full(Box::new(full(&[1, 2], 4).magazine), 4);
    assert!(back.is_err_and(|m| contents(&m) == [1, 2]));
    assert_eq!(contents(pair.previous()), [5]);
    // The capacity shrank below what it holds since it was fitted: given back, for a fit.
    let mut pair = pair_of(4, &[], &[]);
    let back = pair.commit_full(Box::new(full(&[1, 2, 3], 4).magazine), 2);
    assert!(back.is_err_and(|m| m.capacity() == 4 && m.len() == 3));
    assert!(pair.loaded().is_empty());
    // It grew: installed with the new capacity.
    let mut pair = pair_of(2, &[], &[]);
    assert!(pair
        .commit_full(Box::new(full(&[1, 2], 2).magazine), 6)
        .is_ok());
    assert_eq!(pair.loaded().capacity(), 6);
    // An empty magazine is no full one.
    let mut pair = pair_of(2, &[], &[]);
    assert!(pair
        .commit_full(Box::new(full(&[], 2).magazine), 2)
        .is_err());
}

#[test]
fn commit_empty_installs_only_what_the_plan_holds_for() {
    // Both still full: installed with the capacity now, the full one comes back.
    let mut pair = pair_of(2, &[1, 2], &[3, 4]);
    let old = pair.commit_empty(Box::new(PlainMagazine::new(5)), 3);
    assert!(old.is_ok_and(|m| contents(&m) == [1, 2]));
    assert!(pair.loaded().is_empty());
    assert_eq!(pair.loaded().capacity(), 3);
    // Room appeared meanwhile (an interrupt allocated): given back.
    let mut pair = pair_of(2, &[1], &[3, 4]);
    assert!(pair
        .commit_empty(Box::new(PlainMagazine::new(2)), 2)
        .is_err());
    assert_eq!(contents(pair.loaded()), [1]);
    // Only an empty magazine is installed.
    let mut pair = pair_of(2, &[1, 2], &[3, 4]);
    let mut m = Box::new(PlainMagazine::new(2));
    m.push(7).unwrap();
    assert!(pair.commit_empty(m, 2).is_err());
    assert_eq!(contents(pair.loaded()), [1, 2]);
}

#[test]
fn pair_set_capacity_is_all_or_nothing() {
    let mut pair = pair_of(4, &[1, 2, 3], &[4]);
    assert_eq!(pair.set_capacity(2), Err(1));
    assert_eq!(
        (pair.loaded().capacity(), pair.previous().capacity()),
        (4, 4)
    );
    let mut pair = pair_of(4, &[1], &[2, 3, 4]);
    assert_eq!(pair.set_capacity(1), Err(2));
    assert_eq!(pair.set_capacity(2), Err(1));
    assert_eq!(pair.set_capacity(0), Err(2));
    let mut pair = pair_of(4, &[1, 2], &[3]);
    assert_eq!(pair.set_capacity(2), Ok(()));
    assert_eq!(
        (pair.loaded().capacity(), pair.previous().capacity()),
        (2, 2)
    );
}

#[test]
fn depot_puts_fit_under_the_lock() {
    let mut depot = Depot::<Tagged>::new(2);
    // A full magazine of another capacity takes the capacity given, when its objects fit.
    assert!(depot.put_full(tagged(1, 4, [1, 2]), 3).is_ok());
    assert!(depot.get_full().is_some_and(|m| m.capacity() == 3));
    // When they do not, it comes back unfit, the depot unchanged.
    let r = depot.put_full(tagged(2, 4, [1, 2, 3]), 2);
    assert!(matches!(r, Err(crate::policy::depot::Refused::Unfit(ref m)) if m.tag == 2));
    assert_eq!((depot.full_len(), depot.objects()), (0, 0));
    // An empty magazine always fits.
    assert!(depot.put_empty(tagged(3, 4, []), 1).is_ok());
    assert!(depot.get_empty().is_some_and(|m| m.capacity() == 1));
    let counts = depot.end_interval();
    assert_eq!((counts.trades, counts.misses), (4, 0));
}

#[test]
fn pair_matches_reference() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let cap = rng.range(1, MAGAZINE_MAX);
        let mut pair = MagazinePair::new(
            Box::new(PlainMagazine::new(cap)),
            Box::new(PlainMagazine::new(cap)),
        );
        // The reference: two plain stacks.
        let (mut loaded, mut previous): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut next = 0;
        for step in 0..STEPS {
            let ctx = || std::format!("seed {seed} step {step} cap {cap}");
            if rng.chance(50) {
                let want = if !loaded.is_empty() {
                    (AllocStep::Pop, loaded.pop())
                } else if !previous.is_empty() {
                    core::mem::swap(&mut loaded, &mut previous);
                    (AllocStep::SwapThenPop, loaded.pop())
                } else {
                    (AllocStep::TradeEmptyForFull, None)
                };
                assert_eq!(pair.alloc_step(), want.0, "{}", ctx());
                assert_eq!(pair.alloc(), want.1, "{}", ctx());
                if want.1.is_none() && rng.chance(50) {
                    // What a depot trade does: the empty loaded magazine for a full one.
                    let full = tagged(0, cap, next..next + cap as u32);
                    loaded = (next..next + cap as u32).collect();
                    next += cap as u32;
                    // The commit of the two-phase trade: both still empty, so it installs.
                    match pair.commit_full(Box::new(full.magazine), cap) {
                        Ok(old) => assert!(old.is_empty(), "{}", ctx()),
                        Err(_) => panic!("commit_full refused: {}", ctx()),
                    }
                }
            } else {
                let obj = next;
                next += 1;
                let want = if loaded.len() < cap {
                    loaded.push(obj);
                    (FreeStep::Push, Ok(()))
                } else if previous.len() < cap {
                    core::mem::swap(&mut loaded, &mut previous);
                    loaded.push(obj);
                    (FreeStep::SwapThenPush, Ok(()))
                } else {
                    (FreeStep::TradeFullForEmpty, Err(obj))
                };
                assert_eq!(pair.free_step(), want.0, "{}", ctx());
                assert_eq!(pair.free(obj), want.1, "{}", ctx());
                if want.1.is_err() && rng.chance(50) {
                    loaded.clear();
                    // The commit of the two-phase trade: both still full, so it installs.
                    match pair.commit_empty(Box::new(PlainMagazine::new(cap)), cap) {
                        Ok(old) => assert!(old.is_full(), "{}", ctx()),
                        Err(_) => panic!("commit_empty refused: {}", ctx()),
                    }
                }
            }
            assert_eq!(contents(pair.loaded()), loaded, "{}", ctx());
            assert_eq!(contents(pair.previous()), previous, "{}", ctx());
            assert_eq!(pair.len(), loaded.len() + previous.len());
            // As in Bonwick's magazines, the previous magazine is always empty or full.
            assert!(
                pair.previous().is_empty() || pair.previous().is_full(),
                "{}",
                ctx()
            );
            assert_eq!(
                alloc_step(pair.loaded(), pair.previous()),
                pair.alloc_step()
            );
            assert_eq!(free_step(pair.loaded(), pair.previous()), pair.free_step());
        }
    }
}

/// The reference depot: two queues (oldest at the front) and what the working set allows.
struct RefDepot {
    full: VecDeque<(u32, Vec<u32>)>,
    empty: VecDeque<u32>,
    min_full: usize,
    min_empty: usize,
    reap_full: usize,
    reap_empty: usize,
}

impl RefDepot {
    fn observe(&mut self) {
        self.min_full = self.min_full.min(self.full.len());
        self.min_empty = self.min_empty.min(self.empty.len());
    }

    fn objects(&self) -> usize {
        self.full.iter().map(|(_, objs)| objs.len()).sum()
    }
}

/// Checks that `depot` holds what `reference` holds, magazine by magazine.
fn same_depot(depot: &Depot<Tagged>, reference: &RefDepot, ctx: &str) {
    assert_eq!(depot.full_len(), reference.full.len(), "{ctx}");
    assert_eq!(depot.empty_len(), reference.empty.len(), "{ctx}");
    assert!(
        depot.full_len() <= depot.limit() && depot.empty_len() <= depot.limit(),
        "{ctx}"
    );
    assert_eq!(depot.objects(), reference.objects(), "{ctx}");
    let got: Vec<(u32, Vec<u32>)> = depot.magazines().map(|m| (m.tag, contents(m))).collect();
    let want: Vec<(u32, Vec<u32>)> = reference
        .full
        .iter()
        .cloned()
        .chain(reference.empty.iter().map(|&tag| (tag, Vec::new())))
        .collect();
    assert_eq!(got, want, "{ctx}");
}

#[test]
fn depot_limits() {
    assert_eq!(Depot::<Tagged>::new(DEPOT_DEFAULT_LIMIT).limit(), 10);
    assert_eq!(Depot::<Tagged>::new(DEPOT_MAX + 1).limit(), DEPOT_MAX);
    // A limit of 0 holds nothing: every request misses.
    let mut depot = Depot::<Tagged>::new(0);
    assert_eq!(
        depot
            .put_full(tagged(1, 4, [1]), 4)
            .map_err(|r| refused(r).tag),
        Err(1)
    );
    assert_eq!(
        depot.put_empty(tagged(2, 4, []), 4).map_err(|m| m.tag),
        Err(2)
    );
    let mut loaded = tagged(3, 4, [1, 2, 3, 4]);
    assert_eq!(depot.trade_full(&mut loaded), FreeTrade::Miss);
    assert!(matches!(depot.trade_empty(&mut loaded), AllocTrade::Miss));
    assert_eq!(loaded.tag, 3);
    let counts = depot.end_interval();
    assert_eq!((counts.trades, counts.misses), (0, 3));
}

#[test]
fn depot_matches_reference() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let limit = rng.range(0, DEPOT_MAX + 2);
        let cap = rng.range(1, MAGAZINE_MAX);
        let mut depot = Depot::<Tagged>::new(limit);
        let limit = limit.min(DEPOT_MAX);
        assert_eq!(depot.limit(), limit);
        let mut reference = RefDepot {
            full: VecDeque::new(),
            empty: VecDeque::new(),
            min_full: 0,
            min_empty: 0,
            reap_full: 0,
            reap_empty: 0,
        };
        let (mut next_tag, mut next_obj) = (0u32, 0u32);
        let mut counted = IntervalCounts::default();
        let mut new_full = |rng: &mut Rng| {
            let n = rng.range(1, cap) as u32;
            next_tag += 1;
            next_obj += n;
            tagged(next_tag, cap, next_obj - n..next_obj)
        };
        let mut next_empty = 1_000_000u32;
        for step in 0..STEPS {
            let ctx = std::format!("seed {seed} step {step} limit {limit}");
            match rng.below(9) {
                0 => {
                    let got = depot.get_full().map(|m| (m.tag, contents(&m)));
                    let want = reference.full.pop_back();
                    if want.is_some() {
                        counted.trades += 1;
                    } else {
                        counted.misses += 1;
                    }
                    assert_eq!(got, want, "{ctx}");
                }
                1 => {
                    let m = new_full(&mut rng);
                    let entry = (m.tag, contents(&m));
                    let got = depot.put_full(m, cap).map_err(|r| refused(r).tag);
                    if reference.full.len() < limit {
                        reference.full.push_back(entry);
                        counted.trades += 1;
                        assert_eq!(got, Ok(()), "{ctx}");
                    } else {
                        counted.misses += 1;
                        assert_eq!(got, Err(entry.0), "{ctx}");
                    }
                }
                2 => {
                    let got = depot.get_empty().map(|m| m.tag);
                    let want = reference.empty.pop_back();
                    counted.trades += u64::from(want.is_some());
                    assert_eq!(got, want, "{ctx}");
                }
                3 => {
                    next_empty += 1;
                    let got = depot
                        .put_empty(tagged(next_empty, cap, []), cap)
                        .map_err(|m| m.tag);
                    if reference.empty.len() < limit {
                        reference.empty.push_back(next_empty);
                        counted.trades += 1;
                        assert_eq!(got, Ok(()), "{ctx}");
                    } else {
                        assert_eq!(got, Err(next_empty), "{ctx}");
                    }
                    // The wrong kind of magazine is refused, and changes nothing.
                    assert!(depot.put_empty(tagged(0, cap, [7]), cap).is_err(), "{ctx}");
                    assert!(depot.put_full(tagged(0, cap, []), cap).is_err(), "{ctx}");
                }
                4 => {
                    next_empty += 1;
                    let mut loaded = tagged(next_empty, cap, []);
                    match depot.trade_empty(&mut loaded) {
                        AllocTrade::Miss => {
                            assert!(reference.full.is_empty(), "{ctx}");
                            counted.misses += 1;
                            assert_eq!(loaded.tag, next_empty, "{ctx}");
                        }
                        AllocTrade::Full { surplus } => {
                            let want = reference.full.pop_back().unwrap();
                            assert_eq!((loaded.tag, contents(&loaded)), want, "{ctx}");
                            counted.trades += 1;
                            reference.observe();
                            if reference.empty.len() < limit {
                                reference.empty.push_back(next_empty);
                                counted.trades += 1;
                                assert!(surplus.is_none(), "{ctx}");
                            } else {
                                assert_eq!(surplus.map(|m| m.tag), Some(next_empty), "{ctx}");
                            }
                        }
                    }
                }
                5 => {
                    let mut loaded = new_full(&mut rng);
                    let entry = (loaded.tag, contents(&loaded));
                    let got = depot.trade_full(&mut loaded);
                    if reference.full.len() >= limit {
                        counted.misses += 1;
                        assert_eq!(got, FreeTrade::Miss, "{ctx}");
                        assert_eq!(loaded.tag, entry.0, "{ctx}");
                    } else if let Some(tag) = reference.empty.pop_back() {
                        reference.observe();
                        reference.full.push_back(entry);
                        counted.trades += 2;
                        assert_eq!(got, FreeTrade::Empty, "{ctx}");
                        assert_eq!(loaded.tag, tag, "{ctx}");
                        assert!(loaded.is_empty(), "{ctx}");
                    } else {
                        assert_eq!(got, FreeTrade::NoEmpty, "{ctx}");
                        assert_eq!(loaded.tag, entry.0, "{ctx}");
                    }
                }
                6 => {
                    assert_eq!(
                        depot.excess_full(),
                        reference.reap_full.min(reference.full.len())
                    );
                    assert_eq!(
                        depot.excess_empty(),
                        reference.reap_empty.min(reference.empty.len())
                    );
                    assert_eq!(depot.end_interval(), counted, "{ctx}");
                    counted = IntervalCounts::default();
                    reference.reap_full = reference.min_full;
                    reference.reap_empty = reference.min_empty;
                    reference.min_full = reference.full.len();
                    reference.min_empty = reference.empty.len();
                }
                _ => {
                    let scope = if rng.chance(70) {
                        TrimScope::Excess
                    } else {
                        TrimScope::All
                    };
                    let nr_to_scan = rng.range(0, 3 * cap);
                    let (mut budget, mut freed) = (nr_to_scan, 0);
                    let (full_allowed, empty_allowed) = match scope {
                        TrimScope::Excess => (
                            reference.reap_full.min(reference.full.len()),
                            reference.reap_empty.min(reference.empty.len()),
                        ),
                        TrimScope::All => (reference.full.len(), reference.empty.len()),
                    };
                    let (mut fulls, mut empties) = (0, 0);
                    while let Some(m) = depot.trim(&mut budget, scope) {
                        if m.is_empty() {
                            assert_eq!(Some(m.tag), reference.empty.pop_front(), "{ctx}");
                            empties += 1;
                            reference.reap_empty = reference.reap_empty.saturating_sub(1);
                        } else {
                            // Fulls come first, oldest first.
                            assert_eq!(empties, 0, "{ctx}");
                            let want = reference.full.pop_front().unwrap();
                            assert_eq!((m.tag, contents(&m)), want, "{ctx}");
                            fulls += 1;
                            freed += m.len();
                            reference.reap_full = reference.reap_full.saturating_sub(1);
                        }
                        reference.observe();
                        assert!(fulls + empties <= 2 * DEPOT_MAX, "{ctx}: trim does not end");
                    }
                    // nr_to_scan is honoured, and the working set too.
                    assert!(freed <= nr_to_scan, "{ctx}");
                    assert_eq!(budget, nr_to_scan - freed, "{ctx}");
                    assert!(fulls <= full_allowed && empties <= empty_allowed, "{ctx}");
                    // The trim stopped for a reason: nothing allowed, or the next does not fit.
                    assert_eq!(empties, empty_allowed, "{ctx}");
                    if fulls < full_allowed {
                        assert!(reference.full.front().unwrap().1.len() > budget, "{ctx}");
                    }
                }
            }
            reference.observe();
            same_depot(&depot, &reference, &ctx);
        }
    }
}

#[test]
fn controller_refuses_bad_bounds() {
    assert!(CapacityController::new(0, 8, 4).is_err());
    assert!(CapacityController::new(5, 8, 4).is_err());
    assert!(CapacityController::new(2, 3, 4).is_err());
    assert!(CapacityController::new(2, MAGAZINE_MAX + 1, 4).is_err());
    let mut c = CapacityController::new(2, 16, 4).unwrap();
    assert_eq!((c.min(), c.max(), c.capacity()), (2, 16, 4));
    assert_eq!(c.set(1), Err(OutOfBounds));
    assert_eq!(c.set(17), Err(OutOfBounds));
    assert_eq!(c.set(16), Ok(()));
    assert_eq!(c.capacity(), 16);
}

#[test]
fn controller_grows_on_contention_and_shrinks_when_quiet() {
    let mut c = CapacityController::new(4, 64, 8).unwrap();
    let contended = IntervalCounts {
        contended: CapacityController::CONTENTION_LIMIT + 1,
        ..Default::default()
    };
    let mut sizes = vec![c.capacity()];
    while c.capacity() < c.max() {
        sizes.push(c.update(&contended));
    }
    assert_eq!(sizes, [8, 12, 18, 27, 40, 60, 64]);
    assert_eq!(c.update(&contended), 64);
    // Three contentions are not enough; nor is a quiet interval alone.
    let calm = IntervalCounts {
        contended: CapacityController::CONTENTION_LIMIT,
        ops: 1000,
        ..Default::default()
    };
    assert_eq!(c.update(&calm), 64);
    let quiet = IntervalCounts::default();
    let mut sizes = Vec::new();
    for _ in 0..60 {
        sizes.push(c.update(&quiet));
    }
    let changes: Vec<usize> = sizes
        .windows(2)
        .filter(|w| w[0] != w[1])
        .map(|w| w[1])
        .collect();
    assert_eq!(changes, [48, 36, 27, 21, 16, 12, 9, 7, 6, 5, 4]);
    // Each shrink takes QUIET_INTERVALS quiet intervals in a row.
    assert_eq!(sizes[..3], [64, 64, 64]);
    assert_eq!(sizes[3], 48);
    // Frequent misses grow it too.
    let missing = IntervalCounts {
        ops: 1000,
        trades: 10,
        misses: 10,
        contended: 0,
    };
    assert_eq!(c.update(&missing), 6);
}

#[test]
fn controller_stays_in_bounds() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let min = rng.range(1, MAGAZINE_MAX);
        let max = rng.range(min, MAGAZINE_MAX);
        let start = rng.range(min, max);
        let mut c = CapacityController::new(min, max, start).unwrap();
        let mut twin = c.clone();
        let mut quiet = 0;
        for step in 0..STEPS {
            let ctx = std::format!("seed {seed} step {step} bounds {min}..={max}");
            let before = c.capacity();
            if rng.chance(3) {
                let want = rng.range(0, MAGAZINE_MAX + 1);
                let got = c.set(want);
                assert_eq!(got.is_ok(), (min..=max).contains(&want), "{ctx}");
                assert_eq!(twin.set(want), got);
                if got.is_ok() {
                    quiet = 0;
                }
                continue;
            }
            let counts = IntervalCounts {
                ops: rng.below(4) as u64 * rng.below(100) as u64,
                trades: rng.below(40) as u64,
                misses: if rng.chance(30) {
                    rng.below(20) as u64
                } else {
                    0
                },
                contended: if rng.chance(20) {
                    rng.below(8) as u64
                } else {
                    0
                },
            };
            let after = c.update(&counts);
            // Deterministic: the same counts give the same answer.
            assert_eq!(twin.update(&counts), after, "{ctx}");
            assert_eq!(after, c.capacity(), "{ctx}");
            assert!((min..=max).contains(&after), "{ctx}");
            let busy = counts.contended > CapacityController::CONTENTION_LIMIT
                || (counts.misses >= CapacityController::MIN_MISSES
                    && counts.misses * CapacityController::MISS_RATIO
                        > counts.trades + counts.misses);
            let is_quiet =
                !busy && counts.ops < before as u64 && counts.contended == 0 && counts.misses == 0;
            quiet = if is_quiet { quiet + 1 } else { 0 };
            if busy {
                assert!(after > before || after == max, "{ctx}");
                assert!(after <= before + before / 2 + 1, "{ctx}");
            } else if quiet == CapacityController::QUIET_INTERVALS as usize {
                quiet = 0;
                assert!(after < before || after == min, "{ctx}");
                assert!(after + before / 4 + 1 >= before, "{ctx}");
            } else {
                assert_eq!(after, before, "{ctx}");
            }
        }
    }
}

/// A whole cache, run the way the module runs it.
struct System {
    rng: Rng,
    nodes: usize,
    cpus: Vec<MagazinePair<Box<PlainMagazine<u32>>>>,
    depots: Vec<Depot<Box<PlainMagazine<u32>>>>,
    controller: CapacityController,
    /// Free objects of the backing cache.
    backing: Vec<u32>,
    /// Objects the users hold.
    users: Vec<u32>,
    /// Objects ever made by the backing cache: ids `0..made`.
    made: u32,
    ops: u64,
    /// How often each path ran, so that the test knows it exercised them all.
    seen: Coverage,
}

/// How often each path of [`System`] ran.
#[derive(Default, Debug)]
struct Coverage {
    traded_full: u64,
    surplus: u64,
    alloc_miss: u64,
    traded_empty: u64,
    no_empty: u64,
    free_miss: u64,
    trimmed_full: u64,
    trimmed_empty: u64,
    resized: u64,
    fitted: u64,
}

impl Coverage {
    fn add(&mut self, other: &Self) {
        self.traded_full += other.traded_full;
        self.surplus += other.surplus;
        self.alloc_miss += other.alloc_miss;
        self.traded_empty += other.traded_empty;
        self.no_empty += other.no_empty;
        self.free_miss += other.free_miss;
        self.trimmed_full += other.trimmed_full;
        self.trimmed_empty += other.trimmed_empty;
        self.resized += other.resized;
        self.fitted += other.fitted;
    }

    fn all(&self) -> bool {
        [
            self.traded_full,
            self.surplus,
            self.alloc_miss,
            self.traded_empty,
            self.no_empty,
            self.free_miss,
            self.trimmed_full,
            self.trimmed_empty,
            self.resized,
            self.fitted,
        ]
        .iter()
        .all(|&n| n > 0)
    }
}

impl System {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let min = rng.range(1, 16);
        let max = rng.range(min, MAGAZINE_MAX);
        let cap = rng.range(min, max);
        let controller = CapacityController::new(min, max, cap).unwrap();
        let ncpus = rng.range(1, 8);
        let nodes = rng.range(1, ncpus.min(3));
        let limit = rng.range(0, 12);
        Self {
            cpus: (0..ncpus).map(|_| Self::pair(cap)).collect(),
            depots: (0..nodes).map(|_| Depot::new(limit)).collect(),
            rng,
            nodes,
            controller,
            backing: Vec::new(),
            users: Vec::new(),
            made: 0,
            ops: 0,
            seen: Coverage::default(),
        }
    }

    fn pair(cap: usize) -> MagazinePair<Box<PlainMagazine<u32>>> {
        MagazinePair::new(
            Box::new(PlainMagazine::new(cap)),
            Box::new(PlainMagazine::new(cap)),
        )
    }

    /// `kmem_cache_alloc_bulk()` of `n` objects into `magazine`.
    fn refill(&mut self, magazine: &mut PlainMagazine<u32>, n: usize) {
        for _ in 0..n {
            let obj = self.backing.pop().unwrap_or_else(|| {
                self.made += 1;
                self.made - 1
            });
            magazine.push(obj).unwrap();
        }
    }

    /// `kmem_cache_free_bulk()` of a magazine's objects.
    fn flush(&mut self, magazine: &mut PlainMagazine<u32>) {
        while let Some(obj) = magazine.pop() {
            self.backing.push(obj);
        }
    }

    /// Brings a magazine to the current capacity, flushing what no longer fits (the lazy
    /// resize the module does when a CPU finds its magazines of an old capacity).
    fn fit(&mut self, magazine: &mut PlainMagazine<u32>) {
        let cap = self.controller.capacity();
        if let Err(excess) = magazine.set_capacity(cap) {
            self.seen.fitted += 1;
            for _ in 0..excess {
                let obj = magazine.pop().unwrap();
                self.backing.push(obj);
            }
            magazine.set_capacity(cap).unwrap();
        }
        assert_eq!(magazine.capacity(), cap);
    }

    /// Takes CPU `cpu`'s pair out, fitted to the current capacity.
    fn take_pair(&mut self, cpu: usize) -> MagazinePair<Box<PlainMagazine<u32>>> {
        let mut pair = core::mem::replace(&mut self.cpus[cpu], Self::pair(1));
        self.fit(pair.loaded_mut());
        self.fit(pair.previous_mut());
        pair
    }

    fn alloc(&mut self, cpu: usize) -> u32 {
        let mut pair = self.take_pair(cpu);
        let obj = match pair.alloc() {
            Some(obj) => obj,
            None => {
                let depot = &mut self.depots[cpu % self.nodes];
                match depot.trade_empty(pair.loaded_owner()) {
                    AllocTrade::Full { surplus } => {
                        self.seen.traded_full += 1;
                        self.seen.surplus += u64::from(surplus.is_some());
                        assert!(surplus.is_none_or(|m| m.is_empty()));
                        let mut loaded = core::mem::replace(
                            pair.loaded_owner(),
                            Box::new(PlainMagazine::new(1)),
                        );
                        self.fit(&mut loaded);
                        pair.replace_loaded(loaded);
                        pair.alloc().expect("a traded magazine is not empty")
                    }
                    AllocTrade::Miss => {
                        self.seen.alloc_miss += 1;
                        if self.rng.chance(80) {
                            // A refill by half, when the gfp flags allow it.
                            let n = (self.controller.capacity() / 2).max(1);
                            let mut loaded = core::mem::replace(
                                pair.loaded_owner(),
                                Box::new(PlainMagazine::new(1)),
                            );
                            self.refill(&mut loaded, n);
                            pair.replace_loaded(loaded);
                            pair.alloc().unwrap()
                        } else {
                            // One object straight from the backing cache.
                            let mut one = PlainMagazine::new(1);
                            self.refill(&mut one, 1);
                            one.pop().unwrap()
                        }
                    }
                }
            }
        };
        self.cpus[cpu] = pair;
        self.ops += 1;
        obj
    }

    fn free(&mut self, cpu: usize, obj: u32) {
        let mut pair = self.take_pair(cpu);
        if let Err(obj) = pair.free(obj) {
            let depot = &mut self.depots[cpu % self.nodes];
            let trade = depot.trade_full(pair.loaded_owner());
            match trade {
                FreeTrade::Empty => self.seen.traded_empty += 1,
                FreeTrade::NoEmpty => self.seen.no_empty += 1,
                FreeTrade::Miss => self.seen.free_miss += 1,
            }
            let depot = &mut self.depots[cpu % self.nodes];
            match trade {
                FreeTrade::Empty => {}
                FreeTrade::NoEmpty if self.rng.chance(70) => {
                    // A new empty magazine (GFP_NOWAIT) to load, and the full one to the depot,
                    // or, when the depot filled up meanwhile, to the backing cache.
                    let cap = self.controller.capacity();
                    let full = pair.replace_loaded(Box::new(PlainMagazine::new(cap)));
                    if let Err(full) = depot.put_full(full, cap) {
                        let mut full = refused(full);
                        self.flush(&mut full);
                    }
                }
                FreeTrade::NoEmpty | FreeTrade::Miss => {
                    let mut loaded =
                        core::mem::replace(pair.loaded_owner(), Box::new(PlainMagazine::new(1)));
                    self.flush(&mut loaded);
                    pair.replace_loaded(loaded);
                }
            }
            let mut loaded =
                core::mem::replace(pair.loaded_owner(), Box::new(PlainMagazine::new(1)));
            self.fit(&mut loaded);
            pair.replace_loaded(loaded);
            pair.free(obj).expect("an empty magazine takes an object");
        }
        self.cpus[cpu] = pair;
        self.ops += 1;
    }

    /// A CPU dies: its magazines go to its node's depot, what does not fit to the backing
    /// cache. It comes back online with empty magazines.
    fn cpu_dead(&mut self, cpu: usize) {
        let pair = core::mem::replace(&mut self.cpus[cpu], Self::pair(self.controller.capacity()));
        let mut pair = pair;
        let loaded = core::mem::replace(pair.loaded_owner(), Box::new(PlainMagazine::new(1)));
        let previous = core::mem::replace(pair.previous_owner(), Box::new(PlainMagazine::new(1)));
        for magazine in [loaded, previous] {
            let depot = &mut self.depots[cpu % self.nodes];
            let cap = magazine.capacity();
            let rejected = if magazine.is_empty() {
                depot.put_empty(magazine, cap)
            } else {
                depot.put_full(magazine, cap).map_err(refused)
            };
            if let Err(mut magazine) = rejected {
                self.flush(&mut magazine);
            }
        }
    }

    /// The periodic work: every depot's interval ends, the controller picks the capacity.
    fn interval(&mut self) {
        let mut counts = IntervalCounts {
            ops: core::mem::take(&mut self.ops),
            contended: if self.rng.chance(30) {
                self.rng.below(10) as u64
            } else {
                0
            },
            ..Default::default()
        };
        for depot in &mut self.depots {
            counts = counts.add(depot.end_interval());
        }
        let before = self.controller.capacity();
        let cap = self.controller.update(&counts);
        self.seen.resized += u64::from(cap != before);
        assert!((self.controller.min()..=self.controller.max()).contains(&cap));
    }

    /// The shrinker: trims every depot within `nr_to_scan` objects.
    fn shrink(&mut self, nr_to_scan: usize, scope: TrimScope) {
        let mut budget = nr_to_scan;
        for node in 0..self.nodes {
            let excess = self.depots[node].excess_full();
            let mut fulls = 0;
            while let Some(mut magazine) = self.depots[node].trim(&mut budget, scope) {
                fulls += usize::from(!magazine.is_empty());
                if magazine.is_empty() {
                    self.seen.trimmed_empty += 1;
                } else {
                    self.seen.trimmed_full += 1;
                }
                self.flush(&mut magazine);
            }
            if scope == TrimScope::Excess {
                assert!(fulls <= excess);
            }
        }
        assert!(budget <= nr_to_scan);
    }

    /// No object lost or duplicated, every bound held.
    fn check(&self, ctx: &str) {
        let mut seen = vec![0u8; self.made as usize];
        let mut parked = 0;
        let max = self.controller.max();
        let mut note = |obj: u32| seen[obj as usize] += 1;
        for pair in &self.cpus {
            for magazine in [pair.loaded(), pair.previous()] {
                assert!(magazine.len() <= magazine.capacity(), "{ctx}");
                assert!(magazine.capacity() <= max, "{ctx}");
                parked += magazine.len();
                magazine.iter().for_each(&mut note);
            }
        }
        for depot in &self.depots {
            assert!(depot.full_len() <= depot.limit(), "{ctx}");
            assert!(depot.empty_len() <= depot.limit(), "{ctx}");
            let mut objects = 0;
            for magazine in depot.magazines() {
                assert!(magazine.len() <= magazine.capacity(), "{ctx}");
                assert!(magazine.capacity() <= max, "{ctx}");
                objects += magazine.len();
                magazine.iter().for_each(&mut note);
            }
            assert_eq!(depot.objects(), objects, "{ctx}");
            parked += objects;
        }
        self.backing.iter().copied().for_each(&mut note);
        self.users.iter().copied().for_each(&mut note);
        if let Some(obj) = seen.iter().position(|&n| n != 1) {
            panic!("{ctx}: object {obj} is in {} places", seen[obj]);
        }
        let limit = self.depots[0].limit();
        let bound = self.cpus.len() * 2 * max + self.nodes * limit * max;
        assert!(parked <= bound, "{ctx}: {parked} parked, bound {bound}");
    }
}

#[test]
fn system_conserves_objects() {
    let mut seen = Coverage::default();
    for seed in 0..SEEDS {
        let mut sys = System::new(seed);
        for step in 0..STEPS {
            let ctx = std::format!("seed {seed} step {step}");
            let cpu = sys.rng.below(sys.cpus.len());
            match sys.rng.below(100) {
                // Bursts: the users hold up to a few magazines' worth.
                0..=44 if sys.users.len() < 4 * MAGAZINE_MAX => {
                    let obj = sys.alloc(cpu);
                    sys.users.push(obj);
                }
                // Frees on any CPU, not only the allocating one.
                0..=89 if !sys.users.is_empty() => {
                    let i = sys.rng.below(sys.users.len());
                    let obj = sys.users.swap_remove(i);
                    sys.free(cpu, obj);
                }
                90..=93 => sys.interval(),
                94..=95 => {
                    let nr = sys.rng.range(0, 200);
                    let scope = if sys.rng.chance(80) {
                        TrimScope::Excess
                    } else {
                        TrimScope::All
                    };
                    sys.shrink(nr, scope);
                }
                96 => sys.cpu_dead(cpu),
                97 => {
                    let want = sys.rng.range(1, MAGAZINE_MAX);
                    let _ = sys.controller.set(want);
                }
                _ => {}
            }
            sys.check(&ctx);
        }
        // Everything freed and trimmed: every object back in the backing cache.
        while let Some(obj) = sys.users.pop() {
            sys.free(0, obj);
        }
        for cpu in 0..sys.cpus.len() {
            sys.cpu_dead(cpu);
        }
        sys.shrink(usize::MAX, TrimScope::All);
        sys.check(&std::format!("seed {seed} end"));
        for depot in &sys.depots {
            assert_eq!(depot.full_len() + depot.objects(), 0, "seed {seed}");
        }
        let cached: usize = sys.cpus.iter().map(|p| p.len()).sum();
        assert_eq!(cached, 0, "seed {seed}");
        assert_eq!(sys.backing.len(), sys.made as usize, "seed {seed}");
        seen.add(&sys.seen);
    }
    std::eprintln!("paths run: {seen:?}");
    assert!(seen.all(), "a path never ran: {seen:?}");
}

// SPDX-License-Identifier: GPL-2.0

//! The depot's two-phase trade, with concurrent actors: every interleaving of a few small cases,
//! and random schedules of larger ones, checked after every step.
//!
//! The policy is the module's own (`rust/policy/`): [`Depot`], [`MagazinePair`] and the
//! decisions they make are the functions the kernel calls, and each step below calls the same
//! one as the kernel for the same step: the pop or push with the swap (`MagazinePair::pop`,
//! `MagazinePair::push_magazine`: `alloc_step`, `free_step`), the take
//! ([`Depot::get_full`], [`Depot::get_empty_for_full`]), the re-check that commits the trade
//! with the CPU re-locked ([`MagazinePair::commit_full`], [`MagazinePair::commit_empty`]), the
//! give-back ([`Depot::put_full`], [`Depot::put_empty`]) and the resize
//! ([`MagazinePair::set_capacity`]). What this file adds is the kernel's protocol around them
//! (`rust/magazines/state.rs`, `rust/cache/alloc.rs`, `rust/cache/free.rs`,
//! `rust/magazines/magazine.rs`), rewritten as state machines whose steps are the protocol's
//! atomic sections, and a scheduler of its own (no `loom` here: the crate has no dependencies)
//! that interleaves them.
//!
//! # The protocol, as the kernel runs it
//!
//! `[cpu]` is a section under the current CPU's `local_trylock_t`, pinned
//! (`CacheState::with_this_cpu`, `with_this_cpu_raw`): the trylock may fail, and then the
//! section does not run. `[depot]` is a section under a node's depot spinlock, interrupts off
//! (`CacheState::lock_depot`). `[backing]` is a call into the backing cache, with neither lock
//! held and unpinned. `node` is `this_node()`, read unpinned: the task may be on another CPU,
//! of another node, by the time it uses it. `capacity` is the capacity now, read in the
//! section that uses it. Between any two sections the task may migrate, and an interrupt (or,
//! on PREEMPT_RT, another task on the CPU) may run on the CPU: while a section holds the CPU's
//! lock, whatever runs there finds the trylock failing.
//!
//! **Allocation** (`rust/cache/alloc.rs`: `Cache::alloc`, `alloc_miss`, `load_from_depot`,
//! `refill_and_pop`, `refill_this_cpu`, `alloc_backing`):
//!
//! 1. `[cpu]` `alloc` (raw): pop the loaded magazine. Trylock failed: `alloc_bypass_trylock`,
//!    then `[backing]` one object (`alloc_backing`). Popped: done. Empty: 2.
//! 2. `[cpu]` `alloc_miss`: pop with the swap (`CpuMagazines::pop`, i.e. `MagazinePair::pop`).
//!    Popped: done. Both empty, *or the trylock failed*: 3.
//! 3. Where `depot_allowed()` (a task or a softirq with interrupts on; not a hard interrupt):
//!    `load_from_depot(node, pop)`:
//!    1. `[depot]` `CacheState::get_full(node)`: [`Depot::get_full`]. None: `depot_miss`, and 4.
//!    2. `CacheState::fit` (unlocked): the magazine gets the capacity now; the objects beyond it
//!       go `[backing]`.
//!    3. `[cpu]` the re-check. Trylock failed: nothing installed. The CPU's magazines are of
//!       another node than `node` (the task moved): nothing installed. Otherwise
//!       `CpuMagazines::commit_full` ([`MagazinePair::commit_full`] with `capacity`): both
//!       magazines still empty and the full one fits the capacity now: it becomes the loaded
//!       one (`depot_get`), the old loaded one is in hand; not empty any more (an interrupt, or
//!       on PREEMPT_RT another task, freed meanwhile), or the capacity shrank below what it
//!       holds: nothing installed. Then, unless the trylock failed or the node differed, pop
//!       (with the swap).
//!    4. Unlocked, a full magazine not installed goes back: `CacheState::put_full(node)`: fit
//!       again, `[depot]` [`Depot::put_full`] with `capacity`; unfit (the capacity shrank since
//!       the fit): again; refused (the list reached its limit meanwhile):
//!       `CacheState::recycle`: `[backing]` all its objects, `[depot]` [`Depot::put_empty`]
//!       with `capacity`; refused too: the magazine is freed.
//!    5. Unlocked, the replaced loaded magazine: `CacheState::recycle(node)` (it holds nothing).
//!    6. Popped: done. Otherwise 4.
//! 4. The gfp flags may not block (or a hard interrupt): `alloc_bypass_noblock`, `[backing]` one.
//! 5. `refill_and_pop`: `[backing]` `batch()` objects (on `this_node()` on NUMA); `[cpu]`
//!    `refill_this_cpu`: objects of another node than the CPU's go aside (`refill_remote_node`),
//!    the loaded magazine takes what fits (`fill_from`, `array_refill`), pop with the swap;
//!    trylock failed: nothing. Unlocked: nothing popped, the batch's last object
//!    (`alloc_backing`); `[backing]` the rest of the batch and the remote objects. Still nothing:
//!    `alloc_bypass_refill_failed`, `[backing]` one.
//!
//! **Free** (`rust/cache/free.rs`: `Cache::free`, `free_checked`, `push_or_overflow`,
//! `free_overflow`, `put_full_counted`, `free_backing`; `rust/magazines/state.rs`:
//! `get_empty_for_full`):
//!
//! 1. `[cpu]` `push_or_overflow` (raw): trylock failed: `free_bypass_trylock`, `[backing]`. On
//!    NUMA an object of another node than the CPU's: `free_remote_node`, `[backing]`. Pushed
//!    onto the loaded magazine: done. Full: 2.
//! 2. `[cpu]` `free_overflow`: push with the swap (`CpuMagazines::push`, i.e.
//!    `MagazinePair::push_magazine`). Pushed: done. Both full, the trylock failed or another
//!    node: 3.
//! 3. `node = this_node()`. Where `depot_allowed()`: `CacheState::get_empty_for_full(node)`:
//!    `[depot]` [`Depot::get_empty_for_full`]: an empty magazine; none, but room for the full
//!    one: `new_magazine(GFP_NOWAIT)`, which may fail; at the limit (a miss in the depot's
//!    counts): nothing. Nothing: `depot_miss`.
//! 4. `[cpu]` the re-check (`free_bypass_trylock` when the trylock fails: not cached). Another
//!    node than the object's: `free_remote_node`, not cached. With the empty magazine:
//!    `CpuMagazines::commit_empty` ([`MagazinePair::commit_empty`] with `capacity`): both still
//!    full, it replaces the loaded one with the capacity now, which is in hand with *this
//!    CPU's* node; not full any more (an interrupt allocated, the task moved to a CPU with
//!    room), it stays in hand. Without, both full and where `bulk_allowed()`, `batch()`
//!    objects of the top of the loaded magazine are taken (`array_flush`). Then push with the
//!    swap: cached, or `free_bypass_full`.
//! 5. Unlocked: the full magazine to its node's depot (`put_full_counted`: `depot_put`, or
//!    `depot_miss` and its objects `[backing]` through `recycle`), the unused empty magazine
//!    `recycle(node)`, `[backing]` the flushed objects, and when not cached `[backing]` the
//!    object (`free_backing`).
//!
//! **Bulk free** (`Cache::free_bulk`, `push_bulk`, `trade_full_loaded`): `[cpu]` `push_bulk`
//! pushes the objects of the CPU's node until both magazines are full, the others aside
//! (trylock failed: all `[backing]`); while objects are left untried and the depot is allowed,
//! `trade_full_loaded`: `node = this_node()`, `get_empty_for_full(node)` (3 above; nothing:
//! stop), `[cpu]` re-check: `commit_empty` as in 4; room is whether they are not full now
//! (trylock failed: no room); unlocked, the full one `put_full_counted` to the CPU's node, the
//! unused empty one `recycle(node)`; room: `[cpu]` `push_bulk` again (trylock failed, or
//! nothing tried: stop). Then `[backing]` what is left (`free_backing`).
//!
//! **Bulk allocation** (`Cache::alloc_bulk_zeroing`, `pop_bulk`): `[cpu]` pop up to `n`
//! (trylock failed: nothing, all from the backing cache); while short and the depot is allowed,
//! `load_from_depot(this_node(), pop the rest)` (3 of the allocation), until it gives nothing;
//! `[backing]` the rest.
//!
//! **Flush** (`CacheState::flush_this_cpu`, run by the shrinker and `pcpu_array_shrink()` in a
//! kworker bound to the CPU): `[cpu]` take the oldest `min(left, BATCH_MAX)` objects (previous
//! magazine first; trylock failed: none), `[backing]` them, again while a whole batch came.
//! **Trim** (`CacheState::trim_depots`): for each depot, `[depot]` [`Depot::trim`],
//! `[backing]` the magazine's objects, the magazine freed; again until nothing comes.
//! `end_depot_intervals`: `[depot]` [`Depot::end_interval`] for each node. **Capacity**
//! (`CacheState::set_capacity`): store the capacity, trim every depot, then on each CPU (a
//! bound kworker) `resize_this_cpu`: `[cpu]` set both magazines' capacity
//! ([`MagazinePair::set_capacity`]), or take the `BATCH_MAX` oldest objects and `[backing]`
//! them and try again (the trylock failing 8 times gives up).
//!
//! # The model
//!
//! A [`World`] holds the CPUs' [`MagazinePair`]s (of [`Mag`], a magazine on the heap with a tag,
//! as the kernel's `KBox<Magazine>`), one real [`Depot`] per node, the backing cache's free
//! objects, and the actors. Objects are `u32` ids, each of a node. An [`Actor`] is a task, a
//! softirq or a hard interrupt running a script of [`Op`]s; each op is a state machine of
//! [`Phase`]s, one per section above, plus local work (decisions, counters, moving things
//! between its hands) folded into the step before it. A step ([`World::step`]) runs one section;
//! a [`Move`] is a step of one actor or the migration of a task to another CPU. Scheduling rules:
//!
//! - A task between two sections may migrate (up to its budget), unless an interrupt is running
//!   on its CPU. Holding a CPU's lock it is pinned: the unlock is a step of its own whenever
//!   someone could see the lock held (an interrupt on that CPU, or PREEMPT_RT), otherwise the
//!   section ends with it.
//! - An interrupt starts an op (it "fires") on its CPU between any two steps of the task there,
//!   lock held or not, and runs until the op is done before any task of that CPU runs again;
//!   a hard interrupt may fire inside a softirq, nothing inside a hard interrupt. The depot
//!   sections, whole steps, are never interrupted (interrupts are off under the depot lock).
//! - Without PREEMPT_RT a task holding its CPU's lock keeps the other tasks of that CPU off it
//!   (preemption is off); with it they run, find the trylock failing, and a hard interrupt's
//!   trylock always fails.
//! - Contexts: a task may use the depot and the bulk API and refills when its gfp flags block;
//!   a softirq may use the depot and the bulk API, never refills (`GFP_ATOMIC`); a hard
//!   interrupt does none of these.
//!
//! Not modelled: CPU hotplug (`flush_dead_cpu`, `prepare_cpu`), the placement bypasses that
//! happen before the magazines are looked at (memory cgroups, reserves, KFENCE), KASAN, the
//! adaptive controller (it changes the capacity through the same `set_capacity`), failures of
//! the backing cache, and the depot lock's contention counter (a depot section is one step).
//!
//! # What is checked
//!
//! After every step ([`World::check`]): every object is in exactly one place (a magazine on a
//! CPU, in a depot or in an actor's hands, a batch in hand, the backing cache, or a user), every
//! magazine is in exactly one place and as many as were made and not freed; capacities within
//! `1..=` the largest ever set; each depot list within its limit, full ones non-empty and empty
//! ones empty, [`Depot::objects`] their sum; on NUMA every object of a CPU's magazines or of a
//! depot is of that CPU's or depot's node; the objects parked within the memory bound; each
//! CPU's `objects_cached` level (base + `free_array` - `alloc_array`, as `crate::magazines::stats` derives
//! it) equal to what its magazines hold; `in_use()` (allocations minus frees, as the kernel
//! counts them) equal to what the users hold; the locks and interrupt stacks consistent; a
//! shadow of the depot's working-set minima equal to what [`Depot::excess_full`] shows. At the
//! end ([`World::check_end`]): nothing left in hand or locked, the users hold what their scripts
//! say, and the trades and misses [`Depot::end_interval`] reports equal what the model saw move
//! in and out of each depot.
//!
//! Once `CacheState::set_capacity` has returned (and until the next one begins), every
//! magazine of a depot and of a CPU has its capacity, but on a CPU whose `resize_this_cpu`
//! gave up: a magazine takes the capacity it reads under the lock of the depot it reaches
//! ([`Depot::put_full`], [`Depot::put_empty`]) or of the CPU that installs it
//! ([`MagazinePair::commit_full`], [`MagazinePair::commit_empty`]), and `set_capacity` empties
//! each depot and resizes each CPU under those locks after it stores the capacity. (Fitting
//! before taking the lock, as the module once did, fails this in the case "capacity change".)
//!
//! [`explore`] walks every interleaving depth first, replaying the schedule from the start to
//! backtrack (the depot cannot be cloned), and merges the states already seen by a 128-bit
//! fingerprint of everything that decides the future (counters that only the checks read are
//! left out: each check holds on every path it is made on, so a merged state's are equal).
//! The counts of complete schedules it reports are exact. [`run_random`] runs long random
//! schedules of larger systems.

use crate::{
    policy::{
        depot::{
            Depot,
            EmptyForFull,
            IntervalCounts,
            Refused,
            TrimScope, //
        },
        pair::MagazinePair,
    },
    reference::PlainMagazine,
};
use core::{
    hash::{
        Hash,
        Hasher, //
    },
    ops::{
        Deref,
        DerefMut, //
    },
};
use std::{
    boxed::Box,
    collections::{
        hash_map::DefaultHasher,
        BTreeSet,
        HashMap, //
    },
    format,
    string::String,
    vec,
    vec::Vec, //
};

/// The most objects one batch carries (`crate::magazines::magazine::BATCH_MAX`).
const BATCH_MAX: usize = 32;

/// Times `resize_this_cpu` tries a CPU's lock before it gives up.
const RESIZE_TRIES: u32 = 8;

/// The refill and flush size for `capacity` (`crate::magazines::magazine::batch_for`).
fn batch_for(capacity: usize) -> usize {
    (capacity / 2).max(1)
}

/// Marsaglia's xorshift64: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next number.
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (`n > 0`).
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

/// A magazine on the heap, as the kernel's `MagazineBox` (`KBox<Magazine>`): what moves
/// between a CPU, a depot and an actor's hands as one pointer. The tag names it in traces and in the
/// check that no magazine is lost or duplicated.
struct Mag {
    /// The magazine's name.
    tag: u32,
    /// The magazine.
    inner: Box<PlainMagazine<u32>>,
}

impl Deref for Mag {
    type Target = PlainMagazine<u32>;

    fn deref(&self) -> &PlainMagazine<u32> {
        &self.inner
    }
}

impl DerefMut for Mag {
    fn deref_mut(&mut self) -> &mut PlainMagazine<u32> {
        &mut self.inner
    }
}

/// Moves the `n` oldest objects of `m` (fewer when it holds fewer) to the end of `out`, as
/// `PlainMagazine::take_oldest_into`. Returns how many moved.
fn take_oldest(m: &mut PlainMagazine<u32>, n: usize, out: &mut Vec<u32>) -> usize {
    let objs: Vec<u32> = m.iter().collect();
    let n = n.min(objs.len());
    while m.pop().is_some() {}
    out.extend_from_slice(&objs[..n]);
    for &obj in &objs[n..] {
        let pushed = m.push(obj);
        assert!(pushed.is_ok());
    }
    n
}

/// Moves the `n` newest objects of `m` to the end of `out`, as `PlainMagazine::take_into`. Returns
/// how many moved.
fn take_newest(m: &mut PlainMagazine<u32>, n: usize, out: &mut Vec<u32>) -> usize {
    let objs: Vec<u32> = m.iter().collect();
    let n = n.min(objs.len());
    let keep = objs.len() - n;
    while m.pop().is_some() {}
    for &obj in &objs[..keep] {
        let pushed = m.push(obj);
        assert!(pushed.is_ok());
    }
    out.extend_from_slice(&objs[keep..]);
    n
}

/// The context an actor runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// A task: may sleep, use the depot and the bulk API, and migrate between sections.
    Task,
    /// A softirq on one CPU: uses the depot and the bulk API, never refills, never migrates.
    SoftIrq,
    /// A hard interrupt on one CPU: no depot, no bulk call, no refill.
    HardIrq,
}

/// One operation of an actor's script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    /// `Cache::alloc`: one object for the actor's user.
    Alloc,
    /// `Cache::free` of the object the user got last.
    Free,
    /// `Cache::alloc_bulk` of this many objects.
    AllocBulk(usize),
    /// `Cache::free_bulk` of this many objects, the user's last ones.
    FreeBulk(usize),
    /// `CacheState::flush_this_cpu` with this budget, on the actor's CPU.
    Flush(usize),
    /// `CacheState::trim_depots` with this budget, every magazine (`true`) or the excess.
    Trim(bool, usize),
    /// `CacheState::end_depot_intervals`.
    EndIntervals,
    /// `CacheState::set_capacity` to this capacity.
    SetCapacity(usize),
}

/// Where an actor is in its current op: the next section it runs, or a decision taken with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum Phase {
    /// Between two ops: the next step starts the next one.
    #[default]
    Idle,
    /// Holding its CPU's lock after a section: the next step releases it.
    Unlock,
    /// The op is over.
    Done,
    /// `this_node()`, read unpinned, then `Hands::after_node`.
    ReadNode,
    /// Allocation, 1: the hit path's pop of the loaded magazine.
    AllocHit,
    /// Allocation, 2: `alloc_miss`'s pop with the swap.
    AllocMiss,
    /// Allocation: to the depot, or past it.
    AllocDepot,
    /// `load_from_depot`: `CacheState::get_full`.
    LoadGet,
    /// `load_from_depot`: `CacheState::fit` of the full magazine.
    LoadFit,
    /// `load_from_depot`: the re-check and the install.
    LoadLock,
    /// `load_from_depot` is over: what next.
    LoadDone,
    /// Allocation: a refill, or the backing cache.
    RefillDecide,
    /// `refill_and_pop`: the bulk allocation.
    RefillBulk,
    /// `refill_this_cpu`: the refill and the pop.
    RefillLock,
    /// `refill_and_pop`: the batch's last object, the rest back.
    RefillFree,
    /// `alloc_backing`: one object from the backing cache.
    AllocBacking,
    /// The magazines in hand go back: the full one, then the empty one.
    GiveBack,
    /// `CacheState::put_full`: its `fit`.
    PutFullFit,
    /// `CacheState::put_full`: the depot.
    PutFull,
    /// `CacheState::recycle`: its objects to the backing cache.
    RecycleDrain,
    /// `CacheState::recycle`: to the depot's empty list, or freed.
    RecyclePut,
    /// Free, 1: the hit path's push onto the loaded magazine.
    FreeHit,
    /// Free, 2: `free_overflow`'s push with the swap.
    FreeSwap,
    /// Free: to the depot, or past it.
    FreeDepot,
    /// `get_empty_for_full`: the depot.
    GetEmpty,
    /// `get_empty_for_full`: `new_magazine(GFP_NOWAIT)`.
    NewMag,
    /// `free_overflow`: the re-check, the trade or the flush, the push.
    FreeLock,
    /// `free_overflow`: the flushed objects to the backing cache.
    FreeBatch,
    /// `free_backing` of the object.
    FreeBacking,
    /// `free_bulk`: `push_bulk`.
    BulkPush,
    /// `free_bulk`: another trade, or the end.
    BulkLoop,
    /// `trade_full_loaded`: the re-check and the trade.
    BulkTradeLock,
    /// `trade_full_loaded` is over.
    BulkAfterTrade,
    /// `free_bulk`: what is left to the backing cache.
    BulkFreeRest,
    /// `pop_bulk`: the pops.
    BulkPop,
    /// `pop_bulk`: another depot load, or the end.
    BulkAllocLoop,
    /// `alloc_bulk_zeroing`: the rest from the backing cache.
    BulkAllocRest,
    /// `flush_this_cpu`: the oldest objects out.
    FlushLock,
    /// `flush_this_cpu`: to the backing cache.
    FlushFree,
    /// `trim_depots`: [`Depot::trim`].
    TrimGet,
    /// `trim_depots`: the magazine's objects to the backing cache.
    TrimDrain,
    /// `trim_depots` is over.
    TrimDone,
    /// `end_depot_intervals`: one depot.
    EndInterval,
    /// `set_capacity`: the store.
    CapStore,
    /// `set_capacity`: the resizes start.
    ResizeStart,
    /// `resize_this_cpu`: one try.
    ResizeLock,
    /// `resize_this_cpu`: the oldest objects to the backing cache.
    ResizeFree,
}

/// What an actor carries between two sections: the locals of the kernel's functions.
#[derive(Default)]
struct Hands {
    /// The user's objects in flight: those being freed, those allocated but not returned yet.
    user: Vec<u32>,
    /// A batch: a refill's objects, a flush's.
    batch: Vec<u32>,
    /// A refill's objects of another node.
    remote: Vec<u32>,
    /// A full magazine: taken from a depot, or replaced on a CPU.
    full: Option<Mag>,
    /// The node whose depot `full` goes back to.
    full_node: usize,
    /// Whether `full` goes back through `put_full_counted` (counting `depot_put`/`depot_miss`).
    counted: bool,
    /// An empty magazine: from a depot, new, or replaced on a CPU.
    empty: Option<Mag>,
    /// The node whose depot `empty` goes back to.
    empty_node: usize,
    /// The magazine going through `CacheState::recycle`, or a trimmed one.
    recycling: Option<Mag>,
    /// The node whose depot `recycling` goes to.
    recycle_node: usize,
    /// `this_node()` as read; the depot index of a trim or an interval.
    node: usize,
    /// What [`Phase::ReadNode`] goes on with.
    after_node: Phase,
    /// Where a sub-protocol (giving back, getting an empty magazine, trimming) returns.
    ret: Phase,
    /// What [`Phase::Unlock`] goes on with.
    resume: Phase,
    /// How many objects the `take` of `load_from_depot` pops.
    take: usize,
    /// The result of `load_from_depot` or of a refill: `None` when the section did not run,
    /// otherwise how many objects it popped.
    took: Option<usize>,
    /// A bulk allocation: objects wanted.
    want: usize,
    /// A bulk allocation: objects got so far.
    got: usize,
    /// A bulk free: `objs[..remote]` are of another node.
    remote_end: usize,
    /// Whether the bulk free's `push_bulk` is its first.
    first_push: bool,
    /// Whether the free went into a magazine.
    cached: bool,
    /// Whether `trade_full_loaded` left room.
    room: bool,
    /// Objects a flush or a trim may still take.
    budget: usize,
    /// Objects a flush took in its last section.
    taken: usize,
    /// Objects a trim gave back.
    freed: usize,
    /// Whether the trim takes every magazine.
    all: bool,
    /// Failed tries of `resize_this_cpu`.
    busy: u32,
    /// The capacity `set_capacity` stores, or `resize_this_cpu` read.
    cap: usize,
    /// Whether `resize_this_cpu` succeeded on this CPU.
    resized: bool,
}

impl Hands {
    /// Whether the actor holds nothing.
    fn is_empty(&self) -> bool {
        self.user.is_empty()
            && self.batch.is_empty()
            && self.remote.is_empty()
            && self.full.is_none()
            && self.empty.is_none()
            && self.recycling.is_none()
    }
}

/// How an actor is described to a [`World`].
#[derive(Clone, Debug)]
struct Spec {
    /// Its name in traces.
    name: &'static str,
    /// Its context.
    kind: Kind,
    /// The CPU it starts on (an interrupt's, for good).
    cpu: usize,
    /// How many times it may migrate.
    migrations: u32,
    /// Whether its allocations may block (and so refill).
    blocking: bool,
    /// Objects its user holds at the start, allocated from the backing cache.
    holding: usize,
    /// What it does.
    script: Vec<Op>,
}

impl Spec {
    /// A task on `cpu`, blocking, not migrating.
    fn task(name: &'static str, cpu: usize, script: &[Op]) -> Self {
        Self {
            name,
            kind: Kind::Task,
            cpu,
            migrations: 0,
            blocking: true,
            holding: 0,
            script: script.to_vec(),
        }
    }

    /// A softirq on `cpu`.
    fn softirq(name: &'static str, cpu: usize, script: &[Op]) -> Self {
        Self {
            kind: Kind::SoftIrq,
            blocking: false,
            ..Self::task(name, cpu, script)
        }
    }

    /// A hard interrupt on `cpu`.
    fn hardirq(name: &'static str, cpu: usize, script: &[Op]) -> Self {
        Self {
            kind: Kind::HardIrq,
            blocking: false,
            ..Self::task(name, cpu, script)
        }
    }

    /// The same, migrating up to `n` times.
    fn migrating(self, n: u32) -> Self {
        Self {
            migrations: n,
            ..self
        }
    }

    /// The same, holding `n` objects at the start.
    fn holding(self, n: usize) -> Self {
        Self { holding: n, ..self }
    }

    /// The same, with allocations that may not block.
    fn atomic(self) -> Self {
        Self {
            blocking: false,
            ..self
        }
    }
}

/// A system to run: CPUs, depots, the capacity, the actors.
#[derive(Clone, Debug)]
struct Config {
    /// Its name in reports.
    name: &'static str,
    /// The memory node of each CPU.
    cpu_nodes: Vec<usize>,
    /// Memory nodes (depots).
    nodes: usize,
    /// The capacity at the start.
    capacity: usize,
    /// Each depot list's limit.
    limit: usize,
    /// PREEMPT_RT.
    rt: bool,
    /// Whether `new_magazine(GFP_NOWAIT)` fails.
    nowait_fails: bool,
    /// Objects in each CPU's loaded and previous magazines at the start.
    cpus: Vec<(usize, usize)>,
    /// Per node, the objects of each full magazine of its depot at the start, and how many
    /// empty magazines it holds.
    depots: Vec<(Vec<usize>, usize)>,
    /// The actors.
    actors: Vec<Spec>,
}

impl Config {
    /// A system of `ncpus` CPUs on one node, empty magazines and depots, no actors.
    fn new(name: &'static str, ncpus: usize, capacity: usize, limit: usize) -> Self {
        Self {
            name,
            cpu_nodes: vec![0; ncpus],
            nodes: 1,
            capacity,
            limit,
            rt: false,
            nowait_fails: false,
            cpus: vec![(0, 0); ncpus],
            depots: vec![(Vec::new(), 0)],
            actors: Vec::new(),
        }
    }

    /// The largest capacity the system ever has.
    fn max_capacity(&self) -> usize {
        let set = self.actors.iter().flat_map(|s| s.script.iter());
        set.fold(self.capacity, |max, op| match *op {
            Op::SetCapacity(c) => max.max(c),
            _ => max,
        })
    }

    /// Whether the capacity changes.
    fn resizing(&self) -> bool {
        let mut ops = self.actors.iter().flat_map(|s| s.script.iter());
        ops.any(|op| matches!(op, Op::SetCapacity(_)))
    }
}

/// One CPU: its lock, its magazines and their counters.
struct Cpu {
    /// The loaded and previous magazines (`CpuMagazines`).
    pair: MagazinePair<Mag>,
    /// The memory node of its magazines.
    node: usize,
    /// The actor holding its `local_trylock_t`.
    lock: Option<usize>,
    /// Its `alloc_array` counter.
    alloc_array: u64,
    /// Its `free_array` counter.
    free_array: u64,
    /// The base of its `objects_cached` level (`crate::magazines::stats`).
    cached_base: u64,
}

impl Cpu {
    /// Whether both magazines are full (`CpuMagazines::is_full`, [`MagazinePair::is_full`]): a
    /// free would trade.
    fn is_full(&self) -> bool {
        self.pair.is_full()
    }

    /// The tags of its loaded and previous magazines.
    fn tags(&mut self) -> [u32; 2] {
        [self.pair.loaded_owner().tag, self.pair.previous_owner().tag]
    }

    /// Objects held.
    fn len(&self) -> usize {
        self.pair.len()
    }

    /// `ThisCpuStats::set_cached`, at the end of a `with_this_cpu` section.
    fn set_cached(&mut self) {
        self.cached_base = (self.len() as u64)
            .wrapping_sub(self.free_array)
            .wrapping_add(self.alloc_array);
    }

    /// The `objects_cached` level (`CpuStats::get`).
    fn level(&self) -> u64 {
        self.cached_base
            .wrapping_add(self.free_array)
            .wrapping_sub(self.alloc_array)
    }

    /// `CpuMagazines::set_capacity`: [`MagazinePair::set_capacity`].
    fn set_capacity(&mut self, capacity: usize) -> bool {
        self.pair.set_capacity(capacity).is_ok()
    }

    /// `CpuMagazines::take_oldest_into`: the previous magazine's first.
    fn take_oldest(&mut self, n: usize, out: &mut Vec<u32>) -> usize {
        let from_previous = take_oldest(self.pair.previous_mut(), n, out);
        from_previous + take_oldest(self.pair.loaded_mut(), n - from_previous, out)
    }
}

/// What the model saw of one depot, and the depot's hidden state it must agree with.
#[derive(Clone, Copy, Default)]
struct Shadow {
    /// The working-set minima and excess of [`Depot`], followed from outside.
    min_full: usize,
    /// See `min_full`.
    min_empty: usize,
    /// See `min_full`.
    reap_full: usize,
    /// See `min_full`.
    reap_empty: usize,
    /// Magazines seen going in or out (not counting trims).
    trades: u64,
    /// Requests seen finding nothing to take or no room.
    misses: u64,
    /// What [`Depot::end_interval`] returned so far.
    reported: IntervalCounts,
}

/// The kernel's counters that are not per CPU in this model (`crate::magazines::stats::Stat`).
#[derive(Clone, Copy, Debug)]
enum Stat {
    /// `alloc_backing`.
    AllocBacking,
    /// `free_backing`.
    FreeBacking,
    /// `alloc_bypass_trylock`.
    AllocBypassTrylock,
    /// `free_bypass_trylock`.
    FreeBypassTrylock,
    /// `alloc_bypass_noblock`.
    AllocBypassNoBlock,
    /// `alloc_bypass_refill_failed`.
    AllocBypassRefillFailed,
    /// `free_bypass_full`.
    FreeBypassFull,
    /// `free_remote_node`.
    FreeRemoteNode,
    /// `refill_remote_node`.
    RefillRemoteNode,
    /// `array_refill`.
    ArrayRefill,
    /// `array_flush`.
    ArrayFlush,
    /// `depot_get`.
    DepotGet,
    /// `depot_put`.
    DepotPut,
    /// `depot_miss`.
    DepotMiss,
    /// `depot_trim`.
    DepotTrim,
    /// `shrink_flush`.
    ShrinkFlush,
    /// `capacity_resize`.
    CapacityResize,
}

/// How many [`Stat`]s there are.
const NR_STATS: usize = Stat::CapacityResize as usize + 1;

/// One actor: a task or an interrupt, and where it is in its script.
struct Actor {
    /// Its name.
    name: &'static str,
    /// Its context.
    kind: Kind,
    /// The CPU it runs on.
    cpu: usize,
    /// Migrations left.
    migrations: u32,
    /// Whether its allocations may block.
    blocking: bool,
    /// Its ops.
    script: Vec<Op>,
    /// The op it runs, or runs next.
    pc: usize,
    /// Where it is in that op.
    phase: Phase,
    /// What it carries.
    hands: Hands,
    /// The objects its user holds.
    holding: Vec<u32>,
}

impl Actor {
    /// Whether its script is over.
    fn done(&self) -> bool {
        self.phase == Phase::Idle && self.pc == self.script.len()
    }
}

/// A choice of the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    /// The actor runs its next step.
    Step(usize),
    /// The task moves to the CPU.
    Migrate(usize, usize),
}

/// The whole system.
struct World<'c> {
    /// What it was made from.
    cfg: &'c Config,
    /// Whether the capacity may change ([`Config::resizing`]): the capacity is then read in
    /// steps of their own.
    resizing: bool,
    /// [`Config::max_capacity`].
    max_capacity: usize,
    /// Whether a CPU's lock can be seen held by another actor (an interrupt bound to it, or
    /// PREEMPT_RT).
    lock_seen: Vec<bool>,
    /// The CPUs.
    cpus: Vec<Cpu>,
    /// One depot per node.
    depots: Vec<Depot<Mag>>,
    /// What the model saw of each depot.
    shadows: Vec<Shadow>,
    /// The magazine capacity now.
    capacity: usize,
    /// The capacity the last `set_capacity` that returned set, while no other has begun since:
    /// every magazine of a depot and of a CPU then has it (but on a CPU whose resize gave up).
    settled: Option<usize>,
    /// The CPUs whose `resize_this_cpu` gave up during the last `set_capacity`.
    unresized: Vec<bool>,
    /// The backing cache's free objects, per node.
    backing: Vec<BTreeSet<u32>>,
    /// The node of each object made: ids `0..obj_node.len()`.
    obj_node: Vec<usize>,
    /// The actors.
    actors: Vec<Actor>,
    /// The interrupts running on each CPU, innermost last.
    irqs: Vec<Vec<usize>>,
    /// The counters of [`Stat`].
    stats: [u64; NR_STATS],
    /// Magazines made and not freed.
    mags_live: usize,
    /// The next magazine's tag.
    next_tag: u32,
    /// Objects the users held at the start.
    initial_holding: usize,
    /// Objects allocated by completed ops.
    allocated: usize,
    /// Objects freed by completed ops.
    freed: usize,
    /// The phases each step ran, when tracing.
    trace: Option<Vec<String>>,
    /// How many times each phase ran, when counting.
    coverage: Option<HashMap<Phase, u64>>,
}

impl<'c> World<'c> {
    /// The system `cfg` describes, at its start.
    fn new(cfg: &'c Config) -> Self {
        let ncpus = cfg.cpu_nodes.len();
        let mut lock_seen = vec![cfg.rt; ncpus];
        for spec in &cfg.actors {
            if spec.kind != Kind::Task {
                lock_seen[spec.cpu] = true;
            }
        }
        let mut w = Self {
            cfg,
            resizing: cfg.resizing(),
            max_capacity: cfg.max_capacity(),
            lock_seen,
            cpus: Vec::new(),
            depots: (0..cfg.nodes).map(|_| Depot::new(cfg.limit)).collect(),
            shadows: vec![Shadow::default(); cfg.nodes],
            capacity: cfg.capacity,
            settled: None,
            unresized: vec![false; ncpus],
            backing: vec![BTreeSet::new(); cfg.nodes],
            obj_node: Vec::new(),
            actors: Vec::new(),
            irqs: vec![Vec::new(); ncpus],
            stats: [0; NR_STATS],
            mags_live: 0,
            next_tag: 0,
            initial_holding: 0,
            allocated: 0,
            freed: 0,
            trace: None,
            coverage: None,
        };
        for cpu in 0..ncpus {
            let node = cfg.cpu_nodes[cpu];
            let (loaded, previous) = cfg.cpus[cpu];
            let loaded = w.filled_mag(node, loaded);
            let previous = w.filled_mag(node, previous);
            let mut c = Cpu {
                pair: MagazinePair::new(loaded, previous),
                node,
                lock: None,
                alloc_array: 0,
                free_array: 0,
                cached_base: 0,
            };
            c.set_cached();
            w.cpus.push(c);
        }
        for (node, (fulls, empties)) in cfg.depots.iter().enumerate() {
            for &n in fulls {
                let m = w.filled_mag(node, n);
                assert!(
                    w.depot_put_full(node, m).is_ok(),
                    "{}: depot too small",
                    cfg.name
                );
            }
            for _ in 0..*empties {
                let m = w.new_mag();
                assert!(
                    w.depot_put_empty(node, m).is_ok(),
                    "{}: depot too small",
                    cfg.name
                );
            }
        }
        for spec in &cfg.actors {
            let node = cfg.cpu_nodes[spec.cpu];
            let holding: Vec<u32> = (0..spec.holding).map(|_| w.fresh(node)).collect();
            w.stats[Stat::AllocBacking as usize] += holding.len() as u64;
            w.initial_holding += holding.len();
            w.actors.push(Actor {
                name: spec.name,
                kind: spec.kind,
                cpu: spec.cpu,
                migrations: spec.migrations,
                blocking: spec.blocking,
                script: spec.script.clone(),
                pc: 0,
                phase: Phase::Idle,
                hands: Hands::default(),
                holding,
            });
        }
        w
    }

    /// The system `cfg` describes, after `schedule`.
    fn replay(cfg: &'c Config, schedule: &[Move]) -> Self {
        let mut w = Self::new(cfg);
        for &m in schedule {
            w.apply(m);
        }
        w
    }

    /// A new object of `node`.
    fn fresh(&mut self, node: usize) -> u32 {
        self.obj_node.push(node);
        (self.obj_node.len() - 1) as u32
    }

    /// A new empty magazine of the capacity now (`CacheState::new_magazine`).
    fn new_mag(&mut self) -> Mag {
        self.mags_live += 1;
        self.next_tag += 1;
        Mag {
            tag: self.next_tag,
            inner: Box::new(PlainMagazine::new(self.capacity)),
        }
    }

    /// A new magazine holding `n` new objects of `node`.
    fn filled_mag(&mut self, node: usize, n: usize) -> Mag {
        let mut m = self.new_mag();
        for _ in 0..n {
            let obj = self.fresh(node);
            assert!(m.push(obj).is_ok(), "{}: magazine too small", self.cfg.name);
        }
        m
    }

    /// Frees a magazine (drops its `KBox`): whatever it still holds is lost.
    fn drop_mag(&mut self, m: Mag) {
        self.mags_live -= 1;
        drop(m);
    }

    /// An object of `node` from the backing cache.
    fn backing_alloc(&mut self, node: usize) -> u32 {
        match self.backing[node].pop_first() {
            Some(obj) => obj,
            None => self.fresh(node),
        }
    }

    /// Gives `objs` back to the backing cache.
    fn backing_free(&mut self, objs: impl IntoIterator<Item = u32>) {
        for obj in objs {
            // A double free shows as an object in two places: the check finds it.
            self.backing[self.obj_node[obj as usize]].insert(obj);
        }
    }

    /// Counts `n` of `stat`.
    fn count(&mut self, stat: Stat, n: u64) {
        self.stats[stat as usize] += n;
    }

    /// Whether the system keeps objects apart by node (`Placement::numa`).
    fn numa(&self) -> bool {
        self.cfg.nodes > 1
    }

    /// Whether `obj` may go into CPU `cpu`'s magazines (`Placement::belongs_on`).
    fn belongs_on(&self, obj: u32, cpu: usize) -> bool {
        !self.numa() || self.obj_node[obj as usize] == self.cpus[cpu].node
    }

    /// `this_node()` for actor `a`.
    fn this_node(&self, a: usize) -> usize {
        self.cfg.cpu_nodes[self.actors[a].cpu]
    }

    /// `depot_allowed()` for actor `a`.
    fn depot_allowed(&self, a: usize) -> bool {
        self.actors[a].kind != Kind::HardIrq
    }

    /// `bulk_allowed()` for actor `a`.
    fn bulk_allowed(&self, a: usize) -> bool {
        self.actors[a].kind != Kind::HardIrq
    }

    /// `Cache::can_refill` for actor `a`'s allocations.
    fn can_refill(&self, a: usize) -> bool {
        self.actors[a].kind == Kind::Task && self.actors[a].blocking
    }

    /// `CacheState::fit`: gives `m` the capacity now, its oldest objects beyond it to the backing
    /// cache.
    fn fit(&mut self, m: &mut Mag) {
        let capacity = self.capacity;
        while m.set_capacity(capacity).is_err() {
            let excess = m.len() - capacity;
            let mut batch = Vec::new();
            take_oldest(m, excess.min(BATCH_MAX), &mut batch);
            self.backing_free(batch);
        }
    }

    /// [`Depot::get_full`] of `node`'s depot, as the model sees it.
    fn depot_get_full(&mut self, node: usize) -> Option<Mag> {
        let (d, s) = (&mut self.depots[node], &mut self.shadows[node]);
        let before = d.full_len();
        let got = d.get_full();
        if d.full_len() < before {
            s.trades += 1;
            s.min_full = s.min_full.min(d.full_len());
        } else {
            s.misses += 1;
        }
        got
    }

    /// [`Depot::put_full`] into `node`'s depot with the capacity now, as the model sees it.
    fn depot_put_full(&mut self, node: usize, m: Mag) -> Result<(), Refused<Mag>> {
        let (d, s) = (&mut self.depots[node], &mut self.shadows[node]);
        let before = d.full_len();
        let put = d.put_full(m, self.capacity);
        if d.full_len() > before {
            s.trades += 1;
        } else if let Err(Refused::Rejected(m)) = &put {
            if !m.is_empty() {
                s.misses += 1;
            }
        }
        put
    }

    /// [`Depot::get_empty_for_full`] of `node`'s depot, as the model sees it.
    fn depot_get_empty_for_full(&mut self, node: usize) -> EmptyForFull<Mag> {
        let (d, s) = (&mut self.depots[node], &mut self.shadows[node]);
        let before = d.empty_len();
        let at_limit = d.full_len() >= d.limit();
        let got = d.get_empty_for_full();
        if d.empty_len() < before {
            s.trades += 1;
            s.min_empty = s.min_empty.min(d.empty_len());
        } else if at_limit {
            s.misses += 1;
        }
        got
    }

    /// [`Depot::put_empty`] into `node`'s depot with the capacity now, as the model sees it.
    fn depot_put_empty(&mut self, node: usize, m: Mag) -> Result<(), Mag> {
        let (d, s) = (&mut self.depots[node], &mut self.shadows[node]);
        let before = d.empty_len();
        let put = d.put_empty(m, self.capacity);
        if d.empty_len() > before {
            s.trades += 1;
        }
        put
    }

    /// [`Depot::trim`] of `node`'s depot, as the model sees it.
    fn depot_trim(&mut self, node: usize, budget: &mut usize, scope: TrimScope) -> Option<Mag> {
        let (d, s) = (&mut self.depots[node], &mut self.shadows[node]);
        let (full, empty) = (d.full_len(), d.empty_len());
        let got = d.trim(budget, scope);
        if d.full_len() < full {
            s.min_full = s.min_full.min(d.full_len());
            s.reap_full = s.reap_full.saturating_sub(1);
        }
        if d.empty_len() < empty {
            s.min_empty = s.min_empty.min(d.empty_len());
            s.reap_empty = s.reap_empty.saturating_sub(1);
        }
        got
    }

    /// [`Depot::end_interval`] of `node`'s depot, as the model sees it.
    fn depot_end_interval(&mut self, node: usize) {
        let (d, s) = (&mut self.depots[node], &mut self.shadows[node]);
        let counts = d.end_interval();
        s.reported = s.reported.add(counts);
        s.reap_full = s.min_full;
        s.reap_empty = s.min_empty;
        s.min_full = d.full_len();
        s.min_empty = d.empty_len();
    }

    /// `local_trylock()` of actor `a`'s CPU: the CPU, or `None` when the lock is held (or, on
    /// PREEMPT_RT, in a hard interrupt).
    fn try_lock(&mut self, a: usize) -> Option<usize> {
        let c = self.actors[a].cpu;
        if self.cpus[c].lock.is_some() || (self.cfg.rt && self.actors[a].kind == Kind::HardIrq) {
            return None;
        }
        self.cpus[c].lock = Some(a);
        Some(c)
    }

    /// Ends actor `a`'s section on CPU `c`, which goes on with `then`: the unlock is a step of
    /// its own when another actor could find the lock held.
    fn hold(&mut self, a: usize, c: usize, then: Phase) {
        let act = &mut self.actors[a];
        if self.lock_seen[c] {
            act.hands.resume = then;
            act.phase = Phase::Unlock;
        } else {
            self.cpus[c].lock = None;
            act.phase = then;
        }
    }

    /// Sets actor `a`'s phase.
    fn go(&mut self, a: usize, phase: Phase) {
        self.actors[a].phase = phase;
    }

    /// Reads `this_node()` (in a step of its own when the task can move meanwhile), then goes
    /// on with `then`.
    fn read_node(&mut self, a: usize, then: Phase) {
        self.actors[a].hands.after_node = then;
        self.go(a, Phase::ReadNode);
    }

    /// Whether actor `a`'s next phase is a step: a section, or a read of something another
    /// actor changes. The others run at the end of the step before.
    fn visible(&self, a: usize) -> bool {
        let act = &self.actors[a];
        let h = &act.hands;
        match act.phase {
            Phase::Idle
            | Phase::Done
            | Phase::AllocDepot
            | Phase::LoadDone
            | Phase::RefillDecide
            | Phase::GiveBack
            | Phase::FreeDepot
            | Phase::BulkLoop
            | Phase::BulkAfterTrade
            | Phase::BulkAllocLoop
            | Phase::TrimDone
            | Phase::ResizeStart => false,
            Phase::ReadNode => act.migrations > 0,
            Phase::LoadFit | Phase::PutFullFit | Phase::NewMag => self.resizing,
            Phase::RecycleDrain => h.recycling.as_ref().is_some_and(|m| !m.is_empty()),
            Phase::FreeBatch | Phase::FlushFree | Phase::ResizeFree => !h.batch.is_empty(),
            Phase::TrimDrain => h.recycling.as_ref().is_some_and(|m| !m.is_empty()),
            Phase::BulkTradeLock => h.empty.is_some(),
            Phase::BulkFreeRest => !h.user.is_empty(),
            Phase::BulkAllocRest => h.got < h.want,
            Phase::Unlock
            | Phase::AllocHit
            | Phase::AllocMiss
            | Phase::LoadGet
            | Phase::LoadLock
            | Phase::RefillBulk
            | Phase::RefillLock
            | Phase::RefillFree
            | Phase::AllocBacking
            | Phase::PutFull
            | Phase::RecyclePut
            | Phase::FreeHit
            | Phase::FreeSwap
            | Phase::GetEmpty
            | Phase::FreeLock
            | Phase::FreeBacking
            | Phase::BulkPush
            | Phase::BulkPop
            | Phase::FlushLock
            | Phase::TrimGet
            | Phase::EndInterval
            | Phase::CapStore
            | Phase::ResizeLock => true,
        }
    }

    /// The moves the scheduler may make now.
    fn moves(&self) -> Vec<Move> {
        let mut moves = Vec::new();
        for (a, act) in self.actors.iter().enumerate() {
            if act.done() {
                continue;
            }
            let c = act.cpu;
            let irqs = &self.irqs[c];
            match act.kind {
                Kind::Task => {
                    let holder = self.cpus[c].lock;
                    let preempted = !self.cfg.rt && holder.is_some_and(|h| h != a);
                    if irqs.is_empty() && !preempted {
                        moves.push(Move::Step(a));
                    }
                    if act.migrations > 0 && act.phase != Phase::Unlock && irqs.is_empty() {
                        for to in (0..self.cpus.len()).filter(|&to| to != c) {
                            moves.push(Move::Migrate(a, to));
                        }
                    }
                }
                Kind::SoftIrq | Kind::HardIrq => {
                    let runs = if act.phase != Phase::Idle {
                        irqs.last() == Some(&a)
                    } else if act.kind == Kind::HardIrq {
                        !irqs.iter().any(|&i| self.actors[i].kind == Kind::HardIrq)
                    } else {
                        irqs.is_empty()
                    };
                    if runs {
                        moves.push(Move::Step(a));
                    }
                }
            }
        }
        moves
    }

    /// Makes move `m`.
    fn apply(&mut self, m: Move) {
        match m {
            Move::Step(a) => self.step(a),
            Move::Migrate(a, to) => {
                let act = &mut self.actors[a];
                act.cpu = to;
                act.migrations -= 1;
                if let Some(t) = &mut self.trace {
                    t.push(format!("{} migrates to cpu{to}", act.name));
                }
            }
        }
    }

    /// Runs actor `a`'s next step: the phases up to and including its next visible one, and the
    /// invisible ones after it, within one op.
    fn step(&mut self, a: usize) {
        let mut ran_visible = false;
        let mut started = false;
        let mut log = Vec::new();
        loop {
            let act = &self.actors[a];
            if act.phase == Phase::Idle && (started || act.pc == act.script.len()) {
                break;
            }
            let visible = self.visible(a);
            if visible && ran_visible {
                break;
            }
            if self.trace.is_some() {
                log.push(format!(
                    "{:?}@cpu{}",
                    self.actors[a].phase, self.actors[a].cpu
                ));
            }
            if let Some(coverage) = &mut self.coverage {
                *coverage.entry(self.actors[a].phase).or_insert(0) += 1;
            }
            started = true;
            self.exec(a);
            ran_visible |= visible;
        }
        if let Some(t) = &mut self.trace {
            t.push(format!("{}: {}", self.actors[a].name, log.join(" ")));
        }
    }

    /// Starts actor `a`'s next op.
    fn start(&mut self, a: usize) {
        let act = &mut self.actors[a];
        let op = act.script[act.pc];
        assert!(act.hands.is_empty());
        act.hands = Hands::default();
        if act.kind != Kind::Task {
            self.irqs[act.cpu].push(a);
        }
        let h = &mut act.hands;
        act.phase = match op {
            Op::Alloc => Phase::AllocHit,
            Op::Free => {
                let obj = act.holding.pop().expect("a free with nothing held");
                h.user.push(obj);
                Phase::FreeHit
            }
            Op::AllocBulk(n) => {
                h.want = n;
                Phase::BulkPop
            }
            Op::FreeBulk(n) => {
                assert!(act.holding.len() >= n, "a bulk free of more than is held");
                h.user = act.holding.split_off(act.holding.len() - n);
                h.first_push = true;
                Phase::BulkPush
            }
            Op::Flush(budget) => {
                h.budget = budget;
                Phase::FlushLock
            }
            Op::Trim(all, budget) => {
                h.budget = budget;
                h.all = all;
                h.ret = Phase::Done;
                Phase::TrimGet
            }
            Op::EndIntervals => Phase::EndInterval,
            Op::SetCapacity(cap) => {
                h.cap = cap;
                Phase::CapStore
            }
        };
    }

    /// Ends actor `a`'s op.
    fn finish(&mut self, a: usize) {
        let act = &mut self.actors[a];
        let op = act.script[act.pc];
        match op {
            Op::SetCapacity(_) => self.settled = Some(self.capacity),
            Op::Alloc => self.allocated += 1,
            Op::AllocBulk(n) => self.allocated += n,
            Op::Free => self.freed += 1,
            Op::FreeBulk(n) => self.freed += n,
            _ => {}
        }
        act.holding.append(&mut act.hands.user);
        assert!(
            act.hands.is_empty(),
            "{} ends {op:?} holding something",
            act.name
        );
        if act.kind != Kind::Task {
            assert_eq!(self.irqs[act.cpu].pop(), Some(a));
        }
        act.pc += 1;
        act.phase = Phase::Idle;
    }

    /// Runs actor `a`'s current phase.
    fn exec(&mut self, a: usize) {
        match self.actors[a].phase {
            Phase::Idle => self.start(a),
            Phase::Done => self.finish(a),
            Phase::Unlock => {
                let c = self.actors[a].cpu;
                assert_eq!(self.cpus[c].lock, Some(a));
                self.cpus[c].lock = None;
                let resume = self.actors[a].hands.resume;
                self.go(a, resume);
            }
            Phase::ReadNode => {
                let node = self.this_node(a);
                let h = &mut self.actors[a].hands;
                h.node = node;
                let then = h.after_node;
                self.go(a, then);
            }
            Phase::AllocHit => self.alloc_hit(a),
            Phase::AllocMiss => self.alloc_miss(a),
            Phase::AllocDepot => {
                if self.depot_allowed(a) {
                    self.actors[a].hands.take = 1;
                    self.read_node(a, Phase::LoadGet);
                } else {
                    self.go(a, Phase::RefillDecide);
                }
            }
            Phase::LoadGet => self.load_get(a),
            Phase::LoadFit => self.load_fit(a),
            Phase::LoadLock => self.load_lock(a),
            Phase::LoadDone => self.load_done(a),
            Phase::RefillDecide => {
                if self.can_refill(a) {
                    self.go(a, Phase::RefillBulk);
                } else {
                    self.count(Stat::AllocBypassNoBlock, 1);
                    self.go(a, Phase::AllocBacking);
                }
            }
            Phase::RefillBulk => self.refill_bulk(a),
            Phase::RefillLock => self.refill_lock(a),
            Phase::RefillFree => self.refill_free(a),
            Phase::AllocBacking => {
                let node = self.this_node(a);
                let obj = self.backing_alloc(node);
                self.count(Stat::AllocBacking, 1);
                self.actors[a].hands.user.push(obj);
                self.go(a, Phase::Done);
            }
            Phase::GiveBack => self.give_back(a),
            Phase::PutFullFit => {
                let mut m = self.actors[a].hands.full.take().expect("a full magazine");
                self.fit(&mut m);
                self.actors[a].hands.full = Some(m);
                self.go(a, Phase::PutFull);
            }
            Phase::PutFull => self.put_full(a),
            Phase::RecycleDrain => {
                let h = &mut self.actors[a].hands;
                let mut m = h.recycling.take().expect("a magazine to recycle");
                let mut objs = Vec::new();
                take_newest(&mut m, usize::MAX, &mut objs);
                self.backing_free(objs);
                self.actors[a].hands.recycling = Some(m);
                self.go(a, Phase::RecyclePut);
            }
            Phase::RecyclePut => {
                let h = &mut self.actors[a].hands;
                let m = h.recycling.take().expect("a magazine to recycle");
                let node = h.recycle_node;
                if let Err(m) = self.depot_put_empty(node, m) {
                    self.drop_mag(m);
                }
                self.go(a, Phase::GiveBack);
            }
            Phase::FreeHit => self.free_hit(a),
            Phase::FreeSwap => self.free_swap(a),
            Phase::FreeDepot => {
                self.actors[a].hands.ret = Phase::FreeLock;
                if self.depot_allowed(a) {
                    self.read_node(a, Phase::GetEmpty);
                } else {
                    self.go(a, Phase::FreeLock);
                }
            }
            Phase::GetEmpty => self.get_empty(a),
            Phase::NewMag => {
                if self.cfg.nowait_fails {
                    self.count(Stat::DepotMiss, 1);
                } else {
                    let m = self.new_mag();
                    let h = &mut self.actors[a].hands;
                    h.empty_node = h.node;
                    h.empty = Some(m);
                }
                let ret = self.actors[a].hands.ret;
                self.go(a, ret);
            }
            Phase::FreeLock => self.free_lock(a),
            Phase::FreeBatch => {
                let batch = core::mem::take(&mut self.actors[a].hands.batch);
                self.backing_free(batch);
                let cached = self.actors[a].hands.cached;
                self.go(
                    a,
                    if cached {
                        Phase::Done
                    } else {
                        Phase::FreeBacking
                    },
                );
            }
            Phase::FreeBacking => {
                let objs = core::mem::take(&mut self.actors[a].hands.user);
                self.count(Stat::FreeBacking, objs.len() as u64);
                self.backing_free(objs);
                self.go(a, Phase::Done);
            }
            Phase::BulkPush => self.bulk_push(a),
            Phase::BulkLoop => {
                let h = &self.actors[a].hands;
                if h.user.len() > h.remote_end && self.depot_allowed(a) {
                    self.actors[a].hands.ret = Phase::BulkTradeLock;
                    self.read_node(a, Phase::GetEmpty);
                } else {
                    self.go(a, Phase::BulkFreeRest);
                }
            }
            Phase::BulkTradeLock => self.bulk_trade_lock(a),
            Phase::BulkAfterTrade => {
                let room = self.actors[a].hands.room;
                self.go(
                    a,
                    if room {
                        Phase::BulkPush
                    } else {
                        Phase::BulkFreeRest
                    },
                );
            }
            Phase::BulkFreeRest => {
                let objs = core::mem::take(&mut self.actors[a].hands.user);
                self.count(Stat::FreeBacking, objs.len() as u64);
                self.backing_free(objs);
                self.go(a, Phase::Done);
            }
            Phase::BulkPop => self.bulk_pop(a),
            Phase::BulkAllocLoop => {
                let h = &self.actors[a].hands;
                if h.got < h.want && self.depot_allowed(a) {
                    let h = &mut self.actors[a].hands;
                    h.take = h.want - h.got;
                    self.read_node(a, Phase::LoadGet);
                } else {
                    self.go(a, Phase::BulkAllocRest);
                }
            }
            Phase::BulkAllocRest => {
                let node = self.this_node(a);
                let rest = self.actors[a].hands.want - self.actors[a].hands.got;
                let objs: Vec<u32> = (0..rest).map(|_| self.backing_alloc(node)).collect();
                self.count(Stat::AllocBacking, rest as u64);
                let h = &mut self.actors[a].hands;
                h.user.extend(objs);
                h.got = h.want;
                self.go(a, Phase::Done);
            }
            Phase::FlushLock => self.flush_lock(a),
            Phase::FlushFree => {
                let batch = core::mem::take(&mut self.actors[a].hands.batch);
                self.backing_free(batch);
                let taken = self.actors[a].hands.taken;
                self.go(
                    a,
                    if taken < BATCH_MAX {
                        Phase::Done
                    } else {
                        Phase::FlushLock
                    },
                );
            }
            Phase::TrimGet => self.trim_get(a),
            Phase::TrimDrain => {
                let h = &mut self.actors[a].hands;
                let mut m = h.recycling.take().expect("a trimmed magazine");
                let mut objs = Vec::new();
                h.freed += take_newest(&mut m, usize::MAX, &mut objs);
                self.backing_free(objs);
                self.drop_mag(m);
                self.go(a, Phase::TrimGet);
            }
            Phase::TrimDone => {
                let freed = self.actors[a].hands.freed;
                if freed != 0 {
                    self.count(Stat::DepotTrim, freed as u64);
                }
                let ret = self.actors[a].hands.ret;
                self.go(a, ret);
            }
            Phase::EndInterval => {
                let node = self.actors[a].hands.node;
                self.depot_end_interval(node);
                self.actors[a].hands.node += 1;
                if node + 1 == self.depots.len() {
                    self.go(a, Phase::Done);
                }
            }
            Phase::CapStore => {
                let h = &mut self.actors[a].hands;
                self.capacity = h.cap;
                self.settled = None;
                self.unresized.fill(false);
                h.budget = usize::MAX;
                h.all = true;
                h.node = 0;
                h.ret = Phase::ResizeStart;
                self.go(a, Phase::TrimGet);
            }
            Phase::ResizeStart => {
                // The work item of CPU 0 first; the others follow (on different CPUs they touch
                // different magazines, so their order does not matter).
                self.actors[a].cpu = 0;
                self.resize_next(a, 0);
            }
            Phase::ResizeLock => self.resize_lock(a),
            Phase::ResizeFree => {
                let batch = core::mem::take(&mut self.actors[a].hands.batch);
                self.backing_free(batch);
                if self.actors[a].hands.resized {
                    let next = self.actors[a].cpu + 1;
                    self.resize_next(a, next);
                } else {
                    self.go(a, Phase::ResizeLock);
                }
            }
        }
    }

    /// `Cache::alloc`'s hit: the loaded magazine's pop, without the swap.
    fn alloc_hit(&mut self, a: usize) {
        let Some(c) = self.try_lock(a) else {
            self.count(Stat::AllocBypassTrylock, 1);
            return self.go(a, Phase::AllocBacking);
        };
        let then = match self.cpus[c].pair.loaded_mut().pop() {
            Some(obj) => {
                self.cpus[c].alloc_array += 1;
                self.actors[a].hands.user.push(obj);
                Phase::Done
            }
            None => Phase::AllocMiss,
        };
        // `with_this_cpu_raw`: the hit keeps `objects_cached` by its `alloc_array`.
        self.hold(a, c, then);
    }

    /// `Cache::alloc_miss`'s pop with the swap.
    fn alloc_miss(&mut self, a: usize) {
        let Some(c) = self.try_lock(a) else {
            return self.go(a, Phase::AllocDepot);
        };
        let then = match self.cpus[c].pair.alloc() {
            Some(obj) => {
                self.cpus[c].alloc_array += 1;
                self.actors[a].hands.user.push(obj);
                Phase::Done
            }
            None => Phase::AllocDepot,
        };
        self.cpus[c].set_cached();
        self.hold(a, c, then);
    }

    /// `load_from_depot`: `CacheState::get_full(node)`.
    fn load_get(&mut self, a: usize) {
        let node = self.actors[a].hands.node;
        match self.depot_get_full(node) {
            None => {
                self.count(Stat::DepotMiss, 1);
                self.actors[a].hands.took = None;
                self.go(a, Phase::LoadDone);
            }
            Some(m) => {
                let h = &mut self.actors[a].hands;
                h.full = Some(m);
                h.full_node = node;
                h.counted = false;
                self.go(a, Phase::LoadFit);
            }
        }
    }

    /// `CacheState::get_full`'s fit.
    fn load_fit(&mut self, a: usize) {
        let mut m = self.actors[a].hands.full.take().expect("a full magazine");
        self.fit(&mut m);
        if m.is_empty() {
            // Cannot happen (a capacity is at least 1); the kernel frees it.
            self.drop_mag(m);
            self.actors[a].hands.took = None;
            return self.go(a, Phase::LoadDone);
        }
        self.actors[a].hands.full = Some(m);
        self.go(a, Phase::LoadLock);
    }

    /// `load_from_depot`'s section: the re-check and the install
    /// ([`MagazinePair::commit_full`], with the capacity now), the `take`.
    fn load_lock(&mut self, a: usize) {
        self.actors[a].hands.ret = Phase::LoadDone;
        let Some(c) = self.try_lock(a) else {
            self.actors[a].hands.took = None;
            return self.go(a, Phase::GiveBack);
        };
        let node = self.actors[a].hands.node;
        let took = if self.cpus[c].node != node {
            None
        } else {
            let full = self.actors[a].hands.full.take().expect("a full magazine");
            match self.cpus[c].pair.commit_full(full, self.capacity) {
                Ok(old) => {
                    let h = &mut self.actors[a].hands;
                    h.empty = Some(old);
                    h.empty_node = node;
                    self.count(Stat::DepotGet, 1);
                }
                Err(full) => self.actors[a].hands.full = Some(full),
            }
            let mut n = 0;
            while n < self.actors[a].hands.take {
                let Some(obj) = self.cpus[c].pair.alloc() else {
                    break;
                };
                self.actors[a].hands.user.push(obj);
                n += 1;
            }
            self.cpus[c].alloc_array += n as u64;
            Some(n)
        };
        self.actors[a].hands.took = took;
        self.cpus[c].set_cached();
        self.hold(a, c, Phase::GiveBack);
    }

    /// `load_from_depot` is over, the magazines given back: what its caller does next.
    fn load_done(&mut self, a: usize) {
        let h = &mut self.actors[a].hands;
        let next = if h.want > 0 {
            match h.took {
                Some(got) if got > 0 => {
                    h.got += got;
                    Phase::BulkAllocLoop
                }
                _ => Phase::BulkAllocRest,
            }
        } else if h.took == Some(1) {
            Phase::Done
        } else {
            Phase::RefillDecide
        };
        self.go(a, next);
    }

    /// `refill_and_pop`'s `bulk_into`.
    fn refill_bulk(&mut self, a: usize) {
        let node = self.this_node(a);
        let n = batch_for(self.capacity);
        let batch: Vec<u32> = (0..n).map(|_| self.backing_alloc(node)).collect();
        self.actors[a].hands.batch = batch;
        self.go(a, Phase::RefillLock);
    }

    /// `refill_this_cpu`'s section, with `pop_counted`.
    fn refill_lock(&mut self, a: usize) {
        let Some(c) = self.try_lock(a) else {
            self.actors[a].hands.took = None;
            return self.go(a, Phase::RefillFree);
        };
        let mut batch = core::mem::take(&mut self.actors[a].hands.batch);
        if self.numa() {
            let (keep, remote): (Vec<u32>, Vec<u32>) =
                batch.iter().partition(|&&obj| self.belongs_on(obj, c));
            self.count(Stat::RefillRemoteNode, remote.len() as u64);
            self.actors[a].hands.remote = remote;
            batch = keep;
        }
        let loaded = self.cpus[c].pair.loaded_mut();
        let n = batch.len().min(loaded.capacity() - loaded.len());
        for obj in batch.split_off(batch.len() - n) {
            assert!(loaded.push(obj).is_ok());
        }
        self.count(Stat::ArrayRefill, 1);
        let took = match self.cpus[c].pair.alloc() {
            Some(obj) => {
                self.cpus[c].alloc_array += 1;
                self.actors[a].hands.user.push(obj);
                1
            }
            None => 0,
        };
        let h = &mut self.actors[a].hands;
        h.batch = batch;
        h.took = Some(took);
        self.cpus[c].set_cached();
        self.hold(a, c, Phase::RefillFree);
    }

    /// `refill_and_pop` after the section: the batch's last object when nothing was popped, the
    /// rest back.
    fn refill_free(&mut self, a: usize) {
        let h = &mut self.actors[a].hands;
        if h.took != Some(1) {
            if let Some(obj) = h.batch.pop() {
                h.user.push(obj);
                h.took = Some(1);
                self.stats[Stat::AllocBacking as usize] += 1;
            }
        }
        let h = &mut self.actors[a].hands;
        let mut objs = core::mem::take(&mut h.batch);
        objs.append(&mut h.remote);
        let popped = h.took == Some(1);
        self.backing_free(objs);
        if popped {
            self.go(a, Phase::Done);
        } else {
            self.count(Stat::AllocBypassRefillFailed, 1);
            self.go(a, Phase::AllocBacking);
        }
    }

    /// The magazines in hand go back: the full one (`CacheState::put_full`), then the empty one
    /// (`CacheState::recycle`).
    fn give_back(&mut self, a: usize) {
        let h = &mut self.actors[a].hands;
        let next = if h.full.is_some() {
            Phase::PutFullFit
        } else if let Some(m) = h.empty.take() {
            h.recycling = Some(m);
            h.recycle_node = h.empty_node;
            Phase::RecycleDrain
        } else {
            h.ret
        };
        self.go(a, next);
    }

    /// `CacheState::put_full`'s depot section, and `put_full_counted`'s counters.
    fn put_full(&mut self, a: usize) {
        let h = &mut self.actors[a].hands;
        let m = h.full.take().expect("a full magazine");
        let (node, counted) = (h.full_node, h.counted);
        match self.depot_put_full(node, m) {
            Ok(()) => {
                if counted {
                    self.count(Stat::DepotPut, 1);
                }
                self.go(a, Phase::GiveBack);
            }
            Err(Refused::Unfit(m)) => {
                // The capacity shrank since the fit: fit again and retry.
                self.actors[a].hands.full = Some(m);
                self.go(a, Phase::PutFullFit);
            }
            Err(Refused::Rejected(m)) => {
                if counted {
                    self.count(Stat::DepotMiss, 1);
                }
                let h = &mut self.actors[a].hands;
                h.recycling = Some(m);
                h.recycle_node = node;
                self.go(a, Phase::RecycleDrain);
            }
        }
    }

    /// `push_or_overflow`'s hit: the loaded magazine's push, without the swap.
    fn free_hit(&mut self, a: usize) {
        let obj = self.actors[a].hands.user[0];
        let Some(c) = self.try_lock(a) else {
            self.count(Stat::FreeBypassTrylock, 1);
            return self.go(a, Phase::FreeBacking);
        };
        let then = if !self.belongs_on(obj, c) {
            self.count(Stat::FreeRemoteNode, 1);
            Phase::FreeBacking
        } else if self.cpus[c].pair.loaded_mut().push(obj).is_ok() {
            self.cpus[c].free_array += 1;
            self.actors[a].hands.user.clear();
            Phase::Done
        } else {
            Phase::FreeSwap
        };
        self.hold(a, c, then);
    }

    /// `free_overflow`'s first section: the push with the swap.
    fn free_swap(&mut self, a: usize) {
        let obj = self.actors[a].hands.user[0];
        let Some(c) = self.try_lock(a) else {
            return self.go(a, Phase::FreeDepot);
        };
        let pushed = self.belongs_on(obj, c) && self.cpus[c].pair.free(obj).is_ok();
        if pushed {
            self.cpus[c].free_array += 1;
            self.actors[a].hands.user.clear();
        }
        self.cpus[c].set_cached();
        self.hold(
            a,
            c,
            if pushed {
                Phase::Done
            } else {
                Phase::FreeDepot
            },
        );
    }

    /// `get_empty_for_full(node)`'s depot section: [`Depot::get_empty_for_full`].
    fn get_empty(&mut self, a: usize) {
        let node = self.actors[a].hands.node;
        match self.depot_get_empty_for_full(node) {
            EmptyForFull::Empty(m) => {
                let h = &mut self.actors[a].hands;
                h.empty = Some(m);
                h.empty_node = node;
                let ret = h.ret;
                self.go(a, ret);
            }
            EmptyForFull::NoEmpty => self.go(a, Phase::NewMag),
            EmptyForFull::Miss => {
                self.count(Stat::DepotMiss, 1);
                let ret = self.actors[a].hands.ret;
                self.go(a, ret);
            }
        }
    }

    /// `free_overflow`'s second section: the re-check, the trade or the flush, the push.
    fn free_lock(&mut self, a: usize) {
        let obj = self.actors[a].hands.user[0];
        let batch_size = batch_for(self.capacity);
        let bulk = self.bulk_allowed(a);
        self.actors[a].hands.ret = Phase::FreeBatch;
        self.actors[a].hands.cached = false;
        let Some(c) = self.try_lock(a) else {
            self.count(Stat::FreeBypassTrylock, 1);
            return self.go(a, Phase::GiveBack);
        };
        if !self.belongs_on(obj, c) {
            self.count(Stat::FreeRemoteNode, 1);
        } else {
            if let Some(e) = self.actors[a].hands.empty.take() {
                self.commit_empty(a, c, e);
            } else if bulk && self.cpus[c].is_full() {
                let mut batch = Vec::new();
                take_newest(self.cpus[c].pair.loaded_mut(), batch_size, &mut batch);
                self.actors[a].hands.batch = batch;
                self.count(Stat::ArrayFlush, 1);
            }
            if self.cpus[c].pair.free(obj).is_ok() {
                self.cpus[c].free_array += 1;
                let h = &mut self.actors[a].hands;
                h.user.clear();
                h.cached = true;
            } else {
                self.count(Stat::FreeBypassFull, 1);
            }
        }
        self.cpus[c].set_cached();
        self.hold(a, c, Phase::GiveBack);
    }

    /// The commit of a free's trade on CPU `c`, locked by actor `a`, with the empty magazine
    /// `e` ([`MagazinePair::commit_empty`], with the capacity now): the full magazine it
    /// replaces goes in hand to the depot of the CPU's node, or `e` back in hand.
    fn commit_empty(&mut self, a: usize, c: usize, e: Mag) {
        match self.cpus[c].pair.commit_empty(e, self.capacity) {
            Ok(old) => {
                let h = &mut self.actors[a].hands;
                h.full = Some(old);
                h.full_node = self.cpus[c].node;
                h.counted = true;
            }
            Err(e) => self.actors[a].hands.empty = Some(e),
        }
    }

    /// `free_bulk`'s `push_bulk` of `objs[remote..left]`.
    fn bulk_push(&mut self, a: usize) {
        let Some(c) = self.try_lock(a) else {
            self.count(Stat::FreeBypassTrylock, 1);
            return self.go(a, Phase::BulkFreeRest);
        };
        let h = &mut self.actors[a].hands;
        let remote = h.remote_end;
        let objs = h.user.split_off(remote);
        let untried = objs.len();
        let mut moved = Vec::new();
        let (mut pushed, mut i) = (0, 0);
        while i < objs.len() && !self.cpus[c].is_full() {
            let obj = objs[i];
            if !self.belongs_on(obj, c) {
                self.count(Stat::FreeRemoteNode, 1);
                moved.push(obj);
                i += 1;
                continue;
            }
            if self.cpus[c].pair.free(obj).is_err() {
                break;
            }
            pushed += 1;
            i += 1;
        }
        self.cpus[c].free_array += pushed;
        let (r, l) = (moved.len(), moved.len() + (objs.len() - i));
        moved.extend_from_slice(&objs[i..]);
        let h = &mut self.actors[a].hands;
        h.user.extend(moved);
        h.remote_end = remote + r;
        let stop = !h.first_push && l - r == untried;
        h.first_push = false;
        self.cpus[c].set_cached();
        self.hold(
            a,
            c,
            if stop {
                Phase::BulkFreeRest
            } else {
                Phase::BulkLoop
            },
        );
    }

    /// `trade_full_loaded`'s section: the re-check and the trade.
    fn bulk_trade_lock(&mut self, a: usize) {
        if self.actors[a].hands.empty.is_none() {
            return self.go(a, Phase::BulkFreeRest);
        }
        let h = &mut self.actors[a].hands;
        h.ret = Phase::BulkAfterTrade;
        h.room = false;
        let Some(c) = self.try_lock(a) else {
            return self.go(a, Phase::GiveBack);
        };
        if let Some(e) = self.actors[a].hands.empty.take() {
            self.commit_empty(a, c, e);
        }
        self.actors[a].hands.room = !self.cpus[c].is_full();
        self.cpus[c].set_cached();
        self.hold(a, c, Phase::GiveBack);
    }

    /// `pop_bulk`'s first section.
    fn bulk_pop(&mut self, a: usize) {
        let Some(c) = self.try_lock(a) else {
            self.count(Stat::AllocBypassTrylock, 1);
            return self.go(a, Phase::BulkAllocRest);
        };
        let want = self.actors[a].hands.want;
        let mut n = 0;
        while n < want {
            let Some(obj) = self.cpus[c].pair.alloc() else {
                break;
            };
            self.actors[a].hands.user.push(obj);
            n += 1;
        }
        self.cpus[c].alloc_array += n as u64;
        self.actors[a].hands.got = n;
        self.cpus[c].set_cached();
        self.hold(a, c, Phase::BulkAllocLoop);
    }

    /// `flush_this_cpu`'s section.
    fn flush_lock(&mut self, a: usize) {
        let Some(c) = self.try_lock(a) else {
            self.actors[a].hands.taken = 0;
            return self.go(a, Phase::FlushFree);
        };
        let budget = self.actors[a].hands.budget;
        let mut batch = Vec::new();
        let n = self.cpus[c].take_oldest(budget.min(BATCH_MAX), &mut batch);
        self.count(Stat::ShrinkFlush, n as u64);
        let h = &mut self.actors[a].hands;
        h.batch = batch;
        h.taken = n;
        h.budget -= n;
        self.cpus[c].set_cached();
        self.hold(a, c, Phase::FlushFree);
    }

    /// `trim_depots`: one [`Depot::trim`].
    fn trim_get(&mut self, a: usize) {
        let h = &mut self.actors[a].hands;
        let (node, all) = (h.node, h.all);
        let mut budget = h.budget;
        let scope = if all {
            TrimScope::All
        } else {
            TrimScope::Excess
        };
        let got = self.depot_trim(node, &mut budget, scope);
        let h = &mut self.actors[a].hands;
        h.budget = budget;
        match got {
            Some(m) => {
                h.recycling = Some(m);
                self.go(a, Phase::TrimDrain);
            }
            None => {
                h.node += 1;
                if h.node == self.depots.len() {
                    self.go(a, Phase::TrimDone);
                }
            }
        }
    }

    /// `set_capacity`'s work item on CPU `cpu`, or the end when there is none.
    fn resize_next(&mut self, a: usize, cpu: usize) {
        if cpu == self.cpus.len() {
            self.count(Stat::CapacityResize, 1);
            return self.go(a, Phase::Done);
        }
        let capacity = self.capacity;
        let act = &mut self.actors[a];
        act.cpu = cpu;
        act.hands.busy = 0;
        act.hands.cap = capacity;
        self.go(a, Phase::ResizeLock);
    }

    /// `resize_this_cpu`: one try.
    fn resize_lock(&mut self, a: usize) {
        let Some(c) = self.try_lock(a) else {
            let h = &mut self.actors[a].hands;
            h.busy += 1;
            if h.busy == RESIZE_TRIES {
                self.unresized[self.actors[a].cpu] = true;
                let next = self.actors[a].cpu + 1;
                self.resize_next(a, next);
            }
            return;
        };
        let cap = self.actors[a].hands.cap;
        let resized = self.cpus[c].set_capacity(cap);
        if !resized {
            let mut batch = Vec::new();
            self.cpus[c].take_oldest(BATCH_MAX, &mut batch);
            self.actors[a].hands.batch = batch;
        }
        self.actors[a].hands.resized = resized;
        self.cpus[c].set_cached();
        self.hold(a, c, Phase::ResizeFree);
    }

    /// Feeds everything that decides what happens next into `h`.
    fn feed(&self, h: &mut impl Hasher) {
        let mag = |h: &mut dyn Hasher, m: &PlainMagazine<u32>| {
            h.write_usize(m.capacity());
            h.write_usize(m.len());
            m.iter().for_each(|o| h.write_u32(o));
        };
        h.write_usize(self.capacity);
        // Two schedules may make the same id on different nodes.
        h.write_usize(self.obj_node.len());
        self.obj_node.iter().for_each(|&n| h.write_usize(n));
        for c in &self.cpus {
            h.write_usize(c.lock.map_or(0, |a| a + 1));
            mag(h, c.pair.loaded());
            mag(h, c.pair.previous());
        }
        for (d, s) in self.depots.iter().zip(&self.shadows) {
            h.write_usize(d.full_len());
            d.magazines().for_each(|m| mag(h, m));
            for n in [s.min_full, s.min_empty, s.reap_full, s.reap_empty] {
                h.write_usize(n);
            }
        }
        for free in &self.backing {
            h.write_usize(free.len());
            free.iter().for_each(|&o| h.write_u32(o));
        }
        for irqs in &self.irqs {
            irqs.hash(h);
        }
        for act in &self.actors {
            h.write_usize(act.cpu);
            h.write_u32(act.migrations);
            h.write_usize(act.pc);
            act.phase.hash(h);
            act.holding.hash(h);
            let hands = &act.hands;
            hands.user.hash(h);
            hands.batch.hash(h);
            hands.remote.hash(h);
            for m in [&hands.full, &hands.empty, &hands.recycling] {
                match m {
                    Some(m) => mag(h, m),
                    None => h.write_usize(usize::MAX),
                }
            }
            for n in [
                hands.full_node,
                hands.empty_node,
                hands.recycle_node,
                hands.node,
                hands.take,
                hands.took.map_or(usize::MAX, |n| n),
                hands.want,
                hands.got,
                hands.remote_end,
                hands.budget,
                hands.taken,
                hands.freed,
                hands.cap,
            ] {
                h.write_usize(n);
            }
            for b in [
                hands.counted,
                hands.first_push,
                hands.cached,
                hands.room,
                hands.all,
                hands.resized,
            ] {
                h.write_u8(u8::from(b));
            }
            hands.after_node.hash(h);
            hands.ret.hash(h);
            hands.resume.hash(h);
            h.write_u32(hands.busy);
        }
    }

    /// A 128-bit fingerprint of [`World::feed`].
    fn fingerprint(&self) -> u128 {
        let mut h1 = DefaultHasher::new();
        let mut h2 = DefaultHasher::new();
        h2.write_u64(0x5eed_0fc0_ffee);
        self.feed(&mut h1);
        self.feed(&mut h2);
        (u128::from(h1.finish()) << 64) | u128::from(h2.finish())
    }

    /// Objects parked in the CPUs' magazines and the depots.
    fn parked(&self) -> usize {
        let cpus: usize = self.cpus.iter().map(Cpu::len).sum();
        cpus + self.depots.iter().map(|d| d.objects()).sum::<usize>()
    }

    /// The invariants that hold after every step.
    fn check(&mut self) -> Result<(), String> {
        // Only `loaded_mut()` reaches a pair's magazines themselves.
        let mut tags: Vec<u32> = self.cpus.iter_mut().flat_map(Cpu::tags).collect();
        let this = &*self;
        this.check_with(tags.as_mut())
    }

    /// [`World::check`], given the tags of the CPUs' magazines.
    fn check_with(&self, tags: &mut Vec<u32>) -> Result<(), String> {
        let max_capacity = self.max_capacity;
        let mut places = vec![0u8; self.obj_node.len()];
        let mut fail = None;
        let mut note_objs = |objs: &mut dyn Iterator<Item = u32>, node: Option<usize>, what| {
            for obj in objs {
                places[obj as usize] += 1;
                if let Some(node) = node {
                    if self.obj_node[obj as usize] != node && fail.is_none() {
                        fail = Some(format!("object {obj} of another node in {what}"));
                    }
                }
            }
        };
        let bounded = |m: &PlainMagazine<u32>, what: &str| -> Result<(), String> {
            if m.capacity() == 0 || m.capacity() > max_capacity || m.len() > m.capacity() {
                return Err(format!("{what}: a magazine out of bounds"));
            }
            Ok(())
        };
        // Once `set_capacity` has returned, a magazine is fitted when it reaches a depot or a
        // CPU: under the depot's lock (`Depot::put_full`, `Depot::put_empty`) or the CPU's
        // (`MagazinePair::commit_full`, `MagazinePair::commit_empty`), so that none of the old
        // capacity arrives after the depots were emptied or the CPU resized.
        let settled = |m: &PlainMagazine<u32>, what: &str| -> Result<(), String> {
            match self.settled {
                Some(cap) if m.capacity() != cap => Err(format!(
                    "{what}: a magazine of capacity {} after set_capacity({cap}) returned",
                    m.capacity()
                )),
                _ => Ok(()),
            }
        };
        let numa = self.numa();
        for (i, c) in self.cpus.iter().enumerate() {
            let node = numa.then_some(c.node);
            for m in [c.pair.loaded(), c.pair.previous()] {
                bounded(m, "cpu")?;
                if !self.unresized[i] {
                    settled(m, &format!("cpu{i}"))?;
                }
                note_objs(&mut m.iter(), node, format!("cpu{i}"));
            }
            if c.level() != c.len() as u64 {
                return Err(format!(
                    "cpu{i}: objects_cached {} but {} held",
                    c.level() as i64,
                    c.len()
                ));
            }
            if let Some(h) = c.lock {
                let act = &self.actors[h];
                if act.cpu != i || act.phase != Phase::Unlock {
                    return Err(format!("cpu{i}: locked by {} at {:?}", act.name, act.phase));
                }
            }
        }
        for (n, (d, s)) in self.depots.iter().zip(&self.shadows).enumerate() {
            if d.full_len() > d.limit() || d.empty_len() > d.limit() {
                return Err(format!("depot{n}: over its limit"));
            }
            let mut objects = 0;
            for (i, m) in d.magazines().enumerate() {
                tags.push(m.tag);
                bounded(m, "depot")?;
                settled(m, &format!("depot{n}"))?;
                if (i < d.full_len()) == m.is_empty() {
                    return Err(format!("depot{n}: magazine {} on the wrong list", m.tag));
                }
                objects += m.len();
                note_objs(&mut m.iter(), numa.then_some(n), format!("depot{n}"));
            }
            if d.objects() != objects {
                return Err(format!("depot{n}: objects() {} of {objects}", d.objects()));
            }
            if d.excess_full() != s.reap_full.min(d.full_len())
                || d.excess_empty() != s.reap_empty.min(d.empty_len())
            {
                return Err(format!("depot{n}: working set differs from the shadow"));
            }
        }
        for free in &self.backing {
            note_objs(&mut free.iter().copied(), None, String::new());
        }
        let mut users = 0;
        for act in &self.actors {
            users += act.holding.len() + act.hands.user.len();
            note_objs(&mut act.holding.iter().copied(), None, String::new());
            let h = &act.hands;
            for objs in [&h.user, &h.batch, &h.remote] {
                note_objs(&mut objs.iter().copied(), None, String::new());
            }
            for m in [&h.full, &h.empty, &h.recycling].into_iter().flatten() {
                tags.push(m.tag);
                bounded(m, act.name)?;
                note_objs(&mut m.iter(), None, String::new());
            }
        }
        if let Some(f) = fail {
            return Err(f);
        }
        if let Some(obj) = places.iter().position(|&n| n != 1) {
            let n = places[obj];
            return Err(format!(
                "object {obj} is in {n} places ({})",
                if n == 0 { "lost" } else { "duplicated" }
            ));
        }
        tags.sort_unstable();
        if tags.windows(2).any(|w| w[0] == w[1]) || tags.len() != self.mags_live {
            return Err(format!(
                "{} magazines found, {} live: one lost or duplicated",
                tags.len(),
                self.mags_live
            ));
        }
        let allocs = self.cpus.iter().map(|c| c.alloc_array).sum::<u64>()
            + self.stats[Stat::AllocBacking as usize];
        let frees = self.cpus.iter().map(|c| c.free_array).sum::<u64>()
            + self.stats[Stat::FreeBacking as usize];
        if allocs.wrapping_sub(frees) != users as u64 {
            return Err(format!(
                "in_use() {} but the users hold {users}",
                allocs.wrapping_sub(frees) as i64
            ));
        }
        let bound = (self.cpus.len() * 2 + self.depots.len() * self.cfg.limit) * max_capacity;
        if self.parked() > bound {
            return Err(format!("{} objects parked, bound {bound}", self.parked()));
        }
        for (c, irqs) in self.irqs.iter().enumerate() {
            for &i in irqs {
                let act = &self.actors[i];
                if act.cpu != c || act.phase == Phase::Idle {
                    return Err(format!("cpu{c}: stray interrupt {}", act.name));
                }
            }
        }
        Ok(())
    }

    /// What holds once every actor is done. Ends the depots' intervals.
    fn check_end(&mut self) -> Result<(), String> {
        if let Some(act) = self.actors.iter().find(|act| !act.done()) {
            return Err(format!("deadlock: {} stuck at {:?}", act.name, act.phase));
        }
        if self.cpus.iter().any(|c| c.lock.is_some()) {
            return Err(String::from("a lock is still held"));
        }
        let holding: usize = self.actors.iter().map(|act| act.holding.len()).sum();
        if holding != self.initial_holding + self.allocated - self.freed {
            return Err(format!(
                "users hold {holding}, {} + {} - {} expected",
                self.initial_holding, self.allocated, self.freed
            ));
        }
        for node in 0..self.depots.len() {
            let counts = self.depots[node].end_interval();
            let s = &self.shadows[node];
            let reported = s.reported.add(counts);
            if (reported.trades, reported.misses) != (s.trades, s.misses) {
                return Err(format!(
                    "depot{node}: {} trades and {} misses counted, {} and {} seen",
                    reported.trades, reported.misses, s.trades, s.misses
                ));
            }
        }
        let st = |s: Stat| self.stats[s as usize];
        if st(Stat::DepotGet) > self.shadows.iter().map(|s| s.trades).sum::<u64>() {
            return Err(String::from("more depot_get than trades"));
        }
        Ok(())
    }

    /// The state, for a failure's report.
    fn dump(&mut self) -> String {
        let tags: Vec<[u32; 2]> = self.cpus.iter_mut().map(Cpu::tags).collect();
        let mag = |tag: u32, m: &PlainMagazine<u32>| {
            format!("#{tag}{:?}/{}", m.iter().collect::<Vec<_>>(), m.capacity())
        };
        let tagged = |m: &Mag| mag(m.tag, m);
        let mut out = format!("capacity {}\n", self.capacity);
        for (i, c) in self.cpus.iter().enumerate() {
            out += &format!(
                "cpu{i} (node {}, lock {:?}, irqs {:?}): loaded {} previous {}\n",
                c.node,
                c.lock.map(|a| self.actors[a].name),
                self.irqs[i]
                    .iter()
                    .map(|&a| self.actors[a].name)
                    .collect::<Vec<_>>(),
                mag(tags[i][0], c.pair.loaded()),
                mag(tags[i][1], c.pair.previous())
            );
        }
        for (n, d) in self.depots.iter().enumerate() {
            let mags: Vec<String> = d.magazines().map(tagged).collect();
            out += &format!("depot{n} ({} full): {}\n", d.full_len(), mags.join(" "));
        }
        for (n, free) in self.backing.iter().enumerate() {
            out += &format!("backing{n}: {free:?}\n");
        }
        for act in &self.actors {
            let h = &act.hands;
            out += &format!(
                "{} ({:?} on cpu{}, op {}/{} {:?}): holds {:?}, in hand user {:?} batch {:?} \
                 full {:?} empty {:?} recycling {:?}\n",
                act.name,
                act.kind,
                act.cpu,
                act.pc,
                act.script.len(),
                act.phase,
                act.holding,
                h.user,
                h.batch,
                h.full.as_ref().map(tagged),
                h.empty.as_ref().map(tagged),
                h.recycling.as_ref().map(tagged)
            );
        }
        out
    }
}

/// Replays `schedule` with a trace and panics with it, the state reached and `error`.
fn report_failure(cfg: &Config, schedule: &[Move], error: &str) -> ! {
    let mut w = World::new(cfg);
    w.trace = Some(Vec::new());
    for &m in schedule {
        w.apply(m);
    }
    let trace = w.trace.take().unwrap_or_default();
    panic!(
        "{}: {error}\nschedule ({} moves):\n  {}\nstate:\n{}",
        cfg.name,
        schedule.len(),
        trace.join("\n  "),
        w.dump()
    );
}

/// What [`explore`] went through.
#[derive(Debug, Default)]
struct Explored {
    /// Distinct states reached.
    states: u64,
    /// Moves made (edges of the state graph walked).
    transitions: u64,
    /// Complete schedules (interleavings) the state graph holds.
    schedules: u128,
    /// Distinct final states.
    ends: u64,
}

/// The depth-first walk of [`explore`].
struct Explorer<'c> {
    /// The system.
    cfg: &'c Config,
    /// The complete schedules from each state seen.
    memo: HashMap<u128, u128>,
    /// What was gone through.
    seen: Explored,
    /// The most states it may visit.
    bound: u64,
}

impl<'c> Explorer<'c> {
    /// The complete schedules from `w`, reached by `schedule`, checking every state.
    fn walk(&mut self, schedule: &mut Vec<Move>, mut w: World<'c>) -> u128 {
        let fp = w.fingerprint();
        if let Some(&n) = self.memo.get(&fp) {
            return n;
        }
        self.seen.states += 1;
        assert!(
            self.seen.states <= self.bound,
            "{}: more than {} states",
            self.cfg.name,
            self.bound
        );
        let moves = w.moves();
        if moves.is_empty() {
            if let Err(e) = w.check_end() {
                report_failure(self.cfg, schedule, &e);
            }
            self.seen.ends += 1;
            self.memo.insert(fp, 1);
            return 1;
        }
        let mut total: u128 = 0;
        let mut here = Some(w);
        for &m in &moves {
            // The first move continues from this state; the others replay it.
            let mut next = here
                .take()
                .unwrap_or_else(|| World::replay(self.cfg, schedule));
            next.apply(m);
            schedule.push(m);
            self.seen.transitions += 1;
            if let Err(e) = next.check() {
                report_failure(self.cfg, schedule, &e);
            }
            total = total.saturating_add(self.walk(schedule, next));
            schedule.pop();
        }
        self.memo.insert(fp, total);
        total
    }
}

/// Walks every interleaving of `cfg`, checking every state reached; panics with the schedule
/// that breaks an invariant, or when there are more than `bound` states.
fn explore(cfg: &Config, bound: u64) -> Explored {
    let mut w = World::new(cfg);
    if let Err(e) = w.check() {
        report_failure(cfg, &[], &e);
    }
    let mut explorer = Explorer {
        cfg,
        memo: HashMap::new(),
        seen: Explored::default(),
        bound,
    };
    let schedules = explorer.walk(&mut Vec::new(), w);
    explorer.seen.schedules = schedules;
    explorer.seen
}

/// Runs `cfg` under a random schedule from `seed` until every actor is done, checking every
/// state. Returns the steps made and how often each phase ran.
fn run_random(cfg: &Config, seed: u64) -> (usize, HashMap<Phase, u64>) {
    let mut rng = Rng::new(seed);
    let mut w = World::new(cfg);
    w.coverage = Some(HashMap::new());
    let mut schedule = Vec::new();
    loop {
        let moves = w.moves();
        if moves.is_empty() {
            break;
        }
        // Steps of actors already in an op first; interrupts fire and tasks migrate rarely.
        let weight = |m: &Move| match *m {
            Move::Migrate(..) => 1,
            Move::Step(a) if w.actors[a].kind != Kind::Task && w.actors[a].phase == Phase::Idle => {
                2
            }
            Move::Step(_) => 20,
        };
        let total: usize = moves.iter().map(weight).sum();
        let mut pick = rng.below(total);
        let m = *moves
            .iter()
            .find(|m| {
                let wt = weight(m);
                if pick < wt {
                    return true;
                }
                pick -= wt;
                false
            })
            .unwrap_or(&moves[0]);
        w.apply(m);
        schedule.push(m);
        if let Err(e) = w.check() {
            report_failure(cfg, &schedule, &std::format!("seed {seed}: {e}"));
        }
    }
    if let Err(e) = w.check_end() {
        report_failure(cfg, &schedule, &std::format!("seed {seed}: {e}"));
    }
    (schedule.len(), w.coverage.take().unwrap_or_default())
}

/// A random script of `len` ops for an actor of `kind` holding `held` objects at the start.
fn random_script(rng: &mut Rng, kind: Kind, mut held: usize, len: usize) -> Vec<Op> {
    let mut script = Vec::new();
    let bulk = kind != Kind::HardIrq;
    while script.len() < len {
        let op = match rng.below(10) {
            0 if bulk => Op::AllocBulk(rng.range(1, 6)),
            1 if bulk && held > 0 => Op::FreeBulk(rng.range(1, held.min(6))),
            2..=5 if held < 24 => Op::Alloc,
            _ if held > 0 => Op::Free,
            _ => Op::Alloc,
        };
        match op {
            Op::Alloc => held += 1,
            Op::AllocBulk(n) => held += n,
            Op::Free => held -= 1,
            Op::FreeBulk(n) => held -= n,
            _ => {}
        }
        script.push(op);
    }
    script
}

/// A random larger system: up to 6 CPUs on one or two nodes, a task per CPU, migrating tasks,
/// interrupts, a shrinker and a capacity change.
fn random_config(rng: &mut Rng) -> Config {
    let ncpus = rng.range(2, 6);
    let nodes = rng.range(1, 2);
    let capacity = rng.range(1, 8);
    let limit = rng.range(0, 3);
    let mut cfg = Config::new("random", ncpus, capacity, limit);
    cfg.nodes = nodes;
    cfg.cpu_nodes = (0..ncpus).map(|c| c * nodes / ncpus).collect();
    cfg.depots = vec![(Vec::new(), 0); nodes];
    cfg.rt = rng.chance(25);
    cfg.nowait_fails = rng.chance(20);
    for cpu in 0..ncpus {
        cfg.cpus[cpu] = (rng.range(0, capacity), rng.range(0, 1) * capacity);
    }
    for node in 0..nodes {
        let fulls = (0..rng.range(0, limit))
            .map(|_| rng.range(1, capacity))
            .collect();
        cfg.depots[node] = (fulls, rng.range(0, limit));
    }
    let names = ["t0", "t1", "t2", "t3", "t4", "t5"];
    for (cpu, &name) in names.iter().enumerate().take(ncpus) {
        let held = rng.range(0, 8);
        let len = rng.range(100, 300);
        let script = random_script(rng, Kind::Task, held, len);
        let mut spec = Spec::task(name, cpu, &script)
            .holding(held)
            .migrating(rng.range(0, 20) as u32);
        if rng.chance(20) {
            spec = spec.atomic();
        }
        cfg.actors.push(spec);
    }
    for (i, &name) in ["h0", "h1", "s0", "s1"].iter().enumerate() {
        let kind = if i < 2 { Kind::HardIrq } else { Kind::SoftIrq };
        let held = rng.range(0, 4);
        let len = rng.range(10, 60);
        let script = random_script(rng, kind, held, len);
        let cpu = rng.below(ncpus);
        let spec = if kind == Kind::HardIrq {
            Spec::hardirq(name, cpu, &script)
        } else {
            Spec::softirq(name, cpu, &script)
        };
        cfg.actors.push(spec.holding(held));
    }
    let mut shrinker = Vec::new();
    for _ in 0..rng.range(2, 8) {
        shrinker.push(match rng.below(4) {
            0 => Op::EndIntervals,
            1 => Op::Trim(false, rng.range(0, 20)),
            2 => Op::Trim(true, rng.range(0, 20)),
            _ => Op::Flush(rng.range(1, 40)),
        });
    }
    cfg.actors
        .push(Spec::task("shrinker", rng.below(ncpus), &shrinker).migrating(4));
    if rng.chance(60) {
        let script = [
            Op::SetCapacity(rng.range(1, 8)),
            Op::SetCapacity(rng.range(1, 8)),
        ];
        cfg.actors.push(Spec::task("resizer", 0, &script));
    }
    cfg
}

/// The small systems walked exhaustively.
fn small_cases() -> Vec<Config> {
    use Op::*;
    let mut cases = Vec::new();

    // An allocation goes to the depot while a hard interrupt frees and allocates on its CPU,
    // and a free on the other CPU trades at the same depot; the task may move.
    let mut c = Config::new("alloc-load vs irq and remote trade", 2, 2, 1);
    c.cpus = vec![(0, 0), (2, 2)];
    c.depots = vec![(vec![2], 0)];
    c.actors = vec![
        Spec::task("T", 0, &[Alloc, Alloc, Free]).migrating(1),
        Spec::hardirq("H", 0, &[Free, Alloc]).holding(1),
        Spec::task("U", 1, &[Free, Free]).holding(2),
    ];
    cases.push(c);

    // A free goes to the depot for an empty magazine while a softirq allocates on its CPU.
    let mut c = Config::new("free-trade vs softirq", 2, 2, 2);
    c.cpus = vec![(2, 2), (0, 0)];
    c.depots = vec![(vec![2], 1)];
    c.actors = vec![
        Spec::task("T", 0, &[Free, Free, Alloc])
            .holding(2)
            .migrating(1),
        Spec::softirq("S", 0, &[Alloc, Free]),
        Spec::task("U", 1, &[Alloc, Alloc]).atomic(),
    ];
    cases.push(c);

    // Capacity 3, a depot of one magazine a list, no new magazines: flushes, recycles, and an
    // interrupt in the middle.
    let mut c = Config::new("capacity 3, nowait fails", 2, 3, 1);
    c.nowait_fails = true;
    c.cpus = vec![(3, 3), (0, 0)];
    c.depots = vec![(vec![3], 1)];
    c.actors = vec![
        Spec::task("T", 0, &[Free, Alloc]).holding(1).migrating(1),
        Spec::hardirq("H", 0, &[Alloc, Free]),
        Spec::task("U", 1, &[Alloc, Free, Free]).holding(1),
    ];
    cases.push(c);

    // Bulk calls against an interrupt and a remote allocation.
    let mut c = Config::new("bulk vs irq", 2, 2, 1);
    c.cpus = vec![(1, 2), (0, 0)];
    c.depots = vec![(vec![2], 1)];
    c.actors = vec![
        Spec::task("T", 0, &[FreeBulk(3), AllocBulk(3)])
            .holding(3)
            .migrating(1),
        Spec::hardirq("H", 0, &[Alloc, Free]),
        Spec::task("U", 1, &[Alloc]),
    ];
    cases.push(c);

    // PREEMPT_RT: two tasks on one CPU see each other's lock held; a third may join them.
    let mut c = Config::new("PREEMPT_RT, two tasks on a CPU", 2, 2, 1);
    c.rt = true;
    c.cpus = vec![(0, 2), (2, 0)];
    c.depots = vec![(vec![1], 1)];
    c.actors = vec![
        Spec::task("T", 0, &[Alloc, Alloc, Alloc]),
        Spec::task("U", 0, &[Free, Free]).holding(2),
        Spec::task("V", 1, &[Free, Alloc]).holding(1).migrating(1),
    ];
    cases.push(c);

    // Two nodes: an allocation moves to the other node's CPU between the depot and the
    // re-check; a free reads its node on one CPU and trades on the other.
    let mut c = Config::new("two nodes", 2, 2, 2);
    c.nodes = 2;
    c.cpu_nodes = vec![0, 1];
    c.depots = vec![(vec![2], 1), (vec![], 0)];
    c.actors = vec![
        Spec::task("T", 0, &[Alloc, Free]).migrating(1),
        Spec::task("U", 1, &[FreeBulk(4), Free])
            .holding(5)
            .migrating(2),
    ];
    cases.push(c);

    // The capacity shrinks while magazines are on their way through the depot.
    let mut c = Config::new("capacity change", 2, 3, 1);
    c.cpus = vec![(0, 0), (3, 3)];
    c.depots = vec![(vec![3], 1)];
    c.actors = vec![
        Spec::task("T", 0, &[Alloc, Free]).migrating(1),
        Spec::task("U", 1, &[Free, Alloc]).holding(1),
        Spec::task("R", 1, &[SetCapacity(1)]),
    ];
    cases.push(c);

    // The shrinker ends an interval, trims the excess and flushes a CPU while the CPUs trade.
    let mut c = Config::new("shrinker", 2, 2, 2);
    c.cpus = vec![(0, 0), (2, 2)];
    c.depots = vec![(vec![2, 1], 1)];
    c.actors = vec![
        Spec::task("T", 0, &[Alloc, Free]).migrating(1),
        Spec::task("U", 1, &[Free, Alloc]).holding(1),
        Spec::task(
            "K",
            0,
            &[
                EndIntervals,
                Trim(false, 8),
                EndIntervals,
                Trim(false, 8),
                Flush(4),
            ],
        ),
    ];
    cases.push(c);

    cases
}

/// Every interleaving of [`small_cases`], each state checked; prints what was explored.
#[test]
fn every_interleaving_of_small_cases() {
    let started = std::time::Instant::now();
    let mut total = Explored::default();
    for cfg in small_cases() {
        let t = std::time::Instant::now();
        let e = explore(&cfg, 2_000_000);
        std::eprintln!(
            "{}: {} states, {} moves, {} final states, {} schedules, {:.2?}",
            cfg.name,
            e.states,
            e.transitions,
            e.ends,
            e.schedules,
            t.elapsed()
        );
        assert!(e.ends > 0 && e.schedules > 1);
        total.states += e.states;
        total.transitions += e.transitions;
        total.ends += e.ends;
        total.schedules = total.schedules.saturating_add(e.schedules);
    }
    std::eprintln!("all: {total:?}, {:.2?}", started.elapsed());
}

/// Random schedules of [`random_config`]s, each state checked, every section run somewhere.
#[test]
fn random_schedules_of_larger_systems() {
    let mut phases: HashMap<Phase, u64> = HashMap::new();
    let (mut runs, mut steps) = (0, 0);
    for seed in 0..40 {
        let mut rng = Rng::new(seed);
        let cfg = random_config(&mut rng);
        for run in 0..3 {
            let (n, seen) = run_random(&cfg, seed * 1_000 + run);
            runs += 1;
            steps += n;
            for (phase, count) in seen {
                *phases.entry(phase).or_insert(0) += count;
            }
        }
    }
    std::eprintln!("{runs} runs, {steps} steps; phases run: {phases:?}");
    // Every section of the protocol ran somewhere.
    for phase in [
        Phase::AllocHit,
        Phase::AllocMiss,
        Phase::LoadGet,
        Phase::LoadFit,
        Phase::LoadLock,
        Phase::RefillBulk,
        Phase::RefillLock,
        Phase::RefillFree,
        Phase::AllocBacking,
        Phase::PutFull,
        Phase::RecycleDrain,
        Phase::RecyclePut,
        Phase::FreeHit,
        Phase::FreeSwap,
        Phase::GetEmpty,
        Phase::NewMag,
        Phase::FreeLock,
        Phase::FreeBatch,
        Phase::FreeBacking,
        Phase::BulkPush,
        Phase::BulkTradeLock,
        Phase::BulkFreeRest,
        Phase::BulkPop,
        Phase::BulkAllocRest,
        Phase::FlushLock,
        Phase::TrimGet,
        Phase::TrimDrain,
        Phase::EndInterval,
        Phase::CapStore,
        Phase::ResizeLock,
        Phase::Unlock,
    ] {
        assert!(
            phases.get(&phase).copied().unwrap_or(0) > 0,
            "{phase:?} never ran"
        );
    }
}

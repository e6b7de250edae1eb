// SPDX-License-Identifier: GPL-2.0

//! Frees after an RCU grace period, through the magazines: each CPU's pending magazines and
//! each memory node's sealed ones.
//!
//! A free after a grace period (`crate::cache::free_rcu`) pushes the object onto one of its
//! CPU's *pending* magazines, under a `local_trylock_t` of their own (the CPU's other magazines
//! are never locked with it): the one for objects that may be parked again, or the one for
//! objects that must go back to the backing cache (another node's, a memory cgroup's, the
//! reserves', KFENCE's, and every object on PREEMPT_RT). RCU readers may still read them, so
//! neither is poisoned for KASAN nor wiped for `init_on_free`.
//!
//! A full pending magazine is *sealed* ([`CacheState::rcu_seal`]): it gets one grace-period
//! cookie ([`GpCookie::start`]) and goes, in a [`Waiting`] shell that came with it, to the list
//! of sealed magazines of its node, oldest first (`crate::magazines::sealed`: as many as wait;
//! of the ripe ones, what allocations may want before the next grace period ends). An
//! allocation that finds its CPU's magazines and its node's depot empty takes the oldest sealed
//! magazine of its node whose grace period has ended ([`CacheState::rcu_take_ripe`]): a pointer
//! swap, with no callback and no slab call. An excess ripe magazine goes to the depot (or its
//! objects to the backing cache); a sealed one that cannot join the list (`SEALED_MAX` wait, or
//! the list's lock may not be taken) goes to `call_rcu_hurry()`, whose callback does the same
//! after the grace period. A magazine leaving this world
//! is *ripened* first ([`CacheState::rcu_ripen`]): wiped for `init_on_free`, then poisoned.
//!
//! The shells and the list are under a spinlock per node, taken with interrupts disabled and
//! only where a depot may be used; it is never held with a CPU's lock or a depot's.

use crate::{
    magazines::{
        magazine::{
            MagazineBox,
            BATCH_MAX, //
        },
        sealed::NodeRcu,
        state::{
            drain,
            CacheState, //
        },
        stats::{
            Stat,
            ThisCpuStats, //
        },
    },
    percpu::{
        cpu_pin::{
            depot_allowed,
            in_nmi,
            CpuPin, //
        },
        deferred::may_sleep,
        irqsave_lock::SpinLockIrqSave,
        local_trylock::PerCpuTryLock,
        rcu::{
            atomic_alloc_allowed,
            call_rcu,
            rcu_barrier,
            synchronize_rcu,
            GpCookie,
            RcuHead, //
        },
    },
    policy::pair::Stack,
    semantics::placement::{
        node_ids,
        this_node, //
    },
};
use core::ptr::NonNull;
use kernel::{
    alloc::flags::{
        __GFP_NOWARN, //
        GFP_ATOMIC,
    },
    bindings,
    ffi::c_void,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

/// What becomes of a waiting magazine's objects after its grace period.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum After {
    /// Parked again: the magazine goes to an allocating CPU or to its node's depot.
    Park,
    /// Back to the backing cache, which runs what a free means for them (memory cgroups, the
    /// reserves, KFENCE, another node's slab).
    Backing,
}

/// A magazine on its way through a grace period, and what the RCU callback that may finish it
/// needs.
///
/// # Invariants
///
/// `magazine` holds objects of `state`'s backing cache, of memory node `node` when `after` is
/// [`After::Park`] and the cache keeps nodes apart, that RCU readers may read until `cookie`
/// has elapsed; it does not poison them. While queued for a callback, the shell is owned by
/// RCU and `state` outlives the callback (its teardown waits with `rcu_barrier()`).
///
/// `repr(C)` with the head first: the callback's pointer is the shell's.
#[repr(C)]
pub(crate) struct Waiting {
    head: RcuHead,
    pub(super) cookie: GpCookie,
    state: *const CacheState,
    node: i32,
    after: After,
    magazine: Option<MagazineBox>,
    /// The next shell on its node's list of sealed magazines or of spares
    /// (`crate::magazines::sealed`).
    pub(super) next: Option<WaitingBox>,
}

// SAFETY: The shell owns its magazine; `state` is only dereferenced by the callback, which the
// cache's teardown waits for.
unsafe impl Send for Waiting {}

/// A [`Waiting`] on the heap.
pub(crate) type WaitingBox = KBox<Waiting>;

impl Waiting {
    /// An empty shell.
    fn new() -> Self {
        Self {
            head: RcuHead::new(),
            cookie: GpCookie::unset(),
            state: core::ptr::null(),
            node: 0,
            after: After::Park,
            magazine: None,
            next: None,
        }
    }

    /// Objects the shell's magazine holds.
    pub(super) fn objects(&self) -> usize {
        self.magazine.as_ref().map_or(0, |m| Stack::len(&**m))
    }
}

/// A CPU's pending magazine, with the shell it will be sealed in.
///
/// # Invariants
///
/// `magazine` does not poison its objects, holds only objects of memory node `node` when it
/// takes objects to be parked, and is not full (it is sealed as soon as it fills).
pub(crate) struct Pending {
    magazine: MagazineBox,
    shell: WaitingBox,
    node: i32,
}

/// Where a freed object goes: which pending magazine of its CPU.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Target {
    /// Parked again after the grace period: an object of memory node `Some(node)` only, or of
    /// any (`None`: the cache does not keep nodes apart).
    Park(Option<i32>),
    /// To the backing cache after the grace period.
    Backing,
}

/// What [`CpuPending::push`] did.
pub(crate) enum Pushed {
    /// The object waits in a pending magazine.
    Done,
    /// The object filled its pending magazine, which the caller must seal
    /// ([`CacheState::rcu_seal`]) once this CPU's lock is dropped.
    Full(Pending, After),
    /// The CPU has no pending magazine of that kind: the object is given back, with the kind.
    NoMagazine(NonNull<c_void>, After),
}

/// One CPU's pending magazines, and an empty spare that replaces the one that fills.
pub(crate) struct CpuPending {
    park: Option<Pending>,
    backing: Option<Pending>,
    spare: Option<Pending>,
}

impl CpuPending {
    /// No magazine yet: the first free after a grace period on the CPU brings one.
    fn new() -> Self {
        Self {
            park: None,
            backing: None,
            spare: None,
        }
    }

    /// The slot an object for `target` goes to, and what becomes of it.
    fn slot(&mut self, target: Target) -> (&mut Option<Pending>, After) {
        match target {
            Target::Park(Some(node)) if self.park.as_ref().is_some_and(|p| p.node != node) => {
                (&mut self.backing, After::Backing)
            }
            Target::Park(_) => (&mut self.park, After::Park),
            Target::Backing => (&mut self.backing, After::Backing),
        }
    }

    /// Pushes `obj` onto the pending magazine for `target`. When that fills it, the magazine is
    /// taken out, for the caller to seal. In NMI context, where a magazine cannot be sealed,
    /// the object that would fill it is given back instead.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of the cache, handed over by the caller, of memory node
    /// `node` when `target` is `Target::Park(Some(node))`.
    #[inline(always)]
    pub(crate) unsafe fn push(&mut self, obj: NonNull<c_void>, target: Target) -> Pushed {
        let (slot, after) = self.slot(target);
        let Some(p) = slot else {
            return Pushed::NoMagazine(obj, after);
        };
        let filling = Stack::len(&*p.magazine) + 1 >= Stack::capacity(&*p.magazine);
        if filling && in_nmi() {
            return Pushed::NoMagazine(obj, after);
        }
        // SAFETY: The caller hands `obj` over; the magazine does not poison (type invariant of
        // `Pending`), and holds this node's objects when parking (`slot` chose the other
        // magazine for another node's object).
        if unsafe { p.magazine.push(obj) }.is_err() {
            return Pushed::NoMagazine(obj, after);
        }
        if !filling {
            return Pushed::Done;
        }
        let full = slot.take();
        // The spare takes over at once, so that a CPU that frees where nothing may be allocated
        // (a hard interrupt) goes on with no fallback.
        if let Some(mut spare) = self.spare.take() {
            // Empty: it takes the node of the CPU it is installed on.
            spare.node = this_node();
            match after {
                After::Park => self.park = Some(spare),
                After::Backing => self.backing = Some(spare),
            }
        }
        match full {
            Some(full) => Pushed::Full(full, after),
            None => Pushed::Done,
        }
    }

    /// Installs `fresh`, empty, as the pending magazine for `target`, unless there is one
    /// already: then `fresh` is given back.
    fn install(&mut self, fresh: Pending, target: Target) -> Option<Pending> {
        let (slot, _) = self.slot(target);
        if slot.is_some() {
            return Some(fresh);
        }
        *slot = Some(fresh);
        None
    }

    /// Takes every pending magazine out, the spare included.
    fn take(&mut self) -> [Option<(Pending, After)>; 3] {
        [
            self.park.take().map(|p| (p, After::Park)),
            self.backing.take().map(|p| (p, After::Backing)),
            self.spare.take().map(|p| (p, After::Park)),
        ]
    }
}

/// One node's [`NodeRcu`] behind its lock.
type NodeRcuLock = SpinLockIrqSave<NodeRcu>;

/// A cache's pending and sealed magazines: the part of [`CacheState`] that frees after a grace
/// period uses.
pub(crate) struct RcuMagazines {
    pending: PerCpuTryLock<CpuPending>,
    /// One per memory node (`nr_node_ids`), indexed by node.
    nodes: KVec<Pin<KBox<NodeRcuLock>>>,
    /// The size KASAN poisons a parked object with (0: it does not), restored on a magazine
    /// that leaves.
    kasan_size: usize,
    /// Sealed magazines on the nodes' lists, so that an allocation that finds none does not
    /// take a lock.
    sealed: Atomic<i64>,
    /// Whether an RCU callback was ever queued for the cache: its teardown then waits for them
    /// with `rcu_barrier()`.
    queued: Atomic<u32>,
}

impl RcuMagazines {
    /// No pending magazine on any CPU, nothing sealed on any node. A magazine leaving poisons
    /// its objects with `kasan_size` (0: not at all).
    pub(crate) fn new(kasan_size: usize) -> Result<Self> {
        let pending = PerCpuTryLock::new(|_| Ok(CpuPending::new()))?;
        let count = node_ids().max(1) as usize;
        let mut nodes = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            nodes.push(
                KBox::pin_init(
                    SpinLockIrqSave::new(
                        NodeRcu::new(),
                        c"pcpu_array_rcu",
                        kernel::static_lock_class!(),
                    ),
                    GFP_KERNEL,
                )?,
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            pending,
            nodes,
            kasan_size,
            sealed: Atomic::new(0),
            queued: Atomic::new(0),
        })
    }

    /// The sealed list of memory node `node`, or `None` for a node the kernel does not have.
    fn node(&self, node: i32) -> Option<&NodeRcuLock> {
        let node = usize::try_from(node).ok()?;
        self.nodes.get(node).map(|n| &**n)
    }
}

impl CacheState {
    /// Runs `f` on the current CPU's pending magazines with their lock held. `None` when the
    /// lock is held already on this CPU (an interrupted holder, or another task on PREEMPT_RT).
    #[inline(always)]
    pub(crate) fn with_this_cpu_pending<R>(
        &self,
        f: impl FnOnce(&mut CpuPending, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let pin = CpuPin::new();
        let stats = self.stats.this_cpu(&pin);
        let mut pending = self.rcu.pending.try_lock(&pin)?;
        Some(f(&mut pending, stats))
    }

    /// Installs `fresh` as the current CPU's pending magazine for `target` and pushes `obj`
    /// onto it (or onto the one already there). What [`CpuPending::push`] did, with what is
    /// left of `fresh` when it was not needed; `None` when the CPU's lock is held.
    ///
    /// # Safety
    ///
    /// As [`CpuPending::push`].
    pub(crate) unsafe fn rcu_install_and_push(
        &self,
        fresh: Pending,
        obj: NonNull<c_void>,
        target: Target,
    ) -> (Option<Pushed>, Option<Pending>) {
        let mut left = Some(fresh);
        let pushed = self.with_this_cpu_pending(|p, stats| {
            if let Some(mut fresh) = left.take() {
                // Empty: it takes the node of the CPU it is installed on.
                fresh.node = this_node();
                left = p.install(fresh, target);
            }
            // SAFETY: Guaranteed by the caller.
            let pushed = unsafe { p.push(obj, target) };
            if !matches!(pushed, Pushed::NoMagazine(..)) {
                stats.inc(Stat::FreeRcu);
            }
            pushed
        });
        (pushed, left)
    }

    /// A new pending magazine for a CPU of memory node `node`: an empty magazine (the depot's,
    /// or a new one) and a shell (the node's spare, or a new one), allocated with `GFP_NOWAIT`.
    /// `None` when either cannot be had, or where a depot may not be used (no slab call is made
    /// in a hard interrupt or with interrupts off, as for a refill).
    pub(crate) fn rcu_new_pending(&self, node: i32) -> Option<Pending> {
        if !depot_allowed() {
            return None;
        }
        let mut magazine = self
            .take_empty(node)
            .or_else(|| self.new_magazine(GFP_NOWAIT).ok())?;
        // Cannot fail: the magazine is empty.
        let _ = magazine.stop_poisoning();
        let spare = self.rcu.node(node).and_then(|n| n.lock().get_spare());
        let Some(shell) = spare.or_else(|| KBox::new(Waiting::new(), GFP_NOWAIT).ok()) else {
            self.rcu_retire_magazine(node, magazine);
            return None;
        };
        // INVARIANT: Empty, not poisoning.
        Some(Pending {
            magazine,
            shell,
            node,
        })
    }

    /// Gives the current CPU an empty spare pending magazine when it has none, where a depot
    /// may be used: after a seal, so that the next one, wherever it happens, finds a magazine.
    pub(crate) fn rcu_restock(&self) {
        if !depot_allowed() {
            return;
        }
        if self.with_this_cpu_pending(|p, _| p.spare.is_some()) != Some(false) {
            return;
        }
        let Some(fresh) = self.rcu_new_pending(this_node()) else {
            return;
        };
        let mut left = Some(fresh);
        self.with_this_cpu_pending(|p, _| {
            if p.spare.is_none() {
                p.spare = left.take();
            }
        });
        if let Some(left) = left {
            self.rcu_drop_pending(left);
        }
    }

    /// Gives back a pending magazine that holds no object: its magazine to the depot (or
    /// freed), its shell to the node's spares (or freed).
    pub(crate) fn rcu_drop_pending(&self, pending: Pending) {
        let Pending {
            magazine,
            shell,
            node,
        } = pending;
        self.rcu_retire_magazine(node, magazine);
        self.rcu_spare(node, shell);
    }

    /// Gives `magazine`, empty, back to the depot of `node` as a magazine of the cache again
    /// (poisoning), or frees it.
    fn rcu_retire_magazine(&self, node: i32, mut magazine: MagazineBox) {
        // SAFETY: Empty.
        unsafe { magazine.start_poisoning(self.rcu.kasan_size) };
        if depot_allowed() {
            self.recycle(node, magazine);
        }
    }

    /// Keeps an empty `shell` as a spare of `node`, or frees it.
    fn rcu_spare(&self, node: i32, mut shell: WaitingBox) {
        shell.magazine = None;
        if !depot_allowed() {
            return;
        }
        let rejected = self.rcu.node(node).and_then(|n| n.lock().put_spare(shell));
        // Freed with the lock dropped.
        drop(rejected);
    }

    /// Seals `pending`, which its CPU gave up (full, or at a shrink or a CPU's death): one
    /// grace-period cookie for all of its objects. A magazine to be parked joins its node's
    /// sealed list when the context allows and the list has room, and up to two excess ripe
    /// ones leave it ([`CacheState::rcu_finish`]); otherwise, and for a
    /// magazine bound for the backing cache, it goes to `call_rcu_hurry()`. Any context but
    /// NMI; unpinned, with no lock held.
    pub(crate) fn rcu_seal(&self, pending: Pending, after: After) {
        let Pending {
            magazine,
            mut shell,
            node,
        } = pending;
        if magazine.is_empty() {
            return self.rcu_drop_pending(Pending {
                magazine,
                shell,
                node,
            });
        }
        // INVARIANT: The objects pushed onto a pending magazine wait for this cookie, taken
        // after they were all freed.
        shell.cookie = GpCookie::start();
        shell.state = core::ptr::from_ref(self);
        shell.node = node;
        shell.after = after;
        shell.magazine = Some(magazine);
        self.count(Stat::RcuSeal, 1);
        if after == After::Park && depot_allowed() {
            if let Some(n) = self.rcu.node(node) {
                let (pushed, excess) = {
                    let mut n = n.lock();
                    let pushed = n.push_sealed(shell);
                    // Two for one added: a list beyond its bound shrinks back to it.
                    (pushed, [n.pop_excess(), n.pop_excess()])
                };
                for ripe in excess.into_iter().flatten() {
                    self.rcu.sealed.add(-1, Relaxed);
                    self.rcu_finish(ripe);
                }
                match pushed {
                    Ok(()) => {
                        self.rcu.sealed.add(1, Relaxed);
                        return;
                    }
                    Err(s) => shell = s,
                }
            }
        }
        self.rcu_queue(shell);
    }

    /// Hands `shell` to `call_rcu_hurry()`; [`rcu_magazine_done`] finishes it after the grace
    /// period.
    fn rcu_queue(&self, shell: WaitingBox) {
        self.rcu.queued.store(1, Relaxed);
        self.count(Stat::RcuCallback, 1);
        let raw = KBox::into_raw(shell);
        // SAFETY: `raw` is a shell we own, whose head is its first field (`repr(C)`), not
        // queued; RCU owns it until the callback takes it back. The callback's `state` outlives
        // it: the cache's teardown waits with `rcu_barrier()` (`queued` is set).
        unsafe { call_rcu(raw.cast(), rcu_magazine_done, true) };
    }

    /// Wipes and poisons the objects of `magazine`, whose grace period has ended, as a free into
    /// a magazine would have: it becomes a magazine of the cache like any other.
    pub(crate) fn rcu_ripen(&self, magazine: &mut MagazineBox) {
        if self.placement.init_on_free() {
            let size = self.backing.object_size();
            for obj in magazine.objects() {
                // SAFETY: The magazine owns its objects, live objects of `size` bytes, and no
                // RCU reader can still see them.
                unsafe { core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0, size) };
            }
        }
        // SAFETY: As above: the objects are the magazine's, of the backing cache's size.
        unsafe { magazine.start_poisoning(self.rcu.kasan_size) };
    }

    /// Finishes `shell`, whose grace period has ended: its magazine goes to the depot of its
    /// node (to be parked) or its objects to the backing cache, and the shell to the node's
    /// spares. Where a depot may be used, or from the hotplug teardown or an RCU callback.
    fn rcu_finish(&self, mut shell: WaitingBox) {
        let node = shell.node;
        if let Some(mut magazine) = shell.magazine.take() {
            match shell.after {
                After::Park => {
                    self.rcu_ripen(&mut magazine);
                    let stat = if self.put_full(node, magazine) {
                        Stat::DepotPut
                    } else {
                        Stat::DepotMiss
                    };
                    self.count(stat, 1);
                }
                After::Backing => {
                    drain(&self.backing, |batch| magazine.take_into(BATCH_MAX, batch));
                    self.rcu_retire_magazine(node, magazine);
                }
            }
        }
        self.rcu_spare(node, shell);
    }

    /// The oldest sealed magazine of `node` whose grace period has ended, ripened, for an
    /// allocation that found its CPU's magazines empty (counted as `rcu_reuse`). Must be called
    /// where a depot may be used.
    pub(crate) fn rcu_take_ripe(&self, node: i32) -> Option<MagazineBox> {
        if self.rcu.sealed.load(Relaxed) <= 0 {
            return None;
        }
        let mut shell = self.rcu.node(node)?.lock().pop_ripe()?;
        self.rcu.sealed.add(-1, Relaxed);
        let magazine = shell.magazine.take();
        self.rcu_spare(node, shell);
        let mut magazine = magazine?;
        self.rcu_ripen(&mut magazine);
        self.count(Stat::RcuReuse, 1);
        Some(magazine)
    }

    /// Frees `obj` after a grace period on its own, when no pending magazine could take it:
    /// with a small record and `call_rcu()` where memory can be had (`rcu_fallback`), else by
    /// waiting for the grace period where the caller may sleep. Where it can do neither (no
    /// memory, in an NMI, in an atomic context of PREEMPT_RT) the object is leaked after a
    /// warning, and stays counted as in use.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of the backing cache, handed over by the caller.
    pub(crate) unsafe fn rcu_free_one(&self, obj: NonNull<c_void>) {
        if atomic_alloc_allowed() {
            let record = WaitingObject {
                head: RcuHead::new(),
                obj,
                state: core::ptr::from_ref(self),
            };
            if let Ok(record) = KBox::new(record, GFP_ATOMIC | __GFP_NOWARN) {
                self.rcu.queued.store(1, Relaxed);
                self.count(Stat::RcuFallback, 1);
                self.count(Stat::FreeRcu, 1);
                let raw = KBox::into_raw(record);
                // SAFETY: As in `rcu_queue`, for a record whose head is its first field.
                unsafe { call_rcu(raw.cast(), rcu_object_done, false) };
                return;
            }
        }
        if may_sleep() {
            synchronize_rcu();
            self.count(Stat::RcuFallback, 1);
            self.count(Stat::FreeRcu, 1);
            // SAFETY: The caller handed `obj` over; no RCU reader can still see it.
            unsafe { self.backing.free(obj) };
            return;
        }
        static WARNED: Atomic<i32> = Atomic::new(0);
        if WARNED.xchg(1, Relaxed) == 0 {
            pr_warn!("free after a grace period with no memory and no way to wait: leaked\n");
            kernel::warn_on!(true);
        }
    }

    /// Seals the current CPU's pending magazines, for a shrink: their objects go to the backing
    /// cache once their grace period has ended. Returns how many objects were sealed.
    pub(crate) fn rcu_seal_this_cpu(&self) -> usize {
        let Some(taken) = self.with_this_cpu_pending(|p, _| p.take()) else {
            return 0;
        };
        let mut sealed = 0;
        for (pending, after) in taken.into_iter().flatten() {
            sealed += Stack::len(&*pending.magazine);
            self.rcu_seal(pending, after);
        }
        sealed
    }

    /// Seals a dead CPU's pending magazines (see [`CacheState::rcu_seal`]).
    ///
    /// # Safety
    ///
    /// As `CacheState::flush_dead_cpu`: `cpu` is dead, and calls for it do not run concurrently.
    pub(crate) unsafe fn rcu_flush_dead_cpu(&self, cpu: u32) {
        // SAFETY: Guaranteed by the caller.
        let Some(p) = (unsafe { self.rcu.pending.value_of_dead_cpu(cpu) }) else {
            return;
        };
        for (pending, after) in p.take().into_iter().flatten() {
            self.rcu_seal(pending, after);
        }
    }

    /// Holds the current CPU's pending lock while `f` runs, for the tests that play an
    /// interrupted free after a grace period. `None` when it was held already.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn hold_this_cpu_pending<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let pin = CpuPin::new();
        let _guard = self.rcu.pending.try_lock(&pin)?;
        Some(f())
    }

    /// Objects on the nodes' sealed lists, and those of them whose grace period has ended
    /// (what a shrink can give back now).
    pub(crate) fn rcu_sealed_objects(&self) -> (usize, usize) {
        self.rcu.nodes.iter().fold((0, 0), |(all, ripe), n| {
            let (a, r) = n.lock().objects();
            (all + a, ripe + r)
        })
    }

    /// Sealed magazines on the nodes' lists.
    pub(crate) fn rcu_sealed_magazines(&self) -> usize {
        usize::try_from(self.rcu.sealed.load(Relaxed)).unwrap_or(0)
    }

    /// Gives up to `budget` objects of sealed magazines whose grace period has ended back to the
    /// backing cache, whole magazines only, the oldest first, and frees the magazines and the
    /// spare shells. Returns how many objects went back (counted as `rcu_trim`). Where a depot
    /// may be used.
    pub(crate) fn rcu_trim(&self, budget: usize) -> usize {
        let mut freed = 0;
        for n in &self.rcu.nodes {
            loop {
                let shell = {
                    let mut node = n.lock();
                    match node.oldest_objects() {
                        Some(n) if n <= budget - freed => node.pop_ripe(),
                        _ => None,
                    }
                };
                let Some(mut shell) = shell else { break };
                self.rcu.sealed.add(-1, Relaxed);
                if let Some(mut magazine) = shell.magazine.take() {
                    freed += drain(&self.backing, |batch| magazine.take_into(BATCH_MAX, batch));
                }
            }
            rcu_free_spares(n);
        }
        if freed != 0 {
            self.count(Stat::RcuTrim, freed as u64);
        }
        freed
    }

    /// Gives up the excess ripe sealed magazines of each node (`crate::magazines::sealed`), the
    /// last batch that ripened included, for the periodic tick: once a burst of frees after a
    /// grace period that no allocation followed has ripened, `SEALED_LIMIT` magazines are
    /// left.
    /// Where a depot may be used.
    pub(crate) fn rcu_trim_excess(&self) {
        for n in &self.rcu.nodes {
            n.lock().forget_batch();
            loop {
                let excess = n.lock().pop_excess();
                let Some(ripe) = excess else { break };
                self.rcu.sealed.add(-1, Relaxed);
                self.rcu_finish(ripe);
            }
        }
    }

    /// Waits for the RCU callbacks of this cache, if it ever queued any (`rcu_barrier()`).
    /// Sleeps. For the cache's teardown, once nothing can queue another.
    pub(crate) fn rcu_barrier(&self) {
        if self.rcu.queued.load(Relaxed) != 0 {
            rcu_barrier();
        }
    }

    /// The last of the cache's frees after a grace period, for its teardown: waits for the
    /// grace periods its objects still wait for, then gives every pending and sealed
    /// magazine's objects back to the backing cache and frees the magazines and the shells.
    /// Sleeps when it waits. [`CacheState::rcu_barrier`] must have returned.
    pub(crate) fn rcu_teardown(&mut self) {
        let Self { rcu, backing, .. } = self;
        let mut pending_objects = false;
        rcu.pending.for_each_mut(|_, p| {
            pending_objects |= [&p.park, &p.backing]
                .into_iter()
                .flatten()
                .any(|p| !p.magazine.is_empty());
        });
        if pending_objects {
            // The pending magazines' objects were freed before now: one grace period from now
            // covers them all, and every magazine sealed before.
            synchronize_rcu();
        }
        rcu.pending.for_each_mut(|_, p| {
            for (mut pending, _) in p.take().into_iter().flatten() {
                drain(backing, |batch| {
                    pending.magazine.take_into(BATCH_MAX, batch)
                });
            }
        });
        for n in &rcu.nodes {
            loop {
                let shell = n.lock().pop_oldest();
                let Some(mut shell) = shell else { break };
                // At once when it has ended (always, after the wait above).
                shell.cookie.wait();
                if let Some(mut magazine) = shell.magazine.take() {
                    drain(backing, |batch| magazine.take_into(BATCH_MAX, batch));
                }
            }
            rcu_free_spares(n);
        }
        rcu.sealed.store(0, Relaxed);
    }
}

/// Frees the spare shells of `node`, each with the lock dropped.
fn rcu_free_spares(node: &NodeRcuLock) {
    loop {
        let spare = node.lock().get_spare();
        if spare.is_none() {
            return;
        }
    }
}

/// The RCU callback of a sealed magazine that went to `call_rcu_hurry()`.
///
/// # Safety
///
/// `head` must be the head of a [`Waiting`] that [`CacheState::rcu_queue`] queued.
unsafe extern "C" fn rcu_magazine_done(head: *mut bindings::callback_head) {
    // SAFETY: The head is the first field of a shell that `rcu_queue` gave up with
    // `KBox::into_raw` (guaranteed by the caller); it comes back once.
    let shell = unsafe { KBox::from_raw(head.cast::<Waiting>()) };
    // SAFETY: The cache's state outlives its callbacks: its teardown waits for them with
    // `rcu_barrier()` (type invariant of `Waiting`).
    let state = unsafe { &*shell.state };
    state.rcu_finish(shell);
}

/// An object freed after a grace period on its own, when no pending magazine could take it.
///
/// `repr(C)` with the head first: the callback's pointer is the record's.
#[repr(C)]
struct WaitingObject {
    head: RcuHead,
    obj: NonNull<c_void>,
    state: *const CacheState,
}

/// The RCU callback of a [`WaitingObject`].
///
/// # Safety
///
/// `head` must be the head of a [`WaitingObject`] that [`CacheState::rcu_free_one`] queued.
unsafe extern "C" fn rcu_object_done(head: *mut bindings::callback_head) {
    // SAFETY: As in `rcu_magazine_done`, for a record of `rcu_free_one`.
    let record = unsafe { KBox::from_raw(head.cast::<WaitingObject>()) };
    // SAFETY: As in `rcu_magazine_done`.
    let state = unsafe { &*record.state };
    // SAFETY: The record owned the object, and no RCU reader can still see it.
    unsafe { state.backing.free(record.obj) };
}

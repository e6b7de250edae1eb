// SPDX-License-Identifier: GPL-2.0

//! The cache: the allocation policy of the per-CPU magazines in front of the backing
//! `kmem_cache`.
//!
//! # Layers
//!
//! 1. Each possible CPU has two magazines ([`CpuMagazines`]: a loaded one and a previous one)
//!    behind its own `local_trylock_t`. An allocation pops from the loaded one and a free pushes
//!    onto it; when it is empty (allocation) or full (free) and the previous one is not, the two
//!    swap.
//! 2. When both are exhausted, the CPU goes to its memory node's depot (`crate::shared`): an
//!    allocation swaps its empty loaded magazine for a full one, a free swaps its full loaded
//!    magazine for an empty one, with no bulk call.
//! 3. Only when the depot has nothing to give (allocation) or no room to take (free), or the
//!    context may not use it, does the CPU use the backing cache's bulk API: a refill by half,
//!    a flush by half.
//!
//! # Locking and context
//!
//! A CPU's magazines are reached only through [`Shared::with_this_cpu`]: it pins the task and
//! *tries* the lock of the pinned CPU; when the attempt fails (an interrupt arrived while this
//! CPU's lock was held, or on PREEMPT_RT another task on this CPU holds it) the operation goes
//! to the backing cache instead. Nothing ever spins on a per-CPU lock and no object is lost on
//! any path.
//!
//! Lock order: the per-CPU lock is innermost, and never held together with a depot's lock. The
//! backing cache's bulk calls and the allocation of a magazine are never made with either held,
//! nor while pinned: pointers move through an on-stack [`Batch`] of at most [`BATCH_MAX`]
//! entries, and magazines are taken from or given to the depot with the per-CPU lock dropped;
//! then the task pins and locks again, re-checks (it may now be on another CPU, and the
//! magazines may have changed) and gives back whatever no longer fits.
//!
//! Contexts:
//! - `alloc` and `free` may be called from any context the gfp flags allow, interrupts
//!   included. They refill only when the gfp flags allow blocking and not in hard interrupt
//!   context, and flush only with interrupts enabled outside hard interrupts; otherwise a miss
//!   goes to the backing cache for one object.
//! - `alloc_bulk`, `free_bulk` and `prefill` need interrupts enabled, like
//!   `kmem_cache_alloc_bulk()`.
//! - The cache may be dropped in any context but NMI: where the caller may not sleep, the
//!   teardown goes to the module's teardown workqueue (`crate::lifecycle::SleepableDrop`).
//!

use crate::{
    backing::{
        BackingCache,
        Sheaves, //
    },
    capacity::AdaptTick,
    cpu_array::{
        Batch,
        CpuMagazines,
        Magazine,
        BATCH_MAX,
        MAX_CAPACITY, //
    },
    cpu_pin::bulk_allowed,
    debugfs::CacheDir,
    ffi,
    gfp::Gfp,
    hardening,
    hotplug::HotplugInstance,
    lifecycle::{
        wait_for_deferred_drops,
        ModuleRef,
        SleepableDrop, //
    },
    object_hooks::might_alloc,
    placement::{
        FreeTo,
        Placement, //
    },
    shared::{
        depot_allowed,
        Shared, //
    },
    shrink::Shrinker,
    stats::{
        Stat,
        Stats,
        ThisCpuStats, //
    },
};
use core::{
    pin::Pin,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    str::CStr,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc, //
    },
};

/// Whether the current context is an NMI, where the slab allocator may not be entered.
fn in_nmi() -> bool {
    // SAFETY: Only reads the current context.
    unsafe { ffi::pcpu_array_in_nmi() }
}

/// `SLAB_TYPESAFE_BY_RCU`: RCU readers may still read a freed object, so objects parked in an
/// array must not be poisoned for KASAN.
const SLAB_TYPESAFE_BY_RCU: bindings::slab_flags_t =
    1 << bindings::_slab_flag_bits__SLAB_TYPESAFE_BY_RCU;

/// The `SLAB_*` flags a caller may pass: every flag of this kernel (the bits below
/// `_SLAB_FLAGS_LAST_BIT`) but `SLAB_KMALLOC`, which marks the kernel's own kmalloc caches.
const CALLER_SLAB_FLAGS: bindings::slab_flags_t =
    ((1 << bindings::_slab_flag_bits__SLAB_FLAGS_LAST_BIT) - 1)
        & !(1 << bindings::_slab_flag_bits__SLAB_KMALLOC);

/// What a cache is made of. See [`Cache::new`].
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Object size in bytes, non-zero.
    pub size: u32,
    /// Object alignment in bytes (0 for the slab default).
    pub align: u32,
    /// Extra `SLAB_*` flags for the backing cache.
    pub flags: bindings::slab_flags_t,
    /// Objects each CPU's array holds, 1 to [`MAX_CAPACITY`].
    pub capacity: u32,
    /// Whether the backing cache keeps SLUB's sheaves.
    pub sheaves: Sheaves,
    /// Whether the capacity adapts to the traffic (`crate::capacity`), from `capacity` up to
    /// [`MAX_CAPACITY`]; otherwise it changes only through debugfs.
    pub adaptive: bool,
}

impl Config {
    /// `size`-byte objects, default alignment and flags, no sheaves, an adaptive capacity.
    pub const fn new(size: u32, capacity: u32) -> Self {
        Self {
            size,
            align: 0,
            flags: 0,
            capacity,
            sheaves: Sheaves::Off,
            adaptive: true,
        }
    }
}

/// Where a free went, as decided under the CPU's lock.
#[derive(Clone, Copy)]
enum Freed {
    /// Into this CPU's magazines.
    Cached,
    /// Nowhere yet: the loaded magazine of this CPU is full ([`Cache::free_overflow`]).
    Full,
    /// To the backing cache.
    Backing,
}

/// Pops an object from this CPU's magazines, counting `alloc_array` when there was one: the
/// allocation paths' use of a locked CPU.
#[inline(always)]
fn pop_counted(mags: &mut CpuMagazines, stats: ThisCpuStats<'_>) -> Option<NonNull<c_void>> {
    count_pop(mags.pop(), stats)
}

/// [`pop_counted`] of the loaded magazine alone, the hit path's (see
/// [`CpuMagazines::pop_loaded`]).
#[inline(always)]
fn pop_loaded_counted(mags: &mut CpuMagazines, stats: ThisCpuStats<'_>) -> Option<NonNull<c_void>> {
    count_pop(mags.pop_loaded(), stats)
}

/// Counts `alloc_array` for `obj`, just popped, when there was one.
#[inline(always)]
fn count_pop(obj: Option<NonNull<c_void>>, stats: ThisCpuStats<'_>) -> Option<NonNull<c_void>> {
    if obj.is_some() {
        stats.inc(Stat::AllocArray);
    }
    obj
}

/// A cache: a per-CPU array of free objects for every possible CPU in front of a backing
/// `kmem_cache`, with its shrinker, its CPU hotplug instance and its debugfs directory.
///
/// The raw entry points (`alloc`, `free`, ...) serve the C ABI and the typed API of
/// `crate::typed`.
///
/// It may be dropped in any context but NMI: the teardown, which sleeps, runs at once where
/// the caller may sleep and otherwise on the module's teardown workqueue
/// (`crate::lifecycle::SleepableDrop`).
/// [`Cache::new`] waits for such teardowns first, so that a cache can be created again under
/// the name of one just dropped.
pub struct Cache {
    // `shared` first drops a reference that is never the last: `registrations` holds another.
    shared: Arc<Shared>,
    #[cfg_attr(
        not(pcpu_array_kunit),
        expect(
            dead_code,
            reason = "held until the teardown; the tests read the shrinker"
        )
    )]
    registrations: SleepableDrop<Registrations>,
}

/// What a cache registered, and the references that must outlive those registrations.
struct Registrations {
    // Fields drop in this order: the adaptation's periodic work, the shrinker and the hotplug
    // instance first (each waits for its running callbacks and lets go of `shared`), then the
    // debugfs files, then `shared`, whose last reference flushes every array and destroys the
    // backing cache, and only then the reference to the module.
    #[cfg_attr(
        not(pcpu_array_kunit),
        expect(dead_code, reason = "held for its periodic work; the tests read it")
    )]
    adapt: Option<AdaptTick>,
    #[cfg_attr(
        not(pcpu_array_kunit),
        expect(dead_code, reason = "held for its registration; the tests call it")
    )]
    shrinker: Shrinker,
    _hotplug: Pin<KBox<HotplugInstance>>,
    _debugfs: Option<CacheDir>,
    _shared: Arc<Shared>,
    _module: ModuleRef,
}

impl Cache {
    /// Creates the backing cache `name` and an empty array of `config.capacity` objects for
    /// every possible CPU, with counters in `/sys/kernel/debug/pcpu_array/<name>/`.
    ///
    /// Fails with `EINVAL` for a zero size, a capacity outside 1..=[`MAX_CAPACITY`], an
    /// alignment that is not a power of two (or 0), or a flag the backing cache cannot take;
    /// `ENODEV` while the module is being unloaded; `ENOMEM` when memory runs out. May sleep:
    /// it first waits for the teardowns of dropped caches still queued, whose backing caches
    /// and debugfs directories may hold `name`.
    pub fn new(name: &CStr, config: Config) -> Result<Self> {
        let capacity = usize::try_from(config.capacity).map_err(|_| EINVAL)?;
        if config.size == 0 || capacity == 0 || capacity > MAX_CAPACITY {
            return Err(EINVAL);
        }
        if config.align != 0 && !config.align.is_power_of_two() {
            return Err(EINVAL);
        }
        if config.flags & !CALLER_SLAB_FLAGS != 0 {
            return Err(EINVAL);
        }
        let module = ModuleRef::get()?;
        wait_for_deferred_drops();
        // The allocations of a `SLAB_ACCOUNT` cache go to the backing cache while accounting is
        // online (`crate::placement`): it keeps SLUB's sheaves, so that they cost what they cost
        // without this module.
        let sheaves = if crate::placement::slab_account(config.flags) {
            Sheaves::On
        } else {
            config.sheaves
        };
        let backing = BackingCache::new(name, config.size, config.align, config.flags, sheaves)?;
        let shared = Shared::new(
            backing,
            Placement::new(name, config.flags)?,
            capacity,
            config.adaptive,
            config.flags & SLAB_TYPESAFE_BY_RCU != 0,
        )?;
        let shared = Arc::new(shared, GFP_KERNEL)?;
        let debugfs = CacheDir::new(name, &shared).ok();
        let hotplug = HotplugInstance::register(shared.clone())?;
        let shrinker = Shrinker::register(name, shared.clone())?;
        let adapt = if config.adaptive {
            Some(AdaptTick::start(shared.clone())?)
        } else {
            None
        };
        let registrations = SleepableDrop::new(Registrations {
            adapt,
            shrinker,
            _hotplug: hotplug,
            _debugfs: debugfs,
            _shared: shared.clone(),
            _module: module,
        })?;
        Ok(Self {
            shared,
            registrations,
        })
    }

    /// Objects each magazine holds at most (a CPU holds two); the debugfs `capacity` file
    /// changes it.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Objects a refill brings and a flush takes away: half the capacity.
    pub fn batch(&self) -> usize {
        self.shared.batch()
    }

    /// The backing `kmem_cache`.
    pub fn kmem_cache(&self) -> *mut bindings::kmem_cache {
        self.shared.backing.as_ptr()
    }

    /// What the inline hit path of consumers reads (`struct pcpu_array_hot`), valid while
    /// the cache lives.
    pub(crate) fn hot(&self) -> crate::abi_types::PcpuArrayHot {
        self.shared.hot()
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The adaptation's tick, for tests; `None` for a cache of fixed capacity.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn adapt_tick(&self) -> Option<&AdaptTick> {
        self.registrations.adapt.as_ref()
    }

    /// The registered shrinker, for tests that call it as reclaim would.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn shrinker(&self) -> &Shrinker {
        &self.registrations.shrinker
    }

    /// What the cache shares with its shrinker and hotplug instance, for tests.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Whether an empty array may be refilled for an allocation with `gfp`.
    fn can_refill(gfp: Gfp) -> bool {
        gfp.allows_blocking() && bulk_allowed()
    }

    /// Zeroes `obj`, about to be handed out, when `gfp` asks for it (`__GFP_ZERO`) or the
    /// kernel runs with `init_on_alloc` and the cache is not exempt, as `kmem_cache_alloc()`
    /// would (`slab_want_init_on_alloc()`).
    #[inline]
    pub(crate) fn zero_if_asked(&self, obj: NonNull<c_void>, gfp: Gfp) {
        if gfp.wants_zero() || self.shared.placement.init_on_alloc() {
            self.zero(obj);
        }
    }

    /// Charges `obj`, taken out of a reservation for a caller that asks for accounting
    /// (`gfp` has `__GFP_ACCOUNT`), to the caller's memory cgroup, unless it is charged already
    /// (a reservation made with `__GFP_ACCOUNT`, a `SLAB_ACCOUNT` cache). The charge cannot
    /// fail (`__GFP_NOFAIL`, as `kmem_cache_alloc_from_sheaf()` forces it): a reservation's
    /// objects are the caller's already. From then on the cache's frees check for accounting
    /// (`crate::placement`), so that this object is uncharged by the backing cache.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of this cache, handed to the caller.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn charge_handed_out(&self, obj: NonNull<c_void>, gfp: Gfp) {
        if !crate::placement::memcg_kmem_online() {
            return;
        }
        self.shared.placement.mark_gfp_accounted();
        // SAFETY: `obj` is a live slab object of the backing cache (caller).
        unsafe { bindings::kmem_cache_charge(obj.as_ptr(), gfp.no_fail().as_raw()) };
    }

    /// Hands `objs`, just allocated from the backing cache, to the caller.
    fn out_of_backing(&self, objs: &[*mut c_void]) {
        // SAFETY: `objs` are live objects of the backing cache, now the caller's.
        unsafe { self.shared.placement.handing_out_from_backing(objs) };
    }

    /// Zeroes all of `obj`, a live object of this cache that the caller owns.
    fn zero(&self, obj: NonNull<c_void>) {
        let size = self.shared.backing.object_size();
        // SAFETY: `obj` is a live object of the backing cache, whose objects are
        // `object_size()` bytes, owned by the caller (see the callers).
        unsafe { core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0, size) };
    }

    /// Allocates one object from the backing cache, for a caller. Never in NMI context, where
    /// the slab allocator may not be entered: only the arrays serve an NMI.
    #[cold]
    fn alloc_backing(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        if in_nmi() {
            return None;
        }
        let obj = self.shared.backing.alloc(gfp)?;
        self.shared.count(Stat::AllocBacking, 1);
        self.out_of_backing(&[obj.as_ptr()]);
        Some(obj)
    }

    /// Allocates one object from the backing cache for a caller that may not use the arrays,
    /// counting why as `stat`.
    #[cold]
    #[inline(never)]
    fn alloc_off_array(&self, gfp: Gfp, stat: Stat) -> Option<NonNull<c_void>> {
        self.shared.count(stat, 1);
        self.alloc_backing(gfp)
    }

    /// Allocates an object: from this CPU's array, refilling it by half with one bulk call when
    /// it is empty, or from the backing cache when the array cannot be used.
    ///
    /// The hit is inlined into its callers (the C ABI's `pcpu_array_alloc()` above all); a miss
    /// is [`Cache::alloc_miss`].
    #[inline(always)]
    pub fn alloc(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        might_alloc(gfp);
        if !self.shared.placement.alloc_may_use_array(gfp) {
            return self.alloc_off_array(gfp, Stat::AllocBypassMemcg);
        }
        let popped = self
            .shared
            .with_this_cpu_raw(Some(Stat::AllocBypassTrylock), pop_loaded_counted);
        match popped {
            Some(Some(obj)) => {
                self.zero_if_asked(obj, gfp);
                Some(obj)
            }
            Some(None) => self.alloc_miss(gfp, false),
            None => self.alloc_miss(gfp, true),
        }
    }

    /// An allocation that this CPU's loaded magazine could not serve: its lock was held
    /// (`locked`), or the magazine was empty. Swaps in the previous magazine when that one holds
    /// objects; else the depot (whatever the gfp flags), a refill (when they may block) or the
    /// backing cache.
    #[cold]
    #[inline(never)]
    fn alloc_miss(&self, gfp: Gfp, locked: bool) -> Option<NonNull<c_void>> {
        if locked {
            return self.alloc_backing(gfp);
        }
        // Locked again: the hit path does not swap, so that it carries one magazine.
        if let Some(Some(obj)) = self.shared.with_this_cpu(None, pop_counted) {
            self.zero_if_asked(obj, gfp);
            return Some(obj);
        }
        // The depot before the gfp flags: a trade allocates nothing and never sleeps, so a
        // non-blocking allocation (`GFP_ATOMIC`, `GFP_NOWAIT`) takes the magazines that frees
        // in softirqs left there. Only the bulk refill needs flags that may block.
        if depot_allowed() {
            let loaded = self.load_from_depot(crate::placement::this_node(), pop_counted);
            if let Some(obj) = loaded.flatten() {
                self.zero_if_asked(obj, gfp);
                return Some(obj);
            }
        }
        if !Self::can_refill(gfp) {
            self.shared.count(Stat::AllocBypassNoBlock, 1);
            return self.alloc_backing(gfp);
        }
        let Some(obj) = self.refill_and_pop(gfp) else {
            self.shared.count(Stat::AllocBypassRefillFailed, 1);
            return self.alloc_backing(gfp);
        };
        self.zero_if_asked(obj, gfp);
        Some(obj)
    }

    /// Loads a full magazine of the depot of `node` into this CPU, whose magazines were both
    /// found empty, and runs `take` on them, still locked: the full magazine becomes the loaded
    /// one, and the empty one goes to the depot. `None` when the depot has no full magazine, or
    /// when the task is on another node's CPU or the CPU's lock is held by the time it comes
    /// back (the magazine goes back to the depot). When the magazines were filled meanwhile (an
    /// interrupt freed on this CPU), `take` runs on them and the full magazine goes back.
    ///
    /// Must be called where [`depot_allowed`] holds, unpinned.
    fn load_from_depot<R>(
        &self,
        node: i32,
        take: impl FnOnce(&mut CpuMagazines, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let mut full = Some(self.shared.get_full(node)?);
        let mut empty = None;
        let r = self.shared.with_this_cpu(None, |mags, stats| {
            if mags.node() != node {
                return None;
            }
            if mags.is_empty() {
                // SAFETY: The magazine comes from this cache's depot of `node`, this CPU's node.
                empty = full.take().map(|m| unsafe { mags.replace_loaded(m) });
                stats.inc(Stat::DepotGet);
            }
            Some(take(mags, stats))
        });
        // Unlocked: what this CPU did not keep goes back.
        if let Some(full) = full {
            self.shared.put_full(node, full);
        }
        if let Some(empty) = empty {
            self.shared.recycle(node, empty);
        }
        r.flatten()
    }

    /// Allocates `n` objects (at most [`BATCH_MAX`]) from the backing cache into `batch`, with
    /// the flags of a refill: one bulk call, or on a NUMA kernel one allocation on this CPU's
    /// memory node per object (`crate::placement`).
    fn bulk_into(&self, gfp: Gfp, n: usize, batch: &mut Batch) -> bool {
        let gfp = gfp.for_refill();
        batch.fill_with(n, |slots| {
            if self.shared.placement.numa() {
                self.shared
                    .backing
                    .alloc_bulk_on_node(gfp, crate::placement::this_node(), slots)
            } else {
                self.shared.backing.alloc_bulk(gfp, slots)
            }
        })
    }

    /// Moves what fits of `batch` into the loaded magazine of the CPU the task is on now (a
    /// refill), then runs `then` on that CPU's magazines while they are still locked. `None`,
    /// with `batch` untouched, when the CPU's lock is held.
    fn refill_this_cpu<R>(
        &self,
        batch: &mut Batch,
        bypass: Option<Stat>,
        then: impl FnOnce(&mut CpuMagazines, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let placement = &self.shared.placement;
        let mut remote = Batch::new();
        let r = self.shared.with_this_cpu(bypass, |mags, stats| {
            if placement.numa() {
                // The CPU's memory node may have changed since its magazines were set up (a
                // memoryless node that got memory): empty ones follow it, so that refills do not
                // all turn out remote.
                let here = crate::placement::this_node();
                if mags.node() != here {
                    mags.set_node(here);
                }
                let node = mags.node();
                // SAFETY: A batch's objects are live objects of the backing cache.
                let n = batch.move_where(&mut remote, |obj| unsafe {
                    !placement.belongs_on(obj, node)
                });
                stats.add(Stat::RefillRemoteNode, n as u64);
            }
            // SAFETY: A batch's objects are live objects of the backing cache that we own, of
            // this CPU's node when the cache keeps nodes apart (the others were moved out above).
            unsafe { mags.loaded_mut().fill_from(batch) };
            stats.inc(Stat::ArrayRefill);
            then(mags, stats)
        });
        self.shared.free_batch(&mut remote);
        r
    }

    /// Refills this CPU's array with one bulk call and pops one object from it.
    ///
    /// Called unpinned: the bulk call may sleep. Afterwards the task may be on another CPU, and
    /// that CPU's array may have been filled by others meanwhile: what does not fit goes back
    /// to the backing cache.
    fn refill_and_pop(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        let mut batch = Batch::new();
        if !self.bulk_into(gfp, self.shared.batch(), &mut batch) {
            return None;
        }
        let obj = self
            .refill_this_cpu(&mut batch, None, pop_counted)
            .flatten();
        // The lock was lost to an interrupt: serve the caller from the batch itself.
        let obj = obj.or_else(|| {
            let obj = batch.pop();
            if obj.is_some() {
                self.shared.count(Stat::AllocBacking, 1);
            }
            obj
        });
        self.shared.free_batch(&mut batch);
        obj
    }

    /// Frees `obj` into this CPU's magazines. When both are full, the loaded one is traded for
    /// an empty one at the depot, or else flushed by half with one bulk call (when interrupts
    /// are on); when the magazines cannot be used at all, `obj` goes to the backing cache.
    ///
    /// # Safety
    ///
    /// `obj` must be an object allocated from this cache (or its backing cache), owned by the
    /// caller, and not used afterwards.
    #[inline(always)]
    pub unsafe fn free(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller passes an object of this cache.
        if !unsafe { crate::kasan::check(obj) } {
            // Poisoned: the object is parked in a magazine already. KASAN has reported this
            // double free; pushing it again would hand it out twice.
            return;
        }
        if self.shared.placement.free_needs_check() || hardening::is_kfence(obj) {
            // SAFETY: Guaranteed by the caller.
            return unsafe { self.free_checked(obj) };
        }
        // SAFETY: Guaranteed by the caller.
        unsafe { self.free_to_array(obj, None) };
    }

    /// [`Cache::free`] of an object that placement rules apply to (`crate::placement`).
    ///
    /// # Safety
    ///
    /// As [`Cache::free`].
    #[cold]
    #[inline(never)]
    unsafe fn free_checked(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller gave us `obj`, a live object of this cache.
        match unsafe { self.shared.placement.free_to(obj) } {
            // SAFETY: As above.
            FreeTo::Backing(stat) => unsafe { self.free_off_array(obj, stat) },
            // SAFETY: As above.
            to => unsafe { self.free_to_array(obj, to.node()) },
        }
    }

    /// Frees `obj` into this CPU's array, else to the backing cache; with `node`, only into an
    /// array of that memory node.
    ///
    /// # Safety
    ///
    /// As [`Cache::free`].
    #[inline(always)]
    unsafe fn free_to_array(&self, obj: NonNull<c_void>, node: Option<i32>) {
        // `init_on_free`: no data of the previous user stays in a cached object, unless the
        // cache is exempt.
        if self.shared.placement.init_on_free() {
            // SAFETY: Guaranteed by the caller.
            return unsafe { self.free_zeroed(obj, node) };
        }
        // SAFETY: Guaranteed by the caller.
        unsafe { self.push_or_overflow(obj, node) };
    }

    /// [`Cache::free_to_array`] with `init_on_free`: zeroes `obj`, then frees it. Out of line,
    /// so that the call to the zeroing, which returns, gives the hit path no stack frame.
    ///
    /// # Safety
    ///
    /// As [`Cache::free_to_array`].
    #[cold]
    #[inline(never)]
    unsafe fn free_zeroed(&self, obj: NonNull<c_void>, node: Option<i32>) {
        self.zero(obj);
        // SAFETY: Guaranteed by the caller.
        unsafe { self.push_or_overflow(obj, node) };
    }

    /// Pushes `obj` onto this CPU's magazines, if of memory node `node` when given; when they
    /// are full, trades or flushes ([`Cache::free_overflow`]) where the bulk API may be used,
    /// else gives `obj` to the backing cache.
    ///
    /// # Safety
    ///
    /// As [`Cache::free_to_array`], for an object already zeroed when `init_on_free` asks.
    #[inline(always)]
    unsafe fn push_or_overflow(&self, obj: NonNull<c_void>, node: Option<i32>) {
        let freed = self
            .shared
            .with_this_cpu_raw(Some(Stat::FreeBypassTrylock), |mags, stats| {
                if node.is_some_and(|n| n != mags.node()) {
                    stats.inc(Stat::FreeRemoteNode);
                    return Freed::Backing;
                }
                // SAFETY: The caller hands us `obj`, a live object of the backing cache, of this
                // CPU's node when the cache keeps nodes apart (checked above).
                match unsafe { mags.push_loaded(obj) } {
                    Ok(()) => {
                        stats.inc(Stat::FreeArray);
                        Freed::Cached
                    }
                    Err(_) => Freed::Full,
                }
            })
            .unwrap_or(Freed::Backing);
        match freed {
            Freed::Cached => {}
            // SAFETY: The caller gave us `obj`, a live object of the backing cache.
            Freed::Full => unsafe { self.free_overflow(obj, node) },
            // SAFETY: As above.
            Freed::Backing => unsafe { self.free_one_to_backing(obj) },
        }
    }

    /// Gives one object to the backing cache. Out of line: the one-object slice it builds would
    /// give the hit path a stack frame.
    ///
    /// # Safety
    ///
    /// As [`Cache::free`].
    #[cold]
    #[inline(never)]
    unsafe fn free_one_to_backing(&self, obj: NonNull<c_void>) {
        // SAFETY: Guaranteed by the caller.
        unsafe { self.free_backing(&mut [obj.as_ptr()]) };
    }

    /// A free that found the loaded magazine of its CPU full. Locked again, it swaps in the
    /// previous magazine when that one has room (the hit path does not swap, so that it carries
    /// one magazine), and pushes `obj`. When both are full: with the CPU's lock dropped, it first
    /// gets an empty magazine from the depot of this CPU's node (when the context allows and the
    /// depot has room for a full one); then, locked, trades the full loaded magazine for it, or
    /// else, where the bulk API may be used, flushes half of the loaded magazine. The full
    /// magazine goes to the depot and the flushed half to the backing cache with the lock
    /// dropped; an object that still does not fit goes to the backing cache.
    ///
    /// # Safety
    ///
    /// As [`Cache::free`], for an object that may go to any array (`node` `None`) or only to
    /// one of memory node `node`.
    #[cold]
    #[inline(never)]
    unsafe fn free_overflow(&self, obj: NonNull<c_void>, obj_node: Option<i32>) {
        // The swap, when the previous magazine has room: the common overflow, which needs
        // neither the depot nor the bulk API.
        let swapped = self.shared.with_this_cpu(None, |mags, stats| {
            if obj_node.is_some_and(|n| n != mags.node()) {
                return false;
            }
            // SAFETY: The caller hands us `obj`, a live object of the backing cache, of this
            // CPU's node when the cache keeps nodes apart (checked above).
            let pushed = unsafe { mags.push(obj) }.is_ok();
            if pushed {
                stats.inc(Stat::FreeArray);
            }
            pushed
        });
        if swapped == Some(true) {
            return;
        }
        let node = crate::placement::this_node();
        let mut empty = if depot_allowed() {
            self.shared.get_empty_for_full(node)
        } else {
            None
        };
        let bulk = bulk_allowed();
        let mut full = None;
        let mut batch = Batch::new();
        let batch_size = self.shared.batch();
        let cached = self
            .shared
            .with_this_cpu(Some(Stat::FreeBypassTrylock), |mags, stats| {
                if obj_node.is_some_and(|n| n != mags.node()) {
                    stats.inc(Stat::FreeRemoteNode);
                    return false;
                }
                if mags.is_full() {
                    match empty.take() {
                        Some(e) => {
                            // SAFETY: An empty magazine of this cache (of any node, as it holds
                            // no object).
                            full = Some((unsafe { mags.replace_loaded(e) }, mags.node()));
                        }
                        None if bulk => {
                            mags.loaded_mut().take_into(batch_size, &mut batch);
                            stats.inc(Stat::ArrayFlush);
                        }
                        // Interrupts off: no flush; the push below fails.
                        None => {}
                    }
                }
                // SAFETY: The caller hands us `obj`, a live object of the backing cache, of this
                // CPU's node when the cache keeps nodes apart (checked above).
                match unsafe { mags.push(obj) } {
                    Ok(()) => {
                        stats.inc(Stat::FreeArray);
                        true
                    }
                    Err(_) => {
                        stats.inc(Stat::FreeBypassFull);
                        false
                    }
                }
            })
            .unwrap_or(false);
        // Unlocked and unpinned: the full magazine to the depot, the empty one back, the bulk
        // free of the flushed half, then the fallback.
        if let Some((full, full_node)) = full {
            self.put_full_counted(full_node, full);
        }
        if let Some(empty) = empty {
            self.shared.recycle(node, empty);
        }
        self.shared.free_batch(&mut batch);
        if !cached {
            // SAFETY: The caller gave us `obj`, a live object of the backing cache.
            unsafe { self.free_backing(&mut [obj.as_ptr()]) };
        }
    }

    /// Gives `obj` to the backing cache because it may not be parked, counting why as `stat`.
    ///
    /// # Safety
    ///
    /// As [`Cache::free`].
    #[cold]
    #[inline(never)]
    unsafe fn free_off_array(&self, obj: NonNull<c_void>, stat: Stat) {
        self.shared.count(stat, 1);
        // SAFETY: Guaranteed by the caller.
        unsafe { self.free_backing(&mut [obj.as_ptr()]) };
    }

    /// Allocates an object on `node`: from this CPU's array when `node` is the CPU's memory node
    /// and the array has one, otherwise from the backing cache on `node`. `NUMA_NO_NODE` is
    /// [`Cache::alloc`].
    pub fn alloc_node(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
        if node == bindings::NUMA_NO_NODE {
            return self.alloc(gfp);
        }
        might_alloc(gfp);
        if !self.shared.placement.alloc_may_use_array(gfp) {
            self.shared.count(Stat::AllocBypassMemcg, 1);
        } else {
            let popped = self
                .shared
                .with_this_cpu(Some(Stat::AllocBypassTrylock), |mags, stats| {
                    if mags.node() != node {
                        return None;
                    }
                    pop_counted(mags, stats)
                })
                .flatten();
            if let Some(obj) = popped {
                self.zero_if_asked(obj, gfp);
                return Some(obj);
            }
        }
        if in_nmi() {
            return None;
        }
        self.shared.count(Stat::AllocBypassNode, 1);
        let obj = self.shared.backing.alloc_node(gfp, node)?;
        self.shared.count(Stat::AllocBacking, 1);
        self.out_of_backing(&[obj.as_ptr()]);
        Some(obj)
    }

    /// Fills all of `out`: first from this CPU's magazines, then from full magazines of its
    /// node's depot, the rest with one bulk call to the backing cache. All or nothing: on
    /// failure every object is given back and `out` must not be used. An empty `out` fails, as
    /// `kmem_cache_alloc_bulk()` does, and so does a call with interrupts disabled or in hard
    /// interrupt or NMI context (see [`crate::cpu_pin::bulk_allowed`]), where the bulk API may
    /// not be used.
    pub fn alloc_bulk(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool {
        self.alloc_bulk_zeroing(gfp, out, true)
    }

    /// [`Cache::alloc_bulk`], which zeroes the objects taken from the magazines as `gfp` or
    /// `init_on_alloc` ask only when `zero`: a reservation zeroes each object as it hands it
    /// out instead ([`Cache::zero_if_asked`]), as `kmem_cache_alloc_from_sheaf()` does.
    pub(crate) fn alloc_bulk_zeroing(&self, gfp: Gfp, out: &mut [*mut c_void], zero: bool) -> bool {
        if out.is_empty() || !bulk_allowed() {
            return false;
        }
        might_alloc(gfp);
        let from_array = if self.shared.placement.alloc_may_use_array(gfp) {
            self.pop_bulk(out)
        } else {
            self.shared.count(Stat::AllocBypassMemcg, out.len() as u64);
            0
        };
        if zero && (gfp.wants_zero() || self.shared.placement.init_on_alloc()) {
            for &obj in &out[..from_array] {
                if let Some(obj) = NonNull::new(obj) {
                    self.zero(obj);
                }
            }
        }
        let rest = &mut out[from_array..];
        if rest.is_empty() {
            return true;
        }
        if self.shared.backing.alloc_bulk(gfp, rest) {
            self.shared.count(Stat::AllocBacking, rest.len() as u64);
            self.out_of_backing(rest);
            return true;
        }
        // All or nothing: the objects taken from the magazines go back.
        // SAFETY: `out[..from_array]` are live objects of this cache that we just handed out.
        unsafe { self.free_bulk(&mut out[..from_array]) };
        false
    }

    /// Fills the front of `out` from this CPU's magazines and then, while the context allows,
    /// from full magazines of its node's depot loaded in turn. Returns how many objects that
    /// was.
    fn pop_bulk(&self, out: &mut [*mut c_void]) -> usize {
        let pop = |mags: &mut CpuMagazines, stats: ThisCpuStats<'_>, out: &mut [*mut c_void]| {
            let mut n = 0;
            while n < out.len() {
                let Some(obj) = mags.pop() else { break };
                out[n] = obj.as_ptr();
                n += 1;
            }
            stats.add(Stat::AllocArray, n as u64);
            n
        };
        let Some(mut n) = self
            .shared
            .with_this_cpu(Some(Stat::AllocBypassTrylock), |mags, stats| {
                pop(mags, stats, out)
            })
        else {
            return 0;
        };
        while n < out.len() && depot_allowed() {
            let rest = &mut out[n..];
            match self.load_from_depot(crate::placement::this_node(), |mags, stats| {
                pop(mags, stats, rest)
            }) {
                Some(got) if got > 0 => n += got,
                _ => break,
            }
        }
        n
    }

    /// Frees every object in `objs`: into this CPU's magazines while they have room, trading a
    /// full magazine for an empty one at the depot of its node while the context allows, the
    /// rest with one bulk call to the backing cache (one by one when interrupts are off). NULL
    /// entries are skipped, and so is an object KASAN reports as parked in a magazine already
    /// (a double free), as [`Cache::free`] does. An object that may not be parked
    /// (`crate::placement`) goes to the backing cache. `objs` is scratch space afterwards, as
    /// for `kmem_cache_free_bulk()`.
    ///
    /// # Safety
    ///
    /// Every non-null pointer in `objs` must be an object allocated from this cache, owned by
    /// the caller and not used afterwards.
    pub unsafe fn free_bulk(&self, objs: &mut [*mut c_void]) {
        let placement = &self.shared.placement;
        // The objects that may be parked, compacted to the front of `objs`: NULL entries and
        // objects that KASAN reports as cached already are left out, and those that must go to
        // the backing cache are counted and gathered in `off`, freed whenever it fills.
        let mut off = Batch::new();
        let mut n = 0;
        for i in 0..objs.len() {
            let Some(obj) = NonNull::new(objs[i]) else {
                continue;
            };
            // SAFETY: The caller gave us `obj`, an object of this cache.
            if !unsafe { crate::kasan::check(obj) } {
                continue;
            }
            if !placement.free_needs_check() && !hardening::is_kfence(obj) {
                objs[n] = obj.as_ptr();
                n += 1;
                continue;
            }
            // The node is checked under the lock, below.
            // SAFETY: The caller gave us `obj`, a live object of this cache.
            if let Some(stat) = unsafe { placement.free_to_backing(obj) } {
                self.shared.count(stat, 1);
                if let Err(obj) = off.push(obj) {
                    // SAFETY: `off`'s objects are objects of this cache the caller gave us.
                    off.drain_with(|objs| unsafe { self.free_backing(objs) });
                    // Cannot fail: `off` is empty now.
                    let _ = off.push(obj);
                }
                continue;
            }
            objs[n] = obj.as_ptr();
            n += 1;
        }
        // SAFETY: As above.
        off.drain_with(|objs| unsafe { self.free_backing(objs) });
        if n == 0 {
            return;
        }
        let objs = &mut objs[..n];
        // `objs[..remote]` are other nodes' objects, `objs[remote..left]` those not tried yet.
        // SAFETY: `objs` are non-null live objects of this cache that the caller gave us.
        let Some((mut remote, mut left)) = (unsafe { self.push_bulk(objs) }) else {
            // The lock was held: everything goes to the backing cache.
            // SAFETY: As above.
            return unsafe { self.free_backing(objs) };
        };
        while left > remote && depot_allowed() && self.trade_full_loaded() {
            let untried = left - remote;
            // SAFETY: As above.
            let Some((r, l)) = (unsafe { self.push_bulk(&mut objs[remote..left]) }) else {
                break;
            };
            left = remote + l;
            remote += r;
            if l - r == untried {
                break;
            }
        }
        // SAFETY: `objs[..left]` are objects of this cache that the caller gave us and that no
        // magazine took.
        unsafe { self.free_backing(&mut objs[..left]) };
    }

    /// Pushes the objects of `objs` that belong on this CPU's node into its magazines, in
    /// order, until both are full. Compacts to the front of `objs` first the objects of another
    /// node, then those not tried (from the first that found the magazines full on), and
    /// returns where each part ends: `(remote, left)`. `None`, with `objs` untouched, when the
    /// CPU's lock is held.
    ///
    /// # Safety
    ///
    /// Every pointer in `objs` must be a live object of this cache, owned by the caller and not
    /// used afterwards (unless it is left out).
    // Never inlined, so that KASAN names it in a report of a pointer given twice.
    #[inline(never)]
    unsafe fn push_bulk(&self, objs: &mut [*mut c_void]) -> Option<(usize, usize)> {
        let placement = &self.shared.placement;
        self.shared
            .with_this_cpu(Some(Stat::FreeBypassTrylock), |mags, stats| {
                let node = mags.node();
                let mut remote = 0;
                let mut pushed = 0;
                let mut i = 0;
                while i < objs.len() && !mags.is_full() {
                    let Some(obj) = NonNull::new(objs[i]) else {
                        i += 1;
                        continue;
                    };
                    // SAFETY: The caller gave us `obj`, a live object of this cache.
                    if !unsafe { placement.belongs_on(obj, node) } {
                        stats.inc(Stat::FreeRemoteNode);
                        objs[remote] = obj.as_ptr();
                        remote += 1;
                        i += 1;
                        continue;
                    }
                    // The same pointer twice in one call (`{a, a}`, `{a, b, a}`): its first copy
                    // is parked and poisoned now, so KASAN reports the second, which is left
                    // out (it is nowhere now, as after `Cache::free`'s check).
                    // SAFETY: The caller gave us `obj`, a pointer into slab memory.
                    if !unsafe { crate::kasan::check(obj) } {
                        i += 1;
                        continue;
                    }
                    if placement.init_on_free() {
                        self.zero(obj);
                    }
                    // SAFETY: The caller gave us `obj`, a live object of this cache, ours now,
                    // of this CPU's node when the cache keeps nodes apart (checked above).
                    if unsafe { mags.push(obj) }.is_err() {
                        break;
                    }
                    pushed += 1;
                    i += 1;
                }
                stats.add(Stat::FreeArray, pushed as u64);
                // `remote <= i`: the objects not tried move down behind the remote ones.
                objs.copy_within(i.., remote);
                (remote, remote + (objs.len() - i))
            })
    }

    /// For a bulk free that found both magazines of this CPU full: trades the loaded one for
    /// an empty one of the depot of this CPU's node ([`Shared::get_empty_for_full`]). Returns
    /// whether this CPU's magazines have room now.
    ///
    /// Must be called where [`depot_allowed`] holds, unpinned.
    fn trade_full_loaded(&self) -> bool {
        let node = crate::placement::this_node();
        let mut empty = self.shared.get_empty_for_full(node);
        if empty.is_none() {
            return false;
        }
        let mut full = None;
        let room = self
            .shared
            .with_this_cpu(None, |mags, _| {
                if mags.is_full() {
                    if let Some(e) = empty.take() {
                        // SAFETY: An empty magazine of this cache (of any node, as it holds no
                        // object).
                        full = Some((unsafe { mags.replace_loaded(e) }, mags.node()));
                    }
                }
                !mags.is_full()
            })
            .unwrap_or(false);
        // Unlocked: the full magazine to the depot, the empty one back if unused.
        if let Some((full, full_node)) = full {
            self.put_full_counted(full_node, full);
        }
        if let Some(empty) = empty {
            self.shared.recycle(node, empty);
        }
        room
    }

    /// Gives a full magazine of a CPU of `node` to that node's depot, counting `depot_put`, or
    /// `depot_miss` when the depot had no room and its objects went to the backing cache.
    fn put_full_counted(&self, node: i32, full: Magazine) {
        let stat = if self.shared.put_full(node, full) {
            Stat::DepotPut
        } else {
            Stat::DepotMiss
        };
        self.shared.count(stat, 1);
    }

    /// Gives `objs` (non-null objects of this cache) straight to the backing cache, with one
    /// bulk call when interrupts are on. In NMI context, where the slab allocator may not be
    /// entered, the objects are leaked after a warning: freeing there is outside the contract.
    ///
    /// # Safety
    ///
    /// Every pointer in `objs` must be a live object of this cache, owned by the caller and not
    /// used afterwards.
    #[cold]
    unsafe fn free_backing(&self, objs: &mut [*mut c_void]) {
        if objs.is_empty() {
            return;
        }
        if in_nmi() {
            static WARNED: Atomic<i32> = Atomic::new(0);
            if WARNED.xchg(1, Relaxed) == 0 {
                pr_warn!("free in NMI context: {} objects leaked\n", objs.len());
                kernel::warn_on!(true);
            }
            return;
        }
        self.shared.count(Stat::FreeBacking, objs.len() as u64);
        // One object: `kmem_cache_free()`, which is cheaper than a bulk free of one.
        if objs.len() > 1 && bulk_allowed() {
            // SAFETY: Guaranteed by the caller.
            unsafe { self.shared.backing.free_bulk(objs) };
            return;
        }
        for &obj in objs.iter() {
            if let Some(obj) = NonNull::new(obj) {
                // SAFETY: Guaranteed by the caller.
                unsafe { self.shared.backing.free(obj) };
            }
        }
    }

    /// Gives every object parked in every online CPU's array back to the backing cache, each
    /// CPU's on that CPU (only the CPUs whose array holds objects are woken). Returns how many.
    /// May sleep, and waits for a shrinker scan of this cache that is running.
    pub fn shrink(&self) -> usize {
        crate::shrink::flush_all(&self.shared)
    }

    /// Makes this CPU's array hold at least `count` objects, so that the next `count`
    /// allocations on this CPU are likely served from it.
    ///
    /// Opportunistic, as in the 2023 design: nothing keeps the task on this CPU afterwards, and
    /// an interrupt may take objects first. Callers that need a guarantee reserve instead.
    /// `EINVAL` when `count` exceeds the capacity or interrupts are off, `ENOMEM` when the bulk
    /// allocation fails, `EAGAIN` when the array kept changing under us.
    pub fn prefill(&self, count: usize, gfp: Gfp) -> Result {
        if count > self.shared.capacity() || !bulk_allowed() {
            return Err(EINVAL);
        }
        if !self.shared.placement.alloc_may_use_array(gfp) {
            // Accounted allocations do not use the arrays (`crate::placement`): nothing to fill.
            return Ok(());
        }
        for _ in 0..4 {
            let missing = self
                .shared
                .with_this_cpu(None, |mags, _| count.saturating_sub(mags.len()))
                .ok_or(EAGAIN)?;
            if missing == 0 {
                return Ok(());
            }
            let mut batch = Batch::new();
            if !self.bulk_into(gfp, missing.min(BATCH_MAX), &mut batch) {
                return Err(ENOMEM);
            }
            // What does not fit, or all of it when the lock was held, goes back.
            self.refill_this_cpu(&mut batch, None, |_, _| ());
            self.shared.free_batch(&mut batch);
        }
        Err(EAGAIN)
    }
}

#[cfg(pcpu_array_kunit)]
#[kunit_tests(pcpu_array_cache)]
mod tests {
    use super::*;
    use crate::testing::{
        bh_off,
        fixed_cache,
        irqs_off,
        on_cpu,
        online_cpus,
        CaseBox, //
    };

    fn first_cpu() -> Result<u32> {
        online_cpus().next().ok_or(ENODEV)
    }

    /// Allocates `n` objects; `None` when one allocation failed (and frees the others).
    fn alloc_n(c: &Cache, n: usize, gfp: Gfp) -> Option<KVec<NonNull<c_void>>> {
        let mut v = KVec::with_capacity(n, GFP_KERNEL).ok()?;
        for _ in 0..n {
            match c.alloc(gfp) {
                Some(o) => v.push(o, GFP_KERNEL).ok()?,
                None => {
                    free_all(c, v);
                    return None;
                }
            }
        }
        Some(v)
    }

    fn free_all(c: &Cache, v: KVec<NonNull<c_void>>) {
        for o in v {
            // SAFETY: Every object in `v` was allocated from `c` by the test and is unused.
            unsafe { c.free(o) };
        }
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(fixed_cache(c"pcpu_array_test_cfg", 0).err(), Some(EINVAL));
        let too_big = u32::try_from(MAX_CAPACITY + 1).unwrap_or(u32::MAX);
        assert_eq!(
            fixed_cache(c"pcpu_array_test_cfg", too_big).err(),
            Some(EINVAL)
        );
        assert_eq!(
            Cache::new(c"pcpu_array_test_cfg", Config::new(0, 8)).err(),
            Some(EINVAL)
        );
        let misaligned = Config {
            align: 24,
            ..Config::new(64, 8)
        };
        assert_eq!(
            Cache::new(c"pcpu_array_test_cfg", misaligned).err(),
            Some(EINVAL)
        );
        let kmalloc = Config {
            flags: 1 << bindings::_slab_flag_bits__SLAB_KMALLOC,
            ..Config::new(64, 8)
        };
        assert_eq!(
            Cache::new(c"pcpu_array_test_cfg", kmalloc).err(),
            Some(EINVAL)
        );
    }

    #[test]
    fn a_cache_pins_the_module() -> Result {
        // SAFETY: `THIS_MODULE` is this module, alive while its code runs.
        let refs = || unsafe { bindings::module_refcount(crate::lifecycle::this_module()) };
        let before = refs();
        let c = fixed_cache(c"pcpu_array_test_modref", 8)?;
        let during = refs();
        drop(c);
        assert_eq!(during, before + 1);
        assert_eq!(refs(), before);
        Ok(())
    }

    #[test]
    fn shrink_flushes_every_cpu() -> Result {
        let c = fixed_cache(c"pcpu_array_test_shrink", 8)?;
        let mut filled = 0u64;
        for cpu in online_cpus() {
            on_cpu(cpu, || c.prefill(8, Gfp::KERNEL))
                .ok_or(EIO)
                .flatten()?;
            filled += 8;
        }
        let before = c.stats();
        assert_eq!(before.get(Stat::ObjectsCached), filled);
        assert_eq!(c.shrink() as u64, filled);
        let after = c.stats();
        assert_eq!(after.get(Stat::ObjectsCached), 0);
        assert_eq!(after.since(&before, Stat::ShrinkFlush), filled);
        // One work item per CPU that held objects, none for the others.
        assert_eq!(after.since(&before, Stat::ShrinkWork), filled / 8);
        assert_eq!(after.in_use(), 0);
        assert_eq!(c.shrink(), 0);
        // Nothing left anywhere: no CPU is woken.
        assert_eq!(c.stats().since(&after, Stat::ShrinkWork), 0);
        // An emptied array refills as usual.
        let obj = c.alloc(Gfp::KERNEL).ok_or(ENOMEM)?;
        // SAFETY: Just allocated from `c`, unused.
        unsafe { c.free(obj) };
        assert_eq!(c.stats().since(&after, Stat::ArrayRefill), 1);
        Ok(())
    }

    #[test]
    fn shrinker_counts_and_scans_like_reclaim() -> Result {
        use crate::shrink::{
            SHRINK_EMPTY,
            SHRINK_STOP, //
        };
        let c = fixed_cache(c"pcpu_array_test_shrinker", 8)?;
        let s = c.shrinker().raw();
        // SAFETY: All-zero is a valid `shrink_control`.
        let mut sc: bindings::shrink_control = unsafe { core::mem::zeroed() };
        sc.gfp_mask = bindings::GFP_KERNEL;
        sc.nr_to_scan = 128;
        // What reclaim does: `count_objects`, then `scan_objects`.
        // SAFETY: `s` is the registered shrinker of `c`; its callbacks are set.
        let (count, scan) = unsafe { ((*s).count_objects, (*s).scan_objects) };
        let (count, scan) = (count.ok_or(EINVAL)?, scan.ok_or(EINVAL)?);
        // SAFETY: The shrinker is live for as long as `c`; `sc` is a valid control block.
        assert_eq!(unsafe { count(s, &mut sc) }, SHRINK_EMPTY);
        on_cpu(first_cpu()?, || c.prefill(8, Gfp::KERNEL))
            .ok_or(EIO)
            .flatten()?;
        let before = c.stats();
        // SAFETY: As above.
        assert_eq!(unsafe { count(s, &mut sc) }, 8);
        // SAFETY: As above.
        assert_eq!(unsafe { scan(s, &mut sc) }, 8);
        assert_eq!(sc.nr_scanned, 8);
        let after = c.stats();
        assert_eq!(after.get(Stat::ObjectsCached), 0);
        assert_eq!(after.since(&before, Stat::ShrinkFlush), 8);
        assert_eq!(after.since(&before, Stat::ShrinkWork), 1);
        // SAFETY: As above.
        assert_eq!(unsafe { scan(s, &mut sc) }, SHRINK_STOP);
        Ok(())
    }

    #[test]
    fn refill_by_half_and_swap_magazines() -> Result {
        let c = fixed_cache(c"pcpu_array_test_half", 8)?;
        assert_eq!(c.batch(), 4);
        let before = c.stats();
        let (mid, after) = on_cpu(first_cpu()?, || {
            // Nine allocations from empty magazines and an empty depot: refills before the 1st,
            // 5th and 9th.
            let objs = alloc_n(&c, 9, Gfp::KERNEL)?;
            let mid = c.stats();
            // Nine frees: the loaded magazine reaches 8 after five; the sixth swaps in the empty
            // previous magazine, which takes the other four. No flush.
            free_all(&c, objs);
            Some((mid, c.stats()))
        })
        .flatten()
        .ok_or(ENOMEM)?;
        assert_eq!(mid.since(&before, Stat::ArrayRefill), 3);
        assert_eq!(mid.since(&before, Stat::DepotMiss), 3);
        assert_eq!(mid.since(&before, Stat::AllocArray), 9);
        assert_eq!(mid.since(&before, Stat::AllocBacking), 0);
        assert_eq!(mid.get(Stat::ObjectsCached), 3);
        assert_eq!(after.since(&mid, Stat::FreeArray), 9);
        assert_eq!(after.since(&mid, Stat::ArrayFlush), 0);
        assert_eq!(after.since(&mid, Stat::DepotPut), 0);
        assert_eq!(after.since(&mid, Stat::FreeBacking), 0);
        assert_eq!(after.get(Stat::ObjectsCached), 12);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn depot_serves_a_miss_and_absorbs_an_overflow() -> Result {
        let c = fixed_cache(c"pcpu_array_test_depot", 8)?;
        let r = on_cpu(first_cpu()?, || {
            // 24 allocations leave both magazines empty.
            let objs = alloc_n(&c, 24, Gfp::KERNEL)?;
            let before = c.stats();
            // 24 frees: 8 fill the loaded magazine, 8 the previous one; the 17th finds both
            // full and trades the loaded one for an empty (new) one: the full one goes to the
            // depot whole, with no bulk free.
            free_all(&c, objs);
            let freed = c.stats();
            let depot_after_free = c.shared.depot_objects();
            // 16 allocations empty both magazines; the 17th trades the empty loaded magazine for
            // the depot's full one, with no bulk allocation.
            let objs = alloc_n(&c, 17, Gfp::KERNEL)?;
            let mid = c.stats();
            let depot_after_alloc = c.shared.depot_magazines();
            free_all(&c, objs);
            Some((before, freed, mid, depot_after_free, depot_after_alloc))
        })
        .flatten();
        let (before, freed, mid, depot_after_free, (full, empty)) = r.ok_or(ENOMEM)?;
        assert_eq!(freed.since(&before, Stat::FreeArray), 24);
        assert_eq!(freed.since(&before, Stat::DepotPut), 1);
        assert_eq!(freed.since(&before, Stat::ArrayFlush), 0);
        assert_eq!(freed.since(&before, Stat::FreeBacking), 0);
        assert_eq!(freed.get(Stat::ObjectsCached), 16);
        assert_eq!(depot_after_free, 8);
        assert_eq!(mid.since(&freed, Stat::AllocArray), 17);
        assert_eq!(mid.since(&freed, Stat::DepotGet), 1);
        assert_eq!(mid.since(&freed, Stat::ArrayRefill), 0);
        assert_eq!(mid.since(&freed, Stat::AllocBacking), 0);
        assert_eq!(mid.get(Stat::ObjectsCached), 7);
        // The full magazine left the depot; the empty one it was traded for is there now.
        assert_eq!((full, empty), (0, 1));
        let after = c.stats();
        assert_eq!(after.in_use(), 0);
        // Shrink empties the depot too; destroy (`c` dropped) finds nothing left, and
        // `kmem_cache_destroy()` would report any object left behind.
        let cached = after.get(Stat::ObjectsCached) as usize + c.shared.depot_objects();
        assert_eq!(c.shrink(), cached);
        assert_eq!(c.shared.depot_objects(), 0);
        assert_eq!(c.stats().get(Stat::ObjectsCached), 0);
        Ok(())
    }

    #[test]
    fn capacity_changes_at_run_time() -> Result {
        let c = fixed_cache(c"pcpu_array_test_resize", 8)?;
        let cpu = first_cpu()?;
        // Both magazines of this CPU full, and one full magazine in the depot.
        on_cpu(cpu, || {
            free_all(&c, alloc_n(&c, 24, Gfp::KERNEL)?);
            Some(())
        })
        .flatten()
        .ok_or(ENOMEM)?;
        let before = c.stats();
        assert_eq!(before.get(Stat::ObjectsCached), 16);
        assert_eq!(c.shared.depot_objects(), 8);
        assert_eq!(c.shared.set_capacity(0), Err(EINVAL));
        assert_eq!(c.shared.set_capacity(MAX_CAPACITY + 1), Err(EINVAL));
        c.shared.set_capacity(3)?;
        let after = c.stats();
        assert_eq!((c.capacity(), c.batch()), (3, 1));
        assert_eq!(after.since(&before, Stat::CapacityResize), 1);
        // Nothing is parked beyond the new capacity, and nothing was lost.
        assert_eq!(c.shared.depot_objects(), 0);
        assert!(after.get(Stat::ObjectsCached) <= 6);
        assert_eq!(after.in_use(), 0);
        // The magazines hold three now: nine frees fill both and send one to the depot.
        let r = on_cpu(cpu, || {
            let objs = alloc_n(&c, 9, Gfp::KERNEL)?;
            let mid = c.stats();
            free_all(&c, objs);
            Some((mid, c.stats(), c.shared.depot_objects()))
        })
        .flatten();
        let (mid, end, depot) = r.ok_or(ENOMEM)?;
        assert_eq!(end.since(&mid, Stat::DepotPut), 1);
        assert_eq!(depot, 3);
        assert_eq!(end.get(Stat::ObjectsCached), 6);
        assert_eq!(end.in_use(), 0);
        Ok(())
    }

    #[test]
    fn capacity_adapts_to_depot_misses_and_quiet() -> Result {
        // Adaptive, as every cache by default: its periodic work may end an interval between
        // the steps below, so the checks hold whoever ends it.
        let c = CaseBox::new(Cache::new(c"pcpu_array_test_adapt", Config::new(64, 4))?)?;
        assert_eq!(c.shared.capacity_bounds(), (4, MAX_CAPACITY));
        let before = c.stats();
        // 200 objects through magazines of 4: the depot fills up (10 magazines) and most
        // overflows and misses fall back to the bulk API.
        on_cpu(first_cpu()?, || {
            free_all(&c, alloc_n(&c, 200, Gfp::KERNEL)?);
            free_all(&c, alloc_n(&c, 200, Gfp::KERNEL)?);
            Some(())
        })
        .flatten()
        .ok_or(ENOMEM)?;
        let busy = c.stats();
        assert!(busy.since(&before, Stat::DepotMiss) >= 8);
        c.shared.adapt_capacity()?;
        let grown = c.capacity();
        // By half, once or more (the periodic work may have seen part of the traffic).
        assert!(grown >= 6);
        assert!(c.stats().since(&busy, Stat::CapacityResize) >= 1);
        // Quiet intervals: after four in a row the capacity comes back by a quarter, never
        // below the floor.
        for _ in 0..4 {
            c.shared.adapt_capacity()?;
        }
        let quiet = c.capacity();
        assert!(quiet < grown);
        assert!(quiet >= 4);
        // By hand: the floor follows.
        c.shared.set_capacity_by_hand(12)?;
        assert_eq!(c.shared.capacity_bounds(), (12, MAX_CAPACITY));
        assert_eq!(c.capacity(), 12);
        assert_eq!(c.shared.set_capacity_by_hand(0), Err(EINVAL));
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    /// The first two online CPUs, when they share a memory node (so that objects freed on one
    /// may be parked for the other).
    fn two_cpus_of_one_node() -> Option<(u32, u32)> {
        let mut cpus = online_cpus();
        let (a, b) = (cpus.next()?, cpus.next()?);
        let node = crate::placement::cpu_node;
        (node(a) == node(b)).then_some((a, b))
    }

    #[test]
    fn hand_off_through_the_depot() -> Result {
        const ROUNDS: u64 = 12;
        const N: usize = 40;
        let Some((a, b)) = two_cpus_of_one_node() else {
            crate::testing::skip(c"needs two online CPUs of one memory node");
            return Ok(());
        };
        let c = fixed_cache(c"pcpu_array_test_handoff", 8)?;
        let before = c.stats();
        // One CPU allocates, the other frees: after the first rounds, whole magazines go
        // from the freeing CPU to the depot and from the depot to the allocating CPU.
        for _ in 0..ROUNDS {
            let objs = on_cpu(a, || alloc_n(&c, N, Gfp::KERNEL))
                .flatten()
                .ok_or(ENOMEM)?;
            on_cpu(b, || free_all(&c, objs)).ok_or(EIO)?;
        }
        let after = c.stats();
        let per_round = (N / 8) as u64;
        assert!(after.since(&before, Stat::DepotGet) >= per_round * (ROUNDS - 2));
        assert!(after.since(&before, Stat::DepotPut) >= per_round * (ROUNDS - 1));
        // Refills only in the first two rounds; no flush, nothing to the backing cache.
        assert!(after.since(&before, Stat::ArrayRefill) <= 2 * N as u64 / 4);
        assert_eq!(after.since(&before, Stat::ArrayFlush), 0);
        assert_eq!(after.since(&before, Stat::FreeBacking), 0);
        assert_eq!(after.in_use(), 0);
        let parked = after.get(Stat::ObjectsCached) as usize + c.shared.depot_objects();
        assert_eq!(c.shrink(), parked);
        assert_eq!(c.shared.depot_objects(), 0);
        Ok(())
    }

    #[test]
    fn depot_under_concurrent_traffic_and_shrink() -> Result {
        const ROUNDS: usize = 15;
        // On one node the two CPUs share a depot; on two, each its own, and the shrink still
        // races with both.
        let mut cpus = online_cpus();
        let (Some(a), Some(b)) = (cpus.next(), cpus.next()) else {
            crate::testing::skip(c"needs two online CPUs");
            return Ok(());
        };
        let c = fixed_cache(c"pcpu_array_test_depot_race", 4)?;
        let c: &Cache = &c;
        // Both CPUs trade with their depots while one of them also shrinks the cache.
        let work = move |cpu: u32, shrink: bool| -> Option<()> {
            on_cpu(cpu, || {
                for _ in 0..ROUNDS {
                    free_all(c, alloc_n(c, 24, Gfp::KERNEL)?);
                }
                Some(())
            })
            .flatten()?;
            if shrink {
                c.shrink();
            }
            Some(())
        };
        let (x, y) = crate::testing::in_parallel(
            move || (0..3).try_for_each(|_| work(a, false)),
            move || (0..3).try_for_each(|_| work(b, true)),
        )
        .ok_or(EIO)?;
        x.ok_or(ENOMEM)?;
        y.ok_or(ENOMEM)?;
        let s = c.stats();
        assert_eq!(s.in_use(), 0);
        assert!(s.get(Stat::DepotPut) > 0);
        c.shrink();
        assert_eq!(c.shared.depot_objects(), 0);
        assert_eq!(c.stats().get(Stat::ObjectsCached), 0);
        Ok(())
    }

    #[test]
    fn depot_limit_falls_back_to_a_flush() -> Result {
        let c = fixed_cache(c"pcpu_array_test_depot_limit", 1)?;
        let limit = c.shared.depot_limit();
        let r = on_cpu(first_cpu()?, || {
            // Capacity 1: after two frees both magazines are full, and every further free
            // gives one full magazine to the depot, until it holds `limit` of them; the next
            // one is flushed by half with one bulk free.
            let n = 2 + limit + 1;
            let objs = alloc_n(&c, n, Gfp::KERNEL)?;
            let before = c.stats();
            free_all(&c, objs);
            Some((before, c.stats(), c.shared.depot_objects()))
        })
        .flatten();
        let (before, after, depot) = r.ok_or(ENOMEM)?;
        assert_eq!(after.since(&before, Stat::DepotPut), limit as u64);
        assert_eq!(after.since(&before, Stat::DepotMiss), 1);
        assert_eq!(after.since(&before, Stat::ArrayFlush), 1);
        assert_eq!(depot, limit);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn held_lock_bypasses_and_loses_nothing() -> Result {
        let c = fixed_cache(c"pcpu_array_test_trylock", 8)?;
        // Put an object in the array so that a bypassed pop is visible.
        c.prefill(1, Gfp::KERNEL)?;
        let before = c.stats();
        // What an interrupted task looks like to an interrupt: this CPU's lock is held.
        let obj = c
            .shared
            .hold_this_cpu(|| {
                let obj = c.alloc(Gfp::NOWAIT);
                if let Some(o) = obj {
                    // SAFETY: Just allocated from `c`, unused.
                    unsafe { c.free(o) };
                }
                obj
            })
            .ok_or(EBUSY)?;
        assert!(obj.is_some());
        let after = c.stats();
        assert_eq!(after.since(&before, Stat::AllocBypassTrylock), 1);
        assert_eq!(after.since(&before, Stat::FreeBypassTrylock), 1);
        assert_eq!(after.since(&before, Stat::AllocBacking), 1);
        assert_eq!(after.since(&before, Stat::FreeBacking), 1);
        assert_eq!(after.since(&before, Stat::AllocArray), 0);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    /// Makes both magazines of this CPU full on a cache of capacity 4 (call it pinned): nine
    /// allocations leave one object in the loaded magazine (refills of 2 before the 1st, 3rd,
    /// 5th, 7th and 9th), and seven frees fill both. Returns the two objects still allocated.
    fn fill_both_magazines(c: &Cache) -> Option<(NonNull<c_void>, NonNull<c_void>)> {
        let mut objs = alloc_n(c, 9, Gfp::KERNEL)?.into_iter();
        for _ in 0..7 {
            // SAFETY: Allocated from `c` above, unused.
            unsafe { c.free(objs.next()?) };
        }
        Some((objs.next()?, objs.next()?))
    }

    #[test]
    fn full_magazines_with_irqs_off_free_to_backing() -> Result {
        let c = fixed_cache(c"pcpu_array_test_full", 4)?;
        let r = on_cpu(first_cpu()?, || {
            let (eighth, ninth) = fill_both_magazines(&c)?;
            let before = c.stats();
            // Neither a depot trade nor a flush may happen with interrupts off: the object must
            // go to the backing cache, neither lost nor overflowing a magazine.
            // SAFETY: Allocated from `c` above, unused.
            irqs_off(|| unsafe { c.free(eighth) });
            let mid = c.stats();
            // With interrupts on, the full loaded magazine goes to the depot for an empty one.
            // SAFETY: As above.
            unsafe { c.free(ninth) };
            Some((before, mid, c.stats(), c.shared.depot_objects()))
        })
        .flatten();
        let (before, mid, after, depot) = r.ok_or(ENOMEM)?;
        assert_eq!(before.get(Stat::ObjectsCached), 8);
        assert_eq!(mid.since(&before, Stat::FreeBypassFull), 1);
        assert_eq!(mid.since(&before, Stat::FreeBacking), 1);
        assert_eq!(mid.since(&before, Stat::DepotPut), 0);
        assert_eq!(mid.get(Stat::ObjectsCached), 8);
        assert_eq!(after.since(&mid, Stat::DepotPut), 1);
        assert_eq!(after.since(&mid, Stat::ArrayFlush), 0);
        assert_eq!(after.get(Stat::ObjectsCached), 5);
        assert_eq!(depot, 4);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn softirq_overflow_trades_at_the_depot() -> Result {
        let c = fixed_cache(c"pcpu_array_test_bh", 4)?;
        let r = on_cpu(first_cpu()?, || {
            let (eighth, ninth) = fill_both_magazines(&c)?;
            let before = c.stats();
            // A free from a softirq (an RCU callback freeing nodes) trades the full loaded
            // magazine at the depot, as a task's does, instead of flushing it.
            // SAFETY: Allocated from `c` above, unused.
            bh_off(|| unsafe { c.free(eighth) });
            let after = c.stats();
            let depot = c.shared.depot_objects();
            // SAFETY: As above.
            unsafe { c.free(ninth) };
            Some((before, after, depot, c.stats()))
        })
        .flatten();
        let (before, after, depot, end) = r.ok_or(ENOMEM)?;
        assert_eq!(before.get(Stat::ObjectsCached), 8);
        assert_eq!(after.since(&before, Stat::DepotPut), 1);
        assert_eq!(after.since(&before, Stat::ArrayFlush), 0);
        assert_eq!(after.since(&before, Stat::FreeBacking), 0);
        assert_eq!(after.get(Stat::ObjectsCached), 5);
        assert_eq!(depot, 4);
        assert_eq!(end.in_use(), 0);
        Ok(())
    }

    #[test]
    fn nonblocking_miss_takes_one_object() -> Result {
        let c = fixed_cache(c"pcpu_array_test_noblock", 8)?;
        let before = c.stats();
        let obj = c.alloc(Gfp::NOWAIT).ok_or(ENOMEM)?;
        let after = c.stats();
        // SAFETY: Allocated from `c` above, unused.
        unsafe { c.free(obj) };
        assert_eq!(after.since(&before, Stat::AllocBypassNoBlock), 1);
        assert_eq!(after.since(&before, Stat::ArrayRefill), 0);
        assert_eq!(after.since(&before, Stat::AllocBacking), 1);
        Ok(())
    }

    #[test]
    fn node_allocations_use_the_array_of_their_node() -> Result {
        let c = fixed_cache(c"pcpu_array_test_node", 8)?;
        let cpu = first_cpu()?;
        let r = on_cpu(cpu, || {
            c.prefill(4, Gfp::KERNEL).ok()?;
            let node = crate::placement::cpu_node(cpu);
            let before = c.stats();
            let obj = c.alloc_node(Gfp::KERNEL, node)?;
            let mid = c.stats();
            let any = c.alloc_node(Gfp::KERNEL, bindings::NUMA_NO_NODE);
            let after = c.stats();
            // SAFETY: Allocated from `c` above, unused.
            unsafe {
                c.free(obj);
                if let Some(any) = any {
                    c.free(any);
                }
            }
            Some((before, mid, after, any.is_some()))
        })
        .flatten();
        let (before, mid, after, any) = r.ok_or(ENOMEM)?;
        assert!(any);
        // This CPU's node: from the array.
        assert_eq!(mid.since(&before, Stat::AllocArray), 1);
        assert_eq!(mid.since(&before, Stat::AllocBypassNode), 0);
        assert_eq!(after.since(&mid, Stat::AllocArray), 1);
        Ok(())
    }

    #[test]
    fn remote_node_objects_are_never_parked() -> Result {
        let c = fixed_cache(c"pcpu_array_test_remote", 8)?;
        if !c.shared.placement.numa() {
            crate::testing::skip(c"one memory node: boot with two (vng --numa)");
            return Ok(());
        }
        let cpu = first_cpu()?;
        let r = on_cpu(cpu, || {
            let local = crate::placement::cpu_node(cpu);
            let remote = if local == 0 { 1 } else { 0 };
            c.prefill(4, Gfp::KERNEL).ok()?;
            let before = c.stats();
            let obj = c.alloc_node(Gfp::KERNEL, remote)?;
            // SAFETY: A live object of `c`.
            let on_remote = unsafe { crate::placement::obj_node(obj) } == remote;
            let mid = c.stats();
            // SAFETY: Allocated from `c` above, unused.
            unsafe { c.free(obj) };
            let freed = c.stats();
            // Whatever this CPU's array serves now is local.
            let plain = c.alloc(Gfp::KERNEL)?;
            // SAFETY: A live object of `c`.
            let plain_local = unsafe { crate::placement::obj_node(plain) } == local;
            // SAFETY: Allocated from `c` above, unused.
            unsafe { c.free(plain) };
            Some((before, mid, freed, on_remote, plain_local))
        })
        .flatten();
        let (before, mid, freed, on_remote, plain_local) = r.ok_or(ENOMEM)?;
        assert!(on_remote);
        assert!(plain_local);
        assert_eq!(mid.since(&before, Stat::AllocBypassNode), 1);
        assert_eq!(mid.since(&before, Stat::AllocBacking), 1);
        assert_eq!(freed.since(&mid, Stat::FreeRemoteNode), 1);
        assert_eq!(freed.since(&mid, Stat::FreeBacking), 1);
        assert_eq!(freed.since(&mid, Stat::FreeArray), 0);
        assert_eq!(freed.get(Stat::ObjectsCached), mid.get(Stat::ObjectsCached));
        Ok(())
    }

    #[cfg(CONFIG_MEMCG)]
    #[test]
    fn accounted_allocations_stay_off_the_arrays() -> Result {
        if !crate::placement::memcg_kmem_online() {
            crate::testing::skip(c"kernel memory accounting is offline: create a memory cgroup");
            return Ok(());
        }
        let accounted = Config {
            flags: 1 << bindings::_slab_flag_bits__SLAB_ACCOUNT,
            ..Config::new(64, 8)
        };
        let c = CaseBox::new(Cache::new(c"pcpu_array_test_memcg", accounted)?)?;
        let plain = fixed_cache(c"pcpu_array_test_gfp_account", 8)?;
        let cpu = first_cpu()?;
        let r = on_cpu(cpu, || {
            let before = c.stats();
            let obj = c.alloc(Gfp::KERNEL)?;
            // SAFETY: Allocated from `c` above, unused.
            unsafe { c.free(obj) };
            let slab_account = c.stats();
            // A plain cache serves plain allocations from its array until one asks for
            // accounting; from then on its frees go to the backing cache.
            plain.prefill(2, Gfp::KERNEL).ok()?;
            let p0 = plain.stats();
            let a = plain.alloc(Gfp::KERNEL)?;
            let b = plain.alloc(Gfp::from_raw(bindings::GFP_KERNEL_ACCOUNT))?;
            let p1 = plain.stats();
            // SAFETY: Allocated from `plain` above, unused.
            unsafe {
                plain.free(a);
                plain.free(b);
            }
            Some((before, slab_account, p0, p1, plain.stats()))
        })
        .flatten();
        let (before, slab_account, p0, p1, p2) = r.ok_or(ENOMEM)?;
        assert_eq!(slab_account.since(&before, Stat::AllocBypassMemcg), 1);
        assert_eq!(slab_account.since(&before, Stat::FreeBypassMemcg), 1);
        assert_eq!(slab_account.since(&before, Stat::AllocArray), 0);
        assert_eq!(slab_account.since(&before, Stat::FreeArray), 0);
        assert_eq!(slab_account.get(Stat::ObjectsCached), 0);
        assert_eq!(p1.since(&p0, Stat::AllocArray), 1);
        assert_eq!(p1.since(&p0, Stat::AllocBypassMemcg), 1);
        assert_eq!(p2.since(&p1, Stat::FreeBypassMemcg), 2);
        assert_eq!(p2.since(&p1, Stat::FreeArray), 0);
        Ok(())
    }

    /// Allocates an object on the first online CPU, fills it with 0xa5, frees it, and
    /// allocates again with `gfp`: whether the same object came back (the array is a stack),
    /// and its first 64 bytes.
    fn dirty_then_realloc(c: &Cache, gfp: Gfp) -> Result<(bool, [u8; 64])> {
        on_cpu(first_cpu()?, || {
            let obj = c.alloc(Gfp::KERNEL)?;
            // SAFETY: A live 64-byte object of ours.
            unsafe { core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0xa5, 64) };
            // SAFETY: Ours, unused from here on.
            unsafe { c.free(obj) };
            let again = c.alloc(gfp)?;
            let mut bytes = [0xffu8; 64];
            // SAFETY: A live 64-byte object of ours.
            unsafe {
                core::ptr::copy_nonoverlapping(again.as_ptr().cast::<u8>(), bytes.as_mut_ptr(), 64)
            };
            // SAFETY: Ours, unused from here on.
            unsafe { c.free(again) };
            Some((obj == again, bytes))
        })
        .flatten()
        .ok_or(ENOMEM)
    }

    #[test]
    fn gfp_zero_is_honoured_from_the_array() -> Result {
        let c = fixed_cache(c"pcpu_array_test_zero", 8)?;
        let (same, bytes) = dirty_then_realloc(&c, Gfp::KERNEL | Gfp::ZERO)?;
        // The array is a stack: the object just freed comes back first.
        assert!(same);
        assert!(bytes.iter().all(|&b| b == 0));
        Ok(())
    }

    #[test]
    fn init_on_alloc_is_honoured_from_the_array() -> Result {
        if !hardening::init_on_alloc() {
            crate::testing::skip(c"init_on_alloc is off: boot with init_on_alloc=1");
            return Ok(());
        }
        let c = fixed_cache(c"pcpu_array_test_init", 8)?;
        // No `__GFP_ZERO`: `init_on_alloc` alone must zero the object the array serves.
        let (same, bytes) = dirty_then_realloc(&c, Gfp::KERNEL)?;
        assert!(same);
        assert!(bytes.iter().all(|&b| b == 0));
        Ok(())
    }

    #[test]
    fn bulk_round_trip_through_the_depot() -> Result {
        let c = fixed_cache(c"pcpu_array_test_bulk", 8)?;
        let r = on_cpu(first_cpu()?, || {
            c.prefill(8, Gfp::KERNEL).ok()?;
            let before = c.stats();
            let mut objs = [core::ptr::null_mut::<c_void>(); 20];
            if !c.alloc_bulk(Gfp::KERNEL, &mut objs) {
                return None;
            }
            let mid = c.stats();
            let all_set = objs.iter().all(|p| !p.is_null());
            // SAFETY: All 20 allocated from `c` above, unused.
            unsafe { c.free_bulk(&mut objs) };
            let freed = c.stats();
            // Back out: 12 from the magazines, 8 from the depot's full magazine.
            if !c.alloc_bulk(Gfp::KERNEL, &mut objs) {
                return None;
            }
            let again = c.stats();
            // SAFETY: All 20 allocated from `c` above, unused.
            unsafe { c.free_bulk(&mut objs) };
            Some((before, mid, freed, again, c.stats(), all_set))
        })
        .flatten();
        let (before, mid, freed, again, after, all_set) = r.ok_or(ENOMEM)?;
        assert!(all_set);
        assert_eq!(mid.since(&before, Stat::AllocArray), 8);
        assert_eq!(mid.since(&before, Stat::AllocBacking), 12);
        // Both magazines take 8 each; the full loaded one is traded for an empty one at the
        // depot, which takes the last 4: nothing goes to the backing cache.
        assert_eq!(freed.since(&mid, Stat::FreeArray), 20);
        assert_eq!(freed.since(&mid, Stat::FreeBacking), 0);
        assert_eq!(freed.since(&mid, Stat::DepotPut), 1);
        assert_eq!(again.since(&freed, Stat::AllocArray), 20);
        assert_eq!(again.since(&freed, Stat::DepotGet), 1);
        assert_eq!(again.since(&freed, Stat::AllocBacking), 0);
        assert_eq!(after.since(&again, Stat::FreeArray), 20);
        assert_eq!(after.since(&again, Stat::FreeBacking), 0);
        assert_eq!(after.in_use(), 0);
        assert!(!c.alloc_bulk(Gfp::KERNEL, &mut []));
        Ok(())
    }

    #[cfg(CONFIG_FAILSLAB)]
    #[test]
    fn bulk_is_all_or_nothing_when_backing_fails() -> Result {
        use crate::testing::{
            failing_slab,
            skip, //
        };

        // `SLAB_FAILSLAB` cannot be passed at creation; `make test` boots with
        // `slab_debug=A,pcpu_array_test_bulkfail`, which sets it on this cache by name, and arms
        // failslab for such caches (scripts/guest.sh).
        let c = fixed_cache(c"pcpu_array_test_bulkfail", 8)?;
        if let Some(obj) = failing_slab(|| c.shared.backing.alloc(Gfp::KERNEL)) {
            // SAFETY: Just allocated from the backing cache, unused.
            unsafe { c.shared.backing.free(obj) };
            skip(c"failslab not armed for this cache: boot with slab_debug=A,<its name>");
            return Ok(());
        }
        let cpu = first_cpu()?;
        on_cpu(cpu, || c.prefill(5, Gfp::KERNEL))
            .ok_or(ENOMEM)
            .flatten()?;
        let before = c.stats();
        let mut objs = [core::ptr::null_mut::<c_void>(); 12];
        // Five come from the array; the bulk call for the other seven fails.
        let ok = on_cpu(cpu, || {
            failing_slab(|| c.alloc_bulk(Gfp::KERNEL, &mut objs))
        });
        let after = c.stats();
        assert_eq!(ok, Some(false));
        assert_eq!(after.since(&before, Stat::AllocArray), 5);
        assert_eq!(after.since(&before, Stat::AllocBacking), 0);
        // The five went back: nothing is allocated, the array holds them again.
        assert_eq!(after.in_use(), 0);
        assert_eq!(after.get(Stat::ObjectsCached), 5);
        // Fewer than the array holds plus one: the single missing object fails just the same.
        let single = on_cpu(cpu, || {
            failing_slab(|| c.alloc_bulk(Gfp::KERNEL, &mut objs[..6]))
        });
        assert_eq!(single, Some(false));
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn prefill_checks_and_fills() -> Result {
        let c = fixed_cache(c"pcpu_array_test_prefill", 8)?;
        assert_eq!(c.prefill(9, Gfp::KERNEL), Err(EINVAL));
        let r = on_cpu(first_cpu()?, || {
            let before = c.stats();
            let ok = c.prefill(6, Gfp::KERNEL);
            let mid = c.stats();
            // Already holds 6: nothing to do.
            let again = c.prefill(3, Gfp::KERNEL);
            (before, mid, c.stats(), ok, again)
        });
        let (before, mid, after, ok, again) = r.ok_or(ENOMEM)?;
        assert_eq!(ok, Ok(()));
        assert_eq!(again, Ok(()));
        assert_eq!(mid.since(&before, Stat::ArrayRefill), 1);
        assert_eq!(mid.get(Stat::ObjectsCached), 6);
        assert_eq!(after.since(&mid, Stat::ArrayRefill), 0);
        assert_eq!(irqs_off(|| c.prefill(1, Gfp::NOWAIT)), Err(EINVAL));
        Ok(())
    }

    #[test]
    fn cross_cpu_frees_and_destroy_with_cached_objects() -> Result {
        let c = fixed_cache(c"pcpu_array_test_xcpu", 16)?;
        let mut ncpus = 0u64;
        let mut prev: Option<u32> = None;
        for cpu in online_cpus() {
            ncpus += 1;
            // Allocate six here; free them on the previous CPU, where they stay cached if that
            // CPU is on their memory node.
            let objs = on_cpu(cpu, || alloc_n(&c, 6, Gfp::KERNEL))
                .flatten()
                .ok_or(ENOMEM)?;
            let target = prev.unwrap_or(cpu);
            on_cpu(target, || free_all(&c, objs)).ok_or(EIO)?;
            prev = Some(cpu);
        }
        let s = c.stats();
        assert_eq!(s.in_use(), 0);
        // A free on a CPU of another memory node than the object's goes to the backing cache.
        assert_eq!(
            s.get(Stat::FreeArray) + s.get(Stat::FreeRemoteNode),
            6 * ncpus
        );
        // Every CPU's array holds objects now: the refill leftovers plus the frees it took.
        assert!(s.get(Stat::ObjectsCached) >= s.get(Stat::FreeArray));
        // Dropping `c` flushes every CPU's array before the backing cache is destroyed; any
        // object left behind would be reported by `kmem_cache_destroy()` ("Objects remaining")
        // and fail the run.
        drop(c);
        Ok(())
    }
}

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
        let _ = self.shared.placement.mark_gfp_accounted();
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
#[path = "cache_tests.rs"]
mod tests;

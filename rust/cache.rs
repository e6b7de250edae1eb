// SPDX-License-Identifier: GPL-2.0

//! The per-CPU array cache: the policy in front of the backing `kmem_cache`.
//!
//! # Locking and context
//!
//! Each possible CPU has an [`ObjArray`] behind its own `local_trylock_t`
//! ([`PerCpuTryLock`]). Every access pins the task ([`CpuPin`]) and *tries* the lock of the
//! pinned CPU; when the attempt fails (an interrupt arrived while this CPU's lock was held, or on
//! PREEMPT_RT another task on this CPU holds it) the operation goes to the backing cache
//! instead. Nothing ever spins on a per-CPU lock and no object is lost on any path.
//!
//! Lock order: the per-CPU lock is innermost. The backing cache's bulk calls are never made
//! with it held, nor while pinned: pointers move through an on-stack [`Batch`] of at most
//! [`BATCH_MAX`] entries, the lock is dropped, the bulk call is made, and when the batch must
//! go into an array the task pins and locks again, re-checks (it may now be on another CPU, and
//! the array may have changed) and frees whatever no longer fits.
//!
//! Contexts:
//! - `alloc` and `free` may be called from any context the gfp flags allow, interrupts
//!   included. They refill only when the gfp flags allow blocking and not in hard interrupt
//!   context, and flush only with interrupts enabled outside hard interrupts; otherwise a miss
//!   goes to the backing cache for one object.
//! - `alloc_bulk`, `free_bulk` and `prefill` need interrupts enabled, like
//!   `kmem_cache_alloc_bulk()`.
//! - Dropping the cache may sleep.

use crate::{
    array::{
        batch_for,
        Batch,
        ObjArray,
        BATCH_MAX,
        MAX_CAPACITY, //
    },
    backing::{
        BackingCache,
        Sheaves, //
    },
    cpu_pin::CpuPin,
    debugfs::CacheDir,
    ffi,
    gfp::Gfp,
    hotplug::HotplugInstance,
    local_trylock::PerCpuTryLock,
    reservation::Reservation,
    shrink::{
        FlushTarget,
        Shrinker, //
    },
    stats::{
        Stat,
        Stats,
        StatsTable,
        ThisCpuStats, //
    },
    typed::{
        layout_of,
        ArrayCache,
        RawCache, //
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
    sync::Arc, //
};

/// `__GFP_ZERO`.
const GFP_ZERO: bindings::gfp_t = bindings::__GFP_ZERO;
/// `__GFP_DIRECT_RECLAIM`: the caller may block, so a refill may too.
const GFP_DIRECT_RECLAIM: bindings::gfp_t = 1 << bindings::___GFP_DIRECT_RECLAIM_BIT;
/// `__GFP_NOMEMALLOC`: refills must not dip into the reserves, so that reserve memory is never
/// parked in an array.
const GFP_NOMEMALLOC: bindings::gfp_t = 1 << bindings::___GFP_NOMEMALLOC_BIT;
/// `SLAB_TYPESAFE_BY_RCU`: RCU readers may still read a freed object, so objects parked in an
/// array must not be poisoned for KASAN.
const SLAB_TYPESAFE_BY_RCU: bindings::slab_flags_t =
    1 << bindings::_slab_flag_bits__SLAB_TYPESAFE_BY_RCU;

/// What a cache is made of. See [`PcpuArray::new`].
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
}

impl Config {
    /// `size`-byte objects, default alignment and flags, no sheaves.
    pub const fn new(size: u32, capacity: u32) -> Self {
        Self {
            size,
            align: 0,
            flags: 0,
            capacity,
            sheaves: Sheaves::Off,
        }
    }
}

/// Why an allocation could not pop from this CPU's array.
enum Miss {
    /// This CPU's lock was held.
    Locked,
    /// The array was empty.
    Empty,
}

/// A per-CPU array cache of untyped objects in front of a backing `kmem_cache`.
///
/// The raw entry points (`alloc`, `free`, ...) serve the C ABI; Rust users want the typed
/// [`crate::ArrayCache`].
pub struct PcpuArray {
    // Fields drop in this order, after `Drop::drop` has freed the shrinker, unregistered from
    // CPU hotplug and flushed the arrays: the debugfs files first (they hold the counters), the
    // arrays, then the backing cache.
    shrinker: Option<Shrinker>,
    hotplug: Option<Pin<KBox<HotplugInstance>>>,
    _debugfs: Option<CacheDir>,
    arrays: PerCpuTryLock<ObjArray>,
    stats: Arc<StatsTable>,
    backing: BackingCache,
    capacity: usize,
    batch: usize,
}

impl PcpuArray {
    /// Creates the backing cache `name` and an empty array of `config.capacity` objects for
    /// every possible CPU, with counters in `/sys/kernel/debug/pcpu_array/<name>/`.
    ///
    /// Fails with `EINVAL` for a zero size or a capacity outside 1..=[`MAX_CAPACITY`], and
    /// `ENOMEM` when memory runs out.
    pub fn new(name: &CStr, config: Config) -> Result<Self> {
        let capacity = usize::try_from(config.capacity).map_err(|_| EINVAL)?;
        if config.size == 0 || capacity == 0 || capacity > MAX_CAPACITY {
            return Err(EINVAL);
        }
        let batch = batch_for(capacity);
        let backing = BackingCache::new(
            name,
            config.size,
            config.align,
            config.flags,
            config.sheaves,
        )?;
        let stats = Arc::new(StatsTable::new()?, GFP_KERNEL)?;
        // SAFETY: `backing` is a live cache.
        let obj_size = unsafe { bindings::kmem_cache_size(backing.as_ptr()) } as usize;
        let arrays = PerCpuTryLock::new(|_| {
            if config.flags & SLAB_TYPESAFE_BY_RCU != 0 {
                ObjArray::new(capacity)
            } else {
                ObjArray::poisoning(capacity, obj_size)
            }
        })?;
        let debugfs = CacheDir::new(name, &stats, capacity, batch).ok();
        // SAFETY: `arrays` and `backing` move into `Self` below; the targets view their heap
        // and per-CPU memory, which does not move, and `Drop` unregisters the hotplug instance
        // and the shrinker that hold them before either is freed.
        let (dead_cpu, shrink) = unsafe {
            (
                FlushTarget::new(&arrays, &backing, stats.clone()),
                FlushTarget::new(&arrays, &backing, stats.clone()),
            )
        };
        let hotplug = HotplugInstance::register(dead_cpu)?;
        let shrinker = Shrinker::register(name, shrink)?;
        Ok(Self {
            shrinker: Some(shrinker),
            hotplug: Some(hotplug),
            _debugfs: debugfs,
            arrays,
            stats,
            backing,
            capacity,
            batch,
        })
    }

    /// Objects each CPU's array holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Objects a refill brings and a flush takes away: half the capacity.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The backing `kmem_cache`.
    pub fn kmem_cache(&self) -> *mut bindings::kmem_cache {
        self.backing.as_ptr()
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Counts `stat` on the current CPU.
    fn count(&self, stat: Stat, n: u64) {
        let pin = CpuPin::new();
        self.stats.this_cpu(&pin).add(stat, n);
    }

    /// Whether a bulk call may be made now: interrupts on and not in hard interrupt context.
    fn can_bulk() -> bool {
        // SAFETY: Both only read the current context.
        unsafe { !ffi::pcpu_array_irqs_disabled() && !ffi::pcpu_array_in_hardirq() }
    }

    /// Whether an empty array may be refilled for an allocation with `gfp`.
    fn can_refill(gfp: bindings::gfp_t) -> bool {
        gfp & GFP_DIRECT_RECLAIM != 0 && Self::can_bulk()
    }

    /// The gfp flags of a refill: never the reserves, never zeroed (objects served from the
    /// array are zeroed on the way out instead).
    fn refill_gfp(gfp: bindings::gfp_t) -> bindings::gfp_t {
        (gfp | GFP_NOMEMALLOC) & !GFP_ZERO
    }

    /// Zeroes `obj` when `gfp` asks for it.
    pub(crate) fn zero_if_asked(&self, obj: NonNull<c_void>, gfp: bindings::gfp_t) {
        if gfp & GFP_ZERO != 0 {
            // SAFETY: `obj` is a live object of the backing cache, whose objects are at least
            // `object_size` bytes, and the caller is about to own it.
            unsafe {
                let size = bindings::kmem_cache_size(self.backing.as_ptr()) as usize;
                core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0, size);
            }
        }
    }

    /// Allocates one object from the backing cache, for a caller.
    fn alloc_backing(&self, gfp: bindings::gfp_t) -> Option<NonNull<c_void>> {
        let obj = self.backing.alloc(gfp)?;
        self.count(Stat::AllocBackingCache, 1);
        Some(obj)
    }

    /// Pops an object from this CPU's array.
    #[inline]
    fn pop_this_cpu(&self) -> Result<NonNull<c_void>, Miss> {
        let pin = CpuPin::new();
        let stats = self.stats.this_cpu(&pin);
        let Some(mut array) = self.arrays.try_lock(&pin) else {
            stats.inc(Stat::AllocBypassTrylock);
            return Err(Miss::Locked);
        };
        let obj = array.pop().ok_or(Miss::Empty)?;
        stats.inc(Stat::AllocCpuCache);
        stats.set(Stat::ObjectsCached, array.len() as u64);
        Ok(obj)
    }

    /// Allocates an object: from this CPU's array, refilling it by half with one bulk call when
    /// it is empty, or from the backing cache when the array cannot be used.
    pub fn alloc(&self, gfp: bindings::gfp_t) -> Option<NonNull<c_void>> {
        match self.pop_this_cpu() {
            Ok(obj) => {
                self.zero_if_asked(obj, gfp);
                Some(obj)
            }
            Err(Miss::Locked) => self.alloc_backing(gfp),
            Err(Miss::Empty) if !Self::can_refill(gfp) => {
                self.count(Stat::AllocBypassNoBlock, 1);
                self.alloc_backing(gfp)
            }
            Err(Miss::Empty) => match self.refill_and_pop(gfp) {
                Some(obj) => {
                    self.zero_if_asked(obj, gfp);
                    Some(obj)
                }
                None => {
                    self.count(Stat::AllocBypassRefillFailed, 1);
                    self.alloc_backing(gfp)
                }
            },
        }
    }

    /// Allocates `n` objects (at most [`BATCH_MAX`]) from the backing cache into `batch` with
    /// one bulk call.
    fn bulk_into(&self, gfp: bindings::gfp_t, n: usize, batch: &mut Batch) -> bool {
        batch.fill_with(n, |slots| {
            self.backing.alloc_bulk(Self::refill_gfp(gfp), slots)
        })
    }

    /// Gives the objects left in `batch` back to the backing cache.
    fn free_batch(&self, batch: &mut Batch) {
        // SAFETY: A batch's objects are live objects of the backing cache that we own.
        batch.drain_with(|objs| unsafe { self.backing.free_bulk(objs) });
    }

    /// Moves what fits of `batch` into the array of the CPU the task is on now (a refill), then
    /// runs `then` on that array while it is still locked. `None`, with `batch` untouched, when
    /// the CPU's lock is held.
    fn refill_this_cpu<R>(
        &self,
        batch: &mut Batch,
        then: impl FnOnce(&mut ObjArray, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let pin = CpuPin::new();
        let stats = self.stats.this_cpu(&pin);
        let mut array = self.arrays.try_lock(&pin)?;
        // SAFETY: A batch's objects are live objects of the backing cache that we own.
        unsafe { array.fill_from(batch) };
        stats.inc(Stat::CpuCacheRefill);
        let r = then(&mut array, stats);
        stats.set(Stat::ObjectsCached, array.len() as u64);
        Some(r)
    }

    /// Refills this CPU's array with one bulk call and pops one object from it.
    ///
    /// Called unpinned: the bulk call may sleep. Afterwards the task may be on another CPU, and
    /// that CPU's array may have been filled by others meanwhile: what does not fit goes back
    /// to the backing cache.
    fn refill_and_pop(&self, gfp: bindings::gfp_t) -> Option<NonNull<c_void>> {
        let mut batch = Batch::new();
        if !self.bulk_into(gfp, self.batch, &mut batch) {
            return None;
        }
        let obj = self
            .refill_this_cpu(&mut batch, |array, stats| {
                let obj = array.pop();
                if obj.is_some() {
                    stats.inc(Stat::AllocCpuCache);
                }
                obj
            })
            .flatten();
        // The lock was lost to an interrupt: serve the caller from the batch itself.
        let obj = obj.or_else(|| {
            let obj = batch.pop();
            if obj.is_some() {
                self.count(Stat::AllocBackingCache, 1);
            }
            obj
        });
        self.free_batch(&mut batch);
        obj
    }

    /// Frees `obj` into this CPU's array. A full array is first flushed by half with one bulk
    /// call (when interrupts are on); when the array cannot be used at all, `obj` goes to the
    /// backing cache.
    ///
    /// # Safety
    ///
    /// `obj` must be an object allocated from this cache (or its backing cache), owned by the
    /// caller, and not used afterwards.
    pub unsafe fn free(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller passes an object of this cache.
        if !unsafe { crate::kasan::check(obj) } {
            // Poisoned: the object is parked in an array already. KASAN has reported this double
            // free; pushing it again would hand it out twice.
            return;
        }
        // Only a flush needs the batch; `None` keeps the common path from initialising it.
        let mut batch: Option<Batch> = None;
        let cached = {
            let pin = CpuPin::new();
            let stats = self.stats.this_cpu(&pin);
            let locked = self.arrays.try_lock(&pin);
            match locked {
                None => {
                    stats.inc(Stat::FreeBypassTrylock);
                    false
                }
                Some(mut array) => {
                    if array.is_full() && Self::can_bulk() {
                        array.take_into(self.batch, batch.insert(Batch::new()));
                        stats.inc(Stat::CpuCacheFlush);
                    }
                    // SAFETY: The caller hands us `obj`, a live object of the backing cache.
                    let cached = match unsafe { array.push(obj) } {
                        Ok(()) => {
                            stats.inc(Stat::FreeCpuCache);
                            true
                        }
                        Err(_) => {
                            stats.inc(Stat::FreeBypassFull);
                            false
                        }
                    };
                    stats.set(Stat::ObjectsCached, array.len() as u64);
                    cached
                }
            }
        };
        // Unlocked and unpinned: the bulk free of the flushed half, then the fallback.
        if let Some(batch) = batch.as_mut() {
            self.free_batch(batch);
        }
        if !cached {
            self.count(Stat::FreeBackingCache, 1);
            // SAFETY: The caller gave us `obj`, a live object of the backing cache.
            unsafe { self.backing.free(obj) };
        }
    }

    /// Allocates an object on `node`. Any node other than `NUMA_NO_NODE` goes straight to the
    /// backing cache: the arrays do not know which node their objects are on.
    pub fn alloc_node(&self, gfp: bindings::gfp_t, node: i32) -> Option<NonNull<c_void>> {
        if node == bindings::NUMA_NO_NODE {
            return self.alloc(gfp);
        }
        self.count(Stat::AllocBypassNode, 1);
        let obj = self.backing.alloc_node(gfp, node)?;
        self.count(Stat::AllocBackingCache, 1);
        Some(obj)
    }

    /// Fills all of `out`: first from this CPU's array, the rest with one bulk call to the
    /// backing cache. All or nothing: on failure every object is given back and `out` must not
    /// be used. An empty `out` fails, as `kmem_cache_alloc_bulk()` does.
    ///
    /// Must be called with interrupts enabled.
    pub fn alloc_bulk(&self, gfp: bindings::gfp_t, out: &mut [*mut c_void]) -> bool {
        if out.is_empty() {
            return false;
        }
        let from_array = {
            let pin = CpuPin::new();
            let stats = self.stats.this_cpu(&pin);
            let locked = self.arrays.try_lock(&pin);
            match locked {
                Some(mut array) => {
                    let mut n = 0;
                    while n < out.len() {
                        let Some(obj) = array.pop() else { break };
                        out[n] = obj.as_ptr();
                        n += 1;
                    }
                    stats.add(Stat::AllocCpuCache, n as u64);
                    stats.set(Stat::ObjectsCached, array.len() as u64);
                    n
                }
                None => {
                    stats.inc(Stat::AllocBypassTrylock);
                    0
                }
            }
        };
        if gfp & GFP_ZERO != 0 {
            for &obj in &out[..from_array] {
                if let Some(obj) = NonNull::new(obj) {
                    self.zero_if_asked(obj, gfp);
                }
            }
        }
        let rest = &mut out[from_array..];
        if rest.is_empty() {
            return true;
        }
        if self.backing.alloc_bulk(gfp, rest) {
            self.count(Stat::AllocBackingCache, rest.len() as u64);
            return true;
        }
        // All or nothing: the objects taken from the array go back.
        // SAFETY: `out[..from_array]` are live objects of this cache that we just took.
        unsafe { self.free_bulk(&mut out[..from_array]) };
        false
    }

    /// Frees every object in `objs`: into this CPU's array while it has room, the rest with one
    /// bulk call to the backing cache (one by one when interrupts are off).
    ///
    /// # Safety
    ///
    /// Every pointer in `objs` must be an object allocated from this cache, owned by the caller
    /// and not used afterwards.
    pub unsafe fn free_bulk(&self, objs: &mut [*mut c_void]) {
        let cached = {
            let pin = CpuPin::new();
            let stats = self.stats.this_cpu(&pin);
            let locked = self.arrays.try_lock(&pin);
            match locked {
                Some(mut array) => {
                    let mut n = 0;
                    while n < objs.len() {
                        let Some(obj) = NonNull::new(objs[n]) else {
                            break;
                        };
                        // SAFETY: The caller gave us `obj`, an object of this cache.
                        if !unsafe { crate::kasan::check(obj) } {
                            break;
                        }
                        // SAFETY: As above; it is live, and ours now.
                        if unsafe { array.push(obj) }.is_err() {
                            break;
                        }
                        n += 1;
                    }
                    stats.add(Stat::FreeCpuCache, n as u64);
                    stats.set(Stat::ObjectsCached, array.len() as u64);
                    n
                }
                None => {
                    stats.inc(Stat::FreeBypassTrylock);
                    0
                }
            }
        };
        let rest = &mut objs[cached..];
        if rest.is_empty() {
            return;
        }
        self.count(Stat::FreeBackingCache, rest.len() as u64);
        if Self::can_bulk() {
            // SAFETY: The caller gave us these objects.
            unsafe { self.backing.free_bulk(rest) };
            return;
        }
        for &obj in rest.iter() {
            if let Some(obj) = NonNull::new(obj) {
                // SAFETY: The caller gave us this object.
                unsafe { self.backing.free(obj) };
            }
        }
    }

    /// Gives every object parked in every online CPU's array back to the backing cache, each
    /// CPU's on that CPU. Returns how many. May sleep.
    pub fn shrink(&self) -> usize {
        self.shrinker.as_ref().map_or(0, |s| s.target().flush_all())
    }

    /// Reserves `count` objects (at most [`crate::MAX_RESERVE`]) that the caller owns until it
    /// drops the reservation: allocating from it cannot fail until it is empty, in any context
    /// and on any CPU. See [`Reservation`].
    pub fn reserve(&self, count: usize, gfp: Gfp) -> Result<Reservation<'_>> {
        Reservation::new(self, count, gfp)
    }

    /// Makes this CPU's array hold at least `count` objects, so that the next `count`
    /// allocations on this CPU are likely served from it.
    ///
    /// Opportunistic, as in the 2023 design: nothing keeps the task on this CPU afterwards, and
    /// an interrupt may take objects first. Callers that need a guarantee reserve instead.
    /// `EINVAL` when `count` exceeds the capacity or interrupts are off, `ENOMEM` when the bulk
    /// allocation fails, `EAGAIN` when the array kept changing under us.
    pub fn prefill(&self, count: usize, gfp: bindings::gfp_t) -> Result {
        if count > self.capacity || !Self::can_bulk() {
            return Err(EINVAL);
        }
        for _ in 0..4 {
            let missing = {
                let pin = CpuPin::new();
                let locked = self.arrays.try_lock(&pin);
                match locked {
                    Some(array) => count.saturating_sub(array.len()),
                    None => return Err(EAGAIN),
                }
            };
            if missing == 0 {
                return Ok(());
            }
            let mut batch = Batch::new();
            if !self.bulk_into(gfp, missing.min(BATCH_MAX), &mut batch) {
                return Err(ENOMEM);
            }
            // What does not fit, or all of it when the lock was held, goes back.
            self.refill_this_cpu(&mut batch, |_, _| ());
            self.free_batch(&mut batch);
        }
        Err(EAGAIN)
    }
}

// SAFETY: `alloc` returns objects of the backing cache, created with the size and alignment
// asked for, and `free` takes them back.
unsafe impl RawCache for PcpuArray {
    type Reservation<'a> = Reservation<'a>;

    fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        self.alloc(gfp.as_raw())
    }

    unsafe fn free_raw(&self, obj: NonNull<c_void>) {
        // SAFETY: Guaranteed by the caller.
        unsafe { self.free(obj) }
    }

    fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result {
        self.prefill(count, gfp.as_raw())
    }

    fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<Reservation<'_>> {
        self.reserve(count, gfp)
    }
}

impl<T: Send> ArrayCache<T, PcpuArray> {
    /// Creates a cache of `T`s named `name` whose CPUs each keep up to `capacity` free
    /// objects, over a backing cache without sheaves.
    pub fn new(name: &CStr, capacity: u32) -> Result<Self> {
        Self::with_sheaves(name, capacity, Sheaves::Off)
    }

    /// As [`ArrayCache::new`], choosing whether the backing cache keeps SLUB's sheaves.
    pub fn with_sheaves(name: &CStr, capacity: u32, sheaves: Sheaves) -> Result<Self> {
        let (size, align) = layout_of::<T>()?;
        let config = Config {
            align,
            sheaves,
            ..Config::new(size, capacity)
        };
        // SAFETY: The cache was created with `T`'s size and alignment.
        Ok(unsafe { Self::from_raw_cache(PcpuArray::new(name, config)?) })
    }

    /// The counters, summed over every CPU.
    pub fn stats(&self) -> Stats {
        self.raw().stats()
    }
}

impl Drop for PcpuArray {
    fn drop(&mut self) {
        // Every CPU's array goes back to the backing cache before it is destroyed (the 2023
        // patch destroyed the cache first). `&mut self`: nobody can use the arrays now, and the
        // type system guarantees no object handed out from Rust is still live. CPU hotplug
        // goes first, so that no dead-CPU teardown flushes an array at the same time, and the
        // shrinker before it.
        drop(self.shrinker.take());
        drop(self.hotplug.take());
        let backing = &self.backing;
        let stats = &self.stats;
        self.arrays.for_each_mut(|_, array| {
            let mut batch = Batch::new();
            while array.len() != 0 {
                array.take_into(BATCH_MAX, &mut batch);
                // SAFETY: Objects in an array are live objects of the backing cache that the
                // array owns.
                batch.drain_with(|objs| unsafe { backing.free_bulk(objs) });
            }
        });
        let in_use = stats.snapshot().in_use();
        if in_use != 0 {
            pr_warn!("cache destroyed with {} objects still allocated\n", in_use);
        }
    }
}

#[kunit_tests(pcpu_array_cache)]
mod tests {
    use super::*;
    use crate::testing::{
        irqs_off,
        on_cpu,
        online_cpus, //
    };
    use pin_init::init_from_closure;

    const GFP_KERNEL_RAW: bindings::gfp_t = bindings::GFP_KERNEL;
    const GFP_NOWAIT_RAW: bindings::gfp_t = bindings::GFP_NOWAIT;

    fn cache(name: &CStr, capacity: u32) -> Result<PcpuArray> {
        PcpuArray::new(name, Config::new(64, capacity))
    }

    fn first_cpu() -> Result<u32> {
        online_cpus().next().ok_or(ENODEV)
    }

    /// Allocates `n` objects; `None` when one allocation failed (and frees the others).
    fn alloc_n(c: &PcpuArray, n: usize, gfp: bindings::gfp_t) -> Option<KVec<NonNull<c_void>>> {
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

    fn free_all(c: &PcpuArray, v: KVec<NonNull<c_void>>) {
        for o in v {
            // SAFETY: Every object in `v` was allocated from `c` by the test and is unused.
            unsafe { c.free(o) };
        }
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(cache(c"pcpu_array_test_cfg", 0).err(), Some(EINVAL));
        let too_big = u32::try_from(MAX_CAPACITY + 1).unwrap_or(u32::MAX);
        assert_eq!(cache(c"pcpu_array_test_cfg", too_big).err(), Some(EINVAL));
        assert_eq!(
            PcpuArray::new(c"pcpu_array_test_cfg", Config::new(0, 8)).err(),
            Some(EINVAL)
        );
    }

    #[test]
    fn shrink_flushes_every_cpu() -> Result {
        let c = cache(c"pcpu_array_test_shrink", 8)?;
        let mut filled = 0u64;
        for cpu in online_cpus() {
            on_cpu(cpu, || c.prefill(8, GFP_KERNEL_RAW))
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
        assert_eq!(after.in_use(), 0);
        assert_eq!(c.shrink(), 0);
        // An emptied array refills as usual.
        let obj = c.alloc(GFP_KERNEL_RAW).ok_or(ENOMEM)?;
        // SAFETY: Just allocated from `c`, unused.
        unsafe { c.free(obj) };
        assert_eq!(c.stats().since(&after, Stat::CpuCacheRefill), 1);
        Ok(())
    }

    #[test]
    fn shrinker_counts_and_scans_like_reclaim() -> Result {
        use crate::shrink::{
            SHRINK_EMPTY,
            SHRINK_STOP, //
        };
        let c = cache(c"pcpu_array_test_shrinker", 8)?;
        let s = c.shrinker.as_ref().ok_or(EINVAL)?.raw();
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
        on_cpu(first_cpu()?, || c.prefill(8, GFP_KERNEL_RAW))
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
        // SAFETY: As above.
        assert_eq!(unsafe { scan(s, &mut sc) }, SHRINK_STOP);
        Ok(())
    }

    #[test]
    fn refill_and_flush_by_half() -> Result {
        let c = cache(c"pcpu_array_test_half", 8)?;
        assert_eq!(c.batch(), 4);
        let before = c.stats();
        let (mid, after) = on_cpu(first_cpu()?, || {
            // Nine allocations from an empty array: refills before the 1st, 5th and 9th.
            let objs = alloc_n(&c, 9, GFP_KERNEL_RAW)?;
            let mid = c.stats();
            // Nine frees: the array reaches 8 after five, the sixth flushes 4 then pushes.
            free_all(&c, objs);
            Some((mid, c.stats()))
        })
        .flatten()
        .ok_or(ENOMEM)?;
        assert_eq!(mid.since(&before, Stat::CpuCacheRefill), 3);
        assert_eq!(mid.since(&before, Stat::AllocCpuCache), 9);
        assert_eq!(mid.since(&before, Stat::AllocBackingCache), 0);
        assert_eq!(mid.get(Stat::ObjectsCached), 3);
        assert_eq!(after.since(&mid, Stat::FreeCpuCache), 9);
        assert_eq!(after.since(&mid, Stat::CpuCacheFlush), 1);
        assert_eq!(after.since(&mid, Stat::FreeBackingCache), 0);
        assert_eq!(after.get(Stat::ObjectsCached), 8);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn held_lock_bypasses_and_loses_nothing() -> Result {
        let c = cache(c"pcpu_array_test_trylock", 8)?;
        // Put an object in the array so that a bypassed pop is visible.
        c.prefill(1, GFP_KERNEL_RAW)?;
        let before = c.stats();
        let obj = {
            let pin = CpuPin::new();
            // What an interrupted task looks like to an interrupt: this CPU's lock is held.
            let guard = c.arrays.try_lock(&pin).ok_or(EBUSY)?;
            let obj = c.alloc(GFP_NOWAIT_RAW);
            if let Some(o) = obj {
                // SAFETY: Just allocated from `c`, unused.
                unsafe { c.free(o) };
            }
            drop(guard);
            obj
        };
        assert!(obj.is_some());
        let after = c.stats();
        assert_eq!(after.since(&before, Stat::AllocBypassTrylock), 1);
        assert_eq!(after.since(&before, Stat::FreeBypassTrylock), 1);
        assert_eq!(after.since(&before, Stat::AllocBackingCache), 1);
        assert_eq!(after.since(&before, Stat::FreeBackingCache), 1);
        assert_eq!(after.since(&before, Stat::AllocCpuCache), 0);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn full_array_with_irqs_off_frees_to_backing() -> Result {
        let c = cache(c"pcpu_array_test_full", 4)?;
        let r = on_cpu(first_cpu()?, || {
            // Five allocations leave one object in the array (refills of 2 before the 1st, 3rd
            // and 5th); three frees make it full.
            let mut objs = alloc_n(&c, 5, GFP_KERNEL_RAW)?.into_iter();
            for _ in 0..3 {
                // SAFETY: Allocated from `c` above, unused.
                unsafe { c.free(objs.next()?) };
            }
            let before = c.stats();
            let fourth = objs.next()?;
            // A flush needs interrupts on: the object must go to the backing cache, neither
            // lost nor overflowing the array.
            // SAFETY: Allocated from `c` above, unused.
            irqs_off(|| unsafe { c.free(fourth) });
            let mid = c.stats();
            // With interrupts on, the full array is flushed by half first.
            // SAFETY: As above.
            unsafe { c.free(objs.next()?) };
            Some((before, mid, c.stats()))
        })
        .flatten();
        let (before, mid, after) = r.ok_or(ENOMEM)?;
        assert_eq!(before.get(Stat::ObjectsCached), 4);
        assert_eq!(mid.since(&before, Stat::FreeBypassFull), 1);
        assert_eq!(mid.since(&before, Stat::FreeBackingCache), 1);
        assert_eq!(mid.since(&before, Stat::CpuCacheFlush), 0);
        assert_eq!(mid.get(Stat::ObjectsCached), 4);
        assert_eq!(after.since(&mid, Stat::CpuCacheFlush), 1);
        assert_eq!(after.get(Stat::ObjectsCached), 3);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn nonblocking_miss_takes_one_object() -> Result {
        let c = cache(c"pcpu_array_test_noblock", 8)?;
        let before = c.stats();
        let obj = c.alloc(GFP_NOWAIT_RAW).ok_or(ENOMEM)?;
        let after = c.stats();
        // SAFETY: Allocated from `c` above, unused.
        unsafe { c.free(obj) };
        assert_eq!(after.since(&before, Stat::AllocBypassNoBlock), 1);
        assert_eq!(after.since(&before, Stat::CpuCacheRefill), 0);
        assert_eq!(after.since(&before, Stat::AllocBackingCache), 1);
        Ok(())
    }

    #[test]
    fn node_allocations_bypass() -> Result {
        let c = cache(c"pcpu_array_test_node", 8)?;
        let before = c.stats();
        let obj = c.alloc_node(GFP_KERNEL_RAW, 0).ok_or(ENOMEM)?;
        let mid = c.stats();
        let any = c
            .alloc_node(GFP_KERNEL_RAW, bindings::NUMA_NO_NODE)
            .ok_or(ENOMEM)?;
        let after = c.stats();
        // SAFETY: Both allocated from `c` above, unused.
        unsafe {
            c.free(obj);
            c.free(any);
        }
        assert_eq!(mid.since(&before, Stat::AllocBypassNode), 1);
        assert_eq!(mid.since(&before, Stat::AllocBackingCache), 1);
        assert_eq!(mid.since(&before, Stat::AllocCpuCache), 0);
        assert_eq!(after.since(&mid, Stat::AllocBypassNode), 0);
        assert_eq!(after.since(&mid, Stat::AllocCpuCache), 1);
        Ok(())
    }

    #[test]
    fn gfp_zero_is_honoured_from_the_array() -> Result {
        let c = cache(c"pcpu_array_test_zero", 8)?;
        let r = on_cpu(first_cpu()?, || {
            let obj = c.alloc(GFP_KERNEL_RAW)?;
            // SAFETY: A live 64-byte object of ours.
            unsafe { core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), 0xa5, 64) };
            // SAFETY: Ours, unused from here on.
            unsafe { c.free(obj) };
            let again = c.alloc(GFP_KERNEL_RAW | GFP_ZERO)?;
            let mut bytes = [0xffu8; 64];
            // SAFETY: A live 64-byte object of ours.
            unsafe {
                core::ptr::copy_nonoverlapping(again.as_ptr().cast::<u8>(), bytes.as_mut_ptr(), 64)
            };
            // SAFETY: Ours, unused from here on.
            unsafe { c.free(again) };
            Some((obj == again, bytes))
        })
        .flatten();
        let (same, bytes) = r.ok_or(ENOMEM)?;
        // The array is a stack: the object just freed comes back first.
        assert!(same);
        assert!(bytes.iter().all(|&b| b == 0));
        Ok(())
    }

    #[test]
    fn bulk_round_trip() -> Result {
        let c = cache(c"pcpu_array_test_bulk", 8)?;
        let r = on_cpu(first_cpu()?, || {
            c.prefill(8, GFP_KERNEL_RAW).ok()?;
            let before = c.stats();
            let mut objs = [core::ptr::null_mut::<c_void>(); 20];
            if !c.alloc_bulk(GFP_KERNEL_RAW, &mut objs) {
                return None;
            }
            let mid = c.stats();
            let all_set = objs.iter().all(|p| !p.is_null());
            // SAFETY: All 20 allocated from `c` above, unused.
            unsafe { c.free_bulk(&mut objs) };
            Some((before, mid, c.stats(), all_set))
        })
        .flatten();
        let (before, mid, after, all_set) = r.ok_or(ENOMEM)?;
        assert!(all_set);
        assert_eq!(mid.since(&before, Stat::AllocCpuCache), 8);
        assert_eq!(mid.since(&before, Stat::AllocBackingCache), 12);
        assert_eq!(after.since(&mid, Stat::FreeCpuCache), 8);
        assert_eq!(after.since(&mid, Stat::FreeBackingCache), 12);
        assert_eq!(after.in_use(), 0);
        assert!(!c.alloc_bulk(GFP_KERNEL_RAW, &mut []));
        Ok(())
    }

    #[cfg(CONFIG_FAILSLAB)]
    #[test]
    fn bulk_is_all_or_nothing_when_backing_fails() -> Result {
        use crate::testing::failing_slab;

        // `SLAB_FAILSLAB` cannot be passed at creation; `make test` boots with
        // `slab_debug=A,pcpu_array_test_bulkfail`, which sets it on this cache by name.
        let c = PcpuArray::new(c"pcpu_array_test_bulkfail", Config::new(64, 8))?;
        let cpu = first_cpu()?;
        on_cpu(cpu, || c.prefill(5, GFP_KERNEL_RAW))
            .ok_or(ENOMEM)
            .flatten()?;
        let before = c.stats();
        let mut objs = [core::ptr::null_mut::<c_void>(); 12];
        // Five come from the array; the bulk call for the other seven fails.
        let ok = on_cpu(cpu, || {
            failing_slab(|| c.alloc_bulk(GFP_KERNEL_RAW, &mut objs))
        });
        let after = c.stats();
        assert_eq!(ok, Some(false));
        assert_eq!(after.since(&before, Stat::AllocCpuCache), 5);
        assert_eq!(after.since(&before, Stat::AllocBackingCache), 0);
        // The five went back: nothing is allocated, the array holds them again.
        assert_eq!(after.in_use(), 0);
        assert_eq!(after.get(Stat::ObjectsCached), 5);
        // Fewer than the array holds plus one: the single missing object fails just the same.
        let single = on_cpu(cpu, || {
            failing_slab(|| c.alloc_bulk(GFP_KERNEL_RAW, &mut objs[..6]))
        });
        assert_eq!(single, Some(false));
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn prefill_checks_and_fills() -> Result {
        let c = cache(c"pcpu_array_test_prefill", 8)?;
        assert_eq!(c.prefill(9, GFP_KERNEL_RAW), Err(EINVAL));
        let r = on_cpu(first_cpu()?, || {
            let before = c.stats();
            let ok = c.prefill(6, GFP_KERNEL_RAW);
            let mid = c.stats();
            // Already holds 6: nothing to do.
            let again = c.prefill(3, GFP_KERNEL_RAW);
            (before, mid, c.stats(), ok, again)
        });
        let (before, mid, after, ok, again) = r.ok_or(ENOMEM)?;
        assert_eq!(ok, Ok(()));
        assert_eq!(again, Ok(()));
        assert_eq!(mid.since(&before, Stat::CpuCacheRefill), 1);
        assert_eq!(mid.get(Stat::ObjectsCached), 6);
        assert_eq!(after.since(&mid, Stat::CpuCacheRefill), 0);
        assert_eq!(irqs_off(|| c.prefill(1, GFP_NOWAIT_RAW)), Err(EINVAL));
        Ok(())
    }

    #[test]
    fn typed_objects_go_back_on_drop() -> Result {
        let c = crate::ArrayCache::<[u64; 16]>::new(c"pcpu_array_test_typed", 8)?;
        let before = c.stats();
        {
            let mut a = c.alloc([7; 16], Gfp::KERNEL)?;
            a[3] = 9;
            assert_eq!(a[3] + a[0], 16);
            let b = c.init(
                // SAFETY: The closure fully initialises the slot and reports success.
                unsafe {
                    init_from_closure(|slot: *mut [u64; 16]| {
                        slot.write([0; 16]);
                        Ok::<(), Error>(())
                    })
                },
                Gfp::KERNEL,
            )?;
            assert!(b.iter().all(|&v| v == 0));
            let failed = c.init(
                // SAFETY: The closure initialises nothing and reports failure.
                unsafe { init_from_closure(|_: *mut [u64; 16]| Err(EIO)) },
                Gfp::KERNEL,
            );
            assert_eq!(failed.err(), Some(EIO));
            assert_eq!(c.stats().in_use(), 2);
        }
        let after = c.stats();
        assert_eq!(after.in_use(), 0);
        assert_eq!(after.since(&before, Stat::FreeCpuCache), 3);
        Ok(())
    }

    #[test]
    fn cross_cpu_frees_and_destroy_with_cached_objects() -> Result {
        let c = cache(c"pcpu_array_test_xcpu", 16)?;
        let mut ncpus = 0u64;
        let mut prev: Option<u32> = None;
        for cpu in online_cpus() {
            ncpus += 1;
            // Allocate six here; free them on the previous CPU, where they stay cached.
            let objs = on_cpu(cpu, || alloc_n(&c, 6, GFP_KERNEL_RAW))
                .flatten()
                .ok_or(ENOMEM)?;
            let target = prev.unwrap_or(cpu);
            on_cpu(target, || free_all(&c, objs)).ok_or(EIO)?;
            prev = Some(cpu);
        }
        let s = c.stats();
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.get(Stat::FreeCpuCache), 6 * ncpus);
        // Every CPU's array holds objects now: the refill leftovers plus the frees.
        assert!(s.get(Stat::ObjectsCached) >= 6 * ncpus);
        // Dropping `c` flushes every CPU's array before the backing cache is destroyed; any
        // object left behind would be reported by `kmem_cache_destroy()` ("Objects remaining")
        // and fail the run.
        drop(c);
        Ok(())
    }
}

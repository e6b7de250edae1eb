// SPDX-License-Identifier: GPL-2.0

//! The free paths of a [`Cache`]: a hit pushes onto this CPU's loaded magazine; a miss swaps,
//! trades at the depot, flushes by half, or goes to the backing cache (`crate::cache::handle`
//! describes the layers, the locking and the contexts).

use super::handle::Cache;
use crate::{
    magazines::{
        hit::{
            self,
            Miss, //
        },
        magazine::{
            Batch,
            MagazineBox, //
        },
        stats::Stat, //
    },
    percpu::cpu_pin::{
        bulk_allowed,
        depot_allowed,
        in_nmi, //
    },
    semantics::{
        hardening,
        placement::FreeTo, //
    },
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

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

impl Cache {
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
        if !unsafe { crate::semantics::kasan::check(obj) } {
            // Poisoned: the object is parked in a magazine already. KASAN has reported this
            // double free; pushing it again would hand it out twice.
            return;
        }
        // SAFETY: Guaranteed by the caller.
        match unsafe { hit::free(&*self.state, obj) } {
            Ok(()) => {}
            // SAFETY: Guaranteed by the caller.
            Err(Miss::Exhausted) => unsafe { self.free_overflow(obj, None) },
            // SAFETY: Guaranteed by the caller.
            Err(Miss::Locked) => unsafe { self.free_one_to_backing(obj) },
            // SAFETY: Guaranteed by the caller.
            Err(Miss::Checks) => unsafe { self.free_off_hit(obj) },
        }
    }

    /// [`Cache::free`] of an object the checks word sends off the hit path: placement rules
    /// apply, it is a KFENCE object, or `init_on_free` wipes it first.
    ///
    /// # Safety
    ///
    /// As [`Cache::free`].
    #[cold]
    #[inline(never)]
    pub(super) unsafe fn free_off_hit(&self, obj: NonNull<c_void>) {
        if self.state.placement.free_needs_check() || hardening::is_kfence(obj) {
            // SAFETY: Guaranteed by the caller.
            return unsafe { self.free_checked(obj) };
        }
        // SAFETY: Guaranteed by the caller.
        unsafe { self.free_zeroed(obj, None) };
    }

    /// [`Cache::free`] of an object that placement rules apply to (`crate::semantics::placement`).
    ///
    /// # Safety
    ///
    /// As [`Cache::free`].
    #[cold]
    #[inline(never)]
    pub(super) unsafe fn free_checked(&self, obj: NonNull<c_void>) {
        // SAFETY: The caller gave us `obj`, a live object of this cache.
        match unsafe { self.state.placement.free_to(obj) } {
            // SAFETY: As above.
            FreeTo::Backing(why) => unsafe { self.free_off_array(obj, why.into()) },
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
    pub(super) unsafe fn free_to_array(&self, obj: NonNull<c_void>, node: Option<i32>) {
        // `init_on_free`: no data of the previous user stays in a cached object, unless the
        // cache is exempt.
        if self.state.placement.init_on_free() {
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
    pub(super) unsafe fn free_zeroed(&self, obj: NonNull<c_void>, node: Option<i32>) {
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
    pub(super) unsafe fn push_or_overflow(&self, obj: NonNull<c_void>, node: Option<i32>) {
        let freed = self
            .state
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
    pub(super) unsafe fn free_one_to_backing(&self, obj: NonNull<c_void>) {
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
    pub(super) unsafe fn free_overflow(&self, obj: NonNull<c_void>, obj_node: Option<i32>) {
        // The swap, when the previous magazine has room: the common overflow, which needs
        // neither the depot nor the bulk API.
        let swapped = self.state.with_this_cpu(None, |mags, stats| {
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
        let node = crate::semantics::placement::this_node();
        let mut empty = if depot_allowed() {
            self.state.get_empty_for_full(node)
        } else {
            None
        };
        let bulk = bulk_allowed();
        let mut full = None;
        let mut batch = Batch::new();
        let batch_size = self.state.batch();
        let cached = self
            .state
            .with_this_cpu(Some(Stat::FreeBypassTrylock), |mags, stats| {
                if obj_node.is_some_and(|n| n != mags.node()) {
                    stats.inc(Stat::FreeRemoteNode);
                    return false;
                }
                if let Some(e) = empty.take() {
                    // The commit of the trade, when both magazines are still full, with the
                    // capacity read under the CPU's lock; else `e` stays in hand.
                    let capacity = self.state.capacity();
                    // SAFETY: An empty magazine of this cache (of any node, as it holds no
                    // object).
                    match unsafe { mags.commit_empty(e, capacity) } {
                        Ok(f) => full = Some((f, mags.node())),
                        Err(e) => empty = Some(e),
                    }
                } else if bulk && mags.is_full() {
                    mags.loaded_mut().take_into(batch_size, &mut batch);
                    stats.inc(Stat::ArrayFlush);
                }
                // Interrupts off and no empty magazine: no flush; the push below fails.
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
            self.state.recycle(node, empty);
        }
        self.state.free_batch(&mut batch);
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
    pub(super) unsafe fn free_off_array(&self, obj: NonNull<c_void>, stat: Stat) {
        self.state.count(stat, 1);
        // SAFETY: Guaranteed by the caller.
        unsafe { self.free_backing(&mut [obj.as_ptr()]) };
    }

    /// Frees every object in `objs`: into this CPU's magazines while they have room, trading a
    /// full magazine for an empty one at the depot of its node while the context allows, the
    /// rest with one bulk call to the backing cache (one by one when interrupts are off). NULL
    /// entries are skipped, and so is an object KASAN reports as parked in a magazine already
    /// (a double free), as [`Cache::free`] does. An object that may not be parked
    /// (`crate::semantics::placement`) goes to the backing cache. `objs` is scratch space afterwards, as
    /// for `kmem_cache_free_bulk()`.
    ///
    /// # Safety
    ///
    /// Every non-null pointer in `objs` must be an object allocated from this cache, owned by
    /// the caller and not used afterwards.
    pub unsafe fn free_bulk(&self, objs: &mut [*mut c_void]) {
        let placement = &self.state.placement;
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
            if !unsafe { crate::semantics::kasan::check(obj) } {
                continue;
            }
            if !placement.free_needs_check() && !hardening::is_kfence(obj) {
                objs[n] = obj.as_ptr();
                n += 1;
                continue;
            }
            // The node is checked under the lock, below.
            // SAFETY: The caller gave us `obj`, a live object of this cache.
            if let Some(why) = unsafe { placement.free_to_backing(obj) } {
                self.state.count(why.into(), 1);
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
    pub(super) unsafe fn push_bulk(&self, objs: &mut [*mut c_void]) -> Option<(usize, usize)> {
        let placement = &self.state.placement;
        self.state
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
                    if !unsafe { crate::semantics::kasan::check(obj) } {
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
    /// an empty one of the depot of this CPU's node ([`CacheState::get_empty_for_full`]). Returns
    /// whether this CPU's magazines have room now.
    ///
    /// Must be called where [`depot_allowed`] holds, unpinned.
    pub(super) fn trade_full_loaded(&self) -> bool {
        let node = crate::semantics::placement::this_node();
        let mut empty = self.state.get_empty_for_full(node);
        if empty.is_none() {
            return false;
        }
        let mut full = None;
        let room = self
            .state
            .with_this_cpu(None, |mags, _| {
                if let Some(e) = empty.take() {
                    // As in `free_overflow`: the commit, or `e` stays in hand.
                    let capacity = self.state.capacity();
                    // SAFETY: An empty magazine of this cache (of any node, as it holds no
                    // object).
                    match unsafe { mags.commit_empty(e, capacity) } {
                        Ok(f) => full = Some((f, mags.node())),
                        Err(e) => empty = Some(e),
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
            self.state.recycle(node, empty);
        }
        room
    }

    /// Gives a full magazine of a CPU of `node` to that node's depot, counting `depot_put`, or
    /// `depot_miss` when the depot had no room and its objects went to the backing cache.
    pub(super) fn put_full_counted(&self, node: i32, full: MagazineBox) {
        let stat = if self.state.put_full(node, full) {
            Stat::DepotPut
        } else {
            Stat::DepotMiss
        };
        self.state.count(stat, 1);
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
    pub(super) unsafe fn free_backing(&self, objs: &mut [*mut c_void]) {
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
        self.state.count(Stat::FreeBacking, objs.len() as u64);
        // One object: `kmem_cache_free()`, which is cheaper than a bulk free of one.
        if objs.len() > 1 && bulk_allowed() {
            // SAFETY: Guaranteed by the caller.
            unsafe { self.state.backing.free_bulk(objs) };
            return;
        }
        for &obj in objs.iter() {
            if let Some(obj) = NonNull::new(obj) {
                // SAFETY: Guaranteed by the caller.
                unsafe { self.state.backing.free(obj) };
            }
        }
    }
}

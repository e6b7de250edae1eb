// SPDX-License-Identifier: GPL-2.0

//! The allocation paths of a [`Cache`]: a hit pops from this CPU's loaded magazine; a miss
//! swaps, trades at the depot, refills by half, or goes to the backing cache (`crate::cache::handle`
//! describes the layers, the locking and the contexts).

use super::handle::Cache;
use crate::{
    magazines::{
        hit::{
            self,
            Miss,
            ThisCpu, //
        },
        magazine::{
            Batch,
            CpuMagazines, //
        },
        stats::{
            Stat,
            ThisCpuStats, //
        },
    },
    percpu::cpu_pin::{
        bulk_allowed,
        depot_allowed,
        in_nmi, //
    },
    semantics::{
        gfp::Gfp,
        object_hooks::might_alloc, //
    },
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::c_void, //
};

/// Pops an object from this CPU's magazines, counting `alloc_array` when there was one: the
/// allocation paths' use of a locked CPU.
#[inline(always)]
fn pop_counted(mags: &mut CpuMagazines, stats: ThisCpuStats<'_>) -> Option<NonNull<c_void>> {
    count_pop(mags.pop(), stats)
}

/// Counts `alloc_array` for `obj`, just popped, when there was one.
#[inline(always)]
fn count_pop(obj: Option<NonNull<c_void>>, stats: ThisCpuStats<'_>) -> Option<NonNull<c_void>> {
    if obj.is_some() {
        stats.inc(Stat::AllocArray);
    }
    obj
}

impl Cache {
    /// Whether an empty array may be refilled for an allocation with `gfp`.
    pub(super) fn can_refill(gfp: Gfp) -> bool {
        gfp.allows_blocking() && bulk_allowed()
    }

    /// Zeroes `obj`, about to be handed out, when `gfp` asks for it (`__GFP_ZERO`) or the
    /// kernel runs with `init_on_alloc` and the cache is not exempt, as `kmem_cache_alloc()`
    /// would (`slab_want_init_on_alloc()`).
    #[inline]
    pub(crate) fn zero_if_asked(&self, obj: NonNull<c_void>, gfp: Gfp) {
        if gfp.wants_zero() || self.state.placement.init_on_alloc() {
            self.zero(obj);
        }
    }

    /// Charges `obj`, taken out of a reservation for a caller that asks for accounting
    /// (`gfp` has `__GFP_ACCOUNT`), to the caller's memory cgroup, unless it is charged already
    /// (a reservation made with `__GFP_ACCOUNT`, a `SLAB_ACCOUNT` cache). The charge cannot
    /// fail (`__GFP_NOFAIL`, as `kmem_cache_alloc_from_sheaf()` forces it): a reservation's
    /// objects are the caller's already. From then on the cache's frees check for accounting
    /// (`crate::semantics::placement`), so that this object is uncharged by the backing cache.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of this cache, handed to the caller.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn charge_handed_out(&self, obj: NonNull<c_void>, gfp: Gfp) {
        if !crate::semantics::placement::memcg_kmem_online() {
            return;
        }
        let _ = self.state.placement.mark_gfp_accounted();
        // SAFETY: `obj` is a live slab object of the backing cache (caller).
        unsafe { bindings::kmem_cache_charge(obj.as_ptr(), gfp.no_fail().as_raw()) };
    }

    /// Hands `objs`, just allocated from the backing cache, to the caller.
    pub(super) fn out_of_backing(&self, objs: &[*mut c_void]) {
        // SAFETY: `objs` are live objects of the backing cache, now the caller's.
        unsafe { self.state.placement.handing_out_from_backing(objs) };
    }

    /// Zeroes all of `obj`, a live object of this cache that the caller owns: what the hit path
    /// does ([`ThisCpu::zero`] of the cache state).
    pub(super) fn zero(&self, obj: NonNull<c_void>) {
        ThisCpu::zero(&*self.state, obj);
    }

    /// Allocates one object from the backing cache, for a caller. Never in NMI context, where
    /// the slab allocator may not be entered: only the arrays serve an NMI.
    #[cold]
    pub(super) fn alloc_backing(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        if in_nmi() {
            return None;
        }
        let obj = self.state.backing.alloc(gfp)?;
        self.state.count(Stat::AllocBacking, 1);
        self.out_of_backing(&[obj.as_ptr()]);
        Some(obj)
    }

    /// Allocates one object from the backing cache for a caller that may not use the arrays,
    /// counting why as `stat`.
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_off_array(&self, gfp: Gfp, stat: Stat) -> Option<NonNull<c_void>> {
        self.state.count(stat, 1);
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
        match hit::alloc(&*self.state, gfp) {
            Ok(obj) => Some(obj),
            Err(Miss::Exhausted) => self.alloc_miss(gfp, false),
            Err(Miss::Locked) => self.alloc_miss(gfp, true),
            Err(Miss::Checks) => self.alloc_checked(gfp),
        }
    }

    /// An allocation that the checks word sends off the hit path: a charged allocation, or a
    /// cache that accounting made its objects' owner. Served by the magazines (swap included)
    /// when accounting is offline after all, else by the backing cache.
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_checked(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        if !self.state.placement.alloc_may_use_array(gfp) {
            return self.alloc_off_array(gfp, Stat::AllocBypassMemcg);
        }
        self.alloc_miss(gfp, false)
    }

    /// An allocation that this CPU's loaded magazine could not serve: its lock was held
    /// (`locked`), or the magazine was empty. Swaps in the previous magazine when that one holds
    /// objects; else the depot (whatever the gfp flags), a refill (when they may block) or the
    /// backing cache.
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_miss(&self, gfp: Gfp, locked: bool) -> Option<NonNull<c_void>> {
        if locked {
            return self.alloc_backing(gfp);
        }
        // Locked again: the hit path does not swap, so that it carries one magazine.
        if let Some(Some(obj)) = self.state.with_this_cpu(None, pop_counted) {
            self.zero_if_asked(obj, gfp);
            return Some(obj);
        }
        // The depot before the gfp flags: a trade allocates nothing and never sleeps, so a
        // non-blocking allocation (`GFP_ATOMIC`, `GFP_NOWAIT`) takes the magazines that frees
        // in softirqs left there. Only the bulk refill needs flags that may block.
        if depot_allowed() {
            let loaded =
                self.load_from_depot(crate::semantics::placement::this_node(), pop_counted);
            if let Some(obj) = loaded.flatten() {
                self.zero_if_asked(obj, gfp);
                return Some(obj);
            }
        }
        if !Self::can_refill(gfp) {
            self.state.count(Stat::AllocBypassNoBlock, 1);
            return self.alloc_backing(gfp);
        }
        let Some(obj) = self.refill_and_pop(gfp) else {
            self.state.count(Stat::AllocBypassRefillFailed, 1);
            return self.alloc_backing(gfp);
        };
        self.zero_if_asked(obj, gfp);
        Some(obj)
    }

    /// Loads a full magazine of the depot of `node` into this CPU, whose magazines were both
    /// found empty, and runs `take` on them, still locked: the two-phase trade of an allocation.
    /// The full magazine is taken under the depot's lock ([`CacheState::get_full`]); with the
    /// CPU re-locked, `CpuMagazines::commit_full` installs it as the loaded one when the plan
    /// still holds, and the empty one it replaces goes to the depot ([`CacheState::recycle`]).
    /// `None` when the depot has no full magazine, or when the task is on another node's CPU or
    /// the CPU's lock is held by the time it comes back (the magazine goes back to the depot,
    /// [`CacheState::put_full`]). When the magazines were filled meanwhile (an interrupt freed on
    /// this CPU), or the capacity shrank below what the magazine holds, `take` runs on the
    /// magazines as they are and the full magazine goes back.
    ///
    /// [`CacheState::get_full`]: crate::magazines::state::CacheState::get_full
    /// [`CacheState::recycle`]: crate::magazines::state::CacheState::recycle
    /// [`CacheState::put_full`]: crate::magazines::state::CacheState::put_full
    ///
    /// Must be called where [`depot_allowed`] holds, unpinned.
    pub(super) fn load_from_depot<R>(
        &self,
        node: i32,
        take: impl FnOnce(&mut CpuMagazines, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let mut full = Some(self.state.get_full(node)?);
        let mut empty = None;
        let r = self.state.with_this_cpu(None, |mags, stats| {
            if mags.node() != node {
                return None;
            }
            if let Some(f) = full.take() {
                // The capacity read under the CPU's lock, where `set_capacity` resizes the CPU.
                let capacity = self.state.capacity();
                // SAFETY: The magazine comes from this cache's depot of `node`, this CPU's node.
                match unsafe { mags.commit_full(f, capacity) } {
                    Ok(replaced) => {
                        empty = Some(replaced);
                        stats.inc(Stat::DepotGet);
                    }
                    Err(f) => full = Some(f),
                }
            }
            Some(take(mags, stats))
        });
        // Unlocked: what this CPU did not keep goes back.
        if let Some(full) = full {
            self.state.put_full(node, full);
        }
        if let Some(empty) = empty {
            self.state.recycle(node, empty);
        }
        r.flatten()
    }

    /// Allocates `n` objects (at most [`BATCH_MAX`]) from the backing cache into `batch`, with
    /// the flags of a refill: one bulk call, or on a NUMA kernel one allocation on this CPU's
    /// memory node per object (`crate::semantics::placement`).
    pub(super) fn bulk_into(&self, gfp: Gfp, n: usize, batch: &mut Batch) -> bool {
        let gfp = gfp.for_refill();
        batch.fill_with(n, |slots| {
            if self.state.placement.numa() {
                self.state.backing.alloc_bulk_on_node(
                    gfp,
                    crate::semantics::placement::this_node(),
                    slots,
                )
            } else {
                self.state.backing.alloc_bulk(gfp, slots)
            }
        })
    }

    /// Moves what fits of `batch` into the loaded magazine of the CPU the task is on now (a
    /// refill), then runs `then` on that CPU's magazines while they are still locked. `None`,
    /// with `batch` untouched, when the CPU's lock is held.
    pub(super) fn refill_this_cpu<R>(
        &self,
        batch: &mut Batch,
        bypass: Option<Stat>,
        then: impl FnOnce(&mut CpuMagazines, ThisCpuStats<'_>) -> R,
    ) -> Option<R> {
        let placement = &self.state.placement;
        let mut remote = Batch::new();
        let r = self.state.with_this_cpu(bypass, |mags, stats| {
            if placement.numa() {
                // The CPU's memory node may have changed since its magazines were set up (a
                // memoryless node that got memory): empty ones follow it, so that refills do not
                // all turn out remote.
                let here = crate::semantics::placement::this_node();
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
        self.state.free_batch(&mut remote);
        r
    }

    /// Refills this CPU's array with one bulk call and pops one object from it.
    ///
    /// Called unpinned: the bulk call may sleep. Afterwards the task may be on another CPU, and
    /// that CPU's array may have been filled by others meanwhile: what does not fit goes back
    /// to the backing cache.
    pub(super) fn refill_and_pop(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
        let mut batch = Batch::new();
        if !self.bulk_into(gfp, self.state.batch(), &mut batch) {
            return None;
        }
        let obj = self
            .refill_this_cpu(&mut batch, None, pop_counted)
            .flatten();
        // The lock was lost to an interrupt: serve the caller from the batch itself.
        let obj = obj.or_else(|| {
            let obj = batch.pop();
            if obj.is_some() {
                self.state.count(Stat::AllocBacking, 1);
            }
            obj
        });
        self.state.free_batch(&mut batch);
        obj
    }

    /// Allocates an object on `node`: from this CPU's array when `node` is the CPU's memory node
    /// and the array has one, otherwise from the backing cache on `node`. `NUMA_NO_NODE` is
    /// [`Cache::alloc`].
    pub fn alloc_node(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
        if node == bindings::NUMA_NO_NODE {
            return self.alloc(gfp);
        }
        might_alloc(gfp);
        if !self.state.placement.alloc_may_use_array(gfp) {
            self.state.count(Stat::AllocBypassMemcg, 1);
        } else {
            let popped = self
                .state
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
        self.state.count(Stat::AllocBypassNode, 1);
        let obj = self.state.backing.alloc_node(gfp, node)?;
        self.state.count(Stat::AllocBacking, 1);
        self.out_of_backing(&[obj.as_ptr()]);
        Some(obj)
    }

    /// Fills all of `out`: first from this CPU's magazines, then from full magazines of its
    /// node's depot, the rest with one bulk call to the backing cache. All or nothing: on
    /// failure every object is given back and `out` must not be used. An empty `out` fails, as
    /// `kmem_cache_alloc_bulk()` does, and so does a call with interrupts disabled or in hard
    /// interrupt or NMI context (see [`crate::percpu::cpu_pin::bulk_allowed`]), where the bulk API may
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
        let from_array = if self.state.placement.alloc_may_use_array(gfp) {
            self.pop_bulk(out)
        } else {
            self.state.count(Stat::AllocBypassMemcg, out.len() as u64);
            0
        };
        if zero && (gfp.wants_zero() || self.state.placement.init_on_alloc()) {
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
        if self.state.backing.alloc_bulk(gfp, rest) {
            self.state.count(Stat::AllocBacking, rest.len() as u64);
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
    pub(super) fn pop_bulk(&self, out: &mut [*mut c_void]) -> usize {
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
            .state
            .with_this_cpu(Some(Stat::AllocBypassTrylock), |mags, stats| {
                pop(mags, stats, out)
            })
        else {
            return 0;
        };
        while n < out.len() && depot_allowed() {
            let rest = &mut out[n..];
            match self.load_from_depot(crate::semantics::placement::this_node(), |mags, stats| {
                pop(mags, stats, rest)
            }) {
                Some(got) if got > 0 => n += got,
                _ => break,
            }
        }
        n
    }
}

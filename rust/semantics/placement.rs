// SPDX-License-Identifier: GPL-2.0

//! Which objects an array may hold, and which allocations it may serve, so that an object from
//! the cache means what an object from `kmem_cache_alloc()` means.
//!
//! SLUB's own per-CPU layer (sheaves, `mm/slub.c`) decides per object, from its slab, whether it
//! may be parked (`can_free_to_pcs()`), and charges and uncharges memory cgroups in the hooks it
//! runs on every object. The arrays follow the same rules:
//!
//! - **NUMA.** An array holds only objects of its CPU's memory node (`cpu_to_mem()`). A free of
//!   an object of another node goes to the backing cache (counted as `free_remote_node`). A
//!   refill asks for each object on the CPU's node (`__GFP_THISNODE`): `kmem_cache_alloc_bulk()`
//!   takes no node and, when the local node has no partial slab, fills from another node's, which
//!   an array would refuse refill after refill. What still arrives from another node (the task
//!   moved during the refill) goes back (`refill_remote_node`). `alloc_node()` for the node of
//!   the current CPU may use the array. On a kernel with one node (`nr_node_ids == 1`) none of
//!   this costs anything.
//! - **Reserves.** No object of a pfmemalloc slab (one allocated from the memory reserves) is
//!   ever parked: refills never use the reserves (`__GFP_NOMEMALLOC`), and every object handed
//!   out from the backing cache is checked, whoever the caller; while any such object is out,
//!   every free checks its slab, and a reserve object goes back to the backing cache
//!   (`free_bypass_pfmemalloc`). The count of those out saturates at zero. A caller that may
//!   use the reserves still gets them from the backing cache when the array is empty and a
//!   refill fails.
//! - **KFENCE.** A KFENCE object is never parked: its free goes to the backing cache
//!   (`free_bypass_kfence`), which hands it to `kfence_free()`, so that KFENCE still sees its
//!   use after free and gets its slot back.
//! - **Initialisation.** A `SLAB_TYPESAFE_BY_RCU` or `SLAB_POISON` cache is exempt from
//!   `init_on_alloc` and `init_on_free`, as in SLUB (`slab_want_init_on_alloc()`,
//!   `slab_want_init_on_free()`): decided once, at creation, and read by the inline hit paths
//!   from the same word of checks.
//! - **Memory cgroups.** A module cannot uncharge an object (the kernel exports
//!   `kmem_cache_charge()`, not its inverse), so an object parked in an array would stay charged
//!   to whoever freed it and be handed to another cgroup for free. Accounted allocations
//!   therefore never touch the arrays while kernel memory accounting is online
//!   (`memcg_kmem_online()`): on a `SLAB_ACCOUNT` cache, and on any cache once an allocation
//!   with `__GFP_ACCOUNT` has been made from it, every allocation and free goes to the backing
//!   cache, which charges and uncharges it (`alloc_bypass_memcg`, `free_bypass_memcg`). The
//!   backing cache of a `SLAB_ACCOUNT` cache keeps SLUB's sheaves, so that these allocations
//!   cost what they cost without the module.
//!   Objects already parked were allocated uncharged; they are still served to callers that do
//!   not ask for accounting.

use crate::{
    semantics::{
        gfp::Gfp,
        hardening, //
    },
    sys::ffi, //
};
use core::ptr::NonNull;
use core::sync::atomic::{
    AtomicI64,
    Ordering::Relaxed, //
};
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    str::{
        CStr,
        CString, //
    },
};

/// Whether `flags` has `SLAB_ACCOUNT`: every object of the cache is charged to its allocator's
/// memory cgroup.
#[cfg(CONFIG_MEMCG)]
pub(crate) const fn slab_account(flags: bindings::slab_flags_t) -> bool {
    flags & (1 << bindings::_slab_flag_bits__SLAB_ACCOUNT) != 0
}

/// Without memory cgroups `SLAB_ACCOUNT` is no flag.
#[cfg(not(CONFIG_MEMCG))]
pub(crate) const fn slab_account(_flags: bindings::slab_flags_t) -> bool {
    false
}

#[cfg(CONFIG_MEMCG)]
extern "C" {
    /// Enabled once kernel memory accounting is online (a memory cgroup other than the root
    /// exists); never disabled again. Exported by `mm/memcontrol.c`.
    static memcg_kmem_online_key: bindings::static_key_false;
}

/// `memcg_kmem_online()`: whether allocations may be charged to a memory cgroup.
#[inline(always)]
pub(crate) fn memcg_kmem_online() -> bool {
    #[cfg(CONFIG_MEMCG)]
    {
        // SAFETY: `memcg_kmem_online_key` is an exported static key that lives as long as the
        // kernel; its count is only read, as `static_key_enabled()` reads it.
        unsafe { (&raw const memcg_kmem_online_key.key.enabled.counter).read_volatile() != 0 }
    }
    #[cfg(not(CONFIG_MEMCG))]
    false
}

/// The memory node of slab object `obj`.
///
/// # Safety
///
/// `obj` must be a live slab object.
pub(crate) unsafe fn obj_node(obj: NonNull<c_void>) -> i32 {
    // SAFETY: `obj` is a slab object (caller), in the direct map, whose folio is a slab.
    unsafe { ffi::pcpu_array_obj_node(obj.as_ptr()) }
}

/// Whether slab object `obj` comes from a pfmemalloc slab (the memory reserves).
///
/// # Safety
///
/// `obj` must be a live slab object.
unsafe fn obj_pfmemalloc(obj: NonNull<c_void>) -> bool {
    // SAFETY: As in `obj_node`.
    unsafe { ffi::pcpu_array_obj_pfmemalloc(obj.as_ptr()) }
}

/// The memory node of the CPU the task is on now (`numa_mem_id()`), which may change at once
/// unless pinned.
pub(crate) fn this_node() -> i32 {
    // SAFETY: Reads a per-CPU variable of the current CPU.
    unsafe { ffi::pcpu_array_numa_mem_id() }
}

/// The memory node whose objects `cpu`'s array holds.
pub(crate) fn cpu_node(cpu: u32) -> i32 {
    // SAFETY: `cpu_to_mem()` reads a per-CPU variable of a possible CPU.
    unsafe { ffi::pcpu_array_cpu_to_mem(cpu) }
}

/// How many memory node ids there are (`nr_node_ids`): nodes are `0..node_ids()`.
pub(crate) fn node_ids() -> u32 {
    // SAFETY: Reads `nr_node_ids`, set at boot.
    unsafe { ffi::pcpu_array_nr_node_ids() }
}

/// Where a freed object may go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FreeTo {
    /// Any CPU's array.
    AnyArray,
    /// Only an array of this memory node.
    NodeArray(i32),
    /// The backing cache only, for the reason given.
    Backing(Bypass),
}

/// Why an object being freed goes to the backing cache whatever its node (each reason has its
/// counter, `free_bypass_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Bypass {
    /// It came from the reserves (a pfmemalloc slab).
    Pfmemalloc,
    /// It may be charged to a memory cgroup.
    Memcg,
    /// It is a KFENCE object.
    Kfence,
}

impl FreeTo {
    /// The memory node whose arrays alone may take the object, for [`FreeTo::NodeArray`].
    #[inline]
    pub(crate) fn node(self) -> Option<i32> {
        match self {
            FreeTo::NodeArray(node) => Some(node),
            _ => None,
        }
    }
}

/// [`Placement::checks`]: the kernel has several memory nodes.
const NUMA: i64 = crate::sys::abi_types::CHECK_NUMA;
/// [`Placement::checks`]: a `SLAB_ACCOUNT` cache, every object of which is charged, refills
/// included.
const SLAB_ACCOUNTED: i64 = crate::sys::abi_types::CHECK_SLAB_ACCOUNTED;
/// [`Placement::checks`]: an allocation with `__GFP_ACCOUNT` has been served; such objects are
/// charged, refills (without it) are not.
const GFP_ACCOUNTED: i64 = crate::sys::abi_types::CHECK_GFP_ACCOUNTED;
/// [`Placement::checks`]: the cache is exempt from `init_on_alloc` and `init_on_free`, as SLUB
/// exempts it (`slab_want_init_on_alloc()`, `slab_want_init_on_free()` in `mm/slab.h`): its
/// freed objects may still be read (`SLAB_TYPESAFE_BY_RCU`) or are poisoned (`SLAB_POISON`).
/// Fixed at creation. Not a reason for a free to check its object.
const INIT_EXEMPT: i64 = crate::sys::abi_types::CHECK_INIT_EXEMPT;
/// [`Placement::checks`]: the number of objects of pfmemalloc slabs handed out and not yet freed.
const RESERVE_OBJECTS: i64 = crate::sys::abi_types::CHECK_RESERVE_OBJECTS;

/// The `SLAB_*` flags with which SLUB neither zeroes on allocation nor wipes on free:
/// `SLAB_TYPESAFE_BY_RCU` and `SLAB_POISON` (SLUB's third exemption, a constructor, cannot be
/// given to this module).
const INIT_EXEMPT_FLAGS: bindings::slab_flags_t = (1
    << bindings::_slab_flag_bits__SLAB_TYPESAFE_BY_RCU)
    | (1 << bindings::_slab_flag_bits__SLAB_POISON);

/// Whether a cache created with `flags` is exempt from `init_on_alloc` and `init_on_free`.
pub(crate) const fn init_exempt(flags: bindings::slab_flags_t) -> bool {
    flags & INIT_EXEMPT_FLAGS != 0
}

/// The placement rules of one cache.
pub(crate) struct Placement {
    /// Every reason a free may have to check its object, in one word so that the common free
    /// tests it with one load: [`NUMA`] (fixed at creation), [`SLAB_ACCOUNTED`] (fixed),
    /// [`GFP_ACCOUNTED`] (set once, never cleared) and the count of [`RESERVE_OBJECTS`] out;
    /// and [`INIT_EXEMPT`] (fixed), for the inline hit paths of consumers, which read the word
    /// anyway. The count never goes below zero and never borrows from the bits above it
    /// ([`Placement::reserve_object_back`]).
    ///
    /// A `core` atomic: its relaxed load is one `mov`, what `READ_ONCE()` compiles to, where the
    /// kernel crate's `Atomic<T>` calls a C helper from a module. Written rarely, with
    /// `lock`-prefixed read-modify-writes, and orders nothing.
    checks: AtomicI64,
    /// [`INIT_EXEMPT`], for the module's own paths, which read it only when `init_on_alloc` or
    /// `init_on_free` is on.
    init_exempt: bool,
    /// The cache's name, for the kernel log.
    name: CString,
}

impl Placement {
    /// The rules for a backing cache `name` created with `flags`.
    pub(crate) fn new(name: &CStr, flags: bindings::slab_flags_t) -> Result<Self> {
        // SAFETY: Reads `nr_node_ids`, set at boot.
        let nodes = unsafe { ffi::pcpu_array_nr_node_ids() };
        let mut checks = 0;
        if nodes > 1 {
            checks |= NUMA;
        }
        if slab_account(flags) {
            checks |= SLAB_ACCOUNTED;
        }
        let init_exempt = init_exempt(flags);
        if init_exempt {
            checks |= INIT_EXEMPT;
        }
        Ok(Self {
            checks: AtomicI64::new(checks),
            init_exempt,
            name: CString::try_from_fmt(fmt!("{name}"))?,
        })
    }

    /// The word of checks, for the inline hit path of consumers: a free may skip
    /// [`Placement::free_to`] only when it is 0, an allocation [`Placement::alloc_may_use_array`]
    /// only without `__GFP_ACCOUNT` and while `PCPU_ARRAY_CHECK_SLAB_ACCOUNTED` is clear.
    pub(crate) fn checks_ptr(&self) -> *const i64 {
        self.checks.as_ptr()
    }

    /// Whether an object handed out must be zeroed when `gfp` has no `__GFP_ZERO`:
    /// `init_on_alloc` is on and the cache is not exempt (`slab_want_init_on_alloc()`).
    #[inline(always)]
    pub(crate) fn init_on_alloc(&self) -> bool {
        hardening::init_on_alloc() && !self.init_exempt
    }

    /// Whether an object freed into an array must be wiped first: `init_on_free` is on and the
    /// cache is not exempt (`slab_want_init_on_free()`). An exempt cache's object keeps its
    /// contents while parked, as it would in SLUB: RCU readers of a `SLAB_TYPESAFE_BY_RCU`
    /// cache may still look at it.
    #[inline(always)]
    pub(crate) fn init_on_free(&self) -> bool {
        hardening::init_on_free() && !self.init_exempt
    }

    /// Whether objects must be placed by node at all.
    #[inline(always)]
    pub(crate) fn numa(&self) -> bool {
        self.checks.load(Relaxed) & NUMA != 0
    }

    /// Whether an allocation with `gfp` may be served from an array; `false` means the backing
    /// cache, counted as `alloc_bypass_memcg`.
    ///
    /// An allocation with `__GFP_ACCOUNT` while accounting is online marks the cache accounted
    /// before its object is handed out, so that the object's free, on whichever CPU, sees it.
    #[inline(always)]
    pub(crate) fn alloc_may_use_array(&self, gfp: Gfp) -> bool {
        if !gfp.accounts() && self.checks.load(Relaxed) & SLAB_ACCOUNTED == 0 {
            return true;
        }
        self.alloc_may_use_array_accounted(gfp)
    }

    #[cold]
    fn alloc_may_use_array_accounted(&self, gfp: Gfp) -> bool {
        if !memcg_kmem_online() {
            return true;
        }
        if gfp.accounts() {
            let _ = self.mark_gfp_accounted();
            return false;
        }
        // A plain allocation from a cache that `__GFP_ACCOUNT` calls made accounted: refills
        // are uncharged there, and so is everything the arrays hold.
        self.checks.load(Relaxed) & SLAB_ACCOUNTED == 0
    }

    /// Notes that an object of the cache was charged to a memory cgroup outside `SLAB_ACCOUNT`:
    /// from now on every free checks whether accounting is online and, while it is, goes to the
    /// backing cache, which uncharges it. Said once in the kernel log, since one stray
    /// `__GFP_ACCOUNT` allocation costs every later free of the cache its array. Returns
    /// whether this call was the one that said it.
    pub(crate) fn mark_gfp_accounted(&self) -> bool {
        if self.checks.load(Relaxed) & GFP_ACCOUNTED != 0 {
            return false;
        }
        if self.checks.fetch_or(GFP_ACCOUNTED, Relaxed) & GFP_ACCOUNTED != 0 {
            return false;
        }
        pr_notice!(
            "{}: an allocation with __GFP_ACCOUNT: frees bypass the arrays while memory \
             cgroups are online\n",
            self.name.to_str().unwrap_or("?")
        );
        true
    }

    /// Whether a free must ask [`Placement::free_to`] where its object may go; when it need
    /// not, the object may go into any array. One load.
    #[inline(always)]
    pub(crate) fn free_needs_check(&self) -> bool {
        self.checks.load(Relaxed) & !INIT_EXEMPT != 0
    }

    /// Where `obj`, being freed on the current CPU, may go.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of the cache these rules belong to.
    pub(crate) unsafe fn free_to(&self, obj: NonNull<c_void>) -> FreeTo {
        // SAFETY: Guaranteed by the caller.
        if let Some(stat) = unsafe { self.free_to_backing(obj) } {
            return FreeTo::Backing(stat);
        }
        if self.numa() {
            // SAFETY: `obj` is a live slab object (caller).
            return FreeTo::NodeArray(unsafe { obj_node(obj) });
        }
        FreeTo::AnyArray
    }

    /// Whether `obj`, being freed, must go to the backing cache whatever its node, and why: it
    /// may be charged to a memory cgroup, it comes from the reserves, or it is a KFENCE object.
    /// Counts a reserve object as back.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of the cache these rules belong to.
    pub(crate) unsafe fn free_to_backing(&self, obj: NonNull<c_void>) -> Option<Bypass> {
        let checks = self.checks.load(Relaxed);
        // First, so that a reserve object is counted back whichever way it goes.
        // SAFETY: `obj` is a live slab object (caller).
        if checks & RESERVE_OBJECTS != 0 && unsafe { obj_pfmemalloc(obj) } {
            self.reserve_object_back();
            return Some(Bypass::Pfmemalloc);
        }
        if checks & (SLAB_ACCOUNTED | GFP_ACCOUNTED) != 0 && memcg_kmem_online() {
            return Some(Bypass::Memcg);
        }
        if hardening::is_kfence(obj) {
            return Some(Bypass::Kfence);
        }
        None
    }

    /// Counts one reserve object back, unless the count is zero already: two frees may race
    /// for the last one, and an object of a pfmemalloc slab may come back that was never
    /// counted (it was handed out before the count saw it). Never borrows from the bits above
    /// the count.
    pub(crate) fn reserve_object_back(&self) {
        let _ = self.checks.fetch_update(Relaxed, Relaxed, |c| {
            (c & RESERVE_OBJECTS != 0).then_some(c - 1)
        });
    }

    /// Counts `n` objects of pfmemalloc slabs handed out, saturating below the bits above the
    /// count.
    pub(crate) fn reserve_objects_out(&self, n: i64) {
        let _ = self.checks.fetch_update(Relaxed, Relaxed, |c| {
            let count = (c & RESERVE_OBJECTS).saturating_add(n).min(RESERVE_OBJECTS);
            Some((c & !RESERVE_OBJECTS) | count)
        });
    }

    /// The number of reserve objects counted out, for tests.
    #[cfg(pcpu_array_kunit)]
    pub(crate) fn reserve_objects(&self) -> i64 {
        self.checks.load(Relaxed) & RESERVE_OBJECTS
    }

    /// The whole checks word, as the hit path reads it (`crate::magazines::hit`).
    #[inline(always)]
    pub(crate) fn checks(&self) -> i64 {
        self.checks.load(Relaxed)
    }

    /// Notes `objs`, allocated from the backing cache and about to be handed out: those from
    /// the reserves make frees check their slabs until they are back. Every such object is
    /// counted, whoever the caller is: a task may use the reserves for more reasons than a
    /// module can see (`gfp_pfmemalloc_allowed()` also lets an OOM victim use them, through
    /// `oom_reserves_allowed()`), and a reserve object handed to any caller must not be parked
    /// when it comes back.
    ///
    /// # Safety
    ///
    /// Every non-null pointer of `objs` must be a live object of the cache these rules belong
    /// to.
    pub(crate) unsafe fn handing_out_from_backing(&self, objs: &[*mut c_void]) {
        let mut n = 0;
        for &obj in objs {
            let Some(obj) = NonNull::new(obj) else {
                continue;
            };
            // SAFETY: `obj` is a live slab object (caller).
            if unsafe { obj_pfmemalloc(obj) } {
                n += 1;
            }
        }
        if n != 0 {
            self.reserve_objects_out(n);
        }
    }

    /// Whether `obj`, from a refill or a free, may be parked in an array of `node`.
    ///
    /// # Safety
    ///
    /// `obj` must be a live object of the cache these rules belong to.
    pub(crate) unsafe fn belongs_on(&self, obj: NonNull<c_void>, node: i32) -> bool {
        // SAFETY: Guaranteed by the caller.
        !self.numa() || unsafe { obj_node(obj) } == node
    }
}

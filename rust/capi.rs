// SPDX-License-Identifier: GPL-2.0

//! The C ABI of `include/pcpu_array.h`, for modules written in C or in Rust (through
//! `samples/rust/pcpu_array_binding.rs`).
//!
//! `struct pcpu_array *` is an [`Arc<CArray>`] turned into a raw pointer, and
//! `struct pcpu_array_reservation *` a [`KBox<CReservation>`]; a reservation holds a reference
//! to its cache, so destroying a cache with reservations outstanding warns once and leaves the
//! final destruction to the last unreserve instead of freeing memory still in use.
//!
//! The symbols are defined here and exported by `pcpu_array_exports.c`.

use crate::{
    abi_types::PcpuArrayStats,
    backing::Sheaves,
    cache::{
        Config,
        PcpuArray, //
    },
    gfp::Gfp,
    reservation::ReservedObjs,
    stats::Stat,
};
use core::ptr::{
    null_mut,
    NonNull, //
};
use kernel::{
    bindings,
    ffi::{
        c_char,
        c_int,
        c_uint,
        c_ulong,
        c_void, //
    },
    prelude::*,
    str::CStr,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        ArcBorrow, //
    },
};

/// What a `struct pcpu_array *` points to.
pub(crate) struct CArray {
    cache: PcpuArray,
    reservations: Atomic<i32>,
}

/// What a `struct pcpu_array_reservation *` points to.
pub(crate) struct CReservation {
    owner: Arc<CArray>,
    objs: ReservedObjs,
}

impl Drop for CReservation {
    fn drop(&mut self) {
        self.objs.release(&self.owner.cache);
        self.owner.reservations.fetch_sub(1, Relaxed);
    }
}

/// Set once a cache has been destroyed with reservations outstanding, so that the warning is
/// printed once.
static WARNED_OUTSTANDING: Atomic<i32> = Atomic::new(0);

/// Borrows the cache behind a `struct pcpu_array *`.
///
/// # Safety
///
/// `pa` must come from [`pcpu_array_create`] and not have been destroyed.
unsafe fn cache<'a>(pa: *mut c_void) -> &'a CArray {
    // SAFETY: Guaranteed by the caller: `pa` is `Arc::into_raw` of a live `Arc<CArray>`.
    unsafe { &*pa.cast::<CArray>() }
}

/// `struct pcpu_array_args` of `include/pcpu_array.h`.
#[repr(C)]
pub struct PcpuArrayArgs {
    size: c_uint,
    align: c_uint,
    flags: bindings::slab_flags_t,
    capacity: c_uint,
    keep_sheaves: bool,
}

fn create(name: *const c_char, args: &PcpuArrayArgs) -> Result<*mut c_void> {
    if name.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: The caller passes a NUL-terminated string (checked non-null above).
    let name = unsafe { CStr::from_char_ptr(name) };
    let config = Config {
        align: args.align,
        flags: args.flags,
        sheaves: if args.keep_sheaves {
            Sheaves::On
        } else {
            Sheaves::Off
        },
        ..Config::new(args.size, args.capacity)
    };
    let a = Arc::new(
        CArray {
            cache: PcpuArray::new(name, config)?,
            reservations: Atomic::new(0),
        },
        GFP_KERNEL,
    )?;
    Ok(a.into_raw().cast_mut().cast())
}

/// `pcpu_array_create()`: see `include/pcpu_array.h`.
///
/// # Safety
///
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_create(
    name: *const c_char,
    size: c_uint,
    align: c_uint,
    flags: bindings::slab_flags_t,
    capacity: c_uint,
) -> *mut c_void {
    let args = PcpuArrayArgs {
        size,
        align,
        flags,
        capacity,
        keep_sheaves: false,
    };
    create(name, &args).unwrap_or_else(|e| e.to_ptr())
}

/// `pcpu_array_create_args()`.
///
/// # Safety
///
/// `name` must be NULL or a NUL-terminated string; `args` NULL or valid for reading.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_create_args(
    name: *const c_char,
    args: *const PcpuArrayArgs,
) -> *mut c_void {
    if args.is_null() {
        return EINVAL.to_ptr();
    }
    // SAFETY: Guaranteed by the caller; checked non-null above.
    create(name, unsafe { &*args }).unwrap_or_else(|e| e.to_ptr())
}

/// `pcpu_array_shrink()`.
///
/// # Safety
///
/// As [`pcpu_array_alloc`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_shrink(pa: *mut c_void) -> c_ulong {
    // SAFETY: Guaranteed by the caller.
    unsafe { cache(pa) }.cache.shrink() as c_ulong
}

/// `pcpu_array_destroy()`.
///
/// # Safety
///
/// `pa` must be NULL or come from [`pcpu_array_create`], and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_destroy(pa: *mut c_void) {
    if pa.is_null() {
        return;
    }
    // SAFETY: Guaranteed by the caller; this gives back the reference `create` handed out.
    let a = unsafe { Arc::from_raw(pa.cast::<CArray>()) };
    let outstanding = a.reservations.load(Relaxed);
    if outstanding != 0 && WARNED_OUTSTANDING.xchg(1, Relaxed) == 0 {
        pr_warn!(
            "destroy with {} reservations outstanding; deferred to the last unreserve\n",
            outstanding
        );
        kernel::warn_on!(true);
    }
    drop(a);
}

/// `pcpu_array_alloc()`.
///
/// # Safety
///
/// `pa` must come from [`pcpu_array_create`] and not have been destroyed.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc(pa: *mut c_void, gfp: bindings::gfp_t) -> *mut c_void {
    // SAFETY: Guaranteed by the caller.
    let a = unsafe { cache(pa) };
    a.cache.alloc(gfp).map_or(null_mut(), NonNull::as_ptr)
}

/// `pcpu_array_alloc_node()`.
///
/// # Safety
///
/// As [`pcpu_array_alloc`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc_node(
    pa: *mut c_void,
    gfp: bindings::gfp_t,
    node: c_int,
) -> *mut c_void {
    // SAFETY: Guaranteed by the caller.
    let a = unsafe { cache(pa) };
    a.cache
        .alloc_node(gfp, node)
        .map_or(null_mut(), NonNull::as_ptr)
}

/// `pcpu_array_free()`.
///
/// # Safety
///
/// `pa` as in [`pcpu_array_alloc`]; `obj` NULL or an object allocated from `pa` and not used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_free(pa: *mut c_void, obj: *mut c_void) {
    let Some(obj) = NonNull::new(obj) else {
        return;
    };
    // SAFETY: Guaranteed by the caller.
    unsafe { cache(pa).cache.free(obj) };
}

/// `pcpu_array_alloc_bulk()`.
///
/// # Safety
///
/// `pa` as in [`pcpu_array_alloc`]; `p` must have room for `n` pointers.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc_bulk(
    pa: *mut c_void,
    gfp: bindings::gfp_t,
    n: usize,
    p: *mut *mut c_void,
) -> bool {
    if n == 0 || p.is_null() {
        return false;
    }
    // SAFETY: Guaranteed by the caller.
    let (a, out) = unsafe { (cache(pa), core::slice::from_raw_parts_mut(p, n)) };
    a.cache.alloc_bulk(gfp, out)
}

/// `pcpu_array_free_bulk()`.
///
/// # Safety
///
/// `pa` as in [`pcpu_array_alloc`]; `p` must hold `n` objects allocated from `pa`, not used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_free_bulk(pa: *mut c_void, n: usize, p: *mut *mut c_void) {
    if n == 0 || p.is_null() {
        return;
    }
    // SAFETY: Guaranteed by the caller.
    unsafe {
        let objs = core::slice::from_raw_parts_mut(p, n);
        cache(pa).cache.free_bulk(objs);
    }
}

/// `pcpu_array_prefill()`.
///
/// # Safety
///
/// As [`pcpu_array_alloc`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_prefill(
    pa: *mut c_void,
    count: c_uint,
    gfp: bindings::gfp_t,
) -> c_int {
    // SAFETY: Guaranteed by the caller.
    let a = unsafe { cache(pa) };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    match a.cache.prefill(count, gfp) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

fn reserve(pa: *mut c_void, count: c_uint, gfp: bindings::gfp_t) -> Result<*mut c_void> {
    let count = usize::try_from(count).map_err(|_| EINVAL)?;
    // SAFETY: `pa` is `Arc::into_raw` of a live `Arc<CArray>` (the caller's contract); we take
    // a new reference without consuming the caller's.
    let owner: Arc<CArray> = unsafe { ArcBorrow::from_raw(pa.cast::<CArray>()) }.into();
    let gfp = Gfp::from_raw(gfp);
    let objs = ReservedObjs::fill(&owner.cache, count, gfp)?;
    owner.reservations.fetch_add(1, Relaxed);
    // On failure the reservation is dropped, which gives its objects back.
    let r = KBox::new(CReservation { owner, objs }, gfp.kernel_flags())?;
    Ok(KBox::into_raw(r).cast())
}

/// `pcpu_array_reserve()`.
///
/// # Safety
///
/// As [`pcpu_array_alloc`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_reserve(
    pa: *mut c_void,
    count: c_uint,
    gfp: bindings::gfp_t,
) -> *mut c_void {
    reserve(pa, count, gfp).unwrap_or_else(|e| e.to_ptr())
}

/// `pcpu_array_alloc_reserved()`.
///
/// # Safety
///
/// `r` must come from [`pcpu_array_reserve`], not be unreserved, and not be used concurrently.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc_reserved(
    r: *mut c_void,
    gfp: bindings::gfp_t,
) -> *mut c_void {
    if r.is_null() {
        return null_mut();
    }
    // SAFETY: Guaranteed by the caller: a live, exclusively used reservation.
    let r = unsafe { &mut *r.cast::<CReservation>() };
    r.objs
        .take(&r.owner.cache, Gfp::from_raw(gfp))
        .map_or(null_mut(), NonNull::as_ptr)
}

/// `pcpu_array_unreserve()`.
///
/// # Safety
///
/// `r` must be NULL or come from [`pcpu_array_reserve`], and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_unreserve(r: *mut c_void) {
    if r.is_null() {
        return;
    }
    // SAFETY: Guaranteed by the caller; `reserve` made it with `KBox::into_raw`.
    drop(unsafe { KBox::from_raw(r.cast::<CReservation>()) });
}

/// `pcpu_array_get_stats()`.
///
/// # Safety
///
/// `pa` as in [`pcpu_array_alloc`]; `st` must be valid for writing a `struct pcpu_array_stats`.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_get_stats(pa: *mut c_void, st: *mut PcpuArrayStats) {
    if st.is_null() {
        return;
    }
    // SAFETY: Guaranteed by the caller.
    let s = unsafe { cache(pa) }.cache.stats();
    let out = PcpuArrayStats {
        alloc_cpu_cache: s.get(Stat::AllocCpuCache),
        free_cpu_cache: s.get(Stat::FreeCpuCache),
        cpu_cache_refill: s.get(Stat::CpuCacheRefill),
        cpu_cache_flush: s.get(Stat::CpuCacheFlush),
        alloc_backing: s.get(Stat::AllocBackingCache),
        free_backing: s.get(Stat::FreeBackingCache),
        objects_cached: s.get(Stat::ObjectsCached),
    };
    // SAFETY: Guaranteed by the caller.
    unsafe { st.write(out) };
}

/// `pcpu_array_cache()`.
///
/// # Safety
///
/// As [`pcpu_array_alloc`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_cache(pa: *mut c_void) -> *mut bindings::kmem_cache {
    // SAFETY: Guaranteed by the caller.
    unsafe { cache(pa) }.cache.kmem_cache()
}

// SPDX-License-Identifier: GPL-2.0

//! The C ABI of `include/pcpu_array.h`, for modules written in C or in Rust (through
//! the binding that `consumer.mk` writes next to a consumer, from `binding/pcpu_array.rs`).
//!
//! `struct pcpu_array *` is an [`Arc<PcpuArray>`] turned into a raw pointer, and
//! `struct pcpu_array_reservation *` a [`KBox<AbiReservation>`]; a reservation holds a
//! reference to its cache, so destroying a cache with reservations outstanding warns once and
//! leaves the final destruction to the last unreserve instead of freeing memory still in use.
//! Whichever lets go last, destroy or unreserve, in whatever context, the [`Cache`] decides
//! where its teardown runs (at once, or on the module's teardown workqueue).
//!
//! The symbols are defined here and exported by `pcpu_array_exports.c`. Each function's
//! `# Safety` section is the contract the header states in C terms. Each has the types of its
//! prototype in the header, the handles included (`*mut pcpu_array`, not `*mut c_void`): on a
//! kernel with `CONFIG_CFI`, a C caller that calls one through a function pointer of the
//! header's type checks the callee's kCFI type id, which rustc derives from these types (see
//! `abi_types`).

use crate::{
    cache::{
        handle::{
            Cache,
            Config, //
        },
        reservation::{
            hand_out,
            top_up,
            ReservedObjs, //
        },
    },
    semantics::{
        backing::Sheaves,
        gfp::Gfp, //
    },
    sys::abi_types::{
        pcpu_array,
        pcpu_array_args,
        pcpu_array_reservation,
        pcpu_array_rsv,
        pcpu_array_stats,
        PcpuArrayHot,
        LAYOUT, //
    },
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
///
/// `repr(C)`, `hot` first: the header's inline hit path reads the first bytes of a `struct
/// pcpu_array` as a `struct pcpu_array_hot`.
#[repr(C)]
pub(crate) struct PcpuArray {
    /// Where `cache` keeps what the inline hit path uses; set at creation, never changed.
    hot: PcpuArrayHot,
    cache: Cache,
    reservations: Atomic<i32>,
}

/// `pcpu_array_layout_v2`: the symbol of layout version [`LAYOUT`] (2), which every consumer
/// compiled against it references (see `include/pcpu_array.h`), so that one compiled against
/// another layout fails to load. Its value is the version.
#[no_mangle]
pub static pcpu_array_layout_v2: u32 = LAYOUT;

/// What a `struct pcpu_array_reservation *` points to.
pub(crate) struct AbiReservation {
    /// `None` only while being dropped.
    owner: Option<Arc<PcpuArray>>,
    objs: ReservedObjs,
}

impl Drop for AbiReservation {
    fn drop(&mut self) {
        let Some(owner) = self.owner.take() else {
            return;
        };
        self.objs.release(&owner.cache);
        release_owner(owner);
    }
}

/// Drops a reservation's reference to its cache. The last reference of a cache destroyed with
/// this reservation outstanding ends the cache: a reservation may be given back where nothing
/// may sleep, and then the [`Cache`] hands its teardown to the module's teardown workqueue.
fn release_owner(owner: Arc<PcpuArray>) {
    owner.reservations.fetch_sub(1, Relaxed);
    drop(owner);
}

/// A new reservation's reference to the cache behind `pa`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`].
unsafe fn reservation_owner(pa: *mut pcpu_array) -> Arc<PcpuArray> {
    // SAFETY: `pa` is `Arc::into_raw` of a live `Arc<PcpuArray>` (guaranteed by the caller); we
    // take a new reference without consuming the caller's.
    let owner: Arc<PcpuArray> = unsafe { ArcBorrow::from_raw(pa.cast::<PcpuArray>()) }.into();
    owner.reservations.fetch_add(1, Relaxed);
    owner
}

/// Set once a cache has been destroyed with reservations outstanding, so that the warning is
/// printed once.
static WARNED_OUTSTANDING: Atomic<i32> = Atomic::new(0);

/// Whether `p` is NULL or an `ERR_PTR()`: what a failed create or reserve returned, never a
/// handle (`IS_ERR_OR_NULL()`).
#[inline(always)]
fn is_err_or_null<T>(p: *const T) -> bool {
    (p as usize).wrapping_sub(1) >= (bindings::MAX_ERRNO as usize).wrapping_neg() - 1
}

/// Warns, once per entry point (`warned`), that `func` was called with a NULL or `ERR_PTR()`
/// handle. The warning's backtrace names the caller.
#[cold]
fn bad_handle(func: &str, warned: &Atomic<i32>) {
    if warned.xchg(1, Relaxed) == 0 {
        pr_warn!("{}() called with a NULL or ERR_PTR handle\n", func);
        kernel::warn_on!(true);
    }
}

/// The cache behind `$pa`; when `$pa` is NULL or an `ERR_PTR()`, warns once and returns `$ret`
/// (nothing when omitted) from the calling entry point `$func` instead.
///
/// The caller guarantees that any other `$pa` is a live cache (see [`cache`]).
macro_rules! cache_or_return {
    ($pa:expr, $func:literal $(, $ret:expr)?) => {{
        let pa = $pa;
        if is_err_or_null(pa) {
            static WARNED: Atomic<i32> = Atomic::new(0);
            bad_handle($func, &WARNED);
            return $($ret)?;
        }
        // SAFETY: `pa` is neither NULL nor an `ERR_PTR()`, so by the entry point's contract it
        // is a live cache.
        unsafe { cache(pa) }
    }};
}

/// Borrows the cache behind a `struct pcpu_array *`.
///
/// # Safety
///
/// `pa` must be a cache returned by `pcpu_array_create()` or `pcpu_array_create_args()` that
/// has not been destroyed, and must stay so for `'a`.
unsafe fn cache<'a>(pa: *mut pcpu_array) -> &'a Cache {
    // SAFETY: Guaranteed by the caller: `pa` is `Arc::into_raw` of a live `Arc<PcpuArray>`,
    // whose reference the caller keeps for `'a`.
    unsafe { &(*pa.cast::<PcpuArray>()).cache }
}

/// Creates a cache for the C ABI.
///
/// # Safety
///
/// `name` must be NULL or a NUL-terminated string valid for reading during the call.
unsafe fn create(name: *const c_char, args: &pcpu_array_args) -> Result<*mut pcpu_array> {
    if name.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: `name` is a NUL-terminated string (guaranteed by the caller, checked non-null
    // above); the slab code and debugfs copy it.
    let name = unsafe { CStr::from_char_ptr(name) };
    let config = Config {
        align: args.align,
        flags: args.flags,
        sheaves: if args.keep_sheaves {
            Sheaves::On
        } else {
            Sheaves::Off
        },
        adaptive: !args.fixed_capacity,
        ..Config::new(args.size, args.capacity)
    };
    let cache = Cache::new(name, config)?;
    let a = Arc::new(
        PcpuArray {
            hot: cache.hot(),
            cache,
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
/// `name` must be NULL or a NUL-terminated string valid for reading during the call.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_create(
    name: *const c_char,
    size: c_uint,
    align: c_uint,
    flags: bindings::slab_flags_t,
    capacity: c_uint,
) -> *mut pcpu_array {
    let args = pcpu_array_args {
        size,
        align,
        flags,
        capacity,
        keep_sheaves: false,
        fixed_capacity: false,
    };
    // SAFETY: Guaranteed by the caller.
    unsafe { create(name, &args) }.unwrap_or_else(|e| e.to_ptr())
}

/// `pcpu_array_create_args()`.
///
/// # Safety
///
/// `name` must be NULL or a NUL-terminated string, and `args` NULL or a `struct
/// pcpu_array_args` valid for reading, both during the call.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_create_args(
    name: *const c_char,
    args: *const pcpu_array_args,
) -> *mut pcpu_array {
    if args.is_null() {
        return EINVAL.to_ptr();
    }
    // SAFETY: `args` is valid for reading (guaranteed by the caller, checked non-null above),
    // and `name` is as `create` requires.
    unsafe { create(name, &*args) }.unwrap_or_else(|e| e.to_ptr())
}

/// `pcpu_array_shrink()`.
///
/// # Safety
///
/// `pa` must be NULL, an `ERR_PTR()` (both refused with a warning), or a live cache: returned
/// by `pcpu_array_create*()` and not destroyed before this call returns.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_shrink(pa: *mut pcpu_array) -> c_ulong {
    cache_or_return!(pa, "pcpu_array_shrink", 0).shrink() as c_ulong
}

/// `pcpu_array_destroy()`.
///
/// # Safety
///
/// `pa` must be NULL or an `ERR_PTR()` (both no-ops), or a live cache that the caller gives
/// up: nothing may use it once this call has begun. Every object must have been freed, except
/// those of reservations still outstanding. Any context but NMI.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_destroy(pa: *mut pcpu_array) {
    if is_err_or_null(pa) {
        return;
    }
    // SAFETY: `pa` is `Arc::into_raw` of the reference `create` handed out, which the caller
    // gives back (guaranteed by the caller).
    let a = unsafe { Arc::from_raw(pa.cast::<PcpuArray>()) };
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
/// `pa` as for [`pcpu_array_shrink`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc(
    pa: *mut pcpu_array,
    gfp: bindings::gfp_t,
) -> *mut c_void {
    let c = cache_or_return!(pa, "pcpu_array_alloc", null_mut());
    c.alloc(Gfp::from_raw(gfp))
        .map_or(null_mut(), NonNull::as_ptr)
}

/// `pcpu_array_alloc_node()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc_node(
    pa: *mut pcpu_array,
    gfp: bindings::gfp_t,
    node: c_int,
) -> *mut c_void {
    let c = cache_or_return!(pa, "pcpu_array_alloc_node", null_mut());
    c.alloc_node(Gfp::from_raw(gfp), node)
        .map_or(null_mut(), NonNull::as_ptr)
}

/// `pcpu_array_free()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`]; `obj` NULL or an object allocated
/// from `pa` (by any of its allocation functions), owned by the caller and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_free(pa: *mut pcpu_array, obj: *mut c_void) {
    let c = cache_or_return!(pa, "pcpu_array_free");
    let Some(obj) = NonNull::new(obj) else {
        return;
    };
    // SAFETY: `obj` is an object of `c` that the caller gives up (guaranteed by the caller).
    unsafe { c.free(obj) };
}

/// `pcpu_array_free_rcu()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`]; `obj` NULL or an object allocated from `pa`, owned by the
/// caller, unlinked from whatever RCU readers find it through, and not written afterwards.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_free_rcu(pa: *mut pcpu_array, obj: *mut c_void) {
    let c = cache_or_return!(pa, "pcpu_array_free_rcu");
    let Some(obj) = NonNull::new(obj) else {
        return;
    };
    // SAFETY: `obj` is an object of `c` that the caller gives up (guaranteed by the caller).
    unsafe { c.free_rcu(obj) };
}

/// `pcpu_array_alloc_bulk()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`]; `p` NULL or valid for writing `n`
/// pointers, and not accessed by anything else during the call.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc_bulk(
    pa: *mut pcpu_array,
    gfp: bindings::gfp_t,
    n: usize,
    p: *mut *mut c_void,
) -> bool {
    let c = cache_or_return!(pa, "pcpu_array_alloc_bulk", false);
    if n == 0 || p.is_null() {
        return false;
    }
    // SAFETY: `p` is non-null and valid for writing `n` pointers, with no other access
    // meanwhile (guaranteed by the caller).
    let out = unsafe { core::slice::from_raw_parts_mut(p, n) };
    c.alloc_bulk(Gfp::from_raw(gfp), out)
}

/// `pcpu_array_free_bulk()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`]; `p` NULL or valid for reading and
/// writing `n` pointers, each an object allocated from `pa`, owned by the caller and not used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_free_bulk(pa: *mut pcpu_array, n: usize, p: *mut *mut c_void) {
    let c = cache_or_return!(pa, "pcpu_array_free_bulk");
    if n == 0 || p.is_null() {
        return;
    }
    // SAFETY: `p` holds `n` objects of `c` (or NULLs) that the caller gives up (guaranteed by
    // the caller, checked non-null above).
    unsafe { c.free_bulk(core::slice::from_raw_parts_mut(p, n)) };
}

/// `pcpu_array_prefill()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_prefill(
    pa: *mut pcpu_array,
    count: c_uint,
    gfp: bindings::gfp_t,
) -> c_int {
    let c = cache_or_return!(pa, "pcpu_array_prefill", EINVAL.to_errno());
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    match c.prefill(count, Gfp::from_raw(gfp)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Reserves `count` objects of `pa` for the C ABI.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`].
unsafe fn reserve(
    pa: *mut pcpu_array,
    count: c_uint,
    gfp: Gfp,
) -> Result<*mut pcpu_array_reservation> {
    let count = usize::try_from(count).map_err(|_| EINVAL)?;
    // SAFETY: `pa` is a live cache (guaranteed by the caller).
    let objs = ReservedObjs::fill(unsafe { cache(pa) }, count, gfp)?;
    // SAFETY: As above.
    let owner = unsafe { reservation_owner(pa) };
    // On failure the reservation is dropped, which gives its objects back.
    let r = KBox::new(
        AbiReservation {
            owner: Some(owner),
            objs,
        },
        gfp.kernel_flags(),
    )?;
    Ok(KBox::into_raw(r).cast())
}

/// `pcpu_array_reserve()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_reserve(
    pa: *mut pcpu_array,
    count: c_uint,
    gfp: bindings::gfp_t,
) -> *mut pcpu_array_reservation {
    cache_or_return!(pa, "pcpu_array_reserve", EINVAL.to_ptr());
    // SAFETY: `pa` is a live cache (checked above, and guaranteed by the caller).
    unsafe { reserve(pa, count, Gfp::from_raw(gfp)) }.unwrap_or_else(|e| e.to_ptr())
}

/// `pcpu_array_alloc_reserved()`.
///
/// # Safety
///
/// `r` must be NULL, an `ERR_PTR()` (both refused with a warning), or a reservation returned
/// by `pcpu_array_reserve()`, not yet unreserved, that no other context uses during the call.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_alloc_reserved(
    r: *mut pcpu_array_reservation,
    gfp: bindings::gfp_t,
) -> *mut c_void {
    if is_err_or_null(r) {
        static WARNED: Atomic<i32> = Atomic::new(0);
        bad_handle("pcpu_array_alloc_reserved", &WARNED);
        return null_mut();
    }
    // SAFETY: `r` is `KBox::into_raw` of a live reservation, used only by this call
    // (guaranteed by the caller, checked above).
    let r = unsafe { &mut *r.cast::<AbiReservation>() };
    let Some(owner) = r.owner.as_ref() else {
        return null_mut();
    };
    r.objs
        .take(&owner.cache, Gfp::from_raw(gfp))
        .map_or(null_mut(), NonNull::as_ptr)
}

/// `pcpu_array_unreserve()`.
///
/// # Safety
///
/// `r` must be NULL or an `ERR_PTR()` (both no-ops), or a reservation returned by
/// `pcpu_array_reserve()` that the caller gives up: nothing may use it once this call has
/// begun.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_unreserve(r: *mut pcpu_array_reservation) {
    if is_err_or_null(r) {
        return;
    }
    // SAFETY: `r` is `KBox::into_raw` of a live reservation that the caller gives back
    // (guaranteed by the caller, checked non-null above).
    drop(unsafe { KBox::from_raw(r.cast::<AbiReservation>()) });
}

/// The storage of the caller-stored reservation `r`: its `size` entries.
///
/// # Safety
///
/// `r.objs` must be valid for reading and writing `r.size` pointers, with no other access for
/// `'a`, unless it is NULL (refused with `EINVAL`).
unsafe fn rsv_slots<'a>(r: &pcpu_array_rsv) -> Result<&'a mut [*mut c_void]> {
    if r.objs.is_null() || r.count > r.size {
        return Err(EINVAL);
    }
    let size = usize::try_from(r.size).map_err(|_| EINVAL)?;
    // SAFETY: Guaranteed by the caller, checked non-null above.
    Ok(unsafe { core::slice::from_raw_parts_mut(r.objs, size) })
}

/// Fills the caller-stored reservation `r` from `pa` for the C ABI.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`]; `r` as for [`pcpu_array_rsv_fill`], non-null.
unsafe fn rsv_fill(pa: *mut pcpu_array, r: &mut pcpu_array_rsv, count: c_uint, gfp: Gfp) -> Result {
    if !r.pa.is_null() && r.pa != pa {
        return Err(EINVAL);
    }
    // SAFETY: Guaranteed by the caller.
    let slots = unsafe { rsv_slots(r) }?;
    let want = usize::try_from(count).map_err(|_| EINVAL)?;
    // SAFETY: `pa` is a live cache (guaranteed by the caller).
    let c = unsafe { cache(pa) };
    let filled = top_up(c, slots, r.count as usize, want, gfp)?;
    if r.pa.is_null() && filled != 0 {
        // SAFETY: As above.
        let owner = unsafe { reservation_owner(pa) };
        r.pa = Arc::into_raw(owner).cast_mut().cast();
    }
    // At most `r.size`, a `c_uint`.
    r.count = filled as c_uint;
    Ok(())
}

/// `pcpu_array_rsv_fill()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`]; `rsv` NULL or an `ERR_PTR()` (refused with a warning),
/// or a `struct pcpu_array_rsv` set up by `PCPU_ARRAY_RSV_INIT()` and since changed only by
/// these functions, whose storage is valid for reading and writing `size` pointers, and which
/// no other context uses during the call.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_rsv_fill(
    pa: *mut pcpu_array,
    rsv: *mut pcpu_array_rsv,
    count: c_uint,
    gfp: bindings::gfp_t,
) -> c_int {
    cache_or_return!(pa, "pcpu_array_rsv_fill", EINVAL.to_errno());
    if is_err_or_null(rsv) {
        static WARNED: Atomic<i32> = Atomic::new(0);
        bad_handle("pcpu_array_rsv_fill", &WARNED);
        return EINVAL.to_errno();
    }
    // SAFETY: `rsv` is a valid reservation, ours for the call (guaranteed by the caller,
    // checked above); `pa` is a live cache.
    match unsafe { rsv_fill(pa, &mut *rsv, count, Gfp::from_raw(gfp)) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `pcpu_array_rsv_alloc()`.
///
/// # Safety
///
/// `rsv` as for [`pcpu_array_rsv_fill`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_rsv_alloc(
    rsv: *mut pcpu_array_rsv,
    gfp: bindings::gfp_t,
) -> *mut c_void {
    if is_err_or_null(rsv) {
        static WARNED: Atomic<i32> = Atomic::new(0);
        bad_handle("pcpu_array_rsv_alloc", &WARNED);
        return null_mut();
    }
    // SAFETY: As for `pcpu_array_rsv_fill`.
    let r = unsafe { &mut *rsv };
    if r.pa.is_null() || r.count == 0 || r.count > r.size || r.objs.is_null() {
        return null_mut();
    }
    r.count -= 1;
    // SAFETY: `objs[count]` is within the caller's storage (`count < size`) and holds an object
    // of the reservation.
    let Some(obj) = NonNull::new(unsafe { *r.objs.add(r.count as usize) }) else {
        return null_mut();
    };
    // SAFETY: While the reservation holds objects it holds a reference to its cache, `pa`.
    let c = unsafe { cache(r.pa) };
    hand_out(c, obj, Gfp::from_raw(gfp)).as_ptr()
}

/// `pcpu_array_rsv_release()`.
///
/// # Safety
///
/// `rsv` NULL or an `ERR_PTR()` (no-ops), or as for [`pcpu_array_rsv_fill`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_rsv_release(rsv: *mut pcpu_array_rsv) {
    if is_err_or_null(rsv) {
        return;
    }
    // SAFETY: As for `pcpu_array_rsv_fill`.
    let r = unsafe { &mut *rsv };
    if r.pa.is_null() {
        return;
    }
    // SAFETY: `r.pa` is the reservation's own reference (`Arc::into_raw` in `rsv_fill`), which
    // it gives up here.
    let owner = unsafe { Arc::from_raw(r.pa.cast::<PcpuArray>()) };
    // SAFETY: As for `pcpu_array_rsv_fill`.
    if let Ok(slots) = unsafe { rsv_slots(r) } {
        let held = &mut slots[..r.count as usize];
        // SAFETY: `held` are objects of the reservation, of `owner`'s cache, given back.
        unsafe { owner.cache.free_bulk(held) };
    }
    r.count = 0;
    r.pa = null_mut();
    release_owner(owner);
}

/// `pcpu_array_get_stats()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`]; `st` NULL or valid for writing a
/// `struct pcpu_array_stats`.
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_get_stats(pa: *mut pcpu_array, st: *mut pcpu_array_stats) {
    if st.is_null() {
        return;
    }
    let c = cache_or_return!(pa, "pcpu_array_get_stats", {
        // SAFETY: `st` is valid for writing (guaranteed by the caller, checked non-null above).
        unsafe { st.write(pcpu_array_stats::default()) }
    });
    // SAFETY: `st` is valid for writing (guaranteed by the caller, checked non-null above).
    unsafe { st.write(c.stats().to_abi()) };
}

/// `pcpu_array_cache()`.
///
/// # Safety
///
/// `pa` as for [`pcpu_array_shrink`].
#[no_mangle]
pub unsafe extern "C" fn pcpu_array_cache(pa: *mut pcpu_array) -> *mut bindings::kmem_cache {
    cache_or_return!(pa, "pcpu_array_cache", null_mut()).kmem_cache()
}

// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::api::typed_cache`.

#[kernel::prelude::kunit_tests(pcpu_array_typed)]
mod cases {
    use super::super::*;
    use crate::{
        api::typed::{
            ArrayCache,
            SharedArrayCache, //
        },
        percpu::deferred::wait_for_deferred_drops,
        sys::ffi,
        testing::{
            bh_off,
            in_rcu_callback,
            irqs_off_unless_rt,
            module_refs,
            on_cpu,
            online_cpus,
            skip,
            CaseBox, //
        },
    };
    use kernel::{
        cpu::CpuId,
        new_spinlock,
        sync::{
            atomic::{
                Atomic,
                Relaxed, //
            },
            SpinLock,
        },
        xarray::{
            AllocKind,
            XArray, //
        },
    };
    use pin_init::init_from_closure;

    #[test]
    fn typed_objects_go_back_on_drop() -> Result {
        let c = CaseBox::new(ArrayCache::<[u64; 16], Cache>::new(
            c"pcpu_array_test_typed",
            8,
        )?)?;
        let before = c.stats();
        {
            let mut a = c.alloc([7; 16], GFP_KERNEL)?;
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
                GFP_KERNEL,
            )?;
            assert!(b.iter().all(|&v| v == 0));
            let failed = c.init(
                // SAFETY: The closure initialises nothing and reports failure.
                unsafe { init_from_closure(|_: *mut [u64; 16]| Err(EIO)) },
                GFP_KERNEL,
            );
            assert_eq!(failed.err(), Some(EIO));
            assert_eq!(c.stats().in_use(), 2);
        }
        let after = c.stats();
        assert_eq!(after.in_use(), 0);
        assert_eq!(after.free_array - before.free_array, 3);
        Ok(())
    }

    /// A node with a pinned lock, the kind of value `pin_init!` builds in place.
    #[pin_data]
    struct Node {
        key: u64,
        #[pin]
        lock: SpinLock<u64>,
        slots: [u64; 8],
    }

    impl Node {
        fn new(k: u64) -> impl PinInit<Self> {
            pin_init!(Self {
                key: k,
                lock <- new_spinlock!(k * 2, "pcpu_array_test::Node::lock"),
                slots: [k; 8],
            })
        }
    }

    /// A zeroable value for `init_zeroed()`.
    #[derive(Zeroable)]
    struct Plain {
        a: u64,
        b: [u32; 6],
    }

    #[test]
    fn every_kernel_initialiser_is_accepted() -> Result {
        let c = CaseBox::new(ArrayCache::<Node, Cache>::new(c"pcpu_array_test_init", 8)?)?;
        let p = CaseBox::new(ArrayCache::<Plain, Cache>::new(c"pcpu_array_test_zero", 8)?)?;
        let (pinned, tried, zero, value, in_use) = {
            // `pin_init!` (infallible) and `try_pin_init!` (fails with `Error`), pinned.
            let n = c.pin_init(Node::new(5), GFP_KERNEL)?;
            let m = c.try_pin_init(
                try_pin_init!(Node {
                    key: 6,
                    lock <- new_spinlock!(12, "pcpu_array_test::Node::lock"),
                    slots: [6; 8],
                }? Error),
                GFP_KERNEL,
            )?;
            // `init!` and `init_zeroed()`, unpinned; a plain value.
            let z = p.init(pin_init::init_zeroed(), GFP_KERNEL)?;
            let i = p.init(init!(Plain { a: 3, b: [1; 6] }), GFP_KERNEL)?;
            let v = p.alloc(Plain { a: 9, b: [2; 6] }, GFP_KERNEL)?;
            let n_sum = *n.lock.lock() + n.key;
            let m_sum = *m.lock.lock() + m.slots[7];
            (
                n_sum,
                m_sum,
                z.a + u64::from(z.b[5]),
                i.a + v.a + u64::from(i.b[0] + v.b[0]),
                c.stats().in_use() + p.stats().in_use(),
            )
        };
        assert_eq!(pinned, 15);
        assert_eq!(tried, 18);
        assert_eq!(zero, 0);
        assert_eq!(value, 15);
        assert_eq!(in_use, 5);
        assert_eq!(c.stats().in_use() + p.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn options_reach_the_backing_cache() -> Result {
        let bad_align = ArrayCache::<u64, Cache>::with_options(
            c"pcpu_array_test_opts_bad",
            &Options {
                align: 48,
                ..Options::default()
            },
        );
        assert_eq!(bad_align.err(), Some(EINVAL));
        let no_capacity = ArrayCache::<u64, Cache>::with_options(
            c"pcpu_array_test_opts_bad",
            &Options::with_capacity(0),
        );
        assert_eq!(no_capacity.err(), Some(EINVAL));
        let c = CaseBox::new(ArrayCache::<u64, Cache>::with_options(
            c"pcpu_array_test_opts",
            &Options {
                capacity: 4,
                align: 128,
                keep_sheaves: true,
                ..Options::default()
            },
        )?)?;
        assert_eq!(c.raw().capacity(), 4);
        let addrs = {
            let a = c.alloc(1, GFP_KERNEL)?;
            let b = c.alloc(2, GFP_KERNEL)?;
            [
                core::ptr::from_ref::<u64>(&a) as usize,
                core::ptr::from_ref::<u64>(&b) as usize,
            ]
        };
        assert!(addrs.iter().all(|a| a % 128 == 0));
        Ok(())
    }

    /// Times a [`Watched`] cache was dropped, and the CPU of the last drop.
    static WATCHED_DROPS: Atomic<u32> = Atomic::new(0);
    static WATCHED_DROP_CPU: Atomic<u32> = Atomic::new(u32::MAX);

    /// A [`Cache`] that records its destruction, to see where the last reference went.
    struct Watched(Cache);

    impl Drop for Watched {
        fn drop(&mut self) {
            WATCHED_DROP_CPU.store(CpuId::current().as_u32(), Relaxed);
            WATCHED_DROPS.add(1, Relaxed);
        }
    }

    // SAFETY: Every call goes to the `Cache` inside.
    unsafe impl RawCache for Watched {
        type Reservation<'a> = Reservation<'a>;

        fn alloc_raw(&self, gfp: Gfp) -> Option<NonNull<c_void>> {
            self.0.alloc_raw(gfp)
        }

        fn alloc_node_raw(&self, gfp: Gfp, node: i32) -> Option<NonNull<c_void>> {
            self.0.alloc_node_raw(gfp, node)
        }

        fn alloc_bulk_raw(&self, gfp: Gfp, out: &mut [*mut c_void]) -> bool {
            self.0.alloc_bulk_raw(gfp, out)
        }

        unsafe fn free_raw(&self, obj: NonNull<c_void>) {
            // SAFETY: Guaranteed by the caller, for the same cache.
            unsafe { self.0.free_raw(obj) }
        }

        unsafe fn free_bulk_raw(&self, objs: &mut [*mut c_void]) {
            // SAFETY: Guaranteed by the caller, for the same cache.
            unsafe { self.0.free_bulk_raw(objs) }
        }

        unsafe fn free_rcu_raw(&self, obj: NonNull<c_void>) {
            // SAFETY: Guaranteed by the caller, for the same cache.
            unsafe { self.0.free_rcu_raw(obj) }
        }

        fn prefill_raw(&self, count: usize, gfp: Gfp) -> Result {
            self.0.prefill_raw(count, gfp)
        }

        fn reserve_raw(&self, count: usize, gfp: Gfp) -> Result<Reservation<'_>> {
            self.0.reserve_raw(count, gfp)
        }

        type StoredReservation<'a, const N: usize> = StoredReservation<'a, N>;

        fn reserve_stored_raw<const N: usize>(
            &self,
            count: usize,
            gfp: Gfp,
        ) -> Result<StoredReservation<'_, N>> {
            self.0.reserve_stored_raw::<N>(count, gfp)
        }

        fn shrink_raw(&self) -> usize {
            self.0.shrink_raw()
        }

        fn stats(&self) -> PcpuArrayStats {
            RawCache::stats(&self.0)
        }
    }

    // SAFETY: `Cache::new_raw` creates the cache as asked.
    unsafe impl NewRawCache for Watched {
        fn new_raw(name: &CStr, size: u32, align: u32, options: &Options) -> Result<Self> {
            Ok(Self(Cache::new_raw(name, size, align, options)?))
        }
    }

    /// Two online CPUs, or `None` after marking the case skipped.
    fn two_cpus() -> Option<(u32, u32)> {
        let mut cpus = online_cpus();
        let pair = cpus.next().zip(cpus.next());
        if pair.is_none() {
            skip(c"needs two online CPUs");
        }
        pair
    }

    #[test]
    fn owned_box_is_dropped_on_another_cpu() -> Result {
        let Some((a, b)) = two_cpus() else {
            return Ok(());
        };
        let cache = CaseBox::new(SharedArrayCache::<Node, Cache>::new(
            c"pcpu_array_test_owned",
            8,
        )?)?;
        let before = cache.stats();
        let handle = (*cache).clone();
        // Allocated on CPU `a`, dropped on CPU `b`.
        let made = on_cpu(a, move || {
            let n = handle.pin_init(Node::new(7), GFP_KERNEL).ok()?;
            Some((n, CpuId::current().as_u32()))
        })
        .flatten();
        let made_on = made.as_ref().map(|(_, cpu)| *cpu);
        let key = made.as_ref().map(|(n, _)| n.key);
        let dropped_on = match made {
            Some((n, _)) => on_cpu(b, move || {
                drop(n);
                CpuId::current().as_u32()
            }),
            None => None,
        };
        let after = cache.stats();
        assert_eq!(made_on, Some(a));
        assert_eq!(key, Some(7));
        assert_eq!(dropped_on, Some(b));
        assert_eq!(after.in_use(), 0);
        // Into `b`'s array, unless `b` is on another memory node than the object.
        if crate::semantics::placement::cpu_node(a) == crate::semantics::placement::cpu_node(b) {
            assert_eq!(after.free_array - before.free_array, 1);
        } else {
            assert_eq!(after.free_backing - before.free_backing, 1);
        }
        Ok(())
    }

    #[test]
    fn last_owned_box_destroys_the_cache_where_it_is_dropped() -> Result {
        let Some((_, b)) = two_cpus() else {
            return Ok(());
        };
        WATCHED_DROPS.store(0, Relaxed);
        let cache = SharedArrayCache::<u64, Watched>::new(c"pcpu_array_test_last", 8)?;
        let boxed = cache.alloc(42, GFP_KERNEL)?;
        // The box alone keeps the cache alive now.
        drop(cache);
        let alive = WATCHED_DROPS.load(Relaxed);
        let value = on_cpu(b, move || {
            let v = *boxed;
            drop(boxed);
            v
        });
        assert_eq!(alive, 0);
        assert_eq!(value, Some(42));
        assert_eq!(WATCHED_DROPS.load(Relaxed), 1);
        assert_eq!(WATCHED_DROP_CPU.load(Relaxed), b);
        Ok(())
    }

    /// The last `OwnedArrayBox` of a cache ends in an RCU callback (its documented use), the
    /// last handle in a softirq: each queues the teardown instead of sleeping there, and the
    /// teardown completes (the cache's reference to the module goes once the queue is flushed).
    #[test]
    fn last_box_or_handle_ends_its_cache_where_nothing_may_sleep() -> Result {
        let before = module_refs();
        let cache = SharedArrayCache::<u64, Cache>::new(c"pcpu_array_test_rcu_end", 8)?;
        let boxed = cache.alloc(42, GFP_KERNEL)?;
        // The box alone keeps the cache alive now.
        drop(cache);
        let held = module_refs();
        let in_callback = in_rcu_callback(move || {
            let v = *boxed;
            drop(boxed);
            (v, module_refs())
        });
        wait_for_deferred_drops();
        let after_box = module_refs();

        let cache = SharedArrayCache::<u64, Cache>::new(c"pcpu_array_test_rcu_end", 8)?;
        drop(cache.alloc(7, GFP_KERNEL)?);
        let queued = bh_off(move || {
            drop(cache);
            module_refs()
        });
        wait_for_deferred_drops();
        assert_eq!(held, before + 1);
        assert_eq!(in_callback, Some((42, before + 1)));
        assert_eq!(after_box, before);
        assert_eq!(queued, before + 1);
        assert_eq!(module_refs(), before);
        Ok(())
    }

    #[test]
    fn owned_box_goes_through_foreign_ownable() -> Result {
        let cache = CaseBox::new(SharedArrayCache::<Node, Cache>::new(
            c"pcpu_array_test_foreign",
            8,
        )?)?;
        let xa = CaseBox::new(KBox::pin_init(
            XArray::<Pin<crate::api::typed::OwnedArrayBox<Node, Cache>>>::new(AllocKind::Alloc),
            GFP_KERNEL,
        )?)?;
        for key in 1..=4u64 {
            let n = cache.pin_init(Node::new(key), GFP_KERNEL)?;
            let old = xa.lock().store(key as usize, n, GFP_KERNEL)?;
            assert!(old.is_none());
        }
        let mut guard = xa.lock();
        let key3 = guard.get(3).map(|n| n.key);
        let lock3 = guard.get(3).map(|n| *n.lock.lock());
        let removed = guard.remove(2);
        drop(guard);
        let removed_key = removed.as_ref().map(|n| n.key);
        drop(removed);
        let with_three = cache.stats().in_use();
        // The XArray's own drop takes the rest back through `from_foreign` and frees them.
        drop(xa);
        let after = cache.stats();
        assert_eq!(key3, Some(3));
        assert_eq!(lock3, Some(6));
        assert_eq!(removed_key, Some(2));
        assert_eq!(with_three, 3);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn reservation_pin_inits_without_sleeping() -> Result {
        let c = CaseBox::new(ArrayCache::<Node, Cache>::new(
            c"pcpu_array_test_res_init",
            8,
        )?)?;
        let lock = CaseBox::new(KBox::pin_init(
            new_spinlock!(0u64, "pcpu_array_test::tree_lock"),
            GFP_KERNEL,
        )?)?;
        let (keys, left, empty, in_use) = {
            let mut r = c.reserve(3, GFP_KERNEL)?;
            let mut keys = 0;
            // Under a spinlock (with interrupts off, but on PREEMPT_RT) nothing may sleep: the
            // reservation delivers.
            let (a, b, z, empty) = irqs_off_unless_rt(|| {
                let mut guard = lock.lock();
                let a = r.pin_init(Node::new(1));
                let b = r.try_pin_init(try_pin_init!(Node {
                    key: 2,
                    lock <- new_spinlock!(4, "pcpu_array_test::Node::lock"),
                    slots: [2; 8],
                }? Error));
                *guard += 1;
                let z = r.pin_init(Node::new(3));
                // Used up: the next one fails, nothing is allocated.
                let empty = r.pin_init(Node::new(4)).err();
                (a, b, z, empty)
            });
            if let (Ok(a), Ok(b), Ok(z)) = (&a, &b, &z) {
                keys = a.key + *b.lock.lock() + z.slots[7];
            }
            (keys, r.len(), empty, c.stats().in_use())
        };
        assert_eq!(keys, 8);
        assert_eq!(left, 0);
        assert_eq!(empty, Some(ENOMEM));
        assert_eq!(in_use, 3);
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn stored_reservation_delivers_and_gives_back() -> Result {
        let c = CaseBox::new(ArrayCache::<Node, Cache>::new(
            c"pcpu_array_test_res_stored",
            8,
        )?)?;
        // More than its storage holds: refused, nothing taken.
        let too_many = c.reserve_stored::<4>(5, GFP_KERNEL).err();
        let (keys, left, empty, during, after_drop) = {
            let mut r = c.reserve_stored::<6>(6, GFP_KERNEL)?;
            let (a, b, empty) = irqs_off_unless_rt(|| {
                let a = r.pin_init(Node::new(1));
                let b = r.pin_init(Node::new(2));
                let mut rest = 0;
                while r.pin_init(Node::new(0)).is_ok() {
                    rest += 1;
                }
                (a, b, rest)
            });
            let keys = match (&a, &b) {
                (Ok(a), Ok(b)) => a.key + b.key,
                _ => 0,
            };
            let (left, during) = (r.len(), c.stats().in_use());
            drop(r);
            // The two nodes are still out; the four others went back as they were used and
            // freed (each `Ok` was dropped at once).
            (keys, left, empty, during, c.stats().in_use())
        };
        assert_eq!(too_many, Some(EINVAL));
        assert_eq!(keys, 3);
        assert_eq!(empty, 4);
        assert_eq!(left, 0);
        assert_eq!(during, 2);
        assert_eq!(after_drop, 2);
        assert_eq!(c.stats().in_use(), 0);
        // Unused objects go back on drop.
        let unused = {
            let r = c.reserve_stored::<8>(5, GFP_KERNEL)?;
            let held = c.stats().in_use();
            drop(r);
            held
        };
        assert_eq!(unused, 5);
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn stats_answer_the_usual_questions() -> Result {
        let c = CaseBox::new(ArrayCache::<u64, Cache>::new(c"pcpu_array_test_tstats", 8)?)?;
        let s0 = c.stats();
        let (during, reserved) = {
            let mut held = KVec::with_capacity(20, GFP_KERNEL)?;
            for i in 0..20 {
                held.push(c.alloc(i, GFP_KERNEL)?, GFP_KERNEL)?;
            }
            let r = c.reserve(5, GFP_KERNEL)?;
            let reserved = c.stats().in_use();
            drop(r);
            (c.stats(), reserved)
        };
        let s = c.stats();
        assert_eq!(s0.hit_rate(), 0);
        assert_eq!(during.in_use(), 20);
        assert_eq!(reserved, 25);
        assert_eq!(s.in_use(), 0);
        assert!(s.cached() > 0);
        assert!(s.cached() <= 8 * u64::from(nr_cpu_ids()));
        assert!(s.hit_rate() <= 100);
        let rate = (s.alloc_array * 100).checked_div(s.alloc_array + s.alloc_backing);
        assert_eq!(rate, Some(u64::from(s.hit_rate())));
        Ok(())
    }

    /// The memory node of the object `value` lives in.
    fn node_of<T>(value: &T) -> i32 {
        // SAFETY: `value` is in a live slab object of a typed cache.
        unsafe { ffi::pcpu_array_obj_node(core::ptr::from_ref(value).cast()) }
    }

    #[test]
    fn alloc_node_places_objects_on_their_node() -> Result {
        let c = CaseBox::new(ArrayCache::<u64, Cache>::new(c"pcpu_array_test_tnode", 8)?)?;
        let s = CaseBox::new(SharedArrayCache::<u64, Cache>::new(
            c"pcpu_array_test_tnode_shared",
            8,
        )?)?;
        // SAFETY: Reading `nr_node_ids` has no preconditions.
        let nodes = unsafe { ffi::pcpu_array_nr_node_ids() };
        if nodes < 2 {
            kernel::pr_info!("alloc_node: one memory node, only its own to check\n");
        }
        // Each node of the test guests has memory: every object lands on the node asked for,
        // through either kind of cache, and the array (this CPU's node) is no exception.
        let mut wrong = 0;
        let mut values = 0;
        for node in 0..i32::try_from(nodes)? {
            for _ in 0..3 {
                let a = c.alloc_node(u64::from(node.unsigned_abs()), GFP_KERNEL, node)?;
                let b = s.pin_init_node(pin_init::init_zeroed::<u64>(), GFP_KERNEL, node)?;
                wrong += u32::from(node_of(&*a) != node) + u32::from(node_of(&*b) != node);
                values += *a + *b;
            }
        }
        let any = c.alloc_node(5, GFP_KERNEL, crate::api::typed::NO_NODE)?;
        let any_value = *any;
        drop(any);
        assert_eq!(wrong, 0);
        assert_eq!(values, 3 * u64::from(nodes) * u64::from(nodes - 1) / 2);
        assert_eq!(any_value, 5);
        assert_eq!(c.stats().in_use() + s.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn bulk_allocates_and_frees_typed_objects() -> Result {
        let c = CaseBox::new(ArrayCache::<[u64; 4], Cache>::new(
            c"pcpu_array_test_tbulk",
            8,
        )?)?;
        let other = CaseBox::new(ArrayCache::<[u64; 4], Cache>::new(
            c"pcpu_array_test_tbulk_other",
            8,
        )?)?;
        let s = CaseBox::new(SharedArrayCache::<u64, Cache>::new(
            c"pcpu_array_test_tbulk_shared",
            8,
        )?)?;
        let before = c.stats();
        let (sum, held, shared_held, stray_held) = {
            let boxes = c.alloc_bulk::<20>(GFP_KERNEL, |i| [i as u64; 4])?;
            let sum: u64 = boxes.iter().map(|b| b[0] + b[3]).sum();
            let held = c.stats().in_use();
            let owned = s.alloc_bulk::<5>(GFP_KERNEL, |i| i as u64)?;
            let shared_held = s.stats().in_use();
            // A box of another cache among them is dropped as usual, into its own cache.
            let stray = other.alloc([9; 4], GFP_KERNEL)?;
            let stray_held = other.stats().in_use();
            c.free_bulk(boxes);
            s.free_bulk(owned);
            other.free_bulk([stray]);
            (sum, held, shared_held, stray_held)
        };
        let after = c.stats();
        // None of them: refused as `kmem_cache_alloc_bulk()` refuses it.
        let none = c.alloc_bulk::<0>(GFP_KERNEL, |_| [0; 4]).err();
        // Where the bulk API may not be used, refused without trying.
        let irqs_off = irqs_off_unless_rt(|| c.alloc_bulk::<2>(GFP_ATOMIC, |_| [0; 4]).err());
        assert_eq!(sum, 2 * (0..20).sum::<u64>());
        assert_eq!(held, 20);
        assert_eq!(shared_held, 5);
        assert_eq!(stray_held, 1);
        assert_eq!(
            (after.alloc_array + after.alloc_backing) - (before.alloc_array + before.alloc_backing),
            20
        );
        assert_eq!(
            (after.free_array + after.free_backing) - (before.free_array + before.free_backing),
            20
        );
        assert!(none.is_some());
        if !cfg!(CONFIG_PREEMPT_RT) {
            assert!(irqs_off.is_some());
        }
        assert_eq!(
            c.stats().in_use() + s.stats().in_use() + other.stats().in_use(),
            0
        );
        Ok(())
    }

    /// Bigger than half a cache line, smaller than one: packed, objects straddle cache lines.
    struct FortyBytes {
        _bytes: [u64; 5],
    }

    #[test]
    fn hwcache_align_flag_aligns_objects_to_the_cache_line() -> Result {
        let c = CaseBox::new(ArrayCache::<FortyBytes, Cache>::with_options(
            c"pcpu_array_test_hwcache",
            &Options {
                flags: Options::HWCACHE_ALIGN | Options::RECLAIM_ACCOUNT,
                ..Options::default()
            },
        )?)?;
        let misaligned = {
            let boxes = c.alloc_bulk::<16>(GFP_KERNEL, |_| FortyBytes { _bytes: [1; 5] })?;
            let line = kernel::bindings::L1_CACHE_BYTES as usize;
            let misaligned = boxes
                .iter()
                .filter(|b| core::ptr::from_ref::<FortyBytes>(b) as usize % line != 0)
                .count();
            c.free_bulk(boxes);
            misaligned
        };
        // A flag outside what a caller may pass is refused.
        let kmalloc = ArrayCache::<u64, Cache>::with_options(
            c"pcpu_array_test_hwcache_bad",
            &Options {
                flags: 1 << kernel::bindings::_slab_flag_bits__SLAB_KMALLOC,
                ..Options::default()
            },
        );
        assert_eq!(misaligned, 0);
        assert_eq!(kmalloc.err(), Some(EINVAL));
        Ok(())
    }

    #[test]
    fn shrink_gives_back_what_the_arrays_hold() -> Result {
        let c = CaseBox::new(ArrayCache::<u64, Cache>::new(
            c"pcpu_array_test_tshrink",
            8,
        )?)?;
        let s = CaseBox::new(SharedArrayCache::<u64, Cache>::new(
            c"pcpu_array_test_tshrink_shared",
            8,
        )?)?;
        // Objects freed into the arrays stay cached there.
        drop(c.alloc_bulk::<12>(GFP_KERNEL, |i| i as u64)?);
        drop(s.alloc(1, GFP_KERNEL)?);
        let (cached, shared_cached) = (c.stats().cached(), s.stats().cached());
        let (shrunk, shared_shrunk) = (c.shrink(), s.shrink());
        assert!(cached > 0);
        assert_eq!(shrunk as u64, cached);
        assert_eq!(shared_shrunk as u64, shared_cached);
        assert_eq!(c.stats().cached() + s.stats().cached(), 0);
        assert_eq!(c.shrink(), 0);
        Ok(())
    }

    #[test]
    fn shared_reservation_gives_owned_boxes() -> Result {
        let lock = CaseBox::new(KBox::pin_init(
            new_spinlock!(0u64, "pcpu_array_test::tree_lock"),
            GFP_KERNEL,
        )?)?;
        let s = SharedArrayCache::<Node, Cache>::new(c"pcpu_array_test_shared_res", 8)?;
        let watch = CaseBox::new(s.clone())?;
        let (keys, left, empty, reserved, kept) = {
            let mut r = s.reserve(3, GFP_KERNEL)?;
            let mut stored = s.reserve_stored::<2>(2, GFP_KERNEL)?;
            let reserved = s.stats().in_use();
            // Under a spinlock nothing may sleep: each box takes a reference, no allocation.
            let (a, b, c, empty) = irqs_off_unless_rt(|| {
                let _guard = lock.lock();
                let a = r.pin_init(Node::new(1));
                let b = stored.pin_init(Node::new(2));
                let c = stored.pin_init(Node::new(3));
                let empty = stored.pin_init(Node::new(4)).err();
                (a, b, c, empty)
            });
            let keys = match (&a, &b, &c) {
                (Ok(a), Ok(b), Ok(c)) => a.key + b.key + c.key,
                _ => 0,
            };
            (keys, r.len(), empty, reserved, a)
        };
        // The box owns a reference: it outlives its reservation and the handle it came from.
        drop(s);
        let kept_key = kept.as_ref().map(|n| n.key).ok();
        let in_use_while_kept = watch.stats().in_use();
        drop(kept);
        assert_eq!(keys, 6);
        assert_eq!(left, 2);
        assert_eq!(empty, Some(ENOMEM));
        assert_eq!(reserved, 5);
        assert_eq!(kept_key, Some(1));
        assert_eq!(in_use_while_kept, 1);
        assert_eq!(watch.stats().in_use(), 0);
        Ok(())
    }

    /// The number of possible CPU ids.
    fn nr_cpu_ids() -> u32 {
        // SAFETY: Reading `nr_cpu_ids` has no preconditions.
        unsafe { ffi::pcpu_array_nr_cpu_ids() }
    }
}

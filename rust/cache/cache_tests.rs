// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::cache::handle`.

#[kernel::prelude::kunit_tests(pcpu_array_cache)]
mod cases {
    use super::super::*;
    use crate::{
        magazines::stats::Stat,
        semantics::hardening,
        testing::{
            alloc_n,
            bh_off,
            first_cpu,
            fixed_cache,
            free_all,
            irqs_off,
            on_cpu,
            online_cpus,
            CaseBox, //
        },
    };
    use core::ptr::NonNull;

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
        let refs = || unsafe { bindings::module_refcount(crate::percpu::deferred::this_module()) };
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
        use crate::reclaim::shrink::{
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
            let depot_after_free = c.state.depot_objects();
            // 16 allocations empty both magazines; the 17th trades the empty loaded magazine for
            // the depot's full one, with no bulk allocation.
            let objs = alloc_n(&c, 17, Gfp::KERNEL)?;
            let mid = c.stats();
            let depot_after_alloc = c.state.depot_magazines();
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
        let cached = after.get(Stat::ObjectsCached) as usize + c.state.depot_objects();
        assert_eq!(c.shrink(), cached);
        assert_eq!(c.state.depot_objects(), 0);
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
        assert_eq!(c.state.depot_objects(), 8);
        assert_eq!(c.state.set_capacity(0), Err(EINVAL));
        assert_eq!(c.state.set_capacity(MAX_CAPACITY + 1), Err(EINVAL));
        c.state.set_capacity(3)?;
        let after = c.stats();
        assert_eq!((c.capacity(), c.batch()), (3, 1));
        assert_eq!(after.since(&before, Stat::CapacityResize), 1);
        // Nothing is parked beyond the new capacity, and nothing was lost.
        assert_eq!(c.state.depot_objects(), 0);
        assert!(after.get(Stat::ObjectsCached) <= 6);
        assert_eq!(after.in_use(), 0);
        // The magazines hold three now: nine frees fill both and send one to the depot.
        let r = on_cpu(cpu, || {
            let objs = alloc_n(&c, 9, Gfp::KERNEL)?;
            let mid = c.stats();
            free_all(&c, objs);
            Some((mid, c.stats(), c.state.depot_objects()))
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
        assert_eq!(c.state.capacity_bounds(), (4, MAX_CAPACITY));
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
        c.state.adapt_capacity()?;
        let grown = c.capacity();
        // By half, once or more (the periodic work may have seen part of the traffic).
        assert!(grown >= 6);
        assert!(c.stats().since(&busy, Stat::CapacityResize) >= 1);
        // Quiet intervals: after four in a row the capacity comes back by a quarter, never
        // below the floor.
        for _ in 0..4 {
            c.state.adapt_capacity()?;
        }
        let quiet = c.capacity();
        assert!(quiet < grown);
        assert!(quiet >= 4);
        // By hand: the floor follows.
        c.state.set_capacity_by_hand(12)?;
        assert_eq!(c.state.capacity_bounds(), (12, MAX_CAPACITY));
        assert_eq!(c.capacity(), 12);
        assert_eq!(c.state.set_capacity_by_hand(0), Err(EINVAL));
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    /// The first two online CPUs, when they share a memory node (so that objects freed on one
    /// may be parked for the other).
    fn two_cpus_of_one_node() -> Option<(u32, u32)> {
        let mut cpus = online_cpus();
        let (a, b) = (cpus.next()?, cpus.next()?);
        let node = crate::semantics::placement::cpu_node;
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
        let parked = after.get(Stat::ObjectsCached) as usize + c.state.depot_objects();
        assert_eq!(c.shrink(), parked);
        assert_eq!(c.state.depot_objects(), 0);
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
        assert_eq!(c.state.depot_objects(), 0);
        assert_eq!(c.stats().get(Stat::ObjectsCached), 0);
        Ok(())
    }

    #[test]
    fn depot_limit_falls_back_to_a_flush() -> Result {
        let c = fixed_cache(c"pcpu_array_test_depot_limit", 1)?;
        let limit = c.state.depot_limit();
        let r = on_cpu(first_cpu()?, || {
            // Capacity 1: after two frees both magazines are full, and every further free
            // gives one full magazine to the depot, until it holds `limit` of them; the next
            // one is flushed by half with one bulk free.
            let n = 2 + limit + 1;
            let objs = alloc_n(&c, n, Gfp::KERNEL)?;
            let before = c.stats();
            free_all(&c, objs);
            Some((before, c.stats(), c.state.depot_objects()))
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
            .state
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
            Some((before, mid, c.stats(), c.state.depot_objects()))
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
            let depot = c.state.depot_objects();
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
            let node = crate::semantics::placement::cpu_node(cpu);
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
        if !c.state.placement.numa() {
            crate::testing::skip(c"one memory node: boot with two (vng --numa)");
            return Ok(());
        }
        let cpu = first_cpu()?;
        let r = on_cpu(cpu, || {
            let local = crate::semantics::placement::cpu_node(cpu);
            let remote = if local == 0 { 1 } else { 0 };
            c.prefill(4, Gfp::KERNEL).ok()?;
            let before = c.stats();
            let obj = c.alloc_node(Gfp::KERNEL, remote)?;
            // SAFETY: A live object of `c`.
            let on_remote = unsafe { crate::semantics::placement::obj_node(obj) } == remote;
            let mid = c.stats();
            // SAFETY: Allocated from `c` above, unused.
            unsafe { c.free(obj) };
            let freed = c.stats();
            // Whatever this CPU's array serves now is local.
            let plain = c.alloc(Gfp::KERNEL)?;
            // SAFETY: A live object of `c`.
            let plain_local = unsafe { crate::semantics::placement::obj_node(plain) } == local;
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
        if !crate::semantics::placement::memcg_kmem_online() {
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
        // A shrinker or a flush may empty the magazines between the free and the allocation,
        // which then comes from the backing cache: a few tries, the last one's answer.
        let mut last = None;
        for _ in 0..4 {
            let r = dirty_then_realloc_once(c, gfp)?;
            if r.0 {
                return Ok(r);
            }
            last = Some(r);
        }
        last.ok_or(ENOMEM)
    }

    /// One try of [`dirty_then_realloc`].
    fn dirty_then_realloc_once(c: &Cache, gfp: Gfp) -> Result<(bool, [u8; 64])> {
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
        let cpu = first_cpu()?;
        let round = || {
            // Nothing parked: the loaded magazine holds the 8 prefilled objects only.
            c.shrink();
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
        };
        // A KFENCE object among the 12 from the backing cache goes back there when freed,
        // whatever the magazines hold: such a round is drawn again, three times at most.
        let mut tries = 0;
        let (before, mid, freed, again, after, all_set) = loop {
            let r = on_cpu(cpu, round).flatten().ok_or(ENOMEM)?;
            tries += 1;
            if r.4.since(&r.0, Stat::FreeBypassKfence) == 0 || tries == 3 {
                break r;
            }
        };
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
        if let Some(obj) = failing_slab(|| c.state.backing.alloc(Gfp::KERNEL)) {
            // SAFETY: Just allocated from the backing cache, unused.
            unsafe { c.state.backing.free(obj) };
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

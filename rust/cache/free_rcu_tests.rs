// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::cache::free_rcu` and `crate::magazines::rcu`.

#[kernel::prelude::kunit_tests(pcpu_array_free_rcu)]
mod cases {
    use crate::{
        api::typed::{
            ArrayBox,
            ArrayCache,
            OwnedArrayBox,
            SharedArrayCache, //
        },
        cache::handle::Cache,
        magazines::{
            sealed::SEALED_LIMIT,
            stats::Stat, //
        },
        percpu::rcu::{
            rcu_barrier,
            synchronize_rcu, //
        },
        semantics::gfp::Gfp,
        testing::{
            alloc_n,
            bh_off,
            first_cpu,
            fixed_cache,
            fixed_config,
            free_all,
            in_hardirq,
            in_rcu_callback,
            irqs_off_unless_rt,
            on_cpu,
            online_cpus,
            rcu_read,
            skip,
            CaseBox, //
        },
    };
    use core::ptr::NonNull;
    use kernel::{
        bindings,
        ffi::c_void,
        prelude::*, //
    };

    /// The size of the objects of `fixed_cache`.
    const OBJ: usize = 64;
    /// What a case writes into an object before it frees it.
    const PATTERN: u8 = 0xa5;

    /// Whether every byte of `obj` (`OBJ` bytes) is `PATTERN`.
    fn intact(obj: NonNull<c_void>) -> bool {
        (0..OBJ).all(|i| {
            // SAFETY: The case's object, live for the read (a reader holds the grace period).
            unsafe { obj.as_ptr().cast::<u8>().add(i).read_volatile() == PATTERN }
        })
    }

    /// Allocates an object of `c` with `gfp` into each slot of `out`, allocating nothing else
    /// (for atomic contexts); `false`, having freed those it got, when one fails.
    fn alloc_into(c: &Cache, out: &mut [*mut c_void], gfp: Gfp) -> bool {
        for i in 0..out.len() {
            match c.alloc(gfp) {
                Some(obj) => out[i] = obj.as_ptr(),
                None => {
                    free_each(c, &out[..i]);
                    return false;
                }
            }
        }
        true
    }

    /// Frees every object of `objs`, allocated from `c` by the case.
    fn free_each(c: &Cache, objs: &[*mut c_void]) {
        for &o in objs {
            if let Some(o) = NonNull::new(o) {
                // SAFETY: Allocated from `c` by the case, unused now.
                unsafe { c.free(o) };
            }
        }
    }

    /// Frees every object of `objs`, allocated from `c` by the case, after a grace period.
    fn free_rcu_each(c: &Cache, objs: &[*mut c_void]) {
        for &o in objs {
            if let Some(o) = NonNull::new(o) {
                // SAFETY: Allocated from `c` by the case, never published, not used afterwards.
                unsafe { c.free_rcu(o) };
            }
        }
    }

    /// Fills `obj` (`OBJ` bytes) with `PATTERN`.
    fn fill(obj: NonNull<c_void>) {
        // SAFETY: An object of `OBJ` bytes the case owns.
        unsafe { core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), PATTERN, OBJ) };
    }

    #[test]
    fn not_reused_before_a_grace_period() -> Result {
        let c = fixed_cache(c"pcpu_array_test_rcu_wait", 8)?;
        let seen = on_cpu(first_cpu()?, || {
            let obj = c.alloc(Gfp::KERNEL)?;
            fill(obj);
            // Enough to fill and seal the pending magazine three times.
            let others = alloc_n(&c, 24, Gfp::KERNEL)?;
            let mut again = [core::ptr::null_mut(); 64];
            rcu_read(|| {
                // SAFETY: The case's object, never published, not written afterwards.
                unsafe { c.free_rcu(obj) };
                for &o in others.iter() {
                    // SAFETY: As above.
                    unsafe { c.free_rcu(o) };
                }
                // No grace period can end while this reader runs: none of them may come back.
                if !alloc_into(&c, &mut again, Gfp::NOWAIT) {
                    return None;
                }
                let reused = again
                    .iter()
                    .any(|&o| o == obj.as_ptr() || others.iter().any(|x| x.as_ptr() == o));
                free_each(&c, &again);
                Some((reused, intact(obj)))
            })
        })
        .flatten()
        .ok_or(ENOMEM)?;
        // No object came back before its grace period, and the reader saw no change.
        assert!(!seen.0);
        assert!(seen.1);
        let s = c.stats();
        assert_eq!(s.get(Stat::FreeRcu), 25);
        assert!(s.get(Stat::RcuSeal) >= 3);
        assert_eq!(s.in_use(), 0);
        Ok(())
    }

    #[test]
    fn sealed_magazine_is_reused_after_its_grace_period() -> Result {
        if cfg!(CONFIG_PREEMPT_RT) {
            skip(c"PREEMPT_RT frees after a grace period to the backing cache");
            return Ok(());
        }
        let c = fixed_cache(c"pcpu_array_test_rcu_reuse", 8)?;
        let cpu = first_cpu()?;
        let objs = on_cpu(cpu, || alloc_n(&c, 8, Gfp::KERNEL))
            .flatten()
            .ok_or(ENOMEM)?;
        // Nothing parked anywhere: the next allocation on `cpu` misses.
        c.shrink();
        let before = c.stats();
        let sealed = on_cpu(cpu, || {
            for &o in objs.iter() {
                // SAFETY: The case's objects, never published, not used afterwards.
                unsafe { c.free_rcu(o) };
            }
            c.state().rcu_sealed_magazines()
        })
        .ok_or(EIO)?;
        let after_seal = c.stats();
        assert_eq!(after_seal.since(&before, Stat::RcuSeal), 1);
        // The full magazine waits on its node's list.
        assert_eq!(sealed, 1);
        assert_eq!(after_seal.since(&before, Stat::RcuCallback), 0);

        synchronize_rcu();
        let got = on_cpu(cpu, || c.alloc(Gfp::KERNEL))
            .flatten()
            .ok_or(ENOMEM)?;
        let after = c.stats();
        // The sealed magazine became this CPU's loaded one: no depot trade, no refill.
        assert_eq!(after.since(&after_seal, Stat::RcuReuse), 1);
        assert_eq!(after.since(&after_seal, Stat::ArrayRefill), 0);
        assert_eq!(after.since(&after_seal, Stat::AllocBacking), 0);
        assert!(objs.contains(&got));
        assert_eq!(c.state().rcu_sealed_magazines(), 0);
        // SAFETY: Just allocated, unused.
        on_cpu(cpu, || unsafe { c.free(got) });
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    /// The sealed list keeps every magazine that waits, beyond `SEALED_LIMIT`, with no RCU
    /// callback; once they are ripe and no allocation took them, the periodic tick's trim
    /// leaves `SEALED_LIMIT` and gives the rest to the depot or the backing cache.
    #[test]
    fn sealed_list_keeps_what_waits_and_trims_what_ripened() -> Result {
        if cfg!(CONFIG_PREEMPT_RT) {
            skip(c"PREEMPT_RT frees after a grace period to the backing cache");
            return Ok(());
        }
        const CAPACITY: usize = 8;
        const MAGAZINES: usize = 2 * SEALED_LIMIT + 4;
        let c = fixed_cache(c"pcpu_array_test_rcu_bound", CAPACITY as u32)?;
        let cpu = first_cpu()?;
        let objs = on_cpu(cpu, || alloc_n(&c, MAGAZINES * CAPACITY, Gfp::KERNEL))
            .flatten()
            .ok_or(ENOMEM)?;
        c.shrink();
        let before = c.stats();
        // No grace period ends within the read-side critical section: every magazine waits.
        let sealed = on_cpu(cpu, || {
            rcu_read(|| {
                for &o in objs.iter() {
                    // SAFETY: The case's objects, never published, not used afterwards.
                    unsafe { c.free_rcu(o) };
                }
                c.state().rcu_sealed_magazines()
            })
        })
        .ok_or(EIO)?;
        let sealed_stats = c.stats();
        assert_eq!(sealed_stats.since(&before, Stat::RcuSeal), MAGAZINES as u64);
        assert_eq!(sealed, MAGAZINES);
        assert_eq!(sealed_stats.since(&before, Stat::RcuCallback), 0);

        synchronize_rcu();
        c.state().rcu_trim_excess();
        let after = c.stats();
        assert_eq!(c.state().rcu_sealed_magazines(), SEALED_LIMIT);
        let left = after.since(&sealed_stats, Stat::DepotPut)
            + after.since(&sealed_stats, Stat::DepotMiss);
        assert_eq!(left, (MAGAZINES - SEALED_LIMIT) as u64);
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn destroy_waits_for_pending_and_sealed_objects() -> Result {
        let c = fixed_cache(c"pcpu_array_test_rcu_destroy", 8)?;
        let cpu = first_cpu()?;
        let done = on_cpu(cpu, || {
            // One sealed magazine and five objects pending.
            let objs = alloc_n(&c, 13, Gfp::KERNEL)?;
            for &o in objs.iter() {
                // SAFETY: The case's objects, never published, not used afterwards.
                unsafe { c.free_rcu(o) };
            }
            Some(())
        })
        .flatten();
        assert!(done.is_some());
        let s = c.stats();
        assert_eq!(s.get(Stat::FreeRcu), 13);
        assert_eq!(s.get(Stat::RcuSeal), 1);
        assert_eq!(s.in_use(), 0);
        // The teardown waits for the grace period and gives all 13 back; kmemleak and the
        // backing cache's destroy report any left behind.
        drop(c);

        // The same from an RCU callback, where the teardown is queued.
        let c = Cache::new(c"pcpu_array_test_rcu_destroy2", fixed_config(8))?;
        let obj = c.alloc(Gfp::KERNEL).ok_or(ENOMEM)?;
        // SAFETY: The case's object, never published, not used afterwards.
        unsafe { c.free_rcu(obj) };
        let dropped = in_rcu_callback(move || drop(c));
        assert!(dropped.is_some());
        crate::percpu::deferred::wait_for_deferred_drops();
        Ok(())
    }

    #[test]
    fn dead_cpu_seals_its_pending_magazine() -> Result {
        let Some(victim) = online_cpus().filter(|&c| c != 0).last() else {
            skip(c"needs a second online CPU");
            return Ok(());
        };
        let c = fixed_cache(c"pcpu_array_test_rcu_hotplug", 8)?;
        let freed = on_cpu(victim, || {
            let objs = alloc_n(&c, 3, Gfp::KERNEL)?;
            for &o in objs.iter() {
                // SAFETY: The case's objects, never published, not used afterwards.
                unsafe { c.free_rcu(o) };
            }
            Some(())
        })
        .flatten();
        assert!(freed.is_some());
        let before = c.stats();
        // SAFETY: Plain exported call; the CPU is brought back below.
        assert_eq!(unsafe { bindings::remove_cpu(victim) }, 0);
        let offline = c.stats();
        // SAFETY: As above.
        assert_eq!(unsafe { bindings::add_cpu(victim) }, 0);
        // The pending magazine was sealed at the CPU's death, with its three objects.
        assert_eq!(offline.since(&before, Stat::RcuSeal), 1);
        let (waiting, _) = c.state().rcu_sealed_objects();
        let queued = offline.since(&before, Stat::RcuCallback);
        assert!(waiting == 3 || queued == 1);
        // Once the grace period has ended, a shrink gives them back.
        synchronize_rcu();
        rcu_barrier();
        c.shrink();
        let after = c.stats();
        assert_eq!(c.state().rcu_sealed_objects(), (0, 0));
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn interrupted_free_waits_on_its_own() -> Result {
        let c = fixed_cache(c"pcpu_array_test_rcu_fallback", 8)?;
        let obj = c.alloc(Gfp::KERNEL).ok_or(ENOMEM)?;
        let before = c.stats();
        // The pending lock is held on this CPU, as by a free an interrupt arrived in.
        let held = c.state().hold_this_cpu_pending(|| {
            // SAFETY: The case's object, never published, not used afterwards.
            unsafe { c.free_rcu(obj) };
        });
        assert!(held.is_some());
        let s = c.stats();
        assert_eq!(s.since(&before, Stat::RcuFallback), 1);
        assert_eq!(s.since(&before, Stat::FreeRcu), 1);
        assert_eq!(s.in_use(), 0);
        // Its callback frees it to the backing cache before the cache goes.
        rcu_barrier();
        Ok(())
    }

    #[test]
    fn free_rcu_in_every_context() -> Result {
        let case = fixed_cache(c"pcpu_array_test_rcu_contexts", 8)?;
        let c: &Cache = &case;
        let free_some = |n: usize| {
            let mut objs = [core::ptr::null_mut(); 20];
            let objs = &mut objs[..n.min(20)];
            if !alloc_into(c, objs, Gfp::ATOMIC) {
                return false;
            }
            free_rcu_each(c, objs);
            true
        };
        assert!(free_some(20));
        assert!(bh_off(|| free_some(20)));
        assert!(irqs_off_unless_rt(|| free_some(20)));
        assert_eq!(in_rcu_callback(|| free_some(20)), Some(true));
        assert!(rcu_read(|| free_some(20)));
        let mut n = 100;
        // In a hard interrupt (not on PREEMPT_RT, where the slab allocator is not for hard
        // interrupts at all), objects allocated before: the CPU's pending magazine and its spare
        // take them, sealing the first, with no slab call (lockdep would see one).
        if !cfg!(CONFIG_PREEMPT_RT) {
            let hardirq = on_cpu(first_cpu()?, || {
                let mut objs = [core::ptr::null_mut(); 20];
                if !alloc_into(c, &mut objs, Gfp::KERNEL) {
                    return None;
                }
                // The first eight fill and seal a pending magazine here, which brings a spare.
                free_rcu_each(c, &objs[..10]);
                in_hardirq(|| free_rcu_each(c, &objs[10..]))
            })
            .flatten();
            assert!(hardirq.is_some());
            n += 20;
        }
        let s = c.stats();
        assert_eq!(s.get(Stat::FreeRcu), n);
        assert_eq!(s.in_use(), 0);
        // Everything comes back: reused, parked, or to the backing cache.
        synchronize_rcu();
        rcu_barrier();
        let again = alloc_n(c, 120, Gfp::KERNEL).ok_or(ENOMEM)?;
        free_all(c, again);
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn boxes_drop_after_a_grace_period() -> Result {
        let cache = CaseBox::new(ArrayCache::<[u8; OBJ], Cache>::new(
            c"pcpu_array_test_rcu_box",
            8,
        )?)?;
        let b = cache.alloc([PATTERN; OBJ], GFP_KERNEL)?;
        let p = NonNull::from(&*b).cast::<c_void>();
        let kept = rcu_read(|| {
            ArrayBox::drop_rcu(b);
            intact(p)
        });
        assert!(kept);
        assert_eq!(cache.stats().free_array + cache.stats().free_backing, 0);

        // The last box of a shared cache: the cache's teardown waits for the object.
        let shared = SharedArrayCache::<[u8; OBJ], Cache>::new(c"pcpu_array_test_rcu_owned", 8)?;
        let owned = shared.alloc([PATTERN; OBJ], GFP_KERNEL)?;
        drop(shared);
        let p = NonNull::from(&*owned).cast::<c_void>();
        let kept = rcu_read(|| {
            OwnedArrayBox::drop_rcu(owned);
            intact(p)
        });
        assert!(kept);
        crate::percpu::deferred::wait_for_deferred_drops();
        Ok(())
    }

    /// An object of another node than its CPU's waits in the pending magazine bound for the
    /// backing cache, which goes to `call_rcu_hurry()` when sealed.
    #[test]
    fn another_nodes_object_goes_to_the_backing_cache() -> Result {
        let nodes = crate::semantics::placement::node_ids();
        if nodes < 2 {
            skip(c"needs two memory nodes");
            return Ok(());
        }
        let c = fixed_cache(c"pcpu_array_test_rcu_node", 8)?;
        let cpu = first_cpu()?;
        let here = crate::semantics::placement::cpu_node(cpu);
        let there = if here == 0 { 1 } else { 0 };
        let obj = c.alloc_node(Gfp::KERNEL, there).ok_or(ENOMEM)?;
        let before = c.stats();
        let sealed = on_cpu(cpu, || {
            // SAFETY: The case's object, never published, not used afterwards.
            unsafe { c.free_rcu(obj) };
            c.state().rcu_seal_this_cpu()
        })
        .ok_or(EIO)?;
        assert_eq!(sealed, 1);
        let s = c.stats();
        assert_eq!(s.since(&before, Stat::RcuCallback), 1);
        assert_eq!(c.state().rcu_sealed_magazines(), 0);
        rcu_barrier();
        Ok(())
    }
}

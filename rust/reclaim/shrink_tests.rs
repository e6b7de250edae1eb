// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::reclaim::shrink`.

#[kernel::prelude::kunit_tests(pcpu_array_shrink)]
mod cases {
    use super::super::*;
    use crate::{
        cache::handle::Cache,
        semantics::gfp::Gfp,
        testing::{
            fixed_cache,
            fixed_config,
            in_parallel,
            on_cpu,
            online_cpus,
            CaseBox, //
        },
    };
    use kernel::{
        str::CString,
        time::{
            Instant,
            Monotonic, //
        },
    };

    /// `SHRINK_BATCH`: what reclaim scans at once when the shrinker sets no batch.
    const SHRINK_BATCH: c_ulong = 128;

    /// A `shrink_control` as reclaim fills it for a `GFP_KERNEL` allocation on node 0.
    fn control() -> bindings::shrink_control {
        // SAFETY: All-zero is a valid `shrink_control`.
        let mut sc: bindings::shrink_control = unsafe { core::mem::zeroed() };
        sc.gfp_mask = bindings::GFP_KERNEL;
        sc
    }

    /// `count_objects` of `c`'s shrinker, called as reclaim calls it.
    fn count(c: &Cache) -> c_ulong {
        let mut sc = control();
        // SAFETY: The shrinker of a live cache, registered by `Shrinker::register`; `sc` is a
        // valid control block.
        unsafe { count_objects(c.shrinker().raw(), &mut sc) }
    }

    /// `scan_objects` of `c`'s shrinker for `nr_to_scan` objects; returns what it returned and
    /// the `nr_scanned` it reported.
    fn scan(c: &Cache, nr_to_scan: c_ulong) -> (c_ulong, c_ulong) {
        let mut sc = control();
        sc.nr_to_scan = nr_to_scan;
        sc.nr_scanned = nr_to_scan;
        // SAFETY: As in `count`.
        let ret = unsafe { scan_objects(c.shrinker().raw(), &mut sc) };
        (ret, sc.nr_scanned)
    }

    /// What `do_shrink_slab()` (mm/shrinker.c, Linux 7.2) does with `c`'s shrinker at
    /// `priority`, without the deferred count: count, then scan a batch at a time until the
    /// share of the objects `priority` asks for is scanned or the shrinker stops. Returns how
    /// many objects it freed.
    fn shrink_slab_one(c: &Cache, priority: u32) -> u64 {
        let s = c.shrinker().raw();
        // SAFETY: The shrinker of a live cache.
        let (seeks, batch) = unsafe { ((*s).seeks, (*s).batch) };
        let batch = c_ulong::try_from(batch)
            .ok()
            .filter(|&b| b > 0)
            .unwrap_or(SHRINK_BATCH);
        let freeable = count(c);
        if freeable == 0 || freeable == SHRINK_EMPTY {
            return 0;
        }
        let delta = match c_ulong::try_from(seeks) {
            Ok(seeks) if seeks > 0 => (freeable >> priority) * 4 / seeks,
            _ => freeable / 2,
        };
        let mut total_scan = delta.min(2 * freeable);
        let mut freed = 0;
        while total_scan >= batch || total_scan >= freeable {
            let (ret, scanned) = scan(c, batch.min(total_scan));
            if ret == SHRINK_STOP {
                break;
            }
            freed += ret as u64;
            total_scan = total_scan.saturating_sub(scanned);
        }
        freed
    }

    /// What `echo 2 > /proc/sys/vm/drop_caches` does to `caches` (`drop_slab()`): passes of
    /// `shrink_slab()` at priority 0 over every shrinker until one frees (almost) nothing.
    fn drop_caches(caches: &[Cache]) -> u64 {
        let mut total = 0;
        let mut shift = 0;
        loop {
            let freed: u64 = caches.iter().map(|c| shrink_slab_one(c, 0)).sum();
            total += freed;
            if freed >> shift <= 1 {
                return total;
            }
            shift += 1;
        }
    }

    /// Fills the arrays of `caches` on `cpu`.
    fn fill_on(caches: &[Cache], cpu: u32) -> Result {
        on_cpu(cpu, || {
            caches
                .iter()
                .try_for_each(|c| c.prefill(c.capacity(), Gfp::KERNEL))
        })
        .ok_or(EIO)
        .flatten()
    }

    /// `stat` summed over `caches`.
    fn total(caches: &[Cache], stat: Stat) -> u64 {
        caches.iter().map(|c| c.stats().get(stat)).sum()
    }

    /// The most runs of each measured reclaim (the `reclaim_reps` parameter of the test build).
    const MAX_REPS: usize = 9;

    /// What a measured reclaim did: its median time, the most work items and the fewest objects
    /// freed of any run, and the most objects a run left cached.
    struct Pass {
        ns: i64,
        works: u64,
        freed: u64,
        left: u64,
    }

    /// Times `reclaim` over `caches` `reclaim_reps` times, each after emptying the arrays and filling
    /// them again with `fill`, and prints what it cost as `what`.
    fn measure(
        caches: &[Cache],
        what: &str,
        fill: impl Fn(&[Cache]) -> Result,
        reclaim: impl Fn(&[Cache]) -> u64,
    ) -> Result<Pass> {
        let mut runs = [0i64; MAX_REPS];
        let ns = &mut runs[..crate::reclaim_reps().min(MAX_REPS)];
        let mut pass = Pass {
            ns: 0,
            works: 0,
            freed: u64::MAX,
            left: 0,
        };
        let mut cached = 0;
        for t in ns.iter_mut() {
            for c in caches {
                c.shrink();
            }
            fill(caches)?;
            cached = total(caches, Stat::ObjectsCached);
            let works = total(caches, Stat::ShrinkWork);
            let start = Instant::<Monotonic>::now();
            let freed = reclaim(caches);
            *t = start.elapsed().as_nanos();
            pass.works = pass.works.max(total(caches, Stat::ShrinkWork) - works);
            pass.freed = pass.freed.min(freed);
            pass.left = pass.left.max(total(caches, Stat::ObjectsCached));
        }
        ns.sort_unstable();
        pass.ns = ns[ns.len() / 2];
        pr_info!(
            "reclaim over {} caches, {} CPUs, {}: {} cached; {} us (median of {}, min {}, max {}), {} work items, {} freed\n",
            caches.len(),
            online_cpus().count(),
            what,
            cached,
            pass.ns / 1000,
            ns.len(),
            ns[0] / 1000,
            ns[ns.len() - 1] / 1000,
            pass.works,
            pass.freed
        );
        Ok(pass)
    }

    /// Makes `c`'s array on `cpu` hold (at least) `n` objects.
    fn fill(c: &Cache, cpu: u32, n: usize) -> Result {
        on_cpu(cpu, || c.prefill(n, Gfp::KERNEL))
            .ok_or(EIO)
            .flatten()
    }

    /// `stat` of `c` on `cpu` alone.
    fn on(c: &Cache, cpu: u32, stat: Stat) -> u64 {
        c.state().stats.on_cpu(cpu).map_or(0, |s| s.get(stat))
    }

    #[test]
    fn count_reports_the_cached_objects() -> Result {
        let c = fixed_cache(c"pcpu_array_test_count", 32)?;
        assert_eq!(count(&c), SHRINK_EMPTY);
        let mut cached = 0;
        for (i, cpu) in online_cpus().enumerate() {
            // A different number on each CPU.
            let n = 3 + i % 29;
            fill(&c, cpu, n)?;
            cached += n;
            assert_eq!(count(&c), cached);
        }
        assert_eq!(c.stats().get(Stat::ObjectsCached), cached as u64);
        assert_eq!(c.shrink(), cached);
        assert_eq!(count(&c), SHRINK_EMPTY);
        Ok(())
    }

    #[test]
    fn scan_frees_about_nr_to_scan() -> Result {
        let c = fixed_cache(c"pcpu_array_test_nr_to_scan", 32)?;
        let mut cached = 0;
        for cpu in online_cpus() {
            fill(&c, cpu, 32)?;
            cached += 32;
        }
        let before = c.stats();
        // Less than a CPU holds: that many go back, from one CPU, and the rest stay.
        assert_eq!(scan(&c, 10), (10, 10));
        let mid = c.stats();
        assert_eq!(mid.since(&before, Stat::ShrinkFlush), 10);
        assert_eq!(mid.since(&before, Stat::ShrinkWork), 1);
        assert_eq!(count(&c), cached - 10);
        // All but five, across the CPUs as needed.
        let n = cached - 15;
        assert_eq!(scan(&c, n), (n, n));
        assert_eq!(count(&c), 5);
        // More than is left: what is left.
        assert_eq!(scan(&c, 128), (5, 5));
        let after = c.stats();
        assert_eq!(after.since(&before, Stat::ShrinkFlush), cached as u64);
        assert_eq!(after.get(Stat::ObjectsCached), 0);
        assert_eq!(after.in_use(), 0);
        assert_eq!(scan(&c, 128), (SHRINK_STOP, 0));
        Ok(())
    }

    /// Allocates three magazines' worth of objects of `c` on `cpu` and frees them there: both of
    /// the CPU's magazines end up full, and one full magazine is in the depot.
    fn overflow_into_depot(c: &Cache, cpu: u32) -> Result {
        on_cpu(cpu, || {
            let n = 3 * c.capacity();
            let mut objs = KVec::with_capacity(n, GFP_KERNEL)?;
            let mut res = Ok(());
            for _ in 0..n {
                match c.alloc(Gfp::KERNEL) {
                    Some(obj) => objs.push(obj, GFP_KERNEL)?,
                    None => {
                        res = Err(ENOMEM);
                        break;
                    }
                }
            }
            for obj in objs {
                // SAFETY: Allocated from `c` above, unused.
                unsafe { c.free(obj) };
            }
            res
        })
        .ok_or(EIO)
        .flatten()
    }

    #[test]
    fn scan_trims_the_depot_excess_first() -> Result {
        let c = fixed_cache(c"pcpu_array_test_trim", 8)?;
        let cpu = online_cpus().next().ok_or(ENODEV)?;
        overflow_into_depot(&c, cpu)?;
        let depot = || c.state().depot_objects();
        let before = c.stats();
        assert_eq!(before.get(Stat::ObjectsCached), 16);
        assert_eq!(depot(), 8);
        // The depot's objects count as freeable.
        assert_eq!(count(&c), 24);
        // The first scan has no interval behind it: nothing of the depot is known to be
        // unused, so the CPU's magazines give their oldest objects.
        assert_eq!(scan(&c, 8), (8, 8));
        let first = c.stats();
        assert_eq!(first.since(&before, Stat::ShrinkFlush), 8);
        assert_eq!(first.since(&before, Stat::DepotTrim), 0);
        assert_eq!(depot(), 8);
        // The depot's full magazine went unused for a whole interval: the next scan trims it
        // first, whole, and no CPU is woken.
        assert_eq!(scan(&c, 8), (8, 8));
        let second = c.stats();
        assert_eq!(second.since(&first, Stat::DepotTrim), 8);
        assert_eq!(second.since(&first, Stat::ShrinkFlush), 0);
        assert_eq!(second.since(&first, Stat::ShrinkWork), 0);
        assert_eq!(depot(), 0);
        assert_eq!(second.get(Stat::ObjectsCached), 8);
        // Less than a magazine: never a partial magazine, the CPU gives what is asked.
        overflow_into_depot(&c, cpu)?;
        let third = c.stats();
        let cached = third.get(Stat::ObjectsCached) as usize + depot();
        assert_eq!(scan(&c, 5), (5, 5));
        assert_eq!(c.stats().since(&third, Stat::DepotTrim), 0);
        // A large scan takes everything, the rest of the depot included.
        let rest = cached as c_ulong - 5;
        assert_eq!(scan(&c, 1024), (rest, rest));
        let after = c.stats();
        assert_eq!(depot(), 0);
        assert_eq!(after.get(Stat::ObjectsCached), 0);
        assert_eq!(after.in_use(), 0);
        assert_eq!(count(&c), SHRINK_EMPTY);
        Ok(())
    }

    #[test]
    fn no_work_item_for_an_empty_array() -> Result {
        let c = fixed_cache(c"pcpu_array_test_idle_cpus", 16)?;
        let before = c.stats();
        // Nothing cached: neither a scan nor a shrink wakes a CPU.
        assert_eq!(scan(&c, 128), (SHRINK_STOP, 0));
        assert_eq!(c.shrink(), 0);
        assert_eq!(c.stats().since(&before, Stat::ShrinkWork), 0);
        // Objects on the last online CPU only: one work item, which ran there.
        let last = online_cpus().last().ok_or(ENODEV)?;
        fill(&c, last, 16)?;
        let mid = c.stats();
        assert_eq!(scan(&c, 128), (16, 16));
        fill(&c, last, 16)?;
        assert_eq!(c.shrink(), 16);
        let after = c.stats();
        assert_eq!(after.since(&mid, Stat::ShrinkWork), 2);
        assert_eq!(after.since(&mid, Stat::ShrinkFlush), 32);
        assert_eq!(on(&c, last, Stat::ShrinkFlush), 32);
        Ok(())
    }

    #[test]
    fn concurrent_scans_neither_deadlock_nor_wait_for_other_caches() -> Result {
        const ROUNDS: u64 = 20;
        let (a, b) = (
            fixed_cache(c"pcpu_array_test_par_a", 32)?,
            fixed_cache(c"pcpu_array_test_par_b", 32)?,
        );
        let (a, b): (&Cache, &Cache) = (&a, &b);
        let cpu = online_cpus().next().ok_or(ENODEV)?;
        // While another flush of `a` runs (its work items taken), a scan of `a` backs off at
        // once and a scan of `b` goes on.
        fill(a, cpu, 32)?;
        fill(b, cpu, 32)?;
        let (scan_a, scan_b) = a.state().works.hold(|| (scan(a, 128), scan(b, 128)));
        assert_eq!(scan_a, (SHRINK_STOP, 0));
        assert_eq!(scan_b, (32, 32));
        assert_eq!(scan(a, 128), (32, 32));

        // Two reclaimers over both caches in opposite orders, and a shrink, at the same time.
        let mut filled = 0;
        let mut freed = 0;
        for _ in 0..ROUNDS {
            for cpu in online_cpus() {
                fill(a, cpu, 32)?;
                fill(b, cpu, 32)?;
                filled += 64;
            }
            let (x, y) = in_parallel(
                || shrink_slab_one(a, 0) + shrink_slab_one(b, 0),
                || shrink_slab_one(b, 0) + shrink_slab_one(a, 0) + a.shrink() as u64,
            )
            .ok_or(EIO)?;
            // A reclaimer that backed off left its share for later.
            freed += x + y + (a.shrink() + b.shrink()) as u64;
        }
        assert_eq!(freed, filled);
        for c in [a, b] {
            let s = c.stats();
            assert_eq!(s.get(Stat::ObjectsCached), 0);
            assert_eq!(s.get(Stat::ShrinkFlush), 32 + filled / 2);
            assert_eq!(s.in_use(), 0);
        }
        Ok(())
    }

    /// The cost of reclaim over 100 caches, printed for `Documentation/performance.rst`
    /// ("Memory pressure"); the rules are checked, the time is not.
    #[test]
    fn reclaim_over_100_caches() -> Result {
        const CACHES: usize = 100;
        const CAPACITY: usize = 32;
        let mut v = KVec::with_capacity(CACHES, GFP_KERNEL)?;
        for i in 0..CACHES {
            let name = CString::try_from_fmt(fmt!("pcpu_array_test_many{i}"))?;
            v.push(
                Cache::new(&name, fixed_config(CAPACITY as u32))?,
                GFP_KERNEL,
            )?;
        }
        let caches = CaseBox::new(v)?;
        let first = online_cpus().next().ok_or(ENODEV)?;
        let cpus = online_cpus().count();
        let every_cpu = |cs: &[Cache]| online_cpus().try_for_each(|cpu| fill_on(cs, cpu));
        let one_cpu = |cs: &[Cache]| fill_on(cs, first);
        let light = |cs: &[Cache]| -> u64 {
            cs.iter()
                .map(|c| match scan(c, 16).0 {
                    SHRINK_STOP => 0,
                    n => n as u64,
                })
                .sum()
        };

        // drop_caches with every CPU's arrays full: each array is flushed by one work item (a
        // scan of 128 takes four whole arrays).
        let all = measure(
            &caches,
            "drop_caches, every CPU full",
            every_cpu,
            drop_caches,
        )?;
        assert_eq!(all.left, 0);
        assert_eq!(all.freed, (CACHES * cpus * CAPACITY) as u64);
        assert_eq!(all.works, (CACHES * cpus) as u64);

        // drop_caches with only one CPU's arrays full: the other CPUs are not woken.
        let one = measure(&caches, "drop_caches, one CPU full", one_cpu, drop_caches)?;
        assert_eq!(one.left, 0);
        assert_eq!(one.works, CACHES as u64);

        // A light pass: one scan of 16 objects per cache, less than a CPU holds.
        let light = measure(
            &caches,
            "one scan of 16 per cache, every CPU full",
            every_cpu,
            light,
        )?;
        assert_eq!(light.freed, 16 * CACHES as u64);
        assert_eq!(light.works, CACHES as u64);
        assert_eq!(light.left, (CACHES * (cpus * CAPACITY - 16)) as u64);
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The KUnit suite of the range map, `pcpu_array_range_map`.

use kernel::prelude::kunit_tests;

#[kunit_tests(pcpu_array_range_map)]
mod tests {
    use crate::range_map::{
        worst_case_nodes,
        Node,
        Range,
        RangeMap,
        XorShift, //
    };
    use core::mem::size_of;
    use kernel::{
        bindings,
        cpu::{
            nr_cpu_ids,
            CpuId, //
        },
        cpumask::Cpumask,
        error::from_err_ptr,
        ffi::{
            c_int,
            c_void, //
        },
        maple_tree::{
            InsertErrorKind,
            MapleTree, //
        },
        prelude::*,
        str::CStr,
        sync::atomic::{
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
    };

    fn new_map(name: &'static CStr) -> Result<Pin<KBox<RangeMap>>> {
        KBox::pin_init(RangeMap::new(name), GFP_KERNEL)
    }

    fn collect(map: &RangeMap) -> Result<KVec<Range>> {
        let mut v = KVec::new();
        for r in map.iter() {
            v.push(r, GFP_KERNEL)?;
        }
        Ok(v)
    }

    fn r(first: u64, last: u64, value: u64) -> Range {
        Range { first, last, value }
    }

    fn print_stats(what: &str, map: &RangeMap) {
        let s = map.stats();
        pr_info!(
            "{}: {} writes, {} nodes allocated from the cache, {} freed, {} live, \
             {} reserved, at most {} per write, height {}\n",
            what,
            s.writes,
            s.allocated,
            s.freed,
            map.nodes(),
            s.reserved,
            s.max_used,
            map.height()
        );
    }

    #[test]
    fn node_fits_a_maple_node() {
        assert!(size_of::<Node>() <= 256);
        assert!(size_of::<Node>() <= size_of::<bindings::maple_node>());
    }

    #[test]
    fn store_load_erase_iterate() -> Result {
        let m = new_map(c"rmap_test_basic")?;
        assert!(m.is_empty());
        assert_eq!(m.load(5), None);
        m.store(10, 20, 1)?;
        assert_eq!(m.load(9), None);
        assert_eq!(m.load(10), Some(1));
        assert_eq!(m.load(20), Some(1));
        assert_eq!(m.load(21), None);
        // A partial overwrite trims the old range.
        m.store(15, 25, 2)?;
        // An erase in the middle splits it.
        assert_eq!(m.erase(12, 12)?, 1);
        assert_eq!(
            collect(&m)?.as_slice(),
            &[r(10, 11, 1), r(13, 14, 1), r(15, 25, 2)]
        );
        assert_eq!(m.insert(14, 30, 3).err(), Some(EEXIST));
        m.insert(26, 30, 3)?;
        assert_eq!(m.erase_at(20)?, Some(r(15, 25, 2)));
        assert_eq!(m.load(20), None);
        assert_eq!(m.erase_at(20)?, None);
        assert_eq!(m.erase(100, 200)?, 0);
        assert_eq!(m.store(5, 4, 1).err(), Some(EINVAL));
        // The edges of the index space.
        m.store(u64::MAX - 3, u64::MAX, 9)?;
        m.store(0, 0, 8)?;
        assert_eq!(m.load(u64::MAX), Some(9));
        assert_eq!(m.load(0), Some(8));
        assert_eq!(m.erase(u64::MAX - 1, u64::MAX)?, 1);
        assert_eq!(m.load(u64::MAX - 2), Some(9));
        assert_eq!(m.load(u64::MAX), None);
        assert_eq!(m.len(), 5);
        // One store over everything leaves one range.
        m.store(0, u64::MAX, 7)?;
        assert_eq!(collect(&m)?.as_slice(), &[r(0, u64::MAX, 7)]);
        assert_eq!(m.len(), 1);
        m.clear()?;
        assert!(m.is_empty());
        assert_eq!(m.height(), 0);
        assert_eq!(m.check()?, 0);
        Ok(())
    }

    /// What one step of a differential test saw, when it differs from the reference.
    #[derive(Debug, PartialEq, Eq)]
    struct Mismatch {
        seed: u64,
        step: u64,
        what: &'static str,
    }

    /// Inserts and erases by index against the kernel's maple tree, whose Rust API has both
    /// (`insert_range` fails on overlap, `erase` removes the whole range holding an index), and
    /// compares loads after every step. Returns the first difference.
    fn maple_differential(seed: u64, steps: u64) -> Result<Option<Mismatch>> {
        const SPACE: u64 = 4000;
        let m = new_map(c"rmap_test_maple")?;
        let tree = KBox::pin_init(MapleTree::<KBox<u64>>::new(), GFP_KERNEL)?;
        let mut rng = XorShift::new(seed);
        let miss = |step, what| Ok(Some(Mismatch { seed, step, what }));
        for step in 0..steps {
            let first = rng.below(SPACE);
            let last = first + rng.below(40);
            if rng.below(3) < 2 {
                let v = step + 1;
                let ours = m.insert(first, last, v);
                let range = usize::try_from(first)?..=usize::try_from(last)?;
                let theirs = tree.insert_range(range, KBox::new(v, GFP_KERNEL)?, GFP_KERNEL);
                let same = match (&ours, &theirs) {
                    (Ok(()), Ok(())) => true,
                    (Err(e), Err(t)) => *e == EEXIST && t.cause == InsertErrorKind::Occupied,
                    _ => false,
                };
                if !same {
                    return miss(step, "insert");
                }
            } else {
                let ours = m.erase_at(first)?.map(|r| r.value);
                let theirs = tree.erase(usize::try_from(first)?).map(|v| *v);
                if ours != theirs {
                    return miss(step, "erase");
                }
            }
            m.check()?;
            for _ in 0..4 {
                let idx = rng.below(SPACE + 50);
                let theirs = tree.lock().load(usize::try_from(idx)?).map(|v| *v);
                if m.load(idx) != theirs {
                    return miss(step, "load");
                }
            }
            if step % 64 == 0 || step + 1 == steps {
                // Every range of ours is theirs, and they hold as many.
                let mut ours = 0u64;
                for e in m.iter() {
                    let mut g = tree.lock();
                    let a = g.load(usize::try_from(e.first)?).map(|v| *v);
                    let b = g.load(usize::try_from(e.last)?).map(|v| *v);
                    if a != Some(e.value) || b != Some(e.value) {
                        return miss(step, "range");
                    }
                    ours += 1;
                }
                let mut theirs = 0u64;
                {
                    let mut g = tree.lock();
                    let mut mas = g.ma_state(0, usize::MAX);
                    while mas.find(usize::MAX).is_some() {
                        theirs += 1;
                    }
                }
                if ours != theirs || ours != m.len() {
                    return miss(step, "count");
                }
            }
        }
        print_stats("maple differential", &m);
        Ok(None)
    }

    #[test]
    fn random_inserts_and_erases_match_the_maple_tree() -> Result {
        for seed in [1, 0xdead_beef, 0x1234_5678_9abc] {
            assert_eq!(maple_differential(seed, 400)?, None);
        }
        Ok(())
    }

    /// Stores overwriting arbitrary overlapping ranges and range erases, which the maple tree's
    /// Rust API does not offer, against a flat array of the value at each index (0: none).
    /// Values are unique per store, so the ranges are exactly the runs of equal values; after
    /// every step the map's ranges must be those runs.
    fn array_differential(seed: u64, steps: u64) -> Result<Option<Mismatch>> {
        const SPACE: usize = 2048;
        let m = new_map(c"rmap_test_overwrite")?;
        let mut reference = KVec::from_elem(0u64, SPACE, GFP_KERNEL)?;
        let mut rng = XorShift::new(seed);
        let space = SPACE as u64;
        for step in 0..steps {
            let first = rng.below(space);
            let len = if rng.below(8) == 0 { 512 } else { 48 };
            let last = (first + rng.below(len)).min(space - 1);
            let value = if rng.below(10) < 7 {
                m.store(first, last, step + 1)?;
                step + 1
            } else {
                m.erase(first, last)?;
                0
            };
            for slot in reference
                .iter_mut()
                .take(last as usize + 1)
                .skip(first as usize)
            {
                *slot = value;
            }
            m.check()?;
            // The runs of the reference, in order, against the map's ranges.
            let mut ranges = m.iter();
            let mut i = 0usize;
            while i < SPACE {
                let v = reference.get(i).copied().unwrap_or(0);
                let mut j = i;
                while reference.get(j + 1) == Some(&v) {
                    j += 1;
                }
                if v != 0 && ranges.next() != Some(r(i as u64, j as u64, v)) {
                    return Ok(Some(Mismatch {
                        seed,
                        step,
                        what: "range",
                    }));
                }
                i = j + 1;
            }
            if ranges.next().is_some() {
                return Ok(Some(Mismatch {
                    seed,
                    step,
                    what: "extra range",
                }));
            }
            let idx = rng.below(space);
            let want = reference.get(idx as usize).copied().filter(|&v| v != 0);
            if m.load(idx) != want {
                return Ok(Some(Mismatch {
                    seed,
                    step,
                    what: "load",
                }));
            }
        }
        print_stats("overwrite differential", &m);
        Ok(None)
    }

    #[test]
    fn random_overwrites_match_a_reference() -> Result {
        for seed in [7, 0xfeed_f00d, 0x5555_aaaa_1234] {
            assert_eq!(array_differential(seed, 400)?, None);
        }
        Ok(())
    }

    /// `n` random stores (three in four) and erases of short ranges in a 64 Ki index space.
    fn random_writes(m: &RangeMap, seed: u64, n: u64) -> Result {
        let mut rng = XorShift::new(seed);
        for i in 0..n {
            let first = rng.below(1 << 16);
            let last = first + rng.below(100);
            if rng.below(4) == 0 {
                m.erase(first, last)?;
            } else {
                m.store(first, last, i + 1)?;
            }
        }
        Ok(())
    }

    #[test]
    fn node_accounting() -> Result {
        let m = new_map(c"rmap_test_account")?;
        random_writes(&m, 99, 700)?;
        // Wait for the RCU callbacks: then every unlinked node is back in the cache.
        m.barrier();
        let s = m.stats();
        let live = m.nodes();
        print_stats("node accounting", &m);
        assert!(live > 1);
        assert!(s.freed > 0);
        assert_eq!(s.allocated - s.freed, live);
        assert_eq!(m.check()?, live);
        m.clear()?;
        m.barrier();
        let s = m.stats();
        assert_eq!(m.nodes(), 0);
        assert_eq!(m.check()?, 0);
        assert_eq!(s.allocated, s.freed);
        assert_eq!(s.failed_under_lock, 0);
        Ok(())
    }

    /// The binding's hit path (inline where `fast_path.mk` builds it, as on the perf kernel of
    /// `make bench`) counts every object once, as the exported functions do, through both
    /// magazines and past them. The cache is dropped before the assertions, so that a failed
    /// one leaks nothing.
    #[test]
    fn binding_counts_each_object_once() -> Result {
        use crate::pcpu_array::{
            AbiCache,
            Gfp,
            RawCache, //
        };
        use core::ptr::NonNull;
        const N: usize = 24;

        let cache = AbiCache::new(c"rmap_test_binding", 64, 0, 8)?;
        let gfp = Gfp::from_flags(GFP_KERNEL);
        let before = cache.stats();
        let mut objs: [Option<NonNull<c_void>>; N] = [None; N];
        for slot in objs.iter_mut() {
            *slot = cache.alloc_raw(gfp);
        }
        let mid = cache.stats();
        for obj in objs.iter().flatten() {
            // SAFETY: An object of `cache`, allocated above and not used again.
            unsafe { cache.free_raw(*obj) };
        }
        let after = cache.stats();
        drop(cache);

        assert!(objs.iter().all(Option::is_some));
        assert_eq!(
            (mid.alloc_array + mid.alloc_backing) - (before.alloc_array + before.alloc_backing),
            N as u64
        );
        assert_eq!(
            (after.free_array + after.free_backing) - (mid.free_array + mid.free_backing),
            N as u64
        );
        assert_eq!(after.in_use(), 0);
        Ok(())
    }

    #[test]
    fn most_nodes_come_from_the_arrays() -> Result {
        let m = new_map(c"rmap_test_hit_rate")?;
        random_writes(&m, 7, 1000)?;
        m.barrier();
        let c = m.cache_stats();
        let total = c.alloc_array + c.alloc_backing;
        pr_info!(
            "hit rate: {} of {} node objects from the per-CPU arrays ({}%)\n",
            c.alloc_array,
            total,
            c.alloc_array * 100 / total.max(1)
        );
        // The 2023 patch saw about two thirds of maple node allocations served by its arrays.
        assert!(total > 0);
        assert!(c.alloc_array * 3 >= total * 2);
        Ok(())
    }

    #[test]
    fn reservation_never_fails_under_the_lock() -> Result {
        let m = new_map(c"rmap_test_reserve")?;
        // Enough disjoint ranges for a tree of height 3 or more.
        for i in 0..400u64 {
            m.store(i * 4, i * 4 + 1, i + 1)?;
        }
        let height = m.height();
        assert!(height >= 3);
        // Writes that span many leaves, split them, or hit both edges of a subtree.
        let mut rng = XorShift::new(2024);
        for i in 0..150u64 {
            let first = rng.below(1600);
            let last = first + rng.below(400);
            match rng.below(3) {
                0 => m.store(first, last, 10_000 + i)?,
                1 => m.store(first, first, 20_000 + i)?,
                _ => {
                    m.erase(first, last)?;
                }
            }
            m.check()?;
        }
        let s = m.stats();
        print_stats("reservation", &m);
        // Every allocation under the lock was served by the reservation made before it.
        assert_eq!(s.failed_under_lock, 0);
        assert!(s.max_used >= 3);
        assert!(s.max_used as usize <= worst_case_nodes(height + 1));
        Ok(())
    }

    const REGION: u64 = 1 << 24;
    const TOGGLES: u64 = 4;
    const WRITER_OPS: u64 = 200;
    const TOGGLE_TAG: u64 = 0x7a11 << 48;
    const RANGE_TAG: u64 = 0x5eed << 48;

    /// The value of toggle range `k` of writer `w` in phase 0 or 1.
    fn toggle_value(w: u64, k: u64, phase: u64) -> u64 {
        TOGGLE_TAG | (w << 24) | (k << 8) | phase
    }

    fn toggle_first(w: u64, k: u64) -> u64 {
        w * REGION + k * 16
    }

    /// What the writers and readers share with the test.
    struct Shared<'a> {
        map: &'a RangeMap,
        writers: u64,
        writers_left: Atomic<u64>,
        readers_done: Atomic<u64>,
        reads: Atomic<u64>,
        bad_reads: Atomic<u64>,
        write_errors: Atomic<u64>,
        writes_done: Atomic<u64>,
    }

    struct Worker<'a> {
        shared: &'a Shared<'a>,
        id: u64,
    }

    /// A writer: toggles its ranges between two values and stores and erases random ranges in
    /// its own region of the index space.
    ///
    /// # Safety
    ///
    /// `data` must point to a [`Worker`] that outlives the thread.
    unsafe extern "C" fn writer_thread(data: *mut c_void) -> c_int {
        // SAFETY: Guaranteed by the caller.
        let w = unsafe { &*data.cast::<Worker<'_>>() };
        let sh = w.shared;
        let base = w.id * REGION;
        let mut rng = XorShift::new(w.id + 1);
        for i in 0..WRITER_OPS {
            let res = if i % 4 == 0 {
                let k = rng.below(TOGGLES);
                let first = toggle_first(w.id, k);
                sh.map
                    .store(first, first + 7, toggle_value(w.id, k, (i / 4) % 2))
            } else {
                let first = base + 1024 + rng.below(8192);
                let last = first + rng.below(64);
                if rng.below(3) == 0 {
                    sh.map.erase(first, last).map(|_| ())
                } else {
                    sh.map.store(first, last, RANGE_TAG | (w.id << 32) | i)
                }
            };
            match res {
                Ok(()) => sh.writes_done.add(1, Relaxed),
                Err(_) => sh.write_errors.add(1, Relaxed),
            }
        }
        sh.writers_left.fetch_sub(1, Release);
        0
    }

    /// Reads every writer's toggles and part of its region: a toggle must hold one of its two
    /// values, and every range must be well-formed, end after the previous one and be tagged by
    /// its writer.
    fn read_pass(sh: &Shared<'_>, rng: &mut XorShift) -> (u64, u64) {
        let (mut reads, mut bad) = (0, 0);
        for w in 0..sh.writers {
            for k in 0..TOGGLES {
                let v = sh.map.load(toggle_first(w, k) + rng.below(8));
                reads += 1;
                if v != Some(toggle_value(w, k, 0)) && v != Some(toggle_value(w, k, 1)) {
                    pr_err!("bad toggle read: writer {} toggle {}: {:?}\n", w, k, v);
                    bad += 1;
                }
            }
            let start = w * REGION + 1024 + rng.below(8192);
            let mut prev_last = None;
            for e in sh.map.iter_from(start).take(8) {
                if e.first >= (w + 1) * REGION {
                    break;
                }
                reads += 1;
                let tag = RANGE_TAG | (w << 32);
                // Each step of the iterator is its own RCU lookup: a writer may store a range
                // overlapping the previous one between two steps, so only the ends of the
                // ranges are guaranteed to increase, not their starts.
                if e.first > e.last
                    || e.last < start
                    || prev_last.is_some_and(|p| e.last <= p)
                    || e.value & !0xffff_ffff != tag
                {
                    pr_err!(
                        "bad range read: writer {} from {}: [{}, {}] = {:#x} after {:?}\n",
                        w,
                        start,
                        e.first,
                        e.last,
                        e.value,
                        prev_last
                    );
                    bad += 1;
                }
                prev_last = Some(e.last);
            }
        }
        (reads, bad)
    }

    /// A reader: reads until the writers are done, then once more.
    ///
    /// # Safety
    ///
    /// `data` must point to a [`Worker`] that outlives the thread.
    unsafe extern "C" fn reader_thread(data: *mut c_void) -> c_int {
        // SAFETY: Guaranteed by the caller.
        let w = unsafe { &*data.cast::<Worker<'_>>() };
        let sh = w.shared;
        let mut rng = XorShift::new(0x1000 + w.id);
        loop {
            let done = sh.writers_left.load(Acquire) == 0;
            let (reads, bad) = read_pass(sh, &mut rng);
            sh.reads.add(reads, Relaxed);
            sh.bad_reads.add(bad, Relaxed);
            // SAFETY: Called from a kthread.
            if done || unsafe { bindings::kthread_should_stop() } {
                break;
            }
        }
        sh.readers_done.fetch_add(1, Release);
        0
    }

    fn online_cpus(max: usize) -> Result<KVec<u32>> {
        let mut cpus = KVec::new();
        // SAFETY: The online mask is a valid, static cpumask.
        let mask = unsafe { Cpumask::from_raw(&raw const bindings::__cpu_online_mask) };
        for cpu in 0..nr_cpu_ids() {
            if cpus.len() < max && CpuId::from_u32(cpu).is_some_and(|id| mask.test(id)) {
                cpus.push(cpu, GFP_KERNEL)?;
            }
        }
        Ok(cpus)
    }

    /// Runs `workers` in kthreads bound to their CPU, waits for them and reaps them.
    ///
    /// # Safety
    ///
    /// `threadfn(w)` must be sound for every `(threadfn, cpu, w)` of `workers`.
    unsafe fn run_threads(
        workers: &[(unsafe extern "C" fn(*mut c_void) -> c_int, u32, *mut c_void)],
        finished: impl Fn() -> bool,
    ) -> Result<bool> {
        let mut tasks = KVec::with_capacity(workers.len(), GFP_KERNEL)?;
        let mut err = None;
        for &(f, cpu, data) in workers {
            // SAFETY: `f` may run on `data` (guaranteed by the caller); the name is a valid
            // format taking the CPU number.
            let task = unsafe {
                bindings::kthread_create_on_cpu(Some(f), data, cpu, c"rmap_test/%u".as_char_ptr())
            };
            match from_err_ptr(task) {
                Ok(t) => {
                    // SAFETY: `t` is a new kthread; the extra reference keeps it around until
                    // `kthread_stop_put()`, even if its function has returned.
                    unsafe { bindings::get_task_struct(t) };
                    // Cannot fail: the capacity is reserved.
                    tasks.push(t, GFP_KERNEL)?;
                }
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        if err.is_none() {
            for &t in tasks.iter() {
                // SAFETY: `t` is a kthread we hold a reference to.
                unsafe { bindings::wake_up_process(t) };
            }
        }
        // Wait up to 60 s for the workers to report.
        let mut ok = err.is_none();
        if ok {
            let mut waited = 0;
            while !finished() && waited < 6000 {
                // SAFETY: Sleeping is allowed in a KUnit test.
                unsafe { bindings::msleep(10) };
                waited += 1;
            }
            ok = finished();
        }
        for &t in tasks.iter() {
            // SAFETY: We hold a reference to `t`, which this drops; a kthread that was never
            // woken is stopped without running its function.
            unsafe { bindings::kthread_stop_put(t) };
        }
        match err {
            Some(e) => Err(e),
            None => Ok(ok),
        }
    }

    #[test]
    fn concurrent_writers_and_rcu_readers() -> Result {
        let m = new_map(c"rmap_test_concurrent")?;
        let cpus = online_cpus(4)?;
        let ncpus = cpus.len().max(1);
        let writers = ncpus.max(2);
        for w in 0..writers as u64 {
            for k in 0..TOGGLES {
                let first = toggle_first(w, k);
                m.store(first, first + 7, toggle_value(w, k, 1))?;
            }
        }
        let shared = Shared {
            map: &m,
            writers: writers as u64,
            writers_left: Atomic::new(writers as u64),
            readers_done: Atomic::new(0),
            reads: Atomic::new(0),
            bad_reads: Atomic::new(0),
            write_errors: Atomic::new(0),
            writes_done: Atomic::new(0),
        };
        let mut pool = KVec::with_capacity(writers + ncpus, GFP_KERNEL)?;
        for id in 0..(writers + ncpus) as u64 {
            pool.push(
                Worker {
                    shared: &shared,
                    id: if (id as usize) < writers {
                        id
                    } else {
                        id - writers as u64
                    },
                },
                GFP_KERNEL,
            )?;
        }
        let mut threads = KVec::with_capacity(pool.len(), GFP_KERNEL)?;
        for (i, w) in pool.iter_mut().enumerate() {
            let f: unsafe extern "C" fn(*mut c_void) -> c_int = if i < writers {
                writer_thread
            } else {
                reader_thread
            };
            let cpu = cpus.get(i % ncpus).copied().unwrap_or(0);
            threads.push(
                (f, cpu, core::ptr::from_mut(w).cast::<c_void>()),
                GFP_KERNEL,
            )?;
        }
        let finished = || {
            shared.writers_left.load(Acquire) == 0
                && shared.readers_done.load(Acquire) == ncpus as u64
        };
        // SAFETY: Every worker points to a `Worker` in `pool`, which outlives the threads:
        // `run_threads()` reaps them before returning.
        let ok = unsafe { run_threads(&threads, finished) }?;
        // The test thread is a reader too, now that everything is quiet.
        let mut rng = XorShift::new(5);
        let (reads, bad) = read_pass(&shared, &mut rng);
        m.barrier();
        let s = m.stats();
        print_stats("concurrent", &m);
        pr_info!(
            "concurrent: {} writers and {} readers on {} CPUs, {} checked reads\n",
            writers,
            ncpus,
            cpus.len(),
            shared.reads.load(Relaxed) + reads
        );
        assert!(ok);
        assert_eq!(shared.bad_reads.load(Relaxed) + bad, 0);
        assert_eq!(shared.write_errors.load(Relaxed), 0);
        assert!(shared.reads.load(Relaxed) > 0);
        assert_eq!(s.failed_under_lock, 0);
        assert_eq!(
            shared.writes_done.load(Relaxed),
            writers as u64 * WRITER_OPS
        );
        assert!(s.writes > 0);
        assert_eq!(m.check()?, m.nodes());
        assert_eq!(s.allocated - s.freed, m.nodes());
        Ok(())
    }
}

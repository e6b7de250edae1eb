// SPDX-License-Identifier: GPL-2.0

//! KUnit cases for what an object of the cache means next to one of `kmem_cache_alloc()`:
//! SLUB's initialisation exemptions, KFENCE objects, the count of reserve objects, the depot
//! for non-blocking allocations and the memory node of a CPU that comes up or moves
//! (`crate::semantics::placement`, `crate::semantics::hardening`, `crate::cache::handle`, `crate::reclaim::hotplug`). Each names its
//! row of "What an object means" in `Documentation/pcpu_array.rst`.

use crate::{
    cache::handle::{
        Cache,
        Config, //
    },
    magazines::stats::Stat,
    policy::pair::Stack,
    semantics::{
        gfp::Gfp,
        hardening,
        placement::{
            cpu_node,
            Placement, //
        },
    },
    testing::{
        alloc_n,
        first_cpu,
        fixed_cache,
        fixed_config,
        free_all,
        on_cpu,
        online_cpus,
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

/// `SLAB_TYPESAFE_BY_RCU`.
const TYPESAFE_BY_RCU: bindings::slab_flags_t =
    1 << bindings::_slab_flag_bits__SLAB_TYPESAFE_BY_RCU;

/// A fixed-capacity cache of 64-byte objects with `flags`.
fn cache_with_flags(
    name: &'static kernel::str::CStr,
    capacity: u32,
    flags: bindings::slab_flags_t,
) -> Result<CaseBox<Cache>> {
    let config = Config {
        flags,
        ..fixed_config(capacity)
    };
    CaseBox::new(Cache::new(name, config)?)
}

/// Fills the 64 bytes of each object of `v` with `byte`.
fn fill(v: &[NonNull<c_void>], byte: u8) {
    for obj in v {
        // SAFETY: The case owns each 64-byte object of `v`.
        unsafe { core::ptr::write_bytes(obj.as_ptr().cast::<u8>(), byte, 64) };
    }
}

/// How many objects of `v` hold `byte` in all of their 64 bytes.
fn count_filled(v: &[NonNull<c_void>], byte: u8) -> usize {
    v.iter()
        .filter(|obj| {
            // SAFETY: Each object of `v` is a live 64-byte object that the case may read (its
            // own, or parked in an array that does not poison it).
            let bytes = unsafe { core::slice::from_raw_parts(obj.as_ptr().cast::<u8>(), 64) };
            bytes.iter().all(|&b| b == byte)
        })
        .count()
}

#[kunit_tests(pcpu_array_semantics)]
mod tests {
    use super::*;

    /// "Initialisation exemptions": under `init_on_alloc`, an object that a
    /// `SLAB_TYPESAFE_BY_RCU` cache serves from an array keeps its contents, as SLUB keeps it
    /// (`slab_want_init_on_alloc()`), where a plain cache's is zeroed.
    #[test]
    fn typesafe_by_rcu_is_exempt_from_init_on_alloc() -> Result {
        if !hardening::init_on_alloc() {
            skip(c"init_on_alloc is off: boot with init_on_alloc=1");
            return Ok(());
        }
        let rcu = cache_with_flags(c"pcpu_array_test_init_rcu", 8, TYPESAFE_BY_RCU)?;
        let plain = cache_with_flags(c"pcpu_array_test_init_plain", 8, 0)?;
        let r = on_cpu(first_cpu()?, || {
            let mut kept = [0usize; 2];
            for (i, c) in [&*rcu, &*plain].into_iter().enumerate() {
                let v = alloc_n(c, 8, Gfp::KERNEL)?;
                fill(&v, 0xa5);
                free_all(c, v);
                // The same eight objects, from the loaded magazine.
                let v = alloc_n(c, 8, Gfp::KERNEL)?;
                kept[i] = count_filled(&v, 0xa5);
                free_all(c, v);
            }
            Some(kept)
        })
        .flatten();
        let [rcu_kept, plain_kept] = r.ok_or(ENOMEM)?;
        assert_eq!(rcu_kept, 8);
        assert_eq!(plain_kept, 0);
        Ok(())
    }

    /// "Initialisation exemptions": under `init_on_free`, an object of a `SLAB_TYPESAFE_BY_RCU`
    /// cache parked in an array keeps its contents (an RCU reader may still look at it), as
    /// SLUB keeps it (`slab_want_init_on_free()`), where a plain cache's is wiped.
    #[test]
    fn typesafe_by_rcu_is_exempt_from_init_on_free() -> Result {
        let rcu = cache_with_flags(c"pcpu_array_test_wipe_rcu", 8, TYPESAFE_BY_RCU)?;
        let poison = 1 << bindings::_slab_flag_bits__SLAB_POISON;
        let poisoned = cache_with_flags(c"pcpu_array_test_wipe_poison", 8, poison)?;
        // The decision, made once per cache.
        assert!(!rcu.state().placement.init_on_free());
        assert!(!poisoned.state().placement.init_on_free());
        assert!(!rcu.state().placement.init_on_alloc());
        if !hardening::init_on_free() {
            skip(c"init_on_free is off: boot with init_on_free=1");
            return Ok(());
        }
        let r = on_cpu(first_cpu()?, || {
            let v = alloc_n(&rcu, 8, Gfp::KERNEL)?;
            fill(&v, 0x5a);
            let mut parked = [NonNull::<c_void>::dangling(); 8];
            parked.copy_from_slice(&v);
            free_all(&rcu, v);
            // Parked in this CPU's magazine, unpoisoned (a `SLAB_TYPESAFE_BY_RCU` cache's
            // objects may be read after their free).
            Some(count_filled(&parked, 0x5a))
        })
        .flatten();
        assert_eq!(r.ok_or(ENOMEM)?, 8);
        Ok(())
    }

    /// "KFENCE": a KFENCE object is never parked; its free goes to the backing cache, which
    /// hands it to KFENCE.
    #[test]
    fn kfence_objects_are_never_parked() -> Result {
        if !cfg!(CONFIG_KFENCE) {
            skip(c"no KFENCE in this kernel");
            return Ok(());
        }
        let c = fixed_cache(c"pcpu_array_test_kfence", 8)?;
        // Non-blocking allocations from empty magazines and an empty depot come from the
        // backing cache one by one, where KFENCE samples one allocation every
        // `kfence.sample_interval` milliseconds. Kept until one is a KFENCE object, so that
        // each allocation is a new one.
        let mut held = KVec::new();
        let mut found = None;
        for _ in 0..4000 {
            let Some(obj) = c.alloc(Gfp::NOWAIT) else {
                break;
            };
            if hardening::is_kfence(obj) {
                found = Some(obj);
                break;
            }
            if held.push(obj, GFP_KERNEL).is_err() {
                // SAFETY: Just allocated from `c`, unused.
                unsafe { c.free(obj) };
                break;
            }
            // SAFETY: Plain exported call, in a task.
            unsafe { bindings::msleep(2) };
        }
        let before = c.stats();
        let parked = found.map(|obj| {
            // SAFETY: Allocated from `c` above, unused.
            unsafe { c.free(obj) };
            c.stats()
        });
        free_all(&c, held);
        let Some(after) = parked else {
            skip(c"KFENCE sampled none of 4000 allocations (kfence.sample_interval=0?)");
            return Ok(());
        };
        assert_eq!(after.since(&before, Stat::FreeBypassKfence), 1);
        assert_eq!(after.since(&before, Stat::FreeBacking), 1);
        assert_eq!(after.since(&before, Stat::FreeArray), 0);
        assert_eq!(
            after.get(Stat::ObjectsCached),
            before.get(Stat::ObjectsCached)
        );
        Ok(())
    }

    /// "Reserves": the count of reserve objects out saturates at zero, so that two frees racing
    /// for the last one (or one that was never counted) cannot borrow from the bits above it.
    #[test]
    fn reserve_count_never_goes_below_zero() -> Result {
        let p = Placement::new(c"pcpu_array_test_reserves", 0)?;
        let above = p.checks() & !crate::sys::abi_types::CHECK_RESERVE_OBJECTS;
        p.reserve_objects_out(1);
        assert_eq!(p.reserve_objects(), 1);
        p.reserve_object_back();
        p.reserve_object_back();
        assert_eq!(p.reserve_objects(), 0);
        assert_eq!(p.checks(), above);
        assert!(!p.free_needs_check() || p.numa());
        Ok(())
    }

    /// A cache demoted by a stray `__GFP_ACCOUNT` allocation says so in the kernel log once,
    /// however many such allocations follow, and its frees check for accounting from then on.
    #[test]
    fn gfp_accounted_demotion_is_said_once() -> Result {
        let p = Placement::new(c"pcpu_array_test_demoted", 0)?;
        assert!(!p.free_needs_check() || p.numa());
        assert!(p.mark_gfp_accounted());
        assert!(!p.mark_gfp_accounted());
        assert!(!p.mark_gfp_accounted());
        assert!(p.free_needs_check());
        Ok(())
    }

    /// On PREEMPT_RT a pin in hard interrupt context changes nothing: the context can neither
    /// be preempted nor migrate, and upstream's `__local_trylock()` decides there before it
    /// would `migrate_disable()` the interrupted task.
    #[test]
    fn rt_pin_in_hardirq_leaves_the_task_alone() -> Result {
        if !cfg!(CONFIG_PREEMPT_RT) {
            skip(c"not PREEMPT_RT: a pin disables preemption, not migration");
            return Ok(());
        }
        let seen = crate::testing::in_hardirq(|| {
            let before = crate::testing::migration_disabled();
            let pin = crate::percpu::cpu_pin::CpuPin::new();
            let during = crate::testing::migration_disabled();
            drop(pin);
            (crate::percpu::this_cpu::in_hardirq_or_nmi(), before, during)
        });
        let (hardirq, before, during) = seen.ok_or(EIO)?;
        assert!(hardirq);
        assert_eq!(during, before);
        Ok(())
    }

    /// "Non-blocking allocations": a `GFP_NOWAIT` allocation that finds both magazines empty
    /// takes a full magazine of the depot instead of going to the backing cache.
    #[test]
    fn nonblocking_miss_trades_at_the_depot() -> Result {
        let c = fixed_cache(c"pcpu_array_test_nowait_depot", 8)?;
        let r = on_cpu(first_cpu()?, || {
            // 24 frees: both magazines full and one full magazine in the depot.
            free_all(&c, alloc_n(&c, 24, Gfp::KERNEL)?);
            // 16 allocations empty both magazines.
            let v = alloc_n(&c, 16, Gfp::KERNEL)?;
            let before = c.stats();
            let obj = c.alloc(Gfp::NOWAIT);
            let after = c.stats();
            if let Some(obj) = obj {
                // SAFETY: Allocated from `c` above, unused.
                unsafe { c.free(obj) };
            }
            free_all(&c, v);
            Some((before, after, obj.is_some()))
        })
        .flatten();
        let (before, after, got) = r.ok_or(ENOMEM)?;
        assert!(got);
        assert_eq!(after.since(&before, Stat::DepotGet), 1);
        assert_eq!(after.since(&before, Stat::AllocArray), 1);
        assert_eq!(after.since(&before, Stat::AllocBypassNoBlock), 0);
        assert_eq!(after.since(&before, Stat::AllocBacking), 0);
        Ok(())
    }

    /// "NUMA": a CPU that comes up takes the memory node it has then, whatever its magazines
    /// had before (a CPU hot-added to a node after the cache was created).
    #[test]
    fn cpu_takes_its_node_when_it_comes_up() -> Result {
        let Some(victim) = online_cpus().filter(|&c| c != 0).last() else {
            skip(c"needs a second online CPU");
            return Ok(());
        };
        let c = fixed_cache(c"pcpu_array_test_cpu_node", 8)?;
        let node = cpu_node(victim);
        let stale = node + 1;
        // SAFETY: Plain exported call; the CPU is brought back below.
        assert_eq!(unsafe { bindings::remove_cpu(victim) }, 0);
        // SAFETY: `victim` is offline, and nothing else brings it up meanwhile.
        let set = unsafe { c.state().set_offline_cpu_node(victim, stale) };
        // SAFETY: As above.
        assert_eq!(unsafe { bindings::add_cpu(victim) }, 0);
        assert!(set);
        let seen = on_cpu(victim, || c.state().this_cpu_node()).flatten();
        assert_eq!(seen, Some(node));
        Ok(())
    }

    /// "NUMA": empty magazines whose memory node is no longer their CPU's (a memoryless node
    /// that got memory) follow the CPU at the next refill, instead of refusing every object
    /// it brings as remote.
    #[test]
    fn refill_follows_the_cpus_node() -> Result {
        let c = fixed_cache(c"pcpu_array_test_refill_node", 8)?;
        if !c.state().placement.numa() {
            skip(c"one memory node: objects are not placed by node");
            return Ok(());
        }
        let cpu = first_cpu()?;
        let node = cpu_node(cpu);
        let r = on_cpu(cpu, || {
            if c.state().set_this_cpu_node(node + 1) != Some(true) {
                return None;
            }
            let before = c.stats();
            let v = alloc_n(&c, 4, Gfp::KERNEL)?;
            let after = c.stats();
            let seen = c.state().this_cpu_node();
            free_all(&c, v);
            Some((before, after, seen))
        })
        .flatten();
        let (before, after, seen) = r.ok_or(EIO)?;
        assert_eq!(seen, Some(node));
        assert_eq!(after.since(&before, Stat::RefillRemoteNode), 0);
        assert_eq!(after.since(&before, Stat::ArrayRefill), 1);
        assert_eq!(after.since(&before, Stat::AllocArray), 4);
        Ok(())
    }

    /// The capacity's adaptation tick never wakes an idle CPU: its timer is deferrable.
    #[test]
    fn adaptation_tick_is_deferrable() -> Result {
        let c = CaseBox::new(Cache::new(c"pcpu_array_test_tick", Config::new(64, 8))?)?;
        let tick = c.adapt_tick().ok_or(EINVAL)?;
        assert!(tick.deferrable());
        Ok(())
    }

    /// An empty magazine takes the capacity read under the depot's lock when it reaches the
    /// depot (`Depot::put_empty`), not the one it had on its way there; a CPU installs it with
    /// the capacity read under the CPU's lock (`CpuMagazines::commit_empty`, checked by
    /// `make policy-test`), so that a CPU never holds a magazine of another capacity.
    #[test]
    fn depot_empties_take_the_capacity_now() -> Result {
        let c = fixed_cache(c"pcpu_array_test_fit_empty", 8)?;
        let node = cpu_node(first_cpu()?);
        let state = c.state();
        let empty = state.new_magazine(GFP_KERNEL)?;
        state.store_capacity(4);
        state.recycle(node, empty);
        assert_eq!(state.depot_magazines(), (0, 1));
        state.store_capacity(8);
        let got = state.get_empty_for_full(node);
        let capacity = got.as_ref().map(|m| Stack::capacity(&**m));
        if let Some(m) = got {
            state.recycle(node, m);
        }
        assert_eq!(capacity, Some(4));
        Ok(())
    }

    /// `cpu_dead_flush` counts the objects of a dead CPU's magazines that its node's depot had
    /// no room for, which went to the backing cache.
    #[test]
    fn cpu_dead_flush_counts_what_the_depot_refused() -> Result {
        let Some(victim) = online_cpus().filter(|&c| c != 0).last() else {
            skip(c"needs a second online CPU");
            return Ok(());
        };
        let c = fixed_cache(c"pcpu_array_test_dead_refused", 1)?;
        let limit = c.state().depot_limit();
        // Capacity 1: two frees fill both magazines of the victim, and each further free puts a
        // full magazine into the depot, until it is at its limit.
        on_cpu(victim, || {
            free_all(&c, alloc_n(&c, 2 + limit, Gfp::KERNEL)?);
            Some(())
        })
        .flatten()
        .ok_or(ENOMEM)?;
        let before = c.stats();
        assert_eq!(c.state().depot_objects(), limit);
        // SAFETY: Plain exported call; the CPU is brought back below.
        assert_eq!(unsafe { bindings::remove_cpu(victim) }, 0);
        let after = c.stats();
        // SAFETY: As above.
        assert_eq!(unsafe { bindings::add_cpu(victim) }, 0);
        assert_eq!(after.since(&before, Stat::CpuDeadFlush), 2);
        assert_eq!(after.since(&before, Stat::DepotPut), 0);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }
}

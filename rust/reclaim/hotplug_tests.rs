// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::reclaim::hotplug`.

#[kernel::prelude::kunit_tests(pcpu_array_hotplug)]
mod cases {
    use crate::{
        cache::handle::{
            Cache,
            Config, //
        },
        magazines::stats::Stat,
        semantics::gfp::Gfp,
        testing::{
            on_cpu,
            online_cpus,
            skip,
            CaseBox, //
        },
    };
    use kernel::{
        bindings,
        prelude::*, //
    };

    #[test]
    fn offline_cpu_gives_its_magazines_to_the_depot() -> Result {
        // The last online CPU other than the boot CPU.
        let Some(victim) = online_cpus().filter(|&c| c != 0).last() else {
            skip(c"needs a second online CPU");
            return Ok(());
        };
        let c = CaseBox::new(Cache::new(c"pcpu_array_test_hotplug", Config::new(64, 8))?)?;
        on_cpu(victim, || c.prefill(8, Gfp::KERNEL))
            .ok_or(EIO)
            .flatten()?;
        let before = c.stats();
        assert!(before.get(Stat::ObjectsCached) >= 8);
        assert_eq!(c.state().depot_objects(), 0);

        // SAFETY: Plain exported call; the CPU is brought back below.
        assert_eq!(unsafe { bindings::remove_cpu(victim) }, 0);
        let offline = c.stats();
        let in_depot = c.state().depot_objects();
        // SAFETY: As above.
        assert_eq!(unsafe { bindings::add_cpu(victim) }, 0);

        // The loaded magazine went to the depot whole: no object went back to the backing
        // cache.
        assert_eq!(offline.since(&before, Stat::DepotPut), 1);
        assert_eq!(offline.since(&before, Stat::CpuDeadFlush), 0);
        assert_eq!(in_depot, 8);
        assert_eq!(
            before.get(Stat::ObjectsCached) - offline.get(Stat::ObjectsCached),
            8
        );
        assert_eq!(offline.in_use(), 0);

        // The CPU came back with empty magazines; its first allocation is served from the
        // depot, without a refill.
        let worked = on_cpu(victim, || {
            let obj = c.alloc(Gfp::KERNEL)?;
            // SAFETY: Just allocated from `c`, unused.
            unsafe { c.free(obj) };
            Some(())
        })
        .flatten();
        assert!(worked.is_some());
        let after = c.stats();
        assert_eq!(after.since(&offline, Stat::DepotGet), 1);
        assert_eq!(after.since(&offline, Stat::ArrayRefill), 0);
        assert_eq!(c.state().depot_objects(), 0);
        assert_eq!(after.in_use(), 0);
        Ok(())
    }
}

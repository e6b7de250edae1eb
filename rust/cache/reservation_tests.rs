// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::cache::reservation`.

#[kernel::prelude::kunit_tests(pcpu_array_reservation)]
mod cases {
    use super::super::*;
    use crate::{
        cache::handle::Config,
        magazines::stats::Stat,
        testing::{
            irqs_off,
            CaseBox, //
        },
    };

    #[test]
    fn reserved_objects_cannot_run_out_early() -> Result {
        let c = CaseBox::new(Cache::new(c"pcpu_array_test_reserve", Config::new(64, 8))?)?;
        assert_eq!(
            Reservation::new(&c, MAX_RESERVE + 1, Gfp::KERNEL).err(),
            Some(EINVAL)
        );
        let mut r = Reservation::new(&c, 20, Gfp::KERNEL)?;
        assert_eq!(r.len(), 20);
        let mut got = KVec::with_capacity(21, GFP_KERNEL)?;
        // With interrupts off nothing may sleep or refill: the reservation must still deliver.
        irqs_off(|| {
            for _ in 0..21 {
                got.push(r.alloc(Gfp::NOWAIT), GFP_NOWAIT)?;
            }
            Ok::<(), Error>(())
        })?;
        assert!(got.iter().take(20).all(Option::is_some));
        assert!(got[20].is_none());
        assert!(r.is_empty());
        drop(r);
        for obj in got.into_iter().flatten() {
            // SAFETY: Allocated from `c` through the reservation; unused.
            unsafe { c.free(obj) };
        }
        assert_eq!(c.stats().in_use(), 0);
        Ok(())
    }

    #[test]
    fn unused_objects_go_back() -> Result {
        let c = CaseBox::new(Cache::new(
            c"pcpu_array_test_unreserve",
            Config::new(64, 8),
        )?)?;
        let r = Reservation::new(&c, 6, Gfp::KERNEL)?;
        let during = c.stats();
        assert_eq!(during.in_use(), 6);
        drop(r);
        let after = c.stats();
        assert_eq!(after.in_use(), 0);
        assert_eq!(
            after.since(&during, Stat::FreeArray) + after.since(&during, Stat::FreeBacking),
            6
        );
        Ok(())
    }
}

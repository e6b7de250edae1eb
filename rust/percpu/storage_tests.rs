// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::percpu::storage`.

#[kernel::prelude::kunit_tests(pcpu_array_percpu)]
mod cases {
    use super::super::*;
    use kernel::sync::atomic::{
        Atomic,
        Relaxed, //
    };

    #[test]
    fn each_cpu_has_its_own_instance() -> Result {
        let pc = PerCpu::<Atomic<u32>>::new(|cpu| Ok::<_, Error>(Atomic::new(cpu + 100)))?;
        let mut n = 0;
        pc.for_each(|cpu, v| {
            assert_eq!(v.load(Relaxed), cpu + 100);
            n += 1;
        });
        assert!(n >= 1);
        assert!(pc.on_cpu(u32::MAX).is_none());
        let pin = CpuPin::new();
        let mine = pc.this_cpu(&pin);
        assert_eq!(mine.load(Relaxed), pin.cpu() + 100);
        mine.store(7, Relaxed);
        let same = pc.on_cpu(pin.cpu()).ok_or(EINVAL)?;
        assert_eq!(same.load(Relaxed), 7);
        Ok(())
    }
}

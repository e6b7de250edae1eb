// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::percpu::local_trylock`.

#[kernel::prelude::kunit_tests(pcpu_array_local_trylock)]
mod cases {
    use super::super::*;

    #[test]
    fn second_attempt_on_same_cpu_fails() -> Result {
        let locks = PerCpuTryLock::new(Ok)?;
        let pin = CpuPin::new();
        let mut guard = locks.try_lock(&pin).ok_or(EBUSY)?;
        assert_eq!(*guard, pin.cpu());
        // What an interrupt on this CPU would see: the lock is taken.
        assert!(locks.try_lock(&pin).is_none());
        *guard += 1000;
        drop(guard);
        let guard = locks.try_lock(&pin).ok_or(EBUSY)?;
        assert_eq!(*guard, pin.cpu() + 1000);
        Ok(())
    }

    #[test]
    fn for_each_mut_reaches_every_cpu() -> Result {
        let mut locks = PerCpuTryLock::new(|_| Ok(0u32))?;
        let mut n = 0u32;
        locks.for_each_mut(|_, v| {
            *v = 5;
            n += 1;
        });
        let mut sum = 0;
        locks.for_each_mut(|_, v| sum += *v);
        assert_eq!(sum, 5 * n);
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::percpu::cpu_pin`.

#[kernel::prelude::kunit_tests(pcpu_array_cpu_pin)]
mod cases {
    use super::super::*;

    #[test]
    fn cpu_is_stable_while_pinned() {
        let pin = CpuPin::new();
        for _ in 0..1000 {
            // SAFETY: Pinned, so reading the CPU id is meaningful.
            assert_eq!(pin.cpu(), unsafe { ffi::pcpu_array_cpu_id() });
        }
    }

    #[test]
    fn bulk_is_allowed_only_with_interrupts_on() {
        assert!(bulk_allowed());
        assert!(!crate::testing::irqs_off(bulk_allowed));
        // SAFETY: Reading the current context has no preconditions.
        assert_eq!(this_cpu::in_hardirq_or_nmi(), unsafe {
            ffi::pcpu_array_in_hardirq()
        });
    }

    #[cfg(not(CONFIG_PREEMPT_RT))]
    #[test]
    fn pin_raises_preempt_count() {
        // SAFETY: Reading the preempt count has no preconditions.
        let before = unsafe { ffi::pcpu_array_preempt_count() };
        let outer = CpuPin::new();
        // SAFETY: As above.
        assert_eq!(unsafe { ffi::pcpu_array_preempt_count() }, before + 1);
        let inner = CpuPin::new();
        // SAFETY: As above.
        assert_eq!(unsafe { ffi::pcpu_array_preempt_count() }, before + 2);
        assert_eq!(inner.cpu(), outer.cpu());
        drop(inner);
        drop(outer);
        // SAFETY: As above.
        assert_eq!(unsafe { ffi::pcpu_array_preempt_count() }, before);
    }
}

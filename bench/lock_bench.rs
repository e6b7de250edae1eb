// SPDX-License-Identifier: GPL-2.0

//! A micro-benchmark of the per-CPU lock choice: `local_trylock_t` (what the arrays use) against
//! a per-CPU `spinlock_t` taken with `spin_trylock()` (the 2023 seed's choice). Each iteration
//! is what an array access pays for the lock: pin the task, try this CPU's lock, touch the
//! protected value, unlock, unpin.
//!
//! Loaded with `lock_bench=N`, the module times N iterations of each and prints the
//! nanoseconds per iteration. Under QEMU's `-icount shift=0` a guest nanosecond is one
//! instruction, so the figures are instruction counts (`make bench-locks`).

use crate::percpu::{
    cpu_pin::CpuPin,
    local_trylock::PerCpuTryLock,
    storage::PerCpu, //
};
use kernel::{
    new_spinlock,
    prelude::*,
    sync::SpinLock,
    time::{
        Instant,
        Monotonic, //
    },
};

/// Nanoseconds per iteration of `f`, run `iters` times.
fn per_iteration(iters: u32, mut f: impl FnMut()) -> u64 {
    let start = Instant::<Monotonic>::now();
    for _ in 0..iters {
        f();
    }
    let ns = start.elapsed().as_nanos();
    u64::try_from(ns).unwrap_or(0) / u64::from(iters.max(1))
}

/// Times both locks and prints the result.
pub(crate) fn run(iters: u32) -> Result {
    let local = PerCpuTryLock::new(|_| Ok(0u64))?;
    let spin = PerCpu::new(|_| new_spinlock!(0u64, "pcpu_array_lock_bench"))?;

    // Warm both up once, so that neither pays for first-touch misses.
    for _ in 0..2 {
        let local_ns = per_iteration(iters, || {
            let pin = CpuPin::new();
            let guard = local.try_lock(&pin);
            if let Some(mut v) = guard {
                *v += 1;
            }
        });
        let spin_ns = per_iteration(iters, || {
            let pin = CpuPin::new();
            let lock: &SpinLock<u64> = spin.this_cpu(&pin);
            let guard = lock.try_lock();
            if let Some(mut v) = guard {
                *v += 1;
            }
        });
        pr_info!(
            "lock_bench: {} iterations: local_trylock_t {} ns/iter, spinlock_t trylock {} ns/iter\n",
            iters,
            local_ns,
            spin_ns
        );
    }
    Ok(())
}

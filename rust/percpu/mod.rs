// SPDX-License-Identifier: GPL-2.0

//! The CPU-level mechanisms: pinning the task, the per-CPU trylock, `this_cpu` operations,
//! per-CPU storage, the depot's irq-safe spinlock, work run on chosen CPUs, the RCU primitives
//! of frees after a grace period, and what the current context allows.
//!
//! Uses only `crate::sys`.

pub(crate) mod cpu_hotplug;
pub(crate) mod cpu_pin;
pub(crate) mod cpu_work;
pub(crate) mod deferred;
pub(crate) mod inline_percpu;
pub(crate) mod irqsave_lock;
pub(crate) mod local_trylock;
pub(crate) mod rcu;
pub(crate) mod storage;
pub(crate) mod this_cpu;
pub(crate) mod tick;

// SPDX-License-Identifier: GPL-2.0

//! The cache users create: its allocation and free paths over the magazines, its reservations,
//! and its registrations (shrinker, hotplug instance, debugfs, deferred teardown).
//!
//! Uses the layers below, up to `crate::reclaim`.

mod alloc;
mod free;
mod free_rcu;
pub(crate) mod handle;
pub(crate) mod lifecycle;
pub(crate) mod reservation;
#[cfg(pcpu_array_kunit)]
mod semantics_tests;

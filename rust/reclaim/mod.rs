// SPDX-License-Identifier: GPL-2.0

//! Giving parked objects back and following the CPUs: the shrinker and `pcpu_array_shrink()`,
//! CPU hotplug, and the debugfs files that show what a cache did.
//!
//! Uses the layers below, up to `crate::magazines`.

pub(crate) mod debugfs;
pub(crate) mod hotplug;
pub(crate) mod shrink;

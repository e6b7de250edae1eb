// SPDX-License-Identifier: GPL-2.0

//! The depot's policy (`rust/policy/depot.rs`), built in user space for its tests.
//!
//! The file is compiled as it is, without `std` or `alloc`, as the module compiles it; only the
//! tests use `std`: `model` (the policy against reference models) and `concurrent` (the kernel's
//! two-phase depot protocol around it, with concurrent actors).

#![no_std]

#[cfg(test)]
extern crate std;

#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the module's items are used by the tests only")
)]
#[path = "../../../rust/policy/depot.rs"]
mod depot_policy;

#[cfg(test)]
mod model;

#[cfg(test)]
mod concurrent;

// SPDX-License-Identifier: GPL-2.0

//! The magazines' policy (`rust/policy/`), built in user space for its tests.
//!
//! The files are compiled as they are, without `std` or `alloc`, as the module compiles them,
//! from the module's own `rust/policy/mod.rs`; only the tests use `std`: `model` (the policy
//! against reference models) and `concurrent` (the kernel's two-phase depot protocol around it,
//! with concurrent actors). `reference` holds what the models need and the module does not
//! ship: a plain magazine, and each trade's phases run back to back.

#![no_std]

#[cfg(test)]
extern crate std;

#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the module's items are used by the tests only")
)]
#[path = "../../../rust/policy/mod.rs"]
mod policy;

#[cfg(test)]
mod reference;

#[cfg(test)]
mod model;

#[cfg(test)]
mod concurrent;

// SPDX-License-Identifier: GPL-2.0

//! The C ABI of `include/pcpu_array.h` (`pcpu_array_exports.c` exports it), for modules in C and
//! in Rust.
//!
//! Uses the layers below, up to `crate::cache::handle`.

pub mod capi;

// SPDX-License-Identifier: GPL-2.0

//! What the C side declares, for Rust: the module's C helpers and the layout of the C ABI.
//!
//! The lowest layer. Only `crate::percpu` and `crate::semantics` call [`ffi`]; every layer may
//! read the [`abi_types`] the magazines share with `include/pcpu_array.h`.

pub mod abi_types;
pub(crate) mod ffi;
pub(crate) mod pin_init_compat;

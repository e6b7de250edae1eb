// SPDX-License-Identifier: GPL-2.0

//! The typed API, for Rust: typed caches, object handles, typed reservations, over the module's
//! own cache here and over the C ABI in consumers (`binding/`).
//!
//! Uses the layers below. `typed.rs`, `typed_array.rs` and `typed_box.rs` are also compiled into
//! consumers, where they and their siblings are flat: they reach each other and
//! `super::{abi_types, gfp, pin_init_compat}`, which these imports provide here.

use super::{
    semantics::gfp,
    sys::{
        abi_types,
        pin_init_compat, //
    },
};

pub mod typed;
mod typed_array;
mod typed_box;
pub(crate) mod typed_cache;

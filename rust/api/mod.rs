// SPDX-License-Identifier: GPL-2.0

//! The typed API, for Rust: typed caches, object handles, typed reservations, over the module's
//! own cache here and over the C ABI in consumers (`binding/`).
//!
//! Uses the layers below. `typed.rs` is also compiled into consumers, where its siblings are
//! flat: it reaches them as `super::{abi_types, gfp, pin_init_compat}`, which these imports provide here.

use super::{
    semantics::gfp,
    sys::{
        abi_types,
        pin_init_compat, //
    },
};

pub mod typed;
pub(crate) mod typed_cache;

// SPDX-License-Identifier: GPL-2.0

//! The magazines of each CPU, the depot of each memory node, the cache's state that holds them
//! with its backing cache, its counters and its adaptive capacity.
//!
//! Uses `crate::sys`, `crate::percpu`, `crate::semantics` and `crate::policy`. `hit.rs` is also
//! compiled into consumers (`binding/`), where its siblings are flat: it reaches them as
//! `super::{abi_types, gfp, hardening}`, which the imports here provide.

use super::{
    semantics::{
        gfp,
        hardening, //
    },
    sys::abi_types,
};

pub(crate) mod capacity;
pub(crate) mod hit;
pub(crate) mod magazine;
pub(crate) mod rcu;
pub(crate) mod sealed;
pub(crate) mod state;
pub(crate) mod stats;

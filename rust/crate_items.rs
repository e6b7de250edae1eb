// SPDX-License-Identifier: GPL-2.0

// The layers and the public items of pcpu_array, included (`include!`) by both crate roots:
// `pcpu_array_main.rs` (pcpu_array.ko, what users load) and `pcpu_array_kunit.rs` (the test
// build). An included file cannot carry the crate's inner documentation; the roots do.
//
// The layers, lowest first; a layer uses only those listed before it (rust/README):
pub mod abi;
pub mod api;
mod cache;
mod magazines;
mod percpu;
mod policy;
mod reclaim;
mod semantics;
pub mod sys;

pub use abi::capi;
pub use api::typed;
pub use cache::{
    handle::{
        Cache,
        Config, //
    },
    reservation::Reservation,
};
pub use magazines::stats::{
    Stat,
    Stats, //
};
pub use semantics::{
    backing::Sheaves,
    gfp::Gfp, //
};
pub use sys::abi_types::{
    self,
    MAX_CAPACITY,
    MAX_RESERVE, //
};
pub use typed::RawCache;

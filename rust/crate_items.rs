// SPDX-License-Identifier: GPL-2.0

// The modules and the public items of pcpu_array, included (`include!`) by both crate roots:
// `pcpu_array_main.rs` (pcpu_array.ko, what users load) and `pcpu_array_kunit.rs` (the test
// build). An included file cannot carry the crate's inner documentation; the roots do.

pub mod abi_types;
mod backing;
mod cache;
mod capacity;
pub mod capi;
mod cpu_array;
mod cpu_pin;
mod cpu_work;
mod debugfs;
#[allow(
    dead_code,
    reason = "the policy's reference pieces (its Magazine and MagazinePair, the trades) serve \
              the model that tools/depot-policy checks"
)]
mod depot_policy;
mod ffi;
mod gfp;
mod hardening;
mod hotplug;
mod inline_percpu;
mod irqsave_lock;
mod kasan;
mod lifecycle;
mod local_trylock;
mod object_hooks;
mod percpu;
mod placement;
mod reservation;
#[cfg(pcpu_array_kunit)]
mod semantics_tests;
mod shared;
mod shrink;
mod stats;
mod this_cpu;
pub mod typed;
mod typed_cache;

pub use abi_types::{
    MAX_CAPACITY,
    MAX_RESERVE, //
};
pub use backing::Sheaves;
pub use cache::{
    Cache,
    Config, //
};
pub use gfp::Gfp;
pub use reservation::Reservation;
pub use stats::{
    Stat,
    Stats, //
};
pub use typed::RawCache;

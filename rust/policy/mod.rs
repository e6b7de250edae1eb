// SPDX-License-Identifier: GPL-2.0

//! The magazines' policy: pure decisions over magazines and depots, `core` only, so that
//! `tools/depot-policy` builds these very files in user space (`make policy-test`).
//!
//! Uses nothing of the crate.
//!
//! # Layers
//!
//! 1. Each CPU holds a *loaded* and a *previous* magazine ([`pair::MagazinePair`]), under its
//!    `local_trylock_t`. An allocation pops from the loaded one; when that is empty and the
//!    previous one is not, the two swap ([`pair::alloc_step`]). A free pushes; when the loaded
//!    one is full and the previous one is not, the two swap ([`pair::free_step`]).
//! 2. Only when both are exhausted does the CPU go to its node's [`depot::Depot`], under the
//!    depot's spinlock, with its own lock dropped: a two-phase trade
//!    ([`pair::MagazinePair`] describes the phases). An allocation trades its empty magazine for
//!    a full one, a free its full magazine for an empty one. Both are O(1) and move no object.
//! 3. Only when the depot has nothing to give, or no room to take, does the caller use the
//!    backing cache's bulk API.
//!
//! The capacity of the magazines adapts to the load ([`capacity::CapacityController`]).
//!
//! # Memory bound
//!
//! With `C` possible CPUs, magazines of at most `max` objects
//! ([`capacity::CapacityController::max`], at most [`pair::MAGAZINE_MAX`]) and depots of at
//! most `limit` full magazines each ([`depot::Depot::limit`], at most [`depot::DEPOT_MAX`]), a
//! cache parks at most `C * 2 * max + nodes * limit * max` objects.
//!
//! # What these files are not
//!
//! They depend on `core` alone: nothing here locks, allocates, sleeps or calls the slab
//! allocator. Each function decides, or moves handles between magazines and lists the caller
//! owns, and the caller carries the decision out under its locks. That is what lets the same
//! files build into the module and, unchanged, into the user-space crate `tools/depot-policy`,
//! whose `cargo test` (`make policy-test`) checks them against reference models over random
//! operation sequences, and runs the kernel's two-phase depot protocol (plan, take under the
//! depot lock, re-lock the CPU, re-check, commit or give back) with concurrent actors calling
//! the same functions as the kernel for the same steps: every interleaving of small cases,
//! random schedules of larger ones (`tools/depot-policy/src/concurrent.rs`). The kernel's own
//! concurrency is also tested by KUnit and the stress suite.

pub(crate) mod capacity;
pub(crate) mod depot;
pub(crate) mod pair;

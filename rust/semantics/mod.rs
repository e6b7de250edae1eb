// SPDX-License-Identifier: GPL-2.0

//! What an object means: the backing cache and its slab calls, allocation flags, placement
//! (NUMA, memcg, reserves), the memory-initialisation hardening, KASAN and SLUB's per-object
//! hooks.
//!
//! Uses only `crate::sys` and `crate::percpu`.

pub(crate) mod backing;
pub(crate) mod gfp;
pub(crate) mod hardening;
pub(crate) mod kasan;
pub(crate) mod object_hooks;
pub(crate) mod placement;

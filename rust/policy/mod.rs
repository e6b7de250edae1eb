// SPDX-License-Identifier: GPL-2.0

//! The depot's policy: pure decisions over magazines and depots, `core` only, so that
//! `tools/depot-policy` builds the same file in user space (`make policy-test`).
//!
//! Uses nothing of the crate.

#[allow(
    dead_code,
    reason = "the policy's reference pieces (its Magazine and MagazinePair, the trades) serve \
              the model that tools/depot-policy checks"
)]
pub(crate) mod depot;

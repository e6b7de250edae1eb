#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/policy-test.sh: `make policy-test`, and the first step of `make test`. Builds
# rust/policy/ as the user-space crate tools/depot-policy and runs its tests (reference
# models over random operation sequences, and a model of the depot's two-phase trade with
# concurrent actors, src/concurrent.rs; seconds). Needs cargo only: no kernel, no network
# (the crate has no dependencies, hence --offline). Its build stays in
# tools/depot-policy/target (ignored by git).

set -uo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

cd "$top/tools/depot-policy" || exit 1
cargo test --offline --quiet "$@"

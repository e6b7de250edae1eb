#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/rust-analyzer.sh: write rust-project.json at the repository root for
# rust-analyzer, covering the module, the samples and the tests. The kernel's own
# `make M=... rust-analyzer` describes the kernel crates (core, kernel, macros, ...);
# scripts/rust_project.py then adds our crate roots, which that target does not find
# (their Kbuild files name them from a parent directory). KDIR names the kernel build,
# which must be built (the file points into it).

set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
kdir=${KDIR:?KDIR must name the kernel build}

# The kernel's target writes rust-project.json into the external module's directory.
rm -f "$top/rust-project.json"
# shellcheck disable=SC2046 # LLVM=1 or nothing: the kernel's own compiler
make -s -C "$kdir" M="$top" $(kbuild_cc_args "$kdir") rust-analyzer
[ -s "$top/rust-project.json" ] || { echo "rust-analyzer: the kernel wrote no $top/rust-project.json" >&2; exit 1; }
cd "$top"
mapfile -t rs < <(git ls-files '*.rs' 2>/dev/null || find . -name '*.rs' -not -path './.git/*')
python3 "$top/scripts/rust_project.py" "$top/rust-project.json" "$top" "${rs[@]}"
echo "rust-analyzer: wrote $top/rust-project.json"

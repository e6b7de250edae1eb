#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/build.sh [make args...]: build pcpu_array.ko, then the consumers in samples/,
# tests/ and the benchmark in bench/ against its Module.symvers. KDIR names the kernel
# build.

set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
kdir=${KDIR:?KDIR must name the kernel build}
# The kernel's own compiler: LLVM=1 for a clang-built kernel, nothing for a GCC-built one.
read -r -a cc_args < <(kbuild_cc_args "$kdir") || true

make -C "$kdir" M="$top" "${cc_args[@]}" "$@" modules
make -C "$kdir" M="$top/samples" "${cc_args[@]}" PCPU_ARRAY="$top" "$@" modules
make -C "$kdir" M="$top/tests" "${cc_args[@]}" KBUILD_EXTRA_SYMBOLS="$top/Module.symvers" "$@" modules
make -C "$kdir" M="$top/bench" "${cc_args[@]}" KBUILD_EXTRA_SYMBOLS="$top/Module.symvers" "$@" modules

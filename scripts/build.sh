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

make -C "$kdir" M="$top" LLVM=1 "$@" modules
make -C "$kdir" M="$top/samples" LLVM=1 PCPU_ARRAY="$top" "$@" modules
make -C "$kdir" M="$top/tests" LLVM=1 KBUILD_EXTRA_SYMBOLS="$top/Module.symvers" "$@" modules
make -C "$kdir" M="$top/bench" LLVM=1 KBUILD_EXTRA_SYMBOLS="$top/Module.symvers" "$@" modules

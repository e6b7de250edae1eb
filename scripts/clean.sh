#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/clean.sh: kbuild's own clean (make -C KDIR M=DIR clean) for every directory
# that scripts/build.sh and tests/selftest/run.sh build, so that what is removed is
# exactly what kbuild produced. KDIR names the kernel build; without it, the cached
# build of FLAVOR (default debug), else any cached build: kbuild's clean needs a
# configured tree, not this very one. With no kernel at all it removes nothing and says
# why (nothing was built without one either), the kernel cache always stays.

set -uo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

kdir=${KDIR:-}
if [ -z "$kdir" ]; then
	kdir=$("$top/scripts/kernel.sh" -n "${FLAVOR:-debug}" 2>/dev/null)
	if [ ! -f "$kdir/.pcpu-array-build-ok" ]; then
		kdir=
		for ok in "${PCPU_ARRAY_CACHE:-$HOME/.cache/pcpu_array}"/kernel/*/.pcpu-array-build-ok; do
			[ -f "$ok" ] && kdir=$(dirname "$ok") && break
		done
	fi
fi
if [ -z "$kdir" ]; then
	echo "clean: no kernel build cached and no KDIR: kbuild's clean needs one; nothing removed"
	exit 0
fi
if [ ! -f "$kdir/Makefile" ]; then
	echo "clean: KDIR=$kdir is not a kernel build: kbuild's clean needs one; nothing removed"
	exit 0
fi

rc=0
dirs=(. samples tests tests/selftest bench)
for dir in "${dirs[@]}"; do
	# shellcheck disable=SC2046 # LLVM=1 or nothing
	make -s -C "$kdir" M="$(cd "$top/$dir" && pwd)" $(kbuild_cc_args "$kdir") clean || rc=1
done
echo "clean: kbuild's clean of ${dirs[*]} with $kdir"
exit "$rc"

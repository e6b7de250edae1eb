#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves that the test harness catches a failure: builds a module whose KUnit suite has
# one passing and one failing case, runs it through scripts/vm.sh test, and passes only
# if the harness exits non-zero and reports exactly "1 passed, 1 failed".

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/common.sh
. "$here/../../scripts/common.sh"
kdir=${KDIR:?KDIR must name the kernel build}

# shellcheck disable=SC2046 # LLVM=1 or nothing: the kernel's own compiler
make -C "$kdir" M="$here" $(kbuild_cc_args "$kdir") modules >/dev/null || {
	echo "selftest: FAIL: could not build the failing module"
	exit 1
}
out=$("$top/scripts/vm.sh" test "$here/pcpu_array_harness_selftest.ko")
rc=$?
echo "$out" | sed 's/^/  | /'
last=$(tail -n 1 <<<"$out")
if [ "$rc" -ne 0 ] && [ "$last" = "1 passed, 1 failed" ]; then
	echo "selftest: ok: the harness exited $rc and reported the failing case"
	echo "1 passed, 0 failed"
	exit 0
fi
echo "selftest: FAIL: harness exited $rc with last line '$last'"
echo "0 passed, 1 failed"
exit 1

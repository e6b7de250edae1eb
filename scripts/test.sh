#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/test.sh MODULE.ko...: the KUnit boots of `make test`.
#   1. the modules given, with every checker on; no splat allowed;
#   2. on a KASAN kernel, tests/kasan in a boot of its own, where exactly the
#      deliberate use-after-free and double-free reports must appear.
# Last line: "N passed, N failed" over both boots. KDIR names the kernel build.

set -uo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
kdir=${KDIR:?KDIR must name the kernel build}

passed=0
failed=0
rc=0
boot() {
	local out
	out=$(mktemp)
	"$top/scripts/vm.sh" test "$@" | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	read -r p f < <(tail -n 1 "$out" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	rm -f "$out"
}

# The Rust module of Documentation/pcpu_array.rst, built word for word from a copy outside
# the tree (scripts/consumer_example.sh), loads in the first boot as well.
example=$("$top/scripts/consumer_example.sh") || { echo "test.sh: FAIL: the documented example"; rc=1; }
boot "$@" ${example:+"$example"}
[ -n "$example" ] && rm -rf "$(dirname "$example")"
if grep -q '^CONFIG_KASAN_GENERIC=y' "$kdir/.config"; then
	echo "test.sh: KASAN boot: deliberate misuse of cached objects must be reported"
	# The use after free in the test's own reader; the double frees in Cache::free and
	# Cache::free_bulk (Rust v0-mangled names), whose checks are the ones that refuse
	# the object.
	KUNIT_FILTER=pcpu_array_kasan \
		EXPECT_KASAN="pcpu_array_kasan_uaf_read [A-Za-z0-9_]*5Cache4free [A-Za-z0-9_]*5Cache9free_bulk" \
		boot "$top/pcpu_array.ko" "$top/tests/kasan/pcpu_array_kasan.ko"
else
	echo "test.sh: no generic KASAN in $kdir: KASAN boot skipped"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || rc=1
exit "$rc"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/test.sh MODULE.ko...: `make test` once the kernel is there.
#   policy scripts/policy-test.sh, the depot policy's user-space tests (seconds), before
#         anything else: when they fail, nothing is built or booted.
#   lint  scripts/lint.sh, beside the build and the boot: the TCG guest leaves a host core
#         idle for most of its kernel boot. Its output is shown after the boot's.
#   build scripts/build.sh, the modules that are tested.
#   boot  one boot (scripts/vm.sh test): the modules given, with every checker on and no
#         splat allowed; then, on a generic KASAN kernel, the KASAN phase: KASAN_MODULES,
#         whose cases misuse cached objects on purpose, where exactly the deliberate
#         use-after-free and double-free reports must appear.
#   inline with INLINE_KDIR (the perf kernel, which `make test` passes for the debug
#         flavour): scripts/inline-test.sh, beside the boot, builds a copy of the tree
#         against that kernel, where the consumers' inline hit paths are compiled, and boots
#         it with the C sample and the range map. Its cases count in the last line.
# Then the time of each phase, and last the line "N passed, N failed". Exits non-zero when
# lint, the build or the boot fails. KDIR names the kernel build; MAKE_TEST_START (seconds
# since the epoch) is when `make test` started, for the total.

set -uo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
kdir=${KDIR:?KDIR must name the kernel build}

now() { date +%s; }
start=$(now)
rc=0

t=$(now)
echo "== policy (tools/depot-policy: cargo test)"
if ! "$top/scripts/policy-test.sh"; then
	echo "test.sh: FAIL: policy tests; nothing built or booted"
	echo "0 passed, 0 failed"
	exit 1
fi
policy_s=$(($(now) - t))

lint_log=$(mktemp /tmp/pcpu_array-lint.XXXXXX)
trap 'rm -f "$lint_log"' EXIT
(
	t=$(now)
	KDIR="$kdir" "$top/scripts/lint.sh" >"$lint_log" 2>&1
	lint_rc=$?
	echo "$lint_rc $(($(now) - t))" >"$lint_log.done"
	exit "$lint_rc"
) &
lint_pid=$!

t=$(now)
KDIR="$kdir" "$top/scripts/build.sh"
build_rc=$?
build_s=$(($(now) - t))

passed=0
failed=0
boot_s=0
inline_pid=
inline_log=$(mktemp /tmp/pcpu_array-inline.XXXXXX)
trap 'rm -f "$lint_log" "$inline_log"' EXIT
if [ -n "${INLINE_KDIR:-}" ] && [ "$build_rc" -eq 0 ]; then
	(
		t=$(now)
		INLINE_KDIR="$INLINE_KDIR" "$top/scripts/inline-test.sh" >"$inline_log" 2>&1
		inline_rc=$?
		echo "$inline_rc $(($(now) - t))" >"$inline_log.done"
	) &
	inline_pid=$!
fi
if [ "$build_rc" -ne 0 ]; then
	echo "test.sh: FAIL: build; nothing booted"
	rc=1
else
	kasan=()
	if grep -q '^CONFIG_KASAN_GENERIC=y' "$kdir/.config"; then
		# The use after free in the test's own reader; the double frees in Cache::free
		# (inlined into pcpu_array_free or not) and Cache::free_bulk, and the pointer
		# given twice to one bulk free in Cache::push_bulk (Rust v0-mangled names),
		# whose checks are the ones that refuse the object.
		kasan=(KASAN_MODULES="${KASAN_MODULES:-}" KASAN_FILTER=pcpu_array_kasan
			EXPECT_KASAN="pcpu_array_kasan_uaf_read (pcpu_array_free|[A-Za-z0-9_]*5Cache4free) [A-Za-z0-9_]*5Cache9free_bulk [A-Za-z0-9_]*5Cache9push_bulk[A-Za-z0-9_]*")
	else
		# Make's KASAN_MODULES would still reach vm.sh through the environment.
		kasan=(KASAN_MODULES=)
		echo "test.sh: no generic KASAN in $kdir: KASAN phase skipped"
	fi
	# The Rust module of Documentation/pcpu_array.rst, built word for word from a copy
	# outside the tree (scripts/consumer_example.sh), loads in the boot as well.
	example=$("$top/scripts/consumer_example.sh") ||
		{ echo "test.sh: FAIL: the documented example"; rc=1; }
	t=$(now)
	out=$(mktemp)
	env "${kasan[@]}" "$top/scripts/vm.sh" test "$@" ${example:+"$example"} | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	boot_s=$(($(now) - t))
	[ -n "$example" ] && rm -rf "$(dirname "$example")"
	read -r passed failed < <(tail -n 1 "$out" |
		sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p')
	rm -f "$out"
fi

inline_s=
if [ -n "$inline_pid" ]; then
	wait "$inline_pid"
	read -r inline_rc inline_s <"$inline_log.done"
	rm -f "$inline_log.done"
	echo "== inline (the perf kernel, inline hit paths compiled; beside the boot)"
	cat "$inline_log"
	read -r ipassed ifailed < <(tail -n 1 "$inline_log" |
		sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p')
	if [ "$inline_rc" -ne 0 ] || [ -z "${ipassed:-}" ]; then
		echo "test.sh: FAIL: the inline boot"
		rc=1
	fi
	passed=$((${passed:-0} + ${ipassed:-0}))
	failed=$((${failed:-0} + ${ifailed:-0}))
fi

wait "$lint_pid"
lint_rc=$?
read -r _ lint_s <"$lint_log.done"
rm -f "$lint_log.done"
echo "== lint (ran beside the build and the boot)"
cat "$lint_log"
[ "$lint_rc" -eq 0 ] || { echo "test.sh: FAIL: lint"; rc=1; }

total=$(($(now) - ${MAKE_TEST_START:-$start}))
echo "make test: policy $policy_s s, lint ${lint_s:-?} s (beside build and boot), build $build_s s, boot $boot_s s${inline_s:+, inline boot $inline_s s (beside)}, total $total s"
passed=${passed:-0}
failed=${failed:-0}
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || rc=1
exit "$rc"

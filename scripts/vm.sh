#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/vm.sh MODE [MODULE.ko...]: boot the test kernel under virtme-ng, run
# scripts/guest.sh MODE in it with the given modules, and check what came back.
#
#   MODE test: KUnit results parsed by the kernel's kunit.py; the last line is
#              "N passed, N failed". Non-zero exit on a failed or crashed test, on no
#              test at all, on a guest that did not finish, on a module that did not
#              load or unload, and on any kernel splat in dmesg.
#   MODE run:  the demo's statistics and a clean unload.
#   MODE bench-locks: the lock benchmark's lines from dmesg, on stdout and into $SAVE_BENCH.
#   MODE bench: the benchmark result lines ("scenario=... backend=...") from dmesg, after a
#              "# accel=... qemu_opts=..." line, on stdout and into $SAVE_BENCH; a
#              clean load and unload.
#
# Environment: KDIR (a built kernel tree; default: the cached debug build),
# VM_CPUS (default 4 for MODE test, else 2; MODE test and run split them over two NUMA nodes and check that the
# guest sees both), VM_TIMEOUT (seconds, default 1200), KEEP_RESULTS=1 keeps the
# results directory, VM_MODULE_ARGS: lines "NAME ARGS..." adding ARGS to the insmod of
# module NAME, STRESS_MS (milliseconds) sets how long pcpu_array_stress.ko runs,
# VM_APPEND adds kernel parameters (e.g. init_on_alloc=0).
# EXPECT_KASAN="fn..." boots with kasan_multi_shot and requires exactly one KASAN
# use-after-free report in each function named (each an extended regular expression for
# the symbol), no other KASAN report, and no other splat.
# KASAN_MODULES="a.ko b.ko" (MODE test): after the modules given are tested and unloaded,
# the guest loads these in a last phase, the KASAN phase, with KUnit's filter_glob set to
# KASAN_FILTER (see guest.sh for why it comes last). EXPECT_KASAN's reports must then come
# from that phase; the log before it is scanned like any other, with nothing cut out.

set -uo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
here=$top/scripts

mode=${1:-}
# Checked before anything boots: an unknown mode would boot, run nothing and exit 0.
case "$mode" in
test | run | bench | bench-locks) ;;
*) echo "vm.sh: unknown mode '$mode' (test, run, bench, bench-locks)" >&2; exit 2 ;;
esac
shift
[ $# -gt 0 ] || { echo "vm.sh: no module given" >&2; exit 2; }
kdir=${KDIR:?KDIR must name the kernel build}

res=$(mktemp -d /tmp/pcpu_array-vm.XXXXXX)
# Said now, not at exit: the last line stays the summary.
if [ "${KEEP_RESULTS:-0}" = 1 ]; then
	echo "vm.sh: results will be kept in $res"
else
	trap 'rm -rf "$res"' EXIT
fi

abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
mods=()
for m in "$@"; do
	mods+=("$(abspath "$m")")
done
kasan_mods=()
for m in ${KASAN_MODULES:-}; do
	kasan_mods+=("$(abspath "$m")")
done

# KVM only where it really works: a CPU with hardware virtualisation and a usable
# /dev/kvm. Elsewhere TCG, with a CPU model that boots the KASAN kernel cleanly (the
# default "max" model enables 5-level paging, which KASAN trips over).
# slab_debug=A sets SLAB_FAILSLAB (which callers may not pass) on the caches whose tests
# need failing backing allocations; guest.sh arms failslab for such caches only.
# PATH: virtme-ng-init puts a PATH from the kernel command line in front of its own, so
# scripts/guest-bin/systemd-tmpfiles, a no-op, replaces the real one that it runs before
# the user's command: 30 s or more under TCG with KASAN, for volatile files in /run, /var
# and /tmp that nothing here uses (the guest's root is the host's, read-only, under
# throwaway overlays).
# MODE test boots two vCPUs per node, so that the depot's trades between CPUs of one node
# run on every commit; the others keep two.
default_cpus=2
[ "$mode" = test ] && default_cpus=4
cpus=${VM_CPUS:-$default_cpus}
vng_args=(--run "$kdir" --cpus "$cpus" --memory 2G --rwdir "$res"
	--append "slab_debug=A,pcpu_array_test_bulkfail,pcpu_array_stress"
	--append "PATH=$here/guest-bin")
# The tests run with init_on_alloc on, as distribution kernels do, and init_on_free on, so
# that the wipe of objects freed into an array and SLUB's exemptions from both are tested
# (the benchmarks keep the perf kernel's defaults).
[ "$mode" = test ] && vng_args+=(--append "init_on_alloc=1 init_on_free=1")
# Two NUMA nodes for the tests and the demos, as on the servers the module is for: 1 GiB
# each, the first half of the vCPUs on node 0, the rest on node 1 (one vCPU: one node).
# The benchmarks keep booting one node (and virtme-ng's microvm machine under KVM, which
# --numa turns off), so that their numbers stay comparable.
nodes=1
range() { if [ "$1" -eq "$2" ]; then echo "$1"; else echo "$1-$2"; fi; }
if { [ "$mode" = test ] || [ "$mode" = run ]; } && [ "$cpus" -ge 2 ]; then
	nodes=2
	half=$((cpus / 2))
	vng_args+=(--numa "1G,cpus=$(range 0 $((half - 1)))" --numa "1G,cpus=$(range "$half" $((cpus - 1)))")
fi
# Only this project's suites (all named pcpu_array*): the kernel's own built-in ones are not
# ours to run, and one of Linux 7.3's (rust_spinlock_irq_condvar, in the kernel crate)
# asserts that spin_lock_irq() disabled interrupts, which PREEMPT_RT does not: a WARNING that
# would fail every `make test KERNEL=7.3 FLAVOR=rt`.
vng_args+=(--append "kunit.filter_glob=${KUNIT_FILTER:-pcpu_array*}")
[ -n "${VM_APPEND:-}" ] && vng_args+=(--append "$VM_APPEND")
[ -n "${EXPECT_KASAN:-}" ] && vng_args+=(--append kasan_multi_shot)
if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
	accel=kvm
else
	accel=tcg
	vng_args+=(--disable-kvm --qemu-opts="-cpu Skylake-Client-v1 ${VM_QEMU_OPTS:-}")
fi

[ -n "${VM_MODULE_ARGS:-}" ] && printf '%s\n' "$VM_MODULE_ARGS" >"$res/module-args"
if [ "$mode" = test ] && [ ${#kasan_mods[@]} -gt 0 ]; then
	echo "${kasan_mods[*]}" >"$res/kasan-modules"
	[ -n "${KASAN_FILTER:-}" ] && echo "$KASAN_FILTER" >"$res/kasan-filter"
fi

echo "vm.sh: booting $(basename "$kdir") ($accel, $cpus vCPUs, $nodes NUMA node$([ "$nodes" -gt 1 ] && echo s)) for '$mode'"
start=$(date +%s)
timeout "${VM_TIMEOUT:-1200}" vng "${vng_args[@]}" \
	--exec "STRESS_MS=${STRESS_MS:-} sh $here/guest.sh $mode $res ${mods[*]}" >"$res/console.log" 2>&1 </dev/null
vm_rc=$?
echo "vm.sh: guest exited with $vm_rc after $(($(date +%s) - start)) s"

fail=0
problem() { echo "vm.sh: FAIL: $*"; fail=1; }

[ -f "$res/done" ] || {
	problem "the guest did not finish (timeout or crash); console tail:"
	tail -n 40 "$res/console.log"
}
[ -f "$res/insmod-failed" ] && problem "modules failed to load: $(tr '\n' ' ' <"$res/insmod-failed")"
[ -f "$res/rmmod-failed" ] && problem "modules failed to unload: $(tr '\n' ' ' <"$res/rmmod-failed")"
[ -f "$res/leak-failed" ] && problem "leak check: $(cat "$res/leak-failed")"
[ -f "$res/guest.log" ] && sed 's/^/  /' "$res/guest.log"
# The nodes the guest saw, with their CPUs (guest.sh: "nodeN CPULIST" lines), on a kernel
# with NUMA: exactly the two asked for.
if [ "$nodes" -gt 1 ] && [ -f "$res/done" ] && grep -q '^CONFIG_NUMA=y' "$kdir/.config"; then
	want="node0 $(range 0 $((half - 1))), node1 $(range "$half" $((cpus - 1)))"
	seen=$(sed -z 's/\n$//; s/\n/, /g' "$res/numa" 2>/dev/null)
	if [ "$seen" = "$want" ]; then
		echo "vm.sh: NUMA nodes and their CPUs: $seen"
	else
		problem "the guest should have NUMA nodes and CPUs '$want', saw '${seen:-none}'"
	fi
fi

# Kernel splats. The patterns are the headers these checkers print.
splat_re='BUG:|WARNING:|Oops|general protection fault|KASAN:|kernel BUG|Kernel panic|possible recursive locking|possible circular locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|Objects remaining|unreferenced object|UBSAN:|sleeping function called from invalid context'
if [ -f "$res/dmesg.txt" ]; then
	scan=$res/dmesg.txt
	if [ -n "${EXPECT_KASAN:-}" ]; then
		# The part of the log where the reports must be: the KASAN phase when there is
		# one (the part before it goes to the scan whole), else the whole log.
		before=$res/dmesg-before-kasan.txt
		phase=$res/dmesg-kasan-phase.txt
		if [ ${#kasan_mods[@]} -gt 0 ]; then
			awk -v before="$before" '/pcpu_array-harness: KASAN phase/ { p = 1 }
				p { print; next } { print >before }' "$res/dmesg.txt" >"$phase"
			[ -s "$phase" ] || problem "the KASAN phase did not start"
		else
			: >"$before"
			cp "$res/dmesg.txt" "$phase"
		fi
		# Each expected report once, and no other KASAN report (those reports are cut
		# out below, so they are counted here).
		for fn in $EXPECT_KASAN; do
			n=$(grep -cE "BUG: KASAN: slab-use-after-free in $fn\+" "$phase")
			if [ "$n" -eq 1 ]; then
				echo "vm.sh: expected KASAN report in $fn: found"
			else
				problem "expected one KASAN use-after-free report in $fn, found $n"
			fi
		done
		read -r -a expected <<<"$EXPECT_KASAN"
		n=$(grep -c 'BUG: KASAN:' "$phase")
		[ "$n" -eq ${#expected[@]} ] ||
			problem "$n KASAN reports in the KASAN phase, ${#expected[@]} expected"
		# Then the reports (between their "====" rulers) are cut out and the rest is
		# scanned as usual.
		scan=$res/dmesg-unexpected.txt
		{
			cat "$before"
			awk '/^(\[ *[0-9.]+\] )?=+$/ { inside = !inside; next } !inside' "$phase"
		} >"$scan"
	fi
	if grep -qE "$splat_re" "$scan"; then
		problem "kernel splat in dmesg:"
		grep -E -A 12 "$splat_re" "$scan" | head -n 80
	fi
	[ -n "${SAVE_DMESG:-}" ] && cp "$res/dmesg.txt" "$SAVE_DMESG"
fi
if [ -s "$res/kmemleak.txt" ]; then
	problem "kmemleak found leaks:"
	head -n 40 "$res/kmemleak.txt"
fi

case "$mode" in
bench-locks)
	grep -hE 'lock_bench:' "$res/dmesg.txt" | sed -E 's/^\[ *[0-9.]+\] //' | tee "$res/bench.txt"
	[ -n "${SAVE_BENCH:-}" ] && cp "$res/bench.txt" "$SAVE_BENCH"
	[ -s "$res/bench.txt" ] || problem "no benchmark output"
	exit "$fail"
	;;
bench)
	{
		opts=""
		[ "$accel" = tcg ] && opts=${VM_QEMU_OPTS:-}
		[ -n "${VM_APPEND:-}" ] && opts="$opts (kernel parameters: $VM_APPEND)"
		echo "# accel=$accel vcpus=$cpus qemu_opts=$opts"
		grep -hE ': (config mode=|scenario=[^ ]+ backend=|rcu_wait backend=)' "$res/dmesg.txt" 2>/dev/null |
			sed -E 's/^\[ *[0-9.]+\] //'
	} >"$res/bench.txt"
	cat "$res/bench.txt"
	grep -q 'scenario=' "$res/bench.txt" || problem "no benchmark output"
	# The modules' KUnit suites ran at load on this (perf) kernel too, over the inlined
	# fast path that the debug kernel does not build: a failed case fails the run.
	n_ok=$(grep -cE '^\[ *[0-9.]+\] +ok [0-9]+ ' "$res/dmesg.txt")
	if grep -qE '^\[ *[0-9.]+\] +not ok [0-9]+ ' "$res/dmesg.txt"; then
		problem "KUnit cases failed on this kernel:"
		grep -E '^\[ *[0-9.]+\] +not ok [0-9]+ ' "$res/dmesg.txt" | head -n 20
	else
		echo "vm.sh: $n_ok KUnit results in dmesg, none failed"
	fi
	# Replaced in one step: a reader never sees half a file.
	if [ -n "${SAVE_BENCH:-}" ]; then
		cp "$res/bench.txt" "$SAVE_BENCH.tmp.$$" && mv "$SAVE_BENCH.tmp.$$" "$SAVE_BENCH"
	fi
	exit "$fail"
	;;
run)
	[ -f "$res/run.txt" ] && cat "$res/run.txt"
	grep -hE '(pcpu_array|range_map)[a-z_]*: (demo|range map)' "$res/dmesg.txt" 2>/dev/null |
		sed 's/^/  dmesg: /'
	[ "$fail" -eq 0 ] && echo "vm.sh: modules unloaded cleanly"
	exit "$fail"
	;;
test)
	ktap=$res/all.ktap
	shopt -s nullglob
	files=("$res"/ktap-*)
	# Each suite's debugfs results are a KTAP document of their own ("KTAP version 1",
	# "1..1", the suite as subtest 1). Join them into one: a single header and plan,
	# then each suite with its top-level result renumbered.
	{
		echo "KTAP version 1"
		echo "1..${#files[@]}"
		i=0
		for f in "${files[@]}"; do
			i=$((i + 1))
			sed -E -e '1{/^KTAP version/d}' -e '1,2{/^1\.\.[0-9]+$/d}' \
				-e "s/^(not ok|ok) 1 /\1 $i /" "$f"
		done
	} >"$ktap"
	[ -n "${SAVE_KTAP:-}" ] && cp "$ktap" "$SAVE_KTAP"
	parser="$kdir/source-tree/tools/testing/kunit/kunit.py"
	[ -f "$parser" ] || parser="$kdir/tools/testing/kunit/kunit.py"
	python3 "$parser" parse "$ktap" | tee "$res/parsed.txt"
	# The stress suite's summary (kunit.py shows a passing case's log only on failure).
	grep -hE '# stress_all: ' "$res/dmesg.txt" 2>/dev/null | sed -E 's/^\[ *[0-9.]+\] +/  stress: /'
	summary=$(grep -oE 'Ran [0-9]+ tests:.*' "$res/parsed.txt" | tail -n 1)
	total=$(sed -nE 's/.*Ran ([0-9]+) tests.*/\1/p' <<<"$summary")
	passed=$(sed -nE 's/.*passed: ([0-9]+).*/\1/p' <<<"$summary")
	failed=$(sed -nE 's/.*failed: ([0-9]+).*/\1/p' <<<"$summary")
	crashed=$(sed -nE 's/.*crashed: ([0-9]+).*/\1/p' <<<"$summary")
	total=${total:-0}
	passed=${passed:-0}
	failed=$((${failed:-0} + ${crashed:-0}))
	[ "$total" -gt 0 ] || problem "no KUnit test ran"
	[ "$failed" -eq 0 ] || problem "$failed KUnit tests failed or crashed"
	echo "$passed passed, $failed failed"
	exit "$fail"
	;;
esac

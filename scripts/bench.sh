#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/bench.sh: the allocation benchmarks (bench/pcpu_array_bench.c) on the perf kernel.
# Builds the modules, boots twice and writes bench/results/<kernel>-<date>.{json,md} and
# bench/results/<kernel>-<date>/<scenario>.png with scripts/bench_report.py:
#   1. mode=single with QEMU's -icount shift=0 under TCG: instructions per op,
#      deterministic (under KVM, vm.sh ignores icount: ns and cycles per op);
#   2. mode=multi without icount (MTTCG, VM_CPUS vCPUs): wall ns per op, BENCH_MULTI_REPS
#      repetitions.
# Environment: KDIR (default: the cached perf build; `make bench FLAVOR=distro` gives the
# distro build, whose results go to <kernel>-<date>-debian-gcc), BENCH_OPS (objects per measurement,
# default 20000), BENCH_REPS (single, default 3), BENCH_MULTI_OPS (default BENCH_OPS),
# BENCH_MULTI_REPS (default 5), VM_CPUS (default 2), BENCH_EXTRA_MODULES (more .ko files
# for the single boot, whose "scenario=... backend=..." lines join the report; default:
# the range map sample, run with bench=BENCH_RANGE_MAP_OPS, default 2048, and the C ABI
# sample) and
# BENCH_MODULE_ARGS (lines "NAME ARGS..." for them), BENCH_OUT (default
# bench/results/<kernel>-<date>), VM_APPEND (kernel parameters of both boots, e.g.
# init_on_alloc=0; the report records them).

set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
kdir=${KDIR:-$("$top/scripts/kernel.sh" perf)}
ops=${BENCH_OPS:-20000}
reps=${BENCH_REPS:-3}
multi_ops=${BENCH_MULTI_OPS:-$ops}
multi_reps=${BENCH_MULTI_REPS:-5}
cpus=${VM_CPUS:-2}

release=$(cat "$kdir/include/config/kernel.release" 2>/dev/null ||
	basename "$kdir" | cut -d- -f1)
# The distro flavour's kernel has the perf kernel's release: its results get a suffix.
suffix=
case "$(basename "$kdir")" in *-distro-*) suffix=-debian-gcc ;; esac
out=${BENCH_OUT:-$top/bench/results/$release-$(date +%F)$suffix}

# The plots need matplotlib: Debian's python3-matplotlib belongs to /usr/bin/python3,
# which need not be the python3 on PATH.
py=python3
python3 -c 'import matplotlib' 2>/dev/null || py=/usr/bin/python3

KDIR="$kdir" "$top/scripts/build.sh" >/dev/null

tmp=$(mktemp -d /tmp/pcpu_array-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mods=("$top/pcpu_array.ko" "$top/pcpu_array_kunit.ko" "$top/bench/pcpu_array_bench.ko")
# After the benchmark: the range map's bench and KUnit suite, and the C ABI suite, whose
# inline cases run here on the inline hit path that the debug kernel does not build.
read -r -a extra <<<"${BENCH_EXTRA_MODULES-$top/samples/rust/pcpu_array_range_map.ko $top/samples/c/pcpu_array_c_abi.ko}"
extra_args=${BENCH_MODULE_ARGS-"pcpu_array_range_map bench=${BENCH_RANGE_MAP_OPS:-2048}"}

start=$(date +%s)
echo "bench.sh: single-CPU scenarios, icount, ops=$ops reps=$reps"
KDIR="$kdir" VM_CPUS="$cpus" VM_QEMU_OPTS="-icount shift=0,align=off,sleep=off" \
	SAVE_BENCH="$tmp/single.txt" \
	VM_MODULE_ARGS="pcpu_array_bench mode=single ops=$ops reps=$reps
$extra_args" \
	"$top/scripts/vm.sh" bench "${mods[@]}" "${extra[@]}" >"$tmp/single.log" || {
	cat "$tmp/single.log"
	exit 1
}
grep '^vm.sh' "$tmp/single.log"

echo "bench.sh: multi-CPU scenarios, wall time, $cpus vCPUs, ops=$multi_ops reps=$multi_reps"
KDIR="$kdir" VM_CPUS="$cpus" VM_QEMU_OPTS="" SAVE_BENCH="$tmp/multi.txt" \
	VM_MODULE_ARGS="pcpu_array_bench mode=multi ops=$multi_ops reps=$multi_reps" \
	"$top/scripts/vm.sh" bench "${mods[@]}" >"$tmp/multi.log" || {
	cat "$tmp/multi.log"
	exit 1
}
grep '^vm.sh' "$tmp/multi.log"
echo "bench.sh: both boots took $(($(date +%s) - start)) s"

"$py" "$top/scripts/bench_report.py" --out "$out" --kernel-release "$release" \
	--kernel-build "$(basename "$kdir")" \
	--run single "$tmp/single.txt" --run multi "$tmp/multi.txt"

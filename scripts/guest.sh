#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the virtme-ng guest. Usage: guest.sh MODE OUTDIR MODULE.ko...
#   test: load the modules (their KUnit suites run at load), collect each suite's KTAP
#         results from debugfs, unload, scan for leaks.
#   run:  load the modules (the demos with demo=N), print their debugfs statistics, unload.
#   bench: load the modules (the benchmarks run at load and print to the kernel log),
#         unload; the host takes the result lines from dmesg.
# OUTDIR/module-args, when present, has lines "NAME ARGS..." that add ARGS to the insmod
# of module NAME.
# pcpu_array_stress.ko gets stress_ms=$STRESS_MS when that is set; while it loads, failslab
# fails 10% of its cache's allocations and a loop drops the slab caches (the shrinkers).
# Everything the host needs is written to OUTDIR (a --rwdir of the guest); `done` is written
# last, so its absence means the guest did not finish.

mode=$1
out=$2
shift 2

log() { echo "guest: $*" | tee -a "$out/guest.log"; }

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
dbg=/sys/kernel/debug

# Slab fault injection, armed only for tasks that set make-it-fail and caches created with
# SLAB_FAILSLAB: the KUnit cases that need a failing backing cache do both.
if [ -d "$dbg/failslab" ]; then
	echo 100 >"$dbg/failslab/probability"
	echo 1 >"$dbg/failslab/interval"
	echo -1 >"$dbg/failslab/times"
	echo 0 >"$dbg/failslab/verbose"
	echo Y >"$dbg/failslab/task-filter"
	echo Y >"$dbg/failslab/cache-filter"
	echo N >"$dbg/failslab/ignore-gfp-wait"
fi

# Forget what kmemleak suspects from boot: only leaks made from here on count.
[ -f "$dbg/kmemleak" ] && echo clear >"$dbg/kmemleak"

loaded=""
leak_ko=""
for ko in "$@"; do
	name=$(basename "$ko" .ko)
	# The leaking consumer runs last, after the kmemleak scan (see below).
	if [ "$name" = pcpu_array_leak ]; then
		leak_ko=$ko
		continue
	fi
	extra=""
	[ -f "$out/module-args" ] && extra=$(sed -n "s/^$name //p" "$out/module-args")
	if [ "$mode" = run ]; then
		# pcpu_array_demo: rounds of 100 allocations; the range map: store/erase operations;
		# pcpu_array itself: no parameter.
		case "$name" in
		pcpu_array_demo) demo_args="demo=20" ;;
		pcpu_array_range_map) demo_args="demo=2000" ;;
		*) demo_args="" ;;
		esac
		# shellcheck disable=SC2086 # the arguments are words
		insmod "$ko" $demo_args $extra 2>>"$out/guest.log"
	elif [ "$mode" = bench-locks ]; then
		# shellcheck disable=SC2086
		insmod "$ko" lock_bench=200000 $extra 2>>"$out/guest.log"
	elif [ "$name" = pcpu_array_stress ]; then
		# 10% of the stress cache's allocations fail, for the tasks that ask for it.
		if [ -d "$dbg/failslab" ]; then
			echo 10 >"$dbg/failslab/probability"
			echo N >"$dbg/failslab/ignore-gfp-wait"
			echo Y >"$dbg/failslab/cache-filter"
			echo Y >"$dbg/failslab/task-filter"
		fi
		# Memory pressure for the shrinkers: drop the slab caches (6: quietly).
		(while :; do echo 6 >/proc/sys/vm/drop_caches; sleep 1; done) &
		dropper=$!
		# shellcheck disable=SC2086
		insmod "$ko" ${STRESS_MS:+stress_ms=$STRESS_MS} $extra 2>>"$out/guest.log"
		rc=$?
		kill "$dropper"
		wait "$dropper" 2>/dev/null
		[ -d "$dbg/failslab" ] && echo 100 >"$dbg/failslab/probability"
		[ "$rc" -eq 0 ]
	else
		# shellcheck disable=SC2086
		insmod "$ko" $extra 2>>"$out/guest.log"
	fi
	if [ $? -ne 0 ]; then
		log "insmod $name failed"
		echo "$name" >>"$out/insmod-failed"
		continue
	fi
	log "loaded $name"
	loaded="$name $loaded"
done

case "$mode" in
test)
	for d in "$dbg"/kunit/*/; do
		[ -f "$d/results" ] || continue
		cp "$d/results" "$out/ktap-$(basename "$d")"
	done
	;;
run)
	for d in "$dbg"/pcpu_array/*/; do
		[ -f "$d/stats" ] || continue
		echo "== $d/stats" >>"$out/run.txt"
		cat "$d/stats" >>"$out/run.txt"
		echo "== $d/alloc_array" >>"$out/run.txt"
		cat "$d/alloc_array" >>"$out/run.txt"
	done
	;;
esac

for name in $loaded; do
	if rmmod "$name" 2>>"$out/guest.log"; then
		log "unloaded $name"
	else
		log "rmmod $name failed"
		echo "$name" >>"$out/rmmod-failed"
	fi
done

if [ -f "$dbg/kmemleak" ]; then
	# kmemleak reports an object only once it is 5 s old.
	sleep 6
	echo scan >"$dbg/kmemleak"
	cat "$dbg/kmemleak" >"$out/kmemleak.txt"
fi

# A consumer that leaks a cache (tests/leak): once it is gone, the cache it leaked must
# keep pcpu_array.ko loaded (rmmod fails with EBUSY), with no WARN.
if [ -n "$leak_ko" ]; then
	pcpu_array_ko=$(dirname "$leak_ko")/../../pcpu_array.ko
	if insmod "$pcpu_array_ko" 2>>"$out/guest.log" && insmod "$leak_ko" 2>>"$out/guest.log"; then
		[ -f "$dbg/kunit/pcpu_array_leak/results" ] &&
			cp "$dbg/kunit/pcpu_array_leak/results" "$out/ktap-pcpu_array_leak"
		rmmod pcpu_array_leak 2>>"$out/guest.log"
		if msg=$(rmmod pcpu_array 2>&1); then
			log "leak check: rmmod pcpu_array succeeded with a leaked cache alive"
			echo "rmmod succeeded" >"$out/leak-failed"
		elif echo "$msg" | grep -qiE 'in use|busy|temporarily unavailable'; then
			log "leak check: rmmod pcpu_array refused while a leaked cache lives: $msg"
		else
			log "leak check: rmmod pcpu_array failed unexpectedly: $msg"
			echo "$msg" >"$out/leak-failed"
		fi
	else
		log "leak check: insmod failed"
		echo "insmod failed" >"$out/leak-failed"
	fi
fi
dmesg >"$out/dmesg.txt"
echo done >"$out/done"

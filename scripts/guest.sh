#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the virtme-ng guest. Usage: guest.sh MODE OUTDIR MODULE.ko...
#   test: load the modules (their KUnit suites run at load), collect each suite's KTAP
#         results from debugfs (and, with pcpu_array_memcg.ko, those of the memcg check,
#         scripts/guest-memcg.sh), unload, scan for leaks.
#   run:  load the modules with demo=1, print their debugfs statistics, unload.
#   bench: load the modules (the benchmarks run at load and print to the kernel log),
#         unload; the host takes the result lines from dmesg.
# OUTDIR/module-args, when present, has lines "NAME ARGS..." that add ARGS to the insmod
# of module NAME.
# pcpu_array_stress.ko gets stress_ms=$STRESS_MS when that is set; while it loads, failslab
# fails 10% of its cache's allocations and a loop drops the slab caches (the shrinkers).
# test: OUTDIR/kasan-modules, when present, names modules for a last phase, loaded after
# all the others are unloaded, with KUnit's filter_glob set to OUTDIR/kasan-filter: their
# cases misuse objects on purpose, and the first KASAN report turns lock debugging off for
# the rest of the boot ("Disabling lock debugging due to kernel taint"), so nothing else
# may run after it. A line "pcpu_array-harness: KASAN phase" in the kernel log marks where
# it starts.
# Everything the host needs is written to OUTDIR (a --rwdir of the guest); `done` is written
# last, so its absence means the guest did not finish.

mode=$1
out=$2
shift 2

# Under TCG with KASAN every exec of a dynamically linked tool costs about half a second
# (its libraries come over 9p and are relocated by an emulated CPU), and this script runs
# dozens of them. busybox-static (scripts/install-deps.sh) starts in a fraction of that:
# use its applets when it is there (those it has). The shell's builtins replace basename,
# tee, sed and mountpoint.
if [ -x /bin/busybox ]; then
	for tool in $(/bin/busybox --list); do
		case "$tool" in
		cat | cp | dmesg | insmod | rmmod | sleep)
			eval "$tool() { /bin/busybox $tool \"\$@\"; }" ;;
		esac
	done
fi

# Each line carries the guest's uptime, so that vm.sh's output shows where the time goes.
log() {
	read -r up _ </proc/uptime
	echo "guest: [$up] $*" >>"$out/guest.log"
}

# module_args NAME: set $extra to the ARGS of the line "NAME ARGS..." of OUTDIR/module-args.
module_args() {
	extra=""
	[ -f "$out/module-args" ] || return 0
	while read -r n a; do
		[ "$n" = "$1" ] && extra=$a
	done <"$out/module-args"
}

debugfs_mounted() {
	while read -r _ dir type _; do
		[ "$dir" = /sys/kernel/debug ] && [ "$type" = debugfs ] && return 0
	done </proc/mounts
	return 1
}

log "guest.sh $mode started"
debugfs_mounted || mount -t debugfs none /sys/kernel/debug
dbg=/sys/kernel/debug

# The NUMA nodes and their CPUs, for scripts/vm.sh to check ("nodeN CPULIST" lines). With
# cat: cpulist is a binary attribute, which the shell's byte-by-byte read gets empty.
for node in /sys/devices/system/node/node[0-9]*; do
	[ -f "$node/cpulist" ] || continue
	echo "${node##*/} $(cat "$node/cpulist")" >>"$out/numa"
done

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

# Kernel memory accounting online, as on any system with a memory cgroup (systemd makes
# them at boot): memcg_kmem_online() turns on with the first child memory cgroup. The
# suites run in the root cgroup, which is never charged; tests/memcg makes its own.
cg=/sys/fs/cgroup
grep -q " $cg cgroup2 " /proc/mounts || mount -t cgroup2 none "$cg" 2>/dev/null
if grep -qw memory "$cg/cgroup.controllers" 2>/dev/null; then
	echo +memory >"$cg/cgroup.subtree_control" 2>>"$out/guest.log"
	mkdir -p "$cg/pcpu_array_online" 2>>"$out/guest.log"
	# The benchmarks run charged, as a task of a container or a systemd service would
	# (pcpu_array_bench charges its measuring kthread to the memcg of its insmod).
	[ "$mode" = bench ] && echo $$ >"$cg/pcpu_array_online/cgroup.procs"
	log "memory cgroups: $(cat "$cg/cgroup.subtree_control" 2>/dev/null)"
fi

# Forget what kmemleak suspects from boot: only leaks made from here on count. Its thread
# would scan on its own 60 s after boot, in the middle of the suites, for several seconds
# of a vCPU; the one scan that counts is the one at the end.
if [ -f "$dbg/kmemleak" ]; then
	echo scan=off >"$dbg/kmemleak"
	echo clear >"$dbg/kmemleak"
fi

# The suites built into the kernel, which ran at boot (Linux 7.3's kernel crate has three):
# not the modules', so not collected, and every kernel counts the same cases.
builtin_suites=" "
for d in "$dbg"/kunit/*/; do
	[ -d "$d" ] || continue
	d=${d%/}
	builtin_suites="$builtin_suites${d##*/} "
done

# Each suite's KTAP results, from debugfs (gone once its module is unloaded).
collect_ktap() {
	for d in "$dbg"/kunit/*/; do
		[ -f "$d/results" ] || continue
		d=${d%/}
		case "$builtin_suites" in
		*" ${d##*/} "*) continue ;;
		esac
		cp "$d/results" "$out/ktap-${d##*/}"
	done
}

# unload NAME...: rmmod each, in the order given.
unload() {
	for name in "$@"; do
		if rmmod "$name" 2>>"$out/guest.log"; then
			log "unloaded $name"
		else
			log "rmmod $name failed"
			echo "$name" >>"$out/rmmod-failed"
		fi
	done
}

loaded=""
leak_ko=""
for ko in "$@"; do
	name=${ko##*/}
	name=${name%.ko}
	# The leaking consumer runs last, after the kmemleak scan (see the end).
	if [ "$name" = pcpu_array_leak ]; then
		leak_ko=$ko
		continue
	fi
	module_args "$name"
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
	collect_ktap
	# memcg charging from cgroup v2 (tests/memcg), counted as a suite of its own.
	case " $loaded " in
	*" pcpu_array_memcg "*) sh "${0%/*}/guest-memcg.sh" "$out" ;;
	esac
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

# shellcheck disable=SC2086 # the names are words
unload $loaded

# The KASAN phase, last (see above): plain loads, then the same collection and unload.
if [ "$mode" = test ] && [ -f "$out/kasan-modules" ]; then
	echo "pcpu_array-harness: KASAN phase" >/dev/kmsg
	if [ -f "$out/kasan-filter" ]; then
		read -r filter <"$out/kasan-filter"
		# No newline: the parameter keeps the string as written.
		printf %s "$filter" >/sys/module/kunit/parameters/filter_glob
	fi
	read -r kasan_modules <"$out/kasan-modules"
	loaded=""
	for ko in $kasan_modules; do
		name=${ko##*/}
		name=${name%.ko}
		module_args "$name"
		# shellcheck disable=SC2086
		if insmod "$ko" $extra 2>>"$out/guest.log"; then
			log "loaded $name"
			loaded="$name $loaded"
		else
			log "insmod $name failed"
			echo "$name" >>"$out/insmod-failed"
		fi
	done
	collect_ktap
	# shellcheck disable=SC2086
	unload $loaded
fi

if [ -f "$dbg/kmemleak" ]; then
	# kmemleak reports an object only once it is 5 s old: wait that long after the last
	# unload, whose objects are the youngest that can leak.
	sleep 6
	echo scan >"$dbg/kmemleak"
	cat "$dbg/kmemleak" >"$out/kmemleak.txt"
fi

# A consumer that leaks a cache (tests/leak): once it is gone, the cache it leaked must
# keep pcpu_array.ko loaded (rmmod refused, "in use"), with no WARN. After the kmemleak
# scan, since the leak is deliberate; the splat scan still covers it.
if [ -n "$leak_ko" ]; then
	[ -f /sys/module/kunit/parameters/filter_glob ] &&
		printf %s pcpu_array_leak >/sys/module/kunit/parameters/filter_glob
	pcpu_array_ko=${leak_ko%/tests/leak/*}/pcpu_array.ko
	if insmod "$pcpu_array_ko" 2>>"$out/guest.log" && insmod "$leak_ko" 2>>"$out/guest.log"; then
		[ -f "$dbg/kunit/pcpu_array_leak/results" ] &&
			cp "$dbg/kunit/pcpu_array_leak/results" "$out/ktap-pcpu_array_leak"
		# kmemleak must track the object it leaked: `dump=` fails for an unknown one.
		if [ -f "$dbg/kmemleak" ]; then
			obj=$(cat "$dbg/pcpu_array_leak/object" 2>/dev/null)
			if [ -n "$obj" ] && [ "$obj" != 0x0000000000000000 ] &&
				echo "dump=$obj" >"$dbg/kmemleak" 2>>"$out/guest.log"; then
				log "leak check: kmemleak tracks the object leaked through pcpu_array_alloc()"
			else
				log "leak check: kmemleak does not know the object at ${obj:-?}"
				echo "kmemleak does not track a pcpu_array object" >>"$out/leak-failed"
			fi
		fi
		unload pcpu_array_leak
		if msg=$(rmmod pcpu_array 2>&1); then
			log "leak check: rmmod pcpu_array succeeded with a leaked cache alive"
			echo "rmmod succeeded" >"$out/leak-failed"
		else
			case "$msg" in
			*"in use"* | *busy* | *"temporarily unavailable"*)
				log "leak check: rmmod pcpu_array refused while a leaked cache lives: $msg" ;;
			*)
				log "leak check: rmmod pcpu_array failed unexpectedly: $msg"
				echo "$msg" >"$out/leak-failed" ;;
			esac
		fi
	else
		log "leak check: insmod failed"
		echo "insmod failed" >"$out/leak-failed"
	fi
fi
dmesg >"$out/dmesg.txt"
log "guest.sh $mode done"
echo "done" >"$out/done"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the guest, called by scripts/guest.sh (MODE test) while
# tests/memcg/pcpu_array_memcg.ko is loaded. Usage: guest-memcg.sh OUTDIR
#
# memcg charging from cgroup v2 (issue 12): for each cache of the module, the plain
# SLAB_ACCOUNT kmem_cache (the control: what the kernel does) and then the pcpu_array
# cache, with fresh cgroups A, B, C and D, every writer a new shell pinned to CPU 0 that
# joins its cgroup and writes one command into /sys/kernel/debug/pcpu_array_memcg/<cache>:
#
#   cross_cgroup_charge  A does "fill 32" (behind pcpu_array the 32 objects stay in CPU 0's
#                        array), then B "take 16": B's slab_unreclaimable (memory.stat)
#                        must grow by at least 16 * 4096 bytes;
#   uncharge_on_free     B "put": it must drop by as much again, back to within a page of
#                        where it was before the take;
#   memory_max           C, fresh, gets memory.max = memory.current + 64 KiB: "take 4"
#                        must succeed and "take 32" (128 KiB more) fail with ENOMEM. A
#                        fresh cgroup, because B's per-CPU charge stock may hold up to 64
#                        pages charged ahead, which a take would consume unseen.
#
# The results go to OUTDIR/ktap-pcpu_array_memcg, a KTAP document shaped like a KUnit
# suite's debugfs results, which scripts/vm.sh counts with the suites' cases. Without a
# memory controller every case is skipped.
#
# Two delays of the kernel's statistics are waited out. A CPU keeps up to a page or so of
# slab bytes per cgroup in its object stock before they reach the cgroup's counters: a
# process of cgroup D makes an accounted allocation (a file opened) on CPU 0 after each
# command, which flushes B's bytes. The counters reach memory.stat by a flush every 2 s:
# the reader polls (up to 10 s) until the value is where the case wants it.

out=$1
ctl_dir=/sys/kernel/debug/pcpu_array_memcg
suite=pcpu_array_memcg
ktap=$out/ktap-$suite
obj=4096

# pinned SCRIPT ARGS...: a new shell on CPU 0 that runs SCRIPT. busybox (static) when
# there: under TCG each exec of a dynamically linked tool costs about half a second.
if [ -x /bin/busybox ]; then
	pinned() { /bin/busybox taskset 1 /bin/busybox sh -c "$@"; }
	sleep() { /bin/busybox sleep "$@"; }
else
	pinned() { taskset 1 sh -c "$@"; }
fi

log() {
	read -r up _ </proc/uptime
	echo "guest: [$up] memcg: $*" >>"$out/guest.log"
}

cases="cross_cgroup_charge uncharge_on_free memory_max"
ncases=0
results=""
failed=0
# result OK|FAIL|SKIP NAME MESSAGE: one case's KTAP lines.
result() {
	ncases=$((ncases + 1))
	line="    # $2: $3"
	case "$1" in
	OK) line="$line
    ok $ncases $2" ;;
	SKIP) line="$line
    ok $ncases $2 # SKIP $3" ;;
	*) line="$line
    not ok $ncases $2"
		failed=$((failed + 1)) ;;
	esac
	results="$results$line
"
	log "$1 $2: $3"
}

write_ktap() {
	{
		echo "KTAP version 1"
		echo "1..1"
		echo "    KTAP version 1"
		echo "    # Subtest: $suite"
		echo "    1..$ncases"
		printf %s "$results"
		if [ "$failed" -eq 0 ]; then echo "ok 1 $suite"; else echo "not ok 1 $suite"; fi
	} >"$ktap"
}

# all_cases OK|FAIL|SKIP MESSAGE: every case of both caches ends so, and the script with them.
all_cases() {
	for m in plain pcpu_array; do
		for c in $cases; do
			result "$1" "${m}_$c" "$2"
		done
	done
	result "$1" reserved_charge "$2"
	write_ktap
	exit 0
}

[ -d "$ctl_dir" ] || all_cases FAIL "no $ctl_dir"

# cgroup v2, mounted where it is, else on /sys/fs/cgroup.
cg=""
while read -r _ dir type _; do
	[ "$type" = cgroup2 ] && cg=$dir
done </proc/mounts
if [ -z "$cg" ]; then
	cg=/sys/fs/cgroup
	mount -t cgroup2 none "$cg" 2>>"$out/guest.log" || all_cases FAIL "cannot mount cgroup2 on $cg"
fi
read -r controllers <"$cg/cgroup.controllers"
case " $controllers " in
*" memory "*) ;;
*) all_cases SKIP "no memory controller in this kernel" ;;
esac
echo +memory >"$cg/cgroup.subtree_control" 2>>"$out/guest.log" ||
	all_cases FAIL "cannot enable +memory in $cg/cgroup.subtree_control"
log "cgroup2 on $cg, memory controller on"

# run_in CGROUP COMMAND FILE: a new shell, pinned to CPU 0, joins CGROUP and writes COMMAND
# into FILE; its status is the write's.
run_in() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	pinned 'echo $$ >"$1/cgroup.procs" && echo "$2" >"$3"' sh "$@" 2>>"$out/guest.log"
}

# drain CGROUP: an accounted allocation on CPU 0 by a process of CGROUP (a file opened),
# which makes CPU 0's object stock flush the slab bytes it holds for the others.
drain() {
	# shellcheck disable=SC2016
	pinned 'echo $$ >"$1/cgroup.procs" && read -r _ _ </proc/uptime' sh "$1"
}

# slab CGROUP: $val = its slab_unreclaimable in bytes.
slab() {
	val=0
	while read -r k v; do
		[ "$k" = slab_unreclaimable ] && val=$v
	done <"$1/memory.stat"
}

# wait_slab CGROUP MIN MAX: poll until MIN <= slab_unreclaimable <= MAX, for up to 10 s;
# $val is the last value read, the status says whether it got there.
wait_slab() {
	i=0
	while :; do
		slab "$1"
		[ "$val" -ge "$2" ] && [ "$val" -le "$3" ] && return 0
		[ "$i" -ge 10 ] && return 1
		i=$((i + 1))
		sleep 1
	done
}

# on_cpu0 FILE: whether the last command on FILE ran on CPU 0 (the module says).
on_cpu0() {
	read -r where _ <"$1"
	[ "$where" = cpu=0 ]
}

big=999999999999
for m in plain pcpu_array; do
	ctl=$ctl_dir/$m
	pfx=$cg/pcpu_array_memcg-$m
	made=1
	for g in A B C D; do
		rmdir "$pfx-$g" 2>/dev/null
		mkdir "$pfx-$g" 2>>"$out/guest.log" || made=0
	done
	if [ "$made" -eq 0 ]; then
		for c in $cases; do
			result FAIL "${m}_$c" "cannot create the cgroups $pfx-A..D"
		done
		continue
	fi

	# cross_cgroup_charge and uncharge_on_free.
	slab "$pfx-B"
	before=$val
	if ! run_in "$pfx-A" "fill 32" "$ctl" || ! on_cpu0 "$ctl"; then
		result FAIL "${m}_cross_cgroup_charge" "A's fill 32 failed or did not run on CPU 0"
		result FAIL "${m}_uncharge_on_free" "A's fill 32 failed or did not run on CPU 0"
	elif ! run_in "$pfx-B" "take 16" "$ctl" || ! on_cpu0 "$ctl"; then
		result FAIL "${m}_cross_cgroup_charge" "B's take 16 failed or did not run on CPU 0"
		result FAIL "${m}_uncharge_on_free" "B's take 16 failed"
	else
		drain "$pfx-D"
		want=$((before + 16 * obj))
		if wait_slab "$pfx-B" "$want" "$big"; then
			result OK "${m}_cross_cgroup_charge" \
				"B's slab_unreclaimable $before -> $val bytes after take 16 (+$((val - before)), at least +$((16 * obj)))"
		else
			result FAIL "${m}_cross_cgroup_charge" \
				"B's slab_unreclaimable $before -> $val bytes after take 16 (+$((val - before)), at least +$((16 * obj)) expected)"
		fi
		taken=$val
		if run_in "$pfx-B" put "$ctl"; then
			drain "$pfx-D"
			# Down by 16 objects at least, and back to within a page of the start.
			hi=$((taken - 16 * obj))
			[ "$hi" -gt $((before + obj)) ] && hi=$((before + obj))
			if wait_slab "$pfx-B" 0 "$hi"; then
				result OK "${m}_uncharge_on_free" \
					"B's slab_unreclaimable $taken -> $val bytes after put ($((val - taken)); at most $hi expected)"
			else
				result FAIL "${m}_uncharge_on_free" \
					"B's slab_unreclaimable $taken -> $val bytes after put ($((val - taken)); at most $hi expected)"
			fi
		else
			result FAIL "${m}_uncharge_on_free" "B's put failed"
		fi
	fi
	slab "$pfx-A"
	log "$m: A's slab_unreclaimable is $val bytes after its fill 32 (every object freed)"

	# memory_max, in the fresh cgroup C.
	read -r cur <"$pfx-C/memory.current"
	limit=$((cur + 65536))
	if ! echo "$limit" >"$pfx-C/memory.max"; then
		result FAIL "${m}_memory_max" "cannot set memory.max"
	elif ! run_in "$pfx-C" "take 4" "$ctl"; then
		result FAIL "${m}_memory_max" "take 4 failed under memory.max = $cur + 65536"
	elif run_in "$pfx-C" "take 32" "$ctl"; then
		read -r cur <"$pfx-C/memory.current"
		result FAIL "${m}_memory_max" \
			"take 4 then take 32 (36 objects of $obj bytes) succeeded under memory.max $limit; memory.current $cur"
	else
		read -r cur <"$pfx-C/memory.current"
		result OK "${m}_memory_max" \
			"take 4 succeeded, take 32 failed (ENOMEM) under memory.max $limit; memory.current $cur"
	fi
	run_in "$pfx-C" put "$ctl" || log "$m: C's put failed"

	for g in A B C D; do
		rmdir "$pfx-$g" 2>>"$out/guest.log"
	done
done

# reserved_charge: a cache without SLAB_ACCOUNT; A reserves 16 objects (charged to no
# one), B takes them with GFP_KERNEL_ACCOUNT: each is charged to B as it is taken, and
# uncharged when B's put frees it.
ctl=$ctl_dir/reserved
pfx=$cg/pcpu_array_memcg-reserved
rmdir "$pfx-A" "$pfx-B" 2>/dev/null
if ! mkdir "$pfx-A" "$pfx-B" 2>>"$out/guest.log"; then
	result FAIL reserved_charge "cannot create the cgroups $pfx-A, $pfx-B"
elif ! run_in "$pfx-A" "reserve 16" "$ctl"; then
	result FAIL reserved_charge "A's reserve 16 failed"
else
	slab "$pfx-B"
	before=$val
	if ! run_in "$pfx-B" "take 16" "$ctl"; then
		result FAIL reserved_charge "B's take 16 failed"
	else
		drain "$pfx-A"
		want=$((before + 16 * obj))
		if wait_slab "$pfx-B" "$want" "$big"; then
			result OK reserved_charge \
				"B's slab_unreclaimable $before -> $val bytes after taking 16 reserved objects (at least +$((16 * obj)))"
		else
			result FAIL reserved_charge \
				"B's slab_unreclaimable $before -> $val bytes after taking 16 reserved objects (at least +$((16 * obj)) expected)"
		fi
	fi
fi
run_in "$pfx-B" put "$ctl" || log "reserved: B's put failed"
rmdir "$pfx-A" "$pfx-B" 2>>"$out/guest.log"
write_ktap

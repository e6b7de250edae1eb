# SPDX-License-Identifier: GPL-2.0
#
# pcpu_array: a per-CPU array cache of objects in front of a slab cache.
#
#   make test    install what is missing, build the debug test kernel (cached outside
#                the repo), lint, build the modules, boot them under virtme-ng and run
#                their KUnit suites. Last line: "N passed, N failed".
#   make run     boot, load pcpu_array.ko and the demos of samples/, print their statistics,
#                unload.
#   make lint    rustfmt check, CLIPPY=1 build, checkpatch on the C files.
#   make policy-test  cargo test of the depot policy (rust/policy/depot.rs) in user space, in
#                seconds and without a kernel; `make test` runs it first.
#   make kdir    print the test kernel build in use (FLAVOR=debug|perf|rt|distro), building
#                it when needed (distro: Debian's own config, built with GCC).
#   make selftest  prove that the harness reports a failing KUnit case.
#   make bench   allocation benchmarks on the perf kernel (icount, then MTTCG); results in
#                bench/results/<kernel>-<date>.{json,md} and PNG plots. FLAVOR=distro: on
#                Debian's config built with GCC, results in <kernel>-<date>-debian-gcc.
#   make stress  the stress suite alone for STRESS_MS milliseconds (default 60000); `make
#                test` runs it for 5 s.
#   make rust-analyzer  write rust-project.json for the module, the samples and the tests.
#   make clean   kbuild's clean of every module directory; the kernel cache stays.
#
# KERNEL=7.3 builds and tests on Linux 7.3 (linux-source-7.3) instead of the default 7.2,
# in its own cache directory; every target takes it (scripts/versions.env).
#
# KDIR=/path/to/a/rust-enabled/kernel/build uses that tree instead of the cached one, and
# then nothing is installed: scripts/install-deps.sh runs only without KDIR.
#
# Versions (scripts/versions.env) and PATH are set in scripts/common.sh alone, which every
# script sources; this file reads neither, so that a version given in the environment or on
# the command line (LINUX_SOURCE_VERSION=... make kdir) reaches the scripts unchanged.

FLAVOR ?= debug
SHELL := /bin/bash
top := $(CURDIR)
# When make started, before the installer and the kernel check: `make test` prints a total.
make_start := $(shell date +%s)

# The kernel tree: $(KDIR) when given, else the cached build of $(FLAVOR), built on first
# use. Evaluated only by the recipes that need it.
kdir_cmd = $(if $(KDIR),echo $(KDIR),$(top)/scripts/kernel.sh $(FLAVOR))
build = KDIR="$$kdir" $(top)/scripts/build.sh
# What `make test` loads, in this order (each after the modules it uses), in one boot:
# first these, with no splat allowed (pcpu_array_leak last: scripts/guest.sh runs it after
# the kmemleak scan; pcpu_array_memcg has no suite: scripts/guest-memcg.sh drives it from
# cgroup v2 once every module is loaded); then, after they are unloaded and on a KASAN
# kernel, kasan_modules, whose deliberate misuse KASAN must report (scripts/test.sh, vm.sh).
modules_under_test = $(addprefix $(top)/, \
	pcpu_array.ko \
	pcpu_array_kunit.ko \
	samples/c/pcpu_array_c_abi.ko \
	samples/rust/pcpu_array_range_map.ko \
	tests/stress/pcpu_array_stress.ko \
	tests/memcg/pcpu_array_memcg.ko \
	tests/leak/pcpu_array_leak.ko)
kasan_modules = $(addprefix $(top)/, \
	pcpu_array.ko \
	tests/kasan/pcpu_array_kasan.ko)
STRESS_MS ?= 60000

.PHONY: all deps kdir modules lint policy-test test run stress selftest bench bench-locks \
	rust-analyzer clean

all: modules

# Every target that needs tools depends on this. With KDIR the user brings the kernel and
# the toolchain that built it: the apt installer is not run at all.
deps:
ifeq ($(KDIR),)
	@FLAVOR=$(FLAVOR) $(top)/scripts/install-deps.sh
else ifneq ($(filter deps,$(MAKECMDGOALS)),)
	@echo "make deps: KDIR is set: scripts/install-deps.sh not run"
endif

kdir: deps
	@$(kdir_cmd)

modules: deps
	@kdir=$$($(kdir_cmd)) && $(build)

lint: deps
	@kdir=$$($(kdir_cmd)) && KDIR="$$kdir" $(top)/scripts/lint.sh

# The depot policy's user-space tests: cargo only, so no deps and no kernel.
policy-test:
	@$(top)/scripts/policy-test.sh

# The debug kernel compiles the consumers' inline hit paths out: the default `make test` also
# boots the perf kernel (built on first use), where they are compiled (scripts/inline-test.sh).
# Not with KDIR (the user's kernel) or another flavour (perf and distro compile them in the
# main boot; PREEMPT_RT never does).
inline_kdir_cmd = $(if $(KDIR),true,$(if $(filter debug,$(FLAVOR)),$(top)/scripts/kernel.sh perf,true))

# The policy tests, then lint, build and boot, with each phase's time (scripts/test.sh); the
# total counts from here.
test: deps
	@kdir=$$($(kdir_cmd)) && inline_kdir=$$($(inline_kdir_cmd)) && \
	MAKE_TEST_START=$(make_start) KDIR="$$kdir" KASAN_MODULES="$(kasan_modules)" \
		INLINE_KDIR="$$inline_kdir" $(top)/scripts/test.sh $(modules_under_test)

# The stress suite alone, long.
stress: deps
	@kdir=$$($(kdir_cmd)) && $(build) && \
	KDIR="$$kdir" STRESS_MS=$(STRESS_MS) KUNIT_FILTER='pcpu_array_stress' \
		$(top)/scripts/vm.sh test $(top)/pcpu_array.ko $(top)/tests/stress/pcpu_array_stress.ko

run: deps
	@kdir=$$($(kdir_cmd)) && $(build) && \
	KDIR="$$kdir" $(top)/scripts/vm.sh run $(top)/pcpu_array.ko \
		$(top)/samples/rust/pcpu_array_demo.ko $(top)/samples/rust/pcpu_array_range_map.ko

# The allocation benchmarks on the perf kernel: pcpu_array against SLUB sheaves; with
# FLAVOR=distro, on Debian's configuration built with GCC instead.
bench_flavor = $(if $(filter distro,$(FLAVOR)),distro,perf)
bench: deps
	@kdir=$$($(if $(KDIR),echo $(KDIR),$(top)/scripts/kernel.sh $(bench_flavor))) && \
	KDIR="$$kdir" $(top)/scripts/bench.sh

# The lock micro-benchmark on the perf kernel, with guest time counting instructions.
bench-locks: deps
	@kdir=$$(FLAVOR=perf; $(if $(KDIR),echo $(KDIR),$(top)/scripts/kernel.sh perf)) && \
	KDIR="$$kdir" $(top)/scripts/build.sh && mkdir -p $(top)/bench/results && \
	out=$(top)/bench/results/locks-$$(basename "$$kdir" | cut -d- -f1)-$$(date +%F).txt && \
	KDIR="$$kdir" VM_QEMU_OPTS="-icount shift=0,align=off,sleep=off" SAVE_BENCH="$$out" \
		KUNIT_FILTER=none $(top)/scripts/vm.sh bench-locks $(top)/pcpu_array_kunit.ko && \
		echo "written: $$out"

selftest: deps
	@kdir=$$($(kdir_cmd)) && KDIR="$$kdir" $(top)/tests/selftest/run.sh

# rust-project.json for rust-analyzer, from the kernel's own rust-analyzer target.
rust-analyzer: deps
	@kdir=$$($(kdir_cmd)) && KDIR="$$kdir" $(top)/scripts/rust-analyzer.sh

# kbuild's clean of each module directory; the kernel cache outside the repo stays. Builds
# nothing and installs nothing: without a kernel build it says so and removes nothing.
clean:
	@KDIR="$(KDIR)" FLAVOR="$(FLAVOR)" $(top)/scripts/clean.sh

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/kernel.sh [-n] FLAVOR: print the path of the test kernel build for FLAVOR
# (debug, perf, rt or distro), building it first when the cache does not have it. With -n,
# print the path that it would use and build nothing (exit 0 whether or not it is built;
# stderr says which).
#
# The build lives outside the repository, in
#   $PCPU_ARRAY_CACHE/kernel/<kernel version>-<flavor>-<config hash>
# (PCPU_ARRAY_CACHE defaults to ~/.cache/pcpu_array). The hash covers every
# input of the build: the source package version, the config fragments, the
# compilers and virtme-ng's base config, so a change to any of them builds a
# new tree and an unchanged checkout reuses the old one. All progress goes to
# stderr; stdout is the path alone.
#
# debug, perf and rt: clang (LLVM=1), virtme-ng's defconfig plus the fragments of
# kconfig/. distro: Debian's own config of the kernel (the headers package's .config,
# unpacked by install-deps.sh) plus kconfig/distro-deviations.config, built with GCC as
# Debian builds it; the image and what external modules need, not Debian's modules. Its
# hash covers the headers package and version instead of virtme-ng's config, and GCC
# and binutils besides.

set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

dry_run=0
[ "${1:-}" = -n ] && { dry_run=1; shift; }
flavor=${1:-debug}
case "$flavor" in
debug) fragments="base.config debug.config" ;;
perf) fragments="base.config perf.config" ;;
rt) fragments="base.config debug.config rt.config" ;;
distro) fragments="distro-deviations.config" ;;
*) echo "kernel.sh: unknown flavour '$flavor' (debug, perf, rt, distro)" >&2; exit 2 ;;
esac

say() { echo "kernel.sh: $*" >&2; }

cache=${PCPU_ARRAY_CACHE:-$HOME/.cache/pcpu_array}
tarball=/usr/src/linux-source-$LINUX_SERIES.tar.xz
src=$cache/src/linux-source-$LINUX_SOURCE_VERSION

key=$({
	echo "linux-source $LINUX_SOURCE_VERSION"
	rustc --version
	bindgen --version
	clang --version | head -n 1
	if [ "$flavor" = distro ]; then
		echo "config $DISTRO_HEADERS_PACKAGE $DISTRO_HEADERS_VERSION"
		gcc --version | head -n 1
		ld --version | head -n 1
	else
		virtme-configkernel --dry-run --defconfig 2>/dev/null
	fi
	for f in $fragments; do
		echo "== $f"
		cat "$top/kconfig/$f"
	done
} | sha256sum | cut -c 1-12)

kver=${LINUX_SOURCE_VERSION%%-*}
out=$cache/kernel/$kver-$flavor-$key

if [ -f "$out/.pcpu-array-build-ok" ]; then
	echo "$out"
	exit 0
fi
if [ "$dry_run" -eq 1 ]; then
	say "not built yet: $out"
	echo "$out"
	exit 0
fi

mkdir -p "$cache/kernel" "$cache/src"
# One build at a time per cache: a second caller waits for the first.
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/.pcpu-array-build-ok" ]; then
	echo "$out"
	exit 0
fi

if [ ! -f "$src/.pcpu-array-extracted" ]; then
	[ -f "$tarball" ] || { say "$tarball missing: run scripts/install-deps.sh"; exit 1; }
	say "extracting $tarball into $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xJf "$tarball" -C "$src.tmp" --strip-components=1
	mv "$src.tmp" "$src"
	touch "$src/.pcpu-array-extracted"
fi

say "configuring $flavor kernel in $out"
mkdir -p "$out"
if [ "$flavor" = distro ]; then
	# GCC, the machine's own `gcc`: external modules are then built with the compiler
	# that built the kernel without naming it (kbuild's default CC is gcc).
	make_args=(-C "$src" O="$out")
	[ -f "$distro_config" ] ||
		{ say "$distro_config missing: run FLAVOR=distro scripts/install-deps.sh"; exit 1; }
	cp "$distro_config" "$out/.config"
else
	make_args=(-C "$src" O="$out" LLVM=1)
	args=()
	for f in $fragments; do
		args+=(--custom "$top/kconfig/$f")
	done
	(cd "$src" && virtme-configkernel --defconfig "${args[@]}" LLVM=1 O="$out") >&2
fi
# virtme-ng appends its own generic options after the fragments (debug info
# among them); apply the fragments once more so that ours win. For distro, this puts
# the deviations after Debian's lines, where the later assignment wins.
for f in $fragments; do
	cat "$top/kconfig/$f"
done >>"$out/.config"
make "${make_args[@]}" olddefconfig >&2

# Every option we asked for must have survived olddefconfig; a dependency that
# silently turned one off would give a kernel that tests less than it claims.
missing=0
for f in $fragments; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n) opt=${line%=n}
			grep -q "^$opt=" "$out/.config" && { say "$opt is set, asked off"; missing=1; } ;;
		"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt% is not set}
			grep -q "^$opt=" "$out/.config" && { say "$opt is set, asked off"; missing=1; } ;;
		CONFIG_*=*) grep -qxF "$line" "$out/.config" || { say "$line did not stick"; missing=1; } ;;
		esac
	done <"$top/kconfig/$f"
done
if [ "$missing" -ne 0 ]; then
	make "${make_args[@]}" rustavailable >&2 || true
	exit 1
fi

targets=(bzImage modules)
if [ "$flavor" = distro ]; then
	# Every difference between Debian's config and the one built, for the record
	# (kconfig/distro-olddefconfig.txt explains them): the deviations asked for, and
	# what olddefconfig changed for this machine's toolchain.
	diff <(grep -E '^(CONFIG_|# CONFIG_)' "$distro_config" | sort) \
		<(grep -E '^(CONFIG_|# CONFIG_)' "$out/.config" | sort) >"$out/distro-config.diff" || true
	say "$(grep -c '^[<>]' "$out/distro-config.diff") lines differ from Debian's config: $out/distro-config.diff"
	# The image and what external modules need, not Debian's thousands of modules;
	# modpost then wrote vmlinux.symvers, which is all of Module.symvers without them.
	targets=(bzImage modules_prepare)
fi

say "building $flavor kernel ($(nproc) jobs), this takes 20 minutes or more"
start=$(date +%s)
make "${make_args[@]}" -j"$(nproc)" "${targets[@]}" >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	say "kernel build failed, log in $out/build.log"
	exit 1
}
[ "$flavor" = distro ] && cp "$out/vmlinux.symvers" "$out/Module.symvers"
# The tools/testing/kunit parser and the helper scripts come from the source tree.
ln -sfn "$src" "$out/source-tree"
echo "$(($(date +%s) - start))" >"$out/.pcpu-array-build-seconds"
touch "$out/.pcpu-array-build-ok"
say "built in $(($(date +%s) - start)) s"
echo "$out"

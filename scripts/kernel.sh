#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/kernel.sh [-n] FLAVOR: print the path of the test kernel build for FLAVOR
# (debug, perf or rt), building it first when the cache does not have it. With -n,
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
*) echo "kernel.sh: unknown flavour '$flavor' (debug, perf, rt)" >&2; exit 2 ;;
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
	virtme-configkernel --dry-run --defconfig 2>/dev/null
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

make_args=(-C "$src" O="$out" LLVM=1)

say "configuring $flavor kernel in $out"
mkdir -p "$out"
args=()
for f in $fragments; do
	args+=(--custom "$top/kconfig/$f")
done
(cd "$src" && virtme-configkernel --defconfig "${args[@]}" LLVM=1 O="$out") >&2
# virtme-ng appends its own generic options after the fragments (debug info
# among them); apply the fragments once more so that ours win.
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
		CONFIG_*=*) grep -qxF "$line" "$out/.config" || { say "$line did not stick"; missing=1; } ;;
		esac
	done <"$top/kconfig/$f"
done
if [ "$missing" -ne 0 ]; then
	make "${make_args[@]}" rustavailable >&2 || true
	exit 1
fi

say "building $flavor kernel ($(nproc) jobs), this takes about 20 minutes"
start=$(date +%s)
make "${make_args[@]}" -j"$(nproc)" bzImage modules >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	say "kernel build failed, log in $out/build.log"
	exit 1
}
# The tools/testing/kunit parser and the helper scripts come from the source tree.
ln -sfn "$src" "$out/source-tree"
echo "$(($(date +%s) - start))" >"$out/.pcpu-array-build-seconds"
touch "$out/.pcpu-array-build-ok"
say "built in $(($(date +%s) - start)) s"
echo "$out"

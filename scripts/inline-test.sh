#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/inline-test.sh: the inline boot of `make test`. The debug kernel compiles the
# consumers' inline hit paths out (its checkers instrument what they inline), so every
# `make test` also builds the tree against the perf kernel (INLINE_KDIR: clang, no debug
# option, the inline paths compiled in, see fast_path.mk and PCPU_ARRAY_INLINE_HIT of
# include/pcpu_array.h) and boots it with the consumers that use them: the C sample
# (every entry point, pcpu_array_alloc_inline()/pcpu_array_free_inline() included) and
# the range map (the Rust binding's inline hit). Same rules as any boot of vm.sh: the
# cases must pass, some must run, no splat; last line "N passed, N failed".
#
# The build happens in a copy of the tracked tree under the cache
# ($PCPU_ARRAY_CACHE/inline-build), kept between runs so that a warm run rebuilds only what
# changed, and never touches the debug build of the tree itself.

set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
kdir=${INLINE_KDIR:?INLINE_KDIR must name the perf kernel build}

base=${PCPU_ARRAY_CACHE:-$HOME/.cache/pcpu_array}
copy=$base/inline-build
mkdir -p "$copy"
# The tracked files as they are in the working tree; --checksum so that a file whose
# content did not change keeps its build products.
(cd "$top" && git ls-files -z --cached --others --exclude-standard) |
	rsync -a --checksum --from0 --files-from=- "$top/" "$copy/"

if ! grep -q 'pcpu_array_inline_hit' <(make -s -C "$copy" -f - print <<<"include $kdir/.config
include $copy/fast_path.mk
print: ; @echo \$(if \$(pcpu_array_inline_hit),pcpu_array_inline_hit)"); then
	echo "inline-test.sh: FAIL: $kdir does not compile the inline hit paths"
	echo "0 passed, 1 failed"
	exit 1
fi

# With clippy, as `make lint` builds: its lints on the inline paths run only here.
if ! KDIR="$kdir" "$copy/scripts/build.sh" CLIPPY=1 >"$copy/build.log" 2>&1; then
	cat "$copy/build.log"
	echo "inline-test.sh: FAIL: build against $kdir"
	echo "0 passed, 1 failed"
	exit 1
fi

# The KASAN phase belongs to the debug boot: `make test` passes its module list in the
# environment, which must not reach this guest.
env -u KASAN_MODULES -u KASAN_FILTER -u EXPECT_KASAN \
	KDIR="$kdir" VM_CPUS=2 "$copy/scripts/vm.sh" test "$copy/pcpu_array.ko" \
	"$copy/samples/c/pcpu_array_c_abi.ko" "$copy/samples/rust/pcpu_array_range_map.ko"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/lint.sh: rustfmt (the kernel's .rustfmt.toml), a CLIPPY=1 build that must
# print no warning, and checkpatch on the C files. KDIR names the kernel build.

set -uo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
here=$top/scripts
kdir=${KDIR:?KDIR must name the kernel build}
src=$kdir/source-tree
[ -d "$src" ] || src=$kdir

fail=0
cd "$top" || exit 1
mapfile -t rs < <(git ls-files '*.rs' 2>/dev/null || find . -name '*.rs')
mapfile -t cfiles < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]')

echo "lint: rustfmt --check (${#rs[@]} files)"
if ! rustfmt --check --edition 2021 --config-path "$src/.rustfmt.toml" "${rs[@]}"; then
	echo "lint: FAIL: rustfmt; run: rustfmt --edition 2021 --config-path $src/.rustfmt.toml <files>"
	fail=1
fi

echo "lint: CLIPPY=1 build"
log=$(mktemp)
# The command line differs from a plain build's, so Kbuild recompiles every crate.
if ! KDIR="$kdir" "$here/build.sh" CLIPPY=1 >"$log" 2>&1; then
	cat "$log"
	echo "lint: FAIL: CLIPPY=1 build"
	fail=1
elif grep -qE '(^|: )(warning|error)(\[|:)' "$log"; then
	grep -E -A 12 '(^|: )(warning|error)(\[|:)' "$log"
	echo "lint: FAIL: clippy or rustc warnings"
	fail=1
fi
rm -f "$log"

echo "lint: checkpatch (${#cfiles[@]} files)"
for f in "${cfiles[@]}"; do
	ignore=()
	# The exports of functions defined in Rust cannot follow their definition.
	[ "$f" = rust/pcpu_array_exports.c ] && ignore=(--ignore EXPORT_SYMBOL)
	if ! "$src/scripts/checkpatch.pl" --no-tree --quiet --show-types "${ignore[@]}" -f "$f"; then
		echo "lint: FAIL: checkpatch $f"
		fail=1
	fi
done

[ "$fail" -eq 0 ] && echo "lint: clean"
exit "$fail"

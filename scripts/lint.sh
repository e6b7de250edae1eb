#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/lint.sh: rustfmt (the kernel's .rustfmt.toml), a CLIPPY=1 build that must
# print no warning, checkpatch on the C files, and the documentation's names
# (scripts/doc_names.py: every Rust or C name the documents quote exists), and the
# layers of rust/ (scripts/layers.py: imports only go down). KDIR names
# the kernel build.

set -uo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
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
# In a copy of the tree, not in the tree: clippy-driver is not the compiler of the modules
# that are tested (it turns MIR optimisations and the debug build's alignment and null
# checks off), and a CLIPPY=1 build in place would have Kbuild recompile every crate twice
# per `make test`, once for clippy and once back. Kbuild's MO= cannot help: it refuses a
# source tree that has been built in. The copy holds what git knows (tracked files and
# new ones not ignored), or everything outside a git checkout. The copy is fresh each
# time, so clippy sees every crate, and its messages name the tree's files.
copy=$(mktemp -d /tmp/pcpu_array-clippy.XXXXXX)
log=$copy.log
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z -co --exclude-standard |
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$copy" -xf -
else
	cp -a "$top/." "$copy"
fi
if ! KDIR="$kdir" "$copy/scripts/build.sh" CLIPPY=1 2>&1 | sed "s|$copy/|$top/|g" >"$log"; then
	cat "$log"
	echo "lint: FAIL: CLIPPY=1 build"
	fail=1
elif grep -vE ': warning: objtool: ' "$log" | grep -qE '(^|: )(warning|error)(\[|:)'; then
	grep -vE ': warning: objtool: ' "$log" | grep -E -A 12 '(^|: )(warning|error)(\[|:)'
	echo "lint: FAIL: clippy or rustc warnings"
	fail=1
fi
# objtool checks the objects clippy-driver wrote, which are not the ones tested: without
# MIR optimisations a function of core's can end in a call to a panic that objtool's list
# of Rust noreturn functions lacks (e.g. core's smallsort::panic_on_ord_violation on the
# distro kernel, with overflow checks and no debug assertions: "falls through to next
# function"). Shown, not failed; the build of the tested objects runs objtool too.
grep -E ': warning: objtool: ' "$log" | sed 's/^/lint: note (CLIPPY=1 objects only): /'

rm -rf "$copy" "$log"

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

echo "lint: layers (rust/README)"
if ! python3 "$top/scripts/layers.py" "$top/rust"; then
	echo "lint: FAIL: a layer of rust/ uses one that is not below it"
	fail=1
fi

docs=(README.md Documentation/*.rst Documentation/*.md)
echo "lint: documented names (${#docs[@]} documents)"
if ! python3 "$top/scripts/doc_names.py" "$kdir" "${docs[@]}"; then
	echo "lint: FAIL: the documents name what the sources do not have"
	fail=1
fi

[ "$fail" -eq 0 ] && echo "lint: clean"
exit "$fail"

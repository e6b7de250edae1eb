#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/consumer_example.sh: build the example module of Documentation/pcpu_array.rst
# ("Using pcpu_array from your Rust module") as a reader would, so that the
# instructions cannot rot: the files of the section's literal blocks introduced by
# ``FILE``:: go into a new directory outside this tree, the section's "$ make" lines
# run there word for word, with KDIR and PCPU_ARRAY (this tree, whose pcpu_array.ko
# must be built) set, and the module must have no `unsafe`. Prints the path of the
# module built, last; the caller removes its directory. KDIR names the kernel build.

set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
KDIR=${KDIR:?KDIR must name the kernel build}
PCPU_ARRAY=$top
export KDIR PCPU_ARRAY

doc=$top/Documentation/pcpu_array.rst
section="Using pcpu_array from your Rust module"
# Outside the tree, where the test guest can read the module (its /tmp is its own).
base=${PCPU_ARRAY_CACHE:-$HOME/.cache/pcpu_array}
mkdir -p "$base"
dir=$(mktemp -d "$base/consumer-example.XXXXXX")
fail() {
	echo "consumer_example.sh: FAIL: $*" >&2
	rm -rf "$dir"
	exit 1
}

# Writes the section's files into $dir and prints its command lines, one per line.
python3 - "$doc" "$section" "$dir" >"$dir/commands" <<'PY' || fail "cannot extract the example from $doc"
import os
import re
import sys

doc, section, out = sys.argv[1:]
lines = open(doc, encoding="utf-8").read().split("\n")
try:
    start = lines.index(section) + 2
except ValueError:
    sys.exit(f"no section '{section}'")
end = len(lines)
for i in range(start, len(lines) - 1):
    # The next section of the same level: a title underlined with '='.
    if lines[i] and re.fullmatch(r"=+", lines[i + 1]) and len(lines[i + 1]) >= len(lines[i]):
        end = i
        break

files = 0
i = start
while i < end:
    intro = lines[i]
    if not intro.endswith("::") or intro.lstrip().startswith(".."):
        i += 1
        continue
    # The literal block: the indented lines after the blank line.
    j = i + 1
    while j < end and not lines[j].strip():
        j += 1
    block = []
    while j < end and (not lines[j].strip() or lines[j].startswith("    ")):
        block.append(lines[j][4:])
        j += 1
    while block and not block[-1].strip():
        block.pop()
    name = re.search(r"``([A-Za-z0-9_]+(\.(rs|c|h))?)``::$", intro)
    if name and (name.group(2) or name.group(1) in ("Kbuild", "Makefile")):
        with open(os.path.join(out, name.group(1)), "w", encoding="utf-8") as f:
            f.write("\n".join(block) + "\n")
        files += 1
    else:
        for line in block:
            if line.startswith("$ make "):
                print(line[2:])
    i = j
if files < 2:
    sys.exit(f"only {files} files in '{section}'")
PY

cd "$dir"
rs=$(find . -maxdepth 1 -name '*.rs' -printf '%f\n')
[ -n "$rs" ] || fail "no Rust file in the example"
# shellcheck disable=SC2086 # file names without spaces
! grep -nw unsafe $rs >&2 || fail "the example uses unsafe"
[ -s commands ] || fail "no make line in the example"
echo "consumer_example.sh: building $rs in $dir, as $doc says" >&2
while read -r cmd; do
	echo "consumer_example.sh: \$ $cmd" >&2
	bash -c "$cmd" >&2 || fail "'$cmd' failed in $dir"
done <commands
ko=$(find "$dir" -maxdepth 1 -name '*.ko')
[ "$(echo "$ko" | wc -w)" -eq 1 ] || fail "expected one module in $dir, found: $ko"
echo "$ko"

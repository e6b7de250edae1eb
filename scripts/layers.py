#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# scripts/layers.py [RUST_DIR]: check that rust/ keeps its layers (rust/README). A
# file of a layer folder may use, through `crate::`, only the layers listed before
# its own; only sys/, percpu/ and semantics/ may call the C helpers of sys/ffi.rs
# (`ffi::pcpu_array_*`). KUnit case files (*_tests.rs) may use any layer: they test
# the code next to them through the whole module. Prints each violation; exits 1
# when there is one.

import pathlib
import re
import sys

# Lowest first; folders on one line are one floor and do not use each other.
FLOORS = [["sys"], ["percpu", "semantics", "policy"], ["magazines"], ["reclaim"],
          ["cache"], ["abi", "api"]]
RANK = {layer: i for i, floor in enumerate(FLOORS) for layer in floor}
# Within floor 1, semantics/ may use percpu/ (the pin a slab call needs).
SIDEWAYS = {("semantics", "percpu")}
FFI_ALLOWED = {"sys", "percpu", "semantics"}


def code_of(text):
    """The text without comments."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def crate_layers(code):
    """The first segment of every `crate::` path, braces included."""
    used = set(re.findall(r"crate::([a-z_]+)::", code))
    for group in re.finditer(r"crate::\{", code):
        depth, i, expect = 1, group.end(), True
        while depth and i < len(code):
            m = re.match(r"\s*([a-z_][a-z_0-9]*|[A-Z][A-Za-z_0-9]*|\{|\}|,|::|\*)", code[i:])
            if not m:
                i += 1
                continue
            tok = m.group(1)
            i += m.end()
            if tok == "{":
                depth += 1
                expect = True
            elif tok == "}":
                depth -= 1
            elif tok == ",":
                expect = True
            elif tok == "::":
                continue
            else:
                if depth == 1 and expect:
                    used.add(tok)
                expect = False
    return used


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "rust")
    bad = 0
    for path in sorted(root.glob("*/*.rs")):
        layer = path.parent.name
        if layer not in RANK:
            print(f"layers: {path}: folder {layer}/ is no layer of scripts/layers.py")
            bad += 1
            continue
        if path.name.endswith("_tests.rs"):
            continue
        code = code_of(path.read_text())
        for used in sorted(crate_layers(code) & RANK.keys()):
            if used == layer or (layer, used) in SIDEWAYS:
                continue
            if RANK[used] >= RANK[layer]:
                print(f"layers: {path}: {layer}/ uses {used}/, which is not below it")
                bad += 1
        if layer not in FFI_ALLOWED and re.search(r"\bffi::pcpu_array_", code):
            print(f"layers: {path}: calls sys/ffi.rs; only {', '.join(sorted(FFI_ALLOWED))} may")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

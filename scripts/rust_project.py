#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Add this repository's crates to a rust-project.json made by the kernel.

`make -C KDIR M=DIR rust-analyzer` (scripts/generate_rust_analyzer.py) describes the
kernel's crates, then takes as an external module's crate roots only the .rs files whose
*own* directory has a Makefile or Kbuild naming them. Here the Kbuild files name objects
in subdirectories (`rust/pcpu_array_main.o` in ./Kbuild, `rust/pcpu_array_range_map.o` in
samples/Kbuild), so it finds none of them. This script finds them the way Kbuild does:
a .rs file is a crate root when a Kbuild (or Makefile) in its directory or above names
its path, relative to that Kbuild, with .o for .rs. Each is added as the kernel's
script adds an out-of-tree crate: the same dependencies, the kernel's cfgs, and
RUST_MODFILE in its environment.

Usage: rust_project.py RUST_PROJECT_JSON TOP RS_FILE...
"""

import json
import pathlib
import re
import sys

# The crates generate_rust_analyzer.py gives an out-of-tree crate, those that exist.
DEPS = ["core", "kernel", "pin_init", "zerocopy", "zerocopy_derive"]


def build_files(top: pathlib.Path, path: pathlib.Path):
    """The Kbuild and Makefile files of path's directory and of those above it, up to top."""
    d = path.parent
    while True:
        for name in ("Kbuild", "Makefile"):
            f = d / name
            if f.is_file():
                yield f
        if d == top:
            return
        d = d.parent


def is_root(top: pathlib.Path, path: pathlib.Path) -> bool:
    for f in build_files(top, path):
        obj = path.relative_to(f.parent).with_suffix(".o").as_posix()
        if re.search(r"(^|[\s=])" + re.escape(obj) + r"($|\s)", f.read_text(), re.M):
            return True
    return False


def main() -> int:
    project_file = pathlib.Path(sys.argv[1])
    top = pathlib.Path(sys.argv[2]).resolve()
    project = json.loads(project_file.read_text())
    crates = project["crates"]
    index = {c["display_name"]: i for i, c in enumerate(crates)}
    if "kernel" not in index:
        print(f"rust_project.py: no 'kernel' crate in {project_file}", file=sys.stderr)
        return 1
    deps = [{"crate": index[n], "name": n} for n in DEPS if n in index]
    cfg = crates[index["kernel"]]["cfg"]
    known = {pathlib.Path(c["root_module"]).resolve() for c in crates}

    added = []
    for arg in sys.argv[3:]:
        path = (top / arg).resolve()
        if path in known or not is_root(top, path):
            continue
        crates.append({
            "display_name": path.stem,
            "root_module": str(path),
            "is_workspace_member": True,
            "deps": deps,
            # The test build's crate root is compiled with the cfg that Kbuild gives it.
            "cfg": cfg + (["pcpu_array_kunit"] if path.name == "pcpu_array_kunit.rs" else []),
            "edition": "2021",
            "env": {"RUST_MODFILE": "This is only for rust-analyzer"},
        })
        added.append(path.relative_to(top).as_posix())

    project_file.write_text(json.dumps(project, sort_keys=True, indent=4) + "\n")
    print(f"rust_project.py: {len(added)} crates added: {' '.join(added)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""scripts/doc_names.py KDIR DOC...: every Rust or C name that the documents quote exists.

A name is a ``literal`` of a reStructuredText document (or a `literal` of a Markdown one)
that looks like code: an identifier with an underscore, a capital after a lower-case
letter (CamelCase) or a call's parentheses, or a path of them joined by ``::``
(``Cache::alloc``, ``pcpu_array_alloc()``, ``free_bypass_kfence``). Each part of a
path must exist as a word in the project's sources (rust/, include/, binding/, samples/,
tests/, bench/, scripts/, the make files) or in the kernel's (the source tree of KDIR:
include/, mm/, kernel/, lib/, rust/, arch/x86/include/), whose words are read once and
cached beside the kernel build. Exits 1 listing each name that exists in neither, so that
a renamed or removed item cannot stay in the documentation.
"""

import os
import re
import sys

PROJECT_DIRS = ["rust", "include", "binding", "samples", "tests", "bench", "scripts", "tools/depot-policy/src"]
PROJECT_FILES = ["Makefile", "Kbuild", "consumer.mk", "fast_path.mk", "kernel_version.mk"]
KERNEL_DIRS = ["include", "mm", "kernel", "lib", "rust", "arch/x86/include", "arch/x86/Kconfig",
               "tools/testing/kunit", "scripts", "security", "init"]
SOURCE_SUFFIXES = (".rs", ".c", ".h", ".sh", ".py", ".mk", ".config", "Makefile", "Kbuild", ".S",
                   ".toml", "Kconfig", ".debug", ".hardening")
# Names the documents quote from elsewhere: the 2023 percpu-array patch and later kernels.
ELSEWHERE = "Documentation/doc-names-elsewhere.txt"

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*(<[^>]*>)?(\(\))?$")


def words_of(root, dirs, files=()):
    words = set()
    paths = [os.path.join(root, f) for f in files]
    for d in dirs:
        if os.path.isfile(os.path.join(root, d)):
            paths.append(os.path.join(root, d))
            continue
        for base, subdirs, names in os.walk(os.path.join(root, d)):
            subdirs[:] = [s for s in subdirs if s not in ("target", ".git")]
            paths += [os.path.join(base, n) for n in names if n.endswith(SOURCE_SUFFIXES)]
    for p in paths:
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                words.update(WORD.findall(f.read()))
        except OSError:
            pass
    return words


def kernel_words(kdir):
    cache = os.path.join(kdir, ".pcpu-array-doc-words")
    if os.path.exists(cache):
        with open(cache, encoding="utf-8") as f:
            return set(f.read().split())
    src = os.path.join(kdir, "source-tree")
    if not os.path.isdir(src):
        src = kdir
    words = words_of(src, KERNEL_DIRS)
    tmp = cache + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(words)))
    os.replace(tmp, cache)
    return words


def is_code_name(lit):
    if not NAME.match(lit):
        return False
    bare = re.sub(r"<[^>]*>|\(\)$", "", lit)
    return ("_" in bare or "::" in bare or lit.endswith("()")
            or re.search(r"[a-z][A-Z]", bare) is not None)


def literals(path):
    text = open(path, encoding="utf-8").read()
    if path.endswith(".rst"):
        found = re.findall(r"``([^`]+)``", text)
    else:
        found = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text)
    return [lit.strip() for lit in found]


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    kdir, docs = sys.argv[1], sys.argv[2:]
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    known = words_of(top, PROJECT_DIRS, PROJECT_FILES) | kernel_words(kdir)
    with open(os.path.join(top, ELSEWHERE), encoding="utf-8") as f:
        known |= {line.split()[0] for line in f if line.strip() and not line.startswith("#")}
    missing = []
    for doc in docs:
        for lit in literals(doc):
            if not is_code_name(lit):
                continue
            parts = re.sub(r"<[^>]*>|\(\)$", "", lit).split("::")
            absent = [p for p in parts if p not in known]
            if absent:
                missing.append((os.path.relpath(doc, top), lit, ", ".join(absent)))
    for doc, lit, absent in sorted(set(missing)):
        print(f"doc_names: {doc}: {lit}: no {absent} in the sources")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# scripts/perf_table.py PERF.json [DISTRO.json]: the table that opens
# Documentation/performance.rst, in reStructuredText, from the JSON of `make bench`
# (perf kernel) and, optionally, of `make bench FLAVOR=distro` (Debian's configuration
# built with GCC): instructions per op of the single-CPU icount run, 64 B / 256 B, each
# pcpu_array figure with its ratio to SLUB's sheaves in the same boot.

import json
import sys
import textwrap

ROWS = [
    # (label, scenario, backend)
    ("hot_pair", "hot_pair", "pcpu_array"),
    ("hot_pair, inline", "hot_pair", "pcpu_array_inline"),
    ("batch16", "batch16", "pcpu_array"),
    ("batch64", "batch64", "pcpu_array"),
    ("batch256", "batch256", "pcpu_array"),
    ("batch1024", "batch1024", "pcpu_array"),
    ("handoff512", "handoff512", "pcpu_array"),
    ("maple4", "maple4", "pcpu_array"),
    ("maple4, rsv", "maple4", "pcpu_array_rsv"),
    ("maple16, rsv", "maple16", "pcpu_array_rsv"),
    ("bulk32", "bulk32", "pcpu_array"),
    ("rcu_churn", "rcu_churn", "pcpu_array"),
]


def single(path):
    """The results of the icount run, by (scenario, backend, size)."""
    data = json.load(open(path))
    run = next(r for r in data["runs"] if r["name"] == "single")
    return data, {(r["scenario"], r["backend"], r["size"]): r for r in run["results"]}


def cell(res, scenario, backend):
    """'ours (ratio)' for both sizes, or None when the scenario did not run."""
    parts = []
    for size in (64, 256):
        ours = res.get((scenario, backend, size))
        base = res.get((scenario, "sheaves", size))
        if not ours:
            return None
        value = ours["instructions_per_op"]["median"]
        ratio = f" ({value / base['instructions_per_op']['median']:.2f})" if base else ""
        parts.append(f"{value:.0f}{ratio}")
    return " / ".join(parts)


def sheaves(res, scenario):
    vals = [res.get((scenario, "sheaves", s)) for s in (64, 256)]
    if not all(vals):
        return ""
    return " / ".join(f"{v['instructions_per_op']['median']:.0f}" for v in vals)


def main():
    perf_data, perf = single(sys.argv[1])
    distro = single(sys.argv[2])[1] if len(sys.argv) > 2 else None
    head = ["scenario", "sheaves", "pcpu_array (ratio)"]
    if distro is not None:
        head += ["Debian, GCC: sheaves", "Debian, GCC: pcpu_array (ratio)"]
    rows = []
    for label, scenario, backend in ROWS:
        ours = cell(perf, scenario, backend)
        if ours is None:
            continue
        row = [label, sheaves(perf, scenario), ours]
        if distro is not None:
            row += [sheaves(distro, scenario), cell(distro, scenario, backend) or "not run"]
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    rule = "  ".join("=" * w for w in widths)
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    print(rule)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(rule)
    sizes = sorted(k[2] for k in perf if k[:2] == ("range_map", "pcpu_array"))
    size = sizes[-1] if sizes else 0
    ours = perf.get(("range_map", "pcpu_array", size))
    plain = perf.get(("range_map", "kmem_cache", size))
    maple = perf.get(("range_map", "maple_tree", size))
    if ours and plain:
        a = ours["instructions_per_op"]["median"]
        b = plain["instructions_per_op"]["median"]
        hit = ours.get("hit_rate")
        text = (f"range_map ({size} B nodes): {a:.0f} instructions per insert or erase over "
                f"pcpu_array, {b:.0f} over a plain kmem_cache ({a / b:.2f}x)")
        if maple:
            text += f", {maple['instructions_per_op']['median']:.0f} for the kernel's maple tree"
        if hit is not None:
            text += f"; {100 * hit:.1f}% of the map's allocations and frees served by magazines"
        print("\n" + textwrap.fill(text + ".", 80))
    return 0


if __name__ == "__main__":
    sys.exit(main())

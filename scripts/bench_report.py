#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn benchmark result lines into JSON, a Markdown table and PNG plots.

Usage: bench_report.py --out BASE [--kernel-release R] [--kernel-build B]
                       --run NAME FILE [--run NAME FILE ...]

Each FILE is what `scripts/vm.sh bench` saved from one boot: an optional
"# accel=... vcpus=... qemu_opts=..." line, "<module>: config ..." lines, and
result lines from any module, in the format of bench/pcpu_array_bench.c:

  <module>: scenario=S backend=B size=N ops=N ns=N [cycles=N] [hits=N] [misses=N] [rep=N]

Any scenario and backend is accepted; unknown ones are listed after the known
ones. Writes BASE.json (every raw line and the derived figures), BASE.md and
BASE/<scenario>.png. With icount, guest nanoseconds are instructions: the
per-op figure is instructions_per_op; otherwise ns_per_op (emulator wall time
under TCG, real time under KVM) and cycles_per_op.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

KNOWN_BACKENDS = ["sheaves", "nosheaves", "pcpu_array", "pcpu_array_inline",
                  "pcpu_array_sheaves", "pcpu_array_reserve", "pcpu_array_rsv",
                  "bulk_prealloc", "sheaves_account", "pcpu_array_account"]
KNOWN_SCENARIOS = ["hot_pair", "batch16", "batch64", "batch256", "batch1024",
                   "maple4", "maple16", "handoff512", "cross_cpu", "one_cpu_hot_pair",
                   "all_cpus_hot_pair", "one_cpu_batch64", "all_cpus_batch64"]
BASELINE = "sheaves"
RESULT_RE = re.compile(r"^(?:\[[ 0-9.]+\] )?([A-Za-z0-9_]+): (scenario=\S+ backend=\S+ .*)$")
CONFIG_RE = re.compile(r"^(?:\[[ 0-9.]+\] )?([A-Za-z0-9_]+): config (.*)$")
# "rcu_wait backend=B size=N ...": how long objects freed after a grace period waited.
WAIT_RE = re.compile(r"^(?:\[[ 0-9.]+\] )?([A-Za-z0-9_]+): rcu_wait (backend=\S+ .*)$")
INT_KEYS = ("size", "ops", "ns", "cycles", "hits", "misses", "rep")


def order(names, known):
    """Known names in their order, then the others in order of appearance."""
    seen = list(dict.fromkeys(names))
    return [n for n in known if n in seen] + [n for n in seen if n not in known]


def parse_run(name, path):
    run = {"name": name, "file": os.path.basename(path), "accel": None,
           "vcpus": None, "qemu_opts": "", "config": [], "raw": [],
           "ignored": [], "rcu_wait": []}
    samples = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# "):
                # "# accel=A vcpus=N qemu_opts=EVERYTHING ELSE"
                head, _, opts = line[2:].partition("qemu_opts=")
                for k, v in re.findall(r"(\w+)=(\S*)", head):
                    if k in ("accel", "vcpus"):
                        run[k] = v
                run["qemu_opts"] = opts.strip()
                continue
            m = CONFIG_RE.match(line)
            if m:
                run["config"].append(line)
                continue
            m = WAIT_RE.match(line)
            if m:
                kv = dict(t.split("=", 1) for t in m.group(2).split() if "=" in t)
                try:
                    w = {k: (v if k == "backend" else int(v)) for k, v in kv.items()}
                except ValueError:
                    run["ignored"].append(line)
                    continue
                run["rcu_wait"].append(w)
                run["raw"].append(line)
                continue
            m = RESULT_RE.match(line)
            if not m:
                continue
            kv = dict(t.split("=", 1) for t in m.group(2).split() if "=" in t)
            try:
                s = {"module": m.group(1), "scenario": kv["scenario"],
                     "backend": kv["backend"]}
                for k in INT_KEYS:
                    s[k] = int(kv.get(k, 0))
            except (KeyError, ValueError):
                run["ignored"].append(line)
                continue
            if s["ops"] <= 0 or "ns" not in kv:
                run["ignored"].append(line)
                continue
            run["raw"].append(line)
            samples.append(s)
    icount = "icount" in (run["qemu_opts"] or "")
    run["timebase"] = ("icount" if icount else
                       "kvm-wall" if run["accel"] == "kvm" else
                       "tcg-wall" if run["accel"] == "tcg" else "wall")
    run["per_op_key"] = "instructions_per_op" if icount else "ns_per_op"
    run["unit"] = "instructions/op" if icount else "ns/op"
    return run, samples


def spread(values):
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values)}


def derive(run, samples):
    groups = {}
    for s in samples:
        groups.setdefault((s["scenario"], s["backend"], s["size"]), []).append(s)
    key = run["per_op_key"]
    results = []
    for (scn, be, size), ss in groups.items():
        hits = sum(s["hits"] for s in ss)
        misses = sum(s["misses"] for s in ss)
        r = {"scenario": scn, "backend": be, "size": size, "reps": len(ss),
             "ops": ss[0]["ops"],
             key: spread([s["ns"] / s["ops"] for s in ss]),
             "cycles_per_op": spread([s["cycles"] / s["ops"] for s in ss]),
             "ops_per_s": spread([s["ops"] * 1e9 / s["ns"] for s in ss if s["ns"]] or [0]),
             "hits": hits, "misses": misses,
             "hit_rate": hits / (hits + misses) if hits + misses else None,
             "wall_ns": [s["ns"] for s in ss]}
        results.append(r)
    index = {(r["scenario"], r["backend"], r["size"]): r for r in results}
    for r in results:
        base = index.get((r["scenario"], BASELINE, r["size"]))
        r["ratio_to_" + BASELINE] = (r[key]["median"] / base[key]["median"]
                                     if base and base[key]["median"] else None)
        if r["scenario"].startswith("all_cpus_"):
            one = index.get(("one_cpu_" + r["scenario"][len("all_cpus_"):],
                             r["backend"], r["size"]))
            r["scaling_vs_one_cpu"] = (r["ops_per_s"]["median"] / one["ops_per_s"]["median"]
                                       if one and one["ops_per_s"]["median"] else None)
    run["scenarios"] = order([r["scenario"] for r in results], KNOWN_SCENARIOS)
    run["backends"] = order([r["backend"] for r in results], KNOWN_BACKENDS)
    run["sizes"] = sorted({r["size"] for r in results})
    run["results"] = sorted(results, key=lambda r: (
        run["scenarios"].index(r["scenario"]), r["size"],
        run["backends"].index(r["backend"])))
    return index


def machine_info():
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                              text=True, check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        qemu = None
    return {"cpu_model": model, "nproc": os.cpu_count(), "qemu": qemu}


def fmt(v):
    if v is None:
        return "–"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}"


def describe(run):
    if run["timebase"] == "icount":
        how = ("guest instructions per op (QEMU `-icount shift=0`: one guest ns is one "
               "instruction; deterministic)")
    elif run["timebase"] == "tcg-wall":
        how = "ns per op of emulator wall time (QEMU TCG, MTTCG, no icount)"
    else:
        how = "ns per op (wall time)"
    cfg = "; ".join(re.sub(r"^\S+ config ", "", c) for c in run["config"])
    return (f"{how}; accel={run['accel']}, {run['vcpus']} vCPUs"
            + (f", `{run['qemu_opts']}`" if run["qemu_opts"] else "")
            + (f"; module config: {cfg}" if cfg else ""))


def markdown(report, indexes):
    m = report["machine"]
    out = [f"# pcpu_array benchmarks: Linux {report['kernel_release']}, {report['date']}", "",
           f"Kernel build `{report['kernel_build']}`. Host: {m['cpu_model']}, "
           f"{m['nproc']} CPUs, {m['qemu']}. Generated by `make bench` "
           "(scripts/bench.sh, scripts/bench_report.py); raw lines in the JSON.", "",
           "An op is one object allocated and freed. Cells: median over the repetitions, "
           f"and in parentheses the ratio to `{BASELINE}` in the same boot "
           "(below 1 is faster).", ""]
    for run in report["runs"]:
        idx = indexes[run["name"]]
        key = run["per_op_key"]
        many = any(r["reps"] > 1 and r[key]["min"] != r[key]["max"] for r in run["results"])
        out += [f"## Run `{run['name']}`: {run['unit']}", "", describe(run) + ".", ""]
        if many:
            out += ["Cells: median [min–max] (ratio).", ""]
        out.append("| scenario | size | " + " | ".join(run["backends"]) + " |")
        out.append("|---|---:|" + "---:|" * len(run["backends"]))
        for scn in run["scenarios"]:
            for size in run["sizes"]:
                cells = []
                for be in run["backends"]:
                    r = idx.get((scn, be, size))
                    if not r:
                        cells.append("")
                        continue
                    c = fmt(r[key]["median"])
                    if many:
                        c += f" [{fmt(r[key]['min'])}–{fmt(r[key]['max'])}]"
                    ratio = r["ratio_to_" + BASELINE]
                    if ratio is not None and be != BASELINE:
                        c += f" ({ratio:.2f})"
                    cells.append(c)
                if any(cells):
                    out.append(f"| {scn} | {size} | " + " | ".join(cells) + " |")
        out.append("")
        if run["timebase"] != "icount":
            out += ["cycles/op (get_cycles()), median:", "",
                    "| scenario | size | " + " | ".join(run["backends"]) + " |",
                    "|---|---:|" + "---:|" * len(run["backends"])]
            for scn in run["scenarios"]:
                for size in run["sizes"]:
                    cells = [fmt(idx[(scn, be, size)]["cycles_per_op"]["median"])
                             if (scn, be, size) in idx else "" for be in run["backends"]]
                    if any(cells):
                        out.append(f"| {scn} | {size} | " + " | ".join(cells) + " |")
            out.append("")
        hit_be = [be for be in run["backends"]
                  if any(r["hit_rate"] is not None for r in run["results"] if r["backend"] == be)]
        if hit_be:
            out += ["Array hit rate: the share of allocations and frees the array served "
                    "without the backing cache (a refill or flush of a batch counts as one "
                    "miss, as does each bypass):", "",
                    "| scenario | size | " + " | ".join(hit_be) + " |",
                    "|---|---:|" + "---:|" * len(hit_be)]
            for scn in run["scenarios"]:
                for size in run["sizes"]:
                    cells = []
                    for be in hit_be:
                        r = idx.get((scn, be, size))
                        hr = r["hit_rate"] if r else None
                        cells.append(f"{100 * hr:.1f}%" if hr is not None else "")
                    if any(cells):
                        out.append(f"| {scn} | {size} | " + " | ".join(cells) + " |")
            out.append("")
        if run["rcu_wait"]:
            out += ["How long objects freed after a grace period waited until an allocation "
                    "returned them (every 64th of a pass of `rcu_churn`): grace periods that "
                    "ended between the free and the reuse, and the time:", "",
                    "| backend | size | grace periods in the pass | tracked | reused "
                    "| mean wait (grace periods) | mean wait (µs) |",
                    "|---|---:|---:|---:|---:|---:|---:|"]
            for w in run["rcu_wait"]:
                out.append(f"| {w['backend']} | {w['size']} | {w['grace_periods']} | "
                           f"{w['tracked']} | {w['reused']} | "
                           f"{w['wait_gp_x100'] / 100:.2f} | {w['wait_ns'] / 1000:.0f} |")
            out.append("")
        scal = [r for r in run["results"] if r.get("scaling_vs_one_cpu") is not None]
        if scal:
            out += ["Aggregate throughput, all online CPUs against one CPU (median Mops/s):", "",
                    "| scenario | size | backend | one CPU | all CPUs | scaling |",
                    "|---|---:|---|---:|---:|---:|"]
            for r in scal:
                one = idx[("one_cpu_" + r["scenario"][len("all_cpus_"):], r["backend"],
                           r["size"])]
                out.append(f"| {r['scenario']} | {r['size']} | {r['backend']} | "
                           f"{one['ops_per_s']['median'] / 1e6:.2f} | "
                           f"{r['ops_per_s']['median'] / 1e6:.2f} | "
                           f"{r['scaling_vs_one_cpu']:.2f}× |")
            out.append("")
    return "\n".join(out)


def plots(report, indexes, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    count = {}
    for run in report["runs"]:
        for scn in run["scenarios"]:
            count[scn] = count.get(scn, 0) + 1
    os.makedirs(outdir, exist_ok=True)
    for run in report["runs"]:
        idx = indexes[run["name"]]
        key = run["per_op_key"]
        for scn in run["scenarios"]:
            bes = [be for be in run["backends"]
                   if any((scn, be, z) in idx for z in run["sizes"])]
            fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(bes) * len(run["sizes"]) / 2), 4))
            width = 0.8 / max(len(bes), 1)
            for i, be in enumerate(bes):
                xs, ys, lo, hi = [], [], [], []
                for j, z in enumerate(run["sizes"]):
                    r = idx.get((scn, be, z))
                    if not r:
                        continue
                    xs.append(j + (i - (len(bes) - 1) / 2) * width)
                    ys.append(r[key]["median"])
                    lo.append(r[key]["median"] - r[key]["min"])
                    hi.append(r[key]["max"] - r[key]["median"])
                bars = ax.bar(xs, ys, width, label=be,
                              yerr=[lo, hi] if any(lo) or any(hi) else None, capsize=3)
                ax.bar_label(bars, labels=[fmt(y) for y in ys], fontsize=7, padding=2)
            ax.set_xticks(range(len(run["sizes"])))
            ax.set_xticklabels([f"{z} B" for z in run["sizes"]])
            ax.set_ylabel(run["unit"])
            ax.set_title(f"{scn} (run {run['name']}, {run['timebase']}), "
                         f"Linux {report['kernel_release']}")
            ax.legend(fontsize=8)
            ax.margins(y=0.15)
            fig.tight_layout()
            name = scn if count[scn] == 1 else f"{run['name']}-{scn}"
            path = os.path.join(outdir, f"{name}.png")
            fd, tmp = tempfile.mkstemp(suffix=".png", dir=outdir)
            os.close(fd)
            fig.savefig(tmp, dpi=100)
            plt.close(fig)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            written.append(path)
    return written


def write_atomic(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="BASE of BASE.json, BASE.md, BASE/")
    ap.add_argument("--run", nargs=2, action="append", metavar=("NAME", "FILE"),
                    required=True)
    ap.add_argument("--kernel-release", default="unknown")
    ap.add_argument("--kernel-build", default="unknown")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args()

    report = {"kernel_release": args.kernel_release, "kernel_build": args.kernel_build,
              "date": args.date, "machine": machine_info(),
              "baseline": BASELINE, "runs": []}
    indexes = {}
    for name, path in args.run:
        run, samples = parse_run(name, path)
        if not samples:
            print(f"bench_report: no result line in {path}", file=sys.stderr)
            return 1
        indexes[name] = derive(run, samples)
        report["runs"].append(run)

    out = args.out
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    write_atomic(out + ".json", json.dumps(report, indent=1) + "\n")
    md = markdown(report, indexes)
    write_atomic(out + ".md", md + "\n")
    pngs = [] if args.no_plots else plots(report, indexes, out)
    print(md)
    print(f"bench_report: wrote {out}.json, {out}.md and {len(pngs)} plots in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

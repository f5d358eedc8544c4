#!/usr/bin/env python
"""Write the "Measured" tables of docs/benchmarks.md from a benchmark run's JSON lines.

    python scripts/bench_to_docs.py runs/bench/2026-12-04.jsonl      # (make bench-docs)
    python scripts/bench_to_docs.py FILE --docs docs/benchmarks.md --run-id 20261204T101500

FILE holds the lines that benchmarks/bench_distal_reward.py and
benchmarks/bench_reward_circuit.py append (``--json``): a ``{"bench": "meta"}`` line per
invocation, then one line per measured row, all tagged with the invocation's ``run_id``.
For each benchmark the latest invocation in FILE is used (or the ones named by
``--run-id``). The text between ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` in
the page is replaced: the date, the machine (CPU model from the meta line, or this
machine's /proc/cpuinfo), the commands, the ratio tables. Nothing else is touched;
``--stdout`` prints the block instead.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_distal_reward import TARGETS, ratios  # noqa: E402

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def cpu_model(cpuinfo="/proc/cpuinfo"):
    try:
        for line in open(cpuinfo):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def load(path):
    rows = []
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}:{n}: not JSON ({e})") from None
    return rows


def select(rows, run_ids=None):
    """{bench: (meta or None, rows)} for the latest (or the named) run of each benchmark."""
    out = {}
    for bench in ("distal_reward", "reward_circuit"):
        mine = [r for r in rows if r.get("bench") == bench or r.get("of") == bench]
        ids = [r.get("run_id") for r in mine]
        if run_ids:
            ids = [i for i in ids if i in run_ids]
        if not ids:
            continue
        rid = ids[-1]
        meta = next((r for r in mine if r.get("bench") == "meta" and r.get("run_id") == rid), None)
        data = [r for r in mine if r.get("bench") == bench and r.get("run_id") == rid]
        if data:
            out[bench] = (meta, data)
    return out


def _x(v, fmt=".1f", suffix=""):
    return "–" if v is None else f"{v:{fmt}}{suffix}"


def _mark(x, key):
    if key not in x.get("met", {}):
        return ""
    return " ✓" if x["met"][key] else " ✗"


def distal_tables(rows):
    lines = [
        "| network | T (s) | dopasim | plain Brian2 | NEST (di 1000) | NEST (di 1) "
        "| dopasim / Brian2 | dopasim / NEST | dopasim / NEST di 1 | dopasim peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in ratios(rows):
        lines.append(
            f"| {x['N']:,} × {x['M']:,} | {x['T']:g} | {_x(x['x_rt'], '.1f', ' ×')}{_mark(x, 'x_rt')} "
            f"| {_x(x.get('brian2_x_rt'), '.1f', ' ×')} | {_x(x.get('nest_x_rt'), '.1f', ' ×')} "
            f"| {_x(x.get('nest_di1_x_rt'), '.2f', ' ×')} "
            f"| {_x(x.get('over_brian2'), '.2f')}{_mark(x, 'brian2')} "
            f"| {_x(x.get('over_nest'), '.2f')}{_mark(x, 'nest')} "
            f"| {_x(x.get('over_nest_di1'), '.1f')} "
            f"| {x['rss_mb']}{_mark(x, 'rss_mb')} |"
        )
    targets = "; ".join(
        f"{N:,} neurons: ≥ {t['x_rt']:g} × real time, ≥ {t['brian2']:g} × Brian2, "
        f"≥ {t['nest']:g} × NEST" + (f", < {t['rss_mb']:g} MB" if "rss_mb" in t else "")
        for N, t in TARGETS.items()
    )
    lines += [
        "",
        "Run phase in simulated seconds per wall second (dopasim: the event-driven synapse, "
        "best of its cold and cached runs); ratios are dopasim's speed over the peer's in "
        "this run. NEST runs on one thread. ✓/✗: the targets (" + targets + ").",
    ]
    clock = [x for x in ratios(rows) if "over_clock" in x]
    if clock:
        lines += [
            "The event-driven synapse over the clock-driven form of the same network: "
            + ", ".join(f"{x['over_clock']:.2f} × ({x['N']:,} neurons)" for x in clock)
            + "."
        ]
    return lines


def reward_tables(rows):
    cached = [r for r in rows if r.get("build") == "cached"]
    ref = cached[0] if cached else None
    r0 = rows[0]
    lines = [
        f"Conditioning, {r0['trials']} trials ({r0['sim_s']:g} s simulated), cpp_standalone, "
        "one core; each configuration cold (fresh build cache) and cached.",
        "",
        "| configuration | version | build | whole command (s) | compile (s) | run phase (s) "
        "| × real time | run-phase speed-up | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        up = (
            f"{ref['run_s'] / r['run_s']:.2f} ×"
            if ref is not None and r.get("build") == "cached"
            else ""
        )
        rss = max(r.get("rss_mb") or 0, r.get("rss_children_mb") or 0)
        lines.append(
            f"| {r['label']} | {r['version']} | {r['build']} | {r['total_s']:.1f} "
            f"| {r['compile_s']:.1f} | {r['run_s']:.1f} | {r['sim_s'] / r['run_s']:.1f} "
            f"| {up} | {rss:.0f} |"
        )
    if ref is not None:
        lines += [
            "",
            f"Speed-up: the cached run phase of '{ref['label']}' ({ref['version']}) over "
            "each cached run phase, measured in the same invocation. Peak RSS: the larger "
            "of the Python process and its children (compiler, binary).",
        ]
    cold = [r for r in rows if r.get("build") == "cold" and r.get("compile_units")]
    if cold:
        lines += ["", "Cold compile, one file at a time (`make -j1`):", ""]
    for r in cold:
        cu = r["compile_units"]
        slow = ", ".join(f"`{n}` {t:.1f} s" for n, t in cu["slowest"][:3])
        lines.append(
            f"- {r['label']} ({r['version']}): {r['compile_s']:.1f} s, of which "
            f"{cu['sum_s']:.1f} s in the compiler for {cu['units']} files (median "
            f"{cu['median_s']:.2f} s; slowest {slow})"
        )
    flags = (r0.get("flags", "") + " " + r0.get("flags_extra", "")).strip()
    if flags:
        lines += ["", f"Compiler flags: `{flags}`."]
    return lines


def block(selected, cpuinfo="/proc/cpuinfo"):
    metas = [m for m, _ in selected.values() if m]
    date = next((m["date"] for m in metas if m.get("date")), "unknown date")
    cpu = next((m["cpu"] for m in metas if m.get("cpu")), None) or cpu_model(cpuinfo)
    cores = next((m["cores"] for m in metas if m.get("cores")), None)
    m0 = metas[0] if metas else {}
    versions = [
        f"dopasim {m0['dopasim']}" if m0.get("dopasim") else None,
        f"commit {m0['commit']}" if m0.get("commit") else None,
        f"Python {m0['python']}" if m0.get("python") else None,
        f"Brian2 {m0['brian2']}" if m0.get("brian2") else None,
    ]
    if "distal_reward" in selected:
        nest = next(
            (r.get("version") for r in selected["distal_reward"][1] if r.get("tool") == "nest"),
            None,
        )
        versions.append(f"NEST {nest}" if nest else "no NEST")
    lines = [
        BEGIN,
        "<!-- written by scripts/bench_to_docs.py from the benchmark's JSON lines; "
        "edit the script, not this block -->",
        "",
        f"### Measured ({date}, `make bench`)",
        "",
        f"Machine: {cpu}"
        + (f", {cores} cores" if cores else "")
        + "; "
        + ", ".join(v for v in versions if v)
        + ".",
        "",
        "```",
        *[m["command"] for m in metas if m.get("command")],
        "```",
    ]
    if "distal_reward" in selected:
        lines += ["", "#### Distal reward: dopasim, plain Brian2 and NEST", ""]
        lines += distal_tables(selected["distal_reward"][1])
    if "reward_circuit" in selected:
        lines += ["", "#### Reward circuit", ""]
        lines += reward_tables(selected["reward_circuit"][1])
    lines += ["", END]
    return "\n".join(lines)


def replace_block(text, new):
    if BEGIN not in text or END not in text:
        raise SystemExit(f"the page has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + new + tail


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("jsonl", help="JSON lines of a benchmark run (runs/bench/<date>.jsonl)")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--run-id", action="append", help="use this invocation (repeatable)")
    ap.add_argument("--stdout", action="store_true", help="print the block, write nothing")
    ap.add_argument("--cpuinfo", default="/proc/cpuinfo", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    selected = select(load(args.jsonl), args.run_id)
    if not selected:
        raise SystemExit(f"{args.jsonl}: no benchmark rows")
    new = block(selected, args.cpuinfo)
    if args.stdout:
        print(new)
        return 0
    page = Path(args.docs)
    page.write_text(replace_block(page.read_text(), new))
    print(f"{page}: {', '.join(selected)} ({len(new.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

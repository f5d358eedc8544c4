#!/usr/bin/env python
"""Distal reward, dopasim against the daspnet.m port on the same seeds (issue 25).

For each seed, runs dopasim's ``distal-reward`` (1 h simulated, cpp_standalone) and the
port of the author's daspnet.m (``benchmarks/daspnet_port.py``), one after the other,
and reports four measures of the rewarded synapse: its end value, its end percentile
(percent of the other excitatory weights strictly below), the first time it reaches
0.875 w_max = 3.5, and the fraction of the last 30 min (100 ms samples) it spends at or
above 3.5; plus its maximum, the mean rate and the mean excitatory weight. The two
draw their own networks: seed k of dopasim and seed k of the port are two independent
samples, not the same network.

Writes ``OUT/per_seed.csv`` and ``OUT/summary.json`` and prints a Markdown table with
the medians and the pre-registered test (docs/preregistration/2026-12-04-distal-vs-daspnet.md):
two-sided Mann-Whitney U on the end percentile and on the end value, and the margin
(dopasim's median end percentile within MARGIN_PP percentage points of the port's and
p > 0.05 on the percentile).

    python scripts/distal_vs_daspnet.py --seeds 101-108 --out /tmp/distal25/acceptance

Runs already written under OUT (``dopasim-<seed>/`` complete, ``port-<seed>.json``) are
read back, not rerun. ``--only port`` or ``--only dopasim`` runs one side; the port's
variants (``--same-step causal``, ``--update-every-ms 1``, ``--multapses sum``,
``--trace add``) locate a difference and write ``port-<variant>-<seed>.json``.
"""

import argparse
import csv
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MARGIN_PP = 3.0  # percentage points (pre-registered)
ALPHA = 0.05
W_MAX = 4.0

FIELDS = [
    "impl",
    "seed",
    "rewarded_weight",
    "rewarded_weight_percentile",
    "time_to_learn_s",
    "rewarded_weight_max",
    "frac_last_30min_above_0875",
    "rate_mean_hz",
    "mean_exc_weight",
    "frac_exc_above_0875",
    "frac_exc_at_cap",
    "n_rewards",
    "wall_s",
]


def _port_module():
    spec = importlib.util.spec_from_file_location(
        "daspnet_port", ROOT / "benchmarks" / "daspnet_port.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["daspnet_port"] = mod
    spec.loader.exec_module(mod)
    return mod


def parse_seeds(text):
    seeds = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            seeds += list(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part))
    return seeds


def dopasim_row(seed, out, duration_s, extra=None):
    """Run (or read back) dopasim's distal-reward for one seed (``extra``: more of its
    parameters, e.g. ``{"same_step": "causal"}``; they name the run folder)."""
    extra = dict(extra or {})
    tag = "".join(f"-{k}={v}" for k, v in sorted(extra.items()))
    run_dir = out / f"dopasim{tag}-{seed}"
    meta = run_dir / "metadata.json"
    if not (meta.exists() and json.loads(meta.read_text()).get("status") == "complete"):
        from dopasim import runner

        runner.run(
            "distal-reward",
            params={"duration": f"{duration_s} s", **extra},
            seed=seed,
            device="cpp_standalone",
            out=run_dir,
            quiet=True,
            figures=False,
        )
    m = json.loads((run_dir / "metrics.json").read_text())
    md = json.loads(meta.read_text())
    data = np.load(run_dir / "data.npz")
    t, w = data["w_rewarded_t"], data["w_rewarded"]
    # dopasim samples at the start of each 100 ms (0.0 ... T - 0.1)
    window = min(1800.0, duration_s / 2)
    last = t >= duration_s - window - 1e-9
    frac = float(np.mean(w[last] >= 0.875 * m["w_max"]))
    return {
        "impl": "dopasim",
        "seed": seed,
        "rewarded_weight": m["rewarded_weight"],
        "rewarded_weight_percentile": m["rewarded_weight_percentile"],
        "time_to_learn_s": m["time_to_learn_s"],
        "rewarded_weight_max": m["rewarded_weight_max"],
        "frac_last_30min_above_0875": frac,
        "rate_mean_hz": m["rate_mean_hz"],
        "mean_exc_weight": m["mean_exc_weight"],
        "frac_exc_above_0875": float(np.mean(data["w_final"] >= 0.875 * m["w_max"])),
        "frac_exc_at_cap": float(np.mean(data["w_final"] >= m["w_max"])),
        "n_rewards": m["n_rewards"],
        "wall_s": md["wall_times_s"]["run_s"],
    }


def port_row(seed, out, duration_s, variant):
    tag = "-".join(f"{k}={v}" for k, v in sorted(variant.items()) if v != DEFAULTS[k])
    name = f"port-{tag}-{seed}.json" if tag else f"port-{seed}.json"
    path = out / name
    if not path.exists():
        port = _port_module()
        res = port.run(seed, duration_s, **variant)
        summary = {k: v for k, v in res.items() if not isinstance(v, np.ndarray)}
        summary["w_t_100ms"] = res["w_t"][9::10].tolist()
        summary["w_100ms"] = res["w"][9::10].tolist()
        path.write_text(json.dumps(summary) + "\n")
    r = json.loads(path.read_text())
    row = {k: r.get(k) for k in FIELDS if k not in ("impl",)}
    row["impl"] = "port" + (f" ({tag})" if tag else "")
    row["seed"] = seed
    return row


DEFAULTS = {"same_step": "daspnet", "update_every_ms": 10, "multapses": "last", "trace": "set"}


def _median(rows, key):
    vals = [r[key] for r in rows if r[key] is not None]
    return statistics.median(vals) if vals else None


def _median_ttl(rows):
    """Median time to learn, a run that never learns counting as +inf."""
    vals = [
        r["time_to_learn_s"] if r["time_to_learn_s"] is not None else float("inf") for r in rows
    ]
    return statistics.median(vals)


def compare(a_rows, b_rows):
    """Mann-Whitney U (two-sided) on end percentile and end value; the margin rule."""
    from scipy.stats import mannwhitneyu

    out = {}
    for key in ("rewarded_weight_percentile", "rewarded_weight", "frac_last_30min_above_0875"):
        a = [r[key] for r in a_rows]
        b = [r[key] for r in b_rows]
        res = mannwhitneyu(a, b, alternative="two-sided")
        out[key] = {"U": float(res.statistic), "p": float(res.pvalue)}
    da = _median(a_rows, "rewarded_weight_percentile")
    db = _median(b_rows, "rewarded_weight_percentile")
    out["median_percentile_difference_pp"] = da - db
    out["within_margin"] = bool(
        abs(da - db) <= MARGIN_PP and out["rewarded_weight_percentile"]["p"] > ALPHA
    )
    return out


def _fmt(v, nd=2, none="–"):
    if v is None:
        return none
    if isinstance(v, float):
        if v == float("inf"):
            return "never"
        return f"{v:.{nd}f}"
    return str(v)


def _pct(v):
    return None if v is None else 100.0 * v


def markdown(rows, groups):
    lines = [
        "| impl | seed | end value | end percentile | time to 3.5 (s) | max | "
        "frac. last 30 min >= 3.5 | rate (Hz) | mean exc. w | exc. w >= 3.5 (%) | "
        "puffs | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['impl']} | {r['seed']} | {_fmt(r['rewarded_weight'])} | "
            f"{_fmt(r['rewarded_weight_percentile'], 1)} | {_fmt(r['time_to_learn_s'], 1, 'never')} | "
            f"{_fmt(r['rewarded_weight_max'])} | {_fmt(r['frac_last_30min_above_0875'])} | "
            f"{_fmt(r['rate_mean_hz'])} | {_fmt(r['mean_exc_weight'])} | "
            f"{_fmt(_pct(r['frac_exc_above_0875']))} | {r['n_rewards']} | "
            f"{_fmt(r['wall_s'], 0)} |"
        )
    for impl, g in groups.items():
        lines.append(
            f"| **{impl}, median** | | {_fmt(_median(g, 'rewarded_weight'))} | "
            f"{_fmt(_median(g, 'rewarded_weight_percentile'), 1)} | {_fmt(_median_ttl(g), 1)} | "
            f"{_fmt(_median(g, 'rewarded_weight_max'))} | "
            f"{_fmt(_median(g, 'frac_last_30min_above_0875'))} | {_fmt(_median(g, 'rate_mean_hz'))} | "
            f"{_fmt(_median(g, 'mean_exc_weight'))} | "
            f"{_fmt(_pct(_median(g, 'frac_exc_above_0875')))} | "
            f"{_fmt(_median(g, 'n_rewards'), 0)} | "
            f"{_fmt(_median(g, 'wall_s'), 0)} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--seeds", default="101-108", help="e.g. 101-108 or 201,202")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    ap.add_argument("--only", choices=("dopasim", "port"))
    ap.add_argument("--same-step", choices=("daspnet", "causal"), default="daspnet")
    ap.add_argument("--update-every-ms", type=int, choices=(1, 10), default=10)
    ap.add_argument("--multapses", choices=("last", "sum"), default="last")
    ap.add_argument("--trace", choices=("set", "add"), default="set")
    ap.add_argument(
        "--dopasim-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a distal-reward parameter for dopasim's runs (repeatable)",
    )
    args = ap.parse_args(argv)
    extra = dict(kv.split("=", 1) for kv in args.dopasim_param)
    seeds = parse_seeds(args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    variant = {
        "same_step": args.same_step,
        "update_every_ms": args.update_every_ms,
        "multapses": args.multapses,
        "trace": args.trace,
    }
    groups = {}
    t0 = time.perf_counter()
    for seed in seeds:
        if args.only != "port":
            groups.setdefault("dopasim", []).append(
                dopasim_row(seed, args.out, args.duration, extra)
            )
            print(f"dopasim seed {seed} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        if args.only != "dopasim":
            row = port_row(seed, args.out, args.duration, variant)
            groups.setdefault(row["impl"], []).append(row)
            print(f"port seed {seed} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    rows = [r for g in groups.values() for r in g]
    suffix = "" if not args.only else f"-{args.only}"
    suffix += "".join(f"-{k}={v}" for k, v in sorted(extra.items()))
    tag = "-".join(f"{k}={v}" for k, v in sorted(variant.items()) if v != DEFAULTS[k])
    suffix += f"-{tag}" if tag else ""
    with open(args.out / f"per_seed{suffix}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    summary = {"seeds": seeds, "duration_s": args.duration, "margin_pp": MARGIN_PP}
    summary["medians"] = {
        impl: {k: _median(g, k) for k in FIELDS[2:]} | {"time_to_learn_s": _median_ttl(g)}
        for impl, g in groups.items()
    }
    print(markdown(rows, groups))
    if len(groups) == 2:
        (a_name, a_rows), (b_name, b_rows) = groups.items()
        test = compare(a_rows, b_rows)
        summary["test"] = {"a": a_name, "b": b_name, **test}
        print()
        for key in ("rewarded_weight_percentile", "rewarded_weight", "frac_last_30min_above_0875"):
            print(
                f"Mann-Whitney U ({a_name} vs {b_name}), {key}: "
                f"U = {test[key]['U']:.1f}, p = {test[key]['p']:.3f}"
            )
        print(
            f"median end percentile {a_name} - {b_name}: "
            f"{test['median_percentile_difference_pp']:+.2f} pp (margin {MARGIN_PP} pp); "
            f"within the port's spread: {'PASS' if test['within_margin'] else 'FAIL'}"
        )
    (args.out / f"summary{suffix}.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

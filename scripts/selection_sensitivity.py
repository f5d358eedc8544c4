#!/usr/bin/env python
"""Sensitivity of the selection task's acceptance table to its two hypotheses.

The rectified phasic term's epsilon (default 0.2; here 0 and 0.5) and the D1 floor's
up-regulation factor (default 1.2; here the bracket's ends 1.0 and 1.4), one at a time,
on intact, loss 0.5, OFF (loss 0.75), loss 0.8 and ON (loss 0.75 + medicated), paired
seeds. Reported, not asserted (issue 19). Each setting changes data only, so the runs
share one compiled build.

    python scripts/selection_sensitivity.py --seeds 4 --jobs 2 --out runs/sensitivity
    python scripts/selection_sensitivity.py --seeds 4 --table runs/sensitivity/epsilon=0
"""

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from dopasim import compare
from dopasim.circuits.scenarios import describe, parse_scenarios

PROTOCOL = "probabilistic-selection"
SPECS = (
    "intact",
    "parkinson:loss=0.5",
    "parkinson:loss=0.75",
    "parkinson:loss=0.8",
    "parkinson:loss=0.75+medicated",
)
LABELS = ("intact", "0.5", "OFF", "0.8", "ON")
SETTINGS = (
    ("epsilon", "0"),
    ("epsilon", "0.5"),
    ("d1_upregulation", "1.0"),
    ("d1_upregulation", "1.4"),
)
METRICS = (
    "choose_a_accuracy",
    "avoid_b_accuracy",
    "choose_a_expected",
    "avoid_b_expected",
    "value_discrimination_w",
    "nogo_w_bad",
    "go_nogo_good",
    "go_nogo_bad",
    "freeze_fraction",
    "max_channel_weight",
)


def table(res, seeds):
    def per_seed(spec, m):
        spec = describe(parse_scenarios(spec))  # compare keys runs by the canonical SPEC
        return np.array([res["per_seed"][(spec, s)][m] for s in range(1, seeds + 1)], float)

    print("| metric | " + " | ".join(LABELS) + " |")
    print("|---" * (len(LABELS) + 1) + "|")
    for m in METRICS:
        vals = [float(np.nanmean(per_seed(s, m))) for s in SPECS]
        print(f"| {m} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    vd = [float(np.nanmean(per_seed(s, "value_discrimination_w"))) for s in SPECS]
    print(f"value_discrimination_w / intact: {[round(v / vd[0], 3) for v in vd]}")
    off = per_seed(SPECS[2], "avoid_b_accuracy") - per_seed(SPECS[2], "choose_a_accuracy")
    intact = per_seed(SPECS[0], "avoid_b_accuracy") - per_seed(SPECS[0], "choose_a_accuracy")
    on = per_seed(SPECS[4], "choose_a_accuracy") - per_seed(SPECS[4], "avoid_b_accuracy")
    print(
        f"OFF avoid-B - choose-A {off.mean():.3f} (excess over intact {(off - intact).mean():.3f}); "
        f"ON choose-A - avoid-B {on.mean():.3f} (excess over OFF {(on + off).mean():.3f})"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4, help="paired seeds 1..N")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None, help="one setting, e.g. epsilon=0")
    ap.add_argument("--out", default=None, help="keep each setting's comparison in OUT/KEY=VALUE")
    ap.add_argument("--table", default=None, help="only print the table of a stored comparison")
    args = ap.parse_args()
    if args.table:
        per = {}
        with open(Path(args.table) / "per_seed.csv", newline="") as f:
            for row in csv.DictReader(f):
                per.setdefault((row["scenario"], int(row["seed"])), {})[row["metric"]] = float(
                    row["value"]
                )
        print(f"\n## {args.table} (stored, {args.seeds} seeds)")
        table({"per_seed": per}, args.seeds)
        return 0
    settings = SETTINGS
    if args.only:
        key, _, value = args.only.partition("=")
        settings = ((key, value),)
    for key, value in settings:
        t0 = time.perf_counter()
        res = compare(
            PROTOCOL,
            list(SPECS),
            seeds=args.seeds,
            jobs=args.jobs,
            out=(
                Path(args.out) / f"{key}={value}"
                if args.out
                else tempfile.mkdtemp(prefix="dopasim-sens-")
            ),
            params={key: value},
            quiet=True,
        )
        print(f"\n## {key} = {value} ({args.seeds} seeds, {time.perf_counter() - t0:.0f} s)")
        if res["failures"]:
            print("failures:", res["failures"])
        table(res, args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

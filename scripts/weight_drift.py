#!/usr/bin/env python
"""Drift and diffusion of a run's sampled corticostriatal weights, by weight.

    python scripts/weight_drift.py RUN_DIR [--projection ctx_d1] [--start 100] [--w-max 1]

Reads ``<projection>_w_samples`` (one sample per trial; the trial protocols'
``weight_samples``) from a run directory and prints, per weight bin, the steps, the mean
weight, the mean change per trial (drift), its SD and the fraction of trials with a
change (`dopasim.analysis.weight_drift`), and the final weights' mean, SD and the
fractions at the bounds. docs/distributional-calibration.md uses it to tell a drift that the
learning signal makes from the one that diffusion against the lower bound makes.
"""

import argparse
import sys

import numpy as np

from dopasim.analysis import weight_drift
from dopasim.runner import load_run

EDGES = (0.0, 0.005, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="run directory")
    ap.add_argument("--projection", default="ctx_d1", help="ctx_d1 (default) or ctx_d2")
    ap.add_argument("--start", type=int, default=100, help="first sample (trial) used")
    ap.add_argument("--w-max", type=float, default=1.0, help="the rule's upper bound (1)")
    a = ap.parse_args(argv)
    data = load_run(a.run).data
    key = f"{a.projection}_w_samples"
    if key not in data:
        print(f"projection: the run has no '{key}' (weight_samples = 0?)", file=sys.stderr)
        return 2
    samples = np.asarray(data[key], float)
    if samples.ndim != 2:
        print(
            f"projection: '{key}' has shape {samples.shape}, not (synapses, samples)",
            file=sys.stderr,
        )
        return 2
    if a.start < 0 or samples.shape[1] - a.start < 2:
        print(
            f"start: {a.start}; allowed: 0 to {samples.shape[1] - 2} ({samples.shape[1]} samples)",
            file=sys.stderr,
        )
        return 2
    if not a.w_max > 0:
        print(f"w-max: {a.w_max}; allowed: > 0", file=sys.stderr)
        return 2
    edges = np.asarray(EDGES) * a.w_max
    out = weight_drift(samples, edges, start=a.start)
    print(f"{key}: {samples.shape[0]} synapses x {samples.shape[1]} samples, from {a.start}")
    print("bin            steps    mean w   drift/trial   SD/trial   moved")
    for k in range(len(edges) - 1):
        if out["n"][k]:
            print(
                f"[{edges[k]:.3f}, {edges[k + 1]:.3f})  {out['n'][k]:7d}  {out['weight'][k]:7.3f}"
                f"  {out['drift'][k]:+.2e}    {out['sd'][k]:.2e}   {out['moved'][k]:.2f}"
            )
    final = samples[:, -1]
    print(
        f"last sample: mean {final.mean():.3f}, SD {final.std():.3f}, "
        f"below 0.005 w_max: {np.mean(final < 0.005 * edges[-1]):.2f}, "
        f"above 0.99 w_max: {np.mean(final > 0.99 * edges[-1]):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Calibrate the selection read-out's exploration (``choice_noise``) on the intact circuit.

The target comes from people, not from the acceptance metrics: the fraction of AB training
trials on which the intact circuit chooses A, over the last third of training, should lie
in [0.65, 0.80] (Frank et al. 2004's AB training criterion, and probability matching).
The rule, fixed before the first run: take the grid value whose mean over the calibration
seeds (not the acceptance seeds 1-3) is closest to 0.725. Only the AB accuracy, the
training freeze fraction and the latency are printed; no acceptance metric is looked at.
``choice_noise`` acts on training trials only (since version 0.5.0; the test phase has
``test_choice_noise``, 0 by default), so this calibrates the exploration of training.

    python scripts/calibrate_choice_noise.py --grid 6,8,10,12 --seeds 101-108 --jobs 2

Results:

* 2026-12-01, 0.3.0 read-out, seeds 101-103: 0 Hz 1.000, 2 Hz 0.983, 4 Hz 0.967, 6 Hz
  0.817, 8 Hz 0.745, 12 Hz 0.740 -> 12 Hz (about 7 minutes on 2 cores). The per-seed
  spread at 12 Hz was 0.55-0.95, so three seeds were too few; the offsets also acted in
  the test phase then, where they made the intact circuit's choose-A 0.48.
* 2026-12-01, 0.5.0 read-out (offsets in training only), seeds 101-108: 6 Hz 0.850, 8 Hz
  0.797, 10 Hz 0.788, 12 Hz 0.747 (SD over seeds 0.12, 0.16, 0.15, 0.14) -> 12 Hz, the
  protocol's default since 0.5.0 (seeds 101-103 equal the 0.3.0 run's, as training
  does not depend on the test phase). About 8 minutes on 2 cores. Limits: 12 Hz is the
  grid's edge and the curve was still falling, and with that spread (standard error
  about 0.05) 8, 10 and 12 Hz are hardly distinguishable. On the acceptance seeds 1-3
  the same measure was 0.61, 0.67, 0.60 (mean 0.63, below Frank's 65 % criterion).
"""

import argparse
import tempfile
from multiprocessing import Pool

import numpy as np

TARGET = 0.725
SEEDS = "101-108"


def ab_accuracy(data):
    """A-choice fraction on AB training trials in the last third of training."""
    train, cue, cue2 = data["trial_train"], data["trial_cue"], data["trial_cue2"]
    choice = data["trial_choice"]
    idx = np.nonzero(train)[0]
    last = np.zeros(len(train), bool)
    last[idx[2 * len(idx) // 3 :]] = True
    ab = last & (((cue == 0) & (cue2 == 1)) | ((cue == 1) & (cue2 == 0))) & (choice >= 0)
    return float(np.mean(choice[ab] == 0)) if ab.any() else float("nan")


def one(args):
    from dopasim import runner

    noise, seed, out, slot = args
    res = runner.run(
        "probabilistic-selection",
        {"choice_noise": f"{noise} Hz"},
        seed=seed,
        device="cpp_standalone",
        out=f"{out}/n{noise}_s{seed}",
        quiet=True,
        figures=False,
        build_slot=slot,  # one cached build per worker (a busy one falls back to a temp)
    )
    d = res.data
    train, choice = d["trial_train"], d["trial_choice"]
    latency = float(np.nanmedian(d["trial_latency"][train & (choice >= 0)]) * 1e3)
    return noise, seed, ab_accuracy(d), float(np.mean(choice[train] < 0)), latency


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="6,8,10,12", help="choice_noise values in Hz")
    ap.add_argument("--seeds", default=SEEDS, help="calibration seeds, FIRST-LAST or one seed")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    grid = [float(x) for x in args.grid.split(",")]
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    out = tempfile.mkdtemp(prefix="dopasim-calib-")
    jobs = [
        (n, s, out, 1 + k % args.jobs)
        for k, (n, s) in enumerate((n, s) for n in grid for s in seeds)
    ]
    acc = {n: [] for n in grid}
    with Pool(args.jobs, maxtasksperchild=1) as pool:
        for noise, seed, a, freeze, lat in pool.imap(one, jobs):
            acc[noise].append(a)
            print(
                f"choice_noise {noise:5.1f} Hz  seed {seed}  AB A-choice {a:.3f}  "
                f"training freeze {freeze:.3f}  median latency {lat:.0f} ms",
                flush=True,
            )
    means = {n: float(np.nanmean(v)) for n, v in acc.items()}
    for n, m in means.items():
        sd = float(np.nanstd(acc[n], ddof=1)) if len(acc[n]) > 1 else float("nan")
        print(f"choice_noise {n:5.1f} Hz: mean AB A-choice {m:.3f} (SD over seeds {sd:.3f})")
    best = min((n for n in means if np.isfinite(means[n])), key=lambda n: abs(means[n] - TARGET))
    print(f"closest to {TARGET}: {best} Hz (runs in {out})")


if __name__ == "__main__":
    main()

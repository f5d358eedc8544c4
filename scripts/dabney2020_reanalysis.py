"""Re-analysis of the 40 dopamine neurons of Dabney et al. 2020 (Nature 577:671) with
dopasim.distributional.

Data: ``Figure2b.mat`` as released with the paper's figure code (variables
``dataExpectedNorm``, cells x 7 reward sizes x trials, the per-trial reward response of
each cell divided by its standard deviation, NaN where a cell has fewer trials; and
``zeroCrossings``, the authors' per-cell reversal points on the condition-index scale
1-7). The copy used here was obtained from
https://github.com/HRH0410/Distributional-Reinforcement-Learning-in-Dopamine-Neurons
(path ``Neural Data Analysis/Figure2b.mat``), a third-party repository that redistributes
the paper's released figure data. The data are not part of dopasim; pass the file's path.

The responses are variance-normalised per cell and carry no baseline rates, so the
baseline-rate-vs-tau correlation cannot be computed from this file.

Usage: python scripts/dabney2020_reanalysis.py PATH/TO/Figure2b.mat [--splits 200] [--seed 0]
"""

import argparse
import sys

import numpy as np

from dopasim import distributional as dist

SIZES = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])  # ul
PROBS = np.array([0.066, 0.091, 0.148, 0.155, 0.312, 0.151, 0.077])


def load(path):
    """[(sizes, responses)] per cell from Figure2b.mat, and the authors' zeroCrossings."""
    try:
        from scipy.io import loadmat
    except ImportError:
        sys.exit("this script reads a MATLAB file and needs scipy (pip install scipy)")
    mat = loadmat(path)
    data = np.asarray(mat["dataExpectedNorm"], dtype=float)  # cells x sizes x trials
    if data.shape[1] != SIZES.size:
        sys.exit(f"{path}: expected {SIZES.size} reward sizes, got shape {data.shape}")
    cells = []
    for cell in data:
        sizes = np.concatenate(
            [np.full(np.isfinite(row).sum(), s) for s, row in zip(SIZES, cell, strict=True)]
        )
        resp = np.concatenate([row[np.isfinite(row)] for row in cell])
        cells.append((sizes, resp))
    return cells, np.asarray(mat["zeroCrossings"], dtype=float).ravel()


def pct(x, q):
    return np.nanpercentile(x, q)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="Figure2b.mat")
    ap.add_argument("--splits", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cells, zc = load(args.path)
    n = len(cells)
    print(f"{n} cells, {sum(s.size for s, _ in cells)} trials")
    print(
        f"authors' zeroCrossings (condition index 1-7): median {np.median(zc):.2f}, "
        f"IQR {pct(zc, 25):.2f}-{pct(zc, 75):.2f}"
    )
    mean = np.dot(SIZES, PROBS)
    e = dist.expectiles(SIZES, [0.25, 0.5, 0.75], PROBS)
    print(f"task: mean {mean:.2f} ul; expectiles at tau 0.25/0.5/0.75: {e.round(2)} ul")

    for method in ("hinge", "interp"):
        rev = np.array([dist.reversal_point(s, r, method=method) for s, r in cells])
        print(f"\n== reversal points by {method!r}")
        print(
            f"reversal point: median {np.median(rev):.2f} ul, "
            f"IQR {pct(rev, 25):.2f}-{pct(rev, 75):.2f} ul "
            f"(issue: 4.5, 3.4-6.6); at the range's ends: {np.sum((rev <= 0.1) | (rev >= 20))}"
        )
        for through in (True, False):
            tau = np.array(
                [
                    dist.asymmetry(s, r, c, through_reversal=through).tau
                    for (s, r), c in zip(cells, rev, strict=True)
                ]
            )
            label = "lines through the reversal point" if through else "free lines"
            print(
                f"tau ({label}): median {np.nanmedian(tau):.2f}, 10-90 % "
                f"{pct(tau, 10):.2f}-{pct(tau, 90):.2f} (issue: 0.53, 0.24-0.73); "
                f"NaN {np.isnan(tau).sum()}"
            )
            sh = dist.split_half(
                cells, args.splits, np.random.default_rng(args.seed), method, through
            )
            print(
                f"  split-half R(tau half B, reversal half A): median {sh.median:.2f} "
                f"(5-95 %: {sh.p5:.2f}-{sh.p95:.2f}) (issue: 0.52, 0.18-0.66); "
                f"reversal reliability {sh.reliability_median:.2f} (issue: 0.77)"
            )
            ok = np.isfinite(tau) & (tau > 0) & (tau < 1)
            values, weights = dist.decode_distribution(rev[ok], tau[ok], bounds=(0.0, 20.0))
            ref = dist.references(SIZES, PROBS)
            w_dec = dist.wasserstein1(values, SIZES, weights, PROBS)
            w_uni = dist.wasserstein1(ref["uniform"][0], SIZES, ref["uniform"][1], PROBS)
            w_gau = dist.wasserstein1(ref["gaussian"][0], SIZES, ref["gaussian"][1], PROBS)
            print(
                f"  decoded ({ok.sum()} cells): W1 to the task's distribution {w_dec:.2f} ul; "
                f"uniform {w_uni:.2f}, moment-matched Gaussian {w_gau:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Where the selection task's learning comes from: weight change per stimulus and role.

For probabilistic-selection runs (run directories, or a `dopasim compare` output whose
``runs/<scenario>/seed<k>`` hold them), print for each projection (D1 = Go, D2 = NoGo)
and stimulus the summed change of its sampled weights (units of 1e-3 w_max, averaged
over the runs given) and the number of trials, split by the role the stimulus played:
chosen and rewarded, chosen and punished, shown but not chosen, shown in a frozen trial,
not shown, and in the test phase (`protocols.probabilistic_selection.weight_change_by_role`).

    python scripts/selection_weight_roles.py OUT/runs/intact OUT/runs/parkinson_loss=0.75

Each argument is one group (a run directory, or a directory of ``seed*`` run
directories); the groups are printed one after the other.
"""

import argparse
from pathlib import Path

from dopasim import load_run
from dopasim.params import parse_quantity
from dopasim.protocols import probabilistic_selection as ps


def _runs(path):
    path = Path(path)
    if (path / "metadata.json").exists():
        return [path]
    found = sorted(p for p in path.glob("seed*") if (p / "metadata.json").exists())
    if not found:
        raise SystemExit(f"{path}: no run directory (metadata.json) here or in seed*/")
    return found


def table(paths):
    """{(proj, s, role): (mean over runs of the summed change, total trials)}."""
    acc = {}
    for path in paths:
        run = load_run(path)
        if run.protocol != ps.NAME:
            raise SystemExit(f"{path}: a {run.protocol} run, not {ps.NAME}")
        p = {"trial_len": parse_quantity(run.params["trial_len"], ps.second, "trial_len")}
        for proj in ("ctx_d1", "ctx_d2"):
            for key, (total, n) in ps.weight_change_by_role(run.data, p, proj).items():
                old = acc.get((proj, *key), (0.0, 0))
                acc[(proj, *key)] = (old[0] + total / len(paths), old[1] + n)
    return acc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("groups", nargs="+", help="run directory, or directory of seed*/ runs")
    args = ap.parse_args(argv)
    for group in args.groups:
        paths = _runs(group)
        acc = table(paths)
        print(f"== {group} ({len(paths)} run(s); 1e-3 w_max per run, trials in all runs)")
        for proj, name in (("ctx_d1", "D1 (Go)"), ("ctx_d2", "D2 (NoGo)")):
            print(name)
            for s, stim in enumerate(ps.STIMULI):
                cells = []
                for role in ps.ROLES:
                    if (proj, s, role) in acc:
                        total, n = acc[(proj, s, role)]
                        cells.append(f"{role} {total * 1e3:+6.0f} ({n})")
                print(f"  {stim}: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

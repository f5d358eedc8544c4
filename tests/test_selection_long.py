"""Parkinsonian loss and medication in the probabilistic selection task (issue 19's
acceptance; pre-registered in docs/preregistration/2026-12-03-selection-scenarios.md
before the run). Marker: long.

Paired acceptance seeds 1-8 (calibration used 101-108), default size, compiled, run
through `dopasim.comparison` with two worker processes (one compilation for all runs).
Scenarios: the loss sweep {0, 0.25, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1}; OFF is
``parkinson:loss=0.75`` and ON ``parkinson:loss=0.75+medicated`` (Frank's medicated
patients and networks are partial lesions plus the drug). Accuracies are the sampled
ones (the circuit's choices); the probit-expected ones are printed beside them.

* Calibration holds: intact choose-A and avoid-B (seed means) in [0.55, 0.90].
* OFF: avoid-B - choose-A > 0 with a one-sided 95 % paired t interval (per-seed
  differences, 7 degrees of freedom) excluding 0, and its paired excess over intact's
  >= 0.05 (mean over seeds).
* ON: choose-A - avoid-B > 0 (mean), and its paired excess over OFF's >= 0.10 (Frank's
  within-patient reversal).
* value_discrimination_w (Go - NoGo weight, good minus bad) >= 80 % of intact at every
  loss up to 0.5 and < 50 % of intact at 0.8; nogo_w_bad (NoGo learning of B, D, F) at
  0.75 within +-25 % of intact (Frank 2005's signature).
* Freezing rises with loss: Spearman rho >= 0.9 over the nine levels, and loss 1 freezes
  more than intact. Frank's Go - NoGo sign pattern at 0.75 (test-phase channel rates):
  go_nogo_good <= 0 < intact's, go_nogo_bad < 0.
* Kept from issue 4 (unchanged): da_phasic_ratio >= 80 % of intact up to 0.5 and < 50 %
  from 0.8; at 0.75 dw_go_reward below intact's while dw_nogo_punish is not; medication
  (ON against OFF) lowers dw_nogo_punish.

Every table is printed (`make test-long ARGS="tests/test_selection_long.py -s"`).
``DOPASIM_SELECTION_SWEEP=DIR`` evaluates the criteria on the per_seed.csv of a stored
sweep (a `dopasim compare` output folder) instead of running it again.
"""

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest

from dopasim import analysis
from dopasim.circuits.scenarios import describe, parse_scenarios
from dopasim.comparison import compare

pytestmark = pytest.mark.long
SEEDS = 8
LOSSES = (0, 0.25, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1)
OFF = "parkinson:loss=0.75"
ON = "parkinson:loss=0.75+medicated"
PROTOCOL = "probabilistic-selection"
#: one-sided 95 % quantile of Student's t with 7 degrees of freedom
T95_7 = 1.894579


def _spec(loss):
    return "intact" if loss == 0 else f"parkinson:loss={loss:g}"


def _per_seed(res, spec, metric):
    spec = describe(parse_scenarios(spec))  # compare keys the runs by the canonical SPEC
    return np.array([res["per_seed"][(spec, s)][metric] for s in range(1, SEEDS + 1)], float)


def _stored(folder):
    """A stored sweep's per-seed metrics, as `compare` returns them."""
    per_seed = {}
    with open(Path(folder) / "per_seed.csv", newline="") as f:
        for row in csv.DictReader(f):
            per_seed.setdefault((row["scenario"], int(row["seed"])), {})[row["metric"]] = float(
                row["value"]
            )
    return {"out": Path(folder), "per_seed": per_seed, "failures": []}


def _means(res, specs, metric):
    out = []
    for spec in specs:
        vals = _per_seed(res, spec, metric)
        out.append(float(np.nanmean(vals)) if not np.all(np.isnan(vals)) else float("nan"))
    print(metric, [round(v, 4) for v in out])
    return out


def _run(tmp_path_factory, specs):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOPASIM_CACHE", str(tmp_path_factory.mktemp("cache")))
        t0 = time.perf_counter()
        res = compare(
            PROTOCOL, specs, seeds=SEEDS, jobs=2, out=tmp_path_factory.mktemp("pd"), quiet=False
        )
    print(
        f"selection sweep: {len(specs)} scenarios x {SEEDS} seeds in {time.perf_counter() - t0:.0f} s"
    )
    return res


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    specs = [_spec(x) for x in LOSSES] + [ON]
    stored = os.environ.get("DOPASIM_SELECTION_SWEEP")
    if stored:
        res = _stored(stored)
        print(f"selection sweep: stored, {stored}")
    else:
        res = _run(tmp_path_factory, specs)
    assert not res["failures"]
    names = [_spec(x) for x in LOSSES]
    print("scenarios:", names + [ON])
    for metric in (
        "choose_a_accuracy",
        "avoid_b_accuracy",
        "choose_a_expected",
        "avoid_b_expected",
        "test_accuracy",
        "train_accuracy_last",
        "value_discrimination_w",
        "value_discrimination",
        "go_w_good",
        "nogo_w_good",
        "go_w_bad",
        "nogo_w_bad",
        "go_nogo_good",
        "go_nogo_bad",
        "max_channel_weight",
        "freeze_fraction",
        "freeze_fraction_test",
        "selection_latency_test_ms",
        "da_phasic_ratio",
        "dw_go_reward",
        "dw_go_punish",
        "dw_nogo_reward",
        "dw_nogo_punish",
    ):
        _means(res, names + [ON], metric)
    return res


def test_calibration_holds_on_the_acceptance_seeds(sweep):
    choose, avoid = (
        _means(sweep, ["intact"], m)[0] for m in ("choose_a_accuracy", "avoid_b_accuracy")
    )
    assert 0.55 <= choose <= 0.90
    assert 0.55 <= avoid <= 0.90


def _gap(res, spec, first, second):
    return _per_seed(res, spec, first) - _per_seed(res, spec, second)


def test_off_medication_avoid_b_beats_choose_a(sweep):
    off = _gap(sweep, OFF, "avoid_b_accuracy", "choose_a_accuracy")
    intact = _gap(sweep, "intact", "avoid_b_accuracy", "choose_a_accuracy")
    low = off.mean() - T95_7 * off.std(ddof=1) / np.sqrt(SEEDS)
    excess = (off - intact).mean()
    print(
        f"OFF avoid-B - choose-A per seed {np.round(off, 3).tolist()}: mean {off.mean():.3f}, one-sided 95 % lower bound {low:.3f}"
    )
    print(
        f"intact avoid-B - choose-A per seed {np.round(intact, 3).tolist()}; OFF's paired excess {excess:.3f}"
    )
    assert off.mean() > 0 and low > 0
    assert excess >= 0.05


def test_on_medication_choose_a_beats_avoid_b(sweep):
    on = _gap(sweep, ON, "choose_a_accuracy", "avoid_b_accuracy")
    off = _gap(sweep, OFF, "choose_a_accuracy", "avoid_b_accuracy")
    excess = (on - off).mean()
    print(
        f"ON choose-A - avoid-B per seed {np.round(on, 3).tolist()}: mean {on.mean():.3f}; paired excess over OFF {excess:.3f}"
    )
    assert on.mean() > 0
    assert excess >= 0.10


def test_values_flatten_with_loss(sweep):
    specs = [_spec(x) for x in LOSSES]
    for metric in ("value_discrimination_w", "da_phasic_ratio"):
        m = _means(sweep, specs, metric)
        rel = [v / m[0] for v in m]
        broken = [x for x, r in zip(LOSSES, rel, strict=True) if not r >= 0.8]
        print(
            f"{metric}: relative to intact {[round(r, 3) for r in rel]}; break point {broken[0] if broken else 'none'}"
        )
        assert all(r >= 0.8 for x, r in zip(LOSSES, rel, strict=True) if x <= 0.5)
        at = LOSSES.index(0.8)
        if metric == "value_discrimination_w":
            assert rel[at] < 0.5
        else:
            assert all(r < 0.5 for x, r in zip(LOSSES, rel, strict=True) if x >= 0.8)


def test_nogo_for_bad_stimuli_is_kept_at_75_percent_loss(sweep):
    intact, off = _means(sweep, ["intact", OFF], "nogo_w_bad")
    print(f"nogo_w_bad at 0.75 / intact: {off / intact:.3f}")
    assert intact > 0
    assert abs(off / intact - 1) <= 0.25


def test_freezing_rises_with_loss(sweep):
    freeze = _means(sweep, [_spec(x) for x in LOSSES], "freeze_fraction")
    rho = analysis.spearman_rho(np.array(LOSSES), np.array(freeze))
    print(f"freezing Spearman rho {rho:.3f}")
    assert rho >= 0.9
    assert freeze[-1] > freeze[0]


def test_frank_sign_pattern_at_75_percent_loss(sweep):
    good = _means(sweep, ["intact", OFF], "go_nogo_good")
    bad = _means(sweep, ["intact", OFF], "go_nogo_bad")
    assert good[1] <= 0 < good[0]
    assert bad[1] < 0


def test_parkinson_impairs_go_learning_but_not_nogo_learning(sweep):
    go = _means(sweep, ["intact", OFF], "dw_go_reward")
    nogo = _means(sweep, ["intact", OFF], "dw_nogo_punish")
    assert 0 < go[0] and go[1] < go[0]
    assert 0 < nogo[0] <= nogo[1]


def test_medication_blocks_nogo_learning(sweep):
    nogo = _means(sweep, [OFF, ON], "dw_nogo_punish")
    assert nogo[1] < nogo[0]

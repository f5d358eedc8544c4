"""Scenario acceptance (issue 4; SCIENCE.md sections 5 and 7). Marker: long.

Margins are the issue's, fixed before any run; paired seeds (1-3, and 1-20 for the SSRI
dose-response, below), default size, compiled, run through `dopasim.compare` (two worker
processes).

* SSRI, occupancy 0, 0.4, 0.6, 0.8, 0.9 (conditioning, 100 trials: the learning phase,
  where a blunted DA signal can show in the weights): ht_steady_nM rises monotonically
  and is 3-5x occupancy 0 at 0.8; ht_terminal_content rises monotonically;
  reward_da_peak_nM and d1_weight_change fall monotonically (seed means). Seeds 1-20: with
  3 seeds (an earlier run) every criterion passed but d1_weight_change, whose steps between
  neighbouring doses (about -0.0003 for 0 -> 0.4, from the release per spike) are below
  the paired run-to-run spread (SD of the paired step differences about 0.0009). That
  pilot's power estimate, written down before this run, asked for about 20 seeds: the
  chance that the 20-seed mean of the smallest step has the right sign is then about
  0.93 (Phi(0.0003 / (0.0009 / sqrt(20)))); the larger steps are surer, but all four
  must be right, so the test as a whole passes with a somewhat lower probability. The
  margins are unchanged.
* Hunger, level 0 against 1 (aversive protocol, identical stimuli): da_aversive_ratio < 1
  sated and > 1 fasted; the learning downstream of the aversive cue (go_nogo_cue =
  d1 - d2 weight change) changes sign with it.

The Parkinson sweep and the medication contrast (probabilistic selection) are in
tests/test_selection_long.py.
"""

import numpy as np
import pytest

from dopasim.compare import compare

pytestmark = pytest.mark.long
SEEDS = 3
SSRI_SEEDS = 20


def _means(res, specs, metric, seeds=SEEDS):
    out = []
    for spec in specs:
        vals = [res["per_seed"][(spec, s)][metric] for s in range(1, seeds + 1)]
        out.append(float(np.mean(vals)))
    print(metric, [round(v, 4) for v in out])
    return out


def test_ssri_dose_response(tmp_path):
    levels = (0, 0.4, 0.6, 0.8, 0.9)
    specs = [f"ssri:occupancy={x:g}" for x in levels]
    res = compare(
        "conditioning",
        specs,
        seeds=SSRI_SEEDS,
        jobs=2,
        out=tmp_path / "ssri",
        params={"n_trials": "100", "n_omissions": "0", "probe_window": "1"},
        quiet=False,
    )
    assert not res["failures"]
    ht = _means(res, specs, "ht_steady_nM", SSRI_SEEDS)
    term = _means(res, specs, "ht_terminal_content", SSRI_SEEDS)
    peak = _means(res, specs, "reward_da_peak_nM", SSRI_SEEDS)
    d1 = _means(res, specs, "d1_weight_change", SSRI_SEEDS)
    _means(res, specs, "da_released_per_spike", SSRI_SEEDS)
    assert all(b > a for a, b in zip(ht, ht[1:], strict=False))
    assert 3 <= ht[3] / ht[0] <= 5
    assert all(b > a for a, b in zip(term, term[1:], strict=False))
    assert all(b < a for a, b in zip(peak, peak[1:], strict=False))
    assert all(b < a for a, b in zip(d1, d1[1:], strict=False))


def test_hunger_flips_the_aversive_response(tmp_path):
    specs = ["hunger:level=0", "hunger:level=1"]
    res = compare("aversive", specs, seeds=SEEDS, jobs=2, out=tmp_path / "hunger", quiet=False)
    assert not res["failures"]
    sated, fasted = _means(res, specs, "da_aversive_ratio")
    go_sated, go_fasted = _means(res, specs, "go_nogo_cue")
    assert sated < 1 < fasted
    assert go_sated < 0 < go_fasted

"""Scenario acceptance (issue 4: SSRI co-release, Zhou et al. 2005; hunger [hypothesis]). Marker: long.

Margins are the issues' (4; 19 for the SSRI test), fixed before any run; paired seeds
(1-3, and 1-8 for the SSRI test, below), default size, compiled, run through
`dopasim.comparison` (two worker processes).

* SSRI with the 5-HT2C route (issue 19, item 8; pre-registered in
  docs/preregistration/2026-12-03-ssri-ht2c.md): conditioning, 100 trials, occupancy
  0, 0.4, 0.6, 0.8, 0.9 (sustained), plus ``ssri:occupancy=0.8,ht2c=off`` (the
  antagonist control) and ``ssri:occupancy=0.8,chronic=tolerant``; paired seeds 1-8 (the
  gain was calibrated on seeds 101-104). On the seed means: the tonic DA rate
  (da_tonic_hz) falls strictly with occupancy, by 15-35 % at 0.8 against occupancy 0,
  and by no more than 55 % at any dose; the fraction of DA spikes in bursts
  (da_burst_spike_fraction) is lower at 0.8 and at 0.9 than at occupancy 0; ht2c=off
  at 0.8 is within 5 % of occupancy 0's tonic rate; ht_steady_nM rises strictly and is
  3-5x occupancy 0 at 0.8; ht_terminal_content rises strictly. Printed, not asserted (a
  model prediction): the reward-evoked DA peak (reward_da_peak_nM) and D1 learning
  (d1_weight_change) at 0.8 against occupancy 0, sustained, tolerant and off, as paired
  mean differences with 95 % t intervals. (Until issue 19 this test asserted, on seeds
  1-20 without the route, that the peak and D1 learning fall monotonically with
  occupancy; docs/scenarios.md keeps that result.)
* Hunger, level 0 against 1 (aversive protocol, identical stimuli): da_aversive_ratio < 1
  sated and > 1 fasted; the learning downstream of the aversive cue (go_nogo_cue =
  d1 - d2 weight change) changes sign with it.

The Parkinson sweep and the medication contrast (probabilistic selection) are in
tests/test_selection_long.py.
"""

import numpy as np
import pytest

from dopasim.comparison import compare, t_quantile_975

pytestmark = pytest.mark.long
SEEDS = 3
SSRI_SEEDS = 8


def _means(res, specs, metric, seeds=SEEDS):
    out = []
    for spec in specs:
        vals = [res["per_seed"][(spec, s)][metric] for s in range(1, seeds + 1)]
        out.append(float(np.mean(vals)))
    print(metric, [round(v, 4) for v in out])
    return out


def _paired(res, a, b, metric, seeds=SSRI_SEEDS):
    """Mean of b - a over paired seeds, with its 95 % Student-t interval."""
    d = np.array(
        [
            res["per_seed"][(b, s)][metric] - res["per_seed"][(a, s)][metric]
            for s in range(1, seeds + 1)
        ]
    )
    half = t_quantile_975(len(d) - 1) * float(d.std(ddof=1)) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def test_ssri_ht2c_lowers_tonic_da(tmp_path):
    levels = (0, 0.4, 0.6, 0.8, 0.9)
    dose = [f"ssri:occupancy={x:g}" for x in levels]
    off, tolerant = "ssri:occupancy=0.8,ht2c=off", "ssri:occupancy=0.8,chronic=tolerant"
    specs = [*dose, off, tolerant]
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
    table = {
        m: _means(res, specs, m, SSRI_SEEDS)
        for m in (
            "da_tonic_hz",
            "da_burst_spike_fraction",
            "gaba_rate_hz",
            "ht_steady_nM",
            "ht_terminal_content",
            "reward_da_peak_nM",
            "d1_weight_change",
        )
    }
    tonic = table["da_tonic_hz"]
    print(f"\nSSRI, 5-HT2C route: seed means over seeds 1-{SSRI_SEEDS}")
    print(
        "| scenario | DA tonic (Hz) | vs occupancy 0 | burst fraction | GABA (Hz) "
        "| [5-HT] (nM) | terminal 5-HT (nM) | reward DA peak (nM) | D1 weight change |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k, spec in enumerate(specs):
        print(
            f"| {spec} | {tonic[k]:.3f} | {100 * (tonic[k] / tonic[0] - 1):+.1f} % "
            f"| {table['da_burst_spike_fraction'][k]:.4f} | {table['gaba_rate_hz'][k]:.2f} "
            f"| {table['ht_steady_nM'][k]:.2f} | {table['ht_terminal_content'][k]:.3f} "
            f"| {table['reward_da_peak_nM'][k]:.2f} | {table['d1_weight_change'][k]:.4f} |"
        )
    print("\nModel prediction at 0.8 against occupancy 0 (paired mean [95 % t interval]):")
    for label, spec in (("sustained", dose[3]), ("tolerant", tolerant), ("ht2c=off", off)):
        for metric in ("reward_da_peak_nM", "d1_weight_change", "da_tonic_hz"):
            m, lo, hi = _paired(res, dose[0], spec, metric)
            ref = table[metric][0]
            print(
                f"  {label:9s} {metric:18s} {m:+.4g} [{lo:+.4g}, {hi:+.4g}] "
                f"({100 * m / ref:+.1f} % of {ref:.4g})"
            )
    n = len(levels)
    burst = table["da_burst_spike_fraction"][:n]
    ht, term = table["ht_steady_nM"][:n], table["ht_terminal_content"][:n]
    reduction = [1 - r / tonic[0] for r in tonic[:n]]
    # tonic DA: falls strictly with occupancy; 15-35 % at 0.8; never more than 55 %
    assert all(b < a for a, b in zip(tonic[:n], tonic[1:n], strict=False)), tonic[:n]
    assert 0.15 <= reduction[3] <= 0.35, reduction
    assert max(reduction) <= 0.55, reduction
    # bursting: fewer of the DA spikes in bursts at 0.8 and at 0.9 than at occupancy 0
    assert burst[3] < burst[0] and burst[4] < burst[0], burst
    # the antagonist control: within 5 % of occupancy 0
    assert abs(tonic[n] / tonic[0] - 1) <= 0.05, (tonic[n], tonic[0])
    # the existing targets: [5-HT] 3-5x at 0.8; steady and terminal 5-HT rise strictly
    assert all(b > a for a, b in zip(ht, ht[1:], strict=False)), ht
    assert 3 <= ht[3] / ht[0] <= 5, ht
    assert all(b > a for a, b in zip(term, term[1:], strict=False)), term


def test_hunger_flips_the_aversive_response(tmp_path):
    specs = ["hunger:level=0", "hunger:level=1"]
    res = compare("aversive", specs, seeds=SEEDS, jobs=2, out=tmp_path / "hunger", quiet=False)
    assert not res["failures"]
    sated, fasted = _means(res, specs, "da_aversive_ratio")
    go_sated, go_fasted = _means(res, specs, "go_nogo_cue")
    assert sated < 1 < fasted
    assert go_sated < 0 < go_fasted

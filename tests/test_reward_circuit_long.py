"""Reward circuit acceptance (issue 3: Schultz et al. 1997, Fiorillo et al. 2003, Cohen et al. 2015). Marker: long.

Margins are the issue's, fixed before any run; 3 seeds each, default size, compiled.

* conditioning: da_tonic_hz 2-8, da_intraburst_hz 14-30, ht_tonic_hz 1-3,
  ht_cv_below_half_fraction >= 0.9; early_us_ratio >= 2 and early_cs_ratio <= 1.25;
  late_cs_ratio >= 2 and late_us_ratio in 0.75-1.25; omission_ratio < 0.75;
  D1 weights of the rewarded cue grow.
* probability: cs_spearman_rho >= 0.9.
* aversive: ht_punish_ratio >= 1.5, da_punish_ratio < 1; D2 weights of the cue grow.
* eligibility window: dw > 0 for delays 0.3-2 s, and dw(5 s) <= 10 % of the peak.
"""

import pytest

from dopasim import runner

pytestmark = pytest.mark.long
SEEDS = (1, 2, 3)


def _run(protocol, seed, tmp_path, **params):
    res = runner.run(
        protocol,
        params=params,
        seed=seed,
        device="cpp_standalone",
        out=tmp_path / f"{protocol}-{seed}",
        quiet=True,
        figures=False,
    )
    print(
        protocol,
        seed,
        {k: round(v, 3) if isinstance(v, float) else v for k, v in res.metrics.items()},
    )
    return res.metrics


@pytest.mark.parametrize("seed", SEEDS)
def test_conditioning_rates_and_td_signature(seed, tmp_path):
    m = _run("conditioning", seed, tmp_path)
    assert 2 <= m["da_tonic_hz"] <= 8
    assert 14 <= m["da_intraburst_hz"] <= 30
    assert 1 <= m["ht_tonic_hz"] <= 3
    assert m["ht_cv_below_half_fraction"] >= 0.9
    assert m["early_us_ratio"] >= 2 and m["early_cs_ratio"] <= 1.25
    assert m["late_cs_ratio"] >= 2
    assert 0.75 <= m["late_us_ratio"] <= 1.25
    assert m["omission_ratio"] < 0.75
    assert m["d1_weight_change"] > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_probability_monotonic(seed, tmp_path):
    m = _run("probability", seed, tmp_path)
    assert m["cs_spearman_rho"] >= 0.9


@pytest.mark.parametrize("seed", SEEDS)
def test_aversive(seed, tmp_path):
    m = _run("aversive", seed, tmp_path)
    assert m["ht_punish_ratio"] >= 1.5
    assert m["da_punish_ratio"] < 1
    assert m["d2_weight_change"] > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_eligibility_window(seed, tmp_path):
    m = _run("eligibility-window", seed, tmp_path)
    peak = max(m[f"dw_at_{d}s"] for d in ("0.1", "0.3", "0.6", "1", "2", "3", "5"))
    for d in ("0.3", "0.6", "1", "2"):
        assert m[f"dw_at_{d}s"] > 0
    assert m["dw_at_5s"] <= 0.1 * peak

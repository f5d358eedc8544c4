"""The reward circuit and the conditioning protocol: a tiny run end to end, and bad input.

The scientific acceptance (TD signature, rates, 3 seeds at the default size) is in the
long tier (tests/test_reward_circuit_long.py); here the network is tiny (scale 0.05) and
runs on the numpy target, so only structure and plumbing are checked.
"""

import numpy as np
import pytest
from brian2 import ms, nmolar, second, umolar

from dopasim import runner
from dopasim.cli import main
from dopasim.models.pools import NeuromodulatorPools, release_for

TINY = {
    "scale": "0.05",
    "n_trials": "2",
    "trial_len": "2s",
    "cs_time": "0.5s",
    "us_delay": "0.5s",
    "n_omissions": "1",
    "probe_window": "1",
    "weight_samples": "20",
}


def test_conditioning_tiny_run_end_to_end(tmp_path):
    res = runner.run(
        "conditioning", params=TINY, seed=3, device="numpy", out=tmp_path / "run", quiet=True
    )
    m = res.metrics
    for key in (
        "da_tonic_hz",
        "da_intraburst_hz",
        "ht_tonic_hz",
        "ht_cv_below_half_fraction",
        "early_us_ratio",
        "early_cs_ratio",
        "late_cs_ratio",
        "late_us_ratio",
        "late_us_mean_ratio",
        "omission_ratio",
        "d1_weight_change",
        "d2_weight_change",
    ):
        assert key in m
    assert m["n_omissions"] == 1
    assert 0 < m["da_tonic_hz"] < 20 and 0 < m["ht_tonic_hz"] < 10
    d = res.data
    assert d["trial_outcome"].tolist() == [1, 0]  # the probe is the last trial
    assert d["ctx_d1_w_samples"].shape[0] == 20
    # every population has its spikes, and neuron indices are in range
    for pop, n in d["sizes"].items():
        i, t = d[f"spikes_{pop}"]
        assert len(i) == len(t) and (len(i) == 0 or (i.max() < n and t.max() < 4.0))
    names = sorted(f.name for f in (tmp_path / "run").glob("*.png"))
    assert names == ["pools.png", "psth.png", "raster.png", "responses.png", "weights.png"]
    # same seed, same device: identical spikes
    again = runner.run(
        "conditioning", params=TINY, seed=3, device="numpy", write=False, figures=False, quiet=True
    )
    for pop in d["sizes"]:
        assert np.array_equal(again.data[f"spikes_{pop}"][1], d[f"spikes_{pop}"][1])


@pytest.mark.parametrize(
    ("param", "needle"),
    [
        ("us_delay=3s", "us_delay"),  # the outcome would fall after the trial's end
        ("us_delay=-1s", "us_delay"),
        ("cs_time=0.2s", "cs_time"),
        ("state_dur=0.3s", "state_dur"),
        ("n_omissions=30", "n_omissions"),
        ("duration=10s", "duration"),
        ("scale=0", "scale"),
        ("trial_len=3.005s", "trial_len"),
    ],
)
def test_conditioning_bad_input(param, needle, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "conditioning", "--param", param, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert not out.exists()


def test_release_for_balances_uptake():
    pools = NeuromodulatorPools()
    q = release_for(pools.da_tonic, 4.5 / second, 100, pools.vmax_dat, pools.km_dat)
    flux = 100 * 4.5 / second * q
    uptake = pools.vmax_dat * pools.da_tonic / (pools.km_dat + pools.da_tonic)
    assert float(flux / uptake) == pytest.approx(1.0, rel=1e-12)
    assert release_for(pools.da_tonic, 4.5 / second, 0, pools.vmax_dat, pools.km_dat) == 0 * umolar


def test_pool_clears_by_michaelis_menten():
    """Without release, [DA] follows d[DA]/dt = -Vmax [DA]/(Km (1 + [5HT]/Km5) + [DA])."""
    import brian2

    params = NeuromodulatorPools()
    g = params.build(dt=0.1 * ms)
    g.da = 1 * umolar
    g.ht = 0 * nmolar
    net = brian2.Network(g)
    net.run(200 * ms)
    # reference: fine-step integration of the same ODE in numpy
    da, vmax, km = 1.0, float(params.vmax_dat / (umolar / second)), float(params.km_dat / umolar)
    h = 1e-6
    for _ in range(int(0.2 / h)):
        da -= h * vmax * da / (km + da)
    assert float(g.da[0] / umolar) == pytest.approx(da, rel=1e-3)


def test_ssri_occupancy_raises_steady_5ht():
    """A larger SERT occupancy gives a larger steady [5-HT] for the same release flux."""
    import brian2

    levels = []
    for occ in (0.0, 0.5, 0.8):
        params = NeuromodulatorPools(sert_occupancy=occ)
        g = params.build(dt=1 * ms)
        # release fluxes that balance total uptake at the tonic levels (no SSRI)
        base = NeuromodulatorPools()
        da, ht = base.da_tonic, base.ht_tonic
        denom = 1 + da / base.km_dat + ht / base.km_dat_5ht
        g.namespace["da_flux"] = base.vmax_dat * (da / base.km_dat) / denom
        g.namespace["ht_flux"] = (
            base.sert_uptake_at_tonic() + base.vmax_dat * (ht / base.km_dat_5ht) / denom
        )
        g.run_regularly("ht += ht_flux*dt\nda += da_flux*dt", when="start")
        net = brian2.Network(g)
        net.run(20 * second)
        levels.append(float(g.ht[0] / nmolar))
    # without an SSRI the tonic levels are the fixed point (up to the Euler step)
    assert levels[0] == pytest.approx(float(params.ht_tonic / nmolar), rel=0.01)
    assert levels[0] < levels[1] < levels[2]


def test_pool_validation_names_the_field():
    with pytest.raises(ValueError, match="sert_occupancy"):
        NeuromodulatorPools(sert_occupancy=1.5).validate()
    with pytest.raises(ValueError, match="km_dat"):
        NeuromodulatorPools(km_dat=0 * umolar).validate()


SMALL = {"scale": "0.05", "trial_len": "2s", "cs_time": "0.5s", "weight_samples": "10"}


@pytest.mark.parametrize(
    ("protocol", "params", "keys"),
    [
        (
            "probability",
            {**SMALL, "us_delay": "0.5s", "n_trials": "10"},
            [
                "cs_ratio_p0",
                "cs_ratio_p25",
                "cs_ratio_p50",
                "cs_ratio_p75",
                "cs_ratio_p100",
                "cs_spearman_rho",
            ],
        ),
        (
            "aversive",
            {**SMALL, "us_delay": "0.5s", "n_trials": "2"},
            ["ht_punish_ratio", "da_punish_ratio"],
        ),
        (
            "eligibility-window",
            {**SMALL, "delays": "0.1,0.5", "n_reps": "1"},
            ["dw_at_0.1s", "dw_at_0.5s", "dw_peak_delay_s", "dw_control"],
        ),
    ],
)
def test_other_protocols_tiny_runs(protocol, params, keys):
    res = runner.run(
        protocol, params=params, seed=2, device="numpy", write=False, figures=False, quiet=True
    )
    for key in keys:
        assert key in res.metrics, key
    if protocol == "probability":
        cues, outcome = res.data["trial_cue"], res.data["trial_outcome"]
        assert outcome[cues == 0].sum() == 0 and np.all(outcome[cues == 4] == 1)  # P = 0 and P = 1
    if protocol == "eligibility-window":
        assert res.metrics["dw_peak_delay_s"] in (0.1, 0.5)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["probability", "--param", "probabilities=0,1.5"], "probabilities"),
        (["probability", "--param", "probabilities=0,x"], "probabilities"),
        (["eligibility-window", "--param", "delays=-1,0.3"], "delays"),
        (["eligibility-window", "--param", "delays=0.3,20"], "delays"),
        (["aversive", "--param", "us_delay=5s"], "us_delay"),
    ],
)
def test_other_protocols_bad_input(argv, needle, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert not out.exists()

"""The reward circuit and the conditioning protocol: a tiny run end to end, and bad input.

The scientific acceptance (TD signature, rates, 3 seeds at the default size) is in the
long tier (tests/test_reward_circuit_long.py); here the network is tiny (scale 0.05) and
runs on the numpy target, so only structure and plumbing are checked.
"""

import numpy as np
import pytest
from brian2 import ms, nmolar, second, umolar
from tiny import TINY_CONDITIONING

from dopasim import runner
from dopasim.cli import main
from dopasim.models.pools import NeuromodulatorPools, adaptation_floor, release_for

TINY = TINY_CONDITIONING


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
    # the weight samples are the weights at their own times: w_init at t = 0 (they were
    # one trial late, and the first sample was 0)
    assert np.allclose(d["ctx_d1_w_samples"][:, 0], d["w_init"])
    assert d["ctx_d1_w_t"][0] == 0
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
    for key in ("base_floor_d1", "base_floor_d2"):
        with pytest.raises(ValueError, match=key):
            NeuromodulatorPools(**{key: -1 * nmolar}).validate()
    with pytest.raises(ValueError, match="dip_block"):
        NeuromodulatorPools(dip_block=1.5).validate()


def test_adaptation_floor():
    """The lowest level whose D2 signal r g(c) equals the intact g(tonic)."""
    t, k = 20 * nmolar, 10 * nmolar
    c = adaptation_floor(t, k, 1.6)
    # by hand: g = 2/3, c = 10 nM (2/3) / (1.6 - 2/3) = 7.142857 nM
    assert float(c / nmolar) == pytest.approx(10 * (2 / 3) / (1.6 - 2 / 3), rel=1e-12)
    assert 1.6 * c / (c + k) == pytest.approx(float(t / (t + k)), rel=1e-12)
    # no up-regulation: no adaptation below the tonic level; more: a lower floor
    assert float(adaptation_floor(t, k, 1.0) / nmolar) == pytest.approx(20)
    assert adaptation_floor(t, k, 1.75) < c
    for bad in ((t, k, 0.9), (t, 0 * nmolar, 1.6), (0 * nmolar, k, 1.6)):
        with pytest.raises(ValueError, match="adaptation_floor"):
            adaptation_floor(*bad)


def test_the_baseline_follows_the_tonic_level_down_to_its_floor():
    """With no release [DA] clears to 0; the synapses' baseline follows it (a robust
    running mean) but stops at its floor, so a deficit below the floor stays an error.
    D1 and D2 synapses have their own floors (here 12 and 7 nM).
    The mean itself is not touched by the floor: b is the floorless robust mean (checked
    against a numpy Euler reference fed with the recorded [DA]), floored. (A first
    version floored the mean's samples instead, which biased the mean up whenever [DA]
    dipped below the floor, even with the mean above it.)"""
    import brian2

    floor, clip, tau, dt = 7.0, 5.0, 1.0, 1e-3
    params = NeuromodulatorPools(
        base_floor_d1=12 * nmolar,
        base_floor_d2=floor * nmolar,
        tau_base=tau * second,
        base_clip=clip * nmolar,
    )
    g = params.build(dt=dt * second)
    mon = brian2.StateMonitor(g, ["da", "da_mean", "da_base_d2", "da_base_d1"], record=0)
    brian2.Network(g, mon).run(20 * second)
    da, mean, base, base1 = (
        np.array(getattr(mon, v)[0] / nmolar) for v in ("da", "da_mean", "da_base_d2", "da_base_d1")
    )
    assert da[-1] < 0.01
    # the floorless reference: an Euler step of the clipped (Huber) running mean
    ref = np.empty_like(da)
    ref[0] = 20.0
    for k in range(len(da) - 1):
        ref[k + 1] = ref[k] + dt / tau * (np.clip(da[k], ref[k] - clip, ref[k] + clip) - ref[k])
    assert np.allclose(mean, ref, rtol=1e-9, atol=1e-9)
    assert ref[-1] < 1.0  # the mean itself goes (almost) to 0
    assert np.allclose(base, np.maximum(ref, floor), rtol=1e-9, atol=1e-9)
    assert base[-1] == pytest.approx(floor)
    assert np.allclose(base1, np.maximum(ref, 12.0), rtol=1e-9, atol=1e-9)


def _rect_mean_run(rect_clip, clip=5.0, tau=1.0, dt=1e-3):
    """rect_d1 and rect_d1_mean (nM) of a pool whose [DA] clears (no release), with
    dips weighted 2, and their numpy Euler reference from the recorded rect_d1."""
    import brian2

    params = NeuromodulatorPools(
        tau_base=tau * second,
        base_clip=clip * nmolar,
        rect_clip=None if rect_clip is None else rect_clip * nmolar,
    )
    g = params.build(dt=dt * second, rectify={"d1": (1.0, 2.0), "d2": (1.0, 2.0)})
    mon = brian2.StateMonitor(g, ["rect_d1", "rect_d1_mean"], record=0, when="end")
    brian2.Network(g, mon).run(3 * second)
    rect, mean = (np.array(getattr(mon, v)[0] / nmolar) for v in ("rect_d1", "rect_d1_mean"))
    width = clip if rect_clip is None else rect_clip
    ref = np.empty_like(rect)
    ref[0] = mean[0]
    for k in range(len(rect) - 1):
        ref[k + 1] = ref[k] + dt / tau * (np.clip(rect[k], ref[k] - width, ref[k] + width) - ref[k])
    return rect, mean, ref


def test_the_rectified_terms_running_mean_uses_its_own_clip():
    """rect_<c>_mean is the Huber running mean of rect_<c> with the clip rect_clip
    (base_clip when None), checked against a numpy Euler reference: as [DA] clears,
    rect falls far beyond 5 nM (dips weighted 2), and a 40 nM clip lets the mean follow
    it more closely than base_clip's 5 nM."""
    gaps = {}
    for rect_clip in (None, 40.0):
        rect, mean, ref = _rect_mean_run(rect_clip)
        np.testing.assert_allclose(mean, ref, rtol=1e-9, atol=1e-6)
        assert rect.min() < -20
        gaps[rect_clip] = np.abs(mean - rect).mean()
    assert gaps[40.0] < 0.7 * gaps[None]


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


class _FakeSyn:
    def connect(self, *args, **kw):
        self.args = (args, kw)


def test_fixed_indegree_counts_do_not_depend_on_the_seed():
    from dopasim.circuits.reward_circuit import _connect

    allowed = np.zeros((60, 40), dtype=bool)
    allowed[:30, :20] = True
    allowed[30:, 20:] = True
    counts = set()
    for seed in range(5):
        i, j = _connect(
            _FakeSyn(), 0.25, np.random.default_rng(seed), 60, 40, allowed, "fixed_indegree"
        )
        assert allowed[i, j].all()
        assert len(set(zip(i.tolist(), j.tolist(), strict=True))) == len(i)  # no multapses
        assert np.array_equal(np.bincount(j, minlength=40), np.full(40, 8))  # round(.25 * 30)
        counts.add(len(i))
    assert counts == {320}
    # different seeds pick different partners
    a = _connect(_FakeSyn(), 0.25, np.random.default_rng(1), 60, 40, allowed, "fixed_indegree")
    b = _connect(_FakeSyn(), 0.25, np.random.default_rng(2), 60, 40, allowed, "fixed_indegree")
    assert not np.array_equal(a[0], b[0])


def test_bernoulli_connectivity_is_unchanged():
    """The default rule draws exactly what the calibrated circuit drew (rng.random < p)."""
    from dopasim.circuits.reward_circuit import _connect

    i, j = _connect(_FakeSyn(), 0.1, np.random.default_rng(3), 50, 70)
    ref = np.nonzero(np.random.default_rng(3).random((50, 70)) < 0.1)
    assert np.array_equal(i, ref[0]) and np.array_equal(j, ref[1])


def test_connectivity_rule_is_validated():
    from dopasim.circuits.reward_circuit import RewardCircuitParams

    with pytest.raises(
        ValueError,
        match="connectivity: 'fixed_outdegree' is not allowed; allowed: bernoulli or fixed_indegree",
    ):
        RewardCircuitParams(connectivity="fixed_outdegree").validate()


def test_standalone_clock_hash_is_patched_and_restored():
    import brian2

    from dopasim.device import use_device

    c0 = brian2.Clock(dt=1 * ms, name="hash_probe_a")
    before = hash(c0)
    with use_device("cpp_standalone", build_key=("hash-probe",)):
        c1 = brian2.Clock(dt=1 * ms, name="hash_probe_b")
        import zlib

        assert hash(c1) == zlib.crc32(b"hash_probe_b")  # the same in every process
    assert hash(c0) == before == object.__hash__(c0)
    assert "__hash__" not in brian2.Clock.__dict__


@pytest.mark.parametrize("key", ["d_d1_gaba", "d_reward_da"])
def test_negative_latencies_are_refused(key):
    from dopasim.circuits.reward_circuit import RewardCircuitParams

    with pytest.raises(
        ValueError, match=f"{key}: '-5. ms' is outside the allowed range; allowed: >= 0 ms"
    ):
        RewardCircuitParams(**{key: -5 * ms}).validate()


def test_the_seeder_keeps_off_the_default_clock():
    """`SeedAtStart`'s group runs on its operation's 1 s clock: on Brian2's 0.1 ms
    default clock (no code object of its own) the compiled scheduler woke every 0.1 ms."""
    import brian2

    from dopasim.device import SeedAtStart

    net = brian2.Network()
    seeder = SeedAtStart(net)
    clocks = {seeder.group.clock, *(o.clock for o in seeder.group.contained_objects)}
    assert clocks == {seeder.group.clock}
    assert float(seeder.group.clock.dt_) == 1.0

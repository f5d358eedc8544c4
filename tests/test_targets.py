"""numpy, Cython and cpp_standalone give the same synapse (marker: targets; compiles)."""

from pathlib import Path

import numpy as np
import pytest
from brian2 import ms, umolar

from dopasim.device import use_device
from dopasim.models.dopamine import DopaminePool
from dopasim.models.three_factor import ThreeFactorRule
from synapse_harness import read_state, simulate_synapse

pytestmark = pytest.mark.targets


def _trains(seed, n_syn=20, t_end=6.0, dt=1e-3):
    rng = np.random.default_rng(seed)
    grid = lambda n: np.unique(np.round(rng.uniform(0, t_end, n) / dt)) * dt  # noqa: E731
    pre = [grid(rng.integers(0, 30)) for _ in range(n_syn)]
    post = [grid(rng.integers(0, 30)) for _ in range(n_syn)]
    return pre, post, grid(8)


def _run(device, trains):
    rule = ThreeFactorRule(A_plus=1.0, A_minus=1.5, w_max=5.0, b=0.3 * umolar, epoch=1000 * ms)
    pool = DopaminePool(tau=200 * ms, tonic=0.1 * umolar, release=1 * umolar)
    with use_device(device, build_key=("targets-test",)) as dev:
        pre, post, da = trains
        w_out = {}
        import brian2

        standalone = device == "cpp_standalone"
        _, _, net = simulate_synapse(
            pre, post, da, rule, pool, t_end=6.0, dt=1 * ms, w0=2.5, build_only=True
        )
        if standalone:
            brian2.device.build(
                directory=dev["directory"], compile=True, run=True, with_output=False
            )
        w_out["w"], w_out["c"] = read_state(net, rule)
    return w_out


def test_targets_agree():
    trains = _trains(7)
    ref = _run("numpy", trains)
    for device in ("cython", "cpp_standalone"):
        got = _run(device, trains)
        np.testing.assert_allclose(got["w"], ref["w"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got["c"], ref["c"], rtol=1e-9, atol=1e-12)
    assert np.ptp(ref["w"]) > 0.1  # the trains did change the weights


def _noise(device, fn="counter_uniform"):
    import brian2
    from brian2 import NeuronGroup, StateMonitor

    from dopasim.models import noise

    with use_device(device, build_key=("targets-noise", fn)) as dev:
        g = NeuronGroup(
            7,
            f"x = {fn}(timestep(t, dt), i, seed) : 1 (constant over dt)\nseed : integer (shared)",
            namespace={fn: getattr(noise, fn)},
            dt=1 * ms,
            name="g",
        )
        g.seed = 2**31 - 5
        m = StateMonitor(g, "x", record=True, when="end", name="m")
        net = brian2.Network(g, m)
        net.run(50 * ms)
        if device == "cpp_standalone":
            brian2.device.build(
                directory=dev["directory"], compile=True, run=True, with_output=False
            )
        return np.asarray(m.x)


def test_noise_is_identical_on_every_target():
    for fn in ("counter_uniform", "counter_normal"):
        ref = _noise("numpy", fn)
        for device in ("cython", "cpp_standalone"):
            assert np.array_equal(_noise(device, fn), ref), (fn, device)


def _seeded_noise(seed):
    """A tiny noisy group on cpp_standalone through `SeedAtStart`; (main.cpp, trace)."""
    import gc

    import brian2
    from brian2 import NeuronGroup

    from dopasim.device import SeedAtStart

    gc.collect()  # the previous call's objects, so that the names (and code) repeat
    with use_device("cpp_standalone", build_key=("targets-seed",)) as dev:
        g = NeuronGroup(3, "dx/dt = -x/(10*ms) + xi/sqrt(10*ms) : 1", dt=1 * ms, name="g")
        m = brian2.StateMonitor(g, "x", record=True, name="m")
        net = brian2.Network(g, m)
        seeder = SeedAtStart(net)
        net.run(20 * ms)
        brian2.device.build(
            directory=dev["directory"], compile=True, run=False, clean=False, with_output=False
        )
        brian2.device.run(
            directory=dev["directory"], with_output=False, run_args=seeder.run_args(seed)
        )
        main = (Path(dev["directory"]) / "main.cpp").read_text()
        return main, np.asarray(m.x).copy()


def test_the_seed_is_a_run_argument(tmp_path, monkeypatch):
    """Same seed: same noise; new seed: new noise, from the same compiled code."""
    monkeypatch.setenv("DOPASIM_CACHE", str(tmp_path))
    main1, x1 = _seeded_noise(11)
    main2, x2 = _seeded_noise(12)
    _, x1b = _seeded_noise(11)
    assert main1 == main2  # the seed is not in the code: nothing recompiles
    assert np.array_equal(x1, x1b)
    assert not np.array_equal(x1, x2)


def test_weight_samples_are_in_step_on_cpp_standalone(tmp_path):
    """On the compiled device too, the sampled weights are the weights at the sample
    times (the snapshot and the monitor run on separate clocks): w_init at t = 0."""
    from tiny import TINY_CONDITIONING

    from dopasim import runner

    res = runner.run(
        "conditioning",
        params=TINY_CONDITIONING,
        seed=3,
        device="cpp_standalone",
        out=tmp_path / "run",
        figures=False,
        quiet=True,
    )
    d = res.data
    trial_len = float(res.params["trial_len"])
    n = d["ctx_d1_w_samples"].shape[1]
    assert np.allclose(d["ctx_d1_w_t"], np.arange(n) * trial_len)
    for proj in ("ctx_d1", "ctx_d2"):
        assert np.allclose(d[f"{proj}_w_samples"][:, 0], d["w_init"])

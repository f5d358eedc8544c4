"""numpy, Cython and cpp_standalone give the same synapse (marker: targets; compiles)."""

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


def _noise(device):
    import brian2
    from brian2 import NeuronGroup, StateMonitor

    from dopasim.models.noise import counter_uniform

    with use_device(device, build_key=("targets-noise",)) as dev:
        g = NeuronGroup(
            7,
            "x = counter_uniform(timestep(t, dt), i, seed) : 1 (constant over dt)\n"
            "seed : integer (shared)",
            namespace={"counter_uniform": counter_uniform},
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
    ref = _noise("numpy")
    for device in ("cython", "cpp_standalone"):
        assert np.array_equal(_noise(device), ref), device

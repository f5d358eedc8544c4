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


def _archive_run(trains, rule, archive, same_step):
    # tonic above b: the sign of the eligibility moves the weights, into both bounds
    pool = DopaminePool(tau=200 * ms, tonic=0.5 * umolar, release=1 * umolar)
    key = ("archive-test", archive, same_step, rule.bounds)
    with use_device("cpp_standalone", build_key=key) as dev:
        import brian2

        pre, post, da = trains
        _, _, net = simulate_synapse(
            pre,
            post,
            da,
            rule,
            pool,
            t_end=6.0,
            dt=1 * ms,
            w0=np.linspace(0.0, 5.0, len(pre)),
            build_only=True,
            archive=archive,
            same_step=same_step,
        )
        brian2.device.build(directory=dev["directory"], compile=True, run=True, with_output=False)
        return read_state(net, rule)


@pytest.mark.parametrize("bounds", ["hard", "soft"])
@pytest.mark.parametrize("same_step", ["causal", "depression"])
def test_post_archive_is_the_per_spike_update(bounds, same_step):
    """Post spikes archived and replayed at the next pre event, sweep and run end give
    the weights and eligibilities of the per-spike update: to the bit with hard bounds.
    The trains cross six epochs, put pre and post spikes in the same steps, and drive
    weights into both bounds."""
    rng = np.random.default_rng(11)
    pre, post, da = _trains(11, n_syn=40)
    for k in range(0, 40, 4):  # same-step pairs
        both = np.round(rng.uniform(0, 6.0, 5) / 1e-3) * 1e-3
        pre[k] = np.unique(np.concatenate([pre[k], both]))
        post[k] = np.unique(np.concatenate([post[k], both]))
    rule = ThreeFactorRule(
        A_plus=1.0, A_minus=1.5, w_max=5.0, b=0.3 * umolar, epoch=1000 * ms, bounds=bounds
    )
    w_ref, c_ref = _archive_run((pre, post, da), rule, False, same_step)
    w, c = _archive_run((pre, post, da), rule, True, same_step)
    if bounds == "hard":
        np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_array_equal(c, c_ref)
        assert np.any(w_ref == 0.0) and np.any(w_ref == 5.0)  # both bounds were reached
    else:
        np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c, c_ref, rtol=1e-12, atol=1e-12)
    assert np.ptp(c_ref) > 0.1  # the trains tagged the synapses


@pytest.mark.parametrize("same_step", ["depression", "causal"])
def test_distal_reward_network_with_the_archive_is_bit_identical(same_step):
    """The distal-reward network (300 neurons, 30 synapses each, 6 s: epochs, rewards,
    weights at the bound) gives the same spikes, final weights and rewarded-weight trace
    with and without the post-spike archive."""
    from dopasim import runner

    params = {
        "duration": "6 s",
        "n_neurons": "300",
        "n_synapses": "30",
        "interval": "100 ms",  # pairings, and so puffs, within 6 s
        "same_step": same_step,
    }
    runs = {
        arch: runner.run(
            "distal-reward",
            params={**params, "post_archive": arch},
            seed=3,
            device="cpp_standalone",
            quiet=True,
            write=False,
            figures=False,
        )
        for arch in ("off", "on")
    }
    off, on = runs["off"].data, runs["on"].data
    assert on["info"]["post_archive"] and not off["info"]["post_archive"]
    for key in ("w_final", "w_rewarded", "spike_counts", "reward_times", "da_uM"):
        np.testing.assert_array_equal(on[key], off[key], err_msg=key)
    for key in ("spikes_exc", "spikes_inh"):
        for a, b in zip(on[key], off[key], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=key)
    assert len(off["reward_times"]) > 0 and np.ptp(off["w_final"]) > 0.1


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

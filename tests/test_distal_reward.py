"""The distal-reward protocol on a tiny network (numpy target): the reward contingency,
the controls and the metrics, checked against the recorded spikes."""

import numpy as np
import pytest

from dopasim import runner

T = 8.0
SMALL = {"n_neurons": "100", "n_synapses": "20", "duration": f"{T} s", "interval": "100 ms"}


@pytest.fixture(scope="module")
def paired():
    return runner.run(
        "distal-reward", params=SMALL, seed=3, device="numpy", quiet=True, write=False
    )


def _pairings(data, interval):
    """n2 spikes within ``interval`` after the last n1 spike (and strictly after it)."""
    info = data["info"]
    (ie, te), (ii, ti) = data["spikes_exc"], data["spikes_inh"]
    i = np.concatenate([ie, ii + info["n_exc"]])  # n2 may be inhibitory
    t = np.concatenate([te, ti])
    steps = lambda x: np.round(x * 1000).astype(int)  # noqa: E731 - 1 ms grid
    t1, t2 = np.sort(steps(t[i == info["n1"]])), np.sort(steps(t[i == info["n2"]]))
    out = []
    for s in t2:
        before = t1[t1 < s]
        if len(before) and s - before[-1] < interval:
            out.append(s)
    return np.array(out) / 1000


def test_every_pairing_schedules_one_puff_1_to_3_s_later(paired):
    d = paired.data
    expected = _pairings(d, 100)
    expected = expected[expected < T - 0.001]  # the critic sees a pairing 1 step later
    assert len(expected) >= 3, "the test needs a few pairings"
    np.testing.assert_allclose(d["pairing_times"], expected + 0.001, atol=1e-9)
    rewards = d["reward_times"]
    due = d["pairing_times"][d["pairing_times"] < T - 3.002]
    assert len(rewards) >= len(due)
    # match every delivered puff to its pairing: delays in (1 s, 3 s]
    delays = np.sort(rewards) - np.sort(d["pairing_times"])[: len(rewards)]
    assert np.all(delays > 1.0 - 1e-9) and np.all(delays <= 3.0 + 1e-9)
    assert paired.metrics["n_rewards"] == len(rewards)


def test_metrics_are_consistent_with_the_data(paired):
    m, d = paired.metrics, paired.data
    w = d["w_final"]
    k = d["info"]["rewarded_synapse"]
    assert m["rewarded_weight"] == w[k]
    assert m["rewarded_weight_percentile"] == pytest.approx(100 * np.mean(np.delete(w, k) < w[k]))
    assert 0 <= w.min() and w.max() <= m["w_max"] == pytest.approx(4.0 * 100 / 20)
    counts = d["spike_counts"]
    assert m["rate_exc_hz"] == pytest.approx(counts[:80].mean() / T)
    assert d["w_rewarded"][0] == 0.0  # starts at 0 (daspnet.m)
    assert d["w_rewarded"][-1] == pytest.approx(w[k], abs=0.2)  # last sample 100 ms before the end


@pytest.mark.parametrize("reward", ["none", "random"])
def test_controls(reward):
    params = {**SMALL, "reward": reward, "random_rate": "0.5 Hz"}
    res = runner.run(
        "distal-reward", params=params, seed=3, device="numpy", quiet=True, write=False
    )
    if reward == "none":
        assert res.metrics["n_rewards"] == 0
        assert np.all(res.data["da_uM"] == pytest.approx(0.002))  # tonic only
    else:
        assert 0 < res.metrics["n_rewards"] <= 14  # Poisson(4): P(0) = 2 %, checked for seed 3
        assert "pairing_times" not in res.data


def test_same_seed_same_spikes_other_seed_other_spikes(paired):
    again = runner.run(
        "distal-reward", params=SMALL, seed=3, device="numpy", quiet=True, write=False
    )
    other = runner.run(
        "distal-reward", params=SMALL, seed=4, device="numpy", quiet=True, write=False
    )
    i, t = paired.data["spikes_exc"]
    assert np.array_equal(again.data["spikes_exc"][0], i) and np.array_equal(
        again.data["spikes_exc"][1], t
    )
    assert not (
        len(other.data["spikes_exc"][0]) == len(i)
        and np.array_equal(other.data["spikes_exc"][1], t)
    )


@pytest.mark.parametrize("plasticity", ["event", "clock"])
@pytest.mark.parametrize(
    "same_step, sign", [("depression", -1), ("causal", +1)], ids=["depression", "causal"]
)
def test_a_same_step_pair_follows_the_chosen_convention(plasticity, same_step, sign):
    """Two neurons made to spike in the same step (every synapse, autapses included, sees
    a pre arrival and a post spike at once): with daspnet.m's order the pair depresses
    by A_minus, with pre before post it potentiates by A_plus."""
    from brian2 import ms, mV, start_scope

    from dopasim.circuits.izhikevich2007 import Izhikevich2007Params, build_izhikevich2007

    start_scope()
    params = Izhikevich2007Params(
        n_neurons=3,
        exc_fraction=2 / 3,
        n_synapses=2,
        noise=0 * mV,
        plasticity=plasticity,
        same_step=same_step,
    )
    circuit = build_izhikevich2007(params, np.random.default_rng(0))
    neurons, exc = circuit["neurons"], circuit["exc_syn"]
    neurons.v[:2] = 40 * mV  # the two excitatory neurons cross in the first step
    circuit.network.run(1 * ms)
    rule = circuit.params["rule"]
    want = -rule.A_minus if sign < 0 else rule.A_plus
    if plasticity == "event":  # the exact form has decayed over the step since the pair
        want *= np.exp(-float(1 * ms / rule.tau_c))
    j, elig = np.asarray(exc.j[:]), np.asarray(exc.elig[:])
    assert (j < 2).sum() >= 2, "the draw should give pairs among the spiking neurons"
    np.testing.assert_allclose(elig[j < 2], want, rtol=1e-6)
    np.testing.assert_allclose(elig[j == 2], 0.0, atol=1e-12)  # no post spike: no change


def test_post_archive_is_chosen_by_device():
    """'on' runs on cpp_standalone only and is refused elsewhere before anything is
    built (auto archives on cpp_standalone from 500,000 plastic synapses on)."""
    from dopasim.params import ParamError

    with pytest.raises(ParamError, match="post_archive: 'on' runs on cpp_standalone only"):
        runner.prepare("distal-reward", {"post_archive": "on"}, 1, "numpy", None, True)
    runner.prepare("distal-reward", {"post_archive": "on"}, 1, "cpp_standalone", None, True)


def test_numpy_run_uses_the_per_spike_update(paired):
    assert paired.data["info"]["post_archive"] is False

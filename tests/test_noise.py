"""The counter-based noise: a pure-Python SplitMix64 oracle, and its distribution."""

import numpy as np
from brian2 import NeuronGroup, StateMonitor, ms, run, start_scope

from dopasim.models.noise import counter_uniform, splitmix64_uniform

MASK = (1 << 64) - 1


def _oracle(step, i, seed):
    """SplitMix64 finaliser with Python integers (Steele et al. 2014)."""
    x = (seed + (step * (1 << 32) + i + 1) * 0x9E3779B97F4A7C15) & MASK
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return (z >> 11) / 2.0**53


def test_numpy_matches_python_oracle():
    steps = np.array([0, 1, 2, 1000, 3_600_000, 2**31 - 1])
    for seed in (0, 1, 12345, 2**31 - 2):
        for i in (0, 1, 799, 9999):
            got = splitmix64_uniform(steps, i, seed)
            want = [_oracle(int(s), i, seed) for s in steps]
            assert np.array_equal(got, want)


def test_uniform_and_uncorrelated():
    u = splitmix64_uniform(np.repeat(np.arange(200), 500), np.tile(np.arange(500), 200), 7)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002  # n = 1e5, ~5 SE
    hist = np.histogram(u, bins=20, range=(0, 1))[0]
    assert np.all(np.abs(hist - 5000) < 5 * np.sqrt(5000))
    a = u.reshape(200, 500)
    assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 0.01  # next step
    assert abs(np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]) < 0.01  # next neuron
    # another seed gives another stream
    v = splitmix64_uniform(np.repeat(np.arange(200), 500), np.tile(np.arange(500), 200), 8)
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01


def test_in_brian2_numpy_target():
    start_scope()
    g = NeuronGroup(
        5,
        "x = counter_uniform(timestep(t, dt), i, seed) : 1 (constant over dt)\nseed : integer (shared)",
        namespace={"counter_uniform": counter_uniform},
        dt=1 * ms,
    )
    g.seed = 42
    m = StateMonitor(g, "x", record=True, when="end")
    run(4 * ms)
    want = [[_oracle(s, i, 42) for s in range(4)] for i in range(5)]
    assert np.array_equal(m.x, want)

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


def _oracle_normal(step, i, seed):
    x = (seed + (step * (1 << 32) + i + 1) * 0x9E3779B97F4A7C15) & MASK
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    s = sum((z >> k) & 0xFFFF for k in (0, 16, 32, 48))
    return (s / 65536.0 - 2.0) * np.sqrt(3.0)


def test_counter_normal_matches_oracle_and_moments():
    from dopasim.models.noise import splitmix64_normal

    steps = np.array([0, 1, 5, 3_600_000])
    for seed in (0, 99, 2**31 - 2):
        got = splitmix64_normal(steps, 3, seed)
        assert np.allclose(got, [_oracle_normal(int(s), 3, seed) for s in steps], atol=1e-15)
    z = splitmix64_normal(np.repeat(np.arange(400), 500), np.tile(np.arange(500), 400), 5)
    # n = 2e5: SE of the mean 0.0022, of the variance 0.003 (margins ~5 SE)
    assert abs(z.mean()) < 0.011 and abs(z.var() - 1) < 0.015
    assert abs(((z - z.mean()) ** 4).mean() / z.var() ** 2 - 3 + 0.3) < 0.05  # Irwin-Hall(4)
    a = z.reshape(400, 500)
    assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 0.012


def _membrane(noise, seed=3):
    from brian2 import Network, SpikeMonitor, mV

    from dopasim.models.lif import LIFParams, lif_group

    start_scope()
    p = LIFParams(sigma=4 * mV, i_bias_mean=17 * mV, i_bias_sd=0 * mV)
    g = lif_group(400, p, f"g_{noise}", np.random.default_rng(seed), dt=0.5 * ms, noise=noise)
    quiet = lif_group(
        400,
        p.with_(v_th=0 * mV),
        f"q_{noise}",
        np.random.default_rng(seed),
        dt=0.5 * ms,
        noise=noise,
    )
    sm = SpikeMonitor(g)
    m = StateMonitor(quiet, "v", record=True, dt=5 * ms)
    net = Network(g, quiet, sm, m)
    net.run(2000 * ms)
    v = np.asarray(m.v)[:, 40:] / float(mV)  # after 200 ms
    return sm.num_spikes / 400 / 2.0, v.std(axis=1).mean(), v.mean()


def test_counter_membrane_noise_matches_xi():
    """Free fluctuations of sd sigma, and the same firing rate, with either source.

    Margins fixed before the run: sd within 5 % of sigma = 4 mV (Euler's bias is
    +0.6 %), mean potential within 0.2 mV, rates within 10 % of each other.
    """
    rate_xi, sd_xi, mean_xi = _membrane("xi")
    rate_c, sd_c, mean_c = _membrane("counter")
    for sd in (sd_xi, sd_c):
        assert abs(sd - 4.0) < 0.2
    assert abs(mean_xi - mean_c) < 0.2
    assert rate_xi > 2 and abs(rate_c - rate_xi) < 0.1 * rate_xi


def test_noise_source_is_validated():
    import pytest

    from dopasim.models.lif import LIFParams, lif_group

    with pytest.raises(ValueError, match="noise must be one of xi, counter"):
        lif_group(2, LIFParams(), "bad", np.random.default_rng(0), noise="white")


def test_lif_equations_leave_out_only_what_stays_zero():
    """lif_equations: the full set is LIF_EQS; without g_s, g_i and the AHP only g_e's
    equation and term remain (the MSNs' set); an unknown input is refused. A group left
    without them runs to the bit as the full one when nothing reaches those variables
    (numpy target, the same seed)."""
    import pytest
    from brian2 import Network, SpikeMonitor, mV

    from dopasim.models.lif import LIF_EQS, LIFParams, lif_equations, lif_group

    assert lif_equations() == LIF_EQS
    eqs = lif_equations(("g_e",), ahp=False)
    assert "g_e" in eqs and not any(v in eqs for v in ("g_s", "g_i", "g_ahp"))
    with pytest.raises(ValueError, match="inputs"):
        lif_equations(("g_x",))
    p = LIFParams(sigma=4 * mV, i_bias_mean=14 * mV)  # b_ahp 0: no AHP
    runs = []
    for inputs in (("g_e", "g_s", "g_i"), ("g_e",)):
        start_scope()
        g = lif_group(
            50, p, "g", np.random.default_rng(3), dt=0.5 * ms, noise="counter", inputs=inputs
        )
        g.g_e = 2 * mV
        s, v = SpikeMonitor(g), StateMonitor(g, "v", record=[0, 7])
        Network(g, s, v).run(200 * ms)
        runs.append((np.array(s.i[:]), np.array(s.t_[:]), np.array(v.v_[:])))
    assert runs[0][0].size > 0
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_time_scale_spread_scales_the_f_i_curve():
    """tau_scale_sd: each neuron's rate is the population's divided by its k_tau (log-log
    slope -1), and its response to a rise of the drive is the same fraction of its tonic
    rate whatever k_tau; with 0 the group has no k_tau. The DA neuron's parameters
    (refractory period, AHP), no drive spread, numpy, dt 0.5 ms, 10 s: 200 neurons at the
    DA drive and the same 200 time scales at 2 mV more. Margins fixed before the run:
    slope within 0.1 of -1; the faster half's relative response within 5 % of the slower
    half's."""
    import pytest
    from brian2 import Network, SpikeMonitor, mV

    from dopasim.circuits.reward_circuit import DA_NEURON
    from dopasim.models.lif import lif_group

    start_scope()
    n, seconds = 200, 10.0
    p = DA_NEURON.with_(i_bias_sd=0 * mV, tau_scale_sd=0.3)
    g = lif_group(2 * n, p, "g", np.random.default_rng(5), dt=0.5 * ms, noise="counter")
    k = np.asarray(g.k_tau[:n])
    g.k_tau = np.tile(k, 2)
    g.I_bias = np.repeat([0, 2], n) * mV + DA_NEURON.i_bias_mean
    s = SpikeMonitor(g)
    Network(g, s).run(seconds * 1000 * ms)
    rates = np.bincount(np.asarray(s.i[:]), minlength=2 * n) / seconds
    low, high = rates[:n], rates[n:]
    slope = np.polyfit(np.log(k[low > 0]), np.log(low[low > 0]), 1)[0]
    assert abs(slope + 1) < 0.1, slope
    fast = k < np.median(k)
    gain_fast = high[fast].sum() / low[fast].sum()
    gain_slow = high[~fast].sum() / low[~fast].sum()
    assert gain_fast > 1.1 and abs(gain_fast / gain_slow - 1) < 0.05, (gain_fast, gain_slow)
    # without noise, at a strong drive: the interval (integration, refractory period and
    # AHP together) is k_tau times the population's, within 1 % (margin fixed before),
    # at the steady state: the AHP builds up over several tau_ahp k_tau (after 400 ms the
    # k_tau = 2 neuron's interval was still 1.7 % short)
    start_scope()
    quiet = p.with_(sigma=0 * mV, i_bias_mean=30 * mV)
    q = lif_group(3, quiet, "q", np.random.default_rng(0), dt=0.05 * ms)
    q.k_tau = [1.0, 2.0, 0.5]
    q.v = quiet.v_reset
    sq = SpikeMonitor(q)
    Network(q, sq).run(1500 * ms)
    isi = [np.diff(sq.spike_trains()[j] / ms)[-3:].mean() for j in range(3)]
    assert isi[0] > 3 * float(quiet.t_ref / ms) / 2  # not the refractory period alone
    np.testing.assert_allclose(np.array(isi) / isi[0], [1.0, 2.0, 0.5], rtol=0.01)
    start_scope()
    plain = lif_group(2, DA_NEURON, "plain", np.random.default_rng(0))
    Network(plain)  # used: no warning of an unused object
    assert "k_tau" not in plain.variables
    with pytest.raises(ValueError, match="tau_scale_sd"):
        DA_NEURON.with_(tau_scale_sd=-0.1).validate("vta_da")
    with pytest.raises(ValueError, match="tau_scale_sd"):
        DA_NEURON.with_(tau_scale_sd=0.6).validate("vta_da")

"""The rising eligibility trace (``tau_r``): exact against its closed form.

With a rise time the tag x of a pairing feeds the eligibility c::

    dx/dt = -x/tau_r,   dc/dt = x/tau_r - c/tau_c

so one causal pairing of size a = A+ exp(-dt/tau+) gives
c(s) = kappa a (exp(-s/tau_c) - exp(-s/tau_r)), kappa = tau_c/(tau_c - tau_r), s after the
post spike. With b = 0 and one dopamine event (n jumps by q, decays with tau_n) at s = d,
the weight at s = T is (linear pool, exact)::

    w(T) = k q kappa a sum_{tau in (tau_c, -tau_r)} +-exp(-d/tau) tau' (1 - exp(-(T-d)/tau'))

with tau' = 1/(1/tau + 1/tau_n). The Brian2 synapse must match it to 1e-6 (relative);
the margin was fixed before the run (the integration is exact, so only rounding
remains).
"""

import math

import numpy as np
import pytest
from brian2 import ms, second, umolar

from dopasim.models.dopamine import DopaminePool
from dopasim.models.three_factor import ThreeFactorRule
from synapse_harness import simulate_synapse

TAU_C, TAU_N, TAU_P = 1.0, 0.2, 0.02
POOL = DopaminePool(tau=TAU_N * second, tonic=0 * umolar, release=1 * umolar)


def rule(tau_r, **kw):
    return ThreeFactorRule(
        A_plus=1.0,
        A_minus=1.5,
        tau_plus=TAU_P * second,
        tau_minus=TAU_P * second,
        tau_c=TAU_C * second,
        k_da=1 / (TAU_N * second * umolar),
        w_min=-100.0,
        w_max=100.0,
        tau_r=tau_r,
        **kw,
    )


def closed_form(dt_pair, d, T, tau_r):
    a = math.exp(-dt_pair / TAU_P)
    kappa = TAU_C / (TAU_C - tau_r)
    total = 0.0
    for tau, sign in ((TAU_C, 1.0), (tau_r, -1.0)):
        tp = 1 / (1 / tau + 1 / TAU_N)
        total += sign * math.exp(-d / tau) * tp * (1 - math.exp(-(T - d) / tp))
    return (1 / TAU_N) * kappa * a * total


@pytest.mark.parametrize("tau_r", [0.1, 0.3])
@pytest.mark.parametrize(("dt_pair", "d"), [(0.005, 0.0), (0.005, 0.1), (0.01, 0.6), (0.01, 2.0)])
def test_rising_trace_matches_closed_form(tau_r, dt_pair, d):
    t_pre = 0.1
    t_post = t_pre + dt_pair
    t_da = t_post + d
    T_end = t_da + 1.5
    w, c, _ = simulate_synapse(
        [[t_pre]], [[t_post]], [t_da], rule(tau_r * second), POOL, T_end * second, dt=1 * ms
    )
    expected = closed_form(dt_pair, d, T_end - t_post, tau_r)
    assert w[0] == pytest.approx(expected, rel=1e-6)
    kappa = TAU_C / (TAU_C - tau_r)
    s = T_end - t_post
    c_expected = kappa * math.exp(-dt_pair / TAU_P) * (math.exp(-s / TAU_C) - math.exp(-s / tau_r))
    assert c[0] == pytest.approx(c_expected, rel=1e-6)


def test_dopamine_at_the_pairing_counts_less_than_later():
    """The point of the rise (Yagishita et al. 2014): DA 0.3-2 s after beats DA at 0 s."""
    T = 8.0
    at0 = closed_form(0.01, 0.0, T, 0.3)
    later = [closed_form(0.01, d, T, 0.3) for d in (0.3, 0.6, 1.0)]
    assert all(x > at0 for x in later)
    # and the Brian2 synapse agrees in order with several delays in one network
    delays = (0.0, 0.3, 0.6, 1.0, 2.0, 5.0)
    pre = [[0.1 + 10.0 * k] for k in range(len(delays))]
    post = [[0.11 + 10.0 * k] for k in range(len(delays))]
    # one dopamine train shared by all synapses: keep the pairs 10 s apart so that each
    # event meets only its own pair's trace (the others' have decayed by e^-10 or more)
    da = [0.11 + 10.0 * k + d for k, d in enumerate(delays)]
    w, _, _ = simulate_synapse(pre, post, da, rule(0.3 * second), POOL, 62 * second, dt=1 * ms)
    assert np.argmax(w) in (1, 2)  # the closed form peaks near 0.4 s for tau_r = 0.3 s
    assert w[1] > w[0] and w[5] < 0.1 * np.max(w)


def test_no_dopamine_no_change_and_validation():
    w, _, _ = simulate_synapse(
        [[0.1, 0.5]], [[0.12, 0.48]], [], rule(0.3 * second), POOL, 3 * second, dt=1 * ms, w0=0.7
    )
    assert w[0] == 0.7
    with pytest.raises(ValueError, match="tau_r"):
        rule(2 * second).validate()
    with pytest.raises(ValueError, match="tau_r"):
        rule(0 * second).validate()


@pytest.mark.parametrize("tau_r", [0.1, 0.3])
@pytest.mark.parametrize("d", [0.0, 0.1, 0.6])
def test_presynaptic_tag_rises_as_a_pairing_does(tau_r, d):
    """eligibility='pre' (the distributional critic's option): one presynaptic spike
    tags by A_plus with the same rise and decay, s counted from the pre spike; the post
    spikes (one before it, one 5 ms after it) change nothing."""
    t_pre = 0.1
    t_da = t_pre + d
    T_end = t_da + 1.5
    w, c, _ = simulate_synapse(
        [[t_pre]],
        [[0.05, t_pre + 0.005]],
        [t_da],
        rule(tau_r * second, eligibility="pre"),
        POOL,
        T_end * second,
        dt=1 * ms,
    )
    assert w[0] == pytest.approx(closed_form(0.0, d, T_end - t_pre, tau_r), rel=1e-6)
    kappa = TAU_C / (TAU_C - tau_r)
    s = T_end - t_pre
    assert c[0] == pytest.approx(kappa * (math.exp(-s / TAU_C) - math.exp(-s / tau_r)), rel=1e-6)

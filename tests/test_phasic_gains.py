"""The receptor-specific, rectified phasic term of the three-factor rule (issue 19).

``ThreeFactorRule.phasic_gains = (g_burst, g_dip)`` splits the signal a transmitter
integrates from a sampled pool into a fast part e = n - m (m the pool's running mean),
counted g_burst times above m and g_dip times below, and a slow part m - b. Checked
against a step-by-step numpy reference that shares no code with the implementation, for
D1-type (+1, gains (1, eps)) and D2-type (-1, gains (eps, 1)) synapses, and against the
linear rule at gains (1, 1).
"""

import math

import numpy as np
import pytest
from brian2 import (
    Network,
    NeuronGroup,
    SpikeGeneratorGroup,
    TimedArray,
    ms,
    nmolar,
    second,
    umolar,
)

from dopasim.models.three_factor import SampledPool, ThreeFactorRule, VolumeTransmitter

DT = 1e-3
T_END = 1.5
N_SYN = 4


def _trains(seed):
    rng = np.random.default_rng(seed)
    n_steps = int(round(T_END / DT))
    pre = [np.sort(rng.choice(n_steps, 25, replace=False)) * DT for _ in range(N_SYN)]
    post = [np.sort(rng.choice(n_steps, 25, replace=False)) * DT for _ in range(N_SYN)]
    # the pool's samples (nM): bursts above and dips below a slowly moving mean, and a
    # baseline that sits above the mean for a while (a floor: a slow negative part)
    m = 15 + 3 * np.sin(np.arange(n_steps + 2) * DT * 2.0)
    n = m + rng.normal(0, 6, n_steps + 2)
    b = np.where(np.arange(n_steps + 2) * DT > 0.8, np.maximum(m, 16.0), m)
    return pre, post, n, m, b


def _simulate(rule, pre_times, post_times, n, m, b, w0=0.5, r=None):
    n_steps = int(round(T_END / DT))
    dt = DT * second
    # plain variables set at the start of each step (a linked subexpression would
    # resolve its TimedArrays in the target's namespace)
    pool = NeuronGroup(
        1,
        "n : mmolar\nm : mmolar\nb : mmolar\nr : mmolar",
        namespace={
            "n_ta": TimedArray(n * nmolar, dt=dt),
            "m_ta": TimedArray(m * nmolar, dt=dt),
            "b_ta": TimedArray(b * nmolar, dt=dt),
            "r_ta": TimedArray((np.zeros_like(n) if r is None else r) * nmolar, dt=dt),
        },
        name="pool",
        dt=dt,
    )
    pool.run_regularly("n = n_ta(t)\nm = m_ta(t)\nb = b_ta(t)\nr = r_ta(t)", when="start")
    rect = rule.phasic_gains is not None
    view = SampledPool(
        "n",
        baseline="b",
        mean="m" if rect else None,
        rect_mean="r" if rect and r is not None else None,
    )
    vt = VolumeTransmitter(rule, view, "da")
    idx = np.concatenate([np.full(len(t), k) for k, t in enumerate(pre_times)])
    tim = np.concatenate(pre_times)
    pre = SpikeGeneratorGroup(N_SYN, idx.astype(int), tim * second, dt=dt, name="pre")
    raster = np.zeros((n_steps + 2, N_SYN))
    for k, t in enumerate(post_times):
        raster[np.round(t / DT).astype(int), k] = 1
    post = NeuronGroup(
        N_SYN,
        vt.target_equations(),
        threshold="post_spike(t, i) > 0.5",
        reset=vt.reset_code(),
        namespace={"post_spike": TimedArray(raster, dt=dt)},
        name="post",
        dt=dt,
    )
    vt.install(post, pool)
    syn = rule.synapses(pre, post, "da", name="syn", dt=dt)
    syn.connect(i=np.arange(N_SYN), j=np.arange(N_SYN))
    syn.w = w0
    vt.attach(syn)
    Network(pool, pre, post, syn).run(n_steps * dt)
    return rule.current_weights(syn)


def _reference(rule, pre_times, post_times, n, m, b, w0=0.5, r=None):
    """Step by step: jumps at the synapse's events, then the step's integral of
    c(s) u_k with u_k = f(n_k - m_k) - r_k + m_k - b_k held over [t_k, t_k + dt)."""
    r = np.zeros_like(n) if r is None else r
    A_p, A_m = rule.A_plus, rule.A_minus
    tp, tm, tc = (float(x / second) for x in (rule.tau_plus, rule.tau_minus, rule.tau_c))
    k_da = float(rule.k_da * umolar * second)
    g_b, g_d = rule.phasic_gains if rule.phasic_gains is not None else (1.0, 1.0)
    epoch_steps = int(round(float(rule.epoch_length / second) / DT))
    n_steps = int(round(T_END / DT))
    out = []
    for pre_t, post_t in zip(pre_times, post_times, strict=True):
        pre_k = set(np.round(pre_t / DT).astype(int))
        post_k = set(np.round(post_t / DT).astype(int))
        w, c = w0, 0.0
        for k in range(n_steps):
            t = k * DT
            if k in pre_k or k in post_k or k % epoch_steps == 0:
                w = min(max(w, rule.w_min), rule.w_max)
            if k in pre_k:
                earlier = np.array([x for x in post_t if x < t - 1e-12])
                c -= A_m * float(np.sum(np.exp(-(t - earlier) / tm)))
            if k in post_k:
                upto = np.array([x for x in pre_t if x <= t + 1e-12])
                c += A_p * float(np.sum(np.exp(-(t - upto) / tp)))
            e = (n[k] - m[k]) * 1e-3  # uM
            u = g_b * max(e, 0.0) + g_d * min(e, 0.0) + (m[k] - b[k] - r[k]) * 1e-3
            w += rule.sign * k_da * c * u * tc * -math.expm1(-DT / tc)
            c *= math.exp(-DT / tc)
        out.append(min(max(w, rule.w_min), rule.w_max))
    return np.array(out)


RULE = ThreeFactorRule(
    A_plus=1.0,
    A_minus=1.0,
    tau_plus=20 * ms,
    tau_minus=20 * ms,
    tau_c=0.5 * second,
    k_da=200 / (umolar * second),
    w_min=0.0,
    w_max=1.0,
    epoch=0.4 * second,
)


@pytest.mark.parametrize(
    ("sign", "gains"),
    [(1, (1.0, 0.2)), (-1, (0.2, 1.0)), (1, (1.0, 0.0)), (-1, (0.5, 1.0))],
)
def test_rectified_term_matches_the_step_reference(sign, gains):
    pre, post, n, m, b = _trains(3)
    rule = RULE.with_(sign=sign, phasic_gains=gains)
    w = _simulate(rule, pre, post, n, m, b)
    ref = _reference(rule, pre, post, n, m, b)
    assert np.all(np.abs(ref - 0.5) > 1e-3)  # the weights moved
    assert np.allclose(w, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sign", [1, -1])
def test_the_running_mean_of_the_rectified_part_is_subtracted(sign):
    pre, post, n, m, b = _trains(11)
    r = 1.5 + 0.5 * np.cos(np.arange(len(n)) * DT * 3.0)  # nM, slowly varying
    rule = RULE.with_(sign=sign, phasic_gains=(1.0, 0.2) if sign > 0 else (0.2, 1.0))
    w = _simulate(rule, pre, post, n, m, b, r=r)
    ref = _reference(rule, pre, post, n, m, b, r=r)
    assert not np.allclose(ref, _reference(rule, pre, post, n, m, b))  # r matters
    assert np.allclose(w, ref, rtol=1e-9, atol=1e-12)


def test_gains_change_the_weights_in_the_expected_direction():
    """A D1 synapse with dips discounted (eps < 1) ends higher than with the linear rule
    when its eligibility is positive; the reference says by how much, so compare both."""
    pre, post, n, m, b = _trains(5)
    lin = _reference(RULE, pre, post, n, m, b)
    rect = _reference(RULE.with_(phasic_gains=(1.0, 0.2)), pre, post, n, m, b)
    assert not np.allclose(lin, rect)
    assert np.allclose(_simulate(RULE, pre, post, n, m, b), lin, rtol=1e-9, atol=1e-12)


def test_unit_gains_reproduce_the_linear_rule_with_a_rising_trace():
    """Gains (1, 1) are the linear rule: e + (m - b) = n - b (up to rounding)."""
    pre, post, n, m, b = _trains(7)
    rise = RULE.with_(tau_r=0.15 * second)
    lin = _simulate(rise, pre, post, n, m, b)
    unit = _simulate(rise.with_(phasic_gains=(1.0, 1.0)), pre, post, n, m, b)
    assert np.all(np.abs(lin - 0.5) > 1e-3)
    assert np.allclose(unit, lin, rtol=1e-12, atol=1e-12)


def test_gains_are_validated_and_need_a_running_mean():
    for bad in ((1.0,), (1.0, -0.1), (1.0, float("nan"))):
        with pytest.raises(ValueError, match="phasic_gains"):
            RULE.with_(phasic_gains=bad).validate()
    with pytest.raises(ValueError, match="running mean"):
        VolumeTransmitter(RULE.with_(phasic_gains=(1.0, 0.2)), SampledPool("n", baseline="b"))

"""The three-factor synapse (Izhikevich 2007; Potjans et al. 2010) against its closed form and an
independent event-by-event reference (`reference_three_factor`).

Brian2 runs on the numpy target with dt = 1 ms; every spike and dopamine time is on that
grid (times are built as step * 1 ms in both the Brian2 run and the reference). Several
synapses that can share one dopamine train run in one network (`simulate_synapse`).

Tolerance for Brian2 against the reference (the pattern of NEST's test_stdp_synapse.py):
rtol 1e-9, with an absolute floor of 1e-12 * max(|w_min|, |w_max|) for w and
1e-12 * max(A_plus, A_minus) for c (the floor only matters for values that pass close to
0, where a relative tolerance means nothing).
"""

import math

import brian2
import numpy as np
import pytest
from brian2 import ms, second, umolar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dopasim.models.dopamine import DopaminePool
from dopasim.models.three_factor import NEST_DEFAULT_RULE, ThreeFactorRule
from reference_three_factor import reference_from_rule, reference_params, reference_three_factor
from synapse_harness import simulate_synapse

DT = 1e-3  # s; the Brian2 step of every run in this file


@pytest.fixture(autouse=True)
def _numpy_target():
    saved = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    brian2.start_scope()
    yield
    brian2.prefs.codegen.target = saved


def _times(steps):
    return np.asarray(sorted(steps), dtype=np.int64) * DT


def run_both(pre_steps, post_steps, da_steps, rule, pool, n_steps, w0):
    """Brian2 and the reference on the same trains (given as step indices, one list per
    synapse for pre and post, one shared list for dopamine). Returns (w, c, w_ref, c_ref)."""
    pre = [_times(s) for s in pre_steps]
    post = [_times(s) for s in post_steps]
    da = _times(da_steps)
    t_end = n_steps * DT
    w0 = np.broadcast_to(np.asarray(w0, dtype=float), (len(pre),)).copy()
    w, c, _ = simulate_synapse(pre, post, da, rule, pool, t_end=t_end, dt=DT * second, w0=w0)
    w_ref, c_ref = reference_from_rule(pre, post, da, rule, pool, t_end, w0)
    return np.asarray(w), np.asarray(c), w_ref, c_ref


def assert_agree(w, c, w_ref, c_ref, rule):
    # rtol 1e-9; absolute floor 1e-11 * weight scale (w) and 1e-11 * STDP amplitude (c).
    # A weight near 0 is the difference of terms of the weight scale, so its roundoff
    # goes with that scale: a drawn case (w_max 0.05, tau+ 2 ms, tau_c 20 ms) left
    # w = 7.08e-6 apart by 5.8e-14 = 1.2e-12 w_max, over the earlier 1e-12 floor.
    w_atol = 1e-11 * max(abs(rule.w_min), abs(rule.w_max))
    c_atol = 1e-11 * max(rule.A_plus, rule.A_minus)
    np.testing.assert_allclose(w, w_ref, rtol=1e-9, atol=w_atol, err_msg="weights")
    np.testing.assert_allclose(c, c_ref, rtol=1e-9, atol=c_atol, err_msg="eligibility")


# ---------------------------------------------------------------- closed form
TABLE_POOL = DopaminePool(tau=200 * ms, tonic=0 * umolar, release=1 * umolar)
TABLE_RULE = NEST_DEFAULT_RULE.with_(A_minus=0.0)
#: The closed form, worked by hand: (dt_pair, dd, dw) for A+ = 1, tau+ = 20 ms, tau_c = 1 s, tau_n = 200 ms
TABLE = [
    (5e-3, 0.1, 0.5872),
    (5e-3, 1.0, 0.2388),
    (5e-3, 2.0, 0.0878),
    (10e-3, 0.1, 0.4573),
    (10e-3, 1.0, 0.1859),
    (10e-3, 2.0, 0.0684),
]
TAIL_S = 3.5  # s after the dopamine event: the tail left is exp(-3.5 s / 166.7 ms) < 1e-9
BRIAN_TAIL_S = 0.5  # Brian2 runs stop earlier (faster); the analytic tail is added instead


def closed_form(dt_pair, dd, tau_plus=0.02, tau_c=1.0, tau_n=0.2):
    return math.exp(-dt_pair / tau_plus) * math.exp(-dd / tau_c) * tau_c / (tau_c + tau_n)


def analytic_tail(c_end, t_end, t_da):
    """sign*k_da * integral_{t_end}^inf c(s) n(s) ds for the table's pool (b = tonic = 0)."""
    p = reference_params(TABLE_RULE, TABLE_POOL)
    n_end = p["release"] * math.exp(-(t_end - t_da) / p["tau_pool"])
    tau_cn = 1 / (1 / p["tau_c"] + 1 / p["tau_pool"])
    return p["sign"] * p["k_da"] * c_end * n_end * tau_cn


def test_closed_form_formula_matches_table():
    for dt_pair, dd, dw in TABLE:
        assert closed_form(dt_pair, dd) == pytest.approx(dw, abs=5e-5)


def test_reference_matches_closed_form_table():
    params = reference_params(TABLE_RULE, TABLE_POOL)
    for dt_pair, dd, dw in TABLE:
        t_post = 0.1 + dt_pair
        t_da = t_post + dd
        t_end = t_da + TAIL_S
        for A_minus in (0.0, 1.5):  # a single causal pair: A_minus plays no part
            w, c = reference_three_factor(
                [0.1], [t_post], [t_da], t_end=t_end, w0=0.0, **{**params, "A_minus": A_minus}
            )
            tail = analytic_tail(c, t_end, t_da)
            assert abs(tail) < 1e-9 * abs(w)
            assert w + tail == pytest.approx(closed_form(dt_pair, dd), rel=1e-6)
            assert w == pytest.approx(dw, abs=5e-5)
            assert c == pytest.approx(math.exp(-dt_pair / 0.02 - (t_end - t_post)), rel=1e-12)


@pytest.mark.parametrize(("dt_pair", "dd", "dw"), TABLE)
def test_brian2_matches_closed_form_table(dt_pair, dd, dw):
    """Pre at 0.1 s, post dt_pair later, one dopamine event dd after the post spike."""
    pre_step = 100
    post_step = pre_step + int(round(dt_pair / DT))
    da_step = post_step + int(round(dd / DT))
    n_steps = da_step + int(round(BRIAN_TAIL_S / DT))
    w, c, w_ref, c_ref = run_both(
        [[pre_step]], [[post_step]], [da_step], TABLE_RULE, TABLE_POOL, n_steps, 0.0
    )
    assert_agree(w, c, w_ref, c_ref, TABLE_RULE)
    # the rest of the weight change after t_end, in closed form (c and n decay exactly)
    tail = analytic_tail(c[0], n_steps * DT, da_step * DT)
    assert w[0] + tail == pytest.approx(closed_form(dt_pair, dd), rel=1e-6)
    assert w[0] + tail == pytest.approx(dw, abs=5e-5)


# ---------------------------------------------------------------- random trains and rules
def _f(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def scenarios(draw):
    """A rule, a pool, and up to 5 synapses with random trains sharing one dopamine train."""
    n_steps = draw(st.integers(200, 1200))
    tau_c_ms = draw(st.integers(20, 1500))  # 4 tau_c stays a multiple of dt
    epoch_ms = draw(st.one_of(st.none(), st.integers(40, 600)))
    w_min = draw(_f(-1.0, 0.5))
    w_max = w_min + draw(st.sampled_from([0.05, 0.2, 1.0, 5.0]))  # small: bounds are reached
    rule = ThreeFactorRule(
        A_plus=draw(_f(0.05, 2.0)),
        A_minus=draw(_f(0.0, 2.0)),
        tau_plus=draw(_f(2.0, 60.0)) * ms,
        tau_minus=draw(_f(2.0, 60.0)) * ms,
        tau_c=tau_c_ms * ms,
        k_da=draw(_f(0.5, 20.0)) / (second * umolar),
        b=draw(_f(0.0, 1.5)) * umolar,  # often above the tonic level: n - b changes sign
        w_min=w_min,
        w_max=w_max,
        sign=draw(st.sampled_from([1, -1])),
        epoch=None if epoch_ms is None else epoch_ms * ms,
    )
    pool = DopaminePool(
        tau=draw(_f(10.0, 500.0)) * ms,
        tonic=draw(_f(0.0, 1.0)) * umolar,
        release=draw(_f(0.1, 2.0)) * umolar,
    )
    step = st.integers(0, n_steps - 1)
    n_syn = draw(st.integers(1, 5))
    pre, post, w0 = [], [], []
    for _ in range(n_syn):
        pre_k = sorted(draw(st.sets(step, max_size=8)))
        # post spikes: some anywhere, some close to pre spikes (either order, or together)
        offsets = draw(st.lists(st.integers(-40, 40), max_size=len(pre_k)))
        near = {p + o for p, o in zip(pre_k, offsets, strict=False) if 0 <= p + o < n_steps}
        post_k = sorted(draw(st.sets(step, max_size=6)) | near)
        pre.append(pre_k)
        post.append(post_k)
        w0.append(draw(_f(w_min, w_max)))
    da = sorted(draw(st.sets(step, max_size=6)))
    return rule, pool, pre, post, da, n_steps, w0


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenarios())
def test_brian2_matches_reference_random(scenario):
    rule, pool, pre, post, da, n_steps, w0 = scenario
    w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, w0)
    assert_agree(w, c, w_ref, c_ref, rule)
    # bounds hold, in both
    assert np.all(w >= rule.w_min) and np.all(w <= rule.w_max)
    assert np.all(w_ref >= rule.w_min) and np.all(w_ref <= rule.w_max)


@settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenarios())
def test_presynaptic_eligibility_matches_reference_random(scenario):
    """eligibility='pre' (Potjans et al. 2011's critic): each pre spike tags by A_plus,
    post spikes neither tag nor bring the weight up to date."""
    rule, pool, pre, post, da, n_steps, w0 = scenario
    rule = rule.with_(eligibility="pre")
    w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, w0)
    assert_agree(w, c, w_ref, c_ref, rule)


def test_presynaptic_eligibility_by_hand():
    """Pre spikes at 0.1 and 0.2 s, dopamine 0 until one release at 0.3 s, b = 0: up to
    t_end = 2 s the weight grows by k_da * c(0.3) * release * tau_cn * (1 - exp(-1.7 s /
    tau_cn)) (tau_cn = 1/(1/tau_c + 1/tau_pool)), whatever the post spikes; with 'stdp'
    and no post spike the same trains change nothing."""
    rule = NEST_DEFAULT_RULE.with_(eligibility="pre", A_plus=0.5, w_max=1e6)
    pool = DopaminePool(tau=200 * ms, tonic=0 * umolar, release=1 * umolar)
    n_steps = 2000
    pre, da = [[100, 200], [100, 200]], [300]
    post = [[], [105, 150, 205]]
    w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, 10.0)
    assert_agree(w, c, w_ref, c_ref, rule)
    tau_c, tau_n, k_da = 1.0, 0.2, 5.0  # s, s, 1/(uM s) (NEST defaults, release 1 uM)
    c_da = 0.5 * (math.exp(-0.2 / tau_c) + math.exp(-0.1 / tau_c))
    tau_cn = 1 / (1 / tau_c + 1 / tau_n)
    expected = 10.0 + k_da * c_da * tau_cn * -math.expm1(-1.7 / tau_cn)
    np.testing.assert_allclose(w, expected, rtol=1e-9)
    brian2.start_scope()
    w_s, _, _, _ = run_both(pre, [[], []], da, rule.with_(eligibility="stdp"), pool, n_steps, 10.0)
    assert np.all(w_s == 10.0)


def test_a_delayed_tag_is_the_tag_of_a_later_spike():
    """tag_delay d: the weights and tags are those of the undelayed rule whose pre spikes
    arrive d later (the spike's arrival only brings the weight up to date, which the exact
    integration makes invisible); the same trains undelayed give other weights."""
    rng = np.random.default_rng(5)
    n_steps, d = 1500, 150
    pre = [sorted(rng.choice(n_steps - d, size=8, replace=False).tolist()) for _ in range(4)]
    post = [sorted(rng.choice(n_steps, size=5, replace=False).tolist()) for _ in range(4)]
    da = sorted(rng.choice(n_steps, size=6, replace=False).tolist())
    pool = DopaminePool(tau=200 * ms, tonic=0.05 * umolar, release=1 * umolar)
    rule = NEST_DEFAULT_RULE.with_(eligibility="pre", b=0.1 * umolar, w_min=-1e6, w_max=1e6)
    w_d, c_d, _, _ = run_both(
        pre, post, da, rule.with_(tag_delay=d * DT * second), pool, n_steps, 5.0
    )
    brian2.start_scope()
    shifted = [[k + d for k in train] for train in pre]
    w, c, w_ref, c_ref = run_both(shifted, post, da, rule, pool, n_steps, 5.0)
    assert_agree(w, c, w_ref, c_ref, rule)
    assert_agree(w_d, c_d, w, c, rule)
    brian2.start_scope()
    w_0, _, _, _ = run_both(pre, post, da, rule, pool, n_steps, 5.0)
    assert np.all(np.abs(w_0 - w_d) > 1e-3)


def test_a_delayed_tag_misses_the_dopamine_before_it():
    """A pre spike at 0.2 s with tag_delay 0.15 s and a release at 0.3 s: the tag comes at
    0.35 s, so only the release's tail from then on counts (up to t_end = 2 s):
    dw = k_da * A_plus * n(0.35) * tau_cn * (1 - exp(-1.65 s / tau_cn)); at arrival the
    tag would have met the whole release."""
    rule = NEST_DEFAULT_RULE.with_(eligibility="pre", A_plus=0.5, w_max=1e6)
    pool = DopaminePool(tau=200 * ms, tonic=0 * umolar, release=1 * umolar)
    pre, post, da = [[200]], [[]], [300]
    w, c, _, _ = run_both(pre, post, da, rule.with_(tag_delay=150 * ms), pool, 2000, 10.0)
    tau_c, tau_n, k_da = 1.0, 0.2, 5.0  # s, s, 1/(uM s) (NEST defaults, release 1 uM)
    tau_cn = 1 / (1 / tau_c + 1 / tau_n)
    expected = 10.0 + k_da * 0.5 * math.exp(-0.05 / tau_n) * tau_cn * -math.expm1(-1.65 / tau_cn)
    np.testing.assert_allclose(w, expected, rtol=1e-9)
    np.testing.assert_allclose(c, 0.5 * math.exp(-1.65 / tau_c), rtol=1e-9)
    brian2.start_scope()
    w_0, _, _, _ = run_both(pre, post, da, rule, pool, 2000, 10.0)
    at_arrival = 10.0 + k_da * 0.5 * math.exp(-0.1 / tau_c) * tau_cn * -math.expm1(-1.7 / tau_cn)
    np.testing.assert_allclose(w_0, at_arrival, rtol=1e-9)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"tag_delay": 100 * ms}, "needs eligibility 'pre'"),
        ({"eligibility": "pre", "tag_delay": 0 * ms}, "tag_delay must be > 0"),
    ],
)
def test_a_tag_delay_is_checked(changes, match):
    with pytest.raises(ValueError, match=match):
        NEST_DEFAULT_RULE.with_(**changes).validate()


# ---------------------------------------------------------------- hand-written edge cases
def test_simultaneous_events_and_time_zero():
    """Pre, post and dopamine in the same step (and at t = 0): pre before post, so the
    pair is causal with dt = 0 (+A_plus) and the pre spike does not see that post spike;
    dopamine at t acts from t on. b > tonic, so n - b changes sign."""
    rule = ThreeFactorRule(
        A_plus=1.0,
        A_minus=1.5,
        tau_c=500 * ms,
        k_da=1 / (200 * ms * umolar),
        b=0.3 * umolar,
        w_min=-10.0,
        w_max=10.0,
    )
    pool = DopaminePool(tau=200 * ms, tonic=0.1 * umolar, release=1 * umolar)
    n_steps = 800
    pre = [[200], [200], [0], [1], [150, 200], [799], [799]]
    post = [[200], [150, 200], [0], [0], [200], [n_steps], [799]]
    da = [0, 200]
    w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, 0.5)
    assert_agree(w, c, w_ref, c_ref, rule)
    p = reference_params(rule, pool)
    decay = lambda t: math.exp(-(n_steps * DT - t) / p["tau_c"])  # noqa: E731
    e_minus = lambda d: math.exp(-d / p["tau_minus"])  # noqa: E731
    e_plus = lambda d: math.exp(-d / p["tau_plus"])  # noqa: E731
    expected_c = [
        1.0 * decay(0.2),  # pre + post at 0.2 s: dt = 0, +A_plus
        # pre at 0.2 s sees the post at 0.15 s only, then the post at 0.2 s pairs with it
        (-1.5 * e_minus(0.05) + 1.0) * decay(0.2),
        1.0 * decay(0.0),  # pre + post at t = 0
        -1.5 * e_minus(0.001) * decay(0.001),  # post at 0, pre 1 ms later
        # pre at 0.15 s, pre + post at 0.2 s: the post pairs with both pre spikes
        1.0 * (1.0 + e_plus(0.05)) * decay(0.2),
        0.0,  # the post spike at t_end (1 ms after the pre spike) is ignored
        1.0 * decay(0.799),  # pair in the last step
    ]
    np.testing.assert_allclose(c, expected_c, rtol=1e-9, atol=1e-12)
    assert w[5] == 0.5 and w_ref[5] == 0.5  # no pairing before t_end: untouched
    # the simultaneous pair: all its weight change comes after 0.2 s, from both the tonic
    # offset (0.1 - 0.3 < 0) and the dopamine released at 0.2 s (plus the rest of the one at 0)
    h = n_steps * DT - 0.2
    tau_cn = 1 / (1 / p["tau_c"] + 1 / p["tau_pool"])
    p02 = p["release"] * (1 + math.exp(-0.2 / p["tau_pool"]))
    dw = p["k_da"] * (
        (p["tonic"] - p["b"]) * p["tau_c"] * -math.expm1(-h / p["tau_c"])
        + p02 * tau_cn * -math.expm1(-h / tau_cn)
    )
    assert w[0] == pytest.approx(0.5 + dw, rel=1e-9)


def test_bounds_reached_and_clipping_points():
    """Weights reach w_max and w_min. Bounds apply at the synapse's own events (and epoch
    boundaries and t_end), not at dopamine events: with b > tonic the weight overshoots
    w_max after a dopamine event and falls back while n < b."""
    rule = ThreeFactorRule(
        A_plus=1.0,
        A_minus=1.0,
        tau_c=1000 * ms,
        k_da=1 / (50 * ms * umolar),
        b=0.5 * umolar,
        w_min=0.0,
        w_max=0.5,
    )
    pool = DopaminePool(tau=100 * ms, tonic=0.0 * umolar, release=2 * umolar)
    n_steps = 1000
    pre = [
        [150, 160, 170],  # causal pairs: up to w_max
        [155, 165, 175],  # anti-causal pairs: down to w_min
        [100],  # one pair; above w_max at the dopamine event at 0.4 s, back below at t_end
        [100],  # a larger overshoot, no clip point between 0.103 s and t_end
        [100, 900],  # the same plus a lone pre spike at 0.9 s, still in the overshoot
    ]
    post = [[153, 163, 173], [150, 160, 170], [105], [103], [103]]
    da = [200, 400]
    w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, [0.2, 0.2, 0.3, 0.3, 0.3])
    assert_agree(w, c, w_ref, c_ref, rule)
    assert w[0] == rule.w_max and w[1] == rule.w_min
    free = {**reference_params(rule, pool), "w_min": -np.inf, "w_max": np.inf}
    for k in (2, 3):
        # above w_max at the second dopamine event ...
        w_at_da, _ = reference_three_factor(
            _times(pre[k]), _times(post[k]), _times(da), t_end=0.4, w0=0.3, **free
        )
        assert w_at_da > rule.w_max + 0.05
        # ... yet not clipped there: the result is the unbounded one, inside the bounds
        w_free, _ = reference_three_factor(
            _times(pre[k]), _times(post[k]), _times(da), t_end=1.0, w0=0.3, **free
        )
        assert rule.w_min + 0.1 < w[k] < rule.w_max - 0.1
        assert w[k] == pytest.approx(w_free, rel=1e-9)
    # the pre spike at 0.9 s clips the overshoot to w_max; from there it falls lower
    assert rule.w_min < w[4] < w[3] - 0.1


@pytest.mark.parametrize("case", ["default_epoch", "short_epoch"])
def test_long_quiet_stretch_across_epochs(case):
    """Few events, then a long quiet stretch across several epoch boundaries (sweeps)."""
    if case == "default_epoch":  # epoch = 4 tau_c = 1 s; tonic > b: the weight keeps drifting
        rule = ThreeFactorRule(
            A_plus=1.0,
            A_minus=1.5,
            tau_c=250 * ms,
            k_da=1 / (200 * ms * umolar),
            b=0.1 * umolar,
            w_min=-5.0,
            w_max=5.0,
            sign=-1,
        )
        pool = DopaminePool(tau=200 * ms, tonic=0.5 * umolar, release=1 * umolar)
        n_steps = 5500
        pre = [[100], [110], [999], [1000, 3000]]
        post = [[110], [100], [1000], [1000, 2990]]
        da = [150, 1000]
    else:  # epoch = 100 ms; b > tonic: the overshoot above w_max is cut at each boundary
        rule = ThreeFactorRule(
            A_plus=1.0,
            A_minus=1.0,
            tau_c=1000 * ms,
            k_da=1 / (100 * ms * umolar),
            b=0.5 * umolar,
            w_min=0.0,
            w_max=0.5,
            epoch=100 * ms,
        )
        pool = DopaminePool(tau=100 * ms, tonic=0.0 * umolar, release=3 * umolar)
        n_steps = 1500
        pre = [[50], [100]]
        post = [[55], [105]]
        da = [200, 400]
    w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, 0.3)
    assert_agree(w, c, w_ref, c_ref, rule)
    assert np.all(np.abs(w - 0.3) > 1e-3)  # every synapse did learn
    if case == "short_epoch":
        # the boundaries matter: with no sweep in between (one long epoch) the result differs
        p = {**reference_params(rule, pool), "epoch": 100.0}
        w_one_epoch, _ = reference_three_factor(
            [0.1], [0.105], _times(da), t_end=n_steps * DT, w0=0.3, **p
        )
        assert abs(w_one_epoch - w[1]) > 0.01


# ---------------------------------------------------------------- invariants
@pytest.mark.parametrize("tonic", [0.0, 0.4])
def test_invariants_with_dopamine(tonic):
    """No pre or no post spike: w never changes (c stays 0), even with dopamine and a
    tonic level. Reversed order (post before pre) with dopamine: w decreases."""
    rule = NEST_DEFAULT_RULE.with_(w_min=-200.0)  # b = 0, sign = +1
    pool = DopaminePool(tau=200 * ms, tonic=tonic * umolar, release=1 * umolar)
    n_steps = 1000
    pre = [[100, 300, 500], [], [], [110, 310], [100, 300]]
    post = [[], [100, 300, 500], [], [100, 300], [110, 310]]
    da = [0, 150, 350, 600]
    w0 = 1.0
    w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, w0)
    assert_agree(w, c, w_ref, c_ref, rule)
    for got_w, got_c in ((w, c), (w_ref, c_ref)):
        assert np.all(got_w[:3] == w0) and np.all(got_c[:3] == 0.0)
        assert got_w[3] < w0 - 0.1  # post -> pre: depression
        assert got_w[4] > w0 + 0.1  # pre -> post: potentiation (the contrast)


def test_no_dopamine_no_change():
    """b = 0, tonic = 0, no dopamine event: pairings set c but w never changes."""
    rule = NEST_DEFAULT_RULE
    pool = DopaminePool(tau=200 * ms, tonic=0 * umolar, release=1 * umolar)
    pre = [[100, 300], [110, 310], [0, 400]]
    post = [[110, 310], [100, 300], [0, 405]]
    w, c, w_ref, c_ref = run_both(pre, post, [], rule, pool, 600, 3.0)
    assert_agree(w, c, w_ref, c_ref, rule)
    assert np.all(w == 3.0) and np.all(w_ref == 3.0)
    assert np.all(np.abs(c) > 0.1)


def test_sign_mirrors():
    """sign = -1 gives exactly the opposite weight change of sign = +1 (no clipping)."""
    base = ThreeFactorRule(
        A_plus=1.0,
        A_minus=1.2,
        tau_c=300 * ms,
        k_da=1 / (100 * ms * umolar),
        b=0.4 * umolar,
        w_min=-100.0,
        w_max=100.0,
    )
    pool = DopaminePool(tau=150 * ms, tonic=0.2 * umolar, release=1 * umolar)
    n_steps = 1500  # epoch 1.2 s: one sweep in between
    pre = [[100, 500, 900], [110, 520], [100, 1250]]
    post = [[105, 510, 890], [100, 500, 530], [100, 1240]]
    da = [150, 600, 1300]
    w0 = 1.0
    dws = {}
    for sign in (1, -1):
        brian2.start_scope()
        rule = base.with_(sign=sign)
        w, c, w_ref, c_ref = run_both(pre, post, da, rule, pool, n_steps, w0)
        assert_agree(w, c, w_ref, c_ref, rule)
        dws[sign] = (w - w0, w_ref - w0)
    for which in range(2):  # Brian2, then the reference
        assert np.all(np.abs(dws[1][which]) > 1e-3)
        assert np.all(np.abs(dws[1][which]) < 99.0)  # far from the bounds: no clipping
        np.testing.assert_allclose(dws[-1][which], -dws[1][which], rtol=1e-9, atol=1e-12)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenarios())
def test_reference_invariants(scenario):
    """Cheap properties of the reference alone, on many random cases."""
    rule, pool, pre, post, da, n_steps, w0 = scenario
    p = reference_params(rule, pool)
    t_end = n_steps * DT
    for k in range(len(pre)):
        args = (_times(pre[k]), _times(post[k]), _times(da))
        w, c = reference_three_factor(*args, t_end=t_end, w0=w0[k], **p)
        assert rule.w_min <= w <= rule.w_max
        # sign = -1 mirrors sign = +1 when no bound is met
        free = {**p, "w_min": -np.inf, "w_max": np.inf}
        w_p, c_p = reference_three_factor(*args, t_end=t_end, w0=0.0, **{**free, "sign": 1})
        w_m, c_m = reference_three_factor(*args, t_end=t_end, w0=0.0, **{**free, "sign": -1})
        assert w_m == pytest.approx(-w_p, rel=1e-12, abs=1e-300)
        assert c_m == c_p
        # no post spike, or no pre spike: no change whatever the dopamine
        w_a, c_a = reference_three_factor(args[0], [], args[2], t_end=t_end, w0=w0[k], **p)
        w_b, c_b = reference_three_factor([], args[1], args[2], t_end=t_end, w0=w0[k], **p)
        w_0 = min(max(w0[k], rule.w_min), rule.w_max)
        assert (w_a, c_a, w_b, c_b) == (w_0, 0.0, w_0, 0.0)
        # no dopamine, b = tonic = 0: no change
        quiet = {**p, "b": 0.0, "tonic": 0.0}
        w_q, _ = reference_three_factor(*args[:2], [], t_end=t_end, w0=w0[k], **quiet)
        assert w_q == w_0


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tau_c": 0 * ms}, "tau_c"),
        ({"tau_c": -5 * ms}, "tau_c"),
        ({"w_min": 2.0, "w_max": 1.0}, "w_min"),
        ({"sign": 2}, "sign"),
        ({"eligibility": "post"}, "eligibility"),
    ],
)
def test_validate_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        ThreeFactorRule(**changes).validate()
    ThreeFactorRule().validate()  # the defaults are valid

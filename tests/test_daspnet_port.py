"""The daspnet.m port (benchmarks/daspnet_port.py), the oracle of issue 25: a short run
fires at daspnet.m's rates and is deterministic per seed, and one STDP/eligibility step
matches hand-computed values (daspnet.m: trace set to 0.1, x0.95 per ms; LTP reads the
presynaptic trace at t-1, LTD the postsynaptic trace at t; weights every 10 ms)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")  # without numba the port runs as plain Python: too slow here

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "daspnet_port.py"
_spec = importlib.util.spec_from_file_location("daspnet_port", _PATH)
dp = importlib.util.module_from_spec(_spec)
sys.modules["daspnet_port"] = dp
_spec.loader.exec_module(dp)


def test_short_run_rates_and_determinism():
    a = dp.run(7, duration_s=20.0)
    b = dp.run(7, duration_s=20.0)
    # daspnet.m's network fires at about 1-2 Hz (dopasim measures 1.27-1.35 Hz over 1 h)
    assert 0.5 < a["rate_exc_hz"] < 4.0
    assert 0.3 < a["rate_inh_hz"] < 4.0
    np.testing.assert_array_equal(a["w"], b["w"])
    np.testing.assert_array_equal(a["w_final"], b["w_final"])
    assert a["n_pairings"] == b["n_pairings"]
    assert a["rate_mean_hz"] == b["rate_mean_hz"]
    c = dp.run(8, duration_s=20.0)
    assert not np.array_equal(a["w_final"], c["w_final"])
    assert len(a["w"]) == 2000 and 0.0 <= a["w"].min() and a["w"].max() <= 4.0


def _quiet_network(seed=3):
    """A built network with every weight 0 (so only forced spikes happen) and the
    rewarded synapse's two neurons distinct."""
    st = dp.build(seed)
    assert st["n2"] != st["n1"]
    st["s"][:] = 0.0
    return st


def _force(st, neurons):
    for i in neurons:
        st["v"][i] = 30.0


@pytest.mark.parametrize(
    "order, same_step, expected",
    [
        # pre at step 1, post at step 2: LTP with the pre trace at t-1 = 0.1
        (("pre", "post"), "daspnet", 0.1),
        # post at step 1, pre at step 2: LTD with the post trace at t = 0.1*0.95
        (("post", "pre"), "daspnet", -1.5 * 0.1 * 0.95),
        # same step: depression only in daspnet.m
        (("both",), "daspnet", -0.15),
        # dopasim's convention: a causal pairing with dt = 0
        (("both",), "causal", 0.1),
        # pre then post with dopasim's convention: the pre trace at t, 0.1*0.95
        (("pre", "post"), "causal", 0.1 * 0.95),
    ],
)
def test_stdp_step_matches_hand_values(order, same_step, expected):
    st = _quiet_network()
    n1, n2, syn = st["n1"], st["n2"], st["syn"]
    # other synapses of n1 onto n2 (repeated targets) get the same pairing: ignore them
    events = np.zeros(2, dtype=np.int64)
    for what in order:
        _force(st, {"pre": [n1], "post": [n2], "both": [n1, n2]}[what])
        dp.advance(st, 1, events=events, same_step=same_step)
    assert st["sd"][n1, syn] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # the weight moves only at the 10 ms boundary: s += (0.002 + DA)*sd, then sd *= 0.99
    assert st["s"][n1, syn] == 0.0
    sd_before = st["sd"][n1, syn]
    dp.advance(st, 10 - len(order), events=events, same_step=same_step)
    assert st["clock"][0] == 10
    assert st["s"][n1, syn] == pytest.approx(max(0.0, 0.002 * sd_before), rel=1e-12)
    assert st["sd"][n1, syn] == pytest.approx(0.99 * sd_before, rel=1e-12)
    # a pairing (n2 strictly after n1, within 20 ms) schedules one puff
    assert events[0] == (1 if order == ("pre", "post") else 0)


def test_reward_arrives_1_to_3_s_after_pairing_and_decays():
    st = _quiet_network()
    events = np.zeros(2, dtype=np.int64)
    _force(st, [st["n1"]])
    dp.advance(st, 1, events=events)
    _force(st, [st["n2"]])
    dp.advance(st, 1, events=events)
    assert events.tolist() == [1, 0]
    dp.advance(st, 1000, events=events)  # at most now = 1002: a puff is >= 1001 ms after
    assert events[1] == 0 and st["scalars"][0] == 0.0
    dp.advance(st, 2000, events=events)
    assert events.tolist() == [1, 1]
    due = np.nonzero(st["pending"])[0]
    assert len(due) == 0
    # DA = 0.5 at the puff, then x0.995 per ms
    assert 0.5 * 0.995**2000 <= st["scalars"][0] <= 0.5


def test_measures():
    w = np.array([3.6, 1.0, 4.0, 0.5, 3.6])
    t = np.arange(1, 3601) * 1.0
    trace = np.where(t >= 2700, 4.0, 0.0)
    m = dp.measures(w, 0, t, trace, 3600.0)
    assert m["rewarded_weight"] == 3.6
    assert m["rewarded_weight_percentile"] == 50.0  # 2 of the 4 others strictly below
    assert m["time_to_learn_s"] == 2700.0
    assert m["frac_last_30min_above_0875"] == pytest.approx(901 / 1801)

"""The reward circuit's build stages (issue 20): short functions, and the fixed
projections as a table of data that matches the Synapses a built circuit contains."""

import inspect

import numpy as np
import pytest
from brian2 import Synapses, ms, mV, second

from dopasim.circuits import reward_circuit as rc
from dopasim.circuits.reward_circuit import (
    FIXED_PROJECTIONS,
    RewardCircuitParams,
    Stimulus,
    build_reward_circuit,
    fixed_projection_markdown,
    fixed_projection_table,
)

STAGES = (
    rc._inputs,
    rc._pools_and_lesion,
    rc._populations,
    rc._striatum,
    rc._plastic_projections,
    rc._task_readout,
    rc._fixed_projections,
    rc._release,
    rc._assemble,
    rc._no_survivor_note,
    rc.build_reward_circuit,
)


@pytest.mark.parametrize("stage", STAGES, ids=[s.__name__ for s in STAGES])
def test_every_stage_is_at_most_60_lines(stage):
    n = len(inspect.getsource(stage).splitlines())
    assert n <= 60, f"{stage.__name__} has {n} lines"


def _small_circuit(**changes):
    n = 11
    stim = Stimulus(1, 1, 10 * ms, -np.ones(n), np.zeros(n))
    P = RewardCircuitParams(scale=0.05, **changes)
    c = build_reward_circuit(P, stim, np.random.default_rng(1), np.random.default_rng(2))
    return P, c


@pytest.fixture(scope="module")
def small():
    # hunger 0.5: both punishment routes carry synapses with a gain
    return _small_circuit(hunger=0.5)


def test_the_table_matches_the_built_synapses(small):
    P, c = small
    built = {o.name: o for o in c.network.objects if isinstance(o, Synapses)}
    rows = fixed_projection_table(P)
    assert [r["name"] for r in rows] == [f.name for f in FIXED_PROJECTIONS]
    for r in rows:
        syn = built[r["name"]]
        assert syn.source is c[r["source"]] and syn.target is c[r["target"]]
        n_pairs = len(c[r["source"]]) * len(c[r["target"]])
        p = r["probability"]
        # a generous bound: 6 binomial standard deviations, plus one synapse
        bound = 6 * np.sqrt(n_pairs * p * (1 - p)) + 1
        assert abs(len(syn) - p * n_pairs) <= bound, r["name"]
        if len(syn) == 0:
            continue
        J = r["weight"] / P.scale * r["gain"]
        if FIXED_PROJECTIONS[rows.index(r)].gain is None:
            assert float(syn.namespace["J"] / mV) == pytest.approx(
                float(r["weight"] / P.scale / mV)
            )
        else:
            assert np.allclose(np.asarray(syn.J / mV), float(J / mV))
        assert np.allclose(np.asarray(syn.delay / ms), float(r["delay"] / ms))
    # every fixed synapse of the circuit is in the table (plastic and release ones aside)
    others = {"ctx_d1", "ctx_d2", "da_release", "ht_release"}
    assert set(built) - others == {r["name"] for r in rows}


def test_the_table_at_the_defaults_is_finite_with_units():
    P = RewardCircuitParams()
    rows = fixed_projection_table(P)
    assert len(rows) == len(FIXED_PROJECTIONS) == 9
    for r in rows:
        assert np.isfinite(r["probability"]) and 0 <= r["probability"] <= 1
        assert r["weight"].has_same_dimensions(mV) and np.isfinite(float(r["weight"] / mV))
        assert r["delay"].has_same_dimensions(ms) and float(r["delay"] / ms) >= 0
        assert 0 <= r["gain"] <= 1
    by_name = {r["name"]: r for r in rows}
    assert by_name["d1_gaba"]["delay"] == P.d_d1_gaba
    assert by_name["reward_da"]["delay"] == P.d_reward_da
    assert by_name["punish_gaba"]["gain"] == 1 and by_name["punish_da"]["gain"] == 0
    md = fixed_projection_markdown(P).splitlines()
    assert len(md) == len(rows) + 2  # header and its separator
    assert all(line.startswith("|") and line.endswith("|") for line in md)
    for line, r in zip(md[2:], rows, strict=True):
        assert line.startswith(f"| {r['name']} | {r['source']} | {r['target']} |")


def test_the_table_follows_the_params():
    P = RewardCircuitParams(hunger=0.3, p_outcome=0.4, d_d1_gaba=50 * ms)
    by_name = {r["name"]: r for r in fixed_projection_table(P)}
    assert by_name["punish_gaba"]["gain"] == pytest.approx(0.7)
    assert by_name["punish_da"]["gain"] == pytest.approx(0.3)
    assert by_name["reward_da"]["probability"] == 0.4
    assert by_name["d1_gaba"]["delay"] == 50 * ms


def test_the_circuit_runs_on_one_clock(small):
    """Every object stepping at the circuit's dt shares one clock (the scheduler's cost
    is per clock and step); only the recorders and the rule's epochs keep their own."""
    P, c = small
    at_dt = {o.clock for o in c.network.objects if float(o.clock.dt_) == float(P.dt / second)}
    assert [clk.name for clk in at_dt] == ["circuit_clock"]
    groups = [c[k] for k in ("ctx_state", "vta_da", "vta_gaba", "drn_5ht", "str_d1", "str_d2")]
    assert all(g.clock is next(iter(at_dt)) for g in groups)


def test_only_the_da_neurons_can_be_lesioned():
    """The DA neurons carry ``alive`` (a lesion sets it False and they never fire);
    the other populations do without it, and with it their threshold's branches."""
    P, c = _small_circuit(da_loss=0.5)
    alive = np.asarray(c["vta_da"].alive[:])
    assert alive.sum() == len(alive) - len(c.info["lesioned_da"]) > 0
    assert "alive" in c["vta_da"].events["spike"]
    for name in ("vta_gaba", "drn_5ht", "str_d1", "str_d2"):
        assert "alive" not in c[name].variables and c[name].events["spike"] == "v > v_th", name


def test_a_shared_clock_must_have_the_builders_step():
    from brian2 import Clock

    from dopasim.models.timing import timing

    clock = Clock(0.5 * ms, name="probe_clock")
    assert timing(0.5 * ms, clock) == {"clock": clock} == timing(None, clock)
    assert timing(1 * ms) == {"dt": 1 * ms}
    with pytest.raises(ValueError, match=r"dt: 1\. ms is not the step of the clock 'probe_clock'"):
        timing(1 * ms, clock)

"""Conformance of every registered protocol to the contract of `dopasim.protocol`.

A new protocol that forgets a hook, a parameter's help, a metric's documentation or a
trial table fails here instead of degrading silently (outcome times that default to
``us_delay``, a memory guard that is off). The metrics checked are those of the stored
reference runs (`tests/golden/reference.json`), which `tests/test_golden.py` requires
to cover every protocol; the memory counts are checked against tiny runs of every
protocol in `tests/test_memory.py`.
"""

import importlib
import inspect
import json
import re

import numpy as np
import pytest
from golden import CASES, REFERENCE

from dopasim import runner
from dopasim.params import Param, to_jsonable
from dopasim.protocol import Protocol
from dopasim.protocols import REGISTRY, get_protocol, pavlovian

NAMES = list(REGISTRY)
REQUIRED = ("build", "collect", "metrics", "figures", "build_key", "memory_counts")
REF = json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", NAMES)
def test_the_registry_gives_a_protocol_of_that_name(name):
    protocol = get_protocol(name)
    assert isinstance(protocol, Protocol)
    assert protocol.NAME == name
    assert protocol.SUMMARY and "\n" not in protocol.SUMMARY
    assert importlib.import_module(REGISTRY[name]).PROTOCOL is protocol


@pytest.mark.parametrize("name", NAMES)
def test_every_required_hook_is_given(name):
    cls = type(get_protocol(name))
    missing = [h for h in REQUIRED if getattr(cls, h) is getattr(Protocol, h)]
    assert not missing, f"{name} does not give {missing}"
    if issubclass(cls, pavlovian.TrialProtocol):  # their export's trial table
        for hook in ("outcome_times", "trial_types"):
            assert getattr(cls, hook) is not getattr(pavlovian.TrialProtocol, hook), hook
    if cls.SCENARIOS:  # the runner validates the scenario's circuit before any run
        assert cls.circuit_params is not Protocol.circuit_params


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_declared_with_help(name):
    params = get_protocol(name).PARAMS
    assert params and all(isinstance(p, Param) for p in params)
    names = [p.name for p in params]
    assert len(names) == len(set(names)), "a parameter is declared twice"
    undocumented = [p.name for p in params if not (p.help or "").strip()]
    assert not undocumented, undocumented


def _documented(text, metric):
    if re.search(rf"(?<![\w.]){re.escape(metric)}(?![\w.])", text):
        return True
    for pattern in re.findall(r"[\w.]*<\w+>[\w.]*", text):  # e.g. go_nogo_<s>, dw_at_<delay>s
        parts = re.split(r"<\w+>", pattern)
        if re.fullmatch("[A-Za-z0-9.]+".join(map(re.escape, parts)), metric):
            return True
    return False


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_every_metric_is_documented(case):
    """Each metric of a reference run is named in its protocol's module docstring (or,
    for the trial protocols, in the shared metrics' docstrings of `pavlovian`)."""
    protocol = get_protocol(case.split("/")[0])
    text = inspect.getmodule(type(protocol)).__doc__ or ""
    if isinstance(protocol, pavlovian.TrialProtocol):
        text += pavlovian.da_ht_tonic_metrics.__doc__ + pavlovian.scenario_metrics.__doc__
    missing = [m for m in REF[case]["metrics"] if not _documented(text, m)]
    assert not missing, f"{case}: metrics without documentation: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_the_headline_metrics_and_ranges_are_metrics(name):
    protocol = get_protocol(name)
    produced = set().union(*(REF[c[0]]["metrics"] for c in CASES if c[1] == name))
    assert set(protocol.HEADLINE_METRICS) <= produced
    assert set(protocol.METRIC_RANGES) <= produced


@pytest.mark.parametrize("name", [n for n in NAMES if n != "distal-reward"])
def test_a_trial_protocol_gives_its_trial_table(name):
    """The trial table on synthetic data of the protocol's shape: one row per trial,
    outcome times within their trial, a kind for every trial."""
    protocol = get_protocol(name)
    assert isinstance(protocol, pavlovian.TrialProtocol)
    case = next(c for c in CASES if c[1] == name)
    _, p, *_ = runner.prepare(name, dict(case[2]), 1, "numpy", None, False)
    n = 4
    data = {
        "trial_cue": np.zeros(n, int),
        "trial_outcome": np.ones(n, int),
        "trial_cue2": np.ones(n, int),
        "trial_train": np.array([True, True, False, False]),
        "trial_outcome_delay": np.full(n, 0.1),
    }
    params = to_jsonable(p)  # as metadata.json stores them
    start, stop, cols = protocol.trial_table(data, params)
    assert len(start) == len(stop) == n and np.all(stop > start)
    for column, (values, description) in cols.items():
        assert len(values) == n, column
        assert description.strip(), column
    out = np.asarray(cols["outcome_time"][0], float)
    ok = np.isfinite(out)
    assert np.all((out[ok] >= start[ok]) & (out[ok] <= stop[ok]))
    assert all(isinstance(k, str) and k for k in cols["trial_type"][0])


@pytest.mark.parametrize("name", NAMES)
def test_every_protocol_declares_a_tiny_run(name):
    """TINY_PARAMS (the size the conformance, memory and reference-run tests use) is
    given and valid: a new protocol that forgets it fails here."""
    protocol = get_protocol(name)
    assert protocol.TINY_PARAMS, f"{name}: TINY_PARAMS is empty"
    runner.prepare(name, dict(protocol.TINY_PARAMS), 1, "numpy", None, False)


DT_PROTOCOLS = [n for n in NAMES if any(q.name == "dt" for q in get_protocol(n).PARAMS)]


@pytest.mark.parametrize("name", DT_PROTOCOLS)
def test_dt_sets_the_circuit_step_and_only_then_the_build_key(name):
    """``dt`` reaches the circuit (its clock) and the compiled code's key; the default
    leaves the key as it was, so cached builds stay valid."""
    from brian2 import ms

    from dopasim.params import resolve_params

    protocol = get_protocol(name)
    keys, steps = [], []
    for dt in (None, "1ms"):
        over = dict(protocol.TINY_PARAMS) | ({"dt": dt} if dt else {})
        p = resolve_params(protocol.PARAMS, over)
        protocol.check(p)
        steps.append(protocol.circuit_params(p).dt)
        keys.append(protocol.build_key(p))
    assert steps == [pavlovian.DT, 1 * ms]
    assert not any("dt" in str(k) for k in keys[0])
    assert "dt1.0" in keys[1]


def test_a_circuit_built_at_dt_1ms_runs_every_neuron_and_synapse_on_it():
    import brian2
    from brian2 import ms

    from dopasim.params import resolve_params
    from dopasim.seeding import streams

    protocol = get_protocol("conditioning")
    p = resolve_params(protocol.PARAMS, dict(protocol.TINY_PARAMS, dt="1ms"))
    protocol.check(p)
    circuit = protocol.build(p, streams(3))
    objects = [
        o for o in circuit.network.objects if isinstance(o, brian2.NeuronGroup | brian2.Synapses)
    ]
    assert objects
    assert {float(o.clock.dt / ms) for o in objects} == {1.0}


# ---------------------------------------------------------------------------------------
# the shared spike-train helpers of the trial protocols (against what they replace)
# ---------------------------------------------------------------------------------------


def _spike_data(in_time_order, seed=2):
    """Spikes of 30 DA and 5 5-HT neurons on a 1 ms grid (ties in time), one DA neuron
    lesioned, in time order as a monitor gives them or shuffled."""
    rng = np.random.default_rng(seed)
    data = {"sizes": {"vta_da": 30, "drn_5ht": 5}, "lesioned_da": np.array([4], np.int32)}
    for pop, n in data["sizes"].items():
        t = np.round(rng.uniform(0, 40.0, 200 * n), 3)
        i = rng.integers(0, n, t.size).astype(np.int32)
        order = np.argsort(t, kind="stable") if in_time_order else rng.permutation(t.size)
        data[f"spikes_{pop}"] = (i[order], t[order])
    data["trial_cue"] = np.zeros(10, int)
    return data


@pytest.mark.parametrize("in_time_order", [True, False])
@pytest.mark.parametrize("pop", ["vta_da", "drn_5ht"])
def test_alive_spike_trains_and_tonic_are_what_they_were(in_time_order, pop):
    """alive_spike_trains and tonic give exactly what the argsort of the indices and the
    sort of all spike times gave."""
    data = _spike_data(in_time_order)
    i, t = data[f"spikes_{pop}"]
    n = data["sizes"][pop]
    order = np.argsort(i, kind="stable")
    bounds = np.searchsorted(i[order], np.arange(n + 1))
    lesioned = {4} if pop == "vta_da" else set()
    old = [(k, t[order[bounds[k] : bounds[k + 1]]]) for k in range(n) if k not in lesioned]
    new = list(pavlovian.alive_spike_trains(data, pop))
    assert [k for k, _ in new] == [k for k, _ in old]
    for (_, a), (_, b) in zip(new, old, strict=True):
        np.testing.assert_array_equal(a, b)
    p = {"trial_len": 4.0, "cs_time": 1.5}
    ts = np.sort(t)
    cs = pavlovian.trial_times(data, p)
    count = np.sum(np.searchsorted(ts, cs) - np.searchsorted(ts, cs - 1.5))
    assert pavlovian.tonic(data, p, pop) == float(count / n / (len(cs) * 1.5))
    np.testing.assert_array_equal(pavlovian.sorted_times(t), ts)

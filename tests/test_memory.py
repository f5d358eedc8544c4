"""The memory estimate (`dopasim.memory`): counted from parameters, checked against built runs.

The accuracy margin is fixed in advance: the estimate must be at least the bytes that
the built network's arrays hold after the run (plus the largest temporary gather of the
runner's numerical check), and at most `MAX_OVERESTIMATE` times them. "Held" means the
arrays each Brian2 object owns (its state variables, its indices, its pathways' delays,
the monitors' records). The sum of ``get_states()`` is not the measure of what is held:
on a `Synapses` object it also gathers every variable of the source and target groups
per synapse (``v_pre``, ``v_post``...), copies that exist only while they are read. The
runner's check does read them, so that gather is measured as the check's temporary.
A second test measures the peak RSS of a whole run in a fresh process.
"""

import sys
import time

import brian2
import numpy as np
import pytest
from brian2 import NeuronGroup, SpikeMonitor, StateMonitor, Synapses, TimedArray
from brian2.core.variables import ArrayVariable

from dopasim import memory, runner
from dopasim.cli import main
from dopasim.params import ParamError
from dopasim.protocol import Protocol
from dopasim.protocols import REGISTRY, get_protocol
from dopasim.protocols import pavlovian as pv
from dopasim.seeding import streams

#: The largest accepted ratio estimate / measured bytes (fixed before the first measurement).
MAX_OVERESTIMATE = 10

#: Tiny settings per protocol (each protocol's TINY_PARAMS) and a few variants.
_DISTAL = get_protocol("distal-reward").TINY_PARAMS
TINY = {
    **{name: dict(get_protocol(name).TINY_PARAMS) for name in REGISTRY},
    "distal-reward/random": {**_DISTAL, "reward": "random", "random_rate": "2 Hz"},
    "distal-reward/clock": {**_DISTAL, "plasticity": "clock"},
    "distributional/pre": {
        **get_protocol("distributional").TINY_PARAMS,
        "eligibility": "pre",
    },
    "distributional/expectation": {
        **get_protocol("distributional").TINY_PARAMS,
        "expectation_gain": "0.9",
    },
    "distributional/timescale": {
        **get_protocol("distributional").TINY_PARAMS,
        "da_timescale_sd": "0.3",
    },
}

#: Brian2's own per-element arrays, counted by `dopasim.memory`'s overhead constants.
_INTERNAL = {"i", "j", "N", "N_incoming", "N_outgoing", "lastspike", "not_refractory"}


def _prepare(key, tmp_path):
    protocol = key.split("/")[0]
    return runner.prepare(protocol, TINY[key], 1, "numpy", tmp_path / "out")


def _build(module, p, seed):
    rngs = streams(seed)
    brian2.seed(rngs["brian2_seed"])
    return module.build(p, rngs)


def _owned(obj):
    """``{id: (names, array, only in a pathway)}`` of the arrays that ``obj`` owns, its
    pathways' included (a variable has several names: aliases, references)."""
    found = {}
    sources = [(obj.variables, False)]
    sources += [(pw.variables, True) for pw in getattr(obj, "_pathways", [])]
    for variables, via_pathway in sources:
        for name, var in variables.items():
            if not isinstance(var, ArrayVariable):
                continue
            try:
                owner = var.owner.name
            except ReferenceError:
                continue
            if owner != obj.name:
                continue
            names, value, only_pathway = found.get(
                id(var), (set(), np.asarray(var.get_value()), via_pathway)
            )
            found[id(var)] = (names | {name}, value, only_pathway and via_pathway)
    return found


def _model_vars(obj):
    """Counts by dtype of the per-element model variables that ``obj`` owns."""
    n = len(obj)
    out = {"float64": 0, "int32": 0, "bool": 0}
    for names, value, via_pathway in _owned(obj).values():
        # a pathway's delay, or Brian2's own arrays (names like _spikespace, i, lastspike)
        if via_pathway or names & _INTERNAL or all(x.startswith("_") for x in names):
            continue
        if value.ndim != 1 or value.shape[0] != n:
            continue
        out[{"f": "float64", "i": "int32", "b": "bool"}[value.dtype.kind]] += 1
    return out


def _component(obj):
    if isinstance(obj, Synapses):
        return "synapses"
    if isinstance(obj, SpikeMonitor):
        return "spike_monitors"
    if isinstance(obj, StateMonitor):
        return "state_monitors"
    if isinstance(obj, brian2.Group):
        return "neurons"
    return None


def _measured(network):
    """Bytes held by the network's arrays, by `dopasim.memory` component; ``scratch`` is
    the runner's numerical check's temporaries over the largest group (every run has it)."""
    out = dict.fromkeys(memory.COMPONENTS, 0)
    tables = {}
    for obj in network.objects:
        comp = _component(obj)
        if comp is None:
            continue
        out[comp] += sum(value.nbytes for _, value, _ in _owned(obj).values())
        if comp in ("neurons", "synapses"):
            out["scratch"] = max(out["scratch"], len(obj) * memory.CHECK_TEMPORARY_BYTES)
        for v in getattr(obj, "namespace", {}).values():
            if isinstance(v, TimedArray):
                tables[id(v)] = v.values.nbytes
    out["inputs"] = sum(tables.values())
    out["total"] = sum(out[k] for k in memory.COMPONENTS)
    return out


def _arrays(est):
    """The estimate without the fixed runtime overhead (what `_measured` can see)."""
    return est["total"] - est["runtime"]


@pytest.mark.parametrize("key", sorted(TINY))
def test_counts_match_the_built_network(key, tmp_path):
    """Every object the protocol builds is counted, with its size and its variables."""
    module, p, seed, _ = _prepare(key, tmp_path)
    counts = module.memory_counts(p)
    circuit = _build(module, p, seed)
    # fixed in-degrees (selection) and fixed out-degrees (distal reward): exact counts
    exact = key == "probabilistic-selection" or key.startswith("distal-reward")
    seen = {k: set() for k in ("neurons", "synapses", "spike_monitors", "state_monitors")}
    objects = list(circuit.network.objects)
    # groups that a group contains (a volume transmitter's group) are allocated too
    objects += [
        c
        for o in objects
        for c in getattr(o, "contained_objects", ())
        if isinstance(c, NeuronGroup)
    ]
    for obj in objects:
        comp = _component(obj)
        if comp is None:
            continue
        assert obj.name in counts[comp], f"{obj.name} ({comp}) is not counted"
        c = counts[comp][obj.name]
        seen[comp].add(obj.name)
        if comp in ("neurons", "synapses"):
            actual = _model_vars(obj)
            if comp == "neurons" or exact:
                assert c["n"] == len(obj), obj.name
            else:  # Bernoulli draws: an upper bound
                assert len(obj) <= c["n"], obj.name
            for dtype, k in actual.items():
                if len(obj) > 1:
                    assert c.get(dtype, 0) == k, f"{obj.name}: {dtype} variables"
                else:
                    assert c.get(dtype, 0) >= k, f"{obj.name}: {dtype} variables"
            if comp == "synapses":
                assert c.get("pathways", 1) == len(obj._pathways), obj.name
        elif comp == "spike_monitors":
            assert c["neurons"] == len(obj.source), obj.name
            extra = set(obj.record_variables) - {"i", "t"}
            assert c.get("float64", 0) == len(extra), obj.name
        else:
            n_idx = len(obj.record) if not isinstance(obj.record, bool) else len(obj.source)
            assert c["values"] == n_idx * len(obj.record_variables), obj.name
            assert c["samples"] >= int(round(float(p["duration"]) / obj.clock.dt_)), obj.name
    # nothing counted that is not built (the estimate describes this network)
    for comp, names in seen.items():
        assert set(counts.get(comp, {})) == names, comp


@pytest.mark.parametrize("key", ["conditioning", "distal-reward"])
def test_estimate_bounds_a_tiny_run(key, tmp_path):
    """After a tiny run, the estimate is >= the bytes held (and the numerical check's
    largest gather), and at most 10x above them (the fixed runtime overhead left out: it
    is no array)."""
    module, p, seed, _ = _prepare(key, tmp_path)
    est = memory.estimate(module, p)
    counts = module.memory_counts(p)
    circuit = _build(module, p, seed)
    circuit.network.run(p["duration"])
    got = _measured(circuit.network)
    for obj in circuit.network.objects:
        if isinstance(obj, SpikeMonitor):
            assert obj.num_spikes <= counts["spike_monitors"][obj.name]["spikes"], obj.name
    for comp in memory.COMPONENTS:
        assert est[comp] >= got[comp], comp
    ratio = _arrays(est) / got["total"]
    print(f"{key}: estimate {_arrays(est)} B, measured {got['total']} B, ratio {ratio:.2f}")
    print({k: (est[k], got[k]) for k in memory.COMPONENTS})
    assert 1 <= ratio <= MAX_OVERESTIMATE


_RSS_SCRIPT = """
import json, sys
from dopasim import memory, runner
from dopasim.protocol import Protocol

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

params = json.loads(sys.argv[1])
module, p, _, _ = runner.prepare("distal-reward", params, 1, "numpy", None)
est = memory.estimate(module, p)["total"]
before = status("VmRSS")
runner.run("distal-reward", params, seed=1, device="numpy", write=False, figures=False,
           quiet=True)
# VmHWM, not ru_maxrss: Linux carries the parent's peak RSS into a child's ru_maxrss
# across (v)fork and exec, so a large pytest worker inflated the growth (CI: 302 MB)
peak = status("VmHWM")
print(json.dumps({"estimate": est, "growth": peak - before}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_estimate_bounds_the_peak_memory_of_a_whole_run(tmp_path):
    """A whole run in a fresh process (320k plastic synapses): the growth of its peak RSS
    over its RSS before the run is at most the estimate, and at least a tenth of it."""
    import json
    import subprocess

    params = {"n_neurons": "4000", "n_synapses": "100", "duration": "1 s"}
    env = {**__import__("os").environ, "DOPASIM_CACHE": str(tmp_path / "cache")}
    res = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, json.dumps(params)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    print(got, got["estimate"] / got["growth"])
    assert got["growth"] <= got["estimate"] <= MAX_OVERESTIMATE * got["growth"]


def test_to_bytes_uses_the_documented_constants():
    counts = {
        "neurons": {"g": {"n": 10, "float64": 2, "bool": 1}},
        "synapses": {"s": {"n": 100, "float64": 3, "int32": 1, "pathways": 2}},
        "spike_monitors": {"m": {"spikes": 50, "neurons": 10, "float64": 1}},
        "state_monitors": {"sm": {"samples": 20, "values": 3}},
        "inputs": {"x": {"float64": 7}},
        "scratch": {"a": {"float64": 10}, "b": {"int64": 5, "bool": 100}},
    }
    got = memory.to_bytes(counts)
    raw = {
        "neurons": 10 * (2 * 8 + 1 + memory.NEURON_OVERHEAD),
        "synapses": 100 * (3 * 8 + 4 + memory.SYNAPSE_OVERHEAD + 2 * memory.PATHWAY_OVERHEAD),
        "spike_monitors": memory.MONITOR_FACTOR * 50 * (memory.SPIKE_BYTES + 8) + 4 * 10,
        "state_monitors": memory.MONITOR_FACTOR * 8 * 20 * (3 + 1),
        "inputs": 7 * 8,
        # only the largest temporary counts (the check's: 100 synapses x 18 bytes)
        "scratch": max(10 * 8, 5 * 8 + 100, 100 * memory.CHECK_TEMPORARY_BYTES),
    }
    for k, v in raw.items():
        assert got[k] == int(np.ceil(v * memory.SAFETY_FACTOR)), k
    assert got["runtime"] == memory.RUNTIME_OVERHEAD
    assert got["total"] == sum(got[k] for k in memory.COMPONENTS)


def test_the_numerical_check_scans_one_array_at_a_time():
    """Its temporaries scale with the largest group, not with a gather of every variable."""
    counts = {
        "neurons": {"a": {"n": 10, "float64": 2}, "b": {"n": 20, "float64": 30}},
        "synapses": {"s": {"n": 1000, "float64": 4, "pre": "a", "post": "b"}},
    }
    want = int(np.ceil(1000 * memory.CHECK_TEMPORARY_BYTES * memory.SAFETY_FACTOR))
    assert memory.to_bytes(counts)["scratch"] == want
    counts["scratch"] = {"draw": {"float64": 10_000}}
    assert memory.to_bytes(counts)["scratch"] == int(np.ceil(80_000 * memory.SAFETY_FACTOR))


@pytest.mark.parametrize("protocol", sorted(runner.PROTOCOLS))
def test_every_protocol_is_estimated_at_its_defaults(protocol, tmp_path):
    module, p, _, _ = runner.prepare(protocol, {}, 1, "numpy", tmp_path / "out")
    est = memory.estimate(module, p)
    assert est["total"] > 0 and est["total"] == sum(est[k] for k in memory.COMPONENTS)


def test_msns_are_counted_at_their_rest_ceiling_between_cues(tmp_path):
    """A longer inter-trial interval adds MSN spikes at the rest ceiling, the other
    populations' at their whole-run ceiling."""
    counts = {}
    for trial_len in ("3s", "5s"):
        params = {"n_trials": "40", "trial_len": trial_len}
        module, p, _, _ = runner.prepare("conditioning", params, 1, "numpy", tmp_path / "o")
        counts[trial_len] = module.memory_counts(p)["spike_monitors"]
    extra = 40 * 2.0  # 40 trials, 2 s more each
    for k, ceiling in (
        ("str_d1", pv.MSN_REST_CEILING_HZ),
        ("vta_gaba", pv.RATE_CEILING_HZ["vta_gaba"]),
    ):
        n = counts["3s"][f"mon_{k}"]["neurons"]
        grown = counts["5s"][f"mon_{k}"]["spikes"] - counts["3s"][f"mon_{k}"]["spikes"]
        assert grown == pytest.approx(ceiling * n * extra, abs=2), k
    assert pv.MSN_REST_CEILING_HZ < pv.RATE_CEILING_HZ["str_d1"]


#: Parameter sets far beyond 8 GiB, and a parameter the refusal must name.
HUGE = {
    "distal-reward": ({"n_neurons": "1000000", "n_synapses": "1000"}, "n_neurons"),
    "conditioning": ({"scale": "200", "n_trials": "30"}, "scale"),
    "probabilistic-selection": (
        {"msn_per_channel": "200000", "n_train": "3", "n_test_reps": "1"},
        "msn_per_channel",
    ),
}


@pytest.fixture
def nothing_built(monkeypatch):
    """Fail if a Brian2 group or synapse object is created."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__} built before the memory check")

    monkeypatch.setattr(NeuronGroup, "__init__", refuse)
    monkeypatch.setattr(Synapses, "__init__", refuse)


@pytest.mark.parametrize("protocol", sorted(HUGE))
def test_huge_run_is_refused_from_its_parameters(protocol, tmp_path, monkeypatch, nothing_built):
    params, word = HUGE[protocol]
    module, p, _, path = runner.prepare(protocol, params, 1, "numpy", tmp_path / "out")
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 2**30)
    t0 = time.perf_counter()
    with pytest.raises(ParamError) as e:
        memory.check(module, p)
    assert time.perf_counter() - t0 < 1.0  # counted, not built
    msg = str(e.value)
    est = memory.estimate(module, p)
    assert est["total"] > 8 * 2**30
    assert msg.startswith("memory: this run needs about ")
    assert memory.format_bytes(est["total"]) in msg
    assert "but only 8.0 GiB is available" in msg
    # the parameter to reduce is the one behind the largest component
    dominant = max(memory.COMPONENTS, key=est.get)
    hint = module.memory_counts(p)["reduce"][dominant]
    assert word in hint
    assert msg.endswith(f"; use --force to run anyway, or reduce {hint}")
    assert not path.exists()


def test_force_runs_anyway_with_a_warning(tmp_path, monkeypatch, capsys, nothing_built):
    module, p, _, _ = runner.prepare("distal-reward", HUGE["distal-reward"][0], 1, "numpy", None)
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 2**30)
    est = memory.check(module, p, force=True)
    assert est == memory.estimate(module, p)
    err = capsys.readouterr().err
    assert err.startswith("dopasim: warning: memory: this run needs about ")
    assert "8.0 GiB is available" in err and "--force" in err


def test_unknown_available_memory_never_refuses(monkeypatch, capsys, nothing_built):
    module, p, _, _ = runner.prepare("distal-reward", HUGE["distal-reward"][0], 1, "numpy", None)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    assert memory.check(module, p) == memory.estimate(module, p)
    assert capsys.readouterr().err == ""


def test_a_run_that_fits_passes_silently(monkeypatch, capsys):
    module, p, _, _ = runner.prepare("distal-reward", TINY["distal-reward"], 1, "numpy", None)
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 2**30)
    assert memory.check(module, p)["total"] < 2**30
    assert capsys.readouterr().err == ""


def test_a_protocol_without_counts_is_not_checked(monkeypatch):
    """A protocol whose memory_counts gives None (nothing to estimate) is never refused."""

    class Bare(Protocol):
        NAME = "bare"

        def memory_counts(self, p):
            return None

    monkeypatch.setattr(memory, "available_bytes", lambda: 1)
    assert memory.estimate(Bare(), {}) is None
    assert memory.check(Bare(), {}) is None


def test_available_bytes_reads_meminfo_then_sysconf(monkeypatch):
    monkeypatch.setattr(memory, "cgroup_headroom", lambda: None)  # the host's figures
    try:
        text = open("/proc/meminfo").read()
    except OSError:
        text = ""
    line = next((x for x in text.splitlines() if x.startswith("MemAvailable:")), None)
    got = memory.available_bytes()
    if line is not None:
        expected = int(line.split()[1]) * 1024
        assert got == pytest.approx(expected, rel=0.2)  # it moves while we read it

    def no_file(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(memory, "open", no_file, raising=False)
    fallback = memory.available_bytes()
    if sys.platform.startswith("linux"):
        assert fallback is not None and fallback > 0

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(memory.os, "sysconf", no_sysconf)
    assert memory.available_bytes() is None


def _cgroup_tree(tmp_path, v2=None, v1=None, self_line="0::/job\n"):
    """A fake /sys/fs/cgroup (``v2``/``v1``: ``{relative dir: {file: text}}``)."""
    root = tmp_path / "cgroup"
    for base, tree in (("", v2 or {}), ("memory", v1 or {})):
        for rel, files in tree.items():
            d = root / base / rel
            d.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (d / name).write_text(text)
    (tmp_path / "self").write_text(self_line)
    return str(root), str(tmp_path / "self")


def test_cgroup_headroom_v2_counts_the_reclaimable_cache(tmp_path):
    gib = 2**30
    files = {"memory.max": f"{4 * gib}\n", "memory.current": f"{3 * gib}\n"}
    files["memory.stat"] = f"anon 1\ninactive_file {gib // 2}\nactive_file 7\n"
    root, me = _cgroup_tree(tmp_path, v2={"job": files})
    assert memory.cgroup_headroom(root, me) == gib + gib // 2


def test_cgroup_headroom_takes_the_tightest_limit_and_ignores_no_limit(tmp_path):
    gib = 2**30
    v2 = {
        "": {"memory.max": "max\n", "memory.current": "5\n"},  # the namespace root
        "job": {"memory.max": f"{8 * gib}", "memory.current": f"{gib}"},
    }
    v1 = {
        "": {"memory.limit_in_bytes": "9223372036854771712", "memory.usage_in_bytes": "1"},
        "box": {
            "memory.limit_in_bytes": f"{2 * gib}",
            "memory.usage_in_bytes": f"{gib}",
            "memory.stat": f"total_inactive_file {gib // 4}\n",
        },
    }
    root, me = _cgroup_tree(tmp_path, v2, v1, self_line="4:memory:/box\n0::/job\n")
    assert memory.cgroup_headroom(root, me) == gib + gib // 4


def test_cgroup_headroom_finds_a_limit_on_a_parent(tmp_path):
    """A Slurm job's limit sits on the job; its tasks run in a child cgroup."""
    gib = 2**30
    v2 = {
        "job": {"memory.max": f"{3 * gib}", "memory.current": f"{gib}"},
        "job/step/task": {"memory.max": "max", "memory.current": "1"},
    }
    root, me = _cgroup_tree(tmp_path, v2, self_line="garbage line\n0::/job/step/task\n")
    assert memory.cgroup_headroom(root, me) == 2 * gib


def test_cgroup_headroom_is_none_without_a_limit_or_a_cgroup(tmp_path):
    root, me = _cgroup_tree(tmp_path, v2={"job": {"memory.max": "max", "memory.current": "9"}})
    assert memory.cgroup_headroom(root, me) is None
    assert memory.cgroup_headroom(str(tmp_path / "nothing"), str(tmp_path / "none")) is None


def test_available_bytes_is_capped_by_the_cgroup(monkeypatch):
    monkeypatch.setattr(memory, "cgroup_headroom", lambda: 123)
    assert memory.available_bytes() == 123


def test_format_bytes():
    assert memory.format_bytes(int(12.34 * 2**30)) == "12.3 GiB"
    assert memory.format_bytes(512 * 2**20) == "512 MiB"
    assert memory.format_bytes(3 * 2**10) == "3 KiB"


def _cli(argv):
    try:
        return main(argv)
    except SystemExit as e:  # argparse: an unknown option
        return e.code


def test_cli_refuses_huge_run(tmp_path, monkeypatch, capsys):
    """Exit code 2 before anything is built or written; the message names both sizes."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 2**30)
    module = runner.get_protocol("distal-reward")

    def built(*args, **kwargs):
        raise AssertionError("the network was built before the memory check")

    monkeypatch.setattr(module, "build", built)
    out = tmp_path / "run"
    argv = ["run", "distal-reward", "--device", "numpy", "--quiet", "--out", str(out)]
    argv += ["--param", "n_neurons=1000000", "--param", "n_synapses=1000"]
    code = _cli(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert not out.exists()
    assert "memory: this run needs about " in err and "8.0 GiB is available" in err
    assert "--force" in err


def test_cli_force_runs_anyway(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1)
    out = tmp_path / "run"
    argv = ["run", "distal-reward", "--device", "numpy", "--quiet", "--no-figures"]
    argv += ["--duration", "1s", "--param", "n_neurons=50", "--param", "n_synapses=5"]
    code = _cli([*argv, "--out", str(out), "--force"])
    err = capsys.readouterr().err
    assert code == 0 and (out / "metadata.json").exists()
    assert "warning: memory:" in err


@pytest.mark.parametrize("key", sorted(TINY))
def test_builds_on_cpp_standalone_without_running(key, tmp_path):
    """Every protocol's network builds under the cpp_standalone device (Python side only:
    nothing is generated, compiled or run). A build that reads a state variable or the
    size of code-connected synapses before the run works on numpy but fails here, as
    `make run` did once (the DA release per spike set from len(synapses))."""
    from dopasim.device import use_device

    module, p, seed, _ = _prepare(key, tmp_path)
    with use_device("cpp_standalone", build_key=("build-only", key)):
        circuit = _build(module, p, seed)
        assert len(circuit.network.objects) > 0

"""The runner: protocol + parameters + seed + device -> a run directory.

A protocol module provides::

    NAME, SUMMARY, PARAMS               # name, one line, list of `Param`
    build(p, rngs) -> Circuit           # network and monitors, nothing run yet
    schedule(circuit, p, report)        # the run() calls (portable to standalone)
    collect(circuit, p) -> dict         # plain arrays read from the monitors
    metrics(data, p) -> dict            # headline figures (metrics.json)
    figures(data, p, outdir) -> list    # PNG files
    build_key(p) -> tuple               # what fixes the compiled code's shape

Everything the user typed is validated before any Brian2 object exists.
"""

import contextlib
import gc
import importlib
import json
import logging
import platform
import sys
import time
from pathlib import Path

import brian2
import numpy as np

import dopasim
from dopasim import rundir
from dopasim.circuits.scenarios import describe, is_hypothesis, parse_scenarios
from dopasim.device import DEVICES, SeedAtStart, compiler_available, use_device
from dopasim.params import ParamError, did_you_mean, resolve_params, to_jsonable
from dopasim.seeding import streams

__all__ = [
    "PROTOCOLS",
    "NumericalFailure",
    "build_key",
    "get_protocol",
    "numerical_problems",
    "prepare",
    "run",
    "Run",
]

#: A state variable beyond this magnitude is a blow-up, not a result.
HUGE = 1e50


class NumericalFailure(RuntimeError):
    """The run ended with NaN, infinite or huge state values (CLI exit code 3).

    The run directory is still written, with ``status: failed`` and the reason.
    """

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


def numerical_problems(network, limit=5):
    """Descriptions of the float state variables of ``network`` that are NaN, infinite
    or larger than `HUGE` in magnitude (at most ``limit``); empty when all is well."""
    problems = []
    for obj in sorted(network.objects, key=lambda o: o.name):
        if not isinstance(obj, brian2.NeuronGroup | brian2.Synapses):
            continue
        for name, value in sorted(obj.get_states(units=False, read_only_variables=True).items()):
            a = np.asarray(value)
            if a.dtype.kind != "f" or not a.size:
                continue
            bad = ~np.isfinite(a) | (np.abs(np.where(np.isfinite(a), a, 0)) > HUGE)
            if bad.any():
                problems.append(
                    f"{obj.name}.{name}: {int(bad.sum())} of {a.size} values NaN, infinite "
                    f"or beyond {HUGE:g} (e.g. {a[bad].ravel()[0]!r})"
                )
                if len(problems) >= limit:
                    return problems
    return problems


#: Registered protocols: CLI name -> module.
PROTOCOLS = {
    "distal-reward": "dopasim.protocols.distal_reward",
    "conditioning": "dopasim.protocols.conditioning",
    "probability": "dopasim.protocols.probability",
    "aversive": "dopasim.protocols.aversive",
    "eligibility-window": "dopasim.protocols.eligibility_window",
    "probabilistic-selection": "dopasim.protocols.probabilistic_selection",
}


@contextlib.contextmanager
def _quiet(substrings):
    """Drop Brian2 log records that contain one of ``substrings`` (known false alarms).

    A protocol lists in ``QUIET_WARNINGS`` the warnings it has checked and documented;
    every other message passes. The filter is removed on exit.
    """

    def keep(record):
        return not any(s in record.getMessage() for s in substrings)

    logger = logging.getLogger("brian2.codegen.generators.base")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def get_protocol(name):
    if name not in PROTOCOLS:
        raise ParamError(
            f"protocol: unknown protocol '{name}'"
            + did_you_mean(name, PROTOCOLS, cutoff=0)
            + f"; known: {', '.join(PROTOCOLS)}"
        )
    return importlib.import_module(PROTOCOLS[name])


class Run:
    """What `run` returns: the data, the metrics and where they were written."""

    def __init__(self, protocol, params, seed, data, metrics, metadata, path):
        self.protocol = protocol
        self.params = params
        self.seed = seed
        self.data = data
        self.metrics = metrics
        self.metadata = metadata
        self.path = path


def prepare(
    protocol,
    params=None,
    seed=1,
    device="cpp_standalone",
    out=None,
    overwrite=False,
    scenario="intact",
):
    """Validate everything the user gave; return (module, resolved params, seed, out path).

    Raises `ParamError` (exit code 2 in the CLI) and creates nothing.
    """
    module = get_protocol(protocol)
    parsed = parse_scenarios(scenario or "intact")
    if parsed and not getattr(module, "SCENARIOS", False):
        raise ParamError(
            f"scenario: protocol '{module.NAME}' runs the Izhikevich 2007 network and takes "
            f"no scenario; scenarios act on the reward circuit ({', '.join(scenario_protocols())})"
        )
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise ParamError(f"seed: '{seed}' is not a non-negative integer") from None
    if seed < 0 or seed >= 2**32:
        raise ParamError(f"seed: {seed} is outside [0, 2**32)")
    if device not in DEVICES:
        raise ParamError(
            f"device: '{device}' is not one of {', '.join(DEVICES)}" + did_you_mean(device, DEVICES)
        )
    p = resolve_params(module.PARAMS, dict(params or {}))
    if hasattr(module, "check"):
        module.check(p)
    if getattr(module, "SCENARIOS", False):
        p["scenario"] = describe(parsed)
        # build the circuit's parameters now: a bad combination fails before any output
        from dopasim.protocols import pavlovian

        try:
            getattr(module, "circuit_params", pavlovian.circuit_params)(p).validate()
        except ValueError as e:
            raise ParamError(f"scenario: {e}") from None
    path = Path(out) if out else rundir.default_run_dir(module.NAME, seed)
    rundir.check_writable(path, overwrite)
    return module, p, seed, path


def scenario_protocols():
    return [n for n in PROTOCOLS if getattr(get_protocol(n), "SCENARIOS", False)]


def build_key(module, p, build_slot=0):
    """What names a run's compiled build: the protocol, the code's shape, the slot."""
    return (module.NAME, *module.build_key(p), build_slot)


def run(
    protocol,
    params=None,
    seed=1,
    device="cpp_standalone",
    out=None,
    overwrite=False,
    quiet=False,
    write=True,
    figures=True,
    scenario="intact",
    build_slot=0,
    compile_only=False,
):
    """Run one protocol under a scenario and write its run directory. Returns a `Run`.

    ``scenario`` is a SPEC (``'parkinson:loss=0.75+ssri:occupancy=0.8'``, see
    `dopasim.circuits.scenarios`). ``build_slot`` separates the compiled-build caches of
    parallel workers (``dopasim compare --jobs``). ``compile_only`` (cpp_standalone)
    generates and compiles the build of this run, then returns its build key (see
    `build_key`) without running it or writing anything (``compare`` compiles once and
    clones the build for its workers).
    """
    t_start = time.perf_counter()
    module, p, seed, path = prepare(protocol, params, seed, device, out, overwrite, scenario)
    if device == "cpp_standalone" and not compiler_available():
        print("dopasim: no C++ compiler found; falling back to the numpy target", file=sys.stderr)
        device = "numpy"
    rngs = streams(seed)
    report = None if quiet else "stderr"
    timings = {}
    with (
        _quiet(getattr(module, "QUIET_WARNINGS", ())),
        use_device(device, build_key=build_key(module, p, build_slot)) as dev,
    ):
        if device != "cpp_standalone":
            brian2.seed(rngs["brian2_seed"])
        t0 = time.perf_counter()
        # Brian2 suffixes a name (``x_1``) while an object of that name is alive; the
        # previous run's objects live in reference cycles until collected. Collect them,
        # so that a second run in this process generates the same code and reuses the
        # compiled build (otherwise every file is renamed and recompiled).
        gc.collect()
        circuit = module.build(p, rngs)
        # standalone: the seed is a run argument, so every seed runs the same binary
        seeder = SeedAtStart(circuit.network) if device == "cpp_standalone" else None
        timings["build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        module.schedule(circuit, p, report)
        if device == "cpp_standalone":
            t1 = time.perf_counter()
            brian2.device.build(
                directory=dev["directory"], compile=True, run=False, clean=False, with_output=False
            )
            t2 = time.perf_counter()
            if compile_only:
                return build_key(module, p, build_slot)
            brian2.device.run(
                directory=dev["directory"],
                with_output=not quiet,
                run_args=seeder.run_args(rngs["brian2_seed"]),
            )
            timings["codegen_compile_s"] = t2 - t1
            timings["binary_s"] = time.perf_counter() - t2
            timings["run_s"] = float(brian2.device._last_run_time)
        else:
            timings["run_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = module.collect(circuit, p)
        problems = numerical_problems(circuit.network)
        timings["collect_s"] = time.perf_counter() - t0
        resolved = {**p, **circuit.params}
        # arrays (trial tables, sampled synapse indices) are in data.npz, not in the metadata
        info = {
            k: v
            for k, v in circuit.info.items()
            if not isinstance(v, np.ndarray)
            and not (isinstance(v, dict) and any(isinstance(x, np.ndarray) for x in v.values()))
        }
    # a blown-up run gets no metrics: it is written, marked failed, and raised
    metrics = {} if problems else module.metrics(data, p)
    timings["total_s"] = time.perf_counter() - t_start
    duration = float(p["duration"])
    metadata = {
        "protocol": module.NAME,
        "scenario": p.get("scenario", "intact"),
        "hypothesis": bool(is_hypothesis(parse_scenarios(p.get("scenario", "intact")))),
        "seed": seed,
        "status": "failed" if problems else "complete",
        "failure": ("numerical: " + "; ".join(problems)) if problems else None,
        "requested_time_s": duration,
        "reached_time_s": duration,
        "device": device,
        "code_target": dev.get("code_target"),
        "build_cached": dev.get("cached"),
        "threads": dev.get("threads", 0),
        "parameters": to_jsonable(resolved),
        "circuit_info": to_jsonable(info),
        "versions": {
            "dopasim": dopasim.__version__,
            "brian2": brian2.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "wall_times_s": timings,
        "command": sys.argv if sys.argv and sys.argv[0].endswith("dopasim") else None,
    }
    result = Run(module.NAME, p, seed, data, metrics, metadata, None)
    if write:
        path = rundir.prepare_run_dir(path, overwrite)
        spikes = {k[len("spikes_") :]: v for k, v in data.items() if k.startswith("spikes_")}
        arrays = {}
        for pop, (i, t) in spikes.items():
            arrays[f"{pop}_i"] = np.asarray(i, dtype=np.int32)
            arrays[f"{pop}_t"] = np.asarray(t, dtype=np.float64)  # seconds, float64
        rundir.write_npz(path / "spikes.npz", **arrays)
        other = {
            k: v
            for k, v in data.items()
            if not k.startswith("spikes_") and isinstance(v, np.ndarray)
        }
        rundir.write_npz(path / "data.npz", **other)
        rundir.write_json(path / "metrics.json", metrics)
        if figures and not problems:
            metadata["figures"] = [str(Path(f).name) for f in module.figures(data, p, path)]
        metadata["wall_times_s"]["total_s"] = time.perf_counter() - t_start
        rundir.write_json(path / "metadata.json", metadata)
        result.path = path
    if problems:
        raise NumericalFailure(
            "numerical failure: "
            + "; ".join(problems)
            + (f" (written to {path})" if write else ""),
            path if write else None,
        )
    return result


def load_run(path):
    """Load a run directory written by `run` (metadata, metrics and arrays)."""
    path = Path(path)
    meta = json.loads((path / "metadata.json").read_text())
    metrics = json.loads((path / "metrics.json").read_text())
    data = {}
    with np.load(path / "data.npz") as f:
        data.update({k: f[k] for k in f.files})
    with np.load(path / "spikes.npz") as f:
        for k in f.files:
            if k.endswith("_i"):
                pop = k[:-2]
                data[f"spikes_{pop}"] = (f[k], f[f"{pop}_t"])
    return Run(meta["protocol"], meta["parameters"], meta["seed"], data, metrics, meta, path)

"""The runner: protocol + parameters + seed + device -> a run directory.

A protocol is a `dopasim.protocol.Protocol` registered in `dopasim.protocols.REGISTRY`;
the runner asks it through its hooks (build, collect, metrics, figures, build_key, ...).
The runner runs ``p["duration"]`` itself, in chunks (see `dopasim.recording`).
Everything the user typed is validated before any Brian2 object exists.
"""

import contextlib
import gc
import hashlib
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import brian2
import numpy as np
from brian2.core.variables import ArrayVariable, DynamicArrayVariable

from dopasim import memory, provenance, rundir
from dopasim._version import __version__
from dopasim.circuits.scenarios import describe, is_hypothesis, parse_scenarios
from dopasim.device import (
    SeedAtStart,
    building,
    compiler_available,
    interruptible_compiler,
    use_device,
)
from dopasim.options import option
from dopasim.params import ParamError, parse_quantity, resolve_params, to_jsonable
from dopasim.protocols import REGISTRY as PROTOCOLS
from dopasim.protocols import get_protocol
from dopasim.recording import (
    Aborted,
    Interrupt,
    Preparing,
    Recorder,
    Stopped,
    by_population,
    drive,
    final_status,
    read_chunks,
)
from dopasim.seeding import streams

__all__ = [
    "PROTOCOLS",
    "Interrupted",
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
    # the arrays each object owns, read in place: get_states would also copy, per
    # synapse, every variable of the pre- and postsynaptic groups (3x the memory)
    for obj, name, var in _owned_float_arrays(network):
        a = np.asarray(var.get_value())
        if not a.size:
            continue
        bad = ~np.isfinite(a) | (np.abs(a) > HUGE)
        if bad.any():
            problems.append(
                f"{obj.name}.{name}: {int(bad.sum())} of {a.size} values NaN, infinite "
                f"or beyond {HUGE:g} (e.g. {a[bad].ravel()[0]!r})"
            )
            if len(problems) >= limit:
                return problems
    return problems


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
    """Validate everything the user gave; return (protocol, resolved params, seed, out path).

    Raises `ParamError` (exit code 2 in the CLI) and creates nothing.
    """
    module = get_protocol(protocol)
    parsed = parse_scenarios(scenario or "intact")
    if parsed and not module.SCENARIOS:
        raise ParamError(
            f"scenario: protocol '{module.NAME}' {module.SCENARIO_REFUSAL}; "
            f"scenarios act on the reward circuit ({', '.join(scenario_protocols())})"
        )
    seed = option("seed", seed)
    device = option("device", device)
    p = resolve_params(module.PARAMS, dict(params or {}))
    module.check(p)
    module.check_device(p, device)
    if module.SCENARIOS:
        p["scenario"] = describe(parsed)
        # build the circuit's parameters now: a bad combination fails before any output
        try:
            cparams = module.circuit_params(p)
            if cparams is not None:
                cparams.validate()
        except ValueError as e:
            raise ParamError(f"scenario: {e}") from None
    path = Path(out) if out else rundir.default_run_dir(module.NAME, seed)
    rundir.check_writable(path, overwrite)
    return module, p, seed, path


def scenario_protocols():
    return [n for n in PROTOCOLS if get_protocol(n).SCENARIOS]


def build_key(module, p, build_slot=0):
    """What names a run's compiled build: the protocol, the code's shape, the slot."""
    return (module.NAME, *module.build_key(p), build_slot)


#: Simulated time per chunk (default): a hard kill loses at most this much.
CHUNK_S = 10.0
#: At most this many chunks (each is a run() call on the runtime targets, and a set of
#: files in the run directory).
MAX_CHUNKS = 64


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM (CLI exit code 130).

    Its directory is written (``status: interrupted``, the time reached, the spikes up to
    then); ``path`` and ``reached_s`` say where and how far.
    """

    def __init__(self, message, path=None, reached_s=None):
        super().__init__(message)
        self.path = path
        self.reached_s = reached_s


def chunk_seconds(chunk):
    """``chunk`` (None, seconds, a Quantity or a string like ``'10 s'``) in seconds."""
    if chunk is None:
        return None
    if isinstance(chunk, str):
        chunk = parse_quantity(chunk, brian2.second, "--chunk")
    if isinstance(chunk, brian2.Quantity):
        if not chunk.dimensions == brian2.second.dimensions:
            raise ParamError(
                f"--chunk: {chunk} is not a time; allowed: a duration > 0, e.g. '10 s'"
            )
        chunk = float(chunk / brian2.second)
    try:
        value = float(chunk)
    except (TypeError, ValueError):
        raise ParamError(f"--chunk: {chunk!r} is not a duration like '10 s'") from None
    if not math.isfinite(value) or value <= 0:
        raise ParamError(f"--chunk: {chunk!r} is not allowed; allowed: a duration > 0, e.g. '10 s'")
    return value


def chunk_ends(duration_s, chunk_s, dts):
    """End times (s) of a run's chunks: about every ``chunk_s``, and the run's end.

    A chunk boundary must fall on every clock's grid (``dts``, seconds), so ``chunk_s``
    is rounded up to a multiple of the clocks' least common period (a protocol with a
    2 s trial clock gets 2 s chunks at least). Chunked and unchunked runs give identical
    results (tested). No usable period, or a chunk as long as the run: one chunk. A long
    run's chunks grow so that there are at most `MAX_CHUNKS`.
    """
    if chunk_s is None or chunk_s >= duration_s:
        return [duration_s]
    chunk_s = max(chunk_s, duration_s / MAX_CHUNKS)
    period = Fraction(1)
    first = True
    for dt in dts:
        f = Fraction(dt).limit_denominator(10**9)
        if f <= 0:
            return [duration_s]
        period = (
            f
            if first
            else math.lcm(period.numerator, f.numerator)
            / Fraction(math.gcd(period.denominator, f.denominator))
        )
        first = False
    step = math.ceil(Fraction(chunk_s).limit_denominator(10**9) / period) * period
    if first or step >= duration_s:
        return [duration_s]
    n = math.ceil(Fraction(duration_s).limit_denominator(10**9) / step)
    return [float(j * step) for j in range(1, n)] + [duration_s]


def _spike_monitors(network):
    """The network's spike and event monitors, sorted by name."""
    return sorted(
        (o for o in network.objects if isinstance(o, brian2.SpikeMonitor)), key=lambda o: o.name
    )


def _progress(total_s, quiet):
    """One progress line on stderr at most every 10 s of wall time, and at the end.

    Returns Brian2's ``report`` for the device in use: a Python callable (runtime) or
    the body of a C++ function (cpp_standalone); None when quiet.
    """
    if quiet:
        return None, None
    state = {"last": -math.inf}

    def report(elapsed, completed, start, duration):
        now = time.perf_counter()
        t = float(start) + float(completed) * float(duration)
        done = t >= total_s * (1 - 1e-9)
        if now - state["last"] >= 10 or done:
            state["last"] = now
            print(
                f"dopasim: {t:.1f} s of {total_s:g} s simulated ({100 * t / total_s:.0f}%)",
                file=sys.stderr,
                flush=True,
            )

    cpp = (
        "static double _last = -1e300;\n"
        "const double _t = start + completed * duration;\n"
        f"const bool _done = _t >= {total_s!r} * (1 - 1e-9);\n"
        "const double _now = (double)std::time(nullptr);\n"
        "if (_now - _last >= 10 || _done) {\n"
        "    _last = _now;\n"
        f'    std::fprintf(stderr, "dopasim: %.1f s of %g s simulated (%.0f%%)\\n", _t, '
        f"{total_s!r}, 100 * _t / {total_s!r});\n"
        "    std::fflush(stderr);\n"
        "}\n"
    )
    return report, cpp


_HEADER = Path(__file__).parent / "cpp" / "dopasim_run.h"


def _schedule_standalone(network, ends, report):
    """Write the run of a cpp_standalone build: one run() call, with the chunks written
    and the state checked every ``ends[0]`` seconds by a run_regularly operation that
    calls dopasim_run.h (one run() per chunk would generate, and compile, every code
    object once per chunk)."""
    dev = brian2.device
    dev.headers.append('"dopasim_run.h"')
    dev.include_dirs.append(str(_HEADER.parent))
    digest = hashlib.sha1(_HEADER.read_bytes()).hexdigest()[:12]
    dev.insert_code("before_start", f"dopasim_run<Network>::install();  // header {digest}")
    if len(ends) > 1:
        network.add(_chunker(network, ends[0]))
    dev.insert_code("main", "if (!dopasim_run<Network>::stopped()) {")
    network.run(ends[-1] * brian2.second, report=report, report_period=1 * brian2.second)
    dev.insert_code("main", "}")


def _chunker(network, period):
    """A one-neuron group whose run_regularly (every ``period`` seconds, last in the
    time step) writes the spikes recorded so far as a chunk and checks the state."""
    sources = ", ".join(
        "{"
        f'"{m.name}", '
        f"&brian::{brian2.device.get_array_name(m.variables['i'], access_data=False)}, "
        f"&brian::{brian2.device.get_array_name(m.variables['t'], access_data=False)}"
        "}"
        for m in _spike_monitors(network)
    )
    states = ", ".join(
        f'{{"{obj.name}.{name}", {data}, {size}}}' for obj, name, data, size in _cpp_states(network)
    )
    # Last in the step at t, this normally follows that step's spikes, but Brian2 only
    # treats clocks as simultaneous within 1e-14 s: on a long run the chunker may tick
    # just before the step at t. Claiming t (every spike before t is in) holds either way.
    code = (
        "double dopasim_chunk(const double t)\n{\n"
        "    if (t <= 0) return 0.0;\n"
        "    const double reached = t;\n"
        f"    dopasim_run<Network>::chunk(reached, {{{sources}}});\n"
        f"    dopasim_run<Network>::check(reached, {{{states}}});\n"
        "    return 0.0;\n}\n"
    )
    fn = brian2.Function(lambda t: 0.0, arg_units=[brian2.second], return_unit=1, stateless=False)
    fn.implementations.add_implementation("cpp", code, name="dopasim_chunk")
    group = brian2.NeuronGroup(
        1,
        "chunks_written : 1",
        namespace={"dopasim_chunk": fn},
        dt=period * brian2.second,
        name="dopasim_chunker",
    )
    group.run_regularly("chunks_written = dopasim_chunk(t)", when="end", order=10**6)
    return group


def _owned_float_arrays(network):
    """``(object, name, variable)`` of the float state arrays each group and synapse set
    owns (what `numerical_problems` checks)."""
    objects = list(network.objects)
    # and the groups a group contains (a volume transmitter's one-element group)
    objects += [c for o in objects for c in getattr(o, "contained_objects", ())]
    for obj in sorted(objects, key=lambda o: o.name):
        if not isinstance(obj, brian2.NeuronGroup | brian2.Synapses):
            continue
        for name, var in sorted(obj.variables.items()):
            if not isinstance(var, ArrayVariable) or name.startswith("_"):
                continue
            try:
                if var.owner.name != obj.name:
                    continue
            except ReferenceError:
                continue
            if np.dtype(var.dtype).kind == "f":
                yield obj, name, var


def _cpp_states(network):
    """The C++ ``(object, name, data pointer, size)`` of `_owned_float_arrays` (double
    only) in a cpp_standalone build, for dopasim_run.h's per-chunk check."""
    dev = brian2.device
    for obj, name, var in _owned_float_arrays(network):
        if np.dtype(var.dtype) != np.float64:
            continue
        array = "brian::" + dev.get_array_name(var, access_data=False)
        if isinstance(var, DynamicArrayVariable):
            yield obj, name, f"{array}.data()", f"(size_t){array}.size()"
        else:
            # _num_ is an extern const int: cast, or clang rejects the narrowing in {...}
            yield obj, name, array, f"(size_t)brian::_num_{array[len('brian::') :]}"


class _BrianSim:
    """A runtime-mode Brian2 network as `dopasim.recording.drive` advances it."""

    def __init__(self, network, report):
        self.network = network
        self.report = report
        self.monitors = _spike_monitors(network)
        self.seen = dict.fromkeys((m.name for m in self.monitors), 0)
        self.t = 0.0

    def advance(self, t_end):
        # from the planned boundary, not network.t: no rounding drift between chunks
        self.network.run(
            (t_end - self.t) * brian2.second, report=self.report, report_period=1 * brian2.second
        )
        self.t = t_end
        new = {}
        for m in self.monitors:
            n, k = len(m.t), self.seen[m.name]
            new[m.name] = (np.asarray(m.i[k:n]), np.asarray(m.t_[k:n]))
            self.seen[m.name] = n
        return float(self.network.t / brian2.second), new

    def problems(self):
        return numerical_problems(self.network)


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
    chunk=CHUNK_S,
    force=False,
):
    """Run one protocol under a scenario and write its run directory. Returns a `Run`.

    ``scenario`` is a SPEC (``'parkinson:loss=0.75+ssri:occupancy=0.8'``, see
    `dopasim.circuits.scenarios`). ``build_slot`` separates the compiled-build caches of
    parallel workers (``dopasim compare --jobs``). ``compile_only`` (cpp_standalone)
    generates and compiles the build of this run, then returns its build key (see
    `build_key`) without running it or writing anything (``compare`` compiles once and
    clones the build for its workers). ``chunk`` (seconds of simulated time) is how
    often the spikes are saved while the run goes on (see `dopasim.recording`). A run
    whose estimated memory (`dopasim.memory`) exceeds the available RAM is refused
    (`ParamError`) unless ``force``.

    SIGINT or SIGTERM stops the run at the current time step: the directory is written
    with ``status: interrupted`` and `Interrupted` is raised; a second signal aborts and
    keeps the saved chunks. Before the run (building, code generation, compilation: make
    is stopped) a signal writes ``status: interrupted`` at 0 s, with the phase in
    ``interrupted_during``, and raises `Interrupted`; nothing is simulated. A numerical
    blow-up (checked after every chunk, on every device: see dopasim_run.h for
    cpp_standalone) writes ``status: failed`` and raises `NumericalFailure`.
    """
    t_start = time.perf_counter()
    chunk = chunk_seconds(chunk)
    module, p, seed, path = prepare(protocol, params, seed, device, out, overwrite, scenario)
    memory.check(module, p, force)
    if device in ("cpp_standalone", "cython") and not compiler_available():
        print("dopasim: no C++ compiler found; falling back to the numpy target", file=sys.stderr)
        device = "numpy"
    rngs = streams(seed)
    duration = float(p["duration"])
    report, report_cpp = _progress(duration, quiet)
    timings = {}
    claim = contextlib.nullcontext(path)
    if write and not compile_only:  # the directory is this run's until it is written
        rename = None if out else (lambda: rundir.default_run_dir(module.NAME, seed))
        claim = rundir.claimed(path, overwrite, rename)

    def claimed_run(path):
        recorder = None
        with (
            _quiet(module.QUIET_WARNINGS),
            use_device(device, build_key=build_key(module, p, build_slot)) as dev,
        ):
            # a signal before the run: nothing is simulated, the run is written as
            # interrupted at 0 s (see `Preparing` and `_stopped_before_run`)
            with Preparing() as prep:
                try:
                    if device != "cpp_standalone":
                        brian2.seed(rngs["brian2_seed"])
                    t0 = time.perf_counter()
                    # Brian2 suffixes a name (``x_1``) while an object of that name is
                    # alive; the previous run's objects live in reference cycles until
                    # collected. Collect them, so that a second run in this process
                    # generates the same code and reuses the compiled build (otherwise
                    # every file is renamed and recompiled).
                    gc.collect()
                    circuit = module.build(p, rngs)
                    network = circuit.network
                    # the protocol's clocks, which the chunks' ends must fall on (not
                    # the seeder's 1 s one: it acts at the first step only)
                    dts = [float(o.clock.dt_) for o in network.objects]
                    # standalone: the seed is a run argument, so every seed runs the
                    # same binary
                    seeder = SeedAtStart(network) if device == "cpp_standalone" else None
                    ends = chunk_ends(duration, chunk, dts)
                    timings["build_s"] = time.perf_counter() - t0
                    metadata = _metadata(module, p, seed, device, dev, duration)
                    # how a killed run's chunks split
                    pops = module.monitor_populations(circuit)
                    if pops is not None:
                        metadata["monitor_populations"] = pops
                    prep.check()
                    if device == "cpp_standalone":
                        prep.phase = "code generation"
                        _schedule_standalone(network, ends, report_cpp)
                        t1 = time.perf_counter()
                        _build_standalone(dev, prep)
                        timings["codegen_compile_s"] = time.perf_counter() - t1
                    prep.check()
                except (Stopped, Aborted):
                    prep.phase = None  # signals from now on are counted, not raised
                    timings["total_s"] = time.perf_counter() - t_start
                    meta0, recorder = _metadata(module, p, seed, device, dev, duration), None
                    if write and not compile_only:
                        recorder = Recorder(path, overwrite)
                        recorder.begin(meta0)
                    _stopped_before_run(
                        prep.signal, prep.at or "building", prep.aborted, meta0, recorder, timings
                    )
                if compile_only:
                    return build_key(module, p, build_slot)
                # From here a signal is counted, not raised, until the run's handler takes
                # it over; that handler is entered inside this scope (``carry``), so no
                # signal falls between the two (one did: it reached the handler outside
                # the run, a compare worker's, and the run went on to its end).
                prep.phase = None
                if write:
                    recorder = Recorder(path, overwrite)
                    recorder.begin(metadata)
                problems, failure, stopped_by = [], None, None
                t0 = time.perf_counter()
                try:
                    if device == "cpp_standalone":
                        interrupt = _run_standalone(dev, seeder, rngs, recorder, quiet, prep)
                        timings["run_s"] = float(brian2.device._last_run_time)
                    else:
                        prefs_stop = brian2.prefs.core.stop_on_keyboard_interrupt
                        brian2.prefs.core.stop_on_keyboard_interrupt = False
                        try:
                            with Interrupt(network.stop, carry=prep) as interrupt:
                                if interrupt.aborted:
                                    raise Aborted()
                                _, problems = drive(
                                    _BrianSim(network, report), ends, recorder, interrupt
                                )
                        finally:
                            brian2.prefs.core.stop_on_keyboard_interrupt = prefs_stop
                        timings["run_s"] = time.perf_counter() - t0
                except Aborted:
                    failure = "aborted"
                except Stopped as e:  # standalone: a signal before the binary started
                    stopped_by = e.args
                except Exception as e:
                    failure = f"{type(e).__name__}: {e}"
                    if recorder is None:
                        raise
                    recorder.finish_from_chunks(metadata, "failed", failure)
                    raise
                # still inside: a signal while the directory is written is counted
                if stopped_by is not None:
                    timings["total_s"] = time.perf_counter() - t_start
                    signame, aborted = stopped_by
                    _stopped_before_run(signame, "start", aborted, metadata, recorder, timings)
                if failure == "aborted":
                    if recorder is None:
                        raise Interrupted("run aborted (second interrupt); nothing was written")
                    reached = recorder.finish_from_chunks(metadata, "interrupted", aborted=True)
                    raise Interrupted(
                        f"run aborted at {reached:g} s of {duration:g} s (second interrupt); "
                        f"the saved chunks are in {recorder.path}",
                        recorder.path,
                        reached,
                    )
            # the fastest clock's time: where a stopped run stopped (the network's own t is
            # not read back from a standalone binary)
            fastest = min((o.clock for o in network.objects), key=lambda c: float(c.dt_))
            reached = min(float(np.asarray(fastest.t_[:]).ravel()[0]), duration)
            t0 = time.perf_counter()
            data = module.collect(circuit, p)
            if device == "cpp_standalone":
                problems = numerical_problems(network)
            timings["collect_s"] = time.perf_counter() - t0
            resolved = {**p, **circuit.params}
            # arrays (trial tables, sampled synapse indices) are in data.npz, not in the metadata
            info = {
                k: v
                for k, v in circuit.info.items()
                if not isinstance(v, np.ndarray)
                and not (isinstance(v, dict) and any(isinstance(x, np.ndarray) for x in v.values()))
            }
        status = final_status(problems, interrupt.requested, reached, duration)
        stopped = status == "interrupted"
        # a blown-up or interrupted run gets no metrics and no figures
        metrics = module.metrics(data, p) if status == "complete" else {}
        metadata.update(
            status=status,
            failure=("numerical: " + "; ".join(problems)) if problems else None,
            interrupted_by=interrupt.signal if stopped else None,
            reached_time_s=reached,
            parameters=to_jsonable(resolved),
            circuit_info=to_jsonable(info),
            wall_times_s=timings,
        )
        result = Run(module.NAME, p, seed, data, metrics, metadata, None)
        if recorder is not None:
            spikes = {k[len("spikes_") :]: v for k, v in data.items() if k.startswith("spikes_")}
            other = {
                k: v
                for k, v in data.items()
                if not k.startswith("spikes_") and isinstance(v, np.ndarray)
            }
            timings["total_s"] = time.perf_counter() - t_start
            recorder.finish(
                metadata,
                spikes,
                other,
                metrics,
                (lambda: module.figures(data, p, recorder.path))
                if figures and status == "complete"
                else None,
            )
            result.path = recorder.path
        timings["total_s"] = time.perf_counter() - t_start
        where = f" (written to {result.path})" if result.path else ""
        if problems:
            raise NumericalFailure(
                f"numerical failure at {reached:g} s of {duration:g} s: "
                + "; ".join(problems)
                + where,
                result.path,
            )
        if stopped:
            raise Interrupted(
                f"interrupted ({interrupt.signal}) at {reached:g} s of {duration:g} s{where}",
                result.path,
                reached,
            )
        return result

    with claim as path:
        return claimed_run(path)


def _build_standalone(dev, prep):
    """Generate the code of a cpp_standalone build and compile it (make).

    The build folder is marked incomplete until both are done (`building`), so that an
    interrupted or failed compilation is never reused. make runs in a process group of
    its own, which a signal ends (`interruptible_compiler`, polling ``prep``); then
    `Preparing.check` raises and nothing runs."""

    def compiling():
        prep.phase = "compilation"

    fds = [dev["lock_fd"]] if dev.get("lock_fd") is not None else []
    with building(dev["directory"]), interruptible_compiler(lambda: prep.count, compiling, fds):
        brian2.device.build(
            directory=dev["directory"],
            compile=True,
            run=False,
            clean=False,
            with_output=False,
        )
        prep.check()


def _stopped_before_run(signame, phase, aborted, metadata, recorder, timings):
    """A run stopped by a signal (``signame``) before it started: in ``phase`` (see
    `Preparing`; ``'start'``: after it, before the standalone binary started). The
    directory of ``recorder`` (None: write nothing), begun, is finished as interrupted
    at 0 s, with the signal (``interrupted_by``) and the phase (``interrupted_during``),
    no spikes; raise `Interrupted`. ``aborted``: a second signal came."""
    metadata.update(interrupted_by=signame, interrupted_during=phase, wall_times_s=dict(timings))
    where = "; nothing was written"
    if recorder is not None:
        recorder.finish_from_chunks(metadata, "interrupted", aborted=aborted)
        where = f" (written to {recorder.path})"
    if aborted:
        message = f"run aborted during {phase} (second interrupt); nothing was simulated"
    else:
        message = f"interrupted ({signame}) during {phase}; nothing was simulated"
    path = recorder.path if recorder is not None else None
    raise Interrupted(message + where, path, 0.0 if path is not None else None) from None


def _metadata(module, p, seed, device, dev, duration):
    """The metadata of a run as it starts (``begin``); `run` completes it at the end."""
    return {
        "protocol": module.NAME,
        "scenario": p.get("scenario", "intact"),
        "hypothesis": bool(is_hypothesis(parse_scenarios(p.get("scenario", "intact")))),
        # mechanisms of the protocol's circuit that no direct measurement sets
        "hypotheses": list(module.hypotheses(p)),
        "seed": seed,
        "status": "running",
        "failure": None,
        "requested_time_s": duration,
        "reached_time_s": 0.0,
        "device": device,
        "code_target": dev.get("code_target"),
        "build_cached": dev.get("cached"),
        "threads": dev.get("threads", 0),
        "parameters": to_jsonable(p),
        "versions": {
            "dopasim": __version__,
            "brian2": brian2.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "command": sys.argv if sys.argv and sys.argv[0].endswith("dopasim") else None,
        # checkout, host, CPU, compiler and flags, batch job (`dopasim.provenance`)
        "provenance": provenance.collect(),
    }


@contextlib.contextmanager
def _polling_subprocess_call(started=None):
    """Brian2 runs the binary with ``subprocess.call``, a blocking ``waitpid``. Python
    runs signal handlers in the main thread only, and the kernel may deliver SIGINT to
    another thread (numpy's BLAS threads): the main thread would then stay blocked, and
    the handler that forwards the signal would run only after the binary ends. A
    ``wait`` with a timeout polls (short sleeps), so the handler runs within ~50 ms.

    The binary starts with SIGINT and SIGTERM blocked (the mask is inherited through
    exec; this thread blocks them while it starts the process): a signal forwarded
    before the binary's handler exists waits until ``dopasim_run::install`` unblocks
    them, instead of killing it. ``started(proc)`` is called once the process exists."""
    real = subprocess.call
    stops = {signal.SIGINT, signal.SIGTERM}

    def call(*args, **kwargs):
        mask = getattr(signal, "pthread_sigmask", None)  # POSIX only
        saved = mask(signal.SIG_BLOCK, stops) if mask else None
        try:
            proc = subprocess.Popen(*args, **kwargs)
        finally:
            if mask:
                mask(signal.SIG_SETMASK, saved)  # pending ones run now
        with proc:
            if started is not None:
                started(proc)
            while True:
                try:
                    return proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
                except BaseException:
                    proc.kill()
                    raise

    subprocess.call = call
    try:
        yield
    finally:
        subprocess.call = real


def _run_standalone(dev, seeder, rngs, recorder, quiet, prep=None):
    """Run the compiled binary; SIGINT/SIGTERM are forwarded to it (once: it stops at the
    current step and writes its arrays), a second signal kills it. Returns the
    `Interrupt`; raises `Aborted` after a kill, and `Stopped` (the signal's name,
    whether a second came) when a signal came before the binary would start (counted
    by ``prep``, or by this handler): then it is not started."""

    binary, sent = [], []  # the binary's process, once started; the signals it got

    def forward(sig):  # the binary only (before it exists, `started` catches up)
        for proc in binary:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
                sent.append(sig)

    def started(proc):  # signals that came before the binary existed
        binary.append(proc)
        if interrupt.aborted:
            forward(signal.SIGKILL)
        elif interrupt.requested and not sent:
            forward(signal.SIGINT)  # blocked in the binary until its handler is installed

    env_saved = os.environ.get("DOPASIM_CHUNK_DIR")
    if recorder is not None:
        os.environ["DOPASIM_CHUNK_DIR"] = str(recorder.chunks.resolve())
    else:
        os.environ.pop("DOPASIM_CHUNK_DIR", None)
    try:
        with (
            _polling_subprocess_call(started),
            Interrupt(
                lambda: forward(signal.SIGINT),
                lambda: forward(signal.SIGKILL),
                raise_on_second=False,
                carry=prep,
            ) as interrupt,
        ):
            if interrupt.requested:
                raise Stopped(interrupt.signal, interrupt.aborted)
            try:
                brian2.device.run(
                    directory=dev["directory"],
                    with_output=not quiet,
                    run_args=seeder.run_args(rngs["brian2_seed"]),
                )
            except RuntimeError:
                if interrupt.requested:  # killed by the second signal, or by the first
                    raise Aborted() from None  # before its handler was installed
                raise
    finally:
        if env_saved is None:
            os.environ.pop("DOPASIM_CHUNK_DIR", None)
        else:
            os.environ["DOPASIM_CHUNK_DIR"] = env_saved
    return interrupt


def load_run(path):
    """Load a run directory written by `run` (metadata, metrics and arrays).

    Any status loads. A run that was killed (``status: running``) gives the spikes of
    its saved chunks, with ``metadata["reached_time_s"]`` set to where they end; an
    aborted run has no ``data.npz`` and gives spikes only.
    """
    path = Path(path)
    meta = json.loads((path / "metadata.json").read_text())
    data = {}
    if meta.get("status") == "running":  # hard-killed, or still running
        reached, spikes = read_chunks(path)
        meta["reached_time_s"] = reached
        split = by_population(spikes, meta.get("monitor_populations"))
        data.update({f"spikes_{k}": v for k, v in split.items()})
        return Run(meta["protocol"], meta["parameters"], meta["seed"], data, {}, meta, path)
    metrics = json.loads((path / "metrics.json").read_text())
    if (path / "data.npz").exists():
        with np.load(path / "data.npz") as f:
            data.update({k: f[k] for k in f.files})
    with np.load(path / "spikes.npz") as f:
        for k in f.files:
            if k.endswith("_i"):
                pop = k[:-2]
                data[f"spikes_{pop}"] = (f[k], f[f"{pop}_t"])
    return Run(meta["protocol"], meta["parameters"], meta["seed"], data, metrics, meta, path)

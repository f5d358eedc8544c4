"""A run directory during a run: chunks, interruption and a status that is never wrong.

Life cycle (`Recorder`):

1. ``begin``: the folder is created and ``metadata.json`` says ``status: running``.
2. ``chunk`` (many times): the spikes recorded since the previous chunk go to
   ``chunks/NNNNN-<monitor>.i32`` / ``.f64`` (raw little-endian int32 indices and float64
   seconds), then ``chunks/NNNNN.done`` holds the time reached. Each file is written under
   a temporary name and renamed; a chunk counts only when its ``.done`` exists. The
   cpp_standalone binary writes the same files itself (``dopasim/cpp/dopasim_run.h``).
3. ``finish``: ``spikes.npz``, ``data.npz``, ``metrics.json`` and the figures are written,
   then ``metadata.json`` with the final status (``complete``, ``interrupted`` or
   ``failed``) and the SHA-256 and size of ``spikes.npz`` (``outputs``), and only then
   are the chunks removed.

So whatever stops the process, `verify` holds for the folder: a hard kill leaves
``status: running`` and every chunk completed before it (at most the last chunk is lost),
and `read_chunks` (used by `dopasim.runner.load_run`) recovers those spikes.

`Interrupt` turns the first SIGINT or SIGTERM into a request to stop (the run ends at the
current time step and is written as ``interrupted``) and the second into an abort.
`Preparing` does the same before the run, while the network is built, its code
generated and compiled: the run is then written as ``interrupted`` at 0 s, naming the
phase, and nothing is simulated.
"""

import contextlib
import json
import math
import os
import re
import shutil
import signal
import threading
from pathlib import Path

import numpy as np

from dopasim import provenance, rundir

__all__ = [
    "CHUNKS",
    "STATUSES",
    "Aborted",
    "Interrupt",
    "Preparing",
    "Recorder",
    "Stopped",
    "defer",
    "drive",
    "final_status",
    "population",
    "read_chunks",
    "verify",
]

CHUNKS = "chunks"
STATUSES = ("running", "complete", "interrupted", "failed")
_DONE = re.compile(r"^(\d{5})\.done$")


class Aborted(KeyboardInterrupt):
    """A second interrupt: stop now, keep what the chunks hold."""


class Stopped(KeyboardInterrupt):
    """A first interrupt, honoured before the run started (`Preparing.check`)."""


class Recorder:
    """Writes one run directory through its life cycle (see the module docstring)."""

    def __init__(self, path, overwrite=False):
        self.path = Path(path)
        self.overwrite = overwrite
        self.chunks = self.path / CHUNKS
        self.n_chunks = 0

    def begin(self, metadata):
        rundir.prepare_run_dir(self.path, self.overwrite)
        if self.overwrite:  # an old run's files must not pass for this run's
            for name in ("metadata.json", "spikes.npz", "data.npz", "metrics.json"):
                with contextlib.suppress(FileNotFoundError):
                    (self.path / name).unlink()
            shutil.rmtree(self.chunks, ignore_errors=True)
        self.metadata = dict(metadata, status="running", reached_time_s=0.0)
        rundir.write_json(self.path / "metadata.json", self.metadata)
        self.chunks.mkdir()

    def chunk(self, t_reached, spikes):
        """Record the spikes since the previous chunk: ``{monitor: (i, t_seconds)}``."""
        stem = self.chunks / f"{self.n_chunks:05d}"
        for name, (i, t) in spikes.items():
            rundir.atomic_write_bytes(
                f"{stem}-{name}.i32", np.ascontiguousarray(i, dtype="<i4").tobytes()
            )
            rundir.atomic_write_bytes(
                f"{stem}-{name}.f64", np.ascontiguousarray(t, dtype="<f8").tobytes()
            )
        rundir.atomic_write_bytes(f"{stem}.done", f"{float(t_reached)!r}\n".encode())
        self.n_chunks += 1

    def finish(self, metadata, spikes, data=None, metrics=None, figures=None):
        """Write the final files, then the final metadata, then drop the chunks.

        ``spikes``: ``{population: (i, t_seconds)}``; ``data``: other arrays (may be None
        after an abort); ``figures``: a callable returning the written PNG paths.
        """
        arrays = {}
        for pop, (i, t) in spikes.items():
            arrays[f"{pop}_i"] = np.asarray(i, dtype=np.int32)
            arrays[f"{pop}_t"] = np.asarray(t, dtype=np.float64)  # seconds, float64
        spikes_npz = self.path / "spikes.npz"
        rundir.write_npz(spikes_npz, **arrays)
        metadata["outputs"] = {
            "spikes.npz": {
                "sha256": provenance.file_sha256(spikes_npz),
                "bytes": spikes_npz.stat().st_size,
            }
        }
        if data is not None:
            rundir.write_npz(self.path / "data.npz", **data)
        rundir.write_json(self.path / "metrics.json", metrics or {})
        if figures is not None:
            metadata["figures"] = [Path(f).name for f in figures()]
        rundir.write_json(self.path / "metadata.json", metadata)
        shutil.rmtree(self.chunks, ignore_errors=True)

    def finish_from_chunks(self, metadata, status, failure=None, aborted=False):
        """Finish a run whose network state is lost (an abort, a crash): the spikes of
        the saved chunks only. Returns the time reached."""
        reached, spikes = read_chunks(self.path)
        metadata.update(status=status, failure=failure, reached_time_s=reached, aborted=aborted)
        self.finish(metadata, by_population(spikes, metadata.get("monitor_populations")))
        return reached


def population(monitor_name):
    """The population a chunk's monitor records (``mon_vta_da`` -> ``vta_da``)."""
    return monitor_name.removeprefix("mon_")


def by_population(spikes, layout=None):
    """The chunks' spikes ``{monitor: (i, t)}`` as ``{population: (i, t)}``.

    ``layout`` (the metadata's ``monitor_populations``, from a protocol's
    ``monitor_populations(circuit)``) splits a monitor that records several populations:
    ``{monitor: [[population, start, stop], ...]}``, indices renumbered from ``start``;
    an empty list marks a monitor of events that are not neurons' spikes (reward times),
    which is left out. Any other monitor records one population (`population`).
    """
    layout = layout or {}
    out = {}
    for name, (i, t) in spikes.items():
        if name not in layout:
            out[population(name)] = (i, t)
            continue
        for pop, start, stop in layout[name]:
            keep = (i >= start) & (i < stop)
            out[pop] = ((i[keep] - start).astype(np.int32), t[keep])
    return out


def final_status(problems, interrupted, reached, requested):
    """``failed`` (numerical problems), ``interrupted`` (stopped before the end) or
    ``complete``."""
    if problems:
        return "failed"
    if interrupted and reached < requested * (1 - 1e-9):
        return "interrupted"
    return "complete"


def drive(sim, ends, recorder, interrupt):
    """Advance ``sim`` chunk by chunk to each time in ``ends``; record each chunk.

    ``sim.advance(t_end)`` runs to ``t_end`` (or less, when stopped) and returns the time
    reached and the new spikes ``{monitor: (i, t)}``; ``sim.problems()`` lists numerical
    problems. Stops after a chunk when ``interrupt.requested`` or there are problems.
    Returns ``(t_reached, problems)``.
    """
    t = 0.0
    for t_end in ends:
        if interrupt.requested:
            break
        t, spikes = sim.advance(t_end)
        if recorder is not None:
            recorder.chunk(t, spikes)
        problems = sim.problems()
        if problems:
            return t, problems
    return t, []


def read_chunks(path):
    """The complete chunks of a run directory: ``(t_reached_s, {monitor: (i, t)})``.

    A chunk without its ``.done`` file (cut by a hard kill) and anything after a gap is
    ignored.
    """
    chunks = Path(path) / CHUNKS
    spikes, t_reached = {}, 0.0
    if not chunks.is_dir():
        return t_reached, spikes
    done = sorted(int(m.group(1)) for f in os.listdir(chunks) if (m := _DONE.match(f)))
    parts = {}
    for k in range(len(done)):
        if done[k] != k:
            break
        stem = f"{k:05d}-"
        for f in sorted(os.listdir(chunks)):
            if f.startswith(stem) and f.endswith(".i32"):
                name = f[len(stem) : -4]
                i = np.fromfile(chunks / f, dtype="<i4")
                t = np.fromfile(chunks / f"{stem}{name}.f64", dtype="<f8")
                parts.setdefault(name, []).append((i, t))
        t_reached = float((chunks / f"{k:05d}.done").read_text())
    for name, pieces in parts.items():
        spikes[name] = (
            np.concatenate([p[0] for p in pieces]).astype(np.int32),
            np.concatenate([p[1] for p in pieces]),
        )
    return t_reached, spikes


def verify(path):
    """What is wrong with a run directory, as a list of sentences (empty: consistent).

    The rules: ``metadata.json`` exists and names a known status; ``running`` has
    contiguous complete chunks whose spikes lie before the time reached; ``complete``
    has every result file and reached the requested time; ``interrupted`` and ``failed``
    have ``spikes.npz`` with no spike after the time reached and a reason (failed).
    No file under a final name is unreadable (every write is atomic).
    """
    path = Path(path)
    problems = []
    try:
        meta = json.loads((path / "metadata.json").read_text())
    except FileNotFoundError:
        leftovers = [f for f in os.listdir(path) if not f.startswith(".")]
        return [f"no metadata.json but files: {leftovers}"] if leftovers else []
    except (OSError, ValueError) as e:
        return [f"metadata.json unreadable: {e}"]
    status = meta.get("status")
    if status not in STATUSES:
        return [f"unknown status {status!r}"]
    reached, requested = meta.get("reached_time_s"), meta.get("requested_time_s")
    tol = 1e-9 * max(1.0, abs(requested or 1.0))

    def spikes_before(spikes, t_max, where):
        for name, (_, t) in spikes.items():
            if len(t) and float(np.max(t)) > t_max + tol:
                problems.append(f"{where}: {name} has a spike at {np.max(t)} > {t_max}")

    if status == "running":
        t_chunks, spikes = read_chunks(path)
        if reached is None or reached > t_chunks + tol:
            problems.append(f"running: metadata reached {reached} beyond the chunks' {t_chunks}")
        spikes_before(spikes, t_chunks, "chunks")
        return problems
    try:
        with np.load(path / "spikes.npz") as f:
            spikes = {k[:-2]: (f[k], f[k[:-2] + "_t"]) for k in f.files if k.endswith("_i")}
    except (OSError, ValueError, KeyError) as e:
        return [f"{status}: spikes.npz missing or unreadable: {e}"]
    for name in ("metrics.json",) + (("data.npz",) if status == "complete" else ()):
        if not (path / name).is_file():
            problems.append(f"{status}: {name} missing")
    if status == "complete" and (
        reached is None or requested is None or not math.isclose(reached, requested)
    ):
        problems.append(f"complete: reached {reached} s of {requested} s")
    if status == "interrupted" and (reached is None or reached > requested + tol):
        problems.append(f"interrupted: reached {reached} s of {requested} s")
    if status == "failed" and not meta.get("failure"):
        problems.append("failed: no reason given")
    if reached is not None:
        spikes_before(spikes, reached, "spikes.npz")
    return problems


#: Signals this process got outside any run's handlers, which the next run must honour
#: (`defer`).
_DEFERRED = []


def defer(signame):
    """Note a stop that a handler outside any run received (a worker process of
    ``dopasim compare`` between two runs): every later run of this process is stopped
    before it starts (`Preparing` counts it as a first signal)."""
    _DEFERRED.append(signame)


class Interrupt:
    """SIGINT and SIGTERM during a run: the first asks to stop, the second aborts.

    ``on_first()`` is called on the first signal (stop the network, or forward the signal
    to the standalone binary); on the second, ``on_second()`` is called and `Aborted` is
    raised when ``raise_on_second``. The previous handlers come back on exit.

    ``carry``: the `Interrupt` whose scope this one continues, entered inside it (the
    run's after its preparation's), so that no signal falls between the two. The
    signals it counted are this one's: on entry ``on_first()`` (and ``on_second()``) are
    called for them, nothing is raised; the caller checks `requested` and `aborted`
    before it starts.
    """

    def __init__(self, on_first, on_second=None, raise_on_second=True, carry=None):
        self.on_first = on_first
        self.on_second = on_second
        self.raise_on_second = raise_on_second
        self.carry = carry
        self.count = 0
        self.signal = None

    def _handle(self, signum, frame):
        self.count += 1
        if self.count == 1:
            self.signal = signal.Signals(signum).name
            self.on_first()
            return
        if self.on_second is not None:
            self.on_second()
        if self.raise_on_second:
            raise Aborted()

    @property
    def requested(self):
        return self.count > 0

    @property
    def aborted(self):
        return self.count > 1

    def __enter__(self):
        # Python delivers signals to the main thread only, and signal.signal raises
        # ValueError elsewhere: off the main thread (a Dask worker's task thread) the
        # handlers stay as they are and whoever runs the thread stops the process
        self._saved = {}
        if threading.current_thread() is threading.main_thread():
            self._saved = {
                s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)
            }
        if self.carry is not None and self.carry.count:  # read once its handlers are off
            self.count, self.signal = self.carry.count + self.count, self.carry.signal
            self.on_first()
            if self.count > 1 and self.on_second is not None:
                self.on_second()
        return self

    def __exit__(self, *exc):
        for s, h in self._saved.items():
            signal.signal(s, h)
        return False


class Preparing(Interrupt):
    """SIGINT and SIGTERM before the run: while the network is built (``phase``
    ``'building'``), its code generated (``'code generation'``) and compiled
    (``'compilation'``).

    The first signal is a request, honoured at the end of the current phase (`check`
    raises `Stopped`) or, during the compilation, at once: the compiler's process group
    is ended (`dopasim.device.run_compiler` polls ``count``). ``at`` is the phase it
    came in. The second signal aborts: `Aborted` is raised from the handler, except
    during the compilation (the compiler is killed at once, then `check` raises it) and
    once ``phase`` is None (the caller is writing what the interruption left).
    """

    def __init__(self, phase="building"):
        super().__init__(self._first, self._second, raise_on_second=False)
        self.phase = phase
        self.at = None

    def __enter__(self):
        super().__enter__()
        if _DEFERRED and not self.count:  # noted before this run began (`defer`)
            self.count, self.signal, self.at = 1, _DEFERRED[0], self.phase
        return self

    def _first(self):
        self.at = self.phase

    def _second(self):
        if self.phase not in (None, "compilation"):
            raise Aborted()

    def check(self):
        """Raise `Aborted` after two signals, `Stopped` after one."""
        if self.aborted:
            raise Aborted()
        if self.requested:
            raise Stopped()

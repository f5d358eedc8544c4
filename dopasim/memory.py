"""How much memory a run will need, estimated from its parameters before anything is built.

A run refuses to start (`check`, exit code 2 in the CLI) when the estimate exceeds the
memory available, unless it is forced. The estimate is meant as an upper bound: a run
that it lets through should not be killed for memory, and one that it refuses can still
be forced. Spikes are counted at generous ceilings on the firing rates (each protocol
documents its own), so for long runs the estimate is several times what a typical run
uses.

How it is counted
-----------------
Each protocol provides ``memory_counts(p) -> dict``: counts, not bytes, taken from
the resolved parameters ``p`` (what `dopasim.runner.prepare` returns) without building
any Brian2 object. The dict has these keys (each optional, each a dict by object name):

``neurons``
    ``{name: {"n": N, "float64": k, "int32": k, "bool": k, "linked": k}}``: N elements,
    their stored state variables (parameters and ODE variables; not subexpressions) and
    their linked variables (stored elsewhere; each has an int64 index per element here).
``synapses``
    ``{name: {"n": S, "float64": k, "int32": k, "pathways": m, "pre": g, "post": g}}``: S
    synapses (an upper bound for random connectivity), their stored variables
    (``lastupdate`` included when the model has event-driven equations), their number of
    pathways (``on_pre``, ``on_post``), and the names of their source and target groups
    (entries of ``neurons``).
``spike_monitors``
    ``{name: {"spikes": n, "neurons": N, "float64": k}}``: an upper bound on the spikes
    (or events) recorded, the size of the recorded group, and the extra variables
    recorded per event.
``state_monitors``
    ``{name: {"samples": T, "values": k}}``: recorded time points, and values per time
    point (variables x recorded indices).
``inputs``
    ``{name: {<dtype>: n}}``: plain arrays that live through the run (stimulus
    schedules, TimedArrays).
``scratch``
    ``{name: {<dtype>: n}}``: temporary arrays of one step of building or collecting (a
    connectivity draw, the final weights). They are not alive at the same time, so only
    the largest counts (`to_bytes` adds the numerical check's).
``reduce``
    ``{component: "parameter"}``: which parameter to reduce when that component
    dominates (named in the refusal message).

`to_bytes` turns the counts into bytes with the constants below, and `estimate` returns
bytes by component plus their ``total``. Every counted component is multiplied by
`SAFETY_FACTOR`; ``runtime`` is the fixed `RUNTIME_OVERHEAD`; the components add up to
the total.

Measured against whole runs (numpy target; the growth of the process's peak RSS,
``VmHWM``, over its RSS before the run, divided by the estimate): the Izhikevich 2007
network with 160k, 320k and 640k plastic synapses 0.38, 0.45 and 0.50, the reward circuit
at scale 2 and 4 (2 trials) 0.46 and 0.52 (tests/test_memory.py checks the 320k run).
Earlier figures read ``ru_maxrss``, which Linux carries from a parent into a child across
fork and exec, and so overstated the growth of runs started from a large process.
"""

import math
import os
import sys
from pathlib import Path

from dopasim.params import ParamError

__all__ = [
    "COMPONENTS",
    "MONITOR_FACTOR",
    "RUNTIME_OVERHEAD",
    "SAFETY_FACTOR",
    "available_bytes",
    "check",
    "describe",
    "estimate",
    "format_bytes",
    "poisson_ceiling",
    "to_bytes",
]

#: Bytes per value of each NumPy dtype named in the counts.
DTYPE_BYTES = {"float64": 8, "int64": 8, "int32": 4, "int16": 2, "bool": 1}

#: Brian2's own arrays per neuron: the index ``i`` (int32), the spike space (int32, one
#: per neuron plus a count), and for refractory groups ``lastspike`` (float64) and
#: ``not_refractory`` (bool). Counted for every group (the last two are 9 bytes).
NEURON_OVERHEAD = 4 + 4 + 8 + 1

#: Brian2's own arrays per synapse: ``_synaptic_pre`` and ``_synaptic_post`` (int32).
#: (``N_incoming``/``N_outgoing`` are per neuron, and small.)
SYNAPSE_OVERHEAD = 4 + 4

#: Per synapse and pathway: the pathway's ``delay`` (float64, per synapse unless a scalar
#: delay is given to the constructor, which dopasim never does), and the spike queue's
#: copy of it in time steps (int32) and its per-source lists of synapse indices (int32,
#: counted twice because a C++ vector may hold up to twice its size).
PATHWAY_OVERHEAD = 8 + 4 + 2 * 4

#: Bytes per linked variable and element: Brian2 keeps an int64 index array for it.
LINKED_BYTES = 8

#: Bytes per recorded spike: the neuron index (int32) and the time (float64).
SPIKE_BYTES = 4 + 8

#: Monitors grow while the run goes on: Brian2's dynamic arrays (and the C++ vectors of
#: cpp_standalone) double their capacity when full, so they hold up to 2x the data; at
#: the end ``collect`` copies the data out (``np.array(mon.t[:] / second)`` makes up to
#: two copies of a time array while it converts it), and writing ``spikes.npz`` builds
#: its compressed file in memory first. 2 + 2 = 4x the recorded bytes.
MONITOR_FACTOR = 4

#: Per element of the largest float array of one object, the temporaries of the runner's
#: check for NaN and blow-ups (`dopasim.runner.numerical_problems`), which reads each
#: object's own arrays in place, one at a time: the finite mask and its negation (bool),
#: ``np.abs`` (float64), the comparison and the union (bool); 18 bytes leave a margin.
CHECK_TEMPORARY_BYTES = 1 + 8 + 8 + 1

#: Fixed cost of a run, whatever its size: Brian2's code objects, namespaces and
#: generated code (5-7 MiB measured on the numpy target for the tiny test runs; the
#: cython target also loads one compiled module per code object). Its own component,
#: ``runtime``, not multiplied by `SAFETY_FACTOR`.
RUNTIME_OVERHEAD = 32 * 2**20

#: For what the counts leave out: NumPy temporaries inside Brian2's code objects (a
#: numpy-target sweep over all synapses), spikes waiting in the queues, memory that the
#: allocator keeps after temporaries are freed, and (cpp_standalone) the initial values
#: that Python keeps while the binary runs. 25 % on every counted component.
SAFETY_FACTOR = 1.25

#: The components of an estimate, largest first in the messages; plus ``total``.
COMPONENTS = (
    "synapses",
    "spike_monitors",
    "state_monitors",
    "neurons",
    "inputs",
    "scratch",
    "runtime",
)

_LABELS = {
    "synapses": "synapses",
    "spike_monitors": "spike monitors",
    "state_monitors": "state monitors",
    "neurons": "neurons",
    "inputs": "inputs",
    "scratch": "temporaries",
    "runtime": "Brian2 runtime",
}


def poisson_ceiling(mean):
    """An upper bound on a Poisson count of mean ``mean``: mean + 5 SD + 5.

    The chance to exceed it is below 1e-6 for any mean.
    """
    mean = max(float(mean), 0.0)
    return int(math.ceil(mean + 5 * math.sqrt(mean) + 5))


def _plain(arrays):
    """Bytes of ``{dtype: n}``."""
    total = 0
    for dtype, n in arrays.items():
        if dtype not in DTYPE_BYTES:
            raise ValueError(f"memory counts: unknown dtype '{dtype}'")
        total += DTYPE_BYTES[dtype] * int(n)
    return total


def _values(entry):
    """Bytes of one element's variables, ``{"float64": k, "int32": k, "bool": k}``."""
    return _plain({k: entry.get(k, 0) for k in ("float64", "int64", "int32", "int16", "bool")})


def _check_scratch(counts):
    """Bytes of the numerical check's temporaries while it scans the largest array."""
    sizes = [int(g["n"]) for g in counts.get("neurons", {}).values()]
    sizes += [int(s["n"]) for s in counts.get("synapses", {}).values()]
    return max(sizes, default=0) * CHECK_TEMPORARY_BYTES


def to_bytes(counts):
    """Bytes by component (see the module docstring), each times `SAFETY_FACTOR`, and the
    ``total``."""
    raw = dict.fromkeys(COMPONENTS, 0)
    for g in counts.get("neurons", {}).values():
        per = _values(g) + LINKED_BYTES * g.get("linked", 0) + NEURON_OVERHEAD
        raw["neurons"] += int(g["n"]) * per
    for s in counts.get("synapses", {}).values():
        per = _values(s) + SYNAPSE_OVERHEAD + s.get("pathways", 1) * PATHWAY_OVERHEAD
        raw["synapses"] += int(s["n"]) * per
    for m in counts.get("spike_monitors", {}).values():
        per_event = SPIKE_BYTES + 8 * m.get("float64", 0)
        # the spike count per neuron (int32) does not grow
        raw["spike_monitors"] += MONITOR_FACTOR * int(m["spikes"]) * per_event
        raw["spike_monitors"] += 4 * int(m.get("neurons", 0))
    for m in counts.get("state_monitors", {}).values():
        # the recorded values and the time of each sample (float64)
        raw["state_monitors"] += MONITOR_FACTOR * 8 * int(m["samples"]) * (int(m["values"]) + 1)
    raw["inputs"] = sum(_plain(a) for a in counts.get("inputs", {}).values())
    scratch = [_plain(a) for a in counts.get("scratch", {}).values()]
    scratch.append(_check_scratch(counts))
    raw["scratch"] = max(scratch, default=0)
    out = {k: int(math.ceil(v * SAFETY_FACTOR)) for k, v in raw.items()}
    out["runtime"] = RUNTIME_OVERHEAD
    out["total"] = sum(out.values())
    return out


def _counts(module, p):
    return module.memory_counts(p)


def estimate(module, p):
    """Bytes a run of protocol ``module`` with resolved parameters ``p`` needs, by component.

    Returns ``{"synapses": ..., "spike_monitors": ..., "state_monitors": ..., "neurons":
    ..., "inputs": ..., "scratch": ..., "total": ...}`` (see `to_bytes`), or None when the
    protocol's ``memory_counts`` gives None. Nothing is built: the counts come from ``p``.
    """
    counts = _counts(module, p)
    return None if counts is None else to_bytes(counts)


#: a cgroup memory limit at or above this is "no limit" (v1 reports 2**63 rounded down)
_NO_LIMIT = 2**60


def _read_int(path):
    try:
        text = Path(path).read_text().strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None  # v2 writes "max" for no limit


def _inactive_file(stat_path, key):
    """Reclaimable page cache charged to the cgroup (``memory.stat``), in bytes."""
    try:
        for line in Path(stat_path).read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def cgroup_headroom(root="/sys/fs/cgroup", self_cgroup="/proc/self/cgroup"):
    """Bytes this process's memory cgroup still allows (limit − usage + reclaimable
    page cache), the smallest over cgroup v2 and v1 and over the namespace root and the
    process's own cgroup; None when no limit is set (or not Linux).

    A container's limit is invisible in /proc/meminfo, so without this a run inside a
    4 GiB container on a 64 GiB host would be let through and killed by the OOM killer.
    """
    root = Path(root)
    v2_paths, v1_paths = {""}, {""}
    try:
        lines = Path(self_cgroup).read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        # the cgroup and every parent: a limit may sit on a parent (a Slurm job above
        # its step, a systemd slice, a Kubernetes pod)
        rel = Path(rel.strip().lstrip("/"))
        chain = {rel.as_posix(), *(a.as_posix() for a in rel.parents)}
        chain = {"" if c == "." else c for c in chain}
        if controllers == "":
            v2_paths |= chain
        elif "memory" in controllers.split(","):
            v1_paths |= chain
    headroom = []
    for rel in v2_paths:
        d = root / rel
        limit, usage = _read_int(d / "memory.max"), _read_int(d / "memory.current")
        if limit is not None and usage is not None and limit < _NO_LIMIT:
            headroom.append(limit - usage + _inactive_file(d / "memory.stat", "inactive_file"))
    for rel in v1_paths:
        d = root / "memory" / rel
        limit = _read_int(d / "memory.limit_in_bytes")
        usage = _read_int(d / "memory.usage_in_bytes")
        if limit is not None and usage is not None and limit < _NO_LIMIT:
            cache = _inactive_file(d / "memory.stat", "total_inactive_file")
            headroom.append(limit - usage + cache)
    return max(min(headroom), 0) if headroom else None


def available_bytes():
    """Memory available to a new run, in bytes: ``MemAvailable`` of /proc/meminfo (Linux
    3.14+), else the free physical pages (``os.sysconf``; lower, as it leaves out the
    reclaimable page cache), else None (unknown: nothing is refused); never more than
    the memory cgroup allows (`cgroup_headroom`)."""
    host = _host_available()
    cgroup = cgroup_headroom()
    if cgroup is None:
        return host
    return cgroup if host is None else min(host, cgroup)


def _host_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    value, unit = line.split()[1:3]
                    if unit.lower() == "kb":
                        return int(value) * 1024
    except (OSError, ValueError):
        pass
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def format_bytes(n):
    """``'12.3 GiB'``, ``'512 MiB'`` or ``'12 KiB'``."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.0f} MiB"
    return f"{max(n, 0) / 2**10:.0f} KiB"


def describe(est):
    """``'about 12.3 GiB (synapses 10.1 GiB, spike monitors 2.0 GiB, ...)'``: the total
    and the components of at least 1 % of it, largest first."""
    parts = sorted(
        (k for k in COMPONENTS if est.get(k, 0) >= 0.01 * est["total"] and est.get(k, 0) > 0),
        key=lambda k: -est[k],
    )
    inner = ", ".join(f"{_LABELS[k]} {format_bytes(est[k])}" for k in parts)
    return f"about {format_bytes(est['total'])}" + (f" ({inner})" if inner else "")


def check(module, p, force=False, copies=1):
    """Refuse a run whose estimate exceeds the available memory; return the estimate.

    Raises `ParamError` (CLI exit code 2) naming the estimate, the available memory and
    the parameter to reduce, unless ``force``: then a warning goes to stderr and the run
    may go on. ``copies`` runs at once (``compare --jobs``) need that many times the
    estimate. Unknown available memory, or a protocol without ``memory_counts``, never
    refuses. Returns the estimate (see `estimate`), or None without counts.
    """
    counts = _counts(module, p)
    if counts is None:
        return None
    est = to_bytes(counts)
    avail = available_bytes()
    if avail is None or copies * est["total"] <= avail:
        return est
    what = "this run needs" if copies == 1 else f"{copies} runs at once need {copies} x"
    msg = f"memory: {what} {describe(est)} but only {format_bytes(avail)} is available"
    if force:
        print(f"dopasim: warning: {msg}; running anyway (--force)", file=sys.stderr)
        return est
    dominant = max(COMPONENTS, key=lambda k: est[k])
    hint = counts.get("reduce", {}).get(dominant, "the size or the duration of the run")
    raise ParamError(f"{msg}; use --force to run anyway, or reduce {hint}")

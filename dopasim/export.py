"""Export a run's spike raster for other tools: NWB, SONATA, CSV, npz, and Neo.

::

    from dopasim.export import export_run, to_neo
    export_run("runs/my-protocol/20260101-120000-seed1", "nwb")      # -> .../spikes.nwb
    block = to_neo("runs/my-protocol/20260101-120000-seed1")        # neo.Block

or ``dopasim export RUN_DIR --format nwb|sonata|csv|npz [--out FILE] [--overwrite]``.

Formats (default file names inside the run directory):

``csv`` (``spikes.csv``)
    ``population,neuron,time_s``, one spike a row, sorted by time, then population name,
    then neuron. Times are Python's ``repr`` of the float64 seconds: the shortest text
    that reads back to the same float64, so the file round-trips bit-exactly.
``npz`` (``spikes_export.npz``)
    per population ``<pop>_i`` (int64 neuron indices) and ``<pop>_t`` (float64 seconds),
    sorted by time then neuron, plus ``populations``, ``sizes``, ``<pop>_lesioned`` (bool
    per neuron), ``reached_time_s`` and ``metadata_json``. Loads with
    ``np.load(..., allow_pickle=False)``.
``sonata`` (``spikes.sonata.h5``)
    the SONATA spike file: ``/spikes/<pop>/timestamps`` (float64, **milliseconds**, as
    NEST, BMTK and the SONATA reports use; attribute ``units="ms"``) and
    ``/spikes/<pop>/node_ids`` (uint64, the neuron index within the population). Each
    population group has the attribute ``sorting`` = ``by_time`` as the HDF5 enum
    {none: 0, by_id: 1, by_time: 2} that the specification gives it; the file has the
    root attributes ``magic`` (0x0A7A) and ``version`` ([0, 1]). Timestamps are the
    float64 product ``t_s * 1000.0``: dividing by 1000 gives the seconds back to within
    one unit in the last place (use the CSV, npz or NWB export where bit-exact seconds
    matter).
``nwb`` (``spikes.nwb``, needs ``pip install 'dopasim[nwb]'``)
    an NWB 2 file: the ``units`` table has one row per neuron of every population
    (columns ``population``, ``neuron_index``, ``scenario``, ``lesioned``,
    ``obs_intervals`` = [[0, reached time]]; spike times in float64 seconds); a
    ``trials`` table for the trial protocols; the neuromodulator concentrations as
    TimeSeries in ``acquisition``; the run's provenance (protocol, scenario, seed,
    versions, resolved parameters) as JSON in ``notes``; the units' ``resolution`` is the
    simulation time step. nwbinspector (>= 0.7) calls a missing subject CRITICAL, so the
    file names one honestly: a simulated network, species Mammalia (NCBI taxonomy), sex
    ``U`` and age ``P0D/`` (unknown).

Every file is written under a temporary name in the destination folder, flushed to disk
(fsync) and then renamed: a failed export (disk full, interrupted) leaves no file, and no
partial file, under the final name. An existing file is replaced only with
``overwrite=True``.
"""

import contextlib
import datetime as _dt
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dopasim.params import ParamError
from dopasim.protocols import REGISTRY, get_protocol
from dopasim.rundir import atomic_file as _atomic

__all__ = [
    "FORMATS",
    "ExportError",
    "check_formats",
    "export_run",
    "export_runs",
    "parse_formats",
    "to_neo",
]

#: format -> default file name inside the run directory
FORMATS = {
    "nwb": "spikes.nwb",
    "sonata": "spikes.sonata.h5",
    "csv": "spikes.csv",
    "npz": "spikes_export.npz",
}
#: format -> (module it needs, pip extra that brings it)
_NEEDS = {"nwb": ("pynwb", "nwb"), "sonata": ("h5py", "sonata")}

#: neuromodulator series: data key -> (NWB name, description)
_SERIES = {
    "da_nM": ("dopamine", "extracellular dopamine concentration of the striatal pool"),
    "ht_nM": ("serotonin", "extracellular serotonin (5-HT) concentration of the striatal pool"),
    "ht_term_nM": (
        "serotonin_in_da_terminals",
        "5-HT taken up into DA terminals and loaded into their vesicles (released by DA spikes)",
    ),
    "da_seen_nM": (
        "dopamine_seen_by_synapses",
        "dopamine concentration read by the corticostriatal three-factor synapses "
        "(medication added, a fraction of each dip blocked)",
    ),
    "da_base_nM": (
        "dopamine_baseline_of_synapses",
        "the synapses' dopamine baseline b (a robust running mean of the tonic level, not "
        "below its floor): above it D1 synapses potentiate, below it D2 synapses",
    ),
    "da_mean_nM": (
        "dopamine_running_mean",
        "robust running mean m of the dopamine the synapses read (the reference of the "
        "rectified phasic term: bursts above it, dips below it)",
    ),
    "da_base_d1_nM": (
        "dopamine_baseline_of_d1_synapses",
        "the D1 synapses' dopamine baseline b (the running mean, not below the D1 floor)",
    ),
    "da_base_d2_nM": (
        "dopamine_baseline_of_d2_synapses",
        "the D2 synapses' dopamine baseline b (the running mean, not below the D2 floor)",
    ),
    "da_uM": ("dopamine", "dopamine concentration of the Izhikevich (2007) DA pool"),
}
_TIME_BASES = ("pool_t", "da_t")
#: NCBI taxonomy term of the class Mammalia: the NWB subject of a simulated network
_MAMMALIA = "http://purl.obolibrary.org/obo/NCBITaxon_40674"
_ALLOWED = ", ".join(FORMATS)


# ------------------------------------------------------------------------ validation
def parse_formats(text):
    """``'csv,sonata'`` (or a list) -> ``['csv', 'sonata']``; ParamError names the bad one."""
    items = text if isinstance(text, list | tuple) else str(text if text is not None else "")
    items = [s.strip() for s in (items.split(",") if isinstance(items, str) else items)]
    if not any(items):
        raise ParamError(
            f"--format: {text!r} names no format; allowed: {_ALLOWED} (comma-separated for several)"
        )
    out = []
    for fmt in items:
        if fmt not in FORMATS:
            from dopasim.params import did_you_mean

            raise ParamError(
                f"--format: '{fmt}' is not a known format"
                + did_you_mean(fmt, FORMATS)
                + f"; allowed: {_ALLOWED} (comma-separated for several)"
            )
        if fmt not in out:
            out.append(fmt)
    return out


def check_formats(text):
    """Parse ``text`` and check that each format's library is installed (no run needed).

    ``dopasim run --export`` calls it before simulating, so a typo costs nothing.
    """
    fmts = parse_formats(text)
    for fmt in fmts:
        _check_library(fmt)
    return fmts


def _check_run_dir(run_dir):
    path = Path(run_dir)
    what = "expected a run directory written by 'dopasim run' (with metadata.json and spikes.npz)"
    if not path.exists():
        raise ParamError(f"RUN_DIR: '{path}' does not exist; {what}")
    if not path.is_dir():
        raise ParamError(f"RUN_DIR: '{path}' is not a directory; {what}")
    missing = [
        n
        for n in ("metadata.json", "spikes.npz", "data.npz", "metrics.json")
        if not (path / n).is_file()
    ]
    if missing:
        raise ParamError(f"RUN_DIR: '{path}' has no {', '.join(missing)}; {what}")
    return path


def _check_library(fmt):
    if fmt not in _NEEDS:
        return
    module, extra = _NEEDS[fmt]
    try:
        __import__(module)
    except ImportError:
        raise ParamError(
            f"--format: '{fmt}' needs the Python package '{module}', which is not installed; "
            f"install it with: pip install 'dopasim[{extra}]'"
        ) from None


def _destinations(run_dir, fmts, out, overwrite):
    """The file each format is written to; ParamError if one exists (without overwrite)."""
    if out is None:
        dests = [run_dir / FORMATS[f] for f in fmts]
    else:
        out = Path(out)
        if out.is_dir():
            dests = [out / FORMATS[f] for f in fmts]
        elif len(fmts) > 1:
            raise ParamError(
                f"--out: '{out}' is one file but {len(fmts)} formats were asked for "
                f"({', '.join(fmts)}); allowed: an existing folder (each format under its "
                f"default name, e.g. {FORMATS[fmts[0]]}) or no --out (the run directory)"
            )
        else:
            dests = [out]
    for dest in dests:
        parent = dest.parent
        if not parent.is_dir():
            raise ParamError(
                f"--out: cannot write '{dest}': folder '{parent}' does not exist; "
                f"allowed: a file in an existing, writable folder"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ParamError(
                f"--out: cannot write '{dest}': folder '{parent}' is not writable; "
                f"allowed: a file in an existing, writable folder"
            )
        if dest.is_dir():
            raise ParamError(f"--out: '{dest}' is a folder; allowed: a file name")
        if dest.exists() and not overwrite:
            raise ParamError(
                f"--out: '{dest}' already exists; use --overwrite (overwrite=True) to replace "
                f"it, or --out to write elsewhere"
            )
    return dests


# ------------------------------------------------------------------------ the run
@dataclass
class _RunView:
    """What the exporters read: spikes per population in canonical order, and context."""

    meta: dict
    data: dict
    path: Path | None
    spikes: dict = field(default_factory=dict)  # pop -> (int64 i, float64 t), by (t, i)
    sizes: dict = field(default_factory=dict)  # pop -> number of neurons
    lesioned: dict = field(default_factory=dict)  # pop -> bool mask over its neurons

    @property
    def reached(self):
        value = self.meta.get("reached_time_s", self.meta.get("requested_time_s"))
        if value is None:  # an unfinished run: the last spike bounds what was observed
            ends = [t[-1] for _, t in self.spikes.values() if len(t)]
            value = max(ends) if ends else 0.0
        return float(value)

    @property
    def scenario(self):
        return str(self.meta.get("scenario", "intact"))

    def per_neuron(self, pop):
        """(counts per neuron, spike times grouped by neuron, each group ascending)."""
        i, t = self.spikes[pop]
        order = np.lexsort((t, i))
        counts = np.bincount(i, minlength=self.sizes[pop]).astype(np.int64)
        return counts, t[order]


def _canonical(i, t):
    i = np.asarray(i).astype(np.int64, copy=False).ravel()
    t = np.asarray(t, dtype=np.float64).ravel()
    if len(i) != len(t):
        raise ParamError(
            f"RUN_DIR: spike arrays differ in length ({len(i)} indices, {len(t)} times)"
        )
    if len(i) and i.min() < 0:
        raise ParamError(f"RUN_DIR: negative neuron index {int(i.min())} in the spikes")
    order = np.lexsort((i, t))
    return i[order], t[order]


def _view(run):
    """A `_RunView` of a run directory (path) or of a `dopasim.runner.Run`."""
    if isinstance(run, str | os.PathLike):
        path = _check_run_dir(run)
        from dopasim.runner import load_run

        try:
            run = load_run(path)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise ParamError(f"RUN_DIR: cannot read the run in '{path}': {e}") from None
    if not hasattr(run, "data") or not hasattr(run, "metadata"):
        raise ParamError(
            f"run: {type(run).__name__} is not a run; allowed: a run directory path or the "
            f"Run that dopasim.run returns"
        )
    meta, data = dict(run.metadata or {}), run.data
    view = _RunView(meta=meta, data=data, path=getattr(run, "path", None))
    for key, value in data.items():
        if key.startswith("spikes_"):
            view.spikes[key[len("spikes_") :]] = _canonical(*value)
    info = meta.get("circuit_info") or {}
    sizes = dict(info.get("sizes") or data.get("sizes") or {})
    if not sizes and "n_exc" in info and "n_inh" in info:  # the Izhikevich 2007 network
        sizes = {"exc": info["n_exc"], "inh": info["n_inh"]}
    for pop in list(view.spikes) + [p for p in sizes if p not in view.spikes]:
        i, _ = view.spikes.setdefault(pop, (np.zeros(0, np.int64), np.zeros(0, np.float64)))
        n = int(sizes.get(pop, 0))
        view.sizes[pop] = max(n, int(i.max()) + 1 if len(i) else 0)
    lesioned_da = info.get("lesioned_da")
    if lesioned_da is None and "lesioned_da" in data:
        lesioned_da = np.asarray(data["lesioned_da"]).tolist()
    for pop, n in view.sizes.items():
        mask = np.zeros(n, bool)
        if pop == "vta_da" and lesioned_da:
            mask[np.asarray(lesioned_da, dtype=np.int64)] = True
        view.lesioned[pop] = mask
    return view


def _provenance(view):
    keys = (
        "protocol",
        "scenario",
        "hypothesis",
        "seed",
        "status",
        "requested_time_s",
        "reached_time_s",
        "device",
        "code_target",
        "threads",
        "versions",
        "command",
        "parameters",
        "circuit_info",
    )
    prov = {k: view.meta[k] for k in keys if k in view.meta}
    prov["run_directory"] = str(view.path) if view.path is not None else None
    prov["population_sizes"] = dict(view.sizes)
    return prov


# ------------------------------------------------------------------------ writers
def _write_csv(view, dest, overwrite):
    pops = sorted(view.spikes)
    rank = {p: k for k, p in enumerate(pops)}
    i = np.concatenate([view.spikes[p][0] for p in pops]) if pops else np.zeros(0, np.int64)
    t = np.concatenate([view.spikes[p][1] for p in pops]) if pops else np.zeros(0)
    r = (
        np.concatenate([np.full(len(view.spikes[p][0]), rank[p]) for p in pops])
        if pops
        else np.zeros(0, np.int64)
    )
    order = np.lexsort((i, r, t))
    i, t, r = i[order], t[order], r[order]
    with _atomic(dest, overwrite) as raw:
        raw.write(b"population,neuron,time_s\n")
        chunk = 100_000  # rows per write: a few MB
        for a in range(0, len(t), chunk):
            rows = zip(
                r[a : a + chunk].tolist(),
                i[a : a + chunk].tolist(),
                t[a : a + chunk].tolist(),
                strict=True,
            )
            # repr(float): the shortest text that reads back to the same float64
            raw.write("".join(f"{pops[k]},{n},{x!r}\n" for k, n, x in rows).encode())


def _write_npz(view, dest, overwrite):
    arrays = {
        "populations": np.array(list(view.spikes), dtype=str),
        "sizes": np.array([view.sizes[p] for p in view.spikes], dtype=np.int64),
        "reached_time_s": np.float64(view.reached),
        "metadata_json": np.array(json.dumps(_provenance(view))),
    }
    for pop, (i, t) in view.spikes.items():
        arrays[f"{pop}_i"] = i.astype(np.int64)
        arrays[f"{pop}_t"] = t.astype(np.float64)
        arrays[f"{pop}_lesioned"] = view.lesioned[pop]
    with _atomic(dest, overwrite) as raw:
        np.savez_compressed(raw, **arrays)


_SONATA_SORTING = {"none": 0, "by_id": 1, "by_time": 2}


def _write_sonata(view, dest, overwrite):
    import h5py

    sorting = h5py.enum_dtype(_SONATA_SORTING, basetype="i1")
    with _atomic(dest, overwrite) as raw:
        with h5py.File(raw, "w") as h5:
            h5.attrs.create("magic", 0x0A7A, dtype=np.uint32)
            h5.attrs.create("version", np.array([0, 1], dtype=np.uint32))
            h5.attrs["dopasim_provenance"] = json.dumps(_provenance(view))
            spikes = h5.create_group("spikes")
            for pop, (i, t) in view.spikes.items():
                g = spikes.create_group(pop)
                g.attrs.create("sorting", _SONATA_SORTING["by_time"], dtype=sorting)
                g.attrs["n_nodes"] = np.uint64(view.sizes[pop])
                ts = g.create_dataset("timestamps", data=t * 1000.0, dtype=np.float64)
                ts.attrs["units"] = "ms"
                g.create_dataset("node_ids", data=i.astype(np.uint64), dtype=np.uint64)


def _seconds(value, name):
    """A parameter as written in metadata.json ('3. s', 0.5) -> float seconds."""
    if isinstance(value, int | float):
        return float(value)
    from brian2 import second

    from dopasim.params import parse_quantity

    return float(parse_quantity(value, second, name) / second)


def _trial_columns(view):
    """(start, stop, {column: (values, description)}) of a trial protocol, or None.

    The protocol that wrote the run gives its trial table (`Protocol.trial_table`); a run
    of a protocol this version does not know has none."""
    name = view.meta.get("protocol")
    if name not in REGISTRY:
        return None
    return get_protocol(name).trial_table(view.data, view.meta.get("parameters") or {})


def _series(view):
    """[(name, description, unit, values, times)] of the neuromodulator concentrations."""
    out = []
    for key, (name, desc) in _SERIES.items():
        values = view.data.get(key)
        if values is None or np.ndim(values) != 1 or len(values) == 0:
            continue
        base = next(
            (b for b in _TIME_BASES if b in view.data and len(view.data[b]) == len(values)), None
        )
        if base is None:
            continue
        unit = "nM" if key.endswith("_nM") else "uM"
        out.append((name, desc, unit, np.asarray(values, np.float64), view.data[base]))
    return out


def _start_time(view):
    """When the run started (UTC): metadata.json's modification time less the wall time."""
    when = None
    if view.path is not None and (Path(view.path) / "metadata.json").exists():
        when = (Path(view.path) / "metadata.json").stat().st_mtime
        when -= float((view.meta.get("wall_times_s") or {}).get("total_s", 0.0))
    if when is None:
        when = _dt.datetime.now(_dt.UTC).timestamp()
    return _dt.datetime.fromtimestamp(int(when), _dt.UTC)


def _resolution(view):
    """The simulation time step (s): the smallest possible difference of two spike times."""
    p = view.meta.get("parameters") or {}
    nested = p.get("circuit") if isinstance(p.get("circuit"), dict) else {}
    for key, value in (
        ("circuit.dt", p.get("circuit.dt")),
        ("dt", p.get("dt")),
        ("dt", nested.get("dt")),
    ):
        if value is not None:
            with contextlib.suppress(ParamError, ValueError, TypeError):
                return _seconds(value, key)
    return None


def _build_nwb(view):
    import pynwb
    from pynwb import NWBFile, TimeSeries
    from pynwb.file import Subject
    from pynwb.misc import Units

    from dopasim._version import __version__

    prov = _provenance(view)
    prov["exported_by"] = {"dopasim": __version__, "pynwb": pynwb.__version__}
    protocol = view.meta.get("protocol", "unknown")
    seed = view.meta.get("seed")
    nwb = NWBFile(
        session_description=(
            f"dopasim simulation of the '{protocol}' protocol, scenario '{view.scenario}', "
            f"seed {seed}: {view.reached:g} s of simulated time"
        ),
        identifier=str(uuid.uuid4()),
        session_start_time=_start_time(view),
        session_id=Path(view.path).name if view.path is not None else None,
        experiment_description=(
            "Spiking-network simulation (Brian2) of the brain's reward system: VTA dopamine "
            "and GABA neurons, raphe serotonin neurons, striatal D1/D2 neurons and "
            "three-factor corticostriatal plasticity. No animal was recorded."
        ),
        data_collection=(
            f"Simulated with dopasim {view.meta.get('versions', {}).get('dopasim', '?')} "
            f"(Brian2 {view.meta.get('versions', {}).get('brian2', '?')}) on the "
            f"{view.meta.get('device', '?')} target, seed {seed}; exported by dopasim.export."
        ),
        notes="dopasim run provenance (JSON): " + json.dumps(prov, sort_keys=True),
        keywords=["simulation", "dopamine", "serotonin", "reward", "Brian2", str(protocol)],
        subject=Subject(
            subject_id=f"dopasim-{protocol}-{view.scenario}-seed{seed}".replace("/", "_"),
            description=(
                "Not an animal: a simulated spiking network (dopasim). Its parameters come "
                "from rodent and primate studies, hence the species Mammalia; age and sex "
                "do not apply and are given as unknown."
            ),
            species=_MAMMALIA,
            sex="U",
            age="P0D/",
        ),
    )
    reached = view.reached
    units = Units(
        name="units",
        description=(
            "one row per simulated neuron of every population (silent and lesioned neurons "
            "included); spike times in seconds from the start of the simulation"
        ),
        resolution=_resolution(view),
    )
    units.add_column("population", "the neuron's population (Brian2 group name)")
    units.add_column("neuron_index", "index of the neuron within its population")
    units.add_column("scenario", "the run's scenario (e.g. intact, parkinson:loss=0.75)")
    units.add_column("lesioned", "removed by a Parkinsonian lesion: present but silent")
    nwb.units = units
    for pop in view.spikes:
        counts, grouped = view.per_neuron(pop)
        ends = np.cumsum(counts)
        for k in range(view.sizes[pop]):
            units.add_unit(
                spike_times=grouped[ends[k] - counts[k] : ends[k]],
                obs_intervals=[[0.0, reached]],
                population=pop,
                neuron_index=k,
                scenario=view.scenario,
                lesioned=bool(view.lesioned[pop][k]),
            )
    trials = _trial_columns(view)
    if trials is not None:
        start, stop, cols = trials
        for name, (_, desc) in cols.items():
            nwb.add_trial_column(name=name, description=desc)
        for k in range(len(start)):
            row = {name: _scalar(values[k]) for name, (values, _) in cols.items()}
            nwb.add_trial(start_time=float(start[k]), stop_time=float(stop[k]), **row)
    for name, desc, unit, values, times in _series(view):
        times = np.asarray(times, np.float64)
        kw = {"timestamps": times}
        if len(times) > 1:
            step = np.diff(times)
            if np.allclose(step, step[0], rtol=1e-9, atol=0) and step[0] > 0:
                kw = {"starting_time": float(times[0]), "rate": float(1.0 / step[0])}
        nwb.add_acquisition(TimeSeries(name=name, data=values, unit=unit, description=desc, **kw))
    return nwb


def _scalar(x):
    if isinstance(x, np.generic):
        return x.item()
    return x


def _write_nwb(view, dest, overwrite):
    import h5py
    from pynwb import NWBHDF5IO

    nwb = _build_nwb(view)
    with _atomic(dest, overwrite) as raw:
        h5 = h5py.File(raw, "w")
        try:
            with NWBHDF5IO(file=h5, mode="w") as nio:
                nio.write(nwb)
        finally:
            # a failed close shows in raw.error, which commit checks
            with contextlib.suppress(Exception):
                h5.close()


_WRITERS = {"csv": _write_csv, "npz": _write_npz, "sonata": _write_sonata, "nwb": _write_nwb}


# ------------------------------------------------------------------------ public API
class ExportError(OSError):
    """An export failed while writing; ``written`` lists the files completed before it."""

    def __init__(self, cause, written):
        super().__init__(cause.errno, cause.strerror or str(cause), cause.filename)
        self.written = list(written)


def export_runs(run_dir, formats, out=None, overwrite=False):
    """Write the run's spikes in each of ``formats`` ('csv,sonata' or a list).

    Everything is checked first (formats, run directory, libraries, output files); a
    `ParamError` then means nothing was written. Returns the paths written, in order. If
    a write fails, the files already completed stay and an `ExportError` (an OSError)
    lists them; the failed one leaves nothing under its final name.
    """
    fmts = check_formats(formats)
    path = _check_run_dir(run_dir)
    dests = _destinations(path, fmts, out, overwrite)
    view = _view(path)
    written = []
    for fmt, dest in zip(fmts, dests, strict=True):
        try:
            _WRITERS[fmt](view, dest, overwrite)
        except OSError as e:
            raise ExportError(e, written) from e
        written.append(dest)
    return written


def export_run(run_dir, fmt, out=None, overwrite=False) -> Path:
    """Write the run's spike raster in format ``fmt`` (nwb, sonata, csv or npz).

    ``out`` defaults to the format's file name inside the run directory (`FORMATS`); an
    existing folder receives that name. An existing file is refused (`ParamError`) unless
    ``overwrite``. Returns the path written.
    """
    if fmt not in FORMATS:
        parse_formats([str(fmt)])  # raises the ParamError naming the allowed formats
    return export_runs(run_dir, [fmt], out=out, overwrite=overwrite)[0]


_PQ_UNITS = {}


def _pq_unit(symbol):
    """The `quantities` unit for 'nM' / 'uM' (quantities defines uM but not nM)."""
    import quantities as pq

    if symbol not in _PQ_UNITS:
        unit = getattr(pq, symbol, None)
        if unit is None and symbol == "nM":
            unit = pq.UnitQuantity("nanomolar", pq.uM / 1000, symbol="nM")
        _PQ_UNITS[symbol] = unit if unit is not None else pq.dimensionless
    return _PQ_UNITS[symbol]


def to_neo(run_or_path):
    """A `neo.Block` of one run (a run directory or a `Run`) or of a list of runs.

    One `Segment` per run, one `SpikeTrain` per neuron (seconds, t_start 0, t_stop the
    reached time; annotations ``population``, ``neuron_index``, ``lesioned``), and the
    neuromodulator concentrations as `AnalogSignal` (nM). ``block.groups`` has one `Group`
    per population, with its spike trains from every segment. Needs ``pip install
    'dopasim[neo]'``.
    """
    try:
        import neo
        import quantities as pq
    except ImportError:
        raise ParamError(
            "to_neo: needs the Python package 'neo', which is not installed; install it "
            "with: pip install 'dopasim[neo]'"
        ) from None
    runs = run_or_path if isinstance(run_or_path, list | tuple) else [run_or_path]
    views = [_view(r) for r in runs]
    first = views[0].meta if views else {}
    block = neo.Block(
        name=f"dopasim {first.get('protocol', '')}".strip(),
        description="spike rasters of dopasim runs, one segment per run",
        file_origin=str(views[0].path) if len(views) == 1 and views[0].path else None,
    )
    groups = {}
    for view in views:
        meta = view.meta
        seg = neo.Segment(
            name=f"{meta.get('protocol', 'run')} {view.scenario} seed {meta.get('seed')}",
            description=f"run directory {view.path}" if view.path else None,
            protocol=str(meta.get("protocol")),
            scenario=view.scenario,
            seed=int(meta["seed"]) if meta.get("seed") is not None else -1,
            run_dir=str(view.path) if view.path is not None else "",
        )
        block.segments.append(seg)
        t_stop = view.reached * pq.s
        for pop in view.spikes:
            counts, grouped = view.per_neuron(pop)
            ends = np.cumsum(counts)
            group = groups.get(pop)
            if group is None:
                group = groups[pop] = neo.Group(name=pop, allowed_types=[neo.SpikeTrain])
            for k in range(view.sizes[pop]):
                st = neo.SpikeTrain(
                    grouped[ends[k] - counts[k] : ends[k]],
                    units="s",
                    t_start=0.0 * pq.s,
                    t_stop=t_stop,
                    name=f"{pop}[{k}]",
                    population=pop,
                    neuron_index=k,
                    lesioned=bool(view.lesioned[pop][k]),
                )
                seg.spiketrains.append(st)
                group.add(st)
        for name, desc, unit, values, times in _series(view):
            times = np.asarray(times, np.float64)
            if len(times) > 1 and np.allclose(np.diff(times), times[1] - times[0], rtol=1e-9):
                sig = neo.AnalogSignal(
                    values[:, None],
                    units=_pq_unit(unit),
                    sampling_period=(times[1] - times[0]) * pq.s,
                    t_start=times[0] * pq.s,
                    name=name,
                    description=desc,
                )
                seg.analogsignals.append(sig)
            elif len(times):
                sig = neo.IrregularlySampledSignal(
                    times * pq.s, values[:, None], units=_pq_unit(unit), name=name, description=desc
                )
                seg.irregularlysampledsignals.append(sig)
    block.groups.extend(groups.values())
    return block

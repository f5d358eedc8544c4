"""Batch systems: the ``[cluster]`` table of a sweep file, checked and turned into a
dask-jobqueue cluster (SLURM, PBS, SGE, LSF) and its job script.

Each job runs dask workers of one thread each (a Brian2 run is single-threaded here):
``cores`` worker processes per job. The workers keep dopasim's build cache
(``DOPASIM_CACHE``) and dask's scratch space in node-local storage (``local_directory``,
by default the node's ``$TMPDIR``); the Python environment and the output folder must be
on a file system that the nodes share.

dask-jobqueue (the ``hpc`` extra) is imported only when a cluster is made. Creating a
jobqueue cluster starts a local dask scheduler, which the jobs' workers connect to;
`job_script` closes it before returning. Nothing here submits a job: the caller scales
the cluster returned by `make_cluster` (``cluster.scale(workers)``).
"""

import math
import os
import re

from dopasim.params import Param, ParamError, did_you_mean

__all__ = ["SYSTEMS", "CLUSTER_KEYS", "check_cluster_table", "make_cluster", "job_script"]

#: The batch systems of ``--scheduler``.
SYSTEMS = ("slurm", "pbs", "sge", "lsf")

_SYSTEM = Param("--scheduler", None, "choice", "batch system", choices=SYSTEMS)

#: The job script's default node-local directory: the node's $TMPDIR, else /tmp.
DEFAULT_LOCAL_DIRECTORY = "${TMPDIR:-/tmp}"

_NAME = "a name without spaces"
_PATH = "a path without spaces, quotes or backslashes"
_LINES = "a list of strings, one line each"


def _key(name, default, help_, allowed, **extra):
    """A string key (or a list of strings, ``list=True``; a path, ``path=True``)."""
    return Param(name, default, "str", help_, extra={"allowed": allowed, **extra})


#: The keys of a sweep's ``[cluster]`` table (names as in dask-jobqueue).
CLUSTER_KEYS = {
    p.name: p
    for p in (
        _key("queue", None, "queue or partition of the jobs", _NAME),
        _key(
            "account",
            None,
            "account (SLURM, PBS) or project (SGE, LSF) the jobs are charged to",
            _NAME,
        ),
        _key(
            "walltime",
            "01:00:00",
            "run time limit of a job; a run still going when its job ends is started "
            "again on another worker, so set it above the longest run",
            "HH:MM:SS, e.g. '04:00:00' (LSF gets HH:MM, rounded up)",
        ),
        _key(
            "memory",
            "4GB",
            "memory of a job, shared equally by its workers",
            "an amount like '4GB', '500MB' or '8GiB' (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB), "
            "at least 1MB",
        ),
        Param(
            "cores",
            1,
            "int",
            "cores of a job: as many worker processes of one thread each (at most the "
            "number of workers asked for)",
            low=1,
        ),
        _key(
            "job_extra_directives",
            None,
            "more header lines for the batch system, each written after its prefix "
            "(#SBATCH, #PBS, #$, #BSUB), e.g. '--constraint=avx2'; on SGE the memory "
            "request too (e.g. '-l h_vmem=4G'), which is site-specific",
            _LINES,
            list=True,
        ),
        _key(
            "job_script_prologue",
            None,
            "shell lines run before the worker starts, e.g. 'source /shared/venv/bin/activate'",
            _LINES,
            list=True,
        ),
        _key(
            "local_directory",
            DEFAULT_LOCAL_DIRECTORY,
            "node-local scratch folder of the workers: dask's spill space and dopasim's "
            "build cache (DOPASIM_CACHE); $VARIABLES are read on the node",
            _PATH,
            path=True,
        ),
        _key(
            "log_directory",
            None,
            "folder of the jobs' output and error files, made on the submitting machine "
            "(~ and $VARIABLES read there, relative to where dopasim runs)",
            _PATH,
            path=True,
        ),
        _key(
            "interface",
            None,
            "network interface of the scheduler and the workers, e.g. 'ib0' "
            "(default: dask's choice)",
            _NAME,
        ),
        _key(
            "python",
            None,
            "the Python the nodes run the workers with; it must have dopasim and "
            "dask-jobqueue (default: the Python running dopasim)",
            _PATH,
            path=True,
        ),
    )
}

_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?b|b)\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})
_WALLTIME_RE = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
#: characters that no value may hold: control characters end or split a script line
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: what a name or a path may not hold (the worker command line is not quoted)
_NOT_IN_NAME = re.compile(r"[\s\x00-\x1f\x7f]")
_NOT_IN_PATH = re.compile(r"[\s\x00-\x1f\x7f\"'`\\]")


def _bad(where, value, what, p):
    return ParamError(f"{where}: {value!r} {what}; allowed: {p.extra['allowed']}")


def _check_value(p, value, where):
    """``value`` of the key ``p`` checked and normalized; ParamError (one line) if bad."""
    if p.kind == "int":
        return p.parse(value, where)
    if p.extra.get("list"):
        if not isinstance(value, list | tuple):
            raise _bad(where, value, "is not a list", p)
        for item in value:
            if not isinstance(item, str):
                raise _bad(where, item, "is not a string", p)
            if _CONTROL.search(item):
                raise _bad(
                    where, item, "is not one line (it has a line break or a control character)", p
                )
        return list(value)
    if not isinstance(value, str):
        raise _bad(where, value, "is not a string", p)
    text = value.strip()
    if p.name == "walltime":
        m = _WALLTIME_RE.match(text)
        if not m:
            raise _bad(where, value, "is not a time HH:MM:SS", p)
        return f"{int(m.group(1)):02d}:{m.group(2)}:{m.group(3)}"
    if p.name == "memory":
        m = _MEMORY_RE.match(text)
        if not m:
            raise _bad(where, value, "is not an amount of memory", p)
        if float(m.group(1)) * _UNITS[m.group(2).lower()] < 1e6:
            raise _bad(where, value, "is less than 1MB", p)
        return text
    path = p.extra.get("path", False)
    if not text or (_NOT_IN_PATH if path else _NOT_IN_NAME).search(text):
        if not text:
            raise _bad(where, value, "is empty", p)
        what = (
            "a plain path (it has a space, a quote or a backslash)"
            if path
            else "a name (it has a space)"
        )
        raise _bad(where, value, f"is not {what}", p)
    return text


def check_cluster_table(system, table, where="cluster"):
    """The ``[cluster]`` table ``table`` for the batch system ``system``, checked.

    Returns the keyword arguments of the system's dask-jobqueue cluster class: the
    table's keys as that class names them (``account`` is ``project`` on SGE and LSF,
    LSF's walltime is HH:MM), dopasim's defaults for ``walltime``, ``memory``, ``cores``
    and ``local_directory``, and ``processes = cores``. Keys the table leaves out are
    left out (dask's own jobqueue configuration then applies). Raises `ParamError`
    with one line, ``<where>.<key>: <value> is ...; allowed: ...``, for the first
    problem.
    """
    system = _SYSTEM.parse(system)
    if not isinstance(table, dict):
        raise ParamError(f"{where}: {table!r} is not a table; allowed: a [cluster] table")
    for key in table:
        if key not in CLUSTER_KEYS:
            raise ParamError(
                f"{where}.{key}: unknown key '{key}'{did_you_mean(key, CLUSTER_KEYS)}; "
                f"allowed: {', '.join(CLUSTER_KEYS)}"
            )
    values = {}
    for name, p in CLUSTER_KEYS.items():
        if name in table:
            values[name] = _check_value(p, table[name], f"{where}.{name}")
        elif p.default is not None:
            values[name] = p.default
    values["processes"] = values["cores"]
    if "account" in values and system in ("sge", "lsf"):
        values["project"] = values.pop("account")
    if system == "lsf":  # bsub -W [hours:]minutes
        h, m, s = map(int, values["walltime"].split(":"))
        minutes = math.ceil((h * 3600 + m * 60 + s) / 60)
        values["walltime"] = f"{minutes // 60:02d}:{minutes % 60:02d}"
    if "log_directory" in values:  # on the shared file system, seen from here
        values["log_directory"] = os.path.abspath(
            os.path.expandvars(os.path.expanduser(values["log_directory"]))
        )
    return values


def _jobqueue(system):
    """The dask-jobqueue cluster class of ``system``, or the extra's ParamError."""
    try:
        import dask_jobqueue
    except ImportError:
        raise ParamError(
            f"--scheduler: {system} needs the 'hpc' extra: pip install 'dopasim[hpc]'"
        ) from None
    return {
        "slurm": dask_jobqueue.SLURMCluster,
        "pbs": dask_jobqueue.PBSCluster,
        "sge": dask_jobqueue.SGECluster,
        "lsf": dask_jobqueue.LSFCluster,
    }[system]


def make_cluster(system, table, workers, local_directory=None, *, scheduler_host=None):
    """A dask-jobqueue cluster of ``system`` set up from the ``[cluster]`` table; no job
    is submitted (``cluster.scale(workers)`` does that). Close it when done.

    Each job runs ``cores`` worker processes of one thread each, at most ``workers``
    (a job books no core that no worker would use); ``workers=None`` sets no such cap.
    ``local_directory`` (default: the table's, else the node's ``$TMPDIR``) is the
    workers' node-local scratch, and ``DOPASIM_CACHE`` points there (Brian2 builds go to
    node-local storage). ``scheduler_host`` is the address the local scheduler listens
    on (default: dask's, or the table's ``interface``); the nodes must reach it.
    """
    kwargs = check_cluster_table(system, table)
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParamError(f"workers: {workers!r} is not allowed; allowed: an integer >= 1")
        kwargs["cores"] = kwargs["processes"] = min(kwargs["cores"], workers)
    if local_directory is not None:
        p = CLUSTER_KEYS["local_directory"]
        kwargs["local_directory"] = _check_value(p, local_directory, "local_directory")
    cls = _jobqueue(system)
    import dask

    prologue = kwargs.pop("job_script_prologue", None)
    if prologue is None:  # dask's jobqueue configuration, if it names one
        prologue = dask.config.get(f"jobqueue.{system}.job-script-prologue", None) or []
    cache = kwargs["local_directory"]
    kwargs["job_script_prologue"] = [
        *prologue,
        f'export DOPASIM_CACHE="{cache}"',
        'mkdir -p "$DOPASIM_CACHE"',
        # no statistical profiler in the workers: it takes CPU from the simulations
        "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False",
    ]
    if scheduler_host is not None:
        kwargs["scheduler_options"] = {
            "host": scheduler_host,
            "dashboard_address": f"{scheduler_host}:0",
        }
    return cls(**kwargs)


def job_script(system, table, workers=None, *, scheduler_host=None):
    """The text of the job script that ``system`` would run for each job, as
    `make_cluster` would submit it; nothing is submitted and the local scheduler that
    making the cluster starts is closed before this returns. The script names that
    scheduler's address. ``workers`` as in `make_cluster` (default: no cap).

    A ``log_directory`` is created, as dask-jobqueue does when a cluster is made.
    """
    cluster = make_cluster(system, table, workers, scheduler_host=scheduler_host)
    try:
        return cluster.job_script()
    finally:
        cluster.close()

"""Where the runs of a comparison or a sweep execute: local processes or a Dask cluster.

``--scheduler`` chooses:

``local`` (default)
    A pool of worker processes on this machine (`dopasim.comparison`'s pool: compiled
    once, signals forwarded). No extra dependency.
``dask``
    A `distributed.LocalCluster` on 127.0.0.1, one process per job and one thread per
    worker (the ``cluster`` extra: ``pip install 'dopasim[cluster]'``).
``tcp://HOST:PORT``
    An existing Dask scheduler (``dask scheduler`` / ``dask worker --nthreads 1``).
``slurm``, ``pbs``, ``sge``, ``lsf``
    Workers submitted as batch jobs through dask-jobqueue (`dopasim.hpc`, the ``hpc``
    extra), with the ``[cluster]`` table of a sweep file.

On Dask, before any run, a preflight asks every worker for its dopasim and Brian2
versions, its threads and whether it sees the output folder (`preflight`); a mismatch
exits 2 naming the worker's host. A run's task (`run_task`) is idempotent: a run whose
directory is already complete for the same plan is read back, not run again (Dask
recomputes the tasks of a lost worker). Each node compiles a standalone build once,
under a lock, into its node-local cache (`node_cache`), and each worker process runs
from its own copy of it. A worker lost mid-run is replaced and its run rescheduled up to
``retries`` times (Dask's ``allowed-failures``), then recorded as ``worker lost``.

`plan_state` decides what ``--resume`` does with a run directory that is already there:
complete with the same protocol, scenario, seed, parameters and versions: kept;
``running`` or ``interrupted``: rerun; ``failed``: rerun only with ``--retry-failed``;
complete with anything different: an error naming the field.
"""

import contextlib
import json
import logging
import os
import socket
import sys
import time
import traceback
import zlib
from pathlib import Path

from dopasim.params import ParamError, did_you_mean

__all__ = [
    "BATCH_SYSTEMS",
    "client_for",
    "resume_plan",
    "SCHEDULERS",
    "Progress",
    "node_cache",
    "parse_scheduler",
    "plan_state",
    "preflight",
    "run_one",
    "run_task",
]

BATCH_SYSTEMS = ("slurm", "pbs", "sge", "lsf")
SCHEDULERS = ("local", "dask", *BATCH_SYSTEMS)

#: File systems shared between nodes, where a build cache would be compiled by every
#: node at once and where flock may not work: the cache moves to node-local storage.
_NETWORK_FS = ("nfs", "nfs4", "cifs", "smbfs", "lustre", "gpfs", "beegfs", "panfs", "ceph")


def parse_scheduler(value, where="--scheduler"):
    """``value`` checked: one of `SCHEDULERS` or ``tcp://HOST:PORT``."""
    text = str(value).strip()
    if text in SCHEDULERS:
        return text
    if text.startswith("tcp://"):
        host, _, port = text[len("tcp://") :].rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return text
        raise ParamError(f"{where}: '{text}' is not an address; allowed: tcp://HOST:PORT")
    hint = did_you_mean(text, SCHEDULERS)
    raise ParamError(
        f"{where}: '{text}' is not a scheduler{hint}; allowed: "
        f"{', '.join(SCHEDULERS)} or tcp://HOST:PORT"
    )


def _need_distributed(scheduler):
    try:
        import distributed  # noqa: F401
    except ImportError:
        extra = "hpc" if scheduler in BATCH_SYSTEMS else "cluster"
        raise ParamError(
            f"--scheduler: {scheduler} needs the '{extra}' extra: pip install 'dopasim[{extra}]'"
        ) from None


# ----------------------------------------------------------------------------- resume
def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def plan_state(run_dir, expected, retry_failed=False):
    """What to do with ``run_dir`` for a run whose metadata should match ``expected``
    (``protocol``, ``scenario``, ``seed``, ``parameters``, ``versions``).

    Returns ``"absent"``, ``"keep"`` (complete and matching), ``"rerun"`` (running,
    interrupted, unreadable, or failed with ``retry_failed``) or ``"failed"`` (failed,
    kept as a failure). Raises `ParamError` naming the first field that differs when a
    complete run was made with another plan.
    """
    meta_path = Path(run_dir) / "metadata.json"
    if not meta_path.exists():
        return "absent" if not Path(run_dir).exists() else "rerun"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return "rerun"
    status = meta.get("status")
    if status not in ("complete", "failed"):
        return "rerun"
    _check_plan(run_dir, meta, expected)
    if status == "failed":
        return "rerun" if retry_failed else "failed"
    return "keep"


def _check_plan(run_dir, meta, expected):
    """Raise `ParamError` naming the first field of ``meta`` that differs from the plan."""
    for field in ("protocol", "scenario", "seed"):
        if meta.get(field) != expected[field]:
            raise ParamError(
                f"--resume: {run_dir} was run with {field} {meta.get(field)!r}, this plan "
                f"has {expected[field]!r}"
            )
    # the protocol's parameters (metadata also records the circuit's resolved ones)
    have, want = meta.get("parameters", {}), _jsonable(expected["parameters"])
    for key in sorted(want):
        if have.get(key) != want.get(key):
            raise ParamError(
                f"--resume: {run_dir} was run with parameter {key} = {have.get(key)!r}, "
                f"this plan has {want.get(key)!r}"
            )
    for name in ("dopasim", "brian2"):
        got = meta.get("versions", {}).get(name)
        if got != expected["versions"][name]:
            raise ParamError(
                f"--resume: {run_dir} was run with {name} {got}, this is "
                f"{expected['versions'][name]}"
            )


def _versions():
    """This process's dopasim and Brian2 versions (what runs must share)."""
    import brian2

    import dopasim

    return {"dopasim": dopasim.__version__, "brian2": brian2.__version__}


def expected_metadata(job):
    """The plan of ``job`` as its metadata.json will record it (`plan_state`)."""
    from dopasim import runner
    from dopasim.params import to_jsonable

    module, p, seed, _ = runner.prepare(
        job["protocol"], job["params"], job["seed"], job["device"], None, True, job["scenario"]
    )
    return {
        "protocol": module.NAME,
        "scenario": job["scenario"],
        "seed": seed,
        "parameters": to_jsonable(p),
        "versions": _versions(),
    }


def read_back(job):
    """The result of a complete run directory, as a run task returns it."""
    path = Path(job["out"])
    metrics = json.loads((path / "metrics.json").read_text())
    return {**job, "metrics": metrics, "wall_s": 0.0, "reused": True}


def resume_plan(todo, retry_failed=False):
    """Split ``todo`` for ``--resume``: returns (the jobs to run, the results kept).

    Every existing run directory is checked before anything runs (`plan_state`; a
    mismatch raises). A kept complete run is read back; a failed one (without
    ``retry_failed``) is kept as a failure with its recorded reason; the rest run, and
    replace what their directory holds.
    """
    run, kept = [], []
    for job in todo:
        state = plan_state(job["out"], expected_metadata(job), retry_failed)
        if state == "keep":
            kept.append(read_back(job))
        elif state == "failed":
            meta = json.loads((Path(job["out"]) / "metadata.json").read_text())
            reason = meta.get("failure") or "failed"
            kept.append(
                {**job, "error": f"failed earlier: {reason}", "wall_s": 0.0, "reused": True}
            )
        else:
            run.append({**job, "overwrite": True})
    return run, kept


def run_one(job):
    """Run one (scenario, seed); never raises (a failure is returned)."""
    from dopasim import runner

    t0 = time.perf_counter()
    try:
        res = runner.run(
            job["protocol"],
            params=job["params"],
            seed=job["seed"],
            device=job["device"],
            out=job["out"],
            overwrite=job["overwrite"],
            quiet=True,
            figures=False,
            scenario=job["scenario"],
            build_slot=job.get("slot", 0),
            force=job.get("force", False),
        )
        return {**job, "metrics": res.metrics, "wall_s": time.perf_counter() - t0}
    except Exception as e:  # a failed seed is reported, the others are kept
        return {
            **job,
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(),
            "wall_s": time.perf_counter() - t0,
        }


# ------------------------------------------------------------------------ on a worker
def _fs_type(path):
    """The file-system type of the mount that holds ``path`` (Linux), or None."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    path = os.path.realpath(path)
    best, kind = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best):
            best, kind = mnt, parts[2]
    return kind


def node_cache():
    """The build cache this worker should use: ``$DOPASIM_CACHE`` when it is set, else
    the usual cache unless that sits on a network file system, in which case a
    node-local folder under the temporary directory."""
    from dopasim.device import cache_root

    if os.environ.get("DOPASIM_CACHE"):
        return Path(os.environ["DOPASIM_CACHE"])
    root = cache_root()
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if (_fs_type(probe) or "") in _NETWORK_FS:
        return _private_tmp()
    return root


def _private_tmp():
    """``$TMPDIR/dopasim-<uid>``, made 0700 and checked to be this user's own folder
    (not a link another user planted); else a fresh temporary folder."""
    import stat
    import tempfile

    path = Path(tempfile.gettempdir()) / f"dopasim-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
        return path
    return Path(tempfile.mkdtemp(prefix="dopasim-cache-"))


def _worker_slot():
    """A build slot of this worker process (its own copy of the node's build)."""
    try:
        from distributed import get_worker

        worker = get_worker()
        if isinstance(worker.name, int) or str(worker.name).isdigit():
            return 1 + int(worker.name)  # LocalCluster: 0..n-1, the same every sweep
        name = str(worker.name)
    except (ImportError, ValueError):
        name = f"pid{os.getpid()}"
    return 1 + zlib.crc32(name.encode()) % 100_000


def compile_only(job):
    """Generate and compile ``job``'s standalone build into slot 0 without running it;
    returns its build key (`dopasim.runner.run`'s ``compile_only``)."""
    from dopasim import runner

    return runner.run(
        job["protocol"],
        params=job["params"],
        seed=job["seed"],
        device=job["device"],
        out=None,
        overwrite=True,
        quiet=True,
        write=False,
        scenario=job["scenario"],
        build_slot=0,
        compile_only=True,
    )


def _compile_on_node(job):
    """Compile ``job``'s build once on this node (slot 0, under a lock) and copy it to
    this worker's slot; returns the slot to run with (0 when nothing could be shared)."""
    import fcntl

    from dopasim import runner
    from dopasim.device import INCOMPLETE, build_directory, clone_build, compiler_available

    if job["device"] != "cpp_standalone" or not compiler_available():
        return 0
    module, p, *_ = runner.prepare(
        job["protocol"], job["params"], job["seed"], job["device"], None, True, job["scenario"]
    )
    key0 = runner.build_key(module, p, 0)
    src = build_directory(key0)
    src.parent.mkdir(parents=True, exist_ok=True)
    with open(src.parent / f"{src.name}.node.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one compilation per node; the others wait
        if not (src / "main").exists() or (src / INCOMPLETE).exists():
            compile_only(job)
    slot = _worker_slot()
    key = runner.build_key(module, p, slot)
    if _same_build(src, build_directory(key)):  # this worker's copy is current
        return slot
    return slot if clone_build(key0, key) else 0


def _same_build(src, dst):
    """``dst`` holds a complete copy of the build in ``src`` (clone_build keeps file
    times), so it need not be copied again (52 MB for the selection task)."""
    from dopasim.device import INCOMPLETE

    try:
        return (
            not (dst / INCOMPLETE).exists()
            and (dst / "main").stat().st_mtime >= (src / "main").stat().st_mtime
        )
    except OSError:
        return False


def run_task(job):
    """One run on a Dask worker; never raises for the run's own failure.

    Idempotent: a run directory already complete for this plan is read back. Anything
    else there (a lost worker's half-written run) is replaced.
    """
    host = socket.gethostname()
    for name, mine in _versions().items():
        if job.get("versions", {}).get(name, mine) != mine:  # a worker that joined late
            return {
                **job,
                "error": f"worker on host {host} runs {name} {mine}, the sweep "
                f"{job['versions'][name]}",
                "wall_s": 0.0,
                "host": host,
            }
    os.environ["DOPASIM_CACHE"] = str(node_cache())
    t0 = time.perf_counter()
    if _done_by_this_sweep(job):  # Dask recomputed the task of a lost worker
        return {**read_back(job), "host": host}
    try:
        slot = _compile_on_node(job)
    except Exception:  # the run reports a real error itself
        slot = 0
    res = run_one({**job, "slot": slot, "overwrite": True})
    res["host"] = host
    res["wall_s"] = time.perf_counter() - t0
    return res


def _done_by_this_sweep(job):
    """The run directory is complete for this plan and was written after the sweep
    began (``job["since"]``, a time stamp); an older complete run (``--overwrite``)
    runs again."""
    meta = Path(job["out"]) / "metadata.json"
    try:
        if meta.stat().st_mtime < job.get("since", float("inf")):
            return False
        return plan_state(job["out"], expected_metadata(job)) == "keep"
    except (OSError, ParamError):
        return False


def _worker_facts(out, probe_name=None):
    probe = Path(out)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return {
        "host": socket.gethostname(),
        **_versions(),
        "python": sys.executable,
        "sees_out": probe.is_dir()
        and os.access(probe, os.W_OK)
        and (probe_name is None or (probe / probe_name).exists()),
        "out_probe": str(probe),
    }


def preflight(client, out):
    """Check every worker of ``client`` against this process; raises `ParamError`
    naming the first worker's host that differs. ``out`` is the output folder (or the
    nearest existing folder above it): each worker must see it and may write there."""

    info = client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        raise ParamError("--scheduler: the Dask cluster has no worker")
    for addr, w in workers.items():
        if int(w.get("nthreads", 1)) != 1:
            raise ParamError(
                f"--scheduler: worker {addr} on host {w.get('host', '?')} has "
                f"{w.get('nthreads')} threads; dopasim needs one per worker "
                "(dask worker --nthreads 1)"
            )
    import uuid

    out = str(Path(out).resolve())
    here = _worker_facts(out)
    # a file for a moment in the folder the workers must share: a worker whose path
    # exists but is another machine's folder (/scratch, /tmp) does not see it
    probe = Path(here["out_probe"]) / f".dopasim-preflight-{uuid.uuid4().hex}"
    try:
        probe.touch()
    except OSError as e:
        raise ParamError(f"--out: cannot write in '{probe.parent}': {e.strerror}") from None
    try:
        answers = client.run(_worker_facts, out, probe.name, on_error="return")
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    for addr, facts in answers.items():
        if isinstance(facts, BaseException):
            host = workers.get(addr, {}).get("host", "?")
            raise ParamError(
                f"--scheduler: worker {addr} on host {host} cannot run dopasim "
                f"({type(facts).__name__}: {facts})"
            )
        for name, mine in _versions().items():
            if facts[name] != mine:
                raise ParamError(
                    f"--scheduler: worker {addr} on host {facts['host']} runs {name} "
                    f"{facts[name]}, this process {mine}"
                )
        if not facts["sees_out"] or facts["out_probe"] != here["out_probe"]:
            raise ParamError(
                f"--scheduler: worker {addr} on host {facts['host']} cannot write the "
                f"output folder {out} (it must be on a shared file system)"
            )
    return len(workers)


# --------------------------------------------------------------------------- drivers
class Progress:
    """One line per finished run on stderr, with counts and an ETA (readable in a batch
    system's log file: no carriage returns)."""

    def __init__(self, total, quiet=False, stream=None):
        self.total, self.quiet = total, quiet
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.done = self.ok = self.failed = self.reused = 0

    def __call__(self, r):
        self.done += 1
        if r.get("reused"):
            self.reused += 1
        if "error" in r:
            self.failed += 1
        else:
            self.ok += 1
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.t0
        ran = self.done - self.reused
        left = self.total - self.done
        eta = f"ETA {elapsed / ran * left / 60:.1f} min" if ran and left else "ETA -"
        state = "kept" if r.get("reused") else "ok"
        if "error" in r:
            state = f"FAILED ({r['error'].splitlines()[0]})"
        print(
            f"[{self.done}/{self.total}] {r.get('protocol', '')} {r['scenario']} seed "
            f"{r['seed']}: {state} ({r.get('wall_s', 0):.0f} s) | {self.ok} ok, "
            f"{self.failed} failed, {left} left, {elapsed:.0f} s elapsed, {eta}",
            file=self.stream,
            flush=True,
        )


@contextlib.contextmanager
def client_for(scheduler, jobs, retries=2, cluster_table=None, quiet=False):
    """None for ``local`` (the caller's process pool), else a Dask client."""
    if scheduler == "local":
        yield None
        return
    with dask_client(scheduler, jobs, retries, cluster_table, quiet) as client:
        yield client


@contextlib.contextmanager
def dask_client(scheduler, jobs, retries=2, cluster_table=None, quiet=False):
    """A `distributed.Client` for ``scheduler`` (not ``local``); closes what it started.

    A lost worker's task is recomputed on another worker up to ``retries`` times
    (``distributed.scheduler.allowed-failures``; for ``tcp://`` it is the scheduler's
    own setting).
    """
    _need_distributed(scheduler)
    import dask
    from distributed import Client, LocalCluster

    cluster = client = None
    with dask.config.set(
        {
            "distributed.scheduler.allowed-failures": int(retries),
            "distributed.worker.daemon": False,  # workers start make and the binary
            "distributed.logging.distributed": "error",
            # a worker's own housekeeping takes CPU from the simulation it starts: the
            # statistical profiler samples every thread 100 times a second, and the
            # memory and system monitors poll psutil several times a second (measured:
            # the 27-run selection sweep 7.9 % slower on Dask than the local pool)
            "distributed.worker.profile.enabled": False,
            "distributed.worker.memory.monitor-interval": "2s",
            "distributed.admin.system-monitor.interval": "5s",
        }
    ):
        try:
            if scheduler == "dask":
                # the workers ignore SIGINT (inherited): a terminal's Ctrl-C reaches the
                # whole process group, and the driver alone decides what stops
                with _sigint_ignored():
                    cluster = LocalCluster(
                        n_workers=jobs,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                        # the workers' own log lines (a closed connection's traceback
                        # when the sweep stops) are not the user's business; runs
                        # report their failures themselves
                        silence_logs=logging.CRITICAL,
                    )
                client = Client(cluster)
            elif scheduler.startswith("tcp://"):
                try:
                    client = Client(scheduler, timeout="10s")
                except (OSError, TimeoutError) as e:
                    raise ParamError(
                        f"--scheduler: no Dask scheduler answers at {scheduler} "
                        f"({type(e).__name__})"
                    ) from None
            else:
                from dopasim import hpc

                cluster = hpc.make_cluster(scheduler, cluster_table or {}, jobs)
                # adapt, not scale: a job that ends (walltime, preemption) is replaced
                cluster.adapt(minimum=jobs, maximum=jobs)
                client = Client(cluster)
                if not quiet:
                    print(f"waiting for {scheduler} worker job(s) ...", file=sys.stderr)
                client.wait_for_workers(1)
            yield client
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()


@contextlib.contextmanager
def _sigint_ignored():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved)


class LostScheduler(RuntimeError):
    """The driver lost its Dask scheduler: no tables are written."""


def run_on_dask(client, todo, progress):
    """Submit every job of ``todo`` to ``client`` and call ``progress(result)`` as each
    ends. A task whose workers kept dying (``KilledWorker``) is recorded as ``worker
    lost``. SIGINT or SIGTERM cancels the runs not finished (the caller then closes the
    cluster it started); returns the signal's name, or None."""
    import uuid

    from distributed import CancelledError
    from distributed.scheduler import KilledWorker

    from dopasim.recording import Interrupt

    stop = Interrupt(lambda: None, lambda: None, raise_on_second=False)
    tag = uuid.uuid4().hex[:12]  # keys unique to this sweep on a shared scheduler
    since = time.time() - 1.0
    versions = _versions()  # a worker that joins late checks its own against these
    with stop:
        futures = {
            client.submit(
                run_task,
                {**job, "since": since, "versions": versions},
                pure=False,
                key=f"dopasim-{tag}-{i}",
            ): job
            for i, job in enumerate(todo)
        }
        remaining = dict(futures)
        while remaining:
            done = [f for f in remaining if f.done()]
            if not done:
                if stop.requested:
                    client.cancel(list(remaining), force=True)
                    return stop.signal
                time.sleep(0.2)
                continue
            for f in done:
                job = remaining.pop(f)
                try:
                    res = f.result()
                except KilledWorker as e:
                    addr = getattr(getattr(e, "last_worker", None), "address", None) or "?"
                    res = {**job, "error": f"worker lost (last on {addr})", "wall_s": 0.0}
                except CancelledError:
                    raise LostScheduler(
                        "the Dask scheduler cancelled the sweep's runs (connection lost?); "
                        "completed runs are kept: --resume goes on"
                    ) from None
                except Exception as e:  # the task itself failed outside the run
                    res = {**job, "error": f"{type(e).__name__}: {e}", "wall_s": 0.0}
                progress(res)
    return stop.signal

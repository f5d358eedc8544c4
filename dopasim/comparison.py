"""``dopasim compare``: one protocol under several scenarios, with paired seeds.

Seed k is the same master seed in every scenario, so connectivity, inputs and (for the
Parkinson scenario) the lesion order are shared: differences between scenarios are
paired. Every (scenario, seed) run writes its own run directory under ``OUT/runs``;
then ``OUT`` receives

* ``per_seed.csv``: scenario, seed, metric, value (one row per number);
* ``comparison.csv``: scenario, metric, mean, ci_low, ci_high, n, and against the first
  scenario the paired difference (``diff_mean``, ``diff_ci_low``, ``diff_ci_high``), its
  standardized effect size ``effect_dz`` (mean / SD of the paired differences, Cohen's
  d_z) and ``n_pairs``; the intervals are 95 % Student-t intervals;
* ``comparison.md``: the same as a readable table, plus any failed run;
* ``<metric>.png``: one figure per headline metric (per-seed points joined across
  scenarios, and the means with their intervals, drawn within the metric's range where
  the protocol declares one in ``METRIC_RANGES``);
* ``failures.csv`` when a run failed (the others are kept), and ``compare.json`` (the
  command's inputs, versions, wall time).

`compare_runs` (``dopasim compare --runs DIR ...``) writes the same files from run
directories that exist already, after checking that they can be compared (same
protocol, time step and model version; complete; one run per scenario and seed).

The compiled build is shared: every run of one protocol uses the same build folder, in
which make recompiles only ``main.cpp`` (the seed and the scenario's values) and the
changed data. With ``--jobs J``, J worker processes each keep their own build folder
(``build_slot``), so each compiles once.

Interrupting (SIGINT, SIGTERM): the runs in progress stop as a ``dopasim run`` does
(written as ``interrupted``, compilations ended), none is started after, the runs
already complete are kept, and `compare` raises `Interrupted` (exit code 130) without
writing the tables. The workers sit in process groups of their own: a terminal's Ctrl-C
reaches the main process only, which forwards each signal once to every worker (and a
worker gets SIGTERM if the main process dies).
"""

import contextlib
import csv
import io
import math
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

from dopasim import execution, provenance, recording, rundir
from dopasim.circuits.scenarios import describe, parse_scenarios
from dopasim.options import option
from dopasim.params import ParamError

__all__ = ["RunSetError", "compare", "compare_runs", "summarize", "t_quantile_975"]

# two-sided 95 % Student-t quantiles for df = 1..30 (standard tables)
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(df):
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return float("nan")
    if df <= len(_T975):
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile (error < 1e-3 for df > 30)
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _mean_ci(x):
    x = np.asarray([v for v in x if v is not None and np.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(x.mean())
    if n == 1:
        return m, float("nan"), float("nan"), 1
    half = t_quantile_975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half, n


def _num(v):
    """A metric's value as a float; None (e.g. a threshold never reached) is NaN."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else float("nan")


def summarize(per_seed, scenarios):
    """Rows of comparison.csv from ``per_seed`` {(scenario, seed): {metric: value}}."""
    rows = []
    ref = scenarios[0]
    metrics = []
    for values in per_seed.values():
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in metrics:
                metrics.append(k)
    for sc in scenarios:
        seeds = sorted(s for (name, s) in per_seed if name == sc)
        for metric in metrics:
            vals = [_num(per_seed[(sc, s)].get(metric)) for s in seeds]
            mean, lo, hi, n = _mean_ci(vals)
            row = {
                "scenario": sc,
                "metric": metric,
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
                "n": n,
            }
            pairs = [
                _num(per_seed[(sc, s)].get(metric)) - _num(per_seed[(ref, s)].get(metric))
                for s in seeds
                if (ref, s) in per_seed
            ]
            pairs = [d for d in pairs if np.isfinite(d)]
            dm, dlo, dhi, npairs = _mean_ci(pairs)
            sd = float(np.std(pairs, ddof=1)) if npairs > 1 else float("nan")
            if npairs > 1 and sd > 0:
                dz = dm / sd
            elif npairs > 1 and dm == 0:
                dz = 0.0
            else:
                dz = float("nan")
            row.update(
                diff_mean=dm, diff_ci_low=dlo, diff_ci_high=dhi, effect_dz=dz, n_pairs=npairs
            )
            rows.append(row)
    return rows


def _default_out(module):
    """``runs/compare/<protocol>-<UTC time>``."""
    return (
        Path("runs") / "compare" / f"{module.NAME}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    )


def _slug(spec):
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in spec)


def _compile_once(job, jobs, quiet):
    """Compile the comparison's code once (slot 0) and clone it to the workers' slots.

    Scenarios and seeds are data (run arguments and data files), so every run of the
    comparison uses this one build. If it fails here, the workers compile for
    themselves (and a real error is reported per run).
    """
    from dopasim.device import clone_build, compiler_available

    if not compiler_available():
        return
    t0 = time.perf_counter()
    if not quiet:
        print("compiling once for all runs ...", file=sys.stderr, flush=True)
    try:
        src = execution.compile_only(job)
    except Exception as e:  # the runs will report it
        if not quiet:
            print(f"compiling once failed ({type(e).__name__}: {e})", file=sys.stderr)
        return
    for slot in range(1, jobs + 1):  # the slot is the key's last part (runner.build_key)
        clone_build(src, (*src[:-1], slot))
    if not quiet:
        print(f"compiled in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


#: ``stopped``: the main process's flag, set on its first signal (a worker it has not
#: reached yet sees it too), after which a worker starts no further run.
_WORKER = {}


def _worker_stop(signum, frame):  # a signal between two runs (during one, the runner's)
    shared = _WORKER.get("stopped")
    if shared is None or not shared.value or os.getppid() != _WORKER.get("parent"):
        # not forwarded by the main process: the pool ending its workers after one died
        # (it waits for them), or the main process is gone; nothing is running here
        os._exit(128 + signum)
    # a run this worker is about to start (its handlers not yet installed) stops before
    # it simulates anything, instead of going on to its end
    recording.defer(signal.Signals(signum).name)


def _worker_init(counter, lock, ready, stopped):
    # its own process group: a terminal's Ctrl-C reaches the main process only, which
    # forwards it once (a worker that got it twice would abort its run)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    if sys.platform.startswith("linux"):  # SIGTERM (a clean stop) if the main process dies
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, _worker_stop)
    signal.signal(signal.SIGTERM, _worker_stop)
    _WORKER["stopped"] = stopped
    _WORKER["parent"] = os.getppid()
    with lock:
        counter.value += 1
        os.environ["DOPASIM_BUILD_SLOT"] = str(counter.value)
        ready[counter.value - 1] = os.getpid()  # the main process may forward signals now


def _one_in_worker(job):
    t0 = time.perf_counter()
    shared = _WORKER.get("stopped")
    if shared is not None and shared.value:
        return {**job, "interrupted": "not started", "wall_s": 0.0}
    try:
        return execution.run_one({**job, "slot": int(os.environ.get("DOPASIM_BUILD_SLOT", "0"))})
    except KeyboardInterrupt as e:  # runner.Interrupted: the run is written as interrupted
        if shared is not None and not shared.value:
            # a signal the main process did not send (the pool ending its workers after
            # one died): the run is written; this worker ends without answering
            os._exit(1)
        return {**job, "interrupted": str(e), "wall_s": time.perf_counter() - t0}


def _run_pool(todo, jobs, progress, work=None):
    """Run ``todo`` on ``jobs`` worker processes; ``progress(result)`` for each result.

    ``work`` (default: one run per job) is what a worker does with a job (a test's
    stand-in; it must be importable by a spawned process).

    A SIGINT or SIGTERM to this process is forwarded to every worker (once per signal:
    the second aborts their runs), the runs not started are cancelled (a worker starts
    none after the first signal), and those in progress are awaited. Returns the first
    signal's name, or None.
    """
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    from dopasim.recording import Interrupt

    ctx = mp.get_context("spawn")
    counter, lock = ctx.Value("i", 0), ctx.Lock()
    ready = ctx.RawArray("i", jobs)  # the workers' pids, once they handle signals
    stopped = ctx.RawValue("i", 0)
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(counter, lock, ready, stopped),
    ) as pool:
        # CPython (3.12, 3.13) spawns a worker per submit while its manager thread waits
        # on the sentinels of the workers it already knows: a worker spawned after that
        # which dies goes unnoticed until the next wake-up (another run's end, minutes
        # later). Spawning every worker at the first submit, as the pool does under
        # fork, makes a dead worker break the pool at once.
        if hasattr(pool, "_safe_to_dynamically_spawn_children"):
            pool._safe_to_dynamically_spawn_children = False

        def forward():
            stopped.value = 1
            sig = signal.Signals[stop.signal]
            for pid in list(ready):
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)

        stop = Interrupt(forward, forward, raise_on_second=False)
        with stop:
            pending = {pool.submit(work or _one_in_worker, job) for job in todo}
            cancelled = False
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in done:
                    if f.cancelled():
                        continue
                    try:
                        progress(f.result())
                    except BrokenProcessPool:
                        if not stop.requested:
                            raise
                if stop.requested and not cancelled:
                    for f in pending:
                        f.cancel()
                    cancelled = True
            return stop.signal


def compare(
    protocol,
    scenarios,
    seeds=3,
    jobs=1,
    out=None,
    params=None,
    device="cpp_standalone",
    overwrite=False,
    quiet=False,
    headline=None,
    force=False,
    scheduler="local",
    resume=False,
    retry_failed=False,
    retries=2,
    cluster=None,
):
    """Run ``protocol`` under each scenario for seeds 1..``seeds``; write the tables.

    Returns a dict with ``out`` (the folder), ``rows`` (comparison.csv), ``per_seed`` and
    ``failures``. Every input is validated before anything runs or is created, and the
    memory of ``jobs`` runs at once is checked (`dopasim.memory`; ``force`` overrides).
    ``scheduler`` is ``local`` (worker processes here), ``dask``, ``tcp://HOST:PORT`` or
    a batch system (`dopasim.execution`; ``cluster``: the dask-jobqueue settings).
    ``resume`` keeps the runs of ``out`` that are complete for the same plan and reruns
    the others (failed ones only with ``retry_failed``).
    """
    from dopasim import memory, runner

    t_start = time.perf_counter()
    seeds = option("seeds", seeds, "--seeds")
    jobs = option("jobs", jobs, "--jobs")
    retries = option("retries", retries, "--retries")
    scheduler = execution.parse_scheduler(scheduler)
    if not scenarios:
        raise ParamError("--scenario: give at least one scenario (the first is the reference)")
    specs = [describe(parse_scenarios(s)) for s in scenarios]
    if len(set(specs)) != len(specs):
        dup = next(s for s in specs if specs.count(s) > 1)
        raise ParamError(f"--scenario: '{dup}' is given twice")
    # validate the protocol, its parameters and each scenario without creating anything
    for spec in specs:
        module, p, *_ = runner.prepare(protocol, params, 1, device, None, False, spec)
        memory.check(module, p, force, copies=min(jobs, seeds * len(specs)))
    module = runner.get_protocol(protocol)
    if resume and not out:
        raise ParamError("--resume: give the comparison's folder with --out")
    out = Path(out) if out else _default_out(module)
    if resume:
        if not (out / "runs").is_dir():
            raise ParamError(f"--resume: '{out}' holds no runs of a comparison")
    else:
        rundir.check_writable(out, overwrite)
    todo = [
        {
            "protocol": module.NAME,
            "params": dict(params or {}),
            "seed": seed,
            "device": device,
            "scenario": spec,
            "out": str(out / "runs" / _slug(spec) / f"seed{seed}"),
            "overwrite": overwrite,
            "force": True,  # checked above, for the runs at once
        }
        for spec in specs
        for seed in range(1, seeds + 1)
    ]
    # what is there already (--resume): checked in full before anything runs
    kept = []
    if resume:
        todo, kept = execution.resume_plan(todo, retry_failed)
    results, interrupted, sig = execute(
        todo,
        kept,
        out,
        scheduler,
        jobs,
        retries,
        cluster,
        quiet,
        create=not resume,
        overwrite=overwrite,
    )
    if sig is not None:
        from dopasim.runner import Interrupted

        raise Interrupted(
            _interrupted_text("comparison", sig, len(todo) + len(kept), results, interrupted, out),
            out,
        )

    per_seed = {(r["scenario"], r["seed"]): r["metrics"] for r in results if "metrics" in r}
    failures = sorted(
        (r for r in results if "error" in r), key=lambda r: (specs.index(r["scenario"]), r["seed"])
    )
    record_ = {
        "protocol": module.NAME,
        "scenarios": specs,
        "seeds": list(range(1, seeds + 1)),
        "params": {k: str(v) for k, v in (params or {}).items()},
        "device": device,
        "jobs": jobs,
        "scheduler": scheduler,
        "n_runs": len(todo) + len(kept),
        "n_kept": len(kept),
        "n_failed": len(failures),
        "run_wall_s": {f"{r['scenario']}/seed{r['seed']}": r["wall_s"] for r in results},
    }
    rows = _write_outputs(out, module, specs, per_seed, failures, headline, record_, t_start)
    return {
        "out": out,
        "rows": rows,
        "per_seed": per_seed,
        "failures": failures,
        "kept": len(kept),
        "ran": len(todo),
    }


def execute(
    todo, kept, out, scheduler, jobs, retries, cluster, quiet, create, overwrite, before_runs=None
):
    """Run the jobs of ``todo`` (``kept``: results read back by ``--resume``) on
    ``scheduler``; returns (results, interrupted results, the signal's name or None).

    On Dask the workers are checked first (`dopasim.execution.preflight`); the output
    folder ``out`` is created (``create``) only after that, then ``before_runs()`` is
    called.
    """
    results, interrupted = [], []
    progress = execution.Progress(len(todo) + len(kept), quiet)

    def record(r):
        if "interrupted" in r:  # a worker's run, stopped by a signal
            interrupted.append(r)
            r = {**r, "error": f"interrupted: {r['interrupted']}"}
        results.append(r)
        progress(r)

    sig = None
    if not todo:  # --resume found every run: no cluster to start (or to queue for)
        scheduler = "local"
    with execution.client_for(scheduler, jobs, retries, cluster, quiet) as client:
        if client is not None:
            execution.preflight(client, out)
        if create:
            rundir.prepare_run_dir(out, overwrite)
        if before_runs is not None:  # e.g. a sweep's plan.csv
            before_runs()
        for r in kept:
            record(r)
        if client is not None:
            sig = execution.run_on_dask(client, todo, record)
        elif jobs == 1 or len(todo) <= 1:
            for job in todo:
                record(execution.run_one(job))
        elif todo:
            if todo[0]["device"] == "cpp_standalone":
                _compile_once(todo[0], jobs, quiet)
            sig = _run_pool(todo, jobs, record)
    return results, interrupted, sig


def _interrupted_text(what, sig, total, results, interrupted, out):
    n_done = sum("metrics" in r for r in results)
    n_stopped = sum(r["interrupted"] != "not started" for r in interrupted)
    n_not = total - len(results) + len(interrupted) - n_stopped
    return (
        f"{what} interrupted ({sig}): {n_done} of {total} runs complete (kept in "
        f"{out / 'runs'}; --resume goes on), {n_stopped} interrupted, {n_not} not started; "
        "no tables written"
    )


class RunSetError(ParamError):
    """Run directories that cannot be compared; ``problems`` holds one line per problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


#: What `compare_runs` checks across runs: the model version (dopasim holds the models,
#: Brian2 integrates them) and, in `_dt_values`, the integration time step.
_VERSION_FIELDS = ("dopasim", "brian2")


def _is_dt_name(key):
    """A parameter that is an integration time step: ``dt``, ``x.dt``, ``clock_dt``, ..."""
    return str(key).rsplit(".", 1)[-1].lower().endswith("dt")


def _dt_values(parameters, prefix=""):
    """{dotted name: [values]} of every dt-like entry of metadata's ``parameters``.

    Nested tables are searched too (``circuit.dt`` is written both as a flat key and
    inside the ``circuit`` table); both spellings land under the one dotted name.
    """
    found = {}
    if not isinstance(parameters, dict):
        return found
    for key, value in parameters.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            for n, vs in _dt_values(value, name + ".").items():
                found.setdefault(n, []).extend(vs)
        elif _is_dt_name(key):
            found.setdefault(name, []).append(value)
    return found


def _dt_key(values):
    """A comparable form of one run's values of a dt entry ('0.5 ms' == '500 us')."""
    from brian2 import second

    from dopasim.params import parse_quantity

    out = set()
    for v in values:
        try:
            if isinstance(v, bool) or v is None:
                raise ValueError
            x = (
                float(v)
                if isinstance(v, int | float)
                else float(parse_quantity(v, second) / second)
            )
            out.add(float(f"{x:.12g}"))
        except (ParamError, ValueError, TypeError):
            out.add(repr(v))
    return tuple(sorted(out, key=repr))


def _show(values):
    if values is None:
        return "(missing)"
    if isinstance(values, list):
        return " / ".join(dict.fromkeys(str(v) for v in values)) or "(missing)"
    return str(values)


def _names(runs, most=4):
    names = [f"'{r['dir']}'" for r in runs]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _differences(runs, get, key=None):
    """None when every run agrees on ``get(run)``; else [(value, [runs])] in order of
    first appearance (the first run's value first). ``key`` makes values comparable."""
    groups = {}
    for r in runs:
        raw = get(r)
        k = key(raw) if key else repr(raw)
        groups.setdefault(k, (raw, []))[1].append(r)
    return list(groups.values()) if len(groups) > 1 else None


def _describe(field, groups):
    """'FIELD differs: 'a' in 'run1', 'run2'; 'b' in 'run3''."""
    return f"{field} differs: " + "; ".join(
        f"{_show(raw)!r} in {_names(members)}" for raw, members in groups
    )


def _read_run(path):
    """(run, None) for a run directory, or (None, problem) for anything else.

    Only metadata.json and metrics.json are read: a comparison needs no spike data.
    """
    import json

    shown = str(path)
    path = Path(path)
    if not path.exists():
        return None, f"--runs: '{shown}' does not exist"
    if not path.is_dir():
        return None, f"--runs: '{shown}' is not a directory (give run directories)"
    found = {}
    for name in ("metadata.json", "metrics.json"):
        f = path / name
        if not f.is_file():
            return None, (
                f"--runs: '{shown}' is not a run directory (no {name}; a run directory is "
                "written by 'dopasim run')"
            )
        try:
            found[name] = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as e:
            return None, f"--runs: '{shown}/{name}' cannot be read ({e})"
        if not isinstance(found[name], dict):
            return None, f"--runs: '{shown}/{name}' is not a JSON object"
    meta = found["metadata.json"]
    missing = [k for k in ("protocol", "scenario", "seed", "status") if k not in meta]
    if missing:
        return None, (
            f"--runs: '{shown}' is not a run directory (metadata.json lacks {', '.join(missing)})"
        )
    if isinstance(meta["seed"], bool) or not isinstance(meta["seed"], int):
        return None, f"--runs: '{shown}/metadata.json': seed {meta['seed']!r} is not an integer"
    return {"dir": shown, "path": path, "meta": meta, "metrics": found["metrics.json"]}, None


def compare_runs(
    run_dirs, out=None, overwrite=False, allow_mismatch=False, quiet=False, headline=None
):
    """Compare run directories written earlier by ``dopasim run`` (or ``compare``).

    The runs are grouped by their scenario and seed (from metadata.json); the first
    scenario in the order given is the reference of the paired differences. Writes the
    same files as `compare` (without ``failures.csv``) into ``out``, default
    ``runs/compare/<protocol>-<time>``.

    Everything is checked before anything is created; every problem found is raised at
    once as a `RunSetError` (a `ParamError`, CLI exit code 2): a path that is no run
    directory, a run whose status is not ``complete``, two runs of the same scenario and
    seed, runs of different protocols, and runs whose integration time step (every
    parameter whose name ends with ``dt``: ``dt``, ``circuit.dt``, ``clock_dt``; nested
    tables included; compared as durations, '0.5 ms' == '500 us') or model version
    (``versions.dopasim``, ``versions.brian2``) differ. With ``allow_mismatch`` the last
    two are warnings on stderr instead, and are listed under ``mismatches`` in
    compare.json.

    Returns a dict with ``out``, ``rows`` (comparison.csv), ``per_seed``, ``failures``
    (always empty) and ``mismatches``.
    """
    from dopasim import runner

    t_start = time.perf_counter()
    run_dirs = [run_dirs] if isinstance(run_dirs, str | os.PathLike) else list(run_dirs or [])
    if not run_dirs:
        raise ParamError("--runs: give at least one run directory")
    problems, runs = [], []
    for d in run_dirs:
        run, problem = _read_run(d)
        if problem:
            problems.append(problem)
        else:
            runs.append(run)

    protocol = _differences(runs, lambda r: r["meta"]["protocol"])
    if protocol:
        problems.append(
            "--runs: " + _describe("protocol", protocol) + " (runs of one protocol only)"
        )
    for r in runs:
        status = r["meta"]["status"]
        if status != "complete":
            why = r["meta"].get("failure")
            problems.append(
                f"--runs: status of '{r['dir']}' is {status!r}"
                + (f" ({why})" if why else "")
                + "; only complete runs can be compared"
            )
    by_key = {}
    for r in runs:
        by_key.setdefault((r["meta"]["scenario"], r["meta"]["seed"]), []).append(r)
    for (scenario, seed), members in by_key.items():
        if len(members) > 1:
            problems.append(
                f"--runs: scenario {scenario!r} seed {seed} is given {len(members)} times: "
                f"{_names(members, most=len(members))}"
            )

    mismatches = []
    if not protocol:  # different protocols have different parameters anyway
        names = list(
            dict.fromkeys(n for r in runs for n in _dt_values(r["meta"].get("parameters")))
        )
        for name in names:
            groups = _differences(
                runs,
                lambda r, n=name: _dt_values(r["meta"].get("parameters")).get(n),
                key=lambda v: _dt_key(v) if v is not None else None,
            )
            if groups:
                mismatches.append((f"dt (parameters.{name})", groups))
    for field in _VERSION_FIELDS:
        groups = _differences(runs, lambda r, f=field: (r["meta"].get("versions") or {}).get(f))
        if groups:
            mismatches.append((f"versions.{field}", groups))
    if not allow_mismatch:
        problems += [
            "--runs: " + _describe(*m) + " (use --allow-mismatch to compare them anyway)"
            for m in mismatches
        ]

    if problems:
        raise RunSetError(problems)
    module = runner.get_protocol(runs[0]["meta"]["protocol"])
    out = Path(out) if out else _default_out(module)
    for r in runs:
        if out.resolve() == r["path"].resolve():
            raise ParamError(f"--out: '{out}' is one of the run directories; choose another")
    out = rundir.prepare_run_dir(out, overwrite)
    for m in mismatches:
        print(f"dopasim: warning: --allow-mismatch: {_describe(*m)}", file=sys.stderr)

    specs = list(dict.fromkeys(r["meta"]["scenario"] for r in runs))
    runs.sort(key=lambda r: (specs.index(r["meta"]["scenario"]), r["meta"]["seed"]))
    per_seed = {(r["meta"]["scenario"], r["meta"]["seed"]): r["metrics"] for r in runs}
    record = {
        "protocol": module.NAME,
        "scenarios": specs,
        "seeds": sorted({s for (_, s) in per_seed}),
        "source": "runs",
        "runs": [
            {
                "dir": str(r["path"].resolve()),
                "scenario": r["meta"]["scenario"],
                "seed": r["meta"]["seed"],
                "device": r["meta"].get("device"),
                "versions": r["meta"].get("versions"),
            }
            for r in runs
        ],
        "n_runs": len(runs),
        "n_failed": 0,
        "mismatches": [
            {
                "field": field,
                "values": [
                    {"value": _show(raw), "runs": [r["dir"] for r in members]}
                    for raw, members in groups
                ],
            }
            for field, groups in mismatches
        ],
    }
    rows = _write_outputs(out, module, specs, per_seed, [], headline, record, t_start)
    if not quiet:
        print(f"compared {len(runs)} runs of {len(specs)} scenario(s)", file=sys.stderr)
    return {
        "out": out,
        "rows": rows,
        "per_seed": per_seed,
        "failures": [],
        "mismatches": record["mismatches"],
    }


def _write_outputs(out, module, specs, per_seed, failures, headline, record, t_start):
    """The tail shared by `compare` and `compare_runs`: tables, figures, compare.json.

    ``record`` holds compare.json's own entries; the wall time, the figures and the
    versions of this process are added. Returns the rows of comparison.csv.
    """
    seeds = sorted({s for (_, s) in per_seed} | {f["seed"] for f in failures})
    rows = summarize(per_seed, specs) if per_seed else []
    _write_tables(out, specs, seeds, per_seed, rows, failures)
    figures = _figures(out, module, specs, per_seed, rows, headline)
    rundir.write_json(
        out / "compare.json",
        {
            **record,
            "wall_s": time.perf_counter() - t_start,
            "figures": figures,
            "versions": _versions(),
            "provenance": provenance.collect(),
        },
    )
    return rows


def _versions():
    import brian2

    from dopasim._version import __version__

    return {"dopasim": __version__, "brian2": brian2.__version__, "numpy": np.__version__}


def _csv_bytes(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_fmt(v) for v in r])
    return buf.getvalue().encode()


def _fmt(v):
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return v


def _seed_text(seeds):
    """'1-3' for a run of consecutive seeds, else '1, 4, 7'."""
    if seeds and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _write_tables(out, specs, seeds, per_seed, rows, failures):
    """per_seed.csv, comparison.csv, comparison.md (and failures.csv); ``seeds`` is a list."""
    flat = [
        (sc, seed, k, v)
        for sc in specs
        for seed in seeds
        for k, v in per_seed.get((sc, seed), {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    rundir.atomic_write_bytes(
        out / "per_seed.csv", _csv_bytes(("scenario", "seed", "metric", "value"), flat)
    )
    header = (
        "scenario", "metric", "mean", "ci_low", "ci_high", "n",
        "diff_mean", "diff_ci_low", "diff_ci_high", "effect_dz", "n_pairs",
    )  # fmt: skip
    rundir.atomic_write_bytes(
        out / "comparison.csv", _csv_bytes(header, [[r[h] for h in header] for r in rows])
    )
    if failures:
        rundir.atomic_write_bytes(
            out / "failures.csv",
            _csv_bytes(
                ("scenario", "seed", "error"),
                [(f["scenario"], f["seed"], f["error"]) for f in failures],
            ),
        )
    lines = [
        f"# Comparison: {', '.join(specs)}",
        "",
        f"Paired seeds {_seed_text(seeds)}; mean [95 % CI] (n); the difference is paired against "
        f"`{specs[0]}`, with Cohen's d_z.",
        "",
        "| metric | scenario | mean [95 % CI] | n | diff vs first [95 % CI] | d_z |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["metric"], specs.index(r["scenario"]))):
        lines.append(
            f"| {r['metric']} | {r['scenario']} | {r['mean']:.4g} "
            f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}] | {r['n']} | "
            + (
                "- | - |"
                if r["scenario"] == specs[0]
                else f"{r['diff_mean']:+.4g} [{r['diff_ci_low']:.4g}, {r['diff_ci_high']:.4g}]"
                f" | {r['effect_dz']:.3g} |"
            )
        )
    if failures:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {f['scenario']} seed {f['seed']}: {f['error']}" for f in failures]
    rundir.atomic_write_bytes(out / "comparison.md", ("\n".join(lines) + "\n").encode())


def error_bars(stats, bounds=None):
    """Means and the lower and upper error-bar lengths of summary rows, for a figure.

    A t interval from few seeds can reach beyond the values a metric can take (a
    fraction's CI from 2 seeds spanned -5.9 to 6.9), which would stretch the axis until
    the data are unreadable. With ``bounds`` (lo, hi) the drawn bars stop at the bounds;
    ``clipped`` says whether any did. comparison.csv keeps the intervals as computed.
    """
    means = np.array([r["mean"] for r in stats], dtype=float)
    low = np.array([r["ci_low"] for r in stats], dtype=float)
    high = np.array([r["ci_high"] for r in stats], dtype=float)
    clipped = False
    if bounds is not None:
        with np.errstate(invalid="ignore"):
            clipped = bool(np.any(low < bounds[0]) or np.any(high > bounds[1]))
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    return means, means - low, high - means, clipped


def _figures(out, module, specs, per_seed, rows, headline):
    if not per_seed:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = headline or module.HEADLINE_METRICS or None
    ranges = module.METRIC_RANGES
    available = {r["metric"] for r in rows}
    names = [m for m in (names or sorted(available)) if m in available]
    seeds = sorted({s for (_, s) in per_seed})
    made = []
    x = np.arange(len(specs))
    for metric in names:
        fig, ax = plt.subplots(figsize=(max(4.8, 1.2 + 1.3 * len(specs)), 3.8))
        for s in seeds:
            ys = [per_seed.get((sc, s), {}).get(metric, np.nan) for sc in specs]
            ax.plot(x, ys, "-o", color="0.75", lw=0.8, ms=3, zorder=1)
        stats = {r["scenario"]: r for r in rows if r["metric"] == metric}
        bounds = ranges.get(metric)
        means, lo, hi, clipped = error_bars([stats[sc] for sc in specs], bounds)
        ax.errorbar(x, means, yerr=[lo, hi], fmt="s", color="C3", capsize=4, zorder=2)
        ax.set_xticks(x, specs, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(metric)
        title = f"{metric}\n(grey: paired seeds; red: mean, 95 % CI"
        if clipped:
            # the bars stop at the bounds: show the whole range, not beyond it
            pad = 0.05 * (bounds[1] - bounds[0])
            ax.set_ylim(bounds[0] - pad, bounds[1] + pad)
            title += f", drawn within [{bounds[0]:g}, {bounds[1]:g}]"
        ax.set_title(title + ")", fontsize=9)
        fig.tight_layout()
        path = out / f"{metric}.png"
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        rundir.atomic_write_bytes(path, buf.getvalue())
        made.append(path.name)
    return made

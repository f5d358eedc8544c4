"""``dopasim sweep SWEEP.toml``: every run of a sweep file's plan, then its tables.

The plan (`dopasim.sweepfile`) is checked in full first; ``plan.csv`` is written before
anything runs. The runs execute where ``--scheduler`` says (`dopasim.execution`) and
land in ``runs/<protocol>/<scenario>[/<params>]/seed<k>``. Then, from the runs that
completed:

``results.csv``
    Tidy: one row per run and metric, with the grid coordinates as columns
    (``protocol, scenario, seed, point, <grid keys>, metric, value``).
``<protocol>/comparison.csv``, ``.md``, ``per_seed.csv``, ``compare.json``
    Per protocol, every grid point against the reference (the sweep's ``reference``,
    else the first grid point), with paired differences over seeds
    (`dopasim.comparison`).
``<protocol>/<metric>-vs-<key>.png``
    Each headline metric against each numeric grid coordinate: the paired difference
    from the reference, mean and 95 % interval over seeds (the metric itself without a
    reference), one line per value of the other coordinates.
``failures.csv``, ``sweep.json``
    The runs that failed (one row each, never retried) and the sweep's record (plan,
    counts, scheduler, versions, wall time).

``--resume`` keeps the complete runs of the same plan (see `dopasim.execution`).
"""

import io
import json
import time
from pathlib import Path

import numpy as np

from dopasim import comparison, execution, provenance, rundir
from dopasim.options import option
from dopasim.params import ParamError

__all__ = ["run_sweep", "write_plan"]


def _jobs(plan, out, overwrite):
    return [
        {
            "protocol": r.protocol,
            "params": dict(r.params),
            "seed": r.seed,
            "device": plan.device,
            "scenario": r.scenario,
            "out": str(Path(out) / r.relpath),
            "overwrite": overwrite,
            "force": True,
            "point": r.point,
            "coords": dict(r.coords),
            "index": i,
        }
        for i, r in enumerate(plan.runs)
    ]


def write_plan(plan, path):
    """``plan.csv``: one row per run (`dopasim.sweepfile.plan_rows`)."""
    from dopasim.sweepfile import plan_rows

    header, rows = plan_rows(plan)
    rundir.atomic_write_bytes(Path(path), comparison._csv_bytes(header, rows))


def _labels(plan):
    """Each run's name in the per-protocol tables (by plan index): its scenario, and the
    grid coordinates when the scenario alone does not tell the points apart."""
    points = {}
    for r in plan.runs:
        if r.point >= 0:
            points.setdefault((r.protocol, r.scenario), set()).add(r.point)
    out = []
    for r in plan.runs:
        if r.point < 0:
            out.append(f"reference: {r.scenario}")
        elif len(points[(r.protocol, r.scenario)]) <= 1:
            out.append(r.scenario)
        else:
            coords = " ".join(f"{k}={v}" for k, v in r.coords.items())
            out.append(f"{r.scenario} [{coords}]")
    return out


def run_sweep(
    plan,
    out=None,
    jobs=1,
    scheduler="local",
    resume=False,
    retry_failed=False,
    retries=2,
    overwrite=False,
    quiet=False,
    force=False,
):
    """Run every run of ``plan`` (a `dopasim.sweepfile.SweepPlan`) and write the tables.

    Returns a dict with ``out``, ``failures`` (results), ``kept`` and ``ran`` (counts).
    """
    from dopasim import memory, runner

    t_start = time.perf_counter()
    jobs = option("jobs", jobs, "--jobs")
    retries = option("retries", retries, "--retries")
    scheduler = execution.parse_scheduler(scheduler)
    out = Path(out or plan.out or Path("runs") / "sweeps" / plan.name)
    # the memory of `jobs` runs at once, for every distinct run (a grid may scale it)
    seen = set()
    for r in plan.runs:
        key = (r.protocol, r.scenario, tuple(sorted(r.params.items())))
        if key in seen:
            continue
        seen.add(key)
        module, p, *_ = runner.prepare(
            r.protocol, r.params, 1, plan.device, None, False, r.scenario
        )
        memory.check(module, p, force, copies=min(jobs, len(plan.runs)))
    if resume:
        if not (out / "plan.csv").exists():
            raise ParamError(f"--resume: '{out}' holds no sweep (no plan.csv)")
    else:
        rundir.check_writable(out, overwrite)
    todo = _jobs(plan, out, overwrite)
    kept = []
    if resume:
        todo, kept = execution.resume_plan(todo, retry_failed)
    if scheduler in execution.BATCH_SYSTEMS:
        from dopasim import hpc

        hpc.check_cluster_table(scheduler, plan.cluster)

    results, interrupted, sig = comparison.execute(
        todo,
        kept,
        out,
        scheduler,
        jobs,
        retries,
        plan.cluster,
        quiet,
        create=not resume,
        overwrite=overwrite,
        before_runs=lambda: write_plan(plan, out / "plan.csv"),
    )
    if sig is not None:
        from dopasim.runner import Interrupted

        raise Interrupted(
            comparison._interrupted_text(
                "sweep", sig, len(todo) + len(kept), results, interrupted, out
            ),
            out,
        )
    failures = [r for r in results if "error" in r]
    _write_results(out, plan, results)
    _write_failures(out, failures)
    for protocol in plan.protocols:
        _per_protocol(out, plan, protocol, [r for r in results if r["protocol"] == protocol])
    rundir.write_json(
        out / "sweep.json",
        {
            "name": plan.name,
            "protocols": list(plan.protocols),
            "grid": list(plan.grid_keys),
            "points": [dict(p) for p in plan.points],
            "seeds": list(plan.seeds),
            "reference": plan.reference,
            "device": plan.device,
            "scheduler": scheduler,
            "jobs": jobs,
            "n_runs": len(todo) + len(kept),
            "n_kept": len(kept),
            "n_failed": len(failures),
            "wall_s": time.perf_counter() - t_start,
            "versions": comparison._versions(),
            "provenance": provenance.collect(),
            "runs": _manifest(out, results),
            "file": plan.source,
        },
    )
    return {"out": out, "failures": failures, "kept": len(kept), "ran": len(todo)}


def _manifest(out, results):
    """Per run: its folder, status, host (Dask) and the SHA-256 of its spikes.npz."""
    rows = []
    for r in sorted(results, key=lambda r: r["index"]):
        entry = {"out": str(Path(r["out"]).relative_to(out)), "ok": "metrics" in r}
        if r.get("host"):
            entry["host"] = r["host"]
        try:
            meta = json.loads((Path(r["out"]) / "metadata.json").read_text())
            entry["spikes_sha256"] = meta.get("outputs", {}).get("spikes.npz", {}).get("sha256")
        except (OSError, ValueError):
            pass
        rows.append(entry)
    return rows


def _write_results(out, plan, results):
    keys = list(plan.grid_keys)
    header = ["protocol", "scenario", "seed", "point", *keys, "metric", "value"]
    rows = []
    for r in sorted(results, key=lambda r: r["index"]):
        for metric, value in (r.get("metrics") or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            coords = [r["coords"].get(k, "") for k in keys]
            rows.append(
                [r["protocol"], r["scenario"], r["seed"], r["point"], *coords, metric, value]
            )
    rundir.atomic_write_bytes(out / "results.csv", comparison._csv_bytes(header, rows))


def _write_failures(out, failures):
    header = ["protocol", "scenario", "seed", "point", "out", "error"]
    rows = [
        [f["protocol"], f["scenario"], f["seed"], f["point"], f["out"], f["error"].splitlines()[0]]
        for f in sorted(failures, key=lambda f: f["index"])
    ]
    rundir.atomic_write_bytes(out / "failures.csv", comparison._csv_bytes(header, rows))


def _per_protocol(out, plan, protocol, results):
    from dopasim import runner

    module = runner.get_protocol(protocol)
    folder = out / protocol
    folder.mkdir(parents=True, exist_ok=True)
    names = _labels(plan)
    labels = []
    for i, r in enumerate(plan.runs):
        if r.protocol == protocol and names[i] not in labels:
            labels.append(names[i])
    per_seed = {(names[r["index"]], r["seed"]): r["metrics"] for r in results if "metrics" in r}
    failures = [{**f, "scenario": names[f["index"]]} for f in results if "error" in f]
    record = {"protocol": protocol, "labels": labels, "seeds": list(plan.seeds)}
    rows = comparison._write_outputs(
        folder, module, labels, per_seed, failures, None, record, time.perf_counter()
    )
    _grid_figures(folder, module, plan, results, rows)


def _templates(plan):
    """Per run (by plan index): which of the file's scenarios it fills, as written in
    the file (else its first grid point's SPEC)."""
    order = {}
    for r in plan.runs:
        if r.point >= 0:
            order.setdefault((r.protocol, r.point), []).append(r.scenario)
    first = {}
    out = []
    for r in plan.runs:
        if r.point < 0:
            out.append("reference")
            continue
        scen = list(dict.fromkeys(order[(r.protocol, r.point)]))
        k = scen.index(r.scenario)
        given = plan.source.get("scenarios")
        given = [given] if isinstance(given, str) else given
        if isinstance(given, list) and len(given) == len(scen):
            first.setdefault((r.protocol, k), str(given[k]))  # as written: loss={loss}
        first.setdefault((r.protocol, k), r.scenario)
        out.append(first[(r.protocol, k)])
    return out


def _number(v):
    """A grid coordinate as a number: 0.25, or the number of "3 s"; None otherwise."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return v
    try:
        return float(str(v).split()[0])
    except (ValueError, IndexError):
        return None


def _grid_figures(folder, module, plan, results, rows):
    """Each headline metric against each numeric grid coordinate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if "metrics" in r]
    if not ok or not plan.grid_keys:
        return []
    names = module.HEADLINE_METRICS or sorted(
        {k for r in ok for k, v in r["metrics"].items() if isinstance(v, int | float)}
    )
    ref = {r["seed"]: r["metrics"] for r in ok if r["point"] < 0}
    templates = _templates(plan)
    multi = int(
        len({r.scenario for r in plan.runs if r.point >= 0 and r.protocol == module.NAME}) > 1
    )
    made = []
    for metric in names:
        for key in plan.grid_keys:
            values = [_number(p.get(key)) for p in plan.points]
            if any(v is None for v in values):
                continue  # a coordinate that is not a number (or a number with a unit)
            others = [k for k in plan.grid_keys if k != key]
            groups = {}
            for r in ok:
                if r["point"] < 0:
                    continue
                tag = (("scenario", templates[r["index"]]),) * multi
                tag += tuple((k, r["coords"].get(k)) for k in others)
                groups.setdefault(tag, {}).setdefault(_number(r["coords"][key]), []).append(r)
            fig, ax = plt.subplots(figsize=(5.2, 3.6))
            for i, (tag, by_x) in enumerate(sorted(groups.items(), key=lambda g: str(g[0]))):
                xs, means, los, his = [], [], [], []
                for x in sorted(by_x):
                    if ref:
                        d = [
                            comparison._num(r["metrics"].get(metric))
                            - comparison._num(ref[r["seed"]].get(metric))
                            for r in by_x[x]
                            if r["seed"] in ref
                        ]
                    else:
                        d = [comparison._num(r["metrics"].get(metric)) for r in by_x[x]]
                    m, lo, hi, n = comparison._mean_ci(d)
                    if n == 0:
                        continue
                    xs.append(x)
                    means.append(m)
                    los.append(m - lo if np.isfinite(lo) else 0.0)
                    his.append(hi - m if np.isfinite(hi) else 0.0)
                label = " ".join(str(v) if k == "scenario" else f"{k}={v}" for k, v in tag) or None
                ax.errorbar(
                    xs, means, yerr=[los, his], fmt="-o", capsize=3, color=f"C{i}", label=label
                )
            if ref:
                ax.axhline(0, color="0.6", lw=0.8)
            unit = str(plan.points[0].get(key)).partition(" ")[2]
            ax.set_xlabel(f"{key} ({unit})" if unit else key)
            ax.set_ylabel(f"{metric} - reference" if ref else metric)
            what = "paired difference from the reference" if ref else "mean"
            ax.set_title(f"{metric}\n{what}, 95 % CI over seeds", fontsize=9)
            if len(groups) > 1:
                ax.legend(fontsize=7)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
            plt.close(fig)
            path = folder / f"{metric}-vs-{key}.png"
            rundir.atomic_write_bytes(path, buf.getvalue())
            made.append(path.name)
    return made


def dry_run(plan, out=None, overwrite=False):
    """Write ``plan.csv`` (and nothing else) into the sweep's folder; returns its path."""
    out = Path(out or plan.out or Path("runs") / "sweeps" / plan.name)
    rundir.check_writable(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    write_plan(plan, out / "plan.csv")
    rundir.write_json(
        out / "sweep.json",
        {"name": plan.name, "dry_run": True, "n_runs": len(plan.runs), "file": plan.source},
    )
    return out / "plan.csv"

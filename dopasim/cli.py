"""The ``dopasim`` command.

Subcommands: list, run, compare, export, validate (a TOML config, see `dopasim.config`)
and doctor (versions, compiler, devices, caches).

Exit codes: 0 done, 1 some runs of a comparison failed (the others are written) or an
export failed while writing (disk full...; completed files are kept), 2 bad input (one
line on stderr, nothing created), 3 numerical failure, 130 interrupted.
"""

import argparse
import contextlib
import json
import sys
from pathlib import Path

from dopasim.execution import LostScheduler
from dopasim.options import OPTIONS
from dopasim.params import ParamError
from dopasim.protocols import get_protocol
from dopasim.runner import NumericalFailure

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_NUMERICAL = 3  # the run is written, marked failed
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: the run is written up to the time reached


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit code 2, no usage dump
        raise ParamError(message)


def _help(name):
    """An option's help from its declaration (`dopasim.options`)."""
    p = OPTIONS[name]
    return f"{p.help}: {p.allowed()} (default {p.default_text()})"


def _common(p, scenario_help):
    """The arguments shared by ``run`` and ``compare``."""

    p.add_argument("protocol", nargs="?", help="protocol name (see 'dopasim list')")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="take the settings from a TOML file (see docs/config.md); only --out, "
        "--overwrite, --quiet, --export (and for run --no-figures) may be added",
    )
    p.add_argument("--scenario", action="append", default=[], help=scenario_help)
    p.add_argument("--duration", help="simulated time (per run), with a unit, e.g. 600s")
    p.add_argument("--device", help=_help("device"))
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="protocol parameter (repeatable)",
    )
    _output_flags(p)


def _output_flags(p):
    """--overwrite, --quiet and --force (run, compare, sweep)."""
    p.add_argument("--overwrite", action="store_true", help="replace existing output")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument(
        "--force",
        action="store_true",
        help="run even when the memory estimate exceeds the available RAM (warns)",
    )


def _scheduling(p):
    """Where the runs execute, and what happens to those already there."""
    p.add_argument("--scheduler", help=_help("scheduler") + " (default local)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs of --out that are complete for the same plan; run the rest",
    )
    p.add_argument("--retry-failed", action="store_true", help=_help("retry_failed"))
    p.add_argument("--retries", help=_help("retries") + " (default 2)")


def _parser():
    ap = _Parser(prog="dopasim", description="Simulate the brain's reward system (Brian2).")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("list", help="protocols and scenarios, one line each")
    r = sub.add_parser("run", help="run one protocol")
    _common(r, "scenario SPEC, e.g. parkinson:loss=0.75 (repeat or join with + to compose)")
    r.add_argument("--seed", help=_help("seed"))
    r.add_argument("--out", help="run directory (default: runs/<protocol>/<time>-seed<k>)")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument(
        "--chunk",
        help="save the spikes every this much simulated time (default 10s): a hard kill "
        "loses at most one chunk",
    )
    r.add_argument(
        "--export",
        metavar="FORMAT,...",
        help="also write the spikes as nwb, sonata, csv and/or npz (comma-separated)",
    )
    c = sub.add_parser("compare", help="one protocol under several scenarios, paired seeds")
    _common(c, "scenario SPEC (repeat; the first is the reference)")
    c.add_argument("--seeds", help=_help("seeds"))
    c.add_argument("--jobs", help=_help("jobs"))
    c.add_argument("--out", help="output folder (default: runs/compare/<protocol>-<time>)")
    _scheduling(c)
    c.add_argument(
        "--runs",
        nargs="+",
        metavar="DIR",
        help="compare these existing run directories instead of running (scenario and seed "
        "from their metadata; the first scenario given is the reference)",
    )
    c.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="with --runs: compare runs whose dt or dopasim/Brian2 versions differ (warns)",
    )
    c.add_argument(
        "--export",
        metavar="FORMAT,...",
        help="also write every run's spikes as nwb, sonata, csv and/or npz (comma-separated)",
    )
    w = sub.add_parser("sweep", help="run a sweep file: protocols x grid x seeds (docs/sweeps.md)")
    w.add_argument("file", metavar="SWEEP.toml", help="a sweep file (see docs/sweeps.md)")
    w.add_argument("--out", help="output folder (default: the file's out, else runs/sweeps/<name>)")
    w.add_argument("--jobs", help="workers (local processes, Dask workers or batch jobs)")
    _scheduling(w)
    w.add_argument("--dry-run", action="store_true", help="write plan.csv and stop (nothing runs)")
    _output_flags(w)
    x = sub.add_parser("export", help="write a run's spike raster as NWB, SONATA, CSV or npz")
    x.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'dopasim run'")
    x.add_argument(
        "--format", help="nwb, sonata, csv or npz; several comma-separated, e.g. csv,sonata"
    )
    x.add_argument(
        "--out",
        help="output file (default: spikes.nwb, spikes.sonata.h5, spikes.csv or "
        "spikes_export.npz in RUN_DIR); an existing folder takes the default names",
    )
    x.add_argument("--overwrite", action="store_true", help="replace an existing export")
    v = sub.add_parser("validate", help="check a config or sweep file without simulating")
    v.add_argument(
        "file",
        metavar="FILE",
        help="a config file (docs/config.md) or a sweep file (docs/sweeps.md)",
    )
    d = sub.add_parser("doctor", help="versions, compiler, usable devices and caches")
    d.add_argument(
        "--clear-cache",
        action="store_true",
        help="remove dopasim's compiled cpp_standalone builds (rebuilt when needed)",
    )
    d.add_argument(
        "--clear-cython-cache",
        action="store_true",
        help="remove Brian2's compiled Cython extensions (shared by every Brian2 project "
        "of this user; needs --yes)",
    )
    d.add_argument("--yes", action="store_true", help="confirm --clear-cython-cache")
    return ap


#: Options that a config file replaces (dest -> option as typed); see `_from_config`.
_FILE_SETTINGS = {
    "protocol": "PROTOCOL",
    "scenario": "--scenario",
    "seed": "--seed",
    "seeds": "--seeds",
    "jobs": "--jobs",
    "duration": "--duration",
    "device": "--device",
    "param": "--param",
}


def _from_config(args, kind):
    """Validate ``args.config`` in full (with --out etc. from the command line).

    Returns the config, or None after printing every error (one line each).
    """
    from dopasim.config import validate_config

    given = [
        opt for dest, opt in _FILE_SETTINGS.items() if getattr(args, dest, None) not in (None, [])
    ]
    if given:
        raise ParamError(
            f"--config: {', '.join(given)} cannot be combined with --config (put "
            f"{'it' if len(given) == 1 else 'them'} in '{args.config}'); allowed with "
            "--config: --out, --overwrite, --quiet, --export"
            + (", --no-figures" if kind == "run" else "")
        )
    overrides = {
        "out": args.out,
        "overwrite": True if args.overwrite else None,
        "quiet": True if args.quiet else None,
    }
    if kind == "run":
        overrides.update(figures=False if args.no_figures else None, export=args.export)
    config, errors = validate_config(args.config, overrides)
    if not errors and config["kind"] != kind:
        raise ParamError(
            f"--config: '{args.config}' describes a {config['kind']}; "
            f"run it with 'dopasim {config['kind']} --config {args.config}'"
        )
    for e in errors:
        print(e.format(args.config), file=sys.stderr)
    return None if errors else config


def _need_protocol(args):
    if not args.protocol:
        raise ParamError(
            "PROTOCOL: missing; give a protocol name (see 'dopasim list') or --config FILE"
        )


def _params(args):
    params = {}
    for item in args.param:
        if "=" not in item:
            raise ParamError(f"--param: '{item}' is not KEY=VALUE")
        key, value = item.split("=", 1)
        params[key.strip()] = value.strip()
    if args.duration is not None:
        params["duration"] = args.duration
    return params


def _cmd_list():
    from dopasim.protocols import REGISTRY as PROTOCOLS
    from dopasim.protocols import get_protocol

    print("protocols:")
    for name in PROTOCOLS:
        print(f"  {name:18s} {get_protocol(name).SUMMARY}")
    from dopasim.circuits.scenarios import SCENARIOS

    print("scenarios:")
    for name, sc in SCENARIOS.items():
        print(f"  {name:18s} {sc.summary}")
        for key, p in sc.keys.items():
            print(f"    {key + '=' + p.default_text():22s} {p.help} ({p.allowed()})")
    return 0


def _cmd_run(args):
    from dopasim import runner

    if args.config:
        config = _from_config(args, "run")
        if config is None:
            return EXIT_BAD_INPUT
        from dopasim.config import run_kwargs

        args.export = config["export"]
        kwargs = run_kwargs(config)
        protocol = config["protocol"]
    else:
        _need_protocol(args)
        protocol = args.protocol
        kwargs = dict(
            scenario="+".join(args.scenario) or "intact",
            params=_params(args),
            seed="1" if args.seed is None else args.seed,
            device=args.device or "cpp_standalone",
            out=args.out,
            overwrite=args.overwrite,
            quiet=args.quiet,
            figures=not args.no_figures,
        )
    if args.chunk is not None:
        kwargs["chunk"] = args.chunk
    kwargs["force"] = args.force
    formats = None
    if args.export is not None:  # checked before anything is simulated
        from dopasim.export import check_formats

        formats = check_formats(args.export)
    res = runner.run(protocol, **kwargs)
    m = res.metrics
    print(f"run directory: {res.path}")
    for k, v in m.items():
        print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    if formats:
        return _export(res.path, formats, None, kwargs["overwrite"])
    return 0


def _export(run_dir, formats, out, overwrite):
    from dopasim.export import ExportError, export_runs

    try:
        paths = export_runs(run_dir, formats, out=out, overwrite=overwrite)
    except ExportError as e:  # a write failed (disk full...): not bad input
        done = f"; completed before it: {', '.join(map(str, e.written))}" if e.written else ""
        print(
            f"dopasim: error: export: {e} (nothing written under that name){done}", file=sys.stderr
        )
        return 1
    for p in paths:
        print(f"wrote {p}")
    return 0


def _scheduling_kwargs(args):
    if args.retry_failed and not args.resume:
        raise ParamError("--retry-failed: only with --resume")
    return {
        "scheduler": args.scheduler or "local",
        "resume": args.resume,
        "retry_failed": args.retry_failed,
        "retries": "2" if args.retries is None else args.retries,
    }


def _cmd_compare(args):
    from dopasim.comparison import RunSetError, compare, compare_runs
    from dopasim.export import check_formats

    # checked before anything is simulated
    formats = check_formats(args.export) if args.export is not None else None
    if args.runs is not None:
        given = [
            opt
            for dest, opt in {**_FILE_SETTINGS, "config": "--config"}.items()
            if getattr(args, dest, None) not in (None, [])
        ]
        if given:
            raise ParamError(
                f"--runs: {', '.join(given)} cannot be combined with --runs (the runs' "
                "metadata.json give the protocol, scenarios, seeds and parameters); allowed "
                "with --runs: --out, --overwrite, --allow-mismatch, --quiet"
            )
        try:
            res = compare_runs(
                args.runs,
                out=args.out,
                overwrite=args.overwrite,
                allow_mismatch=args.allow_mismatch,
                quiet=args.quiet,
            )
        except RunSetError as e:  # every problem, one line each
            for problem in e.problems:
                print(f"dopasim: error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
    elif args.allow_mismatch:
        raise ParamError(
            "--allow-mismatch: only with --runs DIR ... (a comparison that runs its own "
            "runs has one dt and one version)"
        )
    elif args.config:
        config = _from_config(args, "compare")
        if config is None:
            return EXIT_BAD_INPUT
        from dopasim.config import compare_kwargs

        res = compare(
            config["protocol"],
            config["scenarios"],
            **compare_kwargs(config),
            force=args.force,
            **_scheduling_kwargs(args),
        )
    else:
        _need_protocol(args)
        res = compare(
            args.protocol,
            args.scenario,
            seeds="3" if args.seeds is None else args.seeds,
            jobs="1" if args.jobs is None else args.jobs,
            out=args.out,
            params=_params(args),
            device=args.device or "cpp_standalone",
            overwrite=args.overwrite,
            quiet=args.quiet,
            force=args.force,
            **_scheduling_kwargs(args),
        )
    print(f"comparison folder: {res['out']}")
    print(_headline_table(res["out"]))
    figures = sorted(res["out"].glob("*.png"))
    if figures:
        print(f"figures ({len(figures)}): {res['out']}/*.png")
    code = 0
    if formats:
        for run_dir in sorted(p.parent for p in (res["out"] / "runs").glob("*/*/metadata.json")):
            code = _export(run_dir, formats, None, args.overwrite) or code
    if res["failures"]:
        print(f"dopasim: {len(res['failures'])} run(s) failed; see failures.csv", file=sys.stderr)
        return 1
    return code


def _headline_table(folder):
    """comparison.md, with only the protocol's headline metrics when it has some (the
    full table stays in the file)."""
    text = (folder / "comparison.md").read_text()
    try:
        meta = json.loads((folder / "compare.json").read_text())
        headline = set(get_protocol(meta["protocol"]).HEADLINE_METRICS)
    except (OSError, ValueError, KeyError, ParamError):
        headline = set()
    if not headline:
        return text
    lines, kept, in_metrics = text.splitlines(), [], False
    for line in lines:
        if line.startswith("| metric "):
            in_metrics = True
        elif not line.startswith("|"):
            in_metrics = False  # the metrics' table ended (a failures table may follow)
        elif in_metrics and not line.startswith("|---"):
            if line.split("|")[1].strip() not in headline:
                continue
        kept.append(line)
    if len(kept) < len(lines):
        kept.append(f"(headline metrics only; every metric: {folder / 'comparison.md'})")
    return "\n".join(kept) + "\n"


def _cmd_export(args):
    from dopasim.export import FORMATS

    if args.format is None:
        raise ParamError(
            f"--format: missing; allowed: {', '.join(FORMATS)} (comma-separated for several)"
        )
    return _export(args.run_dir, args.format, args.out, args.overwrite)


def _is_sweep_file(path):
    """A sweep file names protocols, a grid, a reference, a cluster or a name, or gives
    its seeds as ranges or a list (a config file can do none of these)."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    if any(k in data for k in ("protocols", "grid", "reference", "cluster", "name")):
        return True
    return isinstance(data.get("seeds"), str | list)  # "1-50", [1, 2]: a sweep's seeds


def _load_sweep(path):
    """The plan of the sweep file ``path``, or None after printing every error."""
    from dopasim.sweepfile import load_sweep

    plan, errors = load_sweep(path)
    for e in errors:
        print(e.format(path), file=sys.stderr)
    return None if errors else plan


def _cmd_sweep(args):
    from dopasim import sweep

    if args.retry_failed and not args.resume:
        raise ParamError("--retry-failed: only with --resume")
    if args.dry_run and args.resume:
        raise ParamError("--dry-run: not with --resume")
    plan = _load_sweep(args.file)
    if plan is None:
        return EXIT_BAD_INPUT
    if args.dry_run:
        path = sweep.dry_run(plan, args.out, args.overwrite)
        print(f"{args.file}: {len(plan.runs)} runs planned; plan written to {path}")
        return 0
    res = sweep.run_sweep(
        plan,
        out=args.out,
        jobs="1" if args.jobs is None else args.jobs,
        scheduler=args.scheduler or "local",
        resume=args.resume,
        retry_failed=args.retry_failed,
        retries="2" if args.retries is None else args.retries,
        overwrite=args.overwrite,
        quiet=args.quiet,
        force=args.force,
    )
    print(f"sweep folder: {res['out']} ({res['ran']} run, {res['kept']} kept)")
    if res["failures"]:
        print(f"dopasim: {len(res['failures'])} run(s) failed; see failures.csv", file=sys.stderr)
        return 1
    return 0


def _cmd_validate(args):
    from dopasim.config import validate_config

    if _is_sweep_file(args.file):
        plan = _load_sweep(args.file)
        if plan is None:
            return EXIT_BAD_INPUT
        n = len(plan.protocols)
        print(
            f"{args.file}: ok (sweep of {n} protocol{'s' if n != 1 else ''}, "
            f"{len(plan.points)} grid point{'s' if len(plan.points) != 1 else ''}, "
            f"{len(plan.seeds)} seed{'s' if len(plan.seeds) != 1 else ''}: {len(plan.runs)} runs)"
        )
        return 0

    config, errors = validate_config(args.file)
    if errors:
        for e in errors:
            print(e.format(args.file), file=sys.stderr)
        return EXIT_BAD_INPUT
    n = len(config["scenarios"]) * config["seeds"] if config["kind"] == "compare" else 1
    print(
        f"{args.file}: ok ({config['kind']} of {config['protocol']}, "
        f"{n} run{'s' if n != 1 else ''})"
    )
    return 0


def _size(path):
    """(number of files, bytes) under ``path`` (0, 0 when absent); links are not followed."""
    import os

    files = total = 0
    if path.is_file():
        return 1, path.stat().st_size
    for root, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
    return files, total


def _mb(n):
    return f"{n / 1e6:.1f} MB"


def _cython_cache():
    """Brian2's Cython extension folder and the files in it that Brian2 wrote."""
    from pathlib import Path

    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir

    d = get_cython_cache_dir()
    if d is None:
        return None, []
    d = Path(d)
    ours = sorted(d.glob("_cython_magic_*")) if d.is_dir() else []
    return d, ours


def _cmd_doctor(args):
    import platform
    import shutil

    import brian2
    import numpy as np

    from dopasim._version import __version__
    from dopasim.device import compiler_path, standalone_root

    if args.yes and not args.clear_cython_cache:
        raise ParamError("--yes: confirms --clear-cython-cache only; give that option too")
    _, cython_files = _cython_cache()
    if args.clear_cython_cache and not args.yes:
        n = sum(_size(f)[1] for f in cython_files)
        raise ParamError(
            f"--clear-cython-cache: would remove {len(cython_files)} files ({_mb(n)}) from "
            "Brian2's Cython cache, which every Brian2 project of this user shares; add "
            "--yes to confirm"
        )
    try:
        import Cython

        cython = Cython.__version__
    except ImportError:
        cython = None
    print(f"python   {platform.python_version()} ({sys.executable})")
    print(f"dopasim  {__version__}")
    print(f"brian2   {brian2.__version__}")
    print(f"numpy    {np.__version__}")
    print(f"cython   {cython or 'not installed'}")
    cxx = compiler_path()
    has_cxx = cxx is not None
    print(f"C++ compiler: {cxx or 'not found'}")
    print("devices:")
    no_cxx = "not usable: no C++ compiler (dopasim falls back to numpy)"
    print(f"  cpp_standalone  {'usable' if has_cxx else no_cxx}")
    if not cython:
        state = "not usable: Cython is not installed"
    else:
        state = "usable" if has_cxx else "not usable: no C++ compiler"
    print(f"  cython          {state}")
    print("  numpy           usable")
    standalone = standalone_root()
    n, b = _size(standalone)
    builds = len([p for p in standalone.iterdir() if p.is_dir()]) if standalone.is_dir() else 0
    print("caches:")
    print(
        f"  dopasim builds  {standalone} "
        + (f"({builds} builds, {n} files, {_mb(b)})" if standalone.exists() else "(empty)")
    )
    cdir, _ = _cython_cache()
    cb = sum(_size(f)[1] for f in cython_files)
    print(
        f"  Brian2 Cython   {cdir or 'none (Cython not installed)'} "
        f"({len(cython_files)} files, {_mb(cb)})"
    )
    if args.clear_cache:
        _clear_standalone(standalone)
    if args.clear_cython_cache:
        for f in cython_files:
            with contextlib.suppress(FileNotFoundError):
                if f.is_dir() and not f.is_symlink():
                    shutil.rmtree(f)
                else:
                    f.unlink()
        print(f"removed {len(cython_files)} Brian2 Cython files ({_mb(cb)}) from {cdir}")
    return 0


def _clear_standalone(standalone):
    """Remove dopasim's cpp_standalone builds; a build that a run holds is kept."""
    import shutil

    from dopasim.device import lock_path as lock_of
    from dopasim.rundir import try_flock

    if not standalone.is_dir():
        print(f"nothing to remove: {standalone} does not exist")
        return
    kept = 0
    removed = 0
    for entry in sorted(standalone.iterdir()):
        if entry.suffix == ".lock":
            continue
        lock_path = lock_of(entry)
        with open(lock_path, "a") as lock:
            if not try_flock(lock, f"'{entry}'"):
                print(f"kept {entry} (a run is using it)")
                kept += 1
                continue
            _, b = _size(entry)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += b
        lock_path.unlink(missing_ok=True)
    for lock_path in standalone.glob("*.lock"):  # locks without a build
        with open(lock_path, "a") as lock:
            if not try_flock(lock, f"'{lock_path}'"):
                continue
            lock_path.unlink(missing_ok=True)
    if not kept:
        with contextlib.suppress(OSError):
            standalone.rmdir()
    print(f"removed {standalone} ({_mb(removed)})" + (f"; {kept} kept" if kept else ""))


def script(protocol):
    """A protocol module run as a script: ``python protocols/x.py ARGS`` is
    ``dopasim run x ARGS``. Every protocol's ``__main__`` block calls this."""
    sys.exit(main(["run", protocol, *sys.argv[1:]]))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _parser().parse_args(argv)
        if args.command == "list":
            return _cmd_list()
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "compare":
            return _cmd_compare(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "export":
            return _cmd_export(args)
        if args.command == "validate":
            return _cmd_validate(args)
        if args.command == "doctor":
            return _cmd_doctor(args)
        _parser().print_help()
        return EXIT_BAD_INPUT
    except ParamError as e:
        print(f"dopasim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NumericalFailure as e:  # the run directory is written, marked failed
        print(f"dopasim: error: {e}", file=sys.stderr)
        return EXIT_NUMERICAL
    except LostScheduler as e:
        print(f"dopasim: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # runner.Interrupted says what was kept, and where
        print(f"dopasim: {e or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

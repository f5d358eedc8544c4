"""The ``dopasim`` command.

Exit codes: 0 done, 1 some runs of a comparison failed (the others are written) or an
export failed while writing (disk full...; completed files are kept), 2 bad input (one
line on stderr, nothing created), 3 numerical failure, 130 interrupted.
"""

import argparse
import sys

from dopasim.params import ParamError

__all__ = ["main"]

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit code 2, no usage dump
        raise ParamError(message)


def _common(p, scenario_help):
    """The arguments shared by ``run`` and ``compare``."""
    from dopasim.device import DEVICES

    p.add_argument("protocol", help="protocol name (see 'dopasim list')")
    p.add_argument("--scenario", action="append", default=[], help=scenario_help)
    p.add_argument("--duration", help="simulated time (per run), with a unit, e.g. 600s")
    p.add_argument("--device", default="cpp_standalone", help=f"one of {', '.join(DEVICES)}")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="protocol parameter (repeatable)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _parser():
    ap = _Parser(prog="dopasim", description="Simulate the brain's reward system (Brian2).")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("list", help="protocols and scenarios, one line each")
    r = sub.add_parser("run", help="run one protocol")
    _common(r, "scenario SPEC, e.g. parkinson:loss=0.75 (repeat or join with + to compose)")
    r.add_argument("--seed", default="1", help="master seed (integer, default 1)")
    r.add_argument("--out", help="run directory (default: runs/<protocol>/<time>-seed<k>)")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument(
        "--export",
        metavar="FORMAT,...",
        help="also write the spikes as nwb, sonata, csv and/or npz (comma-separated)",
    )
    c = sub.add_parser("compare", help="one protocol under several scenarios, paired seeds")
    _common(c, "scenario SPEC (repeat; the first is the reference)")
    c.add_argument("--seeds", default="3", help="number of paired seeds, 1..N (default 3)")
    c.add_argument("--jobs", default="1", help="parallel worker processes (default 1)")
    c.add_argument("--out", help="output folder (default: runs/compare/<protocol>-<time>)")
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
    return ap


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
    from dopasim.runner import PROTOCOLS, get_protocol

    print("protocols:")
    for name in PROTOCOLS:
        print(f"  {name:18s} {get_protocol(name).SUMMARY}")
    from dopasim.circuits.scenarios import SCENARIOS

    print("scenarios:")
    for name, sc in SCENARIOS.items():
        keys = ",".join(f"{k}=..." for k in sc.keys)
        print(f"  {name + (':' + keys if keys else ''):38s} {sc.summary}")
    return 0


def _cmd_run(args):
    from dopasim import runner

    formats = None
    if args.export is not None:  # checked before anything is simulated
        from dopasim.export import check_formats

        formats = check_formats(args.export)
    res = runner.run(
        args.protocol,
        scenario="+".join(args.scenario) or "intact",
        params=_params(args),
        seed=args.seed,
        device=args.device,
        out=args.out,
        overwrite=args.overwrite,
        quiet=args.quiet,
        figures=not args.no_figures,
    )
    m = res.metrics
    print(f"run directory: {res.path}")
    for k, v in m.items():
        print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    if formats:
        return _export(res.path, formats, None, args.overwrite)
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


def _cmd_compare(args):
    from dopasim.compare import compare

    res = compare(
        args.protocol,
        args.scenario,
        seeds=args.seeds,
        jobs=args.jobs,
        out=args.out,
        params=_params(args),
        device=args.device,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    print(f"comparison folder: {res['out']}")
    print((res["out"] / "comparison.md").read_text())
    if res["failures"]:
        print(f"dopasim: {len(res['failures'])} run(s) failed; see failures.csv", file=sys.stderr)
        return 1
    return 0


def _cmd_export(args):
    from dopasim.export import FORMATS

    if args.format is None:
        raise ParamError(
            f"--format: missing; allowed: {', '.join(FORMATS)} (comma-separated for several)"
        )
    return _export(args.run_dir, args.format, args.out, args.overwrite)


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
        if args.command == "export":
            return _cmd_export(args)
        _parser().print_help()
        return EXIT_BAD_INPUT
    except ParamError as e:
        print(f"dopasim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("dopasim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

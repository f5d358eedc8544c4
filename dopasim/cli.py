"""The ``dopasim`` command.

Exit codes: 0 done, 2 bad input (one line on stderr, nothing created), 3 numerical
failure, 130 interrupted.
"""

import argparse
import sys

from dopasim.params import ParamError

__all__ = ["main"]

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit code 2, no usage dump
        raise ParamError(message)


def _parser():
    from dopasim.device import DEVICES

    ap = _Parser(prog="dopasim", description="Simulate the brain's reward system (Brian2).")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("list", help="protocols and scenarios, one line each")
    r = sub.add_parser("run", help="run one protocol")
    r.add_argument("protocol", help="protocol name (see 'dopasim list')")
    r.add_argument(
        "--scenario", action="append", default=[], help="scenario SPEC (only 'intact' so far)"
    )
    r.add_argument("--seed", default="1", help="master seed (integer, default 1)")
    r.add_argument("--duration", help="simulated time, with a unit, e.g. 600s")
    r.add_argument("--out", help="run directory (default: runs/<protocol>/<time>-seed<k>)")
    r.add_argument("--device", default="cpp_standalone", help=f"one of {', '.join(DEVICES)}")
    r.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="protocol parameter (repeatable)",
    )
    r.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
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
    print("scenarios:")
    print(f"  {'intact':18s} the base circuit")
    return 0


def _cmd_run(args):
    from dopasim import runner

    for spec in args.scenario:
        if spec != "intact":
            raise ParamError(f"--scenario: '{spec}' is not available yet; known: intact")
    res = runner.run(
        args.protocol,
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
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _parser().parse_args(argv)
        if args.command == "list":
            return _cmd_list()
        if args.command == "run":
            return _cmd_run(args)
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

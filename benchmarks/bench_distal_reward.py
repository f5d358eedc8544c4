#!/usr/bin/env python
"""Benchmark: the distal-reward network, dopasim against its clock-driven form and its peers.

Every configuration runs in its own process, one after the other, in ONE invocation, so
that the ratios printed at the end compare numbers measured under the same load.

For each row it prints simulated seconds per wall second for the run phase (the
simulation loop only) and for the whole command (import, build, compile, run, collect),
the code-generation + compile time on its own, and the peak RSS (Python process and,
for standalone, the simulation binary).

    python benchmarks/bench_distal_reward.py                      # 1,000 neurons, 60 s
    python benchmarks/bench_distal_reward.py --T 600 --devices cpp_standalone,cython
    python benchmarks/bench_distal_reward.py --scaled             # + 10,000 x 1,000
    python benchmarks/bench_distal_reward.py --no-peers
    python benchmarks/bench_distal_reward.py --scaled --nest-di1   # + NEST, deliver_interval 1

Each row is printed as a ``RESULT {json}`` line as soon as it is measured and appended to
``--json`` (default ``runs/bench/<date>.jsonl``; ``--json ''``: no file), after a
``{"bench": "meta"}`` line with the command, the CPU and the versions;
scripts/bench_to_docs.py turns the file into docs/benchmarks.md. The last table gives,
per network, dopasim's run-phase speed over each peer's in this run, beside the
project's targets (``TARGETS``).

Rows:
  dopasim event   the exact event-driven three-factor synapse (dopasim's default)
  dopasim clock   the same network with c and w as clock-driven ODEs on every synapse
  peer brian2     shared/peers/bench_brian2.py (plain Brian2, weights every 10 ms)
  peer nest       shared/peers/bench_nest.py, if nest-simulator is importable (pip install
                  -e '.[bench]'): one thread, deliver_interval 1000 (its best setting) and,
                  with --nest-di1, 1 (NEST's default; about 60x slower, so it runs for
                  --nest-di1-T simulated seconds at most, on the 1,000-neuron network only)

The peer scripts are called where they are (``--peers``, default ../shared/peers beside
the repository), never copied; without them their rows are left out with a note.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _peak import ChildPeak, vmhwm_kb

HERE = Path(__file__).resolve().parent
PEERS = (HERE.parent.parent / "shared" / "peers").resolve()
DEFAULT_JSON = HERE.parent / "runs" / "bench" / f"{datetime.date.today().isoformat()}.jsonl"

#: A dopasim row whose code generation + compile took longer than this (s) compiled.
COMPILED_S = 3.0

#: The project's targets per network (neurons): dopasim's run phase in x real time, its
#: speed over the peers' (same run), and its peak memory (Python + binary, MB).
TARGETS = {
    1000: {"x_rt": 150.0, "brian2": 2.0, "nest": 6.0},
    10000: {"x_rt": 2.0, "brian2": 4.0, "nest": 4.0, "rss_mb": 2048},
}


def _worker(args):
    t_start = time.perf_counter()
    from dopasim import runner

    params = {
        "duration": f"{args.T} s",
        "n_neurons": str(args.N),
        "n_synapses": str(args.M),
        "plasticity": args.plasticity,
    }
    with ChildPeak("main") as binary:  # the standalone binary, not the compiler
        res = runner.run(
            "distal-reward",
            params=params,
            seed=args.seed,
            device=args.device,
            quiet=True,
            write=False,
            figures=False,
        )
    t = res.metadata["wall_times_s"]
    own = vmhwm_kb() // 1024
    child = binary.peak_mb
    out = {
        "label": f"dopasim {args.plasticity}",
        "device": args.device,
        "T": args.T,
        "N": args.N,
        "M": args.M,
        "t_run": t["run_s"],
        "t_compile": t.get("codegen_compile_s"),
        "t_total": time.perf_counter() - t_start,
        "rss_python_mb": own,
        "rss_binary_mb": child if args.device == "cpp_standalone" else None,
        "rate_hz": res.metrics["rate_mean_hz"],
        "rewarded_weight": res.metrics["rewarded_weight"],
        "build_cached": res.metadata.get("build_cached"),
    }
    print("RESULT " + json.dumps(out))


def _run(cmd, env=None):
    """Run ``cmd``; its RESULT line as a dict, with the wall time and the peak RSS of the
    process tree (the largest of the process and its children: compiler, binary)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        stdout = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r["t_command"] = wall
            r["rss_tree_mb"] = usage.ru_maxrss // 1024
            return r
    sys.stderr.write(f"failed: {' '.join(cmd)}\n{stderr[-2000:]}\n")
    return None


def _peer_missing(script):
    if (PEERS / script).exists():
        return False
    print(f"(no peer row: {PEERS / script} is not there)", file=sys.stderr)
    return True


def _peer_brian2(args, N, M):
    if _peer_missing("bench_brian2.py"):
        return None
    cmd = [
        sys.executable,
        str(PEERS / "bench_brian2.py"),
        "--builddir",
        os.path.join(tempfile.gettempdir(), f"dopasim-bench-peer-b2-{os.getpid()}"),
        "--device",
        "cpp_standalone",
        "--T",
        str(args.T),
        "--delays",
        "one",
        "--N",
        str(N),
        "--M",
        str(M),
    ]
    r = _run(cmd)
    subprocess.run(["rm", "-rf", cmd[3]], check=False)
    if r:
        r.update(
            label="peer brian2 (10 ms)",
            device="cpp_standalone",
            t_compile=r["t_codegen_compile"],
            rss_python_mb=r["rss_hwm_python_mb"],
            rss_binary_mb=None,
            rate_hz=(r["rate_exc"] * 0.8 + r["rate_inh"] * 0.2),
            rewarded_weight=r["w_rewarded"],
        )
    return r


def _nest_importable():
    p = subprocess.run(
        [sys.executable, "-c", "import nest"],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    if p.returncode:
        print(
            "(no NEST row: nest-simulator is not importable; pip install -e '.[bench]')",
            file=sys.stderr,
        )
    return p.returncode == 0


def _peer_nest(args, N, M, deliver_interval=1000):
    if _peer_missing("bench_nest.py") or not _nest_importable():
        return None
    cmd = [
        sys.executable,
        str(PEERS / "bench_nest.py"),
        "--threads",
        "1",
        "--T",
        str(args.T),
        "--deliver_interval",
        str(deliver_interval),
        "--delays",
        "one",
        "--N",
        str(N),
        "--M",
        str(M),
    ]
    r = _run(cmd)
    if r:
        r.update(
            label=f"peer nest (di {deliver_interval})",
            device="nest",
            t_compile=None,
            rss_python_mb=r["rss_hwm_before_analysis_mb"],
            rss_binary_mb=None,
            rate_hz=(r["rate_exc"] * 0.8 + r["rate_inh"] * 0.2),
            rewarded_weight=r["w_rewarded"],
        )
    return r


def _table(rows):
    head = f"{'configuration':24s} {'device':15s} {'N x M':>11s} {'T (s)':>6s} {'run x RT':>9s} {'cmd x RT':>9s} {'compile s':>9s} {'RSS py MB':>9s} {'RSS bin MB':>10s} {'rate Hz':>7s}"
    print(head)
    print("-" * len(head))
    for r in rows:
        comp = f"{r['t_compile']:.1f}" if r.get("t_compile") is not None else "-"
        rb = str(r.get("rss_binary_mb")) if r.get("rss_binary_mb") is not None else "-"
        print(
            f"{r['label']:24s} {r['device']:15s} {str(r['N']) + 'x' + str(r['M']):>11s} {r['T']:6g} "
            f"{r['T'] / r['t_run']:9.1f} {r['T'] / r['t_command']:9.1f} {comp:>9s} "
            f"{r.get('rss_python_mb', 0):9d} {rb:>10s} {r.get('rate_hz', float('nan')):7.2f}"
        )


def ratios(rows):
    """Per network: dopasim's best run phase against each peer's, from one run's rows.

    A list of dicts (N, M, T, x_rt of dopasim and of each peer, dopasim / peer ratios,
    dopasim's peak RSS, and the targets met); scripts/bench_to_docs.py uses it too.
    """

    def best(prefix, N):
        c = [r for r in rows if r["label"].startswith(prefix) and r["N"] == N]
        return min(c, key=lambda r: r["t_run"] / r["T"]) if c else None

    out = []
    for N in sorted({r["N"] for r in rows}):
        ev = best("dopasim event", N)
        if not ev:
            continue
        x = {"N": N, "M": ev["M"], "T": ev["T"], "x_rt": ev["T"] / ev["t_run"]}
        x["rss_mb"] = (ev.get("rss_python_mb") or 0) + (ev.get("rss_binary_mb") or 0)
        for key, prefix in (
            ("clock", "dopasim clock"),
            ("brian2", "peer brian2"),
            ("nest", "peer nest (di 1000)"),
            ("nest_di1", "peer nest (di 1)"),
        ):
            peer = best(prefix, N)
            if peer:
                x[f"{key}_x_rt"] = peer["T"] / peer["t_run"]
                x[f"over_{key}"] = x["x_rt"] / x[f"{key}_x_rt"]
        t = TARGETS.get(N, {})
        met = {}
        if "x_rt" in t:
            met["x_rt"] = x["x_rt"] >= t["x_rt"]
        for key in ("brian2", "nest"):
            if key in t and f"over_{key}" in x:
                met[key] = x[f"over_{key}"] >= t[key]
        if "rss_mb" in t:
            met["rss_mb"] = x["rss_mb"] < t["rss_mb"]
        x["targets"] = t
        x["met"] = met
        out.append(x)
    return out


def _mark(x, key):
    if key not in x["met"]:
        return ""
    return " ok" if x["met"][key] else " NO"


def _ratio_table(rows):
    rs = ratios(rows)
    if not rs:
        return
    print("dopasim (event-driven, best run phase) and its peers in this run, x real time:")
    head = (
        f"{'network':>14s} {'dopasim':>10s} {'Brian2':>8s} {'NEST':>8s} {'NEST di1':>8s} "
        f"{'/ Brian2':>10s} {'/ NEST':>10s} {'/ NEST di1':>10s} {'/ clock':>8s} {'RSS MB':>9s}"
    )
    print(head)
    print("-" * len(head))

    def f(x, key, fmt):
        return format(x[key], fmt) if key in x else "-"

    for x in rs:
        print(
            f"{f'{x["N"]} x {x["M"]}':>14s} {f(x, 'x_rt', '.1f') + _mark(x, 'x_rt'):>10s} "
            f"{f(x, 'brian2_x_rt', '.1f'):>8s} {f(x, 'nest_x_rt', '.1f'):>8s} "
            f"{f(x, 'nest_di1_x_rt', '.2f'):>8s} "
            f"{f(x, 'over_brian2', '.2f') + _mark(x, 'brian2'):>10s} "
            f"{f(x, 'over_nest', '.2f') + _mark(x, 'nest'):>10s} "
            f"{f(x, 'over_nest_di1', '.1f'):>10s} {f(x, 'over_clock', '.2f'):>8s} "
            f"{str(x['rss_mb']) + _mark(x, 'rss_mb'):>9s}"
        )
    print(
        "ratios: dopasim's run-phase speed over the peer's; NEST: one thread, deliver_interval "
        "1000 (di1: 1); RSS: dopasim's Python + binary; ok/NO: the targets "
        + "; ".join(
            f"{N}: "
            + ", ".join(
                f"{'>=' if k != 'rss_mb' else '<'} {v:g}{'x RT' if k == 'x_rt' else ' MB' if k == 'rss_mb' else 'x ' + k}"
                for k, v in t.items()
            )
            for N, t in TARGETS.items()
        )
    )


def main():
    global PEERS
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--T", type=float, default=60.0, help="simulated seconds (default 60)")
    ap.add_argument(
        "--devices", default="cpp_standalone", help="comma list: cpp_standalone,cython,numpy"
    )
    ap.add_argument("--scaled", action="store_true", help="also 10,000 neurons x 1,000 synapses")
    ap.add_argument("--scaled-T", type=float, default=10.0)
    ap.add_argument("--only-scaled", action="store_true", help="the 10,000-neuron network only")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--peers", default=str(PEERS), help="folder of the peer scripts")
    ap.add_argument(
        "--nest-di1", action="store_true", help="also NEST with deliver_interval 1 (slow)"
    )
    ap.add_argument(
        "--nest-di1-T",
        type=float,
        default=2.0,
        help="simulated seconds at most for the deliver_interval 1 row (default 2)",
    )
    ap.add_argument("--no-clock", action="store_true", help="skip the clock-driven reference")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--json",
        metavar="FILE",
        default=str(DEFAULT_JSON),
        help="append every row as a JSON line to FILE (default runs/bench/<date>.jsonl; '' for none)",
    )
    ap.add_argument("--run-id", default=None, help="tag of the rows (default: start time)")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpp_standalone", help=argparse.SUPPRESS)
    ap.add_argument("--plasticity", default="event", help=argparse.SUPPRESS)
    ap.add_argument("--N", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--M", type=int, default=100, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(args)
    PEERS = Path(args.peers).resolve()
    sys.path.insert(0, str(HERE))
    from bench_reward_circuit import emit, meta_row

    run_id = args.run_id or datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    emit(meta_row("distal_reward", run_id, sys.argv[1:], __file__), args.json)

    def add(r):
        r.update(bench="distal_reward", run_id=run_id)
        rows.append(r)
        emit(r, args.json)

    env = dict(os.environ, OMP_NUM_THREADS="1")
    rows = []
    sizes = [] if args.only_scaled else [(1000, 100, args.T)]
    if args.scaled or args.only_scaled:
        sizes.append((10000, 1000, args.scaled_T))
    for N, M, T in sizes:
        for device in args.devices.split(","):
            plast = ["event"] if args.no_clock else ["event", "clock"]
            for pl in plast:
                # twice for standalone: the first builds the cache, the second reuses it
                reps = 2 if device == "cpp_standalone" else 1
                for _rep in range(reps):
                    cmd = [
                        sys.executable,
                        __file__,
                        "--worker",
                        "--device",
                        device,
                        "--plasticity",
                        pl,
                        "--T",
                        str(T),
                        "--N",
                        str(N),
                        "--M",
                        str(M),
                        "--seed",
                        str(args.seed),
                    ]
                    r = _run(cmd, env)
                    if r:
                        # a build folder that was there may still recompile (changed code)
                        compiled = (r.get("t_compile") or 0) > COMPILED_S
                        cached = r.get("build_cached") and not compiled
                        r["label"] += " (cached)" if cached else " (cold)"
                        add(r)
                    print(f"... {pl} {device} {N}x{M} done", file=sys.stderr)
        if not args.no_peers:
            a = argparse.Namespace(**{**vars(args), "T": T})
            peers = [(_peer_brian2, {}), (_peer_nest, {"deliver_interval": 1000})]
            if args.nest_di1 and N <= 1000:  # at 10k it would take minutes per second
                peers.append((_peer_nest, {"deliver_interval": 1}))
            for peer, kw in peers:
                a.T = min(T, args.nest_di1_T) if kw.get("deliver_interval") == 1 else T
                r = peer(a, N, M, **kw)
                if r:
                    r.update(N=N, M=M, T=a.T)
                    add(r)
                print(f"... {peer.__name__[1:]} {kw or ''} {N}x{M} done", file=sys.stderr)
    print()
    _table(rows)
    print()
    _ratio_table(rows)


if __name__ == "__main__":
    main()

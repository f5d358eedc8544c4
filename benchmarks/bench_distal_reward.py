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

Rows:
  dopasim event   the exact event-driven three-factor synapse (dopasim's default)
  dopasim clock   the same network with c and w as clock-driven ODEs on every synapse
  peer brian2     shared/peers/bench_brian2.py (plain Brian2, weights every 10 ms)
  peer nest       shared/peers/bench_nest.py, if nest-simulator is importable
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = (HERE.parent.parent / "shared" / "peers").resolve()


def _vmhwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            continue
    return out


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


class _ChildPeak(threading.Thread):
    """The peak RSS (VmHWM) of the standalone binary (Brian2 names it ``main``; not the
    compiler), polled every 10 ms among this process's descendants.
    A binary that lives only a few polls may read low.
    Not ``RUSAGE_CHILDREN``: Linux carries the parent's peak into a child's ru_maxrss
    across fork and exec, so the binary would report at least the Python process's RSS."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_kb, self._stop_event = 0, threading.Event()
        self.name_of_binary = "main"

    def run(self):
        me = os.getpid()
        while not self._stop_event.wait(0.01):
            for pid in _descendants(me):
                if _comm(pid) == self.name_of_binary:
                    self.peak_kb = max(self.peak_kb, _vmhwm_kb(pid))

    def stop(self):
        self._stop_event.set()
        self.join()
        return self.peak_kb // 1024


def _worker(args):
    t_start = time.perf_counter()
    from dopasim import runner

    params = {
        "duration": f"{args.T} s",
        "n_neurons": str(args.N),
        "n_synapses": str(args.M),
        "plasticity": args.plasticity,
    }
    watch = _ChildPeak()
    watch.start()
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
    child = watch.stop()
    own = _vmhwm_kb(os.getpid()) // 1024
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
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r["t_command"] = wall
            return r
    sys.stderr.write(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}\n")
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


def _peer_nest(args, N, M):
    if _peer_missing("bench_nest.py"):
        return None
    try:
        import nest  # noqa: F401
    except Exception:
        return None
    cmd = [
        sys.executable,
        str(PEERS / "bench_nest.py"),
        "--threads",
        "1",
        "--T",
        str(args.T),
        "--deliver_interval",
        "1000",
        "--delays",
        "one",
        "--N",
        str(N),
        "--M",
        str(M),
    ]
    r = _run(cmd)
    if r:
        r.update(label="peer nest (di 1000)", device="nest", t_compile=None, rss_binary_mb=None)
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


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--T", type=float, default=60.0, help="simulated seconds (default 60)")
    ap.add_argument(
        "--devices", default="cpp_standalone", help="comma list: cpp_standalone,cython,numpy"
    )
    ap.add_argument("--scaled", action="store_true", help="also 10,000 neurons x 1,000 synapses")
    ap.add_argument("--scaled-T", type=float, default=10.0)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-clock", action="store_true", help="skip the clock-driven reference")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="FILE", help="append every row as a JSON line to FILE")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpp_standalone", help=argparse.SUPPRESS)
    ap.add_argument("--plasticity", default="event", help=argparse.SUPPRESS)
    ap.add_argument("--N", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--M", type=int, default=100, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(args)

    env = dict(os.environ, OMP_NUM_THREADS="1")
    rows = []
    sizes = [(1000, 100, args.T)]
    if args.scaled:
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
                        r["label"] += " (cached)" if r.get("build_cached") else " (cold)"
                        rows.append(r)
                    print(f"... {pl} {device} {N}x{M} done", file=sys.stderr)
        if not args.no_peers:
            a = argparse.Namespace(**{**vars(args), "T": T})
            for peer in (_peer_brian2, _peer_nest):
                r = peer(a, N, M)
                if r:
                    r.update(N=N, M=M, T=T)
                    rows.append(r)
    print()
    _table(rows)
    print()

    # ratios within this run
    def best(label_prefix, N):
        c = [r for r in rows if r["label"].startswith(label_prefix) and r["N"] == N]
        return min(c, key=lambda r: r["t_run"]) if c else None

    for N, M, _ in sizes:
        ev, cl, peer = best("dopasim event", N), best("dopasim clock", N), best("peer brian2", N)
        if ev and cl:
            print(
                f"{N}x{M}: event-driven synapse is {cl['t_run'] / ev['t_run']:.2f}x faster than the clock-driven form (run phase)"
            )
        if ev and peer:
            print(
                f"{N}x{M}: dopasim is {peer['t_run'] / ev['t_run']:.2f}x faster than the Brian2 peer (run phase)"
            )
        nest = best("peer nest", N)
        if ev and nest:
            print(
                f"{N}x{M}: dopasim is {nest['t_run'] / ev['t_run']:.2f}x faster than the NEST peer (run phase)"
            )
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "a") as f:
            for r in rows:
                f.write(json.dumps({**r, "bench": "distal_reward"}) + "\n")


if __name__ == "__main__":
    main()

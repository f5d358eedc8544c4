#!/usr/bin/env python
"""Benchmark: the reward circuit, conditioning protocol, default size, one core.

For 100 conditioning trials (300 s simulated) on cpp_standalone, each configuration runs
twice in its own process with a fresh build cache: the first run compiles (cold), the
second reuses the build (cached). It prints, per run:

* wall time of the whole command, compile time and run phase, and simulated seconds per
  wall second for each;
* the run-phase cost split between neuron groups and synapses, and the largest code
  objects, from Brian2's profiler;
* peak RSS of the Python process;

and the ratio of each configuration's cached run phase to the first one's, measured in
the same invocation. Every process is pinned to one CPU (``--cpu``).

    python benchmarks/bench_reward_circuit.py                     # this version, xi and counter noise
    python benchmarks/bench_reward_circuit.py --against /tmp/venv050/bin/python
        # first an older dopasim installed in another environment (e.g. 0.5.0: git
        # worktree add /tmp/dopasim-0.5.0 <commit>; python -m venv /tmp/venv050;
        # /tmp/venv050/bin/pip install /tmp/dopasim-0.5.0), then this one
    python benchmarks/bench_reward_circuit.py --trials 20 --json runs/bench/rc.jsonl

Each run also prints a ``RESULT {json}`` line (and appends it to ``--json``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _peak_rss_mb():
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries the parent's peak
    into a child's ru_maxrss across fork and exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one_run(trials, cache, cpu, noise):
    """Run in this process; print a JSON line with the figures."""
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})  # make and the binary inherit it: one core
    os.environ["DOPASIM_CACHE"] = cache
    import brian2
    from brian2 import NeuronGroup, Synapses

    from dopasim import runner
    from dopasim.device import use_device
    from dopasim.seeding import streams

    t_start = time.perf_counter()
    window = min(25, trials)
    params = {"n_trials": str(trials), "probe_window": str(window)}
    params["n_omissions"] = str(min(5, window))
    if noise:
        params["membrane_noise"] = noise
    module, p, seed, _ = runner.prepare("conditioning", params, out=tempfile.mkdtemp())
    rngs = streams(seed)
    with use_device("cpp_standalone", build_key=("bench", *module.build_key(p))) as dev:
        brian2.seed(rngs["brian2_seed"])
        circuit = module.build(p, rngs)
        circuit.network.run(p["duration"], profile=True)
        t1 = time.perf_counter()
        brian2.device.build(
            directory=dev["directory"], compile=True, run=False, clean=False, with_output=False
        )
        t2 = time.perf_counter()
        brian2.device.run(directory=dev["directory"], with_output=False)
        run_s = float(brian2.device._last_run_time)
        n_code = len(
            [f for f in os.listdir(os.path.join(dev["directory"], "code_objects")) if f.endswith(".cpp")]
        )
        owners = {}
        for obj in circuit.network.objects:
            for o in (obj, *getattr(obj, "contained_objects", ())):
                if isinstance(o, NeuronGroup | Synapses):
                    owners[o.name] = "synapses" if isinstance(o, Synapses) else "neurons"
        split = {"neurons": 0.0, "synapses": 0.0, "other": 0.0}
        top = sorted(circuit.network.profiling_info, key=lambda x: -float(x[1]))[:6]
        top = [(name, float(t)) for name, t in top]
        for name, t in circuit.network.profiling_info:
            owner = (
                brian2.device.code_objects[name].owner
                if name in brian2.device.code_objects
                else None
            )
            base = getattr(owner, "group", owner)
            base = getattr(base, "name", "")
            kind = owners.get(base) or next(
                (k for n, k in owners.items() if base.startswith(n)), "other"
            )
            split[kind] += float(t)
    import dopasim

    print(
        json.dumps(
            {
                "version": dopasim.__version__,
                "noise": noise or "default",
                "trials": trials,
                "sim_s": float(p["duration"]),
                "total_s": time.perf_counter() - t_start,
                "compile_s": t2 - t1,
                "code_objects": n_code,
                "run_s": run_s,
                "split_s": split,
                "top": top,
                "rss_mb": _peak_rss_mb(),
                "flags": " ".join(brian2.prefs.codegen.cpp.extra_compile_args_gcc),
            }
        )
    )


def _child(python, trials, cpu, noise, cache):
    cmd = [python, os.path.abspath(__file__), "--_child", "--_cache", cache]
    cmd += ["--trials", str(trials), "--cpu", str(cpu)]
    if noise:
        cmd += ["--_noise", noise]
    # run the other version from a neutral folder: its own dopasim, not this checkout's
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode:
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit(f"benchmark run failed: {' '.join(cmd)}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--cpu", type=int, default=0, help="pin every run to this CPU (-1: no pin)")
    ap.add_argument(
        "--against", metavar="PYTHON", help="an older dopasim's Python, run first (the reference)"
    )
    ap.add_argument("--no-counter", action="store_true", help="skip the counter-noise rows")
    ap.add_argument("--json", metavar="FILE", help="append the RESULT lines to FILE")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_cache", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_noise", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        one_run(args.trials, args._cache, args.cpu, args._noise)
        return 0
    configs = []
    if args.against:
        configs.append(("reference", args.against, ""))
    configs.append(("this (xi)", sys.executable, ""))
    if not args.no_counter:
        configs.append(("this (counter)", sys.executable, "counter"))
    rows = []
    for label, python, noise in configs:
        cache = tempfile.mkdtemp(prefix="dopasim-bench-")
        for build in ("cold", "cached"):
            r = _child(python, args.trials, args.cpu, noise, cache)
            r.update(label=label, build=build, bench="reward_circuit")
            rows.append(r)
            line = "RESULT " + json.dumps(r)
            print(line, flush=True)
            if args.json:
                os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
                with open(args.json, "a") as f:
                    f.write(line[7:] + "\n")
    ref = next(r for r in rows if r["build"] == "cached")
    print(
        f"\nconditioning, {args.trials} trials ({rows[0]['sim_s']:g} s simulated), "
        f"cpp_standalone, one core (CPU {args.cpu})"
    )
    head = (
        f"{'configuration':16} {'version':>8} {'build':6} {'total s':>8} {'compile s':>9} "
        f"{'run s':>6} {'run x RT':>8} {'speed-up':>8} {'neurons %':>9} {'RSS MB':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        sp = r["split_s"]
        tot = sum(sp.values()) or 1.0
        up = f"{ref['run_s'] / r['run_s']:.2f}" if r["build"] == "cached" else ""
        print(
            f"{r['label']:16} {r['version']:>8} {r['build']:6} {r['total_s']:8.1f} "
            f"{r['compile_s']:9.1f} {r['run_s']:6.1f} {r['sim_s'] / r['run_s']:8.1f} {up:>8} "
            f"{100 * sp['neurons'] / tot:9.0f} {r['rss_mb']:6.0f}"
        )
    print(f"speed-up: the cached run phase of '{ref['label']}' over each cached run phase")
    print(f"compiler flags: {rows[-1]['flags']}")
    for r in rows:
        if r["build"] == "cached":
            tot = sum(r["split_s"].values()) or 1.0
            top = ", ".join(f"{n} {100 * t / tot:.0f} %" for n, t in r["top"])
            print(f"largest code objects, {r['label']}: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

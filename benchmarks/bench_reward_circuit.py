#!/usr/bin/env python
"""Benchmark: the reward circuit, conditioning protocol, default size, one core.

Prints, for 100 conditioning trials (300 s simulated) on cpp_standalone:

* wall time of the whole command and of the run phase, and simulated seconds per wall
  second for each;
* code generation + compile time on its own (cold, then with the build cache);
* the run-phase cost split between neuron groups (state updates, thresholds, resets,
  inputs, pools) and synapses (event propagation, plasticity, sweeps), from Brian2's
  profiler;
* peak RSS of the Python process.

    python benchmarks/bench_reward_circuit.py            # 100 trials
    python benchmarks/bench_reward_circuit.py --trials 20
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def one_run(trials, cache):
    """Run in this process; print a JSON line with the figures."""
    import os

    os.environ["DOPASIM_CACHE"] = cache
    import brian2
    from brian2 import NeuronGroup, Synapses

    from dopasim import runner
    from dopasim.device import use_device
    from dopasim.seeding import streams

    t_start = time.perf_counter()
    module, p, seed, _ = runner.prepare(
        "conditioning",
        {"n_trials": str(trials), "probe_window": str(min(25, trials))},
        out=tempfile.mkdtemp(),
    )
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
        owners = {}
        for obj in circuit.network.objects:
            kind = "synapses" if isinstance(obj, Synapses) else "neurons"
            if isinstance(obj, NeuronGroup | Synapses):
                owners[obj.name] = kind
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
    total = time.perf_counter() - t_start
    T = float(p["duration"])
    print(
        json.dumps(
            {
                "trials": trials,
                "sim_s": T,
                "total_s": total,
                "compile_s": t2 - t1,
                "run_s": run_s,
                "run_x_rt": T / run_s,
                "cmd_x_rt": T / total,
                "split_s": split,
                "top": top,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_cache", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        one_run(args.trials, args._cache)
        return 0
    cache = tempfile.mkdtemp(prefix="dopasim-bench-")
    rows = []
    for label in ("cold", "cached"):
        out = subprocess.run(
            [sys.executable, __file__, "--_child", "--_cache", cache, "--trials", str(args.trials)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["label"] = label
        rows.append(r)
    print(
        f"\nconditioning, {args.trials} trials ({rows[0]['sim_s']:g} s simulated), cpp_standalone, one core"
    )
    print(
        f"{'build':8} {'total s':>8} {'compile s':>10} {'run s':>7} {'run x RT':>9} {'cmd x RT':>9} {'neurons %':>10} {'synapses %':>11} {'RSS MB':>7}"
    )
    for r in rows:
        sp = r["split_s"]
        tot = sum(sp.values()) or 1.0
        print(
            f"{r['label']:8} {r['total_s']:8.1f} {r['compile_s']:10.1f} {r['run_s']:7.1f} {r['run_x_rt']:9.1f}"
            f" {r['cmd_x_rt']:9.1f} {100 * sp['neurons'] / tot:10.1f} {100 * sp['synapses'] / tot:11.1f} {r['rss_mb']:7.0f}"
        )
    print("(neurons/synapses: share of the profiled run phase; profiling adds a few % overhead)")
    tot = sum(rows[-1]["split_s"].values()) or 1.0
    print(
        "largest code objects (cached run): "
        + ", ".join(f"{n} {100 * t / tot:.0f} %" for n, t in rows[-1]["top"])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

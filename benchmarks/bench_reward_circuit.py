#!/usr/bin/env python
"""Benchmark: the reward circuit, conditioning protocol, default size, one core.

For 100 conditioning trials (300 s simulated) on cpp_standalone, each configuration runs
twice, each time in its own process: the first run may compile, the second reuses the
build (cached). With ``--cold`` every configuration gets a fresh build cache (a new
``DOPASIM_CACHE`` and a new Brian2 Cython cache), so its first run compiles from scratch;
without it the runs use the usual cache (``$DOPASIM_CACHE``) and the first run is labelled
cold or cached by whether it had to build. It prints, per run:

* wall time of the whole command, compile time and run phase, and simulated seconds per
  wall second for the run phase;
* the run-phase cost split between neuron groups and synapses, and the largest code
  objects, from Brian2's profiler;
* peak RSS of the Python process and of its children (compiler, binary);
* for a run that compiled: the time per translation unit (a timing wrapper around the
  C++ compiler, ``make -j1`` when pinned to one CPU), the slowest files, and the flags;

and the ratio of each configuration's cached run phase to the reference's (the first
configuration: ``--against``, or this version with ``xi`` noise), measured in the same
invocation. Every process is pinned to one CPU (``--cpu``).

    python benchmarks/bench_reward_circuit.py --cold                 # this version, xi and counter noise
    python benchmarks/bench_reward_circuit.py --cold --against git:2e9a989
        # first dopasim 0.5.0 (commit 2e9a989; a scratch checkout made with
        # `git worktree add --detach /tmp/dopasim-2e9a989 2e9a989` if absent), then this one
    python benchmarks/bench_reward_circuit.py --against /tmp/dopasim-0.5.0   # a checkout
    python benchmarks/bench_reward_circuit.py --against /tmp/venv050/bin/python
        # an older dopasim installed in another environment
    python benchmarks/bench_reward_circuit.py --trials 20 --json runs/bench/rc.jsonl

A checkout (``DIR``, or ``git:REV``) runs with this Python, ``PYTHONPATH=DIR`` and
``cwd=DIR``; a small shim maps ``dopasim.models``, ``dopasim.circuits`` and
``dopasim.protocols`` onto the checkout's top-level folders (as its pyproject.toml does
on install), so nothing of this checkout leaks in.

Each run prints a ``RESULT {json}`` line and appends it to ``--json`` (default
``runs/bench/<date>.jsonl``; ``--json ''``: no file), after a ``{"bench": "meta"}`` line
that records the command, the CPU and the versions (scripts/bench_to_docs.py turns the
file into docs/benchmarks.md).
"""

import argparse
import datetime
import importlib.util
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _peak import ChildPeak, vmhwm_kb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_JSON = ROOT / "runs" / "bench" / f"{datetime.date.today().isoformat()}.jsonl"

# a timing wrapper around the C++ compiler: one line per call (start, end, what)
_CXX_WRAPPER = """#!/bin/sh
s=$(date +%s.%N)
"$DOPASIM_BENCH_REAL_CXX" "$@"
rc=$?
e=$(date +%s.%N)
what=link
for a in "$@"; do
  case "$a" in -MM) what=deps; break;; *.cpp|*.c) what="$a";; esac
done
echo "$s $e $what" >> "$DOPASIM_BENCH_CXX_LOG"
exit $rc
"""


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _map_checkout(src):
    """Import dopasim from the checkout ``src`` as its pyproject.toml installs it.

    ``dopasim.models``, ``dopasim.circuits`` and ``dopasim.protocols`` live at the top
    of the repository; registering them here keeps an editable install of another
    version (whose finder would map them elsewhere) out of the way.
    """
    src = Path(src).resolve()
    sys.path.insert(0, str(src))
    import dopasim

    assert Path(dopasim.__file__).resolve().is_relative_to(src), dopasim.__file__
    for sub in ("models", "circuits", "protocols"):
        init = src / sub / "__init__.py"
        if not init.exists():
            continue
        spec = importlib.util.spec_from_file_location(
            f"dopasim.{sub}", init, submodule_search_locations=[str(src / sub)]
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[f"dopasim.{sub}"] = mod
        spec.loader.exec_module(mod)
        setattr(dopasim, sub, mod)


def _prepare(runner, params):
    """`runner.prepare` of whichever version is imported (keywords it does not take are dropped)."""
    kw = {"out": tempfile.mkdtemp(), "device": "cpp_standalone"}
    accepted = inspect.signature(runner.prepare).parameters
    kw = {k: v for k, v in kw.items() if k in accepted}
    module, p, seed, _ = runner.prepare("conditioning", params, **kw)
    return module, p, seed


def _compile_log(path):
    files = []
    try:
        for line in open(path):
            s, e, what = line.split(maxsplit=2)
            name = os.path.basename(what.strip())
            if not name.startswith("flag_test"):  # Brian2's probes of the compiler's flags
                files.append((name, float(e) - float(s)))
    except OSError:
        return None
    if not files:
        return None
    units = [f for f in files if f[0] not in ("deps", "link")]
    return {
        "units": len(units),
        "sum_s": sum(t for _, t in files),
        "deps_s": sum(t for n, t in files if n == "deps"),
        "link_s": sum(t for n, t in files if n == "link"),
        "slowest": sorted(units, key=lambda f: -f[1])[:5],
        "median_s": sorted(t for _, t in units)[len(units) // 2] if units else None,
    }


def one_run(trials, cache, cpu, noise, src):
    """Run in this process; print a JSON line with the figures."""
    t_start = time.perf_counter()
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})  # make and the binary inherit it: one core
    if cache:
        os.environ["DOPASIM_CACHE"] = cache
    if src:
        _map_checkout(src)
    # the compiler wrapper: per-file compile times (make and g++ inherit the environment)
    log = tempfile.mktemp(prefix="dopasim-bench-cxx-", suffix=".log")
    wrapper = Path(tempfile.mkdtemp(prefix="dopasim-bench-cxx-")) / "cxx"
    wrapper.write_text(_CXX_WRAPPER)
    wrapper.chmod(0o755)
    os.environ["DOPASIM_BENCH_REAL_CXX"] = os.environ.get("CXX") or "g++"
    os.environ["DOPASIM_BENCH_CXX_LOG"] = log
    os.environ["CXX"] = str(wrapper)
    import brian2
    from brian2 import NeuronGroup, Synapses

    if cache:  # a fresh Cython cache too (standalone does not use it; runtime code would)
        brian2.prefs.codegen.runtime.cython.cache_dir = os.path.join(cache, "cython")
    if cpu >= 0:  # one core anyway: -j1 keeps the per-file times apart
        brian2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j1"]

    from dopasim import runner
    from dopasim.device import use_device
    from dopasim.seeding import streams

    window = min(25, trials)
    params = {"n_trials": str(trials), "probe_window": str(window)}
    params["n_omissions"] = str(min(5, window))
    if noise:
        params["membrane_noise"] = noise
    module, p, seed = _prepare(runner, params)
    rngs = streams(seed)
    with ChildPeak() as children:  # the compilers and the binary
        with use_device("cpp_standalone", build_key=("bench", *module.build_key(p))) as dev:
            had_binary = os.path.exists(os.path.join(dev["directory"], "main"))
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
                [
                    f
                    for f in os.listdir(os.path.join(dev["directory"], "code_objects"))
                    if f.endswith(".cpp")
                ]
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

    compiled = _compile_log(log) if not had_binary else None
    shutil.rmtree(wrapper.parent, ignore_errors=True)
    if os.path.exists(log):
        os.remove(log)
    gcc = brian2.prefs.codegen.cpp.extra_compile_args_gcc
    print(
        json.dumps(
            {
                "version": dopasim.__version__,
                "source": str(Path(dopasim.__file__).resolve().parent.parent),
                "noise": noise or "default",
                "trials": trials,
                "sim_s": float(p["duration"]),
                "total_s": time.perf_counter() - t_start,
                "compile_s": t2 - t1,
                "compiled": not had_binary,
                "code_objects": n_code,
                "compile_units": compiled,
                "run_s": run_s,
                "split_s": split,
                "top": top,
                "rss_mb": vmhwm_kb() / 1024,
                "rss_children_mb": children.peak_mb,
                "flags": " ".join(gcc),
                "flags_extra": " ".join(brian2.prefs.codegen.cpp.extra_compile_args or []),
            }
        )
    )


def _checkout(rev):
    """A scratch checkout of ``rev`` (git worktree add --detach), made once and reused."""
    full = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"dopasim-{rev}"
    if not (path / "dopasim" / "__init__.py").exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), full],
            check=True,
            capture_output=True,
        )
    head = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if head != full:
        raise SystemExit(f"--against: {path} is at {head[:10]}, not {rev} ({full[:10]})")
    return path


def _reference(against):
    """(python, source dir or None) of ``--against``: a checkout, git:REV or a Python."""
    if against.startswith("git:"):
        return sys.executable, _checkout(against[4:])
    path = Path(against)
    if path.is_dir():
        if not (path / "dopasim" / "__init__.py").exists():
            raise SystemExit(f"--against: {path} is not a dopasim checkout")
        return sys.executable, path.resolve()
    if not os.access(path, os.X_OK):
        raise SystemExit(f"--against: {against} is neither a checkout nor a Python")
    return str(path), None


def _child(python, trials, cpu, noise, cache, src):
    cmd = [python, os.path.abspath(__file__), "--_child", "--_cache", cache]
    cmd += ["--trials", str(trials), "--cpu", str(cpu)]
    if noise:
        cmd += ["--_noise", noise]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if src:
        # the older version from its own checkout: its dopasim, not this one's
        cmd += ["--_src", str(src)]
        env["PYTHONPATH"] = str(src)
        cwd = str(src)
    else:
        cwd = tempfile.gettempdir()  # a neutral folder: the installed dopasim
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    if out.returncode:
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit(f"benchmark run failed: {' '.join(cmd)}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _git_commit():
    r = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return r.stdout.strip() or None


def meta_row(bench, run_id, argv, script=__file__):
    import brian2

    try:
        from dopasim import __version__ as version
    except ImportError:
        version = None
    return {
        "bench": "meta",
        "of": bench,
        "run_id": run_id,
        "date": datetime.date.today().isoformat(),
        "command": "python " + " ".join([os.path.relpath(script, ROOT), *argv]),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "brian2": brian2.__version__,
        "dopasim": version,
        "commit": _git_commit(),
    }


def emit(row, json_path):
    line = json.dumps(row)
    print("RESULT " + line, flush=True)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "a") as f:
            f.write(line + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--cpu", type=int, default=0, help="pin every run to this CPU (-1: no pin)")
    ap.add_argument(
        "--against",
        metavar="DIR|git:REV|PYTHON",
        help="an older dopasim, run first (the reference): a checkout, a commit of this "
        "repository (checked out to /tmp/dopasim-REV), or the Python of an environment",
    )
    ap.add_argument(
        "--cold", action="store_true", help="fresh build caches: each first run compiles"
    )
    ap.add_argument("--no-counter", action="store_true", help="skip the counter-noise rows")
    ap.add_argument(
        "--json",
        metavar="FILE",
        default=str(DEFAULT_JSON),
        help="append the RESULT lines to FILE (default runs/bench/<date>.jsonl; '' for none)",
    )
    ap.add_argument("--run-id", default=None, help="tag of the rows (default: start time)")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_cache", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_noise", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_src", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        one_run(args.trials, args._cache, args.cpu, args._noise, args._src)
        return 0
    run_id = args.run_id or datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    configs = []
    if args.against:
        python, src = _reference(args.against)
        configs.append(("reference", python, "", src))
    configs.append(("this (xi)", sys.executable, "", None))
    if not args.no_counter:
        configs.append(("this (counter)", sys.executable, "counter", None))
    emit(meta_row("reward_circuit", run_id, sys.argv[1:] if argv is None else argv), args.json)
    rows = []
    for label, python, noise, src in configs:
        cache = tempfile.mkdtemp(prefix="dopasim-bench-") if args.cold else ""
        for i in range(2):
            r = _child(python, args.trials, args.cpu, noise, cache, src)
            build = "cold" if r["compiled"] else "cached"
            if i == 1 and r["compiled"]:
                build = "rebuilt"  # should not happen: the second run found no binary
            r.update(label=label, build=build, bench="reward_circuit", run_id=run_id)
            rows.append(r)
            emit(r, args.json)
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
    print_table(rows, args.trials, args.cpu)
    return 0


def print_table(rows, trials, cpu):
    cached = [r for r in rows if r["build"] == "cached"]
    ref = cached[0] if cached else rows[0]
    print(
        f"\nconditioning, {trials} trials ({rows[0]['sim_s']:g} s simulated), "
        f"cpp_standalone, one core (CPU {cpu})"
    )
    head = (
        f"{'configuration':16} {'version':>8} {'build':6} {'total s':>8} {'compile s':>9} "
        f"{'run s':>6} {'run x RT':>8} {'speed-up':>8} {'neurons %':>9} {'RSS MB':>6} "
        f"{'+child MB':>9}"
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
            f"{100 * sp['neurons'] / tot:9.0f} {r['rss_mb']:6.0f} {r.get('rss_children_mb', 0):9.0f}"
        )
    print(f"speed-up: the cached run phase of '{ref['label']}' over each cached run phase")
    print(f"compiler flags: {rows[-1]['flags']} {rows[-1].get('flags_extra', '')}".rstrip())
    for r in rows:
        cu = r.get("compile_units")
        if r["build"] == "cold" and cu:
            slow = ", ".join(f"{n} {t:.1f} s" for n, t in cu["slowest"])
            print(
                f"cold compile, {r['label']}: {cu['units']} files, {cu['sum_s']:.1f} s in the "
                f"compiler (median {cu['median_s']:.2f} s/file; make.deps {cu['deps_s']:.1f} s, "
                f"link {cu['link_s']:.1f} s); slowest: {slow}"
            )
    for r in cached:
        tot = sum(r["split_s"].values()) or 1.0
        top = ", ".join(f"{n} {100 * t / tot:.0f} %" for n, t in r["top"])
        print(f"largest code objects, {r['label']}: {top}")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Optional GPU check: dopasim on Brian2CUDA's cuda_standalone beside cpp_standalone.

Never run by CI or the tests (benchmarks/gpu_check.sh runs it on a GPU machine). Each row
is one subprocess with its own build folder in /tmp/dopasim-gpu: (a) the reward circuit,
conditioning, 100 trials (300 s simulated), built and run as bench_reward_circuit.py does;
(b) the distal-reward network at 10,000 x 1,000 (bench_distal_reward.py --scaled), 10 s,
post_archive=off on both devices (the archive is C++ only), then cpp_standalone with
post_archive=auto if time is left. Per row: build, code generation + compile and run-phase
seconds (Brian2's timer of the simulation loop), x real time, and sanity figures (rates,
spike counts, mean [DA]) that agree statistically, not bitwise (the random streams differ).
A run phase stops at a wall-clock cap from --budget ('reached' says where); a failing row
prints its error lines and the rest still runs.

brian2cuda 1.0b1 (it pins brian2==2.10.1) on CUDA 13, worked around here: Thrust needs
C++17 (the makefile's -std=c++11 becomes --cuda-std); dopasim's counter-noise functions get
a __device__ form; curand may come from the nvidia-curand wheel; synapses.cu reads an
undeclared `defaultclock` with dopasim's named clocks (the pathway's clock is used) and
redeclares `j` when synaptic code reads it (that code gets a block of its own).

    python benchmarks/bench_gpu.py --json $OUT/gpu.jsonl --budget 420
    python benchmarks/bench_gpu.py --quick --devices cpp_standalone --only distal
"""

import argparse
import datetime
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent
BUILD = Path(tempfile.gettempdir()) / "dopasim-gpu"
OVERHEAD = {"cpp_standalone": 60, "cuda_standalone": 150}  # s of build + compile (a guess)


def sh(cmd):
    try:
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
        return (p.stdout + p.stderr).strip()
    except Exception as e:  # noqa: BLE001
        return f"({cmd}: {e})"


def cuda_env(env):
    """CUDA_PATH (brian2cuda's way to nvcc), and curand from the nvidia-curand wheel."""
    root, nvcc = env.get("CUDA_PATH", ""), shutil.which("nvcc")
    if not os.path.exists(f"{root}/bin/nvcc"):
        root = "/usr/local/cuda" if os.path.exists("/usr/local/cuda/bin/nvcc") else ""
        root = root or (os.path.dirname(os.path.dirname(nvcc)) if nvcc else "")
    if not root:
        return {"cuda_path": None}
    env.update(CUDA_PATH=root, PATH=f"{root}/bin:{env.get('PATH', '')}")
    heads = glob.glob(f"{root}/include/curand.h") + glob.glob(f"{root}/targets/*/include/curand.h")
    libs = glob.glob(f"{root}/lib*/libcurand.so*") + glob.glob(
        f"{root}/targets/*/lib/libcurand.so*"
    )
    if not (heads and libs):  # e.g. a toolkit made of pip wheels: look for nvidia-curand
        sites = sys.path + glob.glob("/opt/*/.venv/lib/python3*/site-packages")
        heads = [
            h for s in sites for h in glob.glob(f"{s}/nvidia/**/include/curand.h", recursive=True)
        ]
        libs = [
            x for h in heads for x in sorted(glob.glob(f"{Path(h).parents[1]}/lib*/libcurand.so*"))
        ]
    if not libs:
        return {"cuda_path": root, "curand": "not found"}
    link = BUILD / "curand-lib"  # -lcurand needs a libcurand.so; a wheel has only .so.10
    link.mkdir(parents=True, exist_ok=True)
    (link / "libcurand.so").unlink(missing_ok=True)
    (link / "libcurand.so").symlink_to(libs[0])
    for var, val in (
        ("CPATH", Path(heads[0]).parent),
        ("LIBRARY_PATH", link),
        ("LD_LIBRARY_PATH", f"{link}:{Path(libs[0]).parent}"),
    ):
        env[var] = f"{val}:{env[var]}" if env.get(var) else str(val)
    return {"cuda_path": root, "curand": libs[0]}


def configure_cuda(cc, std):
    """In the worker: GPU preferences and the CUDA 13 fixes, before anything is built."""
    import brian2
    import brian2cuda  # noqa: F401 (registers cuda_standalone)
    from brian2.codegen.templates import LazyTemplateLoader
    from brian2cuda.codeobject import CUDAStandaloneCodeObject
    from brian2cuda.cuda_generator import CUDACodeGenerator
    from brian2cuda.device import CUDAStandaloneDevice
    from jinja2 import ChoiceLoader, DictLoader

    from dopasim.models import noise

    cb = brian2.prefs.devices.cuda_standalone.cuda_backend
    cb.detect_gpus, cb.gpu_id, cb.compute_capability, cb.gpu_heap_size = False, 0, float(cc), 1024
    original = CUDAStandaloneDevice.generate_makefile

    def generate_makefile(self, writer, *args, **kwargs):  # after all code is written
        original(self, writer, *args, **kwargs)
        d = Path(writer.project_dir)
        (d / "makefile").write_text(
            (d / "makefile").read_text().replace("-std=c++11", f"-std={std}")
        )
        for name, obj in self.code_objects.items():  # synapses.cu reads defaultclock, which a
            f = d / "code_objects" / f"{name}.cu"  # network of named clocks does not declare
            if f.exists() and "defaultclock.timestep[0]" in (text := f.read_text()):
                f.write_text(
                    text.replace("defaultclock.timestep", f"{obj.owner.clock.name}.timestep")
                )

    CUDAStandaloneDevice.generate_makefile = generate_makefile
    # synapses.cu loops over synapses with `int j`: on_pre code that reads j (the post index,
    # as the distal-reward critic's does) redeclares it; a block of its own keeps both
    tp = CUDAStandaloneCodeObject.templater
    src = tp.env.loader.get_source(tp.env, "synapses.cu")[0]
    src = src.replace("{{vector_code|autoindent}}", "{ {{vector_code|autoindent}} }")
    tp.env.loader = ChoiceLoader([DictLoader({"synapses.cu": src}), tp.env.loader])
    tp.templates = LazyTemplateLoader(tp.env, ".cu")
    for fn in (noise.counter_uniform, noise.counter_normal):
        impl = fn.implementations._implementations["cpp"]
        code = impl._code.replace("static inline", "__host__ __device__ static inline")
        fn.implementations.add_implementation(
            CUDACodeGenerator, code, name=impl.name, dependencies={}
        )


def worker(s):
    t0 = time.perf_counter()
    sys.path.insert(0, str(HERE))
    from bench_reward_circuit import _map_checkout

    _map_checkout(ROOT)  # dopasim.models, .circuits, .protocols from this checkout, no install
    import brian2
    import numpy as np

    brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count()}"]
    if s["device"] == "cuda_standalone":
        configure_cuda(s["cc"], s["std"])
    from dopasim import runner
    from dopasim.seeding import streams

    if s["kind"] == "rc":
        w = min(25, s["trials"])  # as bench_reward_circuit.py
        params = {
            "n_trials": str(s["trials"]),
            "probe_window": str(w),
            "n_omissions": str(min(5, w)),
        }
    else:
        params = {
            "duration": f"{s['T']} s",
            "n_neurons": str(s["N"]),
            "n_synapses": str(s["M"]),
            "plasticity": "event",
            "post_archive": s["archive"],
        }
    protocol = "conditioning" if s["kind"] == "rc" else "distal-reward"
    module, p, seed, _ = runner.prepare(protocol, params, out=tempfile.mkdtemp())
    rngs = streams(seed)
    shutil.rmtree(s["dir"], ignore_errors=True)
    brian2.set_device(s["device"], directory=s["dir"], build_on_run=False)
    brian2.device._set_maximum_run_time(s["cap"])
    brian2.seed(rngs["brian2_seed"])
    circuit = module.build(p, rngs)
    circuit.network.run(p["duration"], namespace={})  # not this function's locals
    t1 = time.perf_counter()
    brian2.device.build(directory=s["dir"], compile=True, run=False, with_output=False)
    t2 = time.perf_counter()
    brian2.device.run(directory=s["dir"], with_output=False)
    t3 = time.perf_counter()
    frac, run_s = (
        float(brian2.device._last_run_completed_fraction),
        float(brian2.device._last_run_time),
    )
    T = max(float(p["duration"]) * frac, 1e-9)
    row = {
        "sim_s": float(p["duration"]),
        "reached_s": T,
        "build_s": t1 - t0,
        "compile_s": t2 - t1,
        "run_s": run_s,
        "run_wall_s": t3 - t2,
        "x_rt": T / max(run_s, 1e-9),
    }
    print("TIMES " + json.dumps(row), flush=True)  # kept if what follows fails
    data = module.collect(circuit, p)
    if s["kind"] == "rc":
        san = {
            f"{k}_hz": len(data[f"spikes_{k}"][0]) / int(data["sizes"][k]) / T
            for k in ("vta_da", "vta_gaba", "drn_5ht", "str_d1", "str_d2")
        }
        san["spikes"] = sum(len(v[0]) for k, v in data.items() if k.startswith("spikes_"))
        da, pt = np.asarray(data["da_nM"]), np.asarray(data["pool_t"])
        n = min(len(da), len(pt))  # a capped run: the monitor's times outrun its values
        san["da_nM"] = np.mean(da[:n][pt[:n] < T])
        if frac > 0.999:
            m = module.metrics(data, p)
            san.update(
                {k: m.get(k) for k in ("late_cs_ratio", "late_us_ratio", "d1_weight_change")}
            )
    else:
        c, ne = data["spike_counts"], int(circuit.info["n_exc"])
        san = {
            "rate_hz": c.mean() / T,
            "exc_hz": c[:ne].mean() / T,
            "inh_hz": c[ne:].mean() / T,
            "spikes": c.sum(),
            "mean_exc_w": np.mean(data["w_final"]),
        }
    row["sanity"] = {
        k: float(v) if v is not None and np.isfinite(v) else None for k, v in san.items()
    }
    print("RESULT " + json.dumps(row), flush=True)


def run_task(spec, timeout, log):
    env = spec.pop("env")
    cmd = [sys.executable, __file__, "--_worker", json.dumps(spec)]
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )  # its own group: make, nvcc, main
        try:
            rc, note = p.wait(timeout=timeout), ""
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rc, note = p.wait(), f"\n[killed at the timeout of {timeout:.0f} s]"
        out.seek(0)
        text = out.read() + note
    with open(log, "a") as f:
        f.write(f"\n===== {spec['task']} on {spec['device']} (rc {rc}) =====\n{text[-300000:]}")
    lines = text.splitlines()
    found = {
        ln.split(" ", 1)[0]: json.loads(ln.split(" ", 1)[1])
        for ln in lines
        if ln.startswith(("RESULT {", "TIMES {"))
    }
    if "RESULT" in found:
        return {**found["RESULT"], "ok": True}
    errs = [ln for ln in lines if "error" in ln.lower()][:10]
    tail = "\n".join(errs + ["... last 30 lines:"] + lines[-30:])
    print(
        f"!! {spec['task']} on {spec['device']} failed (rc {rc}); its error lines:\n{tail}",
        flush=True,
    )
    return {**found.get("TIMES", {}), "ok": False, "rc": rc, "error": tail[-6000:]}


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    out = os.environ.get("OUT")
    ap.add_argument(
        "--json",
        default=os.path.join(out, "gpu.jsonl")
        if out
        else str(ROOT / "runs" / "bench" / "gpu.jsonl"),
    )
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for all measurements")
    ap.add_argument("--devices", default="cpp_standalone,cuda_standalone")
    ap.add_argument("--quick", action="store_true", help="5 trials; distal 1,000 x 100, 1 s")
    ap.add_argument(
        "--only", default="", help="tasks whose name contains this ('distal', 'reward')"
    )
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--dr-T", type=float, default=10.0, help="distal-reward simulated seconds")
    ap.add_argument("--max-run", type=float, default=180.0, help="cap of one run phase (s)")
    ap.add_argument("--cc", default="", help="compute capability (default: nvidia-smi's, else 9.0)")
    ap.add_argument("--cuda-std", default="c++17", help="C++ standard for nvcc (CUDA 13: c++17)")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._worker:
        return worker(json.loads(a._worker))
    deadline = time.monotonic() + a.budget
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    meta = {
        "bench": "gpu-meta",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "python": sys.version.split()[0],
        **cuda_env(env),
    }
    cc = a.cc or sh("nvidia-smi --query-gpu=compute_cap --format=csv,noheader").split("\n")[0]
    meta.update(
        cc=cc if cc.replace(".", "").isdigit() else "9.0",
        gpus=sh("nvidia-smi -L"),
        nvcc=sh(
            f"{meta['cuda_path']}/bin/nvcc --version" if meta["cuda_path"] else "nvcc --version"
        ),
        cxx=sh("g++ --version").split("\n")[0],
        versions=sh(
            f"{sys.executable} -W ignore -c \"import numpy, brian2; print('numpy', numpy.__version__,"
            " 'brian2', brian2.__version__); import brian2cuda; print('brian2cuda', brian2cuda.__version__)\""
        ),
    )
    print(
        "\n".join(
            f"{k}: {meta.get(k)}"
            for k in ("gpus", "nvcc", "cxx", "versions", "cuda_path", "curand", "cc")
        )
    )
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    log = os.path.join(os.path.dirname(os.path.abspath(a.json)), "gpu-workers.log")
    N, M, T, trials = (1000, 100, 1.0, 5) if a.quick else (10000, 1000, a.dr_T, a.trials)
    dr, rc = f"distal {N}x{M}", f"reward circuit {trials} tr"
    tasks = [
        (dr + " off", "cpp_standalone", "off"),
        (dr + " off", "cuda_standalone", "off"),
        (rc, "cpp_standalone", ""),
        (rc, "cuda_standalone", ""),
        (dr + " auto", "cpp_standalone", "auto"),
    ]
    tasks = [t for t in tasks if t[1] in a.devices.split(",") and a.only in t[0]]
    rows = []
    with open(a.json, "a") as jf:
        jf.write(json.dumps(meta) + "\n")
        for i, (task, device, archive) in enumerate(tasks):
            left = deadline - time.monotonic()
            rest = sum(
                OVERHEAD[t[1]] for t in tasks[i + 1 :] if t[2] != "auto"
            )  # 'auto': if time is left
            cap = max(10.0, min(a.max_run, left - OVERHEAD[device] - 0.5 * rest))
            row = {"bench": "gpu", "task": task, "device": device}
            if left < 30 + cap / 2 or (archive == "auto" and left < OVERHEAD[device]):
                print(f"-- skipped {task} on {device}: {left:.0f} s of the budget left", flush=True)
                row.update(ok=False, error="skipped: budget")
            else:
                print(f"-- {task} on {device} (run cap {cap:.0f} s, {left:.0f} s left)", flush=True)
                spec = {
                    "task": task,
                    "device": device,
                    "kind": "dr" if archive else "rc",
                    "trials": trials,
                    "N": N,
                    "M": M,
                    "T": T,
                    "archive": archive,
                    "cap": cap,
                    "cc": meta["cc"],
                    "std": a.cuda_std,
                    "dir": str(BUILD / f"{i}-{device}"),
                    "env": env,
                }
                row.update(run_task(spec, left - 2, log))
            rows.append(row)
            jf.write(json.dumps(row) + "\n")
            jf.flush()
    print(
        f"\n{'task':24} {'device':15} {'reached s':>11} {'build s':>7} {'compile s':>9} {'run s':>7} {'x RT':>7}  sanity"
    )
    for r in rows:
        if not r.get("ok"):
            t = f" (run phase {r['run_s']:.2f} s, {r['x_rt']:.2f} x RT)" if "run_s" in r else ""
            print(f"{r['task']:24} {r['device']:15} {'failed' if 'rc' in r else 'skipped':>11}{t}")
            continue
        san = ", ".join(f"{k} {v:.4g}" for k, v in r["sanity"].items() if v is not None)
        print(
            f"{r['task']:24} {r['device']:15} {r['reached_s']:5.1f}/{r['sim_s']:<5g} {r['build_s']:7.1f} "
            f"{r['compile_s']:9.1f} {r['run_s']:7.2f} {r['x_rt']:7.2f}  {san}"
        )
    for task in dict.fromkeys(r["task"] for r in rows):
        x = {r["device"]: r for r in rows if r["task"] == task and r.get("ok")}
        if len(x) == 2:
            c, g = x["cpp_standalone"], x["cuda_standalone"]
            same = ", ".join(
                f"{k} {v:.3g}/{g['sanity'][k]:.3g}"
                for k, v in c["sanity"].items()
                if v is not None and g["sanity"].get(k) is not None
            )
            print(
                f"{task}: cuda's run phase {g['x_rt'] / c['x_rt']:.2f}x as fast as cpp's; cpp/cuda: {same}"
            )
    print(f"rows: {a.json}; worker logs: {log}")


if __name__ == "__main__":
    sys.exit(main())

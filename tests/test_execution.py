"""Comparisons on a real Dask LocalCluster (2 workers, one thread each, 127.0.0.1), tiny
networks on the numpy target: the same results as the local pool, one failure recorded
once, a worker killed mid-run, --resume, the preflight and the scheduler option."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from dopasim import comparison, execution  # noqa: E402
from dopasim.params import ParamError  # noqa: E402
from dopasim.recording import Interrupt  # noqa: E402

TINY = {"n_neurons": "100", "n_synapses": "10", "duration": "0.5 s"}


def _compare(out, **kw):
    args = dict(seeds=2, jobs=2, out=out, params=TINY, device="numpy", quiet=True)
    args.update(kw)
    return comparison.compare("distal-reward", ["intact"], **args)


def test_dask_gives_the_same_per_seed_table_as_the_local_pool(tmp_path):
    local = _compare(tmp_path / "local")
    dask = _compare(tmp_path / "dask", scheduler="dask")
    assert (tmp_path / "local" / "per_seed.csv").read_bytes() == (
        tmp_path / "dask" / "per_seed.csv"
    ).read_bytes()
    assert not local["failures"] and not dask["failures"]
    assert json.loads((tmp_path / "dask" / "compare.json").read_text())["scheduler"] == "dask"


def test_a_run_that_fails_is_recorded_once_and_the_others_complete(tmp_path):
    out = tmp_path / "cmp"
    (out / "runs" / "intact").mkdir(parents=True)
    (out / "runs" / "intact" / "seed2").write_text("not a folder")  # seed 2 cannot write
    res = _compare(out, seeds=3, scheduler="dask", resume=True)
    assert [(f["scenario"], f["seed"]) for f in res["failures"]] == [("intact", 2)]
    lines = (out / "failures.csv").read_text().strip().splitlines()
    assert len(lines) == 2 and ",2," in lines[1]  # header + one row
    for seed in (1, 3):
        meta = json.loads((out / "runs" / "intact" / f"seed{seed}" / "metadata.json").read_text())
        assert meta["status"] == "complete"


def _children(pid):
    """Child processes of ``pid``, started by any of its threads."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_killed_mid_run_is_replaced_and_every_run_completes_once(tmp_path):
    out = tmp_path / "cmp"
    params = {**TINY, "duration": "6 s"}  # long enough to be caught running
    box = {}

    def go():
        try:
            box["res"] = _compare(out, seeds=4, params=params, scheduler="dask")
        except BaseException as e:  # noqa: BLE001 - reported below
            box["err"] = e

    before = set(_children(os.getpid()))
    t = threading.Thread(target=go)
    t.start()
    victim = None
    deadline = time.time() + 120
    while victim is None and time.time() < deadline and t.is_alive():
        running = [
            p
            for p in out.glob("runs/intact/seed*/metadata.json")
            if json.loads(p.read_text() or "{}").get("status") == "running"
        ]
        workers = [c for c in _children(os.getpid()) if c not in before]
        if running and workers:
            victim = workers[0]
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.05)
    t.join(300)
    assert victim is not None, "no run was caught running"
    assert "err" not in box, box.get("err")
    res = box["res"]
    assert not res["failures"]
    assert sorted(res["per_seed"]) == [("intact", s) for s in (1, 2, 3, 4)]
    rows = [r.split(",")[:3] for r in (out / "per_seed.csv").read_text().splitlines()[1:]]
    assert len(rows) == len({tuple(r) for r in rows})  # nothing recorded twice
    assert {r[1] for r in rows} == {"1", "2", "3", "4"}
    for s in (1, 2, 3, 4):
        meta = json.loads((out / "runs" / "intact" / f"seed{s}" / "metadata.json").read_text())
        assert meta["status"] == "complete"


def test_resume_runs_only_what_is_unfinished(tmp_path):
    out = tmp_path / "cmp"
    _compare(out, seeds=3)
    first = (out / "per_seed.csv").read_bytes()
    meta = out / "runs" / "intact" / "seed2" / "metadata.json"
    m = json.loads(meta.read_text())
    meta.write_text(json.dumps({**m, "status": "interrupted"}))
    for f in (out / "runs" / "intact" / "seed3").iterdir():
        f.unlink()
    (out / "runs" / "intact" / "seed3").rmdir()
    res = _compare(out, seeds=3, resume=True, scheduler="dask")
    assert (res["kept"], res["ran"]) == (1, 2)
    assert (out / "per_seed.csv").read_bytes() == first
    res = _compare(out, seeds=3, resume=True)
    assert (res["kept"], res["ran"]) == (3, 0)


def test_resume_refuses_another_plan_naming_the_field(tmp_path):
    out = tmp_path / "cmp"
    _compare(out, seeds=1, jobs=1)
    with pytest.raises(ParamError, match="parameter n_synapses = 10, this plan has 12"):
        _compare(out, seeds=1, jobs=1, resume=True, params={**TINY, "n_synapses": "12"})


def test_a_failed_run_is_rerun_only_with_retry_failed(tmp_path):
    out = tmp_path / "cmp"
    _compare(out, seeds=2, jobs=1)
    meta = out / "runs" / "intact" / "seed1" / "metadata.json"
    m = json.loads(meta.read_text())
    meta.write_text(json.dumps({**m, "status": "failed", "failure": "numerical: test"}))
    res = _compare(out, seeds=2, jobs=1, resume=True)
    assert res["ran"] == 0 and len(res["failures"]) == 1
    assert "numerical: test" in res["failures"][0]["error"]
    res = _compare(out, seeds=2, jobs=1, resume=True, retry_failed=True)
    assert res["ran"] == 1 and not res["failures"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("dusk", "did you mean 'dask'"),
        ("tcp://nohost", "allowed: tcp://HOST:PORT"),
        ("tcp://h:99999", "allowed: tcp://HOST:PORT"),
    ],
)
def test_the_scheduler_option_is_checked(value, message):
    with pytest.raises(ParamError, match=message):
        execution.parse_scheduler(value)


def test_nothing_listening_exits_2_with_one_line_and_creates_nothing(tmp_path):
    out = tmp_path / "never"
    res = subprocess.run(
        [sys.executable, "-m", "dopasim.cli", "compare", "distal-reward", "--scenario", "intact"]
        + ["--device", "numpy", "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Dask scheduler answers at tcp://127.0.0.1:9" in lines[0]
    assert not out.exists()


class _Client:
    """Enough of a distributed.Client for the preflight's checks."""

    def __init__(self, nthreads=1, facts=None, broken=None):
        self.nthreads, self.facts, self.broken = nthreads, facts or {}, broken

    def scheduler_info(self):
        return {"workers": {"tcp://10.0.0.5:1": {"host": "node5", "nthreads": self.nthreads}}}

    def run(self, fn, *args, on_error="raise"):
        assert on_error == "return"  # a worker that cannot answer is named, not raised
        if self.broken is not None:
            return {"tcp://10.0.0.5:1": self.broken}
        return {"tcp://10.0.0.5:1": {**fn(*args), **self.facts}}


def test_preflight_names_the_worker_that_differs(tmp_path):
    assert execution.preflight(_Client(), tmp_path / "new") == 1
    with pytest.raises(ParamError, match="has 2 threads"):
        execution.preflight(_Client(nthreads=2), tmp_path)
    with pytest.raises(ParamError, match="host node9 runs dopasim 0.0.1"):
        execution.preflight(_Client(facts={"dopasim": "0.0.1", "host": "node9"}), tmp_path)
    with pytest.raises(ParamError, match="cannot write the output folder"):
        execution.preflight(_Client(facts={"sees_out": False}), tmp_path)
    with pytest.raises(ParamError, match="host node5 cannot run dopasim .ModuleNotFoundError"):
        execution.preflight(_Client(broken=ModuleNotFoundError("dopasim")), tmp_path)
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_the_preflight_probe_tells_another_machines_folder_apart(tmp_path):
    facts = execution._worker_facts(str(tmp_path / "out"), "no-such-probe")
    assert facts["out_probe"] == str(tmp_path) and not facts["sees_out"]
    (tmp_path / "probe").touch()
    assert execution._worker_facts(str(tmp_path / "out"), "probe")["sees_out"]


def test_interrupt_off_the_main_thread_installs_nothing():
    box = {}

    def body():
        try:
            with Interrupt(lambda: None) as stop:
                box["requested"] = stop.requested
        except Exception as e:  # noqa: BLE001
            box["err"] = e

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert box == {"requested": False}
    assert signal.getsignal(signal.SIGINT) is before


def test_node_cache_avoids_network_file_systems(tmp_path, monkeypatch):
    monkeypatch.delenv("DOPASIM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(execution, "_fs_type", lambda path: "nfs4")
    assert str(execution.node_cache()).startswith(str(Path(os.environ.get("TMPDIR", "/tmp"))))
    monkeypatch.setattr(execution, "_fs_type", lambda path: "ext4")
    assert execution.node_cache() == tmp_path / "dopasim"
    monkeypatch.setenv("DOPASIM_CACHE", str(tmp_path / "mine"))
    assert execution.node_cache() == tmp_path / "mine"


def test_make_runs_on_the_cpus_this_process_may_use(monkeypatch):
    from dopasim import device

    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert device.usable_cpus() == 2
    assert device.make_args(["-j64", "--quiet"]) == ["-j2", "--quiet"]
    assert device.make_args(["-j1"]) == ["-j1"]  # a smaller -j is kept
    import brian2

    before = list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)
    with device.use_device("cpp_standalone", build_key=("test-make-args",)) as info:
        assert all(not a.startswith("-j") or int(a[2:]) <= 2 for a in info["make_args"]), info[
            "make_args"
        ]
    assert list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix) == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_on_the_driver_cancels_the_sweep_and_keeps_the_completed_runs(tmp_path):
    out = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "dopasim.cli", "compare", "distal-reward", "--scenario"]
    cmd += ["intact", "--seeds", "6", "--jobs", "2", "--device", "numpy", "--out", str(out)]
    cmd += ["--scheduler", "dask", "--duration", "4s", "--param", "n_neurons=100"]
    cmd += ["--param", "n_synapses=10"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        metas = [json.loads(p.read_text() or "{}") for p in out.glob("runs/*/*/metadata.json")]
        if any(m.get("status") == "complete" for m in metas):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "comparison interrupted (SIGINT)" in err and "--resume goes on" in err
    assert "Traceback" not in err
    done = [
        p
        for p in out.glob("runs/*/*/metadata.json")
        if json.loads(p.read_text()).get("status") == "complete"
    ]
    assert 1 <= len(done) < 6
    assert not (out / "comparison.csv").exists()  # no tables from a part of the runs


@pytest.mark.parametrize("scheduler, extra", [("dask", "cluster"), ("slurm", "hpc")])
def test_without_the_extra_the_scheduler_names_it(monkeypatch, scheduler, extra):
    import builtins

    real = builtins.__import__

    def no_distributed(name, *a, **kw):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ParamError, match=rf"pip install 'dopasim\[{extra}\]'"):
        with execution.client_for(scheduler, 1):
            pass

"""A real `dopasim run`, stopped from outside: Ctrl-C, SIGTERM, a second Ctrl-C, kill -9.

The run is a small conditioning run (40 s simulated, 2 s chunks); the signal comes once
the first chunks are on disk. numpy in the fast suite; cpp_standalone (the binary stops
itself and writes its arrays) in the targets tier.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import brian2
import numpy as np
import pytest
from tiny import TINY_CONDITIONING

from dopasim.recording import verify
from dopasim.runner import load_run

DOPASIM = str(Path(sys.executable).parent / "dopasim")
PARAMS = dict(TINY_CONDITIONING, n_trials="20")  # 40 s simulated


def _start(out, device, params=PARAMS, env=None):
    argv = [DOPASIM, "run", "conditioning", "--device", device, "--out", str(out)]
    argv += ["--chunk", "2s", "--no-figures"]
    for k, v in params.items():
        argv += ["--param", f"{k}={v}"]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _wait_for_chunk(proc, out, k, timeout=600):
    t0 = time.monotonic()
    while not (out / "chunks" / f"{k:05d}.done").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "no chunk written"
        time.sleep(0.02)


def _check_interrupted(out, proc, signame, requested=40.0):
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and ("interrupted" in err or "run aborted" in err)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "interrupted"
    assert 2.0 <= meta["reached_time_s"] < meta["requested_time_s"] == requested
    assert verify(out) == []
    run = load_run(out)  # readable spikes up to the time reached, nothing after
    assert len(run.data["spikes_vta_da"][1]) > 0
    for k, v in run.data.items():
        if k.startswith("spikes_") and len(v[1]):
            assert v[1].max() <= meta["reached_time_s"] and v[1].dtype == np.float64
    assert not (out / "chunks").exists() and run.metrics == {}
    if not meta.get("aborted"):
        assert meta["interrupted_by"] == signame
    return meta


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_numpy_run_and_keeps_it(tmp_path, sig):
    out = tmp_path / "r"
    proc = _start(out, "numpy")
    _wait_for_chunk(proc, out, 1)
    proc.send_signal(sig)
    _check_interrupted(out, proc, sig.name)
    assert (out / "data.npz").exists()  # the network's state up to then, not only spikes


def test_hard_kill_loses_at_most_the_last_chunk(tmp_path):
    out = tmp_path / "r"
    proc = _start(out, "numpy")
    _wait_for_chunk(proc, out, 1)
    proc.kill()
    proc.communicate(timeout=60)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "running"  # it never finished; nothing claims otherwise
    assert verify(out) == []
    run = load_run(out)
    assert run.metadata["reached_time_s"] >= 4.0  # chunks 0 and 1 (2 s each) survive
    t = run.data["spikes_vta_da"][1]
    assert len(t) > 0 and t.max() <= run.metadata["reached_time_s"]


#: the tiny binary simulates 40 s in well under a second, faster than a signal can
#: follow the first chunk; this one runs long enough to be caught mid-run
LONG_PARAMS = dict(TINY_CONDITIONING, n_trials="2000")  # 4000 s simulated, 64 chunks


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One build cache for the standalone cases (one compilation, not one per case)."""
    return str(tmp_path_factory.mktemp("standalone-cache"))


@pytest.mark.targets
@pytest.mark.parametrize("twice", [False, True])
def test_signal_stops_a_standalone_run(tmp_path, twice, shared_cache):
    """The binary stops at the current step and writes its arrays (once), or is
    killed at the second signal and the chunks are kept (twice)."""
    out = tmp_path / "r"
    env = {**os.environ, "DOPASIM_CACHE": shared_cache}
    proc = _start(out, "cpp_standalone", LONG_PARAMS, env)
    _wait_for_chunk(proc, out, 1)
    proc.send_signal(signal.SIGINT)
    if twice:  # a different signal: two SIGINTs sent back to back may merge into one
        proc.send_signal(signal.SIGTERM)
    meta = _check_interrupted(out, proc, "SIGINT", requested=4000.0)
    assert bool(meta.get("aborted")) is twice
    assert (out / "data.npz").exists() is not twice  # an abort keeps the chunks' spikes only


def test_a_killed_run_splits_a_shared_monitor_into_its_populations(tmp_path):
    """distal-reward records exc and inh in one monitor; the chunks of a killed run load
    as ``spikes_exc`` and ``spikes_inh``, like a complete run's."""
    out = tmp_path / "r"
    argv = [DOPASIM, "run", "distal-reward", "--device", "numpy", "--out", str(out)]
    argv += ["--chunk", "0.5s", "--no-figures", "--param", "duration=60s"]
    argv += ["--param", "n_neurons=100", "--param", "n_synapses=10"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_chunk(proc, out, 1)
    proc.kill()
    proc.communicate(timeout=60)
    run = load_run(out)
    assert run.metadata["status"] == "running"
    assert {k for k in run.data if k.startswith("spikes_")} == {"spikes_exc", "spikes_inh"}
    i_exc, i_inh = run.data["spikes_exc"][0], run.data["spikes_inh"][0]
    assert len(i_exc) and len(i_inh)
    assert i_exc.max() < 80 and i_inh.max() < 20  # 80 % excitatory, renumbered from 0


@pytest.mark.targets
def test_a_signal_that_lands_on_another_thread_still_stops_a_standalone_run(tmp_path, shared_cache):
    """The kernel may deliver Ctrl-C to any thread of the Python process (numpy's BLAS
    threads, say), not the main thread, which waits for the binary; Python's handler,
    which forwards the signal, must still run while the binary runs."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "tgkill"):
        pytest.skip("no tgkill in this C library")
    out = tmp_path / "r"
    env = {**os.environ, "DOPASIM_CACHE": shared_cache, "OPENBLAS_NUM_THREADS": "2"}
    proc = _start(out, "cpp_standalone", LONG_PARAMS, env)
    _wait_for_chunk(proc, out, 1)
    threads = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
    if not threads:
        proc.send_signal(signal.SIGKILL)
        pytest.skip("the Python process has no second thread here")
    assert libc.tgkill(proc.pid, threads[0], signal.SIGINT) == 0, ctypes.get_errno()
    _check_interrupted(out, proc, "SIGINT", requested=4000.0)


@pytest.mark.targets
def test_numerical_failure_stops_a_standalone_run_after_the_chunk(tmp_path, monkeypatch):
    """The compiled binary checks its state after every chunk (dopasim_run.h): a NaN
    from 0.5 s on stops it at the end of the first 2 s chunk, not at the end of the run."""
    from dopasim import runner
    from dopasim.protocols import conditioning

    real = conditioning.build

    def blow_up(p, rngs):
        circuit = real(p, rngs)
        # sqrt of a negative number: NaN from 0.5 s on, a factor of 1 before
        circuit["pools"].run_regularly(
            "da = da * (1 + 1e-30 * sqrt(0.5 - t / second))", dt=100 * brian2.ms
        )
        return circuit

    monkeypatch.setattr(conditioning, "build", blow_up)
    out = tmp_path / "r"
    params = dict(TINY_CONDITIONING, n_trials="4")  # 8 s simulated, 2 s chunks
    # the binary checks at the 2 s boundary, last in that time step: it stops one step
    # (0.5 ms, the circuit's) on
    with pytest.raises(runner.NumericalFailure, match=r"numerical failure at 2\.0005 s of 8 s"):
        runner.run(
            "conditioning",
            params,
            device="cpp_standalone",
            out=out,
            quiet=True,
            figures=False,
            chunk=2.0,
        )
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "failed" and "NaN" in meta["failure"]
    assert meta["reached_time_s"] == pytest.approx(2.0005) and verify(out) == []


@pytest.mark.parametrize("where", ["begin", "before"])
def test_a_signal_as_the_run_starts_is_not_lost(tmp_path, monkeypatch, where):
    """A signal that lands as ``metadata.json`` is written, before the first step
    (``begin``), or before the run is even prepared (``before``: a compare worker
    between its check for a stop and the run) stops the run at 0 s. The handler outside
    the run (a compare worker's, between runs) must not be the one to get it: CI once
    caught a worker there, and its run went on for its whole duration."""
    from dopasim import recording, runner

    caught = []
    saved = signal.signal(signal.SIGINT, lambda s, f: caught.append(s))
    if where == "begin":
        real = recording.Recorder.begin

        def begin(self, metadata):
            real(self, metadata)
            os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(recording.Recorder, "begin", begin)
    else:  # a compare worker's handler between two runs, called as the signal would
        from types import SimpleNamespace

        from dopasim import comparison

        monkeypatch.setattr(recording, "_DEFERRED", [])
        shared = SimpleNamespace(value=1)  # the main process asked its workers to stop
        monkeypatch.setattr(comparison, "_WORKER", {"stopped": shared, "parent": os.getppid()})
        comparison._worker_stop(signal.SIGINT, None)
    out = tmp_path / "r"
    try:
        with pytest.raises(runner.Interrupted):
            runner.run("conditioning", PARAMS, device="numpy", out=out, quiet=True, figures=False)
    finally:
        signal.signal(signal.SIGINT, saved)
    assert caught == []
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "interrupted" and meta["interrupted_by"] == "SIGINT"
    assert meta["reached_time_s"] == 0.0 and verify(out) == []

"""Provenance in metadata.json (dopasim.provenance): checkout, host, CPU, compiler, batch
job, and the hash of spikes.npz."""

import hashlib
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import brian2
import numpy as np
import pytest

import dopasim
from dopasim import provenance, runner
from dopasim.recording import Recorder, verify

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

BATCH_VARS = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "PBS_JOBID",
    "JOB_ID",
    "SGE_ROOT",
    "SGE_TASK_ID",
    "LSB_JOBID",
    "LSB_JOBINDEX",
)


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git checkout laid out as dopasim's: ``repo/dopasim/__init__.py``, one commit."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    (root / "dopasim").mkdir(parents=True)
    (root / "dopasim" / "__init__.py").write_text("x = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", "dopasim/__init__.py")
    _git(root, "commit", "-q", "-m", "first")
    provenance.git_state.cache_clear()
    yield root
    provenance.git_state.cache_clear()


def test_a_run_records_its_provenance_and_the_hash_of_its_spikes(tmp_path):
    out = tmp_path / "r"
    runner.run(
        "distal-reward",
        params={"n_neurons": "100", "n_synapses": "10", "duration": "0.2 s"},
        seed=1,
        device="numpy",
        out=out,
        quiet=True,
        figures=False,
    )
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "complete"
    prov = meta["provenance"]
    assert prov["host"] == socket.gethostname()
    assert isinstance(prov["cpu"], str) and prov["cpu"].strip()
    assert prov["platform"]
    assert prov["compiler"]["flags"] == list(brian2.prefs.codegen.cpp.extra_compile_args_gcc)
    top = Path(dopasim.__file__).resolve().parents[1]
    if shutil.which("git") and (top / ".git").exists():
        assert prov["git"]["commit"] == _git(top, "rev-parse", "HEAD")
    spikes = meta["outputs"]["spikes.npz"]
    assert spikes["sha256"] == _sha256(out / "spikes.npz")
    assert len(spikes["sha256"]) == 64
    assert spikes["bytes"] == (out / "spikes.npz").stat().st_size > 0
    assert verify(out) == []


def test_an_interrupted_run_records_the_hash_of_its_spikes(tmp_path):
    out = tmp_path / "r"
    rec = Recorder(out)
    rec.begin({"requested_time_s": 2.0})
    assert "outputs" not in json.loads((out / "metadata.json").read_text())
    rec.chunk(1.0, {"mon_a": (np.array([0, 3]), np.array([0.1, 0.7]))})
    meta = {"requested_time_s": 2.0}
    assert rec.finish_from_chunks(meta, "interrupted") == 1.0
    written = json.loads((out / "metadata.json").read_text())
    assert written["status"] == "interrupted"
    assert written["outputs"]["spikes.npz"]["sha256"] == _sha256(out / "spikes.npz")
    with np.load(out / "spikes.npz") as f:
        assert f["a_i"].tolist() == [0, 3]


@needs_git
def test_git_state_of_a_checkout_clean_then_dirty(repo):
    head = _git(repo, "rev-parse", "HEAD")
    assert len(head) == 40
    assert provenance.git_state(repo) == {"commit": head, "dirty": False}
    (repo / "untracked.txt").write_text("new\n")  # untracked files do not count
    provenance.git_state.cache_clear()
    assert provenance.git_state(repo) == {"commit": head, "dirty": False}
    (repo / "dopasim" / "__init__.py").write_text("x = 2\n")
    assert provenance.git_state(repo)["dirty"] is False  # cached for the process
    provenance.git_state.cache_clear()
    assert provenance.git_state(repo) == {"commit": head, "dirty": True}


@needs_git
def test_git_state_is_none_inside_an_unrelated_repository(repo):
    """A copy of the package below the top of some other checkout is not that commit."""
    (repo / "vendor" / "dopasim").mkdir(parents=True)
    assert provenance.git_state(repo / "vendor") is None
    assert provenance.git_state(repo / "dopasim") is None


def test_git_state_is_none_outside_a_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain" / "dopasim").mkdir(parents=True)
    provenance.git_state.cache_clear()
    assert provenance.git_state(tmp_path / "plain") is None
    assert provenance.git_state(tmp_path / "missing") is None


def test_git_state_is_none_without_git(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "nowhere"))
    assert provenance.git_state(repo) is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLURM_JOB_ID": "4711"}, {"system": "slurm", "job_id": "4711"}),
        (
            {"SLURM_JOB_ID": "4718", "SLURM_ARRAY_JOB_ID": "4711", "SLURM_ARRAY_TASK_ID": "7"},
            {"system": "slurm", "job_id": "4711_7"},
        ),
        ({"PBS_JOBID": "123.server"}, {"system": "pbs", "job_id": "123.server"}),
        ({"JOB_ID": "55", "SGE_ROOT": "/opt/sge"}, {"system": "sge", "job_id": "55"}),
        (
            {"JOB_ID": "55", "SGE_ROOT": "/opt/sge", "SGE_TASK_ID": "3"},
            {"system": "sge", "job_id": "55_3"},
        ),
        (
            {"JOB_ID": "55", "SGE_ROOT": "/opt/sge", "SGE_TASK_ID": "undefined"},
            {"system": "sge", "job_id": "55"},
        ),
        ({"JOB_ID": "55"}, None),  # JOB_ID alone is not SGE
        ({"LSB_JOBID": "900"}, {"system": "lsf", "job_id": "900"}),
        ({"LSB_JOBID": "900", "LSB_JOBINDEX": "2"}, {"system": "lsf", "job_id": "900[2]"}),
        ({}, None),
    ],
)
def test_batch_job(monkeypatch, env, expected):
    for name in BATCH_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert provenance.batch_job() == expected


def test_compiler_flags_are_brian2s():
    cpp = brian2.prefs.codegen.cpp
    assert provenance.compiler()["flags"] == list(cpp.extra_compile_args_gcc)
    assert provenance.compiler()["flags"]  # Brian2 sets some by default
    # Brian2 passes extra_compile_args instead of the gcc ones when it is set
    saved = cpp.extra_compile_args
    cpp.extra_compile_args = ["-O1", "-g"]
    try:
        assert provenance.compiler()["flags"] == ["-O1", "-g"]
    finally:
        cpp.extra_compile_args = saved


def test_compiler_command_and_version(tmp_path, monkeypatch):
    fake = tmp_path / "fake++"
    fake.write_text('#!/bin/sh\necho "fake++ (Test) 9.8.7"\necho "second line"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    got = provenance.compiler()
    assert got["cxx"] == str(fake)
    assert got["version"] == "fake++ (Test) 9.8.7"
    monkeypatch.setenv("CXX", str(tmp_path / "absent++"))
    assert provenance.compiler()["version"] is None
    monkeypatch.delenv("CXX")
    expected = next((c for c in ("g++", "c++") if shutil.which(c)), None)
    assert provenance.compiler()["cxx"] == expected


def test_cpu_model_reads_proc_cpuinfo():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists() or "model name" not in cpuinfo.read_text():
        pytest.skip("no model name in /proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.read_text().splitlines()
        if line.startswith("model name")
    ]
    assert provenance.cpu_model() == names[0]


def test_file_sha256_streams(tmp_path):
    f = tmp_path / "blob"
    data = bytes(range(256)) * 5000
    f.write_bytes(data)
    assert provenance.file_sha256(f, block=4096) == hashlib.sha256(data).hexdigest()


def test_importing_provenance_loads_no_brian2():
    code = (
        "import sys, dopasim.provenance\n"
        "assert 'brian2' not in sys.modules, 'brian2 loaded'\n"
        "print(dopasim.provenance.__file__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert done.stdout.strip().endswith("provenance.py")

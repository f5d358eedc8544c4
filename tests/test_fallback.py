"""Without a C++ compiler, cpp_standalone falls back to the numpy target (and says so)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from dopasim import runner

#: distal-reward at 50 neurons for 1 s: about a second on the numpy target
TINY_DISTAL = {"n_neurons": "50", "n_synapses": "10", "duration": "1s"}
WARNING = "no C++ compiler found; falling back to the numpy target"


@pytest.mark.parametrize("device", ["cpp_standalone", "cython"])
def test_no_compiler_falls_back_to_numpy(tmp_path, monkeypatch, capsys, device):
    monkeypatch.setattr(runner, "compiler_available", lambda: False)
    res = runner.run(
        "distal-reward",
        params=TINY_DISTAL,
        device=device,
        out=tmp_path / "run",
        quiet=True,
        figures=False,
    )
    assert WARNING in capsys.readouterr().err
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["device"] == "numpy" and meta["code_target"] == "numpy"
    assert meta["status"] == "complete" and res.metadata["device"] == "numpy"


def test_cli_without_compilers_on_path(tmp_path):
    """`dopasim run` in a process whose PATH holds no compiler at all."""
    empty = tmp_path / "bin"
    empty.mkdir()
    assert not any(shutil.which(c, path=str(empty)) for c in ("g++", "c++", "clang++"))
    env = {**os.environ, "PATH": str(empty), "DOPASIM_CACHE": str(tmp_path / "cache")}
    env.pop("CXX", None)
    cmd = [sys.executable, "-m", "dopasim.cli", "run", "distal-reward"]
    for k, v in TINY_DISTAL.items():
        cmd += ["--param", f"{k}={v}"]
    cmd += ["--device", "cpp_standalone", "--out", str(tmp_path / "run"), "--no-figures"]
    cmd += ["--quiet"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert WARNING in proc.stderr
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["device"] == "numpy" and meta["status"] == "complete"

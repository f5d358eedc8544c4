"""Two runs at once never share an output directory or a build directory."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dopasim import rundir
from dopasim.cli import main
from dopasim.device import build_directory, lock_path, use_device
from dopasim.params import ParamError

DOPASIM = str(Path(sys.executable).parent / "dopasim")
TINY_DISTAL = ["--param", "n_neurons=50", "--param", "n_synapses=10", "--duration", "1s"]


def test_a_directory_in_use_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "run"
    with rundir.claimed(out) as held:  # another run, still building (nothing written)
        assert held == out
        code = main(["run", "distal-reward", "--device", "numpy", "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "in use by another dopasim run" in err and "Traceback" not in err
        # even --overwrite does not take a directory that another run is writing
        (out / "metadata.json").write_text('{"status": "running"}')
        argv = ["run", "distal-reward", "--device", "numpy", "--out", str(out), "--overwrite"]
        assert main(argv) == 2
        assert "in use by another dopasim run" in capsys.readouterr().err
        assert json.loads((out / "metadata.json").read_text()) == {"status": "running"}
    assert not (out / rundir.LOCK).exists()  # released, and no trace left


def test_default_names_taken_in_the_same_second_differ(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt, t: "20260101-000000")

    def fresh():
        return rundir.default_run_dir("p", 1, root=tmp_path / "runs")

    base = fresh()
    with rundir.claimed(base, rename=fresh) as first:
        (first / "x").write_text("")
        # the second run computed the same name before the first created it
        with rundir.claimed(base, rename=fresh) as second:
            assert first == base and second.name == base.name + "-2"


def test_the_lock_is_held_until_the_run_is_written(tmp_path, monkeypatch):
    """Nothing of a run is written after it lets go of its directory."""
    from dopasim.recording import Recorder

    out = tmp_path / "run"
    held = []
    real = Recorder.finish

    def finish(self, *args, **kwargs):
        with pytest.raises(ParamError, match="in use"):
            rundir.claimed(out).__enter__()
        real(self, *args, **kwargs)
        with pytest.raises(ParamError, match="in use"):  # the metadata is final now
            rundir.claimed(out, overwrite=True).__enter__()
        held.append(True)

    monkeypatch.setattr(Recorder, "finish", finish)
    argv = ["run", "distal-reward", "--device", "numpy", "--out", str(out), "--quiet"]
    assert main([*argv, *TINY_DISTAL, "--no-figures"]) == 0
    assert held == [True] and not (out / rundir.LOCK).exists()


def test_a_file_system_without_flock_runs_unlocked_with_a_warning(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with rundir.claimed(tmp_path / "run") as path:
        assert path.is_dir()
    assert "cannot lock" in capsys.readouterr().err


def test_the_build_folder_lock_also_runs_unlocked_without_flock(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setenv("DOPASIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fcntl, "flock", no_flock)
    with use_device("cpp_standalone", build_key=("nolock",)) as dev:
        assert Path(dev["directory"]) == build_directory(("nolock",))
    assert "cannot lock the build folder" in capsys.readouterr().err


def test_an_out_that_became_a_file_or_a_dangling_link_is_refused(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere" / "run")
    with pytest.raises(ParamError, match="not a directory"), rundir.claimed(link):
        pass


def test_a_claimed_directory_left_empty_is_removed(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError), rundir.claimed(out):
        raise RuntimeError("the build failed")
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with rundir.claimed(kept):
        pass
    assert kept.is_dir()  # it was there before: not ours to remove


def test_two_processes_with_one_out_one_runs_the_other_is_refused(tmp_path):
    out = tmp_path / "run"
    argv = [DOPASIM, "run", "distal-reward", "--device", "numpy", "--out", str(out)]
    argv += [*TINY_DISTAL, "--no-figures", "--quiet"]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    # the outcome only: whether the loser met the lock or (if the two did not overlap)
    # the finished run's files, it is refused and the winner's run is intact
    refused = next(err for code, err in results if code == 2)
    assert "--out" in refused and "Traceback" not in refused
    assert json.loads((out / "metadata.json").read_text())["status"] == "complete"


def test_a_busy_build_directory_is_not_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("DOPASIM_CACHE", str(tmp_path / "cache"))
    import fcntl

    key = ("p", "shape", 0)
    directory = build_directory(key)
    directory.parent.mkdir(parents=True)
    with open(lock_path(directory), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process's build
        with use_device("cpp_standalone", build_key=key) as dev:
            assert Path(dev["directory"]) != directory
    with use_device("cpp_standalone", build_key=key) as dev:
        assert Path(dev["directory"]) == directory


def test_claim_errors_are_param_errors(tmp_path):
    out = tmp_path / "run"
    with rundir.claimed(out), pytest.raises(ParamError, match="in use"):
        with rundir.claimed(out):
            pass

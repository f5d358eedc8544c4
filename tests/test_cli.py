"""The command line: bad input exits with code 2, one line, no traceback, nothing created."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dopasim.cli import main

BAD = [
    (["run", "nosuch"], "unknown protocol 'nosuch'"),
    (["run", "conditionning"], "did you mean 'conditioning'"),
    (["run", "distal-rewrd"], "did you mean 'distal-reward'"),
    (["run", "distal-reward", "--duration", "-5s"], "duration"),
    (["run", "distal-reward", "--duration", "10"], "no unit"),
    (["run", "distal-reward", "--duration", "10 mV"], "wrong unit"),
    (["run", "distal-reward", "--duration", "0.5ms"], "multiple of dt"),
    (["run", "distal-reward", "--seed", "x"], "seed"),
    (["run", "distal-reward", "--seed", "-1"], "seed"),
    (["run", "distal-reward", "--param", "nosuch=1"], "unknown parameter 'nosuch'"),
    (["run", "distal-reward", "--param", "rewrd=none"], "did you mean 'reward'"),
    (["run", "distal-reward", "--param", "reward=sometimes"], "reward"),
    (["run", "distal-reward", "--param", "n_neurons=1"], "n_neurons"),
    (["run", "distal-reward", "--param", "noequals"], "KEY=VALUE"),
    (["run", "distal-reward", "--device", "gpu"], "device"),
    (["run", "distal-reward", "--scenario", "parkinson:loss=0.5"], "scenario"),
    (["run", "distal-reward", "--param", "reward_delay_max=0.5s"], "reward_delay_max"),
    (["run", "conditioning", "--param", "dt=2ms"], "dt: '2ms' is outside the allowed range"),
    (["run", "distributional", "--param", "dt=0.3ms"], "does not divide the stimulus grid"),
    (["run", "probability", "--param", "d2_fraction=0.5"], "d2_fraction: 0.5 needs critic="),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD)
def test_bad_input_exits_2_with_one_line(argv, needle, tmp_path, capsys):
    out = tmp_path / "run"
    code = main([*argv, "--out", str(out)] if argv[0] == "run" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(["run", "distal-reward", "--out", str(blocker / "sub" / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "Traceback" not in err
    if os.geteuid() != 0:  # root can write anywhere; the check above covers it
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert main(["run", "distal-reward", "--out", str(ro / "run")]) == 2


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a procfs")
@pytest.mark.parametrize("protocol", ["distal-reward", "conditioning"])
def test_out_where_no_folder_can_be_made(protocol, capsys):
    """/proc passes the access check (for root) but refuses mkdir: one line, exit 2."""
    assert main(["run", protocol, "--out", "/proc/never/x"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "/proc/never/x" in err and "Traceback" not in err, err
    assert err.count("\n") == 1


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    assert main(["run", "distal-reward", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == "{}"


def test_console_script_exit_code_and_no_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    p = subprocess.run(
        [sys.executable, "-m", "dopasim.cli", "run", "nosuch", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "did you mean" in p.stderr
    assert not (tmp_path / "x").exists()


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "distal-reward" in out and "intact" in out


def test_small_run_writes_a_complete_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "run",
        "distal-reward",
        "--device",
        "numpy",
        "--duration",
        "2s",
        "--quiet",
        "--param",
        "n_neurons=100",
        "--param",
        "n_synapses=10",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    meta = json.loads((out / "metadata.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert meta["status"] == "complete" and meta["seed"] == 1 and meta["device"] == "numpy"
    assert meta["parameters"]["duration"] == "2. s"
    assert set(meta["versions"]) == {"dopasim", "brian2", "numpy", "python"}
    for key in (
        "rewarded_weight",
        "rewarded_weight_percentile",
        "time_to_learn_s",
        "mean_exc_weight",
        "w_max",
        "rate_exc_hz",
        "rate_inh_hz",
        "n_rewards",
    ):
        assert key in metrics
    for f in ("spikes.npz", "data.npz", "raster.png", "weights.png", "rewarded_weight.png"):
        assert (out / f).stat().st_size > 0
    # a second run into the same folder is refused, and the first is intact
    assert main(argv) == 2
    assert json.loads((out / "metrics.json").read_text()) == metrics
    # --overwrite replaces it
    assert main([*argv, "--overwrite"]) == 0


def test_python_api_round_trip(tmp_path):
    import dopasim

    res = dopasim.run(
        "distal-reward",
        params={"duration": "1 s", "n_neurons": "50", "n_synapses": "5"},
        seed=2,
        device="numpy",
        out=tmp_path / "r",
        quiet=True,
        figures=False,
    )
    back = dopasim.load_run(res.path)
    assert back.metrics == json.loads(json.dumps(res.metrics))
    assert back.seed == 2 and back.metadata["status"] == "complete"
    for pop in ("exc", "inh"):
        i, t = back.data[f"spikes_{pop}"]
        assert t.dtype == np.float64 and i.dtype == np.int32
        assert np.array_equal(t, res.data[f"spikes_{pop}"][1])


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    """Result files are readable by the group/others as umask allows (mkstemp's 0600 is not)."""
    import os
    import stat

    from dopasim import rundir

    old = os.umask(0o022)
    try:
        rundir.write_json(tmp_path / "m.json", {"a": 1})
        mode = stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode)
    finally:
        os.umask(old)
    assert mode == 0o644
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_numerical_failure_exits_3_and_keeps_the_run(tmp_path, capsys, monkeypatch):
    """A NaN in the network's state ends the run at the end of that chunk, with status
    'failed' and exit code 3; the spikes so far are written and readable (never a
    silent result)."""
    import json

    import brian2
    import numpy as np
    from tiny import TINY_CONDITIONING

    from dopasim.protocols import conditioning
    from dopasim.recording import verify

    real = conditioning.build

    def blow_up(p, rngs):
        circuit = real(p, rngs)
        pools = circuit["pools"]

        @brian2.network_operation(dt=100 * brian2.ms)
        def diverge(t):  # as if the integration had diverged at 0.5 s
            if t >= 0.5 * brian2.second:
                pools.da_ = float("nan")

        circuit.add(diverge)
        return circuit

    monkeypatch.setattr(conditioning, "build", blow_up)
    out = tmp_path / "r"
    argv = ["run", "conditioning", "--device", "numpy", "--out", str(out), "--quiet"]
    argv += ["--chunk", "1s"]  # the 2 s trial clock makes 2 s chunks of the 4 s run
    for k, v in TINY_CONDITIONING.items():
        argv += ["--param", f"{k}={v}"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    # the NaN has spread by the end of the chunk; the first objects found are named
    assert "numerical failure at 2 s of 4 s" in err and "NaN" in err and "Traceback" not in err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "failed" and "NaN" in meta["failure"]
    assert meta["reached_time_s"] == 2.0 and meta["requested_time_s"] == 4.0  # stopped early
    with np.load(out / "spikes.npz") as f:
        assert 0 < len(f["vta_da_t"]) and f["vta_da_t"].max() <= 2.0
    assert not list(out.glob("*.png"))  # no figures of a failed run
    assert verify(out) == []


def test_healthy_run_has_no_numerical_problems():
    import brian2

    from dopasim.runner import numerical_problems

    g = brian2.NeuronGroup(3, "v : 1\nw : 1", name="probe_ok")
    g.v = [0.0, 1e49, -2.0]
    net = brian2.Network(g)
    assert numerical_problems(net) == []
    g.w = [0.0, float("inf"), 1e51]
    found = numerical_problems(net)
    assert len(found) == 1 and found[0].startswith("probe_ok.w: 2 of 3")

"""A signal before the run: while the network is built, its code generated or compiled.

Fast suite: the pieces (`run_compiler`, the build folder's marker, `Preparing`) and the
runner's path with a stand-in for make (no compilation). Targets tier: a real
``dopasim run`` on cpp_standalone, stopped while make runs (SIGINT to its process
group as a terminal's Ctrl-C, SIGINT or SIGTERM to the process alone), then run again;
and a ``dopasim compare --jobs 2`` stopped while its workers compile.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import brian2
import pytest

from dopasim import device, runner
from dopasim.recording import Aborted, Preparing, Stopped, verify
from dopasim.runner import Interrupted, load_run

DOPASIM = str(Path(sys.executable).parent / "dopasim")
TINY_DISTAL = {"n_neurons": "50", "n_synapses": "10", "duration": "1 s"}


# -- run_compiler: make in a process group of its own ------------------------------------


def _group_gone(pgid, timeout=10.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_run_compiler_returns_what_os_system_returns():
    assert device.run_compiler("exit 0") == (0, False)
    assert device.run_compiler("exit 3") == (os.system("exit 3"), False)
    status, stopped = device.run_compiler("kill -TERM $$")
    assert status != 0 and not stopped


def _stop_after(pid_file, level):
    """A ``stop`` for run_compiler: ``level`` once the command has written its pid."""
    return lambda: level if pid_file.exists() and pid_file.read_text().strip() else 0


@pytest.mark.parametrize(
    "script, level, grace",
    [
        ("sleep 60 & sleep 60; wait", 1, 5.0),  # SIGTERM to the group, children included
        ("trap '' TERM; sleep 60", 1, 0.3),  # deaf to SIGTERM: SIGKILL after the grace
        ("trap '' TERM; sleep 60", 2, 60.0),  # a second signal: SIGKILL at once
    ],
)
def test_a_stopped_compiler_group_is_ended(tmp_path, script, level, grace):
    pid_file = tmp_path / "pid"
    t0 = time.monotonic()
    status, stopped = device.run_compiler(
        f"echo $$ > {pid_file}; {script}", stop=_stop_after(pid_file, level), grace_s=grace
    )
    assert stopped and time.monotonic() - t0 < 20
    assert _group_gone(int(pid_file.read_text()))  # no compiler left behind


def test_a_compiler_stopped_before_it_starts_is_not_started(tmp_path):
    status, stopped = device.run_compiler(f"touch {tmp_path / 'x'}", stop=lambda: 1)
    assert (status, stopped) == (0, True) and not (tmp_path / "x").exists()


def test_an_exception_while_compiling_kills_the_group(tmp_path):
    pid_file = tmp_path / "pid"

    def stop():
        if pid_file.exists() and pid_file.read_text().strip():
            raise Aborted()  # what a second signal's handler raises
        return 0

    with pytest.raises(Aborted):
        device.run_compiler(f"echo $$ > {pid_file}; sleep 60", stop=stop)
    assert _group_gone(int(pid_file.read_text()))


def test_interruptible_compiler_replaces_os_system_for_the_block():
    real = os.system
    started = []
    with device.interruptible_compiler(lambda: 0, lambda: started.append(1)):
        assert os.system("exit 2") == real("exit 2") and started == [1]
    assert os.system is real
    with device.interruptible_compiler(lambda: 1):
        assert os.system("exit 2") == 0  # stopped: the caller checks its flag
    assert os.system is real


# -- the build folder: a half-built one is never reused ------------------------------------


def test_a_build_folder_left_incomplete_is_emptied_before_its_next_use(tmp_path):
    key = ("p", "shape", 0)
    folder = device.build_directory(key)
    with device.building(folder):
        (folder / "main.o").write_text("done")
    assert not (folder / device.INCOMPLETE).exists()
    with device.use_device("cpp_standalone", build_key=key) as dev:
        assert dev["cached"] and (folder / "main.o").exists()  # complete: reused
        assert dev["lock_fd"] is not None
    with pytest.raises(KeyboardInterrupt), device.building(folder):
        (folder / "half.o").write_text("cut")
        raise KeyboardInterrupt
    assert (folder / device.INCOMPLETE).exists()
    assert not device.clone_build(key, ("p", "shape", 1))  # never cloned either
    with device.use_device("cpp_standalone", build_key=key) as dev:
        assert not dev["cached"] and not folder.exists()  # emptied: compiled afresh


# -- Preparing: the signal handlers before the run ----------------------------------------


def _signal_self(sig):
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs in the main thread, between two bytecodes


def test_preparing_asks_first_then_aborts_except_while_compiling():
    saved = signal.getsignal(signal.SIGINT)
    with Preparing() as prep:
        prep.check()  # nothing yet
        _signal_self(signal.SIGINT)
        assert prep.requested and prep.at == "building" and prep.signal == "SIGINT"
        with pytest.raises(Stopped):
            prep.check()
        prep.phase = "compilation"  # the compiler is killed by its poller: no raise here
        _signal_self(signal.SIGTERM)
        assert prep.aborted
        with pytest.raises(Aborted):
            prep.check()
    assert signal.getsignal(signal.SIGINT) is saved
    with Preparing() as prep, pytest.raises(Aborted):
        prep.phase = "code generation"
        _signal_self(signal.SIGINT)
        _signal_self(signal.SIGINT)
    with Preparing() as prep:
        prep.phase = None  # writing what the interruption left: counted only
        _signal_self(signal.SIGINT)
        _signal_self(signal.SIGINT)
        assert prep.count == 2


def test_the_runs_handler_takes_over_what_the_preparation_counted():
    """``carry``: the run's handler, entered inside the preparation's, counts the
    signals the preparation got after its last check (none falls between the two)."""
    from dopasim.recording import Interrupt

    calls = []

    def on_1():
        calls.append(1)

    def on_2():
        calls.append(2)

    with Preparing() as prep:
        prep.phase = None
        with Interrupt(on_1, on_2, raise_on_second=False, carry=prep) as run:
            assert not run.requested and calls == []  # nothing to take over
    with Preparing() as prep:
        prep.phase = None
        _signal_self(signal.SIGTERM)
        with Interrupt(on_1, on_2, raise_on_second=False, carry=prep) as run:
            assert run.requested and not run.aborted and run.signal == "SIGTERM"
            assert calls == [1]  # the first signal's action, on entry
            _signal_self(signal.SIGINT)
            assert run.aborted and calls == [1, 2] and run.signal == "SIGTERM"


class _Seeder:
    def run_args(self, seed):
        return []


@pytest.mark.parametrize("signals", [(signal.SIGINT,), (signal.SIGINT, signal.SIGTERM)])
def test_a_standalone_binary_is_not_started_after_a_signal(monkeypatch, signals):
    """A signal counted before the binary would start: it is not started, `Stopped`
    (the signal's name, whether a second came) is raised."""
    started = []
    monkeypatch.setattr(brian2.device, "run", lambda **kw: started.append(1), raising=False)
    with Preparing() as prep:
        prep.phase = None
        for sig in signals:
            _signal_self(sig)
        with pytest.raises(Stopped) as e:
            runner._run_standalone(
                {"directory": "unused"}, _Seeder(), {"brian2_seed": 1}, None, True, prep
            )
    assert started == [] and e.value.args == ("SIGINT", len(signals) > 1)


#: A stand-in for the compiled binary: it loads for a while (``delay``), then installs
#: its handler and unblocks the signals, as ``dopasim_run::install`` does; it writes
#: ``stopped`` when the handler ran and exits 0.
_FAKE_BINARY = """
import signal, sys, time
from pathlib import Path
time.sleep(float(sys.argv[2]))
def stop(signum, frame):
    Path(sys.argv[1]).write_text("stopped")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
time.sleep(30)
"""


@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_a_signal_just_before_the_binary_starts_stops_it_cleanly(tmp_path, monkeypatch, delay):
    """A signal after the last check, before the binary exists, is sent to the binary
    once it does (to it only: not to other children of this process), and waits until
    its handler is installed: the binary stops cleanly instead of being killed (a
    binary that loads for 0.5 s was killed by the signal before the mask)."""
    marker = tmp_path / "marker"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])

    def run(**kw):
        _signal_self(signal.SIGINT)  # after the check: no binary yet
        code = subprocess.call([sys.executable, "-c", _FAKE_BINARY, str(marker), str(delay)])
        assert code == 0

    monkeypatch.setattr(brian2.device, "run", run, raising=False)
    try:
        interrupt = runner._run_standalone(
            {"directory": "unused"}, _Seeder(), {"brian2_seed": 1}, None, True
        )
        assert interrupt.requested and not interrupt.aborted
        assert marker.read_text() == "stopped"
        assert other.poll() is None  # another child of this process got nothing
    finally:
        other.kill()
        other.wait()


# -- the runner: interrupted before the run, written at 0 s ---------------------------------


def _check_stopped_run(out, phase, signame, aborted=False):
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "interrupted" and meta["reached_time_s"] == 0.0
    assert meta["interrupted_during"] == phase and meta["interrupted_by"] == signame
    assert bool(meta.get("aborted")) is aborted
    assert verify(out) == []
    run = load_run(out)
    assert run.metrics == {} and not (out / "chunks").exists()
    return meta


@pytest.mark.parametrize(
    "signals, aborted",
    [
        ((signal.SIGINT,), False),
        ((signal.SIGTERM,), False),
        ((signal.SIGINT, signal.SIGTERM), True),
    ],
)
def test_a_signal_while_building_stops_the_run_before_it_starts(
    tmp_path, monkeypatch, signals, aborted
):
    from dopasim.protocols import distal_reward

    real = distal_reward.build

    def build(p, rngs):
        circuit = real(p, rngs)
        for sig in signals:  # the second raises Aborted from the handler, here
            _signal_self(sig)
        return circuit

    monkeypatch.setattr(distal_reward, "build", build)
    out = tmp_path / "r"
    expected = (
        "run aborted during building" if aborted else rf"\({signals[0].name}\) during building"
    )
    with pytest.raises(Interrupted, match=expected) as e:
        runner.run("distal-reward", TINY_DISTAL, device="numpy", out=out, quiet=True)
    assert e.value.path == out and e.value.reached_s == 0.0
    _check_stopped_run(out, "building", signals[0].name, aborted)


@pytest.fixture
def fake_make():
    """make is a shell command that signals this process, then waits: no compilation."""
    names = ("devices.cpp_standalone.make_cmd_unix", "devices.cpp_standalone.extra_make_args_unix")
    saved = {name: brian2.prefs[name] for name in names}

    def use(script):
        brian2.prefs[names[0]], brian2.prefs[names[1]] = script, []

    yield use
    for name, value in saved.items():
        brian2.prefs[name] = value


@pytest.mark.parametrize(
    "script, signame, aborted",
    [
        ("kill -INT $PPID; sleep 60", "SIGINT", False),
        ("kill -TERM $PPID; sleep 60", "SIGTERM", False),
        ("trap '' TERM; kill -INT $PPID; sleep 0.5; kill -TERM $PPID; sleep 60", "SIGINT", True),
    ],
)
def test_a_signal_while_compiling_stops_make_and_runs_nothing(
    tmp_path, fake_make, script, signame, aborted
):
    fake_make(script)
    out = tmp_path / "r"
    t0 = time.monotonic()
    with pytest.raises(Interrupted, match="during compilation"):
        runner.run("distal-reward", TINY_DISTAL, device="cpp_standalone", out=out, quiet=True)
    assert time.monotonic() - t0 < 50  # make (sleep 60) did not run to its end
    _check_stopped_run(out, "compilation", signame, aborted)
    key = runner.build_key(runner.get_protocol("distal-reward"), _resolved(), 0)
    folder = device.build_directory(key)
    assert (folder / device.INCOMPLETE).exists() and (folder / "main.cpp").exists()
    with device.use_device("cpp_standalone", build_key=key) as dev:
        assert not dev["cached"]  # the half-built folder is not reused


def _resolved():
    module, p, *_ = runner.prepare("distal-reward", TINY_DISTAL, device="numpy")
    return p


def test_compile_only_interrupted_writes_nothing(tmp_path, fake_make):
    fake_make("kill -INT $PPID; sleep 60")
    with pytest.raises(Interrupted, match=r"during compilation; nothing was simulated; nothing"):
        runner.run(
            "distal-reward",
            TINY_DISTAL,
            device="cpp_standalone",
            out=tmp_path / "r",
            write=False,
            compile_only=True,
        )
    assert not (tmp_path / "r").exists()


# -- compare: Ctrl-C to the main process stops the workers' runs, starts no more -----------


def _descendants(pid):
    """{pid: command line} of every process below ``pid`` (Linux /proc)."""
    found, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = [int(k) for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
            except OSError:
                continue
            for k in kids:
                try:
                    found[k] = Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                todo.append(k)
    return {k: v.decode(errors="replace") for k, v in found.items()}


def _processes_in(folder):
    """Process ids whose working directory lies in ``folder`` (a compiler in a build
    folder); orphans are reparented away from the test, so /proc is searched."""
    folder, found = str(Path(folder).resolve()), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd == folder or cwd.startswith(folder + os.sep):
                found.append(int(entry))
    return found


def _gone(pids, timeout=10.0):
    """Whether every process in ``pids`` has ended (a zombie counts as ended)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _workers(pid):
    return [k for k, cmd in _descendants(pid).items() if "spawn_main" in cmd]


def _start_compare(out, device_name, params, seeds, env=None):
    argv = [DOPASIM, "compare", "distal-reward", "--scenario", "intact", "--seeds", str(seeds)]
    argv += ["--jobs", "2", "--device", device_name, "--out", str(out)]
    for k, v in params.items():
        argv += ["--param", f"{k}={v}"]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_compare_interrupted_stops_its_workers_and_starts_no_more_runs(tmp_path):
    out = tmp_path / "cmp"
    params = dict(TINY_DISTAL, duration="3600 s")  # runs long enough to be caught, under load too
    proc = _start_compare(out, "numpy", params, seeds=3)
    t0 = time.monotonic()
    runs = [out / "runs" / "intact" / f"seed{s}" / "metadata.json" for s in (1, 2)]
    workers = []
    try:
        while not all(r.exists() for r in runs):  # both workers run
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < 300, "the runs did not start"
            time.sleep(0.05)
        workers = _workers(proc.pid)
        assert len(workers) == 2
        proc.send_signal(signal.SIGINT)  # the main process alone: it forwards to the workers
        _, err = proc.communicate(timeout=300)
    finally:  # a failure here must not leave 600 s runs behind (workers: own groups)
        if proc.poll() is None:
            for pid in [*_workers(proc.pid), *workers]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "comparison interrupted (SIGINT)" in err
    assert "0 of 3 runs complete" in err and "1 not started" in err
    for r in runs:
        meta = json.loads(r.read_text())
        assert meta["status"] == "interrupted" and meta["interrupted_by"] == "SIGINT"
        assert verify(r.parent) == []
    assert not (out / "runs" / "intact" / "seed3").exists()
    assert not (out / "comparison.csv").exists()
    assert _gone(workers)


# -- targets: real compilations -------------------------------------------------------------

#: the issue's command, 600 s simulated at first; the rerun simulates 2 s of the same build
ISSUE_PARAMS = ["--seed", "3", "--param", "n_synapses=97", "--no-figures"]


def _compiling(pid, under=None, cwd=None):
    """Whether make runs below ``pid`` (below a process whose command line contains
    ``under``, in a folder whose path contains ``cwd``, when given). make, not any
    compiler: Brian2 also runs the compiler while it generates the code (to probe it)."""
    for k, cmd in _descendants(pid).items():
        if Path(cmd.split(" ", 1)[0]).name != "make":
            continue
        with_cwd = True
        if cwd is not None:
            try:
                with_cwd = cwd in os.readlink(f"/proc/{k}/cwd")
            except OSError:
                with_cwd = False
        if with_cwd and (under is None or _has_ancestor(k, under, pid)):
            return True
    return False


def _has_ancestor(pid, text, top):
    while pid and pid != top:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return False
        if text in cmd:
            return True
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def _wait_for_compiler(proc, timeout=600, under=None, cwd=None):
    t0 = time.monotonic()
    while not _compiling(proc.pid, under, cwd):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "no compiler started"
        time.sleep(0.05)


@pytest.mark.targets
@pytest.mark.parametrize(
    "how", ["SIGINT to the process group", "SIGINT to the process", "SIGTERM to the process"]
)
def test_a_signal_during_compilation_stops_it_and_the_next_run_completes(tmp_path, how):
    """The issue's run, on a build that is not cached (a private cache): the signal
    comes while make runs; nothing is run, the build is not taken as complete later."""
    env = {**os.environ, "DOPASIM_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "r"
    argv = [DOPASIM, "run", "distal-reward", "--duration", "600s", *ISSUE_PARAMS]
    proc = subprocess.Popen(
        [*argv, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # a process group of its own, as a terminal's job
    )
    _wait_for_compiler(proc)
    sig = signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGINT
    if how.endswith("group"):
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 30  # not after the compilation: it was stopped
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"interrupted ({sig.name}) during compilation" in err
    _check_stopped_run(out, "compilation", sig.name)
    assert _gone(_processes_in(tmp_path / "cache")), "a compiler was left running"

    again = tmp_path / "again"
    argv[argv.index("600s")] = "2s"
    done = subprocess.run(
        [*argv, "--out", str(again), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr
    meta = json.loads((again / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["reached_time_s"] == 2.0
    assert meta["build_cached"] is False  # the half-built folder was emptied, not reused
    assert verify(again) == []


@pytest.mark.targets
def test_compare_interrupted_while_a_worker_compiles(tmp_path, monkeypatch):
    """``compare --jobs 2`` compiles once and clones the build to the workers' folders.
    Here the second worker's folder is busy (locked by this test), so that worker
    compiles afresh in a temporary folder, while the first runs from its clone; a
    Ctrl-C to the group during that compilation stops it, the complete runs are kept."""
    import fcntl

    monkeypatch.setenv("DOPASIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cmp"
    params = {"n_synapses": "98", "duration": "2 s"}
    module, p, *_ = runner.prepare("distal-reward", params, 1, "cpp_standalone")
    lock = device.lock_path(device.build_directory(runner.build_key(module, p, 2)))
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = subprocess.Popen(
            [DOPASIM, "compare", "distal-reward", "--scenario", "intact", "--seeds", "3"]
            + ["--jobs", "2", "--out", str(out)]
            + [a for k, v in params.items() for a in ("--param", f"{k}={v}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        _wait_for_compiler(proc, under="spawn_main", cwd="dopasim-build-")
        t0 = time.monotonic()
        while not any(  # the other worker completes a run meanwhile (make takes a minute)
            '"status": "complete"' in f.read_text() for f in out.glob("runs/*/*/metadata.json")
        ):
            assert proc.poll() is None and time.monotonic() - t0 < 300, proc.communicate()
            time.sleep(0.1)
        assert _compiling(proc.pid, "spawn_main", "dopasim-build-")  # still
        below = [k for w in _workers(proc.pid) for k in _descendants(w)]
        os.killpg(proc.pid, signal.SIGINT)  # the main process only: it forwards
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "comparison interrupted (SIGINT)" in err
    status = {}
    for meta_file in sorted((out / "runs").glob("*/*/metadata.json")):
        meta = json.loads(meta_file.read_text())
        status[meta["seed"]] = meta["status"], meta.get("interrupted_during")
        assert verify(meta_file.parent) == []
    assert ("interrupted", "compilation") in status.values(), status
    # the worker whose run completed may have begun the next run (building it, or
    # generating its code) when the signal came: that run is interrupted in its phase
    phases = ("building", "code generation", "compilation")
    assert set(status.values()) <= {("complete", None)} | {("interrupted", x) for x in phases}
    n_complete = sum(s == "complete" for s, _ in status.values())
    assert n_complete >= 1 and f"{n_complete} of 3 runs complete" in err  # and kept
    assert _gone(below), "a compiler was left running"

"""The one place where the Brian2 device and code target are chosen.

``device`` is one of:

* ``'cpp_standalone'``: the whole run is compiled to C++ (the fast path). The build
  folder is cached per protocol and network shape under ``$DOPASIM_CACHE`` (default
  ``~/.cache/dopasim``) and reused: make recompiles only what changed (the seed and the
  run length live in main.cpp, the connectivity in data files). A locked cache folder
  (another run is using it) is never shared; a fresh temporary folder is used instead.
  While its code is generated and compiled a folder holds a marker (`building`); a
  folder left with it (an interrupted or killed compilation) is emptied before its next
  use, so a half-built folder is never taken for a complete one. make runs in a
  process group of its own (`run_compiler`), which an interrupt ends.
* ``'cython'``: runtime mode, Cython code cached by Brian2 (compiled once per machine).
* ``'numpy'``: runtime mode, no compiler needed; used by the unit tests.
"""

import contextlib
import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import brian2
import numpy as np

from dopasim.rundir import try_flock

__all__ = [
    "DEVICES",
    "INCOMPLETE",
    "SeedAtStart",
    "build_directory",
    "building",
    "cache_root",
    "clone_build",
    "compiler_available",
    "compiler_path",
    "interruptible_compiler",
    "lock_path",
    "make_args",
    "usable_cpus",
    "run_compiler",
    "standalone_root",
    "use_device",
]

DEVICES = ("cpp_standalone", "cython", "numpy")

#: The marker file of a build folder whose code is being generated or compiled.
INCOMPLETE = ".dopasim-incomplete"


def cache_root():
    root = os.environ.get("DOPASIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dopasim"
    )
    return Path(root)


def compiler_path():
    """The first C++ compiler on PATH (g++, c++, clang++), or None."""
    return next((p for p in map(shutil.which, ("g++", "c++", "clang++")) if p), None)


def compiler_available():
    return compiler_path() is not None


def standalone_root():
    """The folder of dopasim's cached cpp_standalone builds."""
    return cache_root() / "standalone"


def lock_path(directory):
    """The lock file that a run holds while it uses the build folder ``directory``."""
    directory = Path(directory)
    return directory.parent / f"{directory.name}.lock"


def _headers_digest():
    """SHA-1 of dopasim's C++ headers (``dopasim/cpp``, ``models/cpp``). Part of every
    build key: make does not see a header change in the code objects (Brian2's
    make.deps names their objects without the ``code_objects/`` folder), so a changed
    header must give a new build folder, not a stale object file."""
    h = hashlib.sha1()
    models = importlib.util.find_spec("dopasim.models").submodule_search_locations[0]
    for folder in (Path(__file__).resolve().parent / "cpp", Path(models) / "cpp"):
        for f in sorted(folder.glob("*.h")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


_HEADERS = _headers_digest()


def _build_key(key_parts):
    h = hashlib.sha1(repr((brian2.__version__, _HEADERS, *key_parts)).encode()).hexdigest()[:12]
    return h


def build_directory(build_key):
    """The cached cpp_standalone build folder of ``build_key``."""
    return standalone_root() / _build_key(build_key)


def clone_build(src_key, dst_key):
    """Copy a compiled build folder to another key's folder (file times kept).

    Code generated for the destination is then byte-identical to what is there, and
    make finds nothing to recompile: parallel workers share one compilation. Returns
    False (and copies nothing) when the destination is in use by another run.
    """
    src, dst = build_directory(src_key), build_directory(dst_key)
    if not src.is_dir() or src == dst or (src / INCOMPLETE).exists():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(dst), "w") as lock_file:
        if not try_flock(lock_file, f"the build folder '{dst}'"):
            return False
        tmp = Path(tempfile.mkdtemp(prefix=f"{dst.name}.", dir=dst.parent))
        # the results folder's files belong to the last run; the folder itself stays
        shutil.copytree(
            src, tmp / "b", ignore=lambda d, names: names if Path(d).name == "results" else []
        )
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp / "b", dst)
        tmp.rmdir()
    return True


@contextlib.contextmanager
def building(directory):
    """The build folder ``directory`` is incomplete for the block.

    A marker file (`INCOMPLETE`) is written on entry and removed only when the block
    ends without an exception: a compilation that is interrupted, fails or is killed
    leaves it, and `use_device` empties that folder before its next use.
    """
    marker = Path(directory) / INCOMPLETE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    yield
    marker.unlink(missing_ok=True)


def _killpg(pgid, sig):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_compiler(command, stop=None, pass_fds=(), poll_s=0.05, grace_s=5.0):
    """Run the shell ``command`` (make) in a process group of its own; ``(status,
    stopped)``.

    ``status`` is a wait status as `os.system` returns it (0: success). ``stop()``
    (polled every ``poll_s`` seconds; None: never) returns 0 to go on, 1 to stop (the
    group gets SIGTERM, and SIGKILL after ``grace_s`` seconds) or 2 to kill the group at
    once; ``stopped`` says whether that happened (then nothing was started, or the
    group is gone). In a group of its own, a terminal's Ctrl-C reaches only this
    process, which decides. Any exception here (a second signal's) kills the group.
    ``pass_fds`` stay open in the command (a build folder's lock: a compiler that
    outlives this process keeps the folder locked).
    """
    stop = stop or (lambda: 0)
    if stop():
        return 0, True
    # no terminal input: a background process group that read it would be stopped (SIGTTIN)
    proc = subprocess.Popen(
        command,
        shell=True,
        process_group=0,
        pass_fds=tuple(pass_fds),
        stdin=subprocess.DEVNULL,
    )
    termed = None
    try:
        while True:
            try:
                rc = proc.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                pass
            level = stop()
            if level >= 2 or (termed is not None and time.monotonic() - termed > grace_s):
                _killpg(proc.pid, signal.SIGKILL)
            elif level and termed is None:
                _killpg(proc.pid, signal.SIGTERM)
                termed = time.monotonic()
    except BaseException:
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    stopped = bool(stop())
    if stopped:  # the compilers that make left behind (killed while they ran)
        _killpg(proc.pid, signal.SIGKILL)
    return (rc << 8 if rc >= 0 else -rc), stopped


@contextlib.contextmanager
def interruptible_compiler(stop, on_start=None, pass_fds=()):
    """Brian2 runs make with `os.system`, which ignores SIGINT and blocks Python's
    signal handlers until make ends (a signal to dopasim alone was lost; a terminal's
    Ctrl-C killed make and gave a traceback). For the block, `os.system` is
    `run_compiler` with ``stop``, ``on_start()`` called first. A stopped compilation
    returns 0, so that Brian2 neither raises nor prints make's output: the caller must
    check ``stop()`` after the build (and run nothing)."""
    real = os.system

    def system(command):
        if on_start is not None:
            on_start()
        status, stopped = run_compiler(command, stop, pass_fds)
        return 0 if stopped else status

    os.system = system
    try:
        yield
    finally:
        os.system = real


def _stable_clock_hash(clock):
    name = clock.__dict__.get("_name")
    # before the name exists (Brian2's instance tracker hashes a weakref at creation,
    # and the weakref keeps that value), fall back to the identity hash
    return zlib.crc32(name.encode()) if name else object.__hash__(clock)


def usable_cpus():
    """The CPUs this process may run on (its affinity: a batch job's allocation, a
    container's cpuset, taskset), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def make_args(args):
    """``make``'s arguments with ``-jN`` capped at `usable_cpus` (Brian2's default is
    ``-j<os.cpu_count()>``: on a 64-core node in a one-CPU job, 64 compilers)."""
    cap = usable_cpus()
    out = []
    for a in args:
        if a.startswith("-j") and a[2:].isdigit() and int(a[2:]) > cap:
            a = f"-j{cap}"
        out.append(a)
    return out


@contextlib.contextmanager
def use_device(device, build_key=("default",), threads=0):
    """Activate ``device`` for the block; yield a dict describing the choice.

    For ``cpp_standalone`` the dict's ``'directory'`` is the build folder (locked for
    the duration of the block; ``'lock_fd'``: the lock's file descriptor, or None) and
    the caller must call `brian2.device.build`; a folder that `building` left marked
    incomplete is emptied first.
    Afterwards the device and prefs are reset, so several runs fit in one process.
    """
    if device not in DEVICES:
        raise ValueError(f"device: '{device}' is not one of {', '.join(DEVICES)}")
    info = {"device": device, "threads": threads}
    saved_target = brian2.prefs.codegen.target
    lock_file = None
    tmp_dir = None
    saved_hash = None
    saved_make = None
    try:
        if device == "cpp_standalone":
            directory = build_directory(build_key)
            directory.parent.mkdir(parents=True, exist_ok=True)
            lock_file = open(lock_path(directory), "w")  # noqa: SIM115 - held for the block
            if try_flock(lock_file, f"the build folder '{directory}'"):
                if (directory / INCOMPLETE).exists():  # an interrupted or failed build
                    shutil.rmtree(directory)
                info["cached"] = directory.exists()
                info["lock_fd"] = lock_file.fileno()
            else:
                lock_file.close()
                lock_file = None
                tmp_dir = tempfile.mkdtemp(prefix="dopasim-build-")
                directory = Path(tmp_dir)
                info["cached"] = False
                info["lock_fd"] = None
            brian2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
            # Brian2 collects the clocks in sets and writes them to main.cpp in set
            # order, which follows the objects' ids: every process wrote a different
            # main.cpp and recompiled it (~15 s). A hash from the (unique) name makes the
            # order, and the generated code, the same in every process.
            saved_hash = brian2.Clock.__dict__.get("__hash__")
            brian2.Clock.__hash__ = _stable_clock_hash
            if threads:
                brian2.prefs.devices.cpp_standalone.openmp_threads = threads
            saved_make = list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)
            brian2.prefs.devices.cpp_standalone.extra_make_args_unix = make_args(saved_make)
            info["make_args"] = list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)
            info["directory"] = str(directory)
            info["code_target"] = "cpp"
        else:
            brian2.set_device("runtime")
            brian2.prefs.codegen.target = device
            info["code_target"] = device
        yield info
    finally:
        if device == "cpp_standalone":
            if saved_hash is None:
                with contextlib.suppress(AttributeError):
                    del brian2.Clock.__hash__
            else:
                brian2.Clock.__hash__ = saved_hash
            brian2.device.reinit()
            brian2.device.activate()
            brian2.set_device("runtime")
            brian2.prefs.devices.cpp_standalone.openmp_threads = 0
            if saved_make is not None:
                brian2.prefs.devices.cpp_standalone.extra_make_args_unix = saved_make
        brian2.prefs.codegen.target = saved_target
        if lock_file is not None:
            lock_file.close()
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)


# Seeds Brian2's C++ generators once, at the first time step, from a run argument.
_RESEED_CPP = """
static inline int32_t _dopasim_reseed(const int64_t seed)
{
    static bool _dopasim_seeded = false;
    if (!_dopasim_seeded)
    {
        for (size_t _k = 0; _k < brian::_random_generators.size(); _k++)
            brian::_random_generators[_k].seed((unsigned long)seed + _k);
        _dopasim_seeded = true;
    }
    return 0;
}
"""


def _reseed_numpy(seed):  # runtime targets are seeded by brian2.seed; never called there
    return np.zeros_like(seed, dtype=np.int32)


_reseed = brian2.Function(
    _reseed_numpy,
    arg_units=[1],
    arg_types=["integer"],
    return_unit=1,
    return_type="integer",
    stateless=False,
    auto_vectorise=False,
)
_reseed.implementations.add_implementation("cpp", _RESEED_CPP, name="_dopasim_reseed")


class SeedAtStart:
    """cpp_standalone: the seed of Brian2's generators as data, not code.

    ``brian2.seed(s)`` writes s into main.cpp, so every new seed recompiles it (about
    15 s here). Instead the generators are seeded at the first time step (slot
    ``start``, before anything draws) from a one-element variable that the binary reads
    from its command line (Brian2's ``run_args``): every seed runs the same binary. The
    streams are the ones ``brian2.seed(s)`` gives (generator k gets s + k) as long as
    nothing draws random numbers before the run, which dopasim's builders never do
    (initial values come from numpy streams).

    Usage: ``seeder = SeedAtStart(network)`` after the build, then
    ``device.run(..., run_args=seeder.run_args(s))``.
    """

    def __init__(self, network, name="dopasim_seed"):
        # the group's own clock is the operation's: on Brian2's default clock (0.1 ms),
        # which no code object used, the compiled scheduler still woke every 0.1 ms (10
        # times per step of a 1 ms circuit; 7 % of a distributional run's run phase)
        self.group = brian2.NeuronGroup(
            1,
            "rng_seed : integer",
            name=name,
            namespace={"reseed": _reseed},
            dt=1 * brian2.second,
        )
        self.group.run_regularly(
            "rng_seed = rng_seed + reseed(rng_seed)",
            when="start",
            order=-1000,
            name=f"{name}_reseed",
        )
        network.add(self.group)

    def run_args(self, seed):
        return {self.group.rng_seed: int(seed)}

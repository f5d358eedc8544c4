"""The one place where the Brian2 device and code target are chosen.

``device`` is one of:

* ``'cpp_standalone'``: the whole run is compiled to C++ (the fast path). The build
  folder is cached per protocol and network shape under ``$DOPASIM_CACHE`` (default
  ``~/.cache/dopasim``) and reused: make recompiles only what changed (the seed and the
  run length live in main.cpp, the connectivity in data files). A locked cache folder
  (another run is using it) is never shared; a fresh temporary folder is used instead.
* ``'cython'``: runtime mode, Cython code cached by Brian2 (compiled once per machine).
* ``'numpy'``: runtime mode, no compiler needed; used by the unit tests.
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import brian2

__all__ = ["DEVICES", "cache_root", "use_device", "compiler_available"]

DEVICES = ("cpp_standalone", "cython", "numpy")


def cache_root():
    root = os.environ.get("DOPASIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dopasim"
    )
    return Path(root)


def compiler_available():
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def _build_key(key_parts):
    h = hashlib.sha1(repr((brian2.__version__, *key_parts)).encode()).hexdigest()[:12]
    return h


@contextlib.contextmanager
def use_device(device, build_key=("default",), threads=0):
    """Activate ``device`` for the block; yield a dict describing the choice.

    For ``cpp_standalone`` the dict's ``'directory'`` is the build folder (locked for
    the duration of the block) and the caller must call `brian2.device.build`.
    Afterwards the device and prefs are reset, so several runs fit in one process.
    """
    if device not in DEVICES:
        raise ValueError(f"device: '{device}' is not one of {', '.join(DEVICES)}")
    info = {"device": device, "threads": threads}
    saved_target = brian2.prefs.codegen.target
    lock_file = None
    tmp_dir = None
    try:
        if device == "cpp_standalone":
            base = cache_root() / "standalone"
            base.mkdir(parents=True, exist_ok=True)
            directory = base / _build_key(build_key)
            lock_path = base / f"{directory.name}.lock"
            lock_file = open(lock_path, "w")  # noqa: SIM115 - held for the whole block
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                info["cached"] = directory.exists()
            except BlockingIOError:
                lock_file.close()
                lock_file = None
                tmp_dir = tempfile.mkdtemp(prefix="dopasim-build-")
                directory = Path(tmp_dir)
                info["cached"] = False
            brian2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
            if threads:
                brian2.prefs.devices.cpp_standalone.openmp_threads = threads
            info["directory"] = str(directory)
            info["code_target"] = "cpp"
        else:
            brian2.set_device("runtime")
            brian2.prefs.codegen.target = device
            info["code_target"] = device
        yield info
    finally:
        if device == "cpp_standalone":
            brian2.device.reinit()
            brian2.device.activate()
            brian2.set_device("runtime")
            brian2.prefs.devices.cpp_standalone.openmp_threads = 0
        brian2.prefs.codegen.target = saved_target
        if lock_file is not None:
            lock_file.close()
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)

"""Where a run ran: the checkout, the machine, the compiler and the batch job.

`collect` gives the ``provenance`` entry of a run's ``metadata.json``; `file_sha256`
hashes its output files (``outputs``). A leaf utility: the standard library only, and
Brian2 (for its compiler preferences) imported inside `compiler`. Nothing here fails a
run: what cannot be found is None.
"""

import functools
import hashlib
import os
import platform
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

__all__ = ["batch_job", "collect", "compiler", "cpu_model", "file_sha256", "git_state"]

#: seconds a git or compiler call may take before it counts as failed
TIMEOUT_S = 5

#: the folder holding the ``dopasim`` package: the top of the checkout, in a checkout
_PACKAGE_PARENT = Path(__file__).resolve().parents[1]

#: variables that would point git at another repository than the one asked about
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")


def _output(cmd, cwd=None, env=None):
    """The stdout of ``cmd``, or None when it is missing, fails or times out."""
    try:
        done = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.cache
def git_state(path=None):
    """``{"commit": <40 hex>, "dirty": bool}`` of the git checkout whose top folder is
    ``path`` (default: the folder holding this ``dopasim`` package), or None.

    None when ``path`` is not the top of a git work tree (an installed copy inside some
    unrelated repository is not that repository's commit), git is missing, fails or
    takes more than `TIMEOUT_S`. Dirty: a tracked file differs from the commit
    (untracked files do not count). Cached per process (`git_state.cache_clear`).
    """
    top = Path(path).resolve() if path is not None else _PACKAGE_PARENT
    if not top.is_dir():
        return None
    env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # git status must not take the index lock
    env["LC_ALL"] = "C"

    def git(*args):
        return _output(["git", "-C", str(top), *args], env=env)

    shown = git("rev-parse", "--show-toplevel")
    if shown is None or Path(shown.strip()).resolve() != top:
        return None
    commit = git("rev-parse", "--verify", "HEAD")  # None in a repository without commits
    status = git("status", "--porcelain", "--untracked-files=no")
    if commit is None or status is None:
        return None
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def cpu_model():
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def compiler_command():
    """The C++ compiler a compiled run uses: ``$CXX`` (the generated makefile's), else
    ``g++`` or ``c++``, whichever is on PATH first; None when there is none."""
    cxx = os.environ.get("CXX", "").strip()
    if cxx:
        return cxx
    return next((name for name in ("g++", "c++") if shutil.which(name)), None)


@functools.cache
def compiler_version(cxx):
    """The first line of ``<cxx> --version``, or None."""
    try:
        cmd = shlex.split(cxx)  # CXX may be "ccache g++"
    except ValueError:
        return None
    text = _output([*cmd, "--version"]) if cmd else None
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else None


def compiler():
    """``{"cxx", "version", "flags"}``: the compiler command (`compiler_command`), its
    version line and the flags Brian2 passes it (``codegen.cpp.extra_compile_args`` when
    set, else ``extra_compile_args_gcc``; before Brian2 drops those the compiler
    refuses)."""
    import brian2  # lazily: a leaf imports without Brian2

    cpp = brian2.prefs.codegen.cpp
    flags = cpp.extra_compile_args
    if flags is None:
        flags = cpp.extra_compile_args_gcc
    cxx = compiler_command()
    return {
        "cxx": cxx,
        "version": compiler_version(cxx) if cxx else None,
        "flags": [str(f) for f in flags or ()],
    }


def batch_job():
    """``{"system", "job_id"}`` of the batch job this process runs in (Slurm, PBS/Torque,
    SGE, LSF; an array job's task after an underscore, or in square brackets for LSF), or
    None outside one."""
    env = os.environ
    if env.get("SLURM_JOB_ID"):
        job = env["SLURM_JOB_ID"]
        if env.get("SLURM_ARRAY_TASK_ID"):
            job = f"{env.get('SLURM_ARRAY_JOB_ID') or job}_{env['SLURM_ARRAY_TASK_ID']}"
        return {"system": "slurm", "job_id": job}
    if env.get("PBS_JOBID"):
        return {"system": "pbs", "job_id": env["PBS_JOBID"]}
    if env.get("JOB_ID") and (env.get("SGE_ROOT") or env.get("SGE_TASK_ID")):
        job = env["JOB_ID"]
        task = env.get("SGE_TASK_ID", "")
        if task and task != "undefined":  # SGE sets "undefined" outside an array job
            job = f"{job}_{task}"
        return {"system": "sge", "job_id": job}
    if env.get("LSB_JOBID"):
        job = env["LSB_JOBID"]
        index = env.get("LSB_JOBINDEX", "")
        if index and index != "0":
            job = f"{job}[{index}]"
        return {"system": "lsf", "job_id": job}
    return None


def collect():
    """The ``provenance`` entry of a run's metadata."""
    return {
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "git": git_state(),
        "compiler": compiler(),
        "batch_job": batch_job(),
        "platform": platform.platform(),
    }


def file_sha256(path, block=1 << 20):
    """The SHA-256 of the file at ``path`` (hex), read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()

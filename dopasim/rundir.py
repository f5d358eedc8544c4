"""Run directories: unique default names, atomic writes, nothing overwritten silently."""

import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from dopasim.params import ParamError

__all__ = ["default_run_dir", "prepare_run_dir", "atomic_write_bytes", "write_json", "write_npz"]


def default_run_dir(protocol, seed, root="runs"):
    """``runs/<protocol>/<UTC time>-seed<k>``; a suffix keeps it unique."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(root) / protocol / f"{stamp}-seed{seed}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def check_writable(path: Path, overwrite=False):
    """Check, without creating anything, that ``path`` can become a run directory."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ParamError(f"--out: '{path}' exists and is not a directory")
        if any(path.iterdir()) and not overwrite:
            raise ParamError(
                f"--out: '{path}' already holds files; use --overwrite to replace them"
            )
        if not os.access(path, os.W_OK):
            raise ParamError(f"--out: '{path}' is not writable")
        return
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ParamError(f"--out: cannot create '{path}': '{parent}' is not a writable directory")


def prepare_run_dir(path: Path, overwrite=False):
    check_writable(path, overwrite)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes):
    """Write to a temporary name in the same folder, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file private (0600); a result file gets the usual mode
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj):
    atomic_write_bytes(
        path, (json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n").encode()
    )


def write_npz(path, **arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())

"""Run directories: unique default names, atomic writes, nothing overwritten silently."""

import contextlib
import errno
import fcntl
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from dopasim.params import ParamError

__all__ = [
    "default_run_dir",
    "claimed",
    "prepare_run_dir",
    "atomic_write_bytes",
    "write_json",
    "write_npz",
]


def default_run_dir(protocol, seed, root="runs"):
    """``runs/<protocol>/<UTC time>-seed<k>``; a suffix keeps it unique."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(root) / protocol / f"{stamp}-seed{seed}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


#: held (flock) by the run writing a directory, for as long as it runs
LOCK = ".dopasim.lock"


#: errors of flock on file systems that do not support it (some NFS, Lustre, FUSE)
_NO_FLOCK = {errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL}


def try_flock(lock_file, what):
    """Take an exclusive flock on the open ``lock_file`` without waiting.

    True when this process holds it, False when another process does. On a file system
    without flock (some NFS, Lustre, FUSE) it warns, naming ``what``, and returns True:
    the caller goes on unlocked. Every lock of the project goes through here.
    """
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno not in _NO_FLOCK:
            raise
        print(
            f"dopasim: warning: cannot lock {what} ({e.strerror}); two dopasim processes "
            "using it at once would not be told apart",
            file=sys.stderr,
        )
    return True


def _lock(path):
    """An open file holding an exclusive flock on ``path/LOCK`` (unlocked where the
    file system has no flock; `try_flock`). Raises `ParamError` if another run holds it."""
    while True:
        lock = open(path / LOCK, "a")  # noqa: SIM115 - held by the caller
        if not try_flock(lock, f"'{path}'"):
            lock.close()
            raise ParamError(
                f"--out: '{path}' is in use by another dopasim run; wait for it to end or "
                "choose another --out"
            )
        # the run that held it may have unlinked it since we opened it: lock the file
        # that is there now, not a deleted one
        try:
            if os.fstat(lock.fileno()).st_ino == os.stat(path / LOCK).st_ino:
                return lock
        except FileNotFoundError:
            pass
        lock.close()


@contextlib.contextmanager
def claimed(path, overwrite=False, rename=None):
    """Hold ``path`` as this process's run directory for the block; yields the path.

    The directory is created and locked (``flock`` on `LOCK`), so that two runs never
    write into one directory: a run whose directory another run holds is refused with
    `ParamError` (exit code 2). A default name (``rename`` given: a callable returning
    a fresh name) is claimed by creating it, and another name is taken if a concurrent
    run created it first (two runs started in the same second). A directory this block
    created and left without a run in it is removed on the way out.
    """
    path = Path(path)
    while True:
        existed = path.is_dir()
        try:
            path.mkdir(parents=True, exist_ok=rename is None)
        except FileExistsError:
            if rename is None:  # a file, or a dangling link, appeared since the check
                raise ParamError(f"--out: '{path}' exists and is not a directory") from None
            path = Path(rename())
            continue
        except OSError as e:  # e.g. under /proc, where even root cannot create folders
            raise ParamError(f"--out: cannot create '{path}': {e.strerror}") from None
        break
    lock = _lock(path)
    try:
        check_writable(path, overwrite)  # again: another run may have finished in it
        yield path
    finally:
        # still holding the lock: a run that opened the file before this unlink sees
        # that it was replaced (see `_lock`) and does not take a deleted lock
        with contextlib.suppress(OSError):
            os.unlink(path / LOCK)
        if not existed:
            with contextlib.suppress(OSError):
                os.rmdir(path)  # only if empty: nothing of a run is ever removed
        lock.close()


def check_writable(path: Path, overwrite=False):
    """Check, without creating anything, that ``path`` can become a run directory."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ParamError(f"--out: '{path}' exists and is not a directory")
        if any(f.name != LOCK for f in path.iterdir()) and not overwrite:
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
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ParamError(f"--out: cannot create '{path}': {e.strerror}") from None
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _AtomicFile(io.RawIOBase):
    """A temporary file beside ``final``; every byte goes through `os.write`.

    `commit` flushes it to disk (fsync) and renames it to ``final``; `discard` removes
    it. The first OSError of a write is kept, so that a library that wraps it (h5py)
    still reports the real cause.
    """

    def __init__(self, final):
        self.final = Path(final)
        self.fd, self.tmp = tempfile.mkstemp(
            prefix=f".{self.final.name}.", suffix=".tmp", dir=self.final.parent
        )
        self.error = None

    # -- file protocol (h5py's fileobj driver, zipfile, text writers)
    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, b):
        data = os.read(self.fd, len(b))
        b[: len(data)] = data
        return len(data)

    def write(self, b):
        view = memoryview(b).cast("B")
        done = 0
        try:
            while done < len(view):
                done += os.write(self.fd, view[done:])
        except OSError as e:
            self.error = self.error or e
            raise
        return done

    def seek(self, offset, whence=os.SEEK_SET):
        return os.lseek(self.fd, offset, whence)

    def tell(self):
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def truncate(self, size=None):
        size = self.tell() if size is None else size
        os.ftruncate(self.fd, size)
        return size

    def fileno(self):
        return self.fd

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        super().close()

    # -- the atomic part
    def commit(self, overwrite):
        if self.error is not None:  # a write failed and a library went on (h5py's close)
            raise self.error
        os.fsync(self.fd)
        os.fchmod(
            self.fd, 0o666 & ~_umask()
        )  # mkstemp gives 0600: a result file gets the usual mode
        self.close()
        if overwrite:
            os.replace(self.tmp, self.final)
        else:  # no-clobber: a file that appeared meanwhile is kept
            try:
                os.link(self.tmp, self.final)
            except FileExistsError:
                raise ParamError(
                    f"--out: '{self.final}' already exists; use --overwrite (overwrite=True) "
                    f"to replace it"
                ) from None
            except OSError:  # no hard links on this file system
                if self.final.exists():
                    raise ParamError(
                        f"--out: '{self.final}' already exists; use --overwrite to replace it"
                    ) from None
                os.replace(self.tmp, self.final)
            else:
                os.unlink(self.tmp)
        with contextlib.suppress(OSError):  # the rename itself reaches the disk
            dfd = os.open(self.final.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def discard(self):
        with contextlib.suppress(OSError):
            self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


@contextlib.contextmanager
def atomic_file(final, overwrite=True):
    """Write ``final`` through a temporary file: renamed into place only when complete.

    The body writes to the yielded raw file (bytes, seekable; h5py can use it). Without
    ``overwrite`` an existing ``final`` is kept (`ParamError`). A failed write leaves
    nothing under ``final`` and no temporary file; an OSError names ``final``.
    """
    f = _AtomicFile(final)
    try:
        yield f
        f.commit(overwrite)
    except BaseException as e:
        f.discard()
        cause = f.error
        if cause is not None and e is not cause and not isinstance(e, KeyboardInterrupt):
            raise OSError(cause.errno, cause.strerror, str(final)) from e
        if isinstance(e, OSError) and not isinstance(e, ParamError) and e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(final)) from e
        raise


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` atomically (see `atomic_file`), replacing it."""
    with atomic_file(path, overwrite=True) as f:
        f.write(data)


def write_json(path, obj):
    atomic_write_bytes(
        path, (json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n").encode()
    )


#: zlib level of the run directory's .npz files. `np.savez_compressed` uses the default, 6;
#: level 1 wrote the spikes of a 16,000 s distributional run (0.96 GB of arrays) in 14.7 s
#: against 94.5 s, for 267 MB against 239 MB (the same machine and load).
NPZ_COMPRESSLEVEL = 1


def write_npz(path, **arrays):
    """``arrays`` as a compressed .npz (`np.load` reads it as it reads
    `np.savez_compressed`'s), zlib level `NPZ_COMPRESSLEVEL`, written atomically."""
    buf = io.BytesIO()
    with zipfile.ZipFile(
        buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=NPZ_COMPRESSLEVEL
    ) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=True)
    atomic_write_bytes(path, buf.getvalue())

"""Peak resident memory (VmHWM) of this process and of its descendants, for the benchmarks.

Not ``getrusage(...).ru_maxrss``: Linux carries a parent's peak RSS into a child's
``ru_maxrss`` across fork and exec, so a child started from a large Python process (a
standalone binary, a compiler) would report at least that process's RSS.
"""

import os
import threading


def vmhwm_kb(pid="self"):
    """Peak RSS of process ``pid`` in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            continue
    return out


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


class ChildPeak(threading.Thread):
    """The largest VmHWM of this process's descendants (only those whose command name is
    ``name``, when given: Brian2's standalone binary is ``main``), polled every 10 ms
    while running. A child that lives only a few polls may read low."""

    def __init__(self, name=None):
        super().__init__(daemon=True)
        self.name_wanted = name
        self.peak_kb = 0
        self._stop_event = threading.Event()

    def run(self):
        me = os.getpid()
        while not self._stop_event.wait(0.01):
            for pid in _descendants(me):
                if self.name_wanted is None or _comm(pid) == self.name_wanted:
                    self.peak_kb = max(self.peak_kb, vmhwm_kb(pid))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._stop_event.set()
        self.join()

    @property
    def peak_mb(self):
        return self.peak_kb // 1024

"""`dopasim compare`'s worker pool when a worker dies (issue 24's review).

The pool ends its other workers with SIGTERM and waits for them; a worker must not take
that signal for the main process's (forwarded) stop, or `compare` would wait forever.
"""

import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from concurrent.futures.process import BrokenProcessPool

    from dopasim import comparison as compare


    def work(job):
        if job == "die":
            time.sleep(2)  # the other worker is busy by now
            os._exit(1)
        time.sleep(300)  # a long run (no runner: the pool's own handler is in place)
        return job


    if __name__ == "__main__":
        try:
            compare._run_pool(["die", "long"], 2, lambda r: None, work=work)
        except BrokenProcessPool:
            print("broken pool reported")
            sys.exit(3)
        sys.exit(0)
    """
)


def test_a_dead_worker_ends_the_pool_promptly(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:  # the hang this test is about: clean up what it left
            subprocess.run(["pkill", "-KILL", "-f", str(script)], check=False)
            proc.kill()
            proc.wait()
    assert proc.returncode == 3 and "broken pool reported" in out
    assert time.monotonic() - t0 < 60  # not the other worker's 300 s

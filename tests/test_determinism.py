"""Determinism (issue 5): the same seed gives the same spikes, another seed other spikes,
and runs in one process match the same runs in separate processes (numpy target).

The compiled target's seed handling (a run argument, one binary for every seed) is
checked in tests/test_targets.py (marker ``targets``).
"""

import json
import subprocess
import sys

import numpy as np
from tiny import TINY_CONDITIONING

from dopasim import runner

TINY = TINY_CONDITIONING


def _spikes(seed, scenario="intact"):
    res = runner.run(
        "conditioning",
        params=TINY,
        seed=seed,
        device="numpy",
        write=False,
        figures=False,
        quiet=True,
        scenario=scenario,
    )
    return {k: v for k, v in res.data.items() if k.startswith("spikes_")}


def _same(a, b):
    return a.keys() == b.keys() and all(
        np.array_equal(a[k][0], b[k][0]) and np.array_equal(a[k][1], b[k][1]) for k in a
    )


def test_seeds_decide_the_spikes():
    a, b, c = _spikes(5), _spikes(5), _spikes(6)
    assert _same(a, b)
    assert not _same(a, c)
    assert sum(len(v[1]) for v in a.values()) > 100  # the comparison is not of empty runs


def test_runs_in_one_process_match_separate_processes(tmp_path):
    """Scenario B after scenario A in this process = scenario B alone in a fresh one."""
    _spikes(2, "intact")
    here = _spikes(2, "parkinson:loss=0.5")
    script = (
        "import json, sys\n"
        "from dopasim import runner\n"
        "res = runner.run('conditioning', params=json.loads(sys.argv[1]), seed=2,\n"
        "    device='numpy', out=sys.argv[2], quiet=True, figures=False,\n"
        "    scenario='parkinson:loss=0.5')\n"
    )
    out = tmp_path / "sep"
    subprocess.run(
        [sys.executable, "-c", script, json.dumps(TINY), str(out)], check=True, timeout=300
    )
    with np.load(out / "spikes.npz") as f:
        there = {f"spikes_{k[:-2]}": (f[k], f[k[:-2] + "_t"]) for k in f.files if k.endswith("_i")}
    assert here.keys() == there.keys()
    for k in here:
        assert np.array_equal(np.asarray(here[k][0], dtype=np.int32), there[k][0]), k
        assert np.array_equal(np.asarray(here[k][1], dtype=np.float64), there[k][1]), k

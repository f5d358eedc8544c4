"""Reference runs for behaviour-preserving refactors: every protocol, short, numpy.

`tests/golden/reference.json` holds, for each case below, the metrics and a SHA-256 of
every array the run returns (spikes, rates, weights, pools), written by
``python tests/golden.py --write`` *before* a refactor begins; `tests/test_golden.py`
reruns the cases and requires the same numbers to the bit. Rewrite the reference only
for a change that is meant to change results, and say so in the commit.
"""

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

from dopasim.protocols import REGISTRY, get_protocol

REFERENCE = Path(__file__).parent / "golden" / "reference.json"


def _tiny(name):
    return dict(get_protocol(name).TINY_PARAMS)


#: (case name, protocol, params, scenario, seed): every registered protocol at its
#: TINY_PARAMS (intact), and variants
CASES = (
    *((name, name, _tiny(name), "intact", 3) for name in REGISTRY),
    ("distal-reward/clock", "distal-reward", {**_tiny("distal-reward"), "plasticity": "clock"},
     "intact", 3),
    ("conditioning/parkinson", "conditioning", _tiny("conditioning"), "parkinson:loss=0.75", 3),
    ("conditioning/ssri", "conditioning", _tiny("conditioning"), "ssri:occupancy=0.8", 3),
    ("aversive/hunger", "aversive", _tiny("aversive"), "hunger:level=1", 3),
    ("probabilistic-selection/on", "probabilistic-selection", _tiny("probabilistic-selection"),
     "parkinson:loss=0.75+medicated", 3),
)  # fmt: skip


def _digest(value):
    a = np.ascontiguousarray(np.asarray(value))
    if a.dtype == object:  # ragged (per-trial lists): hash its repr, stable for numbers
        return {"shape": list(a.shape), "dtype": "object", "sha256": _sha(repr(a.tolist()))}
    return {
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
    }


def _sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable_metric(v):
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)  # nan, inf: JSON has no literal for them
    if isinstance(v, np.generic):
        return _jsonable_metric(v.item())
    if isinstance(v, list | tuple):
        return [_jsonable_metric(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable_metric(x) for k, x in v.items()}
    return v


def run_case(protocol, params, scenario, seed):
    """One short numpy run, nothing written; its metrics and array digests."""
    from dopasim import runner

    res = runner.run(
        protocol,
        dict(params),
        seed=seed,
        device="numpy",
        scenario=scenario,
        quiet=True,
        write=False,
        figures=False,
    )
    return {
        "metrics": _jsonable_metric(dict(res.metrics)),
        "arrays": {k: _digest(v) for k, v in sorted(res.data.items())},
    }


def main(argv):
    if argv != ["--write"]:
        print("usage: python tests/golden.py --write  (rewrites tests/golden/reference.json)")
        return 2
    ref = {}
    for name, protocol, params, scenario, seed in CASES:
        ref[name] = run_case(protocol, params, scenario, seed)
        print(f"{name}: {len(ref[name]['arrays'])} arrays, {len(ref[name]['metrics'])} metrics")
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

#!/usr/bin/env python
"""Regenerate the figures shown in the README and the docs (``make figures``; about a minute).

Runs the distal-reward experiment (1 h simulated, seed 1, compiled) and copies its
figures to figures/distal_reward_*.png.
"""

import shutil
import sys
import tempfile
from pathlib import Path

from dopasim import runner

ROOT = Path(__file__).resolve().parent.parent


def main():
    (ROOT / "figures").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        res = runner.run("distal-reward", seed=1, out=Path(tmp) / "run", quiet=True)
        for name in ("raster", "weights", "rewarded_weight"):
            shutil.copy(res.path / f"{name}.png", ROOT / "figures" / f"distal_reward_{name}.png")
        print(
            {
                k: res.metrics[k]
                for k in ("rewarded_weight", "rewarded_weight_percentile", "time_to_learn_s")
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

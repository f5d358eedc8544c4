"""Conditioning's late-US ratio with each membrane-noise source, on calibration seeds.

Runs the conditioning protocol (default parameters, cpp_standalone) with
``membrane_noise=xi`` and ``counter`` on each seed and prints one JSON line per run with
the long tier's trial-response ratios (late US, late CS, early US, omission), the tonic
DA rate and the wall time. Used for issue 21 (docs/results/2026-12-04-late-us-noise.md).

    python scripts/late_us_by_noise.py --seeds 101-106 --jobs 2
"""

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

KEYS = ("late_us_ratio", "late_cs_ratio", "early_us_ratio", "omission_ratio", "da_tonic_hz")


def one(job):
    seed, noise = job
    from dopasim import runner

    t0 = time.time()
    r = runner.run(
        "conditioning",
        params={"membrane_noise": noise},
        seed=seed,
        device="cpp_standalone",
        quiet=True,
        write=False,
        figures=False,
    )
    return {"seed": seed, "noise": noise, "wall": round(time.time() - t0, 1)} | {
        k: r.metrics[k] for k in KEYS
    }


def main(argv=None):
    from dopasim.sweepfile import parse_seed_ranges

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="101-106")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    jobs = [(s, n) for s in parse_seed_ranges(args.seeds, "seeds") for n in ("xi", "counter")]
    with ProcessPoolExecutor(args.jobs) as ex:
        for row in ex.map(one, jobs):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

"""The distributional dopamine code (issue 23's acceptance). Marker: long.

Dabney et al. 2020, Nature 577:671. Pre-registered six times, each before its run (the
fifth withdrawn before any run):
docs/preregistration/2026-12-04-distributional.md (seeds 1-3, Brian2's white noise;
reported in docs/results/2026-12-04-distributional.md),
docs/preregistration/2026-12-04-distributional-counter.md (seeds 4-6, counter-based
membrane noise; docs/results/2026-12-04-distributional-counter.md),
docs/preregistration/2026-12-06-distributional-matched.md (seeds 7-9: the critic
calibrated since, with matched expectations and asymmetric plasticity, set by
parameters; reported in docs/results/2026-12-06-distributional-matched.md),
docs/preregistration/2026-12-06-distributional-timescale.md (seeds 10-12: the same critic
with DA neurons whose tonic rates differ by their time scale, forty GABA neurons per
channel and 3,500 trials; reported in docs/results/2026-12-06-distributional-timescale.md),
docs/preregistration/2026-12-07-distributional-pauses.md (withdrawn before any run) and
docs/preregistration/2026-12-07-distributional-more-da.md (seeds 13-15: the same critic
with the DA neurons' pauses deepened, pause_gain 1.75, and in the 10/50/90 task 6,000
trials and twice the DA neurons; reported in
docs/results/2026-12-07-distributional-more-da.md: every criterion passed, the
speed target, reported, did not).
Calibration used seeds 101-145 and the spent seed 10; seeds 1-15 are spent.
The design is the two sweep files that users run, read here with the seeds below:
``examples/distributional.toml`` (the variable-magnitude task under ``control=none``,
``classical`` and ``uncoupled``) and ``examples/distributional-10-50-90.toml`` (the
10/50/90 % task, `probability` with the distributional critic). Paired seeds,
cpp_standalone, two worker processes (each with its own build slot).

The criteria and margins are the issue's; each is one test below. Every table is
printed (``make test-long ARGS="tests/test_distributional_long.py -s"``).
``DOPASIM_DISTRIBUTIONAL_RUNS=DIR`` keeps the run directories in DIR and evaluates the
runs found there instead of running them again (a run is reused only if its seed and
every parameter of the file match).
"""

import json
import math
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from dopasim.params import resolve_params, to_jsonable
from dopasim.protocols import get_protocol
from dopasim.sweepfile import load_sweep

pytestmark = pytest.mark.long
SEEDS = (13, 14, 15)  # the sixth pre-registration's (1-3, 4-6, 7-9, 10-12: the first four)
CONTROLS = ("none", "classical", "uncoupled")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: The variable-magnitude task with its controls, and the 10/50/90 % task: the design of
#: the latest pre-registration (its critic calibrated in docs/distributional-calibration.md).
VARIABLE = EXAMPLES / "distributional.toml"
CUES = EXAMPLES / "distributional-10-50-90.toml"


def _planned(path):
    """The sweep file's runs on `SEEDS` (`dopasim.sweepfile.load_sweep`)."""
    plan, errors = load_sweep(path, overrides={"seeds": list(SEEDS)})
    assert not errors, [e.format(path) for e in errors]
    return plan.runs


def _jobs():
    """(protocol, params, seed, name) of every run, in an order that lets each of two
    workers compile few builds: worker 0 takes the even positions, worker 1 the odd."""
    variable = {(r.params["control"], r.seed): r for r in _planned(VARIABLE)}
    cues = {r.seed: r for r in _planned(CUES)}
    assert set(variable) == {(c, s) for c in CONTROLS for s in SEEDS}, sorted(variable)
    assert set(cues) == set(SEEDS), sorted(cues)
    order = [(c, s) for s in SEEDS for c in CONTROLS[:2]] + [("uncoupled", s) for s in SEEDS]
    jobs = [(variable[k].protocol, variable[k].params, k[1], f"{k[0]}-s{k[1]}") for k in order]
    jobs += [(cues[s].protocol, cues[s].params, s, f"optimism-s{s}") for s in SEEDS]
    return jobs


def _same(stored, wanted):
    """A stored parameter equals the wanted one: ``wanted`` (a command-line string)
    parsed by the protocol's own parameter and written as the metadata writes it
    ('100ms' -> '100. ms')."""
    return stored == to_jsonable(wanted)


def _run_one(args):
    protocol, params, seed, out, slot = args
    from dopasim import runner

    meta = Path(out) / "metadata.json"
    if (Path(out) / "metrics.json").exists() and meta.exists():
        m = json.loads(meta.read_text())
        got = m.get("parameters", {})
        wanted = resolve_params(get_protocol(protocol).PARAMS, params)
        same = all(_same(got.get(k), wanted[k]) for k in params)
        same &= got.get("membrane_noise") == "counter"  # this pre-registration's noise
        if m.get("status") == "complete" and m.get("seed") == seed and same:
            return out  # a finished run of this seed and design: evaluated, not run again
    # force: the memory estimate is an upper bound at ceiling rates (about 41 GiB for a
    # variable-magnitude run, 64 GiB for a 10/50/90 run); the runs take about 1 GB
    runner.run(
        protocol,
        params,
        seed=seed,
        out=out,
        overwrite=True,
        quiet=True,
        build_slot=slot,
        force=True,
    )
    return out


def _worker(jobs):
    return [_run_one(j) for j in jobs]


@pytest.fixture(scope="module")
def runs():
    folder = os.environ.get("DOPASIM_DISTRIBUTIONAL_RUNS")
    root = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="distributional-"))
    root.mkdir(parents=True, exist_ok=True)
    jobs = _jobs()
    lanes = [
        [
            (p, prm, s, str(root / name), slot)
            for k, (p, prm, s, name) in enumerate(jobs)
            if k % 2 == slot
        ]
        for slot in (0, 1)
    ]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_worker, lanes))
    out = {}
    for _, _, seed, name in jobs:
        path = root / name
        kind = name.rsplit("-s", 1)[0]
        meta = json.loads((path / "metadata.json").read_text())
        out[(kind, seed)] = {
            **json.loads((path / "metrics.json").read_text()),
            "_run_s": meta["wall_times_s"].get("run_s"),
        }
    print(f"\nrun directories: {root}")
    return out


def _vals(runs, kind, metric):
    return np.array([runs[(kind, s)][metric] for s in SEEDS], float)


def _show(runs, metrics, kinds=CONTROLS):
    for m in metrics:
        for k in kinds:
            print(f"{m:32s} {k:10s}", " ".join(f"{v:8.3f}" for v in _vals(runs, k, m)))


def test_print_the_tables(runs):
    """Every figure of the acceptance, printed (this test asserts only that they exist)."""
    _show(
        runs,
        (
            "spearman_tau_value",
            "value_spread",
            "spearman_design_tau_reversal",
            "split_half_r_median",
            "split_half_p",
            "reversal_reliability",
            "reversal_median",
            "reversal_q25",
            "reversal_q75",
            "reversal_gaps_spanned",
            "tau_hat_median",
            "tau_hat_p10",
            "tau_hat_p90",
            "baseline_tau_r",
            "decoded_w1",
            "uniform_w1",
            "gaussian_w1",
            "n_neurons_analysed",
            "n_trials_analysed",
            "_run_s",
        ),
    )
    _show(
        runs,
        (
            "optimism_spearman",
            "optimism_n_above",
            "optimism_n_below",
            "optimism_neuron_spearman",
            "cs_ratio_p10",
            "cs_ratio_p50",
            "cs_ratio_p90",
            "_run_s",
        ),
        ("optimism",),
    )
    for s in SEEDS:
        print(
            f"seed {s} channel optimism:",
            [round(runs[("optimism", s)][f"optimism_channel_{k}"], 2) for k in range(10)],
        )
        # reported, not a criterion: the same index of the channels' D1 values
        print(
            f"seed {s} channel value index (D1):",
            [
                round(runs[("optimism", s)].get(f"value_index_channel_{k}", math.nan), 2)
                for k in range(10)
            ],
        )
    assert all(np.isfinite(_vals(runs, "none", "spearman_tau_value")))


def test_1_channel_values_order_with_their_asymmetry(runs):
    rho = _vals(runs, "none", "spearman_tau_value")
    spread, spread_cl = (
        _vals(runs, "none", "value_spread"),
        _vals(runs, "classical", "value_spread"),
    )
    assert np.all(rho >= 0.8), rho
    assert np.all(spread > spread_cl), (spread, spread_cl)


def test_2_reversal_points_follow_the_design_asymmetry(runs):
    rho = _vals(runs, "none", "spearman_design_tau_reversal")
    assert np.all(rho >= 0.5), rho


def _pooled_p(r, n):
    """Two-sided p of the seeds' Pearson R pooled by Fisher's z (weights n - 3)."""
    w = np.asarray(n, float) - 3
    z = float(np.sum(w * np.arctanh(np.asarray(r, float))) / np.sum(w))
    return math.erfc(abs(z) * math.sqrt(np.sum(w)) / math.sqrt(2))


def test_3_split_half_asymmetry_predicts_the_other_halfs_reversal_point(runs):
    r = _vals(runs, "none", "split_half_r_median")
    r_cl = _vals(runs, "classical", "split_half_r_median")
    n = _vals(runs, "none", "n_neurons_analysed")
    p = _pooled_p(r, n)
    print("split-half R", r, "classical", r_cl, "pooled p", p)
    assert np.all(r >= 0.25), r
    assert p < 0.01, p
    assert np.all(r - r_cl >= 0.2), r - r_cl


def test_4_reversal_points_span_the_sizes_and_the_classical_median_is_the_mean(runs):
    gaps = _vals(runs, "none", "reversal_gaps_spanned")
    med_cl = _vals(runs, "classical", "reversal_median")
    assert np.all(gaps >= 2), gaps
    assert np.all((med_cl >= 2.5) & (med_cl <= 10)), med_cl


def test_5_asymmetry_does_not_follow_the_baseline_rate(runs):
    r = _vals(runs, "none", "baseline_tau_r")
    assert np.all(np.abs(r) < 0.3), r


def test_6_optimism_in_the_10_50_90_task(runs):
    rho = _vals(runs, "optimism", "optimism_spearman")
    above = _vals(runs, "optimism", "optimism_n_above")
    below = _vals(runs, "optimism", "optimism_n_below")
    assert np.all(rho >= 0.6), rho
    assert np.all(above >= 1) and np.all(below >= 1), (above, below)


def test_7_the_uncoupled_control_fails_criterion_1(runs):
    rho = _vals(runs, "uncoupled", "spearman_tau_value")
    spread = _vals(runs, "uncoupled", "value_spread")
    spread_cl = _vals(runs, "classical", "value_spread")
    passes = (rho >= 0.8) & (spread > spread_cl)
    assert not np.any(passes), (rho, spread, spread_cl)

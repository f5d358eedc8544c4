"""`dopasim compare` (issue 4): paired statistics, files, failures and bad input."""

import csv
import math

import numpy as np
import pytest
from test_reward_circuit import TINY

from dopasim import comparison as cmp
from dopasim import runner
from dopasim.cli import main


def test_t_quantiles():
    assert cmp.t_quantile_975(1) == pytest.approx(12.706)
    assert cmp.t_quantile_975(4) == pytest.approx(2.776)
    assert cmp.t_quantile_975(30) == pytest.approx(2.042)
    assert cmp.t_quantile_975(60) == pytest.approx(2.000, abs=2e-3)
    assert cmp.t_quantile_975(10_000) == pytest.approx(1.960, abs=1e-3)
    assert math.isnan(cmp.t_quantile_975(0))


def test_summary_statistics_are_paired():
    per_seed = {
        ("a", 1): {"m": 1.0},
        ("a", 2): {"m": 2.0},
        ("a", 3): {"m": 3.0},
        ("b", 1): {"m": 2.0},
        ("b", 2): {"m": 4.0},
        ("b", 3): {"m": 5.0},
    }
    rows = {r["scenario"]: r for r in cmp.summarize(per_seed, ["a", "b"])}
    a, b = rows["a"], rows["b"]
    half = 4.303 * 1.0 / math.sqrt(3)  # sd of (1, 2, 3) is 1
    assert a["mean"] == pytest.approx(2.0)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((2 - half, 2 + half), rel=1e-4)
    assert a["n"] == 3 and a["diff_mean"] == 0 and a["effect_dz"] == 0
    d = np.array([1.0, 2.0, 2.0])  # paired differences b - a
    assert b["diff_mean"] == pytest.approx(d.mean())
    assert b["effect_dz"] == pytest.approx(d.mean() / d.std(ddof=1))
    half_d = 4.303 * d.std(ddof=1) / math.sqrt(3)
    assert b["diff_ci_low"] == pytest.approx(d.mean() - half_d, rel=1e-4)
    assert b["n_pairs"] == 3


def test_summary_ignores_nan_and_missing_seeds():
    per_seed = {("a", 1): {"m": 1.0}, ("a", 2): {"m": float("nan")}, ("b", 1): {"m": 3.0}}
    rows = {r["scenario"]: r for r in cmp.summarize(per_seed, ["a", "b"])}
    assert rows["a"]["n"] == 1 and math.isnan(rows["a"]["ci_low"])
    assert rows["b"]["n_pairs"] == 1 and math.isnan(rows["b"]["effect_dz"])


def test_figure_error_bars_stay_within_a_metrics_range(tmp_path, monkeypatch):
    """A fraction's t interval from 2 seeds reaches far outside [0, 1] (seen: -5.9 to 6.9
    for choose_a_accuracy at 90 % loss); the figure draws it within the range the
    protocol declares, says so, and leaves the table's interval alone."""
    per_seed = {
        ("a", 1): {"f": 1.0},
        ("a", 2): {"f": 0.0},
        ("b", 1): {"f": 0.5},
        ("b", 2): {"f": 0.6},
    }
    rows = cmp.summarize(per_seed, ["a", "b"])
    a = next(r for r in rows if r["scenario"] == "a")
    assert a["ci_low"] < -5 and a["ci_high"] > 6  # as computed: 0.5 -/+ 12.706 * 0.707 / 1.414
    means, lo, hi, clipped = cmp.error_bars(rows, (0.0, 1.0))
    assert clipped
    assert means[0] - lo[0] == 0.0 and means[0] + hi[0] == 1.0
    # b's interval (0.55 -/+ 0.64) is clipped too, at both ends
    assert means[1] - lo[1] == 0.0 and means[1] + hi[1] == pytest.approx(1.0)
    # without bounds the bars are the intervals
    means, lo, hi, clipped = cmp.error_bars(rows)
    assert not clipped and means[0] - lo[0] == pytest.approx(a["ci_low"])
    # a NaN interval (one seed) stays NaN and is not called clipped
    one = cmp.summarize({("a", 1): {"f": 0.5}}, ["a"])
    means, lo, hi, clipped = cmp.error_bars(one, (0.0, 1.0))
    assert not clipped and np.isnan(lo[0])

    class Module:
        HEADLINE_METRICS = ("f",)
        METRIC_RANGES = {"f": (0.0, 1.0)}

    seen = []
    real = cmp.error_bars

    def spy(stats, bounds=None):
        seen.append(bounds)
        return real(stats, bounds)

    monkeypatch.setattr(cmp, "error_bars", spy)
    made = cmp._figures(tmp_path, Module, ["a", "b"], per_seed, rows, None)
    assert made == ["f.png"] and (tmp_path / "f.png").stat().st_size > 0
    assert seen == [(0.0, 1.0)]  # the figure used the protocol's range


class _Fake:
    def __init__(self, metrics):
        self.metrics = metrics


def test_a_failed_seed_is_reported_and_the_others_are_kept(tmp_path, monkeypatch):
    def fake_run(protocol, params=None, seed=1, scenario="intact", **kw):
        if scenario.startswith("ssri") and seed == 2:
            raise FloatingPointError("blew up")
        bump = 1.0 if scenario.startswith("ssri") else 0.0
        return _Fake({"x": float(seed) + bump, "label": "not a number"})

    monkeypatch.setattr(runner, "run", fake_run)
    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            "conditioning",
            "--scenario",
            "intact",
            "--scenario",
            "ssri:occupancy=0.8",
            "--seeds",
            "3",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 1
    rows = list(csv.DictReader(open(out / "per_seed.csv")))
    assert {(r["scenario"], r["seed"]) for r in rows} == {
        ("intact", "1"),
        ("intact", "2"),
        ("intact", "3"),
        ("ssri:occupancy=0.8", "1"),
        ("ssri:occupancy=0.8", "3"),
    }
    fails = list(csv.DictReader(open(out / "failures.csv")))
    assert fails == [
        {"scenario": "ssri:occupancy=0.8", "seed": "2", "error": "FloatingPointError: blew up"}
    ]
    comp = {r["scenario"]: r for r in csv.DictReader(open(out / "comparison.csv"))}
    assert float(comp["ssri:occupancy=0.8"]["diff_mean"]) == pytest.approx(1.0)
    assert comp["ssri:occupancy=0.8"]["n_pairs"] == "2"
    md = (out / "comparison.md").read_text()
    assert "Failed runs" in md and "blew up" in md
    assert (out / "compare.json").exists()  # x is no headline metric: no figure


@pytest.mark.parametrize(
    "args, words",
    [
        (["--scenario", "intact", "--seeds", "0"], ["--seeds", "0", ">= 1"]),
        (["--scenario", "intact", "--seeds", "two"], ["--seeds", "two"]),
        (["--scenario", "intact", "--jobs", "0"], ["--jobs", "0"]),
        ([], ["at least one scenario"]),
        (["--scenario", "ssri:occupancy=0.8", "--scenario", "ssri:occupancy=0.8"], ["twice"]),
        (
            ["--scenario", "intact", "--scenario", "parkinson:loss=1.5"],
            ["parkinson:loss", "0 to 1"],
        ),
        (["--scenario", "hungr"], ["did you mean 'hunger'"]),
        (["--scenario", "intact", "--param", "n_trials=-3"], ["n_trials"]),
        (["--scenario", "intact", "--export", "pdf"], ["pdf"]),
    ],
)
def test_compare_bad_input_exits_2_and_creates_nothing(args, words, tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["compare", "conditioning", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for w in words:
        assert w in err
    assert not out.exists()


def test_compare_refuses_an_existing_folder(tmp_path, capsys):
    out = tmp_path / "done"
    out.mkdir()
    (out / "per_seed.csv").write_text("keep me\n")
    code = main(["compare", "conditioning", "--scenario", "intact", "--out", str(out)])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "per_seed.csv").read_text() == "keep me\n"


def test_real_tiny_comparison_in_two_workers(tmp_path):
    """Two worker processes, a real (numpy) circuit: paired seeds give paired lesions."""
    res = cmp.compare(
        "conditioning",
        ["intact", "parkinson:loss=0.6"],
        seeds=1,
        jobs=2,
        out=tmp_path / "cmp",
        params=TINY,
        device="numpy",
        quiet=True,
    )
    assert not res["failures"]
    pk = res["per_seed"][("parkinson:loss=0.6", 1)]
    intact = res["per_seed"][("intact", 1)]
    assert pk["da_tonic_hz"] < intact["da_tonic_hz"]
    for name in (
        "per_seed.csv",
        "comparison.csv",
        "comparison.md",
        "compare.json",
        "late_cs_ratio.png",
        "da_released_per_spike.png",
    ):
        assert (tmp_path / "cmp" / name).exists()


def test_compare_exports_every_run(tmp_path, capsys):
    """--export writes each compared run's spikes (the main job's NWB rasters)."""
    from tiny import TINY_CONDITIONING

    out = tmp_path / "cmp"
    params = [x for k, v in TINY_CONDITIONING.items() for x in ("--param", f"{k}={v}")]
    code = main(
        ["compare", "conditioning", "--scenario", "intact", "--seeds", "1", "--device", "numpy"]
        + params
        + ["--export", "csv", "--out", str(out), "--quiet"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    exported = sorted(out.glob("runs/*/*/spikes.csv"))
    assert len(exported) == 1 and exported[0].stat().st_size > 0
    assert f"wrote {exported[0]}" in printed and "comparison folder" in printed


def test_the_terminal_shows_the_headline_metrics_and_every_failure(tmp_path):
    """`dopasim compare` prints the protocol's headline rows; comparison.md keeps all."""
    from dopasim.cli import _headline_table
    from dopasim.protocols import get_protocol

    head = get_protocol("conditioning").HEADLINE_METRICS[0]
    (tmp_path / "compare.json").write_text('{"protocol": "conditioning"}')
    (tmp_path / "comparison.md").write_text(
        "# Comparison\n\n| metric | scenario | mean |\n|---|---|---|\n"
        f"| {head} | intact | 1 |\n| not_a_headline | intact | 2 |\n\n"
        "## Failed runs\n\n| scenario | seed | error |\n|---|---|---|\n| intact | 2 | boom |\n"
    )
    shown = _headline_table(tmp_path)
    assert f"| {head} | intact | 1 |" in shown and "not_a_headline" not in shown
    assert "| intact | 2 | boom |" in shown and "comparison.md" in shown
    (tmp_path / "compare.json").write_text('{"protocol": "nosuch"}')  # unknown: all of it
    assert "not_a_headline" in _headline_table(tmp_path)

"""dopasim sweep: a 3-value grid x 2 protocols x 2 seeds on a real Dask LocalCluster
(tiny reward circuits, numpy target), validate and --dry-run, --resume, bad files."""

import csv
import json

import pytest

pytest.importorskip("distributed")

from tiny import TINY_SWEEP  # noqa: E402

from dopasim.cli import main  # noqa: E402

SWEEP = TINY_SWEEP


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "sweep.toml").write_text(SWEEP)
    out = tmp / "out"
    code = main(
        [
            "sweep",
            str(tmp / "sweep.toml"),
            "--out",
            str(out),
            "--jobs",
            "2",
            "--scheduler",
            "dask",
            "--quiet",
        ]
    )
    return tmp, out, code


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_grid_of_3_by_2_protocols_by_2_seeds_gives_12_runs_with_the_grid_columns(swept):
    _, out, code = swept
    assert code == 0
    results = _rows(out / "results.csv")
    assert "loss" in results[0]
    runs = {(r["protocol"], r["scenario"], r["seed"]) for r in results}
    assert len(runs) == 12
    assert {r["loss"] for r in results} == {"0.25", "0.5", "0.75"}
    assert {r["protocol"] for r in results} == {"conditioning", "aversive"}
    assert len(_rows(out / "plan.csv")) == 12
    record = json.loads((out / "sweep.json").read_text())
    assert (record["n_runs"], record["n_failed"], record["scheduler"]) == (12, 0, "dask")
    assert _rows(out / "failures.csv") == []
    for protocol in ("conditioning", "aversive"):
        table = _rows(out / protocol / "comparison.csv")
        assert {r["scenario"] for r in table} == {
            f"parkinson:loss={v}" for v in ("0.25", "0.5", "0.75")
        }
        assert list((out / protocol).glob("*-vs-loss.png"))
    # each run's own parameters: conditioning has its table's, aversive not
    meta = json.loads(
        next((out / "runs" / "conditioning").glob("*/seed1/metadata.json")).read_text()
    )
    assert meta["parameters"]["probe_window"] == 1


def test_validate_counts_12_and_runs_nothing(swept, capsys):
    tmp, _, _ = swept
    before = sorted(p.name for p in tmp.iterdir())
    assert main(["validate", str(tmp / "sweep.toml")]) == 0
    assert "12 runs" in capsys.readouterr().out
    assert sorted(p.name for p in tmp.iterdir()) == before


def test_dry_run_writes_the_plan_only(swept, tmp_path):
    tmp, _, _ = swept
    out = tmp_path / "dry"
    assert main(["sweep", str(tmp / "sweep.toml"), "--out", str(out), "--dry-run"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["plan.csv", "sweep.json"]
    assert len(_rows(out / "plan.csv")) == 12


def test_resume_after_a_sweep_killed_part_way_runs_only_the_rest(swept, tmp_path, capsys):
    tmp, _, _ = swept
    out = tmp_path / "r"
    args = ["sweep", str(tmp / "sweep.toml"), "--out", str(out), "--jobs", "2"]
    assert main([*args, "--quiet"]) == 0
    # as a kill leaves it: two runs never finished, one half-written
    runs = sorted(out.glob("runs/*/*/seed*/metadata.json"))
    for meta in runs[:2]:
        for f in meta.parent.iterdir():
            f.unlink()
        meta.parent.rmdir()
    m = json.loads(runs[2].read_text())
    runs[2].write_text(json.dumps({**m, "status": "running"}))
    capsys.readouterr()
    assert main([*args, "--resume", "--quiet"]) == 0
    assert "(3 run, 9 kept)" in capsys.readouterr().out
    assert len({tuple(r.values())[:3] for r in _rows(out / "results.csv")}) == 12


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda s: s + "\nseeeds = 3\n", "seeeds"),
        (lambda s: s.replace("loss = [0.25, 0.5, 0.75]", "loss = []"), "grid.loss"),
        (lambda s: s.replace("{loss}", "{los}"), "scenarios"),
        (lambda s: s.replace('seeds = "1-2"', 'seeds = "5-1"'), "seeds"),
    ],
    ids=["unknown key", "empty grid", "placeholder without grid key", "reversed seeds"],
)
def test_a_bad_sweep_file_exits_2_with_one_line_naming_the_field(tmp_path, capsys, edit, field):
    path = tmp_path / "bad.toml"
    path.write_text(edit(SWEEP))
    for argv in (["validate", str(path)], ["sweep", str(path), "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and field in err[0], err
    assert not (tmp_path / "o").exists()


def test_tables_and_figures_from_results_in_any_order(tmp_path):
    """Two scenarios per grid point, a reference, a metric that is None in some runs,
    results arriving in completion order: rows in plan order, one line per scenario."""
    import random

    from dopasim import sweep
    from dopasim.sweepfile import load_sweep

    path = tmp_path / "s.toml"
    path.write_text(
        SWEEP.replace(
            'scenarios = ["parkinson:loss={loss}"]',
            'scenarios = ["parkinson:loss={loss}", "parkinson:loss={loss}+medicated"]\n'
            'reference = "intact"',
        )
        .replace('protocols = ["conditioning", "aversive"]', 'protocols = ["aversive"]')
        .replace("[params.conditioning]\nprobe_window = 1\nn_omissions = 0\n", "")
    )
    plan, errors = load_sweep(path)
    assert not errors, errors
    jobs = sweep._jobs(plan, tmp_path / "out", False)
    results = []
    for j in jobs:
        m = {"da_aversive_ratio": 1.0 + j["coords"].get("loss", 0) + ("medicated" in j["scenario"])}
        m["ht_punish_ratio"] = None if j["seed"] == 1 else 2.0
        results.append({**j, "metrics": m})
    random.Random(0).shuffle(results)
    out = tmp_path / "out"
    (out / "aversive").mkdir(parents=True)
    sweep._write_results(out, plan, results)
    rows = _rows(out / "results.csv")
    order = [(r["scenario"], r["seed"]) for r in rows if r["metric"] == "da_aversive_ratio"]
    assert order == [(j["scenario"], str(j["seed"])) for j in jobs]  # plan order
    sweep._per_protocol(out, plan, "aversive", results)
    table = _rows(out / "aversive" / "comparison.csv")
    assert table[0]["scenario"] == "reference: intact"  # the reference comes first
    names = {r["scenario"] for r in table}
    assert len(names) == 1 + 3 * 2  # the reference, 3 points x 2 scenarios
    assert any("medicated" in n and "loss=0.5" in n for n in names)
    assert list((out / "aversive").glob("da_aversive_ratio-vs-loss.png"))

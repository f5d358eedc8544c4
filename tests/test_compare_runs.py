"""`dopasim compare --runs`: comparing existing run directories, refusing mismatches."""

import csv
import json
import shutil

import pytest
from tiny import TINY_CONDITIONING

import dopasim
from dopasim import comparison as cmp
from dopasim.cli import main

PK = "parkinson:loss=0.6"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One real tiny comparison (numpy, seed 1): its tables and its two run directories."""
    out = tmp_path_factory.mktemp("reference") / "cmp"
    res = cmp.compare(
        "conditioning",
        ["intact", PK],
        seeds=1,
        out=out,
        params=TINY_CONDITIONING,
        device="numpy",
        quiet=True,
    )
    assert not res["failures"]
    return {
        "out": out,
        "intact": out / "runs" / "intact" / "seed1",
        "pk": out / "runs" / cmp._slug(PK) / "seed1",
    }


@pytest.fixture
def runs(reference, tmp_path):
    """Copies of the two run directories, free to edit: (intact, parkinson)."""
    a, b = tmp_path / "intact1", tmp_path / "pk1"
    shutil.copytree(reference["intact"], a)
    shutil.copytree(reference["pk"], b)
    return a, b


def _edit(run_dir, change):
    path = run_dir / "metadata.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def _set_dt(value):
    def change(meta):
        meta["parameters"]["circuit.dt"] = value
        meta["parameters"]["circuit"]["dt"] = value

    return change


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(meta):
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return change


def test_compare_runs_equals_compare_on_the_same_runs(reference, runs, tmp_path, capsys):
    a, b = runs
    out = tmp_path / "again"
    assert main(["compare", "--runs", str(a), str(b), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    for name in ("comparison.csv", "per_seed.csv", "comparison.md"):
        assert (out / name).read_text() == (reference["out"] / name).read_text(), name
    rows = {(r["scenario"], r["metric"]): r for r in csv.DictReader(open(out / "comparison.csv"))}
    assert rows[(PK, "da_tonic_hz")]["n_pairs"] == "1"
    assert float(rows[(PK, "da_tonic_hz")]["diff_mean"]) < 0  # the lesion removes DA cells
    made = json.loads((out / "compare.json").read_text())
    assert made["source"] == "runs" and made["mismatches"] == [] and made["n_runs"] == 2
    assert made["scenarios"] == ["intact", PK] and made["seeds"] == [1]
    assert [r["dir"] for r in made["runs"]] == [str(a.resolve()), str(b.resolve())]
    assert "late_cs_ratio.png" in made["figures"] and (out / "late_cs_ratio.png").exists()
    assert not (out / "failures.csv").exists()


def test_the_first_scenario_given_is_the_reference(runs, tmp_path):
    a, b = runs
    res = cmp.compare_runs([b, a], out=tmp_path / "rev", quiet=True)
    rows = {(r["scenario"], r["metric"]): r for r in res["rows"]}
    assert [r["scenario"] for r in res["rows"]][0] == PK
    assert rows[(PK, "da_tonic_hz")]["diff_mean"] == 0
    forward = cmp.compare_runs([a, b], out=tmp_path / "fwd", quiet=True)
    fwd = {(r["scenario"], r["metric"]): r for r in forward["rows"]}
    assert rows[("intact", "da_tonic_hz")]["diff_mean"] == -fwd[(PK, "da_tonic_hz")]["diff_mean"]


def test_the_same_dt_in_other_units_is_no_mismatch(runs, tmp_path):
    a, b = runs
    _edit(b, _set_dt("500. us"))
    res = cmp.compare_runs([a, b], out=tmp_path / "cmp", quiet=True)
    assert res["mismatches"] == []


def test_dt_entries_are_found_flat_and_nested():
    found = cmp._dt_values(
        {
            "duration": "1 s",
            "circuit.dt": "0.5 ms",
            "circuit": {"dt": "0.5 ms", "da": {"tau_m": "20 ms"}},
            "pool": {"clock_dt": "1 ms"},
            "width": 3,
        }
    )
    assert found == {"circuit.dt": ["0.5 ms", "0.5 ms"], "pool.clock_dt": ["1 ms"]}


@pytest.mark.parametrize(
    "change, words",
    [
        (
            _set_dt("0.25 ms"),
            ["dt", "circuit.dt", "'0.5 ms' in", "'0.25 ms' in", "--allow-mismatch"],
        ),
        (
            _set("versions", "dopasim", "9.9.9"),
            ["versions.dopasim", f"'{dopasim.__version__}' in", "'9.9.9' in"],
        ),
        (_set("versions", "brian2", "2.0"), ["versions.brian2", "'2.0' in"]),
        (_set("protocol", "aversive"), ["protocol", "'conditioning' in", "'aversive' in"]),
        (_set("scenario", "intact"), ["scenario 'intact' seed 1", "2 times"]),
        (_set("status", "interrupted"), ["status", "'interrupted'", "complete"]),
    ],
    ids=["dt", "dopasim-version", "brian2-version", "protocol", "duplicate", "incomplete"],
)
def test_a_mismatch_is_refused_and_nothing_is_created(runs, tmp_path, capsys, change, words):
    a, b = runs
    _edit(b, change)
    out = tmp_path / "never"
    code = main(["compare", "--runs", str(a), str(b), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    assert f"'{b}'" in err  # the run that has the value
    assert not out.exists()


@pytest.mark.parametrize("what", ["empty", "no-metrics", "file", "missing"])
def test_a_non_run_directory_is_refused(runs, tmp_path, capsys, what):
    a, _ = runs
    bad = tmp_path / "bad"
    if what == "empty":
        bad.mkdir()
    elif what == "no-metrics":
        shutil.copytree(a, bad)
        (bad / "metrics.json").unlink()
    elif what == "file":
        bad.write_text("x")
    out = tmp_path / "never"
    code = main(["compare", "--runs", str(a), str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"'{bad}'" in err
    assert {
        "empty": "no metadata.json",
        "no-metrics": "no metrics.json",
        "file": "not a directory",
        "missing": "does not exist",
    }[what] in err
    assert not out.exists()


def test_every_problem_is_reported_at_once(runs, tmp_path, capsys):
    a, b = runs
    _edit(b, _set_dt("0.25 ms"))
    _edit(b, _set("versions", "brian2", "2.0"))
    _edit(a, _set("status", "failed"))
    code = main(["compare", "--runs", str(a), str(b), str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("dopasim: error: --runs: ") for line in lines)
    for w in ("does not exist", "'failed'", "circuit.dt", "versions.brian2"):
        assert w in err


def test_allow_mismatch_proceeds_and_records_it(runs, tmp_path, capsys):
    a, b = runs
    _edit(b, _set_dt("0.25 ms"))
    _edit(b, _set("versions", "dopasim", "9.9.9"))
    out = tmp_path / "cmp"
    code = main(
        ["compare", "--runs", str(a), str(b), "--out", str(out), "--allow-mismatch", "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "warning" in err and "circuit.dt" in err and "versions.dopasim" in err
    recorded = json.loads((out / "compare.json").read_text())["mismatches"]
    assert [m["field"] for m in recorded] == ["dt (parameters.circuit.dt)", "versions.dopasim"]
    assert recorded[0]["values"] == [
        {"value": "0.5 ms", "runs": [str(a)]},
        {"value": "0.25 ms", "runs": [str(b)]},
    ]
    assert (out / "comparison.csv").exists()


@pytest.mark.parametrize(
    "change",
    [_set("protocol", "aversive"), _set("scenario", "intact"), _set("status", "interrupted")],
    ids=["protocol", "duplicate", "incomplete"],
)
def test_allow_mismatch_never_allows_these(runs, tmp_path, capsys, change):
    a, b = runs
    _edit(b, change)
    out = tmp_path / "never"
    code = main(["compare", "--runs", str(a), str(b), "--out", str(out), "--allow-mismatch"])
    assert code == 2, capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, word",
    [
        (["conditioning"], "PROTOCOL"),
        (["--scenario", "intact"], "--scenario"),
        (["--seeds", "2"], "--seeds"),
        (["--jobs", "2"], "--jobs"),
        (["--param", "n_trials=3"], "--param"),
        (["--duration", "1s"], "--duration"),
        (["--device", "numpy"], "--device"),
        (["--config", "x.toml"], "--config"),
    ],
)
def test_runs_cannot_be_mixed_with_run_settings(runs, tmp_path, capsys, extra, word):
    a, b = runs
    out = tmp_path / "never"
    code = main(["compare", *extra, "--runs", str(a), str(b), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "cannot be combined with --runs" in err and word in err
    assert not out.exists()


def test_allow_mismatch_needs_runs(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(
        ["compare", "conditioning", "--scenario", "intact", "--allow-mismatch", "--out", str(out)]
    )
    assert code == 2 and "--allow-mismatch: only with --runs" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_output_is_kept_unless_overwrite(runs, tmp_path, capsys):
    a, b = runs
    out = tmp_path / "done"
    out.mkdir()
    (out / "comparison.csv").write_text("keep me\n")
    assert main(["compare", "--runs", str(a), str(b), "--out", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "comparison.csv").read_text() == "keep me\n"
    args = ["compare", "--runs", str(a), str(b), "--out", str(out), "--quiet", "--overwrite"]
    assert main(args) == 0
    assert (out / "comparison.csv").read_text() != "keep me\n"
    # a run directory is never the output folder, even with --overwrite
    assert main(["compare", "--runs", str(a), str(b), "--out", str(a), "--overwrite"]) == 2
    assert "one of the run directories" in capsys.readouterr().err
    assert not (a / "comparison.csv").exists()

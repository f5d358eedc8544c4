"""scripts/bench_to_docs.py: a synthetic benchmark run's JSON lines become the tables of
docs/benchmarks.md (no simulation)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@pytest.fixture(scope="module")
def b2d():
    spec = importlib.util.spec_from_file_location(
        "bench_to_docs", ROOT / "scripts" / "bench_to_docs.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _meta(of, run_id, command):
    return {
        "bench": "meta",
        "of": of,
        "run_id": run_id,
        "date": "2026-12-04",
        "command": command,
        "cpu": "Test CPU 9000",
        "cores": 2,
        "python": "3.12.1",
        "brian2": "2.10.1",
        "dopasim": "0.6.0",
        "commit": "abc1234",
    }


def _distal(label, N, M, T, t_run, run_id, **kw):
    return {
        "bench": "distal_reward",
        "run_id": run_id,
        "label": label,
        "N": N,
        "M": M,
        "T": T,
        "t_run": t_run,
        **kw,
    }


def _rc(label, version, build, run_s, run_id, **kw):
    return {
        "bench": "reward_circuit",
        "run_id": run_id,
        "label": label,
        "version": version,
        "build": build,
        "trials": 100,
        "sim_s": 300.0,
        "total_s": run_s + 5.0,
        "compile_s": 40.0 if build == "cold" else 1.0,
        "run_s": run_s,
        "rss_mb": 300.0,
        "rss_children_mb": 350.0,
        "flags": "-w -O3",
        **kw,
    }


def _rows():
    old = "20261203T090000"  # an earlier run in the same file: ignored
    new = "20261204T090000"
    return [
        _meta("distal_reward", old, "python benchmarks/bench_distal_reward.py --old"),
        _distal("dopasim event (cached)", 1000, 100, 10.0, 1.0, old, rss_python_mb=1),
        _meta("distal_reward", new, "python benchmarks/bench_distal_reward.py --scaled"),
        _distal("dopasim event (cold)", 1000, 100, 10.0, 0.08, new),
        _distal(
            "dopasim event (cached)",
            1000,
            100,
            10.0,
            0.05,
            new,
            rss_python_mb=140,
            rss_binary_mb=130,
        ),  # 200 x RT
        _distal("peer brian2 (10 ms)", 1000, 100, 10.0, 0.2, new),  # 50 x: ratio 4
        _distal(
            "peer nest (di 1000)", 1000, 100, 10.0, 0.5, new, tool="nest", version="3.10.0"
        ),  # 20 x: ratio 10
        _distal("peer nest (di 1)", 1000, 100, 2.0, 10.0, new, tool="nest"),  # 0.2 x
        _distal(
            "dopasim event (cached)",
            10000,
            1000,
            1.0,
            0.8,
            new,
            rss_python_mb=900,
            rss_binary_mb=880,
        ),  # 1.25 x RT, below the target
        _distal("peer brian2 (10 ms)", 10000, 1000, 1.0, 2.0, new),  # 0.5 x: ratio 2.5
        _distal("peer nest (di 1000)", 10000, 1000, 1.0, 2.5, new, tool="nest"),  # ratio 3.125
        _meta(
            "reward_circuit", "20261204T091000", "python benchmarks/bench_reward_circuit.py --cold"
        ),
        _rc(
            "reference",
            "0.5.0",
            "cold",
            30.0,
            "20261204T091000",
            compile_units={
                "units": 112,
                "sum_s": 44.0,
                "deps_s": 1.0,
                "link_s": 0.5,
                "slowest": [["objects.cpp", 5.1], ["main.cpp", 0.7]],
                "median_s": 0.4,
            },
        ),
        _rc("reference", "0.5.0", "cached", 30.0, "20261204T091000"),
        _rc("this (xi)", "0.6.0", "cold", 12.0, "20261204T091000"),
        _rc("this (xi)", "0.6.0", "cached", 12.0, "20261204T091000"),
    ]


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    return path


@pytest.fixture
def page(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## History\nkept\n")
    return path


def _table_row(text, first_cell):
    return next(
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith(f"| {first_cell} ")
    )


def test_writes_the_tables_between_the_markers(b2d, jsonl, page):
    assert b2d.main([str(jsonl), "--docs", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n\n" + BEGIN)
    assert text.endswith(END + "\n\n## History\nkept\n")
    assert "old table" not in text
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "### Measured (2026-12-04, `make bench`)" in text
    assert "Test CPU 9000, 2 cores" in text and "NEST 3.10.0" in text
    assert "python benchmarks/bench_distal_reward.py --scaled" in text
    assert "python benchmarks/bench_reward_circuit.py --cold" in text
    assert "--old" not in text  # only the latest run of each benchmark

    small = _table_row(text, "1,000 × 100")
    # network, T, dopasim, Brian2, NEST, NEST di 1, /Brian2, /NEST, /NEST di1, RSS
    assert small[2] == "200.0 × ✓"
    assert small[3:6] == ["50.0 ×", "20.0 ×", "0.20 ×"]
    assert small[6:9] == ["4.00 ✓", "10.00 ✓", "1000.0"]
    assert small[9] == "270"
    big = _table_row(text, "10,000 × 1,000")
    assert big[2] == "1.2 × ✗"
    assert big[6:8] == ["2.50 ✗", "3.12 ✗"]
    assert big[5] == big[8] == "–"  # no deliver_interval 1 row at 10k
    assert big[9] == "1780 ✓"


def test_reward_circuit_table(b2d, jsonl):
    text = b2d.block(b2d.select(b2d.load(jsonl)))
    ref = _table_row(text, "reference")  # the first (cold) row
    assert ref[:3] == ["reference", "0.5.0", "cold"] and ref[7] == ""
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| this (xi) ")
    ]
    cached = next(r for r in rows if r[2] == "cached")
    assert cached[5] == "12.0" and cached[6] == "25.0" and cached[7] == "2.50 ×"
    assert cached[8] == "350"
    assert "- reference (0.5.0): 40.0 s, of which 44.0 s in the compiler for 112 files" in text
    assert "`objects.cpp` 5.1 s" in text
    assert "Compiler flags: `-w -O3`" in text


def test_run_id_and_cpuinfo_fallback(b2d, tmp_path):
    rows = [r for r in _rows() if r["bench"] != "meta"]
    path = tmp_path / "no-meta.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Fallback CPU\n")
    text = b2d.block(b2d.select(b2d.load(path), ["20261203T090000"]), str(cpuinfo))
    assert "Fallback CPU" in text
    assert _table_row(text, "1,000 × 100")[2] == "10.0 × ✗"  # the old run: 10 s in 1 s
    assert "Reward circuit" not in text


def test_page_without_markers_fails(b2d, jsonl, tmp_path):
    page = tmp_path / "plain.md"
    page.write_text("# Benchmarks\n")
    with pytest.raises(SystemExit, match="markers"):
        b2d.main([str(jsonl), "--docs", str(page)])
    assert page.read_text() == "# Benchmarks\n"


def test_the_docs_page_has_the_markers():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert text.index(BEGIN) < text.index(END)

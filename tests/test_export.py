"""Spike-raster export (issue 5): NWB, SONATA, CSV, npz and Neo, round trips and failures.

Two tiny conditioning runs on the numpy target are built once for the module: an intact
one and one under ``parkinson:loss=1`` (every DA neuron lesioned, so the DA population is
present but silent). Each test copies the run directory it writes into.
"""

import csv
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny import TINY_CONDITIONING

from dopasim import export, runner
from dopasim.cli import main
from dopasim.export import FORMATS, ExportError, export_run, export_runs, to_neo
from dopasim.params import ParamError

TINY = TINY_CONDITIONING


def _tiny_run(root, scenario):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOPASIM_CACHE", str(root / "cache"))
        res = runner.run(
            "conditioning",
            params=TINY,
            seed=1,
            device="numpy",
            out=root / "run",
            quiet=True,
            figures=False,
            scenario=scenario,
        )
    return res.path


@pytest.fixture(scope="module")
def intact_dir(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("intact"), "intact")


@pytest.fixture(scope="module")
def no_da_dir(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("no_da"), "parkinson:loss=1")


@pytest.fixture
def run_dir(intact_dir, tmp_path):
    """A private copy of the intact run (tests write exports into it)."""
    return Path(shutil.copytree(intact_dir, tmp_path / "run"))


@pytest.fixture
def silent_dir(intact_dir, tmp_path):
    """The intact run with every spike removed, plus a population of size 0."""
    path = Path(shutil.copytree(intact_dir, tmp_path / "silent"))
    with np.load(path / "spikes.npz") as f:
        keys = list(f.files)
    arrays = {k: np.zeros(0, np.int32 if k.endswith("_i") else np.float64) for k in keys}
    arrays["empty_pop_i"] = np.zeros(0, np.int32)
    arrays["empty_pop_t"] = np.zeros(0, np.float64)
    np.savez(path / "spikes.npz", **arrays)
    meta = json.loads((path / "metadata.json").read_text())
    meta["circuit_info"]["sizes"]["empty_pop"] = 0
    (path / "metadata.json").write_text(json.dumps(meta))
    return path


def _spikes(path):
    """{pop: (i, t)} from a run's spikes.npz, sorted by (t, i)."""
    out = {}
    with np.load(Path(path) / "spikes.npz") as f:
        for k in f.files:
            if k.endswith("_i"):
                pop = k[:-2]
                out[pop] = _sorted(f[k], f[f"{pop}_t"])
    return out


def _sorted(i, t):
    i = np.asarray(i, dtype=np.int64)
    t = np.asarray(t)
    order = np.lexsort((i, t))
    return i[order], t[order]


def _sizes(path):
    return json.loads((Path(path) / "metadata.json").read_text())["circuit_info"]["sizes"]


def _assert_same(got, want):
    assert set(got) == set(want)
    for pop, (i, t) in want.items():
        gi, gt = _sorted(*got[pop])
        assert gt.dtype == np.float64
        assert np.array_equal(gi, i), pop
        assert np.array_equal(gt, t), pop


def _listing(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


# ------------------------------------------------------------------------ round trips
def test_csv_round_trip_is_bit_exact_and_sorted(run_dir):
    dest = export_run(run_dir, "csv")
    assert dest == run_dir / "spikes.csv"
    with open(dest, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["population", "neuron", "time_s"]
    rows = rows[1:]
    want = _spikes(run_dir)
    assert len(rows) == sum(len(t) for _, t in want.values()) > 0
    keys = [(float(t), pop, int(n)) for pop, n, t in rows]
    assert keys == sorted(keys)  # time, then population, then neuron
    got = {pop: ([], []) for pop in want}
    for pop, n, t in rows:
        got[pop][0].append(int(n))
        got[pop][1].append(float(t))
    _assert_same({p: (np.array(i), np.array(t, np.float64)) for p, (i, t) in got.items()}, want)
    # numpy reads it the same way
    table = np.genfromtxt(dest, delimiter=",", names=True, dtype=None, encoding="utf-8")
    assert np.array_equal(np.sort(table["time_s"]), np.sort(np.array([k[0] for k in keys])))


def test_npz_round_trip(run_dir):
    dest = export_run(run_dir, "npz")
    assert dest.name == "spikes_export.npz"
    want = _spikes(run_dir)
    with np.load(dest, allow_pickle=False) as f:
        pops = list(f["populations"])
        got = {p: (f[f"{p}_i"], f[f"{p}_t"]) for p in pops}
        sizes = dict(zip(pops, f["sizes"].tolist(), strict=True))
        assert float(f["reached_time_s"]) == 4.0
        assert json.loads(str(f["metadata_json"]))["seed"] == 1
        assert not f["vta_da_lesioned"].any()
    _assert_same(got, want)
    assert sizes == _sizes(run_dir)


def test_sonata_round_trip_follows_the_spec(run_dir):
    h5py = pytest.importorskip("h5py")
    dest = export_run(run_dir, "sonata")
    assert dest.name == "spikes.sonata.h5"
    want = _spikes(run_dir)
    with h5py.File(dest, "r") as f:
        assert int(f.attrs["magic"]) == 0x0A7A
        assert f.attrs["version"].tolist() == [0, 1]
        assert set(f["spikes"]) == set(want)
        for pop, (i, t) in want.items():
            g = f["spikes"][pop]
            mapping = h5py.check_enum_dtype(g.attrs.get_id("sorting").dtype)
            assert mapping == {"none": 0, "by_id": 1, "by_time": 2}
            assert int(g.attrs["sorting"]) == mapping["by_time"]
            ts, ids = g["timestamps"], g["node_ids"]
            assert ts.dtype == np.float64 and ids.dtype == np.uint64
            assert ts.attrs["units"] == "ms"
            ms = ts[:]
            assert np.all(np.diff(ms) >= 0)
            # stored as t_s * 1000.0; the same operation on the original gives the same bits
            assert np.array_equal(ms, t * 1000.0)
            assert np.array_equal(ids[:].astype(np.int64), i)
            assert np.allclose(ms / 1000.0, t, rtol=1e-15, atol=0)


def test_nwb_round_trip(run_dir):
    pynwb = pytest.importorskip("pynwb")
    dest = export_run(run_dir, "nwb")
    assert dest.name == "spikes.nwb"
    want = _spikes(run_dir)
    sizes = _sizes(run_dir)
    with pynwb.NWBHDF5IO(str(dest), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time.tzinfo is not None
        units = nwb.units.to_dataframe()
        assert len(units) == sum(sizes.values())
        got = {}
        for pop, rows in units.groupby("population", sort=False):
            assert sorted(rows["neuron_index"]) == list(range(sizes[pop]))
            i = np.repeat(rows["neuron_index"].to_numpy(), [len(s) for s in rows["spike_times"]])
            t = np.concatenate([np.asarray(s, np.float64) for s in rows["spike_times"]])
            got[pop] = (i, t)
            for s in rows["spike_times"]:
                assert np.all(np.diff(s) >= 0)
        _assert_same(got, want)
        assert set(units["scenario"]) == {"intact"} and not units["lesioned"].any()
        assert all(np.array_equal(o, [[0.0, 4.0]]) for o in units["obs_intervals"])
        assert np.asarray(nwb.units.spike_times.data[:]).dtype == np.float64
        trials = nwb.trials.to_dataframe()
        assert len(trials) == 2
        assert trials["start_time"].tolist() == [0.0, 2.0]
        assert trials["stop_time"].tolist() == [2.0, 4.0]
        assert trials["cs_time"].tolist() == [0.5, 2.5]
        assert trials["outcome_time"].tolist() == [1.0, 3.0]
        assert trials["outcome_type"].tolist() == ["reward", "none"]
        assert trials["trial_type"].tolist() == ["rewarded", "omission probe"]
        da = nwb.acquisition["dopamine"]
        assert da.unit == "nM" and len(da.data[:]) > 0
        with np.load(run_dir / "data.npz") as d:
            assert np.array_equal(da.data[:], d["da_nM"])
        prov = json.loads(nwb.notes.split(": ", 1)[1])
        assert prov["seed"] == 1 and prov["parameters"]["n_trials"] == 2
        assert prov["versions"]["brian2"]


def _inspect(path):
    inspector = pytest.importorskip("nwbinspector")
    from nwbinspector import Importance

    messages = list(inspector.inspect_nwbfile(nwbfile_path=str(path)))
    serious = [
        m
        for m in messages
        if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)
    ]
    return serious, messages


@pytest.mark.parametrize("which", ["intact", "no_da"])
def test_nwbinspector_finds_nothing_serious(which, intact_dir, no_da_dir, tmp_path):
    pytest.importorskip("pynwb")
    src = intact_dir if which == "intact" else no_da_dir
    dest = export_run(src, "nwb", out=tmp_path / f"{which}.nwb")
    serious, messages = _inspect(dest)
    assert not serious, "\n".join(
        f"{m.importance.name} {m.check_function_name}: {m.message}" for m in serious
    )


def test_neo_block(run_dir):
    pytest.importorskip("neo")
    import dopasim

    block = dopasim.to_neo(run_dir)
    want, sizes = _spikes(run_dir), _sizes(run_dir)
    assert len(block.segments) == 1
    seg = block.segments[0]
    assert len(seg.spiketrains) == sum(sizes.values())
    got = {pop: ([], []) for pop in want}
    for st in seg.spiketrains:
        pop, k = st.annotations["population"], st.annotations["neuron_index"]
        assert st.annotations["lesioned"] is False
        assert float(st.t_stop.rescale("s").magnitude) == 4.0 and float(st.t_start) == 0.0
        assert str(st.units.dimensionality) == "s"
        times = st.magnitude
        assert times.dtype == np.float64
        got[pop][0].extend([k] * len(times))
        got[pop][1].extend(times.tolist())
    _assert_same({p: (np.array(i), np.array(t, np.float64)) for p, (i, t) in got.items()}, want)
    assert {g.name for g in block.groups} == set(want)
    assert "dopamine" in [s.name for s in seg.analogsignals]
    # a Run object works as well, and several runs give one segment each
    res = runner.load_run(run_dir)
    assert len(to_neo([res, run_dir]).segments) == 2


def test_importing_dopasim_does_not_import_neo_or_pynwb():
    code = "import sys, dopasim; print('neo' in sys.modules, 'pynwb' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout.split() == ["False", "False"], p.stderr


# ------------------------------------------------------------------------ empty rasters
def test_run_without_surviving_da_exports_empty_da_sets(no_da_dir, tmp_path):
    h5py = pytest.importorskip("h5py")
    pynwb = pytest.importorskip("pynwb")
    pytest.importorskip("neo")
    n_da = _sizes(no_da_dir)["vta_da"]
    assert n_da > 0 and len(_spikes(no_da_dir)["vta_da"][1]) == 0
    paths = export_runs(no_da_dir, list(FORMATS), out=tmp_path)
    by = dict(zip(FORMATS, paths, strict=True))
    with h5py.File(by["sonata"], "r") as f:
        assert f["spikes/vta_da/timestamps"].shape == (0,)
        assert f["spikes/vta_da/node_ids"].dtype == np.uint64
        assert f["spikes/str_d1/timestamps"].shape[0] > 0
    with np.load(by["npz"]) as f:
        assert f["vta_da_t"].shape == (0,) and f["vta_da_t"].dtype == np.float64
        assert f["vta_da_lesioned"].all() and len(f["vta_da_lesioned"]) == n_da
    rows = list(csv.reader(open(by["csv"], newline="")))
    assert rows[0] == ["population", "neuron", "time_s"]
    assert not [r for r in rows[1:] if r[0] == "vta_da"]
    with pynwb.NWBHDF5IO(str(by["nwb"]), "r") as io:
        units = io.read().units.to_dataframe()
        da = units[units["population"] == "vta_da"]
        assert len(da) == n_da and da["lesioned"].all()
        assert all(len(s) == 0 for s in da["spike_times"])
        assert set(units["scenario"]) == {"parkinson:loss=1"}
    block = to_neo(no_da_dir)
    da_trains = [
        s for s in block.segments[0].spiketrains if s.annotations["population"] == "vta_da"
    ]
    assert len(da_trains) == n_da and all(
        len(s) == 0 and s.annotations["lesioned"] for s in da_trains
    )


def test_silent_run_and_empty_population_export_valid_empty_sets(silent_dir, tmp_path):
    h5py = pytest.importorskip("h5py")
    pynwb = pytest.importorskip("pynwb")
    pytest.importorskip("neo")
    paths = export_runs(silent_dir, "csv,npz,sonata,nwb", out=tmp_path)
    assert [p.name for p in paths] == [FORMATS[f] for f in ("csv", "npz", "sonata", "nwb")]
    assert Path(paths[0]).read_text() == "population,neuron,time_s\n"
    with np.load(paths[1]) as f:
        assert "empty_pop" in list(f["populations"]) and f["empty_pop_t"].shape == (0,)
        assert all(f[f"{p}_t"].shape == (0,) for p in f["populations"])
    with h5py.File(paths[2], "r") as f:
        assert all(f["spikes"][p]["timestamps"].shape == (0,) for p in f["spikes"])
        assert "empty_pop" in f["spikes"]
    with pynwb.NWBHDF5IO(str(paths[3]), "r") as io:
        units = io.read().units.to_dataframe()
        assert len(units) == sum(_sizes(silent_dir).values())
        assert all(len(s) == 0 for s in units["spike_times"])
    block = to_neo(silent_dir)
    assert all(len(s) == 0 for s in block.segments[0].spiketrains)


# ------------------------------------------------------------------------ refusals
def test_existing_export_is_not_overwritten(run_dir):
    dest = export_run(run_dir, "csv")
    dest.write_text("mine\n")
    with pytest.raises(ParamError, match="already exists") as err:
        export_run(run_dir, "csv")
    assert str(dest) in str(err.value) and "--overwrite" in str(err.value)
    assert dest.read_text() == "mine\n"
    export_run(run_dir, "csv", overwrite=True)
    assert dest.read_text().startswith("population,neuron,time_s\n")


def test_format_is_checked_first(tmp_path):
    with pytest.raises(ParamError) as err:
        export_run(tmp_path / "nosuch", "xls")
    msg = str(err.value)
    assert msg.startswith("--format:") and "'xls'" in msg
    assert all(f in msg for f in FORMATS)


def test_missing_pynwb_is_named_with_the_extra(run_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb raises ImportError
    before = _listing(run_dir)
    with pytest.raises(ParamError, match=r"pip install 'dopasim\[nwb\]'"):
        export_run(run_dir, "nwb")
    assert _listing(run_dir) == before


# ------------------------------------------------------------------------ disk full
def _fail_writes_to(monkeypatch, needle, after=0):
    """os.write raises ENOSPC for files whose path contains ``needle``, after ``after`` bytes."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file a write goes to")
    real = os.write
    written = {"n": 0}

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if needle in target:
            if written["n"] + len(data) > after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written["n"] += len(data)
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("after", [0, 3000])
def test_disk_full_leaves_no_file_under_the_final_name(fmt, after, run_dir, monkeypatch):
    if fmt in ("nwb", "sonata"):
        pytest.importorskip("pynwb" if fmt == "nwb" else "h5py")
    before = _listing(run_dir)
    _fail_writes_to(monkeypatch, FORMATS[fmt], after=after)
    with pytest.raises(OSError) as err:
        export_run(run_dir, fmt)
    assert err.value.errno == errno.ENOSPC
    assert FORMATS[fmt] in str(err.value)
    assert _listing(run_dir) == before  # no final file, no temporary left


def test_disk_full_keeps_earlier_files_and_an_old_export(run_dir, tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    reference = export_run(run_dir, "csv", out=tmp_path / "reference.csv").read_bytes()
    old = run_dir / "spikes.sonata.h5"
    old.write_bytes(b"an earlier export")
    _fail_writes_to(monkeypatch, "spikes.sonata.h5", after=2000)
    with pytest.raises(ExportError) as err:
        export_runs(run_dir, "csv,sonata", overwrite=True)
    assert err.value.errno == errno.ENOSPC
    assert err.value.written == [run_dir / "spikes.csv"]
    assert (run_dir / "spikes.csv").read_bytes() == reference  # complete and intact
    assert old.read_bytes() == b"an earlier export"  # the failed overwrite kept it
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_cli_disk_full_is_one_line_exit_1(run_dir, monkeypatch, capsys):
    _fail_writes_to(monkeypatch, "spikes.csv")
    code = main(["export", str(run_dir), "--format", "csv"])
    err = capsys.readouterr().err
    assert code == 1
    assert "No space left on device" in err and "spikes.csv" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (run_dir / "spikes.csv").exists()


# ------------------------------------------------------------------------ command line
def test_cli_export_writes_each_format(run_dir, tmp_path, capsys):
    out = tmp_path / "exports"
    out.mkdir()
    assert main(["export", str(run_dir), "--format", "csv,npz", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["spikes.csv", "spikes_export.npz"]
    assert "wrote" in capsys.readouterr().out
    assert main(["export", str(run_dir), "--format", "csv"]) == 0
    assert (run_dir / "spikes.csv").read_bytes() == (out / "spikes.csv").read_bytes()
    single = tmp_path / "my.csv"
    assert main(["export", str(run_dir), "--format", "csv", "--out", str(single)]) == 0
    assert single.read_bytes() == (out / "spikes.csv").read_bytes()


CLI_BAD = [
    (lambda r, t: ["export", str(t / "nosuch"), "--format", "csv"], ["RUN_DIR", "does not exist"]),
    (lambda r, t: ["export", str(t / "empty"), "--format", "csv"], ["RUN_DIR", "metadata.json"]),
    (lambda r, t: ["export", str(r / "metrics.json"), "--format", "csv"], ["RUN_DIR", "not a dir"]),
    (lambda r, t: ["export", str(r), "--format", "xls"], ["--format", "'xls'", "nwb, sonata"]),
    (lambda r, t: ["export", str(r), "--format", "csv,hdf"], ["--format", "'hdf'", "csv, npz"]),
    (lambda r, t: ["export", str(r), "--format", ""], ["--format", "nwb, sonata, csv, npz"]),
    (lambda r, t: ["export", str(r)], ["--format", "missing", "nwb, sonata, csv, npz"]),
    (
        lambda r, t: ["export", str(r), "--format", "csv"],
        ["--out", "already exists", "--overwrite"],
    ),
    (
        lambda r, t: ["export", str(r), "--format", "csv,npz", "--out", str(t / "one.csv")],
        ["--out", "2 formats", "folder"],
    ),
    (
        lambda r, t: ["export", str(r), "--format", "csv", "--out", str(t / "no" / "x.csv")],
        ["--out", "does not exist"],
    ),
    (lambda r, t: ["export"], ["RUN_DIR"]),
]


@pytest.mark.parametrize(("argv", "needles"), CLI_BAD)
def test_cli_bad_input_exits_2_and_writes_nothing(argv, needles, run_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (run_dir / "spikes.csv").write_text("earlier\n")  # for the refuse-overwrite case
    before = _listing(tmp_path)
    code = main(argv(run_dir, tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    assert _listing(tmp_path) == before
    assert (run_dir / "spikes.csv").read_text() == "earlier\n"


def test_cli_export_console_script_error(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "dopasim.cli", "export", str(tmp_path / "x"), "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "RUN_DIR" in p.stderr


def test_export_module_names_every_format():
    assert set(export.FORMATS) == {"nwb", "sonata", "csv", "npz"}
    assert export.parse_formats("csv, sonata,csv") == ["csv", "sonata"]


def _run_argv(out, export_arg):
    argv = ["run", "conditioning", "--device", "numpy", "--out", str(out), "--no-figures"]
    argv += ["--quiet", "--export", export_arg]
    for k, v in TINY.items():
        argv += ["--param", f"{k}={v}"]
    return argv


def test_run_export_bad_format_fails_before_simulating(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(_run_argv(out, "csv,nwbx")) == 2
    err = capsys.readouterr().err
    assert "--format: 'nwbx'" in err and "allowed: nwb, sonata, csv, npz" in err
    assert not out.exists()  # nothing was run, nothing created


def test_run_with_export_writes_the_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOPASIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r"
    assert main(_run_argv(out, "csv,sonata")) == 0
    assert (out / "spikes.csv").is_file() and (out / "spikes.sonata.h5").is_file()
    got = export._view(out).spikes
    rows = (out / "spikes.csv").read_text().splitlines()
    assert len(rows) - 1 == sum(len(i) for i, _ in got.values())


def test_the_docs_elephant_example_runs(intact_dir):
    """The Neo/Elephant snippet of docs/export.md, run as written on a tiny run directory."""
    pytest.importorskip("elephant")
    import re

    page = (Path(__file__).parents[1] / "docs" / "export.md").read_text()
    section = page[page.index("## Neo and Elephant") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert '"runs/conditioning/' in code
    code = re.sub(r'"runs/conditioning/[^"]*"', repr(str(intact_dir)), code)
    namespace = {}
    exec(compile(code, "docs/export.md (Neo and Elephant)", "exec"), namespace)
    rates, psth = namespace["rates"], namespace["psth"]
    assert len(rates) > 0 and all(float(r) >= 0 for r in rates)
    assert float(sum(float(r) for r in rates)) > 0  # the DA neurons fire
    assert psth.shape[0] > 0

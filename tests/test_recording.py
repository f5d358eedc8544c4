"""The run life cycle: chunks, interruption, failure and hard kills (dopasim.recording).

A fake simulator drives the same code as the runner's runtime path (`drive`, `Recorder`,
`final_status`); hypothesis chooses where it stops, blows up, aborts or is killed (at any
file operation). Whatever happens, the directory must be consistent with its status
(`verify`) and `load_run` must give back exactly the spikes simulated up to the time
reached.
"""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dopasim import recording
from dopasim.recording import (
    Aborted,
    Recorder,
    drive,
    final_status,
    read_chunks,
    verify,
)
from dopasim.runner import MAX_CHUNKS, chunk_ends, chunk_seconds, load_run

DURATION = 10.0


class Killed(BaseException):
    """A hard kill: nothing after it runs in this process."""


class FakeInterrupt:
    def __init__(self):
        self.count = 0
        self.signal = None

    @property
    def requested(self):
        return self.count > 0


class FakeSim:
    """Two monitors with random spikes; may stop mid-chunk, blow up or be aborted."""

    def __init__(self, seed, interrupt, stop_at=None, nan_after=None, abort_at=None):
        self.rng = np.random.default_rng(seed)
        self.interrupt = interrupt
        self.stop_at, self.nan_after, self.abort_at = stop_at, nan_after, abort_at
        self.t = 0.0
        self.all = {"mon_a": ([], []), "mon_b": ([], [])}
        self.chunks_run = 0

    def advance(self, t_end):
        if self.abort_at is not None and self.chunks_run == self.abort_at:
            self.interrupt.count = 2
            raise Aborted()
        if self.stop_at is not None and self.t < self.stop_at < t_end:
            t_end = self.stop_at  # a signal in this chunk: the network stops here
            self.interrupt.count = 1
        new = {}
        for name, (ii, tt) in self.all.items():
            n = int(self.rng.integers(0, 20))
            t = np.sort(self.rng.uniform(self.t, t_end, n))
            t = t[t > self.t]  # spikes in (t, t_end]
            i = self.rng.integers(0, 7, len(t)).astype(np.int32)
            ii.append(i)
            tt.append(t)
            new[name] = (i, t)
        self.t = t_end
        self.chunks_run += 1
        return t_end, new

    def problems(self):
        if self.nan_after is not None and self.chunks_run > self.nan_after:
            return ["pools.da: 1 of 1 values NaN"]
        return []

    def spikes(self, t_max):
        out = {}
        for name, (ii, tt) in self.all.items():
            i = np.concatenate(ii) if ii else np.zeros(0, np.int32)
            t = np.concatenate(tt) if tt else np.zeros(0)
            out[name] = (i[t <= t_max], t[t <= t_max])
        return out


def _kill_at(monkeypatch, n):
    """Raise `Killed` at the n-th low-level write, rename or link (None: never)."""
    calls = {"k": 0}
    for name in ("write", "replace", "link", "rename", "mkdir", "unlink"):
        real = getattr(os, name)

        def wrapped(*a, _real=real, **kw):
            calls["k"] += 1
            if n is not None and calls["k"] == n:
                raise Killed()
            return _real(*a, **kw)

        monkeypatch.setattr(os, name, wrapped)


def _life(path, sim, interrupt, ends):
    """What the runner does with a runtime simulation (dopasim.runner.run)."""
    meta = {
        "protocol": "fake",
        "parameters": {},
        "seed": 1,
        "requested_time_s": DURATION,
    }
    rec = Recorder(path)
    rec.begin(meta)
    try:
        reached, problems = drive(sim, ends, rec, interrupt)
    except Aborted:
        rec.finish_from_chunks(dict(meta), "interrupted", aborted=True)
        return
    status = final_status(problems, interrupt.requested, reached, DURATION)
    pops = {recording.population(k): v for k, v in sim.spikes(reached).items()}
    meta.update(status=status, reached_time_s=reached, failure="; ".join(problems) or None)
    rec.finish(
        meta,
        pops,
        {"x": np.arange(3)},
        {"m": 1.0} if status == "complete" else {},
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**16),
    n_chunks=st.integers(1, 6),
    stop_at=st.one_of(st.none(), st.floats(0.01, DURATION - 0.01)),
    nan_after=st.one_of(st.none(), st.integers(0, 5)),
    abort_at=st.one_of(st.none(), st.integers(0, 5)),
    kill_at=st.one_of(st.none(), st.integers(1, 120)),
)
def test_directory_always_matches_its_status(
    tmp_path_factory, monkeypatch, seed, n_chunks, stop_at, nan_after, abort_at, kill_at
):
    path = tmp_path_factory.mktemp("run") / "r"
    ends = [DURATION * (k + 1) / n_chunks for k in range(n_chunks)]
    interrupt = FakeInterrupt()
    sim = FakeSim(seed, interrupt, stop_at, nan_after, abort_at)
    with monkeypatch.context() as m:
        _kill_at(m, kill_at)
        try:
            _life(path, sim, interrupt, ends)
            killed = False
        except Killed:
            killed = True
    if not path.exists() or not (path / "metadata.json").exists():
        assert killed  # killed before the run began: nothing that claims to be a run
        assert not path.exists() or verify(path) == []
        return
    assert verify(path) == [], verify(path)
    run = load_run(path)
    status = run.metadata["status"]
    reached = run.metadata["reached_time_s"]
    if not killed:
        expected = final_status(
            sim.problems(), interrupt.requested, sim.t, DURATION
        )  # what the life cycle decided
        if interrupt.count > 1:
            expected = "interrupted"
        assert status == expected
        assert not (path / "chunks").exists()  # cleaned up
    else:
        assert status in recording.STATUSES
    if status == "complete":
        assert reached == DURATION and run.metrics == {"m": 1.0}
    if status == "interrupted" and not run.metadata.get("aborted"):
        assert reached == pytest.approx(stop_at)
    # the spikes given back are exactly those simulated up to the time reached
    want = sim.spikes(reached)
    for name, (i, t) in want.items():
        got_i, got_t = run.data.get(f"spikes_{recording.population(name)}", ([], []))
        np.testing.assert_array_equal(got_t, t)
        np.testing.assert_array_equal(got_i, i)
    # a hard kill loses at most the chunk in progress
    if killed and status == "running" and sim.chunks_run >= 2:
        assert reached >= ends[sim.chunks_run - 2]


def test_read_chunks_ignores_an_unfinished_chunk_and_gaps(tmp_path):
    rec = Recorder(tmp_path / "r")
    rec.begin({"requested_time_s": 3.0})
    rec.chunk(1.0, {"mon_a": ([1, 2], [0.25, 0.5])})
    rec.chunk(2.0, {"mon_a": ([3], [1.5])})
    # a chunk cut by a kill: data written, no .done
    (rec.chunks / "00002-mon_a.i32").write_bytes(np.array([4], "<i4").tobytes())
    t, spikes = read_chunks(rec.path)
    assert t == 2.0
    np.testing.assert_array_equal(spikes["mon_a"][0], [1, 2, 3])
    np.testing.assert_array_equal(spikes["mon_a"][1], [0.25, 0.5, 1.5])
    assert spikes["mon_a"][1].dtype == np.float64
    # a gap (chunk 1 lost) ends the readable prefix
    os.unlink(rec.chunks / "00001.done")
    assert read_chunks(rec.path)[0] == 1.0
    assert verify(rec.path) == []


def test_verify_finds_inconsistent_directories(tmp_path):
    rec = Recorder(tmp_path / "r")
    rec.begin({"requested_time_s": 2.0})
    meta = json.loads((rec.path / "metadata.json").read_text())
    meta.update(status="complete", reached_time_s=2.0)
    rec.finish(dict(meta), {"a": ([0], [1.0])}, {}, {})
    assert verify(rec.path) == []
    for change, words in [
        ({"status": "done"}, "unknown status"),
        ({"reached_time_s": 1.0}, "complete: reached"),
        ({"status": "failed", "reached_time_s": 1.0}, "no reason"),
        ({"status": "interrupted", "reached_time_s": 0.5}, "spike at 1.0"),
    ]:
        (rec.path / "metadata.json").write_text(json.dumps(dict(meta, **change)))
        assert any(words in p for p in verify(rec.path)), (change, verify(rec.path))
    (rec.path / "metadata.json").write_text(json.dumps(dict(meta, status="complete")))
    (rec.path / "data.npz").unlink()
    assert any("data.npz missing" in p for p in verify(rec.path))


@given(
    duration=st.floats(0.5, 5000),
    chunk=st.floats(0.01, 100),
    dts=st.lists(st.sampled_from([1e-4, 5e-4, 1e-3, 5e-3, 0.1, 1.0, 2.0]), min_size=1),
)
def test_chunk_ends_fall_on_every_clock(duration, chunk, dts):
    ends = chunk_ends(duration, chunk, dts)
    assert ends[-1] == duration and len(ends) <= MAX_CHUNKS + 1
    assert all(a < b for a, b in zip(ends, ends[1:], strict=False))
    for e in ends[:-1]:
        for dt in dts:
            assert abs(e / dt - round(e / dt)) < 1e-6
        assert e >= min(chunk, duration) - 1e-9


def test_chunk_option_is_checked():
    assert chunk_seconds("10 s") == 10.0 and chunk_seconds(None) is None
    for bad, words in [("0 s", "> 0"), ("-1 s", "> 0"), ("5 mV", "--chunk"), ("nan s", "--chunk")]:
        with pytest.raises(ValueError, match="--chunk"):
            chunk_seconds(bad)
        del words


def test_chunked_and_unchunked_runs_are_identical(tmp_path):
    from tiny import TINY_CONDITIONING

    from dopasim.runner import run

    one = run(
        "conditioning", TINY_CONDITIONING, device="numpy", write=False, quiet=True, chunk=None
    )
    many = run(
        "conditioning",
        TINY_CONDITIONING,
        device="numpy",
        out=tmp_path / "c",
        quiet=True,
        figures=False,
        chunk=1.0,  # 2 s chunks (the trial clock)
    )
    for k, v in one.data.items():
        if k.startswith("spikes_"):
            np.testing.assert_array_equal(many.data[k][0], v[0])
            np.testing.assert_array_equal(many.data[k][1], v[1])
        elif isinstance(v, np.ndarray):
            np.testing.assert_array_equal(many.data[k], v)
    assert many.metadata["status"] == "complete" and not (tmp_path / "c" / "chunks").exists()


def test_write_npz_reads_back_as_savez_compressed_does(tmp_path):
    """rundir.write_npz (zlib level 1): np.load gives back every array with its dtype and
    shape (empty, 0-d, int16, bool and a large compressible one), as it does from
    np.savez_compressed; the file is a zip of deflated members."""
    import zipfile

    from dopasim import rundir

    rng = np.random.default_rng(0)
    arrays = {
        "t": np.sort(rng.uniform(0, 100, 200_000)),
        "i": rng.integers(0, 400, 200_000).astype(np.int32),
        "empty": np.zeros(0, dtype=np.int32),
        "scalar": np.array(3.5),
        "cue": rng.integers(-1, 3, 50).astype(np.int16),
        "flags": rng.random(50) < 0.5,
    }
    rundir.write_npz(tmp_path / "a.npz", **arrays)
    np.savez_compressed(tmp_path / "b.npz", **arrays)
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert sorted(a.files) == sorted(b.files) == sorted(arrays)
        for k, v in arrays.items():
            assert a[k].dtype == v.dtype and a[k].shape == v.shape
            np.testing.assert_array_equal(a[k], v)
            np.testing.assert_array_equal(a[k], b[k])
    with zipfile.ZipFile(tmp_path / "a.npz") as z:
        assert {m.compress_type for m in z.infolist()} == {zipfile.ZIP_DEFLATED}

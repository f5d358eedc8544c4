"""TOML configs, ``dopasim validate``, ``run/compare --config`` and ``dopasim doctor``.

Fast tier: everything but one tiny numpy run only parses and validates. The property
tests (hypothesis) generate scenario SPECs and config files, valid and singly corrupted.
"""

import json
import math
import os
import textwrap
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dopasim import runner
from dopasim.circuits.scenarios import SCENARIOS, describe, parse_scenarios
from dopasim.cli import main
from dopasim.config import KEYS, key_lines, validate_config
from dopasim.device import DEVICES
from dopasim.params import ParamError

TINY_TOML = """\
protocol = "conditioning"
device = "numpy"
seed = 3
quiet = true

[params]
scale = 0.05
n_trials = 2
trial_len = "2s"
cs_time = "0.5s"
us_delay = "0.5 s"
n_omissions = 1
probe_window = 1
weight_samples = 20
"""

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _expected_line(text, key):
    """The line of ``key`` (dotted) in ``text``: a ``key =`` line in the right table."""
    table, found = (), None
    path = tuple(key.split("[")[0].split("."))
    for n, row in enumerate(text.splitlines(), 1):
        if row.startswith("["):
            table = (row.strip("[] "),)
            continue
        name = tuple(x.strip() for x in row.split("=")[0].split("."))
        if table + name == path:
            return n
        if table + name == path[:1] and found is None:
            found = n
    return found


def line_of(text, needle):
    """1-based line of the first line that starts with ``needle`` (after spaces)."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(needle):
            return n
    raise AssertionError(needle)


def errors_of(path):
    config, errors = validate_config(path)
    return config, {e.key: e for e in errors}, errors


# ------------------------------------------------------------ valid configs


def _capture(monkeypatch, tmp_path):
    """Replace runner.run and compare.compare by recorders (nothing simulated)."""
    calls = []

    def fake_run(protocol, **kwargs):
        calls.append(("run", protocol, kwargs))
        return types.SimpleNamespace(metrics={}, path=tmp_path / "fake")

    def fake_compare(protocol, scenarios, **kwargs):
        calls.append(("compare", protocol, {"scenarios": list(scenarios), **kwargs}))
        (tmp_path / "comparison.md").write_text("table\n")
        return {"out": tmp_path, "failures": []}

    import dopasim.comparison

    monkeypatch.setattr(runner, "run", fake_run)
    monkeypatch.setattr(dopasim.comparison, "compare", fake_compare)
    return calls


def _norm(call):
    kind, protocol, kw = call
    kw = dict(kw)
    if "seed" in kw:
        kw["seed"] = int(kw["seed"])
    for k in ("seeds", "jobs"):
        if k in kw:
            kw[k] = int(kw[k])
    if "scenario" in kw:
        kw["scenario"] = describe(parse_scenarios(kw["scenario"]))
    if "scenarios" in kw:
        kw["scenarios"] = [describe(parse_scenarios(s)) for s in kw["scenarios"]]
    return kind, protocol, kw


def test_run_config_gives_the_cli_settings(tmp_path, monkeypatch, capsys):
    calls = _capture(monkeypatch, tmp_path)
    out = tmp_path / "r"
    path = write(
        tmp_path,
        f"""\
        protocol = "conditioning"
        scenarios = "parkinson:loss=0.75+ssri:occupancy=0.8"
        seed = 7
        device = "numpy"
        duration = "600 s"
        out = "{out}"
        quiet = true
        figures = false

        [params]
        n_trials = 100
        trial_len = "3 s"
        scale = 0.5
        """,
    )
    assert main(["run", "--config", str(path)]) == 0
    argv = [
        "run",
        "conditioning",
        "--scenario",
        "parkinson:loss=0.75",
        "--scenario",
        "ssri:occupancy=0.8",
        "--seed",
        "7",
        "--device",
        "numpy",
        "--duration",
        "600 s",
        "--out",
        str(out),
        "--quiet",
        "--no-figures",
        "--param",
        "n_trials=100",
        "--param",
        "trial_len=3 s",
        "--param",
        "scale=0.5",
    ]
    assert main(argv) == 0
    assert len(calls) == 2
    assert _norm(calls[0]) == _norm(calls[1])
    assert calls[0][2]["params"]["scale"] == "0.5"  # a TOML number as the CLI's text
    capsys.readouterr()


def test_compare_config_gives_the_cli_settings(tmp_path, monkeypatch, capsys):
    calls = _capture(monkeypatch, tmp_path)
    path = write(
        tmp_path,
        """\
        protocol = "conditioning"
        scenarios = ["intact", "parkinson:loss=0.75", "ssri:occupancy=0.8"]
        seeds = 4
        jobs = 2
        device = "numpy"

        [params]
        n_trials = 50
        """,
    )
    config, errors = validate_config(path)
    assert errors == [] and config["kind"] == "compare" and config["seeds"] == 4
    assert main(["compare", "--config", str(path)]) == 0
    argv = ["compare", "conditioning", "--seeds", "4", "--jobs", "2", "--device", "numpy"]
    for s in ("intact", "parkinson:loss=0.75", "ssri:occupancy=0.8"):
        argv += ["--scenario", s]
    assert main([*argv, "--param", "n_trials=50"]) == 0
    assert _norm(calls[0]) == _norm(calls[1])
    capsys.readouterr()


def test_kind_is_inferred_and_defaults_are_the_clis(tmp_path):
    config, errors = validate_config(write(tmp_path, 'protocol = "distal-reward"\n'))
    assert errors == []
    assert config["kind"] == "run" and config["seed"] == 1
    assert config["device"] == "cpp_standalone" and config["scenarios"] == ["intact"]
    assert config["params"] == {} and config["figures"] and not config["overwrite"]
    config, errors = validate_config(write(tmp_path, 'protocol = "conditioning"\nseeds = 2\n'))
    assert errors == [] and config["kind"] == "compare" and config["jobs"] == 1


@pytest.mark.parametrize(
    "text", ["600 s", "600s", "10 min", "10min", "0.5 h", "600000 ms", "6e2 s", "  600 s "]
)
def test_unit_strings(tmp_path, text):
    config, errors = validate_config(
        write(tmp_path, f'protocol = "distal-reward"\nduration = "{text}"\n')
    )
    assert errors == []
    p = runner.resolve_params(runner.get_protocol("distal-reward").PARAMS, config["params"])
    assert math.isclose(float(p["duration"]), 600 if "h" not in text else 1800)


# ------------------------------------------------------------ invalid configs

BAD = [
    # (file text, key, needle in the message); the line is the key's line in the text
    ('protocol = "conditionning"', "protocol", "did you mean 'conditioning'"),
    ("protocol = 3", "protocol", "allowed: one of"),
    (
        'protocol = "conditioning"\nkind = "sweep"',
        "kind",
        "'sweep' is not allowed; allowed: run or compare",
    ),
    ('protocol = "conditioning"\nseed = -1', "seed", "-1"),
    ('protocol = "conditioning"\nseed = 4294967296', "seed", "0 to 4294967295"),
    ('protocol = "conditioning"\nseed = "x"', "seed", "not an integer"),
    ('protocol = "conditioning"\nseed = 1.5', "seed", "is a float; allowed: 0 to 4294967295"),
    ('protocol = "conditioning"\nseeds = 0', "seeds", "allowed: >= 1"),
    ('protocol = "conditioning"\njobs = true', "jobs", "is a boolean; allowed: >= 1"),
    ('protocol = "conditioning"\ndevice = "gpu"', "device", "cpp_standalone"),
    ('protocol = "conditioning"\ndevice = "numpi"', "device", "did you mean 'numpy'"),
    ('protocol = "conditioning"\nduration = "10"', "duration", "no unit"),
    ('protocol = "conditioning"\nduration = 10', "duration", "no unit"),
    ('protocol = "conditioning"\nduration = "10 mV"', "duration", "wrong unit"),
    ('protocol = "conditioning"\nduration = "10 parsecs"', "duration", "unknown unit"),
    ('protocol = "conditioning"\nduration = "-3 s"', "duration", "outside the allowed range"),
    ('protocol = "conditioning"\nduration = "5 s"', "duration", "whole number of trials"),
    ('protocol = "conditioning"\nscenarios = ["parkinson:loss=2"]', "scenarios", "0 to 1"),
    ('protocol = "conditioning"\nscenarios = "parkinson:los=0.5"', "scenarios", "'loss'"),
    ('protocol = "conditioning"\nscenarios = "parkinsn"', "scenarios", "did you mean"),
    ('protocol = "conditioning"\nscenarios = []', "scenarios", "empty"),
    ('protocol = "conditioning"\nscenarios = 1', "scenarios", "integer"),
    ('protocol = "distal-reward"\nscenarios = "ssri:occupancy=0.8"', "scenarios", "no scenario"),
    ('protocol = "conditioning"\nout = 5', "out", "folder path"),
    ('protocol = "conditioning"\noverwrite = "yes"', "overwrite", "true or false"),
    ('protocol = "conditioning"\nexport = "pdf"', "export", "pdf"),
    ('protocol = "conditioning"\nseeds = 2\nseed = 1', "seed", "kind = 'run' only"),
    ('protocol = "conditioning"\nkind = "run"\njobs = 2', "jobs", "kind = 'compare' only"),
    ('protocol = "conditioning"\nprotcol = 1', "protcol", "did you mean 'protocol'"),
    ('protocol = "conditioning"\n[params]\nn_trails = 5', "params.n_trails", "'n_trials'"),
    ('protocol = "conditioning"\n[params]\nn_trials = 0', "params.n_trials", "allowed: >= 1"),
    ('protocol = "conditioning"\n[params]\nn_trials = 2.5', "params.n_trials", "integer"),
    ('protocol = "conditioning"\n[params]\nn_trials = "many"', "params.n_trials", "integer"),
    ('protocol = "conditioning"\n[params]\nscale = nan', "params.scale", "finite"),
    ('protocol = "conditioning"\n[params]\nscale = -1', "params.scale", "allowed: > 0"),
    ('protocol = "conditioning"\n[params]\ntrial_len = 3', "params.trial_len", "no unit"),
    ('protocol = "conditioning"\n[params]\ntrial_len = "3 Hz"', "params.trial_len", "wrong unit"),
    ('protocol = "conditioning"\n[params]\ntrial_len = [1]', "params.trial_len", "array"),
    ('protocol = "conditioning"\n[params]\nn_omissions = 99', "params.n_omissions", "exceeds"),
    ('protocol = "conditioning"\n[params]\ncs_time = "0.2 s"', "params.cs_time", "baseline"),
    ('protocol = "conditioning"\nparams.n_trails = 5', "params.n_trails", "did you mean"),
    (
        'protocol = "conditioning"\nduration = "6 s"\n[params]\nduration = "6 s"',
        "params.duration",
        "given twice",
    ),
]


@pytest.mark.parametrize(("text", "key", "needle"), BAD)
def test_each_error_names_the_key_the_line_and_the_value(tmp_path, text, key, needle):
    path = write(tmp_path, text + "\n")
    _, by_key, errors = errors_of(path)
    assert key in by_key, errors
    e = by_key[key]
    assert needle in e.message, e.message
    expected_line = _expected_line(text, key)
    assert e.line == expected_line, (e, text)
    assert e.format(path).startswith(f"{path}:{expected_line}: {key}: ")


def test_missing_protocol_and_syntax_error(tmp_path):
    _, by_key, _ = errors_of(write(tmp_path, "seed = 1\n"))
    assert by_key["protocol"].line is None and "missing" in by_key["protocol"].message
    _, by_key, errors = errors_of(write(tmp_path, 'protocol = "x"\nseed = = 1\n'))
    assert len(errors) == 1 and by_key["syntax"].line == 2
    assert "line 2" in by_key["syntax"].message
    _, by_key, _ = errors_of(tmp_path / "nosuch.toml")
    assert "does not exist" in by_key["file"].message


def test_every_error_is_reported_at_once(tmp_path):
    text = textwrap.dedent(
        """\
        protocol = "conditioning"
        kind = "run"
        scenarios = [
          "intact",
          "parkinson:loss=1.5",
        ]
        seed = -3
        devise = "numpy"
        duration = "6"

        [params]
        scale = 0.0
        trial_len = "2 mV"
        n_trails = 4
        """
    )
    path = write(tmp_path, text)
    _, by_key, errors = errors_of(path)
    assert {
        "scenarios",
        "scenarios[1]",
        "seed",
        "devise",
        "duration",
        "params.scale",
        "params.trial_len",
        "params.n_trails",
    } <= set(by_key)
    assert by_key["scenarios[1]"].line == 5  # the array item's own line
    assert by_key["params.n_trails"].line == 14
    assert [e.line for e in errors] == sorted(e.line for e in errors)


def test_key_lines_scanner():
    text = textwrap.dedent(
        """\
        # comment = 1
        protocol = "a"   # x = 2
        note = \"\"\"
        fake = 3
        \"\"\"
        "quoted" = 1
        params . inline = 2
        [ params ]
        n = 1
        'q.k' = 2
        """
    )
    lines = key_lines(text)
    assert lines[("protocol",)] == 2 and ("fake",) not in lines and ("comment",) not in lines
    assert lines[("quoted",)] == 6 and lines[("params", "inline")] == 7
    assert lines[("params",)] == 8 and lines[("params", "n")] == 9
    assert lines[("params", "q.k")] == 10


# ------------------------------------------------------------ the command line


def test_validate_exit_codes_and_nothing_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    good = write(
        tmp_path, TINY_TOML.replace("quiet = true", f'quiet = true\nout = "{out}"'), "good.toml"
    )
    before = sorted(os.listdir(tmp_path))
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: ok (run of conditioning, 1 run)"
    cmp = write(
        tmp_path, 'protocol = "conditioning"\nscenarios = ["intact", "ssri"]\nseeds = 3\n', "c.toml"
    )
    before.append("c.toml")
    assert main(["validate", str(cmp)]) == 0
    assert "ok (compare of conditioning, 6 runs)" in capsys.readouterr().out
    bad = write(tmp_path, 'protocol = "conditioning"\nseed = -1\n[params]\nscale = 0\n', "b.toml")
    before.append("b.toml")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"{bad}:2: seed: '-1' is outside the allowed range; allowed: 0 to 4294967295",
        f"{bad}:4: params.scale: '0' is outside the allowed range; allowed: > 0",
    ]
    assert "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == sorted(before) and not out.exists()


def test_run_config_tiny_numpy_run(tmp_path, capsys):
    out = tmp_path / "run"
    path = write(tmp_path, TINY_TOML.replace("quiet = true", f'quiet = true\nout = "{out}"'))
    assert main(["run", "--config", str(path), "--no-figures"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["protocol"] == "conditioning" and meta["seed"] == 3 and meta["device"] == "numpy"
    assert meta["parameters"]["n_trials"] == 2 and meta["parameters"]["scale"] == 0.05
    assert not list(out.glob("*.png"))  # --no-figures from the command line
    assert f"run directory: {out}" in capsys.readouterr().out
    # a second run into the same folder: refused by the file's check, named 'out'
    assert main(["run", "--config", str(path)]) == 2
    assert "out: " in capsys.readouterr().err


def test_config_validated_in_full_before_running(tmp_path, monkeypatch, capsys):
    calls = _capture(monkeypatch, tmp_path)
    path = write(tmp_path, 'protocol = "conditioning"\nseed = -1\ndevice = "gpu"\n')
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith(f"{path}:2: seed:") and "device" in err[1]
    assert calls == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "conditioning"], "PROTOCOL cannot be combined"),
        (["run", "--seed", "2"], "--seed cannot be combined"),
        (["run", "--param", "scale=1"], "--param cannot be combined"),
        (["compare", "--seeds", "2", "--device", "numpy"], "--seeds, --device"),
        (["compare"], "describes a run; run it with 'dopasim run --config"),
    ],
)
def test_config_and_settings_on_the_command_line_do_not_mix(tmp_path, capsys, argv, needle):
    path = write(tmp_path, TINY_TOML)
    assert main([*argv, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_protocol_still_required_without_config(capsys):
    assert main(["run"]) == 2
    assert "PROTOCOL: missing" in capsys.readouterr().err


# ------------------------------------------------------------ doctor


def test_doctor_prints_versions(capsys):
    import brian2
    import numpy as np

    import dopasim

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for needle in (
        f"dopasim  {dopasim.__version__}",
        f"brian2   {brian2.__version__}",
        f"numpy    {np.__version__}",
        "python   3.",
        "C++ compiler:",
        "numpy           usable",
        "dopasim builds",
        "Brian2 Cython",
    ):
        assert needle in out, out


def test_doctor_clear_cache_removes_only_the_standalone_builds(tmp_path, monkeypatch, capsys):
    from brian2.codegen.runtime.cython_rt import extension_manager

    from dopasim.device import cache_root

    root = cache_root()  # tmp_path/cache (conftest)
    assert str(root).startswith(str(tmp_path))
    build = root / "standalone" / "abc123"
    build.mkdir(parents=True)
    (build / "main.cpp").write_text("x" * 1000)
    (root / "standalone" / "abc123.lock").write_text("")
    (root / "keep.txt").write_text("not ours to remove")
    (tmp_path / "sibling.txt").write_text("nor this")
    cy = tmp_path / "cython"
    cy.mkdir()
    (cy / "_cython_magic_0123.so").write_text("so")
    (cy / "unrelated.txt").write_text("keep")
    monkeypatch.setattr(extension_manager, "get_cython_cache_dir", lambda: str(cy))

    assert main(["doctor", "--clear-cache"]) == 0
    out = capsys.readouterr().out
    assert f"removed {root / 'standalone'}" in out
    assert not (root / "standalone").exists()
    assert (root / "keep.txt").exists() and (tmp_path / "sibling.txt").exists()
    assert (cy / "_cython_magic_0123.so").exists()  # the Cython cache is not touched

    # Brian2's Cython cache needs an explicit confirmation
    assert main(["doctor", "--clear-cython-cache"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert (cy / "_cython_magic_0123.so").exists()
    assert main(["doctor", "--clear-cython-cache", "--yes"]) == 0
    assert "removed 1 Brian2 Cython files" in capsys.readouterr().out
    assert not (cy / "_cython_magic_0123.so").exists() and (cy / "unrelated.txt").exists()
    assert main(["doctor", "--clear-cache"]) == 0  # nothing left: says so
    assert "nothing to remove" in capsys.readouterr().out


# ------------------------------------------------------------ property-based tests

_GRID = st.integers(0, 100).map(lambda k: k / 100)  # fractions that '%g' writes exactly


def _key_value(spec):
    if spec.kind == "float" and spec.high == 1.0:  # a fraction
        return _GRID.map(lambda v: (v, f"{v:g}"))
    if spec.kind == "float":
        return st.integers(100, 10000).map(lambda k: (k / 100, f"{k / 100:g}"))
    if spec.kind == "bool":
        return st.booleans().map(lambda b: (b, "on" if b else "off"))
    if spec.kind == "choice":
        return st.sampled_from(spec.choices).map(lambda c: (c, c))
    return st.tuples(st.integers(0, 1000), st.sampled_from(["{}nM", "{} nM"])).map(
        lambda kf: (kf[0], kf[1].format(kf[0]))
    )


@st.composite
def scenario_part(draw, name=None):
    name = name or draw(st.sampled_from([n for n in SCENARIOS if n != "intact"]))
    keys = SCENARIOS[name].keys
    chosen = draw(st.lists(st.sampled_from(list(keys)), unique=True, max_size=len(keys)))
    items, expected = [], {}
    for k in chosen:
        value, text = draw(_key_value(keys[k]))
        items.append(f"{k}={text}")
        expected[k] = value
    return name, (f"{name}:{','.join(items)}" if items else name), expected


@st.composite
def scenario_spec(draw):
    names = draw(
        st.lists(st.sampled_from([n for n in SCENARIOS if n != "intact"]), unique=True, max_size=3)
    )
    if not names:
        return "intact", {}
    parts = [draw(scenario_part(n)) for n in names]
    return "+".join(p[1] for p in parts), {p[0]: p[2] for p in parts}


@SETTINGS
@given(scenario_spec())
def test_property_valid_specs_round_trip(spec_expected):
    from brian2 import nmolar

    spec, expected = spec_expected
    parsed = parse_scenarios(spec)
    assert [n for n, _ in parsed] == list(expected)
    for name, values in parsed:
        for k, v in expected[name].items():
            got = values[k]
            if SCENARIOS[name].keys[k].kind == "choice":
                assert got == v, (spec, name, k)
                continue
            if SCENARIOS[name].keys[k].kind == "quantity":
                got = float(got / nmolar)
            assert math.isclose(got, v, rel_tol=1e-12), (spec, name, k)
    canonical = describe(parsed)
    again = parse_scenarios(canonical)
    assert describe(again) == canonical
    assert again == parsed


def test_tonic_upper_bound_accepted():
    """float(1000 nM / nmolar) is 1000.0000000000001: the bound must still accept it
    (found by test_property_valid_specs_round_trip)."""
    assert parse_scenarios("medicated:tonic=1000nM")
    with pytest.raises(ParamError, match="tonic"):
        parse_scenarios("medicated:tonic=1001nM")


_BAD_NUMBER = st.one_of(
    st.floats(min_value=1.0001, max_value=1e6),
    st.floats(max_value=-1e-4, min_value=-1e6),
    st.just(float("nan")),
    st.just(float("inf")),
)


@st.composite
def bad_scenario(draw):
    """(spec, scenario, key) with exactly one bad field."""
    name = draw(st.sampled_from(["parkinson", "ssri", "hunger", "medicated"]))
    keys = SCENARIOS[name].keys
    how = draw(st.sampled_from(["range", "unknown"]))
    if how == "unknown":
        key = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10))
        if key in keys:
            key = key + "_x"
        return f"{name}:{key}=1", name, key
    key = draw(st.sampled_from([k for k, s in keys.items() if s.kind != "bool"]))
    spec = keys[key]
    x = draw(_BAD_NUMBER)
    if spec.kind == "float" and spec.high > 1:  # ceiling: 1 to 100
        x = x * 100 if x > 1 else x
    text = repr(x) if math.isfinite(x) else str(x)
    if spec.kind == "quantity":
        x = x * 1000 if x > 1 else x
        text = f"{x!r}nM" if math.isfinite(x) else f"{x} nM"
    other = draw(st.sampled_from([n for n in SCENARIOS if n not in ("intact", name)]))
    return f"{name}:{key}={text}+{other}", name, key


@SETTINGS
@given(bad_scenario())
def test_property_invalid_specs_name_the_field(bad):
    spec, name, key = bad
    with pytest.raises(ParamError) as info:
        parse_scenarios(spec)
    msg = str(info.value)
    assert f"scenario {name}" in msg and key in msg, (spec, msg)


def _toml_str(s):
    return json.dumps(s)


@st.composite
def valid_config(draw):
    """(text, kind) of a valid conditioning config, written as a user would."""
    rows = ['protocol = "conditioning"']
    kind = draw(st.sampled_from(["run", "compare"]))
    explicit = draw(st.booleans())
    if explicit:
        rows.append(f'kind = "{kind}"')
    if kind == "run":
        spec = draw(scenario_spec())[0]
        rows.append(f"scenarios = {_toml_str(spec) if draw(st.booleans()) else [spec]}")
        rows.append(f"seed = {draw(st.integers(0, 2**32 - 1))}")
    else:
        specs = draw(
            st.lists(
                scenario_spec().map(lambda s: s[0]),
                min_size=1 if explicit else 2,
                max_size=4,
                unique_by=lambda s: describe(parse_scenarios(s)),
            )
        )
        rows.append(f"scenarios = {json.dumps(specs)}")
        if explicit or len(specs) < 2 or draw(st.booleans()):
            rows.append(f"seeds = {draw(st.integers(1, 10))}")
        if draw(st.booleans()):
            rows.append(f"jobs = {draw(st.integers(1, 8))}")
    rows.append(f'device = "{draw(st.sampled_from(DEVICES))}"')
    trial = draw(st.integers(3, 9))
    n_trials = draw(st.integers(2, 500))
    window = draw(st.integers(1, n_trials))
    omissions = draw(st.integers(0, window))
    if draw(st.booleans()):
        rows.append(f'duration = "{n_trials * trial} s"')
    rows.append("")
    rows.append("[params]")
    unit = draw(st.sampled_from(["{} s", "{}s", "{}000 ms", "{}000ms"]))
    rows.append(f'trial_len = "{unit.format(trial)}"')
    rows.append(f"n_trials = {n_trials if draw(st.booleans()) else _toml_str(str(n_trials))}")
    rows.append(f"probe_window = {window}")
    rows.append(f"n_omissions = {omissions}")
    rows.append(f"scale = {draw(st.sampled_from(['0.05', '1', '1.0', '2.5', '1e-1']))}")
    return "\n".join(rows) + "\n", kind


@SETTINGS
@given(valid_config())
def test_property_valid_configs_validate(tmp_path, cfg):
    text, kind = cfg
    path = tmp_path / "v.toml"
    path.write_text(text)
    config, errors = validate_config(path)
    assert errors == [], (text, errors)
    assert config["kind"] == kind


_CORRUPTIONS = ["unknown_top", "unknown_param", "bad_unit", "no_unit", "range_param", "seedish"]


@SETTINGS
@given(valid_config(), st.sampled_from(_CORRUPTIONS), st.data())
def test_property_one_corruption_is_named(tmp_path, cfg, how, data):
    text, kind = cfg
    rows = text.splitlines()
    header = rows.index("[params]")
    if how == "unknown_top":
        key = data.draw(st.sampled_from(["protocl", "sead", "devices", "scenario", "job", "outt"]))
        rows.insert(1, f"{key} = 1")
        line = 2
    elif how == "unknown_param":
        name = data.draw(st.sampled_from(["n_trial", "trial_length", "scal", "probe"]))
        key = f"params.{name}"
        rows.append(f"{name} = 1")
        line = len(rows)
    elif how in ("bad_unit", "no_unit"):
        key = "params.trial_len"
        value = data.draw(
            st.sampled_from(["3 mV", "3 Hz", "3 parsec", "3 nM"] if how == "bad_unit" else ["3"])
        )
        line = next(n for n, r in enumerate(rows, 1) if r.startswith("trial_len"))
        rows[line - 1] = f'trial_len = "{value}"'
    elif how == "range_param":
        name, value = data.draw(
            st.sampled_from(
                [("n_trials", "0"), ("n_trials", "-4"), ("scale", "0"), ("scale", "-0.5")]
                + [("scale", "nan"), ("scale", "inf"), ("weight_samples", "-1")]
            )
        )
        key = f"params.{name}"
        found = [n for n, r in enumerate(rows, 1) if r.startswith(f"{name} =")]
        if found:
            line = found[0]
            rows[line - 1] = f"{name} = {value}"
        else:
            rows.insert(header + 1, f"{name} = {value}")
            line = header + 2
    else:  # a top-level number out of range
        key = "seed" if kind == "run" else "seeds"
        value = data.draw(st.sampled_from(["-1", "-7"] if kind == "run" else ["0", "-2"]))
        found = [n for n, r in enumerate(rows, 1) if r.startswith(f"{key} =")]
        if found:
            line = found[0]
            rows[line - 1] = f"{key} = {value}"
        else:
            rows.insert(1, f"{key} = {value}")
            line = 2
    corrupted = "\n".join(rows) + "\n"
    path = tmp_path / "bad.toml"
    path.write_text(corrupted)
    _, errors = validate_config(path)
    named = [e for e in errors if e.key == key]
    assert named, (corrupted, errors)
    assert named[0].line == line, (corrupted, named)
    if how.startswith("unknown"):
        allowed = KEYS if how == "unknown_top" else None
        assert "unknown" in named[0].message
        if allowed is not None:
            assert "allowed:" in named[0].message

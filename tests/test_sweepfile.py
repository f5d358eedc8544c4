"""Sweep files (issue 22): parsing, validation and the plan of runs. Nothing is run."""

import json
import textwrap

import pytest
from tiny import TINY_SWEEP

from dopasim.params import ParamError
from dopasim.sweepfile import SweepPlan, SweepRun, load_sweep, parse_seed_ranges, plan_rows

BASIC = """\
protocols = ["conditioning", "probability"]
scenarios = ["parkinson:loss={loss}"]
seeds = 2
device = "numpy"

[params]
n_trials = 100

[grid]
loss = [0.0, 0.25, 0.5]
"""


def write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def plan_of(tmp_path, text, **kw):
    plan, errors = load_sweep(write(tmp_path, text), **kw)
    assert errors == [], [str(e) for e in errors]
    assert isinstance(plan, SweepPlan)
    return plan


def errors_of(tmp_path, text):
    plan, errors = load_sweep(write(tmp_path, text))
    assert errors, "expected errors"
    assert plan is None
    return errors


def one_error(tmp_path, text):
    errors = errors_of(tmp_path, text)
    assert len(errors) == 1, [f"{e.line}: {e}" for e in errors]
    return errors[0]


# ------------------------------------------------------------ valid files


def test_grid_by_protocols_by_seeds(tmp_path):
    plan = plan_of(tmp_path, BASIC)
    assert plan.name == "sweep"  # the file's stem
    assert plan.protocols == ("conditioning", "probability")
    assert plan.grid_keys == ("loss",)
    assert plan.points == ({"loss": 0.0}, {"loss": 0.25}, {"loss": 0.5})
    assert plan.seeds == (1, 2)
    assert plan.reference is None and plan.device == "numpy" and plan.out is None
    assert plan.cluster == {}
    assert len(plan.runs) == 12
    assert all(isinstance(r, SweepRun) for r in plan.runs)
    # per protocol, grid points x seeds, in order
    assert [(r.protocol, r.point, r.seed) for r in plan.runs] == [
        (p, i, s) for p in ("conditioning", "probability") for i in range(3) for s in (1, 2)
    ]
    assert [r.scenario for r in plan.runs[:6:2]] == [
        "parkinson:loss=0",
        "parkinson:loss=0.25",
        "parkinson:loss=0.5",
    ]
    assert [r.coords for r in plan.runs[:6:2]] == list(plan.points)
    assert all(r.params == {"n_trials": "100"} for r in plan.runs)
    relpaths = [r.relpath for r in plan.runs]
    assert len(set(relpaths)) == 12
    assert relpaths[0] == "runs/conditioning/parkinson_loss=0/seed1"
    assert all(".." not in p and not p.startswith("/") for p in relpaths)
    assert plan.source["grid"]["loss"] == [0.0, 0.25, 0.5]

    header, rows = plan_rows(plan)
    assert header == ["protocol", "scenario", "seed", "point", "loss", "params", "relpath"]
    assert len(rows) == 12
    assert rows[2] == [
        "conditioning",
        "parkinson:loss=0.25",
        1,
        1,
        "0.25",
        '{"n_trials": "100"}',
        "runs/conditioning/parkinson_loss=0.25/seed1",
    ]


def test_the_plan_is_stable(tmp_path):
    a = plan_of(tmp_path, BASIC)
    b = plan_of(tmp_path, BASIC)
    assert a.runs == b.runs


def test_reference_runs_once_per_seed_per_protocol(tmp_path):
    text = BASIC.replace("seeds = 2\n", 'seeds = 2\nreference = "intact"\n')
    plan = plan_of(tmp_path, text)
    assert plan.reference == "intact"
    assert len(plan.runs) == 12 + 2 * 2
    for proto, start in (("conditioning", 0), ("probability", 8)):
        ref = plan.runs[start : start + 2]
        assert [(r.protocol, r.scenario, r.seed, r.point, r.coords) for r in ref] == [
            (proto, "intact", 1, -1, {}),
            (proto, "intact", 2, -1, {}),
        ]
        assert ref[0].relpath == f"runs/{proto}/intact/seed1"
        assert ref[0].params == {"n_trials": "100"}
    assert len({r.relpath for r in plan.runs}) == 16
    header, rows = plan_rows(plan)
    assert rows[0][header.index("loss")] == "" and rows[0][header.index("point")] == -1


def test_zip_pairs_and_the_other_keys_cross(tmp_path):
    plan = plan_of(
        tmp_path,
        """\
        protocol = "conditioning"
        scenarios = "parkinson:loss={loss}+ssri:occupancy={occ}"
        seeds = [3]
        device = "numpy"

        [params]
        n_trials = "{n}"

        [grid]
        loss = [0.25, 0.5]
        n = [100, 200]
        occ = [0.5, 0.75]
        zip = [["loss", "occ"]]
        """,
    )
    assert plan.grid_keys == ("loss", "n", "occ")
    assert plan.points == (
        {"loss": 0.25, "n": 100, "occ": 0.5},
        {"loss": 0.25, "n": 200, "occ": 0.5},
        {"loss": 0.5, "n": 100, "occ": 0.75},
        {"loss": 0.5, "n": 200, "occ": 0.75},
    )
    assert [r.scenario for r in plan.runs] == [
        "parkinson:loss=0.25+ssri:occupancy=0.5",
        "parkinson:loss=0.25+ssri:occupancy=0.5",
        "parkinson:loss=0.5+ssri:occupancy=0.75",
        "parkinson:loss=0.5+ssri:occupancy=0.75",
    ]
    assert [r.params for r in plan.runs] == [{"n_trials": t} for t in ("100", "200") * 2]
    # the grid-filled parameter names the run's last folder
    assert plan.runs[1].relpath == (
        "runs/conditioning/parkinson_loss=0.25_ssri_occupancy=0.5/n_trials=200/seed3"
    )
    assert len({r.relpath for r in plan.runs}) == 4


def test_linspace_and_its_unit(tmp_path):
    plan = plan_of(
        tmp_path,
        """\
        protocol = "conditioning"
        scenarios = ["parkinson:loss={loss}"]
        seeds = 1
        device = "numpy"

        [params]
        n_trials = 100
        trial_len = "{len}"

        [grid]
        loss = {start = 0, stop = 1, num = 11}
        len = {start = 3, stop = 5, num = 3, unit = "s"}
        """,
    )
    losses = [p["loss"] for p in plan.points[::3]]
    assert losses == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]  # 0.3, not 0.300..04
    assert [p["len"] for p in plan.points[:3]] == ["3 s", "4 s", "5 s"]
    assert len(plan.runs) == 33
    assert plan.runs[9].scenario == "parkinson:loss=0.3"
    assert plan.runs[1].params == {"n_trials": "100", "trial_len": "4 s"}
    one = plan_of(
        tmp_path,
        BASIC.replace("loss = [0.0, 0.25, 0.5]", "loss = {start = 0.5, stop = 0.9, num = 1}"),
    )
    assert one.points == ({"loss": 0.5},)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.25, "0.25"), (1.0, "1"), (3, "3"), (1e-7, "1e-07"), (0.1 + 0.2, "0.30000000000000004")],
)
def test_numbers_filled_into_text(tmp_path, value, text):
    plan = plan_of(
        tmp_path,
        f"""\
        protocol = "conditioning"
        seeds = 1
        device = "numpy"
        [params]
        n_trials = 100
        scale = "{{s}}"
        [grid]
        s = [{value!r}]
        """,
    )
    assert plan.runs[0].params["scale"] == text
    assert plan_rows(plan)[1][0][4] == text


def test_no_grid_no_placeholders_and_passed_through_tables(tmp_path):
    plan = plan_of(
        tmp_path,
        """\
        name = "pd-loss"
        protocol = "conditioning"
        scenarios = ["intact", "parkinson:loss=0.75"]
        seeds = "1-2"
        out = "runs/sweeps/pd"

        [cluster]
        cores = 1
        memory = "4 GB"
        """,
    )
    assert plan.name == "pd-loss" and plan.out == "runs/sweeps/pd"
    assert plan.device == "cpp_standalone"  # the CLI's default
    assert plan.grid_keys == () and plan.points == ({},)
    assert [(r.scenario, r.seed, r.point) for r in plan.runs] == [
        ("intact", 1, 0),
        ("intact", 2, 0),
        ("parkinson:loss=0.75", 1, 0),
        ("parkinson:loss=0.75", 2, 0),
    ]
    assert plan.cluster == {"cores": 1, "memory": "4 GB"}
    assert plan_rows(plan)[0] == ["protocol", "scenario", "seed", "point", "params", "relpath"]


def test_overrides_replace_the_files_values(tmp_path):
    plan = plan_of(tmp_path, BASIC, overrides={"out": "elsewhere", "device": None})
    assert plan.out == "elsewhere" and plan.device == "numpy"
    plan, errors = load_sweep(write(tmp_path, BASIC), overrides={"device": "gpu"})
    assert plan is None and len(errors) == 1
    assert errors[0].key == "device" and errors[0].line is None
    assert "'gpu'" in errors[0].message and "command line" in errors[0].message


# ------------------------------------------------------------ seed ranges


@pytest.mark.parametrize(
    ("raw", "seeds"),
    [
        ("1-3,7-8", (1, 2, 3, 7, 8)),
        ("1-50", tuple(range(1, 51))),
        (" 4 - 5 , 9 ", (4, 5, 9)),
        ("7", (7,)),
        (5, (1, 2, 3, 4, 5)),
        ([1, 2, 7], (1, 2, 7)),
        ([9, 3], (9, 3)),
    ],
)
def test_seed_ranges(raw, seeds):
    assert parse_seed_ranges(raw, "seeds") == seeds


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("5-1", "'5-1'"),
        ("0", "'0'"),
        (0, "0"),
        ("a-b", "'a-b'"),
        ("1-5,3-8", "seeds 3-5 are given twice"),
        ([1, 2, 1], "seed 1 is given twice"),
        ("", "empty"),
        ([], "empty"),
        (True, "boolean"),
        (2.5, "float"),
        ([1, "2"], "'2'"),
        ("1-99999999999", "4294967295"),
    ],
)
def test_bad_seed_ranges_name_the_field_and_the_value(raw, needle):
    with pytest.raises(ParamError) as e:
        parse_seed_ranges(raw, "seeds")
    message = str(e.value)
    assert message.startswith("seeds: ") and "\n" not in message
    assert needle in message and "allowed:" in message


# ------------------------------------------------------------ invalid files

ONE_MISTAKE = [
    # (replace this in BASIC, by this, the key of the one error, a needle in its message)
    ('device = "numpy"', 'device = "numpy"\nprotocl = 1', "protocl", "did you mean"),
    ("loss = [0.0, 0.25, 0.5]", "loss = []", "grid.loss", "empty"),
    ("loss = [0.0, 0.25, 0.5]", "loss = 0.5", "grid.loss", "a list"),
    ("loss = [0.0, 0.25, 0.5]", "loss = [[0.5]]", "grid.loss", "array"),
    ("loss = [0.0, 0.25, 0.5]", "loss = {start = 0, stop = 1}", "grid.loss", "num"),
    (
        "loss = [0.0, 0.25, 0.5]",
        "loss = {start = 0, stop = 1, num = 0}",
        "grid.loss",
        "num = 0",
    ),
    (
        "loss = [0.0, 0.25, 0.5]",
        "loss = {start = 0, stop = 1, num = 3, step = 2}",
        "grid.loss",
        "'step'",
    ),
    ("parkinson:loss={loss}", "parkinson:loss={los}", "scenarios[0]", "{los}"),
    ("n_trials = 100", 'n_trials = "{n}"', "params.n_trials", "{n}"),
    (
        "loss = [0.0, 0.25, 0.5]",
        "loss = [0.0, 0.25, 0.5]\nocc = [0.5]",
        "grid.occ",
        "not used",
    ),
    ("seeds = 2", 'seeds = "5-1"', "seeds", "'5-1'"),
    ("seeds = 2", 'seeds = "1-3,2-4"', "seeds", "given twice"),
    ("seeds = 2", 'seeds = "a-b"', "seeds", "'a-b'"),
    ("seeds = 2", "seeds = 0", "seeds", "0"),
    (
        "loss = [0.0, 0.25, 0.5]",
        'loss = [0.0, 0.25, 0.5]\nn = [100, 200]\nzip = [["loss", "n"]]',
        "grid.zip[0]",
        "3 and 2",
    ),
    (
        "loss = [0.0, 0.25, 0.5]",
        'loss = [0.0, 0.25, 0.5]\nzip = [["loss", "x"]]',
        "grid.zip[0]",
        "'x'",
    ),
    ('"probability"]', '"probabilty"]', "protocols[1]", "did you mean 'probability'"),
    ('protocols = ["conditioning", "probability"]', "", "protocols", "missing"),
    ("seeds = 2", 'seeds = 2\nreference = "parkinson:loss={loss}"', "reference", "placeholder"),
    ("seeds = 2", 'seeds = 2\nreference = "parkinsn"', "reference", "did you mean"),
    ("loss = [0.0, 0.25, 0.5]", "loss = [0.0, 1.5, 2.5]", "scenarios[0]", "0 to 1"),
    ("loss = [0.0, 0.25, 0.5]", "loss = [0.0, 0.25, 0.25]", "grid.loss", "given twice"),
    ("loss = [0.0, 0.25, 0.5]", "loss = [0.0, 0.25, 0.2500001]", "grid.loss", "same run"),
    ("n_trials = 100", "n_trials = 0", "params.n_trials", ">= 1"),
    ("n_trials = 100", "n_trails = 100", "params.n_trails", "did you mean 'n_trials'"),
    ("n_trials = 100", 'n_trials = 100\ntrial_len = "{loss}"', "params.trial_len", "no unit"),
    ("n_trials = 100", "n_trials = 10", "params.probe_window", "exceeds n_trials (10)"),
    ('device = "numpy"', 'device = "numpi"', "device", "did you mean 'numpy'"),
    ('device = "numpy"', 'device = "numpy"\nout = ""', "out", "empty"),
    ('device = "numpy"', 'device = "numpy"\nname = "a/b"', "name", "'a/b'"),
    ("[grid]", "[cluster]\n[grid]", None, None),  # an empty [cluster] table is fine
    ('device = "numpy"', 'device = "numpy"\ncluster = 3', "cluster", "table"),
    ("seeds = 2", 'seeds = 2\nprotocol = "aversive"', "protocol", "not both"),
]


@pytest.mark.parametrize(("old", "new", "key", "needle"), ONE_MISTAKE)
def test_one_mistake_gives_one_error_naming_the_field(tmp_path, old, new, key, needle):
    assert old in BASIC
    text = BASIC.replace(old, new, 1)
    if key is None:
        plan_of(tmp_path, text)
        return
    e = one_error(tmp_path, text)
    assert e.key == key, str(e)
    assert needle in e.message, str(e)
    assert "\n" not in e.message


def test_error_lines_point_at_the_key(tmp_path):
    text = textwrap.dedent(
        """\
        protocols = [
          "conditioning",
          "probabilty",
        ]
        scenarios = ["parkinson:loss={los}"]
        seeds = "5-1"
        devise = "numpy"

        [params]
        n_trails = 100

        [grid]
        loss = []
        """
    )
    errors = errors_of(tmp_path, text)
    lines = {e.key: e.line for e in errors}
    assert lines == {
        "protocols[1]": 3,
        "scenarios[0]": 5,
        "seeds": 6,
        "devise": 7,
        "params.n_trails": 10,
        "grid.loss": 13,
    }, [f"{e.line}: {e}" for e in errors]
    assert [e.line for e in errors] == sorted(e.line for e in errors)
    path = tmp_path / "sweep.toml"
    assert errors[0].format(path).startswith(f"{path}:3: protocols[1]: ")


def test_zip_errors_are_on_the_zip_line(tmp_path):
    text = BASIC + 'n = [100, 200]\nzip = [["loss", "n"]]\n'
    e = one_error(tmp_path, text.replace("n_trials = 100", 'n_trials = "{n}"'))
    assert e.key == "grid.zip[0]" and e.line == len(text.splitlines())


def test_a_bad_value_at_several_grid_points_is_one_line(tmp_path):
    e = one_error(tmp_path, BASIC.replace("[0.0, 0.25, 0.5]", "[0.0, 1.5, 2.5, 3.5]"))
    assert "loss=1.5" in e.message and "2 more" in e.message


def test_reference_with_placeholder_params_is_refused(tmp_path):
    text = (
        BASIC.replace("seeds = 2\n", 'seeds = 2\nreference = "intact"\n').replace(
            "n_trials = 100", 'n_trials = 100\ntrial_len = "{len}"'
        )
        + 'len = ["2 s", "3 s"]\n'
    )
    e = one_error(tmp_path, text)
    assert e.key == "reference" and "params.trial_len" in e.message


def test_reference_that_is_a_grid_run_is_refused(tmp_path):
    text = BASIC.replace("seeds = 2\n", 'seeds = 2\nreference = "parkinson:loss=0.25"\n')
    e = one_error(tmp_path, text)
    assert e.key == "reference" and "same run" in e.message


def test_a_scenario_the_protocol_does_not_take(tmp_path):
    text = BASIC.replace('"probability"]', '"distal-reward"]').replace("n_trials = 100", "")
    e = one_error(tmp_path, text)
    assert e.key == "scenarios[0]" and "distal-reward" in e.message
    assert "parkinson:loss" in e.message and "more grid points" not in e.message


def test_file_and_syntax_errors(tmp_path):
    plan, errors = load_sweep(tmp_path / "nosuch.toml")
    assert plan is None and errors[0].key == "file" and "does not exist" in errors[0].message
    e = one_error(tmp_path, 'protocol = "conditioning"\nseeds = = 1\n')
    assert e.key == "syntax" and e.line == 2


def test_a_scenario_that_does_not_vary_with_the_grid(tmp_path):
    text = BASIC.replace('["parkinson:loss={loss}"]', '["intact", "parkinson:loss={loss}"]')
    e = one_error(tmp_path, text)
    assert e.key == "scenarios[0]" and "reference = 'intact'" in e.message


def test_too_many_runs_is_refused_before_planning(tmp_path):
    e = one_error(tmp_path, BASIC.replace("seeds = 2", 'seeds = "1-20000"'))
    assert e.key == "grid" and "120000 runs" in e.message and "100000" in e.message


def test_long_folder_names_are_cut_with_a_hash():
    from dopasim.sweepfile import _component

    short = _component("parkinson:loss=0.5")
    assert short == "parkinson_loss=0.5"
    a, b = _component("x" * 300 + "a"), _component("x" * 300 + "b")
    assert len(a) == len(b) == 100 and a != b and a[:90] == "x" * 90


@pytest.mark.parametrize("where", ["docs/sweeps.md", "dopasim/sweepfile.py"])
def test_the_documented_example_is_valid(tmp_path, where):
    from pathlib import Path

    text = (Path(__file__).parents[1] / where).read_text()
    if where.endswith(".md"):
        example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    else:
        example = textwrap.dedent(text.split("::\n\n", 1)[1].split("\nKeys\n", 1)[0])
    plan = plan_of(tmp_path, example)
    assert plan.name == "pd-loss" and plan.grid_keys == ("loss", "len")
    assert len(plan.points) == 3 and len(plan.runs) == 2 * 3 * 50
    assert plan.runs[1].params == {"n_trials": "100", "trial_len": "3 s"}
    assert plan.cluster == {"cores": 1}


# ------------------------------------------------------------ per-protocol [params.<protocol>]

PER = TINY_SWEEP
SHARED = {
    "scale": "0.05",
    "trial_len": "1s",
    "cs_time": "0.5s",  # 0.5 s of pre-CS baseline at least; the US ends at 0.9 s
    "us_delay": "0.3s",
    "weight_samples": "10",
    "n_trials": "2",
}


def test_params_of_one_protocol_only(tmp_path):
    plan = plan_of(tmp_path, PER)
    assert len(plan.runs) == 12
    assert [(r.protocol, r.point, r.seed) for r in plan.runs] == [
        (p, i, s) for p in ("conditioning", "aversive") for i in range(3) for s in (1, 2)
    ]
    for r in plan.runs:
        if r.protocol == "conditioning":
            assert r.params == {**SHARED, "probe_window": "1", "n_omissions": "0"}
        else:
            assert r.params == SHARED
    # fixed parameters name no folder
    assert plan.runs[0].relpath == "runs/conditioning/parkinson_loss=0.25/seed1"
    assert plan.runs[6].relpath == "runs/aversive/parkinson_loss=0.25/seed1"
    assert len({r.relpath for r in plan.runs}) == 12
    header, rows = plan_rows(plan)
    params = header.index("params")
    assert json.loads(rows[0][params]) == plan.runs[0].params
    assert "probe_window" in rows[0][params] and "probe_window" not in rows[6][params]


def test_a_protocols_value_wins_over_the_shared_one(tmp_path):
    text = PER.replace("n_omissions = 0", 'n_omissions = 0\nn_trials = "{n}"').replace(
        "[params.conditioning]", '[params.aversive]\nn_trials = 3\n\n[params."conditioning"]'
    )
    text += 'n = [2, 4]\nzip = [["loss", "n"]]\n'
    plan = plan_of(tmp_path, text.replace("[0.25, 0.5, 0.75]", "[0.25, 0.5]"))
    assert [(r.protocol, r.params["n_trials"]) for r in plan.runs[::2]] == [
        ("conditioning", "2"),
        ("conditioning", "4"),
        ("aversive", "3"),
        ("aversive", "3"),
    ]
    # a protocol's placeholders name its folder, and only its folder
    assert plan.runs[2].relpath == "runs/conditioning/parkinson_loss=0.5/n_trials=4/seed1"
    assert plan.runs[6].relpath == "runs/aversive/parkinson_loss=0.5/seed1"
    assert len({r.relpath for r in plan.runs}) == 8


def test_a_grid_key_used_by_one_protocol_only_must_not_repeat_the_others_runs(tmp_path):
    text = PER.replace("probe_window = 1", 'probe_window = "{pw}"') + "pw = [1, 2]\n"
    e = one_error(tmp_path, text)
    assert e.key == "grid.pw" and e.message.startswith("protocol 'aversive': ")
    assert "[params.conditioning]" in e.message and "zip" in e.message
    zipped = text.replace("[0.25, 0.5, 0.75]", "[0.25, 0.5]") + 'zip = [["loss", "pw"]]\n'
    plan = plan_of(tmp_path, zipped)
    assert [r.params.get("probe_window") for r in plan.runs[::2]] == ["1", "2", None, None]
    assert plan.runs[2].relpath == "runs/conditioning/parkinson_loss=0.5/probe_window=2/seed1"


def test_quoted_protocol_tables_and_their_lines(tmp_path):
    text = """\
        protocols = ["aversive", "probabilistic-selection"]
        seeds = 1
        device = "numpy"
        [params]
        scale = 0.05
        [params."probabilistic-selection"]
        n_train = 12
        """
    plan = plan_of(tmp_path, text)
    assert [r.params for r in plan.runs] == [{"scale": "0.05"}, {"scale": "0.05", "n_train": "12"}]
    e = one_error(tmp_path, text.replace("n_train = 12", "n_train = 10"))
    assert (e.key, e.line) == ("params.probabilistic-selection.n_train", 7)
    assert "multiple of 3" in e.message


def test_the_reference_refuses_placeholders_of_a_protocols_params(tmp_path):
    text = PER.replace("seeds", 'reference = "intact"\nseeds').replace(
        "probe_window = 1", 'probe_window = "{pw}"'
    )
    text = (
        text.replace("[0.25, 0.5, 0.75]", "[0.25, 0.5]") + 'pw = [1, 2]\nzip = [["loss", "pw"]]\n'
    )
    e = one_error(tmp_path, text)
    assert e.key == "reference" and "params.conditioning.probe_window" in e.message


PER_MISTAKES = [
    # (replace this in PER, by this, the key of the one error, its line, needles in its message)
    (
        "[params.conditioning]",
        "[params.conditionin]",
        "params.conditionin",
        14,
        ("not in protocols", "did you mean 'conditioning'"),
    ),
    (
        "[params.conditioning]",
        "[params.probability]",
        "params.probability",
        14,
        ("'probability' is not in protocols", "conditioning, aversive"),
    ),
    (
        "n_trials = 2",
        "n_trials = 2\naversive = 3",
        "params.aversive",
        13,
        ("integer", "a table [params.aversive]"),
    ),
    (
        "probe_window = 1",
        "probe_window = 1\nprobe_windw = 1",
        "params.conditioning.probe_windw",
        16,
        ("unknown parameter 'probe_windw'", "did you mean 'probe_window'"),
    ),
    (
        "[params.conditioning]",
        "[params.aversive]\nprobe_window = 1\n[params.conditioning]",
        "params.aversive.probe_window",
        15,
        ("unknown parameter 'probe_window'",),
    ),
    ("probe_window = 1", 'probe_window = "x"', "params.conditioning.probe_window", 15, ("'x'",)),
    (
        "probe_window = 1",
        "probe_window = 5",
        "params.conditioning.probe_window",
        15,
        ("exceeds n_trials (2)",),
    ),
    ("probe_window = 1", "probe_window = [1]", "params.conditioning.probe_window", 15, ("array",)),
    (
        "probe_window = 1",
        'probe_window = "{pw}"',
        "params.conditioning.probe_window",
        15,
        ("{pw} has no [grid] key",),
    ),
    (
        "n_trials = 2",
        "n_trials = 2\nprobe_window = 1",
        "params.probe_window",
        13,
        ("protocol 'aversive': unknown parameter 'probe_window'", "[params.conditioning]"),
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "line", "needles"), PER_MISTAKES)
def test_one_mistake_in_a_protocols_params(tmp_path, old, new, key, line, needles):
    assert old in PER
    e = one_error(tmp_path, PER.replace(old, new, 1))
    assert (e.key, e.line) == (key, line), str(e)
    assert all(n in e.message for n in needles), str(e)
    assert "\n" not in e.message


def test_the_documented_per_protocol_example_is_valid(tmp_path):
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs/sweeps.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    example = next(b for b in blocks if "\n[params.conditioning]" in b)
    plan = plan_of(tmp_path, example)
    assert plan.protocols == ("conditioning", "aversive") and len(plan.runs) == 12
    for r in plan.runs:
        assert ("probe_window" in r.params) == (r.protocol == "conditioning")


@pytest.mark.parametrize("device", ["cpp_standalone", "numpy"])
def test_points_are_checked_against_the_sweeps_device(tmp_path, device):
    """A value that only one device runs (distal-reward's post_archive = on) validates in
    a cpp_standalone sweep and is refused, naming the field, in a numpy one."""
    text = f"""\
    protocols = ["distal-reward"]
    seeds = 1
    device = "{device}"

    [params]
    duration = "2 s"
    post_archive = "on"
    """
    if device == "cpp_standalone":
        assert len(plan_of(tmp_path, text).runs) == 1
    else:
        errors = errors_of(tmp_path, text)
        assert any("post_archive" in str(e) and "cpp_standalone" in str(e) for e in errors)

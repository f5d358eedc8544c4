"""The files in examples/ are what the docs tell users to run: each one must validate
(`dopasim validate`, nothing simulated), and the distributional design files must hold
one critic."""

from pathlib import Path

import pytest

from dopasim.cli import main
from dopasim.sweepfile import load_sweep

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_validates(path, capsys):
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(f"{path}: ok")


def _params(name):
    plan, errors = load_sweep(next(p for p in EXAMPLES if p.name == name))
    assert not errors, errors
    return plan.runs


def test_the_two_distributional_tasks_share_their_critic():
    """Both tasks of the pre-registered design run one critic: every parameter that both
    files set is the same, except the DA neurons' number (twice in the 10/50/90 task)
    and the two tasks' own length of a state and number of trials."""
    variable = _params("distributional.toml")
    cues = _params("distributional-10-50-90.toml")
    assert {r.params["control"] for r in variable} == {"none", "classical", "uncoupled"}
    a, b = variable[0].params, cues[0].params
    shared = set(a) & set(b)
    assert {"eligibility", "pause_gain", "learning_asymmetry", "da_timescale_sd"} <= shared
    differ = {k for k in shared if a[k] != b[k]}
    assert differ == {"da_factor", "state_dur", "n_trials"}, differ

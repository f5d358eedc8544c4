"""Every protocol reproduces its stored reference run to the bit (numpy target).

The reference (`tests/golden/reference.json`, written by ``python tests/golden.py
--write`` at version 0.6.0 before the protocol/circuit refactor of issue 20) holds each
case's metrics and a SHA-256 of every array it returns. A refactor that is meant to
preserve behaviour must leave all of them unchanged.
"""

import json

import pytest
from golden import CASES, REFERENCE, run_case

REF = json.loads(REFERENCE.read_text())


@pytest.mark.parametrize(
    ("name", "protocol", "params", "scenario", "seed"), CASES, ids=[c[0] for c in CASES]
)
def test_protocol_matches_its_reference_run(name, protocol, params, scenario, seed):
    got, want = run_case(protocol, params, scenario, seed), REF[name]
    assert sorted(got["arrays"]) == sorted(want["arrays"]), "the run's arrays changed"
    changed = [k for k in want["arrays"] if got["arrays"][k] != want["arrays"][k]]
    assert not changed, f"arrays differ from the reference: {changed}"
    assert got["metrics"] == want["metrics"]


def test_the_reference_covers_every_protocol():
    from dopasim.runner import PROTOCOLS

    assert {c[1] for c in CASES} == set(PROTOCOLS)
    assert set(REF) == {c[0] for c in CASES}

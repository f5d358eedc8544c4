"""Quantity parsing and parameter validation."""

import pytest
from brian2 import Hz, ms, mV, second
from hypothesis import given
from hypothesis import strategies as st

from dopasim.models.izhikevich import IZHIKEVICH_HALF_STEPS
from dopasim.params import Param, ParamError, parse_quantity, resolve_params, to_jsonable


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("600s", second, 600 * second),
        ("600 s", second, 600 * second),
        ("5Hz", Hz, 5 * Hz),
        ("20 ms", second, 20 * ms),
        ("1e-3 s", second, 1 * ms),
        ("-65 mV", mV, -65 * mV),
        ("2 min", second, 120 * second),
        ("1.5h", second, 5400 * second),
    ],
)
def test_parse_quantity(text, unit, expected):
    assert float(parse_quantity(text, unit)) == pytest.approx(float(expected))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("10", "no unit"),
        ("10 mV", "wrong unit"),
        ("ten s", "cannot read"),
        ("5 parsec", "unknown unit"),
        ("nan s", "finite"),
        ("inf s", "finite"),
        ("__import__('os') s", "cannot read"),
    ],
)
def test_parse_quantity_errors_name_the_field(text, needle):
    with pytest.raises(ParamError, match=needle) as e:
        parse_quantity(text, second, "duration")
    assert str(e.value).startswith("duration:")


@given(st.floats(min_value=1e-3, max_value=1e8, allow_nan=False))
def test_a_printed_duration_reads_back(x):
    """What a run's metadata holds (str of a Brian2 quantity: '3.2 ks' for 3200 s)
    parses back to the same duration (it failed for 'ks' and 'Ms')."""
    q = x * second
    assert float(parse_quantity(str(q), second)) == pytest.approx(float(q), rel=1e-6)


@given(st.floats(min_value=1e-6, max_value=1e6, allow_nan=False))
def test_parse_quantity_round_trip(x):
    q = parse_quantity(f"{x!r} s", second)
    assert float(q) == x


SPECS = [
    Param("duration", 1 * second, "quantity", "t", unit=second, low=0, low_open=True),
    Param("p", 0.5, "float", "prob", low=0, high=1),
    Param("n", 3, "int", "count", low=1),
    Param("mode", "a", "choice", "m", choices=("a", "b")),
]


def test_resolve_params_defaults_and_overrides():
    v = resolve_params(SPECS, {"p": "0.25", "n": "7", "mode": "b"})
    assert v == {"duration": 1 * second, "p": 0.25, "n": 7, "mode": "b"}


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"durration": "1 s"}, "did you mean 'duration'"),
        ({"p": "1.5"}, "p: '1.5' is outside"),
        ({"p": "nan"}, "finite"),
        ({"n": "0"}, "outside"),
        ({"n": "2.5"}, "not an integer"),
        ({"mode": "c"}, "not allowed; allowed: a or b"),
        ({"duration": "0 s"}, "outside the allowed range; allowed: > 0 s"),
    ],
)
def test_resolve_params_errors(over, needle):
    with pytest.raises(ParamError, match=needle.replace("(", r"\(")):
        resolve_params(SPECS, over)


def test_provenance_names_objects_without_a_memory_address():
    """metadata.json records the distal-reward network's state updater by a stable name."""
    assert to_jsonable(IZHIKEVICH_HALF_STEPS) == "izhikevich_half_steps"

    class Opaque:
        pass

    text = to_jsonable(Opaque())
    assert " at 0x" not in text and text.endswith("Opaque")
    assert to_jsonable({"method": "euler"}) == {"method": "euler"}


def test_check_refuses_strings_in_number_fields():
    from dopasim.circuits.reward_circuit import RewardCircuitParams
    from dopasim.models.pools import NeuromodulatorPools

    with pytest.raises(ParamError, match="hunger: '0.5' is a string"):
        RewardCircuitParams(hunger="0.5").validate()
    with pytest.raises(ParamError, match="dip_block"):
        NeuromodulatorPools(dip_block="0.8").validate()


@pytest.mark.parametrize("spec", ["ssri:ht2c=1", "parkinson:compensation=yes"])
def test_scenario_switches_take_on_or_off_only(spec):
    from dopasim.circuits.scenarios import parse_scenarios

    with pytest.raises(ParamError, match="allowed: on or off"):
        parse_scenarios(spec)
    assert parse_scenarios(spec.replace("=1", "=ON").replace("=yes", "=off"))


def test_a_choice_is_exact_on_the_command_line(tmp_path, capsys):
    from dopasim.cli import main

    assert main(["run", "conditioning", "--device", "NUMPY", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "device: 'NUMPY' is not allowed; allowed: cpp_standalone, cython or numpy" in err
    assert not (tmp_path / "r").exists()

"""The SSRI's 5-HT2C route onto VTA GABA neurons (issue 19, item 8): keys, gain, current.

Fast: parsing is pure Python; the current is read from tiny circuits that are built but
not run (numpy target), and two tiny runs check the metadata. The acceptance (tonic DA
falls with occupancy, 8 paired seeds, default size) is in tests/test_scenarios_long.py.
"""

import numpy as np
import pytest
from brian2 import mV, nmolar
from tiny import TINY_CONDITIONING

from dopasim import runner
from dopasim.circuits.reward_circuit import RewardCircuitParams, build_reward_circuit
from dopasim.circuits.scenarios import apply_scenarios, describe, parse_scenarios
from dopasim.cli import main
from dopasim.params import ParamError
from dopasim.protocols import pavlovian as pv

J = float(RewardCircuitParams().j_ht2c / mV)  # the calibrated gain (sustained)


def _params(spec, **over):
    return apply_scenarios(parse_scenarios(spec), RewardCircuitParams(scale=0.05, **over))


# ------------------------------------------------------------------ keys
def test_ssri_keys_default_to_the_sustained_route():
    ((name, values),) = parse_scenarios("ssri:occupancy=0.8")
    assert name == "ssri" and values == {"occupancy": 0.8, "ht2c": True, "chronic": "sustained"}
    P = apply_scenarios(parse_scenarios("ssri:occupancy=0.8"), RewardCircuitParams())
    assert P.ht2c is True and P.ht2c_chronic == "sustained" and P.pools.sert_occupancy == 0.8


@pytest.mark.parametrize(
    "spec, canonical, ht2c, chronic",
    [
        ("ssri:occupancy=0.8,ht2c=off", "ssri:occupancy=0.8,ht2c=off", False, "sustained"),
        (
            "ssri:chronic=Tolerant,occupancy=0.4",
            "ssri:occupancy=0.4,chronic=tolerant",
            True,
            "tolerant",
        ),
        ("ssri:occupancy=0.8,ht2c=on,chronic=sustained", "ssri:occupancy=0.8", True, "sustained"),
        (
            "ssri:ht2c=off,chronic=tolerant",
            "ssri:occupancy=0,ht2c=off,chronic=tolerant",
            False,
            "tolerant",
        ),
    ],
)
def test_ssri_keys_parse_and_round_trip(spec, canonical, ht2c, chronic):
    parsed = parse_scenarios(spec)
    assert describe(parsed) == canonical
    assert parse_scenarios(canonical) == parsed
    P = apply_scenarios(parsed, RewardCircuitParams())
    assert (P.ht2c, P.ht2c_chronic) == (ht2c, chronic)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("ssri:occupancy=0.8,ht2c=maybe", ["scenario ssri:ht2c", "'maybe'", "allowed: on or off"]),
        (
            "ssri:occupancy=0.8,chronic=acute",
            ["scenario ssri:chronic", "'acute'", "allowed: sustained or tolerant"],
        ),
        ("ssri:chronic=", ["scenario ssri:chronic", "''", "allowed: sustained or tolerant"]),
        ("ssri:chronc=tolerant", ["unknown key 'chronc'", "occupancy, ht2c, chronic", "'chronic'"]),
        ("ssri:ht2c=off,ht2c=on", ["key 'ht2c' is given twice"]),
    ],
)
def test_bad_ssri_keys_name_field_value_and_allowed(spec, words):
    with pytest.raises(ParamError) as e:
        parse_scenarios(spec)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_bad_ssri_key_on_the_command_line_exits_2(tmp_path, capsys):
    code = main(
        ["run", "conditioning", "--scenario", "ssri:chronic=acute", "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "ssri:chronic" in err and "sustained or tolerant" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"ht2c_chronic": "acute"}, "ht2c_chronic"),
        ({"ht2c_tolerant_fraction": 1.5}, "ht2c_tolerant_fraction"),
        ({"ht2c_ec50": 0 * nmolar}, "ht2c_ec50"),
        ({"ht2c_vta_tonic": -1 * nmolar}, "ht2c_vta_tonic"),
        ({"ht2c_ht_intact": 0 * nmolar}, "ht2c_ht_intact"),
        ({"j_ht2c": -1 * mV}, "j_ht2c"),
    ],
)
def test_circuit_validation_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        RewardCircuitParams(**change).validate()


# ------------------------------------------------------------------ the gain
@pytest.mark.parametrize(
    "spec, gain",
    [
        ("intact", 0.0),
        ("ssri:occupancy=0.8", J),
        ("ssri:occupancy=0", J),
        ("ssri:occupancy=0.8,ht2c=off", 0.0),
        ("ssri:occupancy=0.8,chronic=tolerant", 0.0),  # Prisco: nothing left
        ("ssri:occupancy=0.8,ht2c=off,chronic=tolerant", 0.0),
        ("parkinson:loss=0.5+ssri:occupancy=0.8", J),
        ("hunger:level=1", 0.0),
    ],
)
def test_effective_gain_per_scenario(spec, gain):
    assert float(_params(spec).ht2c_gain() / mV) == pytest.approx(gain, abs=0)


def test_tolerant_scales_the_gain_by_the_fraction_left():
    P = _params("ssri:occupancy=0.8,chronic=tolerant", ht2c_tolerant_fraction=0.25)
    assert float(P.ht2c_gain() / mV) == pytest.approx(0.25 * J)
    # off wins over any fraction
    P = _params("ssri:occupancy=0.8,ht2c=off,chronic=tolerant", ht2c_tolerant_fraction=0.25)
    assert float(P.ht2c_gain() / mV) == 0


# ------------------------------------------------------------------ the current
def _circuit(spec, **over):
    n = 11
    stim = pv.Stimulus(1, 1, 10 * pv.ms, -np.ones(n), np.zeros(n))
    P = _params(spec, **over)
    c = build_reward_circuit(P, stim, np.random.default_rng(1), np.random.default_rng(2))
    return P, c


def _expected_mV(gain_mV, ht_nM, intact_nM=5.8, vta_tonic_nM=5.0, ec50_nM=11.0):
    """Independent arithmetic of the 5-HT2C current (the module's formula, written out)."""
    c = vta_tonic_nM * ht_nM / intact_nM
    return gain_mV * (c / (c + ec50_nM) - vta_tonic_nM / (vta_tonic_nM + ec50_nM))


def test_intact_gaba_neurons_get_exactly_no_current():
    _, c = _circuit("intact")
    g = c["vta_gaba"]
    assert len(g) > 0
    assert np.all(np.asarray(g.j_ht2c / mV) == 0)
    for ht in (1, 5, 40):  # off: zero whatever the 5-HT level
        c["pools"].ht = ht * nmolar
        assert np.all(np.asarray(g.I_ht2c / mV) == 0)
    assert c.info["ht2c"]["route"] == "off" and c.info["ht2c"]["gain_mV"] == 0


def test_no_current_at_the_intact_level_with_the_route_on():
    """With the route on, the current is 0 where the pool holds its intact level (the
    measured 5.8 nM), and slightly hyperpolarising at the pool's 5 nM start."""
    P, c = _circuit("ssri:occupancy=0")
    g = c["vta_gaba"]
    assert float(P.ht2c_ht_intact / nmolar) == pytest.approx(5.8)
    assert np.all(np.asarray(g.j_ht2c / mV) == pytest.approx(J))
    assert float(c["pools"].ht[0] / nmolar) == pytest.approx(5.0, rel=1e-9)
    start = np.asarray(g.I_ht2c / mV)
    assert np.allclose(start, _expected_mV(J, 5.0), rtol=1e-9) and np.all(start < 0)
    assert -0.05 * J < start[0]  # small: 5/(5 + 11) - 4.31/(4.31 + 11)
    c["pools"].ht = P.ht2c_ht_intact
    assert np.allclose(np.asarray(g.I_ht2c / mV), 0, atol=1e-12)


@pytest.mark.parametrize("ht_nM", [1.0, 2.5, 5.0, 15.0, 50.0, 200.0])
def test_current_follows_the_occupancy_formula(ht_nM):
    _, c = _circuit("ssri:occupancy=0.8")
    g = c["vta_gaba"]
    c["pools"].ht = ht_nM * nmolar
    got = np.asarray(g.I_ht2c / mV)
    want = _expected_mV(J, ht_nM)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)
    # depolarising above the intact level, hyperpolarising below, bounded by the gain
    assert np.sign(want) == np.sign(ht_nM - 5.8)
    assert np.all(-J * 5 / 16 <= got) and np.all(got <= J * 11 / 16)


def test_the_steady_current_at_80_percent_occupancy():
    """The pool starts at its steady state (15.14 nM at 0.8): the VTA sees 13.05 nM and
    the GABA neurons start with j (13.05/24.05 - 5/16), about a quarter of the gain."""
    P, c = _circuit("ssri:occupancy=0.8")
    ht = float(P.pools.ht_steady() / nmolar)
    assert 15.0 < ht < 15.3
    got = np.asarray(c["vta_gaba"].I_ht2c / mV)
    assert np.allclose(got, _expected_mV(J, ht), rtol=1e-9)
    assert 0.2 * J < got[0] < 0.25 * J


@pytest.mark.parametrize(
    "spec", ["ssri:occupancy=0.8,ht2c=off", "ssri:occupancy=0.8,chronic=tolerant"]
)
def test_off_and_tolerant_carry_no_current_at_raised_5ht(spec):
    _, c = _circuit(spec)
    assert float(c["pools"].ht[0] / nmolar) > 15  # the SERT block itself still acts
    assert np.all(np.asarray(c["vta_gaba"].I_ht2c / mV) == 0)


def test_the_other_parameters_change_the_current_as_written():
    over = dict(ht2c_ec50=20 * nmolar, ht2c_vta_tonic=2 * nmolar, ht2c_ht_intact=4 * nmolar)
    _, c = _circuit("ssri:occupancy=0.8", **over)
    c["pools"].ht = 10 * nmolar
    got = np.asarray(c["vta_gaba"].I_ht2c / mV)
    want = _expected_mV(J, 10.0, intact_nM=4.0, vta_tonic_nM=2.0, ec50_nM=20.0)
    assert np.allclose(got, want, rtol=1e-9)
    assert c.info["ht2c"]["occupancy_intact"] == pytest.approx(2 / 22)


# ------------------------------------------------------------------ metadata
def _tiny(tmp_path, scenario, name):
    return runner.run(
        "conditioning",
        params=TINY_CONDITIONING,
        seed=3,
        device="numpy",
        out=tmp_path / name,
        quiet=True,
        figures=False,
        scenario=scenario,
    )


def test_metadata_records_route_chronic_and_gain(tmp_path):
    res = _tiny(tmp_path, "ssri:occupancy=0.8,chronic=tolerant", "tol")
    md = res.metadata
    assert md["scenario"] == "ssri:occupancy=0.8,chronic=tolerant"
    h = md["circuit_info"]["ht2c"]
    assert (h["route"], h["chronic"], h["gain_mV"]) == ("on", "tolerant", 0.0)
    assert h["occupancy_intact"] == pytest.approx(5 / 16)
    par = md["parameters"]
    assert par["circuit.ht2c"] is True and par["circuit.ht2c_chronic"] == "tolerant"
    assert par["circuit.ht2c_tolerant_fraction"] == 0.0
    res = _tiny(tmp_path, "ssri:occupancy=0.8", "sus")
    h = res.metadata["circuit_info"]["ht2c"]
    assert (h["route"], h["chronic"]) == ("on", "sustained")
    assert h["gain_mV"] == pytest.approx(J)


def test_dopasim_list_shows_the_ssri_keys(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"    {k}=" in out for k in ("occupancy", "ht2c", "chronic"))

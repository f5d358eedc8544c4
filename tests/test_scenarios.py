"""Scenarios (issue 4): SPEC parsing, composition, lesions, and what each one changes."""

import math

import numpy as np
import pytest
from brian2 import nmolar
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reward_circuit import TINY

from dopasim import runner
from dopasim.circuits.reward_circuit import (
    RewardCircuitParams,
    lesioned_indices,
    release_factor,
)
from dopasim.circuits.scenarios import (
    SCENARIOS,
    apply_scenarios,
    describe,
    is_hypothesis,
    parse_scenarios,
)
from dopasim.cli import main
from dopasim.params import ParamError
from dopasim.seeding import streams


# ------------------------------------------------------------------ parsing
def test_intact_is_the_empty_composition():
    assert parse_scenarios("intact") == ()
    assert parse_scenarios([]) == ()
    assert describe(()) == "intact"


def test_defaults_and_composition():
    parsed = parse_scenarios("parkinson:loss=0.75+ssri:occupancy=0.8")
    assert parsed == (
        ("parkinson", {"loss": 0.75, "compensation": True, "ceiling": 2.5}),
        ("ssri", {"occupancy": 0.8, "ht2c": True, "chronic": "sustained"}),
    )
    P = apply_scenarios(parsed, RewardCircuitParams())
    assert P.da_loss == 0.75 and P.da_compensation and P.pools.sert_occupancy == 0.8
    # the base object is not changed
    assert RewardCircuitParams().da_loss == 0 and RewardCircuitParams().pools.sert_occupancy == 0


def test_medicated_reads_a_unit_and_hunger_is_a_hypothesis():
    parsed = parse_scenarios("medicated:tonic=15nM,dip_block=0.9")
    P = apply_scenarios(parsed, RewardCircuitParams())
    assert float(P.pools.drug_tonic / nmolar) == pytest.approx(15)
    assert P.pools.dip_block == 0.9
    assert is_hypothesis(parse_scenarios("hunger:level=1"))
    assert not is_hypothesis(parsed)


@settings(max_examples=60, deadline=None)
@given(
    loss=st.floats(0, 1, allow_nan=False),
    occ=st.floats(0, 1, allow_nan=False),
    comp=st.booleans(),
    hunger=st.floats(0, 1, allow_nan=False),
)
def test_spec_round_trips(loss, occ, comp, hunger):
    spec = (
        f"parkinson:loss={loss!r},compensation={'on' if comp else 'off'}"
        f"+ssri:occupancy={occ!r}+hunger:level={hunger!r}"
    )
    parsed = parse_scenarios(spec)
    again = parse_scenarios(describe(parsed))
    for (n1, v1), (n2, v2) in zip(parsed, again, strict=True):
        assert n1 == n2
        for k in v1:
            if isinstance(v1[k], float):
                assert v2[k] == pytest.approx(v1[k], rel=1e-5, abs=1e-12)
            else:
                assert v2[k] == v1[k]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("parkinson:loss=1.5", ["parkinson:loss", "1.5", "0 to 1"]),
        ("parkinson:loss=nan", ["parkinson:loss", "nan", "0 to 1"]),
        ("ssri:occupancy=-0.1", ["ssri:occupancy", "-0.1", "0 to 1"]),
        ("parkinsn:loss=0.5", ["unknown scenario 'parkinsn'", "did you mean 'parkinson'"]),
        ("parkinson:los=0.5", ["unknown key 'los'", "allowed: loss", "did you mean 'loss'"]),
        ("ssri:occupancy=0.4+ssri:occupancy=0.8", ["'ssri' is given twice"]),
        ("parkinson:compensation=maybe", ["parkinson:compensation", "on or off"]),
        ("medicated:tonic=10", ["medicated:tonic", "no unit"]),
        ("medicated:tonic=10mV", ["medicated:tonic"]),
        ("hunger:level", ["not KEY=VALUE"]),
        ("parkinson:loss=0.1,loss=0.2", ["given twice"]),
    ],
)
def test_bad_specs_name_the_field(spec, words):
    with pytest.raises(ParamError) as e:
        parse_scenarios(spec)
    for w in words:
        assert w in str(e.value)


@st.composite
def _garbage(draw):
    name = draw(st.sampled_from([*SCENARIOS, "x", ""]))
    key = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=0, max_size=12))
    value = draw(st.text(min_size=0, max_size=8))
    return f"{name}:{key}={value}"


@settings(max_examples=150, deadline=None)
@given(_garbage())
def test_any_spec_parses_or_names_what_is_wrong(spec):
    try:
        parse_scenarios(spec)
    except ParamError as e:
        msg = str(e)
        assert "scenario" in msg or ":" in msg
        assert "\n" not in msg


# ------------------------------------------------------------------ lesions
@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(0, 300),
    f1=st.floats(0, 1, allow_nan=False),
    f2=st.floats(0, 1, allow_nan=False),
    seed=st.integers(0, 2**31),
)
def test_lesions_have_the_right_size_are_nested_and_deterministic(n, f1, f2, seed):
    lo, hi = sorted((f1, f2))
    a = lesioned_indices(n, lo, streams(seed)["lesion"])
    b = lesioned_indices(n, hi, streams(seed)["lesion"])
    assert len(a) == int(round(lo * n)) and len(b) == int(round(hi * n))
    assert set(a) <= set(b)
    assert len(set(b)) == len(b) and (len(b) == 0 or (0 <= b.min() and b.max() < n))
    assert np.array_equal(b, lesioned_indices(n, hi, streams(seed)["lesion"]))


def test_different_seeds_lesion_different_neurons():
    a = lesioned_indices(100, 0.5, streams(1)["lesion"])
    b = lesioned_indices(100, 0.5, streams(2)["lesion"])
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    "loss, comp, ceiling, factor",
    [(0, True, 4, 1), (0.5, True, 4, 2), (0.75, True, 4, 4), (0.9, True, 4, 4), (0.5, False, 4, 1)],
)
def test_compensation_is_bounded(loss, comp, ceiling, factor):
    P = RewardCircuitParams(da_loss=loss, da_compensation=comp, da_comp_ceiling=ceiling)
    assert release_factor(P) == pytest.approx(factor)


# ------------------------------------------------------------------ tiny runs
def _tiny(tmp_path, scenario, seed=3, name="run"):
    return runner.run(
        "conditioning",
        params=TINY,
        seed=seed,
        device="numpy",
        out=tmp_path / name,
        quiet=True,
        figures=False,
        scenario=scenario,
    )


def test_total_loss_runs_and_says_so(tmp_path):
    res = _tiny(tmp_path, "parkinson:loss=1")
    info = res.metadata["circuit_info"]
    n_da = info["sizes"]["vta_da"]
    assert info["n_da_alive"] == 0 and sorted(info["lesioned_da"]) == list(range(n_da))
    assert any("no surviving DA neuron" in note for note in info["notes"])
    assert len(res.data["spikes_vta_da"][1]) == 0
    assert res.metrics["da_tonic_hz"] == 0
    assert math.isnan(res.metrics["da_released_per_spike"])
    assert res.metadata["scenario"] == "parkinson:loss=1"


def test_partial_loss_silences_exactly_the_recorded_neurons(tmp_path):
    res = _tiny(tmp_path, "parkinson:loss=0.6")
    removed = set(res.metadata["circuit_info"]["lesioned_da"])
    n_da = res.metadata["circuit_info"]["sizes"]["vta_da"]
    assert len(removed) == round(0.6 * n_da)
    fired = set(np.unique(res.data["spikes_vta_da"][0]).tolist())
    assert fired and not (fired & removed)
    assert res.metadata["circuit_info"]["release_factor"] == pytest.approx(2.5)


def test_a_lesioned_circuit_starts_at_its_own_steady_state():
    """A chronic lesion: [DA] and the synapses' baseline start at the level the survivors
    hold, not at the intact one (which left a negative error for tens of seconds)."""
    from brian2 import nmolar

    from dopasim.circuits.reward_circuit import build_reward_circuit
    from dopasim.models.pools import NeuromodulatorPools
    from dopasim.protocols import pavlovian as pv

    pools = NeuromodulatorPools()
    assert pools.da_steady(1.0) / nmolar == pytest.approx(float(pools.da_tonic / nmolar))
    assert pools.da_steady(0.0) == 0 * nmolar
    # rounding the lesion to whole neurons can give survivors a little more than the
    # design flux (3 of 5 neurons at 2x): allowed while DAT can clear it
    assert pools.da_steady(1.2) > pools.da_tonic
    for bad in (-0.1, 12.0):
        with pytest.raises(ValueError, match="flux_fraction"):
            pools.da_steady(bad)
    n = 11
    stim = pv.Stimulus(1, 1, 10 * pv.ms, -np.ones(n), np.zeros(n))
    base, info = {}, {}
    specs = (
        "intact",
        "parkinson:loss=0.75",
        "parkinson:loss=1",
        "medicated",
        "parkinson:loss=0.75+medicated",
        "medicated+parkinson:loss=0.75",
        "parkinson:loss=1+medicated",
        "parkinson:loss=0.75+ssri:occupancy=0.8",
    )
    for spec in specs:
        P = pv.circuit_params({"scenario": spec, "scale": 0.2})
        c = build_reward_circuit(P, stim, np.random.default_rng(1), np.random.default_rng(2))
        g = c.network["pools"]
        base[spec] = tuple(
            float(getattr(g, v)[0] / nmolar)
            for v in ("da", "da_base_d1", "da_base_d2", "da_seen", "da_seen_d2")
        )
        info[spec] = c.info
    assert base["intact"] == pytest.approx((20, 20, 20, 20, 20))
    # 25 % survivors releasing 2.5x: 62.5 % of the flux, about 12 nM (not 20)
    i = info["parkinson:loss=0.75"]
    n_da = i["sizes"]["vta_da"]
    x = float(pools.da_steady(i["n_da_alive"] / n_da * i["release_factor"]) / nmolar)
    assert i["release_factor"] == pytest.approx(2.5) and 11 < x < 13
    assert base["parkinson:loss=0.75"] == pytest.approx((x, x, x, x, x))
    assert base["parkinson:loss=1"] == pytest.approx((0, 0, 0, 0, 0))
    # the drug's tonic 10 nM comes on top of the endogenous level, in either order
    assert base["medicated"] == pytest.approx((20, 30, 30, 30, 30))
    for spec in ("parkinson:loss=0.75+medicated", "medicated+parkinson:loss=0.75"):
        assert base[spec] == pytest.approx((x, x + 10, x + 10, x + 10, x + 10))
    assert base["parkinson:loss=1+medicated"] == pytest.approx((0, 10, 10, 10, 10))
    # with no DA neuron the note says what the synapses read (no floor in this circuit)
    assert "plasticity is absent" in " ".join(info["parkinson:loss=1"]["notes"])
    assert "the drug's" in " ".join(info["parkinson:loss=1+medicated"]["notes"])
    assert base["parkinson:loss=0.75+ssri:occupancy=0.8"] == pytest.approx((x, x, x, x, x))


def test_ssri_raises_5ht_and_its_terminal_stock(tmp_path):
    base = _tiny(tmp_path, "intact", name="a").metrics
    ssri = _tiny(tmp_path, "ssri:occupancy=0.8", name="b").metrics
    assert ssri["ht_steady_nM"] > 2 * base["ht_steady_nM"]
    assert ssri["ht_terminal_content"] > base["ht_terminal_content"]
    assert ssri["da_released_per_spike"] < base["da_released_per_spike"]


def test_released_da_is_the_release_per_spike_minus_the_5ht_share(tmp_path):
    res = _tiny(tmp_path, "intact")
    q = res.metadata["circuit_info"]["release_da_nM"]
    per_spike = res.metrics["da_released_per_spike"]
    # the 5-HT share phi is small but positive at the tonic levels
    assert 0.9 * q < per_spike < q


def test_distal_reward_refuses_scenarios():
    with pytest.raises(ParamError, match="takes no scenario"):
        runner.prepare("distal-reward", {}, 1, "numpy", None, False, "parkinson:loss=0.5")


@pytest.mark.parametrize(
    "spec",
    [
        "parkinson:loss=1.5",
        "parkinson:loss=nan",
        "ssri:occupancy=-0.1",
        "parkinsn",
        "parkinson:los=0.5",
        "ssri:occupancy=0.4+ssri:occupancy=0.8",
    ],
)
def test_cli_bad_scenarios_exit_2_before_creating_anything(spec, tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["run", "conditioning", "--scenario", spec, "--out", str(out), "--device", "numpy"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "scenario" in err
    assert not out.exists()


def test_cli_list_shows_the_scenarios(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in SCENARIOS:
        assert name in out


def test_hunger_moves_the_punishment_from_the_gaba_route_to_the_da_route():
    from brian2 import mV

    from dopasim.protocols import pavlovian as pv

    p = {"scenario": "hunger:level=0.3", "scale": 0.05}
    P = pv.circuit_params(p)
    assert P.hunger == pytest.approx(0.3)
    n = 11
    stim = pv.Stimulus(1, 1, 10 * pv.ms, -np.ones(n), np.zeros(n))
    from dopasim.circuits.reward_circuit import build_reward_circuit

    c = build_reward_circuit(P, stim, np.random.default_rng(1), np.random.default_rng(2))
    j_gaba = np.asarray(c.network["punish_gaba"].J / mV)
    j_da = np.asarray(c.network["punish_da"].J / mV)
    assert len(j_gaba) and len(j_da)
    assert np.allclose(j_gaba, 0.7 * float(P.j_punish_gaba / mV) / P.scale)
    assert np.allclose(j_da, 0.3 * float(P.j_punish_da / mV) / P.scale)


def test_medication_adds_tonic_da_and_blocks_a_fraction_of_the_dips(tmp_path):
    res = _tiny(tmp_path, "medicated:tonic=10nM,dip_block=0.6")
    # the first sample is the initial state, before the first update
    da, seen = res.data["da_nM"][1:], res.data["da_seen_nM"][1:]
    mean = res.data["da_mean_nM"][1:]
    n = da + 10
    # the drug removes 60 % of every dip below the running mean, nothing else
    assert np.allclose(seen, n + 0.6 * np.maximum(mean - n, 0), rtol=0, atol=1e-9)
    assert np.any(mean - n > 1e-3)  # there were dips to block
    plain = _tiny(tmp_path, "intact", name="plain").data
    assert np.allclose(plain["da_seen_nM"][1:], plain["da_nM"][1:])


def test_the_synapses_read_the_medicated_dopamine(tmp_path):
    """The transmitters integrate da_seen; the baseline follows a steady dose.

    A steady drug level is not a prediction error: without dips to block (dip_block 0)
    and with the MSN excitability effect off (the Pavlovian default), the learning is
    that of the intact circuit.
    """
    from brian2 import ms

    from dopasim.circuits.reward_circuit import Stimulus, build_reward_circuit

    n = 11
    stim = Stimulus(1, 1, 10 * ms, -np.ones(n), np.zeros(n))
    P = RewardCircuitParams(scale=0.05)
    c = build_reward_circuit(P, stim, np.random.default_rng(1), np.random.default_rng(2))
    assert c["str_d1"].variables["da_n"] is c["pools"].variables["da_seen"]
    # D2 synapses read their occupancy view (da_seen itself when d2_ec50 = 0)
    assert c["str_d2"].variables["da_n"] is c["pools"].variables["da_seen_d2"]
    plain = _tiny(tmp_path, "intact", name="plain").metrics
    med = _tiny(tmp_path, "medicated:tonic=50nM,dip_block=0", name="med").metrics
    assert med["d1_weight_change"] == pytest.approx(plain["d1_weight_change"], rel=1e-6)
    assert med["d2_weight_change"] == pytest.approx(plain["d2_weight_change"], rel=1e-6)

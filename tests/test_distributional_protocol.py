"""The distributional protocol and the distributional critic's wiring (Dabney et al. 2020).

Fast checks (numpy target, tiny sizes, nothing long is run): the circuit is built but not
simulated, except for a few hundred steps of single groups; the analysis runs on
synthetic spike trains whose responses are a known hinge function of reward size.
"""

import math

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, ms, mV, nmolar, second, umolar

from dopasim import runner
from dopasim.circuits.reward_circuit import (
    CRITIC_HYPOTHESES,
    CRITIC_PROJECTIONS,
    DA_ASYMMETRY_EQS,
    FIXED_PROJECTIONS,
    RewardCircuitParams,
    build_reward_circuit,
    channel_of,
)
from dopasim.circuits.scenarios import is_hypothesis, parse_scenarios
from dopasim.models.three_factor import transmitter_value
from dopasim.params import ParamError
from dopasim.protocols import distributional as dp
from dopasim.protocols import pavlovian as pv

K = 4
#: scale 0.1: 10 DA, 10 GABA, 100 D1 and 100 D2 neurons; 10 DA neurons in 4 channels
#: give unequal blocks (3, 2, 3, 2), so an index mix-up does not cancel out
CIRCUIT = {**dp.Distributional.TINY_PARAMS, "scale": "0.1", "n_trials": "3", "channels": str(K)}


def _prepare(params, tmp_path):
    return runner.prepare("distributional", params, 1, "numpy", tmp_path / "run", True)[1]


def _build(p, cparams=None, seed=0):
    tr = dp.trials(p, np.random.default_rng(seed))
    stim = dp.stimulus(p, tr)
    cparams = cparams if cparams is not None else dp.circuit_params(p)
    circuit = build_reward_circuit(
        cparams, stim, np.random.default_rng(seed + 1), np.random.default_rng(seed + 2)
    )
    return cparams, circuit


def _objects(circuit):
    return {o.name: o for o in circuit.network.objects}


@pytest.fixture(scope="module")
def p_tiny(tmp_path_factory):
    return _prepare(CIRCUIT, tmp_path_factory.mktemp("prep"))


# ---------------------------------------------------------------------------------------
# the circuit's wiring
# ---------------------------------------------------------------------------------------


def test_own_release_goes_to_the_channels_compartment(p_tiny):
    """critic_da='own': the pools have K compartments, DA neuron i releases only into
    compartment channel_of(i), with the classical release per spike times n_da over its
    channel's size (K times when the blocks are equal)."""
    P, c = _build(p_tiny)
    assert P.distributional and P.critic_channels == K and P.critic_da == "own"
    n_da = len(c["vta_da"])
    assert n_da == 10
    assert len(c["pools"]) == K
    rel = _objects(c)["da_release"]
    assert len(rel) == n_da
    assert np.array_equal(np.asarray(rel.i[:]), np.arange(n_da))
    assert np.array_equal(np.asarray(rel.j[:]), channel_of(n_da, K))
    _, classical = _build(p_tiny, pv.circuit_params(p_tiny))
    assert len(classical["pools"]) == 1
    q0 = np.asarray(_objects(classical)["da_release"].q[:] / umolar)
    assert q0.size == n_da and np.all(q0 > 0)
    sizes = np.bincount(channel_of(n_da, K), minlength=K)[channel_of(n_da, K)]
    np.testing.assert_allclose(np.asarray(rel.q[:] / umolar), q0 * n_da / sizes, rtol=1e-12)


def _compartment_flux(p):
    """Summed release per spike into each compartment (own), and the classical n_da q."""
    _, c = _build(p)
    rel = _objects(c)["da_release"]
    k = len(c["pools"])
    per = np.bincount(np.asarray(rel.j[:]), weights=np.asarray(rel.q[:] / umolar), minlength=k)
    _, classical = _build(p, pv.circuit_params(p))
    q0 = np.asarray(_objects(classical)["da_release"].q[:] / umolar)
    return per, q0.sum()


def test_every_compartment_gets_the_design_flux_when_channels_divide_the_da_neurons(tmp_path):
    """'own', 10 DA neurons in 5 channels of 2: each compartment receives the classical
    population's summed release per spike (the flux the pools are built for)."""
    per, total = _compartment_flux(_prepare({**CIRCUIT, "channels": "5"}, tmp_path))
    np.testing.assert_allclose(per, total, rtol=1e-12)


def test_every_compartment_gets_the_design_flux_when_blocks_are_unequal(p_tiny):
    """'own', 10 DA neurons in 4 channels (blocks 3, 2, 3, 2): every compartment should
    still receive the classical population's summed release per spike, as the pools'
    per-compartment design flux assumes."""
    per, total = _compartment_flux(p_tiny)
    np.testing.assert_allclose(per, total, rtol=1e-9)


def test_shared_release_reaches_every_compartment_with_the_classical_q(p_tiny):
    """control=uncoupled (critic_da='shared'): every DA neuron releases into every one of
    the K compartments, each spike with the classical release per spike."""
    p = {**p_tiny, "control": "uncoupled"}
    P, c = _build(p)
    assert P.critic_da == "shared" and len(c["pools"]) == K
    rel = _objects(c)["da_release"]
    n_da = len(c["vta_da"])
    pairs = set(zip(np.asarray(rel.i[:]).tolist(), np.asarray(rel.j[:]).tolist(), strict=True))
    assert pairs == {(i, k) for i in range(n_da) for k in range(K)}
    assert len(rel) == n_da * K
    _, classical = _build(p_tiny, pv.circuit_params(p_tiny))
    q0 = float(_objects(classical)["da_release"].q[0] / umolar)
    np.testing.assert_allclose(np.asarray(rel.q[:] / umolar), q0, rtol=1e-12)


def test_critic_projections_stay_within_their_channel(p_tiny):
    """d1_da, d1_gaba and gaba_da connect only neurons of the same channel (and do
    connect something in every channel); the classical circuit's do cross channels, so
    the check is not vacuous. The other fixed projections are not restricted."""
    _, c = _build(p_tiny)
    _, classical = _build(p_tiny, pv.circuit_params(p_tiny))
    objs, cobjs = _objects(c), _objects(classical)
    assert set(CRITIC_PROJECTIONS) == {"d1_da", "d1_gaba", "gaba_da"}
    for name in ("d1_da", "d1_gaba", "gaba_da"):  # the critic's loop, named independently
        syn = objs[name]
        i, j = np.asarray(syn.i[:]), np.asarray(syn.j[:])
        assert len(i) > 0, name
        ci = channel_of(len(syn.source), K)[i]
        cj = channel_of(len(syn.target), K)[j]
        assert np.array_equal(ci, cj), name
        assert set(cj.tolist()) == set(range(K)), name
        ci0 = channel_of(len(syn.source), K)[np.asarray(cobjs[name].i[:])]
        cj0 = channel_of(len(syn.target), K)[np.asarray(cobjs[name].j[:])]
        assert np.any(ci0 != cj0), f"classical {name} never crosses channels"
    # a projection outside CRITIC_PROJECTIONS (reward -> DA) keeps crossing freely
    reward = objs["reward_da"]
    assert len(set(np.asarray(reward.j[:]).tolist())) > K


def test_critic_projection_weights_keep_the_mean_input(tmp_path):
    """Within a channel the probability is p x K (capped at 1) and J grows by what the
    cap leaves out: at K = 10, gaba_da (p 0.2) connects every within-channel pair with
    2 x J, d1_da (p 0.1) has probability 1 and J unchanged, so each target's expected
    summed input equals the classical p N J."""
    p = _prepare({**CIRCUIT, "channels": "10"}, tmp_path)
    P, c = _build(p)
    objs = _objects(c)
    gaba_da = objs["gaba_da"]
    n_gaba, n_da = len(gaba_da.source), len(gaba_da.target)
    allowed = channel_of(n_gaba, 10)[:, None] == channel_of(n_da, 10)[None, :]
    assert len(gaba_da) == allowed.sum()  # probability min(1, 0.2 x 10) = 1
    ns = gaba_da.namespace["J"]
    assert float(ns / mV) == pytest.approx(float(P.j_gaba_da * 2 / P.scale / mV))
    d1_da = objs["d1_da"]
    assert float(d1_da.namespace["J"] / mV) == pytest.approx(float(P.j_d1_da / P.scale / mV))
    n_d1 = len(d1_da.source)
    allowed = channel_of(n_d1, 10)[:, None] == channel_of(n_da, 10)[None, :]
    assert len(d1_da) == allowed.sum()
    # expected input per DA neuron: in-channel sources x probability x J = p N J
    for name, p_field, j_field in (
        ("gaba_da", "p_gaba_da", "j_gaba_da"),
        ("d1_da", "p_msn_vta", "j_d1_da"),
    ):
        syn = objs[name]
        per_target = np.bincount(np.asarray(syn.j[:]), minlength=n_da)
        summed = per_target * float(syn.namespace["J"] / mV) * P.scale
        expected = getattr(P, p_field) * len(syn.source) * float(getattr(P, j_field) / mV)
        np.testing.assert_allclose(summed, expected, rtol=1e-9)


def test_d1_factor_gives_more_d1_msns_with_the_same_summed_input(tmp_path):
    """d1_factor f: f times the D1 MSNs, each with 1/f of the weight onto VTA DA and GABA
    neurons, so that every DA and GABA neuron's summed D1 input (in-channel sources x J)
    is that of f = 1; each DA neuron gets f times as many D1 inputs."""
    summed, counts = {}, {}
    for f in ("1", "2"):
        p = _prepare({**CIRCUIT, "channels": "10", "d1_factor": f}, tmp_path / f)
        P, c = _build(p)
        objs = _objects(c)
        assert len(c["str_d1"]) == P.size("n_d1") == int(f) * 100  # scale 0.1
        for name in ("d1_da", "d1_gaba"):
            syn = objs[name]
            per_target = np.bincount(np.asarray(syn.j[:]), minlength=len(syn.target))
            counts[(f, name)] = per_target
            summed[(f, name)] = per_target * float(syn.namespace["J"] / mV)
    for name in ("d1_da", "d1_gaba"):
        np.testing.assert_allclose(summed[("2", name)], summed[("1", name)], rtol=1e-9)
        assert np.all(counts[("2", name)] == 2 * counts[("1", name)])
    base = RewardCircuitParams()
    assert dp.with_d1_factor(base, 1) is base
    over = dp.with_d1_factor(base, 3)
    assert over.n_d1 == 3 * base.n_d1
    assert float(over.j_d1_da / base.j_d1_da) == pytest.approx(1 / 3)
    assert float(over.j_d1_gaba / base.j_d1_gaba) == pytest.approx(1 / 3)


def _with_factor(tmp_path, name, f):
    """The tiny circuit (10 channels) with the population factor ``name`` = f: its
    parameters, the circuit and its objects by name."""
    p = _prepare({**CIRCUIT, "channels": "10", name: f}, tmp_path / f)
    P, c = _build(p)
    return P, c, _objects(c)


def test_gaba_factor_gives_more_gaba_neurons_with_the_same_summed_inhibition(tmp_path):
    """gaba_factor f: f times the VTA GABA neurons, each with 1/f of the weight onto VTA
    DA neurons, so that every DA neuron's summed GABA input is that of f = 1 from f times
    as many GABA neurons; each GABA neuron's D1 input is unchanged."""
    summed, counts, d1_in = {}, {}, {}
    for f in ("1", "2"):
        P, c, objs = _with_factor(tmp_path, "gaba_factor", f)
        assert len(c["vta_gaba"]) == P.size("n_gaba") == int(f) * 10  # scale 0.1
        syn = objs["gaba_da"]
        counts[f] = np.bincount(np.asarray(syn.j[:]), minlength=len(syn.target))
        summed[f] = counts[f] * float(syn.namespace["J"] / mV)
        d1 = objs["d1_gaba"]
        d1_in[f] = np.bincount(np.asarray(d1.j[:]), minlength=len(d1.target)) * float(
            d1.namespace["J"] / mV
        )
    np.testing.assert_allclose(summed["2"], summed["1"], rtol=1e-9)
    assert np.all(counts["2"] == 2 * counts["1"])
    assert set(d1_in["2"]) == set(d1_in["1"])  # each GABA neuron's D1 input as before
    base = RewardCircuitParams()
    assert dp.with_gaba_factor(base, 1) is base
    over = dp.with_gaba_factor(base, 4)
    assert over.n_gaba == 4 * base.n_gaba
    assert float(over.j_gaba_da / base.j_gaba_da) == pytest.approx(1 / 4)


def test_da_factor_gives_more_da_neurons_with_the_same_release_and_5ht_input(tmp_path):
    """da_factor f: f times the VTA DA neurons, each with the inputs of f = 1 (the same
    D1 input per DA neuron), 1/f of the release per spike (the same release flux at the
    design rate) and 1/f of the weight onto 5-HT neurons, whose summed DA input is
    unchanged."""
    d1_in, release, ht_in = {}, {}, {}
    for f in ("1", "3"):
        P, c, objs = _with_factor(tmp_path, "da_factor", f)
        assert len(c["vta_da"]) == P.size("n_da") == int(f) * 10  # scale 0.1
        d1 = objs["d1_da"]
        d1_in[f] = np.bincount(np.asarray(d1.j[:]), minlength=len(d1.target))
        release[f] = c.info["release_da_nM"] * len(c["vta_da"])
        syn = objs["da_ht"]
        counts = np.bincount(np.asarray(syn.j[:]), minlength=len(syn.target))
        ht_in[f] = counts * float(syn.namespace["J"] / mV)
    assert set(d1_in["3"]) == set(d1_in["1"])  # each DA neuron's D1 input as before
    assert release["3"] == pytest.approx(release["1"], rel=1e-9)
    # each 5-HT neuron draws its DA inputs at random: the summed input keeps its mean
    assert ht_in["3"].mean() == pytest.approx(ht_in["1"].mean(), rel=0.35)
    base = RewardCircuitParams()
    assert dp.with_da_factor(base, 1) is base
    over = dp.with_da_factor(base, 4)
    assert over.n_da == 4 * base.n_da
    assert float(over.j_da_5ht / base.j_da_5ht) == pytest.approx(1 / 4)


def test_d2_fraction_gives_fewer_d2_msns_that_project_nowhere(tmp_path):
    """d2_fraction f: f times the D2 MSNs (each channel keeps some), nothing else of the
    circuit's sizes changes, and no synapse starts at a D2 MSN, so their number cannot
    act on the rest of the circuit."""
    sizes, keys = {}, {}
    for f in ("1", "0.3"):
        P, c, objs = _with_factor(tmp_path, "d2_fraction", f)
        sizes[f] = dict(c.info["sizes"])
        keys[f] = dp.build_key(
            _prepare({**CIRCUIT, "channels": "10", "d2_fraction": f}, tmp_path / ("k" + f))
        )
        assert len(c["str_d2"]) == P.size("n_d2")
        efferent = [
            o.name
            for o in objs.values()
            if isinstance(o, Synapses) and getattr(o.source, "source", o.source) is c["str_d2"]
        ]
        assert efferent == []
    assert sizes["0.3"]["str_d2"] == 30 and sizes["1"]["str_d2"] == 100  # scale 0.1
    assert {k: v for k, v in sizes["0.3"].items() if k != "str_d2"} == {
        k: v for k, v in sizes["1"].items() if k != "str_d2"
    }
    assert keys["0.3"] != keys["1"]
    base = RewardCircuitParams()
    assert dp.with_d2_fraction(base, 1) is base
    assert dp.with_d2_fraction(base, 0.25).n_d2 == base.n_d2 // 4


@pytest.mark.parametrize(
    ("protocol", "params"),
    [
        ("distributional", {}),
        ("probability", {"critic": "distributional", "probabilities": "0.1,0.5,0.9"}),
    ],
)
def test_the_knobs_reach_the_circuit_and_the_build_key(protocol, params, tmp_path):
    """learning_rate, d1_factor, gaba_factor, eligibility, the signal knobs and the
    expectation's gain and slope reach the circuit parameters of both protocols, and the
    build key tells their code apart (k_da is a constant of the code, n_d1 and n_gaba
    array sizes, the eligibility the synapses' code, the expectation per-synapse
    weights); the classical critic of `probability` ignores them."""
    knobs = {
        "learning_rate": "0.5",
        "d1_factor": "2",
        "eligibility": "pre",
        "tau_drive_fast": "100ms",
        "asym_threshold": "2mV",
        "rect_clip": "40nM",
        "base_clip": "20nM",
        "tag_delay": "100ms",
        "gaba_factor": "2",
        "expectation_gain": "0.9",
        "expectation_slope": "0.25",
        "learning_asymmetry": "0.5",
        "da_factor": "2",
    }
    m0, p0, _, _ = runner.prepare(protocol, params, 1, "numpy", tmp_path / "a", True)
    m1, p1, _, _ = runner.prepare(protocol, {**params, **knobs}, 1, "numpy", tmp_path / "b", True)
    P0, P1 = m0.circuit_params(p0), m1.circuit_params(p1)
    assert (P0.critic_learning_rate, P1.critic_learning_rate) == (1.0, 0.5)
    assert (P0.n_d1, P1.n_d1) == (1000, 2000)
    assert float(P1.j_d1_da / P0.j_d1_da) == pytest.approx(0.5)
    assert (P0.critic_eligibility, P1.critic_eligibility) == ("stdp", "pre")
    assert (P0.tau_drive_fast, P1.tau_drive_fast) == (20 * ms, 100 * ms)
    assert (P0.asym_threshold, P1.asym_threshold) == (0 * mV, 2 * mV)
    assert (P0.pools.rect_clip_value, P1.pools.rect_clip_value) == (5 * nmolar, 40 * nmolar)
    assert (P0.pools.base_clip, P1.pools.base_clip) == (5 * nmolar, 20 * nmolar)
    assert (P0.critic_tag_delay, P1.critic_tag_delay) == (0 * ms, 100 * ms)
    assert (P0.n_gaba, P1.n_gaba) == (100, 200)
    assert (P0.n_da, P1.n_da) == (100, 200)
    assert (P0.critic_expectation_gain, P1.critic_expectation_gain) == (1.0, 0.9)
    assert (P0.critic_expectation_slope, P1.critic_expectation_slope) == (0.0, 0.25)
    assert (P0.critic_learning_asymmetry, P1.critic_learning_asymmetry) == (0.0, 0.5)
    keys = {m0.build_key(p0), m1.build_key(p1)}
    ones = (
        {"learning_rate": "0.5"},
        {"eligibility": "pre"},
        {"asym_threshold": "2mV"},
        {"eligibility": "pre", "tag_delay": "50ms"},
        {"gaba_factor": "2"},
        {"da_factor": "2"},
        {"base_clip": "20nM"},
        {"expectation_gain": "0.9"},
        {"expectation_slope": "0.25"},
    )
    for k, one in enumerate(ones):
        m2, p2, _, _ = runner.prepare(
            protocol, {**params, **one}, 1, "numpy", tmp_path / f"c{k}", True
        )
        keys.add(m2.build_key(p2))
    assert len(keys) == 11

    def key(**one):
        m, q, _, _ = runner.prepare(protocol, {**params, **one}, 1, "numpy", tmp_path / "k", True)
        return m.build_key(q)

    # the asymmetry of plasticity's gains are data: the rectified rule's build serves them;
    # at dip gain 1 it makes the rule rectified (other code than the linear rule's)
    assert key(learning_asymmetry="0.5") == key() == key(learning_asymmetry="0.5", dip_gain="1")
    assert key(dip_gain="1") != key()
    if protocol == "probability":  # the classical critic: no knob changes anything
        plain = {"probabilities": "0.1,0.5,0.9"}
        mc, pc, _, _ = runner.prepare(protocol, plain, 1, "numpy", tmp_path / "d", True)
        mk, pk, _, _ = runner.prepare(
            protocol, {**plain, **knobs}, 1, "numpy", tmp_path / "e", True
        )
        assert mc.circuit_params(pc) == mk.circuit_params(pk)
        assert mc.build_key(pc) == mk.build_key(pk)


@pytest.mark.parametrize(
    ("protocol", "params"),
    [
        ("distributional", {}),
        ("probability", {"critic": "distributional", "probabilities": "0.1,0.5,0.9"}),
        ("probability", {"probabilities": "0.1,0.5,0.9"}),  # the classical critic too
    ],
)
def test_the_da_spread_reaches_the_circuit_and_the_build_key(protocol, params, tmp_path):
    """da_bias_sd and da_timescale_sd set the DA neurons' LIFParams in every critic of
    both protocols; only a time scale's spread changes the code (k_tau: a variable more),
    and the run's metadata then lists its hypothesis."""
    from dopasim.circuits.reward_circuit import DA_NEURON, DA_TIME_SCALE_HYPOTHESIS

    def prep(name, **one):
        m, p, _, _ = runner.prepare(protocol, {**params, **one}, 1, "numpy", tmp_path / name, True)
        return m, p, m.circuit_params(p)

    m0, p0, P0 = prep("a")
    _, p1, P1 = prep("b", da_bias_sd="0mV", da_timescale_sd="0.3")
    _, p2, P2 = prep("c", da_bias_sd="0.5mV")
    assert P0.da == DA_NEURON
    assert (P1.da.i_bias_sd, P1.da.tau_scale_sd) == (0 * mV, 0.3)
    assert (P2.da.i_bias_sd, P2.da.tau_scale_sd) == (0.5 * mV, 0.0)
    assert m0.build_key(p0) == m0.build_key(p2) != m0.build_key(p1)
    assert DA_TIME_SCALE_HYPOTHESIS in P1.hypotheses()
    assert DA_TIME_SCALE_HYPOTHESIS not in P0.hypotheses() + P2.hypotheses()


def test_a_time_scale_spread_too_wide_for_the_step_is_refused():
    """RewardCircuitParams.validate: the fastest DA neurons (k_tau at -3 SD) need a
    refractory period and tau_m/4 of at least one step."""
    from dopasim.circuits.reward_circuit import RewardCircuitParams

    P = RewardCircuitParams(dt=1 * ms)
    P.with_(da=P.da.with_(tau_scale_sd=0.5)).validate()  # 5 ms x 0.22 = 1.1 ms
    with pytest.raises(ValueError, match=r"^da\.tau_scale_sd: 0.5"):
        RewardCircuitParams(dt=1.2 * ms, da=P.da.with_(tau_scale_sd=0.5)).validate()


def test_the_da_time_scales_are_drawn_per_neuron(p_tiny):
    """With da_timescale_sd the DA neurons (only they) carry k_tau, lognormal with that
    spread (80 neurons: SD of the log within 0.06 of 0.3, margin fixed before the run),
    and their drives are equal with da_bias_sd 0."""
    _, c = _build({**p_tiny, "da_timescale_sd": 0.3, "da_bias_sd": 0 * mV, "da_factor": 8})
    k = np.asarray(c["vta_da"].k_tau[:])
    assert k.size == 80 and abs(np.log(k).std() - 0.3) < 0.06
    assert np.ptp(np.asarray(c["vta_da"].I_bias[:])) == 0
    assert "k_tau" not in c["vta_gaba"].variables


def test_the_signal_knobs_reach_the_built_groups(p_tiny):
    """tau_drive_fast and asym_threshold reach the DA neurons' namespace, rect_clip and
    base_clip the pools' (where the running means read them), tag_delay the delay of the
    corticostriatal synapses' tag pathway (the spike itself still arrives at once, and
    only the delayed pathway tags)."""
    over = {"tau_drive_fast": 100 * ms, "asym_threshold": 2 * mV, "rect_clip": 40 * nmolar}
    over |= {"eligibility": "pre", "tag_delay": 100 * ms, "base_clip": 20 * nmolar}
    P, c = _build({**p_tiny, **over})
    ns = c["vta_da"].namespace
    assert (ns["tau_drive_fast"], ns["asym_threshold"]) == (100 * ms, 2 * mV)
    assert c["pools"].namespace["rect_clip"] == 40 * nmolar
    assert c["pools"].namespace["base_clip"] == 20 * nmolar
    assert CRITIC_HYPOTHESES[4] in P.hypotheses()
    for kind in ("d1", "d2"):
        syn = c[f"ctx_{kind}"]
        assert float(syn.pre.delay[:]) == 0 and float(syn.tag.delay[:]) == pytest.approx(0.1)
        assert "c_e +=" not in syn.pre.code and "c_e +=" in syn.tag.code
    _, plain = _build({**p_tiny, "eligibility": "pre"})
    assert [p.name for p in plain["ctx_d1"]._pathways] == ["ctx_d1_pre"]


def test_a_tag_delay_needs_the_presynaptic_eligibility():
    """critic_tag_delay > 0 with the STDP window (or the classical critic) is refused,
    naming the field."""
    with pytest.raises(ValueError, match="critic_tag_delay: 100. ms needs"):
        RewardCircuitParams(critic="distributional", critic_tag_delay=100 * ms).validate()
    with pytest.raises(ValueError, match="critic_tag_delay"):
        RewardCircuitParams(critic_eligibility="pre", critic_tag_delay=100 * ms).validate()


def test_da_asymmetries_follow_the_channel_taus(p_tiny):
    """vta_da.alpha_pos = 2 tau_k and alpha_neg = 2 (1 - tau_k) of the neuron's channel,
    and the asymmetry's current enters the DA membrane equation; control=classical
    gives every alpha 1."""
    P, c = _build(p_tiny)
    da = c["vta_da"]
    tau = P.channel_taus()[channel_of(len(da), K)]
    np.testing.assert_allclose(P.channel_taus(), np.linspace(0.2, 0.8, K))
    np.testing.assert_allclose(np.asarray(da.alpha_pos[:]), 2 * tau)
    np.testing.assert_allclose(np.asarray(da.alpha_neg[:]), 2 * (1 - tau))
    assert "I_asym" in da.equations["v"].expr.identifiers
    P2, c2 = _build({**p_tiny, "control": "classical"})
    assert P2.distributional and P2.critic_da == "own"
    np.testing.assert_allclose(np.asarray(c2["vta_da"].alpha_pos[:]), 1.0)
    np.testing.assert_allclose(np.asarray(c2["vta_da"].alpha_neg[:]), 1.0)
    assert c2.info["critic"]["taus"] == [0.5] * K


@pytest.mark.parametrize("control", ["none", "classical"])
def test_the_pause_gain_scales_negative_deviations_only(p_tiny, control):
    """pause_gain g: alpha_neg = 2 (1 - tau_k) g, alpha_pos = 2 tau_k unchanged (the
    classical control's neurons: alpha_pos 1, alpha_neg g)."""
    P, c = _build({**p_tiny, "control": control, "pause_gain": 1.5})
    assert P.critic_pause_gain == 1.5
    da = c["vta_da"]
    tau = P.channel_taus()[channel_of(len(da), K)]
    np.testing.assert_allclose(np.asarray(da.alpha_pos[:]), 2 * tau)
    np.testing.assert_allclose(np.asarray(da.alpha_neg[:]), 2 * (1 - tau) * 1.5)


def test_plastic_synapses_read_their_targets_compartment(p_tiny):
    """Each ctx_d1 / ctx_d2 synapse's da_channel is channel_of(n_msn, K) of its target;
    the D1 and D2 transmitter groups have K elements; with distinct values per
    transmitter element and per pool compartment, transmitter_value and the MSNs'
    linked [DA] give each synapse (neuron) its own channel's value."""
    P, c = _build(p_tiny)
    pools = c["pools"]
    # what D1 and D2 synapses read: da_seen and da_seen_d2 (`SampledPool`)
    pools.da_seen = (1.0 + np.arange(K)) * nmolar
    pools.da_seen_d2 = (101.0 + np.arange(K)) * nmolar
    for kind in ("d1", "d2"):
        syn, msn = c[f"ctx_{kind}"], c[f"str_{kind}"]
        n = len(msn)
        chan = channel_of(n, K)
        j = np.asarray(syn.j[:])
        assert len(j) > 0
        np.testing.assert_array_equal(np.asarray(syn.da_channel[:]), chan[j])
        vt = {o.name: o for o in msn.contained_objects}[f"str_{kind}_da"]
        assert len(vt) == K
        vt.da_A = 10.0 * np.arange(K) + (1 if kind == "d2" else 0)
        values = transmitter_value(syn, "da_A")
        np.testing.assert_allclose(values, 10.0 * chan[j] + (1 if kind == "d2" else 0))
        level = 1.0 if kind == "d1" else 101.0
        np.testing.assert_allclose(np.asarray(msn.da_n[:] / nmolar), level + chan, rtol=1e-9)
        np.testing.assert_allclose(np.asarray(vt.da_n[:] / nmolar), level + np.arange(K))
    info = c.info["critic"]
    assert info["da_channel"] == channel_of(len(c["vta_da"]), K).tolist()
    assert info["d1_channel"] == channel_of(len(c["str_d1"]), K).tolist()


def _asymmetry_group(n, threshold):
    """``n`` neurons of DA_ASYMMETRY_EQS alone (the circuit's filters, tau = 0.8:
    alpha+ 1.6, alpha- 0.4) with the dead zone ``threshold``."""
    P = RewardCircuitParams()
    g = NeuronGroup(
        n,
        DA_ASYMMETRY_EQS + "g_e : volt\ng_s : volt\ng_i : volt\n",
        method="euler",
        namespace={
            "tau_drive_fast": P.tau_drive_fast,
            "tau_drive_slow": P.tau_drive_slow,
            "asym_threshold": threshold,
        },
        dt=0.5 * ms,
    )
    g.alpha_pos, g.alpha_neg = 1.6, 0.4
    return g


def test_the_asymmetry_scales_deviations_by_alpha_pos_above_and_alpha_neg_below():
    """DA_ASYMMETRY_EQS in isolation: after a step of the drive, the drive plus the
    asymmetry's current deviates from the running mean by alpha+ times the deviation for
    a rise and alpha- times it for a fall (tau = 0.8: alpha+ 1.6, alpha- 0.4)."""
    g = _asymmetry_group(2, RewardCircuitParams().asym_threshold)
    g.g_e = [2, 0] * mV  # neuron 0: the drive rises by 2 mV
    g.g_i = [0, 2] * mV  # neuron 1: it falls by 2 mV
    Network(g).run(200 * ms)
    dev = np.asarray(g.dev[:] / mV)
    phasic = np.asarray((g.s_fast[:] + g.I_asym[:] - g.s_slow[:]) / mV)
    assert dev[0] > 1.9 and dev[1] < -1.9
    np.testing.assert_allclose(phasic / dev, [1.6, 0.4], rtol=0.02)


@pytest.mark.parametrize("threshold", [0.5, 1.5])
def test_the_asymmetry_scales_only_the_deviation_beyond_its_threshold(threshold):
    """With asym_threshold th, a step of the drive by d gets the extra gain on d - th
    only (alpha+ - 1 above, alpha- - 1 below): the phasic drive is d + (alpha+ - 1) *
    (d - th) for a rise and d + (alpha- - 1) * (d + th) for a fall; a step within the
    threshold is not scaled (neurons 2 and 3)."""
    g = _asymmetry_group(4, threshold * mV)
    g.g_e = [3, 0, 0.4, 0] * mV  # rises by 3 mV and by 0.4 mV
    g.g_i = [0, 3, 0, 0.4] * mV  # falls by 3 mV and by 0.4 mV
    Network(g).run(200 * ms)
    dev = np.asarray(g.dev[:] / mV)
    phasic = np.asarray((g.s_fast[:] + g.I_asym[:] - g.s_slow[:]) / mV)
    th = threshold
    expected = [
        dev[0] + 0.6 * (dev[0] - th),
        dev[1] - 0.6 * (dev[1] + th),
        dev[2] + 0.6 * max(dev[2] - th, 0),
        dev[3] - 0.6 * min(dev[3] + th, 0),
    ]
    np.testing.assert_allclose(phasic, expected, rtol=0.02, atol=0.01)
    assert abs(phasic[2] - dev[2]) < 1e-6 and abs(phasic[3] - dev[3]) < 1e-6


# ---------------------------------------------------------------------------------------
# the stimulus: reward sizes as the reward input's rate
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("utility", ["measured", "linear"])
def test_drives_have_mean_one_under_the_task_distribution(utility):
    """drives(): the relative rate per size has mean 1 under PROBS, grows with size and
    is the size (linear) or the measured utility (measured) up to one factor."""
    d = dp.drives(utility)
    assert d.shape == (len(dp.SIZES),)
    assert float(np.dot(dp.PROBS, d)) == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(d) >= 0) and d[-1] > 1
    ref = np.asarray(dp.SIZES if utility == "linear" else dp.UTILITY_MEASURED)
    np.testing.assert_allclose(d / d[-1], ref / ref[-1])


@pytest.mark.parametrize("utility", ["measured", "linear"])
def test_stimulus_magnitude_is_the_trials_drive_at_its_reward_steps(utility, tmp_path):
    """stimulus(): on each trial's reward steps (cs_time + us_delay, outcome_dur long)
    the magnitude is drives(utility)[size of the trial], 0 elsewhere; the reward steps are
    where outcome == reward; cued trials show the odour's states."""
    p = _prepare({**CIRCUIT, "n_trials": "12", "utility": utility}, tmp_path)
    tr = dp.trials(p, np.random.default_rng(5))
    tr["size"] = np.arange(12) % len(dp.SIZES)  # every size, in a known order
    stim = dp.stimulus(p, tr)
    g = float(pv.GRID)
    per_trial = round(float(p["trial_len"]) / g)
    us = round(float(p["cs_time"] + p["us_delay"]) / g)
    out_len = round(float(p["outcome_dur"]) / g)
    expected = np.zeros_like(stim.magnitude)
    d = dp.drives(utility)
    for k, s in enumerate(tr["size"]):
        expected[k * per_trial + us : k * per_trial + us + out_len] = d[s]
    np.testing.assert_array_equal(stim.magnitude, expected)
    on = np.zeros(len(stim.outcome), bool)
    for k in range(12):
        on[k * per_trial + us : k * per_trial + us + out_len] = True
    assert np.array_equal(stim.outcome == pv.REWARD, on)
    assert stim.magnitude.shape == stim.outcome.shape
    cs = round(float(p["cs_time"]) / g)
    for k, cue in enumerate(tr["cue"]):
        assert (stim.state[k * per_trial + cs] >= 0) == (cue >= 0)


def test_the_reward_input_fires_only_where_the_magnitude_is_nonzero(tmp_path):
    """The built circuit's reward input follows the magnitude: with measured utility the
    smallest size has drive 0 and its trials give no reward-input spike, the largest size
    gives spikes only inside its reward window (a run of the us_reward group alone)."""
    p = _prepare({**CIRCUIT, "n_trials": "4", "cued_fraction": "0"}, tmp_path)
    tr = dp.trials(p, np.random.default_rng(0))
    tr["size"] = np.array([0, 6, 0, 6])
    stim = dp.stimulus(p, tr)
    c = build_reward_circuit(
        dp.circuit_params(p), stim, np.random.default_rng(1), np.random.default_rng(2)
    )
    reward = c["us_reward"]
    np.testing.assert_array_equal(
        np.asarray(reward.namespace["magnitude_ta"].values), stim.magnitude
    )
    mon = SpikeMonitor(reward)
    Network(reward, mon).run(p["duration"])
    t = np.asarray(mon.t[:] / second)
    trial = (t // float(p["trial_len"])).astype(int)
    start = float(p["cs_time"] + p["us_delay"])
    rel = t - trial * float(p["trial_len"])
    assert np.all((rel >= start) & (rel < start + float(p["outcome_dur"]) + 1e-9))
    counts = np.bincount(trial, minlength=4)
    assert counts[0] == 0 and counts[2] == 0
    # drive 3.9 x 60 Hz x 0.1 s x 4 neurons: about 94 spikes a trial (P(< 40) ~ 1e-10)
    assert counts[1] > 40 and counts[3] > 40


def test_the_critics_reward_gain_scales_the_reward_inputs_rate(tmp_path):
    """critic_reward_gain multiplies the reward input's rate with a distributional
    critic (and only the reward's: the punishment input keeps outcome_rate); the
    classical critic's generated code does not carry it."""
    p = _prepare({**CIRCUIT, "n_trials": "4", "cued_fraction": "0"}, tmp_path)
    tr = dp.trials(p, np.random.default_rng(0))
    tr["size"] = np.array([6, 6, 6, 6])
    stim = dp.stimulus(p, tr)
    P = dp.circuit_params(p).with_(critic_reward_gain=0.25)
    c = build_reward_circuit(P, stim, np.random.default_rng(1), np.random.default_rng(2))
    reward = c["us_reward"]
    assert reward.namespace["reward_gain"] == 0.25
    assert "reward_gain" in reward.events["spike"]
    assert "reward_gain" not in c["us_punish"].events["spike"]
    mon = SpikeMonitor(reward)
    Network(reward, mon).run(p["duration"])
    # 0.25 x drive 3.89 x 60 Hz x 0.1 s x 4 neurons x 4 trials: about 93 spikes (at gain 1
    # about 374); Poisson P(n <= 50 or n >= 150) ~ 2e-6
    assert 50 < len(mon.t) < 150
    classical = pv.circuit_params(p)
    c0 = build_reward_circuit(classical, stim, np.random.default_rng(1), np.random.default_rng(2))
    assert "reward_gain" not in c0["us_reward"].events["spike"]
    with pytest.raises(ValueError, match="critic_reward_gain"):
        P.with_(critic_reward_gain=0.0).validate()
    # the protocol's reward_gain reaches the circuit (and its controls', paired)
    for control in dp.CONTROLS:
        q = _prepare({**CIRCUIT, "reward_gain": "0.5", "control": control}, tmp_path / control)
        assert dp.circuit_params(q).critic_reward_gain == 0.5


def test_each_channels_expectation_gain_reaches_its_d1_gaba_synapses(p_tiny):
    """critic_expectation_gain and _slope set each D1 -> VTA GABA synapse's weight to
    j_d1_gaba x gain x (1 + slope (2 tau_k - 1)) by its D1 MSN's channel k (all within the
    channel); the defaults keep one constant weight; a slope that makes a channel's gain
    0 or less is refused naming the field."""
    P = dp.circuit_params(p_tiny).with_(critic_expectation_gain=0.8, critic_expectation_slope=0.5)
    taus = P.channel_taus()
    _, c = _build(p_tiny, P)
    syn = _objects(c)["d1_gaba"]
    i, j = np.asarray(syn.i[:]), np.asarray(syn.j[:])
    k_pre = channel_of(len(syn.source), K)[i]
    k_post = channel_of(len(syn.target), K)[j]
    np.testing.assert_array_equal(k_pre, k_post)
    J = np.asarray(syn.J[:] / mV)
    # J / scale x the cap's make-up factor is the same for every synapse: the ratio
    # between channels is the gain's
    ratio = J / (0.8 * (1 + 0.5 * (2 * taus[k_pre] - 1)))
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    # the most optimistic channel's weight is (1 + 0.5 x 0.6) / (1 - 0.5 x 0.6) that of
    # the most pessimistic
    assert J[k_pre == K - 1][0] / J[k_pre == 0][0] == pytest.approx(1.3 / 0.7)
    _, c0 = _build(p_tiny)
    syn0 = _objects(c0)["d1_gaba"]
    assert "J" not in syn0.variables  # one constant of the code
    # gain 1 is the default circuit's weight (scale and the cap's make-up factor kept)
    assert ratio[0] == pytest.approx(float(syn0.namespace["J"] / mV))
    # tau 0 with slope 1: channel 0's gain would be 0 (the circuit's own check; the
    # protocols keep tau inside (0, 1) and the slope within [-1, 1])
    with pytest.raises(ValueError, match="gives channel gains"):
        P.with_(critic_expectation_slope=1.0, critic_tau_low=0.0, critic_tau_high=1.0).validate()


@pytest.mark.parametrize("dip_gain", [1.0, 2.0])
def test_each_channels_asymmetry_of_plasticity_scales_its_compartments_signal(p_tiny, dip_gain):
    """critic_learning_asymmetry a makes the critic's rule rectified (also at dip gain 1)
    and gives compartment k's D1 and D2 signal the burst gain 1 + a (2 tau_k - 1) and the
    dip gain dip_gain x (1 - a (2 tau_k - 1)), in the pools (their running means) and in
    each MSN class's transmitter (what its synapses integrate); one step of the pools with
    every compartment 4 nM above and then below its running mean gives those multiples."""
    a = 0.5
    P = dp.circuit_params(p_tiny).with_(critic_learning_asymmetry=a, critic_dip_gain=dip_gain)
    assert P.rectified
    taus = P.channel_taus()
    burst, dip = 1 + a * (2 * taus - 1), dip_gain * (1 - a * (2 * taus - 1))
    _, c = _build(p_tiny, P)
    objs = _objects(c)
    pools = objs["pools"]
    for kind in ("d1", "d2"):
        np.testing.assert_allclose(getattr(pools, f"gb_{kind}")[:], burst)
        np.testing.assert_allclose(getattr(pools, f"gd_{kind}")[:], dip)
        msn = objs[f"str_{kind}"]
        vt = next(o for o in msn.contained_objects if o.name == f"str_{kind}_da")
        np.testing.assert_allclose(vt.da_gb[:], burst)
        np.testing.assert_allclose(vt.da_gd[:], dip)
    # the pools alone, one step: rect = g_b [e]+ - g_d [-e]+ per compartment
    for sign, gain in ((1, burst), (-1, -dip)):
        grp = P.pools.build("pools_alone", P.dt, rectify={"d1": (burst, dip), "d2": (1, 1)}, n=K)
        grp.da = grp.da_mean[:] + sign * 4 * nmolar
        Network(grp).run(P.dt)
        e = np.asarray(grp.da_seen[:] - grp.da_mean[:])  # the step moved da a little
        np.testing.assert_allclose(np.asarray(grp.rect_d1[:]), gain * np.abs(e), rtol=1e-9)
        np.testing.assert_allclose(np.asarray(grp.rect_d2[:]), sign * np.abs(e), rtol=1e-9)
    # a = 0 with dip gain 1: the linear rule, no gains at all
    P0 = P.with_(critic_learning_asymmetry=0.0, critic_dip_gain=1.0)
    assert not P0.rectified
    _, c0 = _build(p_tiny, P0)
    assert "gb_d1" not in _objects(c0)["pools"].variables


def test_the_uncoupled_control_has_symmetric_plasticity_in_every_channel(p_tiny):
    """With critic_da='shared' every channel learns from the same error with the same
    gains (1), whatever the asymmetry of plasticity; with its own compartment channel k
    keeps 1 + a (2 tau_k - 1) and 1 - a (2 tau_k - 1), and the uncoupled circuit's pools
    carry the gains 1 (a > 0 still makes its rule rectified, like the classical
    control's)."""
    a = 0.5
    P = dp.circuit_params(p_tiny).with_(critic_learning_asymmetry=a)
    x = a * (2 * P.channel_taus() - 1)
    np.testing.assert_allclose(P.learning_gains(), (1 + x, 1 - x))
    shared = P.with_(critic_da="shared")
    assert shared.rectified
    np.testing.assert_array_equal(shared.learning_gains(), np.ones((2, K)))
    objs = _objects(_build(p_tiny, shared)[1])
    for kind in ("d1", "d2"):
        np.testing.assert_array_equal(getattr(objs["pools"], f"gb_{kind}")[:], np.ones(K))
        np.testing.assert_allclose(
            getattr(objs["pools"], f"gd_{kind}")[:], np.full(K, shared.critic_dip_gain)
        )
        msn = objs[f"str_{kind}"]
        vt = next(o for o in msn.contained_objects if o.name == f"str_{kind}_da")
        np.testing.assert_array_equal(vt.da_gb[:], np.ones(K))
        np.testing.assert_allclose(vt.da_gd[:], np.full(K, shared.critic_dip_gain))


def test_trials_draw_sizes_with_the_task_probabilities(tmp_path):
    """trials(): sizes follow PROBS and about cued_fraction of the trials are cued
    (cue 0, the others -1); every trial is rewarded and none is a probe."""
    p = _prepare({**CIRCUIT, "n_trials": "20000", "cued_fraction": "0.3"}, tmp_path)
    tr = dp.trials(p, np.random.default_rng(11))
    assert len(tr["size"]) == 20000
    freq = np.bincount(tr["size"], minlength=len(dp.SIZES)) / 20000
    # binomial SD at n = 20000 is at most 0.0035: 0.015 is > 4 SD
    np.testing.assert_allclose(freq, dp.PROBS, atol=0.015)
    assert set(np.unique(tr["cue"]).tolist()) == {-1, 0}
    assert abs(np.mean(tr["cue"] == 0) - 0.3) < 0.015
    assert np.all(tr["outcome"] == pv.REWARD) and not tr["probe"].any()


# ---------------------------------------------------------------------------------------
# the analysis on synthetic data
# ---------------------------------------------------------------------------------------

#: synthetic DA neurons: (reversal point ul, tau); neuron 3 is lesioned
NEURONS = {0: (0.7, 0.2), 1: (2.0, 0.35), 2: (4.0, 0.5), 4: (8.0, 0.65), 5: (14.0, 0.8)}
LESIONED = 3
SLOPE_SUM = 10.0  # alpha+ + alpha- (Hz per ul)
BASE_HZ = 40  # baseline: 40 evenly spaced spikes in the second before the reward
N_TRIALS, TRAIN = 168, 0.25  # 24 trials per size, the first 42 (6 per size) left out


def _evenly(start, stop, n):
    return start + (np.arange(n) + 0.5) * (stop - start) / max(n, 1)


def _hinge(s, c, tau):
    d = s - c
    return SLOPE_SUM * np.where(d > 0, tau * d, (1 - tau) * d)


def _synthetic(tmp_path):
    """(data, p): spikes of 6 DA neurons and 10 D1 MSNs as `collect` would return them.

    On analysed trials a DA neuron fires floor(x + (m + 0.5)/M) evenly spaced spikes in
    the response window (x = window length x (baseline + hinge(size)), m the trial's
    rank among the M analysed trials of its size): the mean count per size is
    round(M x)/M, within 0.5/M spikes of x (Hermite's identity), so each size's mean
    response is exact to 0.5/(M x window) = 0.056 Hz. Training trials get the opposite
    response, so that including them would move every reversal point.
    """
    p = _prepare(
        {
            "n_trials": str(N_TRIALS),
            "train_fraction": str(TRAIN),
            "response_window": "0,0.5",
            "splits": "20",
            "channels": "5",
            "analysed": "all",  # cued and uncued trials (the cued default: its own test)
            "analysis_space": "size",  # linear neurons (the utility space: its own test)
        },
        tmp_path,
    )
    size = np.arange(N_TRIALS) % len(dp.SIZES)
    cue = np.where(np.arange(N_TRIALS) % 2 == 0, 0, -1)
    analysed = np.arange(N_TRIALS) >= math.ceil(TRAIN * N_TRIALS)
    T, us = float(p["trial_len"]), float(p["cs_time"] + p["us_delay"])
    w0, w1 = p["window"]
    i_all, t_all = [], []
    n_da = 6
    for n in range(n_da):
        c, tau = NEURONS.get(n, (1.0, 0.5))
        rank = np.zeros(len(dp.SIZES), int)
        m_per = np.bincount(size[analysed], minlength=len(dp.SIZES))
        for k in range(N_TRIALS):
            reward = k * T + us
            s = dp.SIZES[size[k]]
            resp = _hinge(s, c, tau) if analysed[k] else -_hinge(s, c, tau)
            if n == LESIONED:
                resp = 0.0  # silent-ish, kept in the group like a lesioned neuron
            x = (w1 - w0) * (BASE_HZ + resp)
            m, M = rank[size[k]], m_per[size[k]]
            count = int(np.floor(x + (m + 0.5) / M)) if analysed[k] else int(round(x))
            if analysed[k]:
                rank[size[k]] += 1
            t = np.concatenate(
                [_evenly(reward - 1.0, reward, BASE_HZ), _evenly(reward + w0, reward + w1, count)]
            )
            i_all.append(np.full(t.size, n))
            t_all.append(t)
    i_da, t_da = np.concatenate(i_all), np.concatenate(t_all)
    order = np.argsort(t_da, kind="stable")  # a monitor's order: by time, neurons mixed
    # D1 MSNs: 10 neurons, 2 per channel; on cued analysed trials channel c fires 1 + (c + 1)
    # evenly spaced spikes in the cue period, and every trial one spike before the odour
    d1_channel = channel_of(10, 5)
    cs_t = np.arange(N_TRIALS) * T + float(p["cs_time"])
    ud = float(p["us_delay"])
    i_d1, t_d1 = [], []
    for n in range(10):
        ch = d1_channel[n]
        for k in range(N_TRIALS):
            extra = (ch + 1) if (cue[k] >= 0 and analysed[k]) else 20  # others: noise
            t = np.concatenate([[cs_t[k] - 0.5], _evenly(cs_t[k] + 0.2, cs_t[k] + ud, 1 + extra)])
            i_d1.append(np.full(t.size, n))
            t_d1.append(t)
    i_d1, t_d1 = np.concatenate(i_d1), np.concatenate(t_d1)
    o1 = np.argsort(t_d1, kind="stable")
    # the other populations (read by the tonic-rate metrics): 2 neurons at a regular 2 Hz
    t_other = np.repeat(np.arange(0.25, N_TRIALS * T, 0.5), 2)
    other = (np.tile([0, 1], t_other.size // 2), t_other)
    data = {
        "spikes_vta_da": (i_da[order], t_da[order]),
        "spikes_str_d1": (i_d1[o1], t_d1[o1]),
        "trial_cue": cue,
        "trial_size": size,
        "trial_outcome": np.full(N_TRIALS, pv.REWARD),
        "sizes": {"vta_da": n_da, "vta_gaba": 2, "drn_5ht": 2, "str_d1": 10, "str_d2": 2},
        "lesioned_da": np.array([LESIONED], dtype=np.int32),
        # 5 channels of taus 0.2..0.8: each alive neuron in the channel of its own tau
        # (the lesioned neuron 3 shares channel 2), so reading da_channel by position
        # rather than by neuron index would give tied design taus
        "da_channel": np.array([0, 1, 2, 2, 3, 4], dtype=np.int32),
        "d1_channel": d1_channel.astype(np.int32),
        "channel_tau": np.linspace(0.2, 0.8, 5),
    }
    for pop in ("vta_gaba", "drn_5ht", "str_d2"):
        data[f"spikes_{pop}"] = other
    return data, p


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return _synthetic(tmp_path_factory.mktemp("syn"))


def test_neuron_trials_leave_out_lesioned_neurons_and_training_trials(synthetic):
    """neuron_trials(): one entry per alive DA neuron (the lesioned one is left out), the
    analysed trials only (after train_fraction), responses = window rate minus the rate
    of the second before, and the baseline rate of each neuron."""
    data, p = synthetic
    cells, index, base = dp.neuron_trials(data, p)
    assert index.tolist() == [0, 1, 2, 4, 5]
    assert len(cells) == 5
    n_analysed = N_TRIALS - math.ceil(TRAIN * N_TRIALS)
    analysed_sizes = np.asarray(dp.SIZES)[data["trial_size"][-n_analysed:]]
    np.testing.assert_allclose(base, BASE_HZ)
    w = p["window"][1] - p["window"][0]
    for (sizes, resp), n in zip(cells, index, strict=True):
        np.testing.assert_array_equal(sizes, analysed_sizes)
        c, tau = NEURONS[n]
        for s in dp.SIZES:
            mean = resp[sizes == s].mean()
            # the count's mean per size is within 0.5/M spikes of its design value
            assert abs(mean - _hinge(s, c, tau)) <= 0.5 / 18 / w + 1e-9, (n, s)


def test_analyse_recovers_reversal_points_and_asymmetries(synthetic):
    """analyse(): the hinge fit gives back each neuron's reversal point and tau-hat, in
    the design's order. Tolerance: each size's mean response is exact to 0.056 Hz
    (`_synthetic`), and the shallowest slope near a reversal point is 10 x 0.2 = 2 Hz/ul,
    so the zero crossing moves by at most ~0.03 ul plus the fit's 0.01 ul grid; 0.1 ul
    and 0.03 in tau leave room and still fail for a swapped or shifted neuron."""
    data, p = synthetic
    res = dp.analyse(data, p)
    assert res["index"].tolist() == [0, 1, 2, 4, 5]
    design_c = np.array([NEURONS[n][0] for n in res["index"]])
    design_tau = np.array([NEURONS[n][1] for n in res["index"]])
    np.testing.assert_allclose(res["reversal"], design_c, atol=0.1)
    np.testing.assert_allclose(res["tau_hat"], design_tau, atol=0.03)
    assert np.all(np.diff(res["tau_hat"]) > 0)
    assert np.all(np.diff(res["reversal"]) > 0)
    split = res["split"]
    assert split is not None and len(split.r) == p["splits"]
    assert split.median > 0.9  # tau-hat and reversal point rise together in the design


def test_metrics_on_synthetic_data(synthetic):
    """metrics(): counts of analysed neurons and trials, the reversal points' median,
    the design-tau / reversal correlation (design tau via da_channel) and the channels'
    values V_k (cue-period D1 rate above the pre-odour second, cued analysed trials)."""
    data, p = synthetic
    m = dp.metrics(data, p)
    assert m["n_neurons_analysed"] == 5
    assert m["n_trials_analysed"] == N_TRIALS - math.ceil(TRAIN * N_TRIALS)
    assert m["reversal_median"] == pytest.approx(4.0, abs=0.1)
    # the alive neurons' design taus (via da_channel) rise with their reversal points
    assert m["spearman_design_tau_reversal"] == pytest.approx(1.0)
    values = dp.channel_values(data, p)
    ud = float(p["us_delay"])
    # channel c: (c + 2) spikes in the 1.3 s cue window, 1 in the second before
    np.testing.assert_allclose(values, (np.arange(5) + 2) / (ud - 0.2) - 1.0)
    assert m["value_low"] == pytest.approx(values[0]) and m["value_high"] == pytest.approx(
        values[-1]
    )
    assert m["spearman_tau_value"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# the p value
# ---------------------------------------------------------------------------------------


def _fisher_p(r, n):
    """Two-sided p of Fisher's z, from scipy's normal survival function."""
    from scipy.stats import norm

    return 2 * norm.sf(abs(np.arctanh(r)) * np.sqrt(n - 3))


@pytest.mark.parametrize(("r", "n"), [(0.5, 12), (-0.5, 12), (0.3, 40), (0.9, 7), (0.05, 1000)])
def test_pearson_p_matches_fishers_z(r, n):
    """_pearson_p: two-sided, symmetric in the sign of r, equal to Fisher's z."""
    assert dp._pearson_p(r, n) == pytest.approx(_fisher_p(r, n), rel=1e-9)


def test_pearson_p_known_cases():
    """_pearson_p: r = 0 gives 1; r = 0.6 over 100 pairs gives < 1e-6; r = 1 gives a
    finite 0-ish p; too few pairs or a NaN r give NaN; r = 0.5 at n = 12 is about 0.0994."""
    assert dp._pearson_p(0.0, 50) == pytest.approx(1.0)
    assert dp._pearson_p(0.6, 100) < 1e-6
    assert 0 <= dp._pearson_p(1.0, 30) < 1e-12
    assert math.isnan(dp._pearson_p(0.5, 3))
    assert math.isnan(dp._pearson_p(float("nan"), 30))
    assert dp._pearson_p(0.5, 12) == pytest.approx(0.0994, abs=5e-4)


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"tau_low": "0.9", "tau_high": "0.1"}, "tau_low"),
        ({"tau_low": "0"}, "tau_low"),  # outside (0, 1): alpha+ would be 0
        ({"tau_high": "1"}, "tau_high"),
        ({"response_window": "0,2"}, "response_window"),  # 1 + 1.5 + 2 s > 4 s trials
        ({"response_window": "0.3,0.1"}, "response_window"),
        ({"us_delay": "0.2s", "cs_time": "0.5s"}, "us_delay"),  # < 1 s of baseline
        ({"reward_gain": "0"}, "reward_gain"),
        ({"reward_gain": "9"}, "reward_gain"),  # the input would saturate
        ({"dip_gain": "0"}, "dip_gain"),
        ({"dip_gain": "11"}, "dip_gain"),
        ({"pause_gain": "0"}, "pause_gain"),
        ({"pause_gain": "5"}, "pause_gain"),
        ({"learning_rate": "0"}, "learning_rate"),
        ({"learning_rate": "11"}, "learning_rate"),
        ({"d1_factor": "0"}, "d1_factor"),
        ({"d1_factor": "5"}, "d1_factor"),
        ({"d1_factor": "1.5"}, "d1_factor"),
        ({"gaba_factor": "0"}, "gaba_factor"),
        ({"gaba_factor": "9"}, "gaba_factor"),
        ({"da_factor": "0"}, "da_factor"),
        ({"da_factor": "9"}, "da_factor"),
        ({"d2_fraction": "0"}, "d2_fraction"),
        ({"d2_fraction": "1.5"}, "d2_fraction"),
        ({"d2_fraction": "0.005"}, "d2_fraction: 10 channels need at least as many D2 MSNs"),
        ({"tag_delay": "100ms"}, "tag_delay"),  # needs eligibility=pre
        ({"expectation_gain": "0"}, "expectation_gain"),
        ({"expectation_slope": "1.5"}, "expectation_slope"),
        ({"learning_asymmetry": "-0.1"}, "learning_asymmetry"),
        ({"learning_asymmetry": "1.5"}, "learning_asymmetry"),
        ({"eligibility": "pre", "tag_delay": "-1ms"}, "tag_delay"),
        ({"da_timescale_sd": "-0.1"}, "da_timescale_sd"),
        ({"da_timescale_sd": "0.6"}, "da_timescale_sd"),
        ({"da_bias_sd": "-1mV"}, "da_bias_sd"),
    ],
)
def test_bad_protocol_input_names_the_field(params, needle, tmp_path):
    """prepare(): bad protocol parameters raise ParamError whose message starts with the
    offending field."""
    with pytest.raises(ParamError) as e:
        _prepare(params, tmp_path)
    assert str(e.value).startswith(needle), str(e.value)


def test_more_channels_than_da_neurons_is_refused(tmp_path):
    """critic_channels above a population's size at the scale is refused: validate()
    raises a ValueError naming critic_channels, and prepare() a ParamError (5 DA neurons
    at scale 0.05, 6 channels); 5 channels are accepted."""
    P = RewardCircuitParams(scale=0.05, critic="distributional", critic_channels=6)
    with pytest.raises(ValueError, match="critic_channels"):
        P.validate()
    P.with_(critic_channels=5).validate()
    RewardCircuitParams(scale=0.05, critic_channels=6).validate()  # classical: unused
    with pytest.raises(ParamError, match="channels"):
        _prepare({"scale": "0.05", "channels": "6"}, tmp_path)
    _prepare({"scale": "0.05", "channels": "5"}, tmp_path)


def test_fixed_projection_names_cover_the_critic_projections():
    """CRITIC_PROJECTIONS name existing fixed projections (a typo would silently leave a
    projection unrestricted)."""
    names = {row.name for row in FIXED_PROJECTIONS}
    assert set(CRITIC_PROJECTIONS) <= names


def test_the_default_analyses_the_cued_trials_only(tmp_path):
    """analysed=cued (the default): the responses are those of the cued trials after
    training, the same as the 'all' analysis restricted to them."""
    data, p = _synthetic(tmp_path)
    cued = dict(p, analysed="cued")
    cells_all, index_all, _ = dp.neuron_trials(data, p)
    cells_cued, index_cued, _ = dp.neuron_trials(data, cued)
    np.testing.assert_array_equal(index_all, index_cued)
    after = np.arange(len(data["trial_cue"])) >= int(np.ceil(p["train_fraction"] * N_TRIALS))
    keep = (np.asarray(data["trial_cue"]) >= 0)[after]
    assert 0 < keep.sum() < keep.size
    for (s_all, r_all), (s_cued, r_cued) in zip(cells_all, cells_cued, strict=True):
        np.testing.assert_array_equal(s_cued, s_all[keep])
        np.testing.assert_array_equal(r_cued, r_all[keep])


# ---------------------------------------------------------------------------------------
# the 10/50/90 % cue task: the probability protocol with the distributional critic
# ---------------------------------------------------------------------------------------
PROB_DIST = {"critic": "distributional", "probabilities": "0.1,0.5,0.9", "n_trials": "60"}


def _prepare_prob(params, tmp_path):
    return runner.prepare("probability", params, 1, "numpy", tmp_path / "run", True)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"probabilities": "0.1,0.9"}, "probabilities"),
        ({"probabilities": "0.9,0.5,0.1"}, "probabilities"),
        ({"tau_low": "0", "tau_high": "0.8"}, "tau_low"),
        ({"tau_low": "0.7", "tau_high": "0.3"}, "tau_low"),
        ({"scale": "0.05", "channels": "6"}, "channels"),
        ({"channels": "1"}, "channels"),
        ({"dip_gain": "0"}, "dip_gain"),
        ({"dip_gain": "12"}, "dip_gain"),
        ({"pause_gain": "-1"}, "pause_gain"),
        ({"learning_rate": "0"}, "learning_rate"),
        ({"learning_rate": "-1"}, "learning_rate"),
        ({"d1_factor": "0"}, "d1_factor"),
        ({"tag_delay": "100ms"}, "tag_delay"),
        ({"cue_window": "0.2,0.1"}, "cue_window"),
        ({"cue_window": "0,0.15,0.3"}, "cue_window"),
        ({"cue_window": "0,5"}, "cue_window"),  # past the reward
        ({"expectation_slope": "-2"}, "expectation_slope"),
        ({"learning_asymmetry": "2"}, "learning_asymmetry"),
        ({"d2_fraction": "0.005"}, "d2_fraction"),
    ],
)
def test_probability_with_the_distributional_critic_refuses_bad_input(params, needle, tmp_path):
    with pytest.raises(ParamError) as e:
        _prepare_prob({**PROB_DIST, **params}, tmp_path)
    assert str(e.value).startswith(needle), str(e.value)


def test_the_critics_hypotheses_reach_the_metadata_only_with_the_distributional_critic(tmp_path):
    asym, own, dip, pre, delay, matched, plastic, pause = CRITIC_HYPOTHESES

    def listed(module, p):
        return set(module.hypotheses(p)) & set(CRITIC_HYPOTHESES)

    def with_dip(p, kept):  # the dip gain's hypothesis is listed when the gain is not 1
        return kept | ({dip} if p["dip_gain"] != 1 else set())

    module, p, _, _ = _prepare_prob(PROB_DIST, tmp_path)
    assert listed(module, p) == with_dip(p, {asym, own})
    module, p, _, _ = _prepare_prob({"probabilities": "0.1,0.5,0.9"}, tmp_path)
    assert not listed(module, p)
    module, p, _, _ = runner.prepare("distributional", {}, 1, "numpy", tmp_path / "d", True)
    assert listed(module, p) == with_dip(p, {asym, own})
    # the controls leave out what they switch off: no asymmetry (classical), no own
    # compartment (uncoupled)
    for control, kept in (("classical", own), ("uncoupled", asym)):
        for gain in ("1", "2"):
            params = {"control": control, "dip_gain": gain}
            module, p, _, _ = runner.prepare(
                "distributional", params, 1, "numpy", tmp_path / "d", True
            )
            assert listed(module, p) == with_dip(p, {kept})
    assert dip in listed(module, p)  # dip_gain=2
    assert pre not in listed(module, p)
    module, p, _, _ = runner.prepare(
        "distributional", {"eligibility": "pre"}, 1, "numpy", tmp_path / "e", True
    )
    assert listed(module, p) == with_dip(p, {asym, own, pre})
    module, p, _, _ = runner.prepare(
        "distributional",
        {"eligibility": "pre", "tag_delay": "100ms"},
        1,
        "numpy",
        tmp_path / "f",
        True,
    )
    assert listed(module, p) == with_dip(p, {asym, own, pre, delay})
    # the expectation matched to the asymmetry: listed where the channels' taus differ
    for control, kept in (("none", {asym, own, matched}), ("classical", {own})):
        params = {"control": control, "expectation_slope": "0.3"}
        module, p, _, _ = runner.prepare("distributional", params, 1, "numpy", tmp_path / "g", True)
        assert listed(module, p) == with_dip(p, kept)
    module, p, _, _ = _prepare_prob({**PROB_DIST, "expectation_slope": "0.3"}, tmp_path)
    assert matched in listed(module, p)
    # the pause gain: listed when it is not 1, in every control (all DA neurons have it)
    assert pause not in listed(module, p)
    for control in dp.CONTROLS:
        params = {"control": control, "pause_gain": "1.5"}
        module, p, _, _ = runner.prepare("distributional", params, 1, "numpy", tmp_path / "k", True)
        assert pause in listed(module, p)
    module, p, _, _ = _prepare_prob({**PROB_DIST, "pause_gain": "1.5"}, tmp_path)
    assert pause in listed(module, p)
    # the asymmetry of plasticity: listed where the channels' taus differ
    # (the uncoupled control's shared error leaves every channel's plasticity symmetric)
    for control, kept in (
        ("none", {asym, own, plastic}),
        ("classical", {own}),
        ("uncoupled", {asym}),
    ):
        params = {"control": control, "learning_asymmetry": "0.5"}
        module, p, _, _ = runner.prepare("distributional", params, 1, "numpy", tmp_path / "h", True)
        assert listed(module, p) == with_dip(p, kept)
    module, p, _, _ = _prepare_prob({**PROB_DIST, "learning_asymmetry": "0.5"}, tmp_path)
    assert plastic in listed(module, p)


def _optimism_data(p, design):
    """DA cue responses by design: 5 Hz in the second before the CS, and round(3 (5 + 10
    level)) spikes in the protocol's cue window after it, where the level is 0, the
    channel's design index or 1 for the 10, 50 and 90 % cues (plus one spike on odd
    trials)."""
    from dopasim.protocols import probability as pr

    n_trials, n_da, k = 120, 8, len(design)
    cues = np.arange(n_trials) % 3
    T, cs0 = float(p["trial_len"]), float(p["cs_time"])
    w0, w1 = p["cue_window_s"]
    i_all, t_all = [], []
    chan = channel_of(n_da, k)
    for n in range(n_da):
        for j in range(n_trials):
            cs = j * T + cs0
            level = (0.0, design[chan[n]], 1.0)[cues[j]]
            count = int(round(3 * (5 + 10 * level))) + (j % 2)
            t = np.concatenate([_evenly(cs - 1.0, cs, 5), _evenly(cs + w0, cs + w1, count)])
            i_all.append(np.full(t.size, n))
            t_all.append(t)
    i, t = np.concatenate(i_all), np.concatenate(t_all)
    order = np.argsort(t, kind="stable")
    data = {
        "spikes_vta_da": (i[order], t[order]),
        "trial_cue": cues,
        "sizes": {"vta_da": n_da},
        "lesioned_da": np.array([], dtype=np.int32),
        "da_channel": chan.astype(np.int32),
        "channel_tau": np.linspace(0.2, 0.8, k),
    }
    return pr, data


def test_optimism_metrics_recover_the_designed_indices(tmp_path):
    """optimism_metrics(): channels whose 50 % cue response sits at 0.2, 0.4, 0.6 and 0.8
    of the way from the 10 % to the 90 % response get those indices (to the spike
    counts' rounding, 0.06), rank with their design tau (Spearman 1), and the two
    outer channels on each side are significant in their direction."""
    _, p, _, _ = _prepare_prob(PROB_DIST, tmp_path)
    design = (0.2, 0.4, 0.6, 0.8)
    pr, data = _optimism_data(p, design)
    m = pr.optimism_metrics(data, p)
    for c, want in enumerate(design):
        assert abs(m[f"optimism_channel_{c}"] - want) < 0.06, (c, m[f"optimism_channel_{c}"])
    assert m["optimism_spearman"] == pytest.approx(1.0)
    assert m["optimism_p_channel_0"] < 0.05 and m["optimism_p_channel_3"] < 0.05
    assert m["optimism_n_above"] >= 1 and m["optimism_n_below"] >= 1
    assert m["optimism_neuron_spearman"] > 0.9


def test_optimism_figure_of_the_distributional_critic(tmp_path):
    """`probability` with the distributional critic adds optimism.png: the channels'
    indices against tau_k (here without D1 MSNs, so no value markers)."""
    _, p, _, _ = _prepare_prob(PROB_DIST, tmp_path)
    pr, data = _optimism_data(p, (0.2, 0.4, 0.6, 0.8))
    path = pr.optimism_figure(data, p, tmp_path / "optimism.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_value_metrics_read_the_channels_d1_values(tmp_path):
    """value_metrics(): each channel's value index comes from its own D1 MSNs' rates
    between the cue window and the outcome, minus the second before the CS (late half):
    D1 MSNs at 0, the design level or 1 above baseline for the 10, 50 and 90 % cues give
    the design indices (to the spike counts' rounding), whatever the DA neurons do; no
    D1 spikes or channels, no value metrics."""
    _, p, _, _ = _prepare_prob(PROB_DIST, tmp_path)
    design = (0.3, 0.45, 0.7)
    pr, data = _optimism_data(p, (0.5, 0.5, 0.5))  # DA neurons at 0.5 in every channel
    cues, n_d1 = data["trial_cue"], 9
    T, cs0, us = float(p["trial_len"]), float(p["cs_time"]), float(p["us_delay"])
    w0 = p["cue_window_s"][1]
    chan = channel_of(n_d1, len(design))
    i_all, t_all = [], []
    for n in range(n_d1):
        for j, c in enumerate(cues):
            cs = j * T + cs0
            level = (0.0, design[chan[n]], 1.0)[c]
            count = int(round((us - w0) * (20 + 200 * level)))
            t = np.concatenate([_evenly(cs - 1.0, cs, 2), _evenly(cs + w0, cs + us, count)])
            i_all.append(np.full(t.size, n))
            t_all.append(t)
    i, t = np.concatenate(i_all), np.concatenate(t_all)
    order = np.argsort(t, kind="stable")
    data["channel_tau"] = np.linspace(0.2, 0.8, len(design))
    data["da_channel"] = channel_of(len(data["da_channel"]), len(design)).astype(np.int32)
    data = {
        **data,
        "spikes_str_d1": (i[order], t[order]),
        "d1_channel": chan.astype(np.int32),
        "sizes": {**data["sizes"], "str_d1": n_d1},
    }
    m = pr.value_metrics(data, p)
    for c, want in enumerate(design):
        assert abs(m[f"value_index_channel_{c}"] - want) < 0.03, (c, m)
    assert m["value_index_spearman"] == pytest.approx(1.0)
    assert all(
        abs(pr.optimism_metrics(data, p)[f"optimism_channel_{c}"] - 0.5) < 0.06 for c in range(3)
    )
    # a cue window that ends at the outcome leaves no time to read the value in
    assert pr.value_metrics(data, {**p, "cue_window_s": (0.0, float(p["us_delay"]))}) == {}
    del data["spikes_str_d1"]
    assert pr.value_metrics(data, p) == {}


@pytest.mark.parametrize(
    "scenario",
    [
        "parkinson:loss=0.75",
        "parkinson:loss=0.75+medicated",
        "ssri:occupancy=0.8",
        "hunger:level=1",
    ],
)
def test_every_scenario_builds_the_distributional_critic(scenario, tmp_path):
    """Each scenario composes with the distributional critic (issue 23, item 5): the
    circuit builds, the lesion leaves some channels' DA neurons silent but every
    compartment is still read by its channel's synapses, and the run's metadata lists
    the critic's hypotheses (with the hunger scenario's flag where it applies)."""
    module, p, _, _ = runner.prepare(
        "distributional", CIRCUIT, 1, "numpy", tmp_path / "run", True, scenario
    )
    cparams = module.circuit_params(p)
    assert cparams.distributional
    _, circuit = _build(p, cparams)
    n_da = cparams.size("n_da")
    alive = np.asarray(circuit["vta_da"].alive[:])
    if scenario.startswith("parkinson"):
        assert alive.sum() == n_da - round(0.75 * n_da)
    else:
        assert alive.all()
    comps = np.asarray(circuit["ctx_d1"].da_channel[:])
    assert set(comps.tolist()) == set(range(K))
    assert any("distributional critic" in h for h in module.hypotheses(p))
    # the scenario's own flag (metadata "hypothesis"): hunger only
    assert is_hypothesis(parse_scenarios(scenario)) == scenario.startswith("hunger")


def test_the_utility_space_analysis_with_a_size_missing(tmp_path):
    """analysis_space=utility (the default) on the synthetic neurons with one size left
    out of the analysed trials: the fits are made in the population's utility
    (fitted_in_utility = 1), the reported utility is NaN for the missing size and rises
    over the others, the reversal points come back in ul, within the sizes, in the
    design's order, and the decoded distribution lies within the sizes' range."""
    data, p = _synthetic(tmp_path)
    data = dict(data)
    cue = np.asarray(data["trial_cue"]).copy()
    cue[np.asarray(data["trial_size"]) == 2] = -1  # 1.2 ul: only uncued, not analysed
    cue[np.asarray(data["trial_size"]) != 2] = 0
    data["trial_cue"] = cue
    q = dict(p, analysed="cued", analysis_space="utility")
    m = dp.metrics(data, q)
    assert m["fitted_in_utility"] == 1
    u = np.asarray(m["population_utility"], float)
    assert np.isnan(u[2]) and np.all(np.isfinite(np.delete(u, 2)))
    assert np.all(np.diff(np.delete(u, 2)) > 0)
    res = dp.analyse(data, q)
    design_c = np.array([NEURONS[n][0] for n in res["index"]])
    assert np.all((res["reversal"] >= 0.1) & (res["reversal"] <= 20))
    assert analysis_spearman(design_c, res["reversal"]) == pytest.approx(1.0)
    values, weights = dp._decoded(res["reversal_x"], res["tau_hat"], res["utility_map"])
    assert values.min() >= 0.1 - 1e-9 and values.max() <= 20 + 1e-9
    assert weights.sum() == pytest.approx(1.0)
    assert dp.metrics(data, dict(q, analysis_space="size"))["fitted_in_utility"] == 0


def analysis_spearman(x, y):
    from dopasim import analysis

    return analysis.spearman_rho(np.asarray(x, float), np.asarray(y, float))


def test_the_critics_dip_gain_weights_dips_in_the_rule(p_tiny):
    """critic_dip_gain g: a distributional critic's corticostriatal synapses integrate
    the rectified phasic term with gains (1, g) in both receptor classes (combined with
    da_phasic_epsilon when that is set); g = 1 and the classical critic keep the linear
    rule's code."""
    P = dp.circuit_params(p_tiny).with_(critic_dip_gain=3.0)
    _, c = _build(p_tiny, P)
    pools = c["pools"]
    assert "rect_d1" in pools.variables and len(pools) == K
    for cls in ("d1", "d2"):
        assert np.all(np.asarray(getattr(pools, f"gb_{cls}")[:]) == 1.0)
        assert np.all(np.asarray(getattr(pools, f"gd_{cls}")[:]) == 3.0)
    # the transmitters (one per compartment and class) carry the same gains
    for cls in ("d1", "d2"):
        (vt,) = [o for o in c[f"str_{cls}"].contained_objects if o.name == f"str_{cls}_da"]
        assert len(vt) == K
        assert np.all(np.asarray(vt.da_gb[:]) == 1.0)
        assert np.all(np.asarray(vt.da_gd[:]) == 3.0)
    # a dip of the compartment's [DA] below its running mean counts 3 times
    pools.da = 10 * nmolar
    pools.da_mean = 20 * nmolar
    Network(pools).run(P.dt)
    rect = np.asarray(pools.rect_d1[:] / nmolar)
    dip = np.asarray((pools.da_mean[:] - pools.da[:]) / nmolar)
    assert rect == pytest.approx(-3.0 * dip, rel=1e-6)
    assert np.all(rect < -20)
    assert np.asarray(pools.rect_d2[:] / nmolar) == pytest.approx(-3.0 * dip, rel=1e-6)
    # g = 1 and the classical critic: no rectification in the generated code
    assert RewardCircuitParams().critic_dip_gain == 2.0  # the calibrated default
    for Q in (P.with_(critic_dip_gain=1.0), pv.circuit_params(p_tiny).with_(critic_dip_gain=3.0)):
        _, c0 = _build(p_tiny, Q)
        assert "rect_d1" not in c0["pools"].variables
    # combined with the receptor-specific term: gains multiply
    Q = P.with_(da_phasic_epsilon=0.5)
    _, c1 = _build(p_tiny, Q)
    assert np.all(np.asarray(c1["pools"].gd_d1[:]) == 1.5)
    assert np.all(np.asarray(c1["pools"].gb_d2[:]) == 0.5)
    assert np.all(np.asarray(c1["pools"].gd_d2[:]) == 3.0)
    for bad in (0.0, 11.0):
        with pytest.raises(ValueError, match="critic_dip_gain"):
            P.with_(critic_dip_gain=bad).validate()


def test_the_critics_learning_rate_scales_k_da_of_its_synapses(p_tiny):
    """critic_learning_rate r: a distributional critic's corticostriatal transmitters (both
    receptor classes, every compartment) integrate with r times the rule's k_da; the
    classical critic keeps the rule's rate whatever r says."""
    assert RewardCircuitParams().critic_learning_rate == 1.0  # the rule's rate
    assert dp.circuit_params(p_tiny).critic_learning_rate == 1.0
    for rate in (0.25, 1.0, 3.0):
        P = dp.circuit_params(p_tiny).with_(critic_learning_rate=rate)
        _, c = _build(p_tiny, P)
        for cls, sign in (("d1", 1), ("d2", -1)):
            (vt,) = [o for o in c[f"str_{cls}"].contained_objects if o.name == f"str_{cls}_da"]
            assert len(vt) == K
            g = vt.namespace["da_g"]
            assert float(g) == pytest.approx(sign * rate * float(P.rule.k_da), rel=1e-12)
    Q = pv.circuit_params(p_tiny).with_(critic_learning_rate=3.0)
    _, c0 = _build(p_tiny, Q)
    (vt,) = [o for o in c0["str_d1"].contained_objects if o.name == "str_d1_da"]
    assert float(vt.namespace["da_g"]) == pytest.approx(float(Q.rule.k_da), rel=1e-12)
    for bad in (0.0, 11.0):
        with pytest.raises(ValueError, match="critic_learning_rate"):
            P.with_(critic_learning_rate=bad).validate()


def test_a_presynaptic_eligibility_tags_the_critics_synapses_at_pre_spikes(p_tiny):
    """critic_eligibility='pre': both classes' corticostriatal synapses of the
    distributional critic lose their postsynaptic pathway and tag by CRITIC_PRE_TAG per
    presynaptic spike; 'stdp' (the default) keeps the window's code."""
    from dopasim.circuits.reward_circuit import CRITIC_PRE_TAG

    assert RewardCircuitParams().critic_eligibility == "stdp"
    P = dp.circuit_params(p_tiny)
    for elig, has_post in (("stdp", True), ("pre", False)):
        _, c = _build(p_tiny, P.with_(critic_eligibility=elig))
        for cls in ("d1", "d2"):
            syn = c[f"ctx_{cls}"]
            assert hasattr(syn, "post") is has_post, (elig, cls)
            if has_post:  # the window: depression at pre, potentiation at post spikes
                assert "A_plus*apre" in syn.post.code and "A_minus" in syn.pre.code
                assert syn.namespace["A_plus"] == P.rule.A_plus
            else:  # the spike's own tag, nothing from the MSN's trace
                assert syn.namespace["A_plus"] == CRITIC_PRE_TAG
                assert "c_e += kappa_r*(A_plus)" in syn.pre.code
                assert "A_minus" not in syn.pre.code and "apost" not in syn.pre.code
    with pytest.raises(ValueError, match="critic_eligibility"):
        P.with_(critic_eligibility="post").validate()


# ---------------------------------------------------------------------------------------
# the window counts of neuron_trials and channel_values (against the loops they replace)
# ---------------------------------------------------------------------------------------


def _loop_neuron_trials(data, p):
    """neuron_trials as it was: `distributional.responses` on each neuron's spike train."""
    from dopasim import distributional

    mask = dp._analysed(data, p)
    rewards = dp.reward_times(data, p)[mask]
    sizes = np.asarray(dp.SIZES)[np.asarray(data["trial_size"])[mask]]
    window = tuple(p["window"])
    out, index, base = [], [], []
    for k, spikes in pv.alive_spike_trains(data) if len(rewards) else ():
        resp = distributional.responses(spikes, rewards, window=window, baseline=(-1.0, 0.0))
        before = np.searchsorted(spikes, rewards) - np.searchsorted(spikes, rewards - 1.0)
        out.append((sizes, resp))
        index.append(k)
        base.append(float(before.mean()))
    return out, np.asarray(index, dtype=int), np.asarray(base)


def _loop_channel_values(data, p):
    """channel_values as it was: one sort and search of each channel's spikes."""
    i, t = data["spikes_str_d1"]
    chan = np.asarray(data["d1_channel"])
    k = int(chan.max()) + 1 if chan.size else 0
    mask = dp._after_training(data, p) & (np.asarray(data["trial_cue"]) >= 0)
    cs = pv.trial_times(data, p)[mask]
    if not len(cs):
        return np.full(k, np.nan)
    us = float(p["us_delay"])
    values = np.empty(k)
    for c in range(k):
        sel = np.sort(t[chan[i] == c])
        n_c = max(int(np.sum(chan == c)), 1)
        cue = (np.searchsorted(sel, cs + us) - np.searchsorted(sel, cs + 0.2)) / (us - 0.2)
        pre = np.searchsorted(sel, cs) - np.searchsorted(sel, cs - 1.0)
        values[c] = float(np.mean(cue - pre)) / n_c
    return values


def _random_spikes(synthetic, seed):
    """The synthetic run with random DA and D1 spikes, some exactly on the windows'
    edges and just before them (the windows are half-open), in time order as a monitor
    gives them."""
    data, p = synthetic
    data = dict(data)
    rng = np.random.default_rng(seed)
    cs = pv.trial_times(data, p)
    rewards = dp.reward_times(data, p)
    w0, w1 = p["window"]
    us = float(p["us_delay"])
    T = len(cs) * float(p["trial_len"])
    for pop, edges in (
        ("vta_da", (rewards + w0, rewards + w1, rewards - 1.0, rewards)),
        ("str_d1", (cs + 0.2, cs + us, cs - 1.0, cs)),
    ):
        edges = np.concatenate(edges)
        t = np.concatenate((rng.uniform(0, T, 30 * len(cs)), edges, np.nextafter(edges, -1)))
        n = data["sizes"][pop]
        i = rng.integers(0, n, t.size).astype(np.int32)
        order = np.argsort(t, kind="stable")
        data[f"spikes_{pop}"] = (i[order], t[order])
    return data, p


def _assert_same_trials(new, old):
    assert new[1].dtype == old[1].dtype and new[1].tolist() == old[1].tolist()
    np.testing.assert_array_equal(new[2], old[2])
    assert len(new[0]) == len(old[0])
    for (s_new, r_new), (s_old, r_old) in zip(new[0], old[0], strict=True):
        np.testing.assert_array_equal(s_new, s_old)
        np.testing.assert_array_equal(r_new, r_old)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("analysed", ["all", "cued"])
def test_window_counts_give_what_the_per_neuron_loops_gave(synthetic, seed, analysed):
    """neuron_trials and channel_values: exactly the responses, baselines and values of
    the loops over neurons and channels, on the synthetic run and on random spikes with
    some on the windows' edges; shuffled spikes give the same as the time-ordered."""
    for data, p in (synthetic, _random_spikes(synthetic, seed)):
        p = dict(p, analysed=analysed)
        _assert_same_trials(dp.neuron_trials(data, p), _loop_neuron_trials(data, p))
        np.testing.assert_array_equal(dp.channel_values(data, p), _loop_channel_values(data, p))
    ordered, p = _random_spikes(synthetic, seed)
    p = dict(p, analysed=analysed)
    shuffled = dict(ordered)
    for pop in ("vta_da", "str_d1"):
        i, t = ordered[f"spikes_{pop}"]
        perm = np.random.default_rng(seed).permutation(t.size)
        shuffled[f"spikes_{pop}"] = (i[perm], t[perm])
    _assert_same_trials(dp.neuron_trials(shuffled, p), dp.neuron_trials(ordered, p))
    np.testing.assert_array_equal(dp.channel_values(shuffled, p), dp.channel_values(ordered, p))


def test_no_analysed_trial_gives_no_cells(synthetic):
    data, p = synthetic
    q = dict(p, train_fraction=0.999)
    data = dict(data, trial_cue=np.full(len(data["trial_cue"]), -1))
    for p_ in (q, dict(p, analysed="cued")):
        _assert_same_trials(dp.neuron_trials(data, p_), _loop_neuron_trials(data, p_))
    assert np.all(np.isnan(dp.channel_values(data, p)))


def test_figures_fit_without_the_split_half_control(synthetic):
    """figures' fits: those of analyse, without the split-half control they do not draw."""
    data, p = synthetic
    res = dp.analyse(data, p)
    fits = dp._fits(p, dp.neuron_trials(data, p), split=False)
    assert fits["split"] is None and res["split"] is not None
    for key in ("index", "base", "reversal", "reversal_x", "tau_hat", "utility"):
        np.testing.assert_array_equal(fits[key], res[key])

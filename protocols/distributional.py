#!/usr/bin/env python
"""
Distributional dopamine: reward sizes, reversal points and asymmetries
======================================================================

Dabney W, Kurth-Nelson Z, Uchida N, Starkweather CK, Hassabis D, Munos R, Botvinick M
(2020) A distributional code for value in dopamine-based reinforcement learning. Nature
577:671-675. https://doi.org/10.1038/s41586-019-1924-6

The circuit runs with the distributional critic (`RewardCircuitParams.critic`): channels
of D1/D2 MSNs, VTA GABA and VTA DA neurons, each channel's DA neurons scaling positive
and negative deviations of their drive by alpha+ and alpha- (a hypothesis: the paper
measured the asymmetry, not its mechanism) and releasing into the pool compartment that
the channel's corticostriatal synapses read. Each trial gives one of seven reward sizes
(0.1, 0.3, 1.2, 2.5, 5, 10 and 20 ul) with the task's probabilities; every trial
(``cued_fraction``; the paper: half) is cued by an odour ``us_delay`` (1.5 s) before the
reward. The reward input's rate is
proportional to the reward's utility, normalised to a mean of 1 over the distribution:
``utility=measured`` uses the population response of the 40 recorded neurons to each
size (their released data; docs/distributional.md), ``utility=linear`` the size. Run it::

    dopasim run distributional
    dopasim run distributional --param control=classical     # symmetric channels
    dopasim run distributional --param control=uncoupled     # one shared DA compartment, symmetric plasticity

Per DA neuron (alive, trials after ``train_fraction``), as in the paper: the response on
a trial is the mean rate in ``response_window`` after the reward minus the mean rate in
the second before it; the reversal point is the size where the response changes sign
(hinge fit); the asymmetry tau-hat = alpha+/(alpha+ + alpha-) from the slopes above and
below it; the split-half control measures tau-hat on one half of the trials and the
reversal point on the other, over ``splits`` random splits. The window starts at the
modelled reward: the paper's 200-600 ms follows a licked juice, here the reward input
reaches DA neurons 20 ms after its onset and lasts ``outcome_dur``.

metrics.json
------------
spearman_tau_value
    Spearman correlation across channels between the design asymmetry tau_k and the
    channel's value V_k.
value_spread
    Standard deviation of V_k across channels (Hz).
value_low, value_high
    V_k of the least and the most optimistic channel (Hz).
spearman_design_tau_reversal
    Spearman correlation across DA neurons between the design tau of each neuron and its
    reversal point (all analysed trials).
split_half_r_median, split_half_r_p5, split_half_r_p95
    Pearson R across neurons of tau-hat (one half) against the reversal point (other
    half), over the random splits.
split_half_p
    Two-sided p of the median R for the number of neurons (Fisher's z, normal
    approximation).
reversal_reliability
    Median Pearson R between the two halves' reversal points.
reversal_median, reversal_q25, reversal_q75
    Reversal points across neurons (ul).
reversal_gaps_spanned
    How many gaps between adjacent reward sizes the interquartile range of the reversal
    points contains (whole or in part).
tau_hat_median, tau_hat_p10, tau_hat_p90
    Asymmetries tau-hat across neurons (all analysed trials).
baseline_tau_r
    Pearson R across neurons between the baseline rate and tau-hat.
n_neurons_analysed, n_trials_analysed
    DA neurons with a reversal point and tau-hat, and analysed trials.
fitted_in_utility, population_utility
    1 when reversal points and asymmetries were fitted in the population's utility
    (``analysis_space=utility`` and a utility that rises), 0 when in ul; the utility of
    each size (NaN for a size without analysed trials).
decoded_w1, uniform_w1, gaussian_w1
    1-Wasserstein distance (ul) between the reward distribution and the distribution
    decoded from the reversal points (expectile imputation at the neurons' tau-hat), a
    uniform distribution over the sizes' range and a moment-matched Gaussian.
"""

import math
from dataclasses import replace

import numpy as np
from brian2 import ms, mV, nmolar, second

from dopasim import analysis, distributional, plots
from dopasim.circuits.reward_circuit import DA_NEURON, ELIGIBILITIES, RewardCircuitParams
from dopasim.params import Param, ParamError
from dopasim.protocols import pavlovian as pv

SCENARIOS = True
NAME = "distributional"
SUMMARY = "Dabney 2020: DA neurons with different optimism code the reward distribution"
HEADLINE_METRICS = (
    "spearman_tau_value",
    "split_half_r_median",
    "reversal_median",
    "value_spread",
)
METRIC_RANGES = {
    "spearman_tau_value": (-1.0, 1.0),
    "spearman_design_tau_reversal": (-1.0, 1.0),
    "split_half_r_median": (-1.0, 1.0),
}

#: Reward sizes (ul) and their probabilities in the task of Dabney et al. 2020.
SIZES = (0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)
PROBS = (0.066, 0.091, 0.148, 0.155, 0.312, 0.151, 0.077)
#: The population's measured utility of each size: the mean response of the 40 neurons
#: of Dabney et al. 2020 (their released per-trial responses, Fig. 2b data), scaled to
#: 0 at the smallest and 1 at the largest size.
UTILITY_MEASURED = (0.0, 0.026, 0.047, 0.111, 0.208, 0.586, 1.0)
CONTROLS = ("none", "classical", "uncoupled")
#: The distributional critic's dip gain (also a parameter of `probability`).
DIP_GAIN = Param(
    "dip_gain",
    RewardCircuitParams.critic_dip_gain,
    "float",
    "distributional critic: weight of DA dips against bursts in its corticostriatal "
    "plasticity (RewardCircuitParams.critic_dip_gain; a hypothesis; 1: the linear rule)",
    low=0.0,
    low_open=True,
    high=10.0,
)

#: The distributional critic's compensation of the DA neurons' shallower pauses (also a
#: parameter of `probability`).
PAUSE_GAIN = Param(
    "pause_gain",
    RewardCircuitParams.critic_pause_gain,
    "float",
    "distributional critic: extra gain of the DA neurons for negative deviations of their "
    "drive, on top of alpha- (RewardCircuitParams.critic_pause_gain; a hypothesis; 1: none)",
    low=0.0,
    low_open=True,
    high=4.0,
)

#: The distributional critic's asymmetry of plasticity (also a parameter of
#: `probability`).
LEARNING_ASYMMETRY = Param(
    "learning_asymmetry",
    RewardCircuitParams.critic_learning_asymmetry,
    "float",
    "distributional critic: channel k's synapses weight bursts by 1 + a (2 tau_k - 1) and "
    "dips by 1 - a (2 tau_k - 1) (RewardCircuitParams.critic_learning_asymmetry; a "
    "hypothesis; 0: none; all 1 in the classical and uncoupled controls)",
    low=0.0,
    high=1.0,
)

#: The distributional critic's learning rate (also a parameter of `probability`).
LEARNING_RATE = Param(
    "learning_rate",
    RewardCircuitParams.critic_learning_rate,
    "float",
    "distributional critic: its corticostriatal learning rate relative to the rule's k_da "
    "(RewardCircuitParams.critic_learning_rate; a calibration knob; 1: the rule's rate)",
    low=0.0,
    low_open=True,
    high=10.0,
)

#: What tags the distributional critic's synapses (also a parameter of `probability`).
ELIGIBILITY = Param(
    "eligibility",
    RewardCircuitParams.critic_eligibility,
    "choice",
    "distributional critic: what tags its corticostriatal synapses, 'stdp' (the rule's "
    "window) or 'pre' (presynaptic spikes only, Potjans et al. 2011's critic; a "
    "hypothesis) (RewardCircuitParams.critic_eligibility)",
    choices=ELIGIBILITIES,
)

#: More D1 MSNs in a distributional critic's channels (also a parameter of `probability`).
D1_FACTOR = Param(
    "d1_factor",
    1,
    "int",
    "distributional critic: D1 MSNs relative to the base circuit's, with their weights "
    "onto VTA DA and GABA neurons divided by the same factor (the same mean value drive "
    "from more, smaller inputs; see with_d1_factor)",
    low=1,
    high=4,
)

#: More VTA GABA neurons in a distributional critic's channels (also a parameter of
#: `probability`).
GABA_FACTOR = Param(
    "gaba_factor",
    1,
    "int",
    "distributional critic: VTA GABA neurons relative to the base circuit's, with their "
    "weight onto VTA DA neurons divided by the same factor (the same mean expectation "
    "from more, smaller inputs; see with_gaba_factor)",
    low=1,
    high=8,
)


#: More VTA DA neurons in a distributional critic's channels (also a parameter of
#: `probability`).
DA_FACTOR = Param(
    "da_factor",
    1,
    "int",
    "distributional critic: VTA DA neurons relative to the base circuit's, each releasing "
    "1/f as much per spike and with 1/f of its weight onto 5-HT neurons (the same [DA] "
    "and 5-HT input from more neurons; see with_da_factor)",
    low=1,
    high=8,
)

#: Fewer D2 MSNs (also a parameter of `probability`).
D2_FRACTION = Param(
    "d2_fraction",
    1.0,
    "float",
    "D2 MSNs relative to the base circuit's: they project nowhere in these protocols (the "
    "NoGo side of an actor that they do not have), so fewer of them shorten the run and "
    "change only their own read-out (d2_rate_hz); at least one per channel",
    low=0.0,
    high=1.0,
    low_open=True,
)

#: Each channel's expectation gain (also parameters of `probability`):
#: ``expectation_gain * (1 + expectation_slope * (2 tau_k - 1))`` times ``j_d1_gaba``
#: (`RewardCircuitParams.expectation_gains`).
EXPECTATION_PARAMS = (
    Param(
        "expectation_gain",
        RewardCircuitParams.critic_expectation_gain,
        "float",
        "distributional critic: each channel's D1 -> VTA GABA weight (its expectation) "
        "relative to the circuit's (RewardCircuitParams.critic_expectation_gain)",
        low=0.0,
        low_open=True,
        high=4.0,
    ),
    Param(
        "expectation_slope",
        RewardCircuitParams.critic_expectation_slope,
        "float",
        "distributional critic: change of the expectation gain with 2 tau_k - 1, stronger "
        "in optimistic channels when positive (RewardCircuitParams."
        "critic_expectation_slope; a hypothesis)",
        low=-1.0,
        high=1.0,
    ),
)

_CIRCUIT = RewardCircuitParams()
#: The DA neurons' asymmetric scaling and the synapses' rectified signal (also
#: parameters of `probability`): circuit fields, so that every calibration of
#: docs/distributional-calibration.md can be reproduced from the command line.
SIGNAL_PARAMS = (
    pv._q(
        "tau_drive_fast",
        _CIRCUIT.tau_drive_fast,
        ms,
        "distributional critic: fast filter of the DA drive whose deviations the asymmetry "
        "scales (RewardCircuitParams.tau_drive_fast; a hypothesis)",
        low=0,
        low_open=True,
    ),
    pv._q(
        "asym_threshold",
        _CIRCUIT.asym_threshold,
        mV,
        "distributional critic: deviation of the DA drive within which the asymmetry does "
        "not scale it (RewardCircuitParams.asym_threshold; a hypothesis)",
        low=0,
    ),
    pv._q(
        "rect_clip",
        _CIRCUIT.pools.rect_clip_value,
        nmolar,
        "distributional critic: clip of the running mean of the rectified DA signal its "
        "synapses read (NeuromodulatorPools.rect_clip; with dip_gain != 1)",
        low=0,
        low_open=True,
    ),
    pv._q(
        "base_clip",
        _CIRCUIT.pools.base_clip,
        nmolar,
        "distributional critic: clip of each [DA] sample in the running baseline its "
        "synapses subtract (NeuromodulatorPools.base_clip; with dip_gain 1)",
        low=0,
        low_open=True,
    ),
    pv._q(
        "tag_delay",
        _CIRCUIT.critic_tag_delay,
        ms,
        "distributional critic with eligibility=pre: a presynaptic spike tags its synapse "
        "this long after it arrives (RewardCircuitParams.critic_tag_delay; a hypothesis)",
        low=0,
    ),
)

#: Where the DA neurons' tonic rates differ (also parameters of `probability`): a spread
#: of the tonic drive shifts a neuron along the population's f-I curve, so that a faster
#: neuron's pauses grow more than its bursts (its tau-hat falls with its baseline); a
#: spread of the time scale scales the f-I curve, so that a neuron's pauses and bursts
#: both scale with its tonic rate (`LIFParams.tau_scale_sd`; DA neurons' responses are
#: scaled copies of one function, Eshel, Tian, Bukwich & Uchida 2016, Nat Neurosci
#: 19:479; the spread's cause is not modelled: a hypothesis). See docs/distributional-calibration.md.
DA_SPREAD_PARAMS = (
    pv._q(
        "da_bias_sd",
        DA_NEURON.i_bias_sd,
        mV,
        "spread (SD across neurons) of the VTA DA neurons' tonic drive (LIFParams.i_bias_sd)",
        low=0,
    ),
    Param(
        "da_timescale_sd",
        DA_NEURON.tau_scale_sd,
        "float",
        "spread (SD of the log) of the VTA DA neurons' time scale: each neuron's tau_m, "
        "t_ref and tau_ahp times its own factor, so its rates scale by the inverse "
        "(LIFParams.tau_scale_sd; a hypothesis)",
        low=0.0,
        high=0.5,
    ),
)


def check_taus(p):
    """Refuse channel asymmetries the critic cannot have (ParamError): tau_low above
    tau_high, or either outside (0, 1), where alpha+ or alpha- would be 0."""
    if p["tau_low"] > p["tau_high"]:
        raise ParamError(f"tau_low: {p['tau_low']:g} exceeds tau_high ({p['tau_high']:g})")
    for name in ("tau_low", "tau_high"):
        if not 0 < p[name] < 1:
            raise ParamError(f"{name}: {p[name]:g} is out of range; allowed: (0, 1)")


def check_signal(p):
    """Refuse a `SIGNAL_PARAMS` combination the circuit cannot build (ParamError)."""
    if float(p["tag_delay"]) > 0 and p["eligibility"] != "pre":
        raise ParamError(
            f"tag_delay: {p['tag_delay']} needs eligibility=pre (got {p['eligibility']}); "
            "allowed with eligibility=stdp: 0 ms"
        )


def with_signal(P, p):
    """``P`` with the `SIGNAL_PARAMS`, `EXPECTATION_PARAMS`, `DA_SPREAD_PARAMS` and
    `LEARNING_ASYMMETRY` of ``p``."""
    return with_da_spread(P, p).with_(
        critic_learning_asymmetry=p["learning_asymmetry"],
        critic_expectation_gain=p["expectation_gain"],
        critic_expectation_slope=p["expectation_slope"],
        tau_drive_fast=p["tau_drive_fast"],
        asym_threshold=p["asym_threshold"],
        critic_tag_delay=p["tag_delay"],
        pools=P.pools.with_(rect_clip=p["rect_clip"], base_clip=p["base_clip"]),
    )


def with_da_spread(P, p):
    """``P`` with the DA neurons' `DA_SPREAD_PARAMS` of ``p``."""
    return P.with_(da=P.da.with_(i_bias_sd=p["da_bias_sd"], tau_scale_sd=p["da_timescale_sd"]))


def da_spread_key(p):
    """What `DA_SPREAD_PARAMS` add to a build key: the time scale's variable ``k_tau``
    when its spread is above 0 (its values, like the drives, are data)."""
    return ("da-timescale",) if p["da_timescale_sd"] > 0 else ()


def with_d1_factor(P, factor):
    """``P`` with ``d1_factor`` f: n_d1 x f, j_d1_da / f and j_d1_gaba / f.

    Each DA and GABA neuron of a channel gets input from every D1 MSN of its channel
    (`RewardCircuitParams.critic`), so f times the MSNs at 1/f of the weight keep the
    mean drive (the value V) and shrink the effect of each single D1 spike on its own
    channel's DA (docs/distributional-calibration.md: that echo of a spike is the noise of a
    channel's learning signal). f is a whole number, so every channel keeps f times its
    MSNs. f = 1: ``P`` itself.
    """
    if factor == 1:
        return P
    return P.with_(n_d1=P.n_d1 * factor, j_d1_da=P.j_d1_da / factor, j_d1_gaba=P.j_d1_gaba / factor)


def with_gaba_factor(P, factor):
    """``P`` with ``gaba_factor`` f: n_gaba x f and j_gaba_da / f.

    Within a channel every DA neuron gets input from every GABA neuron of its channel
    (ten GABA neurons at twice the classical weight by default), so their shot noise is
    the largest part of the DA neurons' synaptic noise, which the asymmetric scaling
    rectifies (docs/distributional-calibration.md). f times the GABA neurons at 1/f of the weight
    keep the mean inhibition (the expectation) and divide its variance by f; each GABA
    neuron's own inputs are unchanged. f = 1: ``P`` itself.
    """
    if factor == 1:
        return P
    return P.with_(n_gaba=P.n_gaba * factor, j_gaba_da=P.j_gaba_da / factor)


def with_da_factor(P, factor):
    """``P`` with ``da_factor`` f: n_da x f and j_da_5ht / f.

    Each channel's DA neurons are its read-out: the optimism index and the reversal
    points are measured on their pooled responses, whose trial-to-trial noise shrinks
    with their number (a rodent VTA holds thousands of DA neurons, Nair-Roberts et al.
    2008, Neuroscience 152:1024; the base circuit's 100 are a sample). f times the
    neurons keep every DA neuron's inputs; the release per spike follows the number of
    neurons (`dopasim.models.pools.release_for`: the same tonic [DA], from smaller and
    more frequent release events) and the 5-HT neurons' DA input is divided by f. f = 1:
    ``P`` itself.
    """
    if factor == 1:
        return P
    return P.with_(n_da=P.n_da * factor, j_da_5ht=P.j_da_5ht / factor)


def with_d2_fraction(P, fraction):
    """``P`` with ``d2_fraction`` f: n_d2 x f (rounded). The D2 MSNs have no efferent
    synapse in the reward circuit (`FIXED_PROJECTIONS` starts none at ``str_d2``), so
    their number changes nothing upstream of their own spikes: the other populations'
    dynamics are the same in distribution (the connectivity stream draws fewer numbers
    for them, so not the same to the bit). f = 1: ``P`` itself."""
    if fraction == 1:
        return P
    return P.with_(n_d2=int(round(P.n_d2 * fraction)))


def with_factors(P, p):
    """``P`` with the population factors of ``p`` (d1_factor, gaba_factor, da_factor,
    d2_fraction)."""
    P = with_gaba_factor(with_d1_factor(P, p["d1_factor"]), p["gaba_factor"])
    return with_d2_fraction(with_da_factor(P, p["da_factor"]), p["d2_fraction"])


def check_sizes(p):
    """Refuse populations too small for the channels (ParamError): fewer DA neurons, or
    fewer D2 MSNs after ``d2_fraction``, than channels."""
    base = RewardCircuitParams(scale=p["scale"])
    d2 = with_d2_fraction(base, p["d2_fraction"]).size("n_d2")
    for name, what, size, also in (
        ("channels", "DA neurons", base.size("n_da"), ""),
        ("d2_fraction", "D2 MSNs", d2, f", d2_fraction {p['d2_fraction']:g}"),
    ):
        if p["channels"] > size:
            raise ParamError(
                f"{name}: {p['channels']} channels need at least as many {what} "
                f"({size} at scale {p['scale']:g}{also})"
            )


def critic_key(p):
    """What the distributional critic's parameters add to a build key: the rectified
    phasic term (dip gain other than 1 or an asymmetry of plasticity; the gains
    themselves are data), k_da (a constant of the code), the D1
    and GABA populations' sizes, the eligibility (the synapses' code) and the signal's
    parameters."""
    key = ("rectified",) if p["dip_gain"] != 1 or p["learning_asymmetry"] != 0 else ()
    if p["learning_rate"] != 1:
        key = (*key, f"rate{p['learning_rate']!r}")
    if p["d1_factor"] != 1:
        key = (*key, f"d1x{p['d1_factor']}")
    if p["gaba_factor"] != 1:
        key = (*key, f"gabax{p['gaba_factor']}")
    if p["da_factor"] != 1:
        key = (*key, f"dax{p['da_factor']}")
    if p["d2_fraction"] != 1:
        key = (*key, f"d2x{p['d2_fraction']!r}")
    if p["eligibility"] != "stdp":
        key = (*key, f"elig-{p['eligibility']}")
    for q in SIGNAL_PARAMS:
        if p[q.name] != q.default:
            key = (*key, f"{q.name}{float(p[q.name] / q.unit)!r}")
    for q in EXPECTATION_PARAMS:
        if p[q.name] != q.default:
            key = (*key, f"{q.name}{float(p[q.name])!r}")
    return key


PARAMS = [
    *(
        {
            "n_trials": Param("n_trials", 1700, "int", "number of trials", low=1),
            "trial_len": pv._q(
                "trial_len", 4 * second, second, "length of one trial", low=0, low_open=True
            ),
            "us_delay": pv._q(
                "us_delay",
                1.5 * second,
                second,
                "reward time after the odour",
                low=0,
                low_open=True,
            ),
            "membrane_noise": Param(
                "membrane_noise",
                "counter",
                "choice",
                "membrane noise: counter (a counter-based hash; the default here, about 2x "
                "faster per run) or xi (Brian2's white noise, the base circuit's default)",
                choices=pv.NOISE_SOURCES,
            ),
        }.get(p.name, p)
        for p in pv.COMMON_PARAMS
    ),
    Param("channels", 10, "int", "channels of the distributional critic", low=2),
    Param(
        "tau_low",
        0.2,
        "float",
        "lowest channel asymmetry tau",
        low=0.0,
        high=1.0,
        cite="Dabney et al. 2020 (tau-hat 10-90 %: 0.24-0.73)",
    ),
    Param(
        "tau_high",
        0.8,
        "float",
        "highest channel asymmetry tau",
        low=0.0,
        high=1.0,
        cite="Dabney et al. 2020 (tau-hat 10-90 %: 0.24-0.73)",
    ),
    Param(
        "control",
        "none",
        "choice",
        "none | classical (every channel tau 0.5) | uncoupled (one shared DA compartment, every channel's plasticity symmetric)",
        choices=CONTROLS,
    ),
    Param(
        "utility",
        "measured",
        "choice",
        "reward drive per size: measured (the recorded population's) | linear",
        choices=("measured", "linear"),
    ),
    Param(
        "reward_gain",
        1.0,
        "float",
        "reward input's rate relative to the classical circuit's reward "
        "(RewardCircuitParams.critic_reward_gain; a test of what sets the reversal points; "
        "above 8 the largest size's input would saturate at one spike per step)",
        low=0.0,
        low_open=True,
        high=8.0,
    ),
    DIP_GAIN,
    PAUSE_GAIN,
    LEARNING_ASYMMETRY,
    LEARNING_RATE,
    ELIGIBILITY,
    D1_FACTOR,
    GABA_FACTOR,
    DA_FACTOR,
    D2_FRACTION,
    *SIGNAL_PARAMS,
    *EXPECTATION_PARAMS,
    *DA_SPREAD_PARAMS,
    Param(
        "cued_fraction",
        1.0,
        "float",
        "fraction of trials with an odour (the model's uncued rewards are predicted by no "
        "state, so only cued trials are analysed by default)",
        low=0.0,
        high=1.0,
    ),
    Param(
        "connectivity",
        "fixed_indegree",
        "choice",
        "connection rule of the circuit: fixed_indegree (every neuron of a kind gets "
        "equally many inputs) | bernoulli (the base circuit's default)",
        choices=("fixed_indegree", "bernoulli"),
    ),
    Param(
        "analysis_space",
        "utility",
        "choice",
        "where reversal points and asymmetries are fitted: utility (the population's "
        "utility, from its mean response to each size, as Dabney et al.) | size (ul)",
        choices=("utility", "size"),
    ),
    Param(
        "train_fraction",
        0.25,
        "float",
        "first fraction of the trials left out of the analysis",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    Param(
        "response_window",
        "0,0.3",
        "str",
        "response window after the reward onset (s, 'start,stop')",
    ),
    Param("splits", 200, "int", "random splits of the split-half control", low=1),
    Param(
        "analysed",
        "cued",
        "choice",
        "trials whose reward responses are analysed: cued (the odour predicts the reward "
        "distribution) | all (uncued rewards are predicted by no state of the model)",
        choices=("cued", "all"),
    ),
]


def window_param(p, name):
    """The 'start,stop' window (s) of parameter ``name``; ParamError unless start < stop."""
    window = pv.float_list(p, name, 0.0, 10.0, "seconds")
    if len(window) != 2 or not window[0] < window[1]:
        raise ParamError(f"{name}: '{p[name]}' is not 'start,stop' with start < stop")
    return window


def check(p):
    pv.check_common(p)
    check_sizes(p)
    check_taus(p)
    check_signal(p)
    window = window_param(p, "response_window")
    if float(p["cs_time"] + p["us_delay"]) + window[1] > float(p["trial_len"]):
        raise ParamError(
            f"response_window: it ends after the trial (cs_time + us_delay + {window[1]:g} s "
            f"> trial_len = {p['trial_len']})"
        )
    if float(p["cs_time"] + p["us_delay"]) < 1.0:
        raise ParamError("us_delay: cs_time + us_delay leaves less than the 1 s baseline")
    p["window"] = window


def build_key(p):
    key = (*pv.build_key(p, 1), "distributional", p["channels"], p["control"])
    return (*key, p["connectivity"], *(critic_key(p) or ("linear",)), *da_spread_key(p))


def drives(utility):
    """The reward input's relative rate for each size: utility / its mean over the task."""
    u = np.asarray(UTILITY_MEASURED if utility == "measured" else SIZES, dtype=float)
    return u / float(np.dot(PROBS, u))


def trials(p, rng):
    n = p["n_trials"]
    size = rng.choice(len(SIZES), size=n, p=np.asarray(PROBS) / np.sum(PROBS))
    cued = rng.random(n) < p["cued_fraction"]
    return {
        "cue": np.where(cued, 0, -1),
        "outcome": np.full(n, pv.REWARD),
        "size": size,
        "probe": np.zeros(n, bool),
    }


def circuit_params(p):
    taus = (0.5, 0.5) if p["control"] == "classical" else (p["tau_low"], p["tau_high"])
    P = pv.circuit_params(
        p,
        critic="distributional",
        critic_channels=p["channels"],
        critic_tau_low=taus[0],
        critic_tau_high=taus[1],
        critic_da="shared" if p["control"] == "uncoupled" else "own",
        connectivity=p["connectivity"],
        critic_reward_gain=p["reward_gain"],
        critic_dip_gain=p["dip_gain"],
        critic_pause_gain=p["pause_gain"],
        critic_learning_rate=p["learning_rate"],
        critic_eligibility=p["eligibility"],
    )
    return with_signal(with_factors(P, p), p)


def stimulus(p, tr):
    """The standard schedule, with each reward's drive (`drives`) as its magnitude."""
    stim = pv.stimulus(p, tr, n_cues=1)
    per_trial = int(round(float(p["trial_len"] / pv.GRID)))
    trial = np.minimum(np.arange(len(stim.outcome)) // per_trial, len(tr["size"]) - 1)
    drive = drives(p["utility"])[np.asarray(tr["size"])[trial]]
    return replace(stim, magnitude=np.where(stim.outcome == pv.REWARD, drive, 0.0))


def build(p, rngs):
    tr = trials(p, rngs["inputs"])
    return pv.build(p, rngs, tr, n_cues=1, cparams=circuit_params(p), stim=stimulus(p, tr))


# ------------------------------------------------------------------------ analysis
def reward_times(data, p):
    return pv.trial_times(data, p) + float(p["us_delay"])


def _after_training(data, p):
    n = len(data["trial_cue"])
    return np.arange(n) >= int(np.ceil(p["train_fraction"] * n))


def _analysed(data, p):
    """The analysed trials: after training, and cued ones unless ``analysed=all``."""
    mask = _after_training(data, p)
    if p.get("analysed", "cued") == "cued":
        mask &= np.asarray(data["trial_cue"]) >= 0
    return mask


def _time_ordered(spikes):
    """``(i, t)`` of a spike monitor in time order (as recorded: kept as they are)."""
    i, t = (np.asarray(a) for a in spikes)
    if not analysis.in_time_order(t):
        order = np.argsort(t, kind="stable")
        i, t = i[order], t[order]
    return i, t


def _window_counts(i, t, labels, n, starts, stops):
    """Spikes of each label in each window ``[starts[j], stops[j])``: an (n, windows) int
    array, one contiguous row per label.

    ``t`` in time order; a spike of neuron ``i`` has label ``labels[i]`` (None: ``i``),
    spikes without a label in [0, n) are left out. Each window's spikes are a slice of
    the time-ordered spikes (``np.searchsorted``, as a neuron's own spike train would be
    searched), so the counts are those of a loop over the neurons, without the sort by
    neuron of all the run's spikes."""
    m = len(starts)
    lo = np.searchsorted(t, starts)
    length = np.maximum(np.searchsorted(t, stops) - lo, 0)
    window = np.repeat(np.arange(m), length)
    # the positions of the windows' spikes: lo[j], lo[j] + 1, ... for each window j
    pos = np.arange(int(length.sum())) + np.repeat(lo - (np.cumsum(length) - length), length)
    lab = i[pos].astype(np.int64)
    if labels is not None:
        lab = np.asarray(labels, dtype=np.int64)[lab]
    keep = (lab >= 0) & (lab < n)
    key = lab[keep] * m + window[keep]
    return np.bincount(key, minlength=n * m).reshape(n, m)


def neuron_trials(data, p):
    """[(sizes, responses)] of every alive DA neuron (analysed trials), their indices and
    baseline rates (Hz).

    The response on a trial is `distributional.responses` with the ``(-1, 0)`` s
    baseline: the count in the window over its length minus the count in the second
    before the reward; the counts come from `_window_counts`."""
    mask = _analysed(data, p)
    rewards = reward_times(data, p)[mask]
    sizes = np.asarray(SIZES)[np.asarray(data["trial_size"])[mask]]
    if not len(rewards):
        return [], np.asarray([], dtype=int), np.asarray([])
    w0, w1 = (float(w) for w in p["window"])
    i, t = _time_ordered(data["spikes_vta_da"])
    if t.size and not (np.isfinite(t[0]) and np.isfinite(t[-1])):  # as responses() refuses
        raise ParamError("spike_times: must be finite (no NaN or inf)")
    n = int(data["sizes"]["vta_da"])
    in_window = _window_counts(i, t, None, n, rewards + w0, rewards + w1)
    before = _window_counts(i, t, None, n, rewards - 1.0, rewards)  # the second before
    lesioned = set(np.asarray(data.get("lesioned_da", []), dtype=int).tolist())
    index = [k for k in range(n) if k not in lesioned]
    # rates: counts over the window's length and over the baseline's (1 s)
    out = [(sizes, in_window[k] / (w1 - w0) - before[k] / 1.0) for k in index]
    base = [float(before[k].mean()) for k in index]  # Hz
    return out, np.asarray(index, dtype=int), np.asarray(base)


def channel_values(data, p):
    """V_k: each channel's D1 rate in the cue period (0.2 s after the odour to the
    reward) minus its rate in the second before the odour, cued analysed trials (Hz)."""
    chan = np.asarray(data["d1_channel"])
    k = int(chan.max()) + 1 if chan.size else 0
    mask = _after_training(data, p) & (np.asarray(data["trial_cue"]) >= 0)
    cs = pv.trial_times(data, p)[mask]
    if not len(cs):
        return np.full(k, np.nan)
    us = float(p["us_delay"])
    i, t = _time_ordered(data["spikes_str_d1"])
    cue = _window_counts(i, t, chan, k, cs + 0.2, cs + us)
    pre = _window_counts(i, t, chan, k, cs - 1.0, cs)
    values = np.empty(k)
    for c in range(k):
        n_c = max(int(np.sum(chan == c)), 1)
        values[c] = float(np.mean(cue[c] / (us - 0.2) - pre[c])) / n_c
    return values


def _spearman(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    return float(analysis.spearman_rho(x[ok], y[ok]))


def _pearson_p(r, n):
    """Two-sided p of a Pearson R across n pairs (Fisher's z, normal approximation)."""
    if not np.isfinite(r) or n < 4:
        return float("nan")
    z = np.arctanh(min(abs(r), 1 - 1e-15)) * np.sqrt(n - 3)
    return float(math.erfc(z / math.sqrt(2)))


def analyse(data, p):
    """Per-neuron reversal points and asymmetries, and the split-half control.

    With ``analysis_space=utility`` every fit is made in the population's utility
    (`distributional.population_utility` of the analysed neurons): ``x`` holds each
    trial's utility, ``reversal_x`` the reversal points in it, ``reversal`` the same
    points mapped back to ul."""
    return _fits(p, neuron_trials(data, p), split=True)


def _fits(p, trials, split):
    """`analyse` of the `neuron_trials` ``trials``; the split-half control, which takes
    most of its time, only with ``split``."""
    cells, index, base = trials
    sizes = np.asarray(SIZES)
    utility = None
    if p.get("analysis_space", "utility") == "utility" and cells:
        # every neuron has the same trials: the sizes they contain (a short run may miss
        # one); a utility that does not rise (a silent population) leaves the fits in ul
        sizes = np.unique(cells[0][0])
        try:
            utility = distributional.population_utility(cells, sizes)
        except ParamError:
            utility = None
    if utility is not None:
        cells_x = [(distributional.to_utility(s, sizes, utility), r) for s, r in cells]
    else:
        cells_x = cells
    # the hinge grid: 0.01 ul, or the same fraction (1e-4) of the utility's range
    res = 0.01 if utility is None else 1e-4 * float(utility[-1] - utility[0])
    rev_x, tau = [], []
    for s, r in cells_x:
        c = distributional.reversal_point(s, r, resolution=res)
        rev_x.append(c)
        tau.append(distributional.asymmetry(s, r, c).tau if np.isfinite(c) else np.nan)
    rev_x, tau = np.asarray(rev_x, float), np.asarray(tau, float)
    rev = rev_x if utility is None else distributional.from_utility(rev_x, sizes, utility)
    umap, reported = None, None
    if utility is not None:  # reported: one entry per size of the task, NaN if not given
        umap = (sizes, utility)
        reported = np.full(len(SIZES), np.nan)
        reported[np.isin(np.asarray(SIZES), sizes)] = utility
    split_half = None
    if split and len(cells_x) >= 3:
        split_half = distributional.split_half(
            cells_x, n_splits=int(p["splits"]), rng=0, resolution=res
        )
    return {
        "index": index,
        "base": base,
        "reversal": rev,
        "reversal_x": rev_x,
        "tau_hat": tau,
        "split": split_half,
        "utility": reported,
        "utility_map": umap,
    }


def metrics(data, p):
    out = pv.da_ht_tonic_metrics(data, p)
    res = analyse(data, p)
    rev, tau, index = res["reversal"], res["tau_hat"], res["index"]
    ok = np.isfinite(rev) & np.isfinite(tau)
    design = np.asarray(data["channel_tau"])[np.asarray(data["da_channel"])[index]]
    values = channel_values(data, p)
    out["spearman_tau_value"] = _spearman(data["channel_tau"], values)
    out["value_spread"] = float(np.nanstd(values))
    out["value_low"], out["value_high"] = float(values[0]), float(values[-1])
    out["spearman_design_tau_reversal"] = _spearman(design, rev)
    split = res["split"]
    r_med = split.median if split is not None else float("nan")
    out["split_half_r_median"] = r_med
    out["split_half_r_p5"] = split.p5 if split is not None else float("nan")
    out["split_half_r_p95"] = split.p95 if split is not None else float("nan")
    out["split_half_p"] = _pearson_p(r_med, int(ok.sum()))
    out["reversal_reliability"] = split.reliability_median if split is not None else float("nan")
    q25, med, q75 = (
        np.nanpercentile(rev, q) if np.isfinite(rev).any() else np.nan for q in (25, 50, 75)
    )
    out["reversal_median"], out["reversal_q25"], out["reversal_q75"] = map(float, (med, q25, q75))
    sizes = np.asarray(SIZES)
    gaps = [(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    out["reversal_gaps_spanned"] = (
        int(sum(1 for a, b in gaps if b > q25 and a < q75)) if np.isfinite(q25) else 0
    )
    for name, q in (("tau_hat_median", 50), ("tau_hat_p10", 10), ("tau_hat_p90", 90)):
        out[name] = float(np.nanpercentile(tau, q)) if np.isfinite(tau).any() else float("nan")
    out["baseline_tau_r"] = float(distributional._pearson(res["base"], tau))
    out["n_neurons_analysed"] = int(ok.sum())
    out["n_trials_analysed"] = int(_analysed(data, p).sum())
    # 1 when the fits were made in the population's utility, 0 in ul (asked for, or no
    # rising utility to fit in: a short or silent run)
    out["fitted_in_utility"] = int(res["utility"] is not None)
    if res["utility"] is not None:
        out["population_utility"] = [float(x) for x in res["utility"]]  # NaN: no trial
    out.update(_decoding(res["reversal_x"][ok], tau[ok], res["utility_map"]))
    return out


def _decoding(rev_x, tau, umap=None):
    decoded = _decoded(rev_x, tau, umap)
    out = {"decoded_w1": float("nan")}
    if decoded is not None:
        out["decoded_w1"] = distributional.wasserstein1(decoded[0], SIZES, decoded[1], PROBS)
    refs = distributional.references(SIZES, PROBS)
    for name in ("uniform", "gaussian"):
        values, weights = refs[name]
        out[f"{name}_w1"] = distributional.wasserstein1(values, SIZES, weights, PROBS)
    return out


def figures(data, p, outdir):
    trials = neuron_trials(data, p)
    cells = trials[0]
    res = _fits(p, trials, split=False)  # no figure shows the split-half control
    return [
        plots.circuit_raster(data, p, outdir / "raster.png"),
        plots.distributional_responses(
            cells, res["tau_hat"], SIZES, outdir / "responses_by_size.png"
        ),
        plots.distributional_tau_reversal(
            res["tau_hat"], res["reversal"], outdir / "tau_vs_reversal.png"
        ),
        plots.distributional_decoded(
            _decoded(res["reversal_x"], res["tau_hat"], res["utility_map"]),
            SIZES,
            PROBS,
            outdir / "decoded.png",
        ),
    ]


def _decoded(rev_x, tau, umap=None):
    """(values in ul, weights) decoded from the reversal points, or None when too few.
    ``umap`` = (sizes, utility) when the fits were made in utility: decoded there, the
    support mapped back to ul."""
    ok = np.isfinite(rev_x) & np.isfinite(tau) & (tau > 0) & (tau < 1)
    if ok.sum() < 2:
        return None
    if umap is None:
        return distributional.decode_distribution(rev_x[ok], tau[ok], bounds=(0.0, 20.0))
    sizes, utility = umap
    values, weights = distributional.decode_distribution(
        rev_x[ok], tau[ok], bounds=(float(utility[0]), float(utility[-1]))
    )
    return distributional.from_utility(values, sizes, utility), weights


def memory_counts(p):
    n = p["n_trials"]
    return pv.memory_counts_for(
        p,
        circuit_params(p),
        n_cues=1,
        n_states=p["n_states"],
        stim_on=n * float(p["us_delay"]) * p["cued_fraction"],
        outcome_on=n * float(p["outcome_dur"]),
        trials="n_trials (or duration)",
    )


class Distributional(pv.TrialProtocol):
    """Dabney et al. 2020: the module's functions are its hooks."""

    NAME, SUMMARY, PARAMS = NAME, SUMMARY, PARAMS
    TINY_PARAMS = {
        **pv.TINY_PARAMS,
        "trial_len": "2.5s",
        "us_delay": "0.5s",
        "n_trials": "16",
        "channels": "4",
        "splits": "5",
    }
    HEADLINE_METRICS, METRIC_RANGES = HEADLINE_METRICS, METRIC_RANGES

    def check(self, p):
        check(p)

    def circuit_params(self, p):
        return circuit_params(p)

    def build_key(self, p):
        return build_key(p)

    def build(self, p, rngs):
        return build(p, rngs)

    def metrics(self, data, p):
        return metrics(data, p)

    def figures(self, data, p, outdir):
        return figures(data, p, outdir)

    def memory_counts(self, p):
        return memory_counts(p)

    def outcome_times(self, data, params, start, cs):
        return pv.us_delay_outcomes(params, start, cs)

    def trial_types(self, data, params, cue):
        size = data.get("trial_size", np.zeros(len(cue), int))
        return [
            f"{'cued' if c >= 0 else 'uncued'} {SIZES[int(s)]:g} ul"
            for c, s in zip(cue, size, strict=True)
        ]


PROTOCOL = Distributional()


if __name__ == "__main__":
    from dopasim.cli import script

    script(NAME)

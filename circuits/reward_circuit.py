"""The reward circuit: VTA DA and GABA, raphe 5-HT, striatal D1/D2, and a TD critic.

One base circuit; scenarios change its parameters (`RewardCircuitParams`), never its
structure. Default size (``scale = 1``): 100 DA, 100 GABA, 100 5-HT, 1000 D1 and
1000 D2 neurons, plus cortical state neurons (20 per state) and outcome inputs.

How dopamine computes a TD error
--------------------------------
Cortex represents the time since each cue with a chain of *state* neurons (a complete
serial compound: state k of cue c fires during [k, k+1) x ``state_dur`` after the CS
until the outcome time; Schultz, Dayan & Montague 1997; Suri & Schultz 1999). State
neurons project to D1 and D2 MSNs through the three-factor synapse
(`dopasim.models.three_factor`): D1 synapses potentiate when [DA] is above its baseline b
and D2 synapses when it is below (sign -1; Shen et al. 2008). The critic's value is the
striatal D1 population rate (D1-type striosomal MSNs are the striatal neurons that
project to midbrain DA neurons; Crittenden et al. 2016, PNAS 113:11318). D2 MSNs learn
with the opposite sign (NoGo) but do not feed the critic. The value reaches DA neurons
by two paths, as in the spiking actor-critic of Potjans, Diesmann & Morrison (2011):

* fast: D1 MSNs excite DA neurons (an abstraction of disinhibition through the
  pallidum; tau_e = 5 ms), which carries V(t);
* delayed: D1 MSNs drive VTA GABA neurons after a latency ``d_d1_gaba`` (90 ms, filtered
  by a 20 ms synaptic current and the GABA membrane: about one 100 ms state in all), and
  GABA neurons inhibit DA neurons subtractively (Eshel et al. 2015, Nature 525:243;
  Cohen et al. 2012, Nature 482:85: VTA GABA neurons carry the expectation). This
  carries V(t - Delta), the value one TD step ago. Potjans et al. (2011) use the same
  fast-excitatory / delayed-inhibitory pair; the delay stands for the lumped latency
  of the indirect (multi-synaptic) path and is the TD time step.

DA neurons therefore receive r(t) + V(t) - V(t - Delta): a temporal difference with
gamma = 1. A new cue gives a burst for about Delta (V jumps, the delayed expectation
has not arrived), a predicted reward is cancelled by the fall of V when the states end
(for Delta the delayed expectation still inhibits, while the reward excites), and an
omitted reward leaves that inhibition alone: a pause of about Delta. The delayed path's
gain ``j_d1_gaba`` balances the fast path (2.35 mV: the DA rate returns to baseline
after the transient; ``scripts/calibrate_reward_circuit.py``). The reward amplitude
``j_reward_da`` gives an unpredicted reward a DA burst of about 2.5x the tonic rate.
The reward reaches DA neurons ``d_reward_da`` (20 ms) after the states end, aligned
with the fall of the fast value path (sensory reward responses of DA neurons have
latencies of 50-110 ms anyway; Schultz 1998). The learning rate ``k_da`` is slow
enough that the naive animal shows no CS response over its first 10 trials (Schultz et
al. 1997) and fast enough that the TD signature is complete within 800 trials. How
these values were calibrated: docs/calibration.md.

Outcomes: reward neurons excite DA neurons; punishment neurons excite VTA GABA neurons
(Tan et al. 2012, Neuron 73:1173: footshock excites VTA GABA neurons, which pause DA
neurons) and 5-HT neurons (Cohen, Amoroso & Uchida 2015, eLife 4:e06346). 5-HT and DA
neurons inhibit each other weakly (Daw, Kakade & Dayan 2002, opponency).

Dopamine and 5-HT reach the striatum by volume transmission into one
`NeuromodulatorPools` group with Michaelis-Menten transporters. The plastic synapses read
[DA] through a `VolumeTransmitter`; the 5-HT level gates the LTD amplitude of their
eligibility (He et al. 2015, Neuron 88:528, simplified: the gate acts when a pairing
happens).

Stated simplifications: current-based LIF neurons (`dopasim.models.lif`); no
direct/indirect-pathway motor output here (the selection read-out belongs to the
probabilistic-selection protocol); D1 and D2 MSNs receive the same cortical states.

References
----------
Cohen JY, Haesler S, Vong L, Lowell BB, Uchida N (2012). Neuron-type-specific signals for
    reward and punishment in the ventral tegmental area. Nature 482:85-88.
    https://doi.org/10.1038/nature10754
Cohen JY, Amoroso MW, Uchida N (2015). Serotonergic neurons signal reward and punishment
    on multiple timescales. eLife 4:e06346. https://doi.org/10.7554/eLife.06346
Crittenden JR et al. (2016). Striosome-dendron bouquets highlight a unique
    striatonigral circuit targeting dopamine-containing neurons. PNAS 113:11318-11323.
Daw ND, Kakade S, Dayan P (2002). Opponent interactions between serotonin and dopamine.
    Neural Netw 15:603-616. https://doi.org/10.1016/S0893-6080(02)00052-7
Eshel N et al. (2015). Arithmetic and local circuitry underlying dopamine prediction
    errors. Nature 525:243-246. https://doi.org/10.1038/nature14855
He K et al. (2015). Distinct eligibility traces for LTP and LTD in cortical synapses.
    Neuron 88:528-538. https://doi.org/10.1016/j.neuron.2015.09.037
Potjans W, Diesmann M, Morrison A (2011). An imperfect dopaminergic error signal can
    drive temporal-difference learning. PLoS Comput Biol 7:e1001133.
    https://doi.org/10.1371/journal.pcbi.1001133
Schultz W (1998). Predictive reward signal of dopamine neurons. J Neurophysiol 80:1-27.
    https://doi.org/10.1152/jn.1998.80.1.1
Schultz W, Dayan P, Montague PR (1997). A neural substrate of prediction and reward.
    Science 275:1593-1599. https://doi.org/10.1126/science.275.5306.1593
Shen W, Flajolet M, Greengard P, Surmeier DJ (2008). Dichotomous dopaminergic control
    of striatal synaptic plasticity. Science 321:848-851.
    https://doi.org/10.1126/science.1160575
Suri RE, Schultz W (1999). A neural network model with dopamine-like reinforcement
    signal that learns a spatial delayed response task. Neuroscience 91:871-890.
Tan KR et al. (2012). GABA neurons of the VTA drive conditioned place aversion. Neuron
    73:1173-1183. https://doi.org/10.1016/j.neuron.2012.02.015
"""

import math
from dataclasses import dataclass, field, replace

import numpy as np
from brian2 import (
    Clock,
    Hz,
    Network,
    NeuronGroup,
    Quantity,
    Synapses,
    TimedArray,
    linked_var,
    ms,
    mV,
    nmolar,
    second,
    umolar,
)

from dopasim.circuits import selection
from dopasim.circuits.base import Circuit
from dopasim.circuits.selection import SelectionTask
from dopasim.models.lif import NOISE_SOURCES, LIFParams, lif_group
from dopasim.models.pools import NeuromodulatorPools, release_for
from dopasim.models.three_factor import (
    ELIGIBILITIES,
    SampledPool,
    ThreeFactorRule,
    VolumeTransmitter,
)
from dopasim.params import Param, check_fields, fraction

__all__ = [
    "RewardCircuitParams",
    "Stimulus",
    "build_reward_circuit",
    "POPULATIONS",
    "FixedProjection",
    "FIXED_PROJECTIONS",
    "fixed_projection_table",
    "fixed_projection_markdown",
]

#: Group names of the spiking populations (the keys of exported data).
POPULATIONS = (
    "vta_da",
    "vta_gaba",
    "drn_5ht",
    "str_d1",
    "str_d2",
    "ctx_state",
    "us_reward",
    "us_punish",
)

# --- populations ------------------------------------------------------------------------
#: VTA DA neurons: irregular tonic firing near 4-5 Hz from a noise-driven membrane just
#: below threshold (Marinelli & White 2000, J Neurosci 20:8876: 4.3-5.4 Hz for bursting
#: cells [paper]); an AHP keeps intraburst rates at 14-30 Hz (Grace & Bunney 1984).
DA_NEURON = LIFParams(
    tau_m=20 * ms,
    v_rest=-60 * mV,
    v_th=-45 * mV,
    v_reset=-60 * mV,
    t_ref=5 * ms,
    tau_ahp=60 * ms,
    b_ahp=3 * mV,
    sigma=4.5 * mV,
    i_bias_mean=10 * mV,
    i_bias_sd=1 * mV,
)
#: VTA GABA neurons: tonic, persistently modulated by expectation (Cohen et al. 2012).
GABA_NEURON = LIFParams(
    tau_m=10 * ms,
    v_rest=-60 * mV,
    v_th=-45 * mV,
    v_reset=-55 * mV,
    t_ref=2 * ms,
    tau_s=20 * ms,  # filter of the delayed value input (the D1 -> GABA path)
    sigma=4 * mV,
    i_bias_mean=8.5 * mV,
    i_bias_sd=1 * mV,
)
#: The 5-HT2C current of VTA GABA neurons (scenario 'ssri'). Raised 5-HT excites VTA GABA
#: neurons through 5-HT2C receptors and so inhibits DA neurons: the 5-HT2C agonist mCPP
#: excites VTA non-DA neurons (Di Giovanni, Di Matteo, La Grutta & Esposito 2001,
#: Neuroscience 103:111); acute fluoxetine and citalopram lower VTA DA firing (by at most
#: 34 +- 7 % and 14 +- 7 %), blocked by the 5-HT2C/2B antagonist mesulergine (Prisco &
#: Esposito 1995, Br J Pharmacol 116:1923); sustained escitalopram lowers VTA DA firing
#: and bursting, reversed by the 5-HT2C antagonist SB 242084 (Dremencov, El Mansari &
#: Blier 2009, J Psychiatry Neurosci 34:223). The current is
#:
#:     I_ht2c = j (occ(c) - occ(c_0)),  occ(c) = c/(c + EC50),  c = c_0 [5-HT]/[5-HT]_intact
#:
#: with [5-HT] the striatal pool's, [5-HT]_intact its level in the intact circuit
#: (``ht2c_ht_intact``) and c_0 the VTA's tonic level, so the current is 0 at the intact
#: level. Hypotheses: the VTA [5-HT] follows the striatal pool's ratio to its intact
#: level (the model has no VTA pool); the current is linear in the occupancy and follows
#: it at once (5-HT2C signals through Gq, over seconds). j is data (0 unless the
#: scenario turns the route on), so one compiled build serves every scenario.
HT2C_EQS = """
I_ht2c = j_ht2c*(c_ht2c/(c_ht2c + ht2c_ec50) - occ_ht2c_intact) : volt  # 5-HT2C current (0 at the intact level)
c_ht2c = ht2c_vta_tonic*ht_pool/ht2c_ht_intact : mmolar  # VTA [5-HT]: the striatal pool's ratio to its intact level [hyp]
ht_pool : mmolar (linked)  # the striatal pool's [5-HT]
j_ht2c : volt (constant)  # effective gain of the 5-HT2C current (0: the route is off)
"""
#: The chronic states of the 5-HT2C route (scenario 'ssri', key ``chronic``).
HT2C_CHRONIC = ("sustained", "tolerant")


def ht2c_occupancy(c, ec50):
    """5-HT2C occupancy c/(c + EC50) (floats or quantities of one dimension)."""
    return c / (c + ec50)


#: Dorsal-raphe 5-HT neurons: slow clock-like pacemakers (about 1-3 Hz awake, Lydic et
#: al. 1984; ISI CV < 0.5 in ~97 % of cells, Mlinar et al. 2016 [paper]): suprathreshold
#: drive, little noise and a long AHP.
HT_NEURON = LIFParams(
    tau_m=20 * ms,
    v_rest=-60 * mV,
    v_th=-45 * mV,
    v_reset=-60 * mV,
    t_ref=5 * ms,
    tau_ahp=400 * ms,
    b_ahp=6 * mV,
    sigma=1.0 * mV,
    i_bias_mean=17 * mV,
    i_bias_sd=0.5 * mV,
)
#: Striatal MSNs: nearly silent at rest (about 0.2 Hz here; Mahon et al. 2006), driven by cortex.
MSN_NEURON = LIFParams(
    tau_m=20 * ms,
    v_rest=-80 * mV,
    v_th=-50 * mV,
    v_reset=-70 * mV,
    t_ref=2 * ms,
    sigma=4 * mV,
    i_bias_mean=16 * mV,
    i_bias_sd=1 * mV,
)

#: The corticostriatal rule: Pawlak & Kerr 2008 (J Neurosci 28:2435) found LTP and LTD
#: of similar size (+45 % at +10 ms, -34 % at -30 ms). The window is balanced
#: (A+ tau+ = A- tau-, 20 ms each) so that uncorrelated firing leaves no net
#: eligibility. The eligibility rises with tau_r = 0.15 s and decays with tau_c = 0.6 s:
#: Yagishita et al. 2014 (Science 345:1616) found DA effective 0.3-2 s after glutamate
#: and not at 0 s or 4-5 s; the eligibility-window protocol gives a peak at 0.3 s, about
#: 20 % of it at 2 s and none at 5 s. The rise also keeps a DA transient from acting on
#: the very pairings that caused it. A longer trace (tau_c = 1 s, tau_r = 0.3 s, as in
#: Izhikevich 2007) made the critic over-predict: its credit reached states 0.5 s before
#: each TD error, the value kept growing past the reward and a predicted reward left a
#: pause (late mean US ratio 0.56, and 0.63 with tau_r = 0.1 s; seed 1, 800 trials).
STRIATAL_RULE = ThreeFactorRule(
    A_plus=1.0,
    A_minus=1.0,
    tau_plus=20 * ms,
    tau_minus=20 * ms,
    tau_c=0.6 * second,
    tau_r=0.15 * second,
    k_da=100.0 / (umolar * second),
    w_min=0.0,
    w_max=1.0,
)


@dataclass(frozen=True)
class Stimulus:
    """The schedule the circuit's inputs follow (built by a protocol).

    ``state`` holds, on a grid of ``grid`` seconds, the code of the active cortical state
    (cue * n_states + k) or -1; ``outcome`` holds 1 (reward), 2 (punishment) or 0.
    ``state2`` (optional) holds a second state shown at the same time (two stimuli on
    the screen); ``task`` (optional) is a choice task: the basal-ganglia read-out of
    `dopasim.circuits.selection` is built, the cortical input follows the choice, and the
    outcomes come from the choice (``outcome`` is then ignored).
    """

    n_cues: int
    n_states: int
    grid: Quantity
    state: np.ndarray
    outcome: np.ndarray
    state2: np.ndarray | None = None
    task: SelectionTask | None = None
    #: Optional, on the same grid: the reward input's rate relative to ``outcome_rate``
    #: (reward sizes; without it every reward has the same drive).
    magnitude: np.ndarray | None = None


#: The critics of the base circuit (`RewardCircuitParams.critic`).
CRITICS = ("classical", "distributional")
#: What a run's metadata lists under ``hypotheses`` when the critic is distributional.
CRITIC_HYPOTHESES = (
    "distributional critic: the DA neurons' asymmetric scaling of their drive "
    "(Dabney et al. 2020 measured the asymmetry of responses, not its mechanism)",
    "distributional critic: each channel's DA neurons release into their own "
    "compartment, read by their channel's corticostriatal synapses",
    "distributional critic: the corticostriatal synapses weight DA dips by "
    "critic_dip_gain against bursts (a compensation of the 0 nM floor of a dip; "
    "not measured)",
    "distributional critic: the corticostriatal synapses' eligibility is their "
    "presynaptic activity trace, without a postsynaptic factor (the critic rule of "
    "Potjans et al. 2011; corticostriatal LTP needs postsynaptic depolarisation, "
    "Shen et al. 2008)",
    "distributional critic: a presynaptic spike tags its synapse only critic_tag_delay "
    "after it arrives, so that a DA transient is credited to the inputs active before "
    "it (TD's update of the preceding state; the delay is not measured)",
    "distributional critic: each channel's expectation (D1 -> VTA GABA weight) is matched "
    "to its DA neurons' asymmetry, scaled with 2 tau_k - 1 by critic_expectation_slope "
    "(not measured)",
    "distributional critic: channel k's corticostriatal synapses weight bursts by "
    "1 + a (2 tau_k - 1) and dips by 1 - a (2 tau_k - 1), a = critic_learning_asymmetry "
    "(asymmetric learning in the striatum, proposed by Lowet et al. 2020 and 2025; "
    "not measured)",
    "distributional critic: the DA neurons scale negative deviations of their drive by "
    "critic_pause_gain on top of alpha-, a compensation of their f-I curve's flatter "
    "slope below the tonic rate, so that pauses follow the expectation as bursts do "
    "(negative errors are compressed in DA firing rates, Bayer & Glimcher 2005; the "
    "compensation is not measured)",
)

#: What a run's metadata lists when the DA neurons' tonic rates differ by their time scale
#: (`LIFParams.tau_scale_sd` of ``da`` above 0).
DA_TIME_SCALE_HYPOTHESIS = (
    "VTA DA neurons: their tonic rates differ by each neuron's time scale (tau_m, t_ref "
    "and tau_ahp times one factor), so that a neuron's pauses and bursts scale with its "
    "tonic rate (DA neurons' responses as scaled copies of one response function, Eshel "
    "et al. 2016; the intrinsic cause of the spread is not modelled)"
)

#: The tag of one presynaptic spike with ``critic_eligibility='pre'``: A_plus * tau_plus *
#: 1 Hz of `STRIATAL_RULE`, the mean tag a pre spike gets from the causal half of the
#: window when the MSN fires at 1 Hz (the order of the D1 MSNs' cue-period rate).
CRITIC_PRE_TAG = 0.02

#: Where a distributional critic's channels read their DA (`RewardCircuitParams.critic_da`).
CRITIC_DA = ("own", "shared")

#: The asymmetric scaling of a distributional critic's DA neurons [hypothesis: Dabney et
#: al. 2020 measured the asymmetry of the responses, not its mechanism]. s is the
#: synaptic drive; its deviation from the slow running mean, taken from the fast filter,
#: gets the extra gain alpha+ - 1 above and alpha- - 1 below (so that the phasic drive is
#: alpha+ or alpha- times its deviation); the extra current's running mean is removed.
#: Only the part of the deviation beyond +-asym_threshold is scaled (dz; 0 mV: all of
#: it), so that the fluctuations of the drive, which the scaling would rectify into a
#: mean current of (alpha+ - alpha-)/2 times their mean size, stay out of it.
#: alpha_neg is 2 (1 - tau) times ``critic_pause_gain`` (1 by default; `_populations`).
DA_ASYMMETRY_EQS = """
ds_fast/dt = (g_e + g_s - g_i - s_fast)/tau_drive_fast : volt  # synaptic drive, filtered
ds_slow/dt = (g_e + g_s - g_i - s_slow)/tau_drive_slow : volt  # its running mean (tonic)
dev = s_fast - s_slow : volt  # deviation of the drive
dz = dev - clip(dev, -asym_threshold, asym_threshold) : volt  # its part beyond the threshold
a_asym = (alpha_pos - 1)*0.5*(dz + abs(dz)) + (alpha_neg - 1)*0.5*(dz - abs(dz)) : volt
dr_asym/dt = (a_asym - r_asym)/tau_drive_slow : volt  # running mean of the extra current
I_asym = a_asym - r_asym : volt  # the asymmetry's current
alpha_pos : 1 (constant)  # gain of positive deviations (2 tau)
alpha_neg : 1 (constant)  # gain of negative deviations (2 (1 - tau))
"""


def channel_of(n, k):
    """Channel of each of ``n`` neurons split into ``k`` contiguous, balanced blocks."""
    return (np.arange(n) * k // max(n, 1)).astype(int)


#: The declared ranges of `RewardCircuitParams` (checked by its ``validate``).
CIRCUIT_CHECKS = (
    Param("scale", None, "float", "population sizes relative to the default", low=0, low_open=True),
    fraction("p_ctx_msn", "cortex -> MSN connection probability"),
    fraction("p_msn_vta", "D1 MSN -> VTA GABA connection probability"),
    fraction("p_gaba_da", "VTA GABA -> DA connection probability"),
    fraction("p_outcome", "outcome input connection probability"),
    fraction("p_opponent", "opponent input connection probability"),
    fraction("w_init", "initial corticostriatal weight (fraction of w_max)"),
    fraction("hunger", "need state (hunger scenario)"),
    fraction("da_loss", "fraction of DA neurons lost (parkinson scenario)"),
    Param("membrane_noise", None, "choice", "membrane noise source", choices=NOISE_SOURCES),
    Param(
        "connectivity",
        None,
        "choice",
        "connection rule",
        choices=("bernoulli", "fixed_indegree"),
    ),
    Param("msn_channels", None, "int", "topographic MSN channels (0: none)", low=0),
    Param(
        "ht2c_chronic", None, "choice", "chronic state of the 5-HT2C route", choices=HT2C_CHRONIC
    ),
    fraction("ht2c_tolerant_fraction", "5-HT2C gain left when tolerant"),
    Param("ht2c_ec50", None, "quantity", "5-HT2C EC50", unit=nmolar, low=0, low_open=True),
    Param(
        "ht2c_vta_tonic", None, "quantity", "tonic VTA [5-HT]", unit=nmolar, low=0, low_open=True
    ),
    Param(
        "ht2c_ht_intact", None, "quantity", "intact pool [5-HT]", unit=nmolar, low=0, low_open=True
    ),
    Param("j_ht2c", None, "quantity", "5-HT2C gain", unit=mV, low=0),
    Param("da_comp_ceiling", None, "float", "largest release factor of survivors", low=1),
    Param("d_d1_gaba", None, "quantity", "D1 -> VTA GABA delay", unit=ms, low=0),
    Param("d_reward_da", None, "quantity", "reward -> DA delay", unit=ms, low=0),
    Param("dt", None, "quantity", "integration time step", unit=ms, low=0, low_open=True),
    Param("critic", None, "choice", "the critic", choices=CRITICS),
    Param("critic_channels", None, "int", "channels of the distributional critic", low=1),
    fraction("critic_tau_low", "lowest channel asymmetry tau"),
    fraction("critic_tau_high", "highest channel asymmetry tau"),
    Param(
        "critic_da",
        None,
        "choice",
        "the channels' DA compartments (shared: the uncoupled control, plasticity symmetric)",
        choices=CRITIC_DA,
    ),
    Param(
        "critic_eligibility",
        None,
        "choice",
        "what tags a distributional critic's corticostriatal synapses",
        choices=ELIGIBILITIES,
    ),
    Param(
        "critic_reward_gain",
        None,
        "float",
        "reward input's rate onto a distributional critic, relative to outcome_rate",
        low=0,
        low_open=True,
    ),
    Param(
        "critic_dip_gain",
        None,
        "float",
        "weight of DA dips in a distributional critic's plasticity, relative to bursts",
        low=0,
        low_open=True,
        high=10,
    ),
    Param(
        "critic_pause_gain",
        None,
        "float",
        "extra gain of a distributional critic's DA neurons for negative deviations of "
        "their drive (on top of alpha-)",
        low=0,
        low_open=True,
        high=4,
    ),
    Param(
        "critic_learning_asymmetry",
        None,
        "float",
        "a distributional critic's asymmetry of plasticity, bursts against dips, per channel",
        low=0.0,
        high=1.0,
    ),
    Param(
        "critic_expectation_gain",
        None,
        "float",
        "a distributional critic's D1 -> VTA GABA weight relative to j_d1_gaba",
        low=0,
        low_open=True,
        high=4,
    ),
    Param(
        "critic_expectation_slope",
        None,
        "float",
        "change of a distributional critic's expectation gain with 2 tau - 1",
        low=-1.0,
        high=1.0,
    ),
    Param(
        "critic_learning_rate",
        None,
        "float",
        "a distributional critic's corticostriatal learning rate, relative to the rule's k_da",
        low=0,
        low_open=True,
        high=10,
    ),
    Param(
        "tau_drive_fast",
        None,
        "quantity",
        "fast filter of the DA drive",
        unit=ms,
        low=0,
        low_open=True,
    ),
    Param(
        "tau_drive_slow",
        None,
        "quantity",
        "running mean of the DA drive",
        unit=second,
        low=0,
        low_open=True,
    ),
    Param(
        "asym_threshold",
        None,
        "quantity",
        "deviation of the DA drive below which the asymmetry does not scale it",
        unit=mV,
        low=0,
    ),
    Param(
        "critic_tag_delay",
        None,
        "quantity",
        "delay of a distributional critic's presynaptic tag",
        unit=ms,
        low=0,
    ),
)


@dataclass(frozen=True)
class RewardCircuitParams:
    """Every parameter of the base circuit (scenarios override these)."""

    scale: float = 1.0
    n_da: int = 100
    n_gaba: int = 100
    n_5ht: int = 100
    n_d1: int = 1000
    n_d2: int = 1000
    n_per_state: int = 20
    n_outcome: int = 40
    dt: Quantity = field(default_factory=lambda: 0.5 * ms)
    da: LIFParams = DA_NEURON
    gaba: LIFParams = GABA_NEURON
    ht: LIFParams = HT_NEURON
    msn: LIFParams = MSN_NEURON
    rule: ThreeFactorRule = STRIATAL_RULE
    pools: NeuromodulatorPools = field(default_factory=NeuromodulatorPools)
    #: Design tonic rates that set the release per spike (pools at their tonic levels).
    da_design_rate: Quantity = field(default_factory=lambda: 4.5 * Hz)
    ht_design_rate: Quantity = field(default_factory=lambda: 2.0 * Hz)
    # cortical states and outcomes
    state_rate_on: Quantity = field(default_factory=lambda: 30 * Hz)
    # time cells are sparse: nearly silent outside their field, so a reward does not
    # reach the eligibility of cues that were not shown
    state_rate_off: Quantity = field(default_factory=lambda: 0.05 * Hz)
    outcome_rate: Quantity = field(default_factory=lambda: 60 * Hz)
    # connectivity (probabilities) and weights (PSP jumps)
    #: 'bernoulli': each pair connects with probability p (the calibrated default).
    #: 'fixed_indegree': each neuron gets exactly round(p N) inputs; the synapse
    #: counts then do not depend on the seed, so one compiled build serves every seed.
    connectivity: str = "bernoulli"
    #: Membrane noise: 'xi' (Brian2's white noise; the calibrated default) or 'counter'
    #: (the Euler-Maruyama increment from a counter-based hash: the same mean, variance
    #: and firing rates, tests/test_noise.py; 2.8 against 18 ns per draw, and a loop the
    #: compiler can vectorise, so the MSN state updates run about 5x faster).
    #: `dopasim.models.lif`.
    membrane_noise: str = "xi"
    p_ctx_msn: float = 0.25
    #: 0: every cortical state may contact every MSN. k > 0: the MSNs are split into k
    #: channels (contiguous blocks) and cue c's states contact only channel c
    #: (topographic loops; the action channels of the selection read-out).
    msn_channels: int = 0
    #: Tonic DA modulates MSN excitability: D1 MSNs get + j (da/da_tonic - 1) and D2 MSNs
    #: - j (...), clipped to +-j (D1 receptors raise and D2 receptors lower MSN
    #: excitability; Gerfen & Surmeier 2011, Annu Rev Neurosci 34:441; the mechanism of
    #: Frank 2005). 0 mV (off) in the Pavlovian protocols, whose calibration predates it.
    j_da_msn: Quantity = field(default_factory=lambda: 0 * mV)
    w_init: float = 0.02  # initial corticostriatal weight (fraction of w_max): naive animal
    j_ctx_msn: Quantity = field(default_factory=lambda: 10.0 * mV)
    p_msn_vta: float = 0.1
    j_d1_da: Quantity = field(default_factory=lambda: 8.0 * mV)
    j_d1_gaba: Quantity = field(default_factory=lambda: 2.35 * mV)
    #: Latency of the critic's inhibitory (D1 -> GABA) path: the TD time step.
    d_d1_gaba: Quantity = field(default_factory=lambda: 90 * ms)
    p_gaba_da: float = 0.2
    j_gaba_da: Quantity = field(default_factory=lambda: 1.0 * mV)
    p_outcome: float = 0.25
    j_reward_da: Quantity = field(default_factory=lambda: 1.6 * mV)
    #: Latency of the reward input to DA neurons (see the module docstring).
    d_reward_da: Quantity = field(default_factory=lambda: 20 * ms)
    j_punish_gaba: Quantity = field(default_factory=lambda: 2.0 * mV)
    #: Punishment's direct excitatory route to DA neurons, used in proportion to the need
    #: state ``hunger`` (0 sated: the route is off; scenario 'hunger', a hypothesis).
    j_punish_da: Quantity = field(default_factory=lambda: 1.6 * mV)
    hunger: float = 0.0
    #: Parkinsonian loss (scenario 'parkinson'): fraction of DA neurons removed, and the
    #: survivors' compensation (release per spike x 1/(1 - loss), at most the ceiling).
    da_loss: float = 0.0
    da_compensation: bool = True
    da_comp_ceiling: float = 2.5
    j_punish_5ht: Quantity = field(default_factory=lambda: 3.0 * mV)
    p_opponent: float = 0.1
    j_5ht_da: Quantity = field(default_factory=lambda: 0.3 * mV)
    j_da_5ht: Quantity = field(default_factory=lambda: 0.3 * mV)
    # --- the 5-HT2C route onto VTA GABA neurons (`HT2C_EQS`; scenario 'ssri') ---
    #: Whether the route acts. Off in the base circuit: at the intact level it carries no
    #: current anyway, and off it leaves every other scenario and protocol bit-identical
    #: to its calibration (their 5-HT fluctuations, e.g. after a punishment, do not reach
    #: the GABA neurons through it: a simplification). The ssri scenario turns it on;
    #: ``ht2c=off`` there is the antagonist control (SB 242084).
    ht2c: bool = False
    #: 'sustained' (Dremencov et al. 2009: the route still acts after sustained SSRI) or
    #: 'tolerant' (Prisco & Esposito 1995: after 21 days of fluoxetine an acute challenge
    #: no longer lowered VTA DA firing: the route desensitised); see `ht2c_gain`.
    ht2c_chronic: str = "sustained"
    #: EC50 of 5-HT at native 5-HT2C receptors: 11 nM (5-HT-stimulated cGMP formation in
    #: porcine choroid plexus, the classic 5-HT2C tissue; Kaufman, Hartig & Hoffman 1995,
    #: J Neurochem 64:199 [abstract]).
    ht2c_ec50: Quantity = field(default_factory=lambda: 11 * nmolar)
    #: Tonic [5-HT] in the VTA [hyp]: taken equal to the striatal pool's design level
    #: (5 nM, itself unverified; see `dopasim.models.pools`), so the intact occupancy is
    #: 0.31.
    ht2c_vta_tonic: Quantity = field(default_factory=lambda: 5 * nmolar)
    #: The striatal pool's [5-HT] in the intact circuit as it runs: the reference of the
    #: VTA's ratio. Measured, not the pool's 5 nM design level: the 5-HT neurons fire
    #: above their 2 Hz design rate, and the intact pool holds 5.71-5.89 nM (mean 5.82;
    #: conditioning, 40 trials, calibration seeds 101-104, 2026-12-03); the 20-seed SSRI
    #: run of 2026-12-01 gave 5.8 nM. With the design level instead, ssri:occupancy=0
    #: carried a current (+0.033 occupancy) that lowered tonic DA by 2.9 % (j = 4 mV).
    ht2c_ht_intact: Quantity = field(default_factory=lambda: 5.8 * nmolar)
    #: Gain of the 5-HT2C current (sustained). Calibrated once so that
    #: 80 % SERT occupancy lowers the tonic DA rate by 25 % against occupancy 0:
    #: scripts/calibrate_ht2c.py --grid 2,3.5,5,6.5 --seeds 101-104 --n-trials 40
    #: (2026-12-03; conditioning, seed means) measured 11.7, 20.2, 28.6 and 36.8 % at 2,
    #: 3.5, 5 and 6.5 mV; linear interpolation between 3.5 and 5 mV gives 4.36 mV. At
    #: occupancy 0 the route changed the tonic rate by -0.0 to -0.1 % against intact.
    j_ht2c: Quantity = field(default_factory=lambda: 4.36 * mV)
    #: Fraction of the gain left when 'tolerant': 0, Prisco & Esposito's point reading
    #: (the acute challenge's inhibition, 34 +- 7 % in controls, was absent; the abstract
    #: gives no bound on a remainder). At 0 'tolerant' acts as ``ht2c=off``.
    ht2c_tolerant_fraction: float = 0.0
    #: Whether the 5-HT level gates corticostriatal LTD (He et al. 2015).
    ht_gates_ltd: bool = True
    #: None: both pathways learn linearly from the DA error (the Pavlovian calibration).
    #: epsilon in [0, 1]: the receptor-specific, rectified phasic term. D1 synapses learn
    #: from DA increases above the running mean and only epsilon times from decreases;
    #: D2 synapses the reverse (PKA follows DA increases in D1 and decreases in D2 SPNs:
    #: Lee et al. 2021, Nature 590:451; a 0.4 s dip suffices for D2-dependent spine
    #: enlargement: Iino et al. 2020, Nature 579:555; bursts mainly occupy D1 and dips
    #: mainly empty D2 receptors: Dreyer et al. 2010, J Neurosci 30:14273; the learning
    #: asymmetry of Moeller & Bogacz 2019, PLoS Comput Biol 15:e1006285). The size of
    #: epsilon is a hypothesis (partial in Gurney, Humphries & Redgrave 2015, PLoS Biol
    #: 13:e1002034; absent in other models).
    da_phasic_epsilon: float | None = None
    # --- the critic -------------------------------------------------------------------
    #: 'classical': one value signal and one DA compartment (the calibrated circuit).
    #: 'distributional' (Dabney et al. 2020, Nature 577:671): ``critic_channels``
    #: channels, each a block of D1 and D2 MSNs, VTA GABA and VTA DA neurons wired as the
    #: classical critic within the block; channel k's DA neurons release into pool
    #: compartment k, which channel k's corticostriatal synapses read, so that each
    #: channel's value learns from its own error; the channels' DA neurons scale the
    #: positive and negative deviations of their synaptic drive asymmetrically
    #: (`DA_ASYMMETRY_EQS`). See docs/distributional.md.
    critic: str = "classical"
    critic_channels: int = 10
    #: The channels' asymmetries tau_k = alpha+ / (alpha+ + alpha-), evenly spread over
    #: [low, high] (alpha+ + alpha- = 2). (0.5, 0.5): symmetric channels, the classical
    #: control of the distributional critic.
    critic_tau_low: float = 0.2
    critic_tau_high: float = 0.8
    #: 'own': channel k's DA neurons release into compartment k only. 'shared': every DA
    #: neuron releases into every compartment, so every channel reads the same DA: the
    #: uncoupled control (asymmetric errors without a value predictor of their own).
    #: With 'shared' every channel's plasticity is also symmetric (`learning_gains` all
    #: 1 whatever ``critic_learning_asymmetry``): an asymmetry of plasticity is a
    #: channel's own asymmetric error, coupled to its own value predictor, which the
    #: control takes away (with it kept, each channel's value has no fixed point under
    #: the shared error and runs to its bound: docs/distributional-calibration.md).
    critic_da: str = "own"
    #: The reward input's rate with a distributional critic, relative to
    #: ``outcome_rate`` (1: the classical critic's reward, calibrated for a burst of about
    #: 2.5x the tonic rate). A knob for testing what sets the reversal points, not a
    #: calibrated value: a sweep over 0.3-2 (calibration seed 108, docs/distributional-calibration.md)
    #: moved the reversal points with the reward's scale while the learned value barely
    #: changed, and improved no criterion of the code; the default stays 1.
    critic_reward_gain: float = 1.0
    #: With a distributional critic, the corticostriatal synapses weight the dips of
    #: [DA] below its running mean by this gain and the bursts by 1 (the rectified
    #: phasic term of `ThreeFactorRule.phasic_gains`, both receptor classes) [hypothesis].
    #: A dip cannot go below 0 nM: from a tonic level near 22 nM a pause empties a
    #: channel's compartment within tens of ms, so with the linear rule the three
    #: smallest rewards gave the same error (about -2 nM s against +5.5 nM s for the
    #: largest; calibration seed 108). Calibrated on seeds 108 and 110 (1,700 trials,
    #: docs/distributional-calibration.md): at 2 the symmetric channels reverse at 5.7-5.9 ul, the
    #: size of the task's mean utility (5.65 ul; 1: 7.8 ul, optimistic; 3: 5.3 ul), and
    #: Spearman(design tau, reversal point) rose from 0.49 to 0.89 (seed 108). 1: the
    #: linear rule (no rectification; the code of earlier releases).
    critic_dip_gain: float = 2.0
    #: With a distributional critic, channel k's DA neurons scale the negative
    #: deviations of their drive by 2 (1 - tau_k) times this gain (the positive ones by
    #: 2 tau_k) [hypothesis]. The DA neurons' f-I curve is flatter below their tonic
    #: rate than above it, so the same expectation takes less rate from an omission's
    #: pause than from a reward's burst: in the classical control of the 10/50/90 task
    #: (calibration seed 140, late half, all DA neurons, 0-0.3 s after the outcome) the
    #: 50 % and 90 % cues' expectations lowered the reward's burst by 0.97 and 1.68 Hz
    #: and deepened the omission's dip by 0.68 and 1.05 Hz, about two thirds of it, and that
    #: symmetric critic learned optimistic values (docs/distributional-calibration.md). Negative
    #: errors are compressed in DA firing rates (Bayer & Glimcher 2005, Neuron
    #: 47:129). 1: no compensation (the critic of earlier releases).
    critic_pause_gain: float = 1.0
    #: With a distributional critic, the corticostriatal synapses' learning rate relative
    #: to the rule's ``k_da`` (both receptor classes). A calibration knob, not a
    #: calibrated value: at the rule's rate each synapse moves at random by about 0.04
    #: per trial against a drift of a few thousandths, and its lower bound turns that
    #: diffusion into a value that no reward made (a cue-period D1 rate of 0.6-0.8 Hz
    #: after 800 unrewarded trials, 0.13 Hz before the cue; calibration seed 110); the
    #: bound's part of the drift scales with the rate squared, the error's with the
    #: rate. At 0.25 the value without a reward is gone, but so, on some seeds, is
    #: learning: on calibration seed 113 the code's criteria 1-5 were met, on 114 the
    #: pessimistic channels learned nothing in 1,700 trials, and in the 10/50/90 task
    #: seed 113 learned with 1,500 trials and not with 3,000 (docs/distributional-calibration.md).
    #: The default stays 1.
    critic_learning_rate: float = 1.0
    #: What tags a distributional critic's corticostriatal synapses (both receptor
    #: classes; `ThreeFactorRule.eligibility`). 'stdp': the rule's window. 'pre': each
    #: presynaptic spike tags by `CRITIC_PRE_TAG` and the MSNs' spikes do nothing, the
    #: critic rule of Potjans, Diesmann & Morrison (2011, PLoS Comput Biol 7:e1001133)
    #: [hypothesis]. With 'stdp' a D1 spike's own echo in its channel's DA (+3-4 Hz within
    #: 10 ms) meets the tag that spike just made, and that correlation, not the task's
    #: errors, set most of the weights' trial-to-trial noise (calibration seeds 110 and
    #: 113, docs/distributional-calibration.md); a presynaptic tag sees the echo only through the
    #: input's share in the MSNs' firing. It has no LTD tag, so 5-HT's gate of LTD
    #: (`ht_gates_ltd`, the SSRI scenario's) does not act on it. On calibration seeds
    #: 115 and 116 it cut the weights' noise per trial about fourfold and the
    #: variable-magnitude code met criteria 1-5 and 1-4, but the optimistic channels'
    #: values ran away: the DA neurons' asymmetric scaling turns the fluctuations of
    #: their own value input into a mean excitation, and a presynaptic tag learns from
    #: any sustained error (docs/distributional-calibration.md). The default stays 'stdp'.
    critic_eligibility: str = "stdp"
    #: Filters of the asymmetric scaling [hypothesis]: the drive's deviation is taken
    #: from its fast filter (shot noise of single inputs smoothed) and its slow running
    #: mean (the tonic drive), and the running mean of the added current is subtracted, so
    #: that the asymmetry changes phasic responses, not the tonic rate.
    tau_drive_fast: Quantity = field(default_factory=lambda: 20 * ms)
    tau_drive_slow: Quantity = field(default_factory=lambda: 20 * second)
    #: Deviations of the drive within +-asym_threshold get no asymmetric gain
    #: (`DA_ASYMMETRY_EQS`) [hypothesis]. The D1 input's shot noise after the fast filter
    #: has an SD of about 1-5 mV at 1-6 Hz of D1 firing (100 inputs of 8 mV); scaled
    #: asymmetrically it becomes a mean excitation of an optimistic channel that grows
    #: with its value (docs/distributional-calibration.md). 0 mV: every deviation is scaled.
    asym_threshold: Quantity = field(default_factory=lambda: 0 * mV)
    #: With ``critic_eligibility='pre'``: a presynaptic spike tags its synapse this long
    #: after it arrives (`ThreeFactorRule.tag_delay`; 0 ms: at arrival) [hypothesis].
    #: With a tag at arrival a cue's burst meets the tags of the cue's own first spikes,
    #: and in the optimistic channels (burst x alpha+) that loop ran away
    #: (docs/distributional-calibration.md, seed 117); a tag that comes later credits each error to
    #: the states before it, as TD does.
    critic_tag_delay: Quantity = field(default_factory=lambda: 0 * ms)
    #: The gain of each channel's expectation (its D1 -> VTA GABA weight, ``j_d1_gaba``)
    #: with a distributional critic: ``critic_expectation_gain * (1 +
    #: critic_expectation_slope * (2 tau_k - 1))`` (`expectation_gains`) [hypothesis].
    #: A channel's value loop V -> DA -> V is held stable by an expectation a little
    #: stronger than the value's direct excitation, a sustained negative error through
    #: every cue in proportion to the value, which the DA neurons scale by alpha-; the
    #: asymmetric scaling also turns the drive's noise into a mean current of
    #: (alpha+ - alpha-)/2 times its mean size, which grows with the value (an
    #: excitation in optimistic channels, an inhibition in pessimistic ones). The gain
    #: that balances a channel's drive through a cue therefore rises with its tau
    #: (docs/distributional-calibration.md). A calibration knob, not a calibrated value: with gains
    #: near each channel's balance (0.91, 0.275; seeds 126, 127) and no asymmetry of
    #: plasticity no channel ran away, but no channel became significantly pessimistic in
    #: the 10/50/90 task and the variable-magnitude code disappeared, which that excess
    #: had carried; with the asymmetry of plasticity at 1 (``critic_learning_asymmetry``)
    #: both tasks met issue 23's criteria 1-6 on those seeds, and in the pre-registered
    #: run on seeds 7-9 all but criterion 5 (docs/distributional-calibration.md, "Matched
    #: expectations with asymmetric plasticity"). (1, 0): every channel at
    #: ``j_d1_gaba``, the default.
    critic_expectation_gain: float = 1.0
    critic_expectation_slope: float = 0.0
    #: With a distributional critic, channel k's corticostriatal synapses (both receptor
    #: classes) weight the bursts of their compartment's [DA] by 1 + a (2 tau_k - 1) and
    #: its dips by 1 - a (2 tau_k - 1) (a = this; with ``critic_dip_gain`` on top; the
    #: rectified phasic term, `learning_gains`) [hypothesis]: the asymmetry of the
    #: errors that each channel's value learns from, in the striatum's plasticity as well
    #: as in the DA neurons' firing. Lowet, Zheng, Matias, Drugowitsch & Uchida (2020,
    #: Trends Neurosci 43:980) proposed that asymmetric learning rates may arise
    #: downstream of DA neurons, in striatal plasticity, and Lowet et al. (2025, Nature
    #: 639:717) found D1 and D2 MSNs coding the right and left tails of the reward
    #: distribution. Why here: a DA pause cannot go below silence, and the DA neurons'
    #: convex f-I curve compresses the dips of the pessimistic channels (calibration,
    #: docs/distributional-calibration.md), so their values saw less than half of the designed
    #: asymmetry. 0: no asymmetry of plasticity (the default; the linear rule unless
    #: ``critic_dip_gain`` != 1); any other value makes the rule rectified, also in the
    #: classical and the uncoupled controls, whose gains are then all 1.
    critic_learning_asymmetry: float = 0.0

    @property
    def distributional(self):
        return self.critic == "distributional"

    def hypotheses(self):
        """The circuit's mechanisms that no direct measurement sets (for the metadata)."""
        out = [DA_TIME_SCALE_HYPOTHESIS] if float(self.da.tau_scale_sd) > 0 else []
        if not self.distributional:
            return tuple(out)
        if np.any(self.channel_taus() != 0.5):  # the classical control scales nothing
            out.append(CRITIC_HYPOTHESES[0])
        if self.critic_da == "own":  # the uncoupled control shares one compartment
            out.append(CRITIC_HYPOTHESES[1])
        if self.critic_dip_gain != 1:
            out.append(CRITIC_HYPOTHESES[2])
        if self.critic_pause_gain != 1:
            out.append(CRITIC_HYPOTHESES[7])
        if self.critic_eligibility == "pre":
            out.append(CRITIC_HYPOTHESES[3])
            if float(self.critic_tag_delay) > 0:
                out.append(CRITIC_HYPOTHESES[4])
        if np.ptp(self.expectation_gains()) > 0:  # the channels' gains differ
            out.append(CRITIC_HYPOTHESES[5])
        if np.ptp(self.learning_gains()[0]) > 0:  # the channels' plasticity differs
            out.append(CRITIC_HYPOTHESES[6])
        return tuple(out)

    @property
    def critic_rule_changes(self):
        """What a distributional critic changes in its corticostriatal rule (both
        classes): ``k_da`` times ``critic_learning_rate``, and the presynaptic tag of
        ``critic_eligibility='pre'``. Empty for the classical critic and the defaults."""
        if not self.distributional:
            return {}
        changes = {}
        if self.critic_learning_rate != 1:
            changes["k_da"] = self.rule.k_da * float(self.critic_learning_rate)
        if self.critic_eligibility == "pre":
            changes.update(eligibility="pre", A_plus=CRITIC_PRE_TAG)
            if float(self.critic_tag_delay) > 0:
                changes["tag_delay"] = self.critic_tag_delay
        return changes

    @property
    def rectified(self):
        """True when the striatal synapses integrate the rectified phasic term
        (`da_phasic_epsilon` set, or a distributional critic's dip gain other than 1 or
        asymmetry of plasticity other than 0)."""
        return self.da_phasic_epsilon is not None or (
            self.distributional
            and (self.critic_dip_gain != 1 or self.critic_learning_asymmetry != 0)
        )

    def channel_taus(self):
        """The channels' asymmetries tau_k (distributional critic)."""
        return np.linspace(self.critic_tau_low, self.critic_tau_high, self.critic_channels)

    def expectation_gains(self):
        """Each channel's D1 -> VTA GABA weight relative to ``j_d1_gaba`` (distributional
        critic; `critic_expectation_gain`)."""
        tau = self.channel_taus()
        return self.critic_expectation_gain * (1 + self.critic_expectation_slope * (2 * tau - 1))

    def learning_gains(self):
        """Each channel's weight of bursts and of dips in its corticostriatal plasticity,
        relative to the rule's (distributional critic; `critic_learning_asymmetry`):
        ``(1 + a (2 tau_k - 1), 1 - a (2 tau_k - 1))``, two arrays; all 1 with
        ``critic_da='shared'`` (the uncoupled control: one error for every channel)."""
        a = 0.0 if self.critic_da == "shared" else self.critic_learning_asymmetry
        x = a * (2 * self.channel_taus() - 1)
        return 1 + x, 1 - x

    @property
    def expectation_scaled(self):
        """True when a distributional critic's channels have D1 -> GABA weights other
        than ``j_d1_gaba`` (per-synapse weights in the build)."""
        return self.distributional and bool(np.any(self.expectation_gains() != 1))

    def with_(self, **changes):
        return replace(self, **changes)

    def ht2c_gain(self):
        """The 5-HT2C current's effective gain: 0 mV when the route is off, ``j_ht2c``
        when sustained, ``j_ht2c * ht2c_tolerant_fraction`` when tolerant."""
        if not self.ht2c:
            return 0 * mV
        if self.ht2c_chronic == "tolerant":
            return self.j_ht2c * self.ht2c_tolerant_fraction
        return self.j_ht2c

    def size(self, name):
        base = getattr(self, name)
        return max(int(round(base * self.scale)), 0) if name != "n_per_state" else base

    def validate(self):
        check_fields(self, CIRCUIT_CHECKS)
        if float(self.critic_tag_delay) > 0 and not (
            self.distributional and self.critic_eligibility == "pre"
        ):
            raise ValueError(
                f"critic_tag_delay: {self.critic_tag_delay} needs critic='distributional' and "
                f"critic_eligibility='pre' (got {self.critic!r}, {self.critic_eligibility!r}); "
                "allowed with other settings: 0 ms"
            )
        if self.distributional:
            if self.msn_channels:
                raise ValueError(
                    "critic: the distributional critic's channels need msn_channels = 0"
                )
            if not self.critic_tau_low <= self.critic_tau_high:
                raise ValueError(
                    f"critic_tau_low ({self.critic_tau_low}) exceeds critic_tau_high "
                    f"({self.critic_tau_high})"
                )
            gains = self.expectation_gains()
            if not np.all(gains > 0):
                raise ValueError(
                    f"critic_expectation_slope: {self.critic_expectation_slope} gives channel "
                    f"gains down to {gains.min():.3g}; allowed: every channel's gain "
                    "critic_expectation_gain * (1 + slope * (2 tau - 1)) above 0"
                )
            for name in ("n_da", "n_gaba", "n_d1", "n_d2"):
                if self.size(name) < self.critic_channels:
                    raise ValueError(
                        f"critic_channels: {self.critic_channels} channels need at least as "
                        f"many {name[2:].upper()} neurons ({self.size(name)} at scale {self.scale:g})"
                    )
        if self.da_phasic_epsilon is not None:
            fraction("da_phasic_epsilon", "").check(self.da_phasic_epsilon)
        fastest = min(float(self.rule.tau_plus), float(self.da.tau_e), float(self.gaba.tau_m))
        if float(self.dt) > fastest / 4:
            raise ValueError(
                f"dt = {self.dt} is too large for the fastest time constant ({fastest * 1e3:g} ms)"
            )
        for name, neuron in (
            ("da", self.da),
            ("gaba", self.gaba),
            ("ht", self.ht),
            ("msn", self.msn),
        ):
            neuron.validate(name)
            sd = float(neuron.tau_scale_sd)
            if sd > 0:  # the fastest neurons (k_tau at -3 SD) still need a step of dt
                k = math.exp(-3 * sd)
                if float(self.dt) > min(k * float(neuron.tau_m) / 4, k * float(neuron.t_ref)):
                    raise ValueError(
                        f"{name}.tau_scale_sd: {sd:g} gives the fastest neurons (k_tau "
                        f"{k:.2f}) a refractory period or tau_m/4 below dt = {self.dt}; "
                        "allowed: a smaller spread or step"
                    )
        self.rule.validate()
        self.pools.validate()


def _connect(syn, p, rng, n_pre, n_post, allowed=None, rule="bernoulli"):
    """Connect from a numpy stream (deterministic per seed).

    ``allowed`` (boolean, n_pre x n_post) restricts the pairs that may connect.
    ``rule`` is ``'bernoulli'`` (each allowed pair with probability p) or
    ``'fixed_indegree'`` (each target gets exactly round(p x its allowed sources),
    chosen at random without replacement; NEST's ``fixed_indegree``, Brunel 2000). The
    second gives synapse counts that do not depend on the seed, so a compiled
    standalone build is reused across seeds unchanged. Both draw the same numbers.
    """
    keys = rng.random((n_pre, n_post))
    if rule == "bernoulli":
        mask = keys < p
        if allowed is not None:
            mask &= allowed
    else:
        if allowed is not None:
            keys = np.where(allowed, keys, np.inf)
        n_allowed = np.full(n_post, n_pre) if allowed is None else allowed.sum(axis=0)
        k = np.rint(p * n_allowed).astype(int)
        rank = np.argsort(np.argsort(keys, axis=0, kind="stable"), axis=0, kind="stable")
        mask = rank < k[None, :]
    i, j = np.nonzero(mask)
    if len(i):
        syn.connect(i=i, j=j)
    else:
        syn.connect(False)  # no synapse: keep the object, so the network's shape is fixed
    return i, j


def lesioned_indices(n_da, loss, lesion_rng):
    """Indices of the DA neurons removed by ``loss``.

    One random order per seed, cut at round(loss N): a larger loss removes a superset.
    """
    k = int(round(loss * n_da))
    return np.sort(lesion_rng.permutation(n_da)[:k])


def release_factor(params):
    """Release per spike of surviving DA neurons, relative to the intact circuit."""
    if not params.da_compensation or params.da_loss >= 1:
        return 1.0
    return min(1.0 / (1.0 - params.da_loss), params.da_comp_ceiling)


# --- the fixed projections, as data -----------------------------------------------------


@dataclass(frozen=True)
class FixedProjection:
    """One fixed (non-plastic) projection of the reward circuit: a row of data.

    ``probability_field``, ``weight_field`` and ``delay_field`` name the
    `RewardCircuitParams` fields that give the connection probability, the PSP jump J
    and the delay; their values are read from the params at build time (scenarios change
    them). ``delay_field`` None leaves Brian2's default (no delay). Sources that scale
    with ``scale`` keep each target's mean input: each synapse gets J / scale. ``gain``
    None: that J is one constant of the projection; otherwise J is a per-synapse
    variable (J / scale x gain), so that the scenarios that change the gain (hunger)
    share one compiled build. ``gain`` is a params field or ``'1 - <field>'``.
    ``channel_gains`` names a `RewardCircuitParams` method giving one gain per channel of
    a distributional critic (`RewardCircuitParams.expectation_gains`); where a gain is
    not 1, J is a per-synapse variable times the gain of its source neuron's channel.
    """

    name: str
    source: str
    target: str
    on_pre: str
    probability_field: str
    weight_field: str
    delay_field: str | None = None
    gain: str | None = None
    channel_gains: str | None = None

    def gain_value(self, params):
        """The gain's value for ``params`` (1.0 when the projection has none)."""
        if self.gain is None:
            return 1.0
        if self.gain.startswith("1 - "):
            return 1 - getattr(params, self.gain[len("1 - ") :])
        return getattr(params, self.gain)


#: The projections a distributional critic wires within each channel.
CRITIC_PROJECTIONS = ("d1_da", "d1_gaba", "gaba_da")

#: The fixed projections in the order they are built (and draw from the connectivity
#: stream). Sources and targets are group names (`POPULATIONS`).
FIXED_PROJECTIONS = (
    FixedProjection("d1_da", "str_d1", "vta_da", "g_e_post += J", "p_msn_vta", "j_d1_da"),
    FixedProjection(
        "d1_gaba",
        "str_d1",
        "vta_gaba",
        "g_s_post += J",
        "p_msn_vta",
        "j_d1_gaba",
        "d_d1_gaba",
        channel_gains="expectation_gains",
    ),
    FixedProjection("gaba_da", "vta_gaba", "vta_da", "g_i_post += J", "p_gaba_da", "j_gaba_da"),
    FixedProjection(
        "reward_da",
        "us_reward",
        "vta_da",
        "g_e_post += J",
        "p_outcome",
        "j_reward_da",
        "d_reward_da",
    ),
    # the need state routes the punishment: via GABA x (1 - hunger), direct x hunger
    FixedProjection(
        "punish_gaba",
        "us_punish",
        "vta_gaba",
        "g_e_post += J",
        "p_outcome",
        "j_punish_gaba",
        gain="1 - hunger",
    ),
    FixedProjection(
        "punish_5ht", "us_punish", "drn_5ht", "g_e_post += J", "p_outcome", "j_punish_5ht"
    ),
    FixedProjection("ht_da", "drn_5ht", "vta_da", "g_i_post += J", "p_opponent", "j_5ht_da"),
    FixedProjection("da_ht", "vta_da", "drn_5ht", "g_i_post += J", "p_opponent", "j_da_5ht"),
    FixedProjection(
        "punish_da",
        "us_punish",
        "vta_da",
        "g_e_post += J",
        "p_outcome",
        "j_punish_da",
        gain="hunger",
    ),
)


def fixed_projection_table(params):
    """The fixed projections resolved for ``params``: one dict per row of
    `FIXED_PROJECTIONS` (name, source, target, on_pre, probability, weight J and delay
    with units, gain, and ``fields``: the params fields each value comes from). The
    weight is J as set; each synapse gets J / scale x gain (and, with a distributional
    critic, x its channel's gain where the row has ``channel_gains``)."""
    rows = []
    for row in FIXED_PROJECTIONS:
        rows.append(
            {
                "name": row.name,
                "source": row.source,
                "target": row.target,
                "on_pre": row.on_pre,
                "probability": float(getattr(params, row.probability_field)),
                "weight": getattr(params, row.weight_field),
                "delay": 0 * ms if row.delay_field is None else getattr(params, row.delay_field),
                "gain": float(row.gain_value(params)),
                "fields": {
                    "probability": row.probability_field,
                    "weight": row.weight_field,
                    "delay": row.delay_field,
                    "gain": row.gain,
                },
            }
        )
    return rows


def fixed_projection_markdown(params):
    """`fixed_projection_table` as a Markdown table (for the docs)."""
    lines = [
        "| projection | source | target | on_pre | probability | weight J | delay | gain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in fixed_projection_table(params):
        f = r["fields"]
        delay = f"{float(r['delay'] / ms):g} ms" + (f" (`{f['delay']}`)" if f["delay"] else "")
        gain = f"{r['gain']:g}" + (f" (`{f['gain']}`)" if f["gain"] else "")
        lines.append(
            f"| {r['name']} | {r['source']} | {r['target']} | `{r['on_pre']}` "
            f"| {r['probability']:g} (`{f['probability']}`) "
            f"| {float(r['weight'] / mV):g} mV (`{f['weight']}`) | {delay} | {gain} |"
        )
    return "\n".join(lines)


# --- the build, in stages ---------------------------------------------------------------


@dataclass
class _Build:
    """What the stages of `build_reward_circuit` share: its inputs and sizes, and what
    each stage has built so far (Brian2 groups by name in ``groups``)."""

    P: RewardCircuitParams
    stimulus: Stimulus
    rng: np.random.Generator
    lesion_rng: np.random.Generator | None
    n: dict  # sizes: da, gaba, ht, d1, d2, out, ctx
    circuit: Circuit
    clock: Clock  # every object's but the recorders' and the rule's epochs (one clock)
    groups: dict = field(default_factory=dict)
    # _inputs: the cortical states' TimedArrays; a choice task's controller
    state_ns: dict = field(default_factory=dict)
    ctl: NeuronGroup | None = None
    task_ns: dict = field(default_factory=dict)
    # _pools_and_lesion
    removed: np.ndarray | None = None
    factor: float = 1.0
    release_da: Quantity | None = None
    release_ht: Quantity | None = None
    rules: dict = field(default_factory=dict)  # the three-factor rule of d1 and d2
    rectify: dict | None = None
    # _striatum: the volume transmitters of d1 and d2
    vts: dict = field(default_factory=dict)
    # the unnamed objects of the network
    task_objects: list = field(default_factory=list)
    fixed: list = field(default_factory=list)
    release: list = field(default_factory=list)


def build_reward_circuit(params, stimulus, rng, lesion_rng=None):
    """Build the circuit for one stimulus schedule. Returns a `Circuit` (nothing run).

    Parameters
    ----------
    params : RewardCircuitParams
    stimulus : Stimulus
    rng : numpy.random.Generator
        The connectivity stream.
    lesion_rng : numpy.random.Generator, optional
        The lesion stream (which DA neurons a Parkinsonian loss removes); required when
        ``params.da_loss > 0``.
    """
    params.validate()
    P = params
    n = {
        "da": P.size("n_da"),
        "gaba": P.size("n_gaba"),
        "ht": P.size("n_5ht"),
        "d1": P.size("n_d1"),
        "d2": P.size("n_d2"),
        "out": P.size("n_outcome"),
        "ctx": stimulus.n_cues * stimulus.n_states * P.n_per_state,
        "channels": P.critic_channels if P.distributional else 1,  # DA pool compartments
    }
    # one clock for the circuit's objects: the same results as a clock each (Brian2's
    # schedule does not depend on it), without the scheduler's cost per clock and step
    clock = Clock(P.dt, name="circuit_clock")
    b = _Build(P, stimulus, rng, lesion_rng, n, Circuit(Network()), clock)
    # the stages run in this order: the connectivity stream is drawn in it
    _inputs(b)
    _pools_and_lesion(b)
    _populations(b)
    _striatum(b)
    _plastic_projections(b)
    _task_readout(b)
    _fixed_projections(b)
    _release(b)
    _assemble(b)
    return b.circuit


def _inputs(b):
    """Cortical states and outcome inputs, driven by the stimulus schedule (TimedArrays:
    portable to every device); with a choice task, closed-loop through its controller."""
    P, stimulus, dt, g = b.P, b.stimulus, b.P.dt, b.groups
    state_ta = TimedArray(stimulus.state.astype(float), dt=stimulus.grid, name="state_ta")
    outcome_ta = TimedArray(stimulus.outcome.astype(float), dt=stimulus.grid, name="outcome_ta")
    b.state_ns = {"state_ta": state_ta}
    on = "int(state_ta(t) == code)"
    if stimulus.state2 is not None:
        b.state_ns["state2_ta"] = TimedArray(
            stimulus.state2.astype(float), dt=stimulus.grid, name="state2_ta"
        )
        on = "(int(state_ta(t) == code) + int(state2_ta(t) == code))"
    task = stimulus.task
    ctx_eqs = "code : 1 (constant)"
    reward_on, punish_on = "int(outcome_ta(t) == 1)", "int(outcome_ta(t) == 2)"
    if task is not None:
        if stimulus.n_states != 1:
            raise ValueError("a choice task needs one cortical state per stimulus (n_states = 1)")
        b.ctl, b.task_ns = selection.controller(task, stimulus.grid, dt, clock=b.clock)
        # closed loop: the stimuli on the screen and the feedback follow the choice
        ctx_eqs += """
        show_all : 1 (linked)
        show_chosen : 1 (linked)
        choice : 1 (linked)
        """
        on = f"{on}*(show_all + show_chosen*int(choice == code))"
        reward_on, punish_on = "reward_on", "punish_on"
    g["ctx_state"] = ctx = NeuronGroup(
        b.n["ctx"],
        ctx_eqs,
        threshold=f"rand() < (rate_off + rate_on*{on})*dt",
        namespace={**b.state_ns, "rate_on": P.state_rate_on, "rate_off": P.state_rate_off},
        name="ctx_state",
        clock=b.clock,
    )
    ctx.code = np.arange(b.n["ctx"]) // P.n_per_state
    outcome_eqs = "" if task is None else f"{reward_on} : 1 (linked)\n{punish_on} : 1 (linked)"
    gain = P.critic_reward_gain if P.distributional else None
    ns, reward_gate = _outcome_namespace(stimulus, outcome_ta, P.outcome_rate, reward_on, gain)
    for name, gate in (("us_reward", reward_gate), ("us_punish", punish_on)):
        g[name] = NeuronGroup(
            b.n["out"],
            outcome_eqs,
            threshold=f"rand() < rate*{gate}*dt",
            namespace=ns,
            name=name,
            clock=b.clock,
        )
    if task is not None:
        for group, names in (
            (ctx, ("show_all", "show_chosen", "choice")),
            (g["us_reward"], ("reward_on", "punish_on")),
            (g["us_punish"], ("reward_on", "punish_on")),
        ):
            for name in names:
                setattr(group, name, linked_var(b.ctl, name, index=np.zeros(len(group), dtype=int)))


def _outcome_namespace(stimulus, outcome_ta, rate, reward_on, gain=None):
    """The outcome inputs' namespace and the reward input's gate (scaled by the reward
    sizes' ``magnitude`` when the stimulus has them, then by ``gain`` when given: a
    distributional critic's `RewardCircuitParams.critic_reward_gain`)."""
    ns = {"outcome_ta": outcome_ta, "rate": rate}
    gate = reward_on
    if stimulus.magnitude is not None and stimulus.task is None:
        ns["magnitude_ta"] = TimedArray(
            np.asarray(stimulus.magnitude, dtype=float), dt=stimulus.grid, name="magnitude_ta"
        )
        gate = f"{gate}*magnitude_ta(t)"
    if gain is not None:
        ns["reward_gain"] = gain
        gate = f"{gate}*reward_gain"
    return ns, gate


def _pools_and_lesion(b):
    """The neuromodulator pools, the release per spike, a Parkinsonian lesion (the lesion
    stream), and the plasticity rules of D1 and D2 synapses."""
    P, n_da = b.P, b.n["da"]
    vmax, km = P.pools.vmax_dat, P.pools.km_dat
    # DA flux at the design rate = DAT uptake at the tonic level (5-HT's share ignored);
    # the release per spike of the intact population (survivors scale it, below)
    b.release_da = release_for(P.pools.da_tonic, P.da_design_rate, n_da, vmax, km)
    # 5-HT: SERT plus the part of DAT's 5-HT uptake that is degraded (the rest is
    # co-released by DA terminals, see dopasim.models.pools)
    b.release_ht = P.pools.ht_clearance_at_tonic() / (max(b.n["ht"], 1) * P.ht_design_rate)
    # Parkinsonian loss: lesioned DA neurons stay in the group (indices are kept in the
    # exported data) but never fire; survivors release more per spike
    if P.da_loss > 0:
        if b.lesion_rng is None:
            raise ValueError("da_loss > 0 needs the lesion stream (lesion_rng)")
        b.removed = lesioned_indices(n_da, P.da_loss, b.lesion_rng)
    else:
        b.removed = np.zeros(0, dtype=int)
    b.factor = release_factor(P)
    # A lesion is chronic: the pools start at the lesioned circuit's steady state (the
    # survivors' share of the design release flux) and the synapses' baseline b is
    # adapted to it. Started at the intact level, b took tens of seconds (it moves by at
    # most base_clip per tau_base) to come down, and meanwhile every eligible synapse
    # read a negative error: NoGo (D2) learning and Go (D1) unlearning of whatever was
    # shown in the first trials.
    alive = n_da - len(b.removed)
    flux_fraction = alive / n_da * b.factor if n_da and P.da_loss > 0 else 1.0
    rule_d1, rule_d2 = P.rule, P.rule.with_(sign=-1)
    critic = P.critic_rule_changes  # a distributional critic's rate and eligibility
    rule_d1, rule_d2 = rule_d1.with_(**critic), rule_d2.with_(**critic)
    if P.rectified:
        # the rectified phasic term (g_burst, g_dip) of each class. da_phasic_epsilon
        # (a hypothesis in its size): D1 synapses learn from bursts, D2 synapses from
        # dips, each from the other sign only epsilon times (Lee et al. 2021; Iino et
        # al. 2020; Dreyer et al. 2010). A distributional critic's synapses weight dips
        # by critic_dip_gain [hypothesis]. The pools keep the running mean of each
        # class's rectified part.
        eps = 1.0 if P.da_phasic_epsilon is None else float(P.da_phasic_epsilon)
        g_dip = float(P.critic_dip_gain) if P.distributional else 1.0
        rule_d1 = rule_d1.with_(phasic_gains=(1.0, eps * g_dip))
        rule_d2 = rule_d2.with_(phasic_gains=(eps, g_dip))
        b.rectify = {"d1": rule_d1.phasic_gains, "d2": rule_d2.phasic_gains}
        if P.distributional:
            # each compartment's gains: the rule's times its channel's asymmetry of
            # plasticity (critic_learning_asymmetry; all 1 when it is 0) [hypothesis]
            burst, dip = P.learning_gains()
            b.rectify = {c: (gb * burst, gd * dip) for c, (gb, gd) in b.rectify.items()}
    b.rules = {"d1": rule_d1, "d2": rule_d2}
    flux, compartments = b.release_da * n_da * P.da_design_rate, b.n["channels"]
    b.groups["pools"] = P.pools.build(
        "pools", P.dt, flux, flux_fraction, rectify=b.rectify, n=compartments, clock=b.clock
    )


def _populations(b):
    """VTA DA (lesioned ones silent), VTA GABA (with the 5-HT2C current) and raphe 5-HT
    neurons; each draws its drives and potentials from the connectivity stream."""
    P, rng, g = b.P, b.rng, b.groups
    n_da, n_gaba, noise = b.n["da"], b.n["gaba"], P.membrane_noise
    # a distributional critic's DA neurons scale their drive's deviations (channel tau)
    asym = dict(extra_eqs=DA_ASYMMETRY_EQS, extra_current="I_asym") if P.distributional else {}
    g["vta_da"] = da = lif_group(
        n_da, P.da, "vta_da", rng, clock=b.clock, noise=noise, lesionable=True, **asym
    )
    if P.distributional:
        da.namespace.update(
            tau_drive_fast=P.tau_drive_fast,
            tau_drive_slow=P.tau_drive_slow,
            asym_threshold=P.asym_threshold,
        )
        if n_da:
            tau = P.channel_taus()[channel_of(n_da, P.critic_channels)]
            da.alpha_pos = 2 * tau
            da.alpha_neg = 2 * (1 - tau) * float(P.critic_pause_gain)
    if n_da:
        alive = np.ones(n_da, dtype=bool)
        alive[b.removed] = False
        da.alive = alive
    # the 5-HT2C current (HT2C_EQS): its gain is data, 0 unless the ssri scenario turns it on
    g["vta_gaba"] = gaba = lif_group(
        n_gaba,
        P.gaba,
        "vta_gaba",
        rng,
        extra_eqs=HT2C_EQS,
        extra_current="I_ht2c",
        clock=b.clock,
        noise=noise,
    )
    occ_intact = float(ht2c_occupancy(P.ht2c_vta_tonic, P.ht2c_ec50))
    gaba.namespace.update(
        ht2c_ec50=P.ht2c_ec50,
        ht2c_vta_tonic=P.ht2c_vta_tonic,
        ht2c_ht_intact=P.ht2c_ht_intact,
        occ_ht2c_intact=occ_intact,
    )
    gaba.ht_pool = linked_var(g["pools"], "ht", index=np.zeros(n_gaba, dtype=int))
    if n_gaba:
        gaba.j_ht2c = np.full(n_gaba, float(P.ht2c_gain() / mV)) * mV
    b.circuit.info["ht2c"] = {
        "route": "on" if P.ht2c else "off",
        "chronic": P.ht2c_chronic,
        "gain_mV": float(P.ht2c_gain() / mV),
        "occupancy_intact": occ_intact,
    }
    g["drn_5ht"] = lif_group(b.n["ht"], P.ht, "drn_5ht", rng, clock=b.clock, noise=noise)


def _striatum(b):
    """D1 and D2 MSNs, each with the volume transmitter that links it to the pools' [DA]."""
    P, g = b.P, b.groups
    # the synapses read da_seen (= da unless a medication acts); b is the adaptive
    # tonic baseline da_base, not the rule's constant b
    gate = "ltd_gate" if P.ht_gates_ltd else None
    rect = b.rectify is not None
    for kind, seen in (("d1", "da_seen"), ("d2", "da_seen_d2")):
        view = SampledPool(
            seen,
            gate=gate,
            baseline=f"da_base_{kind}",
            mean="da_mean",
            rect_mean=f"rect_{kind}_mean" if rect else None,
        )
        b.vts[kind] = VolumeTransmitter(b.rules[kind], view, "da")
    # tonic DA's effect on MSN excitability (j_da_msn; off unless set): da_n is the [DA]
    # that the volume transmitter "da" links into each MSN
    for kind, sign in (("d1", 1), ("d2", -1)):
        vt, name = b.vts[kind], f"str_{kind}"
        eqs, current = vt.target_equations(), None
        if float(P.j_da_msn) != 0:
            eqs += "I_da = j_da_msn*clip(da_n/da_ref - 1, -1, 1) : volt\n"
            current = "I_da"
        g[name] = lif_group(
            b.n[kind],
            P.msn,
            name,
            b.rng,
            extra_eqs=eqs,
            extra_reset=vt.reset_code(),
            extra_current=current,
            clock=b.clock,
            noise=P.membrane_noise,
            inputs=("g_e",),  # only the cortical input (ctx_d1, ctx_d2) reaches the MSNs
        )
        if current:
            g[name].namespace.update(j_da_msn=sign * P.j_da_msn, da_ref=P.pools.da_tonic)
    for kind in ("d1", "d2"):
        channels = channel_of(b.n[kind], P.critic_channels) if P.distributional else None
        gains = b.rectify[kind] if rect else None
        b.vts[kind].install(g[f"str_{kind}"], g["pools"], channels=channels, phasic_gains=gains)


def _plastic_projections(b):
    """The plastic corticostriatal synapses (three-factor rule), ctx_d1 then ctx_d2."""
    P, g, n_ctx = b.P, b.groups, b.n["ctx"]
    transmit = "g_e_post += j_ctx*w"
    for kind in ("d1", "d2"):
        name, target, vt = f"ctx_{kind}", g[f"str_{kind}"], b.vts[kind]
        syn = vt.rule.synapses(
            g["ctx_state"],
            target,
            "da",
            name,
            transmit=transmit,
            clock=b.clock,
            ltd_gate=P.ht_gates_ltd,
            record_weights=True,
            channels=P.distributional,
        )
        syn.namespace["j_ctx"] = P.j_ctx_msn
        allowed = None
        if P.msn_channels:
            # cue c's states reach only MSN channel c (contiguous blocks of MSNs)
            cue = np.arange(n_ctx) // P.n_per_state // b.stimulus.n_states
            channel = np.arange(len(target)) // max(len(target) // P.msn_channels, 1)
            allowed = cue[:, None] == channel[None, :]
        i, j = _connect(syn, P.p_ctx_msn, b.rng, n_ctx, len(target), allowed, P.connectivity)
        if len(i):
            syn.w = P.w_init * P.rule.w_max
        vt.attach(syn)
        g[name] = syn


def _task_readout(b):
    """The basal-ganglia read-out of a choice task (nothing without one)."""
    task = b.stimulus.task
    if task is not None:
        g = b.groups
        _, b.task_objects = selection.readout(
            task,
            b.ctl,
            b.task_ns,
            g["str_d1"],
            g["str_d2"],
            b.P.msn_channels,
            b.state_ns,
            b.P.dt,
            clock=b.clock,
        )
        b.task_objects.append(b.ctl)


def _fixed_projections(b):
    """The fixed synapses: one per row of `FIXED_PROJECTIONS`, in the table's order."""
    P = b.P
    for row in FIXED_PROJECTIONS:
        src, tgt = b.groups[row.source], b.groups[row.target]
        J = getattr(P, row.weight_field)
        p = getattr(P, row.probability_field)
        allowed = None
        if P.distributional and row.name in CRITIC_PROJECTIONS:
            # within the channel only, with each target's mean input kept: probability
            # x channels (at most 1), and the weight makes up what the cap leaves out
            k = P.critic_channels
            allowed = channel_of(len(src), k)[:, None] == channel_of(len(tgt), k)[None, :]
            p_in = min(1.0, p * k)
            J = J * (p * k / p_in) if p_in > 0 else J
            p = p_in
        channel_gains = None
        if P.distributional and row.channel_gains is not None:
            channel_gains = getattr(P, row.channel_gains)()
        per_channel = channel_gains is not None and bool(np.any(channel_gains != 1))
        if row.gain is None and not per_channel:
            syn = Synapses(
                src,
                tgt,
                on_pre=row.on_pre,
                namespace={"J": J / P.scale},
                name=row.name,
                clock=b.clock,
            )
        else:
            syn = Synapses(
                src, tgt, "J : volt (constant)", on_pre=row.on_pre, name=row.name, clock=b.clock
            )
        i, _ = _connect(syn, p, b.rng, len(src), len(tgt), allowed, rule=P.connectivity)
        if row.delay_field is not None and len(i):
            syn.delay = getattr(P, row.delay_field)
        if row.gain is not None and len(i):
            syn.J = np.full(len(i), float(J / P.scale * row.gain_value(P) / mV)) * mV
        elif per_channel and len(i):
            # each channel's gain, by the presynaptic neuron's channel
            gains = channel_gains[channel_of(len(src), P.critic_channels)[i]]
            syn.J = float(J / P.scale / mV) * gains * mV
        b.fixed.append(syn)


#: A DA spike's release into the pools (phi_post: the pools' 5-HT share of DA terminals'
#: release). Kept byte for byte as the single builder wrote it, indentation included.
_DA_RELEASE_ON_PRE = """
            da_post += q*(1 - phi_post)
            da_released_post += q*(1 - phi_post)
            ht_post += q*phi_post
            ht_term_post -= q*phi_post
            """


def _release(b):
    """Volume release: DA neurons (some 5-HT co-released by DA terminals) and 5-HT
    neurons into the pools, with the survivors' release per spike."""
    P, g = b.P, b.groups
    da_release = Synapses(
        g["vta_da"],
        g["pools"],
        "q : mmolar (constant)  # release per spike of this DA neuron",
        on_pre=_DA_RELEASE_ON_PRE,
        # phi_post is the pools' subexpression; its constant must resolve here too
        namespace={"term_half": P.pools.term_half},
        name="da_release",
        clock=b.clock,
    )
    ht_release = Synapses(
        g["drn_5ht"],
        g["pools"],
        on_pre="ht_post += q",
        namespace={"q": b.release_ht},
        name="ht_release",
        clock=b.clock,
    )
    b.release = [da_release, ht_release]
    n_da, q = b.n["da"], float(b.release_da * b.factor / umolar)
    if P.distributional and P.critic_da == "own":
        # channel k's DA neurons into compartment k: each neuron's release per spike is
        # scaled by n_da / (its channel's size), so every compartment gets the
        # population's release flux (the classical level)
        chan = channel_of(n_da, b.n["channels"])
        da_release.connect(i=np.arange(n_da), j=chan)
        q = q * n_da / np.bincount(chan, minlength=b.n["channels"])[chan]
    else:
        da_release.connect()  # every compartment (one, or 'shared') gets every release
        # sized from the populations: a standalone build knows len(da_release) only
        # after the run
        q = np.full(n_da * b.n["channels"], q)
    ht_release.connect()
    if n_da:
        da_release.q = q * umolar


def _assemble(b):
    """Add everything to the network, with the named handles and the build's facts."""
    P, g, circuit, n_da = b.P, b.groups, b.circuit, b.n["da"]
    circuit.add(
        g["ctx_state"],
        g["us_reward"],
        g["us_punish"],
        g["pools"],
        *b.fixed,
        *b.release,
        *b.task_objects,
        **{k: g[k] for k in (*POPULATIONS, "pools", "ctx_d1", "ctx_d2")},
    )
    if b.stimulus.task is not None:
        circuit.groups.update(bg_controller=b.ctl, bg_thalamus=b.task_objects[0])
    circuit.info.update(
        n_ctx=b.n["ctx"],
        n_cues=b.stimulus.n_cues,
        n_states=b.stimulus.n_states,
        sizes={k: len(circuit[k]) for k in POPULATIONS},
        release_da_nM=float(b.release_da / umolar * 1e3),
        release_ht_nM=float(b.release_ht / umolar * 1e3),
        release_factor=b.factor,
        lesioned_da=b.removed.tolist(),
        n_da_alive=int(n_da - len(b.removed)),
    )
    if P.distributional:
        circuit.info["critic"] = {
            "kind": "distributional",
            "channels": P.critic_channels,
            "taus": P.channel_taus().tolist(),
            "da": P.critic_da,
            "da_channel": channel_of(n_da, P.critic_channels).tolist(),
            "d1_channel": channel_of(b.n["d1"], P.critic_channels).tolist(),
        }
    if n_da - len(b.removed) == 0:
        circuit.info["notes"] = [_no_survivor_note(P)]
    circuit.params.update({f"circuit.{k}": v for k, v in _flat(P).items()})


def _no_survivor_note(P):
    """The note of a circuit without a surviving DA neuron."""
    # the synapses read the drug's level (0 without one); their baseline is its
    # running mean, not below the floor
    floor = float(max(P.pools.base_floor_d1, P.pools.base_floor_d2) / nmolar)
    drug = float(P.pools.drug_tonic / nmolar)
    if floor > drug:
        what = (
            f"the synapses read {drug:.3g} nM and their baseline stays at its floor "
            f"({floor:.3g} nM), so every eligible synapse reads a negative DA error "
            "(D1 depression, D2 potentiation on balance)"
        )
    else:
        what = (
            f"the synapses read a constant {drug:.3g} nM (the drug's) and their "
            "baseline follows it, so DA-modulated plasticity is absent too"
        )
    return (
        "no surviving DA neuron: DA release and the DA-driven TD signal are absent; "
        "[DA] is 0 throughout; " + what
    )


def _flat(P):
    out = {}
    for key, value in vars(P).items():
        if hasattr(value, "__dataclass_fields__"):
            for k2, v2 in vars(value).items():
                out[f"{key}.{k2}"] = v2
        else:
            out[key] = value
    return out

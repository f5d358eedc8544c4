#!/usr/bin/env python
"""
Probabilistic selection: learning from positive and from negative outcomes
==========================================================================

Frank MJ, Seeberger LC, O'Reilly RC (2004) By carrot or by stick: cognitive
reinforcement learning in parkinsonism. Science 306:1940. Frank MJ (2005) Dynamic
dopamine modulation in the basal ganglia. J Cogn Neurosci 17:51.

Six stimuli A-F form three training pairs, AB (A rewarded with P = 0.8, B with 0.2),
CD (0.7 / 0.3) and EF (0.6 / 0.4). On each training trial one pair is shown, the
circuit chooses one stimulus through its basal-ganglia read-out
(`dopasim.circuits.selection`), and feedback follows: positive feedback drives the DA
neurons' reward input (a burst), negative feedback the punishment input (a pause through
VTA GABA neurons). In training the read-out explores: each channel's drift gets a random
offset per trial (SD ``choice_noise``, 12 Hz, calibrated on people's AB training
accuracy). The test phase shows all 15 pairs, ``n_test_reps`` times each, without
feedback and with a smaller decision noise (``test_choice_noise``, 1 Hz: less random
exploration where a choice reveals nothing, not none; Wilson et al. 2014; calibrated on
the intact circuit, below). Run it::

    dopasim run probabilistic-selection
    dopasim run probabilistic-selection --scenario parkinson:loss=0.75
    dopasim compare probabilistic-selection --scenario intact \\
        --scenario parkinson:loss=0.75 --scenario parkinson:loss=0.75+medicated --seeds 3

The circuit is the base reward circuit with the settings of this task (``TASK_CIRCUIT``):

* the striatum is split into one channel per stimulus (``msn_per_channel`` D1 and D2
  MSNs each), and stimulus s's cortical neurons contact only the MSNs of channel s;
* tonic DA modulates MSN excitability (D1 up, D2 down; ``j_da_msn`` 3 mV at most),
  Frank's (2005) mechanism by which DA depletion favours NoGo and medication favours Go;
* D2 synapses read DA through their high-affinity occupancy (EC50 10 nM), so they sense
  dips and saturate in bursts (`dopasim.models.pools`);
* the synapses' DA baseline re-centres on a lowered tonic level (a chronic lesion) only
  down to 7.1 nM, the level at which a 1.6-fold D2 receptor up-regulation (Wade et al.
  2000) still restores the intact signal (`dopasim.models.pools.d2_adaptation_floor`).
  Below it, as with 85 % loss or more, the deficit is a lasting negative error: on
  balance D1 synapses depress and D2 synapses potentiate whenever they are eligible,
  the net direction of plasticity in Parkinsonian striatum (Shen et al. 2008, Science
  321:848). The one baseline serves D1 and D2 synapses alike (a simplification: D1
  receptor number changes little after DA loss). Without the floor, complete loss
  leaves no plasticity at all and no freezing (0 % of trials frozen at loss 1 against
  22 % at 0.9);
* the stimuli are familiar objects that already drive the striatum (``w_init`` 0.5, as
  Frank's networks start from random mid-range weights);
* the critic's D1 -> DA/GABA paths are off: as in Frank (2005), the DA neurons respond to
  the feedback, not to a learned value of the stimuli (a learned critic would shrink the
  feedback responses of well-predicted choices, a different experiment);
* "incorrect" pauses DA neurons (through VTA GABA) but does not excite the raphe: it is
  an error signal, not a primary punisher. In development runs with the raphe
  response, its 5-HT-gated LTD (He et al. 2015) let one error drop the chosen
  stimulus' D1 weights by about 0.4 of their range (0.13 without it, same settings);
* the STDP window has Pawlak & Kerr's (2008) amplitudes (A- = 0.75 A+), so eligibility
  follows activity, and the learning rate is 20 /(uM s): at the Pavlovian 100 /(uM s),
  one outcome moved a weight by up to 40 % of its range at this task's MSN rates.

These settings were chosen while developing the protocol, after seeing runs, and fixed
before the acceptance runs (docs/calibration.md). Two more are for speed:

* fixed in-degree connectivity (each MSN gets exactly its share of cortical inputs), so
  that the synapse counts, and the compiled code, do not depend on the seed;
* the membrane noise from a counter-based hash (`dopasim.models.lif`, ``counter``):
  the same Euler-Maruyama increments' mean, variance and firing rates as Brian2's
  ``xi`` (tests/test_noise.py), at half the run time of this circuit.

metrics.json
------------
choose_a_accuracy
    Test trials pairing A with C, D, E or F: fraction of responses that choose A.
avoid_b_accuracy
    Test trials pairing B with C, D, E or F: fraction of responses that avoid B.
test_accuracy, train_accuracy_last
    Fraction of responses choosing the more often rewarded stimulus: all test pairs
    with unequal probabilities; the last third of training.
go_nogo_<s>, go_nogo_good, go_nogo_bad, value_discrimination
    Go - NoGo of stimulus s: mean rate of its D1 channel minus its D2 channel (Hz per
    neuron) in the first ``readout_window`` after onset on test trials that show s.
    ``good`` averages A, C, E and ``bad`` B, D, F; value_discrimination = good - bad.
go_nogo_w_good, go_nogo_w_bad
    The same contrast in the final corticostriatal weights (D1 - D2, units of w_max).
go_w_good, nogo_w_good, go_w_bad, nogo_w_bad
    Their parts: the change of the D1 (Go) and D2 (NoGo) weights of the good and bad
    stimuli' channels over the run (units of w_max).
value_discrimination_w
    go_nogo_w_good - go_nogo_w_bad: the learnt values, without tonic DA's effect on the
    MSNs' excitability that value_discrimination (Hz) includes.
max_channel_weight
    The largest mean weight of any stimulus' D1 or D2 channel at the end (units of
    w_max): how close the actor is to its bounds.
choose_a_expected, avoid_b_expected, test_accuracy_expected
    Probit-expected accuracies: P(X over Y) = Phi((v_X - v_Y) / (sqrt(2) sigma)) from
    each test trial's channel drives v and the test-phase decision noise sigma
    (``test_choice_noise``), averaged over the same trials as the sampled accuracies;
    less noisy than the circuit's choices.
dw_go_reward, dw_go_punish, dw_nogo_reward, dw_nogo_punish
    Learning per outcome, the quantities of Frank's (2005) account: the mean change of
    the chosen stimulus' D1 (Go) or D2 (NoGo) corticostriatal weights over one training
    trial with positive (reward) or negative (punish) feedback, in units of w_max, from
    the sampled synapses (``weight_samples``; NaN without samples). Go learning from
    positive feedback is dw_go_reward, NoGo learning from negative feedback
    dw_nogo_punish. The change is over the whole trial (from one trial start to the
    next), so it includes what the onset and the tonic fluctuations do besides the
    feedback; which stimuli are chosen, and how often, differs between scenarios.
freeze_fraction, freeze_fraction_test
    Fraction of trials (all, test) with no action in the response window.
selection_latency_ms, selection_latency_test_ms
    Median time from stimulus onset to the choice (responded trials: all; test). Most
    answered trials are training trials, where the exploration offsets drive the
    accumulators from onset and shorten the latency (54 ms intact at 12 Hz, 112 ms at
    0 Hz); the test phase's offsets (``test_choice_noise``) are much smaller, so its
    latency measures mainly the striatal drive.
da_phasic_ratio
    Striatal [DA] response to positive feedback: mean [DA] (as the synapses see it) in
    0-300 ms after feedback onset minus the pre-stimulus mean, in units of the intact
    circuit's tonic level (``pools.da_tonic``). It falls with the number of DA neurons
    whose bursts reach the striatum, so it compares scenarios directly.
da_burst_ratio
    DA population rate 0-300 ms after positive feedback / pre-stimulus rate.
da_tonic_hz
    Pre-stimulus firing rate per surviving DA neuron (NaN when none survives).
"""

import math

import numpy as np
from brian2 import Hz, SpikeMonitor, mV, nmolar, second, umolar

from dopasim import plots
from dopasim.circuits.reward_circuit import STRIATAL_RULE, Stimulus
from dopasim.circuits.selection import (
    PHASE_CLOSED,
    PHASE_OPEN,
    PHASE_RESET,
    SelectionParams,
    SelectionTask,
)
from dopasim.models.pools import NeuromodulatorPools, adaptation_floor
from dopasim.params import Param, ParamError
from dopasim.protocols import pavlovian as pv

SCENARIOS = True
HEADLINE_METRICS = (
    "choose_a_accuracy",
    "avoid_b_accuracy",
    "go_nogo_good",
    "go_nogo_bad",
    "value_discrimination",
    "value_discrimination_w",
    "freeze_fraction",
    "da_phasic_ratio",
    "selection_latency_ms",
)
#: The values these metrics can take (the comparison figures draw CIs within them).
METRIC_RANGES = {
    name: (0.0, 1.0)
    for name in (
        "choose_a_accuracy",
        "avoid_b_accuracy",
        "test_accuracy",
        "train_accuracy_last",
        "freeze_fraction",
        "freeze_fraction_test",
    )
}
#: Brian2 warns that the selection synapse (thalamus -> controller) "may depend on the
#: order of execution". It does, by design, only when two actions cross the threshold in
#: the same 0.5 ms step: one of them is taken (the first on compiled devices, the last on
#: numpy), a tie-break that is deterministic for a seed and device.
QUIET_WARNINGS = ("choice_post = (choice_post * decided_post)",)
#: Mechanisms of this task's circuit without a direct measurement (run metadata).
HYPOTHESES = (
    "rectified phasic DA term: D1 synapses learn from dips and D2 synapses from bursts "
    "epsilon times as much as from their own sign (epsilon: its size)",
    "D1 receptor up-regulation after DA loss (d1_upregulation) sets the D1 baseline floor",
    "the actor's learning rate is calibrated to keep its weights below 0.8 w_max, in place "
    "of a critic of the chosen stimulus' value",
)
NAME = "probabilistic-selection"
SUMMARY = "Frank 2004: choose A / avoid B after probabilistic training on AB, CD, EF"

STIMULI = "ABCDEF"
#: Reward probability of choosing each stimulus (Frank et al. 2004).
P_REWARD = (0.8, 0.2, 0.7, 0.3, 0.6, 0.4)
TRAIN_PAIRS = ((0, 1), (2, 3), (4, 5))
TEST_PAIRS = tuple((a, b) for a in range(6) for b in range(a + 1, 6))
GOOD, BAD = (0, 2, 4), (1, 3, 5)

#: Largest D2 receptor up-regulation after DA loss: +60-75 % in symptomatic MPTP-treated
#: cats (Wade, Rothblat & Schneider 2000, Brain Res 871:281); the lower end.
D2_UPREGULATION = 1.6
#: D1 receptors' EC50 for DA (of order 1 uM; Richfield, Penney & Young 1989,
#: Neuroscience 30:767 [2nd]). With it the D1 floor is adaptation_floor(20 nM, 1 uM, r).
D1_EC50 = 1 * umolar
#: D1 receptor up-regulation after DA loss [hypothesis]: D1 binding changes little or
#: rises modestly after DA denervation, far less than D2 (e.g. Joyce 1991, Exp Neurol
#: 113:261 [2nd; not checked in the paper]). 1.2 puts the D1 floor at 16.6 nM against
#: D2's 7.1 nM; the bracket reported as sensitivity is 1.0 (no re-centring: 20 nM) to
#: 1.4 (14.2 nM). A protocol parameter (``d1_upregulation``).
D1_UPREGULATION = 1.2
#: Gain of the rectified phasic term's other sign [hypothesis]: D1 synapses learn from
#: dips, and D2 synapses from bursts, this fraction as much as from their own sign
#: (`dopasim.circuits.reward_circuit.RewardCircuitParams.da_phasic_epsilon`). 0.2 was
#: fixed before any run; 0 and 0.5 are reported as sensitivity.
EPSILON = 0.2
_POOLS = NeuromodulatorPools(d2_ec50=10 * nmolar)

#: Circuit settings of this task (see the module docstring).
TASK_CIRCUIT = {
    # exact in-degrees: the synapse counts do not depend on the seed, so a comparison
    # compiles once for all its seeds (with Bernoulli counts every seed recompiled)
    "connectivity": "fixed_indegree",
    # the membrane noise from a counter-based hash: the same increments' statistics as
    # Brian2's xi at a sixth of the cost per draw, and seeded by data (dopasim.models.lif)
    "membrane_noise": "counter",
    "msn_channels": len(STIMULI),
    "w_init": 0.5,
    "j_da_msn": 3.0 * mV,
    "j_d1_da": 0.0 * mV,
    "j_d1_gaba": 0.0 * mV,
    # "incorrect" is an error signal, not a primary punisher: it pauses DA neurons
    # through VTA GABA neurons but does not excite the raphe
    "j_punish_5ht": 0.0 * mV,
    # the D2 synapses' baseline adapts to a lowered tonic level only as far as D2
    # receptor up-regulation (1.6-fold; Wade et al. 2000) can restore the intact signal:
    # 7.1 nM. Below it (loss >= about 0.85 with the default ceiling) the deficit is a
    # lasting negative error, as in Parkinsonian striatum (Shen et al. 2008). The D1
    # floor comes from the parameter d1_upregulation (`circuit_params`)
    "pools": _POOLS.with_(
        base_floor_d2=adaptation_floor(_POOLS.da_tonic, _POOLS.d2_ec50, D2_UPREGULATION)
    ),
    # Pawlak & Kerr 2008's amplitudes (+45 % LTP, -34 % LTD: A- = 0.75 A+), so that
    # eligibility follows activity. The learning rate: the actor learns from feedback
    # bursts and dips, not a prediction error, so its weights drift towards their bounds;
    # k_da is the largest value at which no channel's mean weight ends above 0.8 w_max
    # on any calibration seed (intact, seeds 101-108, rule fixed before the runs; issue
    # 19; scripts/calibrate_selection_actor.py, 2026-12-03). Largest channel mean weight
    # per seed: 20 -> 0.92-0.97, 14 -> 0.89-0.97, 10 -> 0.89-0.96, 7 -> 0.78-0.93,
    # 5 -> 0.68-0.84, 3.5 -> 0.61-0.72 (chosen; value_discrimination_w 0.137, AB
    # training accuracy in the last third 0.54)
    "rule": STRIATAL_RULE.with_(A_minus=0.75, k_da=3.5 / (umolar * second)),
}


def _q(name, default, help_, **kw):
    return Param(name, default, "quantity", help_, unit=second, **kw)


PARAMS = [
    # three of Frank et al.'s (2004) 60-trial training blocks (a 120-trial variant, tried
    # for speed only, changed the learning asymmetries; docs/protocols.md)
    Param("n_train", 180, "int", "training trials (AB, CD, EF in shuffled blocks of 3)", low=3),
    # 10 x 15 pairs: 40 trials behind choose-A and avoid-B each (3 gave 12, too few to
    # tell a 0.08 gap from noise)
    Param("n_test_reps", 10, "int", "test presentations of each of the 15 pairs", low=1),
    _q("trial_len", 3 * second, "length of one trial", low=0, low_open=True),
    _q("cs_time", 0.5 * second, "stimulus onset within the trial (pre-onset: baseline)", low=0),
    _q("window", 0.8 * second, "response window after onset", low=0, low_open=True),
    _q("fb_delay", 1 * second, "feedback onset after the choice", low=0),
    _q("outcome_dur", 0.1 * second, "duration of the feedback input", low=0, low_open=True),
    _q(
        "readout_window", 0.3 * second, "window after onset for Go/NoGo rates", low=0, low_open=True
    ),
    Param(
        "scale",
        1.0,
        "float",
        "DA, GABA, 5-HT and outcome population sizes relative to the default",
        low=0,
        low_open=True,
    ),
    Param("msn_per_channel", 50, "int", "D1 and D2 MSNs per stimulus channel", low=1),
    # exploration in training: 12 Hz is the value calibrated on people (the intact
    # circuit's A-choice on AB training trials, last third, closest to 0.725, the middle
    # of [0.65, Frank 2004's training criterion; 0.80, probability matching]: 0.747 over
    # seeds 101-108; 1.00 at 0 Hz over seeds 101-103 at 0.3.0;
    # scripts/calibrate_choice_noise.py). The test phase has its own, smaller noise
    # (test_choice_noise; docs/protocols.md, probabilistic selection)
    Param(
        "choice_noise",
        12 * Hz,
        "quantity",
        "SD of the read-out's trial-to-trial drift offset per channel on training trials "
        "(exploration; dopasim.circuits.selection)",
        unit=Hz,
        low=0,
    ),
    Param(
        "test_choice_noise",
        # calibrated on the intact circuit at the chosen k_da (seeds 101-108; rule: the
        # probit-expected choose-A and avoid-B both in [0.60, 0.85], within 0.10, mean
        # closest to 0.725): 0.5 Hz gave 0.749 / 0.789, 1 Hz 0.689 / 0.711 (chosen),
        # 1.5 Hz 0.644 / 0.658, 2 Hz 0.615 / 0.625, 2.5 Hz 0.595 / 0.602
        1 * Hz,
        "quantity",
        "SD of the read-out's trial-to-trial drift offset per channel on test trials "
        "(decision noise; smaller than in training: a test choice reveals nothing)",
        unit=Hz,
        low=0,
    ),
    Param("weight_samples", 300, "int", "synapses per projection recorded over time", low=0),
    Param(
        "epsilon",
        EPSILON,
        "float",
        "gain of the rectified DA term's other sign: D1 synapses learn from dips, D2 "
        "synapses from bursts, epsilon times as much as from their own sign [hypothesis]",
        low=0,
        high=1,
    ),
    Param(
        "d1_upregulation",
        D1_UPREGULATION,
        "float",
        "D1 receptor up-regulation after DA loss; sets the lowest tonic level the D1 "
        "synapses re-centre on [hypothesis]",
        low=1,
        high=10,
    ),
]


def check(p):
    for key in ("trial_len", "cs_time", "window", "fb_delay", "outcome_dur", "readout_window"):
        pv._on_grid(p[key], key)
    if p["cs_time"] < 0.2 * second:
        raise ParamError(f"cs_time: {p['cs_time']} leaves less than 0.2 s of pre-onset baseline")
    end = p["cs_time"] + p["window"] + p["fb_delay"] + p["outcome_dur"]
    if end > p["trial_len"]:
        raise ParamError(
            f"trial_len: a choice at the end of the window gets feedback until {end} into the "
            f"trial, after its end ({p['trial_len']}); allowed: "
            "cs_time + window + fb_delay + outcome_dur <= trial_len"
        )
    if p["readout_window"] > p["window"]:
        raise ParamError(
            f"readout_window: {p['readout_window']} is longer than the response window "
            f"({p['window']})"
        )
    if p["n_train"] % len(TRAIN_PAIRS):
        raise ParamError(f"n_train: {p['n_train']} is not a multiple of 3 (pairs AB, CD, EF)")
    p["n_trials"] = p["n_train"] + p["n_test_reps"] * len(TEST_PAIRS)
    p["duration"] = p["n_trials"] * p["trial_len"]
    p["n_states"] = 1
    p["cue_names"] = list(STIMULI)  # the figures' labels
    p["us_delay"] = p["window"]  # for the shared figures: the latest possible choice


def circuit_params(p, **overrides):
    per = p["msn_per_channel"] * len(STIMULI)
    task = dict(TASK_CIRCUIT)
    pools = task.pop("pools")
    floor_d1 = adaptation_floor(pools.da_tonic, D1_EC50, p.get("d1_upregulation", D1_UPREGULATION))
    task["pools"] = pools.with_(base_floor_d1=floor_d1)
    task.setdefault("da_phasic_epsilon", p.get("epsilon", EPSILON))
    task.update(overrides)
    return pv.circuit_params(p, **task, n_d1=per / p["scale"], n_d2=per / p["scale"])


def build_key(p):
    return (NAME, p["scale"], p["msn_per_channel"], p["weight_samples"])


def trials(p, rng):
    """Trial table: the two stimuli, training or test, and the outcome draw."""
    first, second_, train = [], [], []
    for _ in range(p["n_train"] // len(TRAIN_PAIRS)):
        for k in rng.permutation(len(TRAIN_PAIRS)):
            a, b = TRAIN_PAIRS[k]
            first.append(a)
            second_.append(b)
            train.append(True)
    test = [pair for _ in range(p["n_test_reps"]) for pair in TEST_PAIRS]
    for k in rng.permutation(len(test)):
        a, b = test[k]
        first.append(a)
        second_.append(b)
        train.append(False)
    n = len(first)
    # which stimulus is listed first carries no meaning (the circuit has no sides)
    swap = rng.random(n) < 0.5
    a, b = np.array(first), np.array(second_)
    cue = np.where(swap, b, a)
    cue2 = np.where(swap, a, b)
    return {
        "cue": cue,
        "cue2": cue2,
        "train": np.array(train),
        "draw": rng.random(n),
        "outcome": np.zeros(n, int),  # filled from the choices after the run
        "probe": np.zeros(n, bool),
    }


def stimulus(p, table, noise_seed=0):
    g = float(pv.GRID)
    n_grid = int(round(float(p["duration"]) / g)) + 1
    per_trial = int(round(float(p["trial_len"]) / g))
    onset = int(round(float(p["cs_time"]) / g))
    win = int(round(float(p["window"]) / g))
    shown = int(round(float(p["window"] + p["fb_delay"] + p["outcome_dur"]) / g))
    state, state2 = -np.ones(n_grid), -np.ones(n_grid)
    phase, ramp = np.zeros(n_grid), np.zeros(n_grid)
    feedback, draw = np.zeros(n_grid), np.ones(n_grid)
    for k in range(len(table["cue"])):
        base = k * per_trial
        a = base + onset
        state[a : a + shown] = table["cue"][k]
        state2[a : a + shown] = table["cue2"][k]
        phase[a] = PHASE_RESET
        phase[a + 1 : a + win] = PHASE_OPEN
        phase[a + win : a + shown] = PHASE_CLOSED
        ramp[a : a + win] = np.arange(win) / max(win - 1, 1)
        feedback[base : base + per_trial] = float(table["train"][k])
        draw[base : base + per_trial] = table["draw"][k]
    sel = SelectionParams(
        fb_delay=p["fb_delay"],
        fb_dur=p["outcome_dur"],
        drift_sd=p["choice_noise"],
        test_drift_sd=p["test_choice_noise"],
        noise_seed=noise_seed,
    )
    task = SelectionTask(phase, ramp, feedback, draw, P_REWARD, sel)
    return Stimulus(len(STIMULI), 1, pv.GRID, state, np.zeros(n_grid), state2=state2, task=task)


def build(p, rngs):
    table = trials(p, rngs["inputs"])
    cparams = circuit_params(p)
    # the read-out's drift offsets have their own stream: the others do not move with them
    noise_seed = int(rngs["choice"].integers(0, 2**31 - 1))
    stim = stimulus(p, table, noise_seed)
    circuit = pv.build(p, rngs, table, len(STIMULI), cparams=cparams, stim=stim)
    mon = SpikeMonitor(
        circuit["bg_controller"], variables=["choice", "t_choice"], name="mon_choice"
    )
    circuit.add(mon_choice=mon)
    return circuit


def collect(circuit, p):
    data = pv.collect(circuit, p)
    m = circuit["mon_choice"]
    data["choice_stim"] = np.array(m.choice[:]).astype(int)
    data["choice_time"] = np.array(m.t_choice[:] / second)
    data["da_tonic_design_nM"] = np.array(float(circuit.params["circuit"].pools.da_tonic / nmolar))
    data["n_da_alive"] = np.array(circuit.info["n_da_alive"])
    _choices(data, p)
    return data


def _choices(data, p):
    """Per-trial choice (-1: freeze), latency and outcome, from the choice events."""
    n = len(data["trial_cue"])
    T = float(p["trial_len"])
    choice = -np.ones(n, int)
    latency = np.full(n, np.nan)
    k = np.floor(data["choice_time"] / T).astype(int)
    for trial, stim, tc in zip(k, data["choice_stim"], data["choice_time"], strict=True):
        if 0 <= trial < n and choice[trial] < 0:
            choice[trial] = stim
            latency[trial] = tc - trial * T - float(p["cs_time"])
    data["trial_choice"] = choice
    data["trial_latency"] = latency
    # feedback time after onset (NaN when frozen), for the analyses and figures
    data["trial_outcome_delay"] = latency + float(p["fb_delay"])
    prob = np.array(P_REWARD)
    cue, cue2 = data["trial_cue"], data["trial_cue2"]
    data["trial_better"] = np.where(prob[cue] >= prob[cue2], cue, cue2)
    rewarded = (choice >= 0) & (data["trial_draw"] < prob[np.maximum(choice, 0)])
    outcome = np.where(rewarded, pv.REWARD, pv.PUNISH)
    outcome[(choice < 0) | ~data["trial_train"]] = pv.NONE
    data["trial_outcome"] = outcome


def _fraction(chosen_ok, mask):
    return float(np.mean(chosen_ok[mask])) if np.any(mask) else float("nan")


def _channel_rate(data, pop, stim, starts, window, per):
    i, t = data[f"spikes_{pop}"]
    sel = (i >= stim * per) & (i < (stim + 1) * per)
    ts = np.sort(t[sel])
    count = np.searchsorted(ts, starts + window) - np.searchsorted(ts, starts)
    return float(np.mean(count) / per / window) if len(starts) else float("nan")


def answered_test_trials(data):
    """The answered test trials behind each test accuracy (boolean masks over trials):
    ``choose_a`` (A against C-F), ``avoid_b`` (B against C-F) and ``all`` (pairs whose
    reward probabilities differ)."""
    cue, cue2 = data["trial_cue"], data["trial_cue2"]
    answered = ~data["trial_train"] & (data["trial_choice"] >= 0)
    has = lambda s: (cue == s) | (cue2 == s)  # noqa: E731
    prob = np.array(P_REWARD)
    return {
        "choose_a": answered & has(0) & ~has(1),
        "avoid_b": answered & has(1) & ~has(0),
        "all": answered & (prob[cue] != prob[cue2]),
    }


def metrics(data, p):
    out = {}
    cue, cue2 = data["trial_cue"], data["trial_cue2"]
    choice, train = data["trial_choice"], data["trial_train"]
    test = ~train
    responded = choice >= 0
    better = data["trial_better"]
    has = lambda s: (cue == s) | (cue2 == s)  # noqa: E731
    answered = answered_test_trials(data)
    out["choose_a_accuracy"] = _fraction(choice == 0, answered["choose_a"])
    out["avoid_b_accuracy"] = _fraction(choice != 1, answered["avoid_b"])
    out["test_accuracy"] = _fraction(choice == better, answered["all"])
    train_idx = np.nonzero(train)[0]
    last = np.zeros(len(cue), bool)
    last[train_idx[2 * len(train_idx) // 3 :]] = True
    out["train_accuracy_last"] = _fraction(choice == better, last & responded)
    # Go - NoGo per stimulus, from the channel rates on test trials that show it
    per = data["sizes"]["str_d1"] // len(STIMULI)
    starts = np.arange(len(cue)) * float(p["trial_len"]) + float(p["cs_time"])
    w = float(p["readout_window"])
    gng = {}
    for s, name in enumerate(STIMULI):
        mask = test & has(s)
        go = _channel_rate(data, "str_d1", s, starts[mask], w, per)
        nogo = _channel_rate(data, "str_d2", s, starts[mask], w, per)
        gng[s] = go - nogo
        out[f"go_nogo_{name}"] = gng[s]
    out["go_nogo_good"] = float(np.mean([gng[s] for s in GOOD]))
    out["go_nogo_bad"] = float(np.mean([gng[s] for s in BAD]))
    out["value_discrimination"] = out["go_nogo_good"] - out["go_nogo_bad"]
    go = {s: pv.weight_change(data, "ctx_d1", s) for s in range(len(STIMULI))}
    nogo = {s: pv.weight_change(data, "ctx_d2", s) for s in range(len(STIMULI))}
    for label, group in (("good", GOOD), ("bad", BAD)):
        out[f"go_w_{label}"] = float(np.mean([go[s] for s in group]))
        out[f"nogo_w_{label}"] = float(np.mean([nogo[s] for s in group]))
        out[f"go_nogo_w_{label}"] = out[f"go_w_{label}"] - out[f"nogo_w_{label}"]
    out["value_discrimination_w"] = out["go_nogo_w_good"] - out["go_nogo_w_bad"]
    # the actor's largest channel mean weight (units of w_max): how close it is to its bound
    w0 = float(data["w_init"])
    out["max_channel_weight"] = w0 + max(max(go.values()), max(nogo.values()))
    out.update(expected_accuracies(data, p))
    for proj, name in (("ctx_d1", "go"), ("ctx_d2", "nogo")):
        for code, what in ((pv.REWARD, "reward"), (pv.PUNISH, "punish")):
            out[f"dw_{name}_{what}"] = _dw_per_outcome(data, p, proj, code)
    out["freeze_fraction"] = float(np.mean(~responded))
    out["freeze_fraction_test"] = float(np.mean(~responded[test]))
    for key, mask in (
        ("selection_latency_ms", responded),
        ("selection_latency_test_ms", responded & test),
    ):
        lat = data["trial_latency"][mask]
        out[key] = float(np.median(lat) * 1e3) if len(lat) else float("nan")
    out.update(_da_metrics(data, p))
    return out


def trial_drives(data, p):
    """Each trial's channel drives: Go - NoGo rate (Hz per neuron) of every stimulus'
    channel from onset until the choice (or ``readout_window`` after onset, whichever
    comes first; frozen trials: the whole window). Returns an array (trials x stimuli);
    the choice read-out's accumulator relaxes toward these values (plus its offset)."""
    n = len(data["trial_cue"])
    per = data["sizes"]["str_d1"] // len(STIMULI)
    starts = np.arange(n) * float(p["trial_len"]) + float(p["cs_time"])
    w = float(p["readout_window"])
    lat = np.asarray(data["trial_latency"], dtype=float)
    length = np.where(np.isfinite(lat), np.minimum(lat, w), w)
    # at least one step: a choice at onset has no window to count in
    length = np.maximum(length, float(pv.GRID))
    ends = starts + length
    drives = np.zeros((n, len(STIMULI)))
    for pop, sign in (("str_d1", 1.0), ("str_d2", -1.0)):
        i, t = data[f"spikes_{pop}"]
        for s in range(len(STIMULI)):
            sel = (i >= s * per) & (i < (s + 1) * per)
            ts = np.sort(t[sel])
            count = np.searchsorted(ts, ends) - np.searchsorted(ts, starts)
            drives[:, s] += sign * count / max(per, 1) / length
    return drives


def expected_accuracies(data, p, sigma=None):
    """Probit-expected test accuracies from each trial's channel drives.

    With drift offsets of SD sigma per channel (``test_choice_noise``), X is chosen over
    Y with probability P = Phi((v_X - v_Y) / (sqrt(2) sigma)) (Ratcliff & McKoon 2008's
    drift variability; the first crossing goes to the larger drive plus offset). The
    mean of P over all test trials of each kind (frozen ones included) is
    ``choose_a_expected``, ``avoid_b_expected`` and ``test_accuracy_expected``, beside
    the sampled accuracies. sigma = 0 gives the rank (ties count 0.5).
    """
    sigma = float(p["test_choice_noise"] if sigma is None else sigma)
    cue, cue2 = data["trial_cue"], data["trial_cue2"]
    test = ~data["trial_train"]
    v = trial_drives(data, p)
    rows = np.arange(len(cue))
    prob = np.array(P_REWARD)
    better = np.where(prob[cue] >= prob[cue2], cue, cue2)
    worse = np.where(prob[cue] >= prob[cue2], cue2, cue)
    diff = v[rows, better] - v[rows, worse]
    if sigma > 0:
        z = diff / (np.sqrt(2) * sigma)
        p_better = np.array([0.5 * (1 + math.erf(x / math.sqrt(2))) for x in z])
    else:
        p_better = 0.5 * (1 + np.sign(diff))
    has = lambda s: (cue == s) | (cue2 == s)  # noqa: E731
    masks = {
        "choose_a_expected": test & has(0) & ~has(1),
        "avoid_b_expected": test & has(1) & ~has(0),
        "test_accuracy_expected": test & (prob[cue] != prob[cue2]),
    }
    # choose-A: A is always the better one; avoid-B: B always the worse one
    return {k: _fraction(p_better, m) for k, m in masks.items()}


#: Roles a stimulus plays in a trial, for `weight_change_by_role`.
ROLES = ("rewarded", "punished", "unchosen", "frozen", "not_shown", "test_shown", "test_not_shown")


def weight_change_by_role(data, p, proj):
    """Where a projection's learning comes from: each stimulus' weight change per role.

    For every stimulus s and every trial k whose end was sampled, the change of s's mean
    sampled weight over the trial (units of w_max) is credited to the role s played:
    chosen and rewarded, chosen and punished, shown but not chosen, shown in a frozen
    training trial, not shown in a training trial, or (test phase) shown or not shown.
    Returns ``{(s, role): (sum, n)}`` over those trials; an analysis of stored runs
    (``data.npz`` with weight samples), e.g. ``python scripts/selection_weight_roles.py``.
    """
    samples = _trial_samples(data, p, proj)
    if samples is None:
        return {}
    W, cue_of, at = samples
    cue, cue2 = data["trial_cue"], data["trial_cue2"]
    choice, train, outcome = data["trial_choice"], data["trial_train"], data["trial_outcome"]
    out = {}
    for s in range(len(STIMULI)):
        rows = cue_of == s
        if not np.any(rows):
            continue
        w = W[rows].mean(axis=0)
        for k in range(len(cue)):
            if k not in at or k + 1 not in at:
                continue
            shown = cue[k] == s or cue2[k] == s
            if not train[k]:
                role = "test_shown" if shown else "test_not_shown"
            elif not shown:
                role = "not_shown"
            elif choice[k] < 0:
                role = "frozen"
            elif choice[k] != s:
                role = "unchosen"
            else:
                role = "rewarded" if outcome[k] == pv.REWARD else "punished"
            total, n = out.get((s, role), (0.0, 0))
            out[(s, role)] = (total + float(w[at[k + 1]] - w[at[k]]), n + 1)
    return out


def _trial_samples(data, p, proj):
    """A projection's weight samples by trial: ``(W, cue_of, at)``, or None without usable
    samples. W holds the sampled synapses' weights (rows) at every trial start (t = k
    trial_len), cue_of each row's stimulus, and ``at`` maps trial k to its sample, so
    trial k's change is ``W[:, at[k + 1]] - W[:, at[k]]`` where both exist.
    """
    key = f"{proj}_w_samples"
    if key not in data or np.size(data[key]) == 0:
        return None
    W, t = np.asarray(data[key]), np.asarray(data[f"{proj}_w_t"])
    if "w_init" in data and not np.allclose(W[:, 0], data["w_init"]):
        # runs recorded before the monitor fix: sample k held the weight of trial k - 1
        # and the first sample was 0 (see pavlovian.build); their changes are not trials'
        return None
    cue_of = np.asarray(data[f"{proj}_w_sample_cue"])
    at = {int(round(x / float(p["trial_len"]))): j for j, x in enumerate(t)}  # trial -> sample
    return W, cue_of, at


def _dw_per_outcome(data, p, proj, outcome):
    """Mean change of the chosen stimulus' sampled weights over the trials with ``outcome``
    (a trial whose end was not sampled, the last one, is left out)."""
    samples = _trial_samples(data, p, proj)
    if samples is None:
        return float("nan")
    W, cue_of, at = samples
    vals = []
    for k in np.nonzero(data["trial_outcome"] == outcome)[0]:
        rows = cue_of == data["trial_choice"][k]
        if np.any(rows) and k in at and k + 1 in at:
            vals.append(float(np.mean(W[rows, at[k + 1]] - W[rows, at[k]])))
    return float(np.mean(vals)) if vals else float("nan")


def _da_metrics(data, p):
    out = {}
    rewarded = data["trial_outcome"] == pv.REWARD
    T, cs = float(p["trial_len"]), float(p["cs_time"])
    fb = (np.arange(len(rewarded)) * T + cs + data["trial_outcome_delay"])[rewarded]
    pre = np.arange(len(rewarded)) * T
    t, da = data["pool_t"], data["da_seen_nM"]

    def mean_in(starts, length):
        if len(starts) == 0 or len(t) < 2:
            return float("nan")
        lo = np.searchsorted(t, starts)
        hi = np.searchsorted(t, starts + length)
        vals = [da[a:b].mean() for a, b in zip(lo, hi, strict=True) if b > a]
        return float(np.mean(vals)) if vals else float("nan")

    response = mean_in(fb, 0.3) - mean_in(pre[rewarded], cs)
    out["da_phasic_ratio"] = response / float(data["da_tonic_design_nM"])
    # rate ratio of the DA population (surviving neurons' burst)
    i, ts = data["spikes_vta_da"]
    ts = np.sort(ts)
    n_alive = int(data["n_da_alive"])
    if n_alive and np.any(rewarded):
        burst = np.mean(np.searchsorted(ts, fb + 0.3) - np.searchsorted(ts, fb)) / 0.3
        base_starts = pre[rewarded]
        base = np.mean(np.searchsorted(ts, base_starts + cs) - np.searchsorted(ts, base_starts))
        base /= cs
        out["da_burst_ratio"] = float(burst / base) if base > 0 else float("nan")
        all_pre = np.arange(len(rewarded)) * T
        n_pre = np.sum(np.searchsorted(ts, all_pre + cs) - np.searchsorted(ts, all_pre))
        out["da_tonic_hz"] = float(n_pre / n_alive / (len(all_pre) * cs))
    else:
        out["da_burst_ratio"] = float("nan")
        out["da_tonic_hz"] = float("nan")
    return out


def figures(data, p, outdir):
    groups = {
        "positive feedback": data["trial_outcome"] == pv.REWARD,
        "negative feedback": data["trial_outcome"] == pv.PUNISH,
        "test": ~data["trial_train"],
    }
    files = pv.figures(data, p, outdir, groups)
    files.append(
        plots.selection_summary(
            data, p, metrics(data, p), outdir / "selection.png", answered_test_trials(data)
        )
    )
    return files


def memory_counts(p):
    """Counts for the memory estimate (`dopasim.memory`): two stimuli on at once for at
    most ``window + fb_delay + outcome_dur`` per trial, one feedback of ``outcome_dur``
    and one choice event per trial, and the choice read-out."""
    n = p["n_trials"]
    counts = pv.memory_counts_for(
        p,
        circuit_params(p),
        n_cues=len(STIMULI),
        n_states=1,
        stim_on=n * float(p["window"] + p["fb_delay"] + p["outcome_dur"]),
        outcome_on=n * float(p["outcome_dur"]),
        n_shown=2,
        task=True,
        trials="n_train or n_test_reps",
    )
    # choice and t_choice per event, at most one event per trial
    counts["spike_monitors"]["mon_choice"] = {"spikes": n, "neurons": 1, "float64": 2}
    for comp in ("synapses", "scratch", "neurons"):
        counts["reduce"][comp] = "msn_per_channel or scale"
    counts["reduce"]["spike_monitors"] = "n_train or n_test_reps, or msn_per_channel"
    return counts


class ProbabilisticSelection(pv.TrialProtocol):
    """Frank, Seeberger & O'Reilly 2004: the module's functions are its hooks."""

    NAME, SUMMARY, PARAMS = NAME, SUMMARY, PARAMS
    TINY_PARAMS = {  # 6 training trials at scale 0.1
        "n_train": "6",
        "n_test_reps": "1",
        "trial_len": "0.6s",
        "cs_time": "0.2s",
        "window": "0.2s",
        "fb_delay": "0.1s",
        "outcome_dur": "0.1s",
        "readout_window": "0.1s",
        "scale": "0.1",
        "msn_per_channel": "5",
        "weight_samples": "10",
    }
    HEADLINE_METRICS, METRIC_RANGES = HEADLINE_METRICS, METRIC_RANGES
    HYPOTHESES, QUIET_WARNINGS = HYPOTHESES, QUIET_WARNINGS

    def check(self, p):
        check(p)

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

    def collect(self, circuit, p):
        return collect(circuit, p)

    def circuit_params(self, p):
        return circuit_params(p)

    def outcome_times(self, data, params, start, cs):
        n = len(start)
        fb = np.asarray(data.get("trial_outcome_delay", np.full(n, np.nan)), dtype=np.float64)
        train = np.asarray(data.get("trial_train", np.ones(n, bool))).astype(bool)
        return (
            np.where(train & np.isfinite(fb), start + cs + fb, np.nan),
            "feedback time (s); NaN when there was none (test trial, or no choice)",
        )

    def trial_types(self, data, params, cue):
        n = len(cue)
        cue2 = np.asarray(data.get("trial_cue2", cue))
        train = np.asarray(data.get("trial_train", np.ones(n, bool)))

        def name(k):
            return STIMULI[k] if 0 <= k < len(STIMULI) else str(k)

        return [
            f"{'training' if tr else 'test'} {name(int(a))}{name(int(b))}"
            for a, b, tr in zip(cue, cue2, train, strict=True)
        ]


PROTOCOL = ProbabilisticSelection()


if __name__ == "__main__":
    from dopasim.cli import script

    script(NAME)

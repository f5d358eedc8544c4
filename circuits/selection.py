"""The basal-ganglia read-out that turns striatal Go and NoGo activity into a choice.

Used by the probabilistic-selection protocol (Frank, Seeberger & O'Reilly 2004); the
Pavlovian protocols do not build it. It follows the action-selection scheme of Frank
(2005, J Cogn Neurosci 17:51), reduced to one thalamic accumulator per action:

* Each stimulus s is one action ("choose s"). The striatal MSNs are split into one
  channel per stimulus (``RewardCircuitParams.msn_channels``), and the cortical
  neurons of s project only to the D1 and D2 MSNs of channel s (topographic
  cortico-striatal loops; Alexander, DeLong & Strick 1986).
* D1 (Go) MSNs of channel s inhibit the pallidal output (GPi/SNr) of s, which
  disinhibits thalamus s (direct pathway); D2 (NoGo) MSNs do the opposite through GPe
  and STN (indirect pathway; Albin, Young & Penney 1989). Both steps are lumped into
  one leaky accumulator per channel::

      tau_acc dx_s/dt = -x_s + tau_acc (sum of D1_s spikes - sum of D2_s spikes) / n_channel
                        + b_s (while the response window is open; below)

  so x_s is the channel's Go rate minus its NoGo rate (Hz per neuron), smoothed over
  ``tau_acc``.
* An urgency signal rises linearly across the response window (Cisek, Puskas &
  El-Murr 2009, J Neurosci 29:11560), so that a naive network (Go = NoGo) still acts,
  by its noise, before the window ends. Action s is selected when a shown s reaches
  ``x_s + urgency * ramp(t) > theta``; the first crossing wins.
* Each channel gets a trial-to-trial offset of its drift, ``b_s``, drawn at every
  trial's onset with mean 0 and SD ``drift_sd`` (training) or ``test_drift_sd`` (test;
  below) and added to its input while the window is open, so that x_s relaxes toward
  Go_s - NoGo_s + b_s. The draw is `dopasim.models.noise.counter_normal` (a sum of four
  uniforms: near-normal, bounded at +-3.46 SD). Channels that are not shown get offsets
  too; they cannot be selected. This is the drift-rate variability of
  sequential-sampling models (eta in Ratcliff & Rouder 1998, Psychol Sci 9:347; Ratcliff
  & McKoon 2008, Neural Comput 20:873). It makes the choices stochastic when the values
  differ (exploration), as people's are: Frank et al. (2004) moved participants to the
  test phase once they chose A in at least 65 % of a block's AB trials (their training
  criterion; we could not read the end-of-training accuracies in the paper), and
  matching the reward probabilities would give 80 %. The within-trial noise of x (the
  MSNs' spiking; a Poisson estimate gives about 1.4 Hz SD over ``tau_acc`` at this
  task's rates) is too small for that when Go - NoGo differs by several Hz. An offset
  added to the threshold test instead (starting-point variability without bounds) was
  tried first and rejected: offsets above theta chose at the first step after onset,
  before the stimulus reached the striatum (median latency 10 ms). The two SDs split by
  whether the trial has feedback. Random exploration is strategic: people's decision
  noise is larger when what a choice reveals can still be used (Wilson, Geana, White,
  Ludvig & Cohen 2014, J Exp Psychol Gen 143:2074, horizon 6 against horizon 1), and it
  acts mostly through the drift rate's signal-to-noise (Feng, Wang, Zarnescu & Wilson
  2021, Sci Rep 11:3077, [paper abstract]). A test trial reveals nothing, so by default
  it gets no offset; the network's own noise acts in both phases. With both 0 the
  read-out is deterministic up to that noise. The selection protocol's defaults are 12
  Hz in training (calibrated on people) and 1 Hz in the test (calibrated on the intact
  circuit; docs/protocols.md, probabilistic selection).
* No crossing within the window is no action: the trial is a *freeze* and gets no
  feedback. A channel whose NoGo outweighs its Go by more than ``urgency - theta``
  can never be selected, which is how NoGo dominance freezes the circuit (Frank 2005:
  akinesia with DA depletion).

After the choice only the chosen stimulus stays on the screen until the feedback ends
(the unchosen one disappears). Feedback comes ``fb_delay`` (1 s) after the choice, on
training trials only: reward ("correct") drives the DA neurons' reward input, and negative
feedback ("incorrect") the punishment input, which pauses DA neurons through VTA GABA
neurons. The eligibility trace rises over 0.15 s and decays over 0.6 s
(`dopasim.circuits.reward_circuit.STRIATAL_RULE`), so the chosen stimulus' pairings in
the second before the feedback carry most of the credit. The unchosen stimulus' pairings
before the choice still get some, less the longer the trace and the earlier the
feedback (docs/calibration.md). Whether a choice is
rewarded is pre-drawn per trial (``draw`` < P(chosen)), so the schedule is fixed before
the run and the choice alone decides the outcome.

Everything lives in the network (TimedArrays and one controller neuron), so the
closed loop runs on every Brian2 device, standalone included.
"""

from dataclasses import dataclass, field, replace

import numpy as np
from brian2 import Hz, NeuronGroup, Quantity, Synapses, TimedArray, ms

from dopasim.models.noise import counter_normal
from dopasim.models.timing import timing

__all__ = ["SelectionParams", "SelectionTask", "PHASE_ITI", "PHASE_RESET", "PHASE_OPEN"]

#: Phase codes of the task schedule: inter-trial, the first grid bin of a trial (the
#: controller resets), the response window. Other values: stimulus on, window closed.
PHASE_ITI, PHASE_RESET, PHASE_OPEN, PHASE_CLOSED = 0, 1, 2, 3


@dataclass(frozen=True)
class SelectionParams:
    """Parameters of the read-out (model choices; see the module docstring).

    tau_acc : Quantity
        Integration time of the thalamic accumulators (about a thalamocortical loop).
    theta : Quantity
        Selection threshold on Go - NoGo + urgency (Hz per neuron).
    urgency : Quantity
        Urgency reached at the end of the response window. With ``urgency > theta`` a
        channel with Go = NoGo is selected before the window ends.
    fb_delay, fb_dur : Quantity
        Feedback onset after the choice, and its duration.
    drift_sd : Quantity
        SD of each channel's trial-to-trial drift offset on trials with feedback
        (training: drift-rate variability, Hz per neuron; near-normal, bounded at
        +-3.46 SD); 0: none.
    test_drift_sd : Quantity
        The same on trials without feedback (the test phase); 0: none.
    noise_seed : int
        Seed of the offset draws (`dopasim.models.noise.counter_normal`).
    """

    tau_acc: Quantity = field(default_factory=lambda: 50 * ms)
    theta: Quantity = field(default_factory=lambda: 4 * Hz)
    urgency: Quantity = field(default_factory=lambda: 10 * Hz)
    fb_delay: Quantity = field(default_factory=lambda: 1000 * ms)
    fb_dur: Quantity = field(default_factory=lambda: 100 * ms)
    drift_sd: Quantity = field(default_factory=lambda: 0 * Hz)
    test_drift_sd: Quantity = field(default_factory=lambda: 0 * Hz)
    noise_seed: int = 0

    def with_(self, **changes):
        return replace(self, **changes)

    def validate(self):
        for key in ("tau_acc", "theta", "fb_dur"):
            if not float(getattr(self, key)) > 0:
                raise ValueError(f"selection: {key} must be > 0, got {getattr(self, key)}")
        for key in ("urgency", "fb_delay"):
            if not float(getattr(self, key)) >= 0:
                raise ValueError(f"selection: {key} must be >= 0, got {getattr(self, key)}")
        for key in ("drift_sd", "test_drift_sd"):
            # finite: an infinite SD in one phase would make the other's offsets NaN (inf*0)
            if not 0 <= float(getattr(self, key)) < np.inf:
                raise ValueError(
                    f"selection: {key} must be finite and >= 0, got {getattr(self, key)}"
                )
        if not 0 <= int(self.noise_seed) < 2**31:
            raise ValueError(f"selection: noise_seed must be in [0, 2**31), got {self.noise_seed}")


@dataclass(frozen=True)
class SelectionTask:
    """The task schedule, on the stimulus grid.

    ``phase`` holds the phase codes (above); ``ramp`` the urgency ramp (0 at the window's
    start, 1 at its end); ``feedback`` 1 on training trials; ``draw`` the trial's uniform
    draw (the chosen stimulus is rewarded when draw < its probability); ``p_reward``
    the reward probability of each stimulus.
    """

    phase: np.ndarray
    ramp: np.ndarray
    feedback: np.ndarray
    draw: np.ndarray
    p_reward: tuple
    params: SelectionParams = field(default_factory=SelectionParams)


CONTROLLER_EQS = """
decided : 1        # 1 once this trial's action is selected
choice : 1         # the selected stimulus (-1: none yet)
t_choice : second  # when it was selected
p_chosen : 1       # its reward probability
logged : 1         # the choice has been emitted as an event (recorded)
reward_on : 1      # positive feedback is on (read by the reward input)
punish_on : 1      # negative feedback is on (read by the punishment input)
show_all : 1       # both stimuli are on (window open, no choice yet)
show_chosen : 1    # only the chosen stimulus is on
"""

CONTROLLER_STEP = """
reset = int(phase_ta(t) == 1)
decided = decided*(1 - reset)
logged = logged*(1 - reset)
choice = choice*(1 - reset) - reset
fb = feedback_ta(t)*decided*int(t - t_choice >= fb_delay)*int(t - t_choice < fb_delay + fb_dur)
win = int(draw_ta(t) < p_chosen)
reward_on = fb*win
punish_on = fb*(1 - win)
show_all = int(phase_ta(t) == 2)*(1 - decided)
show_chosen = decided*int(t - t_choice < fb_delay + fb_dur)
"""


def controller(task, grid, dt, clock=None):
    """The one-neuron controller and the task's TimedArrays (namespace)."""
    sp = task.params
    sp.validate()
    ns = {
        "phase_ta": TimedArray(task.phase.astype(float), dt=grid, name="phase_ta"),
        "ramp_ta": TimedArray(task.ramp.astype(float), dt=grid, name="ramp_ta"),
        "feedback_ta": TimedArray(task.feedback.astype(float), dt=grid, name="feedback_ta"),
        "draw_ta": TimedArray(task.draw.astype(float), dt=grid, name="draw_ta"),
        "fb_delay": sp.fb_delay,
        "fb_dur": sp.fb_dur,
    }
    # the choice is emitted once per trial as an event, so a SpikeMonitor records it
    ctl = NeuronGroup(
        1,
        CONTROLLER_EQS,
        threshold="decided > 0.5 and logged < 0.5",
        reset="logged = 1",
        namespace=ns,
        name="bg_controller",
        **timing(dt, clock),
    )
    ctl.choice = -1
    ctl.t_choice = -1e9 * ms
    ctl.run_regularly(CONTROLLER_STEP, when="start", name="bg_controller_step")
    return ctl, ns


def readout(task, ctl, ns, d1, d2, n_channels, state_ns, dt, clock=None):
    """The accumulators and their wiring: D1 (Go) and D2 (NoGo) of each channel -> x_s."""
    sp = task.params
    n_stim = len(task.p_reward)
    acc = NeuronGroup(
        n_stim,
        """
        dx/dt = -x/tau_acc : Hz   # Go - NoGo rate of the channel (per neuron)
        b : Hz                    # this trial's drift offset
        p_reward : 1 (constant)
        noise_seed : integer (constant)
        shown = int(state_ta(t) == i) + int(state2_ta(t) == i) : 1
        """,
        threshold="phase_ta(t) == 2 and shown > 0 and x + urgency*ramp_ta(t) > theta",
        reset="",
        namespace={
            **ns,
            **state_ns,
            "tau_acc": sp.tau_acc,
            "urgency": sp.urgency,
            "theta": sp.theta,
            "drift_sd": sp.drift_sd,
            "test_drift_sd": sp.test_drift_sd,
            "counter_normal": counter_normal,
        },
        name="bg_thalamus",
        **timing(dt, clock),
    )
    acc.p_reward = np.asarray(task.p_reward, dtype=float)
    # an array, not a scalar: the seed lives in a data file, not in the compiled code
    acc.noise_seed = np.full(n_stim, int(sp.noise_seed))
    # b is redrawn in every step of the trial's reset bin (the last draw holds for the
    # trial) and drives x while the window is open: an Euler step of b/tau_acc on top of
    # the exact decay (with b = 0 the accumulator is bit-identical to the one without).
    # Its SD is drift_sd on trials with feedback and test_drift_sd on those without
    acc.run_regularly(
        """
        reset = int(phase_ta(t) == 1)
        sd = drift_sd*feedback_ta(t) + test_drift_sd*(1 - feedback_ta(t))
        b = b*(1 - reset) + reset*sd*counter_normal(timestep(t, dt), i, noise_seed)
        x += b*int(phase_ta(t) == 2)*dt/tau_acc
        """,
        when="start",
        name="bg_thalamus_drift",
    )
    objects = [acc]
    for msn, sign, name in ((d1, 1, "go"), (d2, -1, "nogo")):
        n = len(msn)
        per = n // n_channels
        syn = Synapses(msn, acc, on_pre="x_post += step", name=f"bg_{name}", **timing(dt, clock))
        src = np.arange(per * n_stim)
        if len(src):
            syn.connect(i=src, j=src // per)
        else:
            syn.connect(False)
        syn.namespace["step"] = sign / (max(per, 1) * sp.tau_acc)
        objects.append(syn)
    select = Synapses(
        acc,
        ctl,
        on_pre="""
        choice_post = choice_post*decided_post + i*(1 - decided_post)
        t_choice_post = t_choice_post*decided_post + t*(1 - decided_post)
        p_chosen_post = p_chosen_post*decided_post + p_reward_pre*(1 - decided_post)
        decided_post = 1
        """,
        name="bg_select",
        **timing(dt, clock),
    )
    select.connect()
    objects.append(select)
    return acc, objects

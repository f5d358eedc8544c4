"""Dopamine-modulated STDP (the three-factor synapse), integrated exactly and event-driven.

Sources: Izhikevich (2007) Cereb Cortex 17:2443 (daspnet.m); Potjans, Morrison & Diesmann
(2010) Front Comput Neurosci 4:141, NEST ``stdp_dopamine_synapse``.

The rule
--------
Pair-based STDP, all-to-all, sets an eligibility trace c::

    pre -> post at dt > 0 :  c += A_plus  * exp(-dt/tau_plus)
    post -> pre at dt > 0 :  c -= A_minus * exp(-dt/tau_minus)
    dc/dt = -c/tau_c
    dw/dt = sign * k_da * c * (n - b)      clipped to [w_min, w_max]

With ``eligibility='pre'`` a presynaptic spike adds A_plus to c and postsynaptic spikes
do nothing (the critic rule of Potjans, Diesmann & Morrison 2011, PLoS Comput Biol
7:e1001133; the rest below holds unchanged, without the postsynaptic pathway). With
``tag_delay`` d as well, the spike transmits on arrival and adds A_plus to c d later (a
second pathway, ``tag``, whose event first brings w up to date like any other).

n is the dopamine concentration of a `DopaminePool` and b the baseline: below it the sign
of learning reverses (NEST semantics). ``sign = -1`` is a D2-type synapse (a dip in
dopamine below b potentiates it) or a flipped polarity. ``k_da`` converts concentration
times eligibility into a weight rate (NEST's convention is k_da * release = 1/tau_n).

How it is integrated
--------------------
Nothing is updated per synapse per time step. Between two events of a synapse, c decays
as exp(-t/tau_c) and n follows the pool, so::

    w(t1) = w(t0) + sign*k_da * c(t0) * integral_t0^t1 exp(-(s-t0)/tau_c) (n(s) - b) ds

The integral does not depend on the synapse, only on the pool and on tau_c. Each
projection therefore owns a `VolumeTransmitter`, a one-element group that keeps, for the
current epoch starting at T0::

    D(t) = exp(-(t - T0)/tau_c)
    A(t) = sign*k_da * integral_T0^t D(s) (n(s) - b) ds

advanced once per time step *in closed form* (n_ph decays exponentially within a step,
and dopamine events fall on step boundaries, so the step integral is exact). A synapse
stores its eligibility in the epoch frame, ``c_e = c/D``, and the value ``A_last`` of A
at its last update, and then::

    w <- clip(w + c_e * (A(t) - A_last), w_min, w_max)

at each of its own pre or post events. This costs O(events), not O(synapses x steps).
To keep D away from underflow and A away from cancellation, every ``epoch`` (default
4 tau_c) a sweep brings every synapse up to date and the transmitter restarts the epoch
(A = 0, D = 1): one pass over the synapses per 4 s of simulated time, against one pass
per step (or per 10 ms in daspnet.m) for a clock-driven rule.

The STDP traces: the presynaptic trace is a synaptic variable updated when a spike
arrives (so it follows the axonal delay); the postsynaptic trace does not depend on the
synapse, so it is kept once per target neuron (as NEST keeps it in the archiving node),
raised by the neuron's reset and decayed by an exact factor per step.

Bounds are applied at every update of the synapse (its pre and post events and the epoch
sweeps). Because c keeps its sign between two events, this equals the continuously
clipped solution whenever n - b does not change sign in between, which always holds when
b does not exceed the tonic level (as in Izhikevich 2007 and for NEST's defaults).
NEST also clips at its update points.

Event order within one time step t (all events fall on the grid t = k dt)
-------------------------------------------------------------------------
1. ``groups``/``thresholds``: neurons update and spike.
2. ``synapses``: pre events (Brian2 order -1) before post events (order +1). Each event
   first brings w up to t (A holds the integral up to t), then changes c. So a pre and a
   post spike at the same t count as a causal pairing with dt = 0 (c += A_plus), and the
   pre event does not see that post spike. Dopamine delivered at t raises n from t on; a
   pairing at t and dopamine at t therefore interact through the whole interval after t,
   whatever their order.
3. ``resets``: a post spike raises the neuron's post trace (after the synaptic events).
4. ``end``: on epoch boundaries the sweep (order 0) and the transmitter reset (order 1);
   then the transmitter integrates [t, t + dt) (order 2); then the pool decays (order 10).

The post-spike archive (cpp_standalone)
---------------------------------------
A post spike in step 2 touches every incoming synapse of the neuron, scattered in
memory: at 10,000 neurons x 1,000 synapses this was three quarters of the run. With
``VolumeTransmitter(..., archive=True)`` the neuron records (t, A, D) of its spike once
(in its reset) and each synapse replays the spikes it has not seen, in order and with
the same arithmetic, at its next pre event, at the epoch sweep, at a snapshot and when
the run ends, as NEST's archiving nodes do (Morrison, Diesmann & Gerstner 2008, Biol
Cybern 98:459). The weights are the per-spike update's to the bit with hard bounds (a
test compares them); the synapses have no postsynaptic pathway. A synapse's raw state
lags the post spikes since its last pre event, so a StateMonitor of ``w`` must record a
per-spike copy of the synapse (`dopasim.circuits.izhikevich2007` keeps one of the
rewarded synapse). C++ side: ``cpp/post_archive.h``.

Delay convention
----------------
Brian2 delays are axonal: the pre event of STDP happens when the spike *arrives* at the
synapse (t_pre + delay), and post spikes act at the soma time. The pairing interval is
therefore dt = t_post - (t_pre + delay). NEST delays are dendritic: NEST's synapse sees
the pre spike at t_pre and the post spike at t_post + delay, i.e. dt = t_post + d - t_pre.
To match a NEST network with delay d, set the Brian2 delay to 0 and shift post spikes, or
compare intervals with that offset.
"""

import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from brian2 import (
    Function,
    NeuronGroup,
    Quantity,
    Synapses,
    get_device,
    linked_var,
    ms,
    prefs,
    second,
    umolar,
)
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

from dopasim.models.timing import timing

#: What can tag a synapse (`ThreeFactorRule.eligibility`).
ELIGIBILITIES = ("stdp", "pre")

__all__ = [
    "current_weights",
    "transmitter_value",
    "ThreeFactorRule",
    "IZHIKEVICH2007_RULE",
    "NEST_DEFAULT_RULE",
    "SampledPool",
    "VolumeTransmitter",
]


@dataclass(frozen=True)
class ThreeFactorRule:
    """Parameters of the three-factor rule (shared by all synapses of a projection).

    Parameters
    ----------
    A_plus, A_minus : float
        Eligibility added by a causal pairing and removed by an anti-causal one.
    tau_plus, tau_minus : Quantity
        STDP window time constants.
    tau_c : Quantity
        Eligibility trace time constant.
    k_da : Quantity
        Weight rate per unit eligibility per unit of dopamine above b (1/(molar*second)).
    b : Quantity
        Dopamine baseline; below it learning changes sign.
    w_min, w_max : float
        Weight bounds.
    sign : int
        +1 (D1-type) or -1 (D2-type, or flipped polarity).
    epoch : Quantity or None
        Length of one transmitter epoch; None means 4 * tau_c.
    """

    A_plus: float = 0.1  # Izhikevich 2007 (daspnet.m: STDP = 0.1)
    A_minus: float = 0.15  # Izhikevich 2007 (daspnet.m: 1.5 * 0.1)
    tau_plus: Quantity = field(default_factory=lambda: 20 * ms)  # Izhikevich 2007
    tau_minus: Quantity = field(default_factory=lambda: 20 * ms)  # Izhikevich 2007
    tau_c: Quantity = field(default_factory=lambda: 1 * second)  # Izhikevich 2007
    # daspnet.m adds (DA + 0.002) * sd to the weights every 10 ms: 1/(10 ms * uM)
    k_da: Quantity = field(default_factory=lambda: 1 / (10 * ms * umolar))
    b: Quantity = field(default_factory=lambda: 0 * umolar)  # daspnet.m: no baseline
    w_min: float = 0.0  # daspnet.m
    w_max: float = 4.0  # daspnet.m: sm = 4
    sign: int = 1
    epoch: Quantity | None = None
    tau_r: Quantity | None = None
    #: "hard": w + dw clipped to [w_min, w_max]. "soft": weight-dependent bounds (Leabra's
    #: soft bounding, O'Reilly & Munakata 2000, used by Frank 2005): an increase is scaled
    #: by (w_max - w) and a decrease by (w - w_min), both / (w_max - w_min), applied to the
    #: change accumulated since the synapse's last update (an event, a sweep or a snapshot).
    bounds: str = "hard"
    #: None: the rule above, linear in n - b. ``(g_burst, g_dip)``: receptor-specific,
    #: rectified phasic term (sampled pools with a running mean m only; see
    #: `phasic_expression`): the fast part e = n - m counts g_burst times where positive
    #: and g_dip times where negative; the slow part m - b stays linear. (1, 1) is the
    #: linear rule.
    phasic_gains: tuple | None = None
    #: What tags a synapse (`ELIGIBILITIES`). "stdp": the pair-based window above.
    #: "pre": each presynaptic spike adds A_plus and postsynaptic spikes do nothing, the
    #: presynaptic activity trace of the critic rule of Potjans, Diesmann & Morrison
    #: (2011, PLoS Comput Biol 7:e1001133); dw/dt = k_da * c * (n - b) then approximates
    #: TD(lambda)'s update of a value linear in the inputs, with c the inputs' trace. The
    #: synapses have no postsynaptic pathway and no depression (nothing for an LTD gate).
    eligibility: str = "stdp"
    #: With ``eligibility='pre'``: the presynaptic spike tags its synapse this long after
    #: it arrives (a second pathway, ``tag``; the spike still transmits at arrival).
    #: None: at arrival. A dopamine transient caused by the input's own first spikes (a
    #: cue's burst) then meets no tag of that input, and an error at t is credited to the
    #: inputs active before t - tag_delay: TD's update of the state before the error
    #: (Sutton & Barto 2018, Reinforcement Learning, 2nd ed., ch. 12), not of the state
    #: that caused it [hypothesis: Yagishita et al. 2014, Science 345:1616, found DA
    #: ineffective at a pairing and effective 0.3-2 s after it, which a tag that is not
    #: there at first agrees with; the delay itself is not measured].
    tag_delay: Quantity | None = None

    @property
    def kappa_r(self):
        """tau_c / (tau_c - tau_r): amplitude of the two exponentials of a rising trace."""
        if self.tau_r is None:
            return 1.0
        return float(self.tau_c / (self.tau_c - self.tau_r))

    def with_(self, **changes):
        """Return a copy with some parameters changed."""
        return replace(self, **changes)

    @property
    def epoch_length(self):
        return self.epoch if self.epoch is not None else 4 * self.tau_c

    def validate(self):
        """Raise ValueError naming the parameter when a value is out of range."""
        for name in ("tau_plus", "tau_minus", "tau_c"):
            value = getattr(self, name)
            if not float(value) > 0:
                raise ValueError(f"three-factor rule: {name} must be > 0, got {value}")
        for name in ("A_plus", "A_minus", "w_min", "w_max", "k_da", "b"):
            if not np.isfinite(float(getattr(self, name))):
                raise ValueError(f"three-factor rule: {name} must be finite")
        if self.bounds not in ("hard", "soft"):
            raise ValueError(
                f"three-factor rule: bounds must be 'hard' or 'soft', got {self.bounds!r}"
            )
        if self.bounds == "soft" and not self.w_min < self.w_max:
            raise ValueError("three-factor rule: soft bounds need w_min < w_max")
        if self.w_min > self.w_max:
            raise ValueError(
                f"three-factor rule: w_min ({self.w_min}) must not exceed w_max ({self.w_max})"
            )
        if self.eligibility not in ELIGIBILITIES:
            raise ValueError(
                f"three-factor rule: eligibility must be one of {ELIGIBILITIES}, "
                f"got {self.eligibility!r}"
            )
        if self.tag_delay is not None:
            if self.eligibility != "pre":
                raise ValueError("three-factor rule: tag_delay needs eligibility 'pre'")
            if not float(self.tag_delay) > 0:
                raise ValueError(
                    f"three-factor rule: tag_delay must be > 0 (or None), got {self.tag_delay}"
                )
        if self.sign not in (1, -1):
            raise ValueError(f"three-factor rule: sign must be +1 or -1, got {self.sign}")
        if self.tau_r is not None and not 0 < float(self.tau_r) < float(self.tau_c):
            raise ValueError(
                f"three-factor rule: tau_r must be in (0, tau_c = {self.tau_c}), got {self.tau_r}"
            )
        if not float(self.epoch_length) > 0:
            raise ValueError(f"three-factor rule: epoch must be > 0, got {self.epoch}")
        if self.phasic_gains is not None:
            gains = tuple(self.phasic_gains)
            if len(gains) != 2 or not all(np.isfinite(g) and g >= 0 for g in gains):
                raise ValueError(
                    "three-factor rule: phasic_gains must be two finite gains >= 0 "
                    f"(burst, dip), got {self.phasic_gains!r}"
                )

    # ------------------------------------------------------------------ equations
    @property
    def rises(self):
        """True when the eligibility has a rise time (``tau_r`` set)."""
        return self.tau_r is not None

    def _increment(self, vt):
        """The weight change since the synapse's last update (an expression)."""
        inc = f"c_e*({vt}_A - A_last)"
        if self.rises:
            inc += f" + Q_e*({vt}_Ar - A_last_r)"
        return inc

    def synapse_model(self, vt, record_weights=False, ltd_gate=False, archive=None, channels=False):
        """Equations of the synapse for transmitter variables ``vt``_A / ``vt``_D.

        The transmitter's numbers are linked from its one-element group
        (`VolumeTransmitter.attach` sets the links). ``record_weights`` adds ``w_rec``, a
        plain copy of the current weight that `snapshot` refreshes (monitors cannot read
        ``w_now`` on every device). ``archive`` (the id of a `VolumeTransmitter` with a
        post-spike archive) keeps the presynaptic trace as plain state with its own time
        and the count of its target's archived post spikes already replayed.
        """
        extra = f"{vt}_A : 1 (linked)\n{vt}_D : 1 (linked)\n"
        if channels:
            extra += f"{vt}_channel : integer (constant)  # the target's pool compartment\n"
        if self.rises:
            extra += f"{vt}_Ar : 1 (linked)\n{vt}_Dr : 1 (linked)\n"
        if ltd_gate:
            extra += f"{vt}_ltd : 1 (linked)\n"
        if record_weights:
            extra += "w_rec : 1                    # current weight at the last snapshot\n"
        elig = f"c_e*{vt}_D"
        if self.rises:
            extra += (
                "Q_e : 1                      # rising part of the eligibility, epoch frame\n"
                "A_last_r : 1                 # transmitter integral A_r at the last update\n"
            )
            elig += f" + Q_e*{vt}_Dr"
        if archive is None:
            trace = "dapre/dt = -apre/tau_plus : 1 (event-driven)     # presynaptic STDP trace (at arrival)"
        else:
            trace = (
                "apre : 1                     # presynaptic STDP trace at t_a\n"
                "t_a : second                 # time of the trace's last update\n"
                "k_done : integer             # archived post spikes of the target replayed"
            )
        return (
            extra
            + f"""
w : 1                        # weight, up to date at the last event of this synapse
c_e : 1                      # eligibility in the epoch frame: c = c_e * D (+ Q_e * D_r)
A_last : 1                   # transmitter integral A at the last weight update
{trace}
elig = {elig} : 1   # eligibility c now
w_now = {self._bounded(vt)} : 1  # weight now
"""
        )

    def _bounded(self, vt):
        """The weight after the change accumulated since the last update, bounded."""
        inc = f"({self._increment(vt)})"
        if self.bounds == "hard":
            return f"clip(w + {inc}, w_min, w_max)"
        room = f"(int({inc} > 0)*(w_max - w) + int({inc} <= 0)*(w - w_min))/(w_max - w_min)"
        return f"clip(w + {inc}*{room}, w_min, w_max)"

    def _catch_up(self, vt):
        code = f"w = {self._bounded(vt)}\nA_last = {vt}_A\n"
        if self.rises:
            code += f"A_last_r = {vt}_Ar\n"
        return code

    def _tag(self, vt, amount):
        """Code adding ``amount`` (an expression) to the eligibility tag."""
        if not self.rises:
            return f"c_e += {amount}/{vt}_D\n"
        # x jumps by `amount`; c = kappa*x0*(exp(-t/tau_c) - exp(-t/tau_r)) afterwards
        return f"c_e += kappa_r*({amount})/{vt}_D\nQ_e -= kappa_r*({amount})/{vt}_Dr\n"

    def _replay(self, archive, decay):
        """Code replaying the target's archived post spikes into the synapse;
        with ``decay`` also decaying ``apre`` to t (a presynaptic event at t)."""
        soft = int(self.bounds == "soft")
        return (
            f"k_done = dopasim_archive_catch_up({archive}, j, w, c_e, A_last, apre, t_a, "
            f"k_done, t, {int(decay)}, tau_plus, A_plus, w_min, w_max, {soft})\n"
            "w = dopasim_archive_value(k_done, 0)\n"
            "c_e = dopasim_archive_value(k_done, 1)\n"
            "A_last = dopasim_archive_value(k_done, 2)\n"
            "apre = dopasim_archive_value(k_done, 3)\n"
            "t_a = dopasim_archive_time(k_done)\n"
        )

    def on_pre(self, vt, transmit="", ltd_gate=False, archive=None):
        """Code for a presynaptic spike arriving; ``transmit`` uses the updated ``w``.

        With ``ltd_gate`` the depression amplitude is multiplied by the target's
        ``<vt>_ltd`` (a neuromodulator gate, e.g. 5-HT; see `dopasim.models.pools`).
        With ``archive`` the target's archived post spikes are replayed first.
        """
        gate = f"*{vt}_ltd" if ltd_gate else ""
        if self.eligibility == "pre" and self.tag_delay is not None:
            tag = ""  # the delayed pathway tags (`on_tag`)
        elif self.eligibility == "pre":  # the spike itself tags; no depression to gate
            tag = self._tag(vt, "A_plus")
        else:
            tag = self._tag(vt, f"-A_minus{gate}*{vt}_apost_post") + "apre += 1\n"
        return (
            (self._replay(archive, decay=True) if archive is not None else "")
            + self._catch_up(vt)
            + (transmit + "\n" if transmit else "")
            + tag
        )

    def on_tag(self, vt):
        """Code of the delayed tag pathway (``tag_delay`` set): catch up, then tag."""
        return self._catch_up(vt) + self._tag(vt, "A_plus")

    def on_post(self, vt, archive=None):
        """Code for a postsynaptic spike (none with ``archive``: the target archives it,
        and none with a presynaptic eligibility)."""
        if archive is not None or self.eligibility == "pre":
            return ""
        return self._catch_up(vt) + self._tag(vt, "A_plus*apre")

    def snapshot(self, vt, archive=None):
        """Code that stores the current weight in ``w_rec`` (for a `run_regularly`)."""
        replay = self._replay(archive, decay=False) if archive is not None else ""
        return replay + f"w_rec = {self._bounded(vt)}"

    def sweep(self, vt, archive=None):
        """Code that brings every synapse up to date and moves it to the next epoch."""
        code = self._replay(archive, decay=False) if archive is not None else ""
        code += f"w = {self._bounded(vt)}\nA_last = 0\nc_e = c_e*{vt}_D\n"
        if self.rises:
            code += f"A_last_r = 0\nQ_e = Q_e*{vt}_Dr\n"
        return code

    def current_weights(self, syn, vt="da"):
        """Current weights of the plastic synapses ``syn`` as a numpy array.

        Reads plain state only (what every device can give back after a run); the
        transmitter's numbers through the synapses' links.
        """
        w = np.asarray(syn.w[:])
        extra = 0.0
        if self.rises:  # the rising part too; the bound comes once, at the end
            Ar = transmitter_value(syn, f"{vt}_Ar")
            extra = np.asarray(syn.Q_e[:]) * (Ar - np.asarray(syn.A_last_r[:]))
        A = transmitter_value(syn, f"{vt}_A")
        return current_weights(
            w, syn.c_e[:], syn.A_last[:], A, self.w_min, self.w_max, extra, self.bounds
        )

    def namespace(self, archive=None):
        extra = ARCHIVE_FUNCTIONS if archive is not None else {}
        return {
            **extra,
            "A_plus": self.A_plus,
            "A_minus": self.A_minus,
            "tau_plus": self.tau_plus,
            "tau_minus": self.tau_minus,
            "w_min": self.w_min,
            "w_max": self.w_max,
            "kappa_r": self.kappa_r,
        }

    def synapses(
        self,
        source,
        target,
        vt,
        name,
        transmit="",
        delay=None,
        dt=None,
        ltd_gate=False,
        record_weights=False,
        archive=None,
        channels=False,
        clock=None,
    ):
        """Create the plastic `Synapses` between ``source`` and ``target``.

        ``target`` must carry the transmitter ``vt`` (built with
        ``vt.target_equations()`` and set up with ``vt.install(target)``). Connect the
        synapses afterwards, then call ``vt.attach(synapses)`` to add the epoch sweep.
        ``archive``: the transmitter's `VolumeTransmitter.archive_id` when it archives post
        spikes (then the synapses have no postsynaptic pathway). ``channels``: the target
        reads a pool of several compartments (`VolumeTransmitter.install`).
        """
        self.validate()
        if archive is not None and self.eligibility != "stdp":
            raise ValueError("three-factor rule: the post-spike archive needs eligibility 'stdp'")
        on_pre = self.on_pre(vt, transmit, ltd_gate, archive)
        if self.tag_delay is not None:  # a second pathway tags, tag_delay after arrival
            on_pre = {"pre": on_pre, "tag": self.on_tag(vt)}
            arrival = 0 * ms if delay is None else delay
            delay = {"pre": arrival, "tag": arrival + self.tag_delay}
        return Synapses(
            source,
            target,
            model=self.synapse_model(vt, record_weights, ltd_gate, archive, channels),
            on_pre=on_pre,
            on_post=self.on_post(vt, archive) or None,
            namespace=self.namespace(archive),
            delay=delay,
            name=name,
            **timing(dt, clock),
        )


#: Izhikevich (2007) values, in the units of daspnet.m.
IZHIKEVICH2007_RULE = ThreeFactorRule()

#: NEST ``stdp_dopamine_synapse`` defaults (A+ = 1, A- = 1.5, tau_c = 1 s, tau_n = 200 ms)
#: with a pool release of 1 uM: k_da * release = 1/tau_n (Potjans et al. 2010's
#: normalisation).
NEST_DEFAULT_RULE = ThreeFactorRule(
    A_plus=1.0,
    A_minus=1.5,
    tau_c=1000 * ms,
    k_da=1 / (200 * ms * umolar),
    w_min=0.0,
    w_max=200.0,
)


#: Folder of ``post_archive.h`` (the post-spike archive's C++ side).
ARCHIVE_DIR = Path(__file__).parent / "cpp"


def _archive_function(name, signature, call, arg_units, arg_types, return_unit, return_type):
    """A Brian2 `Function` calling ``post_archive.h`` (cpp_standalone only)."""

    def unavailable(*args):
        raise NotImplementedError(
            "the post-spike archive of the three-factor synapse runs on cpp_standalone only"
        )

    fn = Function(
        unavailable,
        arg_units=arg_units,
        return_unit=return_unit,
        arg_types=arg_types,
        return_type=return_type,
        stateless=False,
    )
    ctype = "int32_t" if return_type == "integer" else "double"
    fn.implementations.add_implementation(
        "cpp",
        f"static inline {ctype} {name}({signature})\n{{\n    return {call};\n}}\n",
        name=name,
        compiler_kwds={"headers": ['"post_archive.h"'], "include_dirs": [str(ARCHIVE_DIR)]},
    )
    return fn


_I, _F = "integer", "float"
#: The functions that the archive's code calls, by their names in that code.
ARCHIVE_FUNCTIONS = {
    "dopasim_archive_record": _archive_function(
        "dopasim_archive_record",
        "int32_t proj, int32_t i, double t, double A, double D",
        "dopasim_archive::record(proj, i, t, A, D)",
        [1, 1, second, 1, 1],
        [_I, _I, _F, _F, _F],
        1,
        _I,
    ),
    "dopasim_archive_clear": _archive_function(
        "dopasim_archive_clear",
        "int32_t proj",
        "dopasim_archive::clear(proj)",
        [1],
        [_I],
        1,
        _I,
    ),
    "dopasim_archive_catch_up": _archive_function(
        "dopasim_archive_catch_up",
        "int32_t proj, int32_t j, double w, double c_e, double A_last, double apre, "
        "double t_a, int32_t k_done, double t, int32_t decay, double tau_plus, double A_plus, "
        "double w_min, double w_max, int32_t soft",
        "dopasim_archive::catch_up(proj, j, w, c_e, A_last, apre, t_a, k_done, t, decay, "
        "tau_plus, A_plus, w_min, w_max, soft)",
        [1, 1, 1, 1, 1, 1, second, 1, second, 1, second, 1, 1, 1, 1],
        [_I, _I, _F, _F, _F, _F, _F, _I, _F, _I, _F, _F, _F, _F, _I],
        1,
        _I,
    ),
    "dopasim_archive_value": _archive_function(
        "dopasim_archive_value",
        "int32_t k_done, int32_t which",
        "dopasim_archive::value(k_done, which)",
        [1, 1],
        [_I, _I],
        1,
        _F,
    ),
    "dopasim_archive_time": _archive_function(
        "dopasim_archive_time",
        "int32_t k_done",
        "dopasim_archive::value(k_done, 4)",
        [1],
        [_I],
        second,
        _F,
    ),
}


def archive_available():
    """True when the current Brian2 device can run the post-spike archive: cpp_standalone
    without OpenMP threads (the archive's C++ side is single-threaded)."""
    threads = prefs["devices.cpp_standalone.openmp_threads"]
    return isinstance(get_device(), CPPStandaloneDevice) and not threads


def transmitter_value(syn, name):
    """The value of the transmitter variable ``name`` that plastic synapses ``syn``
    link to: one number for the whole projection, or with channels (a transmitter per
    pool compartment, `VolumeTransmitter.install`) one per synapse."""
    values = np.asarray(syn.variables[name].get_value())
    if values.size == 1:
        return float(values[0])
    index = syn.variables[syn.variables.indices[name]].get_value()
    return values[np.asarray(index)]


def current_weights(w, c_e, A_last, A_target, w_min, w_max, extra=0.0, bounds="hard"):
    """Weights brought up to the present from recorded state (for monitors and results).

    ``A_target`` is the transmitter integral of each synapse's target neuron; ``extra``
    the rising part's change, if any. The same expression as the synapse's ``w_now``,
    for use outside Brian2 (a StateMonitor cannot record a synaptic subexpression that
    reads postsynaptic variables).
    """
    w = np.asarray(w, dtype=float)
    inc = np.asarray(c_e) * (np.asarray(A_target) - np.asarray(A_last)) + extra
    if bounds == "soft":
        room = np.where(inc > 0, w_max - w, w - w_min) / (w_max - w_min)
        inc = inc * room
    return np.clip(w + inc, w_min, w_max)


@dataclass(frozen=True)
class SampledPool:
    """A pool with any kinetics, read by a transmitter as constant over each step.

    ``variable`` names the concentration in the pool's group (e.g. ``'da'`` of
    `dopasim.models.pools.NeuromodulatorPools`). The transmitter then integrates
    ``(n - b)`` with n held at its value after the step's releases, which is exact for
    the stepped pool (the pool itself is integrated by its group's own method).
    ``gate`` optionally names a gate variable of the same group (the LTD gate).
    ``baseline`` optionally names a variable of the group used as b instead of the
    rule's constant b (an adaptive baseline, e.g. a running mean of the concentration).
    ``mean`` optionally names the running mean m of the concentration, the reference of
    a rule's rectified phasic term (`ThreeFactorRule.phasic_gains`); required by it.
    ``rect_mean`` optionally names a running mean of that rectified fast part, which the
    transmitter subtracts from it (so that tonic fluctuations, once rectified, do not
    give the signal a mean; `dopasim.models.pools.NeuromodulatorPools.build`).
    """

    variable: str
    gate: str | None = None
    baseline: str | None = None
    mean: str | None = None
    rect_mean: str | None = None

    def validate(self):
        for name in (self.variable, self.gate, self.baseline, self.mean, self.rect_mean):
            if name is not None and not name.isidentifier():
                raise ValueError(f"sampled pool: variable '{name}' is not a name")


class VolumeTransmitter:
    """Per-projection integral of the dopamine pool (see the module docstring).

    The transmitter's numbers (``<name>_A``, ``<name>_D``; with a rise time also
    ``<name>_Ar``, ``<name>_Dr``; with an LTD gate ``<name>_ltd``) live in a group of one
    element, advanced once per step: every synapse of the projection reads the same
    numbers through linked variables, so the cost per step does not grow with the
    target population. The postsynaptic STDP trace ``<name>_apost`` is per neuron and
    stays on the target group.

    Parameters
    ----------
    rule : ThreeFactorRule
    pool : DopaminePool
        Parameters of the pool (tonic level, clearance time).
    name : str
        Prefix of the transmitter variables.
    archive : bool
        Archive the target neurons' spikes instead of updating every incoming synapse at
        each of them (cpp_standalone only; see below and ``cpp/post_archive.h``). The
        weights are the same as without it.

    The post-spike archive
    ----------------------
    A postsynaptic spike brings each incoming synapse up to date and tags it. With
    ``archive`` the neuron instead records (t, A, D) of its spike once, in its reset;
    each synapse replays the spikes it has not seen, in order and with the same
    arithmetic, at its next presynaptic event, at the epoch sweep, at a snapshot and at
    the end of the run, as NEST's archiving nodes do (Morrison, Diesmann & Gerstner
    2008, Biol Cybern 98:459, doi:10.1007/s00422-008-0233-1). The projection then has no
    postsynaptic pathway, and a post spike costs one record instead of a scattered update
    of every incoming synapse. Between those points a synapse's raw state (``w``,
    ``c_e``, ``A_last``) lags the post spikes since its last presynaptic event; read
    weights with `ThreeFactorRule.current_weights` after the run, or through a snapshot.
    """

    def __init__(self, rule, pool, name="da", archive=False):
        rule.validate()
        pool.validate()
        if archive and rule.rises:
            raise ValueError("three-factor rule: the post-spike archive needs tau_r = None")
        self.archive = bool(archive)
        self.archive_id = None
        self.channels = None  # per target neuron, its pool compartment (`install`)
        if rule.phasic_gains is not None and not (
            isinstance(pool, SampledPool) and pool.mean is not None
        ):
            raise ValueError(
                "three-factor rule: phasic_gains need a sampled pool with a running mean "
                "(SampledPool(..., mean=...))"
            )
        self.rule = rule
        self.pool = pool
        self.name = name

    @property
    def sampled(self):
        return isinstance(self.pool, SampledPool)

    @property
    def rectified(self):
        """True when the rule's phasic term is rectified (`ThreeFactorRule.phasic_gains`)."""
        return self.rule.phasic_gains is not None

    def phasic_expression(self):
        """The modulating signal the transmitter integrates each step (sampled pools).

        Linear rule: ``n - b``. Rectified: the fast part e = n - m (m the pool's running
        mean) with gain g_burst above m and g_dip below, plus the slow part m - b::

            g_burst [n - m]+ - g_dip [m - n]+ - r + (m - b)

        r is the pool's running mean of the rectified part (`SampledPool.rect_mean`; 0
        without one). With gains (1, 1) and no r this is n - b up to rounding; the
        linear rule keeps its own expression, so runs without gains are unchanged to the
        bit.
        """
        vt = self.name
        b = f"{vt}_nb" if self.pool.baseline else f"{vt}_b"
        if not self.rectified:
            return f"({vt}_n - {b})"
        e = f"({vt}_n - {vt}_nm)"
        r = f" - {vt}_nr" if self.pool.rect_mean else ""
        return f"({vt}_gb*0.5*({e} + abs({e})) + {vt}_gd*0.5*({e} - abs({e})){r} + ({vt}_nm - {b}))"

    def _concentration_line(self):
        """The pool's concentration (sampled pool) or phasic part, as a linked variable."""
        if not self.sampled:
            return f"{self.name}_n_ph : mmolar (linked)  # phasic dopamine of the pool\n"
        return f"{self.name}_n : mmolar (linked)  # concentration of the pool\n"

    def _pool_lines(self):
        """Linked variables reading the pool, for the transmitter's group."""
        vt = self.name
        lines = self._concentration_line()
        if not self.sampled:
            return lines
        if self.pool.baseline:
            lines += f"{vt}_nb : mmolar (linked)  # adaptive baseline b\n"
        if self.rectified:
            lines += (
                f"{vt}_nm : mmolar (linked)  # running mean m (reference of the phasic term)\n"
                f"{vt}_gb : 1 (constant)  # gain of the phasic term above m (bursts)\n"
                f"{vt}_gd : 1 (constant)  # gain of the phasic term below m (dips)\n"
            )
            if self.pool.rect_mean:
                lines += f"{vt}_nr : mmolar (linked)  # running mean of the rectified part\n"
        return lines

    def target_equations(self):
        """Lines to add to the postsynaptic group's equations: the post trace, and the
        pool's concentration ``<name>_n`` (or ``<name>_n_ph``) for the target's own use."""
        vt = self.name
        eqs = (
            self._concentration_line()
            + f"{vt}_apost : 1      # postsynaptic STDP trace, shared by the neuron's synapses\n"
        )
        if self.archive:
            eqs += (
                f"{vt}_A_now : 1 (linked)  # the transmitter's A, archived with a spike\n"
                f"{vt}_D_now : 1 (linked)  # the transmitter's D, archived with a spike\n"
            )
        return eqs

    def _group_equations(self):
        vt = self.name
        eqs = (
            f"{vt}_A : 1          # sign*k_da * integral of D*(n - b) over this epoch\n"
            f"{vt}_D : 1          # exp(-(t - T0)/tau_c), T0 = start of the epoch\n"
        )
        if self.rule.rises:
            eqs += (
                f"{vt}_Ar : 1         # the same integral weighted by exp(-(t - T0)/tau_r)\n"
                f"{vt}_Dr : 1         # exp(-(t - T0)/tau_r)\n"
            )
        if self.sampled and self.pool.gate:
            eqs += (
                f"{vt}_ltd_src : 1 (linked)  # gate on the LTD amplitude (pool)\n"
                f"{vt}_ltd : 1  # its copy at the end of each step, read by the synapses\n"
            )
        return eqs + self._pool_lines()

    def reset_code(self):
        """Code to append to the target group's reset: a spike raises the post trace (and,
        with the archive, records the spike)."""
        vt = self.name
        code = f"{vt}_apost += 1"
        if self.archive:
            code += (
                f"\n{vt}_archived = dopasim_archive_record({vt}_archive_id, i, t, "
                f"{vt}_A_now, {vt}_D_now)"
            )
        return code

    def install(self, target, pool_group, channels=None, phasic_gains=None):
        """Build the transmitter's group for ``target`` and link both to the pool.

        Call once per target. The group (``<target>_<name>``, one element, on the
        target's clock) is added to ``target.contained_objects``, so a `Network` that
        holds the target runs it. The target's reset must include `reset_code`. Returns
        the group (also ``self.group``).

        ``channels`` (an int per target neuron) reads a pool of several compartments:
        neuron k reads compartment ``channels[k]``, and the group holds one transmitter
        per compartment (element c integrates compartment c), so each channel's
        synapses learn from their own compartment (`attach` links them by their target's
        channel).

        ``phasic_gains`` (rectified rule only): ``(g_burst, g_dip)``, each a number or one
        per compartment, in place of the rule's `ThreeFactorRule.phasic_gains` (a
        distributional critic's channels, `RewardCircuitParams.learning_gains`).
        """
        vt = self.name
        rule, pool = self.rule, self.pool
        tau_c = rule.tau_c
        ns = {
            f"{vt}_g": rule.sign * rule.k_da,
            f"{vt}_b": rule.b,
            f"{vt}_tau_c": tau_c,
        }
        if channels is None:
            n_group, index = 1, np.zeros(len(target), dtype=int)
        else:
            index = np.asarray(channels, dtype=int)
            n_group = len(pool_group)
            if index.shape != (len(target),) or index.min() < 0 or index.max() >= n_group:
                raise ValueError(
                    f"{target.name}: channels must give each of its {len(target)} neurons a "
                    f"compartment in 0..{n_group - 1}"
                )
            if self.archive:
                raise ValueError("the post-spike archive reads a single-compartment pool")
        group = NeuronGroup(
            n_group,
            self._group_equations(),
            namespace=ns,
            clock=target.clock,
            name=f"{target.name}_{vt}",
        )
        self.channels = None if channels is None else index
        one = np.arange(n_group, dtype=int)  # element c reads compartment c
        setattr(group, f"{vt}_D", 1)
        taus = {"": tau_c}
        if rule.rises:
            taus["r"] = rule.tau_r
            setattr(group, f"{vt}_Dr", 1)
        if self.sampled:
            setattr(target, f"{vt}_n", linked_var(pool_group, pool.variable, index=index))
            setattr(group, f"{vt}_n", linked_var(pool_group, pool.variable, index=one))
            if pool.gate:
                setattr(group, f"{vt}_ltd_src", linked_var(pool_group, pool.gate, index=one))
                setattr(group, f"{vt}_ltd", 1)
            if pool.baseline:
                setattr(group, f"{vt}_nb", linked_var(pool_group, pool.baseline, index=one))
            if self.rectified:
                setattr(group, f"{vt}_nm", linked_var(pool_group, pool.mean, index=one))
                # data, not code: one compiled build serves every pair of gains
                # a number for every element, or one per compartment
                gb, gd = rule.phasic_gains if phasic_gains is None else phasic_gains
                setattr(group, f"{vt}_gb", gb)
                setattr(group, f"{vt}_gd", gd)
                if pool.rect_mean:
                    setattr(group, f"{vt}_nr", linked_var(pool_group, pool.rect_mean, index=one))
        else:
            setattr(target, f"{vt}_n_ph", linked_var(pool_group, "n_ph", index=index))
            setattr(group, f"{vt}_n_ph", linked_var(pool_group, "n_ph", index=one))
            ns[f"{vt}_n_tonic"] = pool.tonic
        code = f"{vt}_ltd = {vt}_ltd_src\n" if self.sampled and pool.gate else ""
        reset = ""
        if self.archive:
            # an id for the archive, the same in every build of this network
            self.archive_id = zlib.crc32(f"{target.name}_{vt}".encode()) & 0x7FFFFFFF
            ns[f"{vt}_archive_id"] = self.archive_id
            ns["dopasim_archive_clear"] = ARCHIVE_FUNCTIONS["dopasim_archive_clear"]
            target.namespace[f"{vt}_archive_id"] = self.archive_id
            target.namespace["dopasim_archive_record"] = ARCHIVE_FUNCTIONS["dopasim_archive_record"]
            setattr(target, f"{vt}_A_now", linked_var(group, f"{vt}_A", index=index))
            setattr(target, f"{vt}_D_now", linked_var(group, f"{vt}_D", index=index))
            # the archive empties when the epoch restarts, after the sweep has replayed it
            reset += f"{vt}_cleared = dopasim_archive_clear({vt}_archive_id)\n"
        for suffix, tau in taus.items():
            A, D, T = f"{vt}_A{suffix}", f"{vt}_D{suffix}", f"{vt}_tau{suffix or '_c'}"
            ns[T] = tau
            if self.sampled:
                # exact for n held constant over [t, t + dt)
                step = f"{self.phasic_expression()}*{T}*(1 - exp(-dt/{T}))"
            else:
                # exact: n_ph decays within the step, n_tonic - b is fixed
                ns[f"{T}n"] = 1 / (1 / tau + 1 / pool.tau)
                step = (
                    f"({vt}_n_tonic - {vt}_b)*{T}*(1 - exp(-dt/{T}))"
                    f" + {vt}_n_ph*{T}n*(1 - exp(-dt/{T}n))"
                )
            code += f"{A} += {D}*{vt}_g*({step})\n{D} = {D}*exp(-dt/{T})\n"
            reset += f"{A} = 0\n{D} = 1\n"
        # same names, slots and orders as when these ran on the target group
        group.run_regularly(code, when="end", order=2, name=f"{target.name}_{vt}_advance")
        target.namespace[f"{vt}_tau_minus"] = rule.tau_minus
        target.run_regularly(
            f"{vt}_apost = {vt}_apost*exp(-dt/{vt}_tau_minus)",
            when="end",
            order=2,
            name=f"{target.name}_{vt}_apost",
        )
        group.run_regularly(
            reset,
            dt=rule.epoch_length,
            when="end",
            order=1,
            name=f"{target.name}_{vt}_epoch",
        )
        target.contained_objects.append(group)
        self.group = group
        self.target = target
        return group

    def attach(self, synapses, archive=None):
        """Link plastic synapses to the transmitter's group (made by `install`) and add
        their epoch sweep. Call after ``connect``. ``archive=False`` attaches synapses
        built without the archive to a transmitter that has one."""
        # every transmitter variable the synapse model declares (`synapse_model`); with
        # channels, each synapse links to its target neuron's compartment's transmitter
        index = None
        if self.channels is not None:
            index = f"{self.name}_channel"  # a synaptic variable: synapses grow
            if index not in synapses.variables:
                raise ValueError(
                    f"{synapses.name}: the target reads pool compartments; build the "
                    "synapses with channels=True"
                )
            setattr(synapses, index, self.channels[np.asarray(synapses.j[:], dtype=int)])
        for name in synapses._linked_variables:
            if name.startswith(f"{self.name}_"):
                if index is None:
                    setattr(synapses, name, linked_var(self.group, name))
                else:
                    setattr(synapses, name, linked_var(self.group, name, index=index))
        archive = self.archive_id if self.archive and archive is not False else None
        if archive is not None and synapses.target is not self.target:
            # the archive is indexed by the group's neuron index, the synapses' j by the
            # target's: a subgroup would replay another neuron's spikes
            raise ValueError(
                f"{synapses.name}: the post-spike archive needs the synapses to target "
                f"'{self.target.name}' itself, not a subgroup"
            )
        synapses.run_regularly(
            self.rule.sweep(self.name, archive),
            dt=self.rule.epoch_length,
            when="end",
            order=0,
            name=f"{synapses.name}_sweep",
        )
        if archive is not None:
            self._flush_at_end(synapses)

    def _flush_at_end(self, synapses):
        """Replay every synapse's pending post spikes when the run ends (cpp_standalone:
        code after the network's run, before the arrays are written)."""
        if not archive_available():
            raise ValueError("the post-spike archive runs on cpp_standalone only")
        dev = get_device()
        if '"post_archive.h"' not in dev.headers:
            dev.headers.append('"post_archive.h"')
            dev.include_dirs.append(str(ARCHIVE_DIR))
        names = {
            v: "brian::" + dev.get_array_name(synapses.variables[v], access_data=False)
            for v in ("_synaptic_post", "w", "c_e", "A_last", "apre", "t_a", "k_done")
        }
        rule = self.rule
        # the replay put off to the end is run-phase work: its time counts in the run's
        dev.insert_code(
            "after_network_run",
            f"Network::_last_run_time += dopasim_archive::flush({self.archive_id}, "
            f"{names['_synaptic_post']}, "
            f"{names['w']}, {names['c_e']}, {names['A_last']}, {names['apre']}, "
            f"{names['t_a']}, {names['k_done']}, {float(rule.tau_plus)!r}, "
            f"{float(rule.A_plus)!r}, {float(rule.w_min)!r}, {float(rule.w_max)!r}, "
            f"{int(rule.bounds == 'soft')});  // post-spike archive of {synapses.name}",
        )

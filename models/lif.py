"""Leaky integrate-and-fire neurons with current-based synapses, noise and an AHP.

One model serves every population of the reward circuit; the populations differ in
their parameters (`LIFParams`), each documented where it is defined
(`dopasim.circuits.reward_circuit`). Potentials are in mV relative to nothing in
particular (absolute values as in the sources); synaptic inputs are expressed as the
voltage they add, so a weight is the size of a postsynaptic potential's jump.

The equations::

    tau_m dv/dt = v_rest - v + I_bias + g_e + g_s - g_i - g_ahp + sigma sqrt(2 tau_m) xi
    dg_e/dt = -g_e/tau_e        fast excitation (AMPA-like)
    dg_s/dt = -g_s/tau_s        slow excitation (NMDA-like; the delayed value path)
    dg_i/dt = -g_i/tau_i        inhibition (GABA_A-like)
    dg_ahp/dt = -g_ahp/tau_ahp  after-hyperpolarisation, += b_ahp at each spike

A spike is emitted at ``v > v_th``; then ``v = v_reset`` and the neuron is refractory for
``t_ref``. With ``LIFParams.tau_scale_sd`` > 0 each neuron's ``tau_m``, ``t_ref`` and
``tau_ahp`` are multiplied by its own constant ``k_tau``. ``sigma`` is the standard deviation of the membrane-potential fluctuations
that the white-noise current alone would cause. Synaptic inputs may be negative on
``g_s`` (a slow inhibitory path).
"""

import re
from dataclasses import dataclass, field, replace

import numpy as np
from brian2 import NeuronGroup, Quantity, ms, mV

from dopasim.models.timing import timing

__all__ = ["INPUTS", "LIFParams", "LIF_EQS", "NOISE_SOURCES", "lif_equations", "lif_group"]

LIF_EQS = """
dv/dt = (v_rest - v + I_bias + g_e + g_s - g_i - g_ahp)/tau_m + sigma*sqrt(2/tau_m)*xi : volt (unless refractory)
dg_e/dt = -g_e/tau_e : volt       # fast excitation
dg_s/dt = -g_s/tau_s : volt       # slow excitation (or slow inhibition when negative)
dg_i/dt = -g_i/tau_i : volt       # inhibition
dg_ahp/dt = -g_ahp/tau_ahp : volt # after-hyperpolarisation
I_bias : volt (constant)          # tonic drive (heterogeneous across the population)
"""

#: A lesionable group's flag (`lif_group`): a lesioned neuron never fires.
_ALIVE = """alive : boolean (constant)        # False for a lesioned neuron (it never fires)
"""


@dataclass(frozen=True)
class LIFParams:
    """Parameters of one LIF population (defaults: a generic cortical-like cell).

    Parameters
    ----------
    tau_m : Quantity
        Membrane time constant.
    v_rest, v_th, v_reset : Quantity
        Resting, threshold and reset potentials.
    t_ref : Quantity
        Absolute refractory period.
    tau_e, tau_s, tau_i : Quantity
        Decay of the fast excitatory, slow excitatory and inhibitory inputs.
    tau_ahp, b_ahp : Quantity
        Decay and per-spike increment of the after-hyperpolarisation.
    sigma : Quantity
        Membrane noise (standard deviation of the free fluctuations).
    i_bias_mean, i_bias_sd : Quantity
        Mean and spread (Gaussian, across neurons) of the tonic drive.
    tau_scale_sd : float
        Spread of the neurons' time scale: each neuron's ``tau_m``, ``t_ref`` and
        ``tau_ahp`` are multiplied by its own factor ``k_tau = exp(tau_scale_sd z)``, z
        standard normal (0: every neuron has the population's time constants and no
        ``k_tau``). With the drive and the noise in volts unchanged, a neuron's
        steady-state f-I curve is the population's divided by ``k_tau``: its rates, its
        pauses and its bursts all scale with its tonic rate (a gain, not an offset, as a
        tonic drive's spread gives). Exact in continuous time for the membrane, its noise,
        the refractory period and the AHP; the synaptic filters keep their time constants,
        and the refractory period is counted in whole steps (floor of t_ref k_tau / dt).
        At most 0.5. See `lif_group`.
    """

    tau_m: Quantity = field(default_factory=lambda: 20 * ms)
    v_rest: Quantity = field(default_factory=lambda: -70 * mV)
    v_th: Quantity = field(default_factory=lambda: -50 * mV)
    v_reset: Quantity = field(default_factory=lambda: -60 * mV)
    t_ref: Quantity = field(default_factory=lambda: 2 * ms)
    tau_e: Quantity = field(default_factory=lambda: 5 * ms)
    tau_s: Quantity = field(default_factory=lambda: 100 * ms)
    tau_i: Quantity = field(default_factory=lambda: 10 * ms)
    tau_ahp: Quantity = field(default_factory=lambda: 100 * ms)
    b_ahp: Quantity = field(default_factory=lambda: 0 * mV)
    sigma: Quantity = field(default_factory=lambda: 3 * mV)
    i_bias_mean: Quantity = field(default_factory=lambda: 15 * mV)
    i_bias_sd: Quantity = field(default_factory=lambda: 1 * mV)
    tau_scale_sd: float = 0.0

    def with_(self, **changes):
        """A copy with some parameters changed."""
        return replace(self, **changes)

    def validate(self, name="lif"):
        """Raise ValueError naming the parameter when a value is out of range."""
        for key in ("tau_m", "tau_e", "tau_s", "tau_i", "tau_ahp"):
            if not float(getattr(self, key)) > 0:
                raise ValueError(f"{name}: {key} must be > 0, got {getattr(self, key)}")
        for key in ("t_ref", "sigma", "i_bias_sd", "b_ahp"):
            if float(getattr(self, key)) < 0:
                raise ValueError(f"{name}: {key} must be >= 0, got {getattr(self, key)}")
        if not 0 <= float(self.tau_scale_sd) <= 0.5:
            raise ValueError(f"{name}: tau_scale_sd must be in [0, 0.5], got {self.tau_scale_sd}")
        if not self.v_reset < self.v_th:
            raise ValueError(f"{name}: v_reset ({self.v_reset}) must be below v_th ({self.v_th})")

    def namespace(self):
        return {
            "tau_m": self.tau_m,
            "v_rest": self.v_rest,
            "v_th": self.v_th,
            "v_reset": self.v_reset,
            "tau_e": self.tau_e,
            "tau_s": self.tau_s,
            "tau_i": self.tau_i,
            "tau_ahp": self.tau_ahp,
            "b_ahp": self.b_ahp,
            "sigma": self.sigma,
        }


#: The synaptic variables of `LIF_EQS`: fast excitation, slow excitation, inhibition.
INPUTS = ("g_e", "g_s", "g_i")


def lif_equations(inputs=INPUTS, ahp=True):
    """`LIF_EQS` with only the synaptic variables ``inputs`` (of `INPUTS`) and, with
    ``ahp``, the AHP. Left out, a variable is 0 for the whole run, and so is its term: the
    membrane's update is the same to the bit (a sum with a 0 added is the sum; checked on
    numpy, and on cpp_standalone by the spikes of a 16,000 s distributional run)."""
    unknown = set(inputs) - set(INPUTS)
    if unknown:
        raise ValueError(f"inputs: {sorted(unknown)} not among {', '.join(INPUTS)}")
    keep = set(inputs) | ({"g_ahp"} if ahp else set())
    lines = LIF_EQS.strip("\n").split("\n")
    out = []
    for line in lines:
        var = line[1 : line.index("/")] if line.startswith("dg_") else None
        if var is not None and var not in keep:
            continue
        out.append(line)
    eqs = "\n" + "\n".join(out) + "\n"
    for var, sign in (("g_e", "+"), ("g_s", "+"), ("g_i", "-"), ("g_ahp", "-")):
        if var not in keep:
            eqs = eqs.replace(f" {sign} {var}", "", 1)
    return eqs


#: A neuron's own time scale (`LIFParams.tau_scale_sd` > 0): a constant per neuron.
_TIME_SCALE = """
k_tau : 1 (constant)  # this neuron's factor on tau_m, t_ref and tau_ahp
"""


def _with_time_scale(eqs):
    """``eqs`` with every ``tau_m`` and ``tau_ahp`` times ``k_tau``, and its declaration."""
    return re.sub(r"\b(tau_m|tau_ahp)\b", r"(\1*k_tau)", eqs) + _TIME_SCALE


#: The membrane noise's sources: Brian2's white noise ``xi`` (polar-method Gaussian from
#: its Mersenne twister), or ``counter``: the same Euler-Maruyama increment
#: sigma sqrt(2 dt/tau_m) z with z from `dopasim.models.noise.counter_normal` (a hash of
#: (seed, step, neuron); 2.8 against 18 ns per draw here, identical on every target, and
#: seeded by data, not by the compiled code).
NOISE_SOURCES = ("xi", "counter")

# The draw sits in the equation itself (the function is stateless, and Euler evaluates
# the right-hand side once per step, at the step's start): one code object instead of a
# separate 'constant over dt' subexpression update, with bit-identical results (the run
# time is the same: the cost is the hash, not the extra loop).
_COUNTER_NOISE = """
noise_seed : integer (constant)  # per group (drawn from the connectivity stream)
"""


def lif_group(
    n,
    params,
    name,
    rng,
    extra_eqs="",
    extra_reset="",
    extra_current=None,
    dt=None,
    noise="xi",
    inputs=INPUTS,
    clock=None,
    lesionable=False,
):
    """A `NeuronGroup` of ``n`` LIF neurons with heterogeneous tonic drive.

    ``rng`` (a numpy Generator) draws the drives and initial potentials (and, with
    ``noise='counter'``, the noise seed, after them), so that the group is fully
    determined by the circuit's connectivity stream. ``extra_current`` names a
    voltage-valued variable of ``extra_eqs`` added to the membrane's input. ``noise`` is
    one of `NOISE_SOURCES`. ``inputs`` names the synaptic variables the group has (of
    `INPUTS`); a group that no synapse reaches through the others leaves them out, and a
    group without an AHP (``b_ahp`` 0) has no ``g_ahp``: variables that would stay 0
    cost an update per neuron and step (`lif_equations`). ``clock`` (a `brian2.Clock`)
    replaces ``dt``: the group shares it (`dopasim.models.timing`). A ``lesionable``
    group has the boolean ``alive`` (all True; a lesion sets some False) and fires only
    where it is True; the others do without it, and their threshold's compiled loop
    without the branches Brian2 makes of each boolean it reads.
    """
    params.validate(name)
    if noise not in NOISE_SOURCES:
        raise ValueError(f"{name}: noise must be one of {', '.join(NOISE_SOURCES)}, got {noise!r}")
    ahp = float(params.b_ahp) != 0
    scaled = float(params.tau_scale_sd) > 0
    eqs = lif_equations(inputs, ahp) + (_ALIVE if lesionable else "")
    namespace = params.namespace()
    refractory = params.t_ref
    if noise == "counter":
        from dopasim.models.noise import counter_normal

        eqs = eqs.replace(
            "sigma*sqrt(2/tau_m)*xi",
            "sigma*sqrt(2/(tau_m*dt))*counter_normal(timestep(t, dt), i, noise_seed)",
        )
        eqs += _COUNTER_NOISE
        namespace["counter_normal"] = counter_normal
    if extra_current:
        eqs = eqs.replace(")/tau_m + sigma", f" + {extra_current})/tau_m + sigma", 1)
    if scaled:  # last: the membrane's own equations, not extra_eqs, get the time scale
        eqs = _with_time_scale(eqs)
        namespace["t_ref"] = params.t_ref
        refractory = "t_ref*k_tau"
    group = NeuronGroup(
        n,
        eqs + extra_eqs,
        threshold="v > v_th and alive" if lesionable else "v > v_th",
        reset="v = v_reset\n" + ("g_ahp += b_ahp\n" if ahp else "") + extra_reset,
        refractory=refractory,
        method="euler",
        namespace=namespace,
        name=name,
        **timing(dt, clock),
    )
    if n:
        if lesionable:
            group.alive = np.ones(n, dtype=bool)
        group.I_bias = params.i_bias_mean + params.i_bias_sd * rng.standard_normal(n)
        group.v = params.v_reset + (params.v_th - params.v_reset) * rng.uniform(0, 1, n)
        if noise == "counter":
            # an array, not a scalar: the seed lives in a data file, not in the code
            group.noise_seed = np.full(n, int(rng.integers(0, 2**31 - 1)))
        # drawn last: the group's other draws are as without it (the groups built after
        # it draw from the same stream, so theirs are not)
        if scaled:
            group.k_tau = np.exp(float(params.tau_scale_sd) * rng.standard_normal(n))
    return group

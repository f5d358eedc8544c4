"""The Izhikevich (2003) simple model neuron, with Izhikevich's own numerics.

Izhikevich EM (2003) Simple model of spiking neurons. IEEE Trans Neural Netw 14:1569.
Izhikevich EM (2007) Solving the distal reward problem through linkage of STDP and
dopamine signaling. Cereb Cortex 17:2443 (code: spnet.m / daspnet.m).

The model, with v and u in mV and time in ms::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I
    du/dt = a (b v - u)
    if v >= 30 mV:  v <- c,  u <- u + d

``I`` has the units of v (a voltage increment per ms of drive). The noise is
``sigma_noise*(U - 0.5)`` with U uniform in [0, 1) redrawn every step, as daspnet.m's
``I = 13*(rand(N,1) - 0.5)``; U comes from `dopasim.models.noise.counter_uniform`, so it
is the same on every code target for a given ``noise_seed``. Synaptic input arrives as
pulses: each presynaptic spike adds its weight to ``I_syn`` for one time step, which is
cleared after the update, exactly as ``I`` is rebuilt every millisecond in daspnet.m.

Numerics
--------
``method=IZHIKEVICH_HALF_STEPS`` reproduces the published code: v advances in two Euler
half-steps (of dt/2 each, 0.5 ms at dt = 1 ms) with u frozen, then u takes one Euler step
with the new v. Any Brian2 method name (``'euler'``, ``'rk4'``) can be used instead.
"""

from dataclasses import dataclass, field

import sympy
from brian2 import Equations, Quantity, ms, mV
from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

from dopasim.models.noise import counter_uniform

__all__ = [
    "IZHIKEVICH_EQS",
    "IZHIKEVICH_HALF_STEPS",
    "IZHIKEVICH_NAMESPACE",
    "IzhikevichParams",
    "REGULAR_SPIKING",
    "FAST_SPIKING",
    "izhikevich_equations",
    "IzhikevichHalfSteps",
]

#: The model equations. ``I_noise`` is redrawn once per time step ("thalamic input").
IZHIKEVICH_EQS = """
dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u + I_total)/ms : volt  # membrane potential
du/dt = a*(b*v - u) : volt                                     # recovery variable
I_total = I_syn + I_noise + I_ext : volt                       # drive (mV per ms)
I_noise = sigma_noise*(counter_uniform(timestep(t, dt), i, noise_seed) - 0.5) : volt  # uniform noise, one draw per step
I_syn : volt                     # synaptic pulses of this step, cleared after the update
I_ext : volt                     # external drive (protocol stimuli)
a : 1/second (constant)          # recovery rate
b : 1 (constant)                 # sensitivity of u to v
c : volt (constant)              # reset potential
d : volt (constant)              # reset increment of u
noise_seed : integer (constant, shared)  # seed of the noise stream (models/noise.py)
"""

#: Names the equations need in their namespace (add ``sigma_noise`` and ``v_peak``).
IZHIKEVICH_NAMESPACE = {"counter_uniform": counter_uniform}

#: Threshold and reset (Izhikevich 2003).
IZHIKEVICH_THRESHOLD = "v >= v_peak"
IZHIKEVICH_RESET = "v = c\nu += d"
#: Code that clears the synaptic pulses after each update (run in ``after_groups``).
CLEAR_PULSES = "I_syn = 0*mV"


@dataclass(frozen=True)
class IzhikevichParams:
    """Parameters of one Izhikevich cell class (Izhikevich 2003, Fig. 2)."""

    a: Quantity = field(default_factory=lambda: 0.02 / ms)  # RS; Izhikevich 2003
    b: float = 0.2  # Izhikevich 2003
    c: Quantity = field(default_factory=lambda: -65 * mV)  # Izhikevich 2003
    d: Quantity = field(default_factory=lambda: 8 * mV)  # RS; Izhikevich 2003


#: Regular-spiking excitatory cells (Izhikevich 2003; daspnet.m: a=0.02, d=8).
REGULAR_SPIKING = IzhikevichParams(a=0.02 / ms, b=0.2, c=-65 * mV, d=8 * mV)
#: Fast-spiking inhibitory cells (Izhikevich 2003; daspnet.m: a=0.1, d=2).
FAST_SPIKING = IzhikevichParams(a=0.1 / ms, b=0.2, c=-65 * mV, d=2 * mV)


def izhikevich_equations(extra=""):
    """Return the model as an `Equations` object, with optional extra lines appended."""
    return Equations(IZHIKEVICH_EQS + "\n" + extra)


class IzhikevichHalfSteps:
    """State updater with Izhikevich's published numerics.

    v takes two explicit Euler half-steps of dt/2 with every other variable frozen; then
    every other variable takes one explicit Euler step that uses the new v. At dt = 1 ms
    this is line for line the update of spnet.m and daspnet.m::

        v = v + 0.5*((0.04*v+5).*v+140-u+I);
        v = v + 0.5*((0.04*v+5).*v+140-u+I);
        u = u + a.*(0.2*v-u);

    NEST's ``izhikevich`` model with ``consistent_integration=False`` does the same.
    """

    __name__ = "izhikevich_half_steps"

    def __init__(self, split_variable="v"):
        self.split_variable = split_variable

    def __call__(self, equations, variables=None, method_options=None):
        v = self.split_variable
        # Unsubstituted right-hand sides: subexpressions (the drive, the noise) stay as
        # names, which the code generator computes once per neuron and step, inside
        # this update loop, however often the two half-steps use them.
        exprs = {name: expr for name, expr in equations.diff_eq_expressions}
        if v not in exprs:
            raise ValueError(f"IzhikevichHalfSteps needs a differential equation for '{v}'")
        f_v = str_to_sympy(exprs[v].code, variables)
        (v_sym,) = [s for s in f_v.free_symbols if s.name == v] or [sympy.Symbol(v)]
        v_half = sympy.Symbol("_v_half", real=True)
        lines = [
            f"_v_half = {v} + 0.5*dt*({sympy_to_str(f_v)})",
            f"{v} = _v_half + 0.5*dt*({sympy_to_str(f_v.subs(v_sym, v_half))})",
        ]
        for name, expr in exprs.items():
            if name != v:
                lines.append(f"{name} = {name} + dt*({expr.code})")
        return "\n".join(lines)


#: Ready-made instance to pass as ``method=``.
IZHIKEVICH_HALF_STEPS = IzhikevichHalfSteps()

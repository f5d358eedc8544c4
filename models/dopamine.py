"""Dopamine pool: extracellular dopamine shared by many synapses (volume transmission).

The pool is one concentration ``n(t) = n_tonic + n_ph(t)``: a constant tonic level plus a
phasic part that each dopamine event raises by ``release`` and that is cleared with time
constant ``tau``::

    dn_ph/dt = -n_ph/tau + release * sum_k delta(t - t_k)

Izhikevich (2007) calls this variable d (his "extracellular concentration of dopamine",
in uM): tau_d = 200 ms, +0.5 per reward, and a tonic level that adds 0.002 to the
weight-update multiplier of daspnet.m. NEST's ``volume_transmitter`` plays the same role.

Synapses never read the pool at every time step. Each plastic projection owns a
`VolumeTransmitter` (see `dopasim.models.three_factor`) that turns the pool into a
running integral, which lets every synapse advance its weight in closed form from one of
its own events to the next.

The pool lives in a one-element `NeuronGroup`; dopamine events reach it through ordinary
`Synapses` with ``on_pre=DopaminePool.on_release``. Its decay is exact (an exponential
factor per step), so the pool adds no discretisation error.
"""

from dataclasses import dataclass, field

from brian2 import NeuronGroup, Quantity, ms, umolar

__all__ = ["DopaminePool", "IZHIKEVICH2007_POOL"]


@dataclass(frozen=True)
class DopaminePool:
    """Parameters of a linear dopamine pool.

    Parameters
    ----------
    tau : Quantity
        Clearance time constant of phasic dopamine.
    tonic : Quantity
        Constant tonic concentration.
    release : Quantity
        Concentration added by one dopamine event.
    """

    tau: Quantity = field(default_factory=lambda: 200 * ms)  # tau_d, Izhikevich 2007
    tonic: Quantity = field(default_factory=lambda: 0.002 * umolar)  # daspnet.m: 0.002
    release: Quantity = field(default_factory=lambda: 0.5 * umolar)  # daspnet.m: DA += 0.5

    #: Code for a `Synapses` ``on_pre`` that delivers one dopamine event to the pool;
    #: use it with ``namespace=pool.release_namespace()``.
    on_release = "n_ph_post += release"

    def release_namespace(self):
        return {"release": self.release}

    def validate(self):
        """Raise ValueError when a parameter is out of range."""
        if not float(self.tau) > 0:
            raise ValueError(f"dopamine pool: tau must be > 0, got {self.tau}")
        if float(self.tonic) < 0:
            raise ValueError(f"dopamine pool: tonic must be >= 0, got {self.tonic}")

    def build(self, name="da_pool", dt=None):
        """Return the one-element `NeuronGroup` that holds the pool.

        Its variables are ``n_ph`` (phasic concentration) and ``n`` (total, tonic
        included). The phasic part decays at the end of each step (slot ``end``, order
        10), after every `VolumeTransmitter` (order 2) has integrated the step.
        """
        self.validate()
        group = NeuronGroup(
            1,
            """n_ph : mmolar            # phasic dopamine
               n = n_tonic + n_ph : mmolar  # total extracellular dopamine""",
            namespace={"n_tonic": self.tonic, "tau_pool": self.tau},
            name=name,
            dt=dt,
        )
        group.run_regularly(
            "n_ph = n_ph*exp(-dt/tau_pool)", when="end", order=10, name=f"{name}_decay"
        )
        return group


#: The pool of Izhikevich (2007) / daspnet.m.
IZHIKEVICH2007_POOL = DopaminePool()

"""The distal-reward network of Izhikevich (2007), Fig. 1.

Izhikevich EM (2007) Solving the distal reward problem through linkage of STDP and
dopamine signaling. Cereb Cortex 17:2443. Author's code: daspnet.m.

800 regular-spiking excitatory and 200 fast-spiking inhibitory Izhikevich neurons. Each
neuron has 100 outgoing synapses: excitatory ones to any neuron (distinct targets drawn
uniformly; autapses occur as in daspnet.m), inhibitory ones to excitatory neurons only. Excitatory synapses are three-factor synapses (`IZHIKEVICH2007_RULE`) that read one
dopamine pool; inhibitory ones are fixed at -1. Every neuron receives uniform noise
13*(U(0,1) - 0.5) mV per ms ("thalamic input"), and v is integrated with Izhikevich's two
0.5 ms half-steps at dt = 1 ms.

One excitatory synapse n1 -> n2, drawn at random, starts at weight 0: the protocol
rewards its pairings (`dopasim.protocols.distal_reward`).

The ``scale`` parameters (``n_neurons``, ``n_synapses``) build the larger benchmark
networks; weights are multiplied by 100/n_synapses so that the total input per neuron
stays the same (0.1 at 1,000 synapses).
"""

from dataclasses import dataclass, field

import numpy as np
from brian2 import Clock, Network, NeuronGroup, Quantity, Synapses, ms, mV

from dopasim.circuits.base import Circuit
from dopasim.models.dopamine import IZHIKEVICH2007_POOL, DopaminePool
from dopasim.models.izhikevich import (
    CLEAR_PULSES,
    FAST_SPIKING,
    IZHIKEVICH_HALF_STEPS,
    IZHIKEVICH_NAMESPACE,
    IZHIKEVICH_RESET,
    IZHIKEVICH_THRESHOLD,
    REGULAR_SPIKING,
    izhikevich_equations,
)
from dopasim.models.three_factor import (
    IZHIKEVICH2007_RULE,
    ThreeFactorRule,
    VolumeTransmitter,
    archive_available,
)
from dopasim.params import ParamError

__all__ = ["SAME_STEP", "POST_ARCHIVE", "Izhikevich2007Params", "build_izhikevich2007"]

#: Conventions for a presynaptic arrival and a postsynaptic spike in the same step.
SAME_STEP = ("depression", "causal")
#: How the event form handles postsynaptic spikes: 'auto' archives them on
#: cpp_standalone when the network has at least `ARCHIVE_MIN_SYNAPSES` plastic synapses
#: and updates the synapses otherwise; 'on' / 'off' force it. The weights are the same.
POST_ARCHIVE = ("auto", "on", "off")
#: Measured on one core (2026-12-04, AMD EPYC, 32 MiB L3; run phase, archive against
#: per-spike update): 80,000 synapses 0.80x, 156,800 0.76x, 320,000 0.68x, 720,000 1.94x,
#: 8,000,000 2.09x. The per-spike update wins while the synapses' state (about 40 bytes
#: each) stays in the cache, the archive once it does not.
ARCHIVE_MIN_SYNAPSES = 500_000


@dataclass(frozen=True)
class Izhikevich2007Params:
    """Network parameters (daspnet.m values unless stated)."""

    n_neurons: int = 1000  # daspnet.m: Ne + Ni = 1000
    exc_fraction: float = 0.8  # daspnet.m: Ne = 800
    n_synapses: int = 100  # daspnet.m: M = 100 outgoing synapses per neuron
    w_exc: float = 1.0  # daspnet.m: initial excitatory weight
    w_inh: float = -1.0  # daspnet.m: inhibitory weight
    w_unit: Quantity = field(default_factory=lambda: 1 * mV)  # weight 1 = 1 mV/ms of I
    noise: Quantity = field(default_factory=lambda: 13 * mV)  # daspnet.m: I = 13*(rand-0.5)
    # daspnet.m's D = 1 ms: a spike detected at the start of step t (the neuron crossed
    # in the update of step t-1) adds its weight to I in the update of step t, one
    # update after the crossing. In Brian2 a neuron crosses in the update of step t, and
    # a spike delivered with delay 0 in the synapses slot of step t acts in the update
    # of step t+1: the same one-update lag. A Brian2 delay of 1 ms would add a second.
    delay: Quantity = field(default_factory=lambda: 0 * ms)
    v_peak: Quantity = field(default_factory=lambda: 30 * mV)  # Izhikevich 2003
    dt: Quantity = field(default_factory=lambda: 1 * ms)  # daspnet.m: 1 ms steps
    method: object = IZHIKEVICH_HALF_STEPS  # or a Brian2 method name, e.g. 'euler'
    rule: ThreeFactorRule = IZHIKEVICH2007_RULE
    pool: DopaminePool = IZHIKEVICH2007_POOL
    plasticity: str = "event"  # 'event' (exact, dopasim) or 'clock' (reference form)
    # A presynaptic arrival and a postsynaptic spike in the same step. 'depression'
    # (daspnet.m's update order: the post spike registers its trace first, the arrival
    # reads it, and the post spike's potentiation reads the presynaptic traces of earlier
    # steps only): the pair depresses by A_minus. 'causal' (the three-factor rule's own
    # order, pre before post): it potentiates by A_plus.
    same_step: str = "depression"
    # Repeated targets of one neuron (targets drawn with replacement, as daspnet.m's
    # post = ceil(N*rand(Ne,M))). False: each neuron's M targets are distinct. daspnet.m
    # delivers a spike with I(ind) = I(ind) + s(i, del)', which keeps only the last of
    # several synapses onto one target, so repeated synapses learn but carry no current;
    # summing them instead (True, Brian2's and NEST's delivery) raised the rate and the
    # upper tail of the weights (docs/results/2026-12-04-distal-vs-daspnet.md).
    multapses: bool = False
    # Post spikes archived by the neuron and replayed by each synapse at its next event
    # (NEST's archiving node), instead of an update of every incoming synapse at each
    # post spike: the same weights, without scattered writes (cpp_standalone only).
    post_archive: str = "auto"

    @property
    def n_exc(self):
        return int(round(self.exc_fraction * self.n_neurons))

    @property
    def weight_scale(self):
        return 100.0 / self.n_synapses

    def validate(self):
        if self.n_neurons < 2:
            raise ValueError(f"n_neurons must be >= 2, got {self.n_neurons}")
        if not 0 < self.exc_fraction < 1:
            raise ValueError(f"exc_fraction must be in (0, 1), got {self.exc_fraction}")
        if self.n_synapses < 1:
            raise ValueError(f"n_synapses must be >= 1, got {self.n_synapses}")
        if not float(self.dt) > 0:
            raise ValueError(f"dt must be > 0, got {self.dt}")
        if float(self.delay) < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")
        if self.plasticity not in ("event", "clock"):
            raise ValueError(f"plasticity must be 'event' or 'clock', got {self.plasticity!r}")
        if self.same_step not in SAME_STEP:
            raise ValueError(f"same_step must be one of {SAME_STEP}, got {self.same_step!r}")
        if self.post_archive not in POST_ARCHIVE:
            raise ValueError(
                f"post_archive must be one of {POST_ARCHIVE}, got {self.post_archive!r}"
            )
        if not self.multapses and self.n_synapses > self.n_exc:
            raise ValueError(
                f"n_synapses ({self.n_synapses}) exceeds the {self.n_exc} excitatory "
                "neurons (the inhibitory neurons' targets): distinct targets need "
                "multapses"
            )
        self.rule.validate()
        self.pool.validate()


def _clock_driven_model(rule, pool):
    """The same rule as clock-driven ODEs on every synapse (the costly reference form)."""
    eqs = """
dw/dt = sign_da*k_da*elig*(n_tonic + n_pool_post - b_da) : 1 (clock-driven)  # weight
delig/dt = -elig/tau_c : 1 (clock-driven)                             # eligibility
dapre/dt = -apre/tau_plus : 1 (event-driven)
dapost/dt = -apost/tau_minus : 1 (event-driven)
w_now = clip(w, w_min, w_max) : 1
"""
    on_pre = "w = clip(w, w_min, w_max)\n{transmit}\nelig -= A_minus*apost\napre += 1"
    on_post = "w = clip(w, w_min, w_max)\nelig += A_plus*apre\napost += 1"
    ns = dict(
        rule.namespace(),
        sign_da=rule.sign,
        k_da=rule.k_da,
        b_da=rule.b,
        tau_c=rule.tau_c,
        n_tonic=pool.tonic,
    )
    return eqs, on_pre, on_post, ns


def uses_archive(params):
    """Whether the event form archives post spikes with these parameters on the current
    device (`Izhikevich2007Params.post_archive`)."""
    if params.post_archive == "on" and not archive_available():
        # e.g. a run that fell back to numpy without a compiler
        raise ParamError(
            "post_archive: 'on' runs on cpp_standalone (without OpenMP threads) only; "
            "allowed: auto or off"
        )
    big = params.n_exc * params.n_synapses >= ARCHIVE_MIN_SYNAPSES
    return params.post_archive == "on" or (
        params.post_archive == "auto" and big and archive_available()
    )


def _distinct_targets(rng, n_sources, n_targets, m):
    """For each of ``n_sources`` neurons, ``m`` distinct targets in [0, n_targets)."""
    rows = [rng.choice(n_targets, m, replace=False) for _ in range(n_sources)]
    return np.concatenate(rows) if rows else np.zeros(0, dtype=int)


def build_izhikevich2007(
    params: Izhikevich2007Params, rng: np.random.Generator, noise_seed: int = 0
) -> Circuit:
    """Build the network.

    ``rng`` draws the connectivity and the rewarded synapse; ``noise_seed`` seeds the
    neurons' input noise.
    """
    params.validate()
    N, Ne = params.n_neurons, params.n_exc
    Ni, M = N - Ne, params.n_synapses
    scale = params.weight_scale
    rule = params.rule.with_(w_max=params.rule.w_max * scale)
    clock = Clock(params.dt, name="main_clock")

    # --- connectivity (daspnet.m: post = ceil([N*rand(Ne,M); Ne*rand(Ni,M)]))
    e_pre = np.repeat(np.arange(Ne), M)
    i_pre = np.repeat(np.arange(Ne, N), M)
    if params.multapses:
        e_post = rng.integers(0, N, Ne * M)
        i_post = rng.integers(0, Ne, Ni * M)
    else:  # M distinct targets per neuron (autapses allowed, as in daspnet.m)
        e_post = _distinct_targets(rng, Ne, N, M)
        i_post = _distinct_targets(rng, Ni, Ne, M)
    rewarded = int(rng.integers(0, Ne * M))  # index of the rewarded synapse
    n1, n2 = int(e_pre[rewarded]), int(e_post[rewarded])

    # --- dopamine pool and neurons
    pool = params.pool
    pool_group = pool.build("da_pool", dt=params.dt)
    archive = params.plasticity == "event" and uses_archive(params)
    vt = VolumeTransmitter(rule, pool, "da", archive=archive)
    if params.plasticity == "event":
        extra = vt.target_equations()
    else:
        # synapses cannot read an index-linked variable: copy it every step
        extra = "n_pool : mmolar  # phasic dopamine of the pool\nn_pool_link : mmolar (linked)\n"
    neurons = NeuronGroup(
        N,
        izhikevich_equations(extra),
        threshold=IZHIKEVICH_THRESHOLD,
        reset=IZHIKEVICH_RESET + ("\n" + vt.reset_code() if params.plasticity == "event" else ""),
        method=params.method,
        namespace={**IZHIKEVICH_NAMESPACE, "sigma_noise": params.noise, "v_peak": params.v_peak},
        clock=clock,
        name="neurons",
    )
    for sl, cls in ((slice(0, Ne), REGULAR_SPIKING), (slice(Ne, N), FAST_SPIKING)):
        neurons.a[sl] = cls.a
        neurons.b[sl] = cls.b
        neurons.c[sl] = cls.c
        neurons.d[sl] = cls.d
    neurons.noise_seed = int(noise_seed)
    neurons.v = -65 * mV  # daspnet.m: v = -65
    neurons.u = "b*v"  # daspnet.m: u = 0.2*v
    neurons.run_regularly(CLEAR_PULSES, when="after_groups", name="neurons_clear_pulses")

    transmit = "I_syn_post += w*w_unit"
    if params.plasticity == "event":
        vt.install(neurons, pool_group)
        exc = rule.synapses(
            neurons,
            neurons,
            "da",
            name="exc_syn",
            transmit=transmit,
            dt=params.dt,
            archive=vt.archive_id,
        )
    else:
        from brian2 import linked_var

        neurons.n_pool_link = linked_var(pool_group, "n_ph", index=np.zeros(N, dtype=int))
        neurons.run_regularly("n_pool = n_pool_link", when="start", name="neurons_copy_da")
        eqs, on_pre, on_post, ns = _clock_driven_model(rule, pool)
        exc = Synapses(
            neurons,
            neurons,
            eqs,
            on_pre=on_pre.format(transmit=transmit),
            on_post=on_post,
            namespace=ns,
            method="euler",  # as the peer benchmark's clock-driven form
            name="exc_syn",
            dt=params.dt,
        )
    exc.namespace["w_unit"] = params.w_unit
    exc.connect(i=e_pre, j=e_post)
    w0 = np.full(Ne * M, params.w_exc * scale)
    w0[rewarded] = 0.0  # daspnet.m: s(n1,syn) = 0
    exc.w = w0
    exc.delay = params.delay
    if params.plasticity == "event":
        vt.attach(exc)
    probe = exc, rewarded  # where the rewarded synapse's state can be recorded
    if archive:
        # A copy of the rewarded synapse with the per-spike update (no current): its
        # state is the rewarded synapse's at every step, for a StateMonitor (the
        # archived synapse's raw state lags the post spikes since its last pre event).
        probe = rule.synapses(neurons, neurons, "da", name="exc_rewarded", dt=params.dt), 0
        probe[0].connect(i=n1, j=n2)
        probe[0].w = w0[rewarded]
        probe[0].delay = params.delay
        vt.attach(probe[0], archive=False)
    if params.same_step == "depression":
        # post events before pre events (Brian2's default is pre -1, post +1); with the
        # archive the reset records the post spike before the pre events replay it
        for syn in {exc, probe[0]}:
            syn.pre.order = 1
            if hasattr(syn, "post"):
                syn.post.order = -1
        # the reset (which raises the event form's post trace) before the synaptic events
        neurons.resetter["spike"].when = "before_synapses"
    # (the clock form clips at the synapse's events, as the peer benchmark does)

    inh = Synapses(
        neurons,
        neurons,
        on_pre="I_syn_post += w_inh*w_unit",
        namespace={"w_inh": params.w_inh * scale, "w_unit": params.w_unit},
        name="inh_syn",
        dt=params.dt,
    )
    inh.connect(i=i_pre, j=i_post)
    inh.delay = params.delay

    net = Network(neurons, exc, inh, pool_group, name="izhikevich2007")
    if archive:
        net.add(probe[0])
    return Circuit(
        network=net,
        groups={
            "neurons": neurons,
            "exc_syn": exc,
            "inh_syn": inh,
            "da_pool": pool_group,
            "clock": clock,
            **({"transmitter": vt.group} if params.plasticity == "event" else {}),
            "rewarded_probe": probe[0],
        },
        params={"circuit": params, "rule": rule, "pool": pool},
        info={
            "n_neurons": N,
            "n_exc": Ne,
            "n_inh": Ni,
            "n_synapses_per_neuron": M,
            "n_exc_synapses": Ne * M,
            "rewarded_synapse": rewarded,
            "n1": n1,
            "n2": n2,
            "w_max": float(rule.w_max),
            "post_archive": archive,
            "rewarded_probe_index": probe[1],
        },
    )

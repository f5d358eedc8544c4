#!/usr/bin/env python
"""
Distal reward: dopamine-modulated STDP solves the credit-assignment problem
============================================================================

Izhikevich EM (2007) Solving the distal reward problem through linkage of STDP and
dopamine signaling. Cereb Cortex 17:2443. Reproduces Fig. 1 (the rewarded synapse) with
the author's daspnet.m as the reference.

One excitatory synapse n1 -> n2 of a 1,000-neuron network starts at weight 0. Every time
n2 fires within 20 ms after n1, a dopamine puff (+0.5 uM) arrives 1-3 s later (uniform).
Thousands of other pairings happen in between, yet after an hour the rewarded synapse
sits at or near the cap while the other 79,999 stay low.

Run it::

    dopasim run distal-reward                       # 1 h simulated, compiled (C++)
    dopasim run distal-reward --param reward=none   # control: no dopamine puffs
    python protocols/distal_reward.py --duration 600s

Parameters (``--param key=value``): ``reward`` = ``paired`` (default) | ``none`` |
``random`` (Poisson puffs at ``random_rate``, not tied to the pairing); ``interval``;
``reward_delay_min``/``reward_delay_max``; ``n_neurons``; ``n_synapses``;
``raster_window``.

metrics.json
------------
rewarded_weight
    Weight of the rewarded synapse at the end.
rewarded_weight_percentile
    Percent of the other excitatory weights strictly below it.
time_to_learn_s
    First sampled time (100 ms grid) at which the rewarded weight is >= 0.875 w_max;
    null if never.
rewarded_weight_max
    Largest sampled value of the rewarded weight.
mean_exc_weight, w_max
    Mean excitatory weight at the end, and the cap.
rate_exc_hz, rate_inh_hz
    Mean firing rates over the whole run.
n_rewards
    Dopamine puffs delivered.
n_pairings
    Pairings of the rewarded synapse: the events that schedule a reward under
    ``reward=paired`` (reported when the run records them).
max_pending_rewards
    Most pairings within one ``reward_delay_max`` of each other: the rewards pending at
    once, which must stay below the queue's size (``QUEUE``).
rate_mean_hz
    Mean firing rate of all neurons over the whole run.
"""

import numpy as np
from brian2 import (
    Hz,
    NeuronGroup,
    PoissonGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    ms,
    second,
    umolar,
)

from dopasim import plots
from dopasim.circuits.izhikevich2007 import (
    POST_ARCHIVE,
    SAME_STEP,
    Izhikevich2007Params,
    build_izhikevich2007,
)
from dopasim.memory import poisson_ceiling
from dopasim.models.three_factor import current_weights
from dopasim.params import Param, ParamError
from dopasim.protocol import Protocol

NAME = "distal-reward"
SUMMARY = "Izhikevich 2007 Fig. 1: one rewarded synapse among 80,000 learns from delayed dopamine"

#: The reward queue holds this many pending puffs (daspnet.m keeps an unbounded list).
#: ``max_pending_rewards`` in metrics.json reports the largest number ever pending; in
#: 1 h runs it stays below 10, and the long tests check that it stays below QUEUE.
QUEUE = 64

#: Brian2 warns that the critic's synaptic code "may depend on the order of execution".
#: It does not: ``critic_n2`` has one synapse, and ``critic_schedule`` writes each queue
#: slot j from at most one synapse (one source, ``int(j == ptr_pre)``).
QUIET_WARNINGS = ("hit_post = int(", "t_fire_post +=", "k_done = dopasim_archive_catch_up(")

PARAMS = [
    Param(
        "duration", 3600 * second, "quantity", "simulated time", unit=second, low=0, low_open=True
    ),
    Param(
        "reward",
        "paired",
        "choice",
        "dopamine puffs: paired | none | random",
        choices=("paired", "none", "random"),
    ),
    Param(
        "random_rate",
        # mean puff rate of paired runs at the default conventions (same_step depression,
        # distinct targets), 1 h, calibration seeds 101-108 and 201-206: 173.6 puffs
        # per hour (103-229); dopasim 0.1-0.6 used 0.068 Hz (its paired runs, seeds 1-5)
        0.048 * Hz,
        "quantity",
        "rate of the Poisson puffs when reward=random (measured mean of paired runs)",
        unit=Hz,
        low=0,
    ),
    Param(
        "interval",
        20 * ms,
        "quantity",
        "n2 must fire within this time after n1",
        unit=second,
        low=0,
        low_open=True,
    ),
    Param(
        "reward_delay_min",
        1 * second,
        "quantity",
        "earliest puff after the pairing",
        unit=second,
        low=0,
    ),
    Param(
        "reward_delay_max",
        3 * second,
        "quantity",
        "latest puff after the pairing",
        unit=second,
        low=0,
    ),
    Param("n_neurons", 1000, "int", "network size (80 % excitatory)", low=2),
    Param("n_synapses", 100, "int", "outgoing synapses per neuron", low=1),
    Param(
        "raster_window",
        10 * second,
        "quantity",
        "length of the raster figure",
        unit=second,
        low=0,
        low_open=True,
    ),
    Param(
        "plasticity",
        "event",
        "choice",
        "event (exact) | clock (reference ODE form)",
        choices=("event", "clock"),
    ),
    Param(
        "same_step",
        "depression",
        "choice",
        "a pre arrival and a post spike in the same step: depression (daspnet.m's update "
        "order) | causal (pre before post)",
        choices=SAME_STEP,
        cite="Izhikevich 2007, Cereb Cortex 17:2443 (daspnet.m)",
    ),
    Param(
        "multapses",
        False,
        "bool",
        "allow repeated targets of one neuron (drawn with replacement, currents summed)",
    ),
    Param(
        "post_archive",
        "auto",
        "choice",
        "post spikes archived by the neuron and replayed by each synapse at its next "
        "event, the same weights without an update of every incoming synapse per post "
        "spike: auto (on cpp_standalone from 500,000 plastic synapses on, where it is "
        "faster) | on | off",
        choices=POST_ARCHIVE,
        cite="Morrison, Diesmann & Gerstner 2008, Biol Cybern 98:459 (NEST's archiving node)",
    ),
]


def check(p):
    """Checks that involve several parameters."""
    if p["reward_delay_max"] < p["reward_delay_min"]:
        raise ParamError(
            f"reward_delay_max: {p['reward_delay_max']} is below reward_delay_min "
            f"({p['reward_delay_min']})"
        )
    dt = 1 * ms
    steps = float(p["duration"] / dt)
    if abs(steps - round(steps)) > 1e-6:
        raise ParamError(f"duration: {p['duration']} is not a multiple of dt = 1 ms")


def build_key(p):
    return (
        p["n_neurons"],
        p["n_synapses"],
        p["reward"],
        p["plasticity"],
        p["same_step"],
        p["post_archive"],
    )


def build(p, rngs):
    cparams = Izhikevich2007Params(
        n_neurons=p["n_neurons"],
        n_synapses=p["n_synapses"],
        plasticity=p["plasticity"],
        same_step=p["same_step"],
        multapses=p["multapses"],
        post_archive=p["post_archive"],
    )
    noise_seed = int(rngs["inputs"].integers(0, 2**31 - 1))  # Brian2 integers are int32
    circuit = build_izhikevich2007(cparams, rngs["connectivity"], noise_seed=noise_seed)
    neurons, pool = circuit["neurons"], circuit["da_pool"]
    clock = circuit["clock"]
    n1, n2 = circuit.info["n1"], circuit.info["n2"]
    pool_params = circuit.params["pool"]

    # ---- reward contingency, fully inside the network (portable to every device)
    timers = NeuronGroup(
        QUEUE,
        "t_fire : second  # when this pending puff is due",
        threshold="t >= t_fire",
        reset="t_fire = t_never",
        namespace={"t_never": 1e9 * second},
        clock=clock,
        name="reward_queue",
    )
    timers.t_fire = 1e9 * second
    release = Synapses(
        timers,
        pool,
        on_pre=pool_params.on_release,
        namespace=pool_params.release_namespace(),
        clock=clock,
        name="reward_release",
    )
    release.connect()
    objs = [timers, release]
    if p["reward"] == "paired":
        critic = NeuronGroup(
            1,
            """t1 : second       # last spike of n1
               t_hit : second    # last rewarded pairing
               hit : 1           # a pairing happened at this step
               ptr : integer     # next free slot of the queue""",
            threshold="hit > 0",
            reset="hit = 0\nptr = (ptr + 1) % queue",
            namespace={"queue": QUEUE},
            clock=clock,
            name="critic",
        )
        critic.t1 = -1e9 * second
        from_n1 = Synapses(neurons, critic, on_pre="t1_post = t", clock=clock, name="critic_n1")
        from_n1.connect(i=n1, j=0)
        from_n2 = Synapses(
            neurons,
            critic,
            on_pre="hit_post = int(t - t1_post < interval and t > t1_post)\n"
            "t_hit_post = t_hit_post + hit_post*(t - t_hit_post)",
            namespace={"interval": p["interval"]},
            clock=clock,
            name="critic_n2",
        )
        from_n2.connect(i=n2, j=0)
        from_n1.pre.order = -2  # n1 is seen before n2 within a step (daspnet.m order)
        n_delays = int(round(float((p["reward_delay_max"] - p["reward_delay_min"]) / ms)))
        schedule = Synapses(
            critic,
            timers,
            on_pre="t_fire_post = t_fire_post + int(j == ptr_pre)*"
            "(t_hit_pre + delay_min + ceil(n_delays*rand())*ms - t_fire_post)",
            namespace={"delay_min": p["reward_delay_min"], "n_delays": n_delays},
            clock=clock,
            name="critic_schedule",
        )
        schedule.connect()
        objs += [critic, from_n1, from_n2, schedule]
        circuit.groups["critic_spikes"] = SpikeMonitor(critic, record=True, name="critic_spikes")
        objs.append(circuit.groups["critic_spikes"])
    elif p["reward"] == "random":
        source = PoissonGroup(1, rates=p["random_rate"], clock=clock, name="random_puffs")
        to_pool = Synapses(
            source,
            pool,
            on_pre=pool_params.on_release,
            namespace=pool_params.release_namespace(),
            clock=clock,
            name="random_release",
        )
        to_pool.connect()
        objs += [source, to_pool]
        circuit.groups["random_spikes"] = SpikeMonitor(source, name="random_spikes")
        objs.append(circuit.groups["random_spikes"])

    # ---- recording
    exc = circuit["exc_syn"]
    k, n2 = circuit.info["rewarded_synapse"], circuit.info["n2"]
    mons = {
        "spikes": SpikeMonitor(neurons, name="spikes"),
        "da": StateMonitor(pool, "n", record=[0], dt=10 * ms, name="da_trace"),
    }
    if p["reward"] != "random":
        mons["queue_spikes"] = SpikeMonitor(timers, name="queue_spikes")
    if p["plasticity"] == "event":
        # the rewarded weight is rebuilt from the synapse state and the transmitter (with
        # the post-spike archive, from its per-spike copy: `build_izhikevich2007`)
        probe, row = circuit["rewarded_probe"], circuit.info["rewarded_probe_index"]
        mons["w_rewarded"] = StateMonitor(
            probe, ["w", "c_e", "A_last"], record=[row], dt=100 * ms, name="w_rewarded"
        )
        mons["w_rewarded_target"] = StateMonitor(
            circuit["transmitter"], "da_A", record=[0], dt=100 * ms, name="w_rewarded_target"
        )
    else:
        mons["w_rewarded"] = StateMonitor(exc, "w", record=[k], dt=100 * ms, name="w_rewarded")
    circuit.add(*objs, **mons)
    return circuit


def monitor_populations(circuit):
    """The ``spikes`` monitor records both populations (exc first; see `collect`); the
    reward-queue and critic monitors record events, not a population."""
    ne, n = int(circuit.info["n_exc"]), len(circuit["neurons"])
    layout = {"spikes": [["exc", 0, ne], ["inh", ne, n]]}
    layout.update({k: [] for k in ("queue_spikes", "critic_spikes", "random_spikes")})
    return layout


def collect(circuit, p):
    neurons = circuit["neurons"]
    exc = circuit["exc_syn"]
    info = circuit.info
    sp = circuit["spikes"]
    i, t = np.array(sp.i[:]), np.array(sp.t[:] / second)
    ne = info["n_exc"]
    rule = circuit.params["rule"]
    bounds = (rule.w_min, rule.w_max)
    if p["plasticity"] == "event":
        w = rule.current_weights(exc)
        mon, tmon = circuit["w_rewarded"], circuit["w_rewarded_target"]
        w_rew = current_weights(mon.w[0], mon.c_e[0], mon.A_last[0], tmon.da_A[0], *bounds)
    else:
        w = np.clip(np.asarray(exc.w[:]), *bounds)
        w_rew = np.clip(np.asarray(circuit["w_rewarded"].w[0]), *bounds)
    data = {
        "spikes_exc": (i[i < ne], t[i < ne]),
        "spikes_inh": (i[i >= ne] - ne, t[i >= ne]),
        "w_final": w,
        "w_rewarded_t": np.asarray(circuit["w_rewarded"].t / second),
        "w_rewarded": w_rew,
        "da_t": np.asarray(circuit["da"].t / second),
        "da_uM": np.asarray(circuit["da"].n[0] / umolar),
        "spike_counts": np.bincount(i, minlength=len(neurons)),
    }
    if "queue_spikes" in circuit.groups:
        data["reward_times"] = np.sort(np.asarray(circuit["queue_spikes"].t / second))
    else:
        data["reward_times"] = np.asarray(circuit["random_spikes"].t / second)
    if "critic_spikes" in circuit.groups:
        data["pairing_times"] = np.asarray(circuit["critic_spikes"].t / second)
    data["info"] = {k: v for k, v in info.items()}
    return data


def metrics(data, p):
    info = data["info"]
    w = data["w_final"]
    k = info["rewarded_synapse"]
    w_max = info["w_max"]
    w_r = float(w[k])
    others = np.delete(w, k)
    trace = data["w_rewarded"]
    learned = np.nonzero(trace >= 0.875 * w_max)[0]
    T = float(p["duration"] / second)
    counts = data["spike_counts"]
    ne = info["n_exc"]
    out = {
        "rewarded_weight": w_r,
        "rewarded_weight_percentile": float(100.0 * np.mean(others < w_r)),
        "time_to_learn_s": float(data["w_rewarded_t"][learned[0]]) if len(learned) else None,
        "rewarded_weight_max": float(trace.max()) if len(trace) else w_r,
        "mean_exc_weight": float(w.mean()),
        "w_max": w_max,
        "rate_exc_hz": float(counts[:ne].mean() / T),
        "rate_inh_hz": float(counts[ne:].mean() / T),
        "rate_mean_hz": float(counts.mean() / T),
        "n_rewards": int(len(data["reward_times"])),
    }
    if "pairing_times" in data:
        pt = data["pairing_times"]
        window = float((p["reward_delay_max"] + 1 * ms) / second)
        # largest number of puffs pending at once (must stay below the queue size)
        pending = np.searchsorted(pt, pt + window) - np.arange(len(pt)) if len(pt) else [0]
        out["n_pairings"] = int(len(pt))
        out["max_pending_rewards"] = int(np.max(pending))
    return out


def figures(data, p, outdir):
    return [
        plots.raster_last(data, p, outdir / "raster.png"),
        plots.weight_histogram(data, outdir / "weights.png"),
        plots.rewarded_weight(data, outdir / "rewarded_weight.png"),
    ]


def memory_counts(p):
    """Counts for the memory estimate (`dopasim.memory`), from the parameters alone."""
    c = Izhikevich2007Params(n_neurons=p["n_neurons"], n_synapses=p["n_synapses"])
    N, Ne, M = c.n_neurons, c.n_exc, c.n_synapses
    Ni = N - Ne
    T = float(p["duration"] / second)
    event = p["plasticity"] == "event"
    neurons = {
        # v, u, I_syn, I_ext, a, b, c, d; + da_apost (event) or n_pool (clock); the
        # link to the pool (da_n_ph or n_pool_link)
        "neurons": {"n": N, "float64": 9, "linked": 1},
        "da_pool": {"n": 1, "float64": 1},  # n_ph
        "reward_queue": {"n": QUEUE, "float64": 1},  # t_fire
    }
    if event:  # the volume transmitter (one element): da_A, da_D; its link da_n_ph
        neurons["neurons_da"] = {"n": 1, "float64": 2, "linked": 1}
    synapses = {
        # event: w, c_e, A_last, apre, lastupdate; clock: w, elig, apre, apost, lastupdate
        "exc_syn": {"n": Ne * M, "float64": 5, "pathways": 2, "pre": "neurons", "post": "neurons"},
        "inh_syn": {"n": Ni * M, "pathways": 1, "pre": "neurons", "post": "neurons"},
        "reward_release": {"n": QUEUE, "pathways": 1, "pre": "reward_queue", "post": "da_pool"},
    }
    spikes = {"spikes": {"spikes": int(np.ceil(RATE_CEILING_HZ * N * T)), "neurons": N}}
    pairings = int(np.ceil(SINGLE_RATE_CEILING_HZ * T))
    if p["reward"] == "paired":
        neurons["critic"] = {"n": 1, "float64": 3, "int32": 1}  # t1, t_hit, hit; ptr
        for name in ("critic_n1", "critic_n2"):
            synapses[name] = {"n": 1, "pathways": 1, "pre": "neurons", "post": "critic"}
        synapses["critic_schedule"] = {"n": QUEUE, "pathways": 1, "pre": "critic"}
        synapses["critic_schedule"]["post"] = "reward_queue"
        spikes["critic_spikes"] = {"spikes": pairings, "neurons": 1}
    elif p["reward"] == "random":
        neurons["random_puffs"] = {"n": 1, "float64": 1}
        synapses["random_release"] = {"n": 1, "pathways": 1, "pre": "random_puffs"}
        synapses["random_release"]["post"] = "da_pool"
        puffs = poisson_ceiling(float(p["random_rate"] * p["duration"]))
        spikes["random_spikes"] = {"spikes": puffs, "neurons": 1}
    if p["reward"] != "random":
        spikes["queue_spikes"] = {"spikes": pairings, "neurons": QUEUE}
    slow = int(np.ceil(T / 0.1)) + 1  # the 100 ms monitors
    states = {"da_trace": {"samples": int(np.ceil(T / 0.01)) + 1, "values": 1}}
    states["w_rewarded"] = {"samples": slow, "values": 3 if event else 1}
    if event:
        states["w_rewarded_target"] = {"samples": slow, "values": 1}
    return {
        "neurons": neurons,
        "synapses": synapses,
        "spike_monitors": spikes,
        "state_monitors": states,
        "scratch": {
            # the drawn connectivity (int64 pre and post), the initial weights, and
            # Brian2's int32 copies of the indices
            "build": {"int64": 2 * N * M, "float64": Ne * M, "int32": 2 * Ne * M},
            # the final weights: about a dozen arrays per excitatory synapse, spike counts
            "collect": {"float64": 12 * Ne * M, "int64": N},
        },
        "reduce": {
            "synapses": "n_neurons or n_synapses",
            "scratch": "n_neurons or n_synapses",
            "neurons": "n_neurons",
            "spike_monitors": "duration or n_neurons",
            "state_monitors": "duration",
        },
    }


class DistalReward(Protocol):
    """Izhikevich 2007, Fig. 1: the module's functions are its hooks."""

    NAME, SUMMARY, PARAMS, QUIET_WARNINGS = NAME, SUMMARY, PARAMS, QUIET_WARNINGS
    TINY_PARAMS = {"n_neurons": "100", "n_synapses": "10", "duration": "2 s"}
    SCENARIO_REFUSAL = "runs the Izhikevich 2007 network and takes no scenario"

    def check(self, p):
        check(p)

    def check_device(self, p, device):
        if p["post_archive"] == "on" and device != "cpp_standalone":
            raise ParamError(
                f"post_archive: 'on' runs on cpp_standalone only, not on {device}; "
                "allowed: auto or off"
            )

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

    def monitor_populations(self, circuit):
        return monitor_populations(circuit)


PROTOCOL = DistalReward()


if __name__ == "__main__":
    from dopasim.cli import script

    script(NAME)


#: Upper bound on the network's mean firing rate over a run (Hz), for the memory estimate
#: (`dopasim.memory`): 1 h runs fire at 1.27-1.35 Hz (docs/protocols.md) and the long tests accept
#: 0.5-2 Hz; 10 Hz is five times that ceiling (the weights scale with 1/n_synapses, so
#: the drive per neuron, and the rate, do not grow with the network).
RATE_CEILING_HZ = 10.0
#: Upper bound on one neuron's rate (Hz): it bounds the pairings of n1 -> n2 (at most one
#: per spike of n2), hence the critic's events and the puffs.
SINGLE_RATE_CEILING_HZ = 100.0

"""Drive one three-factor projection with given spike and dopamine trains in Brian2.

Used by the synapse tests and by the target-agreement tests. Each synapse k connects
pre neuron k to post neuron k, so several independent trains run in one network.
"""

import numpy as np
from brian2 import (
    Network,
    NeuronGroup,
    SpikeGeneratorGroup,
    Synapses,
    TimedArray,
    ms,
    second,
)

from dopasim.models.dopamine import DopaminePool
from dopasim.models.three_factor import ThreeFactorRule, VolumeTransmitter, transmitter_value


def _steps(times, dt):
    return np.round(np.asarray(times, dtype=float) / dt).astype(int)


def simulate_synapse(
    pre_times,
    post_times,
    da_times,
    rule: ThreeFactorRule,
    pool: DopaminePool,
    t_end,
    dt=0.1 * ms,
    w0=0.0,
    build_only=False,
    archive=False,
    same_step="causal",
):
    """Run one network and return (w, c, net) of each synapse at t_end.

    With ``build_only=True`` the network is only scheduled (for standalone devices):
    returns (None, None, net); build the device, then call `read_state`.

    ``pre_times`` and ``post_times`` are lists (one entry per synapse) of arrays of
    times in seconds, on the dt grid; ``da_times`` is one array of dopamine event times
    in seconds. ``w0`` is a scalar or one value per synapse. ``archive``: the post-spike
    archive (cpp_standalone). ``same_step``: 'causal' (Brian2's order: pre events, post
    events, then the reset) or 'depression' (reset, post events, pre events), as in
    `dopasim.circuits.izhikevich2007`.
    """
    n_syn = len(pre_times)
    dt_s = float(dt)
    n_steps = int(round(float(t_end) / dt_s))
    # presynaptic spikes: a generator (the synapse reads nothing from the pre side)
    idx = np.concatenate([np.full(len(t), k) for k, t in enumerate(pre_times)] + [[]])
    tim = np.concatenate([np.asarray(t, float) for t in pre_times] + [[]])
    pre = SpikeGeneratorGroup(n_syn, idx.astype(int), tim * second, dt=dt, name="pre")
    # postsynaptic spikes: a NeuronGroup (it carries the transmitter links) driven by a
    # TimedArray of 0/1 per step and neuron
    raster = np.zeros((n_steps + 2, n_syn))
    for k, t in enumerate(post_times):
        raster[_steps(t, dt_s), k] = 1
    post_spike = TimedArray(raster, dt=dt)
    pool_group = pool.build("pool", dt=dt)
    vt = VolumeTransmitter(rule, pool, "da", archive=archive)
    post = NeuronGroup(
        n_syn,
        vt.target_equations(),
        threshold="post_spike(t, i) > 0.5",
        reset=vt.reset_code(),
        namespace={"post_spike": post_spike},
        name="post",
        dt=dt,
    )
    vt.install(post, pool_group)
    syn = rule.synapses(pre, post, "da", name="syn", dt=dt, archive=vt.archive_id)
    syn.connect(i=np.arange(n_syn), j=np.arange(n_syn))
    syn.w = w0
    vt.attach(syn)
    if same_step == "depression":
        syn.pre.order = 1
        if hasattr(syn, "post"):
            syn.post.order = -1
        post.resetter["spike"].when = "before_synapses"
    da_times = np.asarray(da_times, float)
    da_gen = SpikeGeneratorGroup(
        1, np.zeros(len(da_times), int), da_times * second, dt=dt, name="da_gen"
    )
    rel = Synapses(
        da_gen,
        pool_group,
        on_pre=pool.on_release,
        namespace=pool.release_namespace(),
        name="release",
        dt=dt,
    )
    rel.connect()
    net = Network(pre, post, pool_group, syn, da_gen, rel)
    # run through the step at t_end - dt; the 'synapses' slot at t_end is not executed,
    # so w_now is the value at t_end (transmitter already integrated up to t_end)
    net.run(n_steps * dt)
    if build_only:
        return None, None, net
    return (*read_state(net, rule), net)


def read_state(net, rule):
    """(w, c) of every synapse from plain state (a subexpression cannot be read back on
    every device)."""
    syn = net["syn"]
    c = np.asarray(syn.c_e[:]) * transmitter_value(syn, "da_D")
    if rule.rises:
        c = c + np.asarray(syn.Q_e[:]) * transmitter_value(syn, "da_Dr")
    return rule.current_weights(syn), c

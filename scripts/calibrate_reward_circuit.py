#!/usr/bin/env python
"""Calibrate the balance of the critic's two paths to the DA neurons.

A step of D1 drive (no cue, no learning) must give a DA transient (the fast path) and
then no sustained change (the slow GABA path cancels it): a sustained value carries no
prediction error. This script steps the D1 (or D2) drive and prints the DA rate before,
just after and long after the step, for a list of slow-path gains. The chosen gain is
the default ``j_d1_gaba`` in circuits/reward_circuit.py.

    python scripts/calibrate_reward_circuit.py [gain_mV ...]
"""

import sys

import numpy as np
from brian2 import SpikeMonitor, ms, mV, prefs, second

from dopasim.circuits.reward_circuit import RewardCircuitParams, Stimulus, build_reward_circuit


def step_response(gain_mv, pop="str_d1", step_mv=4.0, scale=0.5, seed=1):
    prefs.codegen.target = "numpy"
    P = RewardCircuitParams(scale=scale).with_(j_d1_gaba=gain_mv * mV)
    T = 6.0
    n = int(T / 0.01) + 1
    stim = Stimulus(1, 10, 10 * ms, -np.ones(n), np.zeros(n))
    c = build_reward_circuit(P, stim, np.random.default_rng(seed))
    mons = {k: SpikeMonitor(c[k]) for k in ("vta_da", "vta_gaba", pop)}
    c.network.add(*mons.values())
    c.network.run(2 * second)
    c[pop].I_bias += step_mv * mV
    c.network.run((T - 2) * second)

    def rate(k, a, b):
        t = np.asarray(mons[k].t / second)
        return np.sum((t >= a) & (t < b)) / len(c[k]) / (b - a)

    return {
        "pop_before": rate(pop, 0.5, 2),
        "pop_after": rate(pop, 3, T),
        "gaba_before": rate("vta_gaba", 0.5, 2),
        "gaba_after": rate("vta_gaba", 3, T),
        "da_before": rate("vta_da", 0.5, 2),
        "da_transient": rate("vta_da", 2.0, 2.2),
        "da_after": rate("vta_da", 3, T),
    }


if __name__ == "__main__":
    gains = [float(g) for g in sys.argv[1:]] or [0.03, 0.05, 0.07]
    for g in gains:
        r = step_response(g)
        print(f"gain {g} mV: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)

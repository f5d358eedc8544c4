#!/usr/bin/env python
"""Calibrate the balance of the critic's two paths to the DA neurons.

A step of D1 drive (no cue, no learning) must give a DA transient (the fast path) and
then no sustained change (the delayed GABA path cancels it): a sustained value carries
no prediction error. This script raises the D1 drive at 2 s, lowers it again at 5 s,
and prints the DA rate before, in the two 100 ms bins after each edge, and during the
sustained step, averaged over two connectivity seeds (half-size circuit, Cython). The
chosen gain is the default ``j_d1_gaba`` in circuits/reward_circuit.py.

    python scripts/calibrate_reward_circuit.py [gain_mV ...]
"""

import sys

import numpy as np
from brian2 import SpikeMonitor, ms, mV, prefs, second

from dopasim.circuits.reward_circuit import RewardCircuitParams, Stimulus, build_reward_circuit


def step_response(gain_mv, step_mv=4.0, scale=0.5, seeds=(1, 2)):
    prefs.codegen.target = "cython"
    P = RewardCircuitParams(scale=scale).with_(j_d1_gaba=gain_mv * mV)
    T = 8.0
    n = int(T / 0.01) + 1
    stim = Stimulus(1, 10, 10 * ms, -np.ones(n), np.zeros(n))
    rows = []
    for seed in seeds:
        c = build_reward_circuit(P, stim, np.random.default_rng(seed))
        mons = {k: SpikeMonitor(c[k]) for k in ("vta_da", "vta_gaba", "str_d1")}
        c.network.add(*mons.values())
        c.network.run(2 * second)
        c["str_d1"].I_bias += step_mv * mV
        c.network.run(3 * second)
        c["str_d1"].I_bias -= step_mv * mV
        c.network.run(3 * second)

        def rate(k, a, b, c=c, mons=mons):
            t = np.asarray(mons[k].t / second)
            return np.sum((t >= a) & (t < b)) / len(c[k]) / (b - a)

        rows.append(
            {
                "da_before": rate("vta_da", 0.5, 2),
                "da_on_0-100ms": rate("vta_da", 2, 2.1),
                "da_on_100-200ms": rate("vta_da", 2.1, 2.2),
                "da_sustained": rate("vta_da", 2.5, 5),
                "da_off_0-100ms": rate("vta_da", 5, 5.1),
                "da_off_100-200ms": rate("vta_da", 5.1, 5.2),
                "da_after": rate("vta_da", 5.5, 8),
                "d1_step": rate("str_d1", 2.5, 5),
                "gaba_before": rate("vta_gaba", 0.5, 2),
                "gaba_step": rate("vta_gaba", 2.5, 5),
            }
        )
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


if __name__ == "__main__":
    gains = [float(g) for g in sys.argv[1:]] or [2.2, 2.35, 2.5]
    for g in gains:
        r = step_response(g)
        print(f"j_d1_gaba {g} mV: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)

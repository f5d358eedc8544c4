#!/usr/bin/env python
"""
Aversive conditioning: 5-HT neurons are excited and DA neurons paused by punishment
===================================================================================

Cohen JY, Amoroso MW, Uchida N (2015) Serotonergic neurons signal reward and
punishment on multiple timescales. eLife 4:e06346 (5-HT neurons are phasically excited
by punishment). Tan KR et al. (2012) Neuron 73:1173 (footshock excites VTA GABA neurons,
which pause DA neurons). Daw, Kakade & Dayan (2002): 5-HT as dopamine's opponent.

One cue (CS at 1 s) is followed 1 s later by a punishment (an air puff or a shock in the
experiments). Run it::

    dopasim run aversive
    dopasim run aversive --param n_trials=60

metrics.json
------------
ht_punish_ratio
    5-HT population rate, peak 50 ms bin 0-300 ms after the punishment / pre-CS baseline
    (all trials).
da_punish_ratio
    DA population rate averaged over 0-300 ms after the punishment / pre-CS baseline.
ht_tonic_hz, da_tonic_hz, ...
    As in the conditioning protocol.
d1_weight_change, d2_weight_change
    Mean change of the aversive cue's corticostriatal weights (D2 should grow).
go_nogo_cue
    d1_weight_change - d2_weight_change.
ht_steady_nM, ht_terminal_content, da_released_per_spike, reward_da_peak_nM,
da_reward_ratio, da_aversive_ratio
    What the scenarios act on (see ``pavlovian.scenario_metrics``).
"""

import numpy as np

from dopasim.params import Param
from dopasim.protocols import pavlovian as pv
from dopasim.protocols.conditioning import memory_counts  # noqa: F401 - same trial shape

SCENARIOS = True  # runs under any scenario (dopasim.circuits.scenarios)
#: The metrics that `dopasim compare` plots.
HEADLINE_METRICS = (
    "da_aversive_ratio",
    "ht_punish_ratio",
    "go_nogo_cue",
    "d1_weight_change",
    "d2_weight_change",
    "ht_steady_nM",
)
NAME = "aversive"
SUMMARY = "Cohen 2015 / Tan 2012: punishment excites 5-HT neurons and pauses DA neurons"

PARAMS = [
    *(
        Param(p.name, 60, "int", p.help, low=1) if p.name == "n_trials" else p
        for p in pv.COMMON_PARAMS
    ),
]


def check(p):
    pv.check_common(p)


def build_key(p):
    return pv.build_key(p, 1)


def trials(p, rng):
    n = p["n_trials"]
    return {
        "cue": np.zeros(n, int),
        "outcome": np.full(n, pv.PUNISH),
        "probe": np.zeros(n, bool),
    }


def build(p, rngs):
    return pv.build(p, rngs, trials(p, rngs["inputs"]), n_cues=1)


def metrics(data, p):
    out = pv.da_ht_tonic_metrics(data, p)
    us = float(p["us_delay"])
    every = np.ones(len(data["trial_cue"]), bool)
    out["ht_punish_ratio"] = pv.ratio(data, p, "drn_5ht", every, (us, us + 0.3), "max")
    out["da_punish_ratio"] = pv.ratio(data, p, "vta_da", every, (us, us + 0.3), "mean")
    out["d1_weight_change"] = pv.weight_change(data, "ctx_d1", 0)
    out["d2_weight_change"] = pv.weight_change(data, "ctx_d2", 0)
    out["go_nogo_cue"] = out["d1_weight_change"] - out["d2_weight_change"]
    out.update(pv.scenario_metrics(data, p, data["trial_outcome"]))
    return out


def figures(data, p, outdir):
    n = len(data["trial_cue"])
    k = min(10, n)
    idx = np.arange(n)
    groups = {f"first {k} trials": idx < k, f"last {k} trials": idx >= n - k}
    return pv.figures(data, p, outdir, groups)


class Aversive(pv.TrialProtocol):
    """Cohen et al. 2015, Tan et al. 2012: the module's functions are its hooks."""

    NAME, SUMMARY, PARAMS, HEADLINE_METRICS = NAME, SUMMARY, PARAMS, HEADLINE_METRICS
    TINY_PARAMS = {**pv.TINY_PARAMS, "n_trials": "2"}

    def check(self, p):
        check(p)

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

    def outcome_times(self, data, params, start, cs):
        return pv.us_delay_outcomes(params, start, cs)

    def trial_types(self, data, params, cue):
        return ["punished"] * len(cue)


PROTOCOL = Aversive()


if __name__ == "__main__":
    from dopasim.cli import script

    script(NAME)

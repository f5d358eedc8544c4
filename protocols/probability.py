#!/usr/bin/env python
"""
Reward probability: the CS response scales with the probability of reward
=========================================================================

Fiorillo CD, Tobler PN, Schultz W (2003) Discrete coding of reward probability and
uncertainty by dopamine neurons. Science 299:1898. Reproduces Fig. 2: the phasic DA
response to a cue rises monotonically with the probability that the cue is rewarded.

Five cues, rewarded with P = 0, 0.25, 0.5, 0.75 and 1, are shown in a random order
(each cue on ``n_trials / 5`` trials; within a cue, the rewarded trials are a fixed
fraction P placed at random). Run it::

    dopasim run probability
    dopasim run probability --param n_trials=500

metrics.json
------------
cs_ratio_p0, cs_ratio_p25, cs_ratio_p50, cs_ratio_p75, cs_ratio_p100
    DA response to each cue over the last half of its trials: peak 50 ms bin 0-300 ms
    after the CS / pre-CS baseline.
cs_spearman_rho
    Spearman correlation between P and the CS ratios.
d1_weight_change_p<P>, d2_weight_change_p<P>
    Mean change of each cue's corticostriatal weights.
"""

import numpy as np

from dopasim import analysis
from dopasim.params import Param, ParamError
from dopasim.protocols import pavlovian as pv

SCENARIOS = True  # runs under any scenario (dopasim.circuits.scenarios)
#: The metrics that `dopasim compare` plots.
HEADLINE_METRICS = ("cs_spearman_rho", "cs_ratio_p0", "cs_ratio_p50", "cs_ratio_p100")
#: The values these metrics can take (the comparison figures draw CIs within them).
METRIC_RANGES = {"cs_spearman_rho": (-1.0, 1.0)}
NAME = "probability"
SUMMARY = "Fiorillo 2003: the DA response to a cue rises with its reward probability"

PROBS = (0.0, 0.25, 0.5, 0.75, 1.0)
LABELS = ("p0", "p25", "p50", "p75", "p100")

PARAMS = [
    *(
        Param(p.name, 1000, "int", p.help, low=1) if p.name == "n_trials" else p
        for p in pv.COMMON_PARAMS
    ),
    Param("probabilities", "0,0.25,0.5,0.75,1", "str", "reward probability of each cue"),
]


def check(p):
    pv.check_common(p)
    probs = pv.float_list(p, "probabilities", 0.0, 1.0, "probabilities")
    if p["n_trials"] < 2 * len(probs):
        raise ParamError(
            f"n_trials: {p['n_trials']} gives fewer than 2 trials per cue ({len(probs)} cues)"
        )
    p["probs"] = probs


def build_key(p):
    return pv.build_key(p, len(p["probs"]))


def trials(p, rng):
    n, probs = p["n_trials"], p["probs"]
    cues = np.arange(n) % len(probs)
    rng.shuffle(cues)
    outcome = np.zeros(n, int)
    for c, prob in enumerate(probs):
        idx = np.nonzero(cues == c)[0]
        k = int(round(prob * len(idx)))
        outcome[rng.choice(idx, size=k, replace=False)] = pv.REWARD
    return {"cue": cues, "outcome": outcome, "probe": np.zeros(n, bool)}


def build(p, rngs):
    return pv.build(p, rngs, trials(p, rngs["inputs"]), n_cues=len(p["probs"]))


def _label(prob):
    return f"p{int(round(prob * 100))}"


def metrics(data, p):
    out = pv.da_ht_tonic_metrics(data, p)
    cues = data["trial_cue"]
    ratios = []
    for c, prob in enumerate(p["probs"]):
        idx = np.nonzero(cues == c)[0]
        late = np.zeros(len(cues), bool)
        late[idx[len(idx) // 2 :]] = True
        r = pv.ratio(data, p, "vta_da", late, (0.0, 0.3))
        out[f"cs_ratio_{_label(prob)}"] = r
        out[f"d1_weight_change_{_label(prob)}"] = pv.weight_change(data, "ctx_d1", c)
        out[f"d2_weight_change_{_label(prob)}"] = pv.weight_change(data, "ctx_d2", c)
        ratios.append(r)
    out["cs_spearman_rho"] = float(analysis.spearman_rho(np.array(p["probs"]), np.array(ratios)))
    return out


def figures(data, p, outdir):
    cues = data["trial_cue"]
    n = len(cues)
    groups = {}
    for c, prob in enumerate(p["probs"]):
        idx = np.nonzero(cues == c)[0]
        mask = np.zeros(n, bool)
        mask[idx[len(idx) // 2 :]] = True
        groups[f"P = {prob:g} (late)"] = mask
    return pv.figures(data, p, outdir, groups)


def memory_counts(p):
    """Counts for the memory estimate (`dopasim.memory`): one cue per probability, one
    cue's states on for ``us_delay`` and an outcome of ``outcome_dur`` per trial."""
    n = p["n_trials"]
    return pv.memory_counts_for(
        p,
        pv.circuit_params(p),
        n_cues=len(p["probs"]),
        n_states=p["n_states"],
        stim_on=n * float(p["us_delay"]),
        outcome_on=n * float(p["outcome_dur"]),
        trials="n_trials (or duration)",
    )


class Probability(pv.TrialProtocol):
    """Fiorillo, Tobler & Schultz 2003: the module's functions are its hooks."""

    NAME, SUMMARY, PARAMS = NAME, SUMMARY, PARAMS
    TINY_PARAMS = {**pv.TINY_PARAMS, "n_trials": "10"}
    HEADLINE_METRICS, METRIC_RANGES = HEADLINE_METRICS, METRIC_RANGES

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
        probs = params.get("probs") or []
        return [f"P(reward) = {probs[c]:g}" if c < len(probs) else f"cue {c}" for c in cue]


PROTOCOL = Probability()


if __name__ == "__main__":
    from dopasim.cli import script

    script(NAME)

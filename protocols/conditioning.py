#!/usr/bin/env python
"""
Pavlovian conditioning: dopamine's TD signature
===============================================

Schultz W, Dayan P, Montague PR (1997) A neural substrate of prediction and reward.
Science 275:1593. Reproduces Fig. 1: before learning the reward elicits a DA burst;
after learning the CS does, the predicted reward does not, and an omitted reward
leaves a pause at the time it was due.

One cue (CS at 1 s into each 3 s trial) predicts a reward 1 s later. Late in training,
``n_omissions`` probe trials omit the reward. Run it::

    dopasim run conditioning                      # 800 trials, compiled
    dopasim run conditioning --param n_trials=40
    python protocols/conditioning.py --seed 2

metrics.json (ratios: population rate in a window / the pre-CS second)
---------------------------------------------------------------------
da_tonic_hz, da_intraburst_hz
    DA rate in the pre-CS baselines; mean intraburst rate of Grace-Bunney bursts
    (start at an ISI < 80 ms, end at an ISI > 160 ms) over the whole run.
ht_tonic_hz, ht_cv_below_half_fraction
    5-HT baseline rate; fraction of 5-HT neurons whose ISI CV is below 0.5.
early_us_ratio, early_cs_ratio
    Peak 50 ms bin 0-300 ms after the US (CS) / baseline, first 10 trials.
late_cs_ratio, late_us_ratio
    The same over the last 10 rewarded trials.
late_us_mean_ratio
    Mean rate 0-300 ms after the US / baseline, last 10 rewarded trials: a pause that the
    peak bin hides (a value that over-predicts the reward) shows here as a ratio < 1.
omission_ratio
    Minimum 50 ms bin 0-400 ms after the omitted reward / baseline (probe trials).
d1_weight_change, d2_weight_change
    Mean change of the cue's corticostriatal weights onto D1 and D2 (units of w_max).
go_nogo_cue
    d1_weight_change - d2_weight_change.
ht_steady_nM, ht_terminal_content, da_released_per_spike, reward_da_peak_nM,
da_reward_ratio, da_aversive_ratio
    What the scenarios act on (see ``pavlovian.scenario_metrics``).
"""

import numpy as np

from dopasim.params import Param, ParamError
from dopasim.protocols import pavlovian as pv

SCENARIOS = True  # runs under any scenario (dopasim.circuits.scenarios)
#: The metrics that `dopasim compare` plots.
HEADLINE_METRICS = (
    "late_cs_ratio",
    "late_us_ratio",
    "omission_ratio",
    "d1_weight_change",
    "reward_da_peak_nM",
    "da_released_per_spike",
    "ht_steady_nM",
    "ht_terminal_content",
)
NAME = "conditioning"
SUMMARY = "Schultz 1997: DA bursts move from the reward to the CS; omission gives a pause"

PARAMS = [
    *(
        Param(p.name, 800, "int", p.help, low=1) if p.name == "n_trials" else p
        for p in pv.COMMON_PARAMS
    ),
    Param("n_omissions", 5, "int", "omission probes among the last `probe_window` trials", low=0),
    Param("probe_window", 25, "int", "late trials from which the probes are drawn", low=1),
]


def check(p):
    pv.check_common(p)
    if p["n_omissions"] > p["probe_window"]:
        raise ParamError(
            f"n_omissions: {p['n_omissions']} exceeds probe_window ({p['probe_window']})"
        )
    if p["probe_window"] > p["n_trials"]:
        raise ParamError(f"probe_window: {p['probe_window']} exceeds n_trials ({p['n_trials']})")


def build_key(p):
    return pv.build_key(p, 1)


def trials(p, rng):
    n = p["n_trials"]
    outcome = np.full(n, pv.REWARD)
    probe = np.zeros(n, bool)
    late = np.arange(n - p["probe_window"], n)
    probes = np.sort(rng.choice(late, size=p["n_omissions"], replace=False))
    outcome[probes] = pv.NONE
    probe[probes] = True
    return {"cue": np.zeros(n, int), "outcome": outcome, "probe": probe}


def build(p, rngs):
    return pv.build(p, rngs, trials(p, rngs["inputs"]), n_cues=1)


def metrics(data, p):
    out = pv.da_ht_tonic_metrics(data, p)
    n = len(data["trial_cue"])
    us = float(p["us_delay"])
    rewarded = data["trial_outcome"] == pv.REWARD
    first = np.arange(n) < min(10, n)
    late = np.zeros(n, bool)
    late[np.nonzero(rewarded)[0][-10:]] = True
    cs_win, us_win = (0.0, 0.3), (us, us + 0.3)
    out["early_us_ratio"] = pv.ratio(data, p, "vta_da", first & rewarded, us_win)
    out["early_cs_ratio"] = pv.ratio(data, p, "vta_da", first, cs_win)
    out["late_cs_ratio"] = pv.ratio(data, p, "vta_da", late, cs_win)
    out["late_us_ratio"] = pv.ratio(data, p, "vta_da", late, us_win)
    out["late_us_mean_ratio"] = pv.ratio(data, p, "vta_da", late, us_win, "mean")
    out["omission_ratio"] = pv.ratio(data, p, "vta_da", data["trial_probe"], (us, us + 0.4), "min")
    out["n_omissions"] = int(data["trial_probe"].sum())
    out["d1_weight_change"] = pv.weight_change(data, "ctx_d1", 0)
    out["d2_weight_change"] = pv.weight_change(data, "ctx_d2", 0)
    out["go_nogo_cue"] = out["d1_weight_change"] - out["d2_weight_change"]
    out.update(pv.scenario_metrics(data, p, data["trial_outcome"]))
    return out


def figures(data, p, outdir):
    n = len(data["trial_cue"])
    k = min(10, n)
    idx = np.arange(n)
    groups = {
        f"first {k} trials": idx < k,
        f"last {k} rewarded": np.isin(idx, np.nonzero(data["trial_outcome"] == pv.REWARD)[0][-k:]),
    }
    if data["trial_probe"].any():
        groups["omission probes"] = data["trial_probe"].astype(bool)
    return pv.figures(data, p, outdir, groups)


def memory_counts(p):
    """Counts for the memory estimate (`dopasim.memory`): one cue, whose states are on
    for ``us_delay`` and whose outcome lasts ``outcome_dur`` in every trial."""
    n = p["n_trials"]
    return pv.memory_counts_for(
        p,
        pv.circuit_params(p),
        n_cues=1,
        n_states=p["n_states"],
        stim_on=n * float(p["us_delay"]),
        outcome_on=n * float(p["outcome_dur"]),
        trials="n_trials (or duration)",
    )


class Conditioning(pv.TrialProtocol):
    """Schultz, Dayan & Montague 1997: the module's functions are its hooks."""

    NAME, SUMMARY, PARAMS, HEADLINE_METRICS = NAME, SUMMARY, PARAMS, HEADLINE_METRICS
    TINY_PARAMS = {
        **pv.TINY_PARAMS,
        "n_trials": "2",
        "n_omissions": "1",
        "probe_window": "1",
        "weight_samples": "20",
    }

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
        probe = np.asarray(data.get("trial_probe", np.zeros(len(cue), bool)))
        return ["omission probe" if pr else "rewarded" for pr in probe]


PROTOCOL = Conditioning()


if __name__ == "__main__":
    from dopasim.cli import script

    script(NAME)

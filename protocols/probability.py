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

With ``critic=distributional`` (three cues, e.g. ``probabilities=0.1,0.5,0.9``: the
variable-probability task of Dabney et al. 2020, Nature 577:671, Fig. 3), also, from
the cue responses (mean rate in ``cue_window`` after the CS, default 0-0.15 s, minus the
second before, late half of each cue's trials; the lowest, middle and highest
probability as R10, R50, R90):

optimism_spearman
    Spearman correlation across channels between the channel's design tau_k and its
    optimism index (R50 - R10)/(R90 - R10) (the channel's alive DA neurons pooled).
optimism_channel_<k>, optimism_p_channel_<k>
    Each channel's optimism index and the p of `distributional.optimism_test`.
optimism_n_above, optimism_n_below
    Channels significantly above / below 0.5 (`distributional.optimism_test` p < 0.05,
    its direction agreeing with the index's side of 0.5).
optimism_neuron_spearman, optimism_neuron_median
    Spearman correlation across alive DA neurons between the design tau and the
    neuron's optimism index, and the indices' median.
value_index_channel_<k>, value_index_spearman
    The same index of the channel's value, read from its D1 MSNs: their mean rate from
    the end of ``cue_window`` to the outcome minus the second before the CS (the
    channel's D1 MSNs pooled, late half), and the Spearman correlation of tau_k with it.
    Reported beside the DA index, not a criterion: the DA neurons read the value out
    through their asymmetric scaling, and the two indices differ where that read-out
    is not linear (docs/distributional-calibration.md).
"""

import numpy as np

from dopasim import analysis, distributional, plots
from dopasim.params import Param, ParamError
from dopasim.protocols import pavlovian as pv
from dopasim.protocols.distributional import (
    D1_FACTOR,
    D2_FRACTION,
    DA_FACTOR,
    DA_SPREAD_PARAMS,
    DIP_GAIN,
    ELIGIBILITY,
    EXPECTATION_PARAMS,
    GABA_FACTOR,
    LEARNING_ASYMMETRY,
    LEARNING_RATE,
    PAUSE_GAIN,
    SIGNAL_PARAMS,
    check_signal,
    check_sizes,
    check_taus,
    critic_key,
    da_spread_key,
    window_param,
    with_da_spread,
    with_factors,
    with_signal,
)

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
    Param(
        "critic",
        "classical",
        "choice",
        "classical | distributional (Dabney et al. 2020: channels of asymmetric DA "
        "neurons, each with its own value; three cues, e.g. probabilities=0.1,0.5,0.9)",
        choices=("classical", "distributional"),
    ),
    Param("channels", 10, "int", "channels of the distributional critic", low=2),
    Param("tau_low", 0.2, "float", "lowest channel asymmetry tau", low=0.0, high=1.0),
    Param("tau_high", 0.8, "float", "highest channel asymmetry tau", low=0.0, high=1.0),
    DIP_GAIN,
    PAUSE_GAIN,
    LEARNING_ASYMMETRY,
    LEARNING_RATE,
    ELIGIBILITY,
    D1_FACTOR,
    GABA_FACTOR,
    DA_FACTOR,
    D2_FRACTION,
    *SIGNAL_PARAMS,
    *EXPECTATION_PARAMS,
    *DA_SPREAD_PARAMS,
    Param(
        "cue_window",
        "0,0.15",
        "str",
        "distributional critic: cue response window after the CS for the optimism index "
        "(s, 'start,stop'; the circuit's cue burst lasts about 0.03-0.18 s, an undershoot "
        "follows)",
    ),
    Param(
        "connectivity",
        "bernoulli",
        "choice",
        "connection rule of the circuit: bernoulli (the base circuit's) | fixed_indegree",
        choices=("bernoulli", "fixed_indegree"),
    ),
]


def check(p):
    pv.check_common(p)
    probs = pv.float_list(p, "probabilities", 0.0, 1.0, "probabilities")
    if p["n_trials"] < 2 * len(probs):
        raise ParamError(
            f"n_trials: {p['n_trials']} gives fewer than 2 trials per cue ({len(probs)} cues)"
        )
    p["probs"] = probs
    if p["critic"] != "distributional" and p["d2_fraction"] != 1:
        raise ParamError(
            f"d2_fraction: {p['d2_fraction']:g} needs critic=distributional; "
            "allowed with the classical critic: 1"
        )
    if p["critic"] == "distributional":
        if len(probs) != 3 or not probs[0] < probs[1] < probs[2]:
            raise ParamError(
                f"probabilities: '{p['probabilities']}' - the distributional critic's "
                "optimism index needs three increasing probabilities (e.g. 0.1,0.5,0.9)"
            )
        check_taus(p)
        check_signal(p)
        window = window_param(p, "cue_window")
        if window[1] > float(p["us_delay"]):
            raise ParamError(
                f"cue_window: it ends after the reward ({window[1]:g} s > us_delay = "
                f"{p['us_delay']}); allowed: within the CS-US interval"
            )
        p["cue_window_s"] = tuple(window)
        check_sizes(p)


def circuit_params(p):
    if p["critic"] == "classical":
        return with_da_spread(pv.circuit_params(p, connectivity=p["connectivity"]), p)
    P = pv.circuit_params(
        p,
        critic="distributional",
        critic_channels=p["channels"],
        critic_tau_low=p["tau_low"],
        critic_tau_high=p["tau_high"],
        connectivity=p["connectivity"],
        critic_dip_gain=p["dip_gain"],
        critic_pause_gain=p["pause_gain"],
        critic_learning_rate=p["learning_rate"],
        critic_eligibility=p["eligibility"],
    )
    return with_signal(with_factors(P, p), p)


def build_key(p):
    key = (*pv.build_key(p, len(p["probs"])), *da_spread_key(p))
    if p["critic"] == "classical" and p["connectivity"] == "bernoulli":
        return key
    key = (*key, p["critic"], p["channels"], p["connectivity"])
    if p["critic"] == "distributional":
        key = (*key, *critic_key(p))
    return key


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
    return pv.build(
        p, rngs, trials(p, rngs["inputs"]), n_cues=len(p["probs"]), cparams=circuit_params(p)
    )


def _late(cues, c):
    """The late half of cue ``c``'s trials."""
    idx = np.nonzero(cues == c)[0]
    mask = np.zeros(len(cues), bool)
    mask[idx[len(idx) // 2 :]] = True
    return mask


def cue_responses(data, p, pop="vta_da", window=None):
    """(n_alive, n_trials) cue responses of ``pop`` (Hz: the rate in ``window`` after the
    CS, default ``cue_window``, minus the rate before the CS, over the second before it
    or from the trial's start when the CS comes sooner), the alive neurons' indices."""
    cs = pv.trial_times(data, p)
    base = (-min(1.0, float(p["cs_time"])), 0.0)  # within the trial, as pavlovian.ratio
    window = p["cue_window_s"] if window is None else window
    alive, rows = [], []
    for k, spikes in pv.alive_spike_trains(data, pop):
        alive.append(k)
        rows.append(distributional.responses(spikes, cs, window=window, baseline=base))
    return np.reshape(rows, (len(alive), len(cs))), np.asarray(alive, dtype=int)


def _spearman(x, y):
    """Spearman correlation over the finite ``y``; NaN with fewer than three."""
    ok = np.isfinite(y)
    return float(analysis.spearman_rho(x[ok], y[ok])) if ok.sum() >= 3 else float("nan")


def optimism_metrics(data, p):
    """The optimism index per channel and per neuron (module docstring)."""
    cues = np.asarray(data["trial_cue"])
    resp, alive = cue_responses(data, p)
    late = [_late(cues, c) for c in range(3)]
    chan = np.asarray(data["da_channel"])[alive]
    taus = np.asarray(data["channel_tau"])
    out, oi_chan = {}, []
    n_above = n_below = 0
    for k in range(len(taus)):
        rows = resp[chan == k]
        if not len(rows):  # every DA neuron of the channel lost (parkinson)
            out[f"optimism_channel_{k}"] = out[f"optimism_p_channel_{k}"] = float("nan")
            oi_chan.append(np.nan)
            continue
        pooled = rows.mean(axis=0)
        idx, pval, sign = distributional.optimism_test(*(pooled[m] for m in late))
        out[f"optimism_channel_{k}"], out[f"optimism_p_channel_{k}"] = idx, pval
        oi_chan.append(idx)
        # significant, and the index on the side the test found (with R90 < R10 an
        # index above 0.5 means 50 % responses below the midpoints)
        if np.isfinite(idx) and pval < 0.05 and np.sign(idx - 0.5) == sign:
            n_above += int(sign > 0)
            n_below += int(sign < 0)
    out["optimism_spearman"] = _spearman(taus, np.asarray(oi_chan, float))
    out["optimism_n_above"], out["optimism_n_below"] = n_above, n_below
    means = [resp[:, m].mean(axis=1) for m in late]
    oi = distributional.optimism_index(*means) if len(alive) else np.array([])
    okn = np.isfinite(oi)
    out["optimism_neuron_spearman"] = _spearman(taus[chan], oi)
    out["optimism_neuron_median"] = float(np.median(oi[okn])) if okn.any() else float("nan")
    return out


def value_metrics(data, p):
    """Each channel's value index from its D1 MSNs (module docstring); {} without the
    D1 MSNs' spikes or channels, or when the cue window ends at the outcome."""
    window = (p["cue_window_s"][1], float(p["us_delay"]))
    if "spikes_str_d1" not in data or "d1_channel" not in data or window[0] >= window[1]:
        return {}
    cues = np.asarray(data["trial_cue"])
    resp, alive = cue_responses(data, p, "str_d1", window)
    chan = np.asarray(data["d1_channel"])[alive]
    taus = np.asarray(data["channel_tau"])
    late = [_late(cues, c) for c in range(3)]
    idx = np.full(len(taus), np.nan)
    for k in range(len(taus)):
        rows = resp[chan == k]
        if len(rows):
            pooled = rows.mean(axis=0)
            idx[k] = distributional.optimism_index(*([pooled[m].mean()] for m in late))[0]
    out = {f"value_index_channel_{k}": float(v) for k, v in enumerate(idx)}
    out["value_index_spearman"] = _spearman(taus, idx)
    return out


def _label(prob):
    return f"p{int(round(prob * 100))}"


def metrics(data, p):
    out = pv.da_ht_tonic_metrics(data, p)
    cues = np.asarray(data["trial_cue"])
    ratios = []
    for c, prob in enumerate(p["probs"]):
        r = pv.ratio(data, p, "vta_da", _late(cues, c), (0.0, 0.3))
        out[f"cs_ratio_{_label(prob)}"] = r
        out[f"d1_weight_change_{_label(prob)}"] = pv.weight_change(data, "ctx_d1", c)
        out[f"d2_weight_change_{_label(prob)}"] = pv.weight_change(data, "ctx_d2", c)
        ratios.append(r)
    out["cs_spearman_rho"] = float(analysis.spearman_rho(np.array(p["probs"]), np.array(ratios)))
    if p.get("critic", "classical") == "distributional":
        out.update(optimism_metrics(data, p))
        out.update(value_metrics(data, p))
    return out


def optimism_figure(data, p, path):
    """optimism.png (distributional critic): each channel's optimism index against its
    tau_k, from its DA cue responses and its D1 value, beside a perfect expectile code's."""
    m = {**optimism_metrics(data, p), **value_metrics(data, p)}
    taus = np.asarray(data["channel_tau"], float)
    index = np.array([m[f"optimism_channel_{k}"] for k in range(len(taus))])
    pval = np.array([m[f"optimism_p_channel_{k}"] for k in range(len(taus))])
    value = None
    if "value_index_spearman" in m:
        value = [m[f"value_index_channel_{k}"] for k in range(len(taus))]
    expected = distributional.expectile_optimism(taus, p["probs"])
    sig = np.isfinite(pval) & (pval < 0.05)
    return plots.distributional_optimism(taus, index, sig, value, expected, path)


def figures(data, p, outdir):
    cues = np.asarray(data["trial_cue"])
    groups = {f"P = {prob:g} (late)": _late(cues, c) for c, prob in enumerate(p["probs"])}
    paths = pv.figures(data, p, outdir, groups)
    if p.get("critic", "classical") == "distributional":
        paths.append(optimism_figure(data, p, outdir / "optimism.png"))
    return paths


def memory_counts(p):
    """Counts for the memory estimate (`dopasim.memory`): one cue per probability, one
    cue's states on for ``us_delay`` and an outcome of ``outcome_dur`` per trial."""
    n = p["n_trials"]
    return pv.memory_counts_for(
        p,
        circuit_params(p),
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

    def circuit_params(self, p):
        return circuit_params(p)

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

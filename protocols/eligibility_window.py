#!/usr/bin/env python
"""
The eligibility window: how late may dopamine come after a corticostriatal pairing?
==================================================================================

Yagishita S et al. (2014) A critical time window for dopamine actions on the structural
plasticity of dendritic spines. Science 345:1616. Reproduces Fig. 2: dopamine promotes
potentiation only when it arrives about 0.3-2 s after the glutamatergic (pre/post)
activity; it has no effect at 5 s.

Each trial pairs one cortical ensemble with its striatal targets (the ensemble fires for
``pairing_dur``), then delivers a reward-driven DA burst ``delay`` after the end of the
pairing. Each delay has its own ensemble (cue), so its synapses see only their own
pairings; a control ensemble is paired without any DA. Trials are ``trial_len`` apart,
long enough for every trace to decay. Yagishita et al. worked in slices, where DA
arrives only when it is released optogenetically; ``preparation=slice`` (the default)
reproduces that by cutting the critic's two paths from the striatum back to the DA
neurons (``j_d1_da = j_d1_gaba = 0``). With ``preparation=in_vivo`` the paired ensemble
also drives the critic, whose own DA transients (a burst at the pairing, a dip after it)
add trial-to-trial noise to the weight changes: with 3 repetitions per delay the change at
5 s then reached 27-55 % of the peak in 2 of 3 seeds. Run it::

    dopasim run eligibility-window
    dopasim run eligibility-window --param n_reps=5

metrics.json
------------
dw_at_<delay>s
    Mean change of the D1 weights of that delay's ensemble minus the control ensemble's
    change (units of w_max), e.g. ``dw_at_0.3s``.
dw_peak_delay_s
    The delay with the largest change.
dw_control
    The control ensemble's own change (DA noise and unspecific drift).
"""

import numpy as np
from brian2 import ms, mV, second

from dopasim import plots
from dopasim.circuits.reward_circuit import Stimulus
from dopasim.params import Param, ParamError
from dopasim.protocol import seconds
from dopasim.protocols import pavlovian as pv

SCENARIOS = True  # runs under any scenario (dopasim.circuits.scenarios)
NAME = "eligibility-window"
SUMMARY = "Yagishita 2014: DA potentiates a pairing only 0.3-2 s after it"

DELAYS = "0.1,0.3,0.6,1,2,3,5"
PREPARATIONS = ("slice", "in_vivo")


def _q(name, default, help_, **kw):
    return Param(name, default, "quantity", help_, unit=second, **kw)


PARAMS = [
    Param("delays", DELAYS, "str", "DA delays after the pairing, in seconds (comma-separated)"),
    Param("n_reps", 3, "int", "pairings per delay", low=1),
    Param(
        "preparation",
        "slice",
        "str",
        "slice: the striatum-to-midbrain loop is cut, as in the slice experiment; "
        "in_vivo: the whole circuit",
    ),
    _q("trial_len", 12 * second, "time between pairings", low=0, low_open=True),
    _q("cs_time", 1 * second, "pairing onset within the trial", low=0),
    _q("pairing_dur", 200 * ms, "how long the cortical ensemble fires", low=0, low_open=True),
    _q("outcome_dur", 100 * ms, "duration of the reward input", low=0, low_open=True),
    Param(
        "w_start", 0.5, "float", "initial corticostriatal weight (fraction of w_max)", low=0, high=1
    ),
    Param("scale", 1.0, "float", "population sizes relative to the default", low=0, low_open=True),
    Param("weight_samples", 200, "int", "synapses per projection recorded over time", low=0),
    *(p for p in pv.COMMON_PARAMS if p.name == "membrane_noise"),
]


def check(p):
    if p["preparation"] not in PREPARATIONS:
        raise ParamError(
            f"preparation: '{p['preparation']}' is not allowed; allowed: {', '.join(PREPARATIONS)}"
        )
    delays = pv.float_list(p, "delays", 0.0, float("inf"), "delays in seconds")
    for key in ("trial_len", "cs_time", "pairing_dur", "outcome_dur"):
        pv._on_grid(p[key], key)
    for d in delays:
        pv._on_grid(d * second, "delays")
    latest = p["cs_time"] + p["pairing_dur"] + max(delays) * second + p["outcome_dur"]
    if latest > p["trial_len"]:
        raise ParamError(
            f"delays: the DA for {max(delays):g} s ends at {latest} into the trial, after the "
            f"trial's end (trial_len = {p['trial_len']})"
        )
    if p["cs_time"] < 0.5 * second:
        raise ParamError(f"cs_time: {p['cs_time']} leaves less than 0.5 s of baseline")
    p["delay_list"] = delays
    p["n_states"] = 1
    p["state_dur"] = p["pairing_dur"]
    p["us_delay"] = p["pairing_dur"]
    p["n_trials"] = (len(delays) + 1) * p["n_reps"]
    p["duration"] = p["n_trials"] * p["trial_len"]


def build_key(p):
    return (
        p["scale"],
        p["weight_samples"],
        len(p["delay_list"]),
        p["preparation"],
        p["membrane_noise"],
    )


def trials(p, rng):
    n_cues = len(p["delay_list"]) + 1  # the last cue is the control (no DA)
    cues = np.concatenate([rng.permutation(n_cues) for _ in range(p["n_reps"])])
    outcome = np.where(cues < n_cues - 1, pv.REWARD, pv.NONE)
    return {"cue": cues, "outcome": outcome, "probe": np.zeros(len(cues), bool)}


def stimulus(p, tr):
    g = float(pv.GRID)
    n_grid = int(round(float(p["duration"]) / g)) + 1
    state = -np.ones(n_grid)
    outcome = np.zeros(n_grid)
    per_trial = int(round(float(p["trial_len"]) / g))
    onset = int(round(float(p["cs_time"]) / g))
    dur = int(round(float(p["pairing_dur"]) / g))
    out_len = int(round(float(p["outcome_dur"]) / g))
    for k, (cue, oc) in enumerate(zip(tr["cue"], tr["outcome"], strict=True)):
        a = k * per_trial + onset
        state[a : a + dur] = cue
        if oc == pv.REWARD:
            b = a + dur + int(round(p["delay_list"][cue] / g))
            outcome[b : b + out_len] = pv.REWARD
    return Stimulus(len(p["delay_list"]) + 1, 1, pv.GRID, state, outcome)


def build(p, rngs):
    tr = trials(p, rngs["inputs"])
    cparams = pv.circuit_params(p).with_(w_init=p["w_start"])
    if p["preparation"] == "slice":
        # Yagishita et al. measured in slices: no striatal feedback reaches DA neurons
        cparams = cparams.with_(j_d1_da=0 * mV, j_d1_gaba=0 * mV)
    return pv.build(
        p, rngs, tr, n_cues=len(p["delay_list"]) + 1, cparams=cparams, stim=stimulus(p, tr)
    )


def metrics(data, p):
    delays = p["delay_list"]
    control = pv.weight_change(data, "ctx_d1", len(delays))
    out = {"dw_control": control}
    dws = []
    for c, d in enumerate(delays):
        dw = pv.weight_change(data, "ctx_d1", c) - control
        out[f"dw_at_{d:g}s"] = dw
        dws.append(dw)
    out["dw_peak_delay_s"] = float(delays[int(np.argmax(dws))])
    out["da_tonic_hz"] = pv.tonic(data, p, "vta_da")
    return out


def figures(data, p, outdir):
    return [
        plots.circuit_raster(data, p, outdir / "raster.png"),
        plots.eligibility_window(metrics(data, p), p, outdir / "window.png"),
        plots.pool_traces(data, p, outdir / "pools.png"),
    ]


def memory_counts(p):
    """Counts for the memory estimate (`dopasim.memory`): one ensemble per delay plus the
    control, each trial one pairing of ``pairing_dur`` and at most one DA input of
    ``outcome_dur``."""
    n = p["n_trials"]
    return pv.memory_counts_for(
        p,
        pv.circuit_params(p),
        n_cues=len(p["delay_list"]) + 1,
        n_states=1,
        stim_on=n * float(p["pairing_dur"]),
        outcome_on=n * float(p["outcome_dur"]),
        trials="n_reps (or the number of delays)",
    )


class EligibilityWindow(pv.TrialProtocol):
    """Yagishita et al. 2014: the module's functions are its hooks."""

    NAME, SUMMARY, PARAMS = NAME, SUMMARY, PARAMS
    TINY_PARAMS = {
        "scale": "0.05",
        "trial_len": "2s",
        "cs_time": "0.5s",
        "weight_samples": "10",
        "delays": "0.1,0.5",
        "n_reps": "1",
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
        delays = [float(x) for x in params.get("delay_list") or []]
        pairing = seconds(params.get("pairing_dur", 0.0), "pairing_dur")
        cue = np.asarray(data["trial_cue"]).astype(np.int64)
        delay = np.array([delays[c] if 0 <= c < len(delays) else np.nan for c in cue], float)
        return (
            start + cs + pairing + delay,
            "time of the DA burst's reward input (s); NaN for the control ensemble",
        )

    def trial_types(self, data, params, cue):
        delays = params.get("delay_list") or []
        return [f"DA {delays[c]:g} s after pairing" if c < len(delays) else "control" for c in cue]


PROTOCOL = EligibilityWindow()


if __name__ == "__main__":
    from dopasim.cli import script

    script(NAME)

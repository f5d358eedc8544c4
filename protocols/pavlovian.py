"""Shared machinery of the trial-based protocols on the reward circuit.

A trial lasts ``trial_len``; its CS comes at ``cs_time`` and its outcome ``us_delay``
later. The cue's cortical states tile [CS, CS + us_delay) in steps of ``state_dur``. A
protocol module supplies its trial list (cue, outcome, probe flag per trial) and its
metrics; this module builds the stimulus, the circuit, the monitors, and the common
figures. Everything that varies in time is a TimedArray, so runs are portable to the
compiled devices.

Outcome codes: 0 none (omission or unrewarded), 1 reward, 2 punishment.
"""

import numpy as np
from brian2 import SpikeMonitor, StateMonitor, ms, nmolar, second

from dopasim import analysis
from dopasim.circuits.reward_circuit import (
    POPULATIONS,
    RewardCircuitParams,
    Stimulus,
    build_reward_circuit,
)
from dopasim.circuits.scenarios import apply_scenarios, parse_scenarios
from dopasim.params import Param, ParamError

__all__ = [
    "COMMON_PARAMS",
    "check_common",
    "stimulus",
    "build",
    "schedule",
    "collect",
    "psth",
    "ratio",
    "tonic",
    "weight_change",
    "da_ht_tonic_metrics",
    "figures",
]

GRID = 10 * ms  # time grid of the stimulus schedule
NONE, REWARD, PUNISH = 0, 1, 2


def _q(name, default, unit, help_, **kw):
    return Param(name, default, "quantity", help_, unit=unit, **kw)


COMMON_PARAMS = [
    Param("n_trials", 100, "int", "number of trials", low=1),
    _q(
        "duration",
        0 * second,
        second,
        "total simulated time; when > 0 it sets n_trials = duration / trial_len",
        low=0,
    ),
    _q("trial_len", 3 * second, second, "length of one trial", low=0, low_open=True),
    _q(
        "cs_time",
        1 * second,
        second,
        "CS onset within the trial (the pre-CS second is the baseline)",
        low=0,
    ),
    _q("us_delay", 1 * second, second, "outcome time after the CS", low=0, low_open=True),
    _q("state_dur", 100 * ms, second, "duration of one cortical time state", low=0, low_open=True),
    _q("outcome_dur", 100 * ms, second, "duration of the outcome input", low=0, low_open=True),
    Param(
        "scale",
        1.0,
        "float",
        "population sizes relative to the default (100 DA, 1000 D1...)",
        low=0,
        low_open=True,
    ),
    Param(
        "weight_samples",
        500,
        "int",
        "synapses per projection whose weights are recorded over time",
        low=0,
    ),
]


def float_list(p, key, low, high, what):
    """Parse ``p[key]`` ('0,0.25,1') into a tuple of floats in [low, high]."""
    try:
        values = tuple(float(x) for x in str(p[key]).split(","))
    except ValueError:
        raise ParamError(f"{key}: '{p[key]}' is not a comma-separated list of {what}") from None
    bad = [x for x in values if not (low <= x <= high)]  # NaN fails too
    if bad:
        raise ParamError(
            f"{key}: {bad[0]:g} is out of range; allowed: {what} in [{low:g}, {high:g}]"
        )
    return values


def _count(value, step, message):
    """``value / step`` as an int; ParamError(``message``) when it is not whole."""
    n = float(value / step)
    if abs(n - round(n)) > 1e-6:
        raise ParamError(message)
    return int(round(n))


def _on_grid(value, name, grid=GRID):
    return _count(value, grid, f"{name}: {value} is not a multiple of {grid}")


def check_common(p):
    """Cross-parameter checks; adds ``duration`` and ``n_states`` to ``p``."""
    for key in ("trial_len", "cs_time", "us_delay", "state_dur", "outcome_dur"):
        _on_grid(p[key], key)
    if p["cs_time"] < 0.5 * second:
        raise ParamError(f"cs_time: {p['cs_time']} leaves less than 0.5 s of pre-CS baseline")
    us_end = p["cs_time"] + p["us_delay"] + p["outcome_dur"]
    if us_end > p["trial_len"]:
        raise ParamError(
            f"us_delay: the outcome ends at {us_end} into the trial, after the trial's end "
            f"(trial_len = {p['trial_len']}); allowed: cs_time + us_delay + outcome_dur <= trial_len"
        )
    p["n_states"] = _count(
        p["us_delay"],
        p["state_dur"],
        f"state_dur: us_delay ({p['us_delay']}) is not a whole number of states of {p['state_dur']}",
    )
    if p["duration"] > 0 * second:
        msg = f"duration: {p['duration']} is not a whole number of trials of {p['trial_len']}"
        p["n_trials"] = _count(p["duration"], p["trial_len"], msg)
        if p["n_trials"] < 1:
            raise ParamError(msg)
    p["duration"] = p["n_trials"] * p["trial_len"]


def build_key(p, n_cues):
    """What fixes the shape of the compiled code of a trial protocol."""
    return (p["n_states"], p["scale"], p["weight_samples"], n_cues)


def stimulus(p, trials, n_cues):
    """The `Stimulus` for a trial table (dict of arrays ``cue``, ``outcome``)."""
    g = float(GRID)
    n_grid = int(round(float(p["duration"]) / g)) + 1
    state = -np.ones(n_grid)
    outcome = np.zeros(n_grid)
    per_trial = int(round(float(p["trial_len"]) / g))
    cs = int(round(float(p["cs_time"]) / g))
    per_state = int(round(float(p["state_dur"]) / g))
    us = cs + p["n_states"] * per_state
    out_len = int(round(float(p["outcome_dur"]) / g))
    for k, (cue, oc) in enumerate(zip(trials["cue"], trials["outcome"], strict=True)):
        base = k * per_trial
        if cue >= 0:
            for s in range(p["n_states"]):
                a = base + cs + s * per_state
                state[a : a + per_state] = cue * p["n_states"] + s
        if oc:
            outcome[base + us : base + us + out_len] = oc
    return Stimulus(n_cues, p["n_states"], GRID, state, outcome)


def circuit_params(p, **overrides):
    """The base circuit at the run's scale, with the run's scenario applied."""
    base = RewardCircuitParams(scale=p["scale"]).with_(**overrides)
    return apply_scenarios(parse_scenarios(p.get("scenario", "intact")), base)


def build(p, rngs, trials, n_cues, cparams=None, stim=None):
    """Circuit + monitors for a trial table (``stim`` replaces the standard schedule)."""
    cparams = cparams or circuit_params(p)
    stim = stim if stim is not None else stimulus(p, trials, n_cues)
    circuit = build_reward_circuit(cparams, stim, rngs["connectivity"], rngs["lesion"])
    mons = {f"mon_{k}": SpikeMonitor(circuit[k], name=f"mon_{k}") for k in POPULATIONS}
    mons["mon_pools"] = StateMonitor(
        circuit["pools"],
        ["da", "ht", "ht_term", "da_seen"],
        record=[0],
        dt=5 * ms,
        name="mon_pools",
    )
    rng = rngs["inputs"]
    snap_dt = p["trial_len"]
    vt_rule = cparams.rule
    for proj in ("ctx_d1", "ctx_d2"):
        syn = circuit[proj]
        syn.run_regularly(
            vt_rule.snapshot("da"), dt=snap_dt, when="end", order=-1, name=f"{proj}_snap"
        )
        n_syn = len(syn)
        k = min(p["weight_samples"], n_syn)
        rec = np.sort(rng.choice(n_syn, size=k, replace=False)) if k else []
        if k:
            mons[f"mon_w_{proj}"] = StateMonitor(
                syn, "w_rec", record=rec, dt=snap_dt, name=f"mon_w_{proj}"
            )
            circuit.info[f"w_samples_{proj}"] = rec
    circuit.add(**mons)
    circuit.info["trials"] = {k: np.array(v) for k, v in trials.items()}
    circuit.params["circuit"] = cparams
    return circuit


def schedule(circuit, p, report=None):
    circuit.network.run(p["duration"], report=report, report_period=10 * second)


def _final_weights(circuit, proj):
    syn = circuit[proj]
    post = circuit["str_d1" if proj == "ctx_d1" else "str_d2"]
    return circuit.params["circuit"].rule.current_weights(syn, post)


def collect(circuit, p):
    data = {}
    for k in POPULATIONS:
        m = circuit[f"mon_{k}"]
        data[f"spikes_{k}"] = (np.array(m.i[:]), np.array(m.t[:] / second))
    pm = circuit["mon_pools"]
    data["pool_t"] = np.array(pm.t / second)
    data["da_nM"] = np.array(pm.da[0] / nmolar)
    data["ht_nM"] = np.array(pm.ht[0] / nmolar)
    data["ht_term_nM"] = np.array(pm.ht_term[0] / nmolar)
    data["da_seen_nM"] = np.array(pm.da_seen[0] / nmolar)
    data["da_released_nM"] = np.array(float(circuit["pools"].da_released[0] / nmolar))
    data["lesioned_da"] = np.asarray(circuit.info.get("lesioned_da", []), dtype=np.int32)
    cparams = circuit.params["circuit"]
    for proj in ("ctx_d1", "ctx_d2"):
        syn = circuit[proj]
        i = np.array(syn.i[:])
        data[f"{proj}_w_final"] = _final_weights(circuit, proj)
        data[f"{proj}_cue"] = (i // cparams.n_per_state // circuit.info["n_states"]).astype(
            np.int16
        )
        key = f"mon_w_{proj}"
        if key in circuit.groups:
            data[f"{proj}_w_t"] = np.array(circuit[key].t / second)
            data[f"{proj}_w_samples"] = np.array(circuit[key].w_rec)
            data[f"{proj}_w_sample_cue"] = data[f"{proj}_cue"][circuit.info[f"w_samples_{proj}"]]
    data["w_init"] = np.array(cparams.w_init * cparams.rule.w_max)
    for k, v in circuit.info["trials"].items():
        data[f"trial_{k}"] = v
    data["sizes"] = circuit.info["sizes"]
    return data


# ------------------------------------------------------------------------ analysis
def trial_times(data, p):
    n = len(data["trial_cue"])
    start = np.arange(n) * float(p["trial_len"])
    return start + float(p["cs_time"])


def psth(data, p, pop, trials_mask, bin_width=0.05):
    """Per-trial PSTH of ``pop`` aligned to the CS of the selected trials."""
    i, t = data[f"spikes_{pop}"]
    cs = trial_times(data, p)[trials_mask]
    window = (-float(p["cs_time"]), float(p["trial_len"] - p["cs_time"]))
    return analysis.population_psth(
        i, t, data["sizes"][pop], cs, window=window, bin_width=bin_width
    )


def ratio(data, p, pop, trials_mask, window, stat="max"):
    """Population rate in ``window`` (relative to the CS) / pre-CS baseline (1 s)."""
    if not np.any(trials_mask):
        return float("nan")
    edges, rates = psth(data, p, pop, trials_mask)
    base = (-min(1.0, float(p["cs_time"])), 0.0)
    return float(analysis.window_ratio(rates, edges, window, base, stat=stat))


def tonic(data, p, pop):
    """Mean rate (Hz per neuron) over the pre-CS periods [trial start, CS) of all trials."""
    t = np.sort(data[f"spikes_{pop}"][1])
    cs = trial_times(data, p)
    count = np.sum(np.searchsorted(t, cs) - np.searchsorted(t, cs - float(p["cs_time"])))
    n = data["sizes"][pop]
    total = len(cs) * float(p["cs_time"])
    return float(count / n / total) if n and total else float("nan")


def weight_change(data, proj, cue):
    w, c = data[f"{proj}_w_final"], data[f"{proj}_cue"]
    sel = c == cue
    return float(np.mean(w[sel]) - data["w_init"]) if np.any(sel) else float("nan")


def da_ht_tonic_metrics(data, p):
    """DA tonic rate and intraburst rate; 5-HT tonic rate and regularity (whole run)."""
    T = float(p["duration"])
    out = {}
    out["da_tonic_hz"] = tonic(data, p, "vta_da")
    i, t = data["spikes_vta_da"]
    bursts = analysis.burst_analysis(i, t, data["sizes"]["vta_da"])
    out["da_intraburst_hz"] = float(bursts["intraburst_hz"])
    out["da_burst_spike_fraction"] = float(bursts["fraction_spikes_in_bursts"])
    out["ht_tonic_hz"] = tonic(data, p, "drn_5ht")
    i, t = data["spikes_drn_5ht"]
    cvs = analysis.isi_cv(i, t, data["sizes"]["drn_5ht"])
    out["ht_cv_below_half_fraction"] = float(analysis.cv_below_fraction(cvs, 0.5))
    out["gaba_rate_hz"] = float(
        analysis.mean_rate(*data["spikes_vta_gaba"], data["sizes"]["vta_gaba"], 0, T)
    )
    out["d1_rate_hz"] = float(
        analysis.mean_rate(*data["spikes_str_d1"], data["sizes"]["str_d1"], 0, T)
    )
    out["d2_rate_hz"] = float(
        analysis.mean_rate(*data["spikes_str_d2"], data["sizes"]["str_d2"], 0, T)
    )
    return out


def _trace_peak(data, p, trials_mask, window):
    """Peak of the trial-averaged [DA] trace (nM) in ``window`` after the CS."""
    t, da = data["pool_t"], data["da_nM"]
    if not np.any(trials_mask) or len(t) < 2:
        return float("nan")
    step = t[1] - t[0]
    lo, hi = (int(round(w / step)) for w in window)
    starts = trial_times(data, p)[trials_mask]
    idx = np.searchsorted(t, starts)
    ok = idx + hi < len(t)
    if not np.any(ok):
        return float("nan")
    segs = np.stack([da[i + lo : i + hi] for i in idx[ok]])
    return float(segs.mean(axis=0).max())


def scenario_metrics(data, p, outcome):
    """What the scenarios change (issue 4): pools, DA release and outcome responses.

    ht_steady_nM, ht_terminal_content
        Mean extracellular [5-HT] and DA-terminal 5-HT stock (nM) over the run's second
        half (the pools are at their steady state by then).
    da_released_per_spike
        DA actually released per DA spike (nM; co-released 5-HT excluded). NaN with no spike.
    reward_da_peak_nM
        Peak of the [DA] trace averaged over rewarded trials, 0-300 ms after the outcome.
    da_reward_ratio, da_aversive_ratio
        DA population rate in 0-300 ms after a reward (punishment) / pre-CS baseline,
        over all such trials (NaN when the protocol has none).
    """
    out = {}
    t = data["pool_t"]
    half = t >= t[-1] / 2 if len(t) else np.zeros(0, bool)
    out["ht_steady_nM"] = float(np.mean(data["ht_nM"][half])) if np.any(half) else float("nan")
    out["ht_terminal_content"] = (
        float(np.mean(data["ht_term_nM"][half])) if np.any(half) else float("nan")
    )
    n_spikes = len(data["spikes_vta_da"][1])
    released = float(data["da_released_nM"])
    out["da_released_per_spike"] = released / n_spikes if n_spikes else float("nan")
    us = float(p["us_delay"])
    window = (us, us + 0.3)
    rewarded = outcome == REWARD
    punished = outcome == PUNISH
    out["reward_da_peak_nM"] = _trace_peak(data, p, rewarded, window)
    out["da_reward_ratio"] = ratio(data, p, "vta_da", rewarded, window, "mean")
    out["da_aversive_ratio"] = ratio(data, p, "vta_da", punished, window, "mean")
    return out


# ------------------------------------------------------------------------ figures
def figures(data, p, outdir, groups):
    """The common figures. ``groups`` maps a label to a boolean trial mask (PSTH curves)."""
    from dopasim import plots

    return [
        plots.circuit_raster(data, p, outdir / "raster.png"),
        plots.circuit_psths(data, p, groups, outdir / "psth.png"),
        plots.pool_traces(data, p, outdir / "pools.png"),
        plots.responses_by_trial(data, p, outdir / "responses.png"),
        plots.weights_over_time(data, p, outdir / "weights.png"),
    ]

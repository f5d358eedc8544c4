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

from dopasim import analysis, plots
from dopasim.circuits.reward_circuit import (
    CRITIC_PROJECTIONS,
    POPULATIONS,
    RewardCircuitParams,
    Stimulus,
    build_reward_circuit,
    channel_of,
)
from dopasim.circuits.scenarios import apply_scenarios, parse_scenarios
from dopasim.memory import poisson_ceiling
from dopasim.models.lif import NOISE_SOURCES
from dopasim.params import Param, ParamError
from dopasim.protocol import Protocol, seconds

__all__ = [
    "TINY_PARAMS",
    "COMMON_PARAMS",
    "check_common",
    "stimulus",
    "build",
    "collect",
    "psth",
    "ratio",
    "tonic",
    "weight_change",
    "da_ht_tonic_metrics",
    "figures",
]

GRID = 10 * ms  # time grid of the stimulus schedule
DT = RewardCircuitParams().dt  # the circuit's integration step, as calibrated

#: The fast suite's size of a Pavlovian trial protocol (scale 0.05, short trials).
TINY_PARAMS = {
    "scale": "0.05",
    "trial_len": "2s",
    "cs_time": "0.5s",
    "us_delay": "0.5s",
    "weight_samples": "10",
}
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
        "membrane_noise",
        "xi",
        "choice",
        "membrane noise: xi (Brian2's white noise, the calibrated default) or counter "
        "(the same increments from a counter-based hash; runs about 3x faster)",
        choices=NOISE_SOURCES,
    ),
    _q(
        "dt",
        DT,
        ms,
        "integration time step of the circuit (forward Euler): 0.5 ms as calibrated, up to "
        "1 ms (a fifth of the fastest synaptic time constant; about half the run time, a "
        "change of results to check against 0.5 ms)",
        low=0,
        low_open=True,
        high=1,
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
    if "dt" in p:
        _count(GRID, p["dt"], f"dt: {p['dt']} does not divide the stimulus grid of {GRID}")
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
    noise = p.get("membrane_noise", "xi")
    key = (p["n_states"], p["scale"], p["weight_samples"], n_cues, noise)
    dt = p.get("dt", DT)
    return key if dt == DT else (*key, f"dt{float(dt / ms)!r}")


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
    noise = p.get("membrane_noise", "xi")
    base = RewardCircuitParams(scale=p["scale"], membrane_noise=noise, dt=p.get("dt", DT))
    base = base.with_(**overrides)
    return apply_scenarios(parse_scenarios(p.get("scenario", "intact")), base)


def build(p, rngs, trials, n_cues, cparams=None, stim=None):
    """Circuit + monitors for a trial table (``stim`` replaces the standard schedule)."""
    cparams = cparams or circuit_params(p)
    stim = stim if stim is not None else stimulus(p, trials, n_cues)
    circuit = build_reward_circuit(cparams, stim, rngs["connectivity"], rngs["lesion"])
    mons = {f"mon_{k}": SpikeMonitor(circuit[k], name=f"mon_{k}") for k in POPULATIONS}
    mons["mon_pools"] = StateMonitor(
        circuit["pools"],
        ["da", "ht", "ht_term", "da_seen", "da_mean", "da_base_d1", "da_base_d2"],
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
            # recorded at the end of the step, after the snapshot (order -1): at the
            # default 'start' slot the monitor read the previous snapshot, one snap_dt
            # late, and the first sample was the unset w_rec (0)
            mons[f"mon_w_{proj}"] = StateMonitor(
                syn, "w_rec", record=rec, dt=snap_dt, when="end", order=0, name=f"mon_w_{proj}"
            )
            circuit.info[f"w_samples_{proj}"] = rec
    circuit.add(**mons)
    circuit.info["trials"] = {k: np.array(v) for k, v in trials.items()}
    circuit.params["circuit"] = cparams
    return circuit


def _final_weights(circuit, proj):
    syn = circuit[proj]
    return circuit.params["circuit"].rule.current_weights(syn)


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
    # the running mean m of [DA] (the reference of a rectified phasic term) and the D1
    # and D2 synapses' baselines b (m, not below each one's floor)
    data["da_mean_nM"] = np.array(pm.da_mean[0] / nmolar)
    data["da_base_d1_nM"] = np.array(pm.da_base_d1[0] / nmolar)
    data["da_base_d2_nM"] = np.array(pm.da_base_d2[0] / nmolar)
    data["da_released_nM"] = np.array(float(circuit["pools"].da_released[0] / nmolar))
    data["lesioned_da"] = np.asarray(circuit.info.get("lesioned_da", []), dtype=np.int32)
    critic = circuit.info.get("critic")  # a distributional critic's channels
    if critic is not None:
        data["da_channel"] = np.asarray(critic["da_channel"], dtype=np.int32)
        data["d1_channel"] = np.asarray(critic["d1_channel"], dtype=np.int32)
        data["channel_tau"] = np.asarray(critic["taus"], dtype=float)
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
def alive_spike_trains(data, pop="vta_da"):
    """(index, spike times in order) of every neuron of ``pop`` not lesioned."""
    i, t = data[f"spikes_{pop}"]
    n = int(data["sizes"][pop])
    lesioned = set(np.asarray(data.get("lesioned_da", []), dtype=int).tolist())
    order = analysis.neuron_order(i)  # each neuron's spikes stay in time order
    bounds = np.searchsorted(i[order], np.arange(n + 1))
    for k in range(n):
        if pop != "vta_da" or k not in lesioned:
            yield k, t[order[bounds[k] : bounds[k + 1]]]


def sorted_times(t):
    """``np.sort(t)``, without sorting when ``t`` is already in order (a monitor's spike
    times are: sorting tens of millions of them again takes seconds)."""
    t = np.asarray(t)
    return t if analysis.in_time_order(t) else np.sort(t)


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
    t = sorted_times(data[f"spikes_{pop}"][1])
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
    """DA tonic rate and intraburst rate; 5-HT tonic rate and regularity (whole run).

    da_tonic_hz, ht_tonic_hz
        Mean firing rate per neuron in the pre-CS periods of all trials.
    da_intraburst_hz, da_burst_spike_fraction
        DA firing rate within bursts and the fraction of DA spikes in bursts (burst onset
        at an ISI <= 80 ms, end at an ISI > 160 ms; Grace & Bunney 1984).
    ht_cv_below_half_fraction
        Fraction of 5-HT neurons whose ISI coefficient of variation is below 0.5
        (regular, clock-like firing).
    gaba_rate_hz, d1_rate_hz, d2_rate_hz
        Mean rates of VTA GABA, D1 and D2 MSNs over the whole run.
    """
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
    """What the scenarios change: pools, DA release and outcome responses.

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
    return [
        plots.circuit_raster(data, p, outdir / "raster.png"),
        plots.circuit_psths(data, p, groups, outdir / "psth.png", psth),
        plots.pool_traces(data, p, outdir / "pools.png"),
        plots.responses_by_trial(data, p, outdir / "responses.png"),
        plots.weights_over_time(data, p, outdir / "weights.png"),
    ]


# ------------------------------------------------------------------------ protocol
OUTCOME_NAMES = {NONE: "none", REWARD: "reward", PUNISH: "punishment"}

#: optional per-trial arrays of a trial protocol -> (export column, description)
EXTRA_TRIAL_COLUMNS = {
    "trial_cue2": ("cue2", "index of the second stimulus of the pair"),
    "trial_probe": ("probe", "an omission probe (the reward was withheld)"),
    "trial_train": ("training", "a training trial (with feedback), not a test trial"),
    "trial_choice": ("choice", "the stimulus chosen; -1 when no choice was made"),
    "trial_latency": ("choice_latency", "time from onset to the choice (s); NaN if none"),
    "trial_better": ("better_cue", "the stimulus of the pair with the higher reward odds"),
}


def us_delay_outcomes(params, start, cs):
    """The standard schedule's outcome times: ``us_delay`` after each trial's CS."""
    us = seconds(params.get("us_delay", 0.0), "us_delay")
    return start + cs + us, "time the outcome was (or, when omitted, would have been) delivered (s)"


class TrialProtocol(Protocol):
    """A protocol of trials on the reward circuit: the shared hooks.

    A subclass gives NAME, SUMMARY, PARAMS, build, metrics, figures, build_key and
    memory_counts, and, for its exported trial table, `outcome_times` and `trial_types`.
    """

    SCENARIOS = True

    def check(self, p):
        check_common(p)

    def collect(self, circuit, p):
        return collect(circuit, p)

    def circuit_params(self, p):
        return circuit_params(p)

    def hypotheses(self, p):
        """The protocol's own hypotheses and those of its circuit (`RewardCircuitParams
        .hypotheses`: the distributional critic's)."""
        cparams = self.circuit_params(p)
        return (*self.HYPOTHESES, *(cparams.hypotheses() if cparams is not None else ()))

    def outcome_times(self, data, params, start, cs):
        """(times in s, description) of each trial's outcome, for the trial table.

        Required: when the outcome comes differs between protocols (`us_delay_outcomes`
        is the standard schedule's)."""
        raise NotImplementedError(f"{type(self).__name__}.outcome_times")

    def trial_types(self, data, params, cue):
        """A short label of each trial's kind, for the trial table (required)."""
        raise NotImplementedError(f"{type(self).__name__}.trial_types")

    def trial_table(self, data, params):
        d, p = data, params
        if "trial_cue" not in d or "trial_len" not in p or "cs_time" not in p:
            return None
        n = len(d["trial_cue"])
        T, cs = seconds(p["trial_len"], "trial_len"), seconds(p["cs_time"], "cs_time")
        start = np.arange(n) * T
        cue = np.asarray(d["trial_cue"]).astype(np.int64)
        outcome = np.asarray(d.get("trial_outcome", np.zeros(n, int))).astype(np.int64)
        cols = {"cs_time": (start + cs, "onset of the cue (CS; the pairing, the stimuli) (s)")}
        cols["outcome_time"] = self.outcome_times(d, p, start, cs)
        cols["outcome_type"] = (
            np.array([OUTCOME_NAMES.get(int(o), str(int(o))) for o in outcome], dtype=object),
            "outcome delivered: none, reward or punishment",
        )
        cols["trial_type"] = (np.array(self.trial_types(d, p, cue), dtype=object), "kind of trial")
        cols["cue"] = (cue, "index of the cue (cortical ensemble) shown in the trial")
        for key, (name, desc) in EXTRA_TRIAL_COLUMNS.items():
            if key in d and len(d[key]) == n:
                values = np.asarray(d[key])
                if key == "trial_probe" and not values.any():
                    continue  # all False: nothing to say
                cols[name] = (values, desc)
        return start, start + T, cols


# ------------------------------------------------------------------------ memory
#: Upper bounds on the mean firing rate (Hz) of each LIF population over a whole run, for
#: the memory estimate (`dopasim.memory`). Measured (conditioning, scale 0.3, 20 trials,
#: seed 1; docs/protocols.md for 800 trials): DA 5 Hz tonic and 14-30 Hz within bursts; VTA GABA
#: 17 Hz; 5-HT 2.4 Hz (x10 for 300 ms after a punishment); MSNs 0.15 Hz at rest and a
#: few Hz during their cue. Each bound is several times the measured mean: the DA bound
#: is the top of the intraburst range, as if every DA neuron burst for the whole run.
#: The MSNs' bound holds while a cortical state or an outcome is on; the rest of the
#: time they are counted at `MSN_REST_CEILING_HZ`.
RATE_CEILING_HZ = {
    "vta_da": 30.0,
    "vta_gaba": 50.0,
    "drn_5ht": 20.0,
    "str_d1": 10.0,
    "str_d2": 10.0,
}

#: Upper bound on the MSNs' rate while no cortical state and no outcome is on: 13x the
#: measured 0.15 Hz at rest. Measured on the 10/50/90 task with a distributional critic
#: (1,500 trials, d1_factor=3, gaba_factor=4, seed 119): D1 MSNs 0.20 Hz and D2 MSNs
#: 0.14 Hz over the whole run, and runs whose cue values ran away (D1 rates of 6-7 Hz at
#: the 90 % cue's onset) peaked at 1.5 GB of RSS against an estimate of 17 GiB with a
#: 10 Hz bound for the whole run.
MSN_REST_CEILING_HZ = 2.0


def _allowed_blocks(n_pre, n_post, channels=0, n_cues=1, per_cue=0):
    """The pairs `_connect` may draw, as ``[(sources allowed per target, targets)]``.

    With ``channels`` the targets are split into contiguous blocks and cue c's sources
    (``per_cue`` each, contiguous) reach only block c, as in `build_reward_circuit`.
    """
    if not channels:
        return [(n_pre, n_post)]
    size = max(n_post // channels, 1)
    blocks = []
    for c in range(-(-n_post // size)):
        members = min(size, n_post - c * size)
        blocks.append((per_cue if c < n_cues else 0, members))
    return blocks


def _n_synapses(prob, blocks, rule):
    """Upper bound on the synapses drawn: exact for fixed in-degrees, mean + 5 SD for
    Bernoulli draws (`dopasim.memory.poisson_ceiling`)."""
    if rule == "fixed_indegree":
        return int(sum(int(np.rint(prob * a)) * b for a, b in blocks))
    mean = prob * sum(a * b for a, b in blocks)
    return 0 if prob == 0 else min(poisson_ceiling(mean), sum(a * b for a, b in blocks))


def _connect_scratch(n_pre, n_post, n_syn, rule, restricted):
    """Temporary arrays of one `_connect` call (bytes per candidate pair and synapse)."""
    cand = n_pre * n_post
    if rule == "fixed_indegree":
        # keys and their masked copy (float64), two argsorts (int64), allowed and mask (bool)
        per_pair = {"float64": 2 * cand, "int64": 2 * cand, "bool": 2 * cand}
    else:
        # keys (float64), mask and allowed (bool)
        per_pair = {"float64": cand, "int64": 0, "bool": (1 + int(restricted)) * cand}
    # np.nonzero's indices (int64) and Brian2's int32 copies of them
    per_pair["int64"] += 2 * n_syn
    per_pair["int32"] = 2 * n_syn
    return per_pair


def memory_counts_for(
    p, cparams, n_cues, n_states, stim_on, outcome_on, n_shown=1, task=False, trials="n_trials"
):
    """Counts for the memory estimate of a run on the reward circuit (`dopasim.memory`).

    Mirrors `build_reward_circuit` and `build` from the parameters alone. ``stim_on`` and
    ``outcome_on`` (seconds) bound the total time during which a cortical state and an
    outcome input are on; ``n_shown`` states may be on at once; ``task`` adds the
    choice read-out (`dopasim.circuits.selection`). ``trials`` names the parameter that
    sets the run's length (for the refusal message).
    """
    P = cparams
    T = float(p["duration"])
    n_da, n_gaba, n_5ht = P.size("n_da"), P.size("n_gaba"), P.size("n_5ht")
    scaled = float(P.da.tau_scale_sd) > 0
    n_d1, n_d2, n_out = P.size("n_d1"), P.size("n_d2"), P.size("n_outcome")
    per_cue = n_states * P.n_per_state
    n_ctx = n_cues * per_cue
    rises = P.rule.tau_r is not None
    gate = bool(P.ht_gates_ltd)
    # v, g_e, g_s, g_i, g_ahp, I_bias; noise_seed (counter noise). Groups without an AHP
    # have no g_ahp, the MSNs only g_e of the inputs (`lif_group`'s ``inputs``); only the
    # DA neurons have alive (`lif_group`'s ``lesionable``)
    lif = {"float64": 6, "int32": int(P.membrane_noise == "counter")}
    rect = P.rectified
    # v, g_e, I_bias + the post trace da_apost, and the link to the pools' [DA] da_n
    msn = dict(lif, float64=3 + 1, linked=1)
    # the volume transmitter of each MSN population (one element): da_A, da_D (+ da_Ar,
    # da_Dr; + da_ltd; + the rectified term's gains da_gb, da_gd), and its links to the
    # pools: da_n, da_nb (+ da_ltd_src; + the running means da_nm and da_nr)
    # a distributional critic: K pool compartments and transmitters, the DA neurons'
    # asymmetry (s_fast, s_slow, r_asym, alpha_pos, alpha_neg), the synapses' channel
    K = P.critic_channels if P.distributional else 1
    vt = {"n": K, "float64": 2 + 2 * rises + gate + 2 * rect, "linked": 2 + gate + 2 * rect}
    neurons = {
        # (+ k_tau, the neurons' own time scale, `LIFParams.tau_scale_sd`)
        "vta_da": dict(lif, n=n_da, float64=6 + 5 * P.distributional + int(scaled), bool=1),
        # no AHP; + the 5-HT2C gain j_ht2c, and its link to the pools' [5-HT]
        "vta_gaba": dict(lif, n=n_gaba, float64=5 + 1, linked=1),
        "drn_5ht": dict(lif, n=n_5ht),
        "str_d1": dict(msn, n=n_d1),
        "str_d2": dict(msn, n=n_d2),
        "str_d1_da": vt,
        "str_d2_da": vt,
        # code; with a task, links to the controller: show_all, show_chosen, choice
        "ctx_state": {"n": n_ctx, "float64": 1, "linked": 3 * int(task)},
        # with a task: reward_on, punish_on
        "us_reward": {"n": n_out, "linked": 2 * int(task)},
        "us_punish": {"n": n_out, "linked": 2 * int(task)},
        # + the rectified parts, their running means and gains (rect)
        "pools": {"n": K, "float64": 14 + 8 * rect},
    }
    synapses, scratch = {}, {}
    # plastic: w, c_e, A_last, apre, lastupdate, w_rec (+ Q_e, A_last_r)
    plastic_vars = 6 + 2 * rises
    for name, post, n_post in (("ctx_d1", "str_d1", n_d1), ("ctx_d2", "str_d2", n_d2)):
        blocks = _allowed_blocks(n_ctx, n_post, P.msn_channels, n_cues, per_cue)
        n = _n_synapses(P.p_ctx_msn, blocks, P.connectivity)
        # a presynaptic eligibility has no post pathway
        pathways = 1 if P.critic_rule_changes.get("eligibility") == "pre" else 2
        synapses[name] = {"n": n, "float64": plastic_vars, "pathways": pathways}
        synapses[name]["int32"] = int(P.distributional)  # da_channel
        synapses[name].update(pre="ctx_state", post=post)
        scratch[f"connect {name}"] = _connect_scratch(
            n_ctx, n_post, n, P.connectivity, bool(P.msn_channels)
        )
    fixed = (
        ("d1_da", "str_d1", "vta_da", P.p_msn_vta, 0),
        # J per synapse when a distributional critic's channels have their own gains
        ("d1_gaba", "str_d1", "vta_gaba", P.p_msn_vta, int(P.expectation_scaled)),
        ("gaba_da", "vta_gaba", "vta_da", P.p_gaba_da, 0),
        ("reward_da", "us_reward", "vta_da", P.p_outcome, 0),
        ("punish_gaba", "us_punish", "vta_gaba", P.p_outcome, 1),  # J per synapse
        ("punish_5ht", "us_punish", "drn_5ht", P.p_outcome, 0),
        ("ht_da", "drn_5ht", "vta_da", P.p_opponent, 0),
        ("da_ht", "vta_da", "drn_5ht", P.p_opponent, 0),
        ("punish_da", "us_punish", "vta_da", P.p_outcome, 1),  # J per synapse
    )
    for name, pre, post, prob, n_vars in fixed:
        n_pre, n_post = neurons[pre]["n"], neurons[post]["n"]
        blocks = _allowed_blocks(n_pre, n_post)
        if P.distributional and name in CRITIC_PROJECTIONS:  # within each channel
            prob = min(1.0, prob * K)
            pre_k, post_k = np.bincount(channel_of(n_pre, K)), np.bincount(channel_of(n_post, K))
            blocks = [(int(a), int(b)) for a, b in zip(pre_k, post_k, strict=True)]
        n = _n_synapses(prob, blocks, P.connectivity)
        synapses[name] = {"n": n, "float64": n_vars, "pathways": 1, "pre": pre, "post": post}
        scratch[f"connect {name}"] = _connect_scratch(n_pre, n_post, n, P.connectivity, False)
    own = P.distributional and P.critic_da == "own"  # DA neuron -> its compartment only
    n_rel = n_da if own else n_da * K
    synapses["da_release"] = {"n": n_rel, "float64": 1, "pathways": 1, "pre": "vta_da"}  # q
    synapses["ht_release"] = {"n": n_5ht * K, "pathways": 1, "pre": "drn_5ht"}
    for name in ("da_release", "ht_release"):
        synapses[name]["post"] = "pools"
    if task:
        neurons["bg_controller"] = {"n": 1, "float64": 9}
        # x, b (the drift offset), p_reward; noise_seed
        neurons["bg_thalamus"] = {"n": n_cues, "float64": 3, "int32": 1}
        for name, pre, n_msn in (("bg_go", "str_d1", n_d1), ("bg_nogo", "str_d2", n_d2)):
            per = n_msn // max(P.msn_channels, 1)
            synapses[name] = {"n": per * n_cues, "pathways": 1, "pre": pre, "post": "bg_thalamus"}
        synapses["bg_select"] = {"n": n_cues, "pathways": 1, "pre": "bg_thalamus"}
        synapses["bg_select"]["post"] = "bg_controller"
    sizes = {
        "vta_da": n_da,
        "vta_gaba": n_gaba,
        "drn_5ht": n_5ht,
        "str_d1": n_d1,
        "str_d2": n_d2,
    }
    # the MSNs: their ceiling while a state or an outcome is on, the rest ceiling otherwise
    active = min(T, stim_on + outcome_on)
    spikes = {}
    for k, n in sizes.items():
        if k in ("str_d1", "str_d2"):
            mean = RATE_CEILING_HZ[k] * active + MSN_REST_CEILING_HZ * (T - active)
        else:
            mean = RATE_CEILING_HZ[k] * T
        spikes[f"mon_{k}"] = {"spikes": int(np.ceil(mean * n)), "neurons": n}
    ctx_mean = n_ctx * float(P.state_rate_off) * T
    ctx_mean += n_shown * P.n_per_state * float(P.state_rate_on) * stim_on
    spikes["mon_ctx_state"] = {"spikes": poisson_ceiling(ctx_mean), "neurons": n_ctx}
    us_mean = n_out * float(P.outcome_rate) * outcome_on
    for k in ("us_reward", "us_punish"):
        spikes[f"mon_{k}"] = {"spikes": poisson_ceiling(us_mean), "neurons": n_out}
    states = {"mon_pools": {"samples": int(np.ceil(T / float(5 * ms))) + 1, "values": 7}}
    for proj in ("ctx_d1", "ctx_d2"):
        k = min(p["weight_samples"], synapses[proj]["n"])
        if k:
            samples = int(np.ceil(T / float(p["trial_len"]))) + 1
            states[f"mon_w_{proj}"] = {"samples": samples, "values": k}
    # the schedule on the stimulus grid: the protocol's arrays and the TimedArrays' copies
    n_grid = int(round(T / float(GRID))) + 1
    n_arrays = 2 + int(n_shown > 1) + 4 * int(task)
    inputs = {"stimulus": {"float64": 2 * n_arrays * n_grid}}
    # collect: the final weights of both projections and their cues, and about a dozen
    # temporary arrays per synapse of the larger one while they are brought up to date
    s_max = max(synapses["ctx_d1"]["n"], synapses["ctx_d2"]["n"])
    scratch["collect"] = {"float64": 14 * s_max, "int32": s_max, "int16": 2 * s_max}
    return {
        "neurons": neurons,
        "synapses": synapses,
        "spike_monitors": spikes,
        "state_monitors": states,
        "inputs": inputs,
        "scratch": scratch,
        "reduce": {
            "synapses": "scale",
            "scratch": "scale",
            "neurons": "scale",
            "spike_monitors": f"{trials} or scale",
            "state_monitors": f"{trials} or weight_samples",
            "inputs": trials,
        },
    }

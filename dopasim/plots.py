"""Figures. Every function writes one PNG and returns its path."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "raster_last",
    "weight_histogram",
    "rewarded_weight",
    "savefig",
    "circuit_raster",
    "circuit_psths",
    "pool_traces",
    "responses_by_trial",
    "weights_over_time",
    "eligibility_window",
    "distributional_responses",
    "distributional_tau_reversal",
    "distributional_decoded",
]


def savefig(fig, path):
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def raster_last(data, p, path):
    """Raster of the last ``raster_window`` seconds, excitatory below inhibitory."""
    T = float(p["duration"])
    window = min(float(p["raster_window"]), T)
    t0 = T - window
    ie, te = data["spikes_exc"]
    ii, ti = data["spikes_inh"]
    ne = data["info"]["n_exc"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    m = te >= t0
    ax.plot(te[m], ie[m], ",", color="tab:blue", rasterized=True)
    m = ti >= t0
    ax.plot(ti[m], ii[m] + ne, ",", color="tab:red", rasterized=True)
    rew = data["reward_times"]
    for r in rew[rew >= t0]:
        ax.axvline(r, color="goldenrod", lw=1.2, alpha=0.8)
    ax.set_xlim(t0, T)
    ax.set_ylim(0, data["info"]["n_neurons"])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron (exc. blue, inh. red)")
    ax.set_title(f"Last {window:g} s (gold lines: dopamine puffs)")
    return savefig(fig, path)


def weight_histogram(data, path):
    """Histogram of the excitatory weights at the end, with the rewarded synapse marked."""
    w = data["w_final"]
    k = data["info"]["rewarded_synapse"]
    w_max = data["info"]["w_max"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(np.delete(w, k), bins=np.linspace(0, w_max, 81), color="0.5", log=True)
    ax.axvline(w[k], color="crimson", lw=2, label=f"rewarded synapse ({w[k]:.2f})")
    ax.set_xlabel("excitatory weight at the end")
    ax.set_ylabel("synapses (log)")
    ax.set_xlim(0, w_max * 1.02)
    ax.legend(loc="upper right")
    return savefig(fig, path)


def rewarded_weight(data, path):
    """The rewarded weight over time, with the cap and the 0.875 w_max criterion."""
    t, w = data["w_rewarded_t"], data["w_rewarded"]
    w_max = data["info"]["w_max"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(t / 60, w, color="crimson", lw=1)
    ax.axhline(w_max, color="k", ls=":", lw=1, label="cap")
    ax.axhline(0.875 * w_max, color="0.5", ls="--", lw=1, label="0.875 cap")
    ax.axhline(
        float(np.mean(data["w_final"])), color="tab:blue", lw=1, label="mean exc. weight (end)"
    )
    ax.set_xlabel("time (min)")
    ax.set_ylabel("rewarded weight")
    ax.set_ylim(-0.05 * w_max, 1.08 * w_max)
    ax.legend(loc="lower right", fontsize=8)
    return savefig(fig, path)


# ------------------------------------------------------------ trial-based protocols
_POP_LABELS = {
    "vta_da": ("VTA DA", "tab:green"),
    "vta_gaba": ("VTA GABA", "tab:purple"),
    "drn_5ht": ("DRN 5-HT", "tab:orange"),
    "str_d1": ("str D1", "tab:blue"),
    "str_d2": ("str D2", "tab:red"),
}


def _trial_starts(data, p):
    return np.arange(len(data["trial_cue"])) * float(p["trial_len"])


def circuit_raster(data, p, path, n_trials=4):
    """Raster of every population over the last trials, with CS and outcome markers."""
    T = float(p["duration"])
    t0 = max(0.0, T - n_trials * float(p["trial_len"]))
    pops = list(_POP_LABELS)
    fig, axes = plt.subplots(len(pops), 1, figsize=(9, 7), sharex=True)
    starts = _trial_starts(data, p)
    cs = starts + float(p["cs_time"])
    us = cs + float(p["us_delay"])
    for ax, pop in zip(axes, pops, strict=True):
        i, t = data[f"spikes_{pop}"]
        n = data["sizes"][pop]
        m = t >= t0
        step = max(1, n // 100)  # at most ~100 neurons per panel
        keep = m & (i % step == 0)
        ax.plot(t[keep], i[keep] // step, "|", ms=2, color=_POP_LABELS[pop][1], rasterized=True)
        ax.set_ylabel(_POP_LABELS[pop][0], fontsize=8)
        ax.set_yticks([])
        for k in np.nonzero(cs >= t0)[0]:
            ax.axvline(cs[k], color="k", lw=0.8, ls="--")
            oc = data["trial_outcome"][k]
            color = {1: "goldenrod", 2: "crimson"}.get(int(oc), "0.6")
            ax.axvline(us[k], color=color, lw=1.2)
    axes[-1].set_xlim(t0, T)
    axes[-1].set_xlabel("time (s)")
    axes[0].set_title("Last trials (dashed: CS; gold: reward; red: punishment; grey: none)")
    return savefig(fig, path)


def circuit_psths(data, p, groups, path, psth):
    """CS-aligned population PSTHs, one panel per population, one curve per trial group.

    ``psth(data, p, pop, mask) -> (edges, rates)`` is the protocol's CS-aligned PSTH."""
    pops = list(_POP_LABELS)
    fig, axes = plt.subplots(1, len(pops), figsize=(14, 3), sharex=True)
    for ax, pop in zip(axes, pops, strict=True):
        for label, mask in groups.items():
            if not np.any(mask):
                continue
            edges, rates = psth(data, p, pop, mask)
            ax.step(edges[:-1], rates.mean(0), where="post", label=label, lw=1)
        ax.axvline(0, color="k", ls="--", lw=0.8)
        ax.axvline(float(p["us_delay"]), color="goldenrod", lw=0.8)
        ax.set_title(_POP_LABELS[pop][0], fontsize=9)
        ax.set_xlabel("time from CS (s)")
    axes[0].set_ylabel("rate (Hz, 50 ms bins)")
    axes[-1].legend(fontsize=7)
    return savefig(fig, path)


def pool_traces(data, p, path, n_trials=4):
    """[DA] and [5-HT] in the striatum over the last trials."""
    T = float(p["duration"])
    t0 = max(0.0, T - n_trials * float(p["trial_len"]))
    t = data["pool_t"]
    m = t >= t0
    fig, axes = plt.subplots(2, 1, figsize=(9, 4), sharex=True)
    axes[0].plot(t[m], data["da_nM"][m], color="tab:green", lw=0.8, label="[DA]")
    # runs before 0.4.0 recorded no baseline, runs before 0.6.0 one for both pathways
    bases = [("da_base_nM", "synapses' baseline b", "k")]
    bases += [("da_base_d1_nM", "D1 baseline", "tab:blue"), ("da_base_d2_nM", "D2 baseline", "k")]
    drawn = False
    for key, label, color in bases:
        if key in data:
            axes[0].plot(t[m], data[key][m], color=color, ls="--", lw=0.8, label=label)
            drawn = True
    if drawn:
        axes[0].legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("[DA] (nM)")
    axes[1].plot(t[m], data["ht_nM"][m], color="tab:orange", lw=0.8)
    axes[1].set_ylabel("[5-HT] (nM)")
    cs = _trial_starts(data, p) + float(p["cs_time"])
    for ax in axes:
        for c in cs[cs >= t0]:
            ax.axvline(c, color="k", ls="--", lw=0.8)
            ax.axvline(c + float(p["us_delay"]), color="goldenrod", lw=0.8)
    axes[1].set_xlabel("time (s)")
    axes[1].set_xlim(t0, T)
    return savefig(fig, path)


def responses_by_trial(data, p, path):
    """DA response to the CS and to the outcome on every trial (rate / pre-CS baseline)."""
    i, t = data["spikes_vta_da"]
    n = data["sizes"]["vta_da"]
    cs = _trial_starts(data, p) + float(p["cs_time"])
    # a choice task's feedback time varies per trial (NaN: no outcome)
    us = cs + data.get("trial_outcome_delay", float(p["us_delay"]))

    def count(a, b):
        ok = np.isfinite(a)
        idx = np.searchsorted(np.sort(t), np.stack([a[ok], b[ok]]))
        out = np.full(len(a), np.nan)
        out[ok] = (idx[1] - idx[0]) / n / (b[ok] - a[ok])
        return out

    base = count(cs - min(1.0, float(p["cs_time"])), cs)
    base = np.where(base > 0, base, np.nan)
    cs_r = count(cs, cs + 0.3) / base
    us_r = count(us, us + 0.3) / base
    k = np.arange(len(cs))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(k, cs_r, ".", color="k", label="CS (0-300 ms)")
    for oc, color, label in (
        (1, "goldenrod", "reward"),
        (2, "crimson", "punishment"),
        (0, "0.5", "no outcome"),
    ):
        sel = data["trial_outcome"] == oc
        if np.any(sel):
            ax.plot(k[sel], us_r[sel], "o", ms=3, color=color, label=f"outcome: {label}")
    ax.axhline(1, color="k", lw=0.6, ls=":")
    ax.set_xlabel("trial")
    ax.set_ylabel("DA rate / baseline")
    ax.legend(fontsize=7)
    return savefig(fig, path)


def weights_over_time(data, p, path):
    """Mean sampled corticostriatal weight per cue, onto D1 and onto D2.

    The cues are labelled with ``p["cue_names"]`` when the protocol names them.
    """
    names = p.get("cue_names")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for ax, proj, title in ((axes[0], "ctx_d1", "ctx -> D1"), (axes[1], "ctx_d2", "ctx -> D2")):
        key = f"{proj}_w_samples"
        if key not in data or not len(data[key]):
            ax.set_title(f"{title}: not recorded")
            continue
        W, t, cue = data[key], data[f"{proj}_w_t"], data[f"{proj}_w_sample_cue"]
        for c in np.unique(cue):
            label = f"{names[c]}" if names and 0 <= c < len(names) else f"cue {c}"
            ax.plot(t, W[cue == c].mean(0), label=label)
        ax.set_title(title)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("weight (fraction of w_max)")
    axes[1].legend(fontsize=7)
    return savefig(fig, path)


def eligibility_window(metrics, p, path):
    """Weight change against the DA delay (Yagishita et al. 2014, Fig. 2)."""
    delays = p["delay_list"]
    dw = [metrics[f"dw_at_{d:g}s"] for d in delays]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(delays, dw, "o-", color="tab:blue")
    ax.axhline(0, color="k", lw=0.6)
    ax.axvspan(0.3, 2.0, color="goldenrod", alpha=0.15, label="0.3-2 s (Yagishita 2014)")
    ax.set_xlabel("DA delay after the pairing (s)")
    ax.set_ylabel("D1 weight change - control")
    ax.legend(fontsize=7)
    return savefig(fig, path)


def _mean_or_nan(x):
    x = x[~np.isnan(x)]
    return float(np.mean(x)) if len(x) else float("nan")


def selection_summary(data, p, metrics, path, answered):
    """Probabilistic selection: learning curve, test choices, Go - NoGo per stimulus.

    ``answered`` maps choose_a, avoid_b and all to masks of the answered test trials."""
    letters = "ABCDEF"
    cue, choice, better = data["trial_cue"], data["trial_choice"], data["trial_better"]
    train = data["trial_train"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    idx = np.nonzero(train)[0]
    block = 30
    for pair, color in (((0, 1), "tab:blue"), ((2, 3), "tab:orange"), ((4, 5), "tab:green")):
        sel = idx[np.isin(cue[idx], pair)]
        ok = (choice[sel] == better[sel]).astype(float)
        ok[choice[sel] < 0] = np.nan
        nb = len(sel) // (block // 3)
        if nb:
            k = block // 3
            # a block with every trial frozen has no accuracy (NaN, not a warning)
            y = [_mean_or_nan(ok[j * k : (j + 1) * k]) for j in range(nb)]
            ax.plot(
                np.arange(nb) * block + block,
                y,
                "o-",
                color=color,
                label=letters[pair[0]] + letters[pair[1]],
            )
    frozen = np.array([np.mean(choice[idx[j : j + block]] < 0) for j in range(0, len(idx), block)])
    ax.plot(np.arange(len(frozen)) * block + block, frozen, "k:", label="freeze")
    ax.axhline(0.5, color="0.6", lw=0.6)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training trial")
    ax.set_ylabel("fraction choosing the better stimulus")
    ax.set_title("Training")
    ax.legend(fontsize=7)
    ax = axes[1]
    # each bar's label gives its number of trials (answered ones for the accuracies), so
    # that a value resting on one trial, or on none (no bar), shows as such
    counts = [np.sum(answered[k]) for k in ("choose_a", "avoid_b", "all")] + [np.sum(~train)]
    names = ["choose A", "avoid B", "test (all)", "freeze (test)"]
    vals = [
        metrics["choose_a_accuracy"],
        metrics["avoid_b_accuracy"],
        metrics["test_accuracy"],
        metrics["freeze_fraction_test"],
    ]
    x = np.arange(len(names))
    ax.bar(x, np.nan_to_num(vals), color=["tab:blue", "tab:red", "0.5", "k"])
    for xi, v in zip(x, vals, strict=True):
        if np.isnan(v):
            ax.text(xi, 0.03, "no trial\nanswered", ha="center", fontsize=7)
    ax.set_xticks(x, [f"{n}\n(n={int(c)})" for n, c in zip(names, counts, strict=True)])
    ax.axhline(0.5, color="0.6", lw=0.6, ls=":")
    ax.set_ylim(0, 1)
    ax.set_title("Test (no feedback)")
    ax.tick_params(axis="x", labelsize=8)
    ax = axes[2]
    gng = [metrics[f"go_nogo_{s}"] for s in letters]
    ax.bar(
        list(letters), gng, color=["tab:green" if k % 2 == 0 else "tab:purple" for k in range(6)]
    )
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("Go - NoGo (D1 - D2 rate, Hz)")
    ax.set_title(f"good {metrics['go_nogo_good']:+.2f}, bad {metrics['go_nogo_bad']:+.2f} Hz")
    scen = p.get("scenario", "intact")
    fig.suptitle(f"Probabilistic selection ({scen})", fontsize=10)
    return savefig(fig, path)


# ------------------------------------------------------------------ distributional code
def distributional_responses(cells, tau_hat, sizes, path):
    """Each DA neuron's mean response against reward size, coloured by its asymmetry
    (Dabney et al. 2020, Fig. 2)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    cmap = plt.get_cmap("coolwarm")
    sizes = np.asarray(sizes, float)
    for (s, r), tau in zip(cells, tau_hat, strict=True):
        means = [np.mean(r[s == v]) if np.any(s == v) else np.nan for v in sizes]
        color = cmap(float(tau)) if np.isfinite(tau) else "0.6"
        ax.plot(sizes, means, "-", color=color, lw=0.8, alpha=0.8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("reward size (ul)")
    ax.set_ylabel("response (Hz, window - baseline)")
    ax.set_title(
        "DA neurons: response by reward size\n(colour: asymmetry tau-hat, blue 0 to red 1)"
    )
    return savefig(fig, path)


def distributional_optimism(taus, index, significant, value_index, expected, path):
    """Each channel's optimism index (R50 - R10)/(R90 - R10) against its asymmetry tau_k:
    its DA neurons' cue responses (filled where significant), its value read from its D1
    MSNs (or None), and a perfect expectile code's (Dabney et al. 2020, Fig. 3)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    taus, index = np.asarray(taus, float), np.asarray(index, float)
    sig = np.asarray(significant, bool)
    ax.axhline(0.5, color="0.5", lw=0.6, ls=":")
    ax.plot(taus, expected, "-", color="0.6", lw=1, label="expectiles of the cues' rewards")
    if value_index is not None:
        ax.plot(taus, value_index, "s", color="C2", mfc="none", ms=5, label="value (D1 MSNs)")
    ax.plot(taus[sig], index[sig], "o", color="C0", label="DA cue response, p < 0.05")
    ax.plot(taus[~sig], index[~sig], "o", color="C0", mfc="none", label="DA cue response, n.s.")
    ax.set_xlabel("channel asymmetry tau_k (design)")
    ax.set_ylabel("optimism index (R50 - R10) / (R90 - R10)")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.set_title("Optimism by channel, 10/50/90 % cues")
    return savefig(fig, path)


def distributional_tau_reversal(tau_hat, reversal, path):
    """Asymmetry against reversal point, one dot per DA neuron (Dabney et al. 2020, Fig. 4)."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(reversal, tau_hat, "o", ms=4, alpha=0.7)
    ax.set_xlabel("reversal point (ul)")
    ax.set_ylabel("asymmetry tau-hat")
    ax.set_ylim(0, 1)
    ax.set_title("Asymmetry against reversal point\n(all analysed trials)")
    return savefig(fig, path)


def distributional_decoded(decoded, sizes, probs, path):
    """The reward distribution decoded from the reversal points against the true one
    (Dabney et al. 2020, Fig. 5)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(np.arange(len(sizes)), probs, color="0.7", label="true")
    if decoded is not None:
        x, w = decoded
        # the decoded mass in each size's bin (bins between the sizes' midpoints)
        edges = np.concatenate([[-np.inf], (np.asarray(sizes[:-1]) + sizes[1:]) / 2, [np.inf]])
        mass = np.histogram(x, bins=edges, weights=w)[0]
        ax.plot(np.arange(len(sizes)), mass, "o-", color="C3", label="decoded")
    ax.set_xticks(np.arange(len(sizes)), [f"{s:g}" for s in sizes])
    ax.set_xlabel("reward size (ul)")
    ax.set_ylabel("probability")
    ax.legend(frameon=False)
    ax.set_title("Reward distribution decoded from reversal points")
    return savefig(fig, path)

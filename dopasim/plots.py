"""Figures. Every function writes one PNG and returns its path."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["raster_last", "weight_histogram", "rewarded_weight", "savefig"]


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

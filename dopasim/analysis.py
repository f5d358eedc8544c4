"""Spike-train analysis on plain NumPy arrays (no Brian2 needed).

Spike data are given as two equal-length 1-D arrays ``(i, t)``: ``i`` holds neuron
indices in ``[0, n_neurons)`` and ``t`` spike times in seconds (float64), in any order, as
returned by ``SpikeMonitor.i[:]`` and ``SpikeMonitor.t_[:]``. All other times are float
seconds as well and all rates are in Hz.

Every function checks its input and raises `ValueError` naming the argument and the
offending value. A result that cannot be computed from valid input (no spikes, no bursts,
a zero baseline, a constant sequence) is ``float('nan')``, never an exception.

Functions
---------
in_time_order
    True when spike times never decrease (a monitor's, as recorded).
neuron_order
    The order that groups spikes by neuron, each neuron's in their given order.
population_psth
    Per-trial population PSTH aligned to event times.
window_ratio
    Response in a window relative to a baseline, from a per-trial PSTH.
burst_analysis
    Grace & Bunney (1984) burst detection and summary statistics.
isi_cv, cv_below_fraction
    Coefficient of variation of inter-spike intervals, and the fraction below a threshold.
mean_rate
    Population mean firing rate in a time interval.
spearman_rho
    Spearman rank correlation with average ranks for ties.
mann_whitney
    Two-sided Mann-Whitney U test.
weight_drift
    Drift and diffusion of synaptic weights sampled over time, by weight.
"""

import math
import numbers

import numpy as np

__all__ = [
    "in_time_order",
    "neuron_order",
    "population_psth",
    "window_ratio",
    "burst_analysis",
    "isi_cv",
    "cv_below_fraction",
    "mean_rate",
    "spearman_rho",
    "mann_whitney",
    "weight_drift",
]

_STATS = ("max", "min", "mean")


# ---------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------


def _positive_int(value, name):
    """Return ``value`` as an int, requiring an integer (not a bool) > 0."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _finite_float(value, name):
    """Return ``value`` as a float, requiring a finite real scalar."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return value


def _positive_float(value, name):
    """Return ``value`` as a float, requiring a finite real scalar > 0."""
    out = _finite_float(value, name)
    if out <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return out


def _interval(value, name):
    """Return ``(lo, hi)`` as floats, requiring two finite numbers with ``lo < hi``."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (start, stop), got {value!r}") from None
    lo = _finite_float(lo, f"{name}[0]")
    hi = _finite_float(hi, f"{name}[1]")
    if not lo < hi:
        raise ValueError(f"{name} must satisfy start < stop, got {value!r}")
    return lo, hi


def _real_array(value, name, ndim=1, finite=True):
    """Return ``value`` as a float64 array with ``ndim`` dimensions (real numbers only)."""
    arr = np.asarray(value)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if finite and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise ValueError(f"{name} must contain only finite values, got {bad!r}")
    return arr


def _spikes(i, t, n_neurons):
    """Validate spike data; return ``(i as int64, t as float64, n_neurons as int)``."""
    n_neurons = _positive_int(n_neurons, "n_neurons")
    i_arr = np.asarray(i)
    if i_arr.ndim != 1:
        raise ValueError(f"i must be 1-D, got shape {i_arr.shape}")
    if i_arr.size and not (
        np.issubdtype(i_arr.dtype, np.integer) or np.issubdtype(i_arr.dtype, np.floating)
    ):
        raise ValueError(f"i must hold integer neuron indices, got dtype {i_arr.dtype}")
    if np.issubdtype(i_arr.dtype, np.floating):
        bad = ~np.isfinite(i_arr) | (i_arr != np.round(i_arr))
        if np.any(bad):
            raise ValueError(f"i must hold integer neuron indices, got {i_arr[bad][0]!r}")
    i_arr = i_arr.astype(np.int64)
    t_arr = _real_array(t, "t")
    if i_arr.shape != t_arr.shape:
        raise ValueError(
            f"i and t must have the same length, got len(i)={i_arr.size} and len(t)={t_arr.size}"
        )
    # min and max first: the mask of tens of millions of spikes only to name a bad one
    if i_arr.size and (i_arr.min() < 0 or i_arr.max() >= n_neurons):
        out_of_range = (i_arr < 0) | (i_arr >= n_neurons)
        raise ValueError(
            f"i must lie in [0, n_neurons={n_neurons}), got {int(i_arr[out_of_range][0])}"
        )
    return i_arr, t_arr, n_neurons


def neuron_order(i):
    """The order that sorts spikes by neuron index, stably: ``np.argsort(i, kind="stable")``.

    Each neuron's spikes keep their order, so spikes given in time order (as a
    SpikeMonitor gives them) come out grouped by neuron and in time order within each.
    Indices that fit in 8 or 16 bits are sorted as such: NumPy's stable sort of 8- and
    16-bit integers is a radix sort, several times faster on tens of millions of spikes
    than the merge sort of wider integers, and a stable sort has only one result.
    """
    i = np.asarray(i)
    if i.size and np.issubdtype(i.dtype, np.integer) and i.dtype.itemsize > 2:
        lo, hi = int(i.min()), int(i.max())
        if lo >= 0 and hi < 2**16:
            i = i.astype(np.uint8 if hi < 2**8 else np.uint16)
    return np.argsort(i, kind="stable")


def in_time_order(t):
    """True when ``t`` never decreases (a monitor's spikes); False with a NaN."""
    return t.size < 2 or bool(np.all(t[1:] >= t[:-1]))


def _sorted_by_neuron(i, t):
    """Sort spikes by neuron, then time; return sorted ``i``, ``t`` and same-neuron pairs.

    ``same[k]`` is True when spikes ``k`` and ``k + 1`` (after sorting) belong to the same
    neuron, so ``np.diff(t)[same]`` are the inter-spike intervals.
    """
    if in_time_order(t):
        # already in time order: the stable sort by neuron is the lexsort by (neuron,
        # time, position), without its much slower sort of the times
        order = neuron_order(i)
    else:
        order = np.lexsort((t, i))
    # i sorted: each neuron's index as often as it spikes (the same as i[order], faster)
    counts = np.bincount(i)
    i_s, t_s = np.repeat(np.arange(counts.size), counts), t[order]
    same = i_s[1:] == i_s[:-1]
    return i_s, t_s, same


# ---------------------------------------------------------------------------------------
# Analyses
# ---------------------------------------------------------------------------------------


def population_psth(i, t, n_neurons, align_times, window=(-1.0, 2.0), bin_width=0.05):
    """Per-trial population peri-stimulus time histogram.

    Parameters
    ----------
    i : array_like of int, shape (n_spikes,)
        Neuron index of each spike, in ``[0, n_neurons)``.
    t : array_like of float, shape (n_spikes,)
        Spike times in seconds, in any order.
    n_neurons : int
        Size of the population (including silent neurons); must be > 0.
    align_times : array_like of float, shape (n_trials,)
        Event times (s) to align to; a scalar counts as one trial. May be empty.
    window : tuple of float, optional
        ``(start, stop)`` in seconds relative to each alignment time, ``start < stop``.
    bin_width : float, optional
        Bin width in seconds, > 0. ``stop - start`` must be an integer multiple of it
        (to within 1e-9 relative tolerance).

    Returns
    -------
    bin_edges : ndarray of float, shape (n_bins + 1,)
        Bin edges relative to the alignment time; the first is ``start`` and the last
        ``stop`` exactly. Bins are half-open, ``[edges[k], edges[k + 1])``.
    rate_hz : ndarray of float, shape (n_trials, n_bins)
        Mean firing rate per neuron (Hz) in each bin of each trial: the spike count of the
        whole population divided by ``n_neurons * bin_width``.

    Raises
    ------
    ValueError
        If any argument is invalid (see Parameters).

    Notes
    -----
    The recording extent is not known here: a bin that falls before the first or after
    the last recorded time counts as zero spikes, not as missing data. Drop trials whose
    window is not fully recorded if that matters.
    """
    i, t, n_neurons = _spikes(i, t, n_neurons)
    align = _real_array(np.atleast_1d(np.asarray(align_times)), "align_times")
    lo, hi = _interval(window, "window")
    bin_width = _positive_float(bin_width, "bin_width")

    span = hi - lo
    n_float = span / bin_width
    n_bins = int(round(n_float))
    if n_bins < 1 or abs(n_bins - n_float) > 1e-9 * max(1.0, n_float):
        raise ValueError(
            f"window length {span!r} s must be a positive integer multiple of "
            f"bin_width={bin_width!r}, got window={window!r}"
        )
    edges = lo + bin_width * np.arange(n_bins + 1, dtype=np.float64)
    edges[0], edges[-1] = lo, hi

    counts = np.zeros((align.size, n_bins), dtype=np.int64)
    t_sorted = np.sort(t)
    # Candidate spikes are preselected generously; the exact half-open test is made on the
    # relative times ``t - a`` so that it agrees with ``edges`` bit for bit.
    slack = bin_width
    first = np.searchsorted(t_sorted, align + lo - slack, side="left")
    last = np.searchsorted(t_sorted, align + hi + slack, side="right")
    for trial, (a, j0, j1) in enumerate(zip(align, first, last, strict=True)):
        rel = t_sorted[j0:j1] - a
        k = np.searchsorted(edges, rel, side="right") - 1
        k = k[(k >= 0) & (k < n_bins)]
        counts[trial] = np.bincount(k, minlength=n_bins)
    rate_hz = counts / (n_neurons * bin_width)
    return edges, rate_hz


def window_ratio(psth_rates, bin_edges, window, baseline, stat="max"):
    """Trial-averaged response in a window divided by the mean baseline rate.

    Parameters
    ----------
    psth_rates : array_like of float, shape (n_trials, n_bins) or (n_bins,)
        Per-trial PSTH, e.g. ``rate_hz`` from `population_psth`; a 1-D array is one trial.
    bin_edges : array_like of float, shape (n_bins + 1,)
        Strictly increasing bin edges (relative times, s).
    window : tuple of float
        ``(start, stop)`` of the response window (relative s), e.g. ``(0, 0.3)``.
    baseline : tuple of float
        ``(start, stop)`` of the baseline (relative s), e.g. ``(-1.0, 0)``.
    stat : {'max', 'min', 'mean'}, optional
        Statistic of the trial-averaged PSTH over the response window.

    Returns
    -------
    float
        ``stat(mean PSTH in window) / mean(mean PSTH in baseline)``. Only bins lying fully
        inside an interval are used (edges are compared with a tolerance of 1e-6 of the
        smallest bin width, so ``-1 + 26 * 0.05`` counts as ``0.3``). NaN when there are no
        trials or the baseline mean is 0.

    Raises
    ------
    ValueError
        If an argument is invalid, or if ``window`` or ``baseline`` contains no whole bin.
    """
    rates = _real_array(psth_rates, "psth_rates", ndim=np.ndim(psth_rates))
    if rates.ndim == 1:
        rates = rates[np.newaxis, :]
    if rates.ndim != 2:
        raise ValueError(f"psth_rates must be 1-D or 2-D, got shape {rates.shape}")
    edges = _real_array(bin_edges, "bin_edges")
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"bin_edges must be strictly increasing with at least 2 entries, got {edges!r}"
        )
    if rates.shape[1] != edges.size - 1:
        raise ValueError(
            f"psth_rates must have len(bin_edges) - 1 = {edges.size - 1} bins, "
            f"got shape {rates.shape}"
        )
    w_lo, w_hi = _interval(window, "window")
    b_lo, b_hi = _interval(baseline, "baseline")
    if stat not in _STATS:
        raise ValueError(f"stat must be one of {_STATS}, got {stat!r}")

    tol = 1e-6 * float(np.min(np.diff(edges)))

    def inside(lo, hi, name, value):
        mask = (edges[:-1] >= lo - tol) & (edges[1:] <= hi + tol)
        if not np.any(mask):
            raise ValueError(f"{name} contains no whole bin of bin_edges, got {value!r}")
        return mask

    in_window = inside(w_lo, w_hi, "window", window)
    in_baseline = inside(b_lo, b_hi, "baseline", baseline)
    if rates.shape[0] == 0:
        return float("nan")

    mean_psth = rates.mean(axis=0)
    base = float(np.mean(mean_psth[in_baseline]))
    if base == 0.0:
        return float("nan")
    response = {"max": np.max, "min": np.min, "mean": np.mean}[stat](mean_psth[in_window])
    return float(response) / base


def burst_analysis(i, t, n_neurons, start_isi=0.080, end_isi=0.160):
    """Detect bursts with the Grace & Bunney (1984) criterion and summarise them.

    A burst begins at a spike whose following ISI is ``< start_isi`` and continues while
    ISIs are ``<= end_isi``; it ends at the last spike before an ISI ``> end_isi`` (or at
    the neuron's last spike). A burst therefore has at least 2 spikes, and a spike belongs
    to at most one burst.

    Parameters
    ----------
    i : array_like of int, shape (n_spikes,)
        Neuron index of each spike, in ``[0, n_neurons)``.
    t : array_like of float, shape (n_spikes,)
        Spike times in seconds, in any order. A neuron may not spike twice at the same time.
    n_neurons : int
        Size of the population; must be > 0.
    start_isi : float, optional
        Burst onset ISI in seconds (80 ms by default), > 0.
    end_isi : float, optional
        Burst termination ISI in seconds (160 ms by default), ``>= start_isi``.

    Returns
    -------
    dict
        ``'intraburst_hz'`` (float): mean over all bursts of
        ``(n_spikes - 1) / (last - first)``; NaN without bursts.
        ``'n_bursts'`` (int): number of bursts in the population.
        ``'fraction_spikes_in_bursts'`` (float): spikes in bursts / all spikes; NaN
        without spikes.
        ``'mean_spikes_per_burst'`` (float): NaN without bursts.

    Raises
    ------
    ValueError
        If an argument is invalid, or a neuron has two spikes at the same time.
    """
    i, t, n_neurons = _spikes(i, t, n_neurons)
    start_isi = _positive_float(start_isi, "start_isi")
    end_isi = _positive_float(end_isi, "end_isi")
    if end_isi < start_isi:
        raise ValueError(f"end_isi must be >= start_isi={start_isi!r}, got end_isi={end_isi!r}")

    i_s, t_s, same = _sorted_by_neuron(i, t)
    isi = np.diff(t_s)
    duplicate = same & (isi == 0)
    if np.any(duplicate):
        k = int(np.flatnonzero(duplicate)[0])
        raise ValueError(
            f"t has two spikes of neuron {int(i_s[k])} at the same time {float(t_s[k])!r}"
        )

    # Pair k joins spikes k and k + 1. Maximal runs of linked pairs (same neuron, ISI <=
    # end_isi) are the only places a burst can live; within a run, the burst starts at the
    # first pair with ISI < start_isi and lasts until the run ends.
    linked = same & (isi <= end_isi)
    padded = np.concatenate(([False], linked, [False])).astype(np.int8)
    change = np.diff(padded)
    run_first = np.flatnonzero(change == 1)  # first pair of each run
    run_last = np.flatnonzero(change == -1) - 1  # last pair of each run
    onsets = np.flatnonzero(linked & (isi < start_isi))
    pos = np.searchsorted(onsets, run_first, side="left")
    has_onset = pos < onsets.size
    onset = np.full(run_first.size, -1, dtype=np.int64)
    onset[has_onset] = onsets[pos[has_onset]]
    has_onset &= onset <= run_last
    first_spike = onset[has_onset]
    last_spike = run_last[has_onset] + 1

    n_spikes_burst = last_spike - first_spike + 1
    n_bursts = int(n_spikes_burst.size)
    n_spikes = int(t.size)
    if n_bursts:
        intra = (n_spikes_burst - 1) / (t_s[last_spike] - t_s[first_spike])
        intraburst_hz = float(np.mean(intra))
        mean_spikes = float(np.mean(n_spikes_burst))
    else:
        intraburst_hz = mean_spikes = float("nan")
    fraction = float(n_spikes_burst.sum() / n_spikes) if n_spikes else float("nan")
    return {
        "intraburst_hz": intraburst_hz,
        "n_bursts": n_bursts,
        "fraction_spikes_in_bursts": fraction,
        "mean_spikes_per_burst": mean_spikes,
    }


def isi_cv(i, t, n_neurons, min_spikes=5):
    """Coefficient of variation of the inter-spike intervals of each neuron.

    Parameters
    ----------
    i : array_like of int, shape (n_spikes,)
        Neuron index of each spike, in ``[0, n_neurons)``.
    t : array_like of float, shape (n_spikes,)
        Spike times in seconds, in any order.
    n_neurons : int
        Size of the population; must be > 0.
    min_spikes : int, optional
        Neurons with fewer spikes get NaN; must be >= 3 (at least two ISIs).

    Returns
    -------
    ndarray of float, shape (n_neurons,)
        ``std(ISI) / mean(ISI)`` (population standard deviation, ``ddof=0``) per neuron;
        NaN for neurons with fewer than ``min_spikes`` spikes or a zero mean ISI.

    Raises
    ------
    ValueError
        If any argument is invalid.
    """
    i, t, n_neurons = _spikes(i, t, n_neurons)
    min_spikes = _positive_int(min_spikes, "min_spikes")
    if min_spikes < 3:
        raise ValueError(f"min_spikes must be >= 3 (two ISIs), got {min_spikes!r}")

    i_s, t_s, same = _sorted_by_neuron(i, t)
    isi = np.diff(t_s)[same]
    owner = i_s[1:][same]
    n_isi = np.bincount(owner, minlength=n_neurons)
    total = np.bincount(owner, weights=isi, minlength=n_neurons)
    enough = n_isi + 1 >= min_spikes
    mean = np.divide(total, n_isi, out=np.zeros(n_neurons), where=n_isi > 0)
    sq_dev = np.bincount(owner, weights=(isi - mean[owner]) ** 2, minlength=n_neurons)
    std = np.sqrt(np.divide(sq_dev, n_isi, out=np.zeros(n_neurons), where=n_isi > 0))
    valid = enough & (mean > 0)
    cv = np.full(n_neurons, np.nan)
    cv[valid] = std[valid] / mean[valid]
    return cv


def cv_below_fraction(cvs, threshold=0.5):
    """Fraction of the non-NaN CVs that are below a threshold.

    Parameters
    ----------
    cvs : array_like of float, shape (n,)
        CVs, e.g. from `isi_cv`; NaN entries are ignored. Must not be negative.
    threshold : float, optional
        A CV counts if it is strictly below ``threshold``.

    Returns
    -------
    float
        ``count(cv < threshold) / count(not NaN)``; NaN if every CV is NaN or ``cvs`` is
        empty.

    Raises
    ------
    ValueError
        If ``cvs`` is not a 1-D real array, holds negative values, or ``threshold`` is not
        finite.
    """
    cvs = _real_array(cvs, "cvs", finite=False)
    threshold = _finite_float(threshold, "threshold")
    if np.any(cvs < 0):
        raise ValueError(f"cvs must be non-negative, got {cvs[cvs < 0][0]!r}")
    known = cvs[~np.isnan(cvs)]
    if known.size == 0:
        return float("nan")
    return float(np.count_nonzero(known < threshold) / known.size)


def mean_rate(i, t, n_neurons, t_start, t_stop):
    """Mean firing rate per neuron of a population in ``[t_start, t_stop)``.

    Parameters
    ----------
    i : array_like of int, shape (n_spikes,)
        Neuron index of each spike, in ``[0, n_neurons)``.
    t : array_like of float, shape (n_spikes,)
        Spike times in seconds, in any order.
    n_neurons : int
        Size of the population (silent neurons included); must be > 0.
    t_start, t_stop : float
        Interval in seconds, ``t_start < t_stop``; half-open.

    Returns
    -------
    float
        Spikes in the interval divided by ``n_neurons * (t_stop - t_start)``, in Hz.

    Raises
    ------
    ValueError
        If any argument is invalid.
    """
    i, t, n_neurons = _spikes(i, t, n_neurons)
    t_start = _finite_float(t_start, "t_start")
    t_stop = _finite_float(t_stop, "t_stop")
    if not t_start < t_stop:
        raise ValueError(f"t_stop must be > t_start={t_start!r}, got t_stop={t_stop!r}")
    count = np.count_nonzero((t >= t_start) & (t < t_stop))
    return float(count / (n_neurons * (t_stop - t_start)))


def _average_ranks(x):
    """Ranks 1..n of ``x``, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new_group = np.concatenate(([True], xs[1:] != xs[:-1]))
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    ends = np.concatenate((starts[1:], [x.size]))
    group_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = group_rank[group]
    return ranks


def spearman_rho(x, y):
    """Spearman rank correlation coefficient (pure NumPy).

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        Paired finite observations.

    Returns
    -------
    float
        Pearson correlation of the ranks of ``x`` and ``y``, tied values receiving the
        average of their ranks (as ``scipy.stats.spearmanr``). NaN if ``n < 2`` or either
        input is constant.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is not a finite 1-D real array, or their lengths differ.
    """
    x = _real_array(x, "x")
    y = _real_array(y, "y")
    if x.size != y.size:
        raise ValueError(
            f"x and y must have the same length, got len(x)={x.size} and len(y)={y.size}"
        )
    if x.size < 2:
        return float("nan")
    rx = _average_ranks(x)
    ry = _average_ranks(y)
    dx = rx - rx.mean()
    dy = ry - ry.mean()
    sxx = float(dx @ dx)
    syy = float(dy @ dy)
    if sxx == 0.0 or syy == 0.0:
        return float("nan")
    rho = float(dx @ dy) / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, rho))


def mann_whitney(x, y):
    """Two-sided Mann-Whitney U test (pure NumPy): (U of ``x``, p).

    U counts the pairs with x > y (ties count one half); p is from the normal
    approximation with the tie correction and a continuity correction of 0.5, as
    ``scipy.stats.mannwhitneyu(x, y, method="asymptotic")``. NaN p when either sample
    is empty or every value is tied.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is not a finite 1-D real array.
    """
    x = _real_array(x, "x")
    y = _real_array(y, "y")
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan")
    ranks = _average_ranks(np.concatenate((x, y)))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    _, counts = np.unique(np.concatenate((x, y)), return_counts=True)
    tie = float(np.sum(counts**3 - counts)) / (n * (n - 1))
    var = n1 * n2 / 12.0 * ((n + 1) - tie)
    if var <= 0:
        return u, float("nan")
    z = (abs(u - n1 * n2 / 2.0) - 0.5) / math.sqrt(var)
    return u, float(math.erfc(max(z, 0.0) / math.sqrt(2)))


def weight_drift(samples, edges, start=0):
    """Drift and diffusion of sampled synaptic weights, as functions of the weight.

    ``samples`` is an (n_synapses, n_samples) array of weights sampled at equal intervals
    (e.g. one sample per trial). Every step from sample k to k + 1 (k >= ``start``) is
    binned by the weight at k into ``edges`` (increasing; a bin is [edges[j],
    edges[j+1]), the last one closed). Returns a dict of 1-D arrays, one entry per bin:
    ``n`` (steps in the bin), ``weight`` (the mean weight they start from), ``drift``
    (their mean change per step), ``sd`` (the SD of the change per step) and ``moved``
    (the fraction of steps with a change). Bins without steps get NaN. A weight that
    diffuses against a bound shows a positive drift next to it without any net learning
    signal; comparing runs on the same bins separates that from a drift the learning
    signal makes.

    Raises
    ------
    ValueError
        If ``samples`` is not a finite 2-D real array with at least two samples after
        ``start``, or ``edges`` is not increasing.
    """
    w = _real_array(samples, "samples", ndim=2)
    edges = _real_array(edges, "edges")
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be at least two increasing values, got {edges!r}")
    if isinstance(start, bool | np.bool_) or not isinstance(start, numbers.Integral) or start < 0:
        raise ValueError(f"start must be an integer >= 0, got {start!r}")
    if w.shape[1] - int(start) < 2:
        raise ValueError(
            f"start ({start}) must leave at least two samples, got samples of shape {w.shape}"
        )
    w0 = w[:, start:-1].ravel()
    dw = np.diff(w[:, start:], axis=1).ravel()
    j = np.searchsorted(edges, w0, side="right") - 1
    j[w0 == edges[-1]] = edges.size - 2  # the last bin is closed
    keep = (j >= 0) & (j < edges.size - 1)
    j, dw, w0 = j[keep], dw[keep], w0[keep]
    k = edges.size - 1
    n = np.bincount(j, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        at = np.bincount(j, weights=w0, minlength=k) / n
        mean = np.bincount(j, weights=dw, minlength=k) / n
        sq = np.bincount(j, weights=dw * dw, minlength=k) / n
        moved = np.bincount(j, weights=(dw != 0).astype(float), minlength=k) / n
    sd = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return {"n": n.astype(int), "weight": at, "drift": mean, "sd": sd, "moved": moved}

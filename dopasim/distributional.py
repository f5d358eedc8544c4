"""Analysis of a distributional dopamine code (Dabney et al. 2020, Nature 577:671).

Dabney, Kurth-Nelson, Uchida, Starkweather, Hassabis, Munos & Botvinick (2020), "A
distributional code for value in dopamine-based reinforcement learning", Nature 577:671-675
(doi:10.1038/s41586-019-1924-6), recorded optogenetically identified VTA dopamine neurons of
mice given one of seven juice sizes (0.1-20 ul) at random. Each neuron's response to the
reward changes sign at its own *reversal point*, neurons scale positive and negative
prediction errors by different slopes alpha+ and alpha-, and a neuron's asymmetry
tau = alpha+ / (alpha+ + alpha-) predicts its reversal point: the reversal points are the
tau-expectiles of the reward distribution, as distributional TD learning predicts.

This module holds the measures, on plain NumPy arrays (no Brian2, no SciPy):

responses
    Per-trial response: mean rate 200-600 ms after the reward minus the mean rate in the
    second before it (the paper's windows).
reversal_point
    The reward size at which a neuron's response changes sign.
asymmetry
    alpha+, alpha- and tau = alpha+ / (alpha+ + alpha-) given a reversal point.
split_half
    tau from one half of the trials against the reversal point from the other half,
    Pearson R across neurons, over random splits (the paper's Fig. 4 control); also the
    split-half reliability of the reversal points.
expectiles
    Exact expectiles of a discrete distribution or of samples.
decode_distribution
    Expectile imputation: a distribution whose expectiles at ``taus`` are the reversal
    points (Methods of the paper; Rowland et al. 2019, AISTATS, "Statistics and samples
    in distributional reinforcement learning").
wasserstein1, references
    The 1-Wasserstein distance between 1-D distributions, and the uniform and the
    moment-matched Gaussian references a decoding is compared with.
optimism_index
    (R50 - R10) / (R90 - R10) of the cue responses in the 10/50/90 % task.

Conventions: a neuron's data are two equal-length 1-D arrays, the reward size of each trial
(``sizes``) and the response on that trial (``responses``); a distribution is ``(values,
weights)`` (weights >= 0, normalised here) or a 1-D array of samples (equal weights). Bad
input raises `dopasim.params.ParamError` with one line that starts with the field's name.
"""

from dataclasses import dataclass

import numpy as np

from dopasim.analysis import mann_whitney
from dopasim.params import ParamError

__all__ = [
    "responses",
    "reversal_point",
    "asymmetry",
    "Asymmetry",
    "split_half",
    "SplitHalf",
    "expectiles",
    "decode_distribution",
    "wasserstein1",
    "references",
    "optimism_index",
    "expectile_optimism",
    "optimism_test",
    "population_utility",
    "to_utility",
    "from_utility",
]

METHODS = ("hinge", "interp")


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def _vector(x, name, *, min_len=1):
    try:
        a = np.asarray(x, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ParamError(f"{name}: must be an array of numbers, got {x!r:.60}") from None
    if a.size < min_len:
        raise ParamError(f"{name}: need at least {min_len} value(s), got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ParamError(f"{name}: must be finite (no NaN or inf)")
    return a


def _interval(w, name):
    try:
        lo, hi = (float(v) for v in w)
    except (TypeError, ValueError):
        raise ParamError(f"{name}: must be a pair (start, stop), got {w!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ParamError(f"{name}: need finite start < stop, got {w!r}")
    return lo, hi


def _taus(taus, name="taus", min_len=1):
    t = _vector(taus, name, min_len=min_len)
    if np.any((t <= 0) | (t >= 1)):
        raise ParamError(f"{name}: every tau must lie in (0, 1), got {t.min():g}..{t.max():g}")
    return t


def _distribution(values, weights, vname="values", wname="weights"):
    v = _vector(values, vname)
    if weights is None:
        return v, np.full(v.size, 1.0 / v.size)
    w = _vector(weights, wname)
    if w.size != v.size:
        raise ParamError(f"{wname}: {w.size} weights for {v.size} values")
    if np.any(w < 0) or w.sum() <= 0:
        raise ParamError(f"{wname}: must be >= 0 with a positive sum")
    return v, w / w.sum()


def _trials(sizes, responses):
    s = _vector(sizes, "sizes", min_len=2)
    r = _vector(responses, "responses", min_len=2)
    if r.size != s.size:
        raise ParamError(f"responses: {r.size} responses for {s.size} trial sizes")
    if np.unique(s).size < 2:
        raise ParamError("sizes: need at least 2 distinct reward sizes")
    return s, r


# ---------------------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------------------


def responses(spike_times, reward_times, window=(0.2, 0.6), baseline=(-1.0, 0.0)):
    """Per-trial reward response of one neuron (Hz): window rate minus baseline rate.

    As in Dabney et al. 2020 (Methods), the response on a trial is the mean firing rate
    200-600 ms after reward onset minus the mean rate in the 1 s before it. Intervals are
    half-open ``[start, stop)`` relative to each reward time, in seconds.

    Parameters
    ----------
    spike_times : array (s)
        The neuron's spike times, any order.
    reward_times : array (s)
        One time per trial.
    window, baseline : (start, stop)
        Relative to the reward, in seconds.

    Returns
    -------
    numpy.ndarray, one response per reward time.
    """
    spikes = np.sort(_vector(spike_times, "spike_times", min_len=0))
    rewards = _vector(reward_times, "reward_times")
    w0, w1 = _interval(window, "window")
    b0, b1 = _interval(baseline, "baseline")

    def rate(a, b):
        n = np.searchsorted(spikes, rewards + b) - np.searchsorted(spikes, rewards + a)
        return n / (b - a)

    return rate(w0, w1) - rate(b0, b1)


# ---------------------------------------------------------------------------------------
# reversal point and asymmetry
# ---------------------------------------------------------------------------------------


def _level_stats(s, r):
    """The distinct sizes, each one's count and response sum, and the responses' sum of
    squares: all a hinge fit needs of the trials."""
    levels, inverse = np.unique(s, return_inverse=True)
    return levels, *_level_sums(inverse, r, levels.size)


def _level_sums(inverse, r, n_levels):
    """Count and response sum of each size (``inverse``: each trial's size index), and
    the responses' sum of squares."""
    count = np.bincount(inverse, minlength=n_levels).astype(float)
    total = np.bincount(inverse, weights=r, minlength=n_levels)
    return count, total, float(np.dot(r, r))


def _hinge_sse(s, r, grid):
    """Residual sum of squares of the best hinge y = a+ (x-c)+ - a- (c-x)+ at each c."""
    return _hinge_sse_stats(*_level_stats(s, r), grid)


def _hinge_sse_stats(levels, count, total, rr, grid):
    """`_hinge_sse` from `_level_stats`: O(grid x sizes), not O(grid x trials); the same
    least squares, to rounding."""
    d = levels[None, :] - grid[:, None]
    pos, neg = np.maximum(d, 0.0), np.minimum(d, 0.0)
    sse = np.full(grid.size, rr)
    for part in (pos, neg):
        sxx = part**2 @ count
        sxy = part @ total
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(sxx > 0, sxy / sxx, 0.0)
        # slopes are >= 0 (a response grows with reward); the two parts do not overlap,
        # so the non-negative least squares is the clipped one, part by part
        a = np.maximum(a, 0.0)
        sse -= 2 * a * sxy - a**2 * sxx
    return sse


def _hinge_reversal(levels, count, total, rr, resolution):
    """The hinge's reversal point from `_level_stats` (sizes with at least one trial): a
    coarse grid (100 steps and the sizes), then the best coarse point's neighbourhood
    at ``resolution``."""
    lo, hi = float(levels[0]), float(levels[-1])
    coarse = np.union1d(np.linspace(lo, hi, 101), levels)
    best = _lowest_best(coarse, _hinge_sse_stats(levels, count, total, rr, coarse), rr)
    step = (hi - lo) / 100
    fine = np.arange(max(lo, best - step), min(hi, best + step) + resolution, resolution)
    grid = np.union1d(np.clip(fine, lo, hi), best)
    sse = _hinge_sse_stats(levels, count, total, rr, grid)
    # the fine grid's ties: the first within 1e-12 of the least SSE (as before the
    # coarse grid had its own rule; a flat stretch there is resolved by `_lowest_best`)
    return float(grid[np.flatnonzero(sse <= sse.min() + 1e-12 * (1 + sse.min()))[0]])


def _lowest_best(grid, sse, rr):
    """The lowest grid point whose SSE is within rounding of the least: a fit that is flat
    over a stretch (e.g. responses that rise only at the largest size) resolves to the
    stretch's start, whatever the order of the sums (a bare argmin let rounding choose,
    up to the whole stretch away). Rounding: 1e-12 of the responses' sum of squares
    ``rr``, from which the SSE is computed by subtraction (about 4,000 times its
    rounding error; the SSE never exceeds ``rr``)."""
    return grid[np.flatnonzero(sse <= sse.min() + 1e-12 * (1 + rr))[0]]


def reversal_point(sizes, responses, method="hinge", resolution=0.01):
    """The reward size at which a neuron's response changes sign (Dabney et al. 2020).

    Parameters
    ----------
    sizes, responses : arrays, one entry per trial
        The reward size and the response on each trial.
    method : "hinge" or "interp"
        ``"hinge"`` (default): least-squares fit of the paper's asymmetric-scaling model,
        response = alpha+ (x - c) above c and alpha- (x - c) below it (alpha+/- >= 0), to
        all trials, over c on a grid of step ``resolution`` spanning the sizes; the
        reversal point is the best c. It is unbiased for any asymmetry.
        ``"interp"``: linear interpolation of the mean response per size between the two
        sizes around the sign change from negative to positive (where there are several,
        the one that leaves the fewest mean responses of the wrong sign; ties: the
        lowest). Model-free, but biased towards the steeper side when alpha+ != alpha-.
    resolution : float
        Grid step of ``"hinge"``, in the units of ``sizes``.

    Returns
    -------
    float
        A neuron whose responses never change sign gets the end of the range of sizes it
        points to: the largest size if all responses are negative, the smallest if all
        are positive.

    Notes
    -----
    The paper (Fig. 2, Methods) defines the reversal point as the reward magnitude at
    which the response crosses zero; the authors' released per-cell values
    (Figure2b.mat, ``zeroCrossings``) are on the scale of the condition index (1-7, 7.5
    for the one cell that never turns positive), closest to an interpolation between
    conditions. ``"hinge"`` is this module's default because it also recovers the
    reversal point of a strongly asymmetric neuron, whose interpolated crossing is pulled
    towards the steeper side (see docs/distributional.md).
    """
    s, r = _trials(sizes, responses)
    if method not in METHODS:
        raise ParamError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    lo, hi = float(s.min()), float(s.max())
    if method == "hinge":
        if not resolution > 0:
            raise ParamError(f"resolution: must be > 0, got {resolution!r}")
        return _hinge_reversal(*_level_stats(s, r), resolution)
    levels = np.unique(s)
    means = np.array([r[s == v].mean() for v in levels])
    if np.all(means < 0):
        return hi
    if np.all(means > 0):
        return lo
    best, best_wrong = None, None
    for k in range(levels.size - 1):
        m0, m1 = means[k], means[k + 1]
        if m0 <= 0 < m1:
            c = levels[k] + (0.0 - m0) * (levels[k + 1] - levels[k]) / (m1 - m0)
            wrong = int(np.sum(means[: k + 1] > 0) + np.sum(means[k + 1 :] < 0))
            if best_wrong is None or wrong < best_wrong:
                best, best_wrong = c, wrong
    if best is None:  # only positive-to-negative changes: no reversal in the RPE sense
        return lo if np.sum(means > 0) >= np.sum(means < 0) else hi
    return float(best)


@dataclass(frozen=True)
class Asymmetry:
    """Slopes of the response above (``alpha_pos``) and below (``alpha_neg``) the
    reversal point and ``tau = alpha_pos / (alpha_pos + alpha_neg)`` (NaN if undefined)."""

    alpha_pos: float
    alpha_neg: float
    tau: float


def asymmetry(sizes, responses, reversal, through_reversal=True):
    """alpha+, alpha- and tau = alpha+ / (alpha+ + alpha-) of one neuron (Dabney et al. 2020).

    As in the paper (Fig. 4, Methods), the response is fitted with separate linear
    functions of reward size above and below the reversal point; alpha+ and alpha- are
    their slopes and tau the neuron's asymmetry.

    Parameters
    ----------
    sizes, responses : arrays, one entry per trial
    reversal : float
        The reversal point, e.g. from `reversal_point` on other trials.
    through_reversal : bool
        True (default): both lines pass through (reversal, 0), the asymmetric-scaling
        model; one reward size on a side suffices. False: ordinary least-squares lines
        (slope and intercept) on each side; a side with fewer than 2 distinct sizes gives
        a NaN slope.

    Returns
    -------
    Asymmetry
        Negative slopes are clipped to 0 (a slope against the reward is no scaling);
        tau is NaN when both slopes are 0 or one side has no trial.
    """
    s, r = _trials(sizes, responses)
    c = float(reversal)
    if not np.isfinite(c):
        raise ParamError(f"reversal: must be finite, got {reversal!r}")
    slopes = []
    for side in (s > c, s < c):
        x, y = s[side] - c, r[side]
        if through_reversal:
            slope = np.dot(x, y) / np.dot(x, x) if x.size else np.nan
        elif np.unique(x).size >= 2:
            xc = x - x.mean()
            slope = np.dot(xc, y - y.mean()) / np.dot(xc, xc)
        else:
            slope = np.nan
        slopes.append(max(float(slope), 0.0) if np.isfinite(slope) else np.nan)
    ap, an = slopes
    total = ap + an
    tau = ap / total if np.isfinite(total) and total > 0 else np.nan
    return Asymmetry(ap, an, float(tau))


# ---------------------------------------------------------------------------------------
# the population's utility
# ---------------------------------------------------------------------------------------


def population_utility(trials, levels):
    """The population's utility of each reward size, from its responses.

    Dabney et al. 2020 fitted the asymmetric-scaling model in the space of a utility
    function estimated from the population's responses (the mean response to each size):
    a neuron's response is linear in utility, not in microlitres, and a convex utility
    fitted in microlitres moves an optimistic neuron's reversal point down and a
    pessimistic one's up, against the correlation of asymmetry and reversal point.
    Here: each neuron's mean response per size, averaged over neurons, scaled to 0 at
    the smallest and 1 at the largest size, made non-decreasing (a floor of equal
    responses stays flat) and then strictly increasing by 1e-6 per step, so that
    `from_utility` can invert it.

    Parameters
    ----------
    trials : sequence of (sizes, responses), one pair per neuron
    levels : array
        The reward sizes, increasing.

    Returns
    -------
    numpy.ndarray, one utility per level, from 0 at the smallest level, non-decreasing
    (strictly, by 1e-6 per step); 1 (+ 1e-6 (n - 1)) at the largest unless a smaller
    size's mean response exceeds the largest's.
    """
    lv = _vector(levels, "levels", min_len=2)
    if np.any(np.diff(lv) <= 0):
        raise ParamError("levels: must be strictly increasing")
    cells = [_trials(s, r) for s, r in trials]
    if not cells:
        raise ParamError("trials: no neuron")
    means = np.full((len(cells), lv.size), np.nan)
    for k, (s, r) in enumerate(cells):
        for j, v in enumerate(lv):
            sel = s == v
            if sel.any():
                means[k, j] = r[sel].mean()
    m = np.nanmean(means, axis=0)
    if not np.all(np.isfinite(m)):
        raise ParamError("trials: a reward size has no trial")
    span = m[-1] - m[0]
    if not span > 0:
        raise ParamError(
            "trials: the mean response to the largest size is not above the smallest's"
        )
    u = np.maximum.accumulate((m - m[0]) / span)
    return u + 1e-6 * np.arange(lv.size)


def _utility_map(levels, utility):
    lv = _vector(levels, "levels", min_len=2)
    u = _vector(utility, "utility", min_len=2)
    if u.size != lv.size:
        raise ParamError(f"utility: {u.size} values for {lv.size} levels")
    if np.any(np.diff(lv) <= 0) or np.any(np.diff(u) <= 0):
        raise ParamError("utility: levels and utility must both be strictly increasing")
    return lv, u


def to_utility(x, levels, utility):
    """Sizes ``x`` to utility (piecewise linear between the levels)."""
    lv, u = _utility_map(levels, utility)
    return np.interp(np.asarray(x, dtype=float), lv, u)


def from_utility(v, levels, utility):
    """Utility ``v`` back to sizes (the inverse of `to_utility`)."""
    lv, u = _utility_map(levels, utility)
    return np.interp(np.asarray(v, dtype=float), u, lv)


# ---------------------------------------------------------------------------------------
# split halves
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitHalf:
    """Distributions over random splits of the trials.

    ``r``: Pearson R across neurons between tau from one half and the reversal point from
    the other; ``reliability``: Pearson R between the reversal points of the two halves.
    """

    r: np.ndarray
    reliability: np.ndarray

    @property
    def median(self):
        return float(np.nanmedian(self.r))

    @property
    def p5(self):
        return float(np.nanpercentile(self.r, 5))

    @property
    def p95(self):
        return float(np.nanpercentile(self.r, 95))

    @property
    def reliability_median(self):
        return float(np.nanmedian(self.reliability))


def _pearson(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return np.nan
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / den) if den > 0 else np.nan


def _halves(groups, n, rng):
    """Boolean mask of half A of ``n`` trials: each size's trials (``groups``, one index
    array per size) split at random, half and half."""
    mask = np.zeros(n, dtype=bool)
    for idx in groups:
        mask[rng.permutation(idx)[: idx.size // 2]] = True
    return mask


def _half_reversal(s, r, levels, inverse, half, method, resolution):
    """`reversal_point` of the trials in ``half``; the hinge from per-size sums."""
    count, total, rr = _level_sums(inverse[half], r[half], levels.size)
    if method != "hinge" or np.count_nonzero(count) < 2 or not resolution > 0:
        return reversal_point(s[half], r[half], method=method, resolution=resolution)
    keep = count > 0
    return _hinge_reversal(levels[keep], count[keep], total[keep], rr, resolution)


# Elements (rows x grid points x sizes) of one temporary array in the batched hinge fits:
# 2**16 doubles = 512 kB, so that a batch's arrays stay in the CPU's cache (three times
# faster than batches of 2**21 on a 200 x 200 x 7 fine grid).
_BATCH_ELEMENTS = 2**16


def _hinge_sse_rows(levels, count, total, rr, grid):
    """`_hinge_sse_stats` for many fits that share the sizes and their counts: row b of
    ``grid`` (rows x points) with the response sums ``total[b]`` and ``rr[b]``. The same
    arithmetic, summed over sizes in another order (equal to rounding)."""
    d = levels - grid[..., None]
    sse = np.repeat(rr[:, None], grid.shape[1], axis=1)
    for part in (np.maximum(d, 0.0), np.minimum(d, 0.0)):
        sxx = part**2 @ count
        sxy = (part @ total[:, :, None])[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(sxx > 0, sxy / sxx, 0.0)
        a = np.maximum(a, 0.0)
        sse -= 2 * a * sxy - a**2 * sxx
    return sse


def _hinge_reversal_rows(levels, count, total, rr, resolution):
    """`_hinge_reversal` of many fits at once (one per row of ``total`` and ``rr``) that
    share the sizes and their counts, e.g. one neuron's half over all splits: the same
    coarse grid, rule for ties and fine grid, row by row."""
    lo, hi = float(levels[0]), float(levels[-1])
    coarse = np.union1d(np.linspace(lo, hi, 101), levels)
    rows = max(1, _BATCH_ELEMENTS // (coarse.size * levels.size))
    best = np.empty(rr.size)
    for b in range(0, rr.size, rows):
        sl = slice(b, b + rows)
        sse = _hinge_sse_rows(
            levels, count, total[sl], rr[sl], np.broadcast_to(coarse, (rr[sl].size, coarse.size))
        )
        # `_lowest_best`: the first coarse point within 1e-12 (1 + rr) of the least SSE
        near = sse <= sse.min(axis=1, keepdims=True) + 1e-12 * (1 + rr[sl, None])
        best[sl] = coarse[np.argmax(near, axis=1)]
    step = (hi - lo) / 100
    start = np.maximum(lo, best - step)
    stop = np.minimum(hi, best + step) + resolution
    # np.arange(start, stop, resolution) of each row, built as numpy builds it: its length
    # is ceil((stop - start) / resolution), its values start, start + resolution and then
    # start + i * ((start + resolution) - start)
    n = np.ceil((stop - start) / resolution).astype(np.intp)
    i = np.arange(n.max())
    out = np.empty(rr.size)
    rows = max(1, _BATCH_ELEMENTS // ((i.size + 1) * levels.size))
    for b in range(0, rr.size, rows):
        sl = slice(b, b + rows)
        fine = start[sl, None] + i * ((start[sl] + resolution) - start[sl])[:, None]
        fine[:, 0] = start[sl]
        if i.size > 1:
            fine[:, 1] = start[sl] + resolution
        # rows shorter than the longest are padded with their best coarse point, which
        # every fine grid holds anyway (np.union1d with it); the grid's order and repeats
        # do not matter, as the rule below takes the lowest value
        fine = np.where(i < n[sl, None], np.clip(fine, lo, hi), best[sl, None])
        grid = np.concatenate([fine, best[sl, None]], axis=1)
        sse = _hinge_sse_rows(levels, count, total[sl], rr[sl], grid)
        least = sse.min(axis=1, keepdims=True)
        near = sse <= least + 1e-12 * (1 + least)
        out[sl] = np.where(near, grid, np.inf).min(axis=1)
    return out


def _tau_rows(levels, count, total, c):
    """`asymmetry(...).tau` with lines through the reversal point, from per-size counts
    and response sums: row b of ``total`` (rows x sizes) with its reversal point
    ``c[b]``. A side's slope is sum (x - c) total / sum (x - c)^2 count over its sizes."""
    x = levels - c[:, None]
    slopes = []
    for side in (x > 0, x < 0):
        sxy = np.where(side, x * total, 0.0).sum(axis=1)
        sxx = np.where(side, x**2 * count, 0.0).sum(axis=1)
        has = np.where(side, count, 0.0).sum(axis=1) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(has, sxy / sxx, np.nan)
        slopes.append(np.where(np.isfinite(slope), np.maximum(slope, 0.0), np.nan))
    ap, an = slopes
    tot = ap + an
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(tot) & (tot > 0), ap / tot, np.nan)


def _prepare(cells):
    out = []
    for s, r in cells:
        levels, inverse = np.unique(s, return_inverse=True)
        groups = [np.flatnonzero(inverse == k) for k in range(levels.size)]
        out.append((s, r, levels, inverse, groups))
    return out


def _split_half_loop(cells, n_splits, rng, method, through_reversal, resolution):
    """`split_half` one split and one neuron at a time (validated ``cells``, a Generator
    ``rng``): every method and option; `split_half` uses it for all but the default hinge
    with lines through the reversal point."""
    prepared = _prepare(cells)
    rs, rel = np.empty(n_splits), np.empty(n_splits)
    for k in range(n_splits):
        ra, rb, tb = [], [], []
        for s, r, levels, inverse, groups in prepared:
            a = _halves(groups, s.size, rng)
            ra.append(_half_reversal(s, r, levels, inverse, a, method, resolution))
            rb.append(cb := _half_reversal(s, r, levels, inverse, ~a, method, resolution))
            tb.append(asymmetry(s[~a], r[~a], cb, through_reversal=through_reversal).tau)
        rs[k] = _pearson(np.array(tb), np.array(ra))
        rel[k] = _pearson(np.array(ra), np.array(rb))
    return SplitHalf(rs, rel)


def _split_half_hinge(cells, n_splits, rng, resolution):
    """`_split_half_loop` for the hinge with lines through the reversal point, fitted for
    all splits of a neuron at once. The halves are drawn as there (split by split, neuron
    by neuron, size by size); each draw keeps only the per-size counts and response sums
    of the two halves, summed trial by trial in the same order, and the responses' sums
    of squares."""
    prepared = _prepare(cells)
    n_cells = len(prepared)
    width = max(p[2].size for p in prepared)
    sizes = np.array([p[0].size for p in prepared])
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # all neurons' trials in one array; `bins` is each trial's (neuron, size) bin, twice
    # over: even for half A, odd for half B. One bincount per split then sums every bin of
    # both halves, trial by trial in the order of the trials, as `_level_sums` does.
    r_all = np.concatenate([p[1] for p in prepared])
    r2_all = r_all**2
    bins = 2 * (
        np.repeat(np.arange(n_cells), sizes) * width + np.concatenate([p[3] for p in prepared])
    )
    groups = [[g + o for g in p[4]] for p, o in zip(prepared, offset, strict=True)]
    # a half fitted from sums needs 2 sizes with trials; half A gets n // 2 of a size's
    # n trials in every split, half B the rest (all sizes). Other neurons (a size with 2
    # or more trials at most once) go through `_half_reversal`, which refuses them as
    # before (`reversal_point` of half A: fewer than 2 sizes).
    count_a = [np.array([g.size // 2 for g in p[4]], dtype=float) for p in prepared]
    fast = np.array([np.count_nonzero(c) >= 2 for c in count_a])
    slow_masks = {j: [] for j in np.flatnonzero(~fast)}
    total = np.empty((n_splits, n_cells, width, 2))  # the last axis: half A, half B
    rr = np.empty((n_splits, n_cells, 2))
    shape = (n_cells, width, 2)
    for k in range(n_splits):
        chosen = [rng.permutation(idx)[: idx.size // 2] for cell in groups for idx in cell]
        in_b = np.ones(r_all.size, dtype=np.intp)
        in_b[np.concatenate(chosen)] = 0
        key = bins + in_b
        total[k] = np.bincount(key, r_all, total[k].size).reshape(shape)
        # the sum of squares of each half over its sizes' sums (`_level_sums` takes one dot
        # product of the half's responses: the same to rounding, which only shifts every
        # SSE of a fit alike)
        rr[k] = np.bincount(key, r2_all, total[k].size).reshape(shape).sum(axis=1)
        for j, masks in slow_masks.items():
            masks.append(in_b[offset[j] : offset[j] + sizes[j]] == 0)
    ra, rb, tb = (np.empty((n_splits, n_cells)) for _ in range(3))
    for j, (s, r, levels, inverse, _) in enumerate(prepared):
        if not fast[j]:
            for k, a in enumerate(slow_masks[j]):
                ra[k, j] = _half_reversal(s, r, levels, inverse, a, "hinge", resolution)
                rb[k, j] = _half_reversal(s, r, levels, inverse, ~a, "hinge", resolution)
                tb[k, j] = asymmetry(s[~a], r[~a], rb[k, j]).tau
            continue
        nl = levels.size
        count_b = np.bincount(inverse, minlength=nl) - count_a[j]
        keep = count_a[j] > 0
        total_a, total_b = total[:, j, :nl, 0][:, keep], total[:, j, :nl, 1]
        ra[:, j] = _hinge_reversal_rows(
            levels[keep], count_a[j][keep], total_a, rr[:, j, 0], resolution
        )
        rb[:, j] = _hinge_reversal_rows(levels, count_b, total_b, rr[:, j, 1], resolution)
        tb[:, j] = _tau_rows(levels, count_b, total_b, rb[:, j])
    rs = np.array([_pearson(tb[k], ra[k]) for k in range(n_splits)])
    rel = np.array([_pearson(ra[k], rb[k]) for k in range(n_splits)])
    return SplitHalf(rs, rel)


def split_half(
    trials, n_splits=200, rng=None, method="hinge", through_reversal=True, resolution=0.01
):
    """tau from one half of the trials against the reversal point from the other half.

    The control of Dabney et al. 2020 (Fig. 4b and Methods): a neuron's reversal point and
    its asymmetry share noise when both come from the same trials, so the trials of each
    neuron are split at random into two halves (stratified by reward size), the reversal
    point is measured on half A and tau on half B, and the Pearson correlation across
    neurons is taken; this is repeated ``n_splits`` times. tau on half B is fitted around
    half B's own reversal point, so that nothing of half A enters it: fitted around half
    A's, a reversal point measured too high also raises tau (responses between the true
    and the measured point count as below it), which on synthetic populations with
    independent tau and reversal points added about +0.03 to +0.05 to R.

    Parameters
    ----------
    trials : sequence of (sizes, responses), one pair per neuron (at least 3)
    n_splits : int
    rng : numpy.random.Generator or seed
    method, through_reversal, resolution : as for `reversal_point` and `asymmetry`

    Returns
    -------
    SplitHalf
        ``.r`` and ``.reliability`` (Pearson R between the two halves' reversal points),
        one value per split; ``.median``, ``.p5``, ``.p95``, ``.reliability_median``.
    """
    try:
        cells = [_trials(s, r) for s, r in trials]
    except (TypeError, ValueError) as err:
        if isinstance(err, ParamError):
            raise
        raise ParamError("trials: must be a sequence of (sizes, responses) pairs") from None
    if len(cells) < 3:
        raise ParamError(f"trials: need at least 3 neurons for a correlation, got {len(cells)}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 1:
        raise ParamError(f"n_splits: must be a positive integer, got {n_splits!r}")
    if method not in METHODS:
        raise ParamError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    rng = np.random.default_rng(rng)
    try:
        fast = method == "hinge" and through_reversal and resolution > 0
    except TypeError:  # a bad resolution: the loop raises as reversal_point does
        fast = False
    if fast:
        return _split_half_hinge(cells, n_splits, rng, resolution)
    return _split_half_loop(cells, n_splits, rng, method, through_reversal, resolution)


# ---------------------------------------------------------------------------------------
# expectiles and decoding
# ---------------------------------------------------------------------------------------


def expectiles(values, taus, weights=None):
    """Exact tau-expectiles of a discrete distribution (or of samples).

    The tau-expectile e minimises E[|tau - 1{X < e}| (X - e)^2]; it solves
    tau E[(X - e)+] = (1 - tau) E[(e - X)+] (Newey & Powell 1987). The left side minus
    the right is decreasing and piecewise linear in e with knots at the support points,
    so it is solved exactly, knot interval by knot interval. The 0.5-expectile is the
    mean. Dabney et al. 2020 show that the reversal points of dopamine neurons with
    asymmetry tau sit near the tau-expectiles of the reward distribution.

    Parameters
    ----------
    values : array
        Support points, or samples when ``weights`` is None.
    taus : array in (0, 1)
    weights : array or None
        Probabilities (normalised here).

    Returns
    -------
    numpy.ndarray, one expectile per tau.
    """
    v, w = _distribution(values, weights)
    t = _taus(taus)
    order = np.argsort(v)
    v, w = v[order], w[order]
    # at a knot v_k: P(e) = E[(X-e)+], N(e) = E[(e-X)+]
    cw = np.cumsum(w)  # P(X <= v_k)
    cwx = np.cumsum(w * v)
    total = cwx[-1]
    n_at = v * cw - cwx  # E[(v_k - X)+]
    p_at = (total - cwx) - v * (1 - cw)  # E[(X - v_k)+]
    out = np.empty(t.size)
    for i, tau in enumerate(t):
        g = tau * p_at - (1 - tau) * n_at  # decreasing; g(v_0) >= 0 >= g(v_-1)
        k = int(np.searchsorted(-g, 0.0))  # first knot with g <= 0
        if k == 0 or g[k] == 0:
            out[i] = v[k]
            continue
        # on (v_{k-1}, v_k): g(e) = g(v_{k-1}) - (tau (1 - F) + (1 - tau) F) (e - v_{k-1})
        f = cw[k - 1]
        slope = tau * (1 - f) + (1 - tau) * f
        out[i] = v[k - 1] + g[k - 1] / slope
    return out


def _project_simplex(y):
    u = np.sort(y)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, y.size + 1)
    rho = np.flatnonzero(u - css / k > 0)[-1]
    return np.maximum(y - css[rho] / (rho + 1), 0.0)


def decode_distribution(
    reversal_points, taus, bounds=None, n_support=201, ridge=1e-7, max_iter=20000, tol=1e-12
):
    """Expectile imputation: a distribution whose tau-expectiles are the reversal points.

    Dabney et al. 2020 (Fig. 5, Methods) decode a reward distribution from the neurons'
    reversal points, read as expectiles at the neurons' asymmetries tau, by imputation
    (Rowland et al. 2019): find a distribution that minimises the squared expectile
    conditions, sum_i (E_Z[|tau_i - 1{Z <= e_i}| (Z - e_i)])^2, which are zero exactly
    when e_i is the tau_i-expectile of Z. The authors optimise the positions of a set of
    samples Z from random starts. Here Z lives on a fixed grid of ``n_support`` points
    spanning ``bounds`` and the unknowns are its probabilities p: for a fixed grid each
    condition is linear in p, so the objective is a convex quadratic on the probability
    simplex, solved deterministically by accelerated projected gradient (FISTA). A small
    ridge penalty ``ridge * |p|^2`` picks, among the distributions that meet the
    conditions equally well, the most spread-out one.

    Parameters
    ----------
    reversal_points : array (>= 2 neurons)
    taus : array in (0, 1), one per neuron
    bounds : (low, high) or None
        Support of the decoded distribution (e.g. the task's reward range); default: the
        range of the reversal points widened by that range on each side.
    n_support : int
        Grid points.
    ridge, max_iter, tol : optimisation settings (``ridge`` is relative to the scale of the
        conditions, which are measured in units of ``high - low``).

    Returns
    -------
    (values, weights) : numpy arrays
        The grid and its probabilities (sum 1).
    """
    e = _vector(reversal_points, "reversal_points", min_len=2)
    t = _taus(taus)
    if t.size != e.size:
        raise ParamError(f"taus: {t.size} taus for {e.size} reversal points")
    if bounds is None:
        span = max(float(e.max() - e.min()), 1e-9)
        bounds = (e.min() - span, e.max() + span)
    lo, hi = _interval(bounds, "bounds")
    if isinstance(n_support, bool) or not isinstance(n_support, int | np.integer) or n_support < 2:
        raise ParamError(f"n_support: must be an integer >= 2, got {n_support!r}")
    x = np.linspace(lo, hi, int(n_support))
    d = (x[None, :] - e[:, None]) / (hi - lo)
    a = np.abs(t[:, None] - (d <= 0)) * d  # condition i is (a @ p)_i = 0
    q = a.T @ a / e.size + ridge * np.eye(x.size)
    step = 1.0 / (2 * np.linalg.eigvalsh(q)[-1])
    p = np.full(x.size, 1.0 / x.size)
    y, theta = p.copy(), 1.0
    for _ in range(int(max_iter)):
        p_new = _project_simplex(y - step * 2 * (q @ y))
        theta_new = (1 + np.sqrt(1 + 4 * theta**2)) / 2
        y = p_new + (theta - 1) / theta_new * (p_new - p)
        done = np.abs(p_new - p).max() < tol
        p, theta = p_new, theta_new
        if done:
            break
    p = np.maximum(p, 0.0)
    return x, p / p.sum()


# ---------------------------------------------------------------------------------------
# distances and references
# ---------------------------------------------------------------------------------------


def wasserstein1(u_values, v_values, u_weights=None, v_weights=None):
    """1-Wasserstein distance between two 1-D distributions: the integral of |F_u - F_v|.

    Each distribution is samples, or support points with weights. Dabney et al. 2020
    (Fig. 5) compare decoded reward distributions with the true one by this distance.
    """
    u, uw = _distribution(u_values, u_weights, "u_values", "u_weights")
    v, vw = _distribution(v_values, v_weights, "v_values", "v_weights")
    allv = np.concatenate([u, v])
    order = np.argsort(allv, kind="stable")
    xs = allv[order]
    cu = np.cumsum(np.concatenate([uw, np.zeros(v.size)])[order])
    cv = np.cumsum(np.concatenate([np.zeros(u.size), vw])[order])
    return float(np.sum(np.abs(cu - cv)[:-1] * np.diff(xs)))


def references(values, weights=None, n=2001):
    """The references a decoded distribution is compared with (Dabney et al. 2020, Fig. 5).

    ``"uniform"``: uniform over [min, max] of the true support; ``"gaussian"``: the
    Gaussian with the true mean and standard deviation (not truncated). Both are returned
    as ``(values, weights)`` on ``n`` points: the uniform's quantile midpoints, and the
    Gaussian's density on mean +/- 6 sd (normalised), fine enough that their W1 to any
    distribution is within about (range / n) of the continuous one's.
    """
    v, w = _distribution(values, weights)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ParamError(f"n: must be an integer >= 2, got {n!r}")
    lo, hi = float(v.min()), float(v.max())
    uni = lo + (hi - lo) * (np.arange(n) + 0.5) / n
    mean = float(np.dot(v, w))
    sd = float(np.sqrt(np.dot((v - mean) ** 2, w)))
    if sd == 0:
        gauss = (np.array([mean]), np.array([1.0]))
    else:
        g = np.linspace(mean - 6 * sd, mean + 6 * sd, n)
        dens = np.exp(-0.5 * ((g - mean) / sd) ** 2)
        gauss = (g, dens / dens.sum())
    return {"uniform": (uni, np.full(n, 1.0 / n)), "gaussian": gauss}


# ---------------------------------------------------------------------------------------
# optimism in the 10/50/90 % task
# ---------------------------------------------------------------------------------------


def optimism_index(r10, r50, r90):
    """(R50 - R10) / (R90 - R10) per neuron, from the cue responses of the task whose
    cues predict reward with probability 10, 50 and 90 % (Dabney et al. 2020, Fig. 3):
    above 0.5 an optimistic neuron, below a pessimistic one. NaN where R90 == R10.
    """
    a = _vector(r10, "r10")
    b = _vector(r50, "r50")
    c = _vector(r90, "r90")
    if b.size != a.size:
        raise ParamError(f"r50: {b.size} values for {a.size} neurons")
    if c.size != a.size:
        raise ParamError(f"r90: {c.size} values for {a.size} neurons")
    den = c - a
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0, (b - a) / np.where(den != 0, den, 1.0), np.nan)


def expectile_optimism(taus, probs=(0.1, 0.5, 0.9)):
    """The optimism index that a perfect expectile code predicts in the 10/50/90 task:
    (e50 - e10) / (e90 - e10) of the tau-expectiles of the three cues' rewards, each 1
    with the cue's probability and 0 otherwise (Dabney et al. 2020, Fig. 3). The
    tau-expectile of such a reward is tau p / (tau p + (1 - tau)(1 - p)), so tau = 0.5
    gives the probabilities' own index, 0.5 for 10/50/90, and tau = 0.2 gives 0.26.
    ``probs``: three probabilities in (0, 1), increasing."""
    t = _taus(taus)
    p = _vector(probs, "probs")
    if p.size != 3 or np.any(np.diff(p) <= 0) or p[0] <= 0 or p[-1] >= 1:
        raise ParamError(f"probs: {list(p)}; allowed: three increasing values in (0, 1)")
    e = [expectiles([0.0, 1.0], t, weights=[1 - q, q]) for q in p]
    return (e[1] - e[0]) / (e[2] - e[0])


def optimism_test(r10, r50, r90):
    """Is a neuron (or a channel) optimistic or pessimistic about the 50 % cue?

    The optimism index is above 0.5 when the mean 50 % response lies above the midpoint
    of the 10 % and 90 % means. The test compares the trial responses to the 50 % cue
    with midpoint trials, (R10_k + R90_k) / 2 for the k-th trial of each cue (as many as
    the smaller of the two; no trial used twice, so the midpoints are independent), by a
    two-sided Mann-Whitney test (`dopasim.analysis.mann_whitney`).

    Returns
    -------
    (index, p, direction)
        The optimism index of the trial means (`optimism_index`), the test's p, and +1
        (50 % responses above the midpoints), -1 (below) or 0 (U exactly at its null
        mean).
    """
    a, b, c = (_vector(v, n) for v, n in ((r10, "r10"), (r50, "r50"), (r90, "r90")))
    n = min(a.size, c.size)
    mid = 0.5 * (a[:n] + c[:n])
    u, p = mann_whitney(b, mid)
    direction = int(np.sign(u - b.size * mid.size / 2.0))
    index = float(optimism_index([a.mean()], [b.mean()], [c.mean()])[0])
    return index, p, direction

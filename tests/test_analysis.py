"""Tests of dopasim.analysis: hand-computed examples, Poisson statistics, edge cases, errors.

Statistical tolerances are fixed up front from the expected standard errors (all seeds are
fixed, so the tests are deterministic; the margins are several standard errors wide).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dopasim.analysis import (
    burst_analysis,
    cv_below_fraction,
    isi_cv,
    mean_rate,
    neuron_order,
    population_psth,
    spearman_rho,
    weight_drift,
    window_ratio,
)

EMPTY_I = np.array([], dtype=np.int64)
EMPTY_T = np.array([], dtype=np.float64)


def poisson_population(rng, n_neurons, rate_hz, t_stop, t_start=0.0):
    """Homogeneous Poisson spikes of ``n_neurons`` neurons in ``[t_start, t_stop)``."""
    counts = rng.poisson(rate_hz * (t_stop - t_start), size=n_neurons)
    i = np.repeat(np.arange(n_neurons), counts)
    t = rng.uniform(t_start, t_stop, size=i.size)
    perm = rng.permutation(i.size)  # unsorted input on purpose
    return i[perm], t[perm]


def reference_bursts(times, start_isi, end_isi):
    """Sequential Grace & Bunney detection for one neuron: list of (first, last) indices."""
    times = np.sort(times)
    bursts, k = [], 0
    while k < times.size - 1:
        if times[k + 1] - times[k] < start_isi:
            j = k
            while j < times.size - 1 and times[j + 1] - times[j] <= end_isi:
                j += 1
            bursts.append((k, j))
            k = j + 1
        else:
            k += 1
    return bursts


# ---------------------------------------------------------------------------------------
# population_psth
# ---------------------------------------------------------------------------------------


def test_psth_hand_example_half_open_bins():
    # Binary fractions keep t - a exact. Edges: -0.5, -0.25, 0, 0.25, 0.5.
    i = np.array([0, 0, 1, 0, 1, 1, 0])
    t = np.array([1.5, 1.75, 2.0, 2.125, 2.25, 2.5, 9.0])
    edges, rate = population_psth(i, t, 2, [2.0], window=(-0.5, 0.5), bin_width=0.25)
    np.testing.assert_array_equal(edges, [-0.5, -0.25, 0.0, 0.25, 0.5])
    # counts per bin: [1.5], [1.75], [2.0, 2.125], [2.25]; 2.5 is at the open right edge
    np.testing.assert_allclose(rate, [[1, 1, 2, 1]] / np.float64(2 * 0.25))
    assert rate.shape == (1, 4)


def test_psth_default_window_shape_and_trials():
    i = np.array([0, 0])
    t = np.array([10.0, 20.0])
    edges, rate = population_psth(i, t, 4, [10.0, 20.0, 30.0])
    assert edges.shape == (61,)
    assert edges[0] == -1.0 and edges[-1] == 2.0
    assert rate.shape == (3, 60)
    np.testing.assert_allclose(rate.sum(axis=1) * 4 * 0.05, [1, 1, 0])


def test_psth_poisson_rate():
    rng = np.random.default_rng(1)
    n, rate_hz = 100, 20.0
    i, t = poisson_population(rng, n, rate_hz, t_stop=160.0)
    align = np.arange(2.0, 150.0, 3.0)  # 50 trials, windows fully inside the recording
    _, rate = population_psth(i, t, n, align)
    mean_psth = rate.mean(axis=0)
    # Each trial-averaged bin holds ~5000 spikes (SE 1.4 %); the grand mean ~3e5 (SE 0.2 %).
    assert mean_psth.mean() == pytest.approx(rate_hz, rel=0.02)
    np.testing.assert_allclose(mean_psth, rate_hz, rtol=0.08)


def test_psth_no_spikes_and_no_trials():
    edges, rate = population_psth(EMPTY_I, EMPTY_T, 3, [1.0, 2.0], window=(0, 1), bin_width=0.5)
    np.testing.assert_array_equal(rate, np.zeros((2, 2)))
    edges, rate = population_psth([0], [1.0], 3, [], window=(0, 1), bin_width=0.5)
    assert rate.shape == (0, 2)
    np.testing.assert_array_equal(edges, [0.0, 0.5, 1.0])


def test_psth_align_times_near_edges_of_recording():
    i, t = np.array([0, 0, 0]), np.array([0.0, 0.5, 4.0])
    _, rate = population_psth(i, t, 1, [0.0, 4.0, -10.0, 100.0], window=(-1, 2), bin_width=1)
    np.testing.assert_array_equal(rate, [[0, 2, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_psth_scalar_align_time_and_float_indices():
    _, rate = population_psth(np.array([0.0, 1.0]), [0.25, 0.75], 2, 0.0, (0, 1), 0.5)
    np.testing.assert_allclose(rate, [[1.0, 1.0]])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    t=st.lists(st.floats(0.0, 20.0, allow_nan=False), max_size=60),
    align=st.lists(st.floats(-2.0, 22.0, allow_nan=False), max_size=6),
    lo=st.floats(-2.0, 1.0, allow_nan=False),
    n_bins=st.integers(1, 40),
    bin_width=st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.25, 0.3]),
    n_neurons=st.integers(1, 7),
)
def test_psth_total_count_equals_spikes_in_window(t, align, lo, n_bins, bin_width, n_neurons):
    t = np.array(t, dtype=np.float64)
    i = np.arange(t.size) % n_neurons
    hi = lo + n_bins * bin_width
    edges, rate = population_psth(i, t, n_neurons, align, window=(lo, hi), bin_width=bin_width)
    counts = rate * n_neurons * bin_width
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    for trial, a in enumerate(align):
        rel = t - a
        expected = np.count_nonzero((rel >= edges[0]) & (rel < edges[-1]))
        assert round(counts[trial].sum()) == expected


# ---------------------------------------------------------------------------------------
# window_ratio
# ---------------------------------------------------------------------------------------


def test_window_ratio_hand_example():
    edges = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    rates = np.array([[1.0, 3.0, 8.0, 4.0], [3.0, 1.0, 4.0, 0.0]])  # mean: 2, 2, 6, 2
    assert window_ratio(rates, edges, (0, 1), (-1, 0)) == pytest.approx(3.0)
    assert window_ratio(rates, edges, (0, 1), (-1, 0), stat="min") == pytest.approx(1.0)
    assert window_ratio(rates, edges, (0, 1), (-1, 0), stat="mean") == pytest.approx(2.0)
    # Only whole bins count: (0, 0.9) keeps just [0, 0.5).
    assert window_ratio(rates, edges, (0, 0.9), (-1, 0), stat="min") == pytest.approx(3.0)
    # A 1-D PSTH is one trial.
    assert window_ratio(rates[0], edges, (0, 0.5), (-1, 0)) == pytest.approx(4.0)


def test_window_ratio_floating_edges_are_inside():
    edges, rate = population_psth([0], [0.0], 1, [5.0])  # edges -1 + k * 0.05
    rate = np.ones_like(rate)
    rate[0, 20:26] = 3.0  # bins [0, 0.3): 6 bins, edge 26 is 0.30000000000000004
    rate[0, 25] = 9.0  # the last bin [0.25, 0.3) must count
    assert edges[26] > 0.3
    assert window_ratio(rate, edges, (0, 0.3), (-1.0, 0), stat="max") == pytest.approx(9.0)
    assert window_ratio(rate, edges, (0, 0.3), (-1.0, 0), stat="mean") == pytest.approx(4.0)
    # ... and the bin [0.3, 0.35) must not, although its left edge is 0.30000000000000004.
    rate[0, 26] = 100.0
    assert window_ratio(rate, edges, (0, 0.3), (-1.0, 0), stat="max") == pytest.approx(9.0)


def test_window_ratio_poisson_step():
    rng = np.random.default_rng(2)
    n = 50
    i0, t0 = poisson_population(rng, n, 10.0, t_stop=200.0)
    align = np.arange(2.0, 190.0, 4.0)  # 47 trials
    extra = [poisson_population(rng, n, 20.0, a + 0.3, t_start=a) for a in align]
    i = np.concatenate([i0] + [e[0] for e in extra])
    t = np.concatenate([t0] + [e[1] for e in extra])
    edges, rate = population_psth(i, t, n, align)
    # Response 30 Hz over 10 Hz; 47 trials * 50 neurons give SE ~ 2 % on each mean.
    assert window_ratio(rate, edges, (0, 0.3), (-1, 0), stat="mean") == pytest.approx(3, rel=0.1)
    assert window_ratio(rate, edges, (0.5, 2.0), (-1, 0), stat="mean") == pytest.approx(1, rel=0.1)


def test_window_ratio_nan_cases():
    edges = np.array([-1.0, 0.0, 1.0])
    assert math.isnan(window_ratio(np.array([[0.0, 5.0]]), edges, (0, 1), (-1, 0)))
    assert math.isnan(window_ratio(np.zeros((0, 2)), edges, (0, 1), (-1, 0)))


# ---------------------------------------------------------------------------------------
# burst_analysis
# ---------------------------------------------------------------------------------------


def test_burst_hand_example_from_brief():
    t = np.array([0.0, 0.05, 0.1, 0.14, 0.5])
    out = burst_analysis(np.zeros(5, dtype=int), t, 1)
    assert out["n_bursts"] == 1
    assert out["mean_spikes_per_burst"] == 4.0
    assert out["intraburst_hz"] == pytest.approx(3 / 0.14)
    assert out["fraction_spikes_in_bursts"] == pytest.approx(0.8)
    assert isinstance(out["n_bursts"], int)


def test_burst_starts_late_and_continues_to_end_isi():
    # ISIs 0.1 (no onset), 0.05 (onset), 0.15 (<= 0.16, continues), 0.2 (ends).
    t = np.array([0.0, 0.1, 0.15, 0.3, 0.5])
    out = burst_analysis(np.zeros(5, dtype=int), t, 1)
    assert out["n_bursts"] == 1
    assert out["mean_spikes_per_burst"] == 3.0
    assert out["intraburst_hz"] == pytest.approx(2 / 0.2)
    assert out["fraction_spikes_in_bursts"] == pytest.approx(3 / 5)


def test_burst_thresholds_are_strict_and_inclusive():
    # start_isi 0.25 (strict <), end_isi 0.5 (inclusive <=); exact binary fractions.
    i = np.zeros(4, dtype=int)
    out = burst_analysis(i, [0.0, 0.125, 0.625, 1.25], 1, start_isi=0.25, end_isi=0.5)
    assert (out["n_bursts"], out["mean_spikes_per_burst"]) == (1, 3.0)
    out = burst_analysis(i[:2], [0.0, 0.25], 1, start_isi=0.25, end_isi=0.5)
    assert out["n_bursts"] == 0
    assert math.isnan(out["intraburst_hz"]) and math.isnan(out["mean_spikes_per_burst"])
    assert out["fraction_spikes_in_bursts"] == 0.0


def test_burst_two_neurons_interleaved_do_not_merge():
    # Neuron 0: burst 0, 0.05; neuron 1: burst 0.02, 0.04, 0.06; 1 s apart otherwise.
    i = np.array([1, 0, 1, 0, 1, 0, 1])
    t = np.array([0.02, 0.0, 0.04, 0.05, 0.06, 1.0, 2.0])
    out = burst_analysis(i, t, 3)
    assert out["n_bursts"] == 2
    assert out["mean_spikes_per_burst"] == 2.5
    assert out["intraburst_hz"] == pytest.approx((1 / 0.05 + 2 / 0.04) / 2)
    assert out["fraction_spikes_in_bursts"] == pytest.approx(5 / 7)


def test_burst_matches_sequential_reference_on_random_trains():
    rng = np.random.default_rng(3)
    n = 20
    i, t = poisson_population(rng, n, 8.0, t_stop=30.0)
    out = burst_analysis(i, t, n)
    bursts = []
    for k in range(n):
        tk = np.sort(t[i == k])
        bursts += [
            (b - a + 1, (b - a) / (tk[b] - tk[a])) for a, b in reference_bursts(tk, 0.08, 0.16)
        ]
    sizes, intra = np.array(bursts).T
    assert out["n_bursts"] == len(bursts) > 50
    assert out["mean_spikes_per_burst"] == pytest.approx(sizes.mean())
    assert out["intraburst_hz"] == pytest.approx(intra.mean())
    assert out["fraction_spikes_in_bursts"] == pytest.approx(sizes.sum() / t.size)


def test_burst_no_spikes_and_one_spike():
    out = burst_analysis(EMPTY_I, EMPTY_T, 5)
    assert out["n_bursts"] == 0
    assert all(math.isnan(out[k]) for k in ("intraburst_hz", "fraction_spikes_in_bursts"))
    out = burst_analysis([2], [1.0], 5)
    assert out["n_bursts"] == 0 and out["fraction_spikes_in_bursts"] == 0.0


# ---------------------------------------------------------------------------------------
# neuron_order and the sort by neuron (against the lexsort they replace)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, low, high",
    [
        (np.int32, 0, 200),  # sorted as 8 bits
        (np.int64, 0, 400),  # sorted as 16 bits
        (np.int32, 0, 70_000),  # too wide: sorted as it is
        (np.int64, -3, 50),  # negative: sorted as it is
        (np.uint16, 0, 400),
        (np.float64, 0, 30),
    ],
)
def test_neuron_order_is_the_stable_argsort(dtype, low, high):
    rng = np.random.default_rng(5)
    i = rng.integers(low, high, 20_000).astype(dtype)
    np.testing.assert_array_equal(neuron_order(i), np.argsort(i, kind="stable"))
    assert neuron_order(np.array([], dtype=np.int32)).size == 0


def _lexsort_by_neuron(i, t):
    """`_sorted_by_neuron` as it was: a lexsort by neuron, then time."""
    order = np.lexsort((t, i))
    i_s, t_s = i[order], t[order]
    return i_s, t_s, i_s[1:] == i_s[:-1]


def _bursty_population(rng, n, in_time_order):
    """Poisson spikes with bursts, on a 1 ms grid (ties between neurons, none within
    one), in time order as a monitor gives them or shuffled."""
    i, t = poisson_population(rng, n, 6.0, t_stop=40.0)
    onsets = rng.uniform(0, 40.0, 30 * n)
    i_b = np.repeat(rng.integers(0, n, onsets.size), 4)
    t_b = np.repeat(onsets, 4) + np.tile([0.0, 0.03, 0.07, 0.2], onsets.size)
    i, t = np.concatenate((i, i_b)), np.round(np.concatenate((t, t_b)), 3)
    _, first = np.unique(i * 10**6 + np.rint(t * 1000).astype(np.int64), return_index=True)
    i, t = i[first], t[first]
    order = np.argsort(t, kind="stable") if in_time_order else rng.permutation(t.size)
    return i[order].astype(np.int32), t[order]


@pytest.mark.parametrize("in_time_order", [True, False])
def test_bursts_and_cvs_are_those_of_the_lexsort(in_time_order, monkeypatch):
    """burst_analysis and isi_cv give exactly what they gave with the lexsort."""
    from dopasim import analysis

    rng = np.random.default_rng(11)
    n = 300
    i, t = _bursty_population(rng, n, in_time_order)
    assert np.any(np.diff(t) == 0)  # ties in time between neurons
    i64, t64, _ = analysis._spikes(i, t, n)
    for new, old in zip(
        analysis._sorted_by_neuron(i64, t64), _lexsort_by_neuron(i64, t64), strict=True
    ):
        assert new.dtype == old.dtype
        np.testing.assert_array_equal(new, old)
    bursts, cvs = burst_analysis(i, t, n), isi_cv(i, t, n)
    assert bursts["n_bursts"] > 100
    monkeypatch.setattr(analysis, "_sorted_by_neuron", _lexsort_by_neuron)
    assert burst_analysis(i, t, n) == bursts
    np.testing.assert_array_equal(isi_cv(i, t, n), cvs)


# ---------------------------------------------------------------------------------------
# isi_cv and cv_below_fraction
# ---------------------------------------------------------------------------------------


def test_cv_regular_train_is_zero_and_poisson_is_one():
    rng = np.random.default_rng(4)
    regular = np.arange(100) * 0.125
    isis = rng.exponential(0.05, size=20_000)
    poisson = np.cumsum(isis)
    i = np.concatenate([np.zeros(100, dtype=int), np.ones(poisson.size, dtype=int)])
    t = np.concatenate([regular, poisson])
    perm = rng.permutation(t.size)
    cv = isi_cv(i[perm], t[perm], 3)
    assert cv[0] == pytest.approx(0.0, abs=1e-12)
    assert cv[1] == pytest.approx(1.0, abs=0.03)  # SE of the CV ~ 0.007
    assert math.isnan(cv[2])


def test_cv_hand_example_and_min_spikes():
    # ISIs 1, 3: mean 2, std 1 -> CV 0.5.
    cv = isi_cv([0, 0, 0, 1, 1], [0.0, 1.0, 4.0, 0.0, 1.0], 2, min_spikes=3)
    assert cv[0] == pytest.approx(0.5)
    assert math.isnan(cv[1])
    assert math.isnan(isi_cv([0, 0, 0], [0.0, 1.0, 4.0], 1)[0])  # default min_spikes=5


def test_cv_no_spikes():
    cv = isi_cv(EMPTY_I, EMPTY_T, 4)
    assert cv.shape == (4,) and np.all(np.isnan(cv))


def test_cv_below_fraction():
    assert cv_below_fraction([0.1, 0.4, 0.5, 1.2, np.nan]) == pytest.approx(0.5)
    assert cv_below_fraction([0.1, 0.4], threshold=0.2) == pytest.approx(0.5)
    assert math.isnan(cv_below_fraction([np.nan, np.nan]))
    assert math.isnan(cv_below_fraction([]))


# ---------------------------------------------------------------------------------------
# mean_rate
# ---------------------------------------------------------------------------------------


def test_mean_rate_hand_example_half_open():
    i = [0, 1, 1, 2, 0]
    t = [0.0, 0.5, 1.0, 2.0, -1.0]  # 2.0 is at the open end, -1.0 before the start
    assert mean_rate(i, t, 4, 0.0, 2.0) == pytest.approx(3 / (4 * 2.0))


def test_mean_rate_poisson():
    rng = np.random.default_rng(5)
    i, t = poisson_population(rng, 100, 20.0, t_stop=12.0)
    # 2e4 spikes in [1, 11): SE 0.7 %.
    assert mean_rate(i, t, 100, 1.0, 11.0) == pytest.approx(20.0, rel=0.05)


def test_mean_rate_no_spikes():
    assert mean_rate(EMPTY_I, EMPTY_T, 3, 0.0, 1.0) == 0.0
    assert mean_rate([], [], 3, 0.0, 1.0) == 0.0


# ---------------------------------------------------------------------------------------
# spearman_rho
# ---------------------------------------------------------------------------------------


def test_spearman_known_values():
    x = np.arange(1.0, 6.0)
    assert spearman_rho(x, x**3 + 7) == pytest.approx(1.0)
    assert spearman_rho(x, -np.exp(x)) == pytest.approx(-1.0)
    # No ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 4 / 120.
    assert spearman_rho(x, [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # Ties: y ranks 1, 2, 3.5, 5, 3.5 -> rho = 8 / sqrt(10 * 9.5).
    assert spearman_rho(x, [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert spearman_rho([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(4 / math.sqrt(20))


def test_spearman_nan_cases():
    assert math.isnan(spearman_rho([1, 2, 3], [4, 4, 4]))
    assert math.isnan(spearman_rho([2, 2], [1, 3]))
    assert math.isnan(spearman_rho([1.0], [2.0]))
    assert math.isnan(spearman_rho([], []))


# ---------------------------------------------------------------------------------------
# Error paths
# ---------------------------------------------------------------------------------------

I2, T2 = np.array([0, 1]), np.array([0.1, 0.2])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: population_psth(I2, T2, 2, [0.0], bin_width=-0.05), r"bin_width.*-0\.05"),
        (lambda: population_psth(I2, T2, 2, [0.0], bin_width=0.0), "bin_width"),
        (lambda: population_psth(I2, T2, 2, [0.0], window=(1.0, -1.0)), r"window.*\(1\.0, -1\.0\)"),
        (lambda: population_psth(I2, T2, 2, [0.0], window=(0.0, 0.0)), "window"),
        (lambda: population_psth(I2, T2, 2, [0.0], window=(0, 1), bin_width=0.3), "multiple"),
        (lambda: population_psth(I2, T2, 2, [0.0], window=(0, np.inf)), "window"),
        (lambda: population_psth(I2, T2, 2, [0.0], window=3.0), "window"),
        (lambda: population_psth(I2, T2, 2, [np.nan]), "align_times"),
        (lambda: population_psth(I2, T2, 0, [0.0]), "n_neurons.*0"),
        (lambda: population_psth(I2, T2, -3, [0.0]), "n_neurons.*-3"),
        (lambda: population_psth(I2, T2, 2.0, [0.0]), "n_neurons"),
        (lambda: population_psth(I2, T2, True, [0.0]), "n_neurons"),
        (lambda: population_psth(I2, T2[:1], 2, [0.0]), r"len\(i\)=2.*len\(t\)=1"),
        (lambda: population_psth([0, 2], T2, 2, [0.0]), r"i must lie.*got 2"),
        (lambda: population_psth([0, -1], T2, 2, [0.0]), r"i must lie.*got -1"),
        (lambda: population_psth([0, 0.5], T2, 2, [0.0]), "integer"),
        (lambda: population_psth(I2, [0.1, np.nan], 2, [0.0]), r"\bt\b.*finite"),
        (lambda: mean_rate(I2, T2, 0, 0.0, 1.0), "n_neurons"),
        (lambda: mean_rate(I2, T2, 2, 1.0, 1.0), "t_stop"),
        (lambda: mean_rate(I2, T2[:1], 2, 0.0, 1.0), "same length"),
        (lambda: mean_rate(I2, T2, 2, 0.0, np.nan), "t_stop"),
        (lambda: burst_analysis(I2, T2, -1), "n_neurons"),
        (lambda: burst_analysis(I2, T2, 2, start_isi=-0.08), "start_isi"),
        (lambda: burst_analysis(I2, T2, 2, end_isi=0.05), r"end_isi.*0\.05"),
        (lambda: burst_analysis([0, 0], [0.1, 0.1], 2), "same time"),
        (lambda: isi_cv(I2, T2[:1], 2), "same length"),
        (lambda: isi_cv(I2, T2, 2, min_spikes=2), "min_spikes.*2"),
        (lambda: isi_cv(I2, T2, 0), "n_neurons"),
        (lambda: cv_below_fraction([0.1, -0.2]), "cvs.*-0.2"),
        (lambda: cv_below_fraction([[0.1]]), "cvs"),
        (lambda: cv_below_fraction([0.1], threshold=np.nan), "threshold"),
        (lambda: spearman_rho([1, 2, 3], [1, 2]), r"len\(x\)=3.*len\(y\)=2"),
        (lambda: spearman_rho([1, np.inf], [1, 2]), r"\bx\b.*finite"),
        (lambda: spearman_rho(["a", "b"], [1, 2]), r"\bx\b"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


EDGES = np.array([-1.0, 0.0, 1.0])
RATES = np.array([[1.0, 2.0]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stat": "median"}, "stat.*'median'"),
        ({"window": (1, 0)}, r"window.*\(1, 0\)"),
        ({"baseline": (0, -1)}, "baseline"),
        ({"window": (0, 0.5)}, "no whole bin"),
        ({"baseline": (5, 6)}, "baseline.*no whole bin"),
        ({"bin_edges": np.array([0.0, 0.0, 1.0])}, "bin_edges"),
        ({"bin_edges": np.array([-1.0, 1.0])}, "bins"),
        ({"psth_rates": np.ones((1, 2, 1))}, "psth_rates"),
        ({"psth_rates": np.array([[1.0, np.nan]])}, "psth_rates"),
    ],
)
def test_window_ratio_bad_input(kwargs, match):
    args = {
        "psth_rates": RATES,
        "bin_edges": EDGES,
        "window": (0, 1),
        "baseline": (-1, 0),
        "stat": "max",
    } | kwargs
    with pytest.raises(ValueError, match=match):
        window_ratio(**args)


# ---------------------------------------------------------------------------------------
# weight_drift
# ---------------------------------------------------------------------------------------


def test_weight_drift_recovers_a_known_drift_and_diffusion():
    """An Ornstein-Uhlenbeck walk w' = w - theta (w - mu) + sigma xi, far from any bound:
    the drift per step in each bin is -theta (w - mu) at the bin's mean weight w, and the
    SD is sigma."""
    rng = np.random.default_rng(0)
    theta, mu, sigma = 0.05, 0.5, 0.01
    w = np.empty((2000, 400))
    w[:, 0] = rng.uniform(0.3, 0.7, 2000)
    for k in range(1, w.shape[1]):
        w[:, k] = w[:, k - 1] - theta * (w[:, k - 1] - mu) + sigma * rng.standard_normal(2000)
    edges = np.array([0.35, 0.45, 0.55, 0.65])
    out = weight_drift(w, edges)
    # drift -theta (w - mu) at each bin's mean weight; its standard error is about
    # sigma / sqrt(n), below 3e-4 in every bin
    assert np.all((out["weight"] >= edges[:-1]) & (out["weight"] < edges[1:]))
    assert out["drift"] == pytest.approx(-theta * (out["weight"] - mu), abs=1e-3)
    assert out["sd"] == pytest.approx(sigma, rel=0.03)
    assert np.all(out["n"] > 1000) and np.all(out["moved"] == 1.0)


def test_weight_drift_shows_the_drift_a_bound_makes_of_pure_diffusion():
    """Zero-mean steps, clipped at 0: next to the bound the mean change is positive
    (about sigma / sqrt(2 pi) at the bound itself), far from it zero."""
    rng = np.random.default_rng(1)
    sigma = 0.02
    w = np.zeros((4000, 300))
    for k in range(1, w.shape[1]):
        w[:, k] = np.maximum(w[:, k - 1] + sigma * rng.standard_normal(4000), 0.0)
    out = weight_drift(w, [0.0, 0.005, 0.1, 0.2], start=1)
    assert out["drift"][0] > 0.5 * sigma / np.sqrt(2 * np.pi)
    assert abs(out["drift"][2]) < 0.05 * sigma
    assert out["moved"][0] < 1.0  # clipped steps at the bound do not move


def test_weight_drift_counts_weights_at_the_last_edge_in_the_last_bin():
    """The last bin is closed: a weight at the upper bound (edges[-1]) is counted."""
    w = np.array([[1.0, 0.9, 1.0], [0.2, 0.3, 0.3]])
    out = weight_drift(w, [0.0, 0.5, 1.0])
    assert list(out["n"]) == [2, 2]
    assert out["drift"][1] == pytest.approx((-0.1 + 0.1) / 2)
    assert out["weight"][1] == pytest.approx(0.95)
    assert out["moved"][0] == pytest.approx(0.5)


def test_weight_drift_refuses_bad_input():
    w = np.zeros((3, 5))
    for args, needle in (
        ((np.zeros(5), [0, 1]), "samples"),
        ((w, [1, 0]), "edges"),
        ((w, [0.5]), "edges"),
        ((w, [0, 1], 4), "start"),
        ((w, [0, 1], -1), "start"),
        ((np.full((2, 3), np.nan), [0, 1]), "samples"),
    ):
        with pytest.raises(ValueError, match=needle):
            weight_drift(*args)
    with pytest.raises(ValueError, match="^start"):
        weight_drift(w, [0, 1], 4)
    empty = weight_drift(w, [1.0, 2.0])  # no step in the bin
    assert empty["n"][0] == 0 and np.isnan(empty["drift"][0])

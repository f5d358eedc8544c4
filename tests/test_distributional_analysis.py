"""The analysis layer of the distributional dopamine code (Dabney et al. 2020, Nature 577:671).

Synthetic neurons follow the paper's asymmetric-scaling model: the mean response to a
reward of size x is alpha+ (x - r) above the reversal point r and alpha- (x - r) below it,
with tau = alpha+ / (alpha+ + alpha-); trial-to-trial noise is Gaussian and seeded.
"""

import numpy as np
import pytest

from dopasim import distributional as dist
from dopasim.params import ParamError

SIZES = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
PROBS = np.array([0.066, 0.091, 0.148, 0.155, 0.312, 0.151, 0.077])


def neuron(rng, reversal, tau, n_per_size=30, noise=0.5, gain=1.0):
    """Per-trial (sizes, responses) of one synthetic neuron."""
    sizes = np.repeat(SIZES, n_per_size)
    d = sizes - reversal
    mean = gain * np.where(d > 0, tau * d, (1 - tau) * d)
    return sizes, mean + noise * rng.standard_normal(sizes.size)


# ---------------------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------------------


def test_responses_are_window_rate_minus_baseline_rate():
    rewards = np.array([10.0, 20.0])
    # trial 1: 4 spikes in [10.2, 10.6) -> 10 Hz; 2 in [9, 10) -> 2 Hz; response 8 Hz
    # trial 2: no spike in the window, 1 in the baseline -> -1 Hz
    spikes = np.array([9.1, 9.5, 10.25, 10.3, 10.4, 10.55, 10.7, 19.5])
    out = dist.responses(spikes, rewards)
    np.testing.assert_allclose(out, [8.0, -1.0])


def test_responses_reject_a_bad_window():
    with pytest.raises(ParamError, match="window"):
        dist.responses([1.0], [2.0], window=(0.6, 0.2))


# ---------------------------------------------------------------------------------------
# reversal points and asymmetry
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reversal", "tau"), [(1.8, 0.3), (4.0, 0.5), (6.5, 0.7), (3.2, 0.8), (8.0, 0.25)]
)
def test_a_synthetic_neuron_gives_back_its_reversal_point_and_asymmetry(reversal, tau):
    rng = np.random.default_rng(1)
    sizes, resp = neuron(rng, reversal, tau)
    r = dist.reversal_point(sizes, resp)
    assert abs(r - reversal) < 0.5, r
    t = dist.asymmetry(sizes, resp, r)
    assert abs(t.tau - tau) < 0.07, t
    assert t.alpha_pos > 0 and t.alpha_neg > 0


def test_hinge_fit_from_per_size_sums_equals_the_per_trial_least_squares():
    """The hinge's SSE (from each size's count and sum) against a brute-force oracle:
    ordinary least squares of each side's slope on every trial, clipped at 0."""
    rng = np.random.default_rng(11)
    s = rng.choice(np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0]), 300)
    r = np.where(s > 4.0, 0.8, 0.3) * (s - 4.0) + rng.normal(0, 2.0, s.size)
    grid = np.linspace(0.0, 21.0, 57)
    oracle = []
    for c in grid:
        fit = np.zeros_like(r)
        for side in (s > c, s < c):
            x = s[side] - c
            a = max(np.dot(x, r[side]) / np.dot(x, x), 0.0) if side.any() else 0.0
            fit[side] = a * x
        oracle.append(np.sum((r - fit) ** 2))
    np.testing.assert_allclose(dist._hinge_sse(s, r, grid), oracle, rtol=1e-9)


def test_interpolation_finds_the_crossing_of_a_symmetric_neuron():
    """Linear interpolation of the mean responses is exact when alpha+ = alpha-."""
    sizes, resp = neuron(np.random.default_rng(2), 6.0, 0.5, noise=0.0)
    assert dist.reversal_point(sizes, resp, method="interp") == pytest.approx(6.0)
    assert dist.reversal_point(sizes, resp, method="hinge") == pytest.approx(6.0, abs=0.02)


def test_a_neuron_that_never_crosses_zero_is_clipped_to_the_range():
    sizes = np.repeat(SIZES, 3)
    assert dist.reversal_point(sizes, -1.0 - sizes) == pytest.approx(20.0)
    assert dist.reversal_point(sizes, 1.0 + sizes, method="interp") == pytest.approx(0.1)


def test_a_population_gives_back_its_reversal_points():
    rng = np.random.default_rng(3)
    true = rng.uniform(1.5, 9.0, 40)
    taus = rng.uniform(0.25, 0.75, 40)
    est = [dist.reversal_point(*neuron(rng, r, t)) for r, t in zip(true, taus, strict=True)]
    assert np.corrcoef(true, est)[0, 1] > 0.97
    assert np.median(np.abs(np.array(est) - true)) < 0.3


# ---------------------------------------------------------------------------------------
# split halves
# ---------------------------------------------------------------------------------------


def _population(rng, correlated, n=40):
    taus = np.linspace(0.2, 0.8, n)
    if correlated:  # optimistic cells reverse at larger rewards, as distributional TD predicts
        reversals = 2.0 + 8.0 * taus
    else:  # independent: a pairing whose in-sample correlation is ~0 (|r| < 0.02)
        grid = np.linspace(3.6, 8.4, n)
        reversals = rng.permutation(grid)
        while abs(np.corrcoef(taus, reversals)[0, 1]) > 0.02:
            reversals = rng.permutation(grid)
    return [neuron(rng, r, t, noise=0.8) for r, t in zip(reversals, taus, strict=True)]


def test_split_half_r_is_high_when_design_tau_and_reversal_are_correlated():
    rng = np.random.default_rng(4)
    out = dist.split_half(_population(rng, True), n_splits=20, rng=rng)
    assert out.r.shape == (20,)
    assert out.median > 0.8 and out.p5 > 0.6
    assert out.reliability_median > 0.9


def test_split_half_r_is_near_zero_when_they_are_independent():
    """With 40 neurons the split-half R of a population follows its in-sample correlation
    of tau and reversal point (a random pairing has |r| up to ~0.3), so the null pairs
    them with an in-sample correlation below 0.02."""
    rng = np.random.default_rng(5)
    out = dist.split_half(_population(rng, False), n_splits=20, rng=rng)
    assert abs(out.median) < 0.2, out.median
    assert out.p5 < 0.1 and out.p95 > -0.1


def test_split_half_is_reproducible_from_a_seed():
    pop = _population(np.random.default_rng(6), True, n=10)
    a = dist.split_half(pop, n_splits=5, rng=np.random.default_rng(7))
    b = dist.split_half(pop, n_splits=5, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.r, b.r)


def _unbalanced_population(rng, n=30):
    """Neurons with 1 to 24 trials per size in random order, some missing a size, some
    with a single trial of the smallest size (none in half A); every 7th responds only to
    the largest size (a flat fit below it) and every 11th falls with the size (both
    slopes clipped to 0: tau NaN)."""
    cells = []
    for j in range(n):
        counts = rng.integers(1, 25, SIZES.size)
        if j % 3 == 0:
            counts[rng.integers(1, SIZES.size - 1)] = 0
        if j % 5 == 0:
            counts[0] = 1
        s = rng.permutation(np.repeat(SIZES, counts))
        c, t = rng.uniform(1.0, 12.0), rng.uniform(0.2, 0.8)
        d = s - c
        r = np.where(d > 0, t * d, (1 - t) * d) + rng.normal(0.0, 1.0, s.size)
        if j % 7 == 0:
            r = np.where(s == SIZES[-1], 3.0, 0.0)
        elif j % 11 == 0:
            r = -s + rng.normal(0.0, 0.1, s.size)
        cells.append((s, r))
    return cells


@pytest.mark.parametrize(
    ("resolution", "batch"), [(0.01, None), (1e-3, None), (0.3, None), (1e-3, 500)]
)
def test_split_half_matches_the_loop_over_splits_and_neurons(resolution, batch, monkeypatch):
    """The default path (hinge, lines through the reversal point) fits all splits of a
    neuron at once from per-size sums; it draws the same halves as the loop over splits
    and neurons it replaced (`_split_half_loop`, kept for the other options) and gives
    the same R and reliability. ``batch``: a small batch of fits, one split at a time."""
    if batch is not None:
        monkeypatch.setattr(dist, "_BATCH_ELEMENTS", batch)
    pops = [
        _population(np.random.default_rng(6), True, n=12),
        _unbalanced_population(np.random.default_rng(8)),
    ]
    for pop in pops:
        cells = [(np.asarray(s, float), np.asarray(r, float)) for s, r in pop]
        got = dist.split_half(pop, n_splits=6, rng=3, resolution=resolution)
        ref = dist._split_half_loop(cells, 6, np.random.default_rng(3), "hinge", True, resolution)
        np.testing.assert_allclose(got.r, ref.r, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got.reliability, ref.reliability, rtol=0, atol=1e-9)


def test_split_half_refuses_a_neuron_with_one_size_in_a_half():
    """Half A of a neuron with one trial of every size but one has a single size: no
    reversal point, as before."""
    pop = _population(np.random.default_rng(6), True, n=4)
    s = np.concatenate([SIZES, np.full(5, SIZES[3])])
    pop.append((s, s - 4.0))
    with pytest.raises(ParamError, match="^sizes"):
        dist.split_half(pop, n_splits=2, rng=0)


# ---------------------------------------------------------------------------------------
# expectiles, decoding, Wasserstein
# ---------------------------------------------------------------------------------------


def _brute_expectile(values, weights, tau):
    """argmin_e of the asymmetric squared loss, by a dense grid and a local refinement."""
    grid = np.linspace(values.min(), values.max(), 200001)
    d = values[None, :] - grid[:, None]
    loss = (np.abs(tau - (d < 0)) * d**2 * weights).sum(1)
    return grid[loss.argmin()]


def test_expectiles_of_a_discrete_distribution_match_brute_force():
    taus = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    got = dist.expectiles(SIZES, taus, weights=PROBS)
    want = [_brute_expectile(SIZES, PROBS / PROBS.sum(), t) for t in taus]
    np.testing.assert_allclose(got, want, atol=2e-4)
    # the 0.5-expectile is the mean
    assert got[2] == pytest.approx(np.dot(SIZES, PROBS) / PROBS.sum())


def test_expectiles_of_samples_are_those_of_the_empirical_distribution():
    x = np.random.default_rng(8).gamma(2.0, 2.0, 500)
    np.testing.assert_allclose(
        dist.expectiles(x, [0.3, 0.9]), dist.expectiles(np.sort(x), [0.3, 0.9], np.ones(500))
    )


def test_the_task_distribution_expectiles():
    """The task's reward distribution: mean 5.2 ul, and 0.25 / 0.75 expectiles 3.34 / 7.77 ul
    (issue 23 quotes 3.2 / 4.9 / 7.0; its 0.5-expectile cannot be 4.9 when the mean is 5.2,
    and the brute-force minimiser above agrees with these values)."""
    e = dist.expectiles(SIZES, [0.25, 0.5, 0.75], weights=PROBS)
    np.testing.assert_allclose(e, [3.337, 5.209, 7.767], atol=2e-3)
    for tau, got in zip([0.25, 0.75], e[[0, 2]], strict=True):
        assert got == pytest.approx(_brute_expectile(SIZES, PROBS, tau), abs=2e-4)


def test_wasserstein1_of_identical_distributions_is_zero():
    assert dist.wasserstein1(SIZES, SIZES, PROBS, PROBS) == 0.0
    x = np.array([3.0, 1.0, 2.0])
    assert dist.wasserstein1(x, x[::-1]) == 0.0


def test_wasserstein1_of_a_shift_is_the_shift():
    x = np.random.default_rng(9).normal(size=50)
    assert dist.wasserstein1(x, x + 0.7) == pytest.approx(0.7)
    assert dist.wasserstein1([0.0], [0.0, 1.0], [1.0], [0.5, 0.5]) == pytest.approx(0.5)


def test_decoding_recovers_a_distribution_from_its_own_expectiles():
    """40 expectiles (tau 0.02-0.98) of the task's 7-size distribution, decoded on [0, 20] ul.
    Threshold W1 < 0.5 ul: a quarter of the W1 of the moment-matched Gaussian (1.86 ul),
    which already has the right mean and variance, and 2.5 % of the reward range. The
    decoding is not unique (40 expectiles do not pin down a distribution on 201 points),
    so exact recovery is not expected; measured W1 0.13 ul."""
    taus = np.linspace(0.02, 0.98, 40)
    e = dist.expectiles(SIZES, taus, weights=PROBS)
    values, weights = dist.decode_distribution(e, taus, bounds=(0.0, 20.0))
    assert weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(dist.expectiles(values, taus, weights), e, atol=0.03)
    w_dec = dist.wasserstein1(values, SIZES, weights, PROBS)
    ref = dist.references(SIZES, PROBS)
    gv, gw = ref["gaussian"]
    w_gauss = dist.wasserstein1(gv, SIZES, gw, PROBS)
    assert w_dec < 0.5, w_dec
    assert w_dec < 0.25 * w_gauss, (w_dec, w_gauss)


def test_references_match_range_and_moments():
    ref = dist.references(SIZES, PROBS)
    uv, uw = ref["uniform"]
    assert uv.min() >= 0.1 and uv.max() <= 20.0 and uw.sum() == pytest.approx(1.0)
    gv, gw = ref["gaussian"]
    mean = np.dot(SIZES, PROBS) / PROBS.sum()
    assert np.dot(gv, gw) == pytest.approx(mean, rel=1e-3)
    sd = np.sqrt(np.dot((SIZES - mean) ** 2, PROBS) / PROBS.sum())
    assert np.sqrt(np.dot((gv - mean) ** 2, gw)) == pytest.approx(sd, rel=1e-3)


# ---------------------------------------------------------------------------------------
# optimism index
# ---------------------------------------------------------------------------------------


def test_optimism_index():
    np.testing.assert_allclose(
        dist.optimism_index([0.0, 1.0], [3.0, 1.5], [4.0, 3.0]), [0.75, 0.25]
    )
    assert np.isnan(dist.optimism_index([1.0], [2.0], [1.0])[0])


def test_expectile_optimism_of_bernoulli_cues():
    """A perfect expectile code's index: the tau-expectile of a reward that is 1 with
    probability q is tau q / (tau q + (1 - tau)(1 - q)), written out here; a symmetric
    channel gets the probabilities' own index (0.5 for 10/50/90, 0.25 for 10/30/90), and
    the index rises with tau."""
    taus = np.array([0.1, 0.2, 0.5, 0.8, 0.9])

    def by_hand(probs):
        e = [taus * q / (taus * q + (1 - taus) * (1 - q)) for q in probs]
        return (e[1] - e[0]) / (e[2] - e[0])

    got = dist.expectile_optimism(taus)
    np.testing.assert_allclose(got, by_hand((0.1, 0.5, 0.9)), rtol=1e-12)
    assert got[2] == pytest.approx(0.5) and got[1] == pytest.approx(0.26)
    assert np.all(np.diff(got) > 0)
    np.testing.assert_allclose(
        dist.expectile_optimism(taus, (0.1, 0.3, 0.9)), by_hand((0.1, 0.3, 0.9)), rtol=1e-12
    )
    assert dist.expectile_optimism([0.5], (0.1, 0.3, 0.9))[0] == pytest.approx(0.25)
    for bad in ((0.5, 0.1, 0.9), (0.1, 0.5), (0.0, 0.5, 0.9), (0.1, 0.5, 1.0)):
        with pytest.raises(ParamError, match="^probs: "):
            dist.expectile_optimism(taus, bad)


# ---------------------------------------------------------------------------------------
# bad input: one line naming the field
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: dist.expectiles(SIZES, [0.0, 0.5]), "taus"),
        (lambda: dist.expectiles(SIZES, [0.5, 1.2]), "taus"),
        (lambda: dist.expectiles(SIZES, [0.5], weights=-PROBS), "weights"),
        (lambda: dist.expectiles([], [0.5]), "values"),
        (lambda: dist.decode_distribution([1.0], [0.5]), "reversal_points"),
        (lambda: dist.decode_distribution([1.0, 2.0], [0.5]), "taus"),
        (lambda: dist.decode_distribution([1.0, 2.0], [0.2, 1.0]), "taus"),
        (lambda: dist.decode_distribution([1.0, 2.0], [0.2, 0.8], bounds=(3, 1)), "bounds"),
        (lambda: dist.split_half([neuron(np.random.default_rng(0), 4, 0.5)]), "trials"),
        (lambda: dist.split_half(_population(np.random.default_rng(0), True, 4), 0), "n_splits"),
        (lambda: dist.reversal_point(SIZES, SIZES[:3]), "responses"),
        (lambda: dist.reversal_point([1.0, 1.0], [0.0, 1.0]), "sizes"),
        (lambda: dist.reversal_point(SIZES, SIZES, method="spline"), "method"),
        (lambda: dist.asymmetry(SIZES, SIZES - 4, float("nan")), "reversal"),
        (lambda: dist.wasserstein1([1.0], [np.nan]), "v_values"),
        (lambda: dist.optimism_index([1.0, 2.0], [1.0], [1.0]), "r50"),
    ],
)
def test_bad_input_names_the_field_on_one_line(call, field):
    with pytest.raises(ParamError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(f"{field}:") and "\n" not in msg, msg


# --- the population's utility ------------------------------------------------------------
U_CONVEX = np.array([0.0, 0.026, 0.047, 0.111, 0.208, 0.586, 1.0])
LEVELS = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])


def _utility_cells(design, n_rep=4):
    """Noise-free neurons whose response is the asymmetric hinge of the utility U_CONVEX
    (reversal c in utility units, slopes 2 tau and 2 (1 - tau)), n_rep trials per size."""
    s = np.repeat(LEVELS, n_rep)
    u = np.repeat(U_CONVEX, n_rep)
    cells = []
    for c, tau in design:
        d = u - c
        cells.append((s, np.where(d > 0, 2 * tau * d, 2 * (1 - tau) * d) * 10))
    return cells


def test_population_utility_recovers_a_convex_utility_and_the_reversal_points():
    """Neurons linear in a convex utility: the population's mean response per size is
    linear in that utility when the design is symmetric about tau = 0.5 with a common
    slope sum, so population_utility gives it back (to 1e-5); fitted in it, the reversal
    points map back to their design sizes (within the hinge grid's 0.01 utility step) and
    tau-hat is the design's. Fitted in ul instead, a convex utility pulls an optimistic
    neuron's reversal point down and a pessimistic one's up (tau 0.7 against 0.3 at the
    same reversal point, c >= 0.25: 1 to 1.9 ul lower), against the very correlation the
    protocol measures - the bias the utility space removes."""
    cs = np.array([0.15, 0.25, 0.35, 0.45])
    design = [(c, t) for c in cs for t in (0.3, 0.7)] + [(c, 0.5) for c in cs]
    cells = _utility_cells(design)
    u = dist.population_utility(cells, LEVELS)
    # the mean response is 10 * (u - mean c) where no neuron clips, and convex where they do;
    # a design symmetric in tau gives a mean slope of 10 on both sides: linear in u
    np.testing.assert_allclose(u, U_CONVEX + 1e-6 * np.arange(7), atol=1e-5)
    for (s, r), (c, tau) in zip(cells, design, strict=True):
        x = dist.to_utility(s, LEVELS, u)
        c_hat = dist.reversal_point(x, r)
        assert abs(c_hat - c) <= 0.011
        assert abs(dist.from_utility(c_hat, LEVELS, u) - np.interp(c, U_CONVEX, LEVELS)) < 0.3
        assert abs(dist.asymmetry(x, r, c_hat).tau - tau) < 0.03
    in_ul = [dist.reversal_point(s, r) for s, r in cells]
    for k in (2, 4, 6):  # c = 0.25, 0.35, 0.45: (tau 0.3, tau 0.7) pairs
        assert in_ul[k] - in_ul[k + 1] > 0.9


def test_population_utility_refuses_bad_input():
    cells = _utility_cells([(0.2, 0.5)])
    with pytest.raises(ParamError, match="^levels"):
        dist.population_utility(cells, LEVELS[::-1])
    with pytest.raises(ParamError, match="^trials"):
        dist.population_utility([(c[0], -c[1] - 50.0 * (c[0] > 1)) for c in cells], LEVELS)
    with pytest.raises(ParamError, match="^trials"):
        dist.population_utility([], LEVELS)


def test_optimism_test_direction_and_p():
    """A channel whose 50 % responses sit near the 90 % ones is optimistic (index > 0.5,
    p < 0.05, direction +1); near the 10 % ones pessimistic; halfway: index 0.5 and no
    significance."""
    rng = np.random.default_rng(3)
    r10, r90 = rng.normal(0, 1, 60), rng.normal(10, 1, 60)
    idx, p, d = dist.optimism_test(r10, rng.normal(8, 1, 60), r90)
    assert idx > 0.7 and p < 0.05 and d == 1
    idx, p, d = dist.optimism_test(r10, rng.normal(2, 1, 60), r90)
    assert idx < 0.3 and p < 0.05 and d == -1
    # halfway, drawn like the midpoints (N(5, 1/sqrt(2))): fails in ~5 % of seeds by
    # design; seed 3 is fixed, so the test is deterministic
    idx, p, d = dist.optimism_test(r10, rng.normal(5, 0.71, 60), r90)
    assert abs(idx - 0.5) < 0.1 and p > 0.05


def test_split_half_fits_each_half_as_reversal_point_does():
    """split_half's per-half fit (from per-size sums of the half) against
    reversal_point and asymmetry on the same halves, drawn as split_half draws them."""
    rng = np.random.default_rng(4)
    cells = [neuron(rng, c, t) for c, t in ((2.0, 0.3), (5.0, 0.5), (9.0, 0.7), (4.0, 0.6))]
    got = dist.split_half(cells, n_splits=3, rng=9)
    draw = np.random.default_rng(9)
    for k in range(3):
        ra, tb = [], []
        for s, r in cells:
            a = np.zeros(s.size, bool)
            for v in np.unique(s):
                idx = np.flatnonzero(s == v)
                a[draw.permutation(idx)[: idx.size // 2]] = True
            ra.append(dist.reversal_point(s[a], r[a]))
            cb = dist.reversal_point(s[~a], r[~a])
            tb.append(dist.asymmetry(s[~a], r[~a], cb).tau)
        assert got.r[k] == pytest.approx(np.corrcoef(tb, ra)[0, 1], abs=1e-12)


def test_a_flat_fit_resolves_to_the_lowest_point_whatever_the_trial_order():
    """Responses that rise only at the largest size fit every point between the two
    largest sizes equally well: the reversal point is the lowest of them, in any order."""
    sizes = np.repeat(SIZES, 20)
    resp = np.where(sizes == SIZES[-1], 3.0, 0.0) + np.tile(np.linspace(-0.1, 0.1, 20), 7)
    resp -= resp[sizes < SIZES[-1]].mean() * (sizes < SIZES[-1])
    rng = np.random.default_rng(0)
    found = set()
    for _ in range(20):
        order = rng.permutation(sizes.size)
        found.add(dist.reversal_point(sizes[order], resp[order]))
    assert len(found) == 1

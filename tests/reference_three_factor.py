"""Independent event-by-event reference for the three-factor synapse (one synapse).

This is the test oracle for `dopasim.models.three_factor`. It shares no code and no
trick with the implementation: there is no epoch frame, no running transmitter integral
and no per-step trace. Everything is computed in continuous time from the spike and
dopamine times themselves, in plain float64:

* eligibility ``c(t) = sum_k J_k exp(-(t - t_k)/tau_c)`` over the jumps ``J_k`` made at the
  synapse's events ``t_k <= t``. All-to-all pairing with traces: at a pre event at t,
  ``J = -A_minus * sum_{post at t' < t} exp(-(t - t')/tau_minus)``; at a post event at t,
  ``J = +A_plus * sum_{pre at t' <= t} exp(-(t - t')/tau_plus)``. With
  ``eligibility='pre'`` a pre event jumps by ``A_plus`` and post events do nothing
  (they are then no clip points either: the synapse has no postsynaptic pathway);
* dopamine ``n(t) = tonic + sum_{t_j <= t} release * exp(-(t - t_j)/tau_pool)``;
* ``dw/dt = sign * k_da * c(t) * (n(t) - b)``, integrated in closed form (sums of
  exponentials) between consecutive event times of any kind (pre, post, dopamine, epoch
  boundary, t_end);
* the weight is clipped to [w_min, w_max] only at the synapse's own pre and post events,
  at epoch boundaries (k * epoch, k = 0, 1, ...) and at t_end; never at dopamine events.

Event order at one time t (the documented semantics of the implementation): the weight
is first brought up to t and clipped (if t is a clip point); pre events then change c
before post events, so a pre and a post spike at the same t form a causal pair with
dt = 0 (+A_plus) and the pre spike does not see that post spike. Dopamine at t raises n
from t on. Events at times >= t_end are ignored.

Units: times in seconds, concentrations in umolar, ``k_da`` in 1/(umolar*second).
"""

import math

import numpy as np

__all__ = ["reference_three_factor", "reference_params", "reference_from_rule"]


def _as_times(times, t_end):
    a = np.asarray(times, dtype=np.float64).ravel()
    return np.sort(a[a < t_end])


def reference_three_factor(
    pre_times,
    post_times,
    da_times,
    *,
    A_plus,
    A_minus,
    tau_plus,
    tau_minus,
    tau_c,
    k_da,
    b,
    w_min,
    w_max,
    sign,
    epoch,
    tonic,
    tau_pool,
    release,
    t_end,
    w0,
    eligibility="stdp",
):
    """Return ``(w(t_end), c(t_end))`` of one synapse (plain floats, see module docstring)."""
    t_end = float(t_end)
    pre = _as_times(pre_times, t_end)
    post = _as_times(post_times, t_end)
    da = _as_times(da_times, t_end)
    tau_cn = 1.0 / (1.0 / tau_c + 1.0 / tau_pool)  # time constant of c(t) * phasic n(t)

    # ---- eligibility jumps, all-to-all, from the raw spike times
    jump_t, jump_v = [], []
    if eligibility == "pre":
        post = post[:0]  # post spikes neither tag nor clip
    times = np.unique(np.concatenate([pre, post]))
    for t in times:
        if np.any(pre == t):  # pre first: it sees only strictly earlier post spikes
            earlier = post[post < t]
            jump_t.append(t)
            if eligibility == "pre":
                jump_v.append(A_plus * float(np.sum(pre == t)))
            else:
                jump_v.append(-A_minus * float(np.sum(np.exp(-(t - earlier) / tau_minus))))
        if np.any(post == t):  # then post: it sees pre spikes at or before t
            upto = pre[pre <= t]
            jump_t.append(t)
            jump_v.append(A_plus * float(np.sum(np.exp(-(t - upto) / tau_plus))))
    jump_t = np.asarray(jump_t, dtype=np.float64)
    jump_v = np.asarray(jump_v, dtype=np.float64)

    def c_at(t):
        """Eligibility just after all jumps at time t."""
        m = jump_t <= t
        return float(np.sum(jump_v[m] * np.exp(-(t - jump_t[m]) / tau_c)))

    def phasic_at(t):
        """Phasic dopamine just after the releases at time t."""
        m = da <= t
        return float(np.sum(release * np.exp(-(t - da[m]) / tau_pool)))

    # ---- clip points and segment boundaries
    n_epochs = int(math.floor(t_end / epoch)) + 1
    boundaries = np.array([k * epoch for k in range(n_epochs)], dtype=np.float64)
    boundaries = boundaries[boundaries < t_end]
    clip_points = np.concatenate([pre, post, boundaries, [t_end]])
    stops = np.unique(np.concatenate([[0.0], pre, post, da, boundaries, [t_end]]))
    stops = stops[stops <= t_end]

    def clip(w):
        return min(max(w, w_min), w_max)

    w = float(w0)
    t_prev = None
    for t in stops:
        if t_prev is not None and t > t_prev:
            # integral over (t_prev, t) of c(s) (n(s) - b) ds, with c and n just after t_prev:
            # c(s) = c0 e^{-(s-t0)/tau_c}, n(s) - b = (tonic - b) + P0 e^{-(s-t0)/tau_pool}
            h = t - t_prev
            c0 = c_at(t_prev)
            p0 = phasic_at(t_prev)
            integral = c0 * (
                (tonic - b) * tau_c * -math.expm1(-h / tau_c)
                + p0 * tau_cn * -math.expm1(-h / tau_cn)
            )
            w = w + sign * k_da * integral
        if np.any(clip_points == t):
            w = clip(w)
        t_prev = t
    return w, c_at(t_end)


def reference_params(rule, pool):
    """Plain-float parameters (s, umolar, 1/(umolar*s)) of a rule and a pool."""
    from brian2 import second, umolar

    return dict(
        A_plus=float(rule.A_plus),
        A_minus=float(rule.A_minus),
        tau_plus=float(rule.tau_plus / second),
        tau_minus=float(rule.tau_minus / second),
        tau_c=float(rule.tau_c / second),
        k_da=float(rule.k_da * umolar * second),
        b=float(rule.b / umolar),
        w_min=float(rule.w_min),
        w_max=float(rule.w_max),
        sign=int(rule.sign),
        epoch=float(rule.epoch_length / second),
        tonic=float(pool.tonic / umolar),
        tau_pool=float(pool.tau / second),
        release=float(pool.release / umolar),
        eligibility=rule.eligibility,
    )


def reference_from_rule(pre_times, post_times, da_times, rule, pool, t_end, w0=0.0):
    """Reference for several synapses sharing one dopamine train (like `simulate_synapse`).

    ``pre_times`` / ``post_times`` are lists with one array of times (s) per synapse;
    ``w0`` a scalar or one value per synapse. Returns arrays ``(w, c)``.
    """
    params = reference_params(rule, pool)
    n = len(pre_times)
    w0s = np.broadcast_to(np.asarray(w0, dtype=np.float64), (n,))
    out = [
        reference_three_factor(
            pre_times[k], post_times[k], da_times, t_end=float(t_end), w0=w0s[k], **params
        )
        for k in range(n)
    ]
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])

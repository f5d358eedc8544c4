#!/usr/bin/env python
"""A port of the author's daspnet.m, the oracle for dopasim's distal-reward protocol.

Izhikevich EM (2007) Solving the distal reward problem through linkage of STDP and
dopamine signaling. Cerebral Cortex 17(10):2443-2452. The author's MATLAB program
daspnet.m (izhikevich.org/publications/daspnet.m, "Created by Eugene M. Izhikevich,
November 3, 2004") reproduces Fig. 1; this module re-implements it from a reading of that
program, step for step and in its order, with numba loops (one hour of simulated time in
well under two minutes on one core). Without numba the same loops run as plain Python,
correct but hundreds of times slower: use it only for a few simulated seconds.

What daspnet.m does (its constants, which differ in places from the paper's text)
------------------------------------------------------------------------------------
* 800 excitatory (a=0.02, d=8) and 200 inhibitory (a=0.1, d=2) neurons, b=0.2, c=-65,
  v=-65 and u=0.2*v at the start. M=100 outgoing synapses per neuron: excitatory ones to
  any neuron, inhibitory ones to excitatory neurons only, targets drawn uniformly (so
  autapses and repeated targets occur). Excitatory weights start at 1, inhibitory ones
  are fixed at -1; the cap is sm=4.
* The maximal conduction delay is D=1: every synapse has the same 1 ms delay (the
  1..20 ms delays belong to spnet.m, not to daspnet.m).
* The rewarded synapse is synapse 1 of neuron 1 (here: synapse 0 of neuron 0; the
  connectivity is random, so this is one random excitatory synapse). It starts at 0.

One 1 ms step, in daspnet.m's order (``now`` is MATLAB's sec*1000 + t)
---------------------------------------------------------------------
1. ``I = 13*(rand(N,1) - 0.5)``: thalamic input, uniform, every neuron.
2. ``fired = v >= 30``; reset v = -65, u += d.
3. ``STDP(fired, t+D) = 0.1``: the STDP trace of a neuron is *set* (not added) to 0.1 at
   its spike and multiplied by 0.95 per ms (tau about 19.5 ms). Column t+D of the table
   is the trace at time t, column t the trace at t-1.
4. LTP, for each fired neuron i and each excitatory synapse onto it:
   ``sd += STDP(pre, t)`` -- the presynaptic trace at t-1, so a presynaptic spike in the
   same step does not count as causal.
5. For each spike of this step (D=1: the spikes of step t): add the weights to the
   targets' I (MATLAB's ``I(ind) = I(ind) + s(i, del)'``: when a neuron has several
   synapses onto one target, only the last one counts, because indexed assignment with
   repeated indices keeps the last value), and LTD ``sd -= 1.5*STDP(post, t+D)`` -- the
   postsynaptic trace at t, which includes a post spike of the same step: a pre and a
   post spike in one step count as depression only.
6. v += 0.5*((0.04 v + 5) v + 140 - u + I) twice, then u += a (0.2 v - u).
7. ``STDP(:, t+D+1) = 0.95*STDP(:, t+D)``.
8. ``DA = DA*0.995`` (tau_d about 200 ms).
9. Every 10 ms (``mod(t,10)==0``): excitatory weights ``s = clip(s + (0.002 + DA)*sd,
   0, 4)``, then ``sd = 0.99*sd`` (every synapse; tau_c about 1 s). Between these
   updates the weights do not change.
10. Reward contingency: a spike of n1 is remembered; a spike of n2 less than 20 ms after
    the last spike of n1 (and strictly after it, so not in the same step) schedules a
    dopamine puff at ``now + 1000 + ceil(2000*rand)``, i.e. 1.001-3 s later.
11. If a puff is due now, ``DA += 0.5`` (several due at once count once: ``any``).

The port keeps this order exactly. Its random numbers come from one numpy Generator
seeded with ``seed`` (connectivity first, then, step by step, the input and the reward
delays), so it does not reproduce MATLAB's random stream, only its distributions.

Variants (for locating a difference; the defaults are daspnet.m)
----------------------------------------------------------------
``same_step="causal"``: a pre and a post spike in the same step count as a causal pairing
(LTP with the full 0.1, no LTD), dopasim's convention, instead of depression only.
``update_every_ms=1``: weights and eligibility advanced every ms with the same rates
(``s += (0.002 + DA)*sd/10``, ``sd *= 0.99**0.1``), close to dopasim's continuous
closed form, instead of every 10 ms. ``multapses="sum"``: repeated targets of one
neuron all count (Brian2's and dopasim's behaviour) instead of only the last.
``trace="add"``: all-to-all STDP (the trace adds 0.1 per spike, as dopasim's traces
add), instead of nearest-spike (set to 0.1).

CLI::

    python benchmarks/daspnet_port.py --seed 201 --duration 3600 --out /tmp/daspnet-201.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

try:
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - the slow path, for a few simulated seconds only
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda f: f


N_EXC, N_INH, M = 800, 200, 100
N = N_EXC + N_INH
SM = 4.0  # daspnet.m: sm, the cap of the excitatory weights
INTERVAL_MS = 20  # daspnet.m: interval, n2 within 20 ms after n1
RING = 4096  # pending-reward ring (> the 3000 ms horizon of a scheduled puff)
SAMPLE_MS = 10  # the rewarded weight is recorded every 10 ms (it changes only then)


def build(seed):
    """Draw the network as daspnet.m does; returns the state dict of a fresh run."""
    rng = np.random.default_rng(seed)
    # daspnet.m: post = ceil([N*rand(Ne,M); Ne*rand(Ni,M)]) (1-based); here 0-based
    post = np.empty((N, M), dtype=np.int64)
    post[:N_EXC] = rng.integers(0, N, (N_EXC, M))
    post[N_EXC:] = rng.integers(0, N_EXC, (N_INH, M))
    s = np.empty((N, M))
    s[:N_EXC] = 1.0
    s[N_EXC:] = -1.0
    # daspnet.m: pre{i} = find(post==i & s>0), computed before s(n1,syn) = 0, so every
    # excitatory synapse onto i (flat index row*M + col, here a CSR list per target)
    flat = np.arange(N_EXC * M)
    targets = post[:N_EXC].ravel()
    order = np.argsort(targets, kind="stable")
    pre_syn = flat[order].astype(np.int64)
    pre_ptr = np.zeros(N + 1, dtype=np.int64)
    pre_ptr[1:] = np.cumsum(np.bincount(targets, minlength=N))
    n1, syn = 0, 0  # daspnet.m: n1 = 1, syn = 1
    s[n1, syn] = 0.0  # daspnet.m: s(n1,syn) = 0
    a = np.r_[np.full(N_EXC, 0.02), np.full(N_INH, 0.1)]
    d = np.r_[np.full(N_EXC, 8.0), np.full(N_INH, 2.0)]
    v = np.full(N, -65.0)
    return {
        "rng": rng,
        "post": post,
        "s": s,
        "sd": np.zeros((N, M)),
        "pre_ptr": pre_ptr,
        "pre_syn": pre_syn,
        "a": a,
        "d": d,
        "v": v,
        "u": 0.2 * v,
        "trace": np.zeros(N),  # STDP(:, t) at the start of step t: the trace at t-1
        "scalars": np.array([0.0]),  # DA
        # now, last spike of n1 (daspnet.m: n1f = -100), last spike of n2
        "clock": np.array([0, -100, -(10**9)], dtype=np.int64),
        "pending": np.zeros(RING, dtype=np.int8),
        "spike_counts": np.zeros(N, dtype=np.int64),
        "n1": n1,
        "syn": syn,
        "n2": int(post[n1, syn]),
        "seed": seed,
    }


@njit(cache=True)
def _advance(
    n_ms,
    rng,
    post,
    s,
    sd,
    pre_ptr,
    pre_syn,
    a,
    d,
    v,
    u,
    trace,
    scalars,
    clock,
    pending,
    spike_counts,
    n1,
    syn,
    n2,
    w_rec,
    sd_rec,
    events,
    same_step_causal,
    update_every_ms,
    multapse_sum,
    trace_add,
):
    """Advance n_ms steps of daspnet.m. Records the rewarded weight and its eligibility
    every 10 ms into w_rec/sd_rec (one entry per multiple of 10 ms of this call) and
    counts rewards scheduled and delivered in events[0], events[1]."""
    n_exc = 800
    n_all = v.shape[0]
    m = post.shape[1]
    I = np.empty(n_all)
    trace_now = np.empty(n_all)
    fired = np.empty(n_all, dtype=np.int64)
    mark = np.full(n_all, -1, dtype=np.int64)
    stamp = 0
    da = scalars[0]
    now = clock[0]
    n1f = clock[1]
    n2f = clock[2]
    k_rec = 0
    if update_every_ms:
        decay_sd = 0.99**0.1
        rate = 0.1
    else:
        decay_sd = 0.99
        rate = 1.0
    for _ in range(n_ms):
        now += 1
        # 1. thalamic input
        for i in range(n_all):
            I[i] = 13.0 * (rng.random() - 0.5)
        # 2. spikes (v crossed 30 in the previous step's update), reset
        nf = 0
        for i in range(n_all):
            if v[i] >= 30.0:
                fired[nf] = i
                nf += 1
        for k in range(nf):
            i = fired[k]
            v[i] = -65.0
            u[i] += d[i]
            spike_counts[i] += 1
        # 3. column t+D: the trace at t (0.95 x the trace at t-1; 0.1 where fired)
        for i in range(n_all):
            trace_now[i] = 0.95 * trace[i]
        for k in range(nf):
            i = fired[k]
            if trace_add:
                trace_now[i] += 0.1
            else:
                trace_now[i] = 0.1
        # 4. LTP: sd += STDP(pre, t), the presynaptic trace at t-1 (daspnet.m), or at t
        #    with this step's spikes in it (same_step_causal)
        for k in range(nf):
            i = fired[k]
            for q in range(pre_ptr[i], pre_ptr[i + 1]):
                flat = pre_syn[q]
                r = flat // m
                c = flat - r * m
                if same_step_causal:
                    sd[r, c] += trace_now[r]
                else:
                    sd[r, c] += trace[r]
        # 5. delivery (last synapse wins on repeated targets) and LTD with the post trace
        #    at t (daspnet.m), or at t without this step's post spikes (same_step_causal)
        for k in range(nf - 1, -1, -1):  # daspnet.m walks firings from the end
            i = fired[k]
            stamp += 1
            for c in range(m - 1, -1, -1):
                j = post[i, c]
                if multapse_sum or mark[j] != stamp:
                    mark[j] = stamp
                    I[j] += s[i, c]
                if same_step_causal:
                    sd[i, c] -= 1.5 * 0.95 * trace[j]
                else:
                    sd[i, c] -= 1.5 * trace_now[j]
        # 6. neurons: two 0.5 ms half-steps of v, one 1 ms step of u
        for i in range(n_all):
            vi = v[i]
            vi += 0.5 * ((0.04 * vi + 5.0) * vi + 140.0 - u[i] + I[i])
            vi += 0.5 * ((0.04 * vi + 5.0) * vi + 140.0 - u[i] + I[i])
            v[i] = vi
            u[i] += a[i] * (0.2 * vi - u[i])
        # 7. STDP(:, t+D+1) = 0.95*STDP(:, t+D): the next step's column t is this trace_now
        for i in range(n_all):
            trace[i] = trace_now[i]
        # 8. dopamine decay
        da *= 0.995
        # 9. weights (excitatory only) and eligibility decay, every 10 ms
        if update_every_ms or now % 10 == 0:
            g = (0.002 + da) * rate
            for r in range(n_exc):
                for c in range(m):
                    w = s[r, c] + g * sd[r, c]
                    if w < 0.0:
                        w = 0.0
                    elif w > 4.0:
                        w = 4.0
                    s[r, c] = w
            for r in range(n_all):
                for c in range(m):
                    sd[r, c] *= decay_sd
        # 10. reward contingency (n1 is looked at before n2)
        n1_fired = False
        n2_fired = False
        for k in range(nf):
            if fired[k] == n1:
                n1_fired = True
            if fired[k] == n2:
                n2_fired = True
        if n1_fired:
            n1f = now
        if n2_fired:
            n2f = now
            if now - n1f < 20 and n2f > n1f:
                delay = 1000 + 1 + int(rng.random() * 2000.0)  # 1000 + ceil(2000*rand)
                pending[(now + delay) % pending.shape[0]] = 1
                events[0] += 1
        # 11. a puff due now (any number of them) adds 0.5
        slot = now % pending.shape[0]
        if pending[slot]:
            pending[slot] = 0
            da += 0.5
            events[1] += 1
        if now % 10 == 0:
            w_rec[k_rec] = s[n1, syn]
            sd_rec[k_rec] = sd[n1, syn]
            k_rec += 1
    scalars[0] = da
    clock[0] = now
    clock[1] = n1f
    clock[2] = n2f
    return k_rec


def advance(
    st,
    n_ms,
    w_rec=None,
    sd_rec=None,
    events=None,
    same_step="daspnet",
    update_every_ms=10,
    multapses="last",
    trace="set",
):
    """Advance the state ``st`` (from `build`) by ``n_ms`` steps in place. ``w_rec`` and
    ``sd_rec`` receive the rewarded weight and eligibility at each multiple of 10 ms,
    ``events`` counts [scheduled, delivered] puffs; returns the number of samples."""
    if w_rec is None:
        w_rec = np.empty(n_ms // SAMPLE_MS + 1)
    if sd_rec is None:
        sd_rec = np.empty_like(w_rec)
    if events is None:
        events = np.zeros(2, dtype=np.int64)
    return _advance(
        n_ms,
        st["rng"],
        st["post"],
        st["s"],
        st["sd"],
        st["pre_ptr"],
        st["pre_syn"],
        st["a"],
        st["d"],
        st["v"],
        st["u"],
        st["trace"],
        st["scalars"],
        st["clock"],
        st["pending"],
        st["spike_counts"],
        st["n1"],
        st["syn"],
        st["n2"],
        w_rec,
        sd_rec,
        events,
        same_step == "causal",
        update_every_ms == 1,
        multapses == "sum",
        trace == "add",
    )


def run(
    seed,
    duration_s=3600.0,
    same_step="daspnet",
    update_every_ms=10,
    multapses="last",
    trace="set",
    progress=False,
):
    """Simulate ``duration_s`` seconds (a multiple of 10 ms); returns a dict of results.

    Keys: the four measures (``rewarded_weight``, ``rewarded_weight_percentile``,
    ``time_to_learn_s``, ``frac_last_30min_above_0875``) and ``rewarded_weight_max``,
    rates, puffs, the 10 ms trace of the rewarded weight (``w_t``, ``w``) and its
    eligibility (``sd``), the final excitatory weights (``w_final``) and the wall time.
    """
    if same_step not in ("daspnet", "causal"):
        raise ValueError(f"same_step must be 'daspnet' or 'causal', got {same_step!r}")
    if update_every_ms not in (1, 10):
        raise ValueError(f"update_every_ms must be 1 or 10, got {update_every_ms!r}")
    if multapses not in ("last", "sum"):
        raise ValueError(f"multapses must be 'last' or 'sum', got {multapses!r}")
    if trace not in ("set", "add"):
        raise ValueError(f"trace must be 'set' or 'add', got {trace!r}")
    n_ms = int(round(duration_s * 1000))
    if n_ms <= 0 or n_ms % SAMPLE_MS:
        raise ValueError(f"duration_s must be a positive multiple of 10 ms, got {duration_s}")
    t0 = time.perf_counter()
    st = build(seed)
    w_rec = np.empty(n_ms // SAMPLE_MS)
    sd_rec = np.empty(n_ms // SAMPLE_MS)
    events = np.zeros(2, dtype=np.int64)
    chunk = 60_000  # 1 min of simulated time per call
    done = 0
    while done < n_ms:
        step = min(chunk, n_ms - done)
        k0 = done // SAMPLE_MS
        advance(
            st, step, w_rec[k0:], sd_rec[k0:], events, same_step, update_every_ms, multapses, trace
        )
        done += step
        if progress:
            print(
                f"daspnet_port seed {seed}: {done / 1000:.0f} s of {n_ms / 1000:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    wall = time.perf_counter() - t0
    w_t = np.arange(1, len(w_rec) + 1) * (SAMPLE_MS / 1000.0)
    out = measures(st["s"][:N_EXC].ravel(), st["n1"] * M + st["syn"], w_t, w_rec, duration_s)
    counts = st["spike_counts"]
    out.update(
        {
            "seed": seed,
            "duration_s": duration_s,
            "variant": {
                "same_step": same_step,
                "update_every_ms": update_every_ms,
                "multapses": multapses,
                "trace": trace,
            },
            "n1": st["n1"],
            "n2": st["n2"],
            "rate_exc_hz": float(counts[:N_EXC].mean() / duration_s),
            "rate_inh_hz": float(counts[N_EXC:].mean() / duration_s),
            "rate_mean_hz": float(counts.mean() / duration_s),
            "n_pairings": int(events[0]),
            "n_rewards": int(events[1]),
            "mean_exc_weight": float(st["s"][:N_EXC].mean()),
            "frac_exc_above_0875": float(np.mean(st["s"][:N_EXC] >= 0.875 * SM)),
            "frac_exc_at_cap": float(np.mean(st["s"][:N_EXC] >= SM)),
            "wall_s": wall,
            "numba": HAVE_NUMBA,
            "w_t": w_t,
            "w": w_rec,
            "sd": sd_rec,
            "w_final": st["s"][:N_EXC].ravel().copy(),
        }
    )
    return out


def measures(w_exc, k, t, trace, duration_s, w_max=SM):
    """The four measures of issue 25 from the final excitatory weights ``w_exc`` (the
    rewarded one at index ``k``) and the rewarded weight's trace ``trace`` at times ``t``
    (s): end value, percentile (percent of the other excitatory weights strictly below),
    first time on the 100 ms grid at or above 0.875 w_max, and the fraction of the last
    30 min (of the samples at t >= duration - 1800 s; the second half for shorter runs)
    at or above it; plus the trace's maximum."""
    w_exc = np.asarray(w_exc, dtype=float)
    t = np.asarray(t, dtype=float)
    trace = np.asarray(trace, dtype=float)
    w_r = float(w_exc[k])
    others = np.delete(w_exc, k)
    thr = 0.875 * w_max
    # the 100 ms grid (dopasim's time_to_learn_s samples every 100 ms)
    grid = np.round(t * 1000).astype(np.int64) % 100 == 0
    hit = np.nonzero(grid & (trace >= thr))[0]
    window = min(1800.0, duration_s / 2)
    last = t >= duration_s - window - 1e-9
    return {
        "rewarded_weight": w_r,
        "rewarded_weight_percentile": float(100.0 * np.mean(others < w_r)),
        "time_to_learn_s": float(t[hit[0]]) if len(hit) else None,
        "rewarded_weight_max": float(trace.max()) if len(trace) else w_r,
        "frac_last_30min_above_0875": float(np.mean(trace[last] >= thr)) if last.any() else None,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    ap.add_argument("--out", type=Path, help="JSON file for the results (and the trace)")
    ap.add_argument("--same-step", choices=("daspnet", "causal"), default="daspnet")
    ap.add_argument("--update-every-ms", type=int, choices=(1, 10), default=10)
    ap.add_argument("--multapses", choices=("last", "sum"), default="last")
    ap.add_argument("--trace", choices=("set", "add"), default="set")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    res = run(
        args.seed,
        args.duration,
        same_step=args.same_step,
        update_every_ms=args.update_every_ms,
        multapses=args.multapses,
        trace=args.trace,
        progress=not args.quiet,
    )
    summary = {k: v for k, v in res.items() if not isinstance(v, np.ndarray)}
    print(json.dumps(summary, indent=1))
    if args.out:
        # the trace every 100 ms keeps the file small; the measures used the 10 ms one
        doc = dict(summary, w_t_100ms=res["w_t"][9::10].tolist(), w_100ms=res["w"][9::10].tolist())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

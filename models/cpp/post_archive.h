// post_archive.h -- postsynaptic spike archive of dopasim's three-factor synapse
// (cpp_standalone builds; see dopasim/models/three_factor.py, "post_archive").
//
// A postsynaptic spike of the event-driven three-factor synapse first brings the
// synapse's weight up to the spike (w <- bound(w + c_e (A - A_last)), A_last <- A) and then
// tags it (c_e += A_plus apre / D).  Done on the synapse at the spike, this touches every
// incoming synapse of the neuron, scattered in memory.  Here the neuron instead archives
// (A, D, t) of its spike once, and each synapse replays the archived spikes it has not
// seen, in order and with the same arithmetic, at its next presynaptic event, at the
// epoch sweep, at a snapshot and at the end of the run -- as NEST's archiving nodes do
// (Morrison, Diesmann & Gerstner 2008, Biol Cybern 98:459).  The result is the same as
// the per-spike update.  The archive of a neuron is cleared when the projection's epoch
// restarts, right after the sweep has replayed it into every synapse.  Single-threaded:
// the Python side refuses the archive when OpenMP threads are set.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <vector>

namespace dopasim_archive
{
struct Entry
{
    double t, A, D;
};

// The spikes of one neuron in the current epoch, and how many came before it: a
// synapse's k_done counts the neuron's spikes it has replayed since the run began, so it
// needs no reset when the epoch restarts.
struct Spikes
{
    std::vector<Entry> list;
    int32_t base = 0;
};

typedef std::vector<Spikes> Store;  // one per target neuron

// Inline functions with external linkage share their static objects across the
// translation units (the code objects and main.cpp) of one binary.
inline std::unordered_map<int32_t, Store> &stores()
{
    static std::unordered_map<int32_t, Store> s;
    return s;
}

// The store of projection proj (the last one looked up is remembered: one projection's
// events come in runs).  References into an unordered_map stay valid as it grows.
inline Store &store(int32_t proj)
{
    static int32_t last_proj = -1;
    static Store *last_store = nullptr;
    if (proj != last_proj || last_store == nullptr)
    {
        last_store = &stores()[proj];
        last_proj = proj;
    }
    return *last_store;
}

struct State
{
    double w, c_e, A_last, apre, t_a;
};

inline State &last()
{
    static State s;
    return s;
}

inline double clip(double value, double lo, double hi)
{
    if (value < lo)
        return lo;
    if (value > hi)
        return hi;
    return value;
}

// The weight after a change accumulated since the last update, bounded (hard or soft),
// written as the synapse's generated code writes it.
inline double bounded(double w, double inc, double w_min, double w_max, int32_t soft)
{
    if (!soft)
        return clip(w + inc, w_min, w_max);
    const double room = (((int32_t)(inc > 0)) * (w_max - w) + ((int32_t)(inc <= 0)) * (w - w_min)) / (w_max - w_min);
    return clip(w + inc * room, w_min, w_max);
}

// A spike of neuron i at t with the transmitter's A and D.
inline int32_t record(int32_t proj, int32_t i, double t, double A, double D)
{
    Store &s = store(proj);
    if ((size_t)i >= s.size())
        s.resize((size_t)i + 1);
    Spikes &n = s[(size_t)i];
    n.list.push_back(Entry{t, A, D});
    return n.base + (int32_t)n.list.size();
}

// The epoch restarts (after the sweep has replayed every spike into every synapse).
inline int32_t clear(int32_t proj)
{
    Store &s = store(proj);
    for (auto &n : s)
    {
        n.base += (int32_t)n.list.size();
        n.list.clear();
    }
    return 0;
}

// Replay the spikes of target j from k_done on into one synapse's state; with `decay`,
// then decay the presynaptic trace to t (the presynaptic event at t).  Returns the new
// k_done; the new state is in last().
inline int32_t catch_up(int32_t proj, int32_t j, double w, double c_e, double A_last,
                        double apre, double t_a, int32_t k_done, double t, int32_t decay,
                        double tau_plus, double A_plus, double w_min, double w_max,
                        int32_t soft)
{
    const double rate = 1.0f * 1.0 / tau_plus;
    Store &s = store(proj);
    if ((size_t)j < s.size())
    {
        const Spikes &n = s[(size_t)j];
        if (k_done < n.base)
        {
            // spikes of an earlier epoch were never replayed into this synapse: its
            // projection has no sweep (VolumeTransmitter.attach was not called)
            std::fprintf(stderr, "dopasim: post-spike archive %d: a synapse of neuron %d "
                         "missed %d spikes (no epoch sweep)\n", proj, j, n.base - k_done);
            std::abort();
        }
        const std::vector<Entry> &spikes = n.list;
        for (size_t k = (size_t)(k_done - n.base); k < spikes.size(); k++)
        {
            const Entry &e = spikes[k];
            apre = apre * exp(rate * (-(e.t - t_a)));
            w = bounded(w, c_e * (e.A - A_last), w_min, w_max, soft);
            A_last = e.A;
            c_e += 1.0f * (A_plus * apre) / e.D;
            t_a = e.t;
        }
        k_done = n.base + (int32_t)spikes.size();
    }
    if (decay)
    {
        apre = apre * exp(rate * (-(t - t_a)));
        t_a = t;
    }
    State &out = last();
    out.w = w;
    out.c_e = c_e;
    out.A_last = A_last;
    out.apre = apre;
    out.t_a = t_a;
    return k_done;
}

inline double value(int32_t k_done, int32_t which)
{
    const State &s = last();
    (void)k_done;  // an argument only to order the call after catch_up
    switch (which)
    {
    case 0: return s.w;
    case 1: return s.c_e;
    case 2: return s.A_last;
    case 3: return s.apre;
    default: return s.t_a;
    }
}

// Replay every synapse of a projection at the end of the run (arrays of the build);
// returns the seconds it took (added to the run's time: it is deferred run-phase work).
inline double flush(int32_t proj, const std::vector<int32_t> &post, std::vector<double> &w,
                  std::vector<double> &c_e, std::vector<double> &A_last,
                  std::vector<double> &apre, std::vector<double> &t_a,
                  std::vector<int32_t> &k_done, double tau_plus, double A_plus,
                  double w_min, double w_max, int32_t soft)
{
    const auto start = std::chrono::steady_clock::now();
    for (size_t n = 0; n < post.size(); n++)
    {
        k_done[n] = catch_up(proj, post[n], w[n], c_e[n], A_last[n], apre[n], t_a[n], k_done[n],
                             0.0, 0, tau_plus, A_plus, w_min, w_max, soft);
        const State &s = last();
        w[n] = s.w;
        c_e[n] = s.c_e;
        A_last[n] = s.A_last;
        apre[n] = s.apre;
        t_a[n] = s.t_a;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace dopasim_archive

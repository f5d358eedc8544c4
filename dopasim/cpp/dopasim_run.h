// dopasim_run.h -- clean interruption, chunked spike recording and a per-chunk
// numerical check for dopasim's cpp_standalone builds (included in main.cpp and the code
// objects through the device's headers; see dopasim/recording.py for the Python side and
// the file format, and dopasim/runner.py for how a build uses it).
//
// The build has a single run() call: generating one run() per chunk would duplicate every
// code object per chunk (Brian2 generates a new set for each run() call), multiplying
// the compile time.  Instead a run_regularly operation, on its own clock of one chunk's
// period and last in the time step, calls a dopasim function that does the following.
//
// * Chunks.  The spikes recorded since the previous chunk are written to
//   $DOPASIM_CHUNK_DIR as raw little-endian arrays NNNNN-<monitor>.i32 / .f64, then
//   NNNNN.done holding the time reached (seconds).  Every file is written under a
//   temporary name, flushed and renamed; a chunk counts only once its .done file exists.
//   A hard kill therefore loses at most one chunk.  Without $DOPASIM_CHUNK_DIR nothing is
//   written.
// * Numerical failure.  The float state variables of every group and synapse set are
//   checked; a NaN, an infinity or |x| > 1e50 stops the run at the end of the step, and
//   Python reports the failure from the arrays written at the end.
//
// * Interruption (install(), called in main before the run).  The first SIGINT or
//   SIGTERM stops the network at the end of the current time step; brian_end() writes
//   every array as usual, so Python collects the run up to the time reached.  A second
//   signal aborts at once (default action).  dopasim starts the binary with both signals
//   blocked and install() unblocks them, so that one forwarded while the binary loads
//   waits for the handler instead of killing it.  The binary moves into its own process
//   group, so that a terminal's Ctrl-C reaches only the Python process, which forwards it
//   exactly once; and it dies with its parent (a hard kill of Python does not leave it
//   running).
#pragma once
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#endif
#ifdef __linux__
#include <sys/prctl.h>
#include <unistd.h>
#endif
#include "network.h"

// A class template, so that its static members are defined once across the translation
// units that include this header (main.cpp and the code objects).
template <class Net>
struct dopasim_run
{
    static volatile std::sig_atomic_t signals;
    static bool failed;

    static void handler(int signum)
    {
        signals = signals + 1;
        if (signals > 1)
        {
            std::signal(signum, SIG_DFL);
            std::raise(signum);
            return;
        }
        Net::_globally_stopped = true;
    }

    static void install()
    {
        std::signal(SIGINT, handler);
        std::signal(SIGTERM, handler);
#if defined(__unix__) || defined(__APPLE__)
        // dopasim starts the binary with both blocked: a signal forwarded before this
        // point is pending, and reaches the handler now (instead of killing the binary)
        sigset_t stops;
        sigemptyset(&stops);
        sigaddset(&stops, SIGINT);
        sigaddset(&stops, SIGTERM);
        sigprocmask(SIG_UNBLOCK, &stops, nullptr);
#endif
#ifdef __linux__
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    }

    // main.cpp runs the network only if no signal came before it started (Brian2's
    // Network::run clears _globally_stopped when it starts, which would lose it).
    static bool stopped() { return signals > 0 || failed; }

    struct source
    {
        const char *name;
        const std::vector<int32_t> *i;
        const std::vector<double> *t;
    };

    struct state
    {
        const char *name;
        const double *data;
        size_t n;
    };

    // Stop the run if any value is NaN, infinite or huge.
    static void check(double t_reached, const std::vector<state> &states)
    {
        for (const state &s : states)
            for (size_t k = 0; k < s.n; k++)
                if (!(std::fabs(s.data[k]) <= 1e50))  // also true for NaN
                {
                    std::fprintf(stderr, "dopasim: numerical failure in %s at t = %g s\n",
                                 s.name, t_reached);
                    failed = true;
                    Net::_globally_stopped = true;
                    return;
                }
    }

    static bool write_file(const std::string &path, const void *data, size_t bytes)
    {
        const std::string tmp = path + ".tmp";
        FILE *f = std::fopen(tmp.c_str(), "wb");
        if (!f)
            return false;
        bool ok = bytes == 0 || std::fwrite(data, 1, bytes, f) == bytes;
        ok = (std::fflush(f) == 0) && ok;
#ifdef __linux__
        ok = ok && fsync(fileno(f)) == 0;
#endif
        ok = (std::fclose(f) == 0) && ok;
        ok = ok && std::rename(tmp.c_str(), path.c_str()) == 0;
        if (!ok)
            std::remove(tmp.c_str());
        return ok;
    }

    // Write the spikes recorded since the last chunk; t_reached in seconds.
    static void chunk(double t_reached, const std::vector<source> &sources)
    {
        static const char *dir = std::getenv("DOPASIM_CHUNK_DIR");
        static int next = 0;
        static double last_t = -1.0;
        static std::vector<size_t> written;
        static bool warned = false;
        if (!dir || !*dir || t_reached <= last_t)
            return;
        char stem[32];
        std::snprintf(stem, sizeof(stem), "/%05d", next);
        const std::string base = std::string(dir) + stem;
        written.resize(sources.size(), 0);
        std::vector<size_t> now(sources.size());
        bool ok = true;
        for (size_t s = 0; s < sources.size() && ok; s++)
        {
            const size_t from = written[s];
            now[s] = sources[s].i->size();
            const size_t n = now[s] - from;
            const std::string name = base + "-" + sources[s].name;
            ok = write_file(name + ".i32", sources[s].i->data() + from, n * sizeof(int32_t)) &&
                 write_file(name + ".f64", sources[s].t->data() + from, n * sizeof(double));
        }
        if (ok)
        {
            char text[40];
            const int len = std::snprintf(text, sizeof(text), "%.17g\n", t_reached);
            ok = write_file(base + ".done", text, (size_t)len);
        }
        if (ok)
        {
            written = now;
            last_t = t_reached;
            next++;
        }
        else if (!warned)
        {
            std::fprintf(stderr, "dopasim: could not write a chunk to %s; the run goes on\n", dir);
            warned = true;
        }
    }
};

template <class Net>
volatile std::sig_atomic_t dopasim_run<Net>::signals = 0;
template <class Net>
bool dopasim_run<Net>::failed = false;

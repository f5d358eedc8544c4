"""A counter-based uniform random number: the same stream on every Brian2 target.

``counter_uniform(step, i, seed)`` hashes (seed, step, i) with SplitMix64 (Steele, Lea &
Flood 2014, "Fast splittable pseudorandom number generators", OOPSLA; the finaliser of
Java's SplittableRandom, which passes BigCrush) and returns a double in [0, 1) with 53
random bits. It has no state, so:

* the numpy, Cython and C++ targets give bit-identical noise for the same seed;
* it costs one hash per number (Brian2's ``rand()`` draws two Mersenne-twister words);
* it is seeded from dopasim's ``inputs`` stream, independently of `brian2.seed`.

Use it for input noise that is redrawn every step, e.g.
``I_noise = sigma*(counter_uniform(timestep(t, dt), i, noise_seed) - 0.5)``.
"""

import numpy as np
from brian2 import Function

__all__ = ["counter_normal", "counter_uniform", "splitmix64_normal", "splitmix64_uniform"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64_uniform(step, i, seed):
    """NumPy reference implementation (vectorised; uint64 arithmetic wraps)."""
    step = np.asarray(step).astype(np.uint64)
    i = np.asarray(i).astype(np.uint64)
    seed = np.asarray(seed).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = seed + (step * np.uint64(0x100000000) + i + np.uint64(1)) * _GOLDEN
        z = (x ^ (x >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


_CPP = """
static inline double _dopasim_counter_uniform(const int64_t step, const int64_t i, const int64_t seed)
{
    uint64_t x = (uint64_t)seed + ((uint64_t)step * 0x100000000ULL + (uint64_t)i + 1ULL) * 0x9E3779B97F4A7C15ULL;
    uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}
"""

_CYTHON = """
cdef inline double _dopasim_counter_uniform(long step, long i, long seed) noexcept nogil:
    cdef unsigned long long x = <unsigned long long>seed + (<unsigned long long>step * 0x100000000ULL + <unsigned long long>i + 1ULL) * 0x9E3779B97F4A7C15ULL
    cdef unsigned long long z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    z = z ^ (z >> 31)
    return <double>(z >> 11) * (1.0 / 9007199254740992.0)
"""


def _numpy_impl(step, i, seed):
    return splitmix64_uniform(step, i, seed)


counter_uniform = Function(
    _numpy_impl,
    arg_units=[1, 1, 1],
    arg_types=["integer", "integer", "integer"],
    return_unit=1,
    return_type="float",
    stateless=True,
    auto_vectorise=False,
)
counter_uniform.implementations.add_implementation(
    "cpp", _CPP, name="_dopasim_counter_uniform", dependencies={}
)
counter_uniform.implementations.add_implementation(
    "cython", _CYTHON, name="_dopasim_counter_uniform", dependencies={}
)


# ---- a fast standard normal from the same hash ---------------------------------------
# Irwin-Hall: the sum of four 16-bit uniforms from one SplitMix64 word, centred and
# scaled to unit variance. It is bounded (|z| <= 2 sqrt(3) = 3.46) with excess kurtosis
# -0.3, and costs about 3 ns against 18 ns for Brian2's polar-method randn (measured
# here, g++ -O3). Used as membrane noise it is summed by the membrane over tau_m/dt >= 20
# steps, so the potential's fluctuations are Gaussian to well within the sampling error
# of any rate statistic.

_SQRT3 = np.sqrt(3.0)


def splitmix64_normal(step, i, seed):
    """NumPy reference implementation of `counter_normal` (vectorised)."""
    step = np.asarray(step).astype(np.uint64)
    i = np.asarray(i).astype(np.uint64)
    seed = np.asarray(seed).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = seed + (step * np.uint64(0x100000000) + i + np.uint64(1)) * _GOLDEN
        z = (x ^ (x >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    m = np.uint64(0xFFFF)
    s = sum(((z >> np.uint64(k)) & m).astype(np.float64) for k in (0, 16, 32, 48))
    return (s * (1.0 / 65536.0) - 2.0) * _SQRT3


_CPP_NORMAL = """
static inline double _dopasim_counter_normal(const int64_t step, const int64_t i, const int64_t seed)
{
    uint64_t x = (uint64_t)seed + ((uint64_t)step * 0x100000000ULL + (uint64_t)i + 1ULL) * 0x9E3779B97F4A7C15ULL;
    uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    const double s = (double)(z & 0xFFFFULL) + (double)((z >> 16) & 0xFFFFULL)
                   + (double)((z >> 32) & 0xFFFFULL) + (double)(z >> 48);
    return (s * (1.0 / 65536.0) - 2.0) * 1.7320508075688772;
}
"""

_CYTHON_NORMAL = """
cdef inline double _dopasim_counter_normal(long step, long i, long seed) noexcept nogil:
    cdef unsigned long long x = <unsigned long long>seed + (<unsigned long long>step * 0x100000000ULL + <unsigned long long>i + 1ULL) * 0x9E3779B97F4A7C15ULL
    cdef unsigned long long z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    z = z ^ (z >> 31)
    cdef double s = <double>(z & 0xFFFFULL) + <double>((z >> 16) & 0xFFFFULL) + <double>((z >> 32) & 0xFFFFULL) + <double>(z >> 48)
    return (s * (1.0 / 65536.0) - 2.0) * 1.7320508075688772
"""

counter_normal = Function(
    splitmix64_normal,
    arg_units=[1, 1, 1],
    arg_types=["integer", "integer", "integer"],
    return_unit=1,
    return_type="float",
    stateless=True,
    auto_vectorise=False,
)
counter_normal.implementations.add_implementation(
    "cpp", _CPP_NORMAL, name="_dopasim_counter_normal", dependencies={}
)
counter_normal.implementations.add_implementation(
    "cython", _CYTHON_NORMAL, name="_dopasim_counter_normal", dependencies={}
)

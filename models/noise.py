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


def _splitmix64(step, i, seed):
    """The SplitMix64 word of (step, i, seed), vectorised (uint64 arithmetic wraps)."""
    step = np.asarray(step).astype(np.uint64)
    i = np.asarray(i).astype(np.uint64)
    seed = np.asarray(seed).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = seed + (step * np.uint64(0x100000000) + i + np.uint64(1)) * _GOLDEN
        z = (x ^ (x >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def splitmix64_uniform(step, i, seed):
    """NumPy reference implementation of `counter_uniform` (vectorised)."""
    return (_splitmix64(step, i, seed) >> np.uint64(11)).astype(np.float64) * (
        1.0 / 9007199254740992.0
    )


# The hash, in C++ and Cython, and what each function makes of its word z.
_HASH_CPP = """
    uint64_t x = (uint64_t)seed + ((uint64_t)step * 0x100000000ULL + (uint64_t)i + 1ULL) * 0x9E3779B97F4A7C15ULL;
    uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);"""
_HASH_CYTHON = """
    cdef unsigned long long x = <unsigned long long>seed + (<unsigned long long>step * 0x100000000ULL + <unsigned long long>i + 1ULL) * 0x9E3779B97F4A7C15ULL
    cdef unsigned long long z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    z = z ^ (z >> 31)"""


def _counter_function(name, numpy_impl, cpp_body, cython_body):
    """A stateless Brian2 Function f(step, i, seed) -> float on every target."""
    cpp = (
        f"\nstatic inline double {name}(const int64_t step, const int64_t i, const int64_t seed)"
        f"\n{{{_HASH_CPP}\n{cpp_body}\n}}\n"
    )
    cython = (
        f"\ncdef inline double {name}(long step, long i, long seed) noexcept nogil:"
        f"{_HASH_CYTHON}\n{cython_body}\n"
    )
    fn = Function(
        numpy_impl,
        arg_units=[1, 1, 1],
        arg_types=["integer", "integer", "integer"],
        return_unit=1,
        return_type="float",
        stateless=True,
        auto_vectorise=False,
    )
    fn.implementations.add_implementation("cpp", cpp, name=name, dependencies={})
    fn.implementations.add_implementation("cython", cython, name=name, dependencies={})
    return fn


counter_uniform = _counter_function(
    "_dopasim_counter_uniform",
    splitmix64_uniform,
    "    return (double)(z >> 11) * (1.0 / 9007199254740992.0);",
    "    return <double>(z >> 11) * (1.0 / 9007199254740992.0)",
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
    z = _splitmix64(step, i, seed)
    m = np.uint64(0xFFFF)
    s = sum(((z >> np.uint64(k)) & m).astype(np.float64) for k in (0, 16, 32, 48))
    return (s * (1.0 / 65536.0) - 2.0) * _SQRT3


counter_normal = _counter_function(
    "_dopasim_counter_normal",
    splitmix64_normal,
    "    const double s = (double)(z & 0xFFFFULL) + (double)((z >> 16) & 0xFFFFULL)\n"
    "                   + (double)((z >> 32) & 0xFFFFULL) + (double)(z >> 48);\n"
    "    return (s * (1.0 / 65536.0) - 2.0) * 1.7320508075688772;",
    "    cdef double s = <double>(z & 0xFFFFULL) + <double>((z >> 16) & 0xFFFFULL)"
    " + <double>((z >> 32) & 0xFFFFULL) + <double>(z >> 48)\n"
    "    return (s * (1.0 / 65536.0) - 2.0) * 1.7320508075688772",
)

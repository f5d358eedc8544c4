"""One master seed, split into independent streams (numpy SeedSequence)."""

import numpy as np

__all__ = ["STREAMS", "streams"]

#: Stream names, in spawn order. Adding a stream at the end keeps the others unchanged.
STREAMS = ("connectivity", "lesion", "inputs", "brian2", "choice")


def streams(seed):
    """Return a dict of numpy Generators, plus ``'brian2_seed'`` (an int for `brian2.seed`)."""
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    out = {
        name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)
    }
    out["brian2_seed"] = int(children[STREAMS.index("brian2")].generate_state(1)[0] % (2**31 - 1))
    return out

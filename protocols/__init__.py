"""Protocols: what happens to a circuit over time. Each module runs as a script too.

`REGISTRY` maps a protocol's command-line name to its module; the module defines one
`dopasim.protocol.Protocol` subclass and its instance ``PROTOCOL``. Adding a protocol
means its module, its test file and one line here.
"""

import importlib

from dopasim.params import ParamError, did_you_mean

__all__ = ["REGISTRY", "get_protocol", "names"]

#: command-line name -> module (imported on first use)
REGISTRY = {
    "distal-reward": "dopasim.protocols.distal_reward",
    "conditioning": "dopasim.protocols.conditioning",
    "probability": "dopasim.protocols.probability",
    "aversive": "dopasim.protocols.aversive",
    "eligibility-window": "dopasim.protocols.eligibility_window",
    "probabilistic-selection": "dopasim.protocols.probabilistic_selection",
    "distributional": "dopasim.protocols.distributional",
}


def names():
    """The registered protocols' names, in the order of `REGISTRY`."""
    return list(REGISTRY)


def get_protocol(name):
    """The `Protocol` registered as ``name``; `ParamError` (one line) for an unknown name."""
    if name not in REGISTRY:
        raise ParamError(
            f"protocol: unknown protocol '{name}'"
            + did_you_mean(name, REGISTRY, cutoff=0)
            + f"; known: {', '.join(REGISTRY)}"
        )
    return importlib.import_module(REGISTRY[name]).PROTOCOL

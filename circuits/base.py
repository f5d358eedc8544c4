"""The `Circuit` a builder returns: an explicit Network plus named handles."""

from dataclasses import dataclass, field
from typing import Any

from brian2 import Network

__all__ = ["Circuit"]


@dataclass
class Circuit:
    """An explicit `brian2.Network` with its groups by name and its resolved parameters.

    Attributes
    ----------
    network : Network
        Every object of the circuit (add protocol objects and monitors to it).
    groups : dict
        Named handles (``'neurons'``, ``'exc_syn'``, ``'da_pool'``...).
    params : dict
        The fully resolved parameters, with units, for the run's metadata.
    info : dict
        Plain-data facts fixed at build time (indices, sizes).
    """

    network: Network
    groups: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, *objects, **named):
        """Add objects to the network; keyword arguments are also kept as handles."""
        self.network.add(*objects, *named.values())
        self.groups.update(named)

    def __getitem__(self, name):
        return self.groups[name]

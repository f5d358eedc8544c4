"""The protocol contract: what the machinery (run, compare, export, memory) asks a protocol.

A protocol is a subclass of `Protocol`, instantiated once as ``PROTOCOL`` at the bottom
of its module and registered by name in `dopasim.protocols.REGISTRY`. Adding a protocol
means one module (and its test file) plus one line in the registry; the machinery never
names a protocol, it asks the protocol through the hooks below.

Required (the base raises `NotImplementedError`; the conformance test checks them)::

    NAME, SUMMARY, PARAMS               # CLI name, one line, list of `dopasim.params.Param`
    build(p, rngs) -> Circuit           # network and monitors, nothing run yet
    collect(circuit, p) -> dict         # plain arrays read from the monitors
    metrics(data, p) -> dict            # headline figures (metrics.json)
    figures(data, p, outdir) -> list    # PNG files
    build_key(p) -> tuple               # what fixes the compiled code's shape
    memory_counts(p) -> dict            # element counts for the memory guard (dopasim.memory)
    TINY_PARAMS                         # a run of seconds on numpy: the tests' size

Optional, with the defaults given here::

    check(p)                            # cross-parameter checks; raise ParamError
    check_device(p, device)             # values the device cannot run; raise ParamError
    SCENARIOS = False                   # runs under the scenarios of the reward circuit
    SCENARIO_REFUSAL                    # why not, when it does not (the error message)
    circuit_params(p)                   # the circuit's parameters, validated before a run
    HEADLINE_METRICS, METRIC_RANGES     # what `dopasim compare` plots, and the axes' bounds
    HYPOTHESES, QUIET_WARNINGS          # recorded in metadata.json; Brian2 notes checked
    monitor_populations(circuit)        # {name: size} of the recorded populations
    trial_table(data, params)           # (start, stop, {column: (values, description)})
"""

import numpy as np
from brian2 import second

from dopasim.params import parse_quantity

__all__ = ["Protocol"]


class Protocol:
    """Base of every protocol; see the module docstring for the contract."""

    NAME: str = ""
    SUMMARY: str = ""
    PARAMS: list = []
    SCENARIOS = False
    SCENARIO_REFUSAL = "takes no scenario"
    HEADLINE_METRICS: tuple = ()
    METRIC_RANGES: dict = {}
    HYPOTHESES: tuple = ()
    QUIET_WARNINGS: tuple = ()
    #: Parameters of a run small enough for the fast test suite (numpy, seconds): the
    #: conformance, memory and reference-run tests walk the registry with them.
    TINY_PARAMS: dict = {}

    def hypotheses(self, p):
        """What the run's metadata lists under ``hypotheses`` (default `HYPOTHESES`)."""
        return tuple(self.HYPOTHESES)

    # --- required -------------------------------------------------------------------
    def build(self, p, rngs):
        raise NotImplementedError(f"{type(self).__name__}.build")

    def collect(self, circuit, p):
        raise NotImplementedError(f"{type(self).__name__}.collect")

    def metrics(self, data, p):
        raise NotImplementedError(f"{type(self).__name__}.metrics")

    def figures(self, data, p, outdir):
        raise NotImplementedError(f"{type(self).__name__}.figures")

    def build_key(self, p):
        raise NotImplementedError(f"{type(self).__name__}.build_key")

    def memory_counts(self, p):
        raise NotImplementedError(f"{type(self).__name__}.memory_counts")

    # --- optional -------------------------------------------------------------------
    def check(self, p):
        """Checks across parameters, after each was validated alone; raise ParamError."""

    def check_device(self, p, device):
        """Checks of parameter values against the Brian2 device; raise ParamError."""

    def circuit_params(self, p):
        """The circuit's parameters for ``p`` (validated by the runner), or None."""
        return None

    def monitor_populations(self, circuit):
        """{population: size} of what the run records, or None (the runner infers it)."""
        return None

    def trial_table(self, data, params):
        """The trial structure for export: None, or (start, stop, columns) where start and
        stop are arrays of seconds and columns maps a column name to (values,
        description). ``params`` are the run's parameters as metadata.json stores them."""
        return None

    def __repr__(self):
        return f"<protocol {self.NAME!r}>"


def seconds(value, name):
    """A stored parameter (a number of seconds or a string such as '1. s') in seconds."""
    if isinstance(value, int | float | np.floating | np.integer):
        return float(value)
    return float(parse_quantity(value, second, name) / second)

"""Shared test settings: a conditioning run small enough for the fast suite (numpy)."""

from dopasim.protocols import get_protocol

#: 2 trials at scale 0.05: seconds on the numpy target, every population present
TINY_CONDITIONING = dict(get_protocol("conditioning").TINY_PARAMS)

#: a probabilistic-selection run of 6 training trials at scale 0.1 (numpy, seconds)
TINY_SELECTION = dict(get_protocol("probabilistic-selection").TINY_PARAMS)

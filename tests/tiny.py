"""Shared test settings: a conditioning run small enough for the fast suite (numpy)."""

from dopasim.protocols import get_protocol

#: 2 trials at scale 0.05: seconds on the numpy target, every population present
TINY_CONDITIONING = dict(get_protocol("conditioning").TINY_PARAMS)

#: a probabilistic-selection run of 6 training trials at scale 0.1 (numpy, seconds)
TINY_SELECTION = dict(get_protocol("probabilistic-selection").TINY_PARAMS)

#: a sweep of two protocols over three Parkinson losses and two seeds, each run tiny
#: (numpy): per-protocol [params.conditioning] and a [grid]
TINY_SWEEP = """\
protocols = ["conditioning", "aversive"]
scenarios = ["parkinson:loss={loss}"]
seeds = "1-2"
device = "numpy"

[params]
scale = 0.05
trial_len = "1s"
cs_time = "0.5s"
us_delay = "0.3s"
weight_samples = 10
n_trials = 2

[params.conditioning]
probe_window = 1
n_omissions = 0

[grid]
loss = [0.25, 0.5, 0.75]
"""

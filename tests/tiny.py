"""Shared test settings: a conditioning run small enough for the fast suite (numpy)."""

#: 2 trials at scale 0.05: seconds on the numpy target, every population present
TINY_CONDITIONING = {
    "scale": "0.05",
    "n_trials": "2",
    "trial_len": "2s",
    "cs_time": "0.5s",
    "us_delay": "0.5s",
    "n_omissions": "1",
    "probe_window": "1",
    "weight_samples": "20",
}

#: a probabilistic-selection run of 6 training trials at scale 0.1 (numpy, seconds)
TINY_SELECTION = {
    "n_train": "6",
    "n_test_reps": "1",
    "trial_len": "0.6s",
    "cs_time": "0.2s",
    "window": "0.2s",
    "fb_delay": "0.1s",
    "outcome_dur": "0.1s",
    "readout_window": "0.1s",
    "scale": "0.1",
    "msn_per_channel": "5",
    "weight_samples": "10",
}

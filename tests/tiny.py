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

"""Distal reward, 1 h simulated, seeds 9-16 (marker: long; 24 runs of ~20 s compiled).

Acceptance (Izhikevich 2007 Fig. 1), margins fixed before the runs
(docs/preregistration/2026-12-04-distal-random-control.md; seeds 1-8 were the
acceptance of docs/preregistration/2026-12-04-distal-conventions.md):
* mean rate 0.5-2 Hz in every run;
* paired: in >= 7 of 8 seeds the rewarded weight reaches >= 0.875 w_max and ends above
  the 95th percentile of the other excitatory weights;
* reward=none and reward=random: it stays below 0.5 w_max in every seed.
"""

import pytest

from dopasim import runner
from dopasim.protocols.distal_reward import QUEUE

pytestmark = pytest.mark.long
SEEDS = tuple(range(9, 17))


def _run(seed, reward, tmp_path):
    res = runner.run(
        "distal-reward",
        params={"duration": "3600 s", "reward": reward},
        seed=seed,
        device="cpp_standalone",
        out=tmp_path / f"{reward}-{seed}",
        quiet=True,
        figures=False,
    )
    return res.metrics


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paired")
    return {s: _run(s, "paired", tmp) for s in SEEDS}


def test_paired_rewarded_synapse_learns(paired):
    for seed, m in paired.items():
        print(
            seed,
            {
                k: m[k]
                for k in (
                    "rewarded_weight",
                    "rewarded_weight_max",
                    "rewarded_weight_percentile",
                    "time_to_learn_s",
                    "rate_mean_hz",
                    "n_rewards",
                    "max_pending_rewards",
                )
            },
        )
        assert 0.5 <= m["rate_mean_hz"] <= 2.0
        assert m["max_pending_rewards"] < QUEUE
    learned = [
        m["rewarded_weight_max"] >= 0.875 * m["w_max"] and m["rewarded_weight_percentile"] > 95
        for m in paired.values()
    ]
    assert sum(learned) >= 7, learned


@pytest.mark.parametrize("reward", ["none", "random"])
def test_controls_do_not_learn(reward, tmp_path):
    for seed in SEEDS:
        m = _run(seed, reward, tmp_path)
        print(reward, seed, m["rewarded_weight_max"], m["rate_mean_hz"], m["n_rewards"])
        assert 0.5 <= m["rate_mean_hz"] <= 2.0
        assert m["rewarded_weight_max"] < 0.5 * m["w_max"]

"""The probabilistic-selection protocol: the closed loop on a tiny network, its metrics on
hand-made data, its schedule, and bad input.

The scientific acceptance (Parkinson sweep, Frank's sign pattern, medication) is in the
long tier (tests/test_selection_long.py).
"""

import gc
from pathlib import Path

import numpy as np
import pytest
from brian2 import Hz
from brian2.core.names import find_name
from tiny import TINY_SELECTION

from dopasim import runner
from dopasim.circuits.selection import PHASE_CLOSED, PHASE_OPEN, PHASE_RESET, SelectionParams
from dopasim.cli import main
from dopasim.models.three_factor import ThreeFactorRule, current_weights
from dopasim.params import ParamError
from dopasim.protocols import pavlovian as pv
from dopasim.protocols import probabilistic_selection as ps

TINY = TINY_SELECTION


def _p(**changes):
    return runner.prepare(ps.NAME, {**TINY, **changes}, 1, "numpy", None, False)[1]


def test_closed_loop_tiny_run(tmp_path, capsys):
    """Choices are among the shown pair; feedback follows the choice, on training trials."""
    res = runner.run(ps.NAME, TINY, seed=2, device="numpy", out=tmp_path / "run", quiet=True)
    d, p, m = res.data, res.params, res.metrics
    n = len(d["trial_cue"])
    assert n == 6 + 15
    choice = d["trial_choice"]
    ok = choice >= 0
    assert np.all((choice[ok] == d["trial_cue"][ok]) | (choice[ok] == d["trial_cue2"][ok]))
    lat = d["trial_latency"][ok]
    assert np.all((lat > 0) & (lat <= float(p["window"]) + 1e-9))
    # reward-input spikes fall only in the feedback windows of rewarded training trials
    T, cs = float(p["trial_len"]), float(p["cs_time"])
    fb0 = np.arange(n) * T + cs + d["trial_latency"] + float(p["fb_delay"])
    _, t_rew = d["spikes_us_reward"]
    _, t_pun = d["spikes_us_punish"]
    for times, code in ((t_rew, 1), (t_pun, 2)):
        k = np.floor(times / T).astype(int)
        assert np.all(d["trial_outcome"][k] == code)
        assert np.all(d["trial_train"][k])
        rel = times - fb0[k]
        assert np.all((rel >= -1e-9) & (rel < float(p["outcome_dur"]) + 1e-3))
    # with 40 x 0.1 outcome neurons at 60 Hz for 100 ms, every feedback gives spikes
    for code, times in ((1, t_rew), (2, t_pun)):
        k = np.unique(np.floor(times / T).astype(int))
        assert set(k) == set(np.nonzero(d["trial_outcome"] == code)[0])
    # the outcome is the pre-drawn one for the chosen stimulus
    prob = np.array(ps.P_REWARD)
    trained = ok & d["trial_train"]
    expect = np.where(d["trial_draw"] < prob[np.maximum(choice, 0)], 1, 2)
    assert np.array_equal(d["trial_outcome"][trained], expect[trained])
    assert np.all(d["trial_outcome"][~d["trial_train"]] == 0)
    for key in ps.HEADLINE_METRICS + ("da_tonic_hz", "test_accuracy", "dw_go_reward"):
        assert key in m
    assert m["freeze_fraction"] == pytest.approx(np.mean(~ok))
    assert (tmp_path / "run" / "selection.png").exists()
    # the role analysis script reads the run directory back
    import runpy

    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts/selection_weight_roles.py"))
    assert script["main"]([str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "D2 (NoGo)" in printed and "test_shown" in printed
    # nothing keeps the run's Brian2 objects alive once collected: the next run in this
    # process gets the same names (hence the same code and the cached build)
    del res
    gc.collect()
    assert find_name("bg_thalamus") == "bg_thalamus"
    assert find_name("str_d1") == "str_d1"


@pytest.mark.parametrize("floor", [True, False])
def test_total_loss_makes_plasticity_unidirectional(tmp_path, monkeypatch, floor):
    """With no DA neuron [DA] is 0, and the synapses' baselines stay at their floors
    (D2: 7.1 nM, D2 up-regulation's limit; D1: 16.6 nM, the D1 floor's default
    hypothesis): every eligible synapse reads a negative error,
    so the D2 (NoGo) weights rise and the D1 (Go) weights fall, without
    any feedback signal, on balance (the net direction of plasticity in Parkinsonian
    striatum: Shen et al. 2008). Without the floor the baseline is 0 as well,
    there is no error, and no weight moves: what the circuit did before the floor."""
    if not floor:
        pools = ps.TASK_CIRCUIT["pools"].with_(
            base_floor_d1=0 * ps.nmolar, base_floor_d2=0 * ps.nmolar
        )
        orig = ps.circuit_params
        monkeypatch.setattr(ps, "circuit_params", lambda p, **o: orig(p, pools=pools, **o))
    res = runner.run(
        ps.NAME,
        TINY,
        seed=1,
        device="numpy",
        out=tmp_path / "run",
        quiet=True,
        figures=False,
        scenario="parkinson:loss=1",
    )
    d = res.data
    w0 = float(d["w_init"])
    dw = {proj: np.asarray(d[f"{proj}_w_final"]) - w0 for proj in ("ctx_d1", "ctx_d2")}
    note = " ".join(res.metadata["circuit_info"]["notes"])
    assert np.all(d["da_nM"] == 0)
    if floor:
        assert float(ps.TASK_CIRCUIT["pools"].base_floor_d2 / ps.nmolar) == pytest.approx(7.142857)
        # the recorded baselines sit at their floors throughout: D2 by 1.6-fold D2 and D1
        # by 1.2-fold D1 up-regulation (EC50 1 uM): 1000 g / (1.2 - g), g = 20/1020
        g = 20 / 1020
        assert np.allclose(d["da_base_d2_nM"], 7.142857, rtol=1e-6)
        assert np.allclose(d["da_base_d1_nM"], 1000 * g / (1.2 - g), rtol=1e-6)
        # on balance: a synapse's eligibility is signed (anti-causal pairings make it
        # negative, and then a negative error moves it the other way), but with A- = 0.75
        # A+ it is mostly positive. (D1 MSNs fire little without DA, so many
        # D1 synapses are never eligible and do not move: the direction is checked on
        # the ones that moved.)
        for proj, sign in (("ctx_d2", 1), ("ctx_d1", -1)):
            moved = dw[proj][dw[proj] != 0]
            assert len(moved) >= 5, proj
            assert sign * np.mean(moved) > 0 and np.mean(sign * moved > 0) > 0.5, proj
        assert "floor (16.6 nM)" in note and "negative DA error" in note
    else:
        assert np.all(d["da_base_d1_nM"] == 0) and np.all(d["da_base_d2_nM"] == 0)
        assert np.all(dw["ctx_d1"] == 0) and np.all(dw["ctx_d2"] == 0)
        assert "plasticity is absent" in note


def _fake(choices, cue, cue2, train):
    n = len(cue)
    data = {
        "trial_cue": np.array(cue),
        "trial_cue2": np.array(cue2),
        "trial_train": np.array(train),
        "trial_draw": np.zeros(n),
        "choice_stim": np.array([c for c in choices if c >= 0], int),
        "choice_time": np.array(
            [k * 2.5 + 0.5 + 0.2 for k, c in enumerate(choices) if c >= 0], float
        ),
    }
    return data


def test_choices_and_accuracies_on_hand_made_data():
    p = {"trial_len": 2.5 * ps.second, "cs_time": 0.5 * ps.second, "fb_delay": 1 * ps.second}
    # test trials: A-C (A chosen), A-D (D chosen), B-C (C chosen), B-E (B chosen),
    # B-F (frozen), C-D (C chosen)
    cue = [0, 0, 1, 1, 1, 2]
    cue2 = [2, 3, 2, 4, 5, 3]
    choices = [0, 3, 2, 1, -1, 2]
    data = _fake(choices, cue, cue2, [False] * 6)
    ps._choices(data, p)
    assert data["trial_choice"].tolist() == choices
    assert np.allclose(data["trial_latency"][[0, 1, 2, 3, 5]], 0.2)
    assert np.isnan(data["trial_latency"][4])
    assert data["trial_outcome"].tolist() == [0] * 6  # no feedback in the test
    # choose A: 1 of 2; avoid B: 1 of 2 responded (the frozen trial does not count)
    ch, c1, c2 = (data[k] for k in ("trial_choice", "trial_cue", "trial_cue2"))
    assert ps._fraction(ch == 0, (c1 == 0) | (c2 == 0)) == 0.5
    # the training outcome follows the draw: draw 0 < any P, so rewarded
    data = _fake([0, 1, -1], [0, 0, 2], [1, 1, 3], [True, True, True])
    ps._choices(data, p)
    assert data["trial_outcome"].tolist() == [1, 1, 0]


def test_selection_figure_when_every_trial_freezes(tmp_path):
    """A circuit that never acts (total DA loss) still gets its figure, without
    warnings: accuracies without an answered trial are marked, not averaged."""
    import warnings

    from dopasim import plots

    table = ps.trials(_p(n_train=30), np.random.default_rng(0))
    n = len(table["cue"])
    data = {
        "trial_cue": table["cue"],
        "trial_cue2": table["cue2"],
        "trial_train": table["train"],
        "trial_choice": -np.ones(n, int),
        "trial_better": table["cue"],
    }
    metrics = {
        "choose_a_accuracy": float("nan"),
        "avoid_b_accuracy": float("nan"),
        "test_accuracy": float("nan"),
        "freeze_fraction_test": 1.0,
        **{f"go_nogo_{s}": -12.0 for s in ps.STIMULI},
        "go_nogo_good": -12.0,
        "go_nogo_bad": -12.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = plots.selection_summary(
            data, {}, metrics, tmp_path / "sel.png", ps.answered_test_trials(data)
        )
    assert Path(out).stat().st_size > 0


def test_weight_change_by_role_on_hand_made_weights():
    """Each trial's change of a stimulus' mean weight goes to the role it played."""
    p = {"trial_len": 3 * ps.second}
    # trials: 0 AB train, A chosen, rewarded; 1 CD train, D chosen, punished; 2 AB
    # train, frozen; 3 AC test, C chosen; 4 (end not sampled)
    W = np.array(
        [
            [0.5, 0.6, 0.7, 0.7, 0.6],  # A
            [0.5, 0.6, 0.7, 0.7, 0.6],  # A
            [0.5, 0.4, 0.4, 0.5, 0.5],  # B
            [0.5, 0.5, 0.2, 0.2, 0.4],  # D
        ]
    )
    data = {
        "trial_cue": np.array([0, 2, 1, 0, 0]),
        "trial_cue2": np.array([1, 3, 0, 2, 1]),
        "trial_train": np.array([True, True, True, False, False]),
        "trial_choice": np.array([0, 3, -1, 2, 0]),
        "trial_outcome": np.array([1, 2, 0, 0, 0]),
        "ctx_d1_w_samples": W,
        "ctx_d1_w_t": np.array([0.0, 3.0, 6.0, 9.0, 12.0]),
        "ctx_d1_w_sample_cue": np.array([0, 0, 1, 3]),
    }
    out = ps.weight_change_by_role(data, p, "ctx_d1")
    assert out[(0, "rewarded")] == pytest.approx((0.1, 1))
    assert out[(0, "not_shown")] == pytest.approx((0.1, 1))
    assert out[(0, "frozen")] == pytest.approx((0.0, 1))
    assert out[(0, "test_shown")] == pytest.approx((-0.1, 1))
    assert out[(1, "unchosen")] == pytest.approx((-0.1, 1))
    assert out[(1, "frozen")] == pytest.approx((0.1, 1))
    assert out[(1, "test_not_shown")] == pytest.approx((0.0, 1))
    assert out[(3, "punished")] == pytest.approx((-0.3, 1))
    assert out[(3, "test_not_shown")] == pytest.approx((0.2, 1))
    # trial 4's end is not sampled: it is left out
    assert sum(n for (s, _), (_, n) in out.items() if s == 0) == 4
    assert not any(s == 2 for s, _ in out)  # C has no sampled synapse
    assert set(role for _, role in out) <= set(ps.ROLES)
    assert ps.weight_change_by_role({}, p, "ctx_d1") == {}


def test_learning_per_outcome_on_hand_made_weights():
    """dw_<go|nogo>_<reward|punish>: the chosen stimulus' weight change over a trial."""
    p = {"trial_len": 3 * ps.second}
    # samples at the starts of trials 0-3: synapses 0-1 belong to A, 2-3 to B
    W = np.array(
        [
            [0.5, 0.6, 0.6, 0.8],
            [0.5, 0.7, 0.7, 0.9],
            [0.5, 0.5, 0.3, 0.3],
            [0.5, 0.5, 0.1, 0.1],
        ]
    )
    data = {
        "trial_outcome": np.array([1, 2, 1, 1]),  # the last trial's end is not sampled
        "trial_choice": np.array([0, 1, 0, 0]),
        "ctx_d1_w_samples": W,
        "ctx_d1_w_t": np.array([0.0, 3.0, 6.0, 9.0]),
        "ctx_d1_w_sample_cue": np.array([0, 0, 1, 1]),
    }
    assert ps._dw_per_outcome(data, p, "ctx_d1", 1) == pytest.approx((0.15 + 0.2) / 2)
    assert ps._dw_per_outcome(data, p, "ctx_d1", 2) == pytest.approx(-0.3)
    data["w_init"] = np.array(0.5)
    assert ps._dw_per_outcome(data, p, "ctx_d1", 2) == pytest.approx(-0.3)
    # a run recorded before the monitor fix (first sample 0, samples one trial late)
    old = dict(data, ctx_d1_w_samples=np.concatenate([np.zeros((4, 1)), W[:, :-1]], axis=1))
    assert np.isnan(ps._dw_per_outcome(old, p, "ctx_d1", 2))
    # no sampled synapse of the chosen stimulus, or no samples at all: NaN
    data["trial_choice"] = np.array([2, 2, 2, 2])
    assert np.isnan(ps._dw_per_outcome(data, p, "ctx_d1", 1))
    assert np.isnan(ps._dw_per_outcome(data, p, "ctx_d2", 1))


def test_trials_and_schedule():
    p = _p()
    table = ps.trials(p, np.random.default_rng(0))
    train = table["train"]
    assert train.sum() == 6 and (~train).sum() == 15
    pairs = {tuple(sorted(x)) for x in zip(table["cue"][train], table["cue2"][train], strict=True)}
    assert pairs == set(ps.TRAIN_PAIRS)
    tests = sorted(
        tuple(sorted(x)) for x in zip(table["cue"][~train], table["cue2"][~train], strict=True)
    )
    assert tests == sorted(ps.TEST_PAIRS)
    stim = ps.stimulus(p, table)
    task = stim.task
    per = int(round(0.6 / 0.01))
    onset = 20
    assert task.phase[onset] == PHASE_RESET
    assert np.all(task.phase[onset + 1 : onset + 20] == PHASE_OPEN)
    assert np.all(task.phase[onset + 20 : onset + 40] == PHASE_CLOSED)
    assert np.all(task.phase[:onset] == 0)
    assert task.ramp[onset] == 0 and task.ramp[onset + 19] == 1
    assert stim.state[onset] == table["cue"][0] and stim.state2[onset] == table["cue2"][0]
    assert stim.state[per + onset - 1] == -1
    assert np.all(task.feedback[: 6 * per] == 1) and np.all(task.feedback[6 * per : 21 * per] == 0)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"trial_len": "0.5s"}, "trial_len"),
        ({"n_train": "7"}, "n_train"),
        ({"readout_window": "0.3s"}, "readout_window"),
        ({"cs_time": "0.1s"}, "cs_time"),
        ({"window": "0.205s"}, "window"),
        ({"window": "-0.2s"}, "window"),
        ({"n_test_reps": "0"}, "n_test_reps"),
    ],
)
def test_bad_input_names_the_field(changes, field):
    with pytest.raises(ParamError, match=field):
        _p(**changes)


def test_cli_bad_input_exits_2_without_output(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", ps.NAME, "--param", "n_train=7", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "n_train" in err and "Traceback" not in err
    assert not out.exists()


def test_selection_params_validate():
    with pytest.raises(ValueError, match="theta"):
        SelectionParams(theta=0 * ps.second**-1).validate()


def test_soft_bounds_scale_the_change_by_the_room_left():
    w = np.array([0.2, 0.2, 0.9, 0.9])
    c_e = np.ones(4)
    inc = np.array([0.5, -0.1, 0.5, -0.5])
    got = current_weights(w, c_e, np.zeros(4), inc, 0.0, 1.0, bounds="soft")
    assert np.allclose(got, [0.2 + 0.5 * 0.8, 0.2 - 0.1 * 0.2, 0.9 + 0.5 * 0.1, 0.9 - 0.5 * 0.9])
    hard = current_weights(w, c_e, np.zeros(4), inc, 0.0, 1.0)
    assert np.allclose(hard, [0.7, 0.1, 1.0, 0.4])
    with pytest.raises(ValueError, match="bounds"):
        ThreeFactorRule(bounds="sticky").validate()
    with pytest.raises(ValueError, match="w_min < w_max"):
        ThreeFactorRule(bounds="soft", w_min=1.0, w_max=1.0).validate()


@pytest.mark.parametrize(
    "train_sd, test_sd", [(1000, 1000), (1000, 0), (0, 1000)], ids=["both", "train", "test"]
)
def test_choice_noise_offset_decides_when_it_dwarfs_the_values(tmp_path, train_sd, test_sd):
    """The read-out's drift offset b_s (near-normal, SD choice_noise on training trials,
    test_choice_noise on test trials) is drawn from its own stream at the trial's onset
    and held: with an SD of 1000 Hz (the channels' Go - NoGo and the urgency are a few
    Hz) a shown channel with b_s > 100 Hz crosses within a few ms and one with b_s < -100
    Hz never does. So when exactly one shown offset is positive it is the choice, and two
    negative ones are a freeze (two positive ones race; they are only checked to choose a
    shown stimulus). On the trials whose SD is 0 no offset acts, so their choices do not
    all follow the offsets that the same draws would have given. The expected
    offsets come from the numpy reference of the hash (`splitmix64_normal`), so this also
    checks the seed's path from the "choice" stream to the read-out and the step of the
    draw. (Run on numpy; that the hash gives the same numbers on the compiled targets is
    tests/test_targets.py's job.)"""
    from dopasim.models.noise import splitmix64_normal
    from dopasim.seeding import streams

    seed = 3
    res = runner.run(
        ps.NAME,
        {
            **TINY,
            # enough training trials for decisive draws in both phases
            "n_train": 15 if 0 in (train_sd, test_sd) else TINY["n_train"],
            "choice_noise": f"{train_sd} Hz",
            "test_choice_noise": f"{test_sd} Hz",
        },
        seed=seed,
        device="numpy",
        out=tmp_path / "run",
        quiet=True,
    )
    d, p = res.data, res.params
    noise_seed = int(streams(seed)["choice"].integers(0, 2**31 - 1))
    grid, dt = float(pv.GRID), float(ps.circuit_params(p).dt)
    per_trial = round(float(p["trial_len"]) / grid)
    onset = round(float(p["cs_time"]) / grid)
    choice, cue, cue2 = d["trial_choice"], d["trial_cue"], d["trial_cue2"]
    kinds = {"one": 0, "none": 0, "both": 0, "off": 0}
    forced = 0  # trials without an offset that still look forced by one
    for k in range(len(cue)):
        last_reset_step = round((k * per_trial + onset + 1) * grid / dt) - 1
        b = 1000 * splitmix64_normal(np.full(6, last_reset_step), np.arange(6), noise_seed)
        shown = (cue[k], cue2[k])
        if min(abs(b[s]) for s in shown) < 100:
            continue
        up = [s for s in shown if b[s] > 0]
        if (train_sd if d["trial_train"][k] else test_sd) == 0:
            if len(up) == 1:  # an offset of this draw would have forced this choice
                kinds["off"] += 1
                forced += choice[k] == up[0] and d["trial_latency"][k] < 0.03
        elif len(up) == 1:
            assert choice[k] == up[0], k
            assert d["trial_latency"][k] < 0.03, k
            kinds["one"] += 1
        elif not up:
            assert choice[k] == -1, k
            kinds["none"] += 1
        else:
            assert choice[k] in shown, k
            kinds["both"] += 1
    # the decisive cases occur, so the check is not vacuous
    assert kinds["one"] >= (3 if 0 not in (train_sd, test_sd) else 2), kinds
    assert kinds["none"] >= 1, kinds
    if 0 in (train_sd, test_sd):
        # without its offset a trial is decided by the network: at this size some choices
        # come within 30 ms anyway (the 0 Hz read-out's fastest is about 20 ms), but not
        # the forced choice on every trial where an offset would have forced one
        assert kinds["off"] >= 2 and forced <= kinds["off"] // 2, (kinds, forced)


def test_choice_noise_reaches_the_read_out():
    table = ps.trials(_p(), np.random.default_rng(0))
    assert float(ps.stimulus(_p(), table).task.params.drift_sd) == 12  # the defaults
    assert float(ps.stimulus(_p(), table).task.params.test_drift_sd) == 1  # calibrated default
    p = _p(choice_noise="12 Hz", test_choice_noise="3 Hz")
    assert float(ps.stimulus(p, table).task.params.drift_sd) == 12
    assert float(ps.stimulus(p, table).task.params.test_drift_sd) == 3


def test_choice_noise_must_not_be_negative():
    with pytest.raises(ParamError, match="choice_noise"):
        _p(choice_noise="-1 Hz")
    with pytest.raises(ParamError, match="test_choice_noise"):
        _p(test_choice_noise="-1 Hz")
    with pytest.raises(ValueError, match="drift_sd"):
        SelectionParams(drift_sd=-1 * Hz).validate()
    with pytest.raises(ValueError, match="test_drift_sd"):
        SelectionParams(test_drift_sd=-1 * Hz).validate()
    with pytest.raises(ValueError, match="test_drift_sd must be finite"):
        SelectionParams(test_drift_sd=np.inf * Hz).validate()
    with pytest.raises(ValueError, match="noise_seed"):
        SelectionParams(noise_seed=2**31).validate()


def test_the_read_out_runs_on_the_circuits_clock():
    """The task's controller, accumulators and their synapses share the circuit's one
    clock (`dopasim.models.timing`), as every object of the circuit at its dt does."""
    from dopasim.seeding import streams

    module, p, seed, _ = runner.prepare("probabilistic-selection", dict(TINY_SELECTION), 1, "numpy")
    circuit = module.build(p, streams(seed))
    objects = {o.name: o for o in circuit.network.objects}
    clock = circuit["vta_da"].clock
    assert clock.name == "circuit_clock"
    for name in ("bg_controller", "bg_thalamus", "bg_go", "bg_nogo", "bg_select"):
        assert objects[name].clock is clock, name

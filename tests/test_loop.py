"""The loop's own rules: evaluations and checkpoints change nothing that training learns or logs, and a
run stops at the first evaluation that reaches its target."""

import math

import numpy as np
import pytest

from lander_exp.run.train import target_reached
from tests.conftest import TINY, history, leet_records, leet_summary, make_cfg, run_cli
from tests.processes import assert_same_state, ckpt, load, run_folder, wandb_runs

LOOP = [*TINY, "train.max_epochs=4", "train.keep_checkpoints=10", "train.torch_threads=1", "train.video_every=0"]


def _training_rows(wandb_dir):
    keep = ("train/", "episode/", "global_step", "epoch")
    return [{k: v for k, v in row.items() if k.startswith(keep)} for row in history(leet_records(wandb_dir))]


@pytest.mark.parametrize("overrides", [[], ["experiment=fast", "train.target_return=null", "algo.steps_per_epoch=1024",
                                            "train.eval_episodes=2", "train.eval_envs=2", "train.eval_screen=0"]],
                         ids=["gymnasium", "envpool_fast"])
def test_the_evaluation_schedule_changes_nothing_training_learns_or_logs(tmp_path, overrides):
    dirs = []
    for every in (1, 3):
        workdir = tmp_path / f"every{every}"
        workdir.mkdir()
        proc = run_cli([*LOOP, *overrides, f"train.eval_every={every}", "train.max_epochs=4"], cwd=workdir)
        assert proc.returncode == 0, proc.stderr[-3000:]
        dirs.append(workdir)
    (a, b) = dirs
    # both evaluate after epoch 3 (every=3) and 4 (the last); epoch 4's state is the run's end
    state_a, state_b = (load(ckpt(run_folder(d), 4)) for d in dirs)
    assert_same_state(state_a["algo"], state_b["algo"])
    assert_same_state(state_a["episode_log"], state_b["episode_log"])
    rows_a, rows_b = (_training_rows(wandb_runs(d)[0]) for d in (a, b))
    assert len(rows_a) == 4 and rows_a == rows_b


def test_target_is_reached_at_equality_and_not_below():
    train = make_cfg(["train.target_return=200", "train.target_window=2"]).train
    assert target_reached(train, [150.0, 250.0])
    assert not target_reached(train, [150.0, 249.0])
    assert not target_reached(train, [])


def test_a_run_stops_at_the_first_evaluation_that_reaches_its_target(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    proc = run_cli([*LOOP, "train.max_epochs=2", "train.target_return=null"], cwd=first)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evals = [r["eval/return_mean"] for r in history(leet_records(wandb_runs(first)[0]))]
    target = evals[1]  # the second evaluation's mean, exactly: runs are deterministic
    proc = run_cli([*LOOP, "train.max_epochs=4", f"train.target_return={target!r}", "train.target_window=1"], cwd=second)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = leet_summary(wandb_runs(second)[0])["summary"]
    assert summary["stop_reason"] == "target_return" and summary["epochs"] == 2
    assert summary["final_eval_return"] == target


def test_every_logged_metric_lies_within_its_meaning(tmp_path):
    proc = run_cli([*LOOP, "train.max_epochs=3", "lr.actor=0.002", "lr.critic=0.004"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = history(leet_records(wandb_runs(tmp_path)[0]))
    assert len(rows) == 3
    for r in rows:
        assert 0 <= r["train/clip_frac"] <= 1 and r["train/approx_kl"] >= 0
        assert r["train/explained_variance"] <= 1
        assert r["train/grad_norm/actor"] >= 0 and r["train/grad_norm/critic"] >= 0 and r["train/critic_loss"] >= 0
        assert (r["train/lr/actor"], r["train/lr/critic"]) == (0.002, 0.004)
        # the entropy of the Gaussian with the logged log_std (at the update's start, so within a few steps)
        entropy = sum(0.5 + 0.5 * math.log(2 * math.pi) + r[f"train/log_std/{i}"] for i in range(2))
        assert r["train/entropy"] == pytest.approx(entropy, abs=0.05)
        assert r["train/loss"] == pytest.approx(r["train/actor_loss"] + 0.5 * r["train/critic_loss"]
                                                - 0.01 * r["train/entropy"], rel=1e-5, abs=1e-6)
        for prefix in ("episode", "eval"):
            rates = [r[f"{prefix}/{k}"] for k in ("landed", "crashed", "out_of_bounds", "timeout")]  # exhaustive
            assert all(0 <= x <= 1 for x in rates) and sum(rates) == pytest.approx(1.0)
        assert r["episode/count"] >= 1 and 1 <= r["episode/length"] <= 100
        assert r["perf/env_steps_per_s"] > 0 and r["perf/rollout_s"] > 0 and r["perf/update_s"] > 0
    assert [r["global_step"] for r in rows] == [512, 1024, 1536] and [r["epoch"] for r in rows] == [1, 2, 3]
    evals = [r["eval/return_mean"] for r in rows]
    assert [r["eval/return_ma"] for r in rows] == pytest.approx([np.mean(evals[max(0, i - 2):i + 1]) for i in range(3)])


def test_the_default_fast_preset_trains_with_its_critic_one_epoch_behind(tmp_path):
    """experiment=default_fast (EnvPool, the background critic) shrunk to small epochs: it trains, its
    actor metrics mean what they say, and the critic's arrive one row late, as documented."""
    proc = run_cli(["experiment=default_fast", "algo.steps_per_epoch=2048", "algo.batch_size=512", "algo.update_epochs=2",
                    "train.max_epochs=3", "train.eval_every=3", "train.eval_episodes=2", "train.eval_envs=2",
                    "train.target_return=null", "train.video_every=0", "train.progress=false"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [r for r in history(leet_records(wandb_runs(tmp_path)[0])) if "train/actor_loss" in r]
    assert [r["global_step"] for r in rows] == [2048, 4096, 6144]
    assert "train/critic_loss" not in rows[0] and all(math.isfinite(r["train/critic_loss"]) for r in rows[1:])
    assert all(0 <= r["train/clip_frac"] <= 1 and r["train/approx_kl"] >= -1e-6 for r in rows)
    assert all(r["perf/critic_wait_s"] >= 0 for r in rows)

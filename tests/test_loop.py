"""The loop's own rules: evaluations and checkpoints change nothing that training learns or logs, and a
run stops at the first evaluation that reaches its target."""

import pytest

from lander_exp.run.train import target_reached
from tests.conftest import TINY, history, leet_records, leet_summary, make_cfg, run_cli
from tests.processes import assert_same_state, load, run_folder, wandb_runs

LOOP = [*TINY, "train.max_epochs=4", "train.keep_checkpoints=10", "train.torch_threads=1", "train.video_every=0"]


def _training_rows(wandb_dir):
    keep = ("train/", "episode/", "global_step", "epoch")
    return [{k: v for k, v in row.items() if k.startswith(keep)} for row in history(leet_records(wandb_dir))]


@pytest.mark.parametrize("overrides", [[], ["experiment=fast", "train.target_return=null", "algo.steps_per_epoch=1024",
                                            "train.eval_episodes=2", "train.eval_envs=2"]],
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
    state_a, state_b = (load(run_folder(d) / "checkpoints" / "epoch_000004.pt") for d in dirs)
    assert_same_state(state_a["algo"], state_b["algo"])
    assert_same_state(state_a["episode_log"], state_b["episode_log"])
    rows_a, rows_b = (_training_rows(wandb_runs(d)[0]) for d in (a, b))
    assert len(rows_a) == 4 and rows_a == rows_b


def test_target_is_reached_at_equality_and_not_below():
    cfg = make_cfg(["train.target_return=200", "train.target_window=2"])
    assert target_reached(cfg, [150.0, 250.0])
    assert not target_reached(cfg, [150.0, 249.0])
    assert not target_reached(cfg, [])


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

"""Many seeds in one process (`seeds=[...]`, run/batch.py): with the Gymnasium backend, seed k trained
in a batch plays the episodes and ends with the weights of seed k trained alone, for both algorithms;
each seed is its own run (folder, config.yaml, checkpoints, W&B run read back with `wandb leet
inspect --json`); one seed's non-finite number fails that seed only; a batch killed with SIGKILL
resumes every seed, as if it had never been killed."""

from __future__ import annotations

import csv
import json
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lander_exp.core.nets import NumpyMLP, StackedMLP, mlp
from lander_exp.run import checkpoint
from lander_exp.run.records import wandb_dir_of
from tests.conftest import TINY, leet_summary, run_cli
from tests.processes import assert_same_state, ckpt, cli_env, exit_code, load, metric_rows, spawn, wait_for

PPO = [*TINY, "train.torch_threads=1", "train.video_every=0", "train.max_epochs=3"]
REINFORCE = ["experiment=reinforce", "train.max_episodes=24", "train.eval_every=8", "train.eval_episodes=2",
             "train.eval_envs=2", "env.max_episode_steps=120", "network.hidden_dim=16", "train.torch_threads=1",
             "train.video_every=0", "train.progress=false", "train.keep_checkpoints=10"]
SEEDS = [4, 7, 9]


def test_stacked_actors_compute_what_each_actor_computes():
    torch.manual_seed(0)
    seqs = [mlp(8, 16, 2, 4) for _ in range(3)]
    x = np.random.default_rng(0).standard_normal((3, 5, 8)).astype(np.float32)
    stacked = StackedMLP(seqs)
    out = stacked(x)
    for k, seq in enumerate(seqs):
        np.testing.assert_allclose(out[k], NumpyMLP(seq)(x[k]), rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        seqs[1][0].weight.mul_(2)
    stacked.refresh(1, seqs[1])
    np.testing.assert_allclose(stacked(x)[1], NumpyMLP(seqs[1])(x[1]), rtol=1e-6, atol=1e-6)


def batch_dir(workdir):
    (found,) = sorted((workdir / "runs").glob("20*/*_s*-*")) or sorted((workdir / "runs").glob("20*/*_s*_*"))
    return found


def alone_dir(workdir):
    (found,) = sorted((workdir / "runs").glob("20*/*_s[0-9]"))
    return found


def final_checkpoint(run_dir):
    return load(checkpoint.latest(run_dir))


def assert_close_state(a, b):
    """Equal checkpoint trees, tensors to float tolerance; clocks, W&B ids and the run's own folder skipped."""
    assert_same_state(a, b, skip=("wall_s", "id", "rows", "run_dir"), close=True)


def assert_same_rows(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], float):
                assert x[key] == pytest.approx(y[key], rel=1e-4, abs=1e-5), key
            else:
                assert x[key] == y[key], key


@pytest.mark.parametrize("args", [PPO, [*PPO, "algo.overlap_critic=true"], REINFORCE],
                         ids=["ppo", "ppo_overlapped_critic", "reinforce"])
def test_a_seed_trained_in_a_batch_plays_and_learns_as_alone(tmp_path, args):
    batched, alone = tmp_path / "batched", tmp_path / "alone"
    batched.mkdir()
    alone.mkdir()
    proc = run_cli([*args, f"seeds=[{','.join(map(str, SEEDS))}]"], cwd=batched)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli([*args, "seed=7"], cwd=alone)
    assert proc.returncode == 0, proc.stderr[-3000:]

    folder = batch_dir(batched)
    runs = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != ".hydra")
    assert runs == [f"s{s}" for s in sorted(SEEDS)]
    for s in SEEDS:  # each seed an ordinary run: its own config (seed, no seeds), W&B run, summary
        cfg = OmegaConf.load(folder / f"s{s}" / "config.yaml")
        assert cfg.seed == s and cfg.seeds is None
        summary = leet_summary(wandb_dir_of(folder / f"s{s}"))
        assert summary["config"]["seed"] == s and summary["summary"]["stop_reason"] in ("max_epochs", "max_episodes")
    ids = {json.loads((folder / f"s{s}" / "wandb_run.json").read_text())["id"] for s in SEEDS}
    assert len(ids) == len(SEEDS)

    mine, theirs = folder / "s7", alone_dir(alone)
    rows, rows_alone = metric_rows(wandb_dir_of(mine)), metric_rows(wandb_dir_of(theirs))
    assert [r.get("episode/return") for r in rows] == pytest.approx([r.get("episode/return") for r in rows_alone], rel=1e-6)
    assert_same_rows(rows, rows_alone)
    assert_close_state(final_checkpoint(mine), final_checkpoint(theirs))
    # and the seeds of a batch are not copies of each other
    other = final_checkpoint(folder / "s4")["algo"]["model"]
    assert not torch.equal(other["actor.0.weight"], final_checkpoint(mine)["algo"]["model"]["actor.0.weight"])


def test_a_seed_that_turns_non_finite_fails_alone(tmp_path):
    """Resume a batch in which one seed's weights became NaN: that seed fails (W&B run exit 1, debug
    checkpoint, failure in its summary), its siblings finish."""
    proc = run_cli([*REINFORCE, "seeds=[1,2]"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = batch_dir(tmp_path)
    for s in (1, 2):  # make both look killed after episode 8
        for path in checkpoint.checkpoints(folder / f"s{s}")[1:]:
            path.unlink()
    newest = checkpoint.latest(folder / "s1")
    state = load(newest)
    state["algo"]["model"]["actor.0.weight"].fill_(float("nan"))
    checkpoint.write(newest, state)  # a well-formed checkpoint whose weights are NaN
    proc = run_cli([str(folder)], cwd=tmp_path, module="lander_exp.resume")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "non-finite" in proc.stderr and "seed 2" in proc.stderr
    failed, ok = wandb_dir_of(folder / "s1"), wandb_dir_of(folder / "s2")
    assert exit_code(failed) == 1 and exit_code(ok) == 0
    assert leet_summary(failed)["summary"]["stop_reason"] == "non_finite"
    assert list((folder / "s1" / "checkpoints").glob("debug_*.safetensors"))
    assert leet_summary(ok)["summary"]["stop_reason"] == "max_episodes"
    assert leet_summary(ok)["summary"]["episodes"] == 24


def test_a_batch_killed_with_sigkill_resumes_every_seed_as_if_never_killed(tmp_path):
    ref_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    ref_dir.mkdir()
    killed_dir.mkdir()
    args = [*REINFORCE, "train.max_episodes=48", "seeds=[3,5,6]"]
    assert run_cli(args, cwd=ref_dir).returncode == 0
    proc = spawn(args, cwd=killed_dir)

    def newest(s):
        found = [checkpoint.epoch_of(p) for p in (killed_dir / "runs").glob(f"20*/*/s{s}/checkpoints/epoch_*.safetensors")]
        return max(found, default=0)

    assert wait_for(lambda: all(newest(s) >= 16 for s in (3, 5, 6)), proc)
    proc.kill()
    proc.wait()
    assert any(newest(s) < 48 for s in (3, 5, 6))
    proc = run_cli([str(batch_dir(killed_dir))], cwd=killed_dir, module="lander_exp.resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for s in (3, 5, 6):
        ref, resumed = batch_dir(ref_dir) / f"s{s}", batch_dir(killed_dir) / f"s{s}"
        assert_same_state(load(ckpt(ref, 48)), load(ckpt(resumed, 48)))
        assert metric_rows(wandb_dir_of(resumed)) == metric_rows(wandb_dir_of(ref))
        assert exit_code(wandb_dir_of(resumed)) == 0


def test_a_ppo_batch_killed_mid_episode_resumes_bit_for_bit(tmp_path):
    """PPO's episodes span its checkpoints (envs carry on from epoch to epoch, episodes of up to 1000
    steps against epochs of 256 steps per env): the resumed batch rebuilds every seed's episodes in
    progress and ends with the uninterrupted batch's weights and W&B rows, bit for bit."""
    ref_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    ref_dir.mkdir()
    killed_dir.mkdir()
    args = [*PPO, "train.max_epochs=8", "train.eval_every=2", "env.max_episode_steps=1000", "train.keep_checkpoints=5",
            "seeds=[3,5]"]
    assert run_cli(args, cwd=ref_dir).returncode == 0
    proc = spawn(args, cwd=killed_dir)

    def newest(s):
        found = [checkpoint.epoch_of(p) for p in (killed_dir / "runs").glob(f"20*/*/s{s}/checkpoints/epoch_*.safetensors")]
        return max(found, default=0)

    # killed as soon as both seeds have their epoch-4 checkpoint: mid-epoch 5, between two checkpoints
    assert wait_for(lambda: min(newest(3), newest(5)) >= 4, proc)
    proc.kill()
    proc.wait()
    assert newest(3) == newest(5) < 8
    resumed_from = checkpoint.checkpoints(batch_dir(killed_dir) / "s3")[-1].name
    proc = run_cli([str(batch_dir(killed_dir))], cwd=killed_dir, module="lander_exp.resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "could not be rebuilt" not in proc.stderr
    for s in (3, 5):
        ref, resumed = batch_dir(ref_dir) / f"s{s}", batch_dir(killed_dir) / f"s{s}"
        assert_same_state(load(ckpt(ref, 8)), load(ckpt(resumed, 8)))
        assert metric_rows(wandb_dir_of(resumed)) == metric_rows(wandb_dir_of(ref))
    assert load(batch_dir(ref_dir) / "s3" / "checkpoints" / resumed_from)["env_replay"]["taken"].sum() > 0  # episodes in progress


def test_a_batch_stopped_by_sigterm_prints_a_resume_command_that_works_as_printed(tmp_path):
    """SIGTERM stops every seed with a checkpoint; the batch's last line names the command that
    continues them, and that command, run as printed from the same folder, finishes every seed."""
    args = [*REINFORCE, "train.max_episodes=400", "train.eval_every=4", "seeds=[3,5]"]
    proc = spawn(args, cwd=tmp_path)

    def checkpointed():
        return len(list((tmp_path / "runs").glob("20*/*/s*/checkpoints/epoch_*.safetensors"))) >= 2

    assert wait_for(checkpointed, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert "seeds stopped early" in last and "W&B run: none" not in err, err[-2000:]
    printed = last.split("continue them with: ")[1]
    assert printed.split()[0] == sys.executable or printed.startswith("python ")
    resumed = subprocess.run(shlex.split(printed), cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for s in (3, 5):
        (run_dir,) = (tmp_path / "runs").glob(f"20*/*/s{s}")
        assert leet_summary(wandb_dir_of(run_dir))["summary"]["episodes"] == 400


def test_a_multirun_over_seeds_trains_them_in_one_process_with_the_batched_launcher(workdir):
    proc = run_cli(["-m", "hydra/launcher=batched", "seed=4,7", "train.max_episodes=6",
                    *[a for a in REINFORCE if not a.startswith("train.max_episodes")]], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("[batched launcher]") == 1 and "seeds 4,7 in one process" in proc.stdout
    jobs = sorted((workdir / "runs" / "multirun").glob("*/*/*_s*"))
    assert [j.name for j in jobs] == ["0_reinforce_s4", "1_reinforce_s7"]
    for job, seed in zip(jobs, (4, 7), strict=True):  # each an ordinary job: .hydra, config, W&B run
        assert (job / ".hydra" / "overrides.yaml").is_file() and OmegaConf.load(job / "config.yaml").seed == seed
        summary = leet_summary(wandb_dir_of(job))
        assert summary["summary"]["episodes"] == 6 and exit_code(wandb_dir_of(job)) == 0


def reinforce_sweep(workdir, parameters: str):
    """A sweep file of tiny REINFORCE runs (4 episodes) over `parameters` (YAML lines, one indented)."""
    from tests.test_sweep import COMMAND, write

    path = write(workdir, f"""
        program: lander_exp/__main__.py
        command: {COMMAND}
        method: grid
        metric: {{name: episode/return_ma100, goal: maximize}}
        parameters:
          experiment: {{value: reinforce}}
{parameters}
        """)
    args = [a for a in REINFORCE if not a.startswith("experiment=")]
    text = path.read_text().replace('"${args_no_hyphens}"', ", ".join([*args, "train.max_episodes=4", '"${args_no_hyphens}"']))
    path.write_text(text.replace("train.max_episodes=24, ", ""))
    return path


def test_the_sweep_runner_trains_points_that_differ_only_in_seed_in_one_process(workdir):
    path = reinforce_sweep(workdir, """\
          lr.actor: {values: [0.001, 0.003]}
          seed: {values: [1, 2]}""")
    proc = run_cli([str(path), "--batch-seeds", "--dir", "out", "--csv", "out.csv"], cwd=workdir, module="lander_exp.sweep")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "4 to run in 2 processes" in proc.stdout
    folders = sorted(p.parent.relative_to(workdir / "out" / "tiny") for p in (workdir / "out" / "tiny").rglob("sweep_done.json"))
    assert [str(f) for f in folders] == ["actor-0.001/s1", "actor-0.001/s2", "actor-0.003/s1", "actor-0.003/s2"]
    rows = list(csv.DictReader(open(workdir / "out.csv")))
    assert sorted((r["varied_settings"], r["seed"]) for r in rows) == [
        ("lr.actor=0.001", "1"), ("lr.actor=0.001", "2"), ("lr.actor=0.003", "1"), ("lr.actor=0.003", "2")]
    rerun = run_cli([str(path), "--batch-seeds", "--dir", "out"], cwd=workdir, module="lander_exp.sweep")
    assert rerun.returncode == 0 and "4 already done, 0 to run" in rerun.stdout


def test_with_more_workers_than_batches_the_runner_splits_a_batch_and_each_part_keeps_its_own_log(workdir):
    path = reinforce_sweep(workdir, "          seed: {values: [1, 2, 3]}")
    proc = run_cli([str(path), "--batch-seeds", "--workers", "2", "--dir", "out"], cwd=workdir, module="lander_exp.sweep")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "3 to run in 2 processes" in proc.stdout
    assert "seeds 1,3 in one process" in proc.stdout and "seeds 2 in one process" in proc.stdout
    (batch,) = [p for p in (workdir / "out" / "tiny").iterdir() if p.is_dir() and p.name != "wandb"]
    assert sorted(p.name for p in batch.glob("sweep*.log")) == ["sweep_s1-3.log", "sweep_s2.log"]
    for tag, seeds in (("s1-3", "[1,3]"), ("s2", "[2]")):  # Hydra's record of each part's own command
        assert f"seeds={seeds}" in (batch / ".hydra" / tag / "overrides.yaml").read_text()
    for seed in (1, 2, 3):
        assert OmegaConf.load(batch / f"s{seed}" / "config.yaml").seed == seed
        assert (batch / f"s{seed}" / "sweep_done.json").is_file()
    rerun = run_cli([str(path), "--batch-seeds", "--workers", "2", "--dir", "out"], cwd=workdir, module="lander_exp.sweep")
    assert rerun.returncode == 0 and "3 already done, 0 to run" in rerun.stdout


@pytest.mark.parametrize("value", ["[1,1]", "[]", "[-1,2]"])
def test_bad_seeds_fail_in_one_line_naming_the_key(value):
    from lander_exp.config import ConfigError
    from tests.conftest import make_cfg

    with pytest.raises(ConfigError, match=r"^seeds=.* is invalid: must be null .* e\.g\. seeds=\[0,1,2,3,4\]$"):
        make_cfg([f"seeds={value}"])

"""Real runs through the CLI, read back from W&B's offline files with `wandb leet inspect --json`."""

import json
import math
import re
import sys
from pathlib import Path

import pytest

from lander_exp.run.records import metric_problem
from tests.conftest import TINY, history, leet_records, leet_summary, run_cli

METRICS = [
    "train/actor_loss", "train/critic_loss", "train/loss", "train/entropy", "train/log_std/0", "train/log_std/1",
    "train/approx_kl", "train/clip_frac", "train/explained_variance", "train/grad_norm/actor",
    "train/grad_norm/critic", "episode/return", "episode/length", "episode/landed", "episode/crashed",
    "episode/out_of_bounds", "episode/timeout", "eval/return_mean", "eval/return_std", "eval/return_ma",
    "eval/landed", "eval/timeout", "perf/env_steps_per_s", "perf/rollout_s", "perf/update_s", "global_step",
]


def test_short_run_streams_every_metric_and_the_config_to_an_offline_wandb_run(workdir):
    proc = run_cli([*TINY, "seed=7", "train.progress=true"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((workdir / "runs").glob("*/*_ppo_s7"))
    (wandb_dir,) = list((workdir / "runs" / "wandb").glob("offline-run-*"))
    assert json.loads((run_dir / "wandb_run.json").read_text())["id"] in wandb_dir.name

    rows = history(leet_records(wandb_dir))
    # the run ends saying where it went and how it ended, with commands that work as printed here
    folder, wandb_folder = run_dir.relative_to(workdir), wandb_dir.relative_to(workdir)
    episodes = int(rows[-1]["episode"])
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == f"lander_exp: run folder {folder}, W&B run {wandb_folder} (offline)"
    assert re.fullmatch(rf"lander_exp: run ended \(max_epochs\) after 2 epochs, 1,024 env steps, {episodes} episodes, \d+ s",
                        lines[1]), lines
    assert lines[2:4] == [f"  run folder: {folder}", f"  final evaluation: return {rows[-1]['eval/return_mean']:.1f} "
                                                     f"(moving average {rows[-1]['eval/return_ma']:.1f})"]
    wandb_exe = re.fullmatch(rf"  W&B run: {wandb_folder} \(offline; upload it with: (\S+) sync {wandb_folder}\)",
                                   lines[4]).group(1)
    assert (workdir / wandb_exe).samefile(Path(sys.executable).parent / "wandb") and len(lines) == 5
    # the bar counts epochs against the cap without an ETA to it: the run stops at its target return
    assert "epoch 2 of at most 2 (stops at an eval mean of 250, evaluates after every epoch)" in proc.stderr
    assert not re.search(r"<\d\d:\d\d", proc.stderr), proc.stderr[-2000:]
    assert len(rows) == 2  # one row per epoch
    assert [r["global_step"] for r in rows] == [512, 1024]
    for key in METRICS:
        values = [r[key] for r in rows if key in r]
        assert values, f"{key} never logged"
        assert all(math.isfinite(v) for v in values), (key, values)
    # every key it logged is one a sweep may name (run/records.metric_keys)
    summary_keys = leet_summary(wandb_dir)["summary"]
    logged = {k.split(".")[0] for k in [*(k for r in rows for k in r), *summary_keys]}  # eval/video.path: the video
    assert not [k for k in logged if not k.startswith("_") and metric_problem(k)]
    assert metric_problem("eval/retrun_ma") and not metric_problem("train/log_std/1")
    assert rows[-1]["eval/return_ma"] == (rows[0]["eval/return_mean"] + rows[1]["eval/return_mean"]) / 2

    summary = leet_summary(wandb_dir)
    assert summary["config"]["algo"]["batch_size"] == 256 and summary["config"]["seed"] == 7
    assert summary["config"]["env"]["obs_scaling"] == "none" and summary["config"]["preset"]["network"] == "deep"
    assert summary["name"].endswith("-s7") and "ppo" in summary["tags"]
    assert summary["summary"]["stop_reason"] == "max_epochs" and summary["summary"]["epochs"] == 2

    # each evaluation wrote a checkpoint; the evaluate command loads the newest one
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch_000001.safetensors", "epoch_000002.safetensors"]
    ev = run_cli([str(run_dir), "--episodes", "3", "--envs", "3", "--json"], cwd=workdir, module="lander_exp.evaluate")
    assert ev.returncode == 0, ev.stderr[-2000:]
    result = json.loads(ev.stdout)
    assert result["epoch"] == 2 and result["episodes"] == 3
    assert sum(result[k] for k in ("landed", "crashed", "out_of_bounds", "timeout")) == 1.0
    # --backend plays the same start seeds in other envs: EnvPool's port is another simulation
    other = run_cli([str(run_dir), "--episodes", "3", "--envs", "3", "--json", "--backend", "envpool"], cwd=workdir,
                    module="lander_exp.evaluate")
    assert other.returncode == 0, other.stderr[-2000:]
    assert result["backend"] == "gymnasium" and json.loads(other.stdout)["backend"] == "envpool"
    assert json.loads(other.stdout)["return_mean"] != result["return_mean"]
    sampled = run_cli([str(run_dir), "--episodes", "3", "--envs", "3", "--json", "--sampled"], cwd=workdir,
                      module="lander_exp.evaluate")
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert result["policy"] == "greedy" and json.loads(sampled.stdout)["policy"] == "sampled"
    assert json.loads(sampled.stdout)["return_mean"] != result["return_mean"]


def test_multirun_gives_one_wandb_run_per_job_in_one_wandb_folder(workdir):
    proc = run_cli(["-m", *TINY, "train.max_epochs=1", "seed=1,2", "train.target_return=null", "train.progress=true"],
                   cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("100%|") >= 2 and proc.stdout.count("run ended (max_epochs) after 1 epoch, ") == 2
    wandb_dirs = sorted((workdir / "runs" / "wandb").glob("offline-run-*"))
    assert len(wandb_dirs) == 2
    names = sorted(leet_summary(d)["name"] for d in wandb_dirs)
    assert [n[-3:] for n in names] == ["-s1", "-s2"]
    job_dirs = sorted((workdir / "runs" / "multirun").glob("*/*/*_ppo_s*"))
    assert len(job_dirs) == 2 and all((d / "checkpoints" / "epoch_000001.safetensors").is_file() for d in job_dirs)


def test_where_stderr_is_no_terminal_the_bar_prints_lines_and_a_reinforce_run_counts_episodes_once(workdir):
    """A sweep's run log or a SLURM log: no carriage returns, a line every few seconds at most, and a
    REINFORCE run (an epoch is an episode) ends `after 300 episodes`, not `300 epochs, ... 300 episodes`."""
    from lander_exp.run.progress import LOG_EVERY_S

    proc = run_cli(["experiment=reinforce", "train.max_episodes=300", "train.eval_every=100", "train.eval_episodes=2",
                    "train.eval_envs=2", "network.hidden_dim=16", "tracker=off", "train.progress=true"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stderr
    bar_lines = [ln for ln in proc.stderr.splitlines() if "episode/s" in ln]
    wall = int(re.search(r"after 300 episodes, [\d,]+ env steps, (\d+) s", proc.stdout).group(1))
    assert 1 <= len(bar_lines) <= wall / LOG_EVERY_S + 3 and bar_lines[-1].startswith("100%|"), proc.stderr
    assert re.search(r"steps=[\d,]+\]$", bar_lines[-1]) and "e+" not in bar_lines[-1]  # 28,875, not 2.89e+4
    assert "epochs" not in proc.stdout


def test_evaluate_rejects_a_folder_without_a_run(workdir):
    ev = run_cli([str(workdir)], cwd=workdir, module="lander_exp.evaluate")
    assert ev.returncode == 2 and len(ev.stderr.strip().splitlines()) == 1 and "not a run folder" in ev.stderr


def test_evaluate_takes_every_run_a_glob_matches_and_names_those_it_cannot(tiny_video_run, workdir):
    """The README's `evaluate runs/*/*_ppo_s1` once two runs match: each is evaluated; a folder that
    holds no run is named on stderr; --checkpoint, which names one run's file, wants one run."""
    import shutil

    _, run_dir = tiny_video_run
    runs = [workdir / "runs" / "day" / f"{t}_ppo_s0" for t in ("10-00-00", "11-00-00", "12-00-00")]
    for copy in runs[:2]:
        shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock", "videos", "analysis"))
    runs[2].mkdir()  # a run killed before Hydra wrote anything of it
    ev = run_cli(["runs/day/10-00-00_ppo_s0", *map(str, runs[1:]), "--episodes", "2", "--envs", "2", "--json"],
                 cwd=workdir, module="lander_exp.evaluate")
    assert ev.returncode == 0, ev.stderr[-2000:]
    results = [json.loads(line) for line in ev.stdout.splitlines()]
    assert [r["run_dir"] for r in results] == ["runs/day/10-00-00_ppo_s0", str(runs[1])]
    assert results[0]["return_mean"] == results[1]["return_mean"] and results[0]["episodes"] == 2  # the same policy
    assert ev.stderr.strip().splitlines() == [f"lander_exp.evaluate: skipped: {runs[2]} is not a run folder (no "
                                              f"config.yaml): pass a folder made by {sys.executable} -m lander_exp"]
    one = run_cli([*map(str, runs[:2]), "--checkpoint", "x.pt"], cwd=workdir, module="lander_exp.evaluate")
    assert one.returncode == 2 and "--checkpoint names one run's file, and 2 run folders were given" in one.stderr
    none = run_cli([str(runs[2]), str(workdir)], cwd=workdir, module="lander_exp.evaluate")
    assert none.returncode == 2 and none.stderr.strip().splitlines()[-1] == (
        "lander_exp.evaluate: error: none of the run folders given can be evaluated (lines above)")


@pytest.mark.parametrize("given", ["/nonexistent.pt", "FOLDER"])
def test_evaluate_of_a_checkpoint_file_that_is_not_there_says_so(tiny_video_run, capsys, given):
    """A mistyped --checkpoint is named as missing, not as a corrupted checkpoint."""
    from lander_exp.tools import evaluate

    _, run_dir = tiny_video_run
    path = run_dir / "checkpoints" if given == "FOLDER" else given
    assert evaluate.main([str(run_dir), "--checkpoint", str(path), "--episodes", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    what = "is a folder, not a file" if given == "FOLDER" else "does not exist"
    assert lines == [f"lander_exp.evaluate: error: --checkpoint {path} {what}: pass a checkpoint file, e.g. one in "
                     f"{run_dir / 'checkpoints'}, or leave --checkpoint out for the run's newest good one"]

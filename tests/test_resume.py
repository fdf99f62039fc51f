"""A run killed with SIGKILL at random points and resumed each time ends exactly where an
uninterrupted run with the same seed ends (same checkpointed state, same W&B history read back with
`wandb leet inspect --json`, every step once): PPO as configured by default, whose episodes span its
checkpoints (a resume rebuilds them by replaying their actions), and REINFORCE with one env. Resume
targets that cannot work fail in one line, and a checkpoint that holds code is never run."""

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from lander_exp.run import checkpoint, resume
from tests.conftest import run_cli
from tests.processes import RUN, assert_same_state, ckpt, load, metric_rows, newest_epoch, run_folder, spawn, wait_for, wandb_runs

# PPO's defaults (episodes carry over from epoch to epoch), with episodes longer than an epoch's 256
# steps per env may be: at a checkpoint, episodes are in progress. A checkpoint every epoch, all kept:
# room for three kills before the run's end, and the uninterrupted run's checkpoint of each to compare
SEED = ["seed=11", "env.max_episode_steps=1000", "train.eval_every=1", "train.keep_checkpoints=10"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: (workdir, run folder, its W&B folder)."""
    workdir = tmp_path_factory.mktemp("reference")
    proc = run_cli([*RUN, *SEED], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wandb_dir,) = wandb_runs(workdir)
    return workdir, run_folder(workdir), wandb_dir


def test_killed_at_random_points_and_resumed_matches_an_uninterrupted_run(workdir, reference):
    _, ref_dir, ref_wandb = reference
    trial_seed = random.randrange(10**6)
    rng = random.Random(trial_seed)
    proc = spawn([*RUN, *SEED], cwd=workdir)
    # the time between two checkpoints on this machine scales the random delays below
    assert wait_for(lambda: newest_epoch(workdir) >= 1, proc)
    t1 = time.monotonic()
    assert wait_for(lambda: newest_epoch(workdir) >= 2, proc)
    between_checkpoints = time.monotonic() - t1
    kills, resumed_from = [], 0
    for _ in range(3):
        # a random moment after a new checkpoint: mid-epoch, mid-evaluation, mid-write, mid-W&B-replay
        assert wait_for(lambda after=resumed_from: newest_epoch(workdir) > after, proc), (trial_seed, kills)
        time.sleep(rng.uniform(0.0, 1.2 * between_checkpoints))
        proc.kill()
        proc.wait()
        resumed_from = newest_epoch(workdir)
        kills.append(resumed_from)
        proc = spawn([str(run_folder(workdir))], cwd=workdir, module="lander_exp.resume")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (trial_seed, err[-3000:])
    assert len(kills) == 3 and kills[-1] < 10, (trial_seed, kills)  # three SIGKILLs, each before the run's end

    run_dir = run_folder(workdir)
    assert_same_state(load(ckpt(ref_dir, 10)), load(ckpt(run_dir, 10)))
    for epoch in kills:  # each resume had episodes in progress to rebuild
        assert load(ckpt(ref_dir, epoch))["env_replay"]["taken"].sum() > 0, (trial_seed, kills)
    # one W&B run left in runs/wandb: the rebuilt one, with the killed processes' folders moved aside
    (wandb_dir,) = wandb_runs(workdir)
    superseded = list((run_dir / "wandb_superseded").iterdir())  # none where a kill came before W&B's init
    assert 1 <= len(superseded) <= 3 and all(d.name.endswith(wandb_dir.name[-8:]) for d in superseded)
    rows = metric_rows(wandb_dir)
    assert [r["_step"] for r in rows] == list(range(10)), (trial_seed, kills)
    assert rows == metric_rows(ref_wandb), (trial_seed, kills)


def copy_run(reference, workdir):
    _, ref_dir, _ = reference
    run_dir = workdir / "run"
    shutil.copytree(ref_dir, run_dir, ignore=shutil.ignore_patterns(".lock"))
    return run_dir


def no_checkpoint(run_dir):
    shutil.rmtree(run_dir / "checkpoints")


def truncated(run_dir):
    newest = checkpoint.latest(run_dir)
    newest.write_bytes(newest.read_bytes()[:1000])


def foreign(run_dir):
    """A safetensors file, not a lander_exp checkpoint."""
    save_file({"weights": np.zeros(3)}, str(checkpoint.latest(run_dir)))


def other_width(run_dir):
    text = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(text.replace("hidden_dim: 16", "hidden_dim: 32"))


def unknown_key(run_dir):
    (run_dir / "config.yaml").write_text((run_dir / "config.yaml").read_text() + "extra_knob: 1\n")


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


PWNED = Path(tempfile.gettempdir()) / "lander_exp_checkpoint_ran_code"


def malicious(run_dir):
    """A checkpoint whose unpickling would run a shell command (torch's format, as older versions wrote)."""
    newest = checkpoint.latest(run_dir)
    torch.save({"epoch": 6, "algo": {"payload": _Payload()}}, newest)


def older_version(run_dir):
    """Only checkpoints of an older version of lander_exp (torch's pickle format), one holding code."""
    newest = checkpoint.latest(run_dir)
    torch.save({"epoch": 6, "algo": {"payload": _Payload()}}, newest.with_suffix(".pt"))
    newest.unlink()


def no_config(run_dir):
    (run_dir / "config.yaml").unlink()


def unfinished(run_dir):
    """The reference stopped at epoch 10; make it look like it was killed after epoch 8."""
    for path in checkpoint.checkpoints(run_dir)[-2:]:
        path.unlink()


BAD_TARGETS = [
    (no_checkpoint, "holds no checkpoint"),
    (truncated, "fewer than its header declares (truncated?)"),
    (foreign, "is not a lander_exp checkpoint: its header has no lander_exp format tag"),
    (other_width, "config.yaml was changed after the run started: its checkpoints were written with network.hidden_dim=16, "
                  "config.yaml has 32; put back network.hidden_dim: 16"),
    (unknown_key, "incompatible with this version"),
    (malicious, "was written by an older version of lander_exp (torch's pickle format)"),
    (older_version, "epoch_000008.pt was written by an older version of lander_exp (torch's pickle format)"),
    (no_config, "is not a run folder"),
]


@pytest.mark.parametrize("damage,says", BAD_TARGETS, ids=[d.__name__ for d, _ in BAD_TARGETS])
def test_resume_target_that_cannot_work_fails_in_one_line_and_changes_nothing(workdir, reference, capsys, damage, says):
    run_dir = copy_run(reference, workdir)
    unfinished(run_dir)
    for older in checkpoint.checkpoints(run_dir)[:-1]:  # the one damaged is all there is: no good one to fall back to
        older.unlink()                                  # (the fallback: tests/test_checkpoint.py)
    damage(run_dir)
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    assert resume.main([str(run_dir)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lander_exp.resume: error: ") and says in lines[0], lines
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before
    assert not PWNED.exists()


def test_resume_cli_of_a_missing_folder_and_of_a_finished_run(workdir, reference):
    proc = run_cli([str(workdir / "nope")], cwd=workdir, module="lander_exp.resume")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "not a run folder" in proc.stderr
    run_dir = copy_run(reference, workdir)
    _, _, ref_wandb = reference  # with its W&B record beside it, as where it was trained
    shutil.copytree(ref_wandb, workdir / "runs" / "wandb" / ref_wandb.name)
    assert resume.main([str(run_dir)]) == 0  # nothing left to do is not an error, and starts nothing
    assert not (run_dir / "wandb_superseded").exists()


def test_a_second_process_cannot_train_in_a_folder_in_use(workdir, reference, capsys):
    from lander_exp.run import checkpoint

    run_dir = copy_run(reference, workdir)
    unfinished(run_dir)
    with checkpoint.owned(run_dir):
        assert resume.main([str(run_dir)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "in use by another lander_exp process" in err  # no "resuming ..." first


def test_a_run_saved_before_a_config_key_existed_still_evaluates_and_resumes(workdir, reference):
    """config.ADDED_KEYS: a run folder whose config.yaml and checkpoints predate env.pin_threads and
    train.eval_screen reads them as the code behaved then (no pinning, no screen)."""
    import yaml

    from lander_exp.config import ADDED_KEYS
    from lander_exp.tools.evaluate import load_run

    run_dir = copy_run(reference, workdir)
    unfinished(run_dir)

    def drop(config: dict) -> dict:
        for key in ADDED_KEYS:
            group, name = key.split(".")
            config[group].pop(name)
        return config

    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(drop(yaml.safe_load(path.read_text()))))
    for path in checkpoint.checkpoints(run_dir):
        state = load(path)
        state["config"] = drop(state["config"])
        checkpoint.write(path, state)
    cfg, _, _ = load_run(run_dir)
    assert (cfg.env.pin_threads, cfg.train.eval_screen) == (False, 0)
    assert resume.main([str(run_dir)]) == 0
    assert checkpoint.latest(run_dir).name == "epoch_000010.safetensors"  # trained on to its end


REINFORCE = ["experiment=reinforce", "seed=5", "train.max_episodes=40", "train.eval_every=8", "train.eval_episodes=2",
             "train.eval_envs=2", "env.max_episode_steps=100", "network.hidden_dim=16", "train.torch_threads=1",
             "train.video_every=0", "train.progress=false", "train.keep_checkpoints=10"]


@pytest.mark.parametrize("envs", [1, 3])
def test_reinforce_killed_and_resumed_matches_an_uninterrupted_run(tmp_path, envs):
    """One env: every epoch is a whole episode, so the env's random state at a checkpoint is all a
    resume needs to play the very episodes the uninterrupted run played. Three: an epoch ends with
    the first episode to end, the others are in progress, and the resume rebuilds them with what they
    gathered so far (the episode an update learns from)."""
    args = [*REINFORCE, f"env.num_envs={envs}"]
    ref_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    ref_dir.mkdir()
    killed_dir.mkdir()
    assert run_cli(args, cwd=ref_dir).returncode == 0
    proc = spawn(args, cwd=killed_dir)
    assert wait_for(lambda: newest_epoch(killed_dir) >= 16, proc)
    proc.kill()
    proc.wait()
    resumed_from = newest_epoch(killed_dir)
    assert load(ckpt(run_folder(killed_dir), resumed_from))["episodes"] < 40
    proc = run_cli([str(run_folder(killed_dir))], cwd=killed_dir, module="lander_exp.resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = checkpoint.epoch_of(checkpoint.checkpoints(run_folder(ref_dir))[-1])  # epoch 40 with one env
    assert_same_state(load(ckpt(run_folder(ref_dir), final)), load(ckpt(run_folder(killed_dir), final)))
    (ref_wandb,), (wandb_dir,) = wandb_runs(ref_dir), wandb_runs(killed_dir)
    assert metric_rows(wandb_dir) == metric_rows(ref_wandb)
    if envs > 1:  # the resume had episodes in progress to rebuild
        resumed = load(ckpt(run_folder(ref_dir), resumed_from))
        assert resumed["env_replay"]["taken"].sum() > 0

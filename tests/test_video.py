"""Episode videos: a real episode written to MP4 and read back, and training's video schedule
(every train.video_every evaluations plus the last) landing in the run folder and the W&B record."""

import json
import os
import signal
import time
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

from lander_exp.config import Autoreset
from lander_exp.envs.vec import VecEnv, run_episodes
from lander_exp.run.video import record_episode
from tests.conftest import TINY, history, leet_records, make_cfg, run_cli


def test_a_real_episode_is_written_frame_by_frame_and_is_the_evaluation_episode_of_that_seed(tmp_path):
    cfg = make_cfg(["env.max_episode_steps=40"])
    no_thrust = lambda obs: np.zeros((len(obs), 2), np.float32)  # falls freely: the frames must change
    video = record_episode(cfg.env, no_thrust, tmp_path / "ep.mp4", seed=123)
    assert not list(tmp_path.glob("*partial*"))

    frames = [np.asarray(f) for f in imageio.get_reader(tmp_path / "ep.mp4")]
    assert len(frames) == video.frames == video.length + 1  # the reset frame plus one per step
    assert video.length == 40 and video.outcome == "timeout_airborne"  # still falling at step 40
    assert all(f.shape == (400, 600, 3) for f in frames)

    # the first frame is the env's own render of the reset state of that seed (up to compression)
    env = gym.make(cfg.env.id, render_mode="rgb_array")
    env.reset(seed=123)
    reference = env.render().astype(float)
    env.close()
    assert np.abs(frames[0].astype(float) - reference).mean() < 3
    assert np.abs(frames[-1].astype(float) - frames[0].astype(float)).mean() > np.abs(frames[0] - reference).mean()

    # the video plays the same episode that evaluation scores for that seed
    vec = VecEnv(cfg.env, 1, seed=123, autoreset=Autoreset.same_step)
    evaluated = run_episodes(vec, no_thrust, 1, seed=123)
    vec.close()
    assert video.length == evaluated.lengths[0]
    assert video.episode_return == pytest.approx(evaluated.returns[0], rel=1e-6)  # VecEnv sums float32 rewards


def test_training_renders_a_video_every_n_evaluations_and_at_the_last(tiny_video_run):
    workdir, run_dir = tiny_video_run  # train.max_epochs=3 train.video_every=2
    # evaluations 1, 2, 3: the second is on the schedule, the third is the run's last
    assert sorted(p.name for p in (run_dir / "videos").iterdir()) == ["epoch_000002.mp4", "epoch_000003.mp4"]

    run_id = json.loads((run_dir / "wandb_run.json").read_text())["id"]
    (wandb_dir,) = (workdir / "runs" / "wandb").glob(f"offline-run-*-{run_id}")
    rows = history(leet_records(wandb_dir))
    logged = [(r["epoch"], r.get("eval/video._type"), r.get("eval/video.path")) for r in rows]
    assert [(e, t) for e, t, _ in logged] == [(1, None), (2, "video-file"), (3, "video-file")]
    for epoch, _, media in logged[1:]:
        copy = wandb_dir / "files" / media
        assert copy.read_bytes() == (run_dir / "videos" / f"epoch_{epoch:06d}.mp4").read_bytes()


def test_video_every_rejects_a_negative_interval(workdir):
    proc = run_cli([*TINY, "train.video_every=-1"], cwd=workdir)
    assert proc.returncode == 2 and "train.video_every=-1 is invalid" in proc.stderr
    assert not (workdir / "runs").exists()


def test_with_envpool_the_video_is_the_episode_evaluation_plays_in_envpool(tmp_path):
    # EnvPool's LunarLander is not Gymnasium's: the same reset seed starts another episode there, so
    # a video filmed in Gymnasium would show none of the evaluated episodes
    cfg = make_cfg(["env.backend=envpool", "env.autoreset=next_step", "env.max_episode_steps=60"])
    steer = lambda obs: np.clip(np.stack([obs[:, 3], -obs[:, 4]], axis=1) + 0.2, -1, 1).astype(np.float32)
    video = record_episode(cfg.env, steer, tmp_path / "ep.mp4", seed=1_000_000)
    vec = VecEnv(cfg.env, 4, seed=1_000_000, autoreset=Autoreset.same_step)  # as evaluation: env 0 gets the seed
    evaluated = run_episodes(vec, steer, 4, seed=1_000_000)
    first = VecEnv(cfg.env, 1, seed=1_000_000, autoreset=Autoreset.same_step)
    env0 = run_episodes(first, steer, 1, seed=1_000_000)
    vec.close()
    first.close()
    assert video.length == env0.lengths[0] and video.episode_return == pytest.approx(env0.returns[0], rel=1e-6)
    assert any(video.episode_return == pytest.approx(r, rel=1e-6) for r in evaluated.returns)
    frames = [np.asarray(f) for f in imageio.get_reader(tmp_path / "ep.mp4")]
    assert len(frames) == video.length + 1 and frames[0].shape == (400, 600, 3)
    gym_cfg = make_cfg(["env.max_episode_steps=60"])  # Gymnasium from the same seed: another episode
    other = record_episode(gym_cfg.env, steer, tmp_path / "gym.mp4", seed=1_000_000)
    assert other.episode_return != pytest.approx(video.episode_return, rel=1e-3)


def _children(name: str) -> list[int]:
    """This process's child processes whose command name starts with `name` (Linux /proc)."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm, ppid = fields[0].split("(", 1)[1], int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and comm.startswith(name):
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGUSR2, signal.SIGTERM])
def test_a_stop_signal_sent_to_every_process_does_not_kill_the_video_writer(tmp_path, signum):
    """SLURM signals every process of a job (its warning before the time limit, its SIGTERM): ffmpeg
    must outlive it, or the run's graceful stop fails on a broken pipe. Afterwards this process's own
    handler gets the signal again (its mask is restored)."""
    cfg = make_cfg(["env.max_episode_steps=40"])
    seen, sent = [], []
    previous = signal.signal(signum, lambda s, _: seen.append(s))

    def policy(obs):
        if not sent:
            (ffmpeg,) = _children("ffmpeg")
            os.kill(ffmpeg, signum)
            sent.append(ffmpeg)
            time.sleep(0.2)  # time for a signal ffmpeg would act on to kill it
        return np.zeros((len(obs), 2), np.float32)

    try:
        video = record_episode(cfg.env, policy, tmp_path / "ep.mp4", seed=1)
        os.kill(os.getpid(), signum)  # this process's handler still works
    finally:
        signal.signal(signum, previous)
    assert sent and seen == [signum]
    frames = [np.asarray(f) for f in imageio.get_reader(tmp_path / "ep.mp4")]
    assert len(frames) == video.frames == 41

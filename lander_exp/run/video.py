"""Evaluation episodes rendered to MP4 in the run folder: the episode that evaluation's first env
plays first (reset seed = the evaluation seed), in the run's own backend (EnvPool renders too; its
physics is not Gymnasium's), so the video is one of the evaluated episodes and successive videos of a
run differ only by the policy."""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np

from lander_exp.config import Backend, ObsScaling
from lander_exp.envs.outcomes import OUTCOMES, classify
from lander_exp.envs.vec import _scaler, import_envpool


@dataclass
class EpisodeVideo:
    path: Path
    frames: int  # the reset frame plus one per step
    episode_return: float
    length: int
    outcome: str


class _GymnasiumEnv:
    def __init__(self, env_cfg, seed: int):
        self.env = gym.make(env_cfg.id, render_mode="rgb_array", max_episode_steps=env_cfg.max_episode_steps,
                            disable_env_checker=True)
        self.seed = seed
        self.fps = self.env.metadata.get("render_fps", 50)

    def reset(self) -> np.ndarray:
        return self.env.reset(seed=self.seed)[0]

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return obs, float(reward), bool(terminated), bool(truncated)

    def render(self) -> np.ndarray:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


class _EnvPoolEnv:
    """One EnvPool env, seeded as env 0 of evaluation's pool (EnvPool seeds env i with seed + i)."""

    def __init__(self, env_cfg, seed: int):
        self.pool = import_envpool().make(env_cfg.id, env_type="gymnasium", num_envs=1, seed=seed, render_mode="rgb_array",
                                 max_episode_steps=env_cfg.max_episode_steps)
        self.fps = 50  # LunarLander's FPS

    def reset(self) -> np.ndarray:
        return self.pool.reset()[0][0]

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.pool.step(np.asarray(action)[None])
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0])

    def render(self) -> np.ndarray:
        return self.pool.render()[0]

    def close(self) -> None:
        self.pool.close()


# The signals that stop a run (Ctrl-C, kill, SLURM's warning before a time limit): SLURM sends them to
# every process of the job, ffmpeg too, which would die mid-video and fail the run's graceful stop.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2}


@contextmanager
def _stop_signals_blocked():
    """Block the stop signals in this thread while a child process starts: the child keeps the blocked
    mask across exec, so ffmpeg never acts on them; here they wait and arrive when this ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def record_episode(env_cfg, policy, path: Path, seed: int) -> EpisodeVideo:
    """Play one episode with `policy` (batch of observations -> batch of actions, as algo.policy()
    gives) from reset seed `seed` in the config's backend, and write every frame to `path` (MP4,
    H.264, the env's own frame rate)."""
    env = _EnvPoolEnv(env_cfg, seed) if Backend(env_cfg.backend) == Backend.envpool else _GymnasiumEnv(env_cfg, seed)
    scale = _scaler(ObsScaling(env_cfg.obs_scaling))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")  # a crash mid-write leaves no half video
    total, steps, frames = 0.0, 0, 0
    try:
        obs = env.reset()
        # 600x400 frames: a macro block of 8 divides both, so ffmpeg does not resize them; ffmpeg says
        # nothing short of a crash: a failure to write (a full disk) is the run's to report, in one line
        with imageio.get_writer(partial, fps=env.fps, codec="libx264", macro_block_size=8,
                                ffmpeg_log_level="fatal") as writer:
            with _stop_signals_blocked():  # the writer starts ffmpeg at its first frame
                writer.append_data(env.render())
            frames = 1
            while True:
                action = policy(scale(obs)[None])[0]
                obs, reward, terminated, truncated = env.step(action)
                total += reward
                steps += 1
                writer.append_data(env.render())
                frames += 1
                if terminated or truncated:
                    break
        os.replace(partial, path)
    finally:
        env.close()
        partial.unlink(missing_ok=True)
    code = classify(np.array([terminated]), np.array([reward]), obs[None])[0]
    return EpisodeVideo(path, frames, total, steps, OUTCOMES[code])


class EvalVideos:
    """Training's video schedule: one episode every `train.video_every` evaluations and one at the
    run's last evaluation (0 turns videos off), written to RUN/videos/ and logged as `eval/video`."""

    def __init__(self, cfg, run_dir: Path, tracker, seed: int):
        self.cfg, self.run_dir, self.tracker, self.seed = cfg, run_dir, tracker, seed

    def after_eval(self, algo, epoch: int, evaluations: int, return_ma: float, last: bool) -> dict:
        """`last`: the run's epoch or episode budget ends here; reaching the target ends it too."""
        every, target = self.cfg.train.video_every, self.cfg.train.target_return
        final = last or (target is not None and return_ma >= target)
        if every == 0 or (evaluations % every and not final):
            return {}
        video = record_episode(self.cfg.env, algo.policy(), self.run_dir / "videos" / f"epoch_{epoch:06d}.mp4",
                               self.seed)
        caption = f"epoch {epoch}: return {video.episode_return:.1f}, {video.length} steps, {video.outcome}"
        logged = self.tracker.video(video.path, caption)
        return {"eval/video": logged} if logged is not None else {}

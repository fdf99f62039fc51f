"""The loop every algorithm shares: train an epoch, evaluate on schedule, checkpoint, stop at the
moving-average target, and hand one metrics dict per epoch to the tracker."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from lander_exp import checkpoint
from lander_exp.algos import make_algo
from lander_exp.config import Autoreset, Device
from lander_exp.envs import Episodes, VecEnv, run_episodes
from lander_exp.jump import detect_jump
from lander_exp.tracking import Tracker
from lander_exp.video import EvalVideos

EVAL_SEED = 1_000_000  # every evaluation of every run starts from the same states: paired comparisons
MA_EPISODES = 100  # episodes in the moving averages episode/return_ma100 and episode/length_ma100


def resolve_device(device: Device) -> torch.device:
    if device == Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device.value)


def episode_metrics(prefix: str, eps: Episodes) -> dict[str, float]:
    out = {f"{prefix}/return": float(eps.returns.mean()), f"{prefix}/return_std": float(eps.returns.std()),
           f"{prefix}/length": float(eps.lengths.mean()), f"{prefix}/count": len(eps)}
    out.update({f"{prefix}/{k}": v for k, v in eps.rates().items()})
    return out


def evaluate(algo, env: VecEnv, episodes: int) -> Episodes:
    return run_episodes(env, algo.policy(), episodes, EVAL_SEED)


def run(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None) -> dict:
    """Train one run in `run_dir` (already validated config); returns the run's summary."""
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    env = VecEnv(cfg.env, cfg.env.num_envs, seed=cfg.seed)
    eval_env = VecEnv(cfg.env, cfg.train.eval_envs, seed=EVAL_SEED, autoreset=Autoreset.same_step)
    obs_dim = env.obs_dim
    act_space = env.single_action_space
    algo = make_algo(cfg, obs_dim, act_space, device)
    tracker = Tracker(cfg, run_dir, algo.x_axis, choices)
    videos = EvalVideos(cfg, run_dir, tracker, seed=EVAL_SEED)
    OmegaConf.save(cfg, run_dir / "config.yaml")
    t = cfg.train
    global_step = episodes = 0
    history: list[float] = []
    all_eps: list[Episodes] = []  # every training episode, for the moving averages and the jump detector
    summary: dict = {}
    start = time.perf_counter()
    by_episode = t.max_episodes is not None
    bar = tqdm(total=t.max_episodes if by_episode else t.max_epochs, disable=not t.progress,
               unit="episode" if by_episode else "epoch", dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    recent_returns: list[float] = []
    recent_lengths: list[int] = []
    exit_code = 1
    try:
        epoch = 0
        while True:  # ends at `last` or at the target
            epoch += 1
            t0 = time.perf_counter()
            metrics, eps, steps = algo.train_epoch(env)
            global_step += steps
            episodes += len(eps)
            metrics.update(global_step=global_step, episode=episodes, epoch=epoch)
            metrics["perf/env_steps_per_s"] = steps / (time.perf_counter() - t0)
            last = epoch == t.max_epochs or (by_episode and episodes >= t.max_episodes)
            if len(eps):
                all_eps.append(eps)
                recent_returns = (recent_returns + eps.returns.tolist())[-MA_EPISODES:]
                recent_lengths = (recent_lengths + eps.lengths.tolist())[-MA_EPISODES:]
                metrics.update(episode_metrics("episode", eps))
                metrics["episode/return_ma100"] = float(np.mean(recent_returns))
                metrics["episode/length_ma100"] = float(np.mean(recent_lengths))
            if epoch % t.eval_every == 0 or last:
                t1 = time.perf_counter()
                ev = evaluate(algo, eval_env, t.eval_episodes)
                history.append(float(ev.returns.mean()))
                ma = float(np.mean(history[-t.target_window:]))
                metrics.update({"eval/return_mean": history[-1], "eval/return_std": float(ev.returns.std()),
                                "eval/return_ma": ma, "eval/length": float(ev.lengths.mean())})
                metrics.update({f"eval/{k}": v for k, v in ev.rates().items()})
                metrics["perf/eval_s"] = time.perf_counter() - t1
                metrics.update(videos.after_eval(algo, epoch, len(history), ma, last))
                checkpoint.save(run_dir, epoch, {
                    "epoch": epoch, "global_step": global_step, "episodes": episodes, "eval_history": history,
                    "algo": algo.state_dict(), "config": OmegaConf.to_container(cfg, enum_to_str=True)},
                    keep=t.keep_checkpoints)
            metrics["perf/wall_s"] = time.perf_counter() - start
            tracker.log(metrics)
            bar.update(len(eps) if by_episode else 1)
            bar.set_postfix(steps=global_step, eval=f"{history[-1]:.0f}" if history else "-",
                            sps=f"{metrics['perf/env_steps_per_s']:.0f}")
            if t.target_return is not None and history and np.mean(history[-t.target_window:]) >= t.target_return:
                summary["stop_reason"] = "target_return"
                break
            if last:
                summary["stop_reason"] = "max_episodes" if by_episode and episodes >= t.max_episodes else "max_epochs"
                break
        curve = Episodes.concat(all_eps)
        jump = detect_jump(curve.returns, curve.lengths)
        if jump is not None:
            summary.update(jump.as_summary())
        summary.update(epochs=epoch, global_step=global_step, episodes=episodes, wall_s=time.perf_counter() - start,
                       final_eval_return=history[-1] if history else None,
                       eval_return_ma=float(np.mean(history[-t.target_window:])) if history else None)
        tracker.summarize(summary)
        exit_code = 0
        return summary
    finally:
        bar.close()
        tracker.finish(exit_code)
        env.close()
        eval_env.close()

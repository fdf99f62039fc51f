"""The loop every algorithm shares: train an epoch, evaluate on schedule, checkpoint, stop at the
moving-average target, and hand one metrics dict per epoch to the tracker. It also resumes from a
checkpoint, stops cleanly on SIGINT/SIGTERM and stops loudly on a non-finite number (stopping.py)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from lander_exp.config import Autoreset, ConfigError, Device
from lander_exp.core.algorithm import make_algo
from lander_exp.core.jump import detect_jump
from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import VecEnv, run_episodes
from lander_exp.run import checkpoint
from lander_exp.run.stopping import Interrupted, NonFiniteError, StopSignals, first_nonfinite
from lander_exp.run.tracking import Tracker
from lander_exp.run.video import EvalVideos

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


def target_reached(cfg: DictConfig, history: list[float]) -> bool:
    t = cfg.train
    return t.target_return is not None and bool(history) and np.mean(history[-t.target_window:]) >= t.target_return


def stop_reason(cfg: DictConfig, epoch: int, episodes: int, history: list[float]) -> str | None:
    """Why a run that has trained `epoch` epochs and `episodes` episodes stops now, or None."""
    t = cfg.train
    if target_reached(cfg, history):
        return "target_return"
    if t.max_episodes is not None and episodes >= t.max_episodes:
        return "max_episodes"
    if t.max_epochs is not None and epoch >= t.max_epochs:
        return "max_epochs"
    return None


def env_restart_seed(seed: int, epoch: int) -> int:
    """The reset seed of the training envs after the checkpoint of `epoch`: a function of (seed, epoch)
    only, so a resumed run restarts its envs exactly where the uninterrupted one did. 31 bits: EnvPool
    takes int32 seeds only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def restart_envs(env: VecEnv, algo, seed: int, epoch: int) -> None:
    """Start fresh episodes from reset seeds that depend on (seed, epoch) alone. A Box2D world cannot
    be saved, so this is what makes a checkpoint a point a run can be resumed from exactly: the
    loop does it after every checkpoint, and a resume does it before its first epoch."""
    env.reseed(env_restart_seed(seed, epoch))
    if hasattr(algo, "drop_env_state"):  # algorithms that carry observations across epochs (PPO)
        algo.drop_env_state()


def run(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None, resume: dict | None = None) -> dict:
    """Train one run in `run_dir` (already validated config); returns the run's summary.

    `resume`: a checkpoint of this run (see `lander_exp.resume`); training continues after its epoch.
    Raises `stopping.Interrupted` after a clean stop on SIGINT/SIGTERM and `stopping.NonFiniteError`
    when a loss, gradient norm or parameter stops being finite."""
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    env = VecEnv(cfg.env, cfg.env.num_envs, seed=cfg.seed)
    eval_env = VecEnv(cfg.env, cfg.train.eval_envs, seed=EVAL_SEED, autoreset=Autoreset.same_step)
    obs_dim = env.obs_dim
    act_space = env.single_action_space
    algo = make_algo(cfg, obs_dim, act_space, device)
    t = cfg.train
    global_step = episodes = last_epoch = 0
    history: list[float] = []
    all_eps: list[Episodes] = []  # every training episode, for the moving averages and the jump detector
    wall_before = 0.0
    if resume:
        try:
            algo.load_state_dict(resume["algo"])
        except (RuntimeError, KeyError, ValueError) as ex:
            env.close()
            eval_env.close()
            raise ConfigError(f"the checkpoint does not fit this config's model ({str(ex).splitlines()[0]}): "
                              "resume it with the code and config that wrote it") from None
        torch.set_rng_state(resume["torch_rng"])
        last_epoch, global_step, episodes = resume["epoch"], resume["global_step"], resume["episodes"]
        history = list(resume["eval_history"])
        all_eps = [Episodes(**resume["episode_log"])]
        wall_before = resume.get("wall_s", 0.0)
        choices = resume.get("choices", choices)
        restart_envs(env, algo, cfg.seed, last_epoch)
    recent_returns: list[float] = Episodes.concat(all_eps).returns[-MA_EPISODES:].tolist()
    recent_lengths: list[int] = Episodes.concat(all_eps).lengths[-MA_EPISODES:].tolist()
    tracker = Tracker(cfg, run_dir, algo.x_axis, choices, resume=resume and resume["tracker"])
    videos = EvalVideos(cfg, run_dir, tracker, seed=EVAL_SEED)
    OmegaConf.save(cfg, run_dir / "config.yaml")
    summary: dict = {}
    start = time.perf_counter() - wall_before
    by_episode = t.max_episodes is not None
    bar = tqdm(total=t.max_episodes if by_episode else t.max_epochs, initial=episodes if by_episode else last_epoch,
               disable=not t.progress, unit="episode" if by_episode else "epoch", dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    exit_code = 1

    def state(epoch: int) -> dict:
        """Everything a resume needs (lander_exp.run.resume)."""
        curve = Episodes.concat(all_eps)
        return {"epoch": epoch, "global_step": global_step, "episodes": episodes, "eval_history": history,
                "episode_log": {"returns": curve.returns, "lengths": curve.lengths, "outcomes": curve.outcomes},
                "algo": algo.state_dict(), "torch_rng": torch.get_rng_state(), "tracker": tracker.state_dict(),
                "wall_s": time.perf_counter() - start, "choices": choices,
                "config": OmegaConf.to_container(cfg, enum_to_str=True)}

    epoch = last_epoch
    reason = stop_reason(cfg, epoch, episodes, history)  # set on a resume of a run killed once it was done
    stop = StopSignals()  # held until the W&B run is closed: a second Ctrl-C then still exits at once
    try:
        stop.install()
        while reason is None:
            epoch += 1
            t0 = time.perf_counter()
            metrics, eps, steps = algo.train_epoch(env)
            global_step += steps
            episodes += len(eps)
            metrics.update(global_step=global_step, episode=episodes, epoch=epoch)
            bad = first_nonfinite(metrics, algo.model)
            if bad is not None:
                tracker.log(metrics)  # the dashboard shows where it broke
                path = checkpoint.save_debug(run_dir, epoch, state(epoch))
                message = (f"non-finite {bad} at global_step {global_step} (epoch {epoch}); the state after "
                           f"that epoch is in {path}. Check the config's scales (learning rates, algo.init_log_std) and "
                           "start a new run, or one from an earlier checkpoint")
                tracker.summarize({"stop_reason": "non_finite", "failure": message})
                raise NonFiniteError(message)
            metrics["perf/env_steps_per_s"] = steps / (time.perf_counter() - t0)
            last = epoch == t.max_epochs or (by_episode and episodes >= t.max_episodes)
            if len(eps):
                all_eps.append(eps)
                recent_returns = (recent_returns + eps.returns.tolist())[-MA_EPISODES:]
                recent_lengths = (recent_lengths + eps.lengths.tolist())[-MA_EPISODES:]
                metrics.update(episode_metrics("episode", eps))
                metrics["episode/return_ma100"] = float(np.mean(recent_returns))
                metrics["episode/length_ma100"] = float(np.mean(recent_lengths))
            scheduled = epoch % t.eval_every == 0 or last
            if scheduled:
                t1 = time.perf_counter()
                ev = evaluate(algo, eval_env, t.eval_episodes)
                history.append(float(ev.returns.mean()))
                ma = float(np.mean(history[-t.target_window:]))
                metrics.update({"eval/return_mean": history[-1], "eval/return_std": float(ev.returns.std()),
                                "eval/return_ma": ma, "eval/length": float(ev.lengths.mean())})
                metrics.update({f"eval/{k}": v for k, v in ev.rates().items()})
                metrics["perf/eval_s"] = time.perf_counter() - t1
                metrics.update(videos.after_eval(algo, epoch, len(history), ma, last))
            metrics["perf/wall_s"] = time.perf_counter() - start
            tracker.log(metrics)
            if scheduled or stop.requested:  # logged first, so the checkpoint holds this epoch's row
                checkpoint.save(run_dir, epoch, state(epoch), keep=t.keep_checkpoints)
                restart_envs(env, algo, cfg.seed, epoch)
            bar.update(len(eps) if by_episode else 1)
            bar.set_postfix(steps=global_step, eval=f"{history[-1]:.0f}" if history else "-",
                            sps=f"{metrics['perf/env_steps_per_s']:.0f}")
            if stop.requested:
                exit_code = 128 + stop.signum
                raise Interrupted(f"stopped by {signal.Signals(stop.signum).name} after epoch {epoch}, checkpoint "
                                  f"written; continue with: python -m lander_exp.resume {run_dir}", exit_code)
            reason = stop_reason(cfg, epoch, episodes, history)
        summary["stop_reason"] = reason
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
        stop.uninstall()
        env.close()
        eval_env.close()

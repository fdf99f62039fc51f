"""`python -m lander_exp.evaluate RUN_DIR [--video]`: load a run folder's newest checkpoint (or --checkpoint)
and report its evaluation returns and outcomes, greedy (the most probable action, as training
evaluates) or --sampled (the stochastic policy training acts with); --backend plays them in other envs than
training's (`gymnasium`: Gymnasium's own env, the usual judge of "solved"); --video also renders the
episode its first env plays (one of those evaluated)."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from lander_exp.config import Autoreset, Backend, ConfigError, saved_config, validate
from lander_exp.core.algorithm import make_algo
from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import VecEnv, run_episodes
from lander_exp.run import checkpoint
from lander_exp.run.train import EVAL_SEED
from lander_exp.shell import python_command


def load_run(run_dir: Path, ckpt: Path | None = None):
    """(config, algorithm with the checkpoint's weights, checkpoint dict) of a run folder."""
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml): pass a folder made by "
                          f"{python_command('lander_exp')}")
    cfg = saved_config(OmegaConf.load(run_dir / "config.yaml"))
    validate(cfg)
    state = checkpoint.load(ckpt or checkpoint.latest(run_dir))
    env = VecEnv(cfg.env, 1, seed=0)
    algo = make_algo(cfg, env.obs_dim, env.single_action_space, torch.device("cpu"))
    env.close()
    algo.load_state_dict(state["algo"])
    return cfg, algo, state


def play(cfg, algo, episodes: int, seed: int, backend: str | None = None, sampled: bool = False,
         envs: int = 50) -> Episodes:
    """`episodes` whole episodes of a loaded run's policy from reset seed `seed` on, greedy or `sampled`
    (noise seeded by `seed` too), in the run's own envs or `backend`'s: what this command reports, and
    what the benchmarks and scripts that re-evaluate final policies call."""
    env_cfg = copy.deepcopy(cfg.env)
    if backend:
        env_cfg.backend = backend
    env = VecEnv(env_cfg, min(envs, episodes), seed=seed, autoreset=Autoreset.same_step)
    try:
        return run_episodes(env, algo.policy(seed if sampled else None), episodes, seed)
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=python_command("lander_exp.evaluate"), description=__doc__)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint file (default: the run's newest)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--envs", type=int, default=16)
    p.add_argument("--seed", type=int, default=EVAL_SEED, help="first episode's reset seed (default: training's eval seed)")
    p.add_argument("--backend", choices=[b.value for b in Backend], default=None,
                   help="the envs to evaluate in (default: the run's own, env.backend)")
    p.add_argument("--sampled", action="store_true",
                   help="play the stochastic policy (actions drawn as in training, seeded by --seed) instead of the greedy one")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--video", action="store_true",
                   help="also render the episode the first env plays (one of those evaluated) to RUN_DIR/videos/ (MP4)")
    args = p.parse_args(argv)
    try:
        if args.episodes <= 0 or args.envs <= 0:
            raise ConfigError("--episodes and --envs must be positive integers")
        if args.checkpoint is not None and not args.checkpoint.is_file():
            what = "is a folder, not a file" if args.checkpoint.is_dir() else "does not exist"
            raise ConfigError(f"--checkpoint {args.checkpoint} {what}: pass a checkpoint file, e.g. one in "
                              f"{args.run_dir / 'checkpoints'}, or leave --checkpoint out for the run's newest")
        cfg, algo, state = load_run(args.run_dir, args.checkpoint)
    except ConfigError as ex:
        print(f"lander_exp.evaluate: error: {ex}", file=sys.stderr)
        return 2
    eps = play(cfg, algo, args.episodes, args.seed, args.backend, args.sampled, args.envs)
    result = {"run_dir": str(args.run_dir), "backend": args.backend or Backend(cfg.env.backend).value,
              "policy": "sampled" if args.sampled else "greedy",
              "epoch": state["epoch"], "global_step": state["global_step"],
              "episodes": len(eps), "return_mean": float(eps.returns.mean()), "return_std": float(eps.returns.std()),
              "return_min": float(eps.returns.min()), "return_max": float(eps.returns.max()),
              "length_mean": float(eps.lengths.mean()), **eps.rates()}
    if args.video:
        from lander_exp.run.video import record_episode

        path = args.run_dir / "videos" / f"evaluate_epoch_{state['epoch']:06d}_seed{args.seed}.mp4"
        video = record_episode(cfg.env, algo.policy(args.seed if args.sampled else None), path, args.seed)
        result.update(video=str(video.path), video_return=video.episode_return)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.run_dir} @ epoch {state['epoch']} ({state['global_step']} env steps): {len(eps)} episodes "
              f"of the {result['policy']} policy in {result['backend']}, "
              f"return {result['return_mean']:.1f} ± {result['return_std']:.1f} "
              f"[{result['return_min']:.1f}, {result['return_max']:.1f}], length {result['length_mean']:.0f}")
        print("outcomes: " + ", ".join(f"{k} {v:.2f}" for k, v in eps.rates().items()))
        if args.video:
            print(f"video: {video.path} ({video.frames} frames, return {video.episode_return:.1f}, {video.outcome})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m lander_exp.evaluate RUN_DIR ... [--video]`: the command that plays trained policies.

Play a run's trained policy (its newest good checkpoint, or --checkpoint) on new episodes and report
their returns, lengths and how they ended: greedy (the most probable action, as training evaluates)
or --sampled (actions drawn, as training acts); --backend plays them in other envs than training's
(`gymnasium`: Gymnasium's own env, the usual judge of "solved"); --video also films the episode its
first env plays (one of those evaluated). Several run folders (e.g. a glob) are evaluated one after
another; those that cannot be are named on stderr."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import OmegaConf

from lander_exp.config import Autoreset, Backend, ConfigError, saved_config, validate
from lander_exp.core.algorithm import make_algo
from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import VecEnv, run_episodes
from lander_exp.run import checkpoint
from lander_exp.run.train import EVAL_SEED, state_layout
from lander_exp.shell import python_command


def load_run(run_dir: Path, ckpt: Path | None = None, say: Callable[[str], None] | None = None):
    """(config, algorithm with the checkpoint's weights, checkpoint dict) of a run folder: `ckpt`, refused
    when it fails a check, or the newest checkpoint that passes them all (`say` names each newer one
    skipped and the one used). Every array is checked against the shapes config.yaml implies first."""
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml): pass a folder made by "
                          f"{python_command('lander_exp')}")
    cfg = saved_config(OmegaConf.load(run_dir / "config.yaml"))
    validate(cfg)
    env = VecEnv(cfg.env, 1, seed=0)
    algo = make_algo(cfg, env.obs_dim, env.single_action_space, torch.device("cpu"))
    env.close()
    algo_layout = algo.state_layout()
    n = cfg.network
    against = (f"{run_dir}/config.yaml (network.hidden_dim={n.hidden_dim}, network.actor_layers={n.actor_layers}, "
               f"network.critic_layers={n.critic_layers})")

    def layout(found: dict) -> dict:
        return state_layout(cfg, algo_layout, found)

    if ckpt is not None:
        state = checkpoint.load(ckpt, layout, against)
    else:
        state = checkpoint.newest_good(run_dir, layout, against, say)[1]
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
    p = argparse.ArgumentParser(prog=python_command("lander_exp.evaluate"), description=__doc__.split("\n\n", 1)[1])
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                   help="a run folder, e.g. runs/2026-11-22/17-03-12_ppo_s0; several are evaluated one after another")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="a checkpoint file of the one RUN_DIR (default: the run's newest that passes every check)")
    p.add_argument("--episodes", type=int, default=50, help="episodes to play (default: %(default)s)")
    p.add_argument("--envs", type=int, default=16, help="envs that play them side by side (default: %(default)s)")
    p.add_argument("--seed", type=int, default=EVAL_SEED,
                   help="the first episode's reset seed (default: that of training's evaluations, the same start states)")
    p.add_argument("--backend", choices=[b.value for b in Backend], default=None,
                   help="the envs to evaluate in (default: the run's own, env.backend)")
    p.add_argument("--sampled", action="store_true",
                   help="play the stochastic policy (actions drawn as in training, seeded by --seed) instead of the greedy one")
    p.add_argument("--json", action="store_true", help="print one JSON object per run instead of text")
    p.add_argument("--video", action="store_true",
                   help="also render the episode the first env plays (one of those evaluated) to RUN_DIR/videos/ (MP4)")
    args = p.parse_args(argv)

    def say(line: str) -> None:
        print(f"lander_exp.evaluate: {line}", file=sys.stderr, flush=True)

    try:
        if args.episodes <= 0 or args.envs <= 0:
            raise ConfigError("--episodes and --envs must be positive integers")
        if args.checkpoint is not None and len(args.run_dirs) > 1:
            raise ConfigError(f"--checkpoint names one run's file, and {len(args.run_dirs)} run folders were given: "
                              "give the one it belongs to")
        if args.checkpoint is not None and not args.checkpoint.is_file():
            what = "is a folder, not a file" if args.checkpoint.is_dir() else "does not exist"
            raise ConfigError(f"--checkpoint {args.checkpoint} {what}: pass a checkpoint file, e.g. one in "
                              f"{args.run_dirs[0] / 'checkpoints'}, or leave --checkpoint out for the run's newest good one")
        if len(args.run_dirs) == 1:
            runs = [(args.run_dirs[0], load_run(args.run_dirs[0], args.checkpoint, say=say))]
        else:
            runs = []
            for run_dir in args.run_dirs:  # a glob may match a run that cannot be evaluated: skip it, say so
                try:
                    runs.append((run_dir, load_run(run_dir, say=say)))
                except ConfigError as ex:
                    print(f"lander_exp.evaluate: skipped: {ex}", file=sys.stderr)
            if not runs:
                raise ConfigError("none of the run folders given can be evaluated (lines above)")
    except ConfigError as ex:
        print(f"lander_exp.evaluate: error: {ex}", file=sys.stderr)
        return 2
    for run_dir, (cfg, algo, state) in runs:
        evaluate_one(args, run_dir, cfg, algo, state)
    return 0


def evaluate_one(args, run_dir: Path, cfg, algo, state: dict) -> None:
    """Play and print one run's evaluation, as `args` (the command's options) asks."""
    eps = play(cfg, algo, args.episodes, args.seed, args.backend, args.sampled, args.envs)
    result = {"run_dir": str(run_dir), "backend": args.backend or Backend(cfg.env.backend).value,
              "policy": "sampled" if args.sampled else "greedy",
              "epoch": state["epoch"], "global_step": state["global_step"],
              "episodes": len(eps), "return_mean": float(eps.returns.mean()), "return_std": float(eps.returns.std()),
              "return_min": float(eps.returns.min()), "return_max": float(eps.returns.max()),
              "length_mean": float(eps.lengths.mean()), **eps.rates()}
    if args.video:
        from lander_exp.run.video import record_episode

        path = run_dir / "videos" / f"evaluate_epoch_{state['epoch']:06d}_seed{args.seed}.mp4"
        video = record_episode(cfg.env, algo.policy(args.seed if args.sampled else None), path, args.seed)
        result.update(video=str(video.path), video_return=video.episode_return)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"{run_dir} @ epoch {state['epoch']} ({state['global_step']:,} env steps): {len(eps)} episodes "
              f"of the {result['policy']} policy in {result['backend']}, "
              f"return {result['return_mean']:.1f} ± {result['return_std']:.1f} "
              f"[{result['return_min']:.1f}, {result['return_max']:.1f}], length {result['length_mean']:.0f}")
        print("outcomes: " + ", ".join(f"{k} {v:.2f}" for k, v in eps.rates().items()))
        if args.video:
            print(f"video: {video.path} ({video.frames} frames, return {video.episode_return:.1f}, {video.outcome})")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())

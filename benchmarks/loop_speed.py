"""Training-loop speed of PPO: whole epochs (`collect` then `learn`, as training runs them) split into rollout
and update, the rollout against the raw stepping rate of the same vector env (Gymnasium's or
EnvPool's) with uniformly random actions.

    python benchmarks/loop_speed.py [--steps 50000] [--rounds 3] [--csv docs/results/loop_speed.csv] [overrides...]
    python benchmarks/loop_speed.py --profile [overrides...]   # where one update's time goes, by torch op

The raw rate is measured `--rounds` times first, then one warm-up epoch and `--rounds` epochs run
back to back (with `algo.overlap_critic=true` the critic's update of one epoch runs during the next
epoch's rollout, so epochs must follow each other); medians are reported. `update_s` is the time
`learn` spends after the rollout: with the overlap, the actor's update plus any wait for the
critic. Extra arguments are config overrides (e.g. env.num_envs=16). Rows before 2026-11-22 23:30
alternated one raw measurement with one rollout and one update instead. `commit` names the code
that ran: that of the lander_exp imported, so `PYTHONPATH=OLD_CHECKOUT python benchmarks/loop_speed.py`
measures an older checkout's loop with this script."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from common import append_rows, commit_of, count  # benchmarks/common.py

import lander_exp
from lander_exp.core.ppo import PPO
from lander_exp.core.seeding import RunSeeds
from lander_exp.envs.vec import VecEnv
from lander_exp.run.preflight import compose_config
from lander_exp.run.train import resolve_device


def raw_rate(cfg, steps: int, rng: np.random.Generator) -> float:
    """Env steps per second of the same envs stepping random actions with nothing else in the loop:
    Gymnasium's own SyncVectorEnv, or EnvPool's pool for env.backend=envpool."""
    n = cfg.env.num_envs
    if cfg.env.backend == "envpool":
        import envpool

        vec = envpool.make(cfg.env.id, env_type="gymnasium", num_envs=n, seed=int(rng.integers(1 << 30)),
                           max_episode_steps=cfg.env.max_episode_steps)
        vec.reset()
    else:
        vec = gym.make_vec(cfg.env.id, num_envs=n, vectorization_mode="sync",
                           max_episode_steps=cfg.env.max_episode_steps)
        vec.reset(seed=int(rng.integers(1 << 30)))
    actions = rng.uniform(-1, 1, (steps // n, n, 2)).astype(np.float32)
    t = time.perf_counter()
    for a in actions:
        vec.step(a)
    rate = (steps // n) * n / (time.perf_counter() - t)
    vec.close()
    return rate


def profile_update(ppo: PPO, ro) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        ppo.learn(ro)
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=count, default=50_000, help="env steps per rollout measurement")
    p.add_argument("--rounds", type=count, default=3)
    p.add_argument("--csv", type=Path, default=None, help="append one row of results to this CSV")
    p.add_argument("--profile", action="store_true",
                   help="instead: print torch.profiler's table of one update's ops (its overhead inflates small ops)")
    args, overrides = p.parse_known_args()
    cfg = compose_config([f"algo.steps_per_epoch={args.steps}", "tracker.mode=disabled", *overrides])
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    env = VecEnv(cfg.env, cfg.env.num_envs, seed=RunSeeds.of(cfg.seed).envs)
    ppo = PPO(cfg, env.obs_dim, env.single_action_space.shape[0], resolve_device(cfg.device))
    if args.profile:
        profile_update(ppo, ppo.collect(env))
        return
    rng = np.random.default_rng(0)
    raw = [raw_rate(cfg, args.steps, rng) for _ in range(args.rounds)]
    ppo.learn(ppo.collect(env))  # warm-up: with the overlap, later rollouts share the machine with the critic
    rollout, update = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        ro = ppo.collect(env)
        t1 = time.perf_counter()
        ppo.learn(ro)
        update.append(time.perf_counter() - t1)
        rollout.append(ro.env_steps / (t1 - t0))
        samples = ro.env_steps
    ppo.critic_job.wait()
    med = statistics.median
    row = {
        "date": datetime.date.today().isoformat(), "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "load_avg_1min": round(os.getloadavg()[0], 2),  # above cpus: other work shared the machine
        "num_envs": cfg.env.num_envs, "hidden_dim": cfg.network.hidden_dim,
        "actor_layers": cfg.network.actor_layers, "critic_layers": cfg.network.critic_layers,
        "steps": samples, "update_epochs": cfg.algo.update_epochs, "batch_size": cfg.algo.batch_size,
        "raw_steps_per_s": round(med(raw)), "rollout_steps_per_s": round(med(rollout)),
        "rollout_vs_raw": round(med(rollout) / med(raw), 3),
        "update_s": round(med(update), 2), "update_samples_per_s": round(samples * cfg.algo.update_epochs / med(update)),
        "epoch_s_per_100k": round(100_000 / med(rollout) + med(update) * 100_000 / samples, 1),
        "overrides": " ".join(overrides),
        "commit": commit_of(Path(lander_exp.__file__).resolve().parents[1]),  # the code imported (PYTHONPATH)
    }
    for k, v in row.items():
        print(f"{k:>22}: {v}")
    if args.csv:
        append_rows(args.csv, [row])


if __name__ == "__main__":
    main()

"""How close each part of an `experiment=fast` run, and of a batch of such runs (`seeds=[...]`), is
to its floor: the probes behind docs/speed.md's "Start-up trimmed" and "Where each target stands"
sections, rerunnable.

    python benchmarks/floors.py [--repeats 3] [--stack 5] [--csv docs/results/floors.csv] [overrides...]

- `update_minibatch`: one minibatch of the preset's update (the actor's and the critic's gradients,
  their clipping and Adam steps, core/ppo.py's loop body) on 1 and on 2 torch threads, ms each.
  Work on one thread against work on both cores: where the second core is slow at times, only the
  two-thread rows move.
- `stacked_minibatch`: one minibatch of --stack runs' update stacked into one (core/many_ppo.py's
  loop body, as `seeds=[...]` learns), on the preset's torch threads, ms per run.
- `matmul`: torch's rate on one [2048, 2048] by [2048, 2048] float32 product, GFLOP/s on the preset's
  torch threads: the arithmetic the update could reach, against `update_minibatch`'s own rate (the
  FLOPs of the networks' forward and backward passes per second, `update_flop` in the rows).
- `envpool_step`: one EnvPool step of 1, 10 and 50 of a 50-env pool (zero actions), us each: the
  pool's latency, which an evaluation's last episodes pay per step; and of a whole pool of
  --stack times the preset's envs, the training pool of `seeds=[...]` with --stack seeds.
- `collect` and `bare_loop`: PPO's rollout of one epoch, and the same vector steps with nothing but the
  actor and EnvPool's send and receive, us per vector step.
- `wandb_setup`: `wandb.setup()` starting W&B's service process, wall and CPU seconds: the wait a run
  now spends while PyTorch is imported (lander_exp.run.tracking.start_service).

Each probe runs --repeats times, one row each: `date,commit,probe,setting,value,unit,load_avg`.
Extra arguments are config overrides of `experiment=fast`."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import append_rows, commit_of, count  # benchmarks/common.py

import lander_exp
from lander_exp.core import grads, many_ppo
from lander_exp.core.nets import NumpyMLP
from lander_exp.core.ppo import PPO
from lander_exp.envs.vec import VecEnv, import_envpool
from lander_exp.run.preflight import compose_config


def per_call(fn, calls: int) -> float:
    """Seconds per call of `fn`, after a tenth as many calls to warm up."""
    for _ in range(max(1, calls // 10)):
        fn()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls


def update_minibatch(ppo: PPO, batch: int) -> float:
    """Seconds for one minibatch of `batch` random samples through PPO's update loop body."""
    m, c = ppo.model, ppo.cfg
    actor, critic = grads.linears(m.actor), grads.linears(m.critic)
    g = torch.Generator().manual_seed(0)
    obs, raw = torch.randn(batch, m.actor[0].in_features, generator=g), torch.randn(batch, m.log_std.shape[0], generator=g)
    old, adv, target = (torch.randn(batch, generator=g) for _ in range(3))

    def step() -> None:
        with torch.no_grad():
            grads.actor_grads(actor, m.log_std, obs, raw, old, adv, 1 / batch, float(c.eps_clip), float(c.entropy_coef))
            torch.nn.utils.clip_grad_norm_(ppo._actor_params, float(c.max_grad_norm))
            ppo.pi_opt.step()
            grads.critic_grads(critic, obs, target, 1 / batch, float(c.vf_coef))
            torch.nn.utils.clip_grad_norm_(ppo._critic_params, float(c.max_grad_norm))
            ppo.vf_opt.step()

    return per_call(step, 500)


def stacked_minibatch(ppos: list[PPO], batch: int) -> float:
    """Seconds for one minibatch of `batch` random samples per run through `many_ppo.learn_stacked`'s
    loop body, the runs' networks and Adam states stacked as it stacks them."""
    c = ppos[0].cfg
    actor = many_ppo.StackedLinears([p.model.actor for p in ppos])
    critic = many_ppo.StackedLinears([p.model.critic for p in ppos])
    log_std = torch.nn.Parameter(torch.stack([p.model.log_std.detach() for p in ppos]))
    pi_opt = many_ppo._stacked_adam([p.pi_opt for p in ppos], [*actor.params, log_std])
    vf_opt = many_ppo._stacked_adam([p.vf_opt for p in ppos], critic.params)
    pi_params, n = pi_opt.param_groups[0]["params"], len(ppos)
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(n, batch, actor.weights[0].shape[2], generator=g)
    raw = torch.randn(n, batch, log_std.shape[1], generator=g)
    old, adv, target = (torch.randn(n, batch, generator=g) for _ in range(3))

    def step() -> None:
        with torch.no_grad():
            grads.actor_grads(actor.layers, log_std, obs, raw, old, adv, 1 / batch, float(c.eps_clip),
                              float(c.entropy_coef))
            many_ppo._clip_per_run(pi_params, float(c.max_grad_norm))
            pi_opt.step()
            grads.critic_grads(critic.layers, obs, target, 1 / batch, float(c.vf_coef))
            many_ppo._clip_per_run(critic.params, float(c.max_grad_norm))
            vf_opt.step()

    return per_call(step, 200) / n


def update_flop(ppo: PPO, batch: int) -> float:
    """Floating-point operations of one minibatch's matrix products: each Linear's forward, and its
    backward's two products (for the input's and the weight's gradients), for the actor and the critic."""
    macs = sum(w.numel() for net in (ppo.model.actor, ppo.model.critic) for w, _ in grads.linears(net))
    return 2 * 3 * macs * batch


def matmul_rate(size: int = 2048) -> float:
    """float32 FLOP/s of one [size, size] @ [size, size] product."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    return 2 * size ** 3 / per_call(lambda: torch.mm(a, b), 20)


def envpool_step(env_id: str, playing: int, pool_envs: int = 50) -> float:
    """Seconds per step of `playing` envs of a `pool_envs`-env EnvPool pool, through its raw send/recv."""
    pool = import_envpool().make(env_id, env_type="gymnasium", num_envs=pool_envs, seed=1, max_episode_steps=1000)
    pool.reset()
    ids = np.arange(playing, dtype=np.int32)
    actions = np.zeros((playing, pool.action_space.shape[0]), np.float32)

    def step() -> None:
        pool._send([ids, ids, actions])
        pool._recv()

    try:
        return per_call(step, 2000)
    finally:
        pool.close()


def rollout_pair(ppo: PPO, env: VecEnv) -> tuple[float, float]:
    """(PPO's collect, the bare actor-and-pool loop over as many vector steps), seconds per vector step."""
    t = time.perf_counter()
    ro = ppo.collect(env)
    collect = (time.perf_counter() - t) / ro.rewards.shape[0]
    stepper, actor, obs = env.stepper(), NumpyMLP(ppo.model.actor), ro.last_obs
    t = time.perf_counter()
    for _ in range(ro.rewards.shape[0]):
        stepper.send(np.tanh(actor(obs)))
        obs = env.scale(stepper.recv()[0])
    return collect, (time.perf_counter() - t) / ro.rewards.shape[0]


def wandb_setup() -> tuple[float, float]:
    """(wall, CPU) seconds of `wandb.setup()` in this process, W&B's service then torn down."""
    import wandb

    wall, cpu = time.perf_counter(), time.process_time()
    wandb.setup()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    wandb.teardown()
    return wall, cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=count, default=3)
    p.add_argument("--stack", type=count, default=5, help="runs in the stacked update and the shared pool (seeds=[...])")
    p.add_argument("--csv", type=Path, default=None, help="append the rows to this CSV")
    args, overrides = p.parse_known_args()
    cfg = compose_config(["experiment=fast", "tracker.mode=disabled", *overrides])
    env = VecEnv(cfg.env, cfg.env.num_envs, seed=7)
    ppo = PPO(cfg, env.obs_dim, env.single_action_space.shape[0], torch.device("cpu"))
    stack = [PPO(cfg, env.obs_dim, env.single_action_space.shape[0], torch.device("cpu")) for _ in range(args.stack)]
    flop = update_flop(ppo, cfg.algo.batch_size)
    rows = []

    def add(probe: str, setting: str, value: float, unit: str) -> None:
        row = {"probe": probe, "setting": setting, "value": round(value, 1 if unit in ("us", "GFLOP/s") else 3), "unit": unit,
               "load_avg": round(os.getloadavg()[0], 2)}
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        rows.append(row)

    for _ in range(args.repeats):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            took = update_minibatch(ppo, cfg.algo.batch_size)
            add("update_minibatch", f"torch_threads={threads} batch={cfg.algo.batch_size}", took * 1e3, "ms")
            add("update_flop", f"torch_threads={threads} batch={cfg.algo.batch_size}", flop / took / 1e9, "GFLOP/s")
        threads = cfg.train.torch_threads or 1
        torch.set_num_threads(threads)
        add("stacked_minibatch", f"torch_threads={threads} batch={cfg.algo.batch_size} runs={args.stack}",
            stacked_minibatch(stack, cfg.algo.batch_size) * 1e3, "ms")
        add("matmul", f"torch_threads={threads} size=2048", matmul_rate() / 1e9, "GFLOP/s")
        for playing in (1, 10, 50):
            add("envpool_step", f"envs={playing} of 50", envpool_step(cfg.env.id, playing) * 1e6, "us")
        whole = cfg.env.num_envs * args.stack
        add("envpool_step", f"envs={whole} of {whole}", envpool_step(cfg.env.id, whole, whole) * 1e6, "us")
        collect, bare = rollout_pair(ppo, env)
        add("collect", f"envs={cfg.env.num_envs}", collect * 1e6, "us")
        add("bare_loop", f"envs={cfg.env.num_envs}", bare * 1e6, "us")
        wall, cpu = wandb_setup()
        add("wandb_setup", "wall", wall, "s")
        add("wandb_setup", "cpu", cpu, "s")
    env.close()
    if args.csv:
        stamp = {"date": datetime.date.today().isoformat(),
                 "commit": commit_of(Path(lander_exp.__file__).resolve().parents[1])}  # the code imported
        append_rows(args.csv, [{**stamp, **r} for r in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())

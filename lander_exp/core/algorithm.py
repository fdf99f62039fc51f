"""What an algorithm owes the training loop, written down: the loop (lander_exp.run.train) calls
nothing else. A new algorithm is one module in core/ that satisfies `Algorithm`, one branch in
`make_algo`, and one file in conf/algo/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import gymnasium as gym
import numpy as np
import torch
from omegaconf import DictConfig

from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import Resumed, VecEnv


class Batch(Protocol):
    """What an epoch collected, as far as the loop is concerned."""

    episodes: Episodes  # the episodes that ended while collecting

    @property
    def env_steps(self) -> int: ...


class Algorithm(Protocol):
    """An epoch is `learn(collect(env))`; the loop times both, evaluates `policy()` and checkpoints
    `state_dict()`."""

    x_axis: str  # the W&B step axis its curves are read against: "global_step" or "episode"
    model: torch.nn.Module  # checked for non-finite parameters after every epoch

    def collect(self, env: VecEnv) -> Batch:
        """Act in the training envs with the current policy."""

    def learn(self, batch: Batch) -> dict[str, float]:
        """Update on what `collect` returned; returns the epoch's train/* metrics."""

    def policy(self, sampled_seed: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """The policy evaluation plays: observations [N, D] -> actions [N, ...]. Deterministic (the
        most probable action) by default; with `sampled_seed`, the stochastic policy training acts
        with, its noise drawn from a generator of that seed (the two can end episodes differently)."""

    def resume_envs(self, resumed: Resumed) -> None:
        """Act next from where a resume rebuilt the training envs' episodes in progress (instead of
        resetting them): `resumed.obs`, and each env's episode so far for one that learns from whole
        episodes."""

    def state_dict(self) -> dict:
        """Weights, optimizers and random streams: plain data, for a checkpoint."""

    def state_layout(self) -> dict:
        """What `state_dict()` holds once the algorithm has learned: the same nesting, every array as
        (dtype, shape) (None: any length), a type or `...` (anything plain) for the rest. A checkpoint
        is checked against it before any of its arrays is read (lander_exp.run.checkpoint)."""

    def load_state_dict(self, state: dict) -> None: ...


def algo_class(cfg: DictConfig) -> type:
    """The class of cfg.algo (its `x_axis` is known before any network is built)."""
    if cfg.algo.name == "ppo":
        from lander_exp.core.ppo import PPO

        return PPO
    if cfg.algo.name == "reinforce":
        from lander_exp.core.reinforce import Reinforce

        return Reinforce
    raise ValueError(f"unknown algorithm {cfg.algo.name!r}")


def make_algo(cfg: DictConfig, obs_dim: int, act_space: gym.Space, device: torch.device) -> Algorithm:
    cls = algo_class(cfg)
    return cls(cfg, obs_dim, act_space.shape[0] if cfg.algo.name == "ppo" else act_space.n, device)


def make_many(algos: list[Algorithm], envs):
    """The batched stepper of several runs of one algorithm (run/batch.py): an object with
    `epochs()` yielding (run index, batch, seconds collecting it, and None where the run is to
    `learn` the batch itself, or the (train/* row, seconds) of having learned it already), `stop(k)`
    and `idle`."""
    from lander_exp.core.many_ppo import ManyPPO
    from lander_exp.core.many_reinforce import ManyReinforce
    from lander_exp.core.ppo import PPO
    from lander_exp.core.reinforce import Reinforce

    if all(isinstance(a, PPO) for a in algos):
        return ManyPPO(algos, envs)
    if all(isinstance(a, Reinforce) for a in algos):
        return ManyReinforce(algos, envs)
    raise ValueError("a batch trains runs of one algorithm")

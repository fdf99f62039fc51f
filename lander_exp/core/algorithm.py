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
from lander_exp.envs.vec import VecEnv


class Algorithm(Protocol):
    x_axis: str  # the W&B step axis its curves are read against: "global_step" or "episode"
    model: torch.nn.Module  # checked for non-finite parameters after every epoch

    def train_epoch(self, env: VecEnv) -> tuple[dict[str, float], Episodes, int]:
        """Collect and learn once: (metrics, the episodes that ended, env steps taken)."""

    def policy(self) -> Callable[[np.ndarray], np.ndarray]:
        """The deterministic policy evaluation plays: observations [N, D] -> actions [N, ...]."""

    def drop_env_state(self) -> None:
        """Forget whatever it carries from one epoch's envs to the next (observations, unfinished
        trajectories): the envs are about to start fresh episodes."""

    def state_dict(self) -> dict:
        """Weights, optimizers and random streams: plain data, for a checkpoint."""

    def load_state_dict(self, state: dict) -> None: ...


def make_algo(cfg: DictConfig, obs_dim: int, act_space: gym.Space, device: torch.device) -> Algorithm:
    if cfg.algo.name == "ppo":
        from lander_exp.core.ppo import PPO

        return PPO(cfg, obs_dim, act_space.shape[0], device)
    if cfg.algo.name == "reinforce":
        from lander_exp.core.reinforce import Reinforce

        return Reinforce(cfg, obs_dim, act_space.n, device)
    raise ValueError(f"unknown algorithm {cfg.algo.name!r}")

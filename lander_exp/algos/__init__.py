"""Algorithms: one file each. Every algorithm exposes `x_axis`, `train_epoch(env)`, `policy()`,
`state_dict()` and `load_state_dict()`; train.py needs nothing else. An algorithm that carries
observations from one epoch to the next also defines `drop_env_state()`, so that the envs can be
restarted at a checkpoint and a resume continues exactly (train.restart_envs)."""

from __future__ import annotations

import gymnasium as gym
import torch
from omegaconf import DictConfig


def make_algo(cfg: DictConfig, obs_dim: int, act_space: gym.Space, device: torch.device):
    if cfg.algo.name == "ppo":
        from lander_exp.algos.ppo import PPO

        return PPO(cfg, obs_dim, act_space.shape[0], device)
    if cfg.algo.name == "reinforce":
        from lander_exp.algos.reinforce import Reinforce

        return Reinforce(cfg, obs_dim, act_space.n, device)
    raise ValueError(f"unknown algorithm {cfg.algo.name!r}")

"""Return targets as pure functions of arrays: GAE(lambda) for PPO, Monte-Carlo returns for REINFORCE."""

from __future__ import annotations

import numpy as np


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, dones: np.ndarray,
        gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimates over a [T, N] rollout.

    next_values[t] is the value credited after step t (0 at a terminal state); dones[t] marks the
    end of an episode at step t, which stops the sum of later TD errors from leaking back across it.
    Returns (advantages, value targets = advantages + values)."""
    deltas = rewards + gamma * next_values - values
    carry = gamma * lam * (1.0 - dones)
    adv = np.empty_like(deltas)
    running = np.zeros(deltas.shape[1], dtype=deltas.dtype)
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + carry[t] * running
        adv[t] = running
    return adv, adv + values


def mc_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_k gamma^k r_{t+k} to the end of the episode, in float64. The recursion runs over
    Python floats: the same IEEE double arithmetic as numpy's float64 scalars, at a tenth of the
    cost per step (REINFORCE computes it once per episode, hundreds of steps long)."""
    out = np.asarray(rewards, dtype=np.float64).tolist()
    running = 0.0
    for t in range(len(out) - 1, -1, -1):
        running = out[t] + gamma * running
        out[t] = running
    return np.array(out, dtype=np.float64)

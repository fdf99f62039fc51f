"""Networks: the actor-critic of "How to Land on the Moon" (separate actor and critic MLPs, tanh-squashed Gaussian with a
learnable state-independent log_std), and a numpy copy of the actor for the rollout's hot loop."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def mlp(in_dim: int, hidden_dim: int, layers: int, out_dim: int) -> nn.Sequential:
    """`layers` hidden Linear+ReLU blocks, then a linear output: the write-up's construction."""
    mods: list[nn.Module] = [nn.Linear(in_dim, hidden_dim), nn.ReLU()]
    for _ in range(layers - 1):
        mods += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
    mods.append(nn.Linear(hidden_dim, out_dim))
    return nn.Sequential(*mods)


class ActorCritic(nn.Module):
    """Continuous actor-critic: actions are tanh(u), u ~ N(actor(s), exp(log_std)).

    The squashed action's log-density is the Gaussian's minus log|d tanh(u)/du|, a term fixed by the
    stored u: it cancels in PPO's ratio, so the update needs only the Gaussian's (tests/test_nets.py),
    which core/grads.py computes (`log_prob`, `entropy`)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, actor_layers: int, critic_layers: int,
                 init_log_std: float):
        super().__init__()
        self.actor = mlp(obs_dim, hidden_dim, actor_layers, act_dim)
        self.critic = mlp(obs_dim, hidden_dim, critic_layers, 1)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def actor_params(self) -> list[nn.Parameter]:
        return [*self.actor.parameters(), self.log_std]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)


class NumpyMLP:
    """A frozen numpy copy of an nn.Sequential of Linear/ReLU: at batch 8, numpy's matmuls cost a
    few microseconds where torch's per-op dispatch costs tens, and the rollout runs one per step."""

    def __init__(self, seq: nn.Sequential):
        linears = [m for m in seq if isinstance(m, nn.Linear)]
        self.weights = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
        self.biases = [m.bias.detach().cpu().numpy().copy() for m in linears]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = np.dot(x, w)  # np.dot: less dispatch than @ for a single row (REINFORCE acts one at a time)
            x += b
            if i < last:
                np.maximum(x, 0, out=x)
        return x

    def gumbel_argmax(self, noise: np.ndarray) -> Callable[[int, np.ndarray], int]:
        """`act(t, obs [in]) -> int((self(obs) + noise[t]).argmax())`, the same action bit for bit
        (tests/test_nets.py), for a loop that acts on one row per step (REINFORCE's play_episode):
        every layer writes into a buffer of its own, and ReLU compares with a zero array, which numpy
        does in half the time of a comparison with the scalar 0; about 4 us a step instead of 7."""
        dot, add, maximum = np.dot, np.add, np.maximum
        layers = [(w, b, np.empty(w.shape[1], np.float32), np.zeros(w.shape[1], np.float32))
                  for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True)]
        w_out, b_out = self.weights[-1], self.biases[-1]
        logits, scores = np.empty(w_out.shape[1], np.float32), np.empty(w_out.shape[1], np.float64)

        def act(t: int, x: np.ndarray) -> int:
            for w, b, h, zeros in layers:
                dot(x, w, out=h)
                add(h, b, out=h)
                maximum(h, zeros, out=h)
                x = h
            dot(x, w_out, out=logits)
            add(logits, b_out, out=logits)
            add(logits, noise[t], out=scores)
            return int(scores.argmax())

        return act


class StackedMLP:
    """The numpy actors of several runs as one: layer weights stacked into [N, in, out] arrays, so one
    np.matmul per layer acts for all N runs' envs at once (run/batch.py). Row k computes what
    NumpyMLP of run k computes, to float tolerance (tests/test_batch.py)."""

    def __init__(self, seqs: list[nn.Sequential]):
        mlps = [NumpyMLP(s) for s in seqs]
        self.weights = [np.stack(ws) for ws in zip(*(m.weights for m in mlps), strict=True)]
        self.biases = [np.stack(bs)[:, None, :] for bs in zip(*(m.biases for m in mlps), strict=True)]

    def refresh(self, k: int, seq: nn.Sequential) -> None:
        """Take run k's current weights (after it learned)."""
        m = NumpyMLP(seq)
        for w, b, mw, mb in zip(self.weights, self.biases, m.weights, m.biases, strict=True):
            w[k] = mw
            b[k, 0] = mb

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [N, n, in] (run k's n observations in row k) -> [N, n, out]."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = np.matmul(x, w)
            x += b
            if i < last:
                np.maximum(x, 0, out=x)
        return x


class CategoricalActorCritic(nn.Module):
    """Discrete actor-critic of "The laws of the 'land'": the actor's logits over the actions, and a critic that
    serves only as a baseline (its value is detached wherever the actor learns)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_dim: int, actor_layers: int, critic_layers: int):
        super().__init__()
        self.actor = mlp(obs_dim, hidden_dim, actor_layers, n_actions)
        self.critic = mlp(obs_dim, hidden_dim, critic_layers, 1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def dist(self, obs: torch.Tensor) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.actor(obs))

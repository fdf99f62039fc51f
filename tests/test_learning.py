"""Tests that fail on a broken learner (PPO's loss values are in test_grads.py): one update's effect
on the log-probability of actions with positive and negative advantages, the entropy bonus's sign,
advantage normalisation, per-optimizer gradient clipping, and REINFORCE's gradient direction."""

import math

import numpy as np
import pytest
import torch

from lander_exp.core import grads
from lander_exp.core.ppo import PPO, Rollout
from lander_exp.core.reinforce import Reinforce, reinforce_losses
from lander_exp.envs.outcomes import Episodes
from tests.conftest import make_cfg

SMALL = ["network.hidden_dim=16", "network.actor_layers=2", "network.critic_layers=2", "algo.update_epochs=1",
         "algo.steps_per_epoch=64", "algo.batch_size=64", "env.num_envs=1"]


def _ppo(overrides=()):
    cfg = make_cfg([*SMALL, *overrides])
    return PPO(cfg, 8, 2, torch.device("cpu"))


def _samples(ppo, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs, raw = torch.randn(n, 8, generator=g), torch.randn(n, 2, generator=g)
    with torch.no_grad():
        old = grads.log_prob(ppo.model.actor(obs), ppo.model.log_std, raw)
    return obs, raw, old


def test_one_update_raises_the_log_prob_of_positive_advantage_actions_and_lowers_the_others():
    ppo = _ppo(["algo.entropy_coef=0", "lr.actor=3e-3"])
    obs, raw, old = _samples(ppo)
    adv = torch.where(torch.arange(64) % 2 == 0, 1.0, -1.0)
    perm = [torch.arange(64)]
    for _ in range(3):
        ppo._update(perm, (obs, raw, old, adv, torch.zeros(64)), critic=False)
    with torch.no_grad():
        new = grads.log_prob(ppo.model.actor(obs), ppo.model.log_std, raw)
    change = new - old
    assert change[adv > 0].mean() > 0.005 and change[adv < 0].mean() < -0.005


@pytest.mark.parametrize("coef", [0.5, -0.5])
def test_the_entropy_bonus_raises_the_entropy(coef):
    """With zero advantages only the entropy term moves log_std: up for a bonus, down for a cost."""
    ppo = _ppo([f"algo.entropy_coef={coef}"]) if coef > 0 else _ppo()
    if coef < 0:
        ppo.cfg.entropy_coef = coef  # a negative coefficient is refused by validation; set it directly
    obs, raw, old = _samples(ppo)
    before = ppo.model.log_std.detach().clone()
    ppo._update([torch.arange(64)], (obs, raw, old, torch.zeros(64), torch.zeros(64)), critic=False)
    moved = ppo.model.log_std.detach() - before
    assert (moved > 0).all() if coef > 0 else (moved < 0).all()


def _rollout(rewards: np.ndarray) -> Rollout:
    t = len(rewards)
    g = np.random.default_rng(1)
    return Rollout(obs=g.standard_normal((t, 1, 8)).astype(np.float32), rewards=rewards[:, None].astype(np.float32),
                   terminated=np.zeros((t, 1), bool), truncated=np.zeros((t, 1), bool),
                   last_obs=np.zeros((1, 8), np.float32), trunc_index=(np.zeros(0, np.int64), np.zeros(0, np.int64)),
                   trunc_obs=np.zeros((0, 8), np.float32), episodes=Episodes.concat([]), live=np.ones((t, 1), bool),
                   episode_env=np.zeros(0, np.int64),
                   raw_actions=g.standard_normal((t, 1, 2)).astype(np.float32))


@pytest.mark.parametrize("normalize", [True, False])
def test_the_actor_learns_from_normalised_advantages_when_asked(normalize):
    """With a critic that outputs 0, gamma = lambda = 1 and no episode end, the advantage of step t is
    the sum of the rewards from t on; the actor must see exactly that, standardised or not."""
    rewards = np.random.default_rng(2).standard_normal(64) * 5 + 3
    ppo = _ppo([f"algo.normalize_advantages={str(normalize).lower()}", "algo.rollout_bootstrap=repeat_last",
                "algo.gamma=1.0", "algo.gae_lambda=1.0"])
    with torch.no_grad():
        ppo.model.critic[-1].weight.zero_()
        ppo.model.critic[-1].bias.zero_()
    seen = []
    update = ppo._update
    ppo._update = lambda perms, samples, **parts: (seen.append(samples[3].clone()), update(perms, samples, **parts))[1]
    ppo.learn(_rollout(rewards))
    expected = torch.tensor(np.cumsum(rewards[::-1])[::-1].copy(), dtype=torch.float32)
    if normalize:
        expected = (expected - expected.mean()) / (expected.std() + 1e-8)
    torch.testing.assert_close(seen[0], expected, atol=1e-4, rtol=1e-5)


def test_each_network_is_clipped_to_max_grad_norm_on_its_own():
    ppo = _ppo(["algo.max_grad_norm=0.001", "algo.entropy_coef=0"])
    rows = ppo.learn(_rollout(np.random.default_rng(3).standard_normal(64) * 100))
    norm = lambda params: torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])).item()
    # the last minibatch's gradients are still there: each clipped to exactly the limit, not jointly
    assert rows["train/grad_norm/actor"] > 0.001 and rows["train/grad_norm/critic"] > 0.001
    assert norm(ppo.model.actor_params()) == pytest.approx(0.001, rel=1e-3)
    assert norm(list(ppo.model.critic.parameters())) == pytest.approx(0.001, rel=1e-3)


def test_reinforce_update_raises_the_log_prob_of_actions_that_beat_the_baseline():
    cfg = make_cfg(["experiment=reinforce", "network.hidden_dim=16"])
    algo = Reinforce(cfg, 8, 4, torch.device("cpu"))
    with torch.no_grad():  # baseline 0: the sign of each step's advantage is its return's
        algo.model.critic[-1].weight.zero_()
        algo.model.critic[-1].bias.zero_()
    g = np.random.default_rng(4)
    obs = g.standard_normal((2, 8)).astype(np.float32)
    actions = np.array([1, 2])
    rewards = np.array([0.0, -5.0])  # returns (gamma .99): -4.95 then -5: both below the baseline

    def logp():
        with torch.no_grad():
            return torch.log_softmax(algo.model.actor(torch.as_tensor(obs)), -1)[[0, 1], actions]

    before = logp()
    algo.update(obs, actions, rewards)
    assert (logp() < before).all()
    good = np.array([0.0, 5.0])
    before = logp()
    algo.update(obs, actions, good)
    assert (logp() > before).all()
    actor_loss, critic_loss, entropy = reinforce_losses(algo.model, torch.as_tensor(obs), torch.as_tensor(actions),
                                                        torch.tensor([1.0, 2.0]), False)
    assert 0 <= entropy.item() <= math.log(4) + 1e-6 and critic_loss.item() >= 0

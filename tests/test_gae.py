import numpy as np
import pytest
import torch

from lander_exp.core.ppo import PPO, Rollout
from lander_exp.core.returns import gae
from lander_exp.envs.outcomes import Episodes
from tests.conftest import make_cfg


def test_gae_matches_hand_worked_example_with_an_episode_end_in_the_middle():
    # gamma 0.9, lambda 0.5; the episode ends (terminally) at t=1; V after t=3 is 3.0.
    rewards = np.array([[1.0], [2.0], [3.0], [4.0]])
    values = np.array([[0.5], [1.0], [1.5], [2.0]])
    next_values = np.array([[1.0], [0.0], [2.0], [3.0]])
    dones = np.array([[0.0], [1.0], [0.0], [0.0]])
    adv, ret = gae(rewards, values, next_values, dones, gamma=0.9, lam=0.5)
    # deltas: 1+0.9*1-0.5=1.4, 2-1=1.0, 3+0.9*2-1.5=3.3, 4+0.9*3-2=4.7
    # A3=4.7, A2=3.3+0.45*4.7=5.415, A1=1.0 (the end cuts A2 off), A0=1.4+0.45*1.0=1.85
    np.testing.assert_allclose(adv[:, 0], [1.85, 1.0, 5.415, 4.7])
    np.testing.assert_allclose(ret[:, 0], [2.35, 2.0, 6.915, 6.7])


def test_gae_with_lambda_one_is_the_discounted_return_minus_value():
    rng = np.random.default_rng(0)
    r, v = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    nv = np.vstack([v[1:], np.zeros((1, 3))])
    adv, ret = gae(r, v, nv, np.zeros((6, 3)), gamma=0.8, lam=1.0)
    mc = np.array([[sum(0.8 ** (k - t) * r[k, i] for k in range(t, 6)) for i in range(3)] for t in range(6)])
    np.testing.assert_allclose(ret, mc, atol=1e-12)


def _rollout(terminated, truncated, n_trunc_obs):
    t = len(terminated)
    return Rollout(obs=np.zeros((t, 1, 8), np.float32), raw_actions=np.zeros((t, 1, 2), np.float32),
                   rewards=np.ones((t, 1), np.float32), terminated=np.array(terminated)[:, None],
                   truncated=np.array(truncated)[:, None], last_obs=np.zeros((1, 8), np.float32),
                   trunc_index=(np.flatnonzero(truncated), np.zeros(n_trunc_obs, np.int64)),
                   trunc_obs=np.zeros((n_trunc_obs, 8), np.float32), episodes=Episodes.concat([]),
                   live=np.ones((t, 1), bool), episode_env=np.zeros(0, np.int64))


@pytest.mark.parametrize("overrides,expected_next_values", [
    # same_step: after an end, obs[t+1] belongs to the next episode; a truncation bootstraps from
    # the final obs's value (7), a terminal end from 0, the rollout's end from V(last obs) (5)
    ([], [10.0, 7.0, 0.0, 14.0, 5.0]),
    (["algo.bootstrap_truncation=false"], [10.0, 0.0, 0.0, 14.0, 5.0]),
    (["algo.rollout_bootstrap=repeat_last"], [10.0, 7.0, 0.0, 14.0, 14.0]),
    # next_step (Gymnasium's default): obs[t+1] after an end is that episode's own final obs
    (["env.autoreset=next_step"], [10.0, 11.0, 0.0, 14.0, 5.0]),
    # the write-up's code: all three choices its way
    (["env.autoreset=next_step", "algo.bootstrap_truncation=false", "algo.rollout_bootstrap=repeat_last"],
     [10.0, 0.0, 0.0, 14.0, 14.0]),
])
def test_value_credited_after_each_step_follows_the_config(overrides, expected_next_values):
    cfg = make_cfg([*overrides, "algo.gamma=1.0", "algo.gae_lambda=0.0"])
    ppo = PPO(cfg, 8, 2, torch.device("cpu"))
    terminated, truncated = [False, False, True, False, False], [False, True, False, False, False]
    values = np.array([[9.0], [10.0], [11.0], [13.0], [14.0]])
    ro = _rollout(terminated, truncated, 1 if ppo.autoreset.value == "same_step" else 0)
    trunc_values = np.array([7.0]) if ppo.autoreset.value == "same_step" else np.zeros(0)
    _, ret = ppo.advantages(ro, values, np.array([5.0]), trunc_values)
    # lambda 0, gamma 1: each target is r + next_value, with r = 1
    np.testing.assert_allclose(ret[:, 0], 1.0 + np.array(expected_next_values))

"""PPO's update: what it learns from, and the critic learning in the background (algo.overlap_critic) as a
speed option only."""

import torch

from lander_exp.core.ppo import PPO
from lander_exp.envs.vec import VecEnv
from tests.conftest import make_cfg

SMALL = ["env.num_envs=4", "algo.steps_per_epoch=1024", "algo.batch_size=256", "algo.update_epochs=3",
         "network.hidden_dim=16", "env.max_episode_steps=100"]


def _train(overlap: bool, epochs: int):
    cfg = make_cfg([*SMALL, f"algo.overlap_critic={str(overlap).lower()}"])
    env = VecEnv(cfg.env, cfg.env.num_envs, seed=0)
    ppo = PPO(cfg, env.obs_dim, env.single_action_space.shape[0], torch.device("cpu"))
    rows = [ppo.learn(ppo.collect(env)) for _ in range(epochs)]
    return ppo, rows


def test_overlapping_the_critic_update_learns_the_same_weights_and_reports_its_metrics_one_row_late():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the background critic runs on one thread: compare like with like
    try:
        plain, plain_rows = _train(False, 3)
        overlapped, overlapped_rows = _train(True, 3)
        assert overlapped.critic_job.pending  # the last epoch's critic update is still pending
        state = overlapped.state_dict()  # ... and a checkpoint waits for it
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    for name, value in plain.state_dict()["model"].items():
        assert torch.equal(value, state["model"][name]), name
    assert "train/critic_loss" not in overlapped_rows[0]
    for before, after in zip(plain_rows, overlapped_rows[1:], strict=False):
        assert after["train/critic_loss"] == before["train/critic_loss"]
        assert after["train/grad_norm/critic"] == before["train/grad_norm/critic"]
    for a, b in zip(plain_rows, overlapped_rows, strict=True):
        assert a["train/actor_loss"] == b["train/actor_loss"]
        assert a["train/explained_variance"] == b["train/explained_variance"]
    assert "train/loss" in plain_rows[0] and "train/loss" not in overlapped_rows[1]


def _one_update(overrides, garble_reset_steps: bool):
    cfg = make_cfg([*SMALL, "algo.update_epochs=2", *overrides])
    env = VecEnv(cfg.env, cfg.env.num_envs, seed=0)
    ppo = PPO(cfg, env.obs_dim, env.single_action_space.shape[0], torch.device("cpu"))
    ro = ppo.collect(env)
    if garble_reset_steps:  # what a reset-only step holds must not matter: it is no transition
        ro.raw_actions[~ro.live] = 40.0
        ro.rewards[~ro.live] = 1e4
    rows = ppo.learn(ro)
    return ro, rows, ppo.model.state_dict()


def test_reset_only_steps_of_next_step_autoreset_are_left_out_of_the_update():
    ro, rows, weights = _one_update(["env.autoreset=next_step"], garble_reset_steps=False)
    assert (~ro.live).sum() >= 4  # some episodes ended (100-step limit) and their envs reset
    _, garbled_rows, garbled = _one_update(["env.autoreset=next_step"], garble_reset_steps=True)
    for name, value in weights.items():
        assert torch.equal(value, garbled[name]), name
    assert rows["train/explained_variance"] == garbled_rows["train/explained_variance"]


def test_same_step_autoreset_has_no_reset_only_steps():
    ro, _, _ = _one_update([], garble_reset_steps=False)
    assert ro.live.all() and (ro.terminated | ro.truncated).any()


def test_the_sampled_policy_squashes_a_gaussian_around_the_mean_the_greedy_one_plays():
    import numpy as np

    cfg = make_cfg(SMALL)
    ppo = PPO(cfg, 8, 2, torch.device("cpu"))
    with torch.no_grad():
        ppo.model.log_std.fill_(-1.0)
    obs = np.tile(np.array([[0.1, 1.0, 0.2, -0.3, 0.05, 0.0, 0.0, 0.0]], np.float32), (20_000, 1))
    greedy = ppo.policy()(obs[:1])[0]
    raw = np.arctanh(np.clip(ppo.policy(sampled_seed=1)(obs), -1 + 1e-6, 1 - 1e-6))
    np.testing.assert_allclose(raw.mean(0), np.arctanh(greedy), atol=0.01)
    np.testing.assert_allclose(raw.std(0), np.exp(-1.0), rtol=0.03)

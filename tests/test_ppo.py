"""PPO's update: the critic learning in the background (algo.overlap_critic) is a speed option only."""

import torch

from lander_exp.core.ppo import PPO
from lander_exp.envs.vec import VecEnv
from tests.conftest import make_cfg

SMALL = ["env.num_envs=4", "algo.steps_per_epoch=1024", "algo.batch_size=256", "algo.update_epochs=3",
         "network.hidden_dim=16", "env.max_episode_steps=100"]


def _train(overlap: bool, epochs: int):
    torch.manual_seed(0)
    cfg = make_cfg([*SMALL, f"algo.overlap_critic={str(overlap).lower()}"])
    env = VecEnv(cfg.env, cfg.env.num_envs, seed=0)
    ppo = PPO(cfg, env.obs_dim, env.single_action_space.shape[0], torch.device("cpu"))
    rows = [ppo.train_epoch(env)[0] for _ in range(epochs)]
    return ppo, rows


def test_overlapping_the_critic_update_learns_the_same_weights_and_reports_its_metrics_one_row_late():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the background critic runs on one thread: compare like with like
    try:
        plain, plain_rows = _train(False, 3)
        overlapped, overlapped_rows = _train(True, 3)
        assert overlapped._critic_job is not None  # the last epoch's critic update is still pending
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

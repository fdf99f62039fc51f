"""Several runs' PPO updates as one stacked update (core/many_ppo.py, used by `seeds=[...]`): each
run ends with the weights, optimizer moments and train/* row of its own update, also where the runs'
sample counts differ (next-step autoreset drops reset-only steps, so the last minibatch of a pass is
padded); where one stacked update cannot stand for the runs' own, it is not used."""

import pytest
import torch

from lander_exp.core.many_ppo import learn_stacked, stackable
from lander_exp.core.ppo import PPO
from lander_exp.envs.vec import VecEnv
from tests.conftest import make_cfg

RAGGED = ["env.num_envs=2", "env.autoreset=next_step", "algo.steps_per_epoch=600", "algo.batch_size=128",
          "algo.update_epochs=2", "network.hidden_dim=16"]
SEEDS = (1, 2, 3)


def _runs(overrides):
    """Each seed's PPO twice (for the stacked and the lone update) and one rollout of its own."""
    stacked, alone, rollouts = [], [], []
    for s in SEEDS:
        cfg = make_cfg([*overrides, f"seed={s}"])
        env = VecEnv(cfg.env, cfg.env.num_envs, seed=s)
        a, b = (PPO(cfg, env.obs_dim, env.single_action_space.shape[0], torch.device("cpu")) for _ in range(2))
        rollouts.append(a.collect(env))
        stacked.append(a)
        alone.append(b)
    return stacked, alone, rollouts


def _assert_close(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_close(a[key], b[key])
    elif isinstance(a, list):
        for x, y in zip(a, b, strict=True):
            _assert_close(x, y)
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    else:
        assert a == b


@pytest.mark.parametrize("overlap", [False, True], ids=["in_line", "overlapped_critic"])
def test_a_stacked_update_learns_what_each_run_learns_alone(overlap):
    """Also with algo.overlap_critic: the stacked update learns the critic in line, and its rows
    carry the critic's metrics one epoch late, as a run alone with its critic on a thread logs them."""
    stacked, alone, rollouts = _runs([*RAGGED, f"algo.overlap_critic={str(overlap).lower()}"])
    counts = [int(ro.live.sum()) for ro in rollouts]
    assert len(set(counts)) > 1  # the padded last minibatch is exercised
    assert stackable(stacked, rollouts)
    for epoch in range(2):
        rows = learn_stacked(stacked, rollouts)
        rows_alone = [b.learn(ro) for b, ro in zip(alone, rollouts, strict=True)]
        for a, b, row, row_alone in zip(stacked, alone, rows, rows_alone, strict=True):
            sa, sb = a.state_dict(), b.state_dict()
            _assert_close(sa["model"], sb["model"])
            _assert_close(sa["pi_opt"]["state"], sb["pi_opt"]["state"])
            _assert_close(sa["vf_opt"]["state"], sb["vf_opt"]["state"])
            assert row.keys() == row_alone.keys()
            for key in row:
                assert row[key] == pytest.approx(row_alone[key], rel=1e-4, abs=1e-6), (epoch, key)
    # the runs are not copies of each other
    assert not torch.equal(stacked[0].model.log_std, stacked[1].model.log_std)


def test_runs_whose_updates_differ_in_shape_are_not_stacked():
    stacked, _, rollouts = _runs(RAGGED)
    rollouts[1].live[:50] = False  # under 512 samples: one minibatch fewer per pass than the others
    assert not stackable(stacked, rollouts)
    stacked, _, rollouts = _runs(RAGGED)
    stacked[0].learn(rollouts[0])  # one run's Adam is a step count ahead
    assert not stackable(stacked, rollouts)

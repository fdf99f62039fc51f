"""EnvPool and Gymnasium backends: same spaces, same episode bookkeeping, same returns (within
EnvPool's fidelity) for Gymnasium's own heuristic lander controller."""

import numpy as np
import pytest
from gymnasium.envs.box2d.lunar_lander import heuristic

from lander_exp.config import ConfigError
from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import VecEnv, run_episodes
from tests.conftest import make_cfg


class _Flag:  # heuristic() reads only env.unwrapped.continuous
    def __init__(self, continuous):
        self.continuous = continuous
        self.unwrapped = self


def _heuristic_policy(continuous):
    flag = _Flag(continuous)
    return lambda obs: np.array([heuristic(flag, o) for o in obs], dtype=np.float32 if continuous else np.int64)


@pytest.mark.parametrize("env,continuous", [("continuous", True), ("discrete", False)])
def test_backends_agree_on_spaces_and_heuristic_returns(env, continuous):
    algo = "ppo" if continuous else "reinforce"
    gym_env = VecEnv(make_cfg([f"algo={algo}", f"env={env}"]).env, 8, seed=0)
    pool_env = VecEnv(make_cfg([f"algo={algo}", f"env={env}", "env.backend=envpool", "env.autoreset=next_step"]).env, 8,
                      seed=0)
    assert pool_env.single_action_space == gym_env.single_action_space
    assert pool_env.reset().shape == gym_env.reset().shape == (8, 8)
    policy = _heuristic_policy(continuous)
    a = run_episodes(gym_env, policy, 48, seed=100)
    b = run_episodes(pool_env, policy, 48, seed=100)
    assert len(a) == len(b) == 48
    assert a.returns.mean() > 150 and b.returns.mean() > 150  # the heuristic lands
    assert abs(a.returns.mean() - b.returns.mean()) < 25
    assert abs(a.rates()["landed"] - b.rates()["landed"]) < 0.25


def test_envpool_backend_needs_next_step_autoreset():
    with pytest.raises(ConfigError, match="env.autoreset=next_step"):
        make_cfg(["env.backend=envpool"])


def test_next_step_reset_steps_are_marked_not_live():
    env = VecEnv(make_cfg(["env.max_episode_steps=5", "env.autoreset=next_step"]).env, 2, seed=0)
    env.reset()
    lives = [env.step(np.zeros((2, 2), np.float32)).live.copy() for _ in range(12)]
    # five live steps, then one reset step, per episode of 5 steps
    assert [bool(x[0]) for x in lives] == [True] * 5 + [False] + [True] * 5 + [False]


def test_envpool_restarts_from_every_resume_seed():
    """A resume restarts EnvPool's envs from a seed of (seed, epoch); EnvPool takes int32 seeds only,
    so every restart seed must fit."""
    from lander_exp.core.seeding import RunSeeds

    env = VecEnv(make_cfg(["env.backend=envpool", "env.autoreset=next_step"]).env, 2, seed=0)
    for seed in (0, 1, 7, 2**31 - 1):
        seeds = RunSeeds.of(seed)
        for epoch in range(1, 200):
            assert 0 <= seeds.restart(epoch) < 2**31 - 1
    assert env.restore(env.rng_state(), env.replay_state(), fallback_seed=RunSeeds.of(0).restart(1)) is None
    assert env.reset().shape == (2, 8)


@pytest.mark.parametrize("backend", ["envpool", "gymnasium"])
def test_a_rollout_in_which_no_episode_ends_has_no_episodes(backend):
    """A short rollout (`experiment=fast algo.steps_per_epoch=256`: 16 steps per env) ends no episode."""
    env = VecEnv(make_cfg(["env.autoreset=next_step", f"env.backend={backend}"]).env, 4, seed=0)
    got = env.play_steps(env.reset(), lambda t, obs: np.zeros((4, 2), np.float32), 5)
    assert len(got.episodes) == 0 and got.rewards.shape == (5, 4)
    assert got.episodes.outcomes.dtype == np.int64


@pytest.mark.parametrize("backend", ["envpool", "gymnasium"])
def test_play_steps_matches_stepping_one_at_a_time(backend):
    """`play_steps` (EnvPool's tight loop with its bookkeeping done afterwards) gives the transitions,
    episodes and carried-over episode state that `step` gives, across calls that cut episodes."""
    cfg = make_cfg(["env.max_episode_steps=120", "env.autoreset=next_step", f"env.backend={backend}"]).env
    heuristic_policy = _heuristic_policy(True)
    side = np.random.default_rng(0).uniform(-1, 1, (3, 80, 4)).astype(np.float32)

    def act(call):  # envs 0-1 fly the heuristic into the time limit, envs 2-3 fall with the engine off
        def policy(t, obs):
            a = heuristic_policy(obs)
            a[2:, 0], a[2:, 1] = -1.0, side[call, t, 2:]
            return a
        return policy

    fast, slow = VecEnv(cfg, 4, seed=3), VecEnv(cfg, 4, seed=3)
    obs_fast, obs_slow = fast.reset(), slow.reset()
    outcomes = set()
    for call in range(3):
        got = fast.play_steps(obs_fast, act(call), 80)
        obs_fast = got.last_obs
        rows, episodes = [], []
        for t in range(80):
            step = slow.step(act(call)(t, obs_slow))
            rows.append((obs_slow, step.reward, step.terminated, step.truncated))
            episodes.append(step.episodes)
            obs_slow = step.obs
        want = [np.stack(col) for col in zip(*rows, strict=True)]
        for a, b in zip((got.obs, got.rewards, got.terminated, got.truncated), want, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(got.last_obs, obs_slow)
        for field in ("returns", "lengths", "outcomes"):
            np.testing.assert_array_equal(getattr(got.episodes, field), getattr(Episodes.concat(episodes), field))
        outcomes |= set(got.episodes.outcomes.tolist())
    assert len(outcomes) >= 2  # the check covered more than one kind of episode end


@pytest.mark.parametrize("raw", [True, False], ids=["entry_points", "public_api"])
def test_the_pool_stepper_steps_as_the_pool_does(raw):
    """PoolStepper (EnvPool's step halved into send and recv, through the pool's C++ entry points
    where they exist, else its public send/recv) returns what `pool.step` returns, episode ends included."""
    import envpool

    from lander_exp.envs.vec import PoolStepper

    make = lambda: envpool.make("LunarLander-v3", env_type="gymnasium", num_envs=5, seed=3, max_episode_steps=40)  # noqa: E731
    reference, stepped = make(), make()
    reference.reset()
    stepped.reset()
    stepper = PoolStepper(stepped)
    assert stepper._raw  # this EnvPool has the entry points
    stepper._raw = raw
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(300):
        ids = None if t % 3 else np.sort(rng.choice(5, size=int(rng.integers(1, 5)), replace=False))  # a part of the pool
        a = rng.integers(4, size=5 if ids is None else len(ids))
        obs, reward, terminated, truncated, info = reference.step(a, env_id=ids)
        order = np.argsort(info["env_id"])
        stepper.send(a, ids)
        got = stepper.recv()
        for x, y in zip(got, (obs, reward, terminated, truncated), strict=True):
            np.testing.assert_array_equal(x, y[order])
        ends += int((terminated | truncated).sum())
    assert ends > 10


@pytest.mark.parametrize("pin", [False, True])
def test_pin_threads_pins_the_pools_threads_to_the_first_cores(pin):
    env = VecEnv(make_cfg(["env.backend=envpool", "env.autoreset=next_step", f"env.pin_threads={pin}"]).env, 2, seed=0)
    assert env.pool.config["thread_affinity_offset"] == (0 if pin else -1)

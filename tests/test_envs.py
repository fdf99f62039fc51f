import numpy as np
import pytest

from lander_exp.envs.outcomes import CRASHED, LANDED, OUT_OF_BOUNDS, TIMEOUT_AIRBORNE, TIMEOUT_GROUNDED, Episodes, classify
from lander_exp.envs.vec import OBS_SCALE, VecEnv, run_episodes
from tests.conftest import make_cfg


def _obs(x, left_leg=0.0, right_leg=0.0, y=0.5):
    return np.array([x, y, 0.0, 0.0, 0.0, 0.0, left_leg, right_leg], np.float32)


def test_classify_hand_made_episode_ends():
    terminated = np.array([True, True, True, False, False, False, False, True])
    reward = np.array([100.0, -100.0, -100.0, -0.3, 2.1, -0.3, 9.7, 100.0])
    final_obs = np.stack([
        _obs(0.05, 1, 1, y=0.0),   # came to rest on the pad: +100
        _obs(0.2, 1, 0, y=0.0),    # the body hit the ground (a leg may touch too): -100
        _obs(-1.02),               # left the viewport
        _obs(0.1, y=1.2),          # time limit in the air: hovering
        _obs(0.0, 1, 1, y=0.0),    # time limit standing on both legs, engines still firing
        _obs(0.3, 0, 1, y=0.05),   # time limit with one leg down
        _obs(-0.2, 1, 0, y=0.02),
        _obs(1.0, 1, 1, y=0.0),    # at rest exactly on the edge
    ])
    assert classify(terminated, reward, final_obs).tolist() == [
        LANDED, CRASHED, OUT_OF_BOUNDS, TIMEOUT_AIRBORNE, TIMEOUT_GROUNDED, TIMEOUT_GROUNDED, TIMEOUT_GROUNDED, LANDED]


def _heuristic(obs):
    """A fixed, deterministic controller: fire the main engine when falling fast, steer upright."""
    main = np.where(obs[:, 3] < -0.2, 1.0, -1.0)
    lateral = np.clip(-2.0 * obs[:, 4] - obs[:, 5], -1, 1)
    return np.stack([main, lateral], axis=1).astype(np.float32)


def _play(env, steps, policy=_heuristic):
    obs = env.reset()
    eps = []
    for _ in range(steps):
        step = env.step(policy(obs))
        eps.append(step.episodes)
        obs = step.obs
    return eps


def test_next_step_autoreset_counts_the_same_episodes_as_same_step():
    """Gymnasium's next_step mode inserts a reset step after each end; the bookkeeping must skip it."""
    cfg = make_cfg()
    same = VecEnv(cfg.env, 2, seed=3, autoreset="same_step")
    nxt = VecEnv(cfg.env, 2, seed=3, autoreset="next_step")
    a = [e for e in _play(same, 600) if len(e)]
    b = [e for e in _play(nxt, 600) if len(e)]
    flat = lambda es, f: np.concatenate([getattr(e, f) for e in es])
    k = min(len(flat(a, "returns")), len(flat(b, "returns")))
    assert k >= 3
    for f in ("returns", "lengths", "outcomes"):
        np.testing.assert_allclose(np.sort(flat(a, f)[:k]), np.sort(flat(b, f)[:k]))


@pytest.mark.parametrize("mode,op", [("none", lambda o: o), ("divide", lambda o: o / OBS_SCALE),
                                     ("multiply", lambda o: o * OBS_SCALE)])
def test_observation_scaling(mode, op):
    ref = VecEnv(make_cfg().env, 2, seed=5).reset()
    got = VecEnv(make_cfg([f"env.obs_scaling={mode}"]).env, 2, seed=5).reset()
    np.testing.assert_allclose(got, op(ref), rtol=1e-6)


def test_run_episodes_plays_exactly_n_whole_episodes_and_repeats_with_its_seed():
    cfg = make_cfg(["env.max_episode_steps=200"])
    env = VecEnv(cfg.env, 3, seed=0, autoreset="same_step")
    first = run_episodes(env, _heuristic, 7, seed=11)
    again = run_episodes(env, _heuristic, 7, seed=11)
    assert len(first) == 7
    assert (first.lengths <= 200).all() and (first.lengths > 0).all()
    np.testing.assert_array_equal(first.returns, again.returns)
    rates = first.rates()
    assert set(rates) == {"landed", "crashed", "out_of_bounds", "timeout", "timeout_grounded", "timeout_airborne"}
    assert sum(rates[k] for k in ("landed", "crashed", "out_of_bounds", "timeout")) == pytest.approx(1.0)
    assert rates["timeout"] == pytest.approx(rates["timeout_grounded"] + rates["timeout_airborne"])


def _every_env_until_counted(env, policy, count, seed):
    """The reference evaluation round: every env steps (finished ones replay) until envs 0..count-1 ended once."""
    obs, counted, parts = env.reset(seed=seed), np.zeros(env.num_envs, bool), []
    counted[count:] = True
    while not counted.all():
        step = env.step(policy(obs))
        done = step.terminated | step.truncated
        parts.append(step.episodes.select(~counted[done]))
        counted |= done
        obs = step.obs
    return Episodes.concat(parts)


@pytest.mark.parametrize("backend", ["gymnasium", "envpool"])
def test_an_evaluation_round_steps_only_the_envs_still_playing(backend):
    """A short episode's env stops once it has ended: the round counts the episodes that stepping
    every env counts (EnvPool: exactly; Gymnasium to float noise, since Box2D's worlds in one process
    are not bit-for-bit independent of what the others do)."""
    extra = ["env.backend=envpool", "env.autoreset=next_step"] if backend == "envpool" else []
    cfg = make_cfg([*extra, "env.max_episode_steps=300"])
    wobbly = lambda obs: np.clip(_heuristic(obs) * np.array([0.7, 1.0], np.float32), -1, 1)  # some hover to the limit
    expected = _every_env_until_counted(VecEnv(cfg.env, 6, seed=0), wobbly, 4, seed=20)
    env = VecEnv(cfg.env, 6, seed=0)
    stepped = np.zeros(6, np.int64)
    step_some = env._step_some

    def counting(actions, ids):
        stepped[ids] += 1
        return step_some(actions, ids)

    env._step_some = counting
    got = env.play_round(env.reset(seed=20), wobbly, np.arange(4))
    assert len(got) == 4 and len(set(got.lengths.tolist())) > 1
    np.testing.assert_array_equal(got.lengths, expected.lengths)
    np.testing.assert_array_equal(got.outcomes, expected.outcomes)
    np.testing.assert_allclose(got.returns, expected.returns, rtol=0, atol=0 if backend == "envpool" else 1e-3)
    assert sorted(stepped[:4].tolist()) == sorted(got.lengths.tolist())  # each env stepped for its own episode only
    assert (stepped[4:] == 0).all()  # envs not counted in this round never step


@pytest.mark.parametrize("autoreset", ["same_step", "next_step"])
def test_an_episode_that_ends_on_the_time_limits_last_step_keeps_its_terminal_outcome(autoreset):
    """A lander that crashes on the very step the time limit falls (Gymnasium's TimeLimit would flag
    it truncated too) crashed: it did not time out (a hover)."""
    engines_off = lambda obs: np.tile(np.array([-1.0, 0.0], np.float32), (len(obs), 1))
    free = VecEnv(make_cfg().env, 1, seed=4, autoreset=autoreset)
    (fall,) = [e for e in _play(free, 400, engines_off) if len(e)][:1]
    assert fall.outcomes.tolist() == [CRASHED] and fall.lengths[0] < 400

    limit = int(fall.lengths[0])  # now the time limit falls on the crash step itself
    cut = VecEnv(make_cfg([f"env.max_episode_steps={limit}"]).env, 1, seed=4, autoreset=autoreset)
    obs = cut.reset()
    for _ in range(limit):
        step = cut.step(engines_off(obs))
        obs = step.obs
    assert step.terminated[0]
    assert step.episodes.outcomes.tolist() == [CRASHED] and step.episodes.lengths.tolist() == [limit]

    shorter = VecEnv(make_cfg([f"env.max_episode_steps={limit - 1}"]).env, 1, seed=4, autoreset=autoreset)
    (early,) = [e for e in _play(shorter, limit, engines_off) if len(e)][:1]
    assert early.outcomes.tolist() == [TIMEOUT_GROUNDED]  # one step earlier, the limit wins (its legs are down)


def test_outcome_rates_of_hand_made_episodes():
    eps = Episodes(np.array([120.0, -80.0, 95.0, -300.0, 60.0]), np.array([300, 90, 1000, 120, 1000]),
                   np.array([LANDED, CRASHED, TIMEOUT_GROUNDED, OUT_OF_BOUNDS, TIMEOUT_AIRBORNE]))
    assert eps.rates() == {"landed": 0.2, "crashed": 0.2, "out_of_bounds": 0.2, "timeout": 0.4,
                           "timeout_grounded": 0.2, "timeout_airborne": 0.2}
    assert Episodes.concat([]).rates() == dict.fromkeys(eps.rates(), 0.0)


def _first_leg_contact(cfg_overrides, seed, act):
    """Steps until the lander, falling with engines off, first touches the ground with a leg."""
    env = VecEnv(make_cfg(cfg_overrides).env, 1, seed=seed)
    obs = env.reset()
    for k in range(1, 1000):
        step = env.step(act(obs))
        assert not (step.terminated | step.truncated).any(), "the lander ended before a leg touched"
        if step.obs[0, 6] or step.obs[0, 7]:
            env.close()
            return k
        obs = step.obs
    raise AssertionError("no leg contact")


@pytest.mark.parametrize("backend", ["gymnasium", "envpool"])
@pytest.mark.parametrize("scaling", ["none", "divide"])
def test_time_limit_ends_of_real_episodes_say_whether_a_leg_was_down(backend, scaling):
    """The same free fall cut by the time limit on the step a leg first touches (grounded) and on the
    step before (airborne), through `step` and `play_steps`, both backends, scaled or not."""
    base = [f"env.backend={backend}", "env.autoreset=next_step", f"env.obs_scaling={scaling}"]
    engines_off = lambda obs: np.tile(np.array([-1.0, 0.0], np.float32), (len(obs), 1))
    k = _first_leg_contact(base[:2], seed=4, act=engines_off)
    for limit, expected in ((k, TIMEOUT_GROUNDED), (k - 1, TIMEOUT_AIRBORNE)):
        cfg = make_cfg([*base, f"env.max_episode_steps={limit}"])
        env = VecEnv(cfg.env, 1, seed=4)
        obs = env.reset()
        for _ in range(limit):
            step = env.step(engines_off(obs))
            obs = step.obs
        assert step.truncated[0] and step.episodes.outcomes.tolist() == [expected]
        env.close()
        env = VecEnv(cfg.env, 1, seed=4)
        steps = env.play_steps(env.reset(), lambda t, o: engines_off(o), limit + 1)
        assert steps.episodes.outcomes.tolist() == [expected]
        env.close()


def test_one_env_episodes_of_reinforce_say_whether_a_leg_was_down():
    """play_episode (REINFORCE's one-env loop) classifies its time limit like `step`."""
    nothing = lambda obs: np.zeros(len(obs), np.int64)  # discrete action 0: engines off
    k = _first_leg_contact(["experiment=reinforce"], seed=4, act=nothing)
    for limit, expected in ((k, TIMEOUT_GROUNDED), (k - 1, TIMEOUT_AIRBORNE)):
        env = VecEnv(make_cfg(["experiment=reinforce", f"env.max_episode_steps={limit}"]).env, 1, seed=4)
        _, actions, _, episode = env.play_episode(lambda t, o: 0)
        assert len(actions) == limit and episode.outcomes.tolist() == [expected]


def test_an_evaluation_played_in_two_calls_plays_the_episodes_of_one():
    """run_episodes(start=k) continues an evaluation: episodes 0..k-1, then k..n-1, are the n episodes
    of one call (EnvPool: exactly), across rounds of env.num_envs."""
    env = VecEnv(make_cfg(["env.backend=envpool", "env.autoreset=next_step"]).env, 4, seed=0)
    whole = run_episodes(env, _heuristic, 10, seed=7)
    first, rest = run_episodes(env, _heuristic, 6, seed=7), run_episodes(env, _heuristic, 10, seed=7, start=6)
    assert (len(first), len(rest)) == (6, 4)
    split = Episodes.concat([first, rest])
    order = lambda e: np.lexsort((e.returns, e.lengths))  # noqa: E731  (rounds end their episodes in their own order)
    for field in ("returns", "lengths", "outcomes"):
        np.testing.assert_array_equal(getattr(split, field)[order(split)], getattr(whole, field)[order(whole)])


def test_a_discrete_envs_action_check_accepts_and_refuses_what_gymnasiums_does():
    """VecEnv's Gymnasium envs check a Python int action in one comparison (Gymnasium's Discrete
    builds np.iinfo on every step); every value is accepted or refused as Gymnasium's own check does."""
    import gymnasium as gym

    env = VecEnv(make_cfg(["experiment=reinforce"]).env, 1, seed=0)
    ours, theirs = env.envs[0].action_space, gym.make("LunarLander-v3").action_space
    values = [*range(-5, 10), 2**63, -(2**63) - 1, True, 2.0, np.int64(3), np.int8(-1), np.array(1), "1", None]
    assert [ours.contains(v) for v in values] == [theirs.contains(v) for v in values]
    assert ours.n == theirs.n and ours.start == theirs.start and ours.dtype == theirs.dtype
    env.envs[0].reset(seed=0)
    with pytest.raises(AssertionError):
        env.envs[0].step(4)


def _continue(env, steps, rng):
    """`steps` more vector steps with actions drawn from `rng`: every transition and episode."""
    out = []
    space = env.single_action_space
    for _ in range(steps):
        if space.shape:
            actions = rng.uniform(-1, 1, (env.num_envs, *space.shape)).astype(np.float32)
        else:
            actions = rng.integers(0, space.n, env.num_envs)
        step = env.step(actions)
        out.append((step.obs, step.reward, step.terminated, step.truncated, step.live, step.episodes.returns,
                    step.episodes.lengths, step.episodes.outcomes))
    return out


@pytest.mark.parametrize("overrides", [[], ["env.autoreset=next_step"], ["experiment=reinforce", "env.num_envs=4"],
                                       ["env.obs_scaling=divide", "env.max_episode_steps=60"]],
                         ids=["same_step", "next_step", "discrete", "divide_truncated"])
def test_episodes_in_progress_are_rebuilt_exactly_from_the_replay_record(overrides):
    """A checkpoint's replay record (each env's reset and the actions since) rebuilds the episodes in
    progress in fresh envs, as a resume does: the same observation to act on, the same episode so far,
    and from there the same transitions and episodes as the envs that were never rebuilt."""
    cfg = make_cfg(overrides).env
    env = VecEnv(cfg, 4, seed=9, replayable=True)
    env.reset()
    rng = np.random.default_rng(1)
    _continue(env, 150, rng)  # several episodes ended (random actions crash within ~100 steps), others run
    obs = env.step(np.zeros((4, 2), np.float32) if cfg.id.endswith("Continuous-v3") else np.zeros(4, np.int64)).obs
    record, rng_state = env.replay_state(), env.rng_state()
    assert record is not None and record["taken"].sum() > 0  # episodes are in progress
    copy = VecEnv(cfg, 4, seed=12345, replayable=True)  # another seed: everything must come from the record
    resumed = copy.restore(rng_state, record, fallback_seed=0)
    assert resumed is not None
    np.testing.assert_array_equal(resumed.obs, obs)
    for (o, a, r), n in zip(resumed.trajectories, record["taken"], strict=True):
        assert len(o) == len(a) == len(r) <= n
    assert [e.np_random.bit_generator.state for e in copy.envs] == rng_state
    expected, got = _continue(env, 200, np.random.default_rng(2)), _continue(copy, 200, np.random.default_rng(2))
    for x, y in zip(expected, got, strict=True):
        for a, b in zip(x, y, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_record_that_does_not_rebuild_the_episodes_restarts_them_and_says_so(capsys):
    cfg = make_cfg().env
    env = VecEnv(cfg, 2, seed=9, replayable=True)
    env.reset()
    _continue(env, 30, np.random.default_rng(1))
    record, rng_state = env.replay_state(), env.rng_state()
    record["actions"] = record["actions"][::-1].copy()  # other actions: another episode
    copy = VecEnv(cfg, 2, seed=9, replayable=True)
    assert copy.restore(rng_state, record, fallback_seed=0) is None
    assert "could not be rebuilt" in capsys.readouterr().err
    assert [e.np_random.bit_generator.state for e in copy.envs] == rng_state  # fresh episodes from the checkpoint's state

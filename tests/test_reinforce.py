import math

import numpy as np
import pytest
import torch

from lander_exp.core.reinforce import Reinforce, mc_returns, reinforce_losses
from tests.conftest import history, leet_records, leet_summary, make_cfg, run_cli


def test_monte_carlo_returns_of_a_hand_worked_episode():
    # gamma 0.9: G3 = 3, G2 = -2 + 0.9*3 = 0.7, G1 = 0 + 0.9*0.7 = 0.63, G0 = 1 + 0.9*0.63 = 1.567
    np.testing.assert_allclose(mc_returns(np.array([1.0, 0.0, -2.0, 3.0]), 0.9), [1.567, 0.63, 0.7, 3.0])


def test_time_limit_is_not_bootstrapped():
    """A truncated episode's last return is its last reward: no value is added past the end."""
    assert mc_returns(np.array([5.0, 5.0]), 1.0)[-1] == 5.0


def _episode(seed=0, n=12):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 8, generator=g)
    actions = torch.randint(0, 4, (n,), generator=g)
    returns = torch.randn(n, generator=g) * 50
    return obs, actions, returns


def test_baseline_is_detached_in_the_actor_loss():
    algo = Reinforce(make_cfg(["experiment=reinforce"]), 8, 4, torch.device("cpu"))
    m = algo.model
    obs, actions, returns = _episode()
    actor_loss, critic_loss, _ = reinforce_losses(m, obs, actions, returns, normalize_advantages=False)
    actor_loss.backward(retain_graph=True)
    assert all(p.grad is None for p in m.critic.parameters())  # the actor's loss does not train the critic
    actor_grads = [p.grad.clone() for p in m.actor.parameters()]

    # the same gradient as a loss whose baseline is a plain constant (semi-gradient)
    m.zero_grad(set_to_none=True)
    with torch.no_grad():
        baseline = m.value(obs).clone()
    logp = torch.log_softmax(m.actor(obs), -1).gather(1, actions[:, None]).squeeze(1)
    (-(logp * (returns - baseline)).mean()).backward()
    for a, b in zip(actor_grads, [p.grad for p in m.actor.parameters()], strict=True):
        torch.testing.assert_close(a, b)

    m.zero_grad(set_to_none=True)
    critic_loss.backward()
    assert all(p.grad is None for p in m.actor.parameters())  # the critic's loss does not touch the actor
    # the critic is regressed on the Monte-Carlo return: its loss is the MSE to it
    with torch.no_grad():
        assert critic_loss.item() == pytest.approx(((m.value(obs) - returns) ** 2).mean().item(), rel=1e-5)


def test_actor_gradient_ignores_critic_parameters_beyond_the_baseline_value():
    """Changing the critic's weights changes the actor's gradient only through the baseline's values:
    two critics that output the same values give the same actor gradient."""
    cfg = make_cfg(["experiment=reinforce"])
    a, b = Reinforce(cfg, 8, 4, torch.device("cpu")), Reinforce(cfg, 8, 4, torch.device("cpu"))
    b.model.actor.load_state_dict(a.model.actor.state_dict())
    obs, actions, returns = _episode(1)
    # critic b: different weights, same outputs (hidden units permuted)
    b.model.critic.load_state_dict(a.model.critic.state_dict())
    with torch.no_grad():
        perm = torch.randperm(64)
        first, second = b.model.critic[0], b.model.critic[2]
        first.weight.copy_(first.weight[perm])
        first.bias.copy_(first.bias[perm])
        second.weight.copy_(second.weight[:, perm])
    assert not torch.equal(a.model.critic[0].weight, b.model.critic[0].weight)
    grads = []
    for algo in (a, b):
        loss, _, _ = reinforce_losses(algo.model, obs, actions, returns, False)
        algo.model.zero_grad()
        loss.backward()
        grads.append([p.grad.clone() for p in algo.model.actor.parameters()])
    for ga, gb in zip(*grads, strict=True):
        torch.testing.assert_close(ga, gb)


def test_sum_reduction_is_the_textbook_estimator_and_weighs_every_step_alike():
    """algo.loss_reduction=sum: the actor's gradient is the sum over the episode's steps of
    -grad log pi(a_t|s_t) (G_t - b(s_t)), each step taken alone; with the mean a T-step episode's
    gradient is that divided by T, so a 1000-step episode weighs its steps a fifth of a 200-step one's."""
    algo = Reinforce(make_cfg(["experiment=reinforce", "algo.loss_reduction=sum"]), 8, 4, torch.device("cpu"))
    m = algo.model
    obs, actions, returns = _episode(2, n=9)
    grads = {}
    for reduction in ("sum", "mean"):
        m.zero_grad(set_to_none=True)
        actor_loss, critic_loss, _ = reinforce_losses(m, obs, actions, returns, False, reduction)
        (actor_loss + critic_loss).backward()
        grads[reduction] = [p.grad.clone() for p in m.parameters()]
    per_step = [torch.zeros_like(p) for p in m.parameters()]
    for t in range(len(actions)):  # one step at a time, by hand
        m.zero_grad(set_to_none=True)
        value = m.value(obs[t:t + 1])
        logp = torch.log_softmax(m.actor(obs[t:t + 1]), -1)[0, actions[t]]
        (-(logp * (returns[t] - value.detach()[0])) + (value[0] - returns[t]) ** 2).backward()
        per_step = [acc + p.grad for acc, p in zip(per_step, m.parameters(), strict=True)]
    for s_, m_, hand in zip(grads["sum"], grads["mean"], per_step, strict=True):
        torch.testing.assert_close(s_, hand, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(m_, hand / len(actions), rtol=1e-4, atol=1e-5)


def test_short_reinforce_run_logs_episode_axis_metrics(workdir):
    proc = run_cli(["experiment=reinforce", "train.max_episodes=12", "train.eval_every=6", "train.eval_episodes=2",
                    "train.eval_envs=2", "env.max_episode_steps=150", "train.progress=false", "seed=3"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wandb_dir,) = list((workdir / "runs" / "wandb").glob("offline-run-*"))
    records = leet_records(wandb_dir)
    steps = {r["metric"]["glob_name"]: r["metric"]["step_metric"] for r in records
             if r["type"] == "metric" and "glob_name" in r["metric"]}
    assert steps["episode/*"] == "episode" and steps["train/*"] == "episode"
    rows = history(records)
    assert [r["episode"] for r in rows] == list(range(1, 13))  # one row per episode, 1 env
    assert all(r["global_step"] > 0 for r in rows)
    returns = [r["episode/return"] for r in rows]
    for i, r in enumerate(rows):
        for key in ("episode/length", "train/actor_loss", "train/critic_loss", "train/entropy"):
            assert math.isfinite(r[key])
        assert sum(r[f"episode/{k}"] for k in ("landed", "crashed", "out_of_bounds", "timeout")) == 1.0
        assert r["episode/return_ma100"] == pytest.approx(np.mean(returns[: i + 1]))
        assert r["episode/length"] <= 150
    assert "eval/return_mean" in rows[5] and "eval/return_mean" in rows[11]
    summary = leet_summary(wandb_dir)["summary"]
    assert summary["stop_reason"] == "max_episodes" and summary["episodes"] == 12


def test_one_env_fast_path_plays_and_learns_like_the_vectorized_path():
    """The one-env loop (VecEnv.play_episode) is an optimisation only: from the same seed it plays the
    same episodes, draws the same noise and ends with the same weights as the general per-step path."""
    from lander_exp.envs.vec import VecEnv

    cfg = make_cfg(["experiment=reinforce", "env.max_episode_steps=70"])  # some episodes hit the time limit
    runs = []
    for vectorized in (False, True):
        algo = Reinforce(cfg, 8, 4, torch.device("cpu"))
        env = VecEnv(cfg.env, 1, seed=5)
        eps, steps = [], 0
        for _ in range(8):
            batch = algo._collect_vectorized(env) if vectorized else algo.collect(env)
            algo.learn(batch)
            eps.append(batch.episodes)
            steps += batch.env_steps
        runs.append((eps, steps, algo.model.state_dict()))
    (fast, fast_steps, fast_w), (vec, vec_steps, vec_w) = runs
    assert fast_steps == vec_steps
    assert [len(e) for e in fast] == [1] * 8 and [len(e) for e in vec] == [1] * 8
    assert [int(e.lengths[0]) for e in fast] == [int(e.lengths[0]) for e in vec]
    assert 70 in [int(e.lengths[0]) for e in fast]  # a truncated episode among them
    assert [int(e.outcomes[0]) for e in fast] == [int(e.outcomes[0]) for e in vec]
    np.testing.assert_allclose([e.returns[0] for e in fast], [e.returns[0] for e in vec], rtol=1e-6)
    for k in fast_w:
        torch.testing.assert_close(fast_w[k], vec_w[k])


def test_gumbel_noise_survives_a_checkpoint():
    """A resumed run draws the numbers the uninterrupted one would have drawn."""
    from lander_exp.core.reinforce import GumbelNoise

    a = GumbelNoise(3)
    a.take(10)
    b = GumbelNoise(99)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(np.concatenate([a.take(4) for _ in range(GumbelNoise.BLOCK // 3)]),
                                  np.concatenate([b.take(4) for _ in range(GumbelNoise.BLOCK // 3)]))


def test_the_sampled_policy_draws_actions_at_the_softmax_probabilities_and_the_greedy_one_takes_the_argmax():
    cfg = make_cfg(["experiment=reinforce"])
    algo = Reinforce(cfg, 8, 4, torch.device("cpu"))
    obs = np.tile(np.array([[0.1, 1.0, 0.2, -0.3, 0.05, 0.0, 0.0, 0.0]], np.float32), (40_000, 1))
    with torch.no_grad():
        probs = torch.softmax(algo.model.actor(torch.from_numpy(obs[:1])), -1)[0].numpy()
    counts = np.bincount(algo.policy(sampled_seed=3)(obs), minlength=4) / len(obs)
    np.testing.assert_allclose(counts, probs, atol=0.01)
    assert (algo.policy()(obs[:5]) == probs.argmax()).all()
    np.testing.assert_array_equal(algo.policy(sampled_seed=3)(obs[:50]), algo.policy(sampled_seed=3)(obs[:50]))


def test_a_pool_of_one_env_per_run_records_each_episode_as_its_env_played_it():
    """The batch's EnvPool loop (one env per run, stepped as one pool, EnvPool's reset-only step after
    each end) hands each run the episodes its env played: replaying a run's recorded actions in a pool
    of its env alone (env j of a pool seeded s is seeded s + j) gives the same observations, rewards,
    lengths, returns and outcomes, through the general per-step bookkeeping of VecEnv.step."""
    from lander_exp.core.many_reinforce import ManyReinforce
    from lander_exp.envs.vec import VecEnv

    pool_args = ["experiment=reinforce", "env.backend=envpool", "env.autoreset=next_step", "env.max_episode_steps=60"]
    algos = [Reinforce(make_cfg([*pool_args, f"seed={s}"]), 8, 4, torch.device("cpu")) for s in (0, 1, 2)]
    cfg = make_cfg(pool_args)
    many = ManyReinforce(algos, lambda active: (VecEnv(cfg.env, len(active), seed=40), False))
    played: dict[int, list] = {0: [], 1: [], 2: []}
    for k, batch, _, _ in many.epochs():
        algos[k].learn(batch)  # the next episode acts with the new weights, as in a batch
        played[k].append(batch)
        if min(len(v) for v in played.values()) >= 5:
            break
    assert any(int(b.episodes.lengths[0]) == 60 for v in played.values() for b in v)  # a time limit among them
    for j, batches in played.items():
        alone = VecEnv(cfg.env, 1, seed=40 + j)
        obs = alone.reset()
        for batch in batches:
            (ep_obs, ep_actions, ep_rewards), = batch.trajectories
            for t, action in enumerate(ep_actions):
                np.testing.assert_array_equal(obs[0], ep_obs[t])
                step = alone.step(np.array([action]))
                assert step.live[0] and step.reward[0] == ep_rewards[t]
                obs = step.obs
                if len(step.episodes):
                    break
            assert t == len(ep_actions) - 1 and len(step.episodes) == 1
            assert step.episodes.lengths.tolist() == batch.episodes.lengths.tolist()
            assert step.episodes.outcomes.tolist() == batch.episodes.outcomes.tolist()
            assert step.episodes.returns[0] == pytest.approx(batch.episodes.returns[0], rel=1e-9)
            obs = alone.step(np.zeros(1, np.int64)).obs  # EnvPool's reset-only step


def test_monte_carlo_returns_are_the_float64_recursion_bit_for_bit():
    rng = np.random.default_rng(0)
    for n in (1, 2, 17, 1000):
        rewards = (rng.standard_normal(n) * 30).astype(np.float32).astype(np.float64)
        expected, running = np.empty(n), np.float64(0.0)
        for t in range(n - 1, -1, -1):
            running = rewards[t] + np.float64(0.99) * running
            expected[t] = running
        got = mc_returns(rewards, 0.99)
        assert got.dtype == np.float64 and np.array_equal(got, expected)

"""REINFORCE for several runs of one config at once (run/batch.py, `seeds=[...]`): the runs' envs step
together, one stacked forward acts for all of them, each run draws its own noise and learns (core/
reinforce.py's `learn`) as soon as one of its own episodes ends, before its envs step again.

Three loops, by what the envs are: one Gymnasium env per run (play_episode's loop for all runs, the
same episodes as each run alone), one EnvPool pool holding one env per run (the pool steps on its
threads while the loop records the step), and the general one (several envs per run)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from lander_exp.core.nets import StackedMLP
from lander_exp.core.reinforce import Finished, Reinforce
from lander_exp.envs.outcomes import Episodes, classify
from lander_exp.envs.vec import VecEnv


def columns(old: list[int], new: list[int], width: int) -> np.ndarray:
    """Indices, in arrays laid out for the runs `old` (`width` entries each), of the runs `new`."""
    return np.concatenate([np.arange(old.index(k) * width, (old.index(k) + 1) * width) for k in new])


def _resumed(algos: list[Reinforce], carry: dict) -> np.ndarray:
    """The runs' episodes in progress as a resume rebuilt them (Reinforce.resume_envs) put into the
    loop's buffers; the observations to act on next. Each run's record is used once."""
    trajectories = [t for algo in algos for t in algo.trajectories]
    for i, (o, a, r) in enumerate(trajectories):
        n = len(a)
        carry["pos"][i] = n
        if n:
            carry["obs_buf"][i, :n], carry["act_buf"][i, :n], carry["rew_buf"][i, :n] = np.stack(o), a, r
    obs = np.concatenate([a.obs for a in algos])
    for a in algos:
        a.obs, a.trajectories = None, []
    return obs


def cut(arrays: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """The entries `keep` of every array (what a loop carries on for the runs still training)."""
    return {key: value[keep] for key, value in arrays.items()}


class ManyReinforce:
    """REINFORCE's `collect` for several runs of one config at once (run/batch.py): their envs step
    together, one StackedMLP forward acts for all of them, each run draws its own noise, and a run
    gets its `Finished` as soon as one of its own episodes ends, the one its own `collect` would
    have returned; the caller lets it learn before its envs step again.

    `envs(runs)` returns the VecEnv holding those runs' envs (run runs[j] owns envs j*n..(j+1)*n-1)
    and whether their episodes in progress continue from the previous one (Gymnasium: the same envs,
    joined) or restart (EnvPool: a new pool). It is called again whenever runs stop."""

    def __init__(self, algos: list[Reinforce], envs: Callable[[list[int]], tuple[VecEnv, bool]]):
        self.algos, self.envs = algos, envs
        self.stopped: set[int] = set()
        self.idle: list[int] = []  # runs that finished an epoch since the envs last stepped

    def stop(self, k: int) -> None:
        """Run k steps no more (call it before asking for the next epoch)."""
        self.stopped.add(k)

    def epochs(self) -> Iterator[tuple[int, Finished, float, None]]:
        """(run, what it collected, its share of the stepping time, None: it learns it itself) each time
        one of its episodes ends."""
        active, carry = list(range(len(self.algos))), None
        while active:
            env, carried = self.envs(active)
            if env.num_envs == len(active):  # one env per run
                loop = self._one_env if env.pool is None else self._pool_one_env
            else:
                loop = self._vectorized
            left, carry = yield from loop(env, active, carry if carried else None)
            active = left

    def _after(self, k: int, j: int, actor: StackedMLP) -> None:
        if k in self.stopped:
            return
        actor.refresh(j, self.algos[k].model.actor)
        self.idle.append(k)

    def _one_env(self, env: VecEnv, active: list[int], carry: dict | None):
        """One Gymnasium env per run: play_episode's loop, for all runs at once (a new episode starts
        with the run's next step, so a checkpoint between holds the env's state before its reset).
        Each run's noise for a whole episode is one row of `noise`, as in its own `collect`."""
        count, dim, limit = len(active), env.obs_dim, env.max_steps
        algos = [self.algos[k] for k in active]
        actor = StackedMLP([a.model.actor for a in algos])
        width = self.algos[0].model.actor[-1].out_features
        if carry is None:
            carry = {"obs": np.zeros((count, dim), np.float32), "t": np.zeros(count, np.int64),
                     "fresh": np.ones(count, bool), "obs_buf": np.empty((count, limit, dim), np.float32),
                     "act_buf": np.empty((count, limit), np.int64), "rew_buf": np.empty((count, limit), np.float32),
                     "steps": np.zeros(count, np.int64), "clock": np.zeros(count)}
        obs, t, fresh, steps, clock = carry["obs"], carry["t"], carry["fresh"], carry["steps"], carry["clock"]
        obs_buf, act_buf, rew_buf = carry["obs_buf"], carry["act_buf"], carry["rew_buf"]
        envs, rows, scale = [p.envs[0] for p in env.parts], np.arange(count), env.scale
        noise = np.stack([a.noise.upcoming(limit * width).reshape(limit, width) for a in algos])
        while True:
            start = time.perf_counter()
            if fresh.any():
                for j in np.flatnonzero(fresh):  # a new episode: reset (the first one seeded), as play_episode does
                    part = env.parts[j]
                    seed, part._seed = part._seed, None
                    obs[j] = scale(envs[j].reset(seed=seed)[0])
                    t[j] = 0
                    noise[j] = algos[j].noise.upcoming(limit * width).reshape(limit, width)
                fresh[:] = False
            logits = actor(obs[:, None, :])[:, 0, :]
            actions = (logits + noise[rows, t]).argmax(axis=1)
            obs_buf[rows, t] = obs
            act_buf[rows, t] = actions
            ended = []
            for j, (e, a, tj) in enumerate(zip(envs, actions.tolist(), t.tolist(), strict=True)):
                raw, rew_buf[j, tj], terminated, _, _ = e.step(a)
                if terminated or tj + 1 >= limit:
                    ended.append((j, terminated, raw))
                else:
                    obs[j] = scale(raw)
            t += 1
            steps += 1
            clock += (time.perf_counter() - start) / count
            self.idle = []
            if not ended:
                continue
            for j, terminated, raw in ended:
                n = int(t[j])
                algos[j].noise.skip(n * width)
                rewards = rew_buf[j, :n].copy()
                outcome = classify(np.array([terminated]), rewards[n - 1:], raw[None])
                episode = Episodes(np.array([rewards.sum(dtype=np.float64)]), np.array([n], np.int64), outcome)
                batch = Finished([(obs_buf[j, :n].copy(), act_buf[j, :n].copy(), rewards)], episode, int(steps[j]))
                took = float(clock[j])
                steps[j], clock[j], fresh[j] = 0, 0.0, True
                yield active[j], batch, took, None
                self._after(active[j], j, actor)
            left = [k for k in active if k not in self.stopped]
            if left != active:
                return left, (cut(carry, columns(active, left, 1)) if left else None)

    def _pool_one_env(self, env: VecEnv, active: list[int], carry: None):
        """One EnvPool env per run, all in one pool: the stacked forward acts, the pool steps on its
        threads while this loop records the step, and a run's episode ends into its `Finished`.
        EnvPool resets an env on the step after its episode ends: that step records nothing and
        uses no noise. The pool is new (its episodes start afresh) whenever the active runs change."""
        count, limit = len(active), env.max_steps
        algos = [self.algos[k] for k in active]
        actor = StackedMLP([a.model.actor for a in algos])
        width = self.algos[0].model.actor[-1].out_features
        obs_buf = np.empty((count, limit, env.obs_dim), np.float32)
        act_buf = np.empty((count, limit), np.int64)
        rew_buf = np.empty((count, limit), np.float32)
        t, steps, clock, rows = np.zeros(count, np.int64), np.zeros(count, np.int64), np.zeros(count), np.arange(count)
        live = np.ones(count, bool)  # False on an env's reset-only step
        noise = np.stack([a.noise.upcoming(limit * width).reshape(limit, width) for a in algos])
        obs, scale, pool = env.reset(), env.scale, env.stepper()
        while True:
            start = time.perf_counter()
            actions = (actor(obs[:, None, :])[:, 0, :] + noise[rows, t]).argmax(axis=1)
            pool.send(actions)
            obs_buf[rows, t] = obs  # rewritten before it counts where the step only resets
            act_buf[rows, t] = actions
            raw, reward, terminated, truncated = pool.recv()
            rew_buf[rows, t] = reward
            t += live
            steps += 1
            done = terminated | truncated
            live = ~done
            obs = scale(raw)
            clock += (time.perf_counter() - start) / count
            self.idle = []
            if not done.any():
                continue
            for j in np.flatnonzero(done):
                n = int(t[j])
                algos[j].noise.skip(n * width)
                rewards = rew_buf[j, :n].copy()
                outcome = classify(terminated[j:j + 1], rewards[n - 1:], raw[j:j + 1])
                episode = Episodes(np.array([rewards.sum(dtype=np.float64)]), np.array([n], np.int64), outcome)
                batch = Finished([(obs_buf[j, :n].copy(), act_buf[j, :n].copy(), rewards)], episode, int(steps[j]))
                took = float(clock[j])
                t[j], steps[j], clock[j] = 0, 0, 0.0
                noise[j] = algos[j].noise.upcoming(limit * width).reshape(limit, width)
                yield active[j], batch, took, None
                self._after(active[j], j, actor)
            left = [k for k in active if k not in self.stopped]
            if left != active:
                return left, None

    def _vectorized(self, env: VecEnv, active: list[int], carry: dict | None):
        """Several envs per run, or EnvPool: `_collect_vectorized`'s loop for all runs at once."""
        count, dim, limit = len(active), env.obs_dim, env.max_steps + 1
        total = env.num_envs
        n = total // count
        algos = [self.algos[k] for k in active]
        actor = StackedMLP([a.model.actor for a in algos])
        if carry is None:
            carry = {"obs": None, "pos": np.zeros(total, np.int64),
                     "obs_buf": np.empty((total, limit, dim), np.float32), "act_buf": np.empty((total, limit), np.int64),
                     "rew_buf": np.empty((total, limit), np.float32)}
            runs = {"steps": np.zeros(count, np.int64), "clock": np.zeros(count)}
            resumed = env.pool is None and all(a.obs is not None for a in algos)
            carry["obs"] = _resumed(algos, carry) if resumed else env.reset()
        else:
            carry, runs = carry
        pos, obs_buf, act_buf, rew_buf = carry["pos"], carry["obs_buf"], carry["act_buf"], carry["rew_buf"]
        steps, clock = runs["steps"], runs["clock"]
        width = self.algos[0].model.actor[-1].out_features
        shape = (count, n, dim)
        while True:
            start = time.perf_counter()
            obs = carry["obs"]
            logits = actor(obs.reshape(shape))
            noise = np.stack([a.noise.take(n * width).reshape(n, width) for a in algos])
            actions = (logits + noise).argmax(axis=-1).reshape(total)
            step = env.step(actions)
            live = np.flatnonzero(step.live)  # a reset-only step (next_step autoreset) is no transition
            at = pos[live]
            obs_buf[live, at] = obs[live]
            act_buf[live, at] = actions[live]
            rew_buf[live, at] = step.reward[live]
            pos[live] += 1
            carry["obs"] = step.obs
            steps += n
            clock += (time.perf_counter() - start) / count
            self.idle = []
            done = np.flatnonzero(step.terminated | step.truncated)  # in the order of step.episodes
            owner = done // n
            for j in np.unique(owner):
                mine = done[owner == j]
                trajs = [(obs_buf[i, :pos[i]].copy(), act_buf[i, :pos[i]].copy(), rew_buf[i, :pos[i]].copy()) for i in mine]
                pos[mine] = 0
                batch = Finished(trajs, step.episodes.select(owner == j), int(steps[j]))
                took = float(clock[j])
                steps[j], clock[j] = 0, 0.0
                yield active[j], batch, took, None
                self._after(active[j], j, actor)
            left = [k for k in active if k not in self.stopped]
            if left != active:
                return left, ((cut(carry, columns(active, left, n)), cut(runs, columns(active, left, 1))) if left else None)

"""Vector envs behind one interface for every backend: observation scaling, the choice of autoreset,
and per-episode bookkeeping (return, length, outcome) so algorithms never count episodes themselves."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from lander_exp.config import Autoreset, Backend, ObsScaling
from lander_exp.envs.outcomes import Episodes, classify

# The OBS_SCALE of "How to Land on the Moon"'s code. LunarLander already divides its raw state by exactly these numbers
# (x by W/SCALE/2 = 10, y by H/SCALE/2 = 6.666, vx by 5, vy by 7.5, omega by 2.5), which is why
# `env.obs_scaling=none` is the default and `divide` (that code as reproduced) scales twice.
OBS_SCALE = np.array([10, 6.666, 5, 7.5, 1, 2.5, 1, 1], dtype=np.float32)

@dataclass
class Steps:
    """T vector steps of N envs as arrays over time, for learners that act on a whole rollout."""

    obs: np.ndarray  # [T, N, D] the observation each action was chosen on
    rewards: np.ndarray  # [T, N] float32
    terminated: np.ndarray  # [T, N] bool
    truncated: np.ndarray  # [T, N] bool
    last_obs: np.ndarray  # [N, D] the observation after the last step
    trunc_index: tuple[np.ndarray, np.ndarray]  # (t, env) of time-limit ends (same_step autoreset)
    trunc_obs: np.ndarray  # [K, D] their final observations
    episodes: Episodes
    live: np.ndarray  # [T, N] bool: False where the step only reset its env (next_step autoreset): no transition
    episode_env: np.ndarray  # [E] which env each of `episodes` ended in

    def columns(self, lo: int, hi: int) -> Steps:
        """The steps of envs lo..hi-1 alone, as if they had been stepped by themselves (run/batch.py
        steps several runs' envs as one VecEnv)."""
        ep = (self.episode_env >= lo) & (self.episode_env < hi)
        t_idx, e_idx = self.trunc_index
        cut = (e_idx >= lo) & (e_idx < hi)
        col = lambda a: np.ascontiguousarray(a[:, lo:hi])  # noqa: E731
        return Steps(col(self.obs), col(self.rewards), col(self.terminated), col(self.truncated), self.last_obs[lo:hi].copy(),
                     (t_idx[cut], e_idx[cut] - lo), self.trunc_obs[cut], self.episodes.select(ep), col(self.live),
                     self.episode_env[ep] - lo)


@dataclass
class Step:
    obs: np.ndarray  # [N, D] the observation to act on next (a reset obs where an episode just ended)
    reward: np.ndarray  # [N]
    terminated: np.ndarray  # [N] bool
    truncated: np.ndarray  # [N] bool
    final_obs: np.ndarray  # [N, D] the last obs of episodes that ended this step (same_step), else obs
    episodes: Episodes  # those that ended this step
    live: np.ndarray  # [N] bool: False where this step only reset the env (next_step autoreset)


class PoolStepper:
    """An EnvPool pool's step as its two halves, `send` then `recv`, so that a loop can do its
    bookkeeping while the pool's threads step, through the pool's own C++ entry points: with a few
    envs per call (REINFORCE's seeds batched, an evaluation's last episodes) EnvPool's Python
    wrapper costs as much as the physics. Where a version of EnvPool lacks those entry points (or
    the env has several players) it falls back to the public `send`/`recv`. Either way `recv`
    returns what `pool.step` would, less the info dict (tests/test_backends.py)."""

    def __init__(self, pool):
        self.pool = pool
        self._subset = False
        try:
            keys = list(pool._state_keys)
            self._at = [keys.index(k) for k in ("obs", "reward", "done", "trunc", "info:env_id")]
            names = list(pool._spec._action_keys)
            self._raw = names[:-1] == ["env_id", "players.env_id"] and pool.config.get("max_num_players", 1) == 1
            self._all = pool.all_env_ids.astype(np.int32)
            self._dtype = pool._spec._action_spec[-1][0]
        except (AttributeError, ValueError, KeyError):
            self._raw = False

    def send(self, actions: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Step every env, or the envs `ids` alone (ascending)."""
        self._subset = ids is not None
        if self._raw:
            ids = self._all if ids is None else ids.astype(np.int32)
            self.pool._send([ids, ids, actions.astype(self._dtype)])  # one player per env: its id is the env's
        else:
            self.pool.send(actions, ids)

    def recv(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(raw obs, reward, terminated, truncated) of the envs stepped, in env order."""
        if self._raw:
            state = self.pool._recv()
            obs, reward, done, trunc, env_id = (state[i] for i in self._at)
        else:
            obs, reward, terminated, truncated, info = self.pool.recv()
            done, trunc, env_id = terminated | truncated, truncated, info["env_id"]
        if self._subset:  # a part of the pool answers in the order its envs finish
            order = np.argsort(env_id)
            obs, reward, done, trunc = obs[order], reward[order], done[order], trunc[order]
        return obs, reward, done & ~trunc, trunc


class VecEnv:
    """N copies of one env stepped together, with scaled observations and episode bookkeeping.

    Backends: `gymnasium` steps the bare envs in this loop (Gymnasium's wrappers and SyncVectorEnv
    cost more per step than LunarLander's physics; this class does their work: time limit,
    autoreset); `envpool` steps EnvPool's C++ envs, which reset on the step after an episode ends,
    so it runs with `env.autoreset=next_step` only."""

    def __init__(self, env_cfg, num_envs: int, seed: int, autoreset: Autoreset | None = None):
        self.num_envs = num_envs
        self.env_id = env_cfg.id
        self.backend = Backend(env_cfg.backend)
        self.autoreset = Autoreset.next_step if self.backend == Backend.envpool else Autoreset(
            autoreset or env_cfg.autoreset)
        self.scale = _scaler(ObsScaling(env_cfg.obs_scaling))
        self.max_steps = env_cfg.max_episode_steps
        self.pin_threads = env_cfg.pin_threads
        self._seed = seed
        self.pool = None
        self._stepper: PoolStepper | None = None  # see stepper()
        self.envs = []
        self.parts: list[VecEnv] | None = None  # set by `joined`
        if self.backend == Backend.envpool:
            self._make_pool(seed)
            self.single_action_space = self.pool.action_space
            self.obs_dim = self.pool.observation_space.shape[0]
        else:
            self.envs = [_fast_checked(gym.make(env_cfg.id, disable_env_checker=True).unwrapped) for _ in range(num_envs)]
            self.single_action_space = self.envs[0].action_space
            self.obs_dim = self.envs[0].observation_space.shape[0]
        self._ret = np.zeros(num_envs)
        self._len = np.zeros(num_envs, np.int64)
        self._resetting = np.zeros(num_envs, bool)

    @classmethod
    def joined(cls, parts: list[VecEnv]) -> VecEnv:
        """One VecEnv stepping the Gymnasium envs of several (part k's env i is env k*n + i). The envs
        are the parts' own: each keeps its random stream and its first reset's seed, so it plays what
        it would play in its part alone."""
        if any(p.pool is not None or p.parts for p in parts):
            raise ValueError("VecEnv.joined takes plain Gymnasium VecEnvs")
        self = cls.__new__(cls)
        first = parts[0]
        self.num_envs = sum(p.num_envs for p in parts)
        self.env_id, self.backend, self.autoreset, self.scale = first.env_id, first.backend, first.autoreset, first.scale
        self.max_steps, self.single_action_space, self.obs_dim = first.max_steps, first.single_action_space, first.obs_dim
        self.pin_threads = first.pin_threads
        self._seed, self.pool, self.parts, self._stepper = None, None, list(parts), None
        self.envs = [e for p in parts for e in p.envs]
        self._ret = np.zeros(self.num_envs)
        self._len = np.zeros(self.num_envs, np.int64)
        self._resetting = np.zeros(self.num_envs, bool)
        return self

    def select(self, keep: list[int]) -> VecEnv:
        """A joined VecEnv of the parts at positions `keep`, their episodes in progress carried over."""
        out = VecEnv.joined([self.parts[j] for j in keep])
        cols = np.concatenate([np.arange(sum(p.num_envs for p in self.parts[:j]), sum(p.num_envs for p in self.parts[:j + 1]))
                               for j in keep])
        out._ret, out._len, out._resetting = self._ret[cols], self._len[cols], self._resetting[cols]
        return out

    def _make_pool(self, seed: int) -> None:
        """EnvPool seeds at construction (env i gets a stream derived from seed): a reset with a new
        seed builds a new pool."""
        envpool = import_envpool()
        if self.pool is not None:
            self.pool.close()
        self.pool = envpool.make(self.env_id, env_type="gymnasium", num_envs=self.num_envs, seed=seed,
                                 max_episode_steps=self.max_steps, thread_affinity_offset=0 if self.pin_threads else -1)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset every env; env i is seeded with seed + i (the first call defaults to the constructor's seed)."""
        if self.parts is not None and seed is None:  # joined: each part seeds its own envs, once
            obs = np.concatenate([p.reset() for p in self.parts])
            self._ret[:] = 0
            self._len[:] = 0
            self._resetting[:] = False
            return obs
        seed = self._seed if seed is None else seed
        self._seed = None  # later resets continue the envs' own RNG streams
        if self.pool is not None:
            if seed is not None:
                self._make_pool(seed)
            obs = self.pool.reset()[0]
        else:
            obs = np.stack([e.reset(seed=None if seed is None else seed + i)[0] for i, e in enumerate(self.envs)])
        self._ret[:] = 0
        self._len[:] = 0
        self._resetting[:] = False
        return self.scale(obs)

    def reseed(self, seed: int) -> None:
        """Make the next `reset()` seed the envs again (env i gets seed + i), as at construction."""
        self._seed = seed

    def rng_state(self) -> list[dict] | None:
        """Each Gymnasium env's random state (plain data, for a checkpoint); None for EnvPool, whose
        envs' state cannot be read."""
        return None if self.pool is not None else [e.np_random.bit_generator.state for e in self.envs]

    def restore_rng(self, states: list[dict] | None, fallback_seed: int) -> None:
        """Make the next `reset()` start fresh episodes from `states` (see rng_state), or, where there
        are none (EnvPool), from `fallback_seed` as `reseed` does."""
        if states is None or self.pool is not None:
            self.reseed(fallback_seed)
            return
        for env, state in zip(self.envs, states, strict=True):
            env.np_random.bit_generator.state = state
        self._seed = None

    def play_episode(self, act: Callable[[int, np.ndarray], int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, Episodes]:
        """Play one whole episode in the single Gymnasium env, from a reset, choosing step t's action
        with `act(t, obs [D]) -> action` (a Python int: the env checks a numpy integer more slowly).
        One-env algorithms that learn per episode (REINFORCE) use this tight loop instead of `step`,
        whose per-call bookkeeping costs as much as the physics at one env.
        The episode is the one `step` would produce with the same actions (tests/test_reinforce.py).

        Returns (obs [T, D], actions [T], rewards [T] as float32 like Step.reward, the episode)."""
        if self.num_envs != 1 or self.backend != Backend.gymnasium:
            raise ValueError("play_episode needs a VecEnv of one gymnasium env")
        env, scale = self.envs[0], self.scale
        # LunarLander's observations are float32 already: unscaled, each is used as the env returns it
        plain = scale is _as_float32 and env.observation_space.dtype == np.float32
        seed, self._seed = self._seed, None
        o = scale(env.reset(seed=seed)[0])
        obs = np.empty((self.max_steps, self.obs_dim), np.float32)
        actions = np.empty(self.max_steps, np.int64)
        rewards = np.empty(self.max_steps, np.float32)
        terminated = False
        for t in range(self.max_steps):
            a = act(t, o)
            obs[t] = o
            actions[t] = a
            raw, rewards[t], terminated, _, _ = env.step(a)
            if terminated:
                break
            o = raw if plain else scale(raw)
        n = t + 1
        outcome = classify(np.array([terminated]), rewards[t:n], raw[None])
        episode = Episodes(np.array([rewards[:n].sum(dtype=np.float64)]), np.array([n], np.int64), outcome)
        return obs[:n], actions[:n], rewards[:n], episode

    def play_steps(self, obs: np.ndarray, act: Callable[[int, np.ndarray], np.ndarray], steps: int) -> Steps:
        """Take `steps` vector steps from `obs`, choosing step t's actions with `act(t, obs [N, D])`.

        The same transitions, episodes and state as `steps` calls of `step`. With EnvPool the loop
        holds only the pool's step; the episode bookkeeping, which per step cost about a third of the
        pool's own step time, runs afterwards over the whole rollout."""
        if self.pool is not None:
            return self._play_steps_pool(obs, act, steps)
        n, dim = self.num_envs, self.obs_dim
        obs_buf = np.empty((steps, n, dim), np.float32)
        rewards = np.empty((steps, n), np.float32)
        terminated = np.empty((steps, n), bool)
        truncated = np.empty((steps, n), bool)
        live = np.empty((steps, n), bool)
        trunc_t, trunc_i, trunc_obs, episodes, ep_envs = [], [], [], [], []
        for t in range(steps):
            obs_buf[t] = obs
            step = self.step(act(t, obs))
            rewards[t], terminated[t], truncated[t], live[t] = step.reward, step.terminated, step.truncated, step.live
            if len(step.episodes):
                episodes.append(step.episodes)
                ep_envs.append(np.flatnonzero(step.terminated | step.truncated))
                cut = step.truncated & ~step.terminated
                if cut.any() and self.autoreset == Autoreset.same_step:
                    idx = np.flatnonzero(cut)
                    trunc_t.append(np.full(len(idx), t))
                    trunc_i.append(idx)
                    trunc_obs.append(step.final_obs[idx])
            obs = step.obs
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
        return Steps(obs_buf, rewards, terminated, truncated, obs.copy(), (cat(trunc_t), cat(trunc_i)),
                     np.concatenate(trunc_obs) if trunc_obs else np.zeros((0, dim), np.float32),
                     Episodes.concat(episodes), live, cat(ep_envs))

    def _play_steps_pool(self, obs: np.ndarray, act: Callable[[int, np.ndarray], np.ndarray], steps: int) -> Steps:
        n, dim, pool, scale = self.num_envs, self.obs_dim, self.stepper(), self.scale
        obs_buf = np.empty((steps, n, dim), np.float32)
        rewards = np.empty((steps, n), np.float32)
        terminated = np.empty((steps, n), bool)
        truncated = np.empty((steps, n), bool)
        raw_buf = np.empty((steps, n, dim), np.float32)  # each step's raw obs: x and leg contacts, for classify
        for t in range(steps):
            pool.send(act(t, obs))
            obs_buf[t] = obs  # while the pool steps
            raw_obs, rewards[t], terminated[t], truncated[t] = pool.recv()
            raw_buf[t] = raw_obs
            obs = scale(raw_obs)
        # A step right after an episode's end only resets its env (EnvPool reports it with reward 0
        # and no end flags): mask it as `step` does.
        live = np.empty((steps, n), bool)
        live[0] = ~self._resetting
        live[1:] = ~(terminated[:-1] | truncated[:-1])
        terminated &= live
        truncated &= live & ~terminated
        rewards *= live
        done = terminated | truncated
        returns, lengths = [], []
        start = np.zeros(n, np.int64)  # first step of each env's running episode within this rollout
        for t, i in zip(*np.nonzero(done), strict=True):  # in (step, env) order, as `step` reports them
            seg = rewards[start[i]:t + 1, i]
            # accumulated one reward at a time in float64 from the carried partial return, like `step`
            returns.append(np.cumsum(np.concatenate(([self._ret[i]], seg)), dtype=np.float64)[-1])
            lengths.append(self._len[i] + live[start[i]:t + 1, i].sum())
            self._ret[i], self._len[i], start[i] = 0.0, 0, t + 1
        for i in range(n):  # the episodes still running carry over to the next call
            seg = rewards[start[i]:, i]
            self._ret[i] = np.cumsum(np.concatenate(([self._ret[i]], seg)), dtype=np.float64)[-1]
            self._len[i] += live[start[i]:, i].sum()
        self._resetting = done[-1].copy()
        t_end, i_end = np.nonzero(done)
        episodes = Episodes(np.array(returns, np.float64), np.array(lengths, np.int64),
                            classify(terminated[t_end, i_end], rewards[t_end, i_end], raw_buf[t_end, i_end]))
        empty = np.zeros(0, np.int64)
        return Steps(obs_buf, rewards, terminated, truncated, obs.copy(), (empty, empty),
                     np.zeros((0, dim), np.float32), episodes, live, i_end)

    def _step_gymnasium(self, actions: np.ndarray):
        n = self.num_envs
        raw_obs = np.empty((n, self.obs_dim), np.float32)
        reward = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        finals: dict[int, np.ndarray] = {}  # same_step: last obs of episodes that end now
        actions = _python_ints(actions)
        for i, env in enumerate(self.envs):
            if self._resetting[i]:  # next_step autoreset: this step only resets, with reward 0
                raw_obs[i] = env.reset()[0]
                continue
            o, r, term, _, _ = env.step(actions[i])
            reward[i], terminated[i] = r, term
            truncated[i] = not term and self._len[i] + 1 >= self.max_steps
            if (term or truncated[i]) and self.autoreset == Autoreset.same_step:
                finals[i] = o
                o = env.reset()[0]
            raw_obs[i] = o
        raw_final = raw_obs
        if finals:
            raw_final = raw_obs.copy()
            for i, o in finals.items():
                raw_final[i] = o
        return raw_obs, reward, terminated, truncated, raw_final

    def step(self, actions: np.ndarray) -> Step:
        live = ~self._resetting
        if self.pool is not None:
            raw_obs, reward, terminated, truncated, _ = self.pool.step(np.asarray(actions))
            reward = reward.astype(np.float32)
            terminated, truncated = terminated & live, truncated & live & ~terminated
            raw_final = raw_obs
        else:
            raw_obs, reward, terminated, truncated, raw_final = self._step_gymnasium(actions)
        self._ret += reward * live
        self._len += live
        done = terminated | truncated
        if done.any():
            eps = Episodes(self._ret[done].copy(), self._len[done].copy(),
                           classify(terminated[done], reward[done], raw_final[done]))
            self._ret[done] = 0
            self._len[done] = 0
        else:
            eps = Episodes.concat([])
        self._resetting = done if self.autoreset == Autoreset.next_step else self._resetting
        obs = self.scale(raw_obs)
        final = obs if raw_final is raw_obs else self.scale(raw_final)
        return Step(obs, reward, terminated, truncated, final, eps, live)

    def stepper(self) -> PoolStepper:
        """The EnvPool pool's step in two halves (PoolStepper), made once per pool."""
        if self._stepper is None or self._stepper.pool is not self.pool:
            self._stepper = PoolStepper(self.pool)
        return self._stepper

    def play_round(self, obs: np.ndarray, policy: Callable[[np.ndarray], np.ndarray], ids: np.ndarray) -> Episodes:
        """From envs just reset to `obs`, play until the envs `ids` (ascending) have each ended one
        episode, in the order they end (by step, then env). Only the envs still playing step: an
        evaluation waits for its slowest episode, and a finished env would only play an episode nobody
        counts. The policy still sees every env's observation (a finished env keeps its last), so each
        row is acted on as in a step of all envs, and a sampled policy draws the same noise. Afterwards
        the envs stand wherever they stopped: reset them before stepping them again."""
        obs = obs.copy()
        returns, lengths = np.zeros(self.num_envs), np.zeros(self.num_envs, np.int64)
        playing, parts = np.asarray(ids, np.int64), []
        while len(playing):
            raw, reward, terminated = self._step_some(np.asarray(policy(obs))[playing], playing)
            returns[playing] += reward
            lengths[playing] += 1
            done = terminated | (lengths[playing] >= self.max_steps)
            if done.any():
                ended = playing[done]
                parts.append(Episodes(returns[ended], lengths[ended], classify(terminated[done], reward[done], raw[done])))
            obs[playing] = self.scale(raw)
            playing = playing[~done]
        return Episodes.concat(parts)

    def _step_some(self, actions: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step of the envs `ids` (ascending) alone, no autoreset: (raw obs, reward, terminated)
        in the order of `ids`."""
        if self.pool is not None:
            stepper = self.stepper()
            stepper.send(actions, ids)
            raw, reward, terminated, _ = stepper.recv()
            return raw, reward.astype(np.float32), terminated
        raw = np.empty((len(ids), self.obs_dim), np.float32)
        reward = np.empty(len(ids), np.float32)
        terminated = np.empty(len(ids), bool)
        actions = _python_ints(actions)
        for k, i in enumerate(ids):
            raw[k], reward[k], terminated[k], _, _ = self.envs[i].step(actions[k])
        return raw, reward, terminated

    def close(self) -> None:
        for env in self.envs:
            env.close()
        if self.pool is not None:
            self.pool.close()


class _IntActions(gym.spaces.Discrete):
    """A Discrete space whose `contains` takes a Python int in one comparison. LunarLander's step
    asserts `action_space.contains(action)`, and Gymnasium's Discrete builds `np.iinfo` of its dtype
    for that on every call: 4 of the step's 30 us. Anything but a plain int is checked as Gymnasium
    checks it; an int is in the space exactly when Gymnasium says so (tests/test_envs.py)."""

    def __init__(self, space: gym.spaces.Discrete):
        super().__init__(int(space.n), start=int(space.start), dtype=space.dtype)
        info = np.iinfo(space.dtype)  # an int outside the dtype is refused, as Gymnasium refuses it
        self._lo = max(int(space.start), int(info.min))
        self._hi = min(int(space.start) + int(space.n), int(info.max) + 1)

    def contains(self, x) -> bool:
        if type(x) is int:
            return self._lo <= x < self._hi
        return super().contains(x)


def _python_ints(actions: np.ndarray) -> np.ndarray | list:
    """Discrete actions as Python ints, which a discrete env checks fastest (_IntActions); others as they are."""
    return actions.tolist() if actions.dtype.kind in "iu" else actions


def _fast_checked(env: gym.Env) -> gym.Env:
    """`env` with its Discrete action space's check made cheap (_IntActions); other spaces as they are."""
    if type(env.action_space) is gym.spaces.Discrete:
        env.action_space = _IntActions(env.action_space)
    return env


def import_envpool():
    """The envpool module with its Box2D envs (LunarLander) registered. A plain `import envpool`
    registers every env family it ships (MuJoCo, Atari, Jumanji with matplotlib, ...): most of a
    second of a run's start-up. Its package imports `envpool.entry`, which does that; while it
    imports, that name holds an empty module, and afterwards it is forgotten, so that a later
    `import envpool.entry` (anyone wanting the other families) registers them as usual."""
    if "envpool" not in sys.modules:
        stub = types.ModuleType("envpool.entry")
        sys.modules["envpool.entry"] = stub
        try:
            import envpool.box2d.registration  # noqa: F401
        finally:
            if sys.modules.get("envpool.entry") is stub:
                del sys.modules["envpool.entry"]
    import envpool

    return envpool


def _scaler(mode: ObsScaling) -> Callable[[np.ndarray], np.ndarray]:
    if mode == ObsScaling.divide:
        return lambda o: (o / OBS_SCALE).astype(np.float32)
    if mode == ObsScaling.multiply:
        return lambda o: (o * OBS_SCALE).astype(np.float32)
    return _as_float32


def _as_float32(o: np.ndarray) -> np.ndarray:
    """ObsScaling.none: the observation as it is, in float32."""
    return np.asarray(o, dtype=np.float32)


def run_episodes(env: VecEnv, policy: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int,
                 start: int = 0) -> Episodes:
    """Play episodes start..episodes-1 of an evaluation of `episodes` whole episodes with `policy`,
    in rounds of env.num_envs (episode e is env e % num_envs's in round e // num_envs).

    Round k resets its envs with seeds seed + k*num_envs + i, so the same seed gives the same
    start states on every call: successive evaluations of a run differ only by the policy, and an
    evaluation played in two calls (the second from `start`) plays the episodes of one call."""
    n, parts = env.num_envs, []
    for first in range(start - start % n, episodes, n):
        obs = env.reset(seed=seed + first)
        parts.append(env.play_round(obs, policy, np.arange(max(start, first), min(episodes, first + n)) - first))
    return Episodes.concat(parts)

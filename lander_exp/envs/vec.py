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


@dataclass
class Resumed:
    """The training envs' episodes in progress at a checkpoint, rebuilt by `VecEnv.restore`: where
    the algorithm acts next, and each env's episode so far (what an algorithm that learns from whole
    episodes had gathered of it; empty where the episode had ended)."""

    obs: np.ndarray  # [N, D] the observation to act on next
    trajectories: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per env: obs [T, D], actions [T], rewards [T]


def _pcg64_row(state: dict) -> np.ndarray | None:
    """A PCG64 state (numpy's dict) as 6 uint64: state and increment (high, low words), and the
    cached 32 bits; None for another bit generator."""
    if state.get("bit_generator") != "PCG64":
        return None
    low = (1 << 64) - 1
    s, inc = state["state"]["state"], state["state"]["inc"]
    return np.array([s >> 64, s & low, inc >> 64, inc & low, state["has_uint32"], state["uinteger"]], np.uint64)


def _pcg64_state(row: np.ndarray) -> dict:
    hi_s, lo_s, hi_i, lo_i, has, cached = (int(x) for x in np.asarray(row).astype(np.uint64))
    return {"bit_generator": "PCG64", "state": {"state": hi_s << 64 | lo_s, "inc": hi_i << 64 | lo_i},
            "has_uint32": has, "uinteger": cached}


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
    so it runs with `env.autoreset=next_step` only.

    `replayable` (the training envs): each Gymnasium env records how its episode began (its reset
    seed, or its random state before the reset) and the actions taken since, so that a resume can
    rebuild the episodes in progress exactly (`replay_state`, `restore`): LunarLander is
    deterministic given those. A Box2D world cannot be saved, and EnvPool's state cannot be read."""

    def __init__(self, env_cfg, num_envs: int, seed: int, autoreset: Autoreset | None = None, replayable: bool = False):
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
        self._rows = np.arange(num_envs)
        self._actions = None  # [N, max_steps + 1, *action shape]: each env's actions since its reset
        if replayable and self.pool is None:
            space = self.single_action_space
            dtype = np.int64 if space.shape == () else space.dtype
            self._actions = np.zeros((num_envs, self.max_steps + 1, *space.shape), dtype)
        self._taken = np.zeros(num_envs, np.int64)  # actions recorded since the reset
        self._known = np.zeros(num_envs, bool)  # whether that record is whole (the env was reset through here)
        self._start_seed = np.full(num_envs, -1, np.int64)  # the reset's seed; -1: it drew from _start_rng
        self._start_rng = np.zeros((num_envs, 6), np.uint64)  # the env's random state before that reset
        self._obs_now = np.zeros((num_envs, self.obs_dim), np.float32)  # where the episode stands: checks a replay

    # the per-env arrays a joined VecEnv shares with its parts (each part's are views of the joined ones)
    _SHARED = ("_ret", "_len", "_resetting", "_taken", "_known", "_start_seed", "_start_rng", "_obs_now", "_actions")

    @classmethod
    def joined(cls, parts: list[VecEnv]) -> VecEnv:
        """One VecEnv stepping the Gymnasium envs of several (part k's env i is env k*n + i). The envs
        are the parts' own: each keeps its random stream, its first reset's seed, its episode in
        progress and its record for a replay; the parts see what the joined VecEnv does to them."""
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
        self._rows = np.arange(self.num_envs)
        for name in cls._SHARED:
            if any(getattr(p, name) is None for p in parts):
                setattr(self, name, None)
                continue
            setattr(self, name, np.concatenate([getattr(p, name) for p in parts]))
            start = 0
            for p in parts:
                setattr(p, name, getattr(self, name)[start:start + p.num_envs])
                start += p.num_envs
        return self

    def select(self, keep: list[int]) -> VecEnv:
        """A joined VecEnv of the parts at positions `keep`, their episodes in progress carried over."""
        return VecEnv.joined([self.parts[j] for j in keep])

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
            return np.concatenate([p.reset() for p in self.parts])
        seed = self._seed if seed is None else seed
        self._seed = None  # later resets continue the envs' own RNG streams
        if self.pool is not None:
            if seed is not None:
                self._make_pool(seed)
            obs = self.pool.reset()[0]
        else:
            obs = np.empty((self.num_envs, self.obs_dim), np.float32)
            for i, e in enumerate(self.envs):
                self._note_reset(i, None if seed is None else seed + i)
                obs[i] = e.reset(seed=None if seed is None else seed + i)[0]
        self._ret[:] = 0
        self._len[:] = 0
        self._resetting[:] = False
        obs = self.scale(obs)
        self._obs_now[:] = obs
        return obs

    def _note_reset(self, i: int, seed: int | None) -> None:
        """Env i is about to reset (with `seed`, or drawing from its random stream): its replay record
        starts again. Once per episode, never per step."""
        if self._actions is None:
            return
        row = None if seed is not None else _pcg64_row(self.envs[i].np_random.bit_generator.state)
        self._taken[i] = 0
        self._known[i] = seed is not None or row is not None
        self._start_seed[i] = -1 if seed is None else seed
        if row is not None:
            self._start_rng[i] = row

    def reseed(self, seed: int) -> None:
        """Make the next `reset()` seed the envs again (env i gets seed + i), as at construction."""
        self._seed = seed

    def rng_state(self) -> list[dict] | None:
        """Each Gymnasium env's random state (plain data, for a checkpoint); None for EnvPool, whose
        envs' state cannot be read."""
        return None if self.pool is not None else [e.np_random.bit_generator.state for e in self.envs]

    def replay_state(self) -> dict[str, np.ndarray] | None:
        """What rebuilds the episodes in progress (plain arrays, for a checkpoint): per env the seed of
        its episode's reset (-1: it drew from the random state in `rng`, 6 words of PCG64 as int64)
        and the count of actions taken since (`taken`), and those actions, env after env (`actions`).
        None where nothing is recorded (EnvPool, evaluation envs, whole episodes played by `play_episode`)."""
        if self._actions is None or not self._known.all():
            return None
        actions = np.concatenate([self._actions[i, :n] for i, n in enumerate(self._taken)])
        return {"seed": self._start_seed.copy(), "rng": self._start_rng.view(np.int64).copy(),
                "taken": self._taken.copy(), "actions": actions, "obs": self._obs_now.copy()}

    def restore(self, rng: list[dict] | None, replay: dict | None, fallback_seed: int) -> Resumed | None:
        """Continue from a checkpoint's `rng_state()` and `replay_state()`: each Gymnasium env is reset
        as its episode was and given the same actions again, which rebuilds the episode exactly
        (checked: every env's observation and random state afterwards must be the checkpoint's).
        Returns where the envs stand, or None where the episodes in progress restart instead: the
        next `reset()` starts fresh ones from `rng` (no record, or one that does not rebuild them) or,
        for EnvPool, whose state cannot be read, from `fallback_seed` as `reseed` does."""
        if rng is None or self.pool is not None:
            self.reseed(fallback_seed)
            return None
        self._seed = None
        why = "no record of them" if replay is None else None
        if replay is not None:
            try:
                resumed = self._replay(replay, rng)
            except (ValueError, KeyError, IndexError, TypeError) as ex:
                resumed, why = None, str(ex)
            if resumed is not None:
                return resumed
        for env, state in zip(self.envs, rng, strict=True):
            env.np_random.bit_generator.state = state
        self._ret[:] = 0
        self._len[:] = 0
        self._resetting[:] = False
        if self._actions is not None:
            self._known[:] = False
        if replay is not None:
            print(f"lander_exp: the episodes in progress at the checkpoint could not be rebuilt ({why}); they restart",
                  file=sys.stderr, flush=True)
        return None

    def _replay(self, record: dict, rng: list[dict]) -> Resumed:
        """Every env's episode replayed from its record (see `restore`); ValueError where it differs."""
        taken = np.asarray(record["taken"], np.int64)
        seeds = np.asarray(record["seed"], np.int64)
        starts = np.asarray(record["rng"], np.int64).view(np.uint64)
        actions = np.asarray(record["actions"])
        if len(taken) != self.num_envs or len(rng) != self.num_envs or (taken < 0).any() or (taken > self.max_steps).any():
            raise ValueError("the record does not fit these envs")
        if len(actions) != taken.sum():
            raise ValueError("the record's actions do not add up")
        raw = np.empty((self.num_envs, self.obs_dim), np.float32)
        trajectories, offsets = [], np.concatenate([[0], np.cumsum(taken)])
        for i, env in enumerate(self.envs):
            if seeds[i] >= 0:
                o = env.reset(seed=int(seeds[i]))[0]
            else:
                env.np_random.bit_generator.state = _pcg64_state(starts[i])
                o = env.reset()[0]
            mine = actions[offsets[i]:offsets[i + 1]]
            n = len(mine)
            obs = np.empty((n, self.obs_dim), np.float32)
            rewards = np.empty(n, np.float32)
            ret, ended = 0.0, False
            for t in range(n):
                if ended:
                    raise ValueError(f"env {i}'s episode ended before its last recorded action")
                obs[t] = o
                o, r, term, _, _ = env.step(mine[t])
                rewards[t] = r
                ret += float(rewards[t])
                ended = term or t + 1 >= self.max_steps
            if env.np_random.bit_generator.state != rng[i]:
                raise ValueError(f"env {i} does not reach the checkpoint's random state")
            if ended and self.autoreset == Autoreset.same_step:
                raise ValueError(f"env {i}'s episode ended but was not reset")
            raw[i] = o
            self._ret[i], self._len[i], self._resetting[i] = (0.0, 0, True) if ended else (ret, n, False)
            scaled = self.scale(obs) if n else obs
            trajectories.append((scaled, mine.copy(), rewards) if not ended else
                                (scaled[:0], mine[:0].copy(), rewards[:0]))
            self._actions[i, :n] = mine
            self._taken[i], self._known[i], self._start_seed[i], self._start_rng[i] = n, True, seeds[i], starts[i]
        obs = self.scale(raw)
        if not np.array_equal(obs, np.asarray(record["obs"], np.float32)):
            raise ValueError(f"env {int(np.flatnonzero((obs != np.asarray(record['obs'])).any(1))[0])} does not reach "
                             "the checkpoint's observation")
        self._obs_now[:] = obs
        return Resumed(obs, trajectories)

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
        self._known[:] = False  # whole episodes: a checkpoint never falls inside one, so nothing to replay
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
        self._resetting[:] = done[-1]
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
                self._note_reset(i, None)
                raw_obs[i] = env.reset()[0]
                continue
            o, r, term, _, _ = env.step(actions[i])
            reward[i], terminated[i] = r, term
            truncated[i] = not term and self._len[i] + 1 >= self.max_steps
            if (term or truncated[i]) and self.autoreset == Autoreset.same_step:
                finals[i] = o
                self._note_reset(i, None)
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
            if self._actions is not None:  # the replay record: one array write per step, before any reset
                self._actions[self._rows, self._taken] = actions  # a reset-only step's is written, not counted
                self._taken += live
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
        if self.autoreset == Autoreset.next_step:
            self._resetting[:] = done  # in place: a joined VecEnv's parts see it
        obs = self.scale(raw_obs)
        if self._actions is not None:
            self._obs_now[:] = obs
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
        self._known[:] = False  # stepped here without a record: nothing to replay
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

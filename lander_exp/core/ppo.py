"""PPO as "How to Land on the Moon" describes it: tanh-squashed Gaussian actor with learnable log_std, separate critic,
loss = clipped surrogate + vf_coef * value MSE - entropy_coef * entropy, two Adam optimizers (each
clipped at max_grad_norm), GAE(lambda) with normalised advantages. The actor and the critic share no
parameters, so each learns from its part of the loss in its own loop over the same minibatches.

Read top to bottom: `collect` (numpy, one actor forward per vector step) then `learn` (torch,
whole-epoch tensors, shuffled minibatches, the gradients written out in core/grads.py)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from lander_exp.config import Autoreset, RolloutBootstrap
from lander_exp.core import grads
from lander_exp.core.layout import adam_layout, tensor_layout
from lander_exp.core.nets import ActorCritic, NumpyMLP, StackedMLP
from lander_exp.core.optim import Adam
from lander_exp.core.returns import gae
from lander_exp.core.seeding import PCG64_STATE, RunSeeds
from lander_exp.envs.vec import Resumed, Steps, VecEnv


def actor_metrics(means: list[float], lr: float, log_std: list[float]) -> dict[str, float]:
    """An epoch's actor row: `means` of (loss, entropy, approx_kl, clip_frac, grad norm) over its minibatches."""
    out = {"train/actor_loss": means[0], "train/entropy": means[1], "train/approx_kl": means[2],
           "train/clip_frac": means[3], "train/grad_norm/actor": means[4], "train/lr/actor": lr}
    out.update({f"train/log_std/{i}": v for i, v in enumerate(log_std)})
    return out


def critic_metrics(means: list[float], lr: float) -> dict[str, float]:
    """An epoch's critic row: `means` of (loss, grad norm) over its minibatches."""
    return {"train/critic_loss": means[0], "train/grad_norm/critic": means[1], "train/lr/critic": lr}


def total_loss(metrics: dict[str, float], c) -> float:
    """The epoch's mean of PPO's whole loss, from the actor's and the critic's parts."""
    return (metrics["train/actor_loss"] + float(c.vf_coef) * metrics["train/critic_loss"]
            - float(c.entropy_coef) * metrics["train/entropy"])


@dataclass
class Prepared:
    """An epoch's samples for the updates (reset-only steps left out) and its minibatch orders."""

    obs: torch.Tensor  # [S, D]
    raw: torch.Tensor  # [S, A] pre-tanh actions
    old_logp: torch.Tensor  # [S]
    adv: torch.Tensor  # [S] normalised if the config says so
    ret: torch.Tensor  # [S] the critic's targets
    perms: list[torch.Tensor]  # one shuffle of range(S) per update epoch
    explained_variance: float


@dataclass
class Rollout(Steps):
    """The envs' steps and the pre-tanh actions sampled for them."""

    raw_actions: np.ndarray  # [T, N, A] pre-tanh samples

    @property
    def env_steps(self) -> int:
        return self.rewards.size


class BackgroundCritic:
    """algo.overlap_critic: the critic's update runs on a thread, on one torch thread, while the next
    rollout (numpy and EnvPool, which leave a core idle) runs; `wait` joins it before the critic is
    needed again. The weights are the same as learning in line; its metrics arrive one epoch late."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="critic")
        self._job: Future | None = None
        self._threads = torch.get_num_threads()  # restored when the job is done

    @property
    def pending(self) -> bool:
        return self._job is not None

    def submit(self, fn: Callable[[], dict[str, float]]) -> None:
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)
        self._job = self._pool.submit(fn)

    def wait(self) -> tuple[dict[str, float], float]:
        """(the job's metrics, seconds spent waiting for it); ({}, 0) when none runs."""
        if self._job is None:
            return {}, 0.0
        t = time.perf_counter()
        job, self._job = self._job, None
        try:
            return job.result(), time.perf_counter() - t
        finally:
            torch.set_num_threads(self._threads)


class PPO:
    x_axis = "global_step"

    def __init__(self, cfg, obs_dim: int, act_dim: int, device: torch.device):
        self.cfg = cfg.algo
        self.autoreset = Autoreset(cfg.env.autoreset)
        self.device = device
        seeds = RunSeeds.of(cfg.seed)
        with torch.random.fork_rng(devices=[]):  # the initial weights come from this run's own stream
            torch.manual_seed(seeds.weights)
            self.model = ActorCritic(obs_dim, act_dim, cfg.network.hidden_dim, cfg.network.actor_layers,
                                     cfg.network.critic_layers, self.cfg.init_log_std).to(device)
        # the parameter lists once: a module's parameters() walks its submodules on every call
        self._actor_params, self._critic_params = self.model.actor_params(), list(self.model.critic.parameters())
        # fused: one kernel per step for all parameters instead of a Python loop over them
        self.pi_opt = Adam(self._actor_params, lr=cfg.lr.actor, fused=True)
        self.vf_opt = Adam(self._critic_params, lr=cfg.lr.critic, fused=True)
        self.rng = np.random.default_rng(seeds.actions)
        self.gen = torch.Generator().manual_seed(seeds.minibatches)
        self.obs: np.ndarray | None = None
        self.critic_job = BackgroundCritic()
        self.critic_metrics: dict[str, float] = {}  # the background critic's, for the next epoch's row

    # ---- acting -------------------------------------------------------------------------------
    def policy(self, sampled_seed: int | None = None):
        """tanh of the actor's mean, or with `sampled_seed` of a draw around it (as `collect` acts)."""
        actor = NumpyMLP(self.model.actor)
        if sampled_seed is None:
            return lambda obs: np.tanh(actor(obs))
        rng = np.random.default_rng(sampled_seed)
        std = np.exp(self.model.log_std.detach().cpu().numpy()).astype(np.float32)
        return lambda obs: np.tanh(actor(obs) + rng.standard_normal((len(obs), std.shape[0]), dtype=np.float32) * std)

    def collect(self, env: VecEnv) -> Rollout:
        n = env.num_envs
        steps = math.ceil(self.cfg.steps_per_epoch / n)
        if self.obs is None or self.cfg.reset_each_epoch:
            self.obs = env.reset()
        actor = NumpyMLP(self.model.actor)
        std = np.exp(self.model.log_std.detach().cpu().numpy()).astype(np.float32)
        raw_buf = np.empty((steps, n, std.shape[0]), np.float32)
        noise = self.rng.standard_normal(raw_buf.shape, dtype=np.float32) * std

        def act(t: int, obs: np.ndarray) -> np.ndarray:
            raw = actor(obs) + noise[t]
            raw_buf[t] = raw
            return np.tanh(raw)

        steps_taken = env.play_steps(self.obs, act, steps)
        self.obs = steps_taken.last_obs.copy()
        return Rollout(**vars(steps_taken), raw_actions=raw_buf)

    @staticmethod
    def collect_many(algos: list[PPO], env: VecEnv, obs: np.ndarray | None) -> tuple[list[Rollout], np.ndarray]:
        """`collect` for several runs of one config at once (run/batch.py): `env` holds every run's
        envs (run k's are columns k*n..(k+1)*n-1), one StackedMLP forward acts for all of them, and
        each run draws its noise from its own stream. Returns each run's rollout, the one its own
        `collect` would return, and the observations to continue from."""
        c, count = algos[0].cfg, len(algos)
        n = env.num_envs // count
        steps = math.ceil(c.steps_per_epoch / n)
        if obs is None or c.reset_each_epoch:
            obs = env.reset()
        actor = StackedMLP([a.model.actor for a in algos])
        noise = np.concatenate([a.rng.standard_normal((steps, n, a.model.log_std.shape[0]), dtype=np.float32)
                                * np.exp(a.model.log_std.detach().cpu().numpy()).astype(np.float32) for a in algos], axis=1)
        raw_buf = np.empty_like(noise)
        shape = (count, n, obs.shape[1])

        def act(t: int, o: np.ndarray) -> np.ndarray:
            raw = actor(o.reshape(shape)).reshape(raw_buf.shape[1:]) + noise[t]
            raw_buf[t] = raw
            return np.tanh(raw)

        taken = env.play_steps(obs, act, steps)
        rollouts = [Rollout(**vars(taken.columns(k * n, (k + 1) * n)), raw_actions=raw_buf[:, k * n:(k + 1) * n].copy())
                    for k in range(count)]
        return rollouts, taken.last_obs.copy()

    # ---- learning -----------------------------------------------------------------------------
    def advantages(self, ro: Rollout, values: np.ndarray, last_value: np.ndarray,
                   trunc_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Targets per the config's choices about truncation, the rollout's end, and autoreset."""
        c = self.cfg
        next_values = np.empty_like(values)
        next_values[:-1] = values[1:]
        next_values[-1] = last_value if c.rollout_bootstrap == RolloutBootstrap.next_obs else values[-1]
        # same_step: obs[t+1] after an episode end is the next episode's first obs, never its value
        if self.autoreset == Autoreset.same_step:
            next_values[ro.terminated | ro.truncated] = 0.0
            if c.bootstrap_truncation:
                next_values[ro.trunc_index] = trunc_values
        else:  # next_step: obs[t+1] after an end is that episode's own final obs
            next_values[ro.terminated] = 0.0
            if not c.bootstrap_truncation:
                next_values[ro.truncated] = 0.0
        dones = (ro.terminated | ro.truncated).astype(np.float32)
        return gae(ro.rewards, values, next_values, dones, c.gamma, c.gae_lambda)

    def prepare(self, ro: Rollout) -> Prepared:
        """The epoch's training samples (advantages and targets per the config) and its minibatch
        orders, drawn from this run's own generator; the first half of `learn`."""
        c, m, dev = self.cfg, self.model, self.device
        steps, n = ro.rewards.shape
        obs = torch.as_tensor(ro.obs.reshape(steps * n, -1), device=dev)
        raw = torch.as_tensor(ro.raw_actions.reshape(steps * n, -1), device=dev)
        with torch.no_grad():
            extra = torch.as_tensor(np.concatenate([ro.last_obs, ro.trunc_obs]), device=dev)
            values_all = m.value(torch.cat([obs, extra])).cpu().numpy()
            # the Gaussian's log-prob of the stored pre-tanh action, as the update computes it
            old_logp = grads.log_prob(m.actor(obs), m.log_std, raw)
        values = values_all[: steps * n].reshape(steps, n)
        adv, ret = self.advantages(ro, values, values_all[steps * n: steps * n + n], values_all[steps * n + n:])
        # A reset-only step (next_step autoreset) is no transition: its advantage and target are left out
        # of the normalisation and both losses. GAE needs no mask: the episode's end before it already
        # stops its TD error from reaching the previous episode.
        live = ro.live.reshape(-1)
        adv, ret, values = adv.reshape(-1)[live], ret.reshape(-1)[live], values.reshape(-1)[live]
        if not live.all():
            keep = torch.as_tensor(np.flatnonzero(live), device=dev)
            obs, raw, old_logp = obs[keep], raw[keep], old_logp[keep]
        adv_t = torch.as_tensor(adv, device=dev)
        ret_t = torch.as_tensor(ret, device=dev)
        if c.normalize_advantages:
            adv_t = (adv_t - adv_t.mean()) / (adv_t.std() + 1e-8)
        perms = [torch.randperm(len(adv), generator=self.gen).to(dev) for _ in range(c.update_epochs)]
        var_ret = float(np.var(ret))
        explained = float(1 - np.var(ret - values) / var_ret) if var_ret > 0 else float("nan")
        return Prepared(obs, raw, old_logp, adv_t, ret_t, perms, explained)

    def learn(self, ro: Rollout) -> dict[str, float]:
        c = self.cfg
        finished, critic_wait = self.critic_job.wait()  # the values below need the latest critic
        self.critic_metrics.update(finished)
        p = self.prepare(ro)
        samples = (p.obs, p.raw, p.old_logp, p.adv, p.ret)
        # The actor's and the critic's losses share no parameters (the loss is their weighted sum, each
        # network has its own optimizer and clipping), so each can learn in a loop of its own over the
        # same minibatches (algo.overlap_critic runs the critic's on a thread) or both in one.
        if c.overlap_critic:
            out = self._update(p.perms, samples, critic=False)
            out.update(self.critic_metrics)  # the previous epoch's
            self.critic_metrics = {}
            self.critic_job.submit(lambda: self._update(p.perms, samples, actor=False))
        else:
            out = self._update(p.perms, samples)
            out["train/loss"] = total_loss(out, c)
        out["perf/critic_wait_s"] = critic_wait
        out["train/explained_variance"] = p.explained_variance
        return out

    def _update(self, perms: list[torch.Tensor], samples: tuple[torch.Tensor, ...], actor: bool = True,
                critic: bool = True) -> dict[str, float]:
        """The actor's and/or the critic's passes over the epoch's minibatches; their train/* metrics.
        The gradients are written out (core/grads.py), not taken by autograd."""
        c, m = self.cfg, self.model
        # plain floats: a DictConfig lookup costs microseconds, and the loop below runs hundreds of times
        clip, ent_coef, vf_coef, max_norm = float(c.eps_clip), float(c.entropy_coef), float(c.vf_coef), float(c.max_grad_norm)
        actor_layers, critic_layers = grads.linears(m.actor), grads.linears(m.critic)
        actor_stats, critic_stats = [], []
        with torch.no_grad():
            for ob, ra, old, adv, target in self._minibatches(perms, samples):
                scale = 1.0 / len(ob)
                if actor:
                    stats = grads.actor_grads(actor_layers, m.log_std, ob, ra, old, adv, scale, clip, ent_coef)
                    grad_norm = torch.nn.utils.clip_grad_norm_(self._actor_params, max_norm)
                    self.pi_opt.step()
                    actor_stats.append(torch.cat([stats, grad_norm.unsqueeze(0)]))
                if critic:
                    critic_loss = grads.critic_grads(critic_layers, ob, target, scale, vf_coef)
                    grad_norm = torch.nn.utils.clip_grad_norm_(self._critic_params, max_norm)
                    self.vf_opt.step()
                    critic_stats.append(torch.stack([critic_loss, grad_norm]))
        out = {}
        if actor:
            out.update(actor_metrics(torch.stack(actor_stats).mean(0).tolist(), self.pi_opt.param_groups[0]["lr"],
                                     m.log_std.detach().cpu().tolist()))
        if critic:
            out.update(critic_metrics(torch.stack(critic_stats).mean(0).tolist(), self.vf_opt.param_groups[0]["lr"]))
        return out

    def _minibatches(self, perms: list[torch.Tensor], samples: tuple[torch.Tensor, ...]):
        """Each pass shuffles every tensor once and slices it: the same minibatches as gathering each
        one by index, without a gather per tensor per minibatch."""
        total, size = len(samples[0]), self.cfg.batch_size
        for perm in perms:
            shuffled = [x.index_select(0, perm) for x in samples]  # x[perm]'s values, without advanced indexing's overhead
            for start in range(0, total, size):
                yield tuple(x[start:start + size] for x in shuffled)

    # ---- checkpointing ------------------------------------------------------------------------
    def resume_envs(self, resumed: Resumed) -> None:
        self.obs = resumed.obs

    def state_dict(self) -> dict:
        self.critic_metrics.update(self.critic_job.wait()[0])
        return {"model": self.model.state_dict(), "pi_opt": self.pi_opt.state_dict(),
                "vf_opt": self.vf_opt.state_dict(), "rng": self.rng.bit_generator.state,
                "gen": self.gen.get_state()}

    def state_layout(self) -> dict:
        return {"model": {k: tensor_layout(v) for k, v in self.model.state_dict().items()},
                "pi_opt": adam_layout(self.pi_opt), "vf_opt": adam_layout(self.vf_opt), "rng": PCG64_STATE,
                "gen": tensor_layout(self.gen.get_state())}

    def load_state_dict(self, state: dict) -> None:
        self.critic_job.wait()
        self.model.load_state_dict(state["model"])
        self.pi_opt.load_state_dict(state["pi_opt"])
        self.vf_opt.load_state_dict(state["vf_opt"])
        self.rng.bit_generator.state = state["rng"]
        self.gen.set_state(state["gen"])

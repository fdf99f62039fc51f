"""PPO as seed 000 describes it: tanh-squashed Gaussian actor with learnable log_std, separate critic,
loss = clipped surrogate + vf_coef * value MSE - entropy_coef * entropy, two Adam optimizers (each
clipped at max_grad_norm), GAE(lambda) with normalised advantages. The actor and the critic share no
parameters, so each learns from its part of the loss in its own loop over the same minibatches.

Read top to bottom: `train_epoch` = `collect` (numpy, one actor forward per vector step) then
`update` (torch, whole-epoch tensors, shuffled minibatches)."""

from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lander_exp.config import Autoreset, RolloutBootstrap
from lander_exp.core.nets import ActorCritic, NumpyMLP, tanh_log_det
from lander_exp.core.returns import gae
from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import Steps, VecEnv


@dataclass
class Rollout(Steps):
    """The envs' steps and the pre-tanh actions sampled for them."""

    raw_actions: np.ndarray  # [T, N, A] pre-tanh samples


class PPO:
    x_axis = "global_step"

    def __init__(self, cfg, obs_dim: int, act_dim: int, device: torch.device):
        self.cfg = cfg.algo
        self.autoreset = Autoreset(cfg.env.autoreset)
        self.device = device
        self.model = ActorCritic(obs_dim, act_dim, cfg.network.hidden_dim, cfg.network.actor_layers,
                                 cfg.network.critic_layers, self.cfg.init_log_std, self.cfg.tanh_logdet).to(device)
        # fused: one kernel per step for all parameters instead of a Python loop over them
        self.pi_opt = torch.optim.Adam(self.model.actor_params(), lr=cfg.lr.actor, fused=True)
        self.vf_opt = torch.optim.Adam(self.model.critic.parameters(), lr=cfg.lr.critic, fused=True)
        self.rng = np.random.default_rng(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.obs: np.ndarray | None = None
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="critic")
        self._critic_job: Future | None = None  # algo.overlap_critic: the critic's update still running
        self.critic_metrics: dict[str, float] = {}  # its metrics, for the next epoch's row
        self.torch_threads = torch.get_num_threads()  # restored when the background critic is done

    # ---- acting -------------------------------------------------------------------------------
    def policy(self):
        """Deterministic policy for evaluation: tanh of the actor's mean."""
        actor = NumpyMLP(self.model.actor)
        return lambda obs: np.tanh(actor(obs))

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

    def update(self, ro: Rollout) -> dict[str, float]:
        c, m, dev = self.cfg, self.model, self.device
        critic_wait = self.wait_for_critic()  # the values below need the critic that learnt from the last rollout
        steps, n = ro.rewards.shape
        obs = torch.as_tensor(ro.obs.reshape(steps * n, -1), device=dev)
        raw = torch.as_tensor(ro.raw_actions.reshape(steps * n, -1), device=dev)
        with torch.no_grad():
            extra = torch.as_tensor(np.concatenate([ro.last_obs, ro.trunc_obs]), device=dev)
            values_all = m.value(torch.cat([obs, extra])).cpu().numpy()
            log_det = tanh_log_det(raw, m.tanh_logdet)  # fixed by the stored actions: once per update
            old_logp = m.log_prob(m.dist(obs), raw, log_det)
        values = values_all[: steps * n].reshape(steps, n)
        adv, ret = self.advantages(ro, values, values_all[steps * n: steps * n + n], values_all[steps * n + n:])
        adv_t = torch.as_tensor(adv.reshape(-1), device=dev)
        ret_t = torch.as_tensor(ret.reshape(-1), device=dev)
        if c.normalize_advantages:
            adv_t = (adv_t - adv_t.mean()) / (adv_t.std() + 1e-8)

        # The actor's and the critic's losses share no parameters (the loss is their weighted sum, each
        # network has its own optimizer and clipping), so each learns in its own loop over the same
        # minibatches: the same updates as one backward pass of the sum per minibatch.
        total = steps * n
        perms = [torch.randperm(total, generator=self.gen).to(dev) for _ in range(c.update_epochs)]
        out = self._update_actor(perms, (obs, raw, log_det, old_logp, adv_t))
        out["perf/critic_wait_s"] = critic_wait
        var_ret = float(np.var(ret))
        out["train/explained_variance"] = float(1 - np.var(ret - values) / var_ret) if var_ret > 0 else float("nan")
        if self.cfg.overlap_critic:
            # the critic learns in the background, on one torch thread, while the next rollout (numpy and
            # EnvPool, leaving a core idle) runs; its metrics arrive with the next epoch's row
            out.update(self.critic_metrics)
            self.critic_metrics = {}
            self.torch_threads = torch.get_num_threads()
            torch.set_num_threads(1)
            self._critic_job = self._background.submit(self._update_critic, perms, (obs, ret_t))
        else:
            out.update(self._update_critic(perms, (obs, ret_t)))
            out["train/loss"] = (out["train/actor_loss"] + float(c.vf_coef) * out["train/critic_loss"]
                                 - float(c.entropy_coef) * out["train/entropy"])
        return out

    def _update_actor(self, perms: list[torch.Tensor], samples: tuple[torch.Tensor, ...]) -> dict[str, float]:
        c, m = self.cfg, self.model
        params = m.actor_params()
        # plain floats: a DictConfig lookup costs microseconds, and the loop below runs hundreds of times
        clip, ent_coef, max_norm = float(c.eps_clip), float(c.entropy_coef), float(c.max_grad_norm)
        stats = []
        for ob, ra, ld, old, a in self._minibatches(perms, samples):
            logp = m.log_prob(m.dist(ob), ra, ld)
            log_ratio = logp - old
            ratio = log_ratio.exp()
            actor_loss = -torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
            entropy = m.entropy()
            self.pi_opt.zero_grad(set_to_none=True)
            (actor_loss - ent_coef * entropy).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            self.pi_opt.step()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - log_ratio).mean()
                clip_frac = ((ratio - 1).abs() > clip).float().mean()
            stats.append(torch.stack([actor_loss.detach(), entropy.detach(), approx_kl, clip_frac, grad_norm]))
        s = torch.stack(stats).mean(0).tolist()
        out = {"train/actor_loss": s[0], "train/entropy": s[1], "train/approx_kl": s[2], "train/clip_frac": s[3],
               "train/grad_norm/actor": s[4], "train/lr/actor": self.pi_opt.param_groups[0]["lr"]}
        for i, v in enumerate(m.log_std.detach().cpu().tolist()):
            out[f"train/log_std/{i}"] = v
        return out

    def _update_critic(self, perms: list[torch.Tensor], samples: tuple[torch.Tensor, ...]) -> dict[str, float]:
        params = list(self.model.critic.parameters())
        vf_coef, max_norm = float(self.cfg.vf_coef), float(self.cfg.max_grad_norm)
        stats = []
        for ob, target in self._minibatches(perms, samples):
            critic_loss = F.mse_loss(self.model.value(ob), target)
            self.vf_opt.zero_grad(set_to_none=True)
            (vf_coef * critic_loss).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            self.vf_opt.step()
            stats.append(torch.stack([critic_loss.detach(), grad_norm]))
        s = torch.stack(stats).mean(0).tolist()
        return {"train/critic_loss": s[0], "train/grad_norm/critic": s[1],
                "train/lr/critic": self.vf_opt.param_groups[0]["lr"]}

    def _minibatches(self, perms: list[torch.Tensor], samples: tuple[torch.Tensor, ...]):
        """Each pass shuffles every tensor once and slices it: the same minibatches as gathering each
        one by index, without a gather per tensor per minibatch."""
        total, size = len(samples[0]), self.cfg.batch_size
        for perm in perms:
            shuffled = [x[perm] for x in samples]
            for start in range(0, total, size):
                yield tuple(x[start:start + size] for x in shuffled)

    def wait_for_critic(self) -> float:
        """Finish the critic's background update (algo.overlap_critic), if one is running; returns the
        seconds spent waiting for it."""
        if self._critic_job is None:
            return 0.0
        t = time.perf_counter()
        job, self._critic_job = self._critic_job, None
        try:
            self.critic_metrics = job.result()
        finally:
            torch.set_num_threads(self.torch_threads)
        return time.perf_counter() - t

    def train_epoch(self, env: VecEnv) -> tuple[dict[str, float], Episodes, int]:
        """One epoch: returns (metrics, episodes that ended, env steps taken)."""
        t0 = time.perf_counter()
        ro = self.collect(env)
        t1 = time.perf_counter()
        metrics = self.update(ro)
        t2 = time.perf_counter()
        steps = ro.rewards.size
        metrics.update({"perf/rollout_s": t1 - t0, "perf/update_s": t2 - t1,
                        "perf/rollout_steps_per_s": steps / (t1 - t0)})
        return metrics, ro.episodes, steps

    def drop_env_state(self) -> None:
        """Forget the observation carried to the next epoch: its next rollout starts with a reset."""
        self.obs = None

    # ---- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        self.wait_for_critic()
        return {"model": self.model.state_dict(), "pi_opt": self.pi_opt.state_dict(),
                "vf_opt": self.vf_opt.state_dict(), "rng": self.rng.bit_generator.state,
                "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.wait_for_critic()
        self.model.load_state_dict(state["model"])
        self.pi_opt.load_state_dict(state["pi_opt"])
        self.vf_opt.load_state_dict(state["vf_opt"])
        self.rng.bit_generator.state = state["rng"]
        self.gen.set_state(state["gen"])

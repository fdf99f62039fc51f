"""REINFORCE with a baseline, as "The laws of the 'land'" describes it: pure Monte-Carlo returns of the whole
episode (no bootstrapping, not even at the 1000-step time limit), one update per finished episode,
the critic's value detached in the actor's loss (semi-gradient) and the critic regressed on the
Monte-Carlo return. Acting runs on a numpy copy of the actor: one forward per env step."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lander_exp.config import Backend, LossReduction
from lander_exp.core.layout import adam_layout, tensor_layout
from lander_exp.core.nets import CategoricalActorCritic, NumpyMLP
from lander_exp.core.optim import Adam
from lander_exp.core.returns import mc_returns
from lander_exp.core.seeding import PCG64_STATE, RunSeeds
from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import Resumed, VecEnv


def reinforce_losses(model: CategoricalActorCritic, obs: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor,
                     normalize_advantages: bool, reduction: str = "mean") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(actor loss, critic loss, entropy): the losses a mean or a sum (`reduction`) over the episode's
    steps, the entropy a mean. With the mean a 1000-step episode gives each of its steps a fifth of
    the weight a 200-step one does; the sum is the textbook estimator, every step weighs the same.

    The baseline enters the actor's loss detached: the actor's loss sends no gradient to the critic."""
    values = model.value(obs)
    adv = returns - values.detach()
    if normalize_advantages and len(adv) > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    logits = model.actor(obs)
    logp_all = F.log_softmax(logits, dim=-1)
    logp = logp_all.gather(1, actions[:, None]).squeeze(1)
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    actor = -(logp * adv)
    return (actor.sum() if reduction == "sum" else actor.mean()), F.mse_loss(values, returns, reduction=reduction), entropy


class GumbelNoise:
    """Gumbel(0, 1) noise for Gumbel-max sampling (argmax of logits + noise is a categorical sample),
    drawn in blocks: one numpy call per 65,536 numbers instead of three per step. Numbers come out in
    draw order whatever the batch width, so from the same seed the one-env and the vectorized rollout
    sample the same actions. Its state (generator and unused numbers) goes into checkpoints."""

    BLOCK = 1 << 16

    def __init__(self, seed: int | np.random.SeedSequence):
        self.rng = np.random.default_rng(seed)
        self.buffer = np.empty(0)
        self.pos = 0

    def take(self, count: int) -> np.ndarray:
        out = self.upcoming(count)
        self.pos += count
        return out

    def upcoming(self, count: int) -> np.ndarray:
        """The next `count` numbers without using them up (`skip` does): a whole episode's worth at
        once, of which the episode uses as many as it has steps."""
        if self.pos + count > len(self.buffer):
            fresh = [-np.log(-np.log(self.rng.random(self.BLOCK))) for _ in range(-(-count // self.BLOCK))]
            self.buffer = np.concatenate([self.buffer[self.pos:], *fresh])
            self.pos = 0
        return self.buffer[self.pos:self.pos + count]

    def skip(self, count: int) -> None:
        self.pos += count

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "unused": self.buffer[self.pos:].copy()}

    @staticmethod
    def state_layout() -> dict:
        """The unused numbers are fewer than a block plus the longest draw: any length here."""
        return {"rng": PCG64_STATE, "unused": ("float64", (None,))}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.buffer, self.pos = np.array(state["unused"], np.float64), 0


@dataclass
class Finished:
    """What one epoch of REINFORCE collects: the whole episodes that ended, each as its own arrays."""

    trajectories: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (obs [T, D], actions [T], rewards [T])
    episodes: Episodes
    env_steps: int  # including the steps of episodes still running


def clip_norm(params, max_norm: float) -> torch.Tensor:
    """The gradients' total norm, clipped to `max_norm` where that is finite (the write-up clips
    nothing: at inf, clip_grad_norm_ would multiply every gradient by exactly 1)."""
    params = list(params)
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    if math.isfinite(max_norm):
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    return norm


class Reinforce:
    x_axis = "episode"

    def __init__(self, cfg, obs_dim: int, n_actions: int, device: torch.device):
        self.cfg = cfg.algo
        self.device = device
        seeds = RunSeeds.of(cfg.seed)
        with torch.random.fork_rng(devices=[]):  # the initial weights come from this run's own stream
            torch.manual_seed(seeds.weights)
            self.model = CategoricalActorCritic(obs_dim, n_actions, cfg.network.hidden_dim, cfg.network.actor_layers,
                                                cfg.network.critic_layers).to(device)
        # the parameter lists once: a module's parameters() walks its submodules on every call
        self._actor_params, self._critic_params = list(self.model.actor.parameters()), list(self.model.critic.parameters())
        self._all_params = self._actor_params + self._critic_params
        self.pi_opt = Adam(self._actor_params, lr=cfg.lr.actor, fused=True)
        self.vf_opt = Adam(self._critic_params, lr=cfg.lr.critic, fused=True)
        # plain values: `update` runs once per episode, tens of thousands of times a run, and a config
        # lookup costs microseconds
        self.gamma, self.entropy_coef = float(self.cfg.gamma), float(self.cfg.entropy_coef)
        self.normalize, self.max_grad_norm = bool(self.cfg.normalize_advantages), float(self.cfg.max_grad_norm)
        self.reduction = LossReduction(self.cfg.loss_reduction).value
        self.noise = GumbelNoise(seeds.actions)
        self.obs: np.ndarray | None = None
        self.trajectories: list[tuple[list, list, list]] = []

    def policy(self, sampled_seed: int | None = None):
        """The most probable action, or with `sampled_seed` a draw from the softmax (Gumbel-max, as
        training samples)."""
        actor = NumpyMLP(self.model.actor)
        if sampled_seed is None:
            return lambda obs: actor(obs).argmax(axis=1)
        rng = np.random.default_rng(sampled_seed)

        def sample(obs: np.ndarray) -> np.ndarray:
            logits = actor(obs)
            return (logits + rng.gumbel(size=logits.shape)).argmax(axis=1)

        return sample

    def sample(self, logits: np.ndarray) -> np.ndarray:
        """One action per row of logits (an int for a single row [A]), by Gumbel-max."""
        return (logits + self.noise.take(logits.size).reshape(logits.shape)).argmax(axis=-1)

    def collect(self, env: VecEnv) -> Finished:
        """Play until at least one episode ends (one env: exactly one whole episode)."""
        if env.num_envs == 1 and env.backend == Backend.gymnasium:
            # play_episode's tight loop: per-step bookkeeping would cost as much as the physics; the
            # noise of a whole episode comes as one block, of which the episode uses its steps' rows
            width = self.model.actor[-1].out_features
            noise = self.noise.upcoming(env.max_steps * width).reshape(env.max_steps, width)
            obs, actions, rewards, episode = env.play_episode(NumpyMLP(self.model.actor).gumbel_argmax(noise))
            self.noise.skip(len(actions) * width)
            return Finished([(obs, actions, rewards)], episode, len(actions))
        return self._collect_vectorized(env)

    def _collect_vectorized(self, env: VecEnv) -> Finished:
        """Several envs (or EnvPool): step all until at least one episode ends, carrying the others'
        unfinished trajectories to the next epoch."""
        n = env.num_envs
        if self.obs is None:
            self.obs = env.reset()
            self.trajectories = [([], [], []) for _ in range(n)]
        actor = NumpyMLP(self.model.actor)
        obs, trajs, steps, finished = self.obs, self.trajectories, 0, []
        while not finished:
            actions = self.sample(actor(obs))
            step = env.step(actions)
            steps += n
            for i in np.flatnonzero(step.live):  # a reset-only step (next_step autoreset) is no transition
                trajs[i][0].append(obs[i])
                trajs[i][1].append(actions[i])
                trajs[i][2].append(step.reward[i])
            for i in np.flatnonzero(step.terminated | step.truncated):
                o, a, r = trajs[i]
                finished.append((np.stack(o), np.asarray(a, np.int64), np.asarray(r, np.float32)))
                trajs[i] = ([], [], [])
            obs = step.obs
        self.obs = obs
        return Finished(finished, step.episodes, steps)

    def learn(self, batch: Finished) -> dict[str, float]:
        """One update per finished episode, in the order they ended."""
        stats = [self.update(o, a, r.astype(np.float64)) for o, a, r in batch.trajectories]
        metrics = {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}
        metrics.update({"train/lr/actor": self.pi_opt.param_groups[0]["lr"],
                        "train/lr/critic": self.vf_opt.param_groups[0]["lr"]})
        return metrics

    def update(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> dict[str, float]:
        """One gradient step for the actor and one for the critic, on one whole episode."""
        dev, model = self.device, self.model
        returns = torch.as_tensor(mc_returns(rewards, self.gamma), dtype=torch.float32, device=dev)
        actor_loss, critic_loss, entropy = reinforce_losses(
            model, torch.as_tensor(obs, device=dev), torch.as_tensor(actions, device=dev), returns, self.normalize,
            self.reduction)
        for p in self._all_params:  # what the optimizers' zero_grad(set_to_none=True) does, without their bookkeeping
            p.grad = None
        # one backward pass for both: the two losses reach disjoint parameters (the baseline is detached);
        # without an entropy bonus its term would only add zeros to the gradients
        loss = actor_loss - self.entropy_coef * entropy + critic_loss if self.entropy_coef else actor_loss + critic_loss
        loss.backward()
        gn_actor = clip_norm(self._actor_params, self.max_grad_norm)
        gn_critic = clip_norm(self._critic_params, self.max_grad_norm)
        self.pi_opt.step()
        self.vf_opt.step()
        values = torch.stack([actor_loss, critic_loss, entropy, gn_actor, gn_critic]).tolist()
        return dict(zip(("train/actor_loss", "train/critic_loss", "train/entropy", "train/grad_norm/actor",
                         "train/grad_norm/critic"), values, strict=True))

    def resume_envs(self, resumed: Resumed) -> None:
        """The episodes in progress carry on, with what they gathered so far (several envs; one env
        plays whole episodes, and a checkpoint never falls inside one)."""
        self.obs = resumed.obs
        self.trajectories = [(list(o), list(a), list(r)) for o, a, r in resumed.trajectories]

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "pi_opt": self.pi_opt.state_dict(),
                "vf_opt": self.vf_opt.state_dict(), "noise": self.noise.state_dict()}

    def state_layout(self) -> dict:
        return {"model": {k: tensor_layout(v) for k, v in self.model.state_dict().items()},
                "pi_opt": adam_layout(self.pi_opt), "vf_opt": adam_layout(self.vf_opt), "noise": self.noise.state_layout()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.pi_opt.load_state_dict(state["pi_opt"])
        self.vf_opt.load_state_dict(state["vf_opt"])
        self.noise.load_state_dict(state["noise"])

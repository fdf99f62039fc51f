"""PPO for several runs of one config at once (run/batch.py, `seeds=[...]`): `ManyPPO` collects an
epoch for all of them in shared envs, then `learn_stacked` updates them together, each layer's
weights stacked over the runs into one [N, out, in] tensor, so one batched matmul per layer (forward
and back, core/grads.py) and one Adam step per minibatch serve every run, where the runs' own updates
would pay PyTorch's per-operation overhead N times (at LunarLander's sizes that overhead is most of
an update).

Each run still learns as it would alone, to float tolerance: from its own samples, in its own
minibatch order (drawn by its own `prepare`), with its own gradient clipping: run k's slice of each
stacked gradient is its own loss's gradient (the runs share no parameter), and Adam is elementwise.
Afterwards each run's weights and optimizer states are written back, so checkpoints, evaluation and
the next epoch see ordinary runs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from lander_exp.core import grads
from lander_exp.core.many_reinforce import columns
from lander_exp.core.optim import Adam
from lander_exp.core.ppo import PPO, Prepared, Rollout, actor_metrics, critic_metrics, total_loss
from lander_exp.envs.vec import VecEnv


class ManyPPO:
    """PPO's epochs for several runs of one config at once (run/batch.py): every run collects its
    epoch in the shared envs (`PPO.collect_many`), then all learn from their own rollouts in one
    stacked update (`learn_stacked` below), or each in turn where that cannot stand for theirs.
    `envs(runs)` is as for core.many_reinforce.ManyReinforce."""

    def __init__(self, algos: list[PPO], envs: Callable[[list[int]], tuple[VecEnv, bool]]):
        self.algos, self.envs = algos, envs
        self.stopped: set[int] = set()
        self.idle: list[int] = []  # runs that finished an epoch since the envs last stepped

    def stop(self, k: int) -> None:
        self.stopped.add(k)

    def epochs(self) -> Iterator[tuple[int, Rollout, float, tuple[dict[str, float], float] | None]]:
        """(run, its rollout, its share of the rollout's seconds, and what it learned from it with
        the seconds that took, or None where the run is to `learn` it itself)."""
        active, env, first = list(range(len(self.algos))), None, True
        # where a resume rebuilt every run's episodes in progress (Gymnasium), they carry on from there
        obs = np.concatenate([a.obs for a in self.algos]) if all(a.obs is not None for a in self.algos) else None
        while active:
            if env is None:
                env, carried = self.envs(active)
                obs = obs if carried or (first and env.pool is None) else None
                first = False
            start = time.perf_counter()
            algos = [self.algos[k] for k in active]
            rollouts, obs = PPO.collect_many(algos, env, obs)
            share = (time.perf_counter() - start) / len(active)
            learned: list = [None] * len(active)
            if stackable(algos, rollouts):
                start = time.perf_counter()
                rows = learn_stacked(algos, rollouts)
                took = (time.perf_counter() - start) / len(active)
                learned = [(row, took) for row in rows]
            self.idle = []
            for k, rollout, done in zip(active, rollouts, learned, strict=True):
                yield k, rollout, share, done
                if k not in self.stopped:
                    self.idle.append(k)
            left = [k for k in active if k not in self.stopped]
            if left != active:
                if left:
                    obs = obs[columns(active, left, env.num_envs // len(active))]
                active, env = left, None


def stackable(algos: list[PPO], rollouts: list[Rollout]) -> bool:
    """Whether one stacked update can stand for the runs' own: the same number of minibatches per
    pass (else a run would take an Adam step the others do not) and the same Adam step count so far."""
    c = algos[0].cfg
    if len(algos) < 2:
        return False
    minibatches = {math.ceil(int(ro.live.sum()) / c.batch_size) for ro in rollouts}
    steps = {tuple(_step_count(opt) for opt in (a.pi_opt, a.vf_opt)) for a in algos}
    return len(minibatches) == 1 and len(steps) == 1


def learn_stacked(algos: list[PPO], rollouts: list[Rollout]) -> list[dict[str, float]]:
    """Each run's `learn(rollout)`, done as one stacked update; returns each run's train/* row.

    With algo.overlap_critic the critic learns here in line too (the same weights as on its thread,
    PPO.learn), and each row carries what a run alone logs: the critic's metrics of the epoch before."""
    c = algos[0].cfg
    waited = [a.critic_job.wait() for a in algos]  # a previous epoch's own critic update, if any
    for a, (finished, _) in zip(algos, waited, strict=True):
        a.critic_metrics.update(finished)
    prepared = [a.prepare(ro) for a, ro in zip(algos, rollouts, strict=True)]
    actor, critic = StackedLinears([a.model.actor for a in algos]), StackedLinears([a.model.critic for a in algos])
    log_std = nn.Parameter(torch.stack([a.model.log_std.detach() for a in algos]))
    pi_opt = _stacked_adam([a.pi_opt for a in algos], [*actor.params, log_std])
    vf_opt = _stacked_adam([a.vf_opt for a in algos], critic.params)
    clip, ent_coef, vf_coef, max_norm = (float(c.eps_clip), float(c.entropy_coef), float(c.vf_coef),
                                         float(c.max_grad_norm))
    pi_params = pi_opt.param_groups[0]["params"]
    actor_stats, critic_stats = [], []
    with torch.no_grad():  # the gradients are written out (core/grads.py), as a run alone takes them
        for ob, ra, old, adv, ret, weight in _minibatches(prepared, c.batch_size):
            scale = 1.0 / ob.shape[1] if weight is None else weight
            stats = grads.actor_grads(actor.layers, log_std, ob, ra, old, adv, scale, clip, ent_coef)
            grad_norm = _clip_per_run(pi_params, max_norm)
            pi_opt.step()
            actor_stats.append(torch.cat([stats, grad_norm.unsqueeze(1)], 1))
            critic_loss = grads.critic_grads(critic.layers, ob, ret, scale, vf_coef)
            grad_norm = _clip_per_run(critic.params, max_norm)
            vf_opt.step()
            critic_stats.append(torch.stack([critic_loss, grad_norm], 1))

    actor.write_back([a.model.actor for a in algos])
    critic.write_back([a.model.critic for a in algos])
    with torch.no_grad():
        for k, a in enumerate(algos):
            a.model.log_std.copy_(log_std[k])
    _write_back_adam(pi_opt, [a.pi_opt for a in algos])
    _write_back_adam(vf_opt, [a.vf_opt for a in algos])

    actor_means, critic_means = torch.stack(actor_stats).mean(0), torch.stack(critic_stats).mean(0)
    rows = []
    for k, (a, p) in enumerate(zip(algos, prepared, strict=True)):
        out = actor_metrics(actor_means[k].tolist(), a.pi_opt.param_groups[0]["lr"], log_std[k].detach().cpu().tolist())
        critic = critic_metrics(critic_means[k].tolist(), a.vf_opt.param_groups[0]["lr"])
        if c.overlap_critic:  # a run alone logs its critic's metrics one epoch late
            out.update(a.critic_metrics)
            a.critic_metrics = critic
        else:
            out.update(critic)
            out["train/loss"] = total_loss(out, c)
        out.update({"perf/critic_wait_s": waited[k][1], "train/explained_variance": p.explained_variance})
        rows.append(out)
    return rows


class StackedLinears:
    """The Linear/ReLU stacks (`core.nets.mlp`) of several runs as one: weights [N, out, in], biases
    [N, out], as leaf tensors an optimizer can own."""

    def __init__(self, seqs: list[nn.Sequential]):
        layers = [grads.linears(s) for s in seqs]
        self.weights = [nn.Parameter(torch.stack([run[i][0].detach() for run in layers])) for i in range(len(layers[0]))]
        self.biases = [nn.Parameter(torch.stack([run[i][1].detach() for run in layers])) for i in range(len(layers[0]))]

    @property
    def layers(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """(weight, bias) per layer, as core/grads.py takes them."""
        return list(zip(self.weights, self.biases, strict=True))

    @property
    def params(self) -> list[nn.Parameter]:
        """In each run's own `parameters()` order (weight, bias per layer), as its optimizer holds them."""
        return [p for wb in zip(self.weights, self.biases, strict=True) for p in wb]

    def write_back(self, seqs: list[nn.Sequential]) -> None:
        with torch.no_grad():
            for k, s in enumerate(seqs):
                for p, stacked in zip(s.parameters(), self.params, strict=True):
                    p.copy_(stacked[k])


def _minibatches(prepared: list[Prepared], size: int):
    """Each pass's minibatches of every run at once, [N, B, ...]: run k's are its own samples in its
    own order. Where the runs' sample counts differ, the last minibatch of a pass is padded, and
    `weight` (1/its size on real samples, 0 on padding) turns its means into each run's own."""
    counts = [len(p.adv) for p in prepared]
    longest, equal = max(counts), len(set(counts)) == 1
    for j in range(len(prepared[0].perms)):
        per_run = [[x.index_select(0, p.perms[j]) for x in (p.obs, p.raw, p.old_logp, p.adv, p.ret)] for p in prepared]
        shuffled = [_padded(list(field), longest) for field in zip(*per_run, strict=True)]
        for start in range(0, longest, size):
            sizes = [min(size, n - start) for n in counts]
            if equal or len(set(sizes)) == 1:
                yield (*(x[:, start:start + size] for x in shuffled), None)
                continue
            width = max(sizes)
            weight = torch.zeros(len(counts), width, device=shuffled[0].device)
            for k, m in enumerate(sizes):
                weight[k, :m] = 1.0 / m
            yield (*(x[:, start:start + width] for x in shuffled), weight)


def _padded(tensors: list[torch.Tensor], length: int) -> torch.Tensor:
    """Stack along a new first axis, each padded to `length` rows with copies of its first rows:
    padding that weighs nothing yet stays as finite as the real samples (0 * inf would not)."""
    out = tensors[0].new_empty((len(tensors), length, *tensors[0].shape[1:]))
    for k, t in enumerate(tensors):
        out[k, :len(t)] = t
        out[k, len(t):] = t[torch.arange(length - len(t), device=t.device) % len(t)]
    return out


def _clip_per_run(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ for each run's slice of the stacked gradients; returns the [N]
    norms before clipping."""
    norms = torch.stack([p.grad.flatten(1).norm(dim=1) for p in params]).norm(dim=0)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for p in params:
        p.grad.mul_(coef.view(-1, *[1] * (p.dim() - 1)))
    return norms


def _step_count(opt: torch.optim.Optimizer) -> float:
    state = opt.state.get(opt.param_groups[0]["params"][0])
    return float(state["step"]) if state else 0.0


def _stacked_adam(opts: list[Adam], params: list[nn.Parameter]) -> Adam:
    """One Adam over the stacked parameters, with the runs' hyperparameters and moments."""
    group = {k: v for k, v in opts[0].param_groups[0].items() if k != "params"}
    stacked = Adam(params, **group)
    for i, p in enumerate(params):
        states = [o.state.get(o.param_groups[0]["params"][i]) for o in opts]
        if states[0]:
            stacked.state[p] = {"step": states[0]["step"].clone(),
                                **{key: torch.stack([s[key] for s in states]) for key in ("exp_avg", "exp_avg_sq")}}
    return stacked


def _write_back_adam(stacked: Adam, opts: list[Adam]) -> None:
    for i, p in enumerate(stacked.param_groups[0]["params"]):
        s = stacked.state[p]
        for k, o in enumerate(opts):
            o.state[o.param_groups[0]["params"][i]] = {"step": s["step"].clone(), "exp_avg": s["exp_avg"][k].clone(),
                                                       "exp_avg_sq": s["exp_avg_sq"][k].clone()}

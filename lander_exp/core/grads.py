"""PPO's minibatch gradients written out: each network's forward keeps its layers' outputs, and the
chain rule runs back through them layer by layer, writing each parameter's `.grad`.

Why not autograd: the networks are small, and autograd records a graph node for every op of every
minibatch. For `experiment=fast` (two 2-layer MLPs of width 64, minibatches of 1024) that
bookkeeping cost more than the arithmetic (docs/speed.md). The gradients are autograd's to float
rounding (tests/test_grads.py checks them against it, ties of PPO's min and clip included).

The policy's Gaussian is written here once: `log_prob` (the rollout's old log-probabilities,
core/ppo.py) and the actor's gradients use the same expression, and `entropy` is its closed form.

The gradient functions take one run's tensors ([B, ...]) or several runs' stacked on a first dimension
([N, B, ...], core/many_ppo.py), with `scale` the weight of each sample in its run's mean: 1/B, or a
[N, B] tensor that is 0 on padding."""

from __future__ import annotations

import math

import torch
from torch import nn

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def linears(seq: nn.Sequential) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of each Linear of `core.nets.mlp`'s Linear/ReLU stack; refuses anything else,
    whose gradient the functions below do not know."""
    layers = list(seq)
    expected = [nn.Linear, nn.ReLU] * (len(layers) // 2) + [nn.Linear]
    if [type(m) for m in layers] != expected:
        raise TypeError(f"hand-written gradients need Linear/ReLU blocks then a Linear, not {seq}")
    return [(m.weight, m.bias) for m in layers[::2]]


def log_prob(mean: torch.Tensor, log_std: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """The log-density of the pre-tanh actions `raw` under N(mean, exp(log_std)), summed over the
    action's dimensions (`ActorCritic`'s policy; its tanh term cancels in PPO's ratio)."""
    return _log_density(raw - mean, log_std)[0]


def entropy(log_std: torch.Tensor) -> torch.Tensor:
    """The pre-tanh Gaussian's entropy, the same in every state (the std is state-independent)."""
    return (0.5 + _LOG_SQRT_2PI + log_std).sum(-1)


def _log_density(diff: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log-density, 1/variance, squared z-scores) of `diff` = raw - mean; `log_std` is [A], or [N, A]
    for runs stacked on a first dimension."""
    std_log = log_std if diff.dim() == 2 else log_std.unsqueeze(1)  # [A] or [N, 1, A]
    inv_var = torch.exp(-2 * std_log)
    z2 = diff * diff * inv_var
    return (-0.5 * z2 - std_log - _LOG_SQRT_2PI).sum(-1), inv_var, z2


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if x.dim() == 2:
        return torch.addmm(b, x, w.t())
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


def forward(layers: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The MLP's output, and each layer's input (the ones after the first are ReLU outputs)."""
    inputs = [x]
    for w, b in layers[:-1]:
        x = _linear(x, w, b).relu_()
        inputs.append(x)
    return _linear(x, *layers[-1]), inputs


def backward(layers: list[tuple[torch.Tensor, torch.Tensor]], inputs: list[torch.Tensor], grad: torch.Tensor) -> None:
    """Sets each weight's and bias's `.grad` from `grad`, the loss's gradient at the MLP's output."""
    for i in range(len(layers) - 1, -1, -1):
        w, b = layers[i]
        x = inputs[i]
        w.grad = grad.transpose(-1, -2).matmul(x)
        b.grad = grad.sum(-2)
        if i:  # the first layer's input (the observations) needs no gradient
            grad = torch.ops.aten.threshold_backward(grad.matmul(w), x, 0)  # ReLU's, as autograd computes it


def actor_grads(layers, log_std: torch.Tensor, obs: torch.Tensor, raw: torch.Tensor, old_logp: torch.Tensor,
                adv: torch.Tensor, scale: float | torch.Tensor, clip: float, ent_coef: float) -> torch.Tensor:
    """The gradients of PPO's actor loss, -mean(min(r A, clip(r, 1-eps, 1+eps) A)) - ent_coef * entropy
    with r = exp(logp - old_logp), logp the log-density of the pre-tanh action `raw` under the policy's
    Gaussian N(actor(obs), exp(log_std)) (`log_prob`; the tanh term cancels in r). Returns [..., 4] without gradient: the clipped
    surrogate loss, the entropy, and two diagnostics, approx_kl = mean((r - 1) - log r) >= 0
    (Schulman's k3 estimator) and clip_frac, the fraction of samples with |r - 1| > eps."""
    mean, inputs = forward(layers, obs)
    diff = raw - mean
    logp, inv_var, z2 = _log_density(diff, log_std)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    unclipped, clipped = ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv
    # min's gradient flows to the unclipped term where it is the smaller (where they tie, r is within
    # the clip range or A is 0, and the two terms' gradients add up to the unclipped one's)
    dlogp = torch.where(unclipped <= clipped, adv, 0.0).mul_(ratio).mul_(scale).neg_()
    backward(layers, inputs, diff.mul_(inv_var).mul_(dlogp.unsqueeze(-1)))
    log_std.grad = (dlogp.unsqueeze(-1) * (z2 - 1)).sum(-2) - ent_coef
    weighted = (lambda x: (x * scale).sum(-1))  # noqa: E731
    loss = -weighted(torch.minimum(unclipped, clipped))
    approx_kl = weighted((ratio - 1) - log_ratio)
    clip_frac = weighted(((ratio - 1).abs() > clip).float())
    return torch.stack([loss, entropy(log_std), approx_kl, clip_frac], -1)


def critic_grads(layers, obs: torch.Tensor, target: torch.Tensor, scale: float | torch.Tensor,
                 vf_coef: float) -> torch.Tensor:
    """The gradients of vf_coef * mean((value - target)^2); returns the mean squared error."""
    value, inputs = forward(layers, obs)
    err = value.squeeze(-1) - target
    backward(layers, inputs, (err * (2 * vf_coef) * scale).unsqueeze(-1))
    return (err * err * scale).sum(-1)

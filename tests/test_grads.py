"""The hand-written gradients of core/grads.py against autograd's of the same losses written the
plain way (torch.distributions, torch.min, torch.clamp, F.mse_loss), for one run and for runs
stacked with padding; the loss values against numbers worked out by hand."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lander_exp.core import grads
from lander_exp.core.nets import ActorCritic


def _reference_actor_loss(model, obs, raw, old, adv, clip, ent_coef):
    logp = torch.distributions.Normal(model.actor(obs), model.log_std.exp()).log_prob(raw).sum(-1)
    ratio = (logp - old).exp()
    surrogate = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + model.log_std).sum()
    return surrogate - ent_coef * entropy, surrogate, entropy


def _samples(model, n, seed, spread=0.5):
    g = torch.Generator().manual_seed(seed)
    obs, raw = torch.randn(n, 8, generator=g), torch.randn(n, 2, generator=g)
    with torch.no_grad():
        logp = torch.distributions.Normal(model.actor(obs), model.log_std.exp()).log_prob(raw).sum(-1)
    # old log-probs around the current ones: ratios inside and outside the clip range of 0.2
    old = logp + spread * torch.randn(n, generator=g)
    adv = torch.randn(n, generator=g)
    adv[:4] = 0.0  # ties of min's two terms
    old[4:8] = logp[4:8]  # ratios of exactly 1
    return obs, raw, old, adv, torch.randn(n, generator=g)


def _grads(params):
    return [p.grad.clone() for p in params]


@pytest.mark.parametrize("layers", [1, 2, 8])
def test_actor_and_critic_gradients_are_autograds(layers):
    torch.manual_seed(layers)
    model = ActorCritic(8, 2, 16, layers, layers, init_log_std=-0.3)
    obs, raw, old, adv, target = _samples(model, 64, seed=layers)
    clip, ent_coef, vf_coef = 0.2, 0.01, 0.5
    actor_params = [*model.actor.parameters(), model.log_std]

    loss, surrogate, entropy = _reference_actor_loss(model, obs, raw, old, adv, clip, ent_coef)
    loss.backward()
    expected = _grads(actor_params)
    (vf_coef * F.mse_loss(model.value(obs), target)).backward()
    expected_critic = _grads(model.critic.parameters())
    for p in model.parameters():
        p.grad = None

    with torch.no_grad():
        stats = grads.actor_grads(grads.linears(model.actor), model.log_std, obs, raw, old, adv, 1 / 64, clip, ent_coef)
        mse = grads.critic_grads(grads.linears(model.critic), obs, target, 1 / 64, vf_coef)
    for got, want in zip(_grads(actor_params), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    for got, want in zip(_grads(model.critic.parameters()), expected_critic, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert stats[0].item() == pytest.approx(surrogate.item(), rel=1e-5)
    assert stats[1].item() == pytest.approx(entropy.item(), rel=1e-6)
    assert mse.item() == pytest.approx(F.mse_loss(model.value(obs), target).item(), rel=1e-5)
    assert 0 < stats[3].item() < 1  # some samples clipped, some not: both branches were exercised


def test_stacked_runs_with_padding_get_each_runs_own_gradients():
    """Three runs stacked on a first dimension, the last with 40 real samples of 64 (weight 0 on the
    rest, as core/many_ppo.py pads): each run's slice of every gradient is the one it gets alone."""
    models = [ActorCritic(8, 2, 16, 2, 2, init_log_std=-0.5 + 0.1 * k) for k in range(3)]
    samples = [_samples(m, 64, seed=k) for k, m in enumerate(models)]
    sizes = [64, 64, 40]
    alone = []
    for m, (obs, raw, old, adv, target), n in zip(models, samples, sizes, strict=True):
        with torch.no_grad():
            stats = grads.actor_grads(grads.linears(m.actor), m.log_std, obs[:n], raw[:n], old[:n], adv[:n], 1 / n, 0.2, 0.01)
            mse = grads.critic_grads(grads.linears(m.critic), obs[:n], target[:n], 1 / n, 0.5)
        alone.append(([p.grad.clone() for net in (m.actor, m.critic) for layer in grads.linears(net) for p in layer]
                      + [m.log_std.grad.clone()], stats, mse))

    def stacked(tensors):
        return nn.Parameter(torch.stack([t.detach() for t in tensors]))

    actor = [(stacked([grads.linears(m.actor)[i][0] for m in models]), stacked([grads.linears(m.actor)[i][1] for m in models]))
             for i in range(2 + 1)]
    critic = [(stacked([grads.linears(m.critic)[i][0] for m in models]), stacked([grads.linears(m.critic)[i][1] for m in models]))
              for i in range(2 + 1)]
    log_std = stacked([m.log_std for m in models])
    obs, raw, old, adv, target = (torch.stack(list(x)) for x in zip(*samples, strict=True))
    weight = torch.zeros(3, 64)
    for k, n in enumerate(sizes):
        weight[k, :n] = 1 / n
    with torch.no_grad():
        stats = grads.actor_grads(actor, log_std, obs, raw, old, adv, weight, 0.2, 0.01)
        mse = grads.critic_grads(critic, obs, target, weight, 0.5)
    for k, (own, own_stats, own_mse) in enumerate(alone):
        got = [p.grad[k] for layer in actor + critic for p in layer] + [log_std.grad[k]]
        for a, b in zip(got, own, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(stats[k], own_stats, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(mse[k], own_mse, rtol=1e-5, atol=1e-7)


def _fixed_ratios(ratios, adv, clip=0.2):
    """An actor whose mean is 0 whatever the state, and old log-probs that make r = `ratios` for
    actions at that mean; returns (stats, d loss / d logp per sample)."""
    actor = nn.Sequential(nn.Linear(8, 2))
    nn.init.zeros_(actor[0].weight)
    nn.init.zeros_(actor[0].bias)
    log_std = nn.Parameter(torch.zeros(2))
    raw = torch.zeros(len(ratios), 2)
    logp = -2 * 0.5 * math.log(2 * math.pi)  # the log-density of two standard normals at their mean
    old = logp - torch.tensor(ratios).log()
    per_sample = []
    for i in range(len(ratios)):  # one sample at a time: log_std's gradient is then -d loss / d logp
        with torch.no_grad():
            grads.actor_grads(grads.linears(actor), log_std, torch.zeros(1, 8), raw[i:i + 1], old[i:i + 1],
                              torch.tensor(adv[i:i + 1]), 1.0, clip, 0.0)
        per_sample.append(-log_std.grad[0].item())
    with torch.no_grad():
        stats = grads.actor_grads(grads.linears(actor), log_std, torch.zeros(len(ratios), 8), raw, old,
                                  torch.tensor(adv), 1 / len(ratios), clip, 0.0)
    return stats, per_sample


def test_the_surrogate_and_its_diagnostics_match_hand_computed_values():
    ratios = [0.5, 1.0, 1.5, 0.7]
    stats, _ = _fixed_ratios(ratios, [1.0, -1.0, 2.0, -3.0])
    # min(r A, clip(r) A): 0.5 (0.5 vs 0.8), -1, 2.4 (3 vs 2.4), -2.4 (-2.1 vs -2.4)
    assert stats[0].item() == pytest.approx(-(0.5 - 1.0 + 2.4 - 2.4) / 4)
    assert stats[3].item() == pytest.approx(3 / 4)  # |r - 1| > 0.2 for 0.5, 1.5 and 0.7
    expected_kl = np.mean([(r - 1) - math.log(r) for r in ratios])
    assert stats[2].item() == pytest.approx(expected_kl) and stats[2].item() >= 0
    assert stats[1].item() == pytest.approx(2 * (0.5 + 0.5 * math.log(2 * math.pi)))


def test_no_gradient_where_the_clip_binds():
    _, per_sample = _fixed_ratios([1.5, 1.5, 0.5, 0.5, 1.1], [1.0, -1.0, 1.0, -1.0, 1.0])
    # d loss / d logp = -A r where the unclipped term is the smaller, else 0: r=1.5, A>0 and
    # r=0.5, A<0 are clipped (no push further); r=1.5, A<0 and r=0.5, A>0 are not; r=1.1 is inside
    assert per_sample[0] == 0 and per_sample[3] == 0
    assert per_sample[1] == pytest.approx(1.5) and per_sample[2] == pytest.approx(-0.5)
    assert per_sample[4] == pytest.approx(-1.1)


def test_a_network_of_other_layers_is_refused():
    with pytest.raises(TypeError, match="Linear/ReLU"):
        grads.linears(nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2)))

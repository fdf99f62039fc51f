
import numpy as np
import pytest
import torch

from lander_exp.core import grads
from lander_exp.core.nets import ActorCritic, NumpyMLP, mlp


@pytest.mark.parametrize("scale", [0.5, 2.0, 4.0])  # 4: tanh saturates in most dimensions
def test_ppo_ratio_of_gaussian_log_probs_equals_the_ratio_of_squashed_densities(scale):
    """PPO's ratio uses the Gaussian's log-prob of the stored pre-tanh action u: the tanh log-det of
    the squashed density ("How to Land on the Moon"'s correction, exact or with its +1e-6) depends on u alone and
    cancels. Checked against torch's own TanhTransform density, in float64."""
    torch.manual_seed(0)
    u = (torch.randn(256, 2, dtype=torch.float64) * scale).clamp(-6, 6)
    old = torch.distributions.Normal(torch.randn(256, 2, dtype=torch.float64), torch.tensor([0.6, 1.3], dtype=torch.float64))
    new = torch.distributions.Normal(old.loc + 0.1 * torch.randn(256, 2, dtype=torch.float64), old.scale * 1.1)
    squash = lambda d: torch.distributions.TransformedDistribution(d, [torch.distributions.TanhTransform()])
    y = torch.tanh(u)
    exact = (squash(new).log_prob(y) - squash(old).log_prob(y)).sum(-1)
    seed = lambda d: (d.log_prob(u) - torch.log(1 - torch.tanh(u) ** 2 + 1e-6)).sum(-1)
    gaussian = (new.log_prob(u) - old.log_prob(u)).sum(-1)
    ok = y.abs().max(-1).values < 1 - 1e-9  # where float64 can still invert tanh
    torch.testing.assert_close(gaussian[ok], exact[ok], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(gaussian, seed(new) - seed(old), atol=1e-9, rtol=1e-9)


def test_seed_depths_and_learnable_log_std():
    model = ActorCritic(8, 2, 64, 8, 4, init_log_std=0.0)
    linears = lambda seq: [m for m in seq if isinstance(m, torch.nn.Linear)]
    assert len(linears(model.actor)) == 9 and len(linears(model.critic)) == 5
    assert model.log_std.requires_grad and torch.equal(model.log_std.data, torch.zeros(2))
    assert any(p is model.log_std for p in model.actor_params())


def test_numpy_actor_matches_torch():
    torch.manual_seed(0)
    net = mlp(8, 32, 3, 2)
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(NumpyMLP(net)(x), net(torch.as_tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_the_policys_log_density_and_entropy_are_the_gaussians():
    """PPO computes the pre-tanh Gaussian's log-density and entropy itself (core/grads.py): they are
    torch.distributions.Normal's, for one run and for runs stacked on a first dimension."""
    torch.manual_seed(0)
    log_std = torch.tensor([[-0.3, 0.4], [0.2, -1.0]])
    mean, raw = torch.randn(2, 32, 2), torch.randn(2, 32, 2)
    normal = torch.distributions.Normal(mean, log_std.exp()[:, None, :])
    torch.testing.assert_close(grads.log_prob(mean, log_std, raw), normal.log_prob(raw).sum(-1))
    torch.testing.assert_close(grads.log_prob(mean[0], log_std[0], raw[0]), normal.log_prob(raw).sum(-1)[0])
    torch.testing.assert_close(grads.entropy(log_std), normal.entropy().sum(-1).mean(-1))
    torch.testing.assert_close(grads.entropy(log_std[1]), normal.entropy().sum(-1).mean(-1)[1])


@pytest.mark.parametrize("layers", [1, 2, 4])
def test_the_one_row_gumbel_argmax_acts_exactly_as_the_numpy_actor(layers):
    """REINFORCE's play_episode acts through preallocated buffers; its actions are those of the
    plain forward plus noise, bit for bit (a near-tie decided otherwise would change an episode)."""
    torch.manual_seed(layers)
    net = mlp(8, 64, layers, 4)
    rng = np.random.default_rng(layers)
    obs = (rng.standard_normal((3000, 8)) * 3).astype(np.float32)
    noise = -np.log(-np.log(rng.random((3000, 4))))
    actor = NumpyMLP(net)
    act = actor.gumbel_argmax(noise)
    expected = [int((actor(obs[t]) + noise[t]).argmax()) for t in range(len(obs))]
    assert [act(t, obs[t]) for t in range(len(obs))] == expected
    # near-ties: noise that makes two logits equal up to the last bits still picks the same action
    logits = np.stack([actor(o) for o in obs[:500]]).astype(np.float64)
    tied = -logits + logits.max(1, keepdims=True) + rng.standard_normal((500, 4)) * 1e-6
    act = actor.gumbel_argmax(tied)
    assert [act(t, obs[t]) for t in range(500)] == [int((actor(obs[t]) + tied[t]).argmax()) for t in range(500)]

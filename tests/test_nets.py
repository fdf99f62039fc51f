import math

import numpy as np
import pytest
import torch

from lander_exp.config import TanhLogDet
from lander_exp.core.nets import ActorCritic, NumpyMLP, mlp, tanh_log_det


def normal_pdf(x, mu, sigma):
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


@pytest.mark.parametrize("y", [-0.999, -0.9, -0.3, 0.0, 0.25, 0.8, 0.995])
@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (0.7, 0.4), (-1.5, 2.0)])
def test_log_prob_is_the_density_of_tanh_x_by_change_of_variables(y, mu, sigma):
    """p_Y(y) = p_X(atanh y) / (1 - y^2) for Y = tanh(X), X ~ N(mu, sigma): one action dimension."""
    model = ActorCritic(1, 1, 4, 1, 1, init_log_std=math.log(sigma))
    dist = torch.distributions.Normal(torch.tensor([[mu]]), torch.tensor([sigma]))
    u = torch.tensor([[math.atanh(y)]], dtype=torch.float64).float()
    expected = normal_pdf(math.atanh(y), mu, sigma) / (1 - y**2)
    got = model.log_prob(dist, u).exp().item()
    assert got == pytest.approx(expected, rel=1e-4)


def test_squashed_density_integrates_to_one():
    model = ActorCritic(1, 1, 4, 1, 1, init_log_std=0.0)
    dist = torch.distributions.Normal(torch.tensor([0.3]), torch.tensor([1.2]))
    y = torch.linspace(-1 + 1e-6, 1 - 1e-6, 200_001, dtype=torch.float64)
    dens = model.log_prob(dist, torch.atanh(y).unsqueeze(-1).float()).double().exp()
    assert torch.trapezoid(dens, y).item() == pytest.approx(1.0, abs=2e-3)


def test_two_dimensional_log_prob_sums_the_dimensions():
    u = torch.tensor([[0.4, -2.0]])
    dist = torch.distributions.Normal(torch.tensor([[0.1, -0.5]]), torch.tensor([0.8, 1.3]))
    model = ActorCritic(1, 2, 4, 1, 1, 0.0)
    per_dim = [math.log(normal_pdf(u[0, i].item(), dist.mean[0, i].item(), dist.stddev[0, i].item())
                        / (1 - math.tanh(u[0, i].item()) ** 2)) for i in range(2)]
    assert model.log_prob(dist, u).item() == pytest.approx(sum(per_dim), rel=1e-5)


def test_seed_eps_logdet_departs_from_exact_only_near_saturation():
    small = torch.tensor([[0.5, -1.0]])
    big = torch.tensor([[10.0, -12.0]])
    assert tanh_log_det(small, TanhLogDet.seed_eps).item() == pytest.approx(tanh_log_det(small).item(), abs=1e-4)
    # the seed's +1e-6 caps each dimension's log-det at log(1e-6): far off once tanh saturates
    assert tanh_log_det(big).item() < tanh_log_det(big, TanhLogDet.seed_eps).item() - 5


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


def test_cached_log_det_and_closed_form_entropy_equal_the_direct_ones():
    """PPO's update computes the tanh log-det once per epoch and the entropy from log_std alone."""
    torch.manual_seed(0)
    model = ActorCritic(8, 2, 16, 2, 2, init_log_std=-0.3)
    with torch.no_grad():
        model.log_std.copy_(torch.tensor([-0.3, 0.4]))
    obs, raw = torch.randn(32, 8), torch.randn(32, 2) * 2
    dist = model.dist(obs)
    torch.testing.assert_close(model.entropy(), dist.entropy().sum(-1).mean())
    torch.testing.assert_close(model.log_prob(dist, raw, tanh_log_det(raw)), model.log_prob(dist, raw))
    torch.testing.assert_close(model.log_prob(dist, raw),
                               dist.log_prob(raw).sum(-1) - torch.log(1 - torch.tanh(raw) ** 2).sum(-1), atol=1e-4,
                               rtol=1e-4)

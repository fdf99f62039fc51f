"""Every random stream of a run comes from one SeedSequence: the streams of one run are not one
stream, and neighbouring seeds (the seeds sweep uses 0-4) share no env seeds and no streams."""

import itertools

import numpy as np
import torch

from lander_exp.core.ppo import PPO
from lander_exp.core.reinforce import Reinforce
from lander_exp.core.seeding import RunSeeds
from lander_exp.envs.vec import VecEnv
from tests.conftest import make_cfg

SEEDS = range(5)


def _streams(seed: int) -> dict[str, np.ndarray]:
    """The first 256 uniforms of each stream a PPO run draws from, as the run builds them."""
    cfg = make_cfg([f"seed={seed}", "env.num_envs=8"])
    seeds = RunSeeds.of(seed)
    env = VecEnv(cfg.env, 8, seed=seeds.envs)
    env.reset()
    ppo = PPO(cfg, 8, 2, torch.device("cpu"))
    out = {f"env{i}": e.np_random.random(256) for i, e in enumerate(env.envs)}
    out["actions"] = ppo.rng.random(256)
    out["minibatches"] = torch.rand(256, generator=ppo.gen, dtype=torch.float64).numpy()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeds.weights)
        out["weights"] = torch.rand(256, dtype=torch.float64).numpy()
    out["gumbel"] = Reinforce(make_cfg(["experiment=reinforce", f"seed={seed}"]), 8, 4, torch.device("cpu")).noise.rng.random(256)
    return out


def _windows(a: np.ndarray) -> set[bytes]:
    return {a[k:k + 4].tobytes() for k in range(len(a) - 4)}


def _related(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal, or one a shifted copy of the other (a shared stream read from different points): any
    run of 4 equal float64 draws."""
    return bool(_windows(a) & _windows(b))


def test_the_streams_of_one_run_are_independent():
    streams = _streams(0)
    # the action noise and env 0's terrain were one PCG64 stream when both were seeded with `seed`
    assert not _related(streams["actions"], streams["env0"])
    for (na, a), (nb, b) in itertools.combinations(streams.items(), 2):
        if na == "gumbel" or nb == "gumbel":  # REINFORCE's noise is drawn in a run without PPO's
            continue
        assert not _related(a, b), (na, nb)
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.3, (na, nb)


def test_neighbouring_seeds_share_no_env_seed_and_no_stream():
    env_seeds = [set(RunSeeds.of(s).envs + i for i in range(8)) for s in SEEDS]
    for a, b in itertools.combinations(env_seeds, 2):
        assert not a & b
    runs = [_streams(s) for s in SEEDS]
    for ra, rb in itertools.combinations(runs, 2):
        for name in ra:
            for other in rb:
                assert not _related(ra[name], rb[other]), (name, other)


def test_initial_weights_come_from_the_runs_own_stream_whatever_the_global_generator():
    cfg = make_cfg(["seed=3"])
    torch.manual_seed(123)
    a = PPO(cfg, 8, 2, torch.device("cpu")).model.state_dict()
    torch.manual_seed(456)
    b = PPO(cfg, 8, 2, torch.device("cpu")).model.state_dict()
    c = PPO(make_cfg(["seed=4"]), 8, 2, torch.device("cpu")).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["actor.0.weight"], c["actor.0.weight"])

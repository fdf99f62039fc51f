import pytest
from omegaconf import OmegaConf

from lander_exp.app import CONF_DIR
from lander_exp.config import ConfigError
from lander_exp.envs import ALGO_ACTIONS, ENV_ACTIONS
from tests.conftest import TINY, make_cfg, run_cli

GROUPS = ["network", "lr", "tracker", "env", "algo"]


def options(group):
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def env_fits(algo, env_option):
    return ENV_ACTIONS[OmegaConf.load(CONF_DIR / "env" / f"{env_option}.yaml").id] == ALGO_ACTIONS[algo]


@pytest.mark.parametrize("algo", options("algo"))
@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_of_every_group_composes_and_validates(algo, group, option):
    overrides = [f"algo={algo}", f"{group}={option}"] if group != "algo" else [f"algo={option}"]
    if group == "env" and not env_fits(algo, option):
        with pytest.raises(ConfigError, match=f"algo={algo} needs"):
            make_cfg(overrides)
        return
    cfg = make_cfg(overrides)
    assert cfg[group] is not None and cfg.algo.name == (option if group == "algo" else algo)


def test_reinforce_picks_its_own_env_network_and_episode_budget():
    cfg = make_cfg(["algo=reinforce"])
    assert (cfg.env.id, cfg.env.num_envs, cfg.env.max_episode_steps) == ("LunarLander-v3", 1, 1000)
    assert (cfg.network.actor_layers, cfg.network.critic_layers, cfg.network.hidden_dim) == (2, 2, 64)
    assert (cfg.train.max_episodes, cfg.train.max_epochs) == (10_000, None)
    assert cfg.algo.normalize_advantages is False
    # the user's choice still wins over the algorithm's preset
    assert make_cfg(["algo=reinforce", "network=seed"]).network.actor_layers == 8


def test_interface_keys_exist():
    cfg = make_cfg()
    for key in ("seed", "env.num_envs", "network.hidden_dim", "network.actor_layers", "network.critic_layers",
                "lr.actor", "lr.critic", "algo.steps_per_epoch", "algo.update_epochs", "algo.batch_size",
                "train.max_epochs", "train.eval_every", "train.target_return", "tracker.mode", "tracker.project",
                "tracker.dir"):
        node = cfg
        for part in key.split("."):
            assert part in node, key
            node = node[part]


def test_seed_network_and_lr_presets_are_the_seeds_values():
    cfg = make_cfg()
    assert (cfg.network.actor_layers, cfg.network.critic_layers) == (8, 4)
    assert (cfg.lr.actor, cfg.lr.critic) == (3e-4, 1e-3)
    assert (cfg.env.num_envs, cfg.algo.steps_per_epoch, cfg.algo.update_epochs, cfg.algo.batch_size) == (8, 100_000, 20, 5000)
    assert (cfg.algo.gae_lambda, cfg.algo.max_grad_norm, cfg.train.eval_every, cfg.train.eval_envs) == (0.95, 0.5, 10, 16)


def test_tracker_mode_follows_wandb_mode_unless_overridden(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert make_cfg().tracker.mode.value == "disabled"
    assert make_cfg(["tracker.mode=offline"]).tracker.mode.value == "offline"
    monkeypatch.delenv("WANDB_MODE")
    assert make_cfg().tracker.mode.value == "offline"


@pytest.mark.parametrize("override", ["lr.actor=-1", "algo.batch_size=999999", "env.id=Pong-v5", "algo.gamma=0"])
def test_validate_rejects(override):
    with pytest.raises(ConfigError):
        make_cfg([override])


BAD = [
    ("foo=1", "unknown key 'foo'"),
    ("network.hiden_dim=32", "unknown key 'network.hiden_dim'"),
    ("network.hidden_dim=abc", "network.hidden_dim=abc"),
    ("network=nope", "network=nope is not an option"),
    ("lr.actor=-3e-4", "lr.actor"),
    ("lr.critic=0", "lr.critic"),
    ("env.num_envs=0", "env.num_envs"),
    ("algo.batch_size=600", "must not exceed algo.steps_per_epoch"),
    ("env.id=CartPole-v1", "env.id='CartPole-v1' is not supported"),
    ("env.id=LunarLander-v3", "needs continuous"),
    ("tracker.mode=live", "tracker.mode"),
    ("algo.gamma=1.5", "algo.gamma"),
    ("seed=-1", "seed"),
]


@pytest.mark.parametrize("override,says", BAD)
def test_bad_override_exits_with_one_line_and_leaves_nothing(workdir, override, says):
    proc = run_cli([*TINY, override], cwd=workdir)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and says in lines[0] and lines[0].startswith("lander_exp: error: "), proc.stderr
    assert list(workdir.iterdir()) == []


def test_bad_point_in_a_multirun_stops_before_any_job(workdir):
    proc = run_cli(["-m", *TINY, "lr.actor=1e-3,-1"], cwd=workdir)
    assert proc.returncode == 2 and "lr.actor=-1.0" in proc.stderr
    assert list(workdir.iterdir()) == []

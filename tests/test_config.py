import re
import subprocess

import pytest
from omegaconf import OmegaConf

from lander_exp.config import ALGO_ACTIONS, ENV_ACTIONS, ConfigError
from lander_exp.run.app import CONF_DIR
from tests.conftest import TINY, make_cfg, run_cli

GROUPS = ["network", "lr", "tracker", "env", "algo"]


def options(group):
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def env_fits(algo, env_option):
    return ENV_ACTIONS[OmegaConf.load(CONF_DIR / "env" / f"{env_option}.yaml").id] == ALGO_ACTIONS[algo]


FITTING_ENV = {"ppo": "continuous", "reinforce": "discrete"}


@pytest.mark.parametrize("algo", options("algo"))
@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_of_every_group_composes_and_validates(algo, group, option):
    overrides = [f"algo={algo}", f"env={FITTING_ENV[algo]}", f"{group}={option}"] if group != "algo" else [
        f"algo={option}", f"env={FITTING_ENV[option]}"]
    if group == "env" and not env_fits(algo, option):
        with pytest.raises(ConfigError, match=f"algo={algo} needs"):
            make_cfg(overrides)
        return
    cfg = make_cfg(overrides)
    assert cfg[group] is not None and cfg.algo.name == (option if group == "algo" else algo)


def test_algo_files_choose_no_other_group_and_experiment_reinforce_is_seed_002s_setup():
    with pytest.raises(ConfigError, match="algo=reinforce needs discrete: choose env=discrete .or experiment=reinforce"):
        make_cfg(["algo=reinforce"])
    assert make_cfg(["algo=reinforce", "env=discrete"]).network == make_cfg([]).network  # the default network
    cfg = make_cfg(["experiment=reinforce"])
    assert (cfg.env.id, cfg.env.num_envs, cfg.env.max_episode_steps) == ("LunarLander-v3", 1, 1000)
    assert (cfg.network.actor_layers, cfg.network.critic_layers, cfg.network.hidden_dim) == (2, 2, 64)
    assert (cfg.train.max_episodes, cfg.train.max_epochs) == (10_000, None)
    assert cfg.algo.normalize_advantages is False
    # the user's choice still wins over the experiment's
    assert make_cfg(["experiment=reinforce", "network=seed"]).network.actor_layers == 8


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


def test_a_screened_evaluation_needs_a_target_to_screen_against():
    with pytest.raises(ConfigError, match="train.eval_screen=10 .* train.target_return, which is null: set one"):
        make_cfg(["experiment=reinforce", "train.eval_screen=10"])


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


# More bad overrides: zero and negative sizes, a batch larger than the epoch, wrong types, unknown
# group options (launchers included), unknown env ids. Run through the real entry point in-process:
# each fails before Hydra makes a folder, so a subprocess per case would only add start-up time.
MORE_BAD = [
    ("algo.steps_per_epoch=0", "algo.steps_per_epoch=0 is invalid: must be a positive integer"),
    ("algo.update_epochs=-1", "algo.update_epochs=-1 is invalid: must be a positive integer"),
    ("algo.batch_size=0", "algo.batch_size=0 is invalid: must be a positive integer"),
    ("network.hidden_dim=0", "network.hidden_dim=0 is invalid: must be a positive integer"),
    ("network.actor_layers=-2", "network.actor_layers=-2 is invalid: must be a positive integer"),
    ("train.max_epochs=0", "train.max_epochs=0 is invalid: must be a positive integer"),
    ("train.eval_every=-5", "train.eval_every=-5 is invalid: must be a positive integer"),
    ("train.keep_checkpoints=0", "train.keep_checkpoints=0 is invalid: must be a positive integer"),
    ("algo.batch_size=513", "algo.batch_size=513 is invalid: must not exceed algo.steps_per_epoch (512)"),
    ("algo.steps_per_epoch=1", "algo.steps_per_epoch=1 is invalid: must be at least env.num_envs (2)"),
    ("env.num_envs=1.5", "env.num_envs=1.5: Value '1.5' of type 'float' could not be converted to Integer"),
    ("train.progress=maybe", "train.progress=maybe: Value 'maybe' is not a valid bool"),
    ("lr.actor=fast", "lr.actor=fast: Value 'fast' of type 'str' could not be converted to Float"),
    ("algo=nope", "algo=nope is not an option of group 'algo': choose one of ppo"),
    ("lr=turbo", "lr=turbo is not an option of group 'lr': choose one of"),
    ("hydra/launcher=nope", "hydra/launcher=nope is not an option of group 'hydra/launcher': choose one of"),
    ("env.id=LunarLander-v9", "env.id='LunarLander-v9' is not supported: use one of"),
    ("algo.gae_lambda=2", "algo.gae_lambda=2.0 is invalid: must be in [0, 1]"),
    ("env.pin_threads=true", "env.pin_threads=true pins EnvPool's threads, and env.backend=gymnasium has none"),
    ("train.eval_screen=1", "train.eval_screen=1 is invalid: must be 0 (off) or a number of episodes from 2 to"),
]


@pytest.mark.parametrize("override,says", MORE_BAD)
def test_more_bad_overrides_exit_2_with_one_line_and_leave_nothing(tmp_path, monkeypatch, capsys, override, says):
    from lander_exp.__main__ import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["lander_exp", *TINY, override])
    with pytest.raises(SystemExit) as ended:
        cli()
    lines = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 2
    assert len(lines) == 1 and lines[0].startswith("lander_exp: error: ") and says in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_fast_experiment_overrides_groups_and_keys_and_yields_to_the_command_line():
    cfg = make_cfg(["experiment=fast"])
    assert (cfg.env.backend, cfg.env.autoreset, cfg.network.actor_layers) == ("envpool", "next_step", 2)
    assert (cfg.train.eval_every, cfg.train.eval_episodes, cfg.train.target_return, cfg.train.target_window) == (1, 50, 220, 1)
    # explicit overrides on the command line still win over the experiment's values
    cfg = make_cfg(["experiment=fast", "env.num_envs=32", "network=seed"])
    assert (cfg.env.num_envs, cfg.network.actor_layers) == (32, 8)


def test_seed_fast_experiment_changes_only_how_the_seed_configuration_runs():
    def flat(cfg, prefix=""):
        out = {}
        for key, value in cfg.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return out

    default = flat(OmegaConf.to_container(make_cfg([]), resolve=True))
    fast = flat(OmegaConf.to_container(make_cfg(["experiment=seed_fast"]), resolve=True))
    changed = {key for key in default.keys() | fast.keys() if default.get(key) != fast.get(key)}
    assert changed == {"env.backend", "env.autoreset", "train.torch_threads", "algo.overlap_critic"}


def test_unknown_experiment_names_the_options(workdir):
    proc = run_cli(["experiment=fsat"], cwd=workdir)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "lander_exp: error: experiment=fsat is not an option of group 'experiment': choose one of fast, reinforce, seed_fast"]
    assert not (workdir / "runs").exists()


# Mistakes that used to pass silently, end in a traceback, or name the wrong fix (issue 15): each is one
# line and exit 2 before Hydra makes anything. `FILE` stands for a file where a folder is expected.
MISTAKES = [
    (["+foo=1"], "unknown key 'foo': no code reads it; check its spelling"),
    (["+network.hiden_dim=32"], "unknown key 'network.hiden_dim': no code reads it; did you mean 'network.hidden_dim'?"),
    (["+algo.foo=1"], "unknown key 'algo.foo': no code reads it"),
    (["netwrk=shallow"], "unknown key 'netwrk': no code reads it; did you mean 'network'?"),
    (["algo.init_log_std=1e9"], "algo.init_log_std=1000000000.0 is invalid: the policy's initial std is "
                                "exp(algo.init_log_std): use a value in [-20, 2]"),
    (["--seed", "3"], "--seed is not an option: settings are given as key=value, e.g. `"),
    (["--seed=3"], "--seed=3 is not an option"),
    (["train.max_epochs=1", "-m", "seed=1,2"], "seed=1,2 comes after the flag -m: put flags before every key=value"),
    (["tracker.dir=FILE"], "tracker.dir=FILE cannot be used: {tmp}/FILE is a file, not a folder"),
    (["tracker.dir=/proc/lander_exp"], "tracker.dir=/proc/lander_exp cannot be used: cannot write in /proc"),
    (["hydra.run.dir=/proc/lander_exp"], "hydra.run.dir=/proc/lander_exp cannot be used: cannot write in /proc"),
    (["-m", "seed=1,2", "hydra.sweep.dir=FILE/sweep"], "hydra.sweep.dir=FILE/sweep cannot be used: {tmp}/FILE is a file"),
    (["tracker.project=a/b"], "tracker.project='a/b' is refused by W&B: Invalid project name 'a/b'"),
    (["tracker.dir="], "tracker.dir='' is invalid: must name the folder runs go to, e.g. tracker.dir=runs"),
    ([f"tracker.tags=[ok,{'t' * 65}]"], "tracker.tags: W&B refuses the tag 'tttttttttttttttttttttttttttttttttttt"
                                        "t...' (65 characters): tags must be between 1 and 64 characters"),
    ([f"tracker.group={'g' * 129}"], "tracker.group='ggggggggggggggggggggggggggggggggggggg...' is refused by W&B: a "
                                     "group or run name has 1 to 128 printable characters (129 given)"),
    (["network.hidden_dim=100000"], "network.hidden_dim=100000 needs about 2.4 TB of memory for the networks and their "
                                    "optimizer state"),
]


@pytest.mark.parametrize("args,says", MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_mistakes_end_in_one_line_naming_the_fix_and_leave_nothing(tmp_path, monkeypatch, capsys, args, says):
    from lander_exp.__main__ import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    flags = [a for a in args if a == "-m"] if args[0] == "-m" else []
    monkeypatch.setattr("sys.argv", ["lander_exp", *flags, *TINY, *(a for a in args if a not in flags)])
    with pytest.raises(SystemExit) as ended:
        cli()
    lines = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 2
    assert len(lines) == 1 and lines[0].startswith("lander_exp: error: ") and says.format(tmp=tmp_path) in lines[0], lines
    assert "+netwrk" not in lines[0] and "Traceback" not in lines[0]
    assert [p.name for p in tmp_path.iterdir()] == ["FILE"]


def test_the_command_an_error_prints_works_as_printed(tmp_path):
    proc = run_cli(["network.hiden_dim=32"], cwd=tmp_path)
    printed = re.search(r"`([^`]+--help)`", proc.stderr).group(1)
    shell = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # a shell whose `python` is not lander_exp's
    helped = subprocess.run(printed, shell=True, cwd=tmp_path, env=shell, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "hidden_dim: 64" in helped.stdout, helped.stderr[-2000:]
    assert re.search(r"(\S+) -m lander_exp network=shallow", helped.stdout).group(1) == printed.split()[0]  # --help's examples


def test_a_run_folder_in_use_is_refused_before_hydra_writes_into_it(tmp_path, monkeypatch, capsys):
    from lander_exp.__main__ import cli
    from lander_exp.run import checkpoint

    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("the running run's config")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["lander_exp", *TINY, f"hydra.run.dir={run_dir}"])
    with checkpoint.owned(run_dir), pytest.raises(SystemExit) as ended:
        cli()
    lines = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 2 and len(lines) == 1 and "is in use by another lander_exp process" in lines[0], lines
    assert (run_dir / ".hydra" / "config.yaml").read_text() == "the running run's config"
    assert sorted(p.name for p in run_dir.rglob("*")) == [".hydra", ".lock", "config.yaml"]


def test_a_run_that_cannot_fit_the_memory_it_may_use_is_refused_before_it_starts(tmp_path):
    """100,000 LunarLanders need about 14 GB (about 110 KB each): under a 6 GB address-space limit
    (`ulimit -v`, as a cluster job may have) the run is refused in one line before any env exists,
    where Box2D used to abort (exit 134) once allocating failed, leaving a dead run folder."""
    import resource
    import sys

    from tests.processes import cli_env

    limit = 6 << 30
    proc = subprocess.run([sys.executable, "-m", "lander_exp", "env.num_envs=100000", "train.progress=false"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("lander_exp: error: env.num_envs=100000 needs about 13.9 GB of memory "
                                                   "for the training envs"), lines
    assert "left under this process's address-space limit (ulimit -v): lower env.num_envs" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_envs_sizes_the_memory_estimate_assumes_are_the_envs_own():
    from lander_exp.config import ENV_SIZES
    from lander_exp.envs.vec import VecEnv

    for env_id, (obs, out) in ENV_SIZES.items():
        cfg = make_cfg(["experiment=reinforce"] if ENV_ACTIONS[env_id] == "discrete" else []).env
        env = VecEnv(cfg, 1, seed=0)
        space = env.single_action_space
        assert (env.obs_dim, space.shape[0] if space.shape else space.n) == (obs, out)

import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from lander_exp.config import ALGO_ACTIONS, ENV_ACTIONS, ConfigError
from lander_exp.run.app import CONF_DIR
from tests.conftest import ROOT, TINY, make_cfg, run_cli

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


def test_algo_files_choose_no_other_group_and_experiment_reinforce_is_the_laws_of_the_land_setup():
    with pytest.raises(ConfigError, match="algo=reinforce needs discrete: choose env=discrete .or experiment=reinforce"):
        make_cfg(["algo=reinforce"])
    assert make_cfg(["algo=reinforce", "env=discrete"]).network == make_cfg([]).network  # the default network
    cfg = make_cfg(["experiment=reinforce"])
    assert (cfg.env.id, cfg.env.num_envs, cfg.env.max_episode_steps) == ("LunarLander-v3", 1, 1000)
    assert (cfg.network.actor_layers, cfg.network.critic_layers, cfg.network.hidden_dim) == (2, 2, 64)
    assert (cfg.train.max_episodes, cfg.train.max_epochs) == (10_000, None)
    assert cfg.algo.normalize_advantages is False
    # the user's choice still wins over the experiment's
    assert make_cfg(["experiment=reinforce", "network=deep"]).network.actor_layers == 8


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


def test_the_check_before_a_run_composes_each_job_once_and_names_its_folders_as_hydra_does(workdir, monkeypatch):
    """A compose costs about 0.08 s of every run's start-up: the check composes each job once, its
    config and Hydra's together, and still finds each job's folder (a multirun's hold the job's number)."""
    from lander_exp.run import preflight

    composed, compose = [], preflight.compose
    monkeypatch.setattr(preflight, "compose", lambda *a, **k: composed.append(k["overrides"]) or compose(*a, **k))
    (workdir / "sweep" / "1_ppo_s2").mkdir(parents=True)
    (workdir / "sweep" / "1_ppo_s2" / "wandb_run.json").write_text("{}")
    with pytest.raises(ConfigError, match="sweep/1_ppo_s2 holds another run"):
        preflight.check(["-m", *TINY, "seed=1,2", f"hydra.sweep.dir={workdir / 'sweep'}"], str(CONF_DIR))
    assert [o[-1] for o in composed] == ["hydra.job.num=0", "hydra.job.num=1"]
    composed.clear()
    assert preflight.check([*TINY, "seed=3"], str(CONF_DIR)) == 1
    assert len(composed) == 1


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
    ("env.num_envs=1.5", "env.num_envs=1.5 is invalid: env.num_envs takes a whole number, e.g. env.num_envs=8"),
    ("train.progress=maybe", "train.progress=maybe is invalid: train.progress takes true or false, e.g. train.progress="),
    ("lr.actor=fast", "lr.actor=fast is invalid: lr.actor takes a number, e.g. lr.actor=0.0003"),
    ("algo.update_epochs=x", "algo.update_epochs=x is invalid: algo.update_epochs takes a whole number, e.g. "
                             "algo.update_epochs=20"),
    ("env.backend=foo", "env.backend=foo is invalid: env.backend takes one of gymnasium, envpool, e.g. env.backend="),
    ("seeds=abc", "seeds=abc is invalid: seeds takes a list of whole numbers or null, e.g. seeds=[0,1,2]"),
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
    assert (cfg.env.backend, cfg.env.autoreset, cfg.env.num_envs, cfg.network.actor_layers) == ("envpool", "next_step", 32, 2)
    assert cfg.algo.steps_per_epoch == 8192
    assert (cfg.train.eval_every, cfg.train.eval_episodes, cfg.train.target_return, cfg.train.target_window) == (4, 50, 220, 1)
    # explicit overrides on the command line still win over the experiment's values
    cfg = make_cfg(["experiment=fast", "env.num_envs=16", "network=deep"])
    assert (cfg.env.num_envs, cfg.network.actor_layers) == (16, 8)


def test_default_fast_experiment_changes_only_how_the_default_configuration_runs():
    def flat(cfg, prefix=""):
        out = {}
        for key, value in cfg.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return out

    default = flat(OmegaConf.to_container(make_cfg([]), resolve=True))
    fast = flat(OmegaConf.to_container(make_cfg(["experiment=default_fast"]), resolve=True))
    changed = {key for key in default.keys() | fast.keys() if default.get(key) != fast.get(key)}
    assert changed == {"env.backend", "env.autoreset", "train.torch_threads", "algo.overlap_critic"}


# Presets renamed to say what they hold; the old names still compose, each to its new name's values,
# also where another choice (experiment=fast's network, the command line's lr) competes with it.
ALIASES = [("network=seed", "network=deep"), ("lr=seed", "lr=a3e-4_c1e-3"), ("experiment=seed_fast", "experiment=default_fast")]


@pytest.mark.parametrize("old,new", ALIASES, ids=[old for old, _ in ALIASES])
@pytest.mark.parametrize("context", [[], ["experiment=fast"], ["network=shallow", "lr=fast"]], ids=str)
def test_old_preset_names_compose_to_the_values_of_the_new_ones(old, new, context):
    def values(overrides):
        return OmegaConf.to_container(make_cfg(overrides), resolve=True)

    assert values([*context, old]) == values([*context, new])
    assert (make_cfg([old]).network.actor_layers, make_cfg([old]).lr.actor) == (8, 3e-4)


def test_a_run_records_the_new_name_of_a_preset_given_by_its_old_one():
    """`preset.lr` in a run's W&B config: the same for lr=seed as for lr=a3e-4_c1e-3, so W&B's and
    the report's groups by preset put them together."""
    from lander_exp.run.presets import current_names

    given = {"algo": "ppo", "network": "seed", "lr": "seed", "experiment": "seed_fast", "env": "continuous",
             "tracker": None}
    assert current_names(given) == {**given, "network": "deep", "lr": "a3e-4_c1e-3", "experiment": "default_fast"}
    assert current_names({"network": "deep", "lr": "fast"}) == {"network": "deep", "lr": "fast"}


def test_unknown_experiment_names_the_options(workdir):
    proc = run_cli(["experiment=fsat"], cwd=workdir)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "lander_exp: error: experiment=fsat is not an option of group 'experiment': choose one of default_fast, fast, reinforce"]
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


# Errors Hydra and OmegaConf word for their own developers, and a Python without lander_exp's
# dependencies: one line each, through a real process, naming the fix.
RAW_ERRORS = [
    (["experiment=fast,reinforce"], "lander_exp: error: experiment=fast,reinforce gives several values, and one run "
                                    "takes one: for one run per value (a multirun) add -m, `{python} -m lander_exp -m "
                                    "experiment=fast,reinforce`; a key that holds a list takes key=[a,b]"),
    (["seed=abc"], "lander_exp: error: seed=abc is invalid: seed takes a whole number, e.g. seed=0"),
    (["train.max_episodes=many"], "lander_exp: error: train.max_episodes=many is invalid: train.max_episodes takes a "
                                  "whole number or null, e.g. train.max_episodes=1000"),
    (["experiment=reinforce", "algo.loss_reduction=5"], "lander_exp: error: algo.loss_reduction=5 is invalid: "
                                                        "algo.loss_reduction takes one of mean, sum, e.g. "
                                                        "algo.loss_reduction=mean"),
]


@pytest.mark.parametrize("args,says", RAW_ERRORS, ids=[" ".join(a) for a, _ in RAW_ERRORS])
def test_raw_errors_become_one_line_naming_the_fix(workdir, args, says):
    proc = run_cli(args, cwd=workdir)
    python = re.search(r"`(\S+) -m", proc.stderr).group(1) if "`" in says else ""
    assert (proc.returncode, proc.stderr.strip().splitlines(), proc.stdout) == (2, [says.format(python=python)], "")
    assert list(workdir.iterdir()) == []


def test_the_multirun_an_error_suggests_runs_as_printed(workdir):
    proc = run_cli([*TINY, "train.max_epochs=1", "seed=1,2"], cwd=workdir)
    printed = re.search(r"`([^`]+)`", proc.stderr).group(1)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    ran = subprocess.run(printed, shell=True, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert len(list((workdir / "runs" / "multirun").glob("*/*/*_ppo_s[12]"))) == 2


@pytest.mark.parametrize("module", ["lander_exp", "lander_exp.evaluate", "lander_exp.report", "lander_exp.runs"])
def test_a_python_without_the_dependencies_says_which_python_to_use(tmp_path, module):
    """`python -S` leaves out every installed package: what a Python outside the project's venv sees."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-S", "-m", module, "seed=1"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"{module}: error: this Python ({sys.executable}) lacks lander_exp's dependencies "
                               "(no module named "), lines
    venv = ROOT / ".venv"
    python = str(venv / "bin" / "python")
    fix = (f"activate the project's environment with `. {venv}/bin/activate`, or run `{python} -m {module} seed=1`"
           if venv.is_dir() else f"`make install` in {ROOT} installs them into {venv}; then run `{python} -m {module} seed=1`")
    assert lines[0].endswith(f"): {fix}"), lines


def test_the_command_an_error_prints_works_as_printed(tmp_path):
    proc = run_cli(["network.hiden_dim=32"], cwd=tmp_path)
    printed = re.search(r"`([^`]+--help)`", proc.stderr).group(1)
    # a shell whose `python` is not lander_exp's (PYTHONPATH: this checkout's code, not the venv's install)
    shell = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    helped = subprocess.run(printed, shell=True, cwd=tmp_path, env=shell, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "network.hidden_dim=64" in helped.stdout, helped.stderr[-2000:]
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

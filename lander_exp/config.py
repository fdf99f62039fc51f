"""The config schema: typed dataclasses registered in Hydra's ConfigStore, plus the checks a type
cannot express (signs, ranges, cross-field rules). Values live in conf/; the fields here carry no
defaults so that each hyperparameter has exactly one source of truth."""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException, ValidationError


class ConfigError(ValueError):
    """A bad value in a composed config; its message is one line naming the key and the fix."""


class WrongType(ConfigError):
    """A value of the wrong type for its key (`seed=abc`). The message names the type; the command line
    adds an example from the key's default (run/preflight.one_line)."""

    def __init__(self, key: str, value: Any, example: Any = None):
        self.key, self.value = key, value
        shown = f", e.g. {key}={example}" if example is not None else ""
        super().__init__(f"{key}={value} is invalid: {key} takes {expected_type(key)}{shown}")


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Backend(str, Enum):
    gymnasium = "gymnasium"
    envpool = "envpool"


class ObsScaling(str, Enum):
    none = "none"  # the env's observations as they come (already normalised by the env)
    divide = "divide"  # obs / OBS_SCALE: the write-up's constants applied a second time
    multiply = "multiply"  # obs * OBS_SCALE: undoes the env's normalisation (physical units)


class Autoreset(str, Enum):
    same_step = "same_step"  # the done step returns the reset obs; the final obs is kept aside
    next_step = "next_step"  # Gymnasium's default: the step after done is a reset with reward 0


class TrackerMode(str, Enum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


class RolloutBootstrap(str, Enum):
    next_obs = "next_obs"  # value of the observation after the rollout's last step
    repeat_last = "repeat_last"  # the write-up's code: value of the last stored observation, repeated


class LossReduction(str, Enum):
    mean = "mean"  # mean over the episode's steps: a 1000-step episode weighs each step 1/1000
    sum = "sum"  # sum over the steps: the textbook REINFORCE estimator, every step weighs the same


def doc(meaning: str, default: Any = MISSING, factory: Any = None) -> Any:
    """A schema field with what it means: the one place a key's meaning is written (`--help` shows
    it beside the key, lander_exp/run/help.py). Values live in conf/, so the default stays MISSING."""
    if factory is not None:
        return field(default_factory=factory, metadata={"doc": meaning})
    return field(default=default, metadata={"doc": meaning})


@dataclass
class EnvConfig:
    id: str = doc("the Gymnasium env: LunarLanderContinuous-v3 (PPO) or LunarLander-v3 (REINFORCE); env=continuous "
                  "or env=discrete sets it with its companions")
    num_envs: int = doc("training envs stepped side by side")
    backend: Backend = doc("gymnasium (Gymnasium's own envs) or envpool (EnvPool's C++ envs, faster; needs "
                           "env.autoreset=next_step)")
    obs_scaling: ObsScaling = doc("none (the env's observations, already normalised by the env), divide (divided by "
                                  "the env's scale once more, as the code of \"How to Land on the Moon\" does) or "
                                  "multiply (physical units); docs/departures.md")
    autoreset: Autoreset = doc("same_step (an env whose episode ended starts the next one in the same step) or "
                               "next_step (on the step after, Gymnasium's and EnvPool's way; those reset-only steps "
                               "are left out of the updates)")
    max_episode_steps: int = doc("steps after which an episode is cut off (a time-limit end)")
    pin_threads: bool = doc("envpool only: pin EnvPool's threads to the first cores (faster for a process that has "
                            "the machine to itself, slower where processes share cores)")


@dataclass
class NetworkConfig:
    hidden_dim: int = doc("width of every hidden layer, actor and critic")
    actor_layers: int = doc("hidden layers of the actor (the policy)")
    critic_layers: int = doc("hidden layers of the critic (the value function)")


@dataclass
class LrConfig:
    actor: float = doc("Adam's learning rate of the actor (and of PPO's log_std)")
    critic: float = doc("Adam's learning rate of the critic")


@dataclass
class PPOConfig:
    name: str = doc("the algorithm: ppo or reinforce (algo=ppo or experiment=reinforce sets it)", "ppo")
    steps_per_epoch: int = doc("env steps collected per epoch, over all envs; an update follows each epoch")
    update_epochs: int = doc("passes over an epoch's data in its update")
    batch_size: int = doc("minibatch size of the update, in env steps")
    gamma: float = doc("discount factor of future rewards")
    gae_lambda: float = doc("GAE's lambda: 0 bootstraps from the critic after one step, 1 uses whole returns")
    eps_clip: float = doc("PPO's clip range of the new-to-old probability ratio")
    vf_coef: float = doc("weight of the critic's loss")
    entropy_coef: float = doc("weight of the entropy bonus (more: more exploration)")
    max_grad_norm: float = doc("gradients clipped to this norm, the actor's (with log_std) and the critic's apart")
    init_log_std: float = doc("the policy's log standard deviation (before tanh) at the start, learnt from there; "
                              "in [-20, 2]")
    normalize_advantages: bool = doc("normalise each minibatch's advantages to mean 0 and std 1")
    bootstrap_truncation: bool = doc("at a time-limit end, bootstrap from the critic's value of the last state "
                                     "(true) or treat it as a terminal state (false: the write-up's code)")
    rollout_bootstrap: RolloutBootstrap = doc("the value past a rollout's last step: next_obs (the critic's value of "
                                              "the next observation) or repeat_last (the last stored value again: "
                                              "the write-up's code)")
    reset_each_epoch: bool = doc("reset every env when an epoch starts, dropping the episodes in progress (true: "
                                 "the write-up's code)")
    overlap_critic: bool = doc("speed only: the critic learns from an epoch while the next rollout runs (same "
                               "weights; its metrics arrive one row late; docs/speed.md)")


@dataclass
class ReinforceConfig:
    name: str = doc("the algorithm: ppo or reinforce (algo=ppo or experiment=reinforce sets it)", "reinforce")
    gamma: float = doc("discount factor of future rewards")
    normalize_advantages: bool = doc("normalise each episode's advantages to mean 0 and std 1")
    entropy_coef: float = doc("weight of the entropy bonus (more: more exploration)")
    max_grad_norm: float = doc("gradients clipped to this norm (.inf: no clipping)")
    loss_reduction: LossReduction = doc("mean or sum of both losses over an episode's steps (sum: the textbook "
                                        "estimator, every step weighs the same)")


@dataclass
class TrainConfig:
    max_epochs: int | None = doc("stop after this many epochs (null: no limit); a PPO epoch is algo.steps_per_epoch "
                                 "env steps, a REINFORCE epoch one episode per env")
    max_episodes: int | None = doc("stop after this many training episodes (null: no limit)")
    eval_every: int = doc("epochs between evaluations of the greedy policy; a checkpoint is written after each")
    eval_episodes: int = doc("episodes per evaluation, from the same start states every time")
    eval_envs: int = doc("envs an evaluation plays its episodes in")
    eval_screen: int = doc("play an evaluation's first N episodes, the rest only if those could still make a mean "
                           "of train.target_return (0: always all; docs/speed.md)")
    target_return: float | None = doc("stop once the moving average of the evaluations' mean returns reaches this "
                                      "(null: never stop early)")
    target_window: int = doc("evaluations in that moving average")
    keep_checkpoints: int = doc("newest checkpoints kept in the run folder")
    progress: bool = doc("show the progress bar (where output is not a terminal, e.g. a log: a line every 10 s)")
    torch_threads: int = doc("torch's threads for the updates (0: one per core; on a small or busy machine more "
                             "threads make the update slower)")
    video_every: int = doc("evaluations between videos of an evaluation episode, plus one at the last "
                           "(RUN_DIR/videos/, W&B's eval/video; 0: none)")


@dataclass
class TrackerConfig:
    mode: TrackerMode = doc("offline (W&B runs on disk; the default unless the WANDB_MODE environment variable "
                            "names another), online (W&B's servers; `wandb login` first) or disabled (no W&B run)")
    project: str = doc("the W&B project")
    entity: str | None = doc("the W&B team or user (null: your default entity)")
    dir: str = doc("folder of the run folders and of the W&B runs (DIR/wandb/), relative to the current folder")
    group: str | None = doc("the run's W&B group (null: named after its settings, so that a setting's seeds "
                            "share one)")
    tags: list[str] = doc("W&B tags added to the run's own, e.g. tracker.tags=[baseline]", factory=list)


@dataclass
class Config:
    seed: int = doc("the random seed: every random stream of the run (weights, env resets, actions, minibatches) "
                    "derives from it")
    # None here too, so that run folders written before the key existed still load
    seeds: list[int] | None = doc("several seeds of this configuration trained in one process, each its own run, "
                                  "e.g. seeds=[0,1,2,3,4] (null: one run of `seed`; README, \"Many seeds in one "
                                  "process\")", None)
    device: Device = doc("auto, cpu or cuda (auto: CUDA when a GPU is visible)")
    algo: Any = MISSING  # PPOConfig or ReinforceConfig, chosen by algo.name (validate)
    env: EnvConfig = MISSING
    network: NetworkConfig = MISSING
    lr: LrConfig = MISSING
    train: TrainConfig = MISSING
    tracker: TrackerConfig = MISSING


ALGO_SCHEMAS = {"ppo": PPOConfig, "reinforce": ReinforceConfig}
# The policy's initial log std: the range SAC and Stable-Baselines3 clamp it to. Above it the std of
# the pre-tanh Gaussian saturates every action (e^2 = 7.4); exp(89) overflows float32.
INIT_LOG_STD = (-20.0, 2.0)


def _keys(schema: type, prefix: str = "") -> list[str]:
    out = []
    for name, hint in typing.get_type_hints(schema).items():
        out.append(f"{prefix}{name}")
        if name == "algo" and not prefix:
            out.extend(sorted({k for s in ALGO_SCHEMAS.values() for k in _keys(s, "algo.")}))
        elif dataclasses.is_dataclass(hint):
            out.extend(_keys(hint, f"{prefix}{name}."))
    return out


def key_type(key: str) -> Any:
    """The type the schema gives a dotted key (`algo.*`: the first algorithm schema that has it), or None."""
    schema: Any = Config
    parts = key.split(".")
    for i, part in enumerate(parts):
        if schema is Any and i == 1 and parts[0] == "algo":
            schema = next((s for s in ALGO_SCHEMAS.values() if part in typing.get_type_hints(s)), None)
            if schema is None:
                return None
        if not dataclasses.is_dataclass(schema) or part not in typing.get_type_hints(schema):
            return None
        schema = typing.get_type_hints(schema)[part]
    return schema


def expected_type(key: str) -> str:
    """What a value of `key` must be, in words: "a whole number", "true or false", "one of a, b"."""
    hint = key_type(key)
    args = typing.get_args(hint)
    nullable = type(None) in args
    if nullable:
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is list:
        words = {int: "a list of whole numbers", str: "a list of names"}.get(typing.get_args(hint)[0], "a list")
    elif isinstance(hint, type) and issubclass(hint, Enum):
        words = "one of " + ", ".join(m.value for m in hint)
    else:
        words = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(hint, "another value")
    return f"{words} or null" if nullable else words


def schema_keys() -> list[str]:
    """Every key the schema defines, dotted (`algo.*`: those of every algorithm)."""
    return _keys(Config)


def key_docs(schema: type = Config, prefix: str = "") -> dict[str, str]:
    """{dotted key: what it means} for every leaf key of `schema` (for `algo`, pass its schema and
    prefix "algo.")."""
    out = {}
    for f in dataclasses.fields(schema):
        if "doc" in f.metadata:
            out[f"{prefix}{f.name}"] = f.metadata["doc"]
        elif dataclasses.is_dataclass(typing.get_type_hints(schema)[f.name]):
            out.update(key_docs(typing.get_type_hints(schema)[f.name], f"{prefix}{f.name}."))
    return out


def unknown_key(key: str, more_names: list[str] = ()) -> ConfigError:
    """The one-line error for a key no code reads: `more_names` (e.g. config groups) are suggested too."""
    from lander_exp.shell import python_command

    parent = key.rpartition(".")[0]
    siblings = [k for k in [*schema_keys(), *more_names] if k.rpartition(".")[0] == parent]
    close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.75)
    hint = f"did you mean '{close[0]}'? " if close else "check its spelling: "
    return ConfigError(f"unknown key '{key}': no code reads it; {hint}`{python_command('lander_exp', '--help')}` "
                       "lists every key and config group")


def _extra_keys(node: DictConfig, schema: type, prefix: str = "") -> list[str]:
    """Keys of `node` that `schema` does not define (added with Hydra's `+key=value`)."""
    hints = typing.get_type_hints(schema)
    out = []
    for key in node.keys():
        if key not in hints:
            out.append(f"{prefix}{key}")
        elif dataclasses.is_dataclass(hints[key]) and isinstance(node.get(key), DictConfig):
            out.extend(_extra_keys(node[key], hints[key], f"{prefix}{key}."))
    return out


def seed_tag(seed: int, seeds: list[int] | None) -> str:
    """The seed part of a run folder's name: `s3` for one run, `s0-4` (or `s0_2_7`) for a batch."""
    if not seeds:
        return f"s{seed}"
    seeds = [int(s) for s in seeds]
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"s{seeds[0]}-{seeds[-1]}"
    return "s" + "_".join(map(str, seeds))


def register() -> None:
    """Make the schema known to Hydra: conf/config.yaml extends this node, so unknown keys and
    wrong types fail at composition. The algo node is typed later, by `validate`, against the
    schema its `name` selects (one schema per algorithm, one file per algorithm in conf/algo/)."""
    ConfigStore.instance().store(name="config_schema", node=Config)
    from lander_exp.shell import executable

    # `--help` shows commands with the interpreter that runs them (conf/config.yaml's hydra.help)
    OmegaConf.register_new_resolver("lander_exp.python", lambda: executable("python"), replace=True)
    OmegaConf.register_new_resolver("seed_tag", seed_tag, replace=True)


# Keys added to the schema after runs were saved with it, each with the value that does what the code
# did before the key existed: a run folder from then still loads for evaluate, analyze and resume.
ADDED_KEYS = {"env.pin_threads": False, "train.eval_screen": 0}


def saved_config(saved: dict | DictConfig) -> DictConfig:
    """A run's saved config (config.yaml, or the copy in a checkpoint) against this schema, with the
    keys added since it was saved filled as the code behaved before them."""
    register()
    saved = OmegaConf.create(saved) if isinstance(saved, dict) else saved
    for key, value in ADDED_KEYS.items():
        if OmegaConf.select(saved, key, default=None) is None:
            OmegaConf.update(saved, key, value, force_add=True)
    return OmegaConf.merge(OmegaConf.structured(Config), saved)


def omegaconf_line(ex: OmegaConfBaseException) -> str:
    """OmegaConf's multi-line message as one line: the complaint plus the full key it concerns."""
    first = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
    key = getattr(ex, "full_key", None)
    return f"{key}: {first}" if key and key not in first else first


def _check(ok: bool, key: str, value: Any, need: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: {need}")


def validate(cfg: DictConfig) -> None:
    """Checks a type cannot express; raises ConfigError with one line naming key and fix.

    Runs before any env, W&B run or checkpoint exists."""
    try:
        OmegaConf.resolve(cfg)
    except Exception as ex:  # an interpolation that cannot resolve (e.g. a bad ${oc.env:...})
        raise ConfigError(f"config does not resolve: {ex}".splitlines()[0]) from None
    extra = _extra_keys(cfg, Config)
    if extra:
        raise unknown_key(extra[0])
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{missing[0]} has no value: set it on the command line, e.g. {missing[0]}=...")

    for key in ("env.num_envs", "env.max_episode_steps", "network.hidden_dim", "network.actor_layers",
                "network.critic_layers", "train.eval_every", "train.eval_episodes",
                "train.eval_envs", "train.target_window", "train.keep_checkpoints"):
        value = OmegaConf.select(cfg, key)
        _check(value > 0, key, value, "must be a positive integer")
    t = cfg.train
    if t.eval_screen:
        _check(2 <= t.eval_screen < t.eval_episodes, "train.eval_screen", t.eval_screen,
               f"must be 0 (off) or a number of episodes from 2 to train.eval_episodes - 1 ({t.eval_episodes - 1})")
        _check(t.target_return is not None, "train.eval_screen", t.eval_screen,
               "screens an evaluation against train.target_return, which is null: set one, or train.eval_screen=0")
    _check(cfg.train.video_every >= 0, "train.video_every", cfg.train.video_every,
           "must be 0 (no videos) or a positive number of evaluations between videos")
    _check(cfg.train.torch_threads >= 0, "train.torch_threads", cfg.train.torch_threads,
           "must be 0 (torch's default) or a positive number of threads")
    for key in ("lr.actor", "lr.critic"):
        value = OmegaConf.select(cfg, key)
        _check(0 < value < 1, key, value, "a learning rate must be in (0, 1), e.g. 3e-4")
    _check(cfg.seed >= 0, "seed", cfg.seed, "must be a non-negative integer")
    _check(bool(str(cfg.tracker.dir).strip()), "tracker.dir", cfg.tracker.dir,
           "must name the folder runs go to, e.g. tracker.dir=runs")
    if cfg.seeds is not None:
        seeds = list(cfg.seeds)
        _check(len(seeds) > 0 and all(s >= 0 for s in seeds) and len(set(seeds)) == len(seeds), "seeds", seeds,
               "must be null (one run of `seed`) or a list of distinct non-negative integers, e.g. seeds=[0,1,2,3,4]")
    for key in ("max_epochs", "max_episodes"):
        value = cfg.train[key]
        _check(value is None or value > 0, f"train.{key}", value, "must be a positive integer or null (no limit)")
    _check(cfg.train.max_epochs is not None or cfg.train.max_episodes is not None, "train.max_epochs", None,
           "set train.max_epochs or train.max_episodes, or the run never ends")

    schema = ALGO_SCHEMAS.get(cfg.algo.get("name"))
    if schema is None:
        raise ConfigError(f"algo.name={cfg.algo.get('name')!r} is unknown: use one of {', '.join(ALGO_SCHEMAS)}")
    extra = [f"algo.{k}" for k in cfg.algo if k not in typing.get_type_hints(schema)]
    if extra:
        raise unknown_key(extra[0])
    try:
        with open_dict(cfg):
            cfg.algo = OmegaConf.merge(OmegaConf.structured(schema), cfg.algo)
    except ValidationError as ex:
        key = f"algo.{ex.full_key}"
        raise WrongType(key, OmegaConf.select(cfg, key)) from None
    except OmegaConfBaseException as ex:
        raise ConfigError(f"algo.{omegaconf_line(ex)}") from None
    algo = cfg.algo
    if algo.name == "ppo":
        for key in ("steps_per_epoch", "update_epochs", "batch_size"):
            _check(algo[key] > 0, f"algo.{key}", algo[key], "must be a positive integer")
        _check(algo.steps_per_epoch >= cfg.env.num_envs, "algo.steps_per_epoch", algo.steps_per_epoch,
               f"must be at least env.num_envs ({cfg.env.num_envs})")
        _check(algo.batch_size <= algo.steps_per_epoch, "algo.batch_size", algo.batch_size,
               f"must not exceed algo.steps_per_epoch ({algo.steps_per_epoch})")
        _check(0 < algo.gamma <= 1, "algo.gamma", algo.gamma, "a discount must be in (0, 1]")
        _check(0 <= algo.gae_lambda <= 1, "algo.gae_lambda", algo.gae_lambda, "must be in [0, 1]")
        for key in ("eps_clip", "max_grad_norm"):
            _check(algo[key] > 0, f"algo.{key}", algo[key], "must be positive")
        for key in ("vf_coef", "entropy_coef"):
            _check(algo[key] >= 0, f"algo.{key}", algo[key], "must be non-negative")
        low, high = INIT_LOG_STD
        _check(low <= algo.init_log_std <= high, "algo.init_log_std", algo.init_log_std,
               f"the policy's initial std is exp(algo.init_log_std): use a value in [{low:g}, {high:g}], e.g. 0")
    elif algo.name == "reinforce":
        _check(0 < algo.gamma <= 1, "algo.gamma", algo.gamma, "a discount must be in (0, 1]")
        _check(algo.entropy_coef >= 0, "algo.entropy_coef", algo.entropy_coef, "must be non-negative")
        _check(algo.max_grad_norm > 0, "algo.max_grad_norm", algo.max_grad_norm, "must be positive (.inf: no clipping)")

    _check_env(cfg.env, algo.name)
    if cfg.device == Device.cuda:
        import torch

        _check(torch.cuda.is_available(), "device", "cuda", "no CUDA device is visible; use device=auto or cpu")


# The envs this harness knows how to classify, and the action space each algorithm needs.
ENV_ACTIONS = {"LunarLanderContinuous-v3": "continuous", "LunarLander-v3": "discrete"}
ALGO_ACTIONS = {"ppo": "continuous", "reinforce": "discrete"}


def _check_env(env_cfg, algo_name: str) -> None:
    """Raise ConfigError if the env id, backend or action space cannot serve this algorithm."""
    kind = ENV_ACTIONS.get(env_cfg.id)
    if kind is None:
        raise ConfigError(f"env.id={env_cfg.id!r} is not supported: use one of {', '.join(ENV_ACTIONS)}")
    want = ALGO_ACTIONS[algo_name]
    if kind != want:
        hint = " (or experiment=reinforce, the whole setup of \"The laws of the 'land'\")" if algo_name == "reinforce" else ""
        raise ConfigError(f"env.id={env_cfg.id!r} has {kind} actions but algo={algo_name} needs {want}: "
                          f"choose env={want}{hint}")
    if env_cfg.backend == Backend.envpool:
        if importlib.util.find_spec("envpool") is None:
            from lander_exp.shell import pip_install

            raise ConfigError(f"env.backend=envpool needs EnvPool: {pip_install('envpool')}")
        if env_cfg.autoreset != Autoreset.next_step:
            raise ConfigError("env.backend=envpool resets an env on the step after its episode ends: "
                              "set env.autoreset=next_step")
    elif env_cfg.pin_threads:
        raise ConfigError("env.pin_threads=true pins EnvPool's threads, and env.backend=gymnasium has none: "
                          "set env.backend=envpool env.autoreset=next_step, or leave env.pin_threads=false")


# ---- what a configuration needs in memory ------------------------------------------------------------
# The envs' sizes, for estimates made before any env exists (tests/test_config.py checks them against
# the envs): observation width, and the width of what the policy outputs (action dims, or logits).
ENV_SIZES = {"LunarLanderContinuous-v3": (8, 2), "LunarLander-v3": (8, 4)}
# Measured with Gymnasium 1.4 and EnvPool on 2026-12-04: about 110 KB per LunarLander after its first
# reset, either backend (2,000 envs, resident memory before and after).
ENV_BYTES = 128 * 1024
BASE_BYTES = 1 << 30  # the process before any of the below: Python, torch, Hydra, the W&B client


def _mlp_params(inputs: int, hidden: int, layers: int, outputs: int) -> int:
    """Parameters of core.nets.mlp: `layers` hidden Linear layers of width `hidden`, then the output."""
    return inputs * hidden + hidden + (layers - 1) * (hidden * hidden + hidden) + hidden * outputs + outputs


def param_count(cfg: DictConfig) -> int:
    """The parameters of a run's actor and critic (core/nets.py), from its config alone."""
    obs, out = ENV_SIZES[cfg.env.id]
    net = cfg.network
    return _mlp_params(obs, net.hidden_dim, net.actor_layers, out) + _mlp_params(obs, net.hidden_dim, net.critic_layers, 1)


def memory_needs(cfg: DictConfig) -> list[tuple[str, str, int]]:
    """What a run of `cfg` holds in memory at its peak, by part: (the key that sizes it, what it is,
    bytes), an estimate that errs high. Counts bytes of float32 (4) and of the arrays each part keeps
    alongside: optimizer moments and gradients, the copies an update shuffles, the replay record. A
    batch (`seeds=[...]`) holds every part but the process once per seed."""
    obs, out = ENV_SIZES[cfg.env.id]
    net, env, algo, t = cfg.network, cfg.env, cfg.algo, cfg.train
    params = param_count(cfg)
    width = net.hidden_dim * (net.actor_layers + net.critic_layers)  # activations per sample through both networks
    record = env.num_envs * (env.max_episode_steps + 1) * (out * 4 if algo.name == "ppo" else 8)
    parts = [
        # weights, their gradients, Adam's two moments, the numpy copy that acts, a stacked copy (batches)
        ("network.hidden_dim", "the networks and their optimizer state", 24 * params),
        ("env.num_envs", "the training envs", env.num_envs * ENV_BYTES + record),
        ("train.eval_envs", "the evaluation envs", t.eval_envs * (ENV_BYTES + 4 * 2 * net.hidden_dim)),
    ]
    if algo.name == "ppo":
        samples = -(-algo.steps_per_epoch // env.num_envs) * env.num_envs
        # per sample: observations (3 copies: the rollout's, the update's, a shuffled one), pre-tanh
        # actions (4: with the noise), rewards, flags, values, advantages, targets, and one
        # minibatch order per update pass
        per_sample = 12 * obs + 16 * out + 64 + 8 * algo.update_epochs
        parts.append(("algo.steps_per_epoch", "the rollout and its update arrays", samples * per_sample))
        # activations kept for the backward pass, their gradients, and ReLU masks
        parts.append(("algo.batch_size", "a minibatch's activations", 12 * algo.batch_size * width))
    else:
        # the episodes in progress: each step's observation row and numbers as Python objects
        parts.append(("env.max_episode_steps", "the episodes in progress",
                      env.num_envs * env.max_episode_steps * (4 * obs + 256)))
        parts.append(("env.max_episode_steps", "an episode's activations", 12 * env.max_episode_steps * width))
    runs = len(cfg.seeds) if cfg.get("seeds") else 1
    return [("", "the process", BASE_BYTES)] + [(k, what, size * runs) for k, what, size in parts]


def memory_problem(cfg: DictConfig, available: int, where: str) -> str | None:
    """One line naming the key that makes `cfg` need more memory than `available` bytes (`where`:
    what the figure is), or None when it fits."""
    from lander_exp.shell import size_text

    needs = memory_needs(cfg)
    total = sum(size for _, _, size in needs)
    if total <= available:
        return None
    key, what, size = max((n for n in needs if n[0]), key=lambda n: n[2])
    value = OmegaConf.select(cfg, key)
    batch = f" for each of {len(cfg.seeds)} seeds" if cfg.get("seeds") else ""
    return (f"{key}={value} needs about {size_text(size)} of memory for {what}{batch} ({size_text(total)} in all), "
            f"more than the {size_text(available)} {where}: lower {key}")

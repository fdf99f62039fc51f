"""Check every job a command line would start before Hydra makes any folder or run: compose each
point of a `-m` sweep, validate it, check that its folders can be written, that W&B takes its
project name and that its run folder is neither in use nor another run's, and turn what is wrong
into one line naming the fix."""

from __future__ import annotations

import itertools
import os
import re
import resource
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException, ValidationError

from lander_exp.config import ConfigError, WrongType, memory_problem, omegaconf_line, register, schema_keys, unknown_key, validate
from lander_exp.run.presets import CONF_DIR, config_groups, options
from lander_exp.shell import python_command, shown, unwritable

# Flags after which Hydra only prints (help, config, info) and starts no job.
INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc",
              "--resolve", "-p", "--package"}


def _hydra_override(arg: str) -> bool:
    return arg.startswith(("hydra.", "hydra/", "+hydra", "~hydra"))


def parse_args(args: list[str]):
    """Hydra's own reading of the command line; a flag Hydra does not know is an error that shows
    the override the user probably meant (`--seed 3`: `seed=3`)."""
    known, unknown = get_args_parser().parse_known_args(args)
    if unknown and not unknown[0].startswith("-"):  # Hydra reads overrides only before its first flag
        flags = [a for a in args if a.startswith("-")]
        example = ""
        if all(f in ("-m", "--multirun", "--resolve") for f in flags):
            example = f": `{python_command('lander_exp', *flags, *(a for a in args if not a.startswith('-')))}`"
        raise ConfigError(f"{unknown[0]} comes after the flag {flags[0]}: put flags before every key=value{example}")
    if unknown:
        flag = unknown[0]
        name, _, value = flag.lstrip("-").partition("=")
        after = args[args.index(flag) + 1] if args.index(flag) + 1 < len(args) else ""
        value = value or (after if after and "=" not in after and not after.startswith("-") else "VALUE")
        raise ConfigError(f"{flag} is not an option: settings are given as key=value, e.g. "
                          f"`{python_command('lander_exp', f'{name}={value}')}` (`{python_command('lander_exp', '--help')}` "
                          "lists every key)")
    return known


def job_overrides(args: list[str]) -> list[list[str]] | None:
    """The override lists of the jobs `args` asks for, or None if it starts no job."""
    if any(a in INFO_FLAGS or a.startswith("--cfg=") for a in args):
        return None
    known = parse_args(args)
    plain = [a for a in known.overrides if not _hydra_override(a)]
    parsed = OverridesParser.create().parse_overrides(plain)
    if not known.multirun:
        listed = [o.input_line for o in parsed if o.is_sweep_override()]
        if listed:
            raise ConfigError(f"{listed[0]} gives several values, and one run takes one: for one run per value (a "
                              f"multirun) add -m, `{python_command('lander_exp', '-m', *args)}`; a key that holds a "
                              "list takes key=[a,b]")
        return [plain]
    axes = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
            else [o.input_line] for o in parsed]
    return [list(p) for p in itertools.product(*axes)]


def check_folder(key: str, value: str) -> None:
    """ConfigError unless files can be made in the folder `key` names."""
    why = unwritable(Path(value))
    if why is not None:
        raise ConfigError(f"{key}={value} cannot be used: {why}; set {key} to a folder you can write to")


def check_run_dir(run_dir: Path) -> None:
    """ConfigError if another process trains in `run_dir`: checked before Hydra writes .hydra/ there."""
    from lander_exp.run.checkpoint import busy

    if busy(run_dir):
        raise ConfigError(f"{run_dir} is in use by another lander_exp process: wait for it to end, or choose "
                          "another hydra.run.dir")


def check_fresh(run_dir: Path, seeds, key: str, record: str | None) -> None:
    """ConfigError if a run lives in `run_dir` already (finished or not), or, for a batch (`seeds`),
    in one of its seeds' folders, or Hydra's record of another job (`record`, hydra.output_subdir) is
    there: a run never writes into another run's folder."""
    from lander_exp.run.checkpoint import occupant

    folders = [(run_dir / f"s{s}", occupant(run_dir / f"s{s}")) for s in seeds or []]
    folders.append((run_dir, occupant(run_dir, record, batch=bool(seeds))))
    for folder, marks in folders:
        if marks:
            raise ConfigError(f"{folder} holds another run ({', '.join(marks)}) and a run never writes into another run's "
                              f"folder: continue that one with {python_command('lander_exp.resume', shown(folder))}, or give "
                              f"this one a fresh folder (leave {key} out, or set it to a folder that does not exist yet)")


def check(args: list[str], config_dir: str, fresh: bool = True) -> int:
    """Compose and validate every job, and check the folders and names it will use before any is
    made; returns how many jobs were checked. `fresh=False` leaves out whether the run folders hold
    runs already (the sweep runner checks points it has done, or will clear, before running them)."""
    register()
    jobs = job_overrides(args)
    if jobs is None:
        return 0
    known = parse_args(args)
    multirun, hydra_args = known.multirun, [a for a in known.overrides if _hydra_override(a)]
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    cfgs, job_dirs = [], []
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        for num, overrides in enumerate(jobs):
            # one compose a job (each costs about 0.08 s of a run's start-up): the job's config and Hydra's,
            # read while they are one config (Hydra's folders interpolate the job's number)
            cfg = compose("config", overrides=[*overrides, *hydra_args, *([f"hydra.job.num={num}"] if multirun else [])],
                          return_hydra_config=True)
            hc = cfg.hydra
            if num == 0:
                folder, output_subdir = hc.sweep.dir if multirun else hc.run.dir, hc.output_subdir
            job_dirs.append(Path(hc.sweep.dir) / hc.sweep.subdir if multirun else Path(hc.run.dir))
            with open_dict(cfg):
                del cfg["hydra"]
            validate(cfg)
            check_memory(cfg)
            check_tracker(cfg)
            cfgs.append(cfg)
    check_folder(key, folder)
    for job_dir, cfg in zip(job_dirs, cfgs, strict=True):
        check_run_dir(job_dir)
        if fresh:
            check_fresh(job_dir, cfg.seeds, key, output_subdir)
    from lander_exp.run import disk

    why = disk.room_problem({"tracker.dir": Path(cfg.tracker.dir), key: Path(folder)}, disk.need(cfg))
    if why is not None:
        raise ConfigError(f"{why}: free some space, or set tracker.dir and {key} to a folder on another disk")
    return len(jobs)


def check_tracker(cfg: DictConfig) -> None:
    """The folder W&B and the run folders go to, and a project name, tags and group W&B accepts."""
    check_folder("tracker.dir", cfg.tracker.dir)
    if cfg.tracker.mode.value != "disabled":
        from lander_exp.run.tracking import label_problem, project_problem

        why = project_problem(cfg.tracker.project)
        if why is not None:
            raise ConfigError(f"tracker.project={cfg.tracker.project!r} is refused by W&B: {why}; choose another name")
        why = label_problem(cfg)
        if why is not None:
            raise ConfigError(why)


def available_memory() -> tuple[int, str]:
    """(bytes this process can still get, what bounds it): the least of the memory the kernel has
    available now, what is left of the process's address-space limit (`ulimit -v`), and what is left
    under its cgroup's limit (a container, a SLURM job)."""
    found: list[tuple[int, str]] = []
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        found.append((int(info["MemAvailable"].split()[0]) * 1024, "of memory available now"))
    except (OSError, KeyError, ValueError):
        try:
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "of memory free now"))
        except (OSError, ValueError):
            pass
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        used = 0
        try:
            status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
            used = int(status["VmSize"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            pass
        found.append((max(limit - used, 0), "left under this process's address-space limit (ulimit -v)"))
    cgroup = _cgroup_left()
    if cgroup is not None:
        found.append((cgroup, "left under this process's cgroup memory limit"))
    return min(found) if found else (1 << 62, "")


def _cgroup_left() -> int | None:
    """Bytes left under the memory limit of this process's cgroup (v2 or v1), or None (no limit)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            base, files = Path("/sys/fs/cgroup") / path.lstrip("/"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, files = Path("/sys/fs/cgroup/memory") / path.lstrip("/"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        try:
            limit, used = ((base / f).read_text().strip() for f in files)
            if limit != "max" and int(limit) < 1 << 60:
                return max(int(limit) - int(used), 0)
        except (OSError, ValueError):
            continue
    return None


def check_memory(cfg: DictConfig) -> None:
    """ConfigError when the run cannot fit the memory this process can get (config.memory_needs):
    before any env, network or folder exists, instead of a traceback, or an abort, once they do."""
    available, where = available_memory()
    why = memory_problem(cfg, available, where)
    if why is not None:
        raise ConfigError(why)


def compose_config(overrides: list[str] = ()):
    """The validated config `python -m lander_exp OVERRIDES` would run, for tools that build runs'
    parts themselves (benchmarks, tests). Raises ConfigError on a bad value."""
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    validate(cfg)
    return cfg


def default_value(key: str):
    """`key`'s value in the default composition, or in experiment=reinforce's for a key only REINFORCE
    has (None if neither gives one), as typed on a command line."""
    from hydra.core.global_hydra import GlobalHydra

    from lander_exp.run.help import shown_value

    for overrides in ([], ["experiment=reinforce"]):
        if GlobalHydra.instance().is_initialized():  # inside check()'s composition
            cfg = compose("config", overrides=overrides)
        else:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose("config", overrides=overrides)
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and value != []:
            return shown_value(value)
    return None


# Examples for keys whose default is null or empty (a wrong type's message shows the default otherwise).
EXAMPLES = {"seeds": "[0,1,2]", "tracker.tags": "[baseline]", "train.max_episodes": 1000, "train.max_epochs": 100,
            "train.target_return": 200, "tracker.entity": "my_team", "tracker.group": "my_group"}


def wrong_type(key: str, value) -> str:
    """The one line for a value of the wrong type: the key, the type it takes and an example."""
    return str(WrongType(key, value, EXAMPLES.get(key) or default_value(key)))


def one_line(ex: BaseException) -> str | None:
    """A one-line message for an error in the user's input, or None if `ex` is not one."""
    if isinstance(ex, WrongType):
        return wrong_type(ex.key, ex.value)
    if isinstance(ex, ConfigError):
        return str(ex)
    if isinstance(ex, OmegaConfBaseException):
        return omegaconf_line(ex)
    if not isinstance(ex, HydraException):
        return None
    text = str(ex)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if m := re.match(r"Could not override '([^']+)'", text):
        return str(unknown_key(m.group(1), config_groups()))
    if m := re.search(r"Could not find '([^']+)/([^/']+)'", text):
        names = [o.name for o in options(m.group(1), aliases=False)]
        return f"{m.group(1)}={m.group(2)} is not an option of group '{m.group(1)}': choose one of {', '.join(names)}"
    if m := re.match(r"Error merging override (\S+)", text):
        cause = ex.__cause__
        if isinstance(cause, ValidationError) and getattr(cause, "full_key", None) in schema_keys():
            return wrong_type(cause.full_key, m.group(1).partition("=")[2])
        why = str(cause).splitlines()[0] if cause is not None else (lines[-1] if lines else "")
        return f"{m.group(1)}: {why}"
    if "override_grammar" in text:
        return f"cannot parse the override: {lines[0]} (Hydra's override grammar: https://hydra.cc/docs/advanced/override_grammar/basic)"
    return " ".join(lines[:2])

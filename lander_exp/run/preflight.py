"""Check every job a command line would start before Hydra makes any folder or run: compose each
point of a `-m` sweep, validate it, and turn what is wrong into one line naming the fix."""

from __future__ import annotations

import itertools
import re

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from lander_exp.config import ConfigError, omegaconf_line, register, validate

# Flags after which Hydra only prints (help, config, info) and starts no job.
INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc",
              "--resolve", "-p", "--package"}


def job_overrides(args: list[str]) -> list[list[str]] | None:
    """The override lists of the jobs `args` asks for, or None if it starts no job."""
    if any(a in INFO_FLAGS or a.startswith("--cfg=") for a in args):
        return None
    multirun = any(a in ("-m", "--multirun") for a in args)
    plain = [a for a in args if not a.startswith("-") and not a.startswith(("hydra.", "hydra/", "+hydra", "~hydra"))]
    parsed = OverridesParser.create().parse_overrides(plain)
    if not multirun:
        return [plain]
    axes = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
            else [o.input_line] for o in parsed]
    return [list(p) for p in itertools.product(*axes)]


def check(args: list[str], config_dir: str) -> int:
    """Compose and validate every job; returns how many were checked."""
    register()
    jobs = job_overrides(args)
    if jobs is None:
        return 0
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        for overrides in jobs:
            validate(compose("config", overrides=overrides))
    return len(jobs)


def compose_config(overrides: list[str] = ()):
    """The validated config `python -m lander_exp OVERRIDES` would run, for tools that build runs'
    parts themselves (benchmarks, tests). Raises ConfigError on a bad value."""
    from lander_exp.run.app import CONF_DIR

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    validate(cfg)
    return cfg


def one_line(ex: BaseException) -> str | None:
    """A one-line message for an error in the user's input, or None if `ex` is not one."""
    if isinstance(ex, ConfigError):
        return str(ex)
    if isinstance(ex, OmegaConfBaseException):
        return omegaconf_line(ex)
    if not isinstance(ex, HydraException):
        return None
    text = str(ex)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if m := re.match(r"Could not override '([^']+)'", text):
        return (f"unknown key '{m.group(1)}': check its spelling (`python -m lander_exp --help` lists every key) "
                f"or add a new key with +{m.group(1)}=...")
    if m := re.search(r"Could not find '([^']+)/([^/']+)'", text):
        options = [ln for ln in lines[2:] if re.fullmatch(r"[\w.-]+", ln)]
        return f"{m.group(1)}={m.group(2)} is not an option of group '{m.group(1)}': choose one of {', '.join(options)}"
    if m := re.match(r"Error merging override (\S+)", text):
        cause = ex.__cause__
        why = str(cause).splitlines()[0] if cause is not None else (lines[-1] if lines else "")
        return f"{m.group(1)}: {why}"
    if "override_grammar" in text:
        return f"cannot parse the override: {lines[0]} (Hydra's override grammar: https://hydra.cc/docs/advanced/override_grammar/basic)"
    return " ".join(lines[:2])

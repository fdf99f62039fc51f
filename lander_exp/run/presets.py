"""The config groups of conf/ and their options as a user picks them (`network=deep`): what each
option is (the first comment line of its file) and which options are old names kept as aliases (a
file whose only content is a defaults list naming another option of its group)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # the repository's conf/ (editable install)
LAUNCHERS = "hydra/launcher"
# Hydra's own launcher, which has no file in conf/: the default of every multirun.
BASIC_LAUNCHER = "Hydra's own: a multirun's jobs one after another, in this process"


@dataclass(frozen=True)
class Option:
    name: str
    about: str  # one line: what the option sets
    alias_of: str | None = None  # an old name: the option it stands for


def config_groups(config_dir: Path | str = CONF_DIR) -> list[str]:
    """The config groups a user picks from (algo, env, ...); Hydra's own live under hydra/."""
    return sorted(p.name for p in Path(config_dir).iterdir() if p.is_dir() and p.name != "hydra")


def _option(path: Path) -> Option:
    text = path.read_text()
    comments = [ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("#")]
    about = next((c for c in comments if c and not c.startswith("@package")), "")
    body = yaml.safe_load(text) or {}
    defaults = body.get("defaults") if isinstance(body, dict) else None
    alias_of = None
    if set(body) == {"defaults"} and isinstance(defaults, list) and len(defaults) == 1 and isinstance(defaults[0], str):
        alias_of = defaults[0] if (path.parent / f"{defaults[0]}.yaml").is_file() else None
    return Option(path.stem, about, alias_of)


def options(group: str, config_dir: Path | str = CONF_DIR, aliases: bool = True) -> list[Option]:
    """The options of `group` (e.g. "network", "hydra/launcher"), sorted; without the old names
    unless `aliases`."""
    found = [_option(p) for p in sorted((Path(config_dir) / group).glob("*.yaml"))]
    if group == LAUNCHERS:
        found = [Option("basic", BASIC_LAUNCHER), *found]
    return [o for o in found if aliases or o.alias_of is None]


def current_names(choices: dict[str, str], config_dir: Path | str = CONF_DIR) -> dict[str, str]:
    """A run's choices (group -> option) with each old name replaced by the option it stands for, so
    that the run's record (`preset.lr`) is the same whichever name the command used."""
    out = dict(choices)
    for group, option in choices.items():
        path = Path(config_dir) / group / f"{option}.yaml"
        if option and path.is_file() and (alias_of := _option(path).alias_of):
            out[group] = alias_of
    return out

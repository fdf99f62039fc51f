"""What `python -m lander_exp --help` shows besides conf/config.yaml's own text (hydra.help): the
config groups with what each option is, every key with its value in this composition and its
meaning (from the schema, lander_exp/config.py), and the other commands. Hydra's help template
reads these through resolvers, so `experiment=reinforce --help` shows REINFORCE's values."""

from __future__ import annotations

import math
import textwrap
from enum import Enum

from omegaconf import DictConfig, OmegaConf

from lander_exp.config import ALGO_SCHEMAS, key_docs
from lander_exp.run.presets import LAUNCHERS, config_groups, options
from lander_exp.shell import python_command

WIDTH = 110
# The other commands, each with its own --help: (module, arguments, what it does).
COMMANDS = [
    ("lander_exp.resume", "RUN_DIR", "continue a killed or stopped run from its newest checkpoint"),
    ("lander_exp.evaluate", "RUN_DIR [--episodes 50] [--video]",
     "play a run's trained policy: return, episode length, how the episodes ended"),
    ("lander_exp.report", "FOLDER ... --out report.html", "one HTML page that compares runs, their seeds grouped"),
    ("lander_exp.analyze", "RUN_DIR [--html]", "what a trained policy does as each state variable moves"),
    ("lander_exp.sweep", "sweeps/X.yaml [--workers N]", "run a W&B sweep file here, without a W&B server (or with one)"),
    ("lander_exp.runs", "list|clean [FOLDER ...]", "every run folder and its state; clean deletes the dead ones"),
]


def _escaped(text: str) -> str:
    """Hydra passes the help through string.Template: a `$` must be doubled to stay one."""
    return text.replace("$", "$$")


def shown_value(value) -> str:
    """A value as it is typed on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return (".inf" if value > 0 else "-.inf") if math.isinf(value) else f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(shown_value(v) for v in value) + "]"
    return str(value)


def _table(rows: list[tuple[str, str]], first: int) -> str:
    """Two columns, the second wrapped under itself; a first cell too wide gets its own line."""
    lines = []
    for left, right in rows:
        wrapped = textwrap.wrap(right, WIDTH - first - 2) or [""]
        if len(left) > first:
            lines.append(f"  {left}")
            lines.extend(" " * (first + 2) + w for w in wrapped)
        else:
            lines.append(f"  {left:<{first}}{wrapped[0]}")
            lines.extend(" " * (first + 2) + w for w in wrapped[1:])
    return "\n".join(lines)


def groups_text(root: DictConfig) -> str:
    """Every config group with its options; `*` marks the option this composition picked."""
    choices = OmegaConf.select(root, "hydra.runtime.choices") or {}
    rows = []
    for group in [*config_groups(), LAUNCHERS]:
        chosen = choices.get(group)
        picks = options(group, aliases=False)
        for i, option in enumerate(picks):
            mark = "*" if option.name == chosen else " "
            rows.append((f"{group if i == 0 else '':<15} {mark} {option.name}", option.about))
        old = [o for o in options(group) if o.alias_of]
        if old:
            rows.append(("", "old names, still accepted: " + ", ".join(f"{o.name} (= {o.alias_of})" for o in old)))
        if chosen is None and group == "experiment":
            rows.append(("", "none by default"))
    return _escaped(_table(rows, max(len(left) for left, _ in rows) + 2))


def keys_text(root: DictConfig) -> str:
    """Every key with its value in this composition and what it means."""
    algo = OmegaConf.select(root, "algo.name")
    docs = {k: v for k, v in key_docs().items()}
    docs.update(key_docs(ALGO_SCHEMAS.get(algo, ALGO_SCHEMAS["ppo"]), "algo."))
    order = ["seed", "seeds", "device", "algo.", "env.", "network.", "lr.", "train.", "tracker."]
    keys = sorted(docs, key=lambda k: (next(i for i, p in enumerate(order) if k == p or k.startswith(p)), 0))
    rows = [(f"{key}={shown_value(OmegaConf.select(root, key, throw_on_missing=False))}", docs[key]) for key in keys]
    return _escaped(_table(rows, 36))


def commands_text() -> str:
    """The other commands, each with what it does on the line below."""
    return _escaped("\n".join(f"  {python_command(module)} {args}\n      {what}" for module, args, what in COMMANDS))


def register_help() -> None:
    """The resolvers conf/config.yaml's hydra.help.template calls."""
    OmegaConf.register_new_resolver("lander_exp.help_groups", lambda *, _root_: groups_text(_root_), replace=True)
    OmegaConf.register_new_resolver("lander_exp.help_keys", lambda *, _root_: keys_text(_root_), replace=True)
    OmegaConf.register_new_resolver("lander_exp.help_commands", lambda: commands_text(), replace=True)

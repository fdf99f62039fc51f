"""A W&B sweep file (sweeps/*.yaml) read without a server: its structure checked, its points listed.

The same file drives `wandb sweep` + `wandb agent` and the local runner, so a point becomes the same
command line either way: `KEY=VALUE` per parameter, formatted as the W&B agent formats
`${args_no_hyphens}` (`f"{key}={value}"`), i.e. Hydra overrides."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lander_exp.run.records import metric_problem


class SweepError(ValueError):
    """Something wrong with a sweep file or how it is run; the message is one line."""


METHODS = ("grid", "random", "bayes")
GOALS = ("maximize", "minimize")
TOP_KEYS = {"program", "command", "method", "metric", "parameters", "name", "description", "project", "entity",
            "early_terminate", "run_cap"}
# Distributions the local runner can draw from (W&B's names); W&B knows a few more.
DISTRIBUTIONS = {"constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform",
                 "log_uniform_values", "q_log_uniform_values", "normal", "q_normal", "log_normal"}
ARGS_MACRO = "${args_no_hyphens}"


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the swept parameters' values, in the file's order."""

    params: tuple[tuple[str, Any], ...]
    varied: tuple[str, ...] = ()  # the keys that take more than one value in the sweep

    def args(self) -> list[str]:
        """As the W&B agent writes them into ${args_no_hyphens}."""
        return [f"{k}={v}" for k, v in self.params]

    def key(self, unique: bool = False) -> str:
        """A folder name that is the same whenever the same values come up, whatever the order of the
        file's parameters (how a rerun finds it);
        `unique` appends a digest of the exact values, for when two points read alike."""
        shown = sorted((k, v) for k, v in self.params if k in self.varied) or sorted(self.params)
        text = "_".join(f"{k.split('.')[-1]}-{v:.4g}" if isinstance(v, float) else f"{k.split('.')[-1]}-{v}"
                        for k, v in shown)
        text = re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")[:80] or "point"
        if not unique:
            return text
        return f"{text}_{hashlib.sha1(repr(self.params).encode()).hexdigest()[:6]}"


@dataclass
class Spec:
    path: Path
    name: str
    method: str
    metric: str
    goal: str
    parameters: dict[str, dict]
    command: list[str]
    fixed_args: list[str]  # overrides the command passes to every run besides ${args_no_hyphens}
    raw: dict

    @property
    def varied(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.parameters.items() if "value" not in p and len(p.get("values", [0, 0])) > 1)

    def grid(self) -> list[Point]:
        axes = [[(k, v) for v in _values(p)] for k, p in self.parameters.items()]
        return [Point(tuple(combo), self.varied) for combo in itertools.product(*axes)]

    def random_points(self, count: int, seed: int) -> list[Point]:
        """`count` points drawn with a seeded RNG: the same seed and file give the same points, and a
        larger count extends the same list."""
        rng = random.Random(seed)
        return [Point(tuple((k, _draw(k, p, rng)) for k, p in self.parameters.items()), self.varied)
                for _ in range(count)]


def _values(p: dict) -> list:
    return [p["value"]] if "value" in p else list(p["values"])


def _draw(key: str, p: dict, rng: random.Random) -> Any:
    if "value" in p:
        return p["value"]
    if "values" in p:
        return rng.choice(p["values"])
    d, lo, hi = _distribution(p), p.get("min"), p.get("max")
    if d == "int_uniform":
        return rng.randint(lo, hi)
    if d == "uniform":
        return rng.uniform(lo, hi)
    if d == "q_uniform":
        return round(rng.uniform(lo, hi) / p.get("q", 1)) * p.get("q", 1)
    if d == "log_uniform":  # min, max are exponents (natural log)
        return math.exp(rng.uniform(lo, hi))
    if d == "log_uniform_values":
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if d == "q_log_uniform_values":
        return round(math.exp(rng.uniform(math.log(lo), math.log(hi))) / p.get("q", 1)) * p.get("q", 1)
    if d == "normal":
        return rng.gauss(p.get("mu", 0.0), p.get("sigma", 1.0))
    if d == "q_normal":
        return round(rng.gauss(p.get("mu", 0.0), p.get("sigma", 1.0)) / p.get("q", 1)) * p.get("q", 1)
    if d == "log_normal":
        return math.exp(rng.gauss(p.get("mu", 0.0), p.get("sigma", 1.0)))
    raise SweepError(f"parameter {key}: distribution {d!r} cannot be drawn")  # unreachable after load()


def _distribution(p: dict) -> str:
    """W&B's inference when no distribution is named: ints -> int_uniform, floats -> uniform."""
    if "distribution" in p:
        return p["distribution"]
    if "values" in p:
        return "categorical"
    if "value" in p:
        return "constant"
    ints = all(isinstance(p.get(b), int) and not isinstance(p.get(b), bool) for b in ("min", "max"))
    return "int_uniform" if ints else "uniform"


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_parameter(where: str, key: str, p: Any) -> None:
    if not isinstance(key, str) or not re.fullmatch(r"\+?[A-Za-z_][\w.]*", key):
        raise SweepError(f"{where}: parameter {key!r} is not a config key: use dotted Hydra keys, e.g. algo.gamma")
    section = key.lstrip("+").split(".")[0]
    if section in ("hydra", "tracker"):
        raise SweepError(f"{where}: parameter {key}: the runner sets {section}.* itself; sweep a training setting")
    if not isinstance(p, dict):
        raise SweepError(f"{where}: parameter {key} must be a mapping such as {{values: [...]}} or {{value: ...}}, "
                         f"not {p!r}")
    if "parameters" in p:
        raise SweepError(f"{where}: parameter {key} nests parameters: write each as a dotted key, e.g. {key}.x")
    if "value" in p or "values" in p:
        values = [p["value"]] if "value" in p else p["values"]
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: parameter {key}: values must be a non-empty list")
        for v in values:
            if v is None:
                raise SweepError(f"{where}: parameter {key}: null reaches Hydra as the string 'None' "
                                 f"(the W&B agent writes {key}=None): put {key}=null in command instead")
            if isinstance(v, (dict, list)):
                raise SweepError(f"{where}: parameter {key}: value {v!r} is not a single number, string or boolean")
        return
    if not ({"distribution", "min", "max", "mu"} & set(p)):
        raise SweepError(f"{where}: parameter {key} needs one of value, values, or distribution with min/max")
    d = _distribution(p)
    if d not in DISTRIBUTIONS or d in ("constant", "categorical"):
        raise SweepError(f"{where}: parameter {key}: distribution {d!r} is not supported here: use one of "
                         f"{', '.join(sorted(DISTRIBUTIONS - {'constant', 'categorical'}))}")
    if d in ("normal", "q_normal", "log_normal"):
        return
    lo, hi = p.get("min"), p.get("max")
    if not (_number(lo) and _number(hi)) or lo >= hi:
        raise SweepError(f"{where}: parameter {key}: distribution {d} needs numbers min < max, got min={lo!r} max={hi!r}")
    if d in ("log_uniform_values", "q_log_uniform_values") and lo <= 0:
        raise SweepError(f"{where}: parameter {key}: {d} needs min > 0 (the values themselves), got {lo!r}")


def load(path: str | Path, method: str | None = None) -> Spec:
    """Read and check a sweep file's structure; raises SweepError with one line. `method`: search the
    file's parameters with this method instead of its own."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text()
    except OSError as ex:
        raise SweepError(f"{where}: cannot read the sweep file ({ex.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(ex, "problem", None) or str(ex).splitlines()[0]
        raise SweepError(f"{where}: not valid YAML{at}: {problem}") from None
    if not isinstance(raw, dict):
        raise SweepError(f"{where}: a sweep file is a mapping with method, metric, parameters and command")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise SweepError(f"{where}: unknown top-level key {unknown[0]!r}: a W&B sweep file has {', '.join(sorted(TOP_KEYS))}")
    if method:
        raw = {**raw, "method": method}
    method = raw.get("method")
    if method not in METHODS:
        raise SweepError(f"{where}: method must be one of {', '.join(METHODS)}, got {method!r}")
    metric = raw.get("metric")
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str) or metric.get("goal", "maximize") not in GOALS:
        raise SweepError(f"{where}: metric must be a mapping like {{name: eval/return_ma, goal: maximize}}, got {metric!r}")
    why = metric_problem(metric["name"])
    if why is not None:  # else every point would run, and rank by a value none of them has
        raise SweepError(f"{where}: metric {metric['name']!r} cannot rank the runs: {why}")
    params = raw.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SweepError(f"{where}: parameters must be a non-empty mapping of config key -> {{values: [...]}}")
    for key, p in params.items():
        _check_parameter(where, key, p)
    if method == "grid":
        for key, p in params.items():
            if "value" not in p and "values" not in p:
                raise SweepError(f"{where}: parameter {key}: method grid needs value or values, not a distribution")
    if not isinstance(raw.get("program"), str):
        raise SweepError(f"{where}: program is missing: the W&B agent needs it, e.g. program: lander_exp/__main__.py")
    command = raw.get("command")
    if not isinstance(command, list) or not all(isinstance(c, (str, int, float)) for c in command):
        raise SweepError(f"{where}: command must be a list, e.g. [${{env}}, ${{interpreter}}, -m, lander_exp, {ARGS_MACRO}]")
    command = [str(c) for c in command]
    if command.count(ARGS_MACRO) != 1 or not _runs_lander_exp(command):
        raise SweepError(f"{where}: command must run `-m lander_exp` and pass the parameters as Hydra overrides "
                         f"with {ARGS_MACRO}, e.g. [${{env}}, ${{interpreter}}, -m, lander_exp, {ARGS_MACRO}]")
    start = command.index("lander_exp") + 1
    fixed = [c for c in command[start:] if c != ARGS_MACRO]
    macros = [c for c in fixed if "${" in c]
    if macros:
        raise SweepError(f"{where}: command: {macros[0]} is not supported: Hydra takes {ARGS_MACRO} (key=value)")
    name = raw.get("name") or path.stem
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
        raise SweepError(f"{where}: name {name!r} must be a plain folder name (letters, digits, _ . -)")
    return Spec(path, str(name), method, metric["name"], metric.get("goal", "maximize"), dict(params), command,
                fixed, raw)


def _runs_lander_exp(command: list[str]) -> bool:
    return any(a == "-m" and b == "lander_exp" for a, b in itertools.pairwise(command))

"""A claim file (claims/*.yaml) read and checked: a finding stated as something the harness runs.

A claim names a configuration (a sweep file's point, Hydra overrides, or both), the seed sets it is
chosen on and stated on, what each run must show (conditions on the final policy's evaluation or on
the run's own record), and the share of runs required. Nothing here trains or imports torch: a file
with a typo is refused in one line before anything runs.

    claim: jump
    statement: REINFORCE's return jumps when the policy learns to end its episodes
    write_up: The laws of the 'land'
    config:
      sweep: sweeps/reinforce_jump.yaml        # the file's fixed arguments and single values
      point: {}                                # values for the file's swept parameters but the seed
      overrides: []                            # Hydra overrides added after the file's (or alone)
    seeds: {development: 0-9, confirmation: 100-119}
    evaluate: {policy: greedy, episodes: 100}  # optional: the final policy on Gymnasium's env
    value: jump/episode                        # the number each run's CSV row reports
    passes: {jump/episode: ">= 0", landed_last1000: ">= 0.5"}   # every condition must hold
    required_rate: 0.8
    median: [6000, 7000]                       # optional: the median value over all runs must lie here
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lander_exp.envs.outcomes import RATES


class ClaimError(ValueError):
    """Something wrong with a claim file or how it is run; the message is one line."""


SEED_SETS = ("development", "confirmation")
TOP_KEYS = {"claim", "statement", "write_up", "config", "seeds", "evaluate", "value", "passes", "required_rate",
            "median", "batch_seeds"}
CONFIG_KEYS = {"sweep", "point", "overrides"}
EVALUATE_KEYS = {"policy", "episodes"}
POLICIES = ("greedy", "sampled")
# What a run's own record gives (its newest checkpoint: counters, evaluations, every training episode)
RUN_MEASURES = ("stop_reason", "epochs", "episodes", "global_step", "final_eval_return", "eval_return_ma",
                "landed_last1000", "timeout_grounded_last1000")
JUMP_MEASURES = ("jump/episode", "jump/rise", "jump/landed_before", "jump/landed_after", "jump/timeout_before",
                 "jump/timeout_after", "jump/return_before", "jump/return_after", "jump/length_before",
                 "jump/length_after")
# What an evaluation of the final policy gives
EVAL_MEASURES = ("return", "return_std", "length", *RATES)
OPERATORS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
             "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Condition:
    """`key OP target`: a number compared as a number, a word (a stop_reason) as text; a run
    without the key (no jump, no evaluation) fails it."""

    key: str
    op: str
    target: float | str

    def holds(self, measures: dict[str, Any]) -> bool:
        value = measures.get(self.key)
        if value is None:
            return False
        if isinstance(self.target, str):
            return OPERATORS[self.op](str(value), self.target)
        return isinstance(value, int | float) and OPERATORS[self.op](float(value), self.target)

    def __str__(self) -> str:
        target = f"{self.target:g}" if isinstance(self.target, float) else self.target
        return f"{self.key} {self.op} {target}"


@dataclass
class Claim:
    path: Path
    name: str
    statement: str
    write_up: str
    sweep: Path | None
    point: dict[str, Any]
    overrides: list[str]
    seeds: dict[str, list[int]]
    policy: str | None  # greedy | sampled | None (no evaluation: run measures only)
    episodes: int
    value: str
    passes: list[Condition]
    required_rate: float
    median: tuple[float, float] | None
    batch_seeds: bool = False
    raw: dict = field(default_factory=dict)

    def measures(self) -> tuple[str, ...]:
        """Every measure a run of this claim gets (the CSV's extra columns: the value and the conditions' keys)."""
        return tuple(dict.fromkeys([self.value, *(c.key for c in self.passes)]))


def parse_seeds(text: Any, where: str) -> list[int]:
    """`0-9`, `100-119`, `[1, 5, 7]`, `3` or `0-4,10-14` as a sorted list of distinct seeds."""
    if isinstance(text, int) and not isinstance(text, bool):
        return [text]
    if isinstance(text, list) and text and all(isinstance(s, int) and not isinstance(s, bool) for s in text):
        seeds = text
    elif isinstance(text, str) and re.fullmatch(r"\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*", text):
        seeds = []
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            lo_i, hi_i = int(lo), int(hi or lo)
            if hi_i < lo_i:
                raise ClaimError(f"{where}: the range {part.strip()} runs backwards: write LOW-HIGH, e.g. 100-119")
            seeds.extend(range(lo_i, hi_i + 1))
    else:
        raise ClaimError(f"{where}: {text!r} is not a seed set: write a range like 100-119, a list like [1, 5] or a "
                         "number")
    if any(s < 0 for s in seeds):
        raise ClaimError(f"{where}: seeds must be 0 or more")
    return sorted(set(seeds))


def _unknown(keys, known, where: str) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(known))}"
            raise ClaimError(f"{where}: unknown key '{key}'{hint}")


def _measure_name(key: str, where: str, evaluated: bool) -> None:
    known = (*RUN_MEASURES, *JUMP_MEASURES, *(EVAL_MEASURES if evaluated else ()))
    if key in known:
        return
    if key in EVAL_MEASURES:
        raise ClaimError(f"{where}: '{key}' is measured by evaluating the final policy: add "
                         "`evaluate: {policy: greedy, episodes: 100}` (or sampled)")
    close = difflib.get_close_matches(key, known, n=1)
    raise ClaimError(f"{where}: '{key}' is not a measure{f'; did you mean {close[0]!r}?' if close else ''} "
                     f"(run: {', '.join(RUN_MEASURES)}, jump/*; with evaluate: {', '.join(EVAL_MEASURES)})")


def _condition(key: str, text: Any, where: str) -> Condition:
    m = CONDITION.match(str(text)) if isinstance(text, str) else None
    if m is None:
        raise ClaimError(f"{where}: {key}: {text!r} is not a condition: write an operator and a value, e.g. '>= 0.5' "
                         "or '== target_return'")
    op, target = m.groups()
    try:
        value: float | str = float(target)
    except ValueError:
        if op not in ("==", "!="):
            raise ClaimError(f"{where}: {key}: '{target}' is not a number; only == and != compare words") from None
        value = target
    return Condition(key, op, value)


def load(path: Path | str) -> Claim:
    """Read and check a claim file; ClaimError (one line) on anything wrong."""
    path = Path(path)
    if not path.is_file():
        raise ClaimError(f"{path} does not exist: pass a claim file, e.g. claims/jump.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ClaimError(f"{path} is not valid YAML{where}: {getattr(ex, 'problem', ex)}") from None
    if not isinstance(raw, dict):
        raise ClaimError(f"{path}: a claim file is a mapping of keys (claim, config, seeds, passes, ...)")
    _unknown(raw, TOP_KEYS, str(path))
    for key in ("claim", "config", "seeds", "value", "passes", "required_rate"):
        if key not in raw:
            raise ClaimError(f"{path}: '{key}' is missing")
    name = raw["claim"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ClaimError(f"{path}: claim: {name!r} must be a name of letters, digits, _ . - (it names files)")
    config = raw["config"]
    if not isinstance(config, dict) or not (config.get("sweep") or config.get("overrides")):
        raise ClaimError(f"{path}: config needs `sweep` (a sweep file) and/or `overrides` (a list of KEY=VALUE)")
    _unknown(config, CONFIG_KEYS, f"{path}: config")
    overrides = config.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise ClaimError(f"{path}: config.overrides must be a list of Hydra overrides like algo.init_log_std=-1")
    point = config.get("point") or {}
    if not isinstance(point, dict):
        raise ClaimError(f"{path}: config.point must map the sweep's parameters to one value each")
    if "seed" in point or any(o.split("=", 1)[0].lstrip("+~") in ("seed", "seeds") for o in overrides):
        raise ClaimError(f"{path}: the seeds come from `seeds`, not from config: remove seed from config")
    sweep = None
    if config.get("sweep"):
        sweep = Path(config["sweep"])
        if not sweep.is_absolute() and not sweep.is_file():
            sweep = path.parent.parent / sweep  # named from the repository root, where claims/ lives
        if not sweep.is_file():
            raise ClaimError(f"{path}: config.sweep {config['sweep']} does not exist")
    seeds_raw = raw["seeds"]
    if not isinstance(seeds_raw, dict) or not seeds_raw:
        raise ClaimError(f"{path}: seeds must name seed sets, e.g. {{development: 0-9, confirmation: 100-119}}")
    _unknown(seeds_raw, SEED_SETS, f"{path}: seeds")
    seeds = {k: parse_seeds(v, f"{path}: seeds.{k}") for k, v in seeds_raw.items()}
    if "development" in seeds and "confirmation" in seeds and set(seeds["development"]) & set(seeds["confirmation"]):
        raise ClaimError(f"{path}: the development and confirmation seeds overlap: a claim is stated on seeds nothing "
                         "was chosen on")
    evaluate = raw.get("evaluate")
    policy, episodes = None, 0
    if evaluate is not None:
        if not isinstance(evaluate, dict):
            raise ClaimError(f"{path}: evaluate must be a mapping, e.g. {{policy: sampled, episodes: 100}}")
        _unknown(evaluate, EVALUATE_KEYS, f"{path}: evaluate")
        policy, episodes = evaluate.get("policy", "greedy"), evaluate.get("episodes", 100)
        if policy not in POLICIES:
            raise ClaimError(f"{path}: evaluate.policy must be greedy or sampled, not {policy!r}")
        if not isinstance(episodes, int) or isinstance(episodes, bool) or not 1 <= episodes <= 10_000:
            raise ClaimError(f"{path}: evaluate.episodes must be a whole number from 1 to 10000, e.g. 100")
    _measure_name(raw["value"], f"{path}: value", policy is not None)
    passes_raw = raw["passes"]
    if not isinstance(passes_raw, dict) or not passes_raw:
        raise ClaimError(f"{path}: passes must map measures to conditions, e.g. {{landed: '>= 0.5'}}")
    passes = []
    for key, text in passes_raw.items():
        _measure_name(key, f"{path}: passes", policy is not None)
        passes.append(_condition(key, text, f"{path}: passes"))
    rate = raw["required_rate"]
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1:
        raise ClaimError(f"{path}: required_rate must be a share of runs in (0, 1], e.g. 0.8")
    median = raw.get("median")
    if median is not None:
        if (not isinstance(median, list) or len(median) != 2 or not all(isinstance(x, int | float) for x in median)
                or median[0] > median[1]):
            raise ClaimError(f"{path}: median must be [LOW, HIGH], e.g. [6000, 7000]")
        median = (float(median[0]), float(median[1]))
    batch = raw.get("batch_seeds", False)
    if not isinstance(batch, bool):
        raise ClaimError(f"{path}: batch_seeds must be true or false")
    return Claim(path=path, name=name, statement=str(raw.get("statement", "")), write_up=str(raw.get("write_up", "")),
                 sweep=sweep, point=point, overrides=overrides, seeds=seeds, policy=policy, episodes=episodes,
                 value=raw["value"], passes=passes, required_rate=float(rate), median=median, batch_seeds=batch, raw=raw)

"""Runs as a comparison sees them: one group per setting, identical runs counted once, every group
named so that a reader tells it apart from the others on the page.

- A group is the runs whose resolved configs share every value but the seed and the bookkeeping keys:
  records.setting, the rule that names W&B groups. Preset choices (`preset.*`) are bookkeeping: an
  `experiment=fast` run and a `network=shallow lr=fast experiment=fast` run that trained with the same
  values are one group, named by those values.
- Runs with the same setting and the same seed (the same command run twice) are one run: the one that
  went furthest is kept, the others are listed with it (`Identical`).
- Groups of one environment are compared with each other (their scores share a scale); a group's
  kind is its environment and algorithm.
- A group's label holds its kind where the page mixes kinds, then the fewest keys whose values tell it
  apart from the other groups of its kind, each written as a user would type it (`null`, `true`,
  `inf`), never cut; its title holds every key that differs within its kind.
- Colours come from a qualitative palette large enough for the page (Plotly's ten, else Dark24's 24),
  in group order, so neighbouring groups differ."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

from lander_exp.run.records import RunRecord, setting, setting_key

KIND_KEYS = ("algo.name", "env.id")  # what a group's kind is made of: runs of different kinds run different problems
UNITS = {"global_step": "env steps", "episode": "episodes"}  # each x-axis in words


class _Missing:
    """A key a run's config does not have (PPO's eps_clip in a REINFORCE run), unlike a key set to null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def value_text(value: object) -> str:
    """A config value as a user types it on the command line: null, true, inf, 0.0003."""
    if value is MISSING:
        return "–"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else f"{value:g}"
    return str(value)


def last_x(run: RunRecord) -> float | None:
    """How far the run went on its x-axis: its last logged row, not its last evaluation (a run
    stopped between evaluations went further than its last evaluation)."""
    xs = [float(row[run.x_axis]) for row in run.history if isinstance(row.get(run.x_axis), int | float)]
    return max(xs) if xs else None


def evaluations(run: RunRecord) -> int:
    return len(run.series("eval/return_mean")[0])


def amount(x: float | None, x_axis: str) -> str:
    """'12,288 env steps', '300 episodes'."""
    return "–" if x is None else f"{x:,.0f} {UNITS.get(x_axis, x_axis)}"


@dataclass
class Identical:
    """Runs with the same setting and seed: `kept` is counted, `others` are not."""
    kept: RunRecord
    others: list[RunRecord]
    why: str  # why `kept` was the one kept


@dataclass
class Group:
    id: str  # "g0", "g1", ...: ties the group's traces in every chart to its legend entries
    label: str  # short and distinct: the kind where the page mixes kinds, then the keys that tell groups apart
    title: str  # every key that differs between the groups of its kind, with its value
    values: dict[str, object]  # the group's setting (flat; MISSING for keys it lacks)
    runs: list[RunRecord]  # counted runs: one per seed
    env: str
    algo: str
    color: str = ""

    @property
    def x_axis(self) -> str:
        return self.runs[0].x_axis

    @property
    def name(self) -> str:
        return self.label

    @property
    def unit(self) -> str:
        return UNITS.get(self.x_axis, self.x_axis)


@dataclass
class Grouping:
    groups: list[Group]
    keys: list[str]  # keys whose values differ between the groups
    named_by: list[str]  # the keys the labels are made of
    identical: list[Identical] = field(default_factory=list)

    @property
    def runs(self) -> list[RunRecord]:
        return [r for g in self.groups for r in g.runs]

    def envs(self) -> list[str]:
        """The environments of the groups, the one with the most groups first."""
        count = Counter(g.env for g in self.groups)
        return sorted(count, key=lambda env: (-count[env], env))


def dedupe(runs: list[RunRecord]) -> tuple[list[RunRecord], list[Identical]]:
    """One run per (setting, seed): of identical runs, the one that went furthest, then the one with the
    most evaluations, then the first in the order given (folder order)."""
    buckets: dict[tuple, list[RunRecord]] = {}
    for run in runs:
        buckets.setdefault((setting_key(run.config), json.dumps(run.config.get("seed")), run.x_axis), []).append(run)
    kept, identical = [], []
    for same in buckets.values():
        if len(same) == 1:
            kept.append(same[0])
            continue
        ranked = sorted(same, key=lambda r: (-(last_x(r) or 0.0), -evaluations(r)))  # stable: folder order breaks ties
        best, others = ranked[0], ranked[1:]
        far, runner_up = last_x(best) or 0.0, last_x(others[0]) or 0.0
        if far > runner_up:
            why = f"it went furthest ({amount(far, best.x_axis)}, the next {amount(runner_up, best.x_axis)})"
        elif evaluations(best) > evaluations(others[0]):
            why = f"it holds the most evaluations ({evaluations(best)})"
        else:
            why = f"all went as far ({amount(far, best.x_axis)}): the first by folder"
        kept.append(best)
        identical.append(Identical(best, others, why))
    order = {id(r): i for i, r in enumerate(runs)}
    return sorted(kept, key=lambda r: order[id(r)]), identical


def _flat(run: RunRecord) -> dict[str, object]:
    return setting(run.config)


def _differing(flats: list[dict[str, object]]) -> list[str]:
    keys = sorted({k for f in flats for k in f})
    return [k for k in keys if len({json.dumps(f.get(k, "\0missing"), default=str) for f in flats}) > 1]


def _fewest_keys(keys: list[str], flats: list[dict[str, object]]) -> list[str]:
    """Keys that tell the settings apart, chosen greedily: the key that splits the most of them first
    (equals: the shortest key), until every setting has its own tuple of values."""
    def tuples(chosen: list[str]) -> int:
        return len({json.dumps([f.get(k, "\0missing") for k in chosen], default=str) for f in flats})

    wanted, chosen = tuples(keys), []
    rest = sorted(keys, key=lambda k: (len(k), k))
    while tuples(chosen) < wanted:
        best = max(rest, key=lambda k: tuples([*chosen, k]))  # max keeps the first of equals
        chosen.append(best)
        rest.remove(best)
    return chosen


def display_names(keys: list[str]) -> dict[str, str]:
    """How a key is written in a label: a long key by its last part where no other key ends the same
    (update_epochs=8, not algo.update_epochs=8)."""
    tails = Counter(k.rsplit(".", 1)[-1] for k in keys)
    return {k: k.rsplit(".", 1)[-1] if len(k) > 12 and tails[k.rsplit(".", 1)[-1]] == 1 else k for k in keys}


def _order(value: object) -> tuple:
    """Sort order of values in a label: numbers by size, then text, then keys a group lacks."""
    if value is MISSING:
        return (2, 0.0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, value_text(value))


def palette(n: int) -> list[str]:
    import plotly.colors

    return list(plotly.colors.qualitative.Plotly if n <= 10 else plotly.colors.qualitative.Dark24)


def group_runs(runs: list[RunRecord]) -> Grouping:
    """Identical runs counted once, the rest grouped by setting, ordered by kind and by the values in
    their labels, labelled and coloured."""
    counted, identical = dedupe(runs)
    buckets: dict[str, list[RunRecord]] = {}
    for run in counted:
        buckets.setdefault(setting_key(run.config) + run.x_axis, []).append(run)
    members = list(buckets.values())
    flats = [_flat(m[0]) for m in members]
    keys = _differing(flats)
    kinds = [tuple(str(f.get(k, "")) for k in KIND_KEYS) for f in flats]
    # the kind's part of a label: the algorithm, and the environment where the algorithm does not tell kinds apart
    kind_named: list[str] = []
    for key in KIND_KEYS:
        if len({tuple(str(f.get(k, "")) for k in kind_named) for f in flats}) < len(set(kinds)) and key in keys:
            kind_named.append(key)
    by_kind: dict[tuple, list[int]] = {}
    for i, kind in enumerate(kinds):
        by_kind.setdefault(kind, []).append(i)
    inner_keys = {kind: _differing([flats[i] for i in idx]) for kind, idx in by_kind.items()}
    label_keys = {kind: _fewest_keys(inner_keys[kind], [flats[i] for i in idx]) for kind, idx in by_kind.items()}
    named_by = list(dict.fromkeys([*kind_named, *(k for ks in label_keys.values() for k in ks)]))
    shown = display_names(keys)
    rows: list[tuple] = []
    per_env = Counter(kind[1] for kind in kinds)
    for kind in sorted(by_kind, key=lambda k: (-per_env[k[1]], k[1], k[0])):  # as Grouping.envs, then algorithm
        idx = sorted(by_kind[kind], key=lambda i: [_order(flats[i].get(k, MISSING)) for k in label_keys[kind]])
        for i in idx:
            f = flats[i]
            prefix = " on ".join(str(f.get(k)) for k in kind_named)
            parts = ", ".join(f"{shown[k]}={value_text(f[k])}" for k in label_keys[kind] if k in f)
            label = f"{prefix}: {parts}" if prefix and parts else prefix or parts or members[i][0].group or "all runs"
            title = ", ".join(f"{k}={value_text(f[k])}" for k in [*kind_named, *inner_keys[kind]] if k in f) or label
            rows.append((i, label, title, kind))
    counts = Counter(label for _, label, _, _ in rows)
    seen: Counter = Counter()
    colors = palette(len(rows))
    groups = []
    for n, (i, label, title, kind) in enumerate(rows):
        if counts[label] > 1:  # cannot happen with the keys above; a guard so that no two groups share a label
            seen[label] += 1
            label = f"{label} #{seen[label]}"
        values = {k: flats[i].get(k, MISSING) for k in keys}
        groups.append(Group(f"g{n}", label, title, values, members[i], env=kind[1], algo=kind[0],
                            color=colors[n % len(colors)]))
    return Grouping(groups, keys, named_by, identical)

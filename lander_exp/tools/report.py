"""`python -m lander_exp.report RUN_OR_SWEEP_FOLDER... [--out report.html] [--threshold 200] [--export DIR]`:
one self-contained HTML page (Plotly's JS inlined, no network needed) that compares runs.

A group is the runs that trained with the same values but the seed (the rule that names W&B groups,
lander_exp/tools/grouping.py: preset choices never split or name a group); identical runs (same values,
same seed) count once and are listed; runs that cannot be read, or were not evaluated, are listed with
the reason (lander_exp/tools/collect.py). For each environment, the page opens with the statistics a
reviewer can trust with a handful of seeds (lander_exp/tools/stats.py, after rliable): per group the
IQM, mean and median of the final evaluation return with bootstrap 95% intervals, the probability that
one group's run beats another's, performance profiles, and the time to a score (env steps and seconds,
runs that never got there counted as censored). Then each group's curves against the runs' own x-axis
(PPO: env steps, REINFORCE: episodes): the mean over its seeds with a bootstrap 95% band. Every run's
config sits one click away. The same page can be built from an online W&B project or sweep; --export
also writes the runs in formats other tools read (lander_exp/tools/export.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import html
import math
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from lander_exp.config import ConfigError
from lander_exp.envs.outcomes import RATES as OUTCOMES
from lander_exp.run.records import NOT_SETTING, RunRecord, load_wandb, setting
from lander_exp.shell import full_cause, pip_install, python_command, replacing, unwritable
from lander_exp.tools import stats
from lander_exp.tools.collect import LeftOut, collect, no_evaluation, no_runs
from lander_exp.tools.grouping import UNITS, Group, Grouping, amount, group_runs, last_x, value_text

JUMP_KEY = "jump/episode"  # written into the W&B summary by the REINFORCE jump detector
MAX_POINTS = 1500  # per curve: longer histories are averaged into this many bins
MARKERS_UP_TO = 60  # curves with at most this many points also get markers: a lone evaluation stays visible
MA_EPISODES = 100  # training outcome rates are drawn over the last 100 episodes, like episode/return_ma100
THRESHOLD = 200.0  # the score whose time to reach the report tabulates (LunarLander's "solved")
BAND_ALPHA = 0.12

RETURN_KEYS = ("eval/return_mean", "episode/return", "episode/return_ma100")
RATE_KEYS = {f"{ns}/{o}" for ns in ("eval", "episode") for o in OUTCOMES}  # fractions: their axis is [0, 1]
# (title, metric key, episodes to average over or None); a trailing * gives one panel per key under it
PANELS: list[tuple[str, str, int | None]] = [
    ("Evaluation return (deterministic policy)", "eval/return_mean", None),
    ("Evaluation return, moving average (the stopping rule)", "eval/return_ma", None),
    ("Training episode return", "episode/return", None),
    ("Training episode return, 100-episode moving average", "episode/return_ma100", None),
    ("Policy entropy", "train/entropy", None),
    ("log std", "train/log_std/*", None),
    ("Actor loss", "train/actor_loss", None),
    ("Critic loss", "train/critic_loss", None),
    ("Total loss", "train/loss", None),
    *[(f"Evaluation outcome rate: {o}", f"eval/{o}", None) for o in OUTCOMES],
    *[(f"Training outcome rate over the last {MA_EPISODES} episodes: {o}", f"episode/{o}", MA_EPISODES) for o in OUTCOMES],
]


# ---- curves ------------------------------------------------------------------------------------

@dataclass
class Curve:
    x: np.ndarray
    mean: np.ndarray  # over the runs holding each point
    low: np.ndarray  # bootstrap 95% interval of that mean (== mean where one run holds the point)
    high: np.ndarray
    counted: np.ndarray  # runs holding each point


def run_series(run: RunRecord, key: str, window: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of `key`, sorted by x. With `window`, each row's value becomes the rate over the last
    `window` episodes (rows weighted by episode/count, 1 if absent): a REINFORCE row holds one episode,
    so its outcome "rate" is 0 or 1, while a PPO row already averages hundreds."""
    rows = [row for row in run.history if isinstance(row.get(key), int | float) and run.x_axis in row]
    xs = np.array([float(row[run.x_axis]) for row in rows])
    ys = np.array([float(row[key]) for row in rows])
    if window and len(rows):
        n = np.array([float(row.get("episode/count", 1)) for row in rows])
        hits = np.cumsum(ys * n)
        seen = np.cumsum(n)
        before = seen - n  # episodes before each row
        start = np.maximum(np.searchsorted(before, seen - window, side="right") - 1, 0)  # first row of the window
        ys = (hits - (hits[start] - ys[start] * n[start])) / (seen - before[start])
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def group_curve(runs: list[RunRecord], key: str, window: int | None = None, reps: int = stats.REPS) -> Curve | None:
    """The mean of `key` over runs with its bootstrap band (stats.curve_band). Runs logged at the same
    x values are averaged point by point; otherwise each run is interpolated onto the union of x
    values, only inside its own range. Histories longer than MAX_POINTS are averaged into bins first."""
    series = [s for run in runs if len((s := run_series(run, key, window))[0])]
    if not series:
        return None
    lo = min(s[0][0] for s in series)
    hi = max(s[0][-1] for s in series)
    union = np.unique(np.concatenate([s[0] for s in series]))
    if len(union) > MAX_POINTS and hi > lo:
        edges = np.linspace(lo, hi, MAX_POINTS + 1)
        grid = (edges[:-1] + edges[1:]) / 2
        rows = []
        for xs, ys in series:
            idx = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, MAX_POINTS - 1)
            sums = np.bincount(idx, ys, MAX_POINTS)
            counts = np.bincount(idx, minlength=MAX_POINTS)
            rows.append(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))
    else:
        grid = union
        rows = [np.where((grid >= xs[0]) & (grid <= xs[-1]), np.interp(grid, xs, ys), np.nan) for xs, ys in series]
    stack = np.vstack(rows)
    keep = np.any(~np.isnan(stack), axis=0)
    mean, low, high, counted = stats.curve_band(stack[:, keep], reps=reps)
    return Curve(grid[keep], mean, low, high, counted)


def _expand(key: str, runs: list[RunRecord]) -> list[str]:
    if not key.endswith("*"):
        return [key]
    prefix = key[:-1]
    return sorted({k for r in runs for k in r.keys() if k.startswith(prefix)})


def jump_x(run: RunRecord) -> float | None:
    """The run's detected jump (an episode number in its summary) on the run's own x-axis."""
    episode = run.summary.get(JUMP_KEY)
    if not isinstance(episode, int | float):
        return None
    if run.x_axis == "episode":
        return float(episode)
    pairs = sorted((row["episode"], row[run.x_axis]) for row in run.history if "episode" in row and run.x_axis in row)
    if not pairs:
        return None
    return float(np.interp(episode, [p[0] for p in pairs], [p[1] for p in pairs]))


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def _layout(fig, title: str, x_title: str, height: int = 340) -> None:
    """No Plotly legend: one legend per section (the page's own) names the groups of every chart."""
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, margin={"l": 60, "r": 10, "t": 40, "b": 45},
                      hovermode="closest", template="plotly_white", showlegend=False)
    fig.update_xaxes(title_text=x_title)


def _hover_name(g: Group) -> str:
    """A group in a chart's hover: its label in bold, then its full title, a few keys a line."""
    lines, line = [], ""
    for part in g.title.split(", "):
        if line and len(line) + len(part) > 70:
            lines.append(line)
            line = ""
        line = f"{line}, {part}" if line else part
    lines.append(line)
    full = "" if g.title == g.label else "<br>" + "<br>".join(html.escape(x) for x in lines)
    return f"<b>{html.escape(g.label)}</b>{full}"


def panel_figure(title: str, key: str, groups: list[Group], x_axis: str, window: int | None = None,
                 reps: int = stats.REPS):
    """One Plotly figure of one metric: each group's mean line over its seeds and bootstrap 95% band;
    every band is drawn before every line, so no band covers another group's line. Jump markers on
    return curves. None when no group logged the key."""
    import plotly.graph_objects as go

    curves = [(g, c) for g in groups if (c := group_curve(g.runs, key, window, reps)) is not None]
    if not curves:
        return None
    fig = go.Figure()
    for group, c in curves:
        if np.any(c.high > c.low):
            fig.add_trace(go.Scatter(x=c.x, y=c.high, mode="lines", line={"width": 0}, hoverinfo="skip",
                                     showlegend=False, legendgroup=group.id, name=f"{group.label} 95% high"))
            fig.add_trace(go.Scatter(x=c.x, y=c.low, mode="lines", line={"width": 0}, fill="tonexty",
                                     fillcolor=_rgba(group.color, BAND_ALPHA), hoverinfo="skip", showlegend=False,
                                     legendgroup=group.id, name=f"{group.label} 95% low"))
    unit = UNITS.get(x_axis, x_axis)
    for group, c in curves:
        fig.add_trace(go.Scatter(
            x=c.x, y=c.mean, mode="lines+markers" if len(c.x) <= MARKERS_UP_TO else "lines", name=group.label,
            legendgroup=group.id, line={"color": group.color, "width": 2}, marker={"size": 6, "color": group.color},
            customdata=np.stack([c.low, c.high, c.counted], axis=-1),
            hovertemplate=(f"{_hover_name(group)}<br>%{{x:,.0f}} {unit}<br>mean %{{y:.4g}}"
                           " [%{customdata[0]:.4g}, %{customdata[1]:.4g}]<br>seeds %{customdata[2]}<extra></extra>")))
    if key in RETURN_KEYS:
        for group, c in curves:
            _add_jumps(fig, group, c)
    _layout(fig, title, f"{unit} ({x_axis})")
    if key in RATE_KEYS:
        fig.update_yaxes(range=[-0.02, 1.02], title_text="fraction of episodes")
    return fig


def _add_jumps(fig, group: Group, c: Curve) -> None:
    import plotly.graph_objects as go

    jumps = [(run, jx) for run in group.runs if (jx := jump_x(run)) is not None]
    if not jumps:
        return
    xs = [jx for _, jx in jumps]
    fig.add_trace(go.Scatter(
        x=xs, y=np.interp(xs, c.x, c.mean), mode="markers", name=f"{group.label} · jump",
        marker={"symbol": "star", "size": 13, "color": group.color, "line": {"color": "black", "width": 1}},
        text=[f"{run.name}: jump at episode {run.summary[JUMP_KEY]:g}" for run, _ in jumps],
        hovertemplate="%{text}<extra></extra>", legendgroup=group.id, showlegend=False))


# ---- statistics --------------------------------------------------------------------------------

def _few(n: int) -> str:
    """A note beside numbers that rest on fewer than stats.FEW_SEEDS runs."""
    if n >= stats.FEW_SEEDS:
        return ""
    text, why = (("one run", "one run: no interval") if n == 1 else
                 (f"only {n} runs", f"fewer than {stats.FEW_SEEDS} runs: the interval is rough, and may miss the truth"))
    return f' <span class="few" title="{html.escape(why)}">⚠ {text}</span>'


def _iv(iv: stats.Interval, fmt: str = ".1f") -> str:
    def f(v: float) -> str:
        return "∞" if v == math.inf else format(v, fmt)

    if iv.low == iv.high == iv.value:
        return f(iv.value)
    return f'{f(iv.value)} <span class="ci">[{f(iv.low)}, {f(iv.high)}]</span>'


def _swatch(g: Group) -> str:
    return f'<span class="swatch" style="background:{g.color}"></span>{html.escape(g.label)}'


@dataclass
class Statistics:
    """Everything one environment's statistics show, computed once."""
    scores: dict[str, np.ndarray]  # group id -> final evaluation returns of its runs
    aggregates: dict[str, dict[str, stats.Interval]]
    improvements: list[tuple[Group, Group, stats.Interval]]  # P(first's run > second's run)
    reaches: dict[str, stats.Reach | None]  # run id -> when its evaluation first reached the threshold
    to_score: dict[str, tuple[stats.TimeToScore, stats.TimeToScore]]  # group id -> (env steps, seconds)
    threshold: float


def compute_statistics(groups: list[Group], threshold: float = THRESHOLD, reps: int = stats.REPS) -> Statistics:
    """The statistics of groups of one environment: scores of different environments are not on one scale."""
    if len({g.env for g in groups}) > 1:
        raise ValueError(f"statistics compare the groups of one environment, not of {sorted({g.env for g in groups})}")
    scores = {g.id: stats.final_scores(g.runs) for g in groups}
    scored = [g for g in groups if len(scores[g.id])]
    agg = stats.aggregates({g.id: scores[g.id] for g in scored}, reps=reps)
    # every pair while there are few groups; past that, each group against the one with the highest IQM
    ranked = sorted(scored, key=lambda g: -agg[g.id]["iqm"].value)
    pairs = ([(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1:]] if len(ranked) <= 4
             else [(ranked[0], b) for b in ranked[1:]])
    improvements = [(a, b, stats.probability_of_improvement(scores[a.id], scores[b.id], reps=reps)) for a, b in pairs]
    reaches = {r.id: stats.first_reach(r, threshold) for g in groups for r in g.runs}
    to_score = {}
    for g in groups:
        got = [reaches[r.id] for r in g.runs if reaches[r.id] is not None]
        if got:
            to_score[g.id] = (stats.time_to_score([x.steps for x in got], [x.reached for x in got]),
                              stats.time_to_score([x.wall_s for x in got], [x.reached for x in got]))
    return Statistics(scores, agg, improvements, reaches, to_score, threshold)


def _median_time(t: stats.TimeToScore, unit: str) -> str:
    fmt = ",.1f" if unit == "s" and t.censored_at < 10 else ",.0f"  # tiny runs end within seconds
    if t.median.value == math.inf:
        return f"not reached by half (runs ended by {format(t.censored_at, fmt)} {unit})"
    return _iv(t.median, fmt)


def _unevaluated(g: Group) -> str:
    """Why a group has no final score: its runs' reasons (one line per distinct reason)."""
    reasons = Counter(no_evaluation(r) for r in g.runs)
    return "; ".join(f"{reason}{f' (×{n})' if n > 1 else ''}" for reason, n in reasons.items())


def statistics_tables(groups: list[Group], st: Statistics) -> str:
    head = ["group", "runs evaluated", f"IQM final eval return {_ci_head()}", "mean", "median"]
    rows = []
    for g in groups:
        n = len(st.scores[g.id])
        runs = f"{n}{_few(n)}" if n == len(g.runs) else f"{n} of {len(g.runs)}{_few(n) if n else ''}"
        if g.id in st.aggregates:
            a = st.aggregates[g.id]
            rows.append(_row([_swatch(g), runs, _iv(a["iqm"]), _iv(a["mean"]), _iv(a["median"])], g))
        else:
            rows.append(_row([_swatch(g), runs, f"no evaluation: {html.escape(_unevaluated(g))}"], g, span_last=3))
    final = _table(head, rows, "final-stats")
    pairs = [_row([f"{_swatch(a)} over {_swatch(b)}", _iv(p, ".2f"),
                   f"{len(st.scores[a.id])} vs {len(st.scores[b.id])}{_few(min(len(st.scores[a.id]), len(st.scores[b.id])))}"])
             for a, b, p in st.improvements]
    scored = sum(1 for g in groups if g.id in st.aggregates)
    poi = (_table(["groups", f"P(a run of the first scores above a run of the second) {_ci_head()}", "runs"], pairs,
                  "improvement") if pairs else
           f"<p>{'One group' if scored == 1 else 'No group'} with an evaluation: nothing to compare.</p>")
    t = f"{st.threshold:g}"
    rows = []
    for g in groups:
        if g.id not in st.to_score:
            rows.append(_row([_swatch(g), f"0 of {len(g.runs)}", "no evaluation"], g, span_last=2))
            continue
        steps, secs = st.to_score[g.id]
        rows.append(_row([_swatch(g), f"{steps.reached} of {steps.runs}{_few(steps.runs)}",
                          _median_time(steps, "env steps"), _median_time(secs, "s")], g))
    reach = _table(["group", f"runs that reached {t}", f"median env steps to {t} {_ci_head()}",
                    f"median seconds to {t} {_ci_head()}"], rows, "time-to-score")
    return (f"<h3>Final evaluation return</h3>{final}"
            f"<h3>Probability of improvement</h3>{poi}"
            f"<h3>Time to {t}</h3>{reach}")


def _ci_head() -> str:
    return f"[{stats.CONFIDENCE:.0%} CI]"


def profile_figure(groups: list[Group], st: Statistics, reps: int = stats.REPS):
    """Performance profiles of every group on one chart: the fraction of its runs whose final
    evaluation return is above each score, with a bootstrap 95% band."""
    import plotly.graph_objects as go

    scored = [g for g in groups if len(st.scores.get(g.id, ()))]
    if not scored:
        return None
    every = np.concatenate([st.scores[g.id] for g in scored])
    pad = max(10.0, 0.05 * float(np.ptp(every)))
    taus = np.linspace(float(every.min()) - pad, float(every.max()) + pad, 201)
    profiles = stats.performance_profiles({g.id: st.scores[g.id] for g in scored}, taus, reps=reps)
    fig = go.Figure()
    for g in scored:
        _, low, high = profiles[g.id]
        if np.any(high > low):
            fig.add_trace(go.Scatter(x=taus, y=high, mode="lines", line={"width": 0, "shape": "hv"}, hoverinfo="skip",
                                     legendgroup=g.id, name=f"{g.label} 95% high"))
            fig.add_trace(go.Scatter(x=taus, y=low, mode="lines", line={"width": 0, "shape": "hv"}, fill="tonexty",
                                     fillcolor=_rgba(g.color, BAND_ALPHA), hoverinfo="skip", legendgroup=g.id,
                                     name=f"{g.label} 95% low"))
    for g in scored:
        fraction, low, high = profiles[g.id]
        fig.add_trace(go.Scatter(x=taus, y=fraction, mode="lines", line={"color": g.color, "width": 2, "shape": "hv"},
                                 name=g.label, legendgroup=g.id, customdata=np.stack([low, high], axis=-1),
                                 hovertemplate=(f"{_hover_name(g)}<br>above %{{x:.0f}}: %{{y:.0%}}"
                                                " [%{customdata[0]:.0%}, %{customdata[1]:.0%}]<extra></extra>")))
    fig.add_vline(x=st.threshold, line={"color": "grey", "dash": "dot", "width": 1})
    env = groups[0].env
    _layout(fig, f"Performance profile{f': {env}' if env else ''}", "final evaluation return (score)", height=360)
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%", title_text="runs scoring above")
    return fig


# ---- tables ------------------------------------------------------------------------------------

def _final(run: RunRecord, key: str) -> float | None:
    _, ys = run.series(key)
    return ys[-1] if ys else None


def _best(run: RunRecord, key: str) -> float | None:
    _, ys = run.series(key)
    return max(ys) if ys else None


def _spread(values: list[float | None], fmt: str = ".1f") -> str:
    """The mean over runs, with the runs' range (not a ±std that a few seeds cannot estimate)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    if len(set(vals)) == 1:
        return format(vals[0], fmt)
    return (f'{format(float(np.mean(vals)), fmt)} <span class="ci">({format(min(vals), fmt)} to '
            f'{format(max(vals), fmt)})</span>')


def _row(cells: list[str], g: Group | None = None, span_last: int = 0) -> str:
    """A table row; with `span_last`, the last cell spans that many columns (a sentence where numbers would be)."""
    title = f' title="{html.escape(g.title)}"' if g is not None else ""
    tds = [f"<td>{c}</td>" for c in cells]
    if span_last:
        tds[-1] = f'<td colspan="{span_last}">{cells[-1]}</td>'
    return f"<tr{title}>" + "".join(tds) + "</tr>"


def group_table(groups: list[Group]) -> str:
    head = ["group", "seeds", "went to", "final eval return", "best eval return", "final eval MA",
            "final landed rate (eval)", "final return MA100", "jump at episode", "stop reasons"]
    rows = []
    for g in groups:
        jumps = [str(int(r.summary[JUMP_KEY])) for r in g.runs if isinstance(r.summary.get(JUMP_KEY), int | float)]
        stops = Counter(str(r.summary.get("stop_reason", "none (killed or running)")) for r in g.runs)
        rows.append(_row([_swatch(g), str(len(g.runs)), f"{_spread([last_x(r) for r in g.runs], ',.0f')} {g.unit}",
                          _spread([_final(r, "eval/return_mean") for r in g.runs]),
                          _spread([_best(r, "eval/return_mean") for r in g.runs]),
                          _spread([_final(r, "eval/return_ma") for r in g.runs]),
                          _spread([_final(r, "eval/landed") for r in g.runs], ".2f"),
                          _spread([_final(r, "episode/return_ma100") for r in g.runs]), ", ".join(jumps) or "–",
                          ", ".join(f"{k} ×{v}" for k, v in stops.items())], g))
    return _table(head, rows, "groups", wide=True)


def _reach_cells(reach: stats.Reach | None) -> list[str]:
    if reach is None:
        return ["–", "–"]
    if reach.reached:
        return [f"{reach.steps:,.0f}", f"{reach.wall_s:,.0f}"]
    return [f"not by {reach.steps:,.0f}", f"not by {reach.wall_s:,.0f}"]


def run_table(groups: list[Group], reaches: dict[str, stats.Reach | None], threshold: float) -> str:
    t = f"{threshold:g}"
    head = ["run", "group", "seed", "final eval return", f"env steps to {t}", f"seconds to {t}", "went to",
            "stop reason", "jump at episode", "source", "config"]
    rows = []
    for g in groups:
        for r in g.runs:
            cfg_text = yaml.safe_dump(r.config, sort_keys=True, default_flow_style=False)
            jump = r.summary.get(JUMP_KEY)
            final = _final(r, "eval/return_mean")
            rows.append(_row([html.escape(r.name), _swatch(g), html.escape(value_text(r.config.get("seed"))),
                              "no evaluation" if final is None else f"{final:.1f}", *_reach_cells(reaches.get(r.id)),
                              amount(last_x(r), r.x_axis), html.escape(str(r.summary.get("stop_reason", "–"))),
                              f"{jump:g}" if isinstance(jump, int | float) else "–", f"<code>{html.escape(r.source)}</code>",
                              f'<details><summary>config</summary><pre class="config">{html.escape(cfg_text)}</pre></details>']))
    return _table(head, rows, "runs", wide=True)


def _table(head: list[str], rows: list[str], name: str, wide: bool = False) -> str:
    """A table in a box of its own that scrolls sideways when the table is wider than the page;
    `name` is its class (one per section) and, for the page's single tables, its id (`wide`)."""
    ident = f' id="{name}"' if wide else ""
    return (f'<div class="scroll"><table{ident} class="{name}"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def keys_table(grouping: Grouping) -> str:
    """Every differing key (rows) and each group's value (columns), as a user would type it."""
    head = ["key", *(_swatch(g) for g in grouping.groups)]
    rows = [_row([f"<code>{html.escape(k)}</code>", *(html.escape(value_text(g.values[k])) for g in grouping.groups)])
            for k in grouping.keys]
    return _table(head, rows, "keys", wide=True)


def _runs_note(g: Group) -> str:
    n = len(g.runs)
    evaluated = sum(1 for r in g.runs if _final(r, "eval/return_mean") is not None)
    text = f"{n} run{'s' if n > 1 else ''}"
    if evaluated == 0:
        return f"{text}, no evaluation"
    return text if evaluated == n else f"{text}, {n - evaluated} without evaluation"


def legend(groups: list[Group]) -> str:
    """The page's legend for a set of charts: one entry per group (its full label on hover); a click
    hides or shows the group in every chart of the page."""
    items = "".join(f'<button type="button" class="legend-item" data-group="{g.id}" title="{html.escape(g.title)}">'
                    f'<span class="swatch" style="background:{g.color}"></span>{html.escape(g.label)}'
                    f' <span class="n">({_runs_note(g)})</span></button>'
                    for g in groups)
    return f'<div class="legend">{items}</div>'


def identical_table(grouping: Grouping) -> str:
    group_of = {r.id: g for g in grouping.groups for r in g.runs}
    rows = [_row([_swatch(group_of[same.kept.id]), html.escape(value_text(same.kept.config.get("seed"))),
                  f"<code>{html.escape(same.kept.source)}</code>",
                  "<br>".join(f"<code>{html.escape(o.source)}</code>" for o in same.others), html.escape(same.why)])
            for same in grouping.identical]
    return _table(["group", "seed", "counted", "also found, not counted", "why that one"], rows, "identical", wide=True)


def notes(grouping: Grouping, left_out: list[LeftOut]) -> str:
    """What the statistics do not count, and why: identical runs, folders that cannot be read, runs
    without an evaluation."""
    parts = []
    if grouping.identical:
        dropped = sum(len(s.others) for s in grouping.identical)
        parts.append(f"<h3>Identical runs, counted once ({dropped} not counted)</h3><p class=\"how\">Same values and "
                     f"same seed: the same experiment run again. Each counts once in the statistics and the curves."
                     f"</p>{identical_table(grouping)}")
    if left_out:
        rows = [_row([f"<code>{html.escape(x.folder)}</code>", html.escape(x.reason)]) for x in left_out]
        parts.append(f"<h3>Run folders left out ({len(left_out)})</h3>"
                     f"{_table(['run folder', 'why it is not on this page'], rows, 'left-out', wide=True)}")
    unevaluated = [(g, r) for g in grouping.groups for r in g.runs if _final(r, "eval/return_mean") is None]
    if unevaluated:
        rows = [_row([html.escape(r.name), _swatch(g), f"<code>{html.escape(r.source)}</code>", html.escape(no_evaluation(r))], g)
                for g, r in unevaluated]
        parts.append(f"<h3>Runs without an evaluation ({len(unevaluated)}): in the curves, not in the statistics</h3>"
                     f"{_table(['run', 'group', 'source', 'why'], rows, 'unevaluated', wide=True)}")
    if not parts:
        return ""
    return f'<div id="notes"><h2>Not counted, or not shown</h2>{"".join(parts)}</div>'


# ---- page --------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:20px;color:#222}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 4px}
.meta{color:#666;font-size:13px} .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
.groups td:first-child,.final-stats td:first-child,.time-to-score td:first-child{min-width:200px;max-width:420px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top} th{background:#f5f5f5}
td code{overflow-wrap:anywhere}
.keys th{min-width:90px;max-width:220px}
.swatch{display:inline-block;vertical-align:middle;width:10px;height:10px;border-radius:2px;margin-right:6px}
.ci{color:#666} .few{color:#a15c00;font-size:12px} .how{color:#444;font-size:13px;max-width:980px}
pre.config{font-size:11px;max-height:400px;max-width:600px;overflow:auto;background:#fafafa;padding:6px}
.scroll{overflow-x:auto;max-width:100%}
.legend{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0;position:sticky;top:0;background:#fff;z-index:5;padding:4px 0}
.legend-item{font:inherit;font-size:13px;border:1px solid #ddd;border-radius:4px;background:#fff;padding:3px 8px;cursor:pointer;
  text-align:left;max-width:100%}
.legend-item.off{opacity:.35;text-decoration:line-through} .legend-item .n{color:#888;font-size:11px}
#script-errors{color:#b00;white-space:pre-wrap} #script-errors:empty{display:none} code{font-size:11px}
"""
# Errors in any script below are shown on the page (and counted in body[data-errors]) so that a broken
# chart is never silently missing; body[data-plots] counts the charts Plotly actually drew.
ERROR_HOOK = "window.reportErrors=[];window.addEventListener('error',function(e){window.reportErrors.push(String(e.message));});"
FINISH = """
document.querySelectorAll('.legend-item').forEach(function (item) {
  item.addEventListener('click', function () {
    var off = item.classList.toggle('off'), id = item.dataset.group;
    document.querySelectorAll('.legend-item[data-group="' + id + '"]').forEach(function (o) { o.classList.toggle('off', off); });
    document.querySelectorAll('.js-plotly-plot').forEach(function (gd) {
      var idx = [];
      gd.data.forEach(function (t, i) { if (t.legendgroup === id) idx.push(i); });
      if (idx.length) Plotly.restyle(gd, {visible: !off}, idx);
    });
  });
});
document.body.dataset.plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(function (d) { return d.querySelector('.main-svg'); }).length;
document.body.dataset.errors = window.reportErrors.length;
document.getElementById('script-errors').textContent = window.reportErrors.join('\\n');
"""
HOW_TO_READ = f"""<p class="how">With a few seeds per group, a mean ± std says little: these numbers follow
Agarwal et al. (NeurIPS 2021, <code>rliable</code>). <b>IQM</b>: the mean of the middle half of the runs' final
evaluation returns, robust to one lucky or broken seed; each number has a bootstrap {stats.CONFIDENCE:.0%}
confidence interval in brackets (runs resampled with replacement): intervals that overlap mean the
data cannot order the groups. <b>Probability of improvement</b>: the chance that a run of the first group
scores above a run of the second (0.5: no difference; an interval that holds 0.5: not shown to
differ). <b>Performance profile</b>: for each score, the fraction of a group's runs whose final return
is above it; a curve above another everywhere is better at every bar. <b>Time to a score</b>: env steps
and seconds until a run's evaluation first reached it; runs that never did count as censored at their
end (Kaplan-Meier), so the median is "not reached" when fewer than half got there. ⚠ marks numbers
from fewer than {stats.FEW_SEEDS} runs.</p>"""


def _plot(fig, n: int) -> str:
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{n}",
                       config={"displaylogo": False, "responsive": True})


def _env_section(env: str, groups: list[Group], threshold: float, reps: int, figs: list[str]) -> tuple[str, Statistics]:
    """One environment's groups: their legend, statistics, performance profile and curves (one set
    per x-axis: PPO's env steps, REINFORCE's episodes)."""
    st = compute_statistics(groups, threshold, reps)
    profile = profile_figure(groups, st, reps)
    charts = []
    if profile is not None:
        figs.append(_plot(profile, len(figs)))
        charts.append(f'<div class="grid">{figs[-1]}</div>')
    curves = []
    for axis in dict.fromkeys(g.x_axis for g in groups):
        axis_groups = [g for g in groups if g.x_axis == axis]
        panels = []
        for panel_title, pattern, window in PANELS:
            for key in _expand(pattern, [r for g in axis_groups for r in g.runs]):
                name = panel_title if key == pattern else f"{panel_title}: {key.rsplit('/', 1)[-1]}"
                fig = panel_figure(name, key, axis_groups, axis, window, reps)
                if fig is not None:
                    figs.append(_plot(fig, len(figs)))
                    panels.append(figs[-1])
        algos = " and ".join(dict.fromkeys(g.algo for g in axis_groups if g.algo))
        heading = f"Curves against {UNITS.get(axis, axis)}" + (f" ({algos})" if algos else "")
        curves.append(f'<h3>{html.escape(heading)}</h3><div class="grid">{"".join(panels)}</div>')
    runs = sum(len(g.runs) for g in groups)
    algos = ", ".join(dict.fromkeys(g.algo.upper() for g in groups if g.algo))
    what = f"{env}{f' ({algos})' if algos else ''}: " if env else ""
    heading = f"{what}{len(groups)} group{'s' if len(groups) != 1 else ''}, {runs} run{'s' if runs != 1 else ''}"
    body = (f'<section class="env" data-env="{html.escape(env)}"><h2>{html.escape(heading)}</h2>{legend(groups)}'
            f"{statistics_tables(groups, st)}{''.join(charts)}{''.join(curves)}</section>")
    return body, st


def build_html(runs: list[RunRecord], title: str, sources: list[str], threshold: float = THRESHOLD,
               reps: int = stats.REPS, left_out: list[LeftOut] = (), grouping: Grouping | None = None) -> str:
    """The page. `runs`: every run read (identical ones are counted once here); `left_out`: the
    folders that could not be read, listed on the page with their reasons."""
    from plotly.offline import get_plotlyjs

    grouping = grouping or group_runs(runs)
    groups, keys = grouping.groups, grouping.keys
    figs: list[str] = []
    sections, reaches = [], {}
    for env in grouping.envs():
        body, st = _env_section(env, [g for g in groups if g.env == env], threshold, reps, figs)
        sections.append(body)
        reaches.update(st.reaches)
    counted = grouping.runs
    named_by = ", ".join(f"<code>{html.escape(k)}</code>" for k in grouping.named_by) or "their W&B group"
    ignored = ", ".join(NOT_SETTING)
    envs = grouping.envs()
    split = (" Each environment is compared on its own: their scores are not on one scale." if len(envs) > 1 else "")
    grouping_html = (f'<p>A group is the runs that trained with the same values but the seed (the rule that names W&B '
                     f'groups: <span title="never split a group: {html.escape(ignored)}">preset choices and bookkeeping '
                     f"keys</span> never split one). {len(keys)} config key{'s differ' if len(keys) != 1 else ' differs'}; "
                     f"labels name {named_by} (full values on hover). Lines are means over a group's seeds, bands their "
                     f"bootstrap {stats.CONFIDENCE:.0%} interval; ★ marks a detected jump.{split}</p>"
                     f"<details><summary>every key that differs, and each group's value</summary>{keys_table(grouping)}"
                     "</details>") if keys else "<p>All runs share one setting.</p>"
    common = yaml.safe_dump({k: v for k, v in setting(counted[0].config).items() if k not in keys}, sort_keys=True)
    built = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M}"
    extra = []
    if grouping.identical:
        n = sum(len(s.others) for s in grouping.identical)
        extra.append(f"{n} identical run{'s' if n != 1 else ''} counted once")
    if left_out:
        extra.append(f"{len(left_out)} run folder{'s' if len(left_out) != 1 else ''} left out")
    unevaluated = sum(1 for r in counted if _final(r, "eval/return_mean") is None)
    if unevaluated:
        extra.append(f"{unevaluated} run{'s' if unevaluated != 1 else ''} without an evaluation")
    extra_html = f'<div class="meta">{", ".join(extra)}: <a href="#notes">listed below</a></div>' if extra else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script>{ERROR_HOOK}</script>
<script>{get_plotlyjs()}</script>
<style>{STYLE}</style></head>
<body data-expected-plots="{len(figs)}">
<h1>{html.escape(title)}</h1>
<div class="meta">{_count(len(counted), 'run')} in {_count(len(groups), 'group')} · built {built} UTC
 from {html.escape(", ".join(sources))}</div>{extra_html}
<pre id="script-errors"></pre>
<div id="grouping">{grouping_html}</div>
<details><summary>config shared by all runs</summary><pre class="config">{html.escape(common)}</pre></details>
{notes(grouping, list(left_out))}
<h2>How to read the comparison</h2>{HOW_TO_READ}
{''.join(sections)}
<h2>Final metrics per group</h2>
<p class="how">The mean over a group's runs, their range in brackets; "went to" is how far the runs went.</p>{group_table(groups)}
<h2>Runs</h2>{run_table(groups, reaches, threshold)}
<script>{FINISH}</script>
</body></html>
"""


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=python_command("lander_exp.report"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, help="run folders, or folders holding run folders (e.g. runs/multirun/...)")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file to write (default: report.html)")
    p.add_argument("--title", default="lander_exp: run comparison", help="the page's title (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help="the evaluation return whose time to reach is tabulated (default: %(default)g)")
    p.add_argument("--bootstrap-reps", type=int, default=stats.REPS, metavar="N",
                   help="bootstrap resamples per interval (default: %(default)s)")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="also write every run as rl-zoo3's evaluations.npz and one tidy CSV of every curve into DIR")
    p.add_argument("--wandb-project", metavar="ENTITY/PROJECT", help="read runs from an online W&B project instead")
    p.add_argument("--wandb-sweep", metavar="ENTITY/PROJECT/SWEEP_ID", help="read the runs of an online W&B sweep instead")
    args = p.parse_args(argv)
    try:
        sources = [str(x) for x in args.paths] + [x for x in (args.wandb_project, args.wandb_sweep) if x]
        if len(sources) == 0:
            raise ConfigError("nothing to compare: pass run folders or sweep folders, or --wandb-project / --wandb-sweep")
        if args.paths and (args.wandb_project or args.wandb_sweep):
            raise ConfigError("pass either folders or one of --wandb-project / --wandb-sweep, not both")
        why = f"{args.out} is a folder" if args.out.is_dir() else unwritable(args.out.parent)
        if why:  # before minutes of reading runs
            raise ConfigError(f"--out {args.out} cannot be written: {why}; pass --out with a file in a folder you can write to")
        if args.bootstrap_reps < 100:
            raise ConfigError(f"--bootstrap-reps={args.bootstrap_reps} is too few for a 95% interval: pass 100 or more")
        if not math.isfinite(args.threshold):
            raise ConfigError(f"--threshold={args.threshold} is not a finite number: pass a return such as 200")
        if args.export is not None and args.export.exists() and (not args.export.is_dir() or any(args.export.iterdir())):
            raise ConfigError(f"--export {args.export} is not empty: pass a new or empty folder")
        try:
            import plotly  # noqa: F401
            import rliable  # noqa: F401
        except ImportError as ex:
            raise ConfigError(f"the report needs {ex.name}: {pip_install('analysis')}") from None
        left_out: list[LeftOut] = []
        if args.paths:
            runs, left_out = collect(args.paths)
        else:
            read = load_wandb(project=args.wandb_project, sweep=args.wandb_sweep)
            runs = [r for r in read if r.history]
            left_out = [LeftOut(r.source, "its W&B run holds no logged epoch") for r in read if not r.history]
        for x in left_out:
            print(f"lander_exp.report: note: {x.folder} left out: {x.reason}", file=sys.stderr)
        if not runs:
            raise no_runs(sources, left_out)
        grouping = group_runs(runs)
        page = build_html(runs, args.title, sources, args.threshold, args.bootstrap_reps, left_out, grouping)
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with replacing(args.out, encoding="utf-8") as f:
                f.write(page)
        except OSError as ex:
            if full_cause(ex) is not None:  # the command's one line on a full disk (shell.run_command)
                raise
            raise ConfigError(f"--out {args.out} cannot be written ({ex.strerror or type(ex).__name__}): pass --out "
                              "with a file in a folder you can write to") from None
    except ConfigError as ex:
        print(f"lander_exp.report: error: {ex}", file=sys.stderr)
        return 2
    extra = []
    if grouping.identical:
        extra.append(f"{_count(sum(len(s.others) for s in grouping.identical), 'identical run')} counted once")
    if left_out:
        extra.append(f"{_count(len(left_out), 'run folder')} left out")
    print(f"{args.out}: {_count(len(grouping.runs), 'run')} in {_count(len(grouping.groups), 'group')}"
          + (f" ({', '.join(extra)}: listed on the page)" if extra else ""))
    if args.export is not None:
        from lander_exp.tools.export import write_export

        files = write_export(args.export, [(g.label, g.runs) for g in grouping.groups])
        print(f"{args.export}: {len(files)} files (evaluations.npz per run, curves.csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

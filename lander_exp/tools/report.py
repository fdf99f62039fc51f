"""`python -m lander_exp.report RUN_OR_SWEEP_FOLDER... [--out report.html]`: one self-contained HTML page
(Plotly's JS inlined, no network needed) that compares runs.

Runs are grouped by the config keys whose values differ between them (the seed and the bookkeeping
keys of records.NOT_SETTING never split a group); each group is drawn as the mean over its seeds with a
±1 std band, against the runs' own x-axis (PPO: global_step, REINFORCE: episode). A table gives final metrics per group, and every
run's config sits one click away. The same page can be built from an online W&B project or sweep."""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from lander_exp.config import ConfigError
from lander_exp.run.records import NOT_SETTING, RunRecord, find_run_dirs, flatten, load_local, load_wandb, not_setting
from lander_exp.shell import pip_install, python_command, shown, unwritable

JUMP_KEY = "jump/episode"  # written into the W&B summary by the REINFORCE jump detector
MAX_POINTS = 1500  # per curve: longer histories are averaged into this many bins

RETURN_KEYS = ("eval/return_mean", "episode/return", "episode/return_ma100")
OUTCOMES = ("landed", "crashed", "out_of_bounds", "timeout")
# (title, metric keys; a trailing * matches every key under that prefix, e.g. one per action dimension)
PANELS: list[tuple[str, list[str]]] = [
    ("Evaluation return (deterministic policy)", ["eval/return_mean"]),
    ("Evaluation return, moving average (the stopping rule)", ["eval/return_ma"]),
    ("Training episode return", ["episode/return"]),
    ("Training episode return, 100-episode moving average", ["episode/return_ma100"]),
    ("Policy entropy", ["train/entropy"]),
    ("log std per action dimension", ["train/log_std/*"]),
    ("Actor loss", ["train/actor_loss"]),
    ("Critic loss", ["train/critic_loss"]),
    ("Total loss", ["train/loss"]),
    *[(f"Evaluation outcome rate: {o}", [f"eval/{o}"]) for o in OUTCOMES],
    *[(f"Training outcome rate: {o}", [f"episode/{o}"]) for o in OUTCOMES],
]
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


@dataclass
class Group:
    label: str  # "key=value, ..." over the keys that tell groups apart
    values: dict[str, object]  # every differing key's value in this group
    runs: list[RunRecord]
    color: str

    @property
    def x_axis(self) -> str:
        return self.runs[0].x_axis


# ---- grouping ----------------------------------------------------------------------------------

def _ignored(key: str) -> bool:
    """Keys that never split a group (seed, bookkeeping); preset choices are kept: they name groups."""
    return not_setting(key) and not key.startswith("preset.")


def differing_keys(runs: list[RunRecord]) -> list[str]:
    flat = [flatten(r.config) for r in runs]
    keys = sorted({k for f in flat for k in f if not _ignored(k)})
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def _label_keys(keys: list[str], flat: list[dict]) -> list[str]:
    """The fewest differing keys that still tell every group apart, for short legend labels: preset
    choices first (network=wide says more than three network.* values), then names, then the rest;
    a key is shown only if it splits groups the keys before it could not."""
    def tuples(chosen: list[str]) -> int:
        return len({json.dumps([f.get(k) for k in chosen], default=str) for f in flat})

    wanted = tuples(keys)
    order = sorted(keys, key=lambda k: (not k.startswith("preset."), not k.endswith(".name"), k))
    shown: list[str] = []
    for key in order:
        if tuples(shown) == wanted:
            break
        if tuples([*shown, key]) > tuples(shown):
            shown.append(key)
    return shown


def group_runs(runs: list[RunRecord]) -> tuple[list[Group], list[str]]:
    """Groups of runs that share every config value but the seed; returns (groups, differing keys)."""
    import plotly.colors

    palette = plotly.colors.qualitative.Plotly + plotly.colors.qualitative.D3
    keys = differing_keys(runs)
    flat = [flatten(r.config) for r in runs]
    shown = _label_keys(keys, flat)
    buckets: dict[str, list[int]] = {}
    for i, f in enumerate(flat):
        buckets.setdefault(json.dumps([f.get(k) for k in keys] + [runs[i].x_axis], default=str), []).append(i)
    groups = []
    for n, members in enumerate(buckets.values()):
        f = flat[members[0]]
        label = ", ".join(f"{k.removeprefix('preset.')}={_short(f.get(k))}" for k in shown)
        if not label:
            label = runs[members[0]].group or "all runs"
        groups.append(Group(label, {k: f.get(k) for k in keys}, [runs[i] for i in members], palette[n % len(palette)]))
    return groups, keys


def _short(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---- curves ------------------------------------------------------------------------------------

def mean_band(runs: list[RunRecord], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(x, mean, std, seeds counted) of `key` over runs. Runs logged at the same x values are
    averaged point by point; otherwise each run is interpolated onto the union of x values, only
    inside its own range. Histories longer than MAX_POINTS are averaged into bins first."""
    series = []
    for run in runs:
        xs, ys = run.series(key)
        if xs:
            order = np.argsort(xs, kind="stable")
            series.append((np.asarray(xs)[order], np.asarray(ys)[order]))
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
    counted = np.sum(~np.isnan(stack), axis=0)
    keep = counted > 0
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(stack[:, keep], axis=0)
        std = np.nanstd(stack[:, keep], axis=0)
    return grid[keep], mean, std, counted[keep]


def _expand(pattern: str, runs: list[RunRecord]) -> list[str]:
    if not pattern.endswith("*"):
        return [pattern]
    prefix = pattern[:-1]
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


def panel_figure(title: str, patterns: list[str], groups: list[Group], x_axis: str):
    """One Plotly figure: each group's mean line and ±1 std band per metric key; jump markers on
    return curves. None when no group logged any of the keys."""
    import plotly.graph_objects as go

    fig = go.Figure()
    all_runs = [r for g in groups for r in g.runs]
    keys = [k for p in patterns for k in _expand(p, all_runs)]
    for group in groups:
        for n, key in enumerate(keys):
            band = mean_band(group.runs, key)
            if band is None:
                continue
            x, mean, std, counted = band
            name = group.label if len(keys) == 1 else f"{group.label} · {key.split('/')[-1]}"
            legend = f"{group.label}|{key}"
            if counted.max() > 1:
                fig.add_trace(go.Scatter(x=x, y=mean + std, mode="lines", line={"width": 0}, hoverinfo="skip",
                                         showlegend=False, legendgroup=legend, name=f"{name} +1 std"))
                fig.add_trace(go.Scatter(x=x, y=mean - std, mode="lines", line={"width": 0}, fill="tonexty",
                                         fillcolor=_rgba(group.color, 0.18), hoverinfo="skip", showlegend=False,
                                         legendgroup=legend, name=f"{name} -1 std"))
            fig.add_trace(go.Scatter(
                x=x, y=mean, mode="lines", name=name, legendgroup=legend,
                line={"color": group.color, "width": 2, "dash": DASHES[n % len(DASHES)]},
                customdata=np.stack([std, counted], axis=-1),
                hovertemplate=(f"<b>{html.escape(name)}</b><br>{x_axis} %{{x:,.0f}}<br>mean %{{y:.4g}}"
                               " ± %{customdata[0]:.3g}<br>seeds %{customdata[1]}<extra></extra>")))
            if key in RETURN_KEYS:
                _add_jumps(fig, group, key, x, mean)
    if not fig.data:
        return None
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=340, margin={"l": 60, "r": 10, "t": 40, "b": 40},
                      hovermode="closest", template="plotly_white",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "font": {"size": 10}})
    fig.update_xaxes(title_text=x_axis)
    return fig


def _add_jumps(fig, group: Group, key: str, x: np.ndarray, mean: np.ndarray) -> None:
    import plotly.graph_objects as go

    jumps = [(run, jx) for run in group.runs if (jx := jump_x(run)) is not None]
    if not jumps:
        return
    xs = [jx for _, jx in jumps]
    fig.add_trace(go.Scatter(
        x=xs, y=np.interp(xs, x, mean), mode="markers", name=f"{group.label} · jump",
        marker={"symbol": "star", "size": 13, "color": group.color, "line": {"color": "black", "width": 1}},
        text=[f"{run.name}: jump at episode {run.summary[JUMP_KEY]:g}" for run, _ in jumps],
        hovertemplate="%{text}<extra></extra>", legendgroup=f"{group.label}|{key}", showlegend=False))


# ---- tables ------------------------------------------------------------------------------------

def _final(run: RunRecord, key: str) -> float | None:
    _, ys = run.series(key)
    return ys[-1] if ys else None


def _best(run: RunRecord, key: str) -> float | None:
    _, ys = run.series(key)
    return max(ys) if ys else None


def _stat(values: list[float | None], fmt: str = ".1f") -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    if len(set(vals)) == 1:
        return format(vals[0], fmt)
    return f"{format(float(np.mean(vals)), fmt)} ± {format(float(np.std(vals)), fmt)}"


def group_table(groups: list[Group]) -> str:
    head = ["group", "seeds", "x-axis", "last x", "final eval return", "best eval return", "final eval MA",
            "final landed rate (eval)", "final return MA100", "jump at episode", "stop reasons"]
    rows = []
    for g in groups:
        last_x = [max(r.series("eval/return_mean")[0] or r.series("episode/return")[0] or [0]) for r in g.runs]
        jumps = [str(int(r.summary[JUMP_KEY])) for r in g.runs if isinstance(r.summary.get(JUMP_KEY), int | float)]
        stops = Counter(str(r.summary.get("stop_reason", "?")) for r in g.runs)
        cells = [f'<span class="swatch" style="background:{g.color}"></span>{html.escape(g.label)}', str(len(g.runs)),
                 g.x_axis, _stat(last_x, ",.0f"),
                 _stat([_final(r, "eval/return_mean") for r in g.runs]), _stat([_best(r, "eval/return_mean") for r in g.runs]),
                 _stat([_final(r, "eval/return_ma") for r in g.runs]), _stat([_final(r, "eval/landed") for r in g.runs], ".2f"),
                 _stat([_final(r, "episode/return_ma100") for r in g.runs]), ", ".join(jumps) or "–",
                 ", ".join(f"{k} ×{v}" for k, v in stops.items())]
        every_key = "\n".join(f"{k}={_short(v)}" for k, v in g.values.items())  # the label shows the fewest keys
        rows.append(f'<tr title="{html.escape(every_key)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return _table(head, rows, "groups")


def run_table(groups: list[Group]) -> str:
    head = ["run", "group", "seed", "final eval return", "stop reason", "jump at episode", "source", "config"]
    rows = []
    for g in groups:
        for r in g.runs:
            cfg_text = yaml.safe_dump(r.config, sort_keys=True, default_flow_style=False)
            jump = r.summary.get(JUMP_KEY)
            cells = [html.escape(r.name), f'<span class="swatch" style="background:{g.color}"></span>{html.escape(g.label)}',
                     html.escape(str(r.config.get("seed", "?"))), _stat([_final(r, "eval/return_mean")]),
                     html.escape(str(r.summary.get("stop_reason", "?"))),
                     f"{jump:g}" if isinstance(jump, int | float) else "–", f"<code>{html.escape(r.source)}</code>",
                     f'<details><summary>config</summary><pre class="config">{html.escape(cfg_text)}</pre></details>']
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return _table(head, rows, "runs")


def _table(head: list[str], rows: list[str], css_id: str) -> str:
    return (f'<table id="{css_id}"><thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


# ---- page --------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:20px;color:#222}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:13px} .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
#groups td:first-child{min-width:160px} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}
.swatch{display:inline-block;vertical-align:middle;width:10px;height:10px;border-radius:2px;margin-right:6px}
pre.config{font-size:11px;max-height:400px;overflow:auto;background:#fafafa;padding:6px}
#script-errors{color:#b00;white-space:pre-wrap} #script-errors:empty{display:none} code{font-size:11px}
"""
# Errors in any script below are shown on the page (and counted in body[data-errors]) so that a broken
# chart is never silently missing; body[data-plots] counts the charts Plotly actually drew.
ERROR_HOOK = "window.reportErrors=[];window.addEventListener('error',function(e){window.reportErrors.push(String(e.message));});"
FINISH = """
document.body.dataset.plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(function (d) { return d.querySelector('.main-svg'); }).length;
document.body.dataset.errors = window.reportErrors.length;
document.getElementById('script-errors').textContent = window.reportErrors.join('\\n');
"""


def build_html(runs: list[RunRecord], title: str, sources: list[str]) -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    groups, keys = group_runs(runs)
    common = {k: v for k, v in flatten(runs[0].config).items()
              if k not in keys and not _ignored(k)}
    sections = []
    n_fig = 0
    for axis in dict.fromkeys(g.x_axis for g in groups):
        axis_groups = [g for g in groups if g.x_axis == axis]
        figs = []
        for panel_title, patterns in PANELS:
            fig = panel_figure(panel_title, patterns, axis_groups, axis)
            if fig is None:
                continue
            figs.append(pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{n_fig}",
                                    config={"displaylogo": False, "responsive": True}))
            n_fig += 1
        heading = f"Curves against {axis}" + (f" ({len(axis_groups)} groups)" if len(axis_groups) > 1 else "")
        sections.append(f"<h2>{heading}</h2><div class=\"grid\">{''.join(figs)}</div>")
    grouped_by = ", ".join(f"<code>{html.escape(k)}</code>" for k in keys) or "nothing (all runs share one setting)"
    common_text = yaml.safe_dump(common, sort_keys=True)
    ignored = ", ".join(k for k in NOT_SETTING if k != "preset")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script>{ERROR_HOOK}</script>
<script>{get_plotlyjs()}</script>
<style>{STYLE}</style></head>
<body data-expected-plots="{n_fig}">
<h1>{html.escape(title)}</h1>
<div class="meta">{len(runs)} runs in {len(groups)} groups · built {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC
 from {html.escape(", ".join(sources))}</div>
<pre id="script-errors"></pre>
<p>Grouped by the config keys that differ between runs (ignoring {html.escape(ignored)}): {grouped_by}.
Lines are means over a group's seeds, bands ±1 std; ★ marks a detected jump.</p>
<details><summary>config shared by all runs</summary><pre class="config">{html.escape(common_text)}</pre></details>
<h2>Final metrics per group</h2>{group_table(groups)}
{''.join(sections)}
<h2>Runs</h2>{run_table(groups)}
<script>{FINISH}</script>
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=python_command("lander_exp.report"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, help="run folders, or folders holding run folders (e.g. runs/multirun/...)")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file to write (default: report.html)")
    p.add_argument("--title", default="lander_exp: run comparison")
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
        try:
            import plotly  # noqa: F401
        except ImportError:
            raise ConfigError(f"the report needs plotly: {pip_install('analysis')}") from None
        if args.paths:
            skipped: list[Path] = []
            unreadable: list[tuple[Path, str]] = []
            runs = load_local(find_run_dirs(args.paths, skipped), skipped=unreadable)
            for path in skipped:
                print(f"lander_exp.report: note: {path} left out: it was run with tracking off", file=sys.stderr)
            unreadable += [(Path(r.source), "its W&B record holds no logged epoch") for r in runs if not r.history]
            runs = [r for r in runs if r.history]
            for path, why in unreadable:
                print(f"lander_exp.report: note: {shown(path)} left out: {why} (list runs that cannot be read or resumed with "
                      f"{python_command('lander_exp.runs', 'list', *args.paths)})", file=sys.stderr)
        else:
            runs = load_wandb(project=args.wandb_project, sweep=args.wandb_sweep)
        if not runs:
            raise ConfigError(f"no readable runs found in {', '.join(sources)}")
        page = build_html(runs, args.title, sources)
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(page, encoding="utf-8")
        except OSError as ex:
            raise ConfigError(f"--out {args.out} cannot be written ({ex.strerror or type(ex).__name__}): pass --out "
                              "with a file in a folder you can write to") from None
    except ConfigError as ex:
        print(f"lander_exp.report: error: {ex}", file=sys.stderr)
        return 2
    groups, _ = group_runs(runs)
    print(f"{args.out}: {len(runs)} runs in {len(groups)} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The comparison report: grouping, labels and averaging on hand-made records; then a report of a
mixed runs/ folder of tiny real runs (PPO and REINFORCE, several seeds per group, presets that trained
the same values, a run made twice, a run killed at its start, one trained with tracking off, one
stopped before its first evaluation, eleven groups) opened in headless Chromium (Debian's package;
`make test` installs it when missing)."""

import csv
import fcntl
import json
import math
import os
import re
import signal
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from lander_exp.run.records import RunRecord, find_run_dirs, load_local, run_dirs_under
from lander_exp.tools import report
from lander_exp.tools.collect import collect
from lander_exp.tools.grouping import MISSING, value_text
from tests.chromium import Browser
from tests.conftest import fill, run_cli
from tests.processes import spawn, wait_for


def record(seed: int, hidden: int, steps: list[int], returns: list[float], preset: str = "seed", summary=None,
           x_axis: str = "global_step", episodes: list[int] | None = None, **extra) -> RunRecord:
    config = {"seed": seed, "run_dir": f"/runs/{seed}", "tracker": {"dir": f"d{seed}"},
              "network": {"hidden_dim": hidden, "actor_layers": 2}, "lr": {"actor": 3e-4},
              "preset": {"network": preset, "lr": "seed"}, **extra}
    history = [{x_axis: s, "eval/return_mean": r} for s, r in zip(steps, returns, strict=True)]
    if episodes:
        for row, ep in zip(history, episodes, strict=True):
            row["episode"] = ep
    return RunRecord(id=f"id{seed}{hidden}{len(steps)}", name=f"run-h{hidden}-s{seed}", group="g", config=config,
                     x_axis=x_axis, history=history, summary=summary or {}, source=f"runs/h{hidden}-s{seed}-{len(steps)}")


def test_groups_are_the_values_that_trained_never_the_preset_choices():
    # seed 2 trained with the values of the `wide` preset under another preset name: the same experiment
    runs = [record(1, 64, [1], [0.0], preset="wide"), record(2, 64, [1], [0.0], preset="shallow"),
            record(1, 16, [1], [0.0], preset="wide")]
    grouping = report.group_runs(runs)
    assert grouping.keys == ["network.hidden_dim"]
    # named by the value that differs, written by its last part (no other differing key ends the same)
    assert [(g.label, len(g.runs)) for g in grouping.groups] == [("hidden_dim=16", 1), ("hidden_dim=64", 2)]
    assert [g.title for g in grouping.groups] == ["network.hidden_dim=16", "network.hidden_dim=64"]


def test_identical_runs_count_once_keeping_the_one_that_went_furthest():
    short, far, other = record(1, 64, [1, 2], [0.0, 1.0]), record(1, 64, [1, 2, 3], [0.0, 1.0, 2.0]), record(2, 64, [1], [5.0])
    grouping = report.group_runs([short, far, other])
    (group,) = grouping.groups
    assert [r.config["seed"] for r in group.runs] == [1, 2] and group.runs[0] is far
    (same,) = grouping.identical
    assert same.kept is far and same.others == [short]
    assert same.why == "it went furthest (3 env steps, the next 2 env steps)"
    # equally far, as many evaluations: the first in folder order
    twin = record(1, 64, [1, 2, 3], [9.0, 9.0, 9.0])
    twin.source = "runs/z"
    assert report.group_runs([far, twin]).identical[0].kept is far


def test_values_are_written_as_a_user_types_them():
    assert [value_text(v) for v in (None, True, False, math.inf, -math.inf, math.nan, 3e-4, 220.0, 8, "[0, 1]", MISSING)] == \
        ["null", "true", "false", "inf", "-inf", "nan", "0.0003", "220", "8", "[0, 1]", "–"]


def lab(hex_color: str) -> np.ndarray:
    """CIE L*a*b* of an sRGB colour: distances of ~20 and more are colours a reader tells apart at a glance."""
    rgb = np.array([int(hex_color.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)])
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_twelve_groups_get_distinct_uncut_labels_and_distinct_colours():
    runs = [record(1, h, [1], [0.0], algo={"gae_lambda": lam, "update_epochs": 10}, train={"eval_every": e})
            for h in (16, 64, 256) for lam in (0.9, 0.95) for e in (1, 5)]
    groups = report.group_runs(runs).groups
    labels = [g.label for g in groups]
    assert len(groups) == 12 and len(set(labels)) == 12
    for g in groups:  # every differing key is in the label, uncut
        assert g.label == (f"hidden_dim={g.values['network.hidden_dim']}, gae_lambda={g.values['algo.gae_lambda']:g}, "
                           f"eval_every={g.values['train.eval_every']}")
    colors = [g.color for g in groups]
    assert len(set(colors)) == 12
    assert min(np.linalg.norm(lab(a) - lab(b)) for a, b in pairwise(colors)) > 25


def test_left_out_folders_are_described_by_what_they_hold(tmp_path):
    old = time.time() - 3600
    for name, info in (("0_ppo_s0", {"id": "b", "mode": "disabled", "dir": None}),
                       ("1_ppo_s1", {"id": "c", "mode": "offline", "dir": None, "wandb_folder": "runs/wandb"})):
        folder = tmp_path / "sweep" / name
        folder.mkdir(parents=True)
        (folder / "wandb_run.json").write_text(json.dumps(info))
        (folder / ".lock").touch()
        os.utime(folder, (old, old))
    runs, left = collect([tmp_path / "sweep"])
    assert runs == [] and [x.folder.rsplit("/", 1)[-1] for x in left] == ["0_ppo_s0", "1_ppo_s1"]
    assert left[0].reason.startswith("trained with tracking off (tracker=off)")
    # killed while W&B was starting: offline, not "tracking off"
    assert left[1].reason.startswith("killed before its first checkpoint") and "while W&B was starting" in left[1].reason
    assert "tracking off" not in left[1].reason
    # scripts that read every tracked run still skip both
    with pytest.raises(report.ConfigError, match="holds no tracked run folder"):
        find_run_dirs([tmp_path / "sweep"])
    assert len(run_dirs_under([tmp_path / "sweep"])) == 2


def test_group_curve_averages_seeds_and_interpolates_each_run_only_inside_its_own_range():
    a = record(1, 64, [0, 10, 20], [0.0, 10.0, 20.0])
    b = record(2, 64, [0, 20, 40], [4.0, 8.0, 0.0])  # at x=10, interpolated: 6
    c = report.group_curve([a, b], "eval/return_mean")
    assert c.x.tolist() == [0, 10, 20, 40]
    assert c.mean.tolist() == [2.0, 8.0, 14.0, 0.0]
    assert c.counted.tolist() == [2, 2, 2, 1]  # a stops at 20: x=40 holds b alone
    # the band is the bootstrap interval of the mean of two runs: resamples (a,a), (a,b), (b,b) span both runs
    assert c.low.tolist() == [0.0, 6.0, 8.0, 0.0] and c.high.tolist() == [4.0, 10.0, 20.0, 0.0]


def test_long_histories_are_averaged_into_bins_not_subsampled():
    steps = list(range(3 * report.MAX_POINTS))
    noisy = [float(i % 3) for i in steps]  # 0,1,2,0,1,2...: every bin of three averages to 1
    c = report.group_curve([record(1, 64, steps, noisy)], "eval/return_mean")
    assert len(c.x) == report.MAX_POINTS
    np.testing.assert_allclose(c.mean, 1.0)


def test_a_jump_in_the_summary_is_marked_on_the_return_curves_at_the_runs_x_axis():
    # a PPO-style run (x-axis global_step) whose summary names the episode of its jump: the marker is
    # placed at the global_step where that episode was reached (episode 15 -> step 150)
    run = record(1, 64, [100, 200, 300], [-100.0, 0.0, 200.0], summary={"jump/episode": 15}, episodes=[10, 20, 30])
    groups = report.group_runs([run]).groups
    fig = report.panel_figure("returns", "eval/return_mean", groups, "global_step")
    (stars,) = [t for t in fig.data if t.mode == "markers"]
    assert list(stars.x) == [150.0] and list(stars.y) == [-50.0]
    # an episode-axis run without a jump gets no marker
    plain = record(2, 64, [1, 2], [0.0, 1.0], x_axis="episode")
    fig = report.panel_figure("returns", "eval/return_mean", report.group_runs([plain]).groups, "episode")
    assert [t.mode for t in fig.data] == ["lines+markers"]


# ---- a mixed runs/ folder of tiny real runs, read in headless Chromium ---------------------------

PPO = {"env.num_envs": 2, "algo.steps_per_epoch": 256, "algo.batch_size": 256, "network.hidden_dim": 8,
       "train.max_epochs": 2, "train.eval_every": 1, "train.eval_episodes": 2, "train.eval_envs": 2,
       "train.eval_screen": 0, "env.max_episode_steps": 50, "train.progress": "false",
       "env.pin_threads": "false", "train.torch_threads": 1}  # several runs share the cores: nobody pins them


def ppo(*overrides: str) -> list[str]:
    """Overrides of a tiny PPO run (two epochs of 256 steps, an evaluation of two episodes after each)."""
    given = {o.split("=", 1)[0] for o in overrides}
    return [*overrides, *(f"{k}={v}" for k, v in PPO.items() if k not in given)]


# what a week of a new user's runs looks like, in one runs/ folder (each command with its own
# sweep folder: they train at the same time)
COMMANDS = {
    # the Quickstart's run, and one more seed of it
    "quickstart": ["-m", *ppo("experiment=fast", "seed=1,4", "hydra.sweep.dir=runs/multirun/quickstart")],
    # the same values as experiment=fast under other preset names (lr=fast, network=shallow: what it sets)
    "update_epochs": ["-m", *ppo("network=shallow", "lr=fast", "experiment=fast", "algo.update_epochs=4,8", "seed=1,2,3",
                                 "hydra.sweep.dir=runs/multirun/update_epochs")],
    "sweep": ["-m", *ppo("experiment=fast", "algo.gae_lambda=0.9,0.95,0.99", "algo.eps_clip=0.1,0.3", "seed=1",
                         "hydra.sweep.dir=runs/multirun/sweep")],
    "reinforce": ["-m", "experiment=reinforce", "lr=equal,fast", "seed=1,2", "train.max_episodes=4", "train.eval_every=2",
                  "train.eval_episodes=2", "train.eval_envs=2", "env.max_episode_steps=60", "train.progress=false",
                  "hydra.sweep.dir=runs/multirun/reinforce"],
    "tracking_off": ppo("tracker=off", "seed=0"),
}
# the label of experiment=fast's group: its values where the other PPO groups differ (the sweep's gae_lambda
# and eps_clip, the stopped run's eval_every, the multirun's update_epochs)
FAST = "ppo: gae_lambda=0.98, eps_clip=0.2, eval_every=1, update_epochs=8"
STOPPED = ppo("experiment=fast", "seed=6", "algo.steps_per_epoch=30000", "train.eval_every=5", "train.max_epochs=10")
KILLED = ppo("seed=5", "algo.steps_per_epoch=40000")


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _train_mixed_folder(workdir: Path) -> dict:
    """A run SIGKILLed while it starts (before W&B opens its record); then every command of COMMANDS at
    once, with a run stopped by SIGTERM in its first epoch (before its first evaluation); then the report."""
    procs = {"killed": spawn(KILLED, cwd=workdir)}
    try:
        info = lambda: next((i for f in (workdir / "runs").glob("20*/*_ppo_s5/wandb_run.json") if (i := _json(f))), None)  # noqa: E731
        assert wait_for(lambda: info() is not None, procs["killed"], timeout=600)
        procs["killed"].kill()
        procs["killed"].communicate()
        assert info()["dir"] is None  # killed while W&B was starting
        procs = {name: spawn(args, cwd=workdir) for name, args in [*COMMANDS.items(), ("stopped", STOPPED)]}
        started = lambda: any((i := _json(f)) and i["dir"] for f in (workdir / "runs").glob("20*/*_ppo_s6/wandb_run.json"))  # noqa: E731
        assert wait_for(started, procs["stopped"], timeout=600)
        time.sleep(1.0)  # into its first epoch
        procs["stopped"].send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            _, err = proc.communicate(timeout=1200)
            assert proc.returncode == (143 if name == "stopped" else 0), (name, err[-3000:])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    rep = run_cli(["runs", "--out", "report.html", "--threshold", "-150", "--bootstrap-reps", "300"], cwd=workdir,
                  module="lander_exp.report", timeout=900)
    assert rep.returncode == 0, rep.stderr[-3000:]
    return {"stdout": rep.stdout, "stderr": rep.stderr}


@pytest.fixture(scope="session")
def mixed_folder(tmp_path_factory):
    """(workdir, report's stdout and stderr) of the mixed runs/ folder, trained once per test session:
    pytest-xdist workers share it through a lock in their common temporary folder."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    workdir, done = shared / "report_mixed_folder", shared / "report_mixed_folder.json"
    with open(shared / "report_mixed_folder.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            workdir.mkdir()
            try:
                done.write_text(json.dumps(_train_mixed_folder(workdir)))
            except BaseException as ex:  # the other workers fail at once instead of training again
                done.write_text(json.dumps({"error": f"{type(ex).__name__}: {ex}"}))
                raise
    printed = json.loads(done.read_text())
    if "error" in printed:
        pytest.fail(f"the mixed folder could not be made: {printed['error']}")
    return workdir, printed


MEASURE_PAGE = r"""(() => {
  const cells = tr => Array.from(tr.children).map(td => td.innerText.trim());
  const rows = sel => Array.from(document.querySelectorAll(sel + ' tbody tr')).map(cells);
  const sections = Array.from(document.querySelectorAll('section.env')).map(sec => ({
    env: sec.dataset.env, heading: sec.querySelector('h2').innerText,
    legend: Array.from(sec.querySelectorAll('.legend-item')).map(e => ({group: e.dataset.group, title: e.title,
      text: e.childNodes[1].textContent.trim(), count: e.querySelector('.n').textContent,
      color: getComputedStyle(e.querySelector('.swatch')).backgroundColor})),
    finalStats: rows('section.env[data-env="' + sec.dataset.env + '"] .final-stats'),
    improvement: rows('section.env[data-env="' + sec.dataset.env + '"] .improvement'),
    timeToScore: rows('section.env[data-env="' + sec.dataset.env + '"] .time-to-score'),
    charts: Array.from(sec.querySelectorAll('.js-plotly-plot')).map(gd => ({title: gd.layout.title.text,
      x: gd.layout.xaxis.title.text, yrange: gd._fullLayout.yaxis.range,
      groups: Array.from(new Set(gd.data.map(t => t.legendgroup))), names: gd._fullData.map(t => t.name),
      hovers: gd._fullData.map(t => t.hovertemplate || '')})),
  }));
  const keysHead = Array.from(document.querySelectorAll('#keys thead th')).map(th => th.innerText.trim());
  const before = document.documentElement.scrollWidth;
  document.querySelectorAll('details').forEach(d => d.open = true);
  return {sections, keysHead, keys: rows('#keys'), groups: rows('#groups'), runs: rows('#runs'),
          identical: rows('#identical'), leftOut: rows('#left-out'), unevaluated: rows('#unevaluated'),
          meta: Array.from(document.querySelectorAll('.meta')).map(e => e.innerText),
          errors: document.body.dataset.errors, plots: document.body.dataset.plots,
          expectedPlots: document.body.dataset.expectedPlots, widthClosed: before,
          widthOpen: document.documentElement.scrollWidth, viewport: document.documentElement.clientWidth};
})()"""


@pytest.fixture(scope="module")
def mixed_report(mixed_folder):
    """The mixed folder's report as Chromium shows it, and the runs as the report read them."""
    workdir, printed = mixed_folder
    page = workdir / "report.html"
    with Browser(timeout=600) as b:  # 50 charts: seconds on a quiet machine, minutes on a busy one
        b.open(page)
        seen = b.eval(MEASURE_PAGE)
    cwd = Path.cwd()
    os.chdir(workdir)  # the runs name their W&B records relative to the folder they trained in
    try:
        runs, left = collect([Path("runs")])
    finally:
        os.chdir(cwd)
    return workdir, printed, seen, runs, left


def _legend(seen) -> list[dict]:
    return [item for sec in seen["sections"] for item in sec["legend"]]


def _group_of(seen, name: str) -> str:
    """The label of a run's group, from the runs table."""
    (row,) = [r for r in seen["runs"] if r[0] == name]
    return row[1]


def test_the_mixed_page_draws_every_chart_and_counts_each_run_once(mixed_report):
    workdir, printed, seen, runs, left = mixed_report
    assert seen["errors"] == "0" and seen["plots"] == seen["expectedPlots"] and int(seen["plots"]) > 40
    page = (workdir / "report.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # self-contained: nothing to fetch
    # 21 run folders: 2 cannot be read, 1 is the Quickstart's run made twice: 18 runs in 11 groups
    assert len(runs) == 19 and len(left) == 2
    assert printed["stdout"].strip().endswith(
        "report.html: 18 runs in 11 groups (1 identical run counted once, 2 run folders left out: listed on the page)")
    assert seen["meta"][0].startswith("18 runs in 11 groups")
    assert len(seen["runs"]) == 18 and len({r[0] for r in seen["runs"]}) == 18


def test_groups_are_what_trained_not_the_presets_that_named_it(mixed_report):
    _, _, seen, runs, _ = mixed_report
    by_source = {r.source.split("/runs/", 1)[-1] if "/runs/" in r.source else r.source: r for r in runs}
    # experiment=fast, and network=shallow lr=fast experiment=fast with update_epochs=8 (fast's own): one group,
    # seeds 1 to 4 (the Quickstart's seed 1 and the multirun's seed 1 are one run)
    plain = next(r for s, r in by_source.items() if "quickstart" in s and r.config["seed"] == 4)
    presets = [r for s, r in by_source.items() if "update_epochs" in s and r.config["algo"]["update_epochs"] == 8]
    assert plain.config["preset"]["lr"] != presets[0].config["preset"]["lr"]  # other preset choices, same values
    label = _group_of(seen, plain.name)
    assert all(_group_of(seen, r.name) == label for r in presets if r.config["seed"] != 1)
    seeds = sorted(int(r[2]) for r in seen["runs"] if r[1] == label)
    assert seeds == [1, 2, 3, 4]
    labels = [item["text"] for item in _legend(seen)]
    assert not any("seed" in x or "preset" in x or "…" in x for x in labels), labels
    # the groups: 2 (update passes) + 6 (the sweep) + 1 (the stopped run) PPO, 2 REINFORCE
    assert [(sec["env"], len(sec["legend"])) for sec in seen["sections"]] == [("LunarLanderContinuous-v3", 9),
                                                                               ("LunarLander-v3", 2)]
    assert label == FAST


def test_labels_are_distinct_uncut_and_full_on_hover_with_distinct_colours(mixed_report):
    _, _, seen, _, _ = mixed_report
    items = _legend(seen)
    texts = [i["text"] for i in items]
    assert len(items) == 11 and len(set(texts)) == 11
    for table in ("finalStats", "timeToScore"):  # the tables name the groups as the legend does
        assert sorted(r[0] for sec in seen["sections"] for r in sec[table]) == sorted(texts)
    sweep = [t for t in texts if "gae_lambda=0.9," in t or "gae_lambda=0.95," in t or "gae_lambda=0.99," in t]
    assert len(sweep) == 6 and all(re.search(r"eps_clip=0\.[13]", t) for t in sweep)
    for item in items:  # the full label, one hover away: every key that differs between its environment's groups
        assert item["title"].startswith("algo.name=") and item["text"].split(": ")[0] in item["title"]
    ppo_title = next(i["title"] for i in items if i["text"] == FAST)
    assert "algo.update_epochs=8" in ppo_title and "train.eval_every=1" in ppo_title
    # neighbours in a legend differ in colour, and no two groups of a section share one
    for sec in seen["sections"]:
        colors = ["#" + "".join(f"{int(v):02x}" for v in re.findall(r"\d+", i["color"])[:3]) for i in sec["legend"]]
        assert len(set(colors)) == len(colors)
        assert all(np.linalg.norm(lab(a) - lab(b)) > 25 for a, b in pairwise(colors))


def test_the_run_made_twice_counts_once_and_is_flagged(mixed_report):
    _, _, seen, runs, _ = mixed_report
    (row,) = seen["identical"]
    group, seed, kept, other, why = row
    assert group == FAST and seed == "1"
    assert {kept.split("/")[2], other.split("/")[2]} == {"quickstart", "update_epochs"}
    assert why == "all went as far (512 env steps): the first by folder" and "quickstart" in kept
    (stats_row,) = [r for sec in seen["sections"] for r in sec["finalStats"] if r[0] == group]
    assert stats_row[1] == "4 ⚠ only 4 runs"


def test_folders_left_out_and_runs_without_an_evaluation_are_listed_with_their_reasons(mixed_report):
    _, printed, seen, _, _ = mixed_report
    reasons = {folder.rsplit("_", 1)[-1]: why for folder, why in seen["leftOut"]}
    assert reasons.keys() == {"s0", "s5"}
    assert reasons["s0"].startswith("trained with tracking off (tracker=off)")
    assert reasons["s5"].startswith("killed before its first checkpoint") and "while W&B was starting" in reasons["s5"]
    notes = {line.split(" left out: ")[0].rsplit("_", 1)[-1]: line.split(" left out: ")[1]
             for line in printed["stderr"].strip().splitlines()}
    assert notes == reasons  # the same on stderr
    # the run stopped in its first epoch: in the curves, named with why it has no score, in every table
    (name, group, _, why) = seen["unevaluated"][0]
    assert len(seen["unevaluated"]) == 1 and "eval_every=5" in group
    assert re.fullmatch(r"stopped by SIGTERM after epoch \d, before its first evaluation \(it evaluates every 5 epochs\)", why)
    (item,) = [i for i in _legend(seen) if i["text"] == group]
    assert item["count"] == "(1 run, no evaluation)"
    ppo = seen["sections"][0]
    (row,) = [r for r in ppo["finalStats"] if r[0] == group]
    assert row[1:] == ["0 of 1", f"no evaluation: {why}"]
    (row,) = [r for r in ppo["timeToScore"] if r[0] == group]
    assert row[1:] == ["0 of 1", "no evaluation"]


def test_each_environment_is_compared_on_its_own_with_units_on_every_axis(mixed_report):
    _, _, seen, _, _ = mixed_report
    for sec in seen["sections"]:
        mine = {i["group"] for i in sec["legend"]}
        labels = {i["text"] for i in sec["legend"]}
        for chart in sec["charts"]:
            assert set(chart["groups"]) <= mine, chart["title"]
        (profile,) = [c for c in sec["charts"] if c["title"].startswith("Performance profile")]
        assert profile["title"] == f"Performance profile: {sec['env']}"
        for pair, _, _ in sec["improvement"]:  # probability of improvement only between groups of one environment
            assert all(side.strip() in labels for side in pair.split(" over "))
        unit = "env steps" if sec["env"] == "LunarLanderContinuous-v3" else "episodes"
        curves = [c for c in sec["charts"] if c is not profile]
        assert curves and all(c["x"].startswith(unit) for c in curves)
        assert all(f"}} {unit}<br>" in h for c in curves for h in c["hovers"] if "mean %{y" in h)
        rates = [c for c in curves if "outcome rate" in c["title"]]
        assert len(rates) >= 12 and all(-0.05 <= c["yrange"][0] and c["yrange"][1] <= 1.05 for c in rates)
        for row in sec["timeToScore"]:  # every time with its unit
            if row[2].startswith("not reached"):
                assert re.search(r"runs ended by [\d,]+ env steps\)$", row[2])
                assert re.search(r"runs ended by [\d.,]+ s\)$", row[3])
    reinforce = next(sec for sec in seen["sections"] if sec["env"] == "LunarLander-v3")
    assert [i["text"] for i in reinforce["legend"]] == ["reinforce: lr.critic=0.001", "reinforce: lr.critic=0.003"]


def test_the_key_table_writes_values_as_typed_and_nothing_is_wider_than_the_window(mixed_report):
    _, _, seen, _, _ = mixed_report
    values = {row[0]: row[1:] for row in seen["keys"]}
    assert len(seen["keysHead"]) == 12  # the key, and one column per group
    assert "preset.lr" not in values and "seed" not in values
    assert {"inf", "0.5"} <= set(values["algo.max_grad_norm"])
    assert {"null", "4"} <= set(values["train.max_episodes"])
    assert {"true", "false"} <= set(values["algo.normalize_advantages"])
    assert not any(v in ("None", "True", "False", "Infinity") for row in values.values() for v in row)
    assert seen["widthClosed"] <= seen["viewport"] and seen["widthOpen"] <= seen["viewport"], seen


def test_a_report_of_one_multirun_has_the_records_numbers_and_exports_them(mixed_folder, tmp_path):
    """`report runs/multirun/update_epochs`: the page's numbers are the runs' W&B records, and --export
    writes them as rl-zoo3's evaluations.npz and a tidy CSV that read back as the records."""
    workdir, _ = mixed_folder
    out, exported = tmp_path / "report.html", tmp_path / "exported"
    rep = run_cli(["runs/multirun/update_epochs", "--out", str(out), "--threshold", "-150", "--bootstrap-reps", "300",
                   "--export", str(exported)], cwd=workdir, module="lander_exp.report")
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert rep.stdout.splitlines()[0] == f"{out}: 6 runs in 2 groups" and not rep.stderr
    with Browser() as b:
        b.open(out)
        rows = b.eval("""Object.fromEntries(['groups', 'final-stats', 'runs'].map(name =>
            [name, Array.from(document.querySelectorAll('table.' + name + ' tbody tr'))
                   .map(tr => Array.from(tr.children).map(td => td.innerText.trim()))]))""")
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        runs = load_local(find_run_dirs([Path("runs/multirun/update_epochs")]))
    finally:
        os.chdir(cwd)
    with open(exported / "curves.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["run", "group", "seed", "x_axis", "x", "metric", "value"]
    for passes in (4, 8):
        mine = [r for r in runs if r.config["algo"]["update_epochs"] == passes]
        finals = [r.series("eval/return_mean")[1][-1] for r in mine]
        (group_row,) = [r for r in rows["groups"] if r[0] == f"update_epochs={passes}"]
        low, high = min(finals), max(finals)
        assert group_row[3] == (f"{np.mean(finals):.1f} ({low:.1f} to {high:.1f})" if low < high else f"{low:.1f}")
        (stat_row,) = [r for r in rows["final-stats"] if r[0] == f"update_epochs={passes}"]
        assert stat_row[1] == "3 ⚠ only 3 runs" and stat_row[3].startswith(f"{np.mean(finals):.1f}")
        for run in mine:
            evals = run.series("eval/return_mean")
            (run_row,) = [r for r in rows["runs"] if r[0] == run.name]
            assert run_row[3] == f"{evals[1][-1]:.1f}"
            # time to -150: the first evaluation at or above it, in env steps, or "not by" the run's last step
            first = next((x for x, y in zip(*evals, strict=True) if y >= -150), None)
            assert run_row[4] == (f"{first:,.0f}" if first is not None else f"not by {report.last_x(run):,.0f}")
            # rl-zoo3's layout: <folder per group>/<algo>/<env id>_<seed>/evaluations.npz
            npz = np.load(exported / f"update_epochs={passes}" / "ppo" / f"LunarLanderContinuous-v3_{run.config['seed']}"
                          / "evaluations.npz")
            steps = [row["global_step"] for row in run.history if "eval/return_mean" in row]
            assert npz["timesteps"].tolist() == steps and npz["timesteps"].dtype == np.int64
            assert npz["results"][:, 0].tolist() == evals[1] and npz["results"].shape == (len(steps), 1)
            assert npz["ep_lengths"][:, 0].tolist() == run.series("eval/length")[1]
            csv_rows = [r for r in table if r["run"] == run.name]
            assert {r["group"] for r in csv_rows} == {f"update_epochs={passes}"}
            assert {r["seed"] for r in csv_rows} == {str(run.config["seed"])}
            assert {r["x_axis"] for r in csv_rows} == {"global_step"}
            for metric in ("eval/return_mean", "train/actor_loss", "episode/return", "perf/wall_s", "episode"):
                xs, ys = run.series(metric)
                back = [(float(r["x"]), float(r["value"])) for r in csv_rows if r["metric"] == metric]
                assert back == list(zip(xs, ys, strict=True)) and back, metric
            assert not any(r["metric"] == "global_step" or r["metric"].startswith("_") for r in csv_rows)
    # a second export into the same, now non-empty folder is refused before anything is written
    again = run_cli(["runs/multirun/update_epochs", "--out", str(tmp_path / "r2.html"), "--export", str(exported)],
                    cwd=workdir, module="lander_exp.report")
    assert again.returncode == 2 and "is not empty" in again.stderr and not (tmp_path / "r2.html").exists()


@pytest.mark.parametrize("full", ["out", "export"])
def test_a_report_or_export_on_a_full_disk_ends_in_one_line_and_leaves_no_partial_file(mixed_folder, tmpfs, tmp_path,
                                                                                        full):
    """A real tmpfs filled to the last byte under the page (--out) or the export's files (--export):
    one line naming the file and the space left, exit 75 (try again later), no file half-written."""
    workdir, _ = mixed_folder
    disk = tmpfs("disk", "1m")
    fill(disk)
    out = disk / "r.html" if full == "out" else tmp_path / "r.html"  # the shared folder is left as it is
    rep = run_cli(["runs/multirun/update_epochs", "--out", str(out), "--export", str(disk / "exported"),
                   "--bootstrap-reps", "100"], cwd=workdir, module="lander_exp.report")
    assert rep.returncode == 75, rep.stderr[-3000:]
    lines = rep.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lander_exp.report: error: disk full: {disk}/"), lines
    assert lines[0].endswith(" cannot be written (0 B free on its disk): free some space, then run this again"), lines
    assert f"disk full: {out} cannot" in lines[0] if full == "out" else "/evaluations.npz cannot" in lines[0], lines
    assert sorted(p.name for p in disk.rglob("*") if p.is_file()) == ["filler"]  # neither partial nor .tmp file


@pytest.mark.parametrize("args, message", [
    ([], "nothing to compare"),
    (["missing_folder"], "missing_folder does not exist"),
    (["."], "holds no run folder"),
    (["runs", "--bootstrap-reps", "10"], "--bootstrap-reps=10 is too few"),
    (["runs", "--threshold", "nan"], "--threshold=nan is not a finite number"),
])
def test_report_rejects_bad_input_in_one_line_and_writes_nothing(workdir, args, message):
    proc = run_cli([*args, "--out", "r.html"], cwd=workdir, module="lander_exp.report")
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (workdir / "r.html").exists()


def test_an_out_file_that_cannot_be_written_fails_in_one_line_before_any_run_is_read(tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    for out, why in ((Path("/proc/lander_exp/r.html"), "cannot write in /proc"),
                     (tmp_path / "afile" / "r.html", f"{tmp_path / 'afile'} is a file, not a folder"),
                     (tmp_path, f"{tmp_path} is a folder")):
        assert report.main([str(tmp_path), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"lander_exp.report: error: --out {out} cannot be written: {why}"), err
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_wandb_groups_split_on_any_setting_but_not_on_seed_or_bookkeeping():
    from lander_exp.run.tracking import run_labels
    from tests.conftest import make_cfg

    base = run_labels(make_cfg(["seed=1"]))[1]
    # the hover sweep varies algo.steps_per_epoch, which the readable part of the group does not show
    assert run_labels(make_cfg(["seed=1", "algo.steps_per_epoch=10000"]))[1] != base
    assert run_labels(make_cfg(["seed=1", "algo.gae_lambda=0.9"]))[1] != base
    for same in (["seed=2"], ["seed=1", "train.progress=false", "train.torch_threads=2", "train.video_every=0",
                              "tracker.project=other", "device=cpu"]):
        name, group, _ = run_labels(make_cfg(same))
        assert group == base and name == f"{group}-s{same[0][5:]}"


# ---- a page of ten mixed runs (hand-made records), read in headless Chromium ----------------------

def mixed_runs() -> list[RunRecord]:
    """Ten runs of different kinds, as a runs/ folder gathers them: PPO from three sweeps that varied
    non-preset keys (long labels), 45 keys differing between PPO and REINFORCE, a PPO run with a single
    evaluation, a PPO run stopped between evaluations, and REINFORCE runs logging one row per episode."""
    rng = np.random.default_rng(0)

    def config(seed, algo, **extra):
        cfg = {"seed": seed, "run_dir": f"/runs/{algo}{seed}", "algo": {"name": algo},
               "preset": {"algo": algo, "lr": "seed", "network": "seed"},
               "env": {"id": "LunarLanderContinuous-v3" if algo == "ppo" else "LunarLander-v3"},
               "tuning": {f"knob_{i:02d}": (i if algo == "ppo" else -i) for i in range(43)}}
        for key, value in extra.items():
            section, name = key.split("__")
            cfg.setdefault(section, {})[name] = value
        return cfg

    def ppo(seed, epochs, eval_every, name, stop="max_epochs", **extra):
        rows = []
        for epoch in range(1, epochs + 1):
            row = {"global_step": epoch * 2048, "episode": epoch * 10, "epoch": epoch, "perf/wall_s": epoch * 3.0,
                   "episode/return": float(-200 + 12 * epoch + rng.normal(0, 20)), "episode/count": 10,
                   "episode/landed": min(1.0, epoch / 30)}
            if epoch % eval_every == 0:
                row.update({"eval/return_mean": float(-180 + 14 * epoch + rng.normal(0, 15)), "eval/length": 400.0,
                            "eval/landed": min(1.0, epoch / 25)})
            rows.append(row)
        return RunRecord(f"{name}{seed}", f"{name}-s{seed}", name, config(seed, "ppo", **extra), "global_step", rows,
                         {"stop_reason": stop})

    def reinforce(seed, name, **extra):
        rows = []
        for ep in range(1, 301):
            row = {"episode": ep, "global_step": ep * 90, "epoch": ep, "perf/wall_s": ep * 0.2,
                   "episode/return": float(-150 + ep * 0.3 + rng.normal(0, 40)), "episode/count": 1,
                   "episode/landed": float(ep % 2), "episode/crashed": float(1 - ep % 2)}  # 0/1 by episode
            if ep % 50 == 0:
                row.update({"eval/return_mean": float(-120 + ep * 0.2 + rng.normal(0, 10)), "eval/length": 300.0})
            rows.append(row)
        return RunRecord(f"{name}{seed}", f"{name}-s{seed}", name, config(seed, "reinforce", **extra), "episode", rows,
                         {"stop_reason": "max_episodes"})

    long = {"algo__gae_lambda": 0.95, "algo__clip_eps": 0.2, "network__hidden_dim": 64, "lr__actor": 0.0003}
    return [
        *(ppo(s, 40, 5, "ppo-base", **long) for s in (0, 1, 2)),
        ppo(0, 40, 5, "ppo-lam", **{**long, "algo__gae_lambda": 0.9, "algo__clip_eps": 0.3}),
        ppo(1, 37, 5, "ppo-lam", stop="interrupted", **{**long, "algo__gae_lambda": 0.9, "algo__clip_eps": 0.3}),
        ppo(0, 3, 3, "ppo-one-eval", **{**long, "network__hidden_dim": 256, "lr__actor": 0.001}),
        *(reinforce(s, "reinforce") for s in (0, 1, 2)),
        reinforce(0, "reinforce-lr", lr__actor=0.003),
    ]


@pytest.fixture(scope="module")
def mixed_page(tmp_path_factory):
    """The report of mixed_runs(), opened once in Chromium: what the tests below look at."""
    runs = mixed_runs()
    page = tmp_path_factory.mktemp("mixed") / "report.html"
    page.write_text(report.build_html(runs, "mixed", ["hand-made"], reps=200))
    with Browser() as b:
        b.open(page)
        assert b.eval("document.body.dataset.errors") == "0", b.eval("document.getElementById('script-errors').textContent")
        seen = b.eval(MEASURE)
        # a click on a group in a legend hides it in every chart, and a second click shows it again
        b.click('.legend-item[data-group="g0"]')
        seen["hidden_after_click"] = b.eval(VISIBLE_OF_G0)
        b.click('.legend-item[data-group="g0"]')
        seen["shown_after_second_click"] = b.eval(VISIBLE_OF_G0)
        seen["html"] = page.read_text()
    return runs, seen


VISIBLE_OF_G0 = """Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(gd =>
  gd.data.filter(t => t.legendgroup === 'g0').map(t => t.visible === undefined ? true : t.visible))"""
MEASURE = r"""(() => {
  const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const charts = Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
    title: gd.layout.title.text, axis: gd.layout.xaxis.title.text,
    xtitle: gd.querySelector('.xtitle') ? box(gd.querySelector('.xtitle')) : null,
    legends: Array.from(gd.querySelectorAll('.legend .traces')).map(box),
    legendTexts: Array.from(gd.querySelectorAll('.legendtext')).map(t => t.textContent),
    traces: gd._fullData.map((t, i) => ({name: t.name, group: t.legendgroup, mode: t.mode,
      fill: t.fill && t.fill !== 'none' ? t.fill : null, fillcolor: t.fill && t.fill !== 'none' ? t.fillcolor : null,
      x: Array.from(t.x || []), y: Array.from(t.y || []),
      drawnPoints: (gd.querySelectorAll('.scatterlayer .trace')[i] || document.createElement('g'))
                     .querySelectorAll('.points path').length})),
  }));
  const groupsTable = Array.from(document.querySelectorAll('#groups tbody tr')).map(tr =>
    Array.from(tr.children).map(td => td.textContent.trim()));
  const groupsHead = Array.from(document.querySelectorAll('#groups thead th')).map(th => th.textContent.trim());
  const grouping = document.querySelector('#grouping > p');
  return {charts, groupsTable, groupsHead,
          legendItems: Array.from(document.querySelectorAll('.legend-item')).map(e => ({group: e.dataset.group,
            text: e.childNodes[1].textContent.trim(), title: e.title})),
          groupingText: grouping.innerText, groupingHeight: grouping.getBoundingClientRect().height,
          keysInDetails: document.querySelectorAll('#grouping details #keys tbody tr').length,
          detailsOpen: document.querySelector('#grouping details').open};
})()"""


def _chart(seen, title, axis="global_step"):
    return next(c for c in seen["charts"] if c["title"] == title and c["axis"].endswith(f"({axis})"))


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_mixed_runs_get_legend_names_that_tell_groups_apart_uncut_with_every_differing_key_on_hover(mixed_page):
    runs, seen = mixed_page
    per_group = {i["group"]: i["text"] for i in seen["legendItems"]}
    assert len(per_group) == 5 and len(set(per_group.values())) == 5
    assert not any("…" in text for text in per_group.values())
    # PPO and REINFORCE: the algorithm first, then the keys that tell the groups of each apart
    # (a key a group lacks is left out of its label: the first REINFORCE group has no lr.actor)
    assert list(per_group.values()) == ["ppo: lr.actor=0.0003, clip_eps=0.2", "ppo: lr.actor=0.0003, clip_eps=0.3",
                                        "ppo: lr.actor=0.001, clip_eps=0.2", "reinforce: lr.actor=0.003", "reinforce"]
    # the whole label is one hover away: every key that differs between the PPO groups
    title = next(i["title"] for i in seen["legendItems"] if i["text"] == "ppo: lr.actor=0.0003, clip_eps=0.3")
    assert title == "algo.name=ppo, algo.clip_eps=0.3, algo.gae_lambda=0.9, lr.actor=0.0003, network.hidden_dim=64"


def test_no_chart_has_its_x_axis_title_over_a_legend_entry(mixed_page):
    _, seen = mixed_page
    for chart in seen["charts"]:
        assert chart["xtitle"] is not None
        for entry in chart["legends"]:
            assert not overlaps(chart["xtitle"], entry), chart["title"]
    # the groups are named once per section instead, above its charts
    assert {i["group"] for i in seen["legendItems"]} == {f"g{n}" for n in range(5)}


def test_the_grouping_line_stays_short_and_every_differing_key_is_one_click_away(mixed_page):
    runs, seen = mixed_page
    keys = report.group_runs(runs).keys
    assert len(keys) >= 45
    assert len(seen["groupingText"]) < 450 and seen["groupingHeight"] < 90
    assert seen["keysInDetails"] == len(keys) and not seen["detailsOpen"]


def test_a_group_with_a_single_evaluation_is_drawn_as_a_visible_point(mixed_page):
    _, seen = mixed_page
    chart = next(c for c in seen["charts"] if c["title"].startswith("Evaluation return (") and
                 any(len(t["x"]) == 1 for t in c["traces"]))
    (single,) = [t for t in chart["traces"] if len(t["x"]) == 1 and not t["fill"]]
    assert "markers" in single["mode"] and single["drawnPoints"] == 1


def test_last_x_of_a_stopped_run_is_its_last_logged_step_not_its_last_evaluation(mixed_page):
    runs, seen = mixed_page
    stopped = next(r for r in runs if r.summary["stop_reason"] == "interrupted")
    assert report.last_x(stopped) == 37 * 2048  # last evaluation at epoch 35, stopped after epoch 37
    col = seen["groupsHead"].index("went to")
    row = next(r for r in seen["groupsTable"] if "clip_eps=0.3" in r[0])
    # the group's two runs went to 40 and 37 epochs: their mean and range
    assert row[col] == f"{(40 + 37) * 2048 / 2:,.0f} ({37 * 2048:,} to {40 * 2048:,}) env steps"


def test_per_episode_outcome_rates_are_drawn_over_the_last_100_episodes_not_as_0_1_spikes(mixed_page):
    _, seen = mixed_page
    chart = _chart(seen, f"Training outcome rate over the last {report.MA_EPISODES} episodes: landed", "episode")
    reinforce_lines = [t for t in chart["traces"] if not t["fill"] and max(t["x"]) == 300]
    assert reinforce_lines
    for t in reinforce_lines:  # landed in every other episode: a rate of one half, not a barcode
        later = [y for x, y in zip(t["x"], t["y"], strict=True) if x >= 100]
        np.testing.assert_allclose(later, 0.5, atol=0.011)
    # PPO rows already average their epoch's episodes: kept as logged (10 episodes a row, 100 per window)
    ppo = next(t for t in _chart(seen, "Training outcome rate over the last 100 episodes: landed")["traces"]
               if not t["fill"] and max(t["x"]) == 40 * 2048)
    assert ppo["y"][-1] == pytest.approx(np.mean([min(1.0, e / 30) for e in range(31, 41)]))


def test_bands_are_faint_and_under_every_line(mixed_page):
    _, seen = mixed_page
    banded = 0
    for chart in seen["charts"]:
        kinds = ["band" if t["fill"] or (t["mode"] == "lines" and t["name"].endswith("95% high")) else "line"
                 for t in chart["traces"]]
        if "band" in kinds:
            banded += 1
            assert max(i for i, k in enumerate(kinds) if k == "band") < kinds.index("line"), chart["title"]
            for t in chart["traces"]:
                if t["fillcolor"]:
                    assert float(t["fillcolor"].rstrip(")").split(",")[-1]) <= 0.15
    assert banded >= 5


def test_a_click_on_a_legend_entry_hides_that_group_in_every_chart(mixed_page):
    _, seen = mixed_page
    assert len(seen["hidden_after_click"]) > 10
    assert not any(seen["hidden_after_click"]) and all(seen["shown_after_second_click"])


def test_statistics_of_the_mixed_page_warn_beside_groups_with_fewer_than_five_runs(mixed_page):
    runs, seen = mixed_page
    page = seen["html"]
    final = "".join(re.findall(r'class="final-stats">.*?</table>', page))
    assert final.count("⚠ only 3 runs") == 2 and final.count("⚠ only 2 runs") == 1 and final.count("⚠ one run") == 2
    assert "Time to 200" in page and 'class="improvement"' in page

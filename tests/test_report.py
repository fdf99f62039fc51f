"""The comparison report: grouping and averaging on hand-made records, then a report of two real tiny
runs opened in headless Chromium (Debian's package; `make test` installs it when missing)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lander_exp.run.records import RunRecord, find_run_dirs, load_local
from lander_exp.tools import report
from tests.chromium import Browser
from tests.conftest import TINY, fill, run_cli


def record(seed: int, hidden: int, steps: list[int], returns: list[float], preset: str = "seed", summary=None,
           x_axis: str = "global_step", episodes: list[int] | None = None) -> RunRecord:
    config = {"seed": seed, "run_dir": f"/runs/{seed}", "tracker": {"dir": f"d{seed}"},
              "network": {"hidden_dim": hidden, "actor_layers": 2}, "lr": {"actor": 3e-4},
              "preset": {"network": preset, "lr": "seed"}}
    history = [{x_axis: s, "eval/return_mean": r} for s, r in zip(steps, returns, strict=True)]
    if episodes:
        for row, ep in zip(history, episodes, strict=True):
            row["episode"] = ep
    return RunRecord(id=f"id{seed}{hidden}", name=f"run-h{hidden}-s{seed}", group="g", config=config, x_axis=x_axis,
                     history=history, summary=summary or {})


def test_runs_are_grouped_by_the_differing_keys_but_never_by_seed_run_dir_or_tracker():
    runs = [record(1, 64, [1], [0.0], preset="wide"), record(2, 64, [1], [0.0], preset="wide"),
            record(1, 16, [1], [0.0], preset="shallow")]
    groups, keys = report.group_runs(runs)
    assert keys == ["network.hidden_dim", "preset.network"]
    # the preset choice determines hidden_dim here, so the label names the preset only
    assert sorted((g.label, len(g.runs)) for g in groups) == [("network=shallow", 1), ("network=wide", 2)]
    # the same hidden_dim under two presets: both keys are needed to tell the groups apart; the key is
    # written by its last part, which no other differing key shares
    runs.append(record(3, 16, [1], [0.0], preset="wide"))
    groups, _ = report.group_runs(runs)
    assert sorted(g.label for g in groups) == ["network=shallow, hidden_dim=16", "network=wide, hidden_dim=16",
                                               "network=wide, hidden_dim=64"]


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
    groups, _ = report.group_runs([run])
    fig = report.panel_figure("returns", "eval/return_mean", groups, "global_step")
    (stars,) = [t for t in fig.data if t.mode == "markers"]
    assert list(stars.x) == [150.0] and list(stars.y) == [-50.0]
    # an episode-axis run without a jump gets no marker
    plain = record(2, 64, [1, 2], [0.0, 1.0], x_axis="episode")
    fig = report.panel_figure("returns", "eval/return_mean", report.group_runs([plain])[0], "episode")
    assert [t.mode for t in fig.data] == ["lines+markers"]


@pytest.fixture(scope="module")
def two_tiny_runs(tmp_path_factory):
    """(workdir, multirun folder, runs read back) of two tiny real PPO runs, trained once for this module."""
    workdir = tmp_path_factory.mktemp("two_tiny_runs")
    proc = run_cli(["-m", *TINY, "network.hidden_dim=8,16"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = workdir / "runs" / "multirun"
    return workdir, folder, load_local(find_run_dirs([folder]))


def test_report_of_two_tiny_runs_renders_every_chart_and_its_statistics_in_headless_chromium(two_tiny_runs):
    workdir, _, runs = two_tiny_runs
    out = workdir / "out" / "report.html"
    rep = run_cli(["runs/multirun", "--out", str(out), "--threshold", "-150", "--bootstrap-reps", "300"], cwd=workdir,
                  module="lander_exp.report")
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "2 runs in 2 groups" in rep.stdout

    page = out.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # self-contained: nothing to fetch
    with Browser() as b:
        b.open(out)
        assert b.eval("document.body.dataset.errors") == "0", b.eval("document.getElementById('script-errors').textContent")
        plots, expected = b.eval("[document.body.dataset.plots, document.body.dataset.expectedPlots]")
        assert int(expected) >= 10 and plots == expected
        # the evaluation-return chart holds one line per group (one seed each: no band), named by its group
        lines = b.eval("""Array.from(document.querySelectorAll('.js-plotly-plot'))
            .find(gd => gd.layout.title.text.startsWith('Evaluation return ('))._fullData.map(t => t.name)""")
        assert sorted(lines) == ["hidden_dim=16", "hidden_dim=8"]
        legend = b.eval("Array.from(document.querySelectorAll('.legend-item')).map(e => e.dataset.group + ' ' + e.title)")
        assert "g0 hidden_dim=8" in legend and "g1 hidden_dim=16" in legend
        rows = b.eval("""Object.fromEntries(['groups', 'final-stats', 'time-to-score', 'runs'].map(id =>
            [id, Array.from(document.querySelectorAll('#' + id + ' tbody tr'))
                   .map(tr => Array.from(tr.children).map(td => td.innerText.trim()))]))""")

    for run in runs:
        hidden = run.config["network"]["hidden_dim"]
        evals = run.series("eval/return_mean")
        last = evals[1][-1]
        # the tables' numbers are the runs' W&B records: final eval return; one run per group, so its
        # IQM, mean and median are that run's score, with "one run" said beside them
        (group_row,) = [r for r in rows["groups"] if r[0] == f"hidden_dim={hidden}"]
        assert group_row[4] == f"{last:.1f}"
        (stat_row,) = [r for r in rows["final-stats"] if r[0] == f"hidden_dim={hidden}"]
        assert stat_row[1] == "1 ⚠ one run" and stat_row[2:] == [f"{last:.1f}"] * 3
        # time to -150: the first evaluation at or above it, in env steps, or "not by" the run's last step
        (run_row,) = [r for r in rows["runs"] if r[0] == run.name]
        first = next((x for x, y in zip(*evals, strict=True) if y >= -150), None)
        assert run_row[4] == (f"{first:,.0f}" if first is not None else f"not by {report.last_x(run):,.0f}")
        assert f"hidden_dim: {hidden}" in page  # its config, one click away


def test_export_writes_rl_zoo3_evaluations_and_a_tidy_csv_that_read_back_as_the_runs(two_tiny_runs):
    import csv

    workdir, _, runs = two_tiny_runs
    out = workdir / "exported"
    rep = run_cli(["runs/multirun", "--out", str(workdir / "r.html"), "--export", str(out), "--bootstrap-reps", "100"],
                  cwd=workdir, module="lander_exp.report")
    assert rep.returncode == 0, rep.stderr[-3000:]
    with open(out / "curves.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["run", "group", "seed", "x_axis", "x", "metric", "value"]
    for run in runs:
        hidden, seed = run.config["network"]["hidden_dim"], run.config["seed"]
        # rl-zoo3's layout: <folder per group>/<algo>/<env id>_<seed>/evaluations.npz
        npz = np.load(out / f"hidden_dim={hidden}" / "ppo" / f"LunarLanderContinuous-v3_{seed}" / "evaluations.npz")
        steps = [row["global_step"] for row in run.history if "eval/return_mean" in row]
        assert npz["timesteps"].tolist() == steps and npz["timesteps"].dtype == np.int64
        assert npz["results"].shape == (len(steps), 1) and npz["ep_lengths"].shape == (len(steps), 1)
        assert npz["results"][:, 0].tolist() == run.series("eval/return_mean")[1]
        assert npz["ep_lengths"][:, 0].tolist() == run.series("eval/length")[1]
        mine = [r for r in table if r["run"] == run.name]
        assert {r["group"] for r in mine} == {f"hidden_dim={hidden}"} and {r["seed"] for r in mine} == {str(seed)}
        assert {r["x_axis"] for r in mine} == {"global_step"}
        for metric in ("eval/return_mean", "train/actor_loss", "episode/return", "perf/wall_s", "episode"):
            xs, ys = run.series(metric)
            back = [(float(r["x"]), float(r["value"])) for r in mine if r["metric"] == metric]
            assert back == list(zip(xs, ys, strict=True)) and back, metric
        metrics = {r["metric"] for r in mine}
        assert "global_step" not in metrics and not any(m.startswith("_") for m in metrics)
    # a second export into the same, now non-empty folder is refused before anything is written
    again = run_cli(["runs/multirun", "--out", str(workdir / "r2.html"), "--export", str(out)], cwd=workdir,
                    module="lander_exp.report")
    assert again.returncode == 2 and "is not empty" in again.stderr and not (workdir / "r2.html").exists()


@pytest.mark.parametrize("full", ["out", "export"])
def test_a_report_or_export_on_a_full_disk_ends_in_one_line_and_leaves_no_partial_file(two_tiny_runs, tmpfs, full):
    """A real tmpfs filled to the last byte under the page (--out) or the export's files (--export):
    one line naming the file and the space left, exit 75 (try again later), no file half-written."""
    workdir, _, _ = two_tiny_runs
    disk = tmpfs("disk", "1m")
    fill(disk)
    out = disk / "r.html" if full == "out" else workdir / f"r_{full}.html"
    rep = run_cli(["runs/multirun", "--out", str(out), "--export", str(disk / "exported"), "--bootstrap-reps", "100"],
                  cwd=workdir, module="lander_exp.report")
    assert rep.returncode == 75, rep.stderr[-3000:]
    lines = rep.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lander_exp.report: error: disk full: {disk}/"), lines
    assert lines[0].endswith(" cannot be written (0 B free on its disk): free some space, then run this again"), lines
    assert f"disk full: {out} cannot" in lines[0] if full == "out" else "/evaluations.npz cannot" in lines[0], lines
    assert sorted(p.name for p in disk.rglob("*") if p.is_file()) == ["filler"]  # neither partial nor .tmp file


@pytest.mark.parametrize("args, message", [
    ([], "nothing to compare"),
    (["missing_folder"], "missing_folder does not exist"),
    (["."], "holds no tracked run folder"),
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


def test_a_sweep_folder_search_leaves_out_runs_made_with_tracking_off(tmp_path):
    for name, info in (("0_ppo_s0", {"id": "a", "mode": "offline", "dir": "runs/wandb/offline-run-x-a"}),
                       ("1_ppo_s1", {"id": "b", "mode": "disabled", "dir": None})):
        (tmp_path / "sweep" / name).mkdir(parents=True)
        (tmp_path / "sweep" / name / "wandb_run.json").write_text(json.dumps(info))
    skipped = []
    assert [p.name for p in find_run_dirs([tmp_path / "sweep"], skipped)] == ["0_ppo_s0"]
    assert [p.name for p in skipped] == ["1_ppo_s1"]


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
            text: e.textContent.replace(/\s*\(\d+ runs?\)$/, ''), title: e.title})),
          groupingText: grouping.innerText, groupingHeight: grouping.getBoundingClientRect().height,
          keysInDetails: document.querySelectorAll('#grouping details #keys tbody tr').length,
          detailsOpen: document.querySelector('#grouping details').open};
})()"""


def _chart(seen, title, axis="global_step"):
    return next(c for c in seen["charts"] if c["title"] == title and c["axis"] == axis)


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_mixed_runs_get_legend_names_of_at_most_40_characters_that_tell_groups_apart(mixed_page):
    runs, seen = mixed_page
    names = [i["text"] for i in seen["legendItems"]] + [t for c in seen["charts"] for t in c["legendTexts"]]
    assert names and max(len(n) for n in names) <= report.LABEL_MAX, max(names, key=len)
    per_group = {i["group"]: i["text"] for i in seen["legendItems"]}
    assert len(per_group) == 5 and len(set(per_group.values())) == 5
    # the whole label is one hover away
    assert all(i["text"].rstrip("…").split(". ", 1)[-1] in i["title"] or i["text"] == i["title"] for i in seen["legendItems"])


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
    keys = report.differing_keys(runs)
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
    col = seen["groupsHead"].index("last x")
    row = next(r for r in seen["groupsTable"] if "clip_eps=0.3" in r[0])
    # the group's two runs went to 40 and 37 epochs: their mean and range
    assert row[col] == f"{(40 + 37) * 2048 / 2:,.0f} ({37 * 2048:,} to {40 * 2048:,})"


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
    final = page[page.index('id="final-stats"'):page.index("</table>", page.index('id="final-stats"'))]
    assert final.count("⚠ only 3 runs") == 2 and final.count("⚠ only 2 runs") == 1 and final.count("⚠ one run") == 2
    assert "Time to 200" in page and 'id="improvement"' in page

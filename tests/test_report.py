"""The comparison report: grouping and averaging on hand-made records, then a report of two real tiny
runs opened in headless Chromium (Debian's package; `make test` installs it when missing)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lander_exp.run.records import RunRecord, find_run_dirs, load_local
from lander_exp.tools import report
from tests.conftest import TINY, run_cli

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
    # the same hidden_dim under two presets: both keys are needed to tell the groups apart
    runs.append(record(3, 16, [1], [0.0], preset="wide"))
    groups, _ = report.group_runs(runs)
    assert sorted(g.label for g in groups) == ["network=shallow, network.hidden_dim=16",
                                               "network=wide, network.hidden_dim=16",
                                               "network=wide, network.hidden_dim=64"]


def test_mean_band_averages_seeds_and_interpolates_each_run_only_inside_its_own_range():
    a = record(1, 64, [0, 10, 20], [0.0, 10.0, 20.0])
    b = record(2, 64, [0, 20, 40], [4.0, 8.0, 0.0])  # at x=10, interpolated: 6
    x, mean, std, seeds = report.mean_band([a, b], "eval/return_mean")
    assert x.tolist() == [0, 10, 20, 40]
    assert mean.tolist() == [2.0, 8.0, 14.0, 0.0]
    assert std.tolist() == [2.0, 2.0, 6.0, 0.0]
    assert seeds.tolist() == [2, 2, 2, 1]  # a stops at 20: x=40 holds b alone


def test_long_histories_are_averaged_into_bins_not_subsampled():
    steps = list(range(3 * report.MAX_POINTS))
    noisy = [float(i % 3) for i in steps]  # 0,1,2,0,1,2...: every bin of three averages to 1
    x, mean, _, _ = report.mean_band([record(1, 64, steps, noisy)], "eval/return_mean")
    assert len(x) == report.MAX_POINTS
    np.testing.assert_allclose(mean, 1.0)


def test_a_jump_in_the_summary_is_marked_on_the_return_curves_at_the_runs_x_axis():
    # a PPO-style run (x-axis global_step) whose summary names the episode of its jump: the marker is
    # placed at the global_step where that episode was reached (episode 15 -> step 150)
    run = record(1, 64, [100, 200, 300], [-100.0, 0.0, 200.0], summary={"jump/episode": 15}, episodes=[10, 20, 30])
    groups, _ = report.group_runs([run])
    fig = report.panel_figure("returns", ["eval/return_mean"], groups, "global_step")
    (stars,) = [t for t in fig.data if t.mode == "markers"]
    assert list(stars.x) == [150.0] and list(stars.y) == [-50.0]
    # an episode-axis run without a jump gets no marker
    plain = record(2, 64, [1, 2], [0.0, 1.0], x_axis="episode")
    fig = report.panel_figure("returns", ["eval/return_mean"], report.group_runs([plain])[0], "episode")
    assert [t.mode for t in fig.data] == ["lines"]


def chromium_dom(page, tmp_path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium."""
    exe = shutil.which("chromium")
    assert exe, "chromium is not on PATH: run `make chromium` (apt-get install chromium)"
    proc = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}",
                           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_of_two_tiny_runs_renders_every_chart_in_headless_chromium(workdir, tmp_path):
    proc = run_cli(["-m", *TINY, "network.hidden_dim=8,16"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = workdir / "out" / "report.html"
    rep = run_cli(["runs/multirun", "--out", str(out)], cwd=workdir, module="lander_exp.report")
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "2 runs in 2 groups" in rep.stdout

    page = out.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # self-contained: nothing to fetch
    dom = chromium_dom(out, tmp_path)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'data-([\w-]+)="(\d+)"', body))
    assert attrs["errors"] == "0", re.search(r'<pre id="script-errors">(.*?)</pre>', dom, re.S).group(1)
    assert int(attrs["expected-plots"]) >= 10 and attrs["plots"] == attrs["expected-plots"]

    # the evaluation-return chart holds one line per group (one seed each: no band), named by its group
    fig0 = dom[dom.index('id="fig-0"'):dom.index('id="fig-1"')]
    assert fig0.count('class="trace scatter') == 2
    legend = set(re.findall(r'class="legendtext"[^>]*>([^<]*)<', fig0))
    assert legend == {"network.hidden_dim=8", "network.hidden_dim=16"}

    # the table's final eval return is each run's last logged eval/return_mean
    runs = load_local(find_run_dirs([workdir / "runs" / "multirun"]))
    for run in runs:
        last = run.series("eval/return_mean")[1][-1]
        label = f"network.hidden_dim={run.config['network']['hidden_dim']}"
        row = re.search(rf"<tr[^>]*><td>[^<]*<span[^>]*></span>{re.escape(label)}</td>(.*?)</tr>", dom).group(1)
        assert f"<td>{last:.1f}</td>" in row
        assert f"hidden_dim: {run.config['network']['hidden_dim']}" in dom  # its config, one click away


@pytest.mark.parametrize("args, message", [
    ([], "nothing to compare"),
    (["missing_folder"], "missing_folder does not exist"),
    (["."], "holds no tracked run folder"),
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

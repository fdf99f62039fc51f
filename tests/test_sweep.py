"""Sweep files and the local sweep runner: every shipped file validates, bad files stop with one line,
and a tiny grid runs end to end as real offline W&B runs, read back with `wandb leet inspect --json`."""

import csv
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from lander_exp.run import checkpoint
from lander_exp.tools import sweep, sweep_runner
from lander_exp.tools.sweep_spec import SweepError, load
from tests.conftest import ROOT, TINY, history, leet_records, leet_summary, run_cli

SWEEP_FILES = sorted((ROOT / "sweeps").glob("*.yaml"))
COMMAND = '["${env}", "${interpreter}", -m, lander_exp, tracker.mode=online, "${args_no_hyphens}"]'


def write(folder, text, name="tiny.yaml"):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_shipped_sweep_files_cover_the_usual_axes():
    names = {p.stem for p in SWEEP_FILES}
    assert {"network_depth", "learning_rates", "env_count", "seeds", "hover"} <= names
    for path in SWEEP_FILES:  # each says what it shows and what it costs here
        head = path.read_text().split("\n\n")[0]
        assert head.startswith("#") and "cost here" in head.lower(), path.name


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_every_sweep_file_validates_and_every_point_composes(path, tmp_path):
    spec = load(path)
    assert spec.raw["program"] and "${args_no_hyphens}" in spec.raw["command"]
    if spec.method == "grid":
        jobs = sweep_runner.plan(spec, tmp_path / spec.name, None, 0)
        assert len(jobs) == len(spec.grid()) > 1
    else:
        jobs = sweep_runner.plan(spec, tmp_path / spec.name, 20, 0)
    sweep_runner.preflight(spec, jobs)  # composes and validates each point: raises on the first bad one
    assert len({j.key for j in jobs}) == len(jobs)
    assert list(tmp_path.iterdir()) == []


def test_a_point_becomes_the_same_overrides_as_the_wandb_agent_writes(tmp_path):
    spec = load(write(tmp_path, f"""
        program: lander_exp/__main__.py
        command: {COMMAND}
        method: grid
        metric: {{name: eval/return_ma, goal: maximize}}
        parameters:
          lr.actor: {{values: [3e-4, 0.001, 1.0e-5]}}
          algo.bootstrap_truncation: {{values: [true]}}
          network: {{value: shallow}}
    """))
    for point in spec.grid():
        wandb_args = create_sweep_command_args({"args": {k: {"value": v} for k, v in point.params}})
        assert point.args() == wandb_args["args_no_hyphens"]
    cfgs = [c for c in sweep_runner.plan(spec, tmp_path / "s", None, 0)]
    assert [c.key for c in cfgs] == ["actor-3e-4", "actor-0.001", "actor-1e-05"]


def test_random_points_repeat_with_their_seed_and_stay_in_bounds(tmp_path):
    spec = load(write(tmp_path, f"""
        program: lander_exp/__main__.py
        command: {COMMAND}
        method: random
        metric: {{name: eval/return_ma, goal: maximize}}
        parameters:
          lr.actor: {{distribution: log_uniform_values, min: 1.0e-5, max: 1.0e-2}}
          env.num_envs: {{min: 1, max: 16}}
          algo.gamma: {{distribution: uniform, min: 0.9, max: 0.999}}
          network: {{values: [shallow, medium, seed]}}
    """))
    first, again = spec.random_points(8, seed=0), spec.random_points(8, seed=0)
    assert first == again and spec.random_points(12, seed=0)[:8] == first
    assert spec.random_points(8, seed=1) != first
    for p in first:
        v = dict(p.params)
        assert 1e-5 <= v["lr.actor"] <= 1e-2 and 0.9 <= v["algo.gamma"] <= 0.999
        assert isinstance(v["env.num_envs"], int) and 1 <= v["env.num_envs"] <= 16
    assert len({dict(p.params)["lr.actor"] for p in first}) == 8
    # a rerun with a larger --count keeps the earlier runs' folders (how it continues a sweep)
    keys = lambda n: [job.key for job in sweep_runner.plan(spec, tmp_path / "s", n, 0)]  # noqa: E731
    assert keys(12)[:8] == keys(8) and len(set(keys(12))) == 12


GOOD = f"""
program: lander_exp/__main__.py
command: {COMMAND}
method: grid
metric: {{name: eval/return_ma, goal: maximize}}
parameters:
  seed: {{values: [1, 2]}}
"""
BAD = [
    (GOOD.replace("seed: {values: [1, 2]}", "network.hiden_dim: {values: [32]}"),
     "point network.hiden_dim=32: unknown key 'network.hiden_dim'"),
    (GOOD.replace("seed: {values: [1, 2]}", "network.hidden_dim: {values: [32, abc]}"),
     "point network.hidden_dim=abc: network.hidden_dim=abc"),
    (GOOD.replace("seed: {values: [1, 2]}", "lr.actor: {values: [3.0e-4, -1]}"), "point lr.actor=-1: lr.actor"),
    (GOOD.replace("parameters:", "parameters: [").replace("method: grid", "method: grid\n  x: {"), "not valid YAML at line"),
    (GOOD.replace("method: grid", "method: bayes"), "method bayes searches until told to stop: give --count N"),
    (GOOD + "early_terminate: {type: envelope}\n", "early_terminate type 'envelope' is not supported"),
    (GOOD.replace("method: grid", "method: bayes").replace("{values: [1, 2]}", "{distribution: normal, mu: 1}") +
     "run_cap: 3\n", "parameter seed: distribution normal has no Optuna equivalent"),
    (GOOD.replace("method: grid", "method: bayes").replace("seed: {values: [1, 2]}", "lr.actor: {min: 0.0, max: 0.1}")
     + "run_cap: 3\n", "point lr.actor=0.0: lr.actor"),
    (GOOD.replace("method: grid", "method: random"), "give --count N"),
    (GOOD.replace("method: grid", "method: sobol"), "method must be one of grid, random, bayes"),
    (GOOD.replace("{values: [1, 2]}", "{distribution: int_uniform, min: 0, max: 9}"), "method grid needs value or values"),
    (GOOD.replace("{values: [1, 2]}", "{values: []}"), "values must be a non-empty list"),
    (GOOD.replace("metric: {name: eval/return_ma, goal: maximize}", "metric: eval/return_ma"), "metric must be a mapping"),
    (GOOD.replace("seed:", "hydra.run.dir:"), "the runner sets hydra.*"),
    (GOOD.replace('"${args_no_hyphens}"', '"${args}"'), "command must run `-m lander_exp`"),
    (GOOD.replace("program: lander_exp/__main__.py\n", ""), "program is missing"),
    (GOOD.replace("{values: [1, 2]}", "{value: null}"), "put seed=null in command instead"),
    (GOOD.replace("seed:", "tracker.group:"), "the runner sets tracker.*"),
]


@pytest.mark.parametrize("text,says", BAD, ids=[s for _, s in BAD])
def test_a_bad_sweep_file_stops_with_one_line_before_anything_exists(tmp_path, monkeypatch, capsys, text, says):
    path = write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    assert sweep.main([str(path), "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lander_exp.sweep: error: ") and says in err[0], err
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.yaml"]


@pytest.mark.parametrize("flag,value,says", [
    ("--dir", "afile", "--dir afile cannot be used: {tmp}/afile is a file, not a folder"),
    ("--dir", "/proc/lander_exp", "--dir /proc/lander_exp cannot be used: cannot write in /proc"),
    ("--csv", "afile/out.csv", "--csv afile/out.csv cannot be used: {tmp}/afile is a file, not a folder"),
])
def test_a_folder_that_cannot_be_written_stops_with_one_line_before_anything_exists(tmp_path, monkeypatch, capsys,
                                                                                    flag, value, says):
    path = write(tmp_path, GOOD)
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    assert sweep.main([str(path), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lander_exp.sweep: error: ") and says.format(tmp=tmp_path) in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "tiny.yaml"]


def test_the_command_line_exits_2_on_a_bad_file(workdir):
    write(workdir, GOOD.replace("seed: {values: [1, 2]}", "network.hiden_dim: {values: [32]}"))
    proc = run_cli(["tiny.yaml"], cwd=workdir, module="lander_exp.sweep")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "unknown key 'network.hiden_dim'" in proc.stderr and [p.name for p in workdir.iterdir()] == ["tiny.yaml"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_misspelt_metric_is_refused_before_any_point_runs(workdir, dry_run):
    """Every point would run, then rank by a key none of them logs (the table showing `-`): the file
    is refused in one line naming the key runs do log."""
    fixed = ", ".join([*TINY, "train.max_epochs=1", "train.torch_threads=1"])
    write(workdir, f"""
        program: lander_exp/__main__.py
        command: ["${{env}}", "${{interpreter}}", -m, lander_exp, {fixed}, "${{args_no_hyphens}}"]
        method: grid
        metric: {{name: eval/retrun_ma, goal: maximize}}
        parameters:
          seed: {{values: [1, 2]}}
        """)
    proc = run_cli(["tiny.yaml", *(["--dry-run"] if dry_run else [])], cwd=workdir, module="lander_exp.sweep")
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout[-2000:]
    assert proc.stderr.strip().splitlines() == [
        "lander_exp.sweep: error: tiny.yaml: metric 'eval/retrun_ma' cannot rank the runs: runs never log "
        "'eval/retrun_ma': did you mean 'eval/return_ma'?"]
    assert [p.name for p in workdir.iterdir()] == ["tiny.yaml"]


def test_loading_rejects_what_wandb_would_misread(tmp_path):
    with pytest.raises(SweepError, match="nests parameters"):
        load(write(tmp_path, GOOD.replace("seed: {values: [1, 2]}", "network: {parameters: {hidden_dim: {value: 8}}}")))


def write_tiny_grid(folder, epochs: int, parameters: str):
    """tiny.yaml: a grid sweep of tiny runs of `epochs` epochs over `parameters` (YAML under `parameters:`)."""
    fixed = ", ".join([*TINY, f"train.max_epochs={epochs}", "train.torch_threads=1"])
    command = f'["${{env}}", "${{interpreter}}", -m, lander_exp, tracker.mode=online, {fixed}, "${{args_no_hyphens}}"]'
    body = "\n".join(["program: lander_exp/__main__.py", f"command: {command}", "method: grid",
                      "metric: {name: eval/return_ma, goal: maximize}", "parameters:",
                      *("  " + line for line in parameters.splitlines())])
    (folder / "tiny.yaml").write_text(body + "\n")


def test_tiny_grid_runs_with_two_workers_as_offline_wandb_runs_and_a_rerun_starts_none(workdir):
    write_tiny_grid(workdir, epochs=1, parameters="seed: {values: [1, 2]}\nnetwork: {value: shallow}")
    proc = run_cli(["tiny.yaml", "--workers", "2", "--csv", "out.csv"], cwd=workdir, module="lander_exp.sweep")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    started = [i for i, ln in enumerate(lines) if " started " in ln]
    done = [i for i, ln in enumerate(lines) if " done " in ln]
    assert len(started) == 2 and len(done) == 2 and max(started) < min(done)  # both ran at once

    sweep_dir = workdir / "runs" / "sweeps" / "tiny"
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["seed-1", "seed-2", "sweep.lock", "wandb"]
    wandb_dirs = sorted((sweep_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_dirs) == 2
    values = {}
    for folder in wandb_dirs:
        s, records = leet_summary(folder), leet_records(folder)
        (run,) = [r["run"] for r in records if r["type"] == "run"]
        assert run["run_group"] == "tiny" and "sweep:tiny" in run["tags"] and s["state"] == "finished"
        assert s["config"]["network"]["actor_layers"] == 2 and s["config"]["train"]["max_epochs"] == 1
        assert s["config"]["tracker"]["mode"] == "offline"  # the command's online is the agent's, not ours
        rows = history(records)
        assert len(rows) == 1 and rows[0]["eval/return_ma"] == s["summary"]["eval/return_ma"]
        values[f"seed-{s['config']['seed']}"] = s["summary"]["eval/return_ma"]
        info = json.loads((sweep_dir / f"seed-{s['config']['seed']}" / "wandb_run.json").read_text())
        assert info["dir"] == str(folder.relative_to(workdir))
    table = proc.stdout[proc.stdout.index("sweep tiny ("):]
    for key, value in values.items():
        assert re.search(rf"^{key}\s+{re.escape(f'{value:.4g}')}\s", table, re.M), table
    with open(workdir / "out.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["run"], r["seed"]) for r in rows) == [("seed-1", "1"), ("seed-2", "2")]
    assert all(sum(float(r[k]) for k in ("landed", "crashed", "out_of_bounds", "timeout")) == 1.0 for r in rows)
    assert all(r["eval/return_ma"] == f"{values[r['run']]:.4g}" and float(r["wall_s"]) > 0 for r in rows)
    for r in rows:  # the two kinds of time limit add up to it, for the evaluation and the training episodes
        for prefix in ("", "sampled_"):
            assert float(r[f"{prefix}timeout"]) == pytest.approx(
                float(r[f"{prefix}timeout_grounded"]) + float(r[f"{prefix}timeout_airborne"]))
        assert r["sampled_landed"] != ""

    again = run_cli(["tiny.yaml", "--workers", "2"], cwd=workdir, module="lander_exp.sweep")
    assert again.returncode == 0 and "2 already done, 0 to run" in again.stdout and " started " not in again.stdout
    assert sorted((sweep_dir / "wandb").glob("offline-run-*")) == wandb_dirs

    # a point whose run never finished (no done-marker) is cleared and run again; the other is kept
    (sweep_dir / "seed-2" / sweep_runner.DONE_MARKER).unlink()
    third = run_cli(["tiny.yaml"], cwd=workdir, module="lander_exp.sweep")
    assert third.returncode == 0 and "1 already done, 1 to run" in third.stdout
    now = sorted((sweep_dir / "wandb").glob("offline-run-*"))
    (kept,) = set(now) & set(wandb_dirs)
    (fresh,) = set(now) - set(wandb_dirs)
    assert leet_summary(kept)["config"]["seed"] == 1
    assert json.loads((sweep_dir / "seed-2" / "wandb_run.json").read_text())["dir"] == str(fresh.relative_to(workdir))


def test_online_without_a_wandb_account_stops_with_one_line(workdir):
    """Online mode needs `wandb login`; without it: one line, exit 2, nothing made. No key and a dead
    base URL make sure nothing can reach a server from a test."""
    write(workdir, GOOD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="online", HOME=str(workdir), WANDB_CONFIG_DIR=str(workdir / ".wandb_config"),
               WANDB_BASE_URL="http://127.0.0.1:9", PYTHONPATH=str(ROOT), NETRC=str(workdir / "none"))
    proc = subprocess.run([sys.executable, "-m", "lander_exp.sweep", "tiny.yaml", "--count", "1"], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "W&B online: No API key" in lines[0], proc.stderr
    assert not (workdir / "runs").exists()


def test_ctrl_c_prints_the_command_that_continues_the_sweep_and_the_runs_say_what_the_sweep_will_do(workdir):
    """Ctrl-C stops the sweep's runs with a checkpoint; the sweep prints the exact command that continues
    it (run here as printed, from a shell whose `python` is not the venv's), and the stopped point's log
    says that the sweep runs it again, not that `lander_exp.resume` continues it."""
    import signal
    import time

    from tests.processes import spawn

    write_tiny_grid(workdir, epochs=6, parameters="seed: {values: [1]}")  # a run long enough to interrupt
    proc = spawn(["tiny.yaml", "--dir", "out"], cwd=workdir, module="lander_exp.sweep")
    point = workdir / "out" / "tiny" / "seed-1"
    deadline = time.monotonic() + 180
    while not checkpoint.checkpoints(point) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    printed = re.search(r"continue the sweep with: (.+)$", err, re.M).group(1)
    log = (point / "sweep.log").read_text()
    assert "stopped by SIGTERM after epoch" in log and "lander_exp.resume" not in log, log[-2000:]
    assert f"the sweep runs this point again from its start when run again: {printed}" in log
    shell = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    again = subprocess.run(printed, shell=True, cwd=workdir, env=shell, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 already done, 1 to run" in again.stdout, again.stdout + again.stderr[-2000:]
    assert (point / sweep_runner.DONE_MARKER).is_file()

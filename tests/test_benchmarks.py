"""The benchmark scripts' own arithmetic: where a run's wall time went adds up to its launch-to-exit
time, results CSVs take new columns without losing their rows, a preset's variants are chosen on
development seeds only, the comparison with SB3 evaluates both on one cadence, and the floor probes
measure the shapes of the config they are given."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from tests.conftest import ROOT, TINY

sys.path.insert(0, str(ROOT / "benchmarks"))
import common  # noqa: E402  (benchmarks/common.py)
import many_seeds  # noqa: E402
import vs_sb3  # noqa: E402


def test_a_csv_takes_new_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "results.csv"
    common.append_rows(path, [{"date": "d1", "wall_s": 1.5}])
    common.append_rows(path, [{"date": "d2", "wall_s": 2.5}])
    common.append_rows(path, [{"date": "d3", "commit": "abc1234", "wall_s": 3.5}])
    rows = list(csv.DictReader(path.open()))
    assert [(r["date"], r["wall_s"], r["commit"]) for r in rows] == [("d1", "1.5", ""), ("d2", "2.5", ""),
                                                                     ("d3", "3.5", "abc1234")]


def test_where_a_run_s_time_went_adds_up_to_its_launch_to_exit_and_its_evaluations_steps_are_counted(tmp_path):
    out = tmp_path / "run"
    launched, exited = common.train(ROOT, [*TINY, "seed=3"], out)
    split = many_seeds.where_time_goes(out, launched, exited)
    assert all(v >= 0 for v in split.values()), split
    assert split["startup_s"] > 0.5  # imports, the config, the W&B run: never free
    assert split["rollout_s"] + split["update_s"] + split["eval_s"] > 0  # each rounded to 0.1 s: a tiny run's update may be 0.0
    assert abs(sum(split.values()) - (exited - launched)) < 0.5  # each part rounded to 0.1 s
    assert common.commit_of(ROOT).split("-")[0] != "unknown"
    # 2 epochs, each evaluated on 2 episodes of at most 100 steps
    assert 2 * 2 <= many_seeds.eval_env_steps(out) <= 2 * 2 * 100


def test_fast_variants_refuses_confirmation_seeds_and_writes_a_row_per_run(tmp_path):
    """benchmarks/fast_variants.py: choosing a preset on a confirmation seed is refused before anything
    runs; a variant's run gives a row with its overrides, its own counters and the code that ran."""
    script, out = str(ROOT / "benchmarks/fast_variants.py"), tmp_path / "variants.csv"
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the runs' folder (tempfile.mkdtemp) stays in the test's
    proc = subprocess.run([sys.executable, script, "--seeds", "3", "101", "--csv", str(out), "--variant", "base"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "seeds [101] are confirmation seeds" in proc.stderr and not out.exists()
    tiny = ["algo.steps_per_epoch=256", "algo.batch_size=128", "train.max_epochs=1", "train.eval_episodes=4",
            "train.eval_envs=4", "train.eval_screen=0"]
    proc = subprocess.run([sys.executable, script, "--seeds", "3", "--csv", str(out), "--reeval-episodes", "4",
                           "--variant", "tiny", *tiny], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = csv.DictReader(out.open())
    assert (row["variant"], row["overrides"], row["seed"]) == ("tiny", " ".join(tiny), "3")
    assert (row["epochs"], row["env_steps"]) == ("1", "256")  # 32 envs x 8 steps
    assert row["commit"].split("-")[0] == common.commit_of(ROOT).split("-")[0]
    assert row["solved"] == str(float(row["reeval_return"]) >= 200)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("fast_variants_")]


def test_the_comparison_with_sb3_evaluates_ours_as_often_in_env_steps_as_sb3():
    """SB3 evaluates after each update (16 envs x 1024 steps); ours, with epochs of its own length,
    must evaluate after as many env steps, or one of the two could only stop later."""
    from lander_exp.run.preflight import compose_config

    steps_per_epoch = compose_config(["experiment=fast"]).algo.steps_per_epoch
    assert vs_sb3.ours_eval_every() * steps_per_epoch == vs_sb3.ZOO_ENVS * vs_sb3.ZOO["n_steps"] == 16384


# experiment=fast's networks (obs 8, 2 actions, two layers of 64): each Linear's weights once forward
# and twice backward, 2 FLOPs a multiply-add, 64 samples
floors_flop_fast_64 = 2 * 3 * ((8 * 64 + 64 * 64 + 64 * 2) + (8 * 64 + 64 * 64 + 64 * 1)) * 64


def test_a_benchmark_refuses_a_count_below_one_in_one_line_before_it_runs(tmp_path):
    """A count of 0 (or a word) would run nothing and write a misleading row, or fail at the end with a
    command that cannot work: each script's counts are refused by argparse first."""
    for script, flag in (("floors.py", "--repeats"), ("many_seeds.py", "--reeval-episodes"), ("loop_speed.py", "--rounds")):
        for bad in ("0", "-2", "two"):
            cmd = [sys.executable, str(ROOT / "benchmarks" / script), flag, bad, "--csv", str(tmp_path / "x.csv")]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
            assert proc.returncode == 2, (script, bad, proc.stderr)
            last = proc.stderr.strip().splitlines()[-1]
            assert f"argument {flag}: '{bad}' is not a whole number of at least 1" in last, last
    assert list(tmp_path.iterdir()) == []


def test_the_floor_probes_measure_the_presets_own_shapes_one_row_each(tmp_path):
    """benchmarks/floors.py: each probe of docs/speed.md gives one row per repeat, with the minibatch
    and the envs of the config it was given, and the code that ran."""
    out = tmp_path / "floors.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/floors.py"), "--repeats", "1", "--stack", "3",
                           "--csv", str(out), "env.num_envs=4", "algo.steps_per_epoch=256", "algo.batch_size=64"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(out.open()))
    assert [(r["probe"], r["setting"], r["unit"]) for r in rows] == [
        ("update_minibatch", "torch_threads=1 batch=64", "ms"), ("update_flop", "torch_threads=1 batch=64", "GFLOP/s"),
        ("update_minibatch", "torch_threads=2 batch=64", "ms"), ("update_flop", "torch_threads=2 batch=64", "GFLOP/s"),
        ("stacked_minibatch", "torch_threads=2 batch=64 runs=3", "ms"), ("matmul", "torch_threads=2 size=2048", "GFLOP/s"),
        ("envpool_step", "envs=1 of 50", "us"), ("envpool_step", "envs=10 of 50", "us"),
        ("envpool_step", "envs=50 of 50", "us"), ("envpool_step", "envs=12 of 12", "us"),
        ("collect", "envs=4", "us"), ("bare_loop", "envs=4", "us"), ("wandb_setup", "wall", "s"), ("wandb_setup", "cpu", "s")]
    assert all(float(r["value"]) > 0 for r in rows if r["probe"] != "wandb_setup")
    value = {(r["probe"], r["setting"]): float(r["value"]) for r in rows}
    for threads in (1, 2):  # the rate is the networks' FLOPs over the minibatch's time, not a second measurement
        setting = f"torch_threads={threads} batch=64"
        ms, rate = value[("update_minibatch", setting)], value[("update_flop", setting)]
        assert abs(rate * ms * 1e6 - floors_flop_fast_64) / floors_flop_fast_64 < 0.05  # both rounded in the CSV
    assert {r["commit"].split("-")[0] for r in rows} == {common.commit_of(ROOT).split("-")[0]}


def test_a_paired_comparison_alternates_which_code_runs_first_and_pairs_each_seed(tmp_path):
    """benchmarks/paired.py: each seed trains with both checkouts back to back, the old first on the
    first seed and the new first on the next (so a machine slowing down over minutes weighs on both),
    and the summary pairs the runs seed by seed: the same code learns the same, run after run."""
    script, out = str(ROOT / "benchmarks/paired.py"), tmp_path / "paired.csv"
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the runs' folder (tempfile.mkdtemp) stays in the test's
    proc = subprocess.run([sys.executable, script, "--old", str(tmp_path), "--seeds", "3", "--csv", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "is not a checkout of this repository" in proc.stderr and not out.exists()
    tiny = ["algo.steps_per_epoch=256", "algo.batch_size=128", "train.max_epochs=2", "train.eval_episodes=4",
            "train.eval_envs=4", "train.eval_screen=0", "experiment=fast"]
    proc = subprocess.run([sys.executable, script, "--old", str(ROOT), "--seeds", "3", "4", "--reeval-episodes", "2",
                           "--csv", str(out), *tiny], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(out.open()))
    assert [(r["seed"], r["code"], r["first"]) for r in rows] == [("3", "old", "old"), ("3", "new", "old"),
                                                                  ("4", "new", "new"), ("4", "old", "new")]
    assert {(r["epochs"], r["env_steps"]) for r in rows} == {("2", "512")}  # 32 envs x 8 steps, two epochs
    assert all(float(r["wall_s"]) > float(r["startup_s"]) > 0 for r in rows)
    assert "the same epochs and env steps on 2 of 2 seeds" in proc.stdout


def test_the_fast_rows_raw_rate_is_that_of_the_checkouts_own_preset_pool(tmp_path):
    """many_seeds.py compares ppo_fast's rollout with a bare pool of the preset's own envs, read from
    the checkout that runs (an older one may have fewer)."""
    from lander_exp.run.preflight import compose_config

    assert many_seeds.preset_envs(ROOT) == compose_config(["experiment=fast"]).env.num_envs
    older = tmp_path / "conf/experiment"
    older.mkdir(parents=True)
    (older / "fast.yaml").write_text("# @package _global_\nenv:\n  backend: envpool\n  num_envs: 16\n")
    assert many_seeds.preset_envs(tmp_path) == 16

"""Sweeps without a W&B server through Optuna (lander_exp.tools.study): the sweep file's parameters as
Optuna distributions, a tiny bayes search with two workers and its continuation by two processes,
and early_terminate's pruner stopping a run, each trial read back as an offline W&B run."""

import json
import math
import textwrap

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from lander_exp.run import trial as run_trial
from lander_exp.tools import study, sweep
from lander_exp.tools.sweep_spec import SweepError, load
from tests.conftest import TINY, history, leet_records, leet_summary, run_cli
from tests.processes import spawn

FIXED = ", ".join([*TINY, "train.torch_threads=1", "train.video_every=0"])


def write(folder, body: str, name: str = "tiny.yaml"):
    path = folder / name
    path.write_text(textwrap.dedent(f"""
        program: lander_exp/__main__.py
        command: ["${{env}}", "${{interpreter}}", -m, lander_exp, tracker.mode=online, {FIXED}, "${{args_no_hyphens}}"]
    """) + textwrap.dedent(body))
    return path


def load_study(sweep_dir, name="tiny"):
    return optuna.load_study(study_name=name, storage=run_trial.storage(str(sweep_dir / study.JOURNAL)))


def test_wandb_parameters_become_optuna_distributions(tmp_path):
    spec = load(write(tmp_path, """
        method: bayes
        metric: {name: eval/return_ma, goal: minimize}
        parameters:
          lr.actor: {distribution: log_uniform_values, min: 1.0e-5, max: 1.0e-2}
          lr.critic: {distribution: log_uniform, min: -9.0, max: -4.0}
          algo.gamma: {min: 0.9, max: 0.999}
          env.num_envs: {min: 1, max: 16}
          algo.batch_size: {distribution: q_uniform, min: 64, max: 512, q: 64}
          algo.gae_lambda: {distribution: q_uniform, min: 0.8, max: 1.0, q: 0.05}
          algo.steps_per_epoch: {distribution: q_log_uniform_values, min: 512, max: 8192, q: 1}
          network: {values: [shallow, medium]}
          seed: {value: 3}
    """))
    space = study.search_space(spec)
    assert space == {
        "lr.actor": FloatDistribution(1e-5, 1e-2, log=True),
        "lr.critic": FloatDistribution(math.exp(-9.0), math.exp(-4.0), log=True),  # W&B's exponents
        "algo.gamma": FloatDistribution(0.9, 0.999),  # floats: W&B infers uniform
        "env.num_envs": IntDistribution(1, 16),  # ints: int_uniform
        "algo.batch_size": IntDistribution(64, 512, step=64),
        "algo.gae_lambda": FloatDistribution(0.8, 1.0, step=0.05),
        "algo.steps_per_epoch": IntDistribution(512, 8192, log=True),
        "network": CategoricalDistribution(["shallow", "medium"]),
    }  # the constant seed is no distribution: every point carries it
    pt = study.point(spec, {k: d.choices[0] if isinstance(d, CategoricalDistribution) else d.low for k, d in space.items()})
    assert pt.params[-1] == ("seed", 3) and [k for k, _ in pt.params] == list(spec.parameters)
    assert study.open_study(spec, tmp_path / "s").direction == optuna.study.StudyDirection.MINIMIZE
    # W&B's hyperband as successive halving, its first rung in evaluations
    hb = run_trial.pruner({"type": "hyperband", "min_iter": 2, "eta": 3})
    assert isinstance(hb, optuna.pruners.SuccessiveHalvingPruner)
    assert (hb._min_resource, hb._reduction_factor) == (2, 3)
    assert run_trial.pruner({"type": "hyperband", "max_iter": 27, "s": 2})._min_resource == 3
    with pytest.raises(SweepError, match="no Optuna equivalent"):
        study.search_space(load(write(tmp_path, """
            method: bayes
            metric: {name: eval/return_ma}
            parameters: {algo.gamma: {distribution: normal, mu: 0.99, sigma: 0.01}}
        """, "normal.yaml")))


def test_a_tiny_bayes_sweep_with_two_workers_finishes_and_two_more_processes_continue_it(workdir):
    write(workdir, """
        method: bayes
        metric: {name: episode/return_ma100, goal: maximize}
        parameters:
          lr.actor: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}
          seed: {values: [0, 1, 2]}
    """)
    proc = run_cli(["tiny.yaml", "--count", "2", "--workers", "2"], cwd=workdir, module="lander_exp.sweep", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    started = [i for i, ln in enumerate(lines) if "] started " in ln]
    done = [i for i, ln in enumerate(lines) if "] done " in ln]
    assert len(started) == 2 and len(done) == 2 and max(started) < min(done)  # both ran at once
    sweep_dir = workdir / "runs" / "sweeps" / "tiny"
    first = load_study(sweep_dir).get_trials()
    assert [t.state for t in first] == [TrialState.COMPLETE] * 2
    wandb_before = sorted((sweep_dir / "wandb").glob("offline-run-*"))

    # a rerun in two processes at once: they share the study through its journal file
    procs = [spawn(["tiny.yaml", "--count", "4"], cwd=workdir, module="lander_exp.sweep") for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trials = load_study(sweep_dir).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3] and all(t.state == TrialState.COMPLETE for t in trials)
    assert [(t.params, t.value) for t in trials[:2]] == [(t.params, t.value) for t in first]  # not run again
    assert len({(t.params["lr.actor"], t.params["seed"]) for t in trials}) == 4  # no point repeated
    assert len({t.user_attrs["worker"] for t in trials[2:]}) == 2  # one trial in each process
    wandb_dirs = sorted((sweep_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_dirs) == 4 and set(wandb_before) < set(wandb_dirs)
    for t in trials:  # each trial: a run folder and an offline W&B run in the sweep's group, with its point
        run_dir = workdir / t.user_attrs["run_dir"]
        info = json.loads((run_dir / "wandb_run.json").read_text())
        s, records = leet_summary(workdir / info["dir"]), leet_records(workdir / info["dir"])
        (run,) = [r["run"] for r in records if r["type"] == "run"]
        assert run["run_group"] == "tiny" and "sweep:tiny" in run["tags"] and s["state"] == "finished"
        assert s["config"]["lr"]["actor"] == t.params["lr.actor"] and s["config"]["seed"] == t.params["seed"]
        assert s["summary"]["episode/return_ma100"] == t.value
    table = outs[0][0] + outs[1][0]
    assert "best: trial" in table and table.count("trial-003_") >= 1


def test_early_terminate_prunes_a_run_and_its_wandb_summary_says_so(workdir):
    write(workdir, """
        method: grid
        metric: {name: episode/return_ma100, goal: maximize}
        early_terminate: {type: hyperband, min_iter: 1, eta: 2}
        parameters:
          seed: {values: [0, 1, 2]}
    """)
    proc = run_cli(["tiny.yaml", "--override", "train.max_epochs=3"], cwd=workdir, module="lander_exp.sweep", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    sweep_dir = workdir / "runs" / "sweeps" / "tiny"
    trials = load_study(sweep_dir).get_trials()
    assert sorted(t.params["seed"] for t in trials) == [0, 1, 2]  # the grid, each point once
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and trials[0].state == TrialState.COMPLETE  # the first has nothing to lose against
    for t in trials:
        info = json.loads((workdir / t.user_attrs["run_dir"] / "wandb_run.json").read_text())
        s = leet_summary(workdir / info["dir"])
        rows = history(leet_records(workdir / info["dir"]))
        # the pruner was fed the logged metric, one value per evaluation
        assert t.intermediate_values == {i + 1: r["episode/return_ma100"] for i, r in enumerate(rows)}
        if t.state == TrialState.PRUNED:
            assert s["summary"]["stop_reason"] == "pruned" and s["summary"]["epochs"] < 3 and s["state"] == "finished"
            step = max(t.intermediate_values)  # it was behind the best earlier trial at that evaluation
            earlier = [u.intermediate_values[step] for u in trials if u.number < t.number and step in u.intermediate_values]
            assert t.intermediate_values[step] < max(earlier)
        else:
            assert s["summary"]["stop_reason"] == "max_epochs" and s["summary"]["epochs"] == 3
    assert "pruned" in proc.stdout.split("best: trial")[0]


def test_a_bad_point_of_a_study_stops_with_one_line_before_anything_exists(workdir, capsys, monkeypatch):
    path = write(workdir, """
        method: bayes
        metric: {name: eval/return_ma}
        parameters:
          network.hiden_dim: {values: [8, 16]}
    """)
    monkeypatch.chdir(workdir)
    assert sweep.main([str(path), "--count", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "point network.hiden_dim=8: unknown key 'network.hiden_dim'" in err[0], err
    assert [p.name for p in workdir.iterdir()] == ["tiny.yaml"]

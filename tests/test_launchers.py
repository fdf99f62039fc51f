"""Past one machine: parallel jobs through Hydra's joblib launcher, SLURM jobs through submitit."""

import json

from tests.conftest import leet_summary, run_cli
from tests.processes import RUN, metric_rows, wandb_runs


def test_two_parallel_joblib_jobs_get_their_own_folders_and_wandb_runs_and_reproduce_each_other(workdir):
    # the same seed twice: the case where names collide, and where the metrics must be identical
    proc = run_cli(["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", *RUN, "train.max_epochs=2", "seed=5,5"],
                   cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    job_dirs = sorted((workdir / "runs" / "multirun").glob("*/*/*_ppo_s5"))
    assert [d.name for d in job_dirs] == ["0_ppo_s5", "1_ppo_s5"]
    ids = [json.loads((d / "wandb_run.json").read_text())["id"] for d in job_dirs]
    wandb_dirs = wandb_runs(workdir)
    assert len(set(ids)) == 2 and sorted(d.name[-8:] for d in wandb_dirs) == sorted(ids)
    assert sorted((workdir / leet_summary(d)["config"]["run_dir"]).resolve() for d in wandb_dirs) == [
        d.resolve() for d in job_dirs]
    # reproducible: same config and seed on CPU, in two processes at once, give identical metrics
    first, second = (metric_rows(d) for d in wandb_dirs)
    assert len(first) == 2 and len(first[1]) > 30 and first[0]["train/loss"] != first[1]["train/loss"]
    assert first == second


def test_slurm_launcher_config_composes(workdir):
    proc = run_cli(["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra", "--package",
                    "hydra.launcher"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert "SlurmLauncher" in text and "partition: gpu" in text and "timeout_min: 240" in text
    assert list(workdir.iterdir()) == []

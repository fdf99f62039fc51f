"""`hydra/launcher=slurm` on a real one-node SLURM cluster (scripts/slurm_cluster.sh: munge, slurmdbd
with MariaDB, slurmctld, slurmd): jobs land like local runs, and a job that reaches its time limit is
requeued and resumes the same run. Marked `slurm` (make test-slurm); the fixture brings the cluster
up (idempotent), which needs root."""

import json
import math
import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT, history, leet_records, leet_summary, run_cli
from tests.processes import RUN, cli_env, metric_rows, wandb_runs
from tests.test_study import load_study, write

pytestmark = pytest.mark.slurm
# one CPU and a little memory per job: the test node has this machine's 2 cores
SLURM = ["-m", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    up = subprocess.run(["bash", str(ROOT / "scripts" / "slurm_cluster.sh"), "up"], capture_output=True, text=True,
                        timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr


def sacct_states(job_id: str) -> list[str]:
    """Every accounting record of a job (requeued ones too, --duplicates), as SLURM's database has them
    once the job has ended (submitit has its result a moment before SLURM has the job's end)."""
    for _ in range(300):
        out = subprocess.run(["sacct", "-j", job_id, "--duplicates", "-X", "-n", "-P", "-o", "State"],
                             capture_output=True, text=True, check=True)
        states = out.stdout.split()
        if states and states[-1] not in ("RUNNING", "COMPLETING", "PENDING", "REQUEUED"):
            return states
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not end: {states}")


def job_ids(sweep_dir) -> list[str]:
    """The job ids (ARRAY_TASK for an array's tasks) submitit made a log folder for."""
    return sorted(p.name for p in (sweep_dir / ".submitit").iterdir() if any(p.glob("*_log.out")))


def test_two_seeds_run_as_slurm_jobs_and_land_like_local_runs(workdir):
    proc = run_cli([*SLURM, *RUN, "train.max_epochs=2", "seed=0,1"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = (workdir / "runs" / "multirun").glob("*/*")
    assert sorted(d.name for d in sweep_dir.glob("*_ppo_s*")) == ["0_ppo_s0", "1_ppo_s1"]
    tasks = job_ids(sweep_dir)  # one job array of two tasks, done as SLURM's accounting says
    assert len(tasks) == 2 and tasks[0].endswith("_0") and tasks[1] == tasks[0][:-1] + "1"
    assert [sacct_states(t) for t in tasks] == [["COMPLETED"], ["COMPLETED"]]
    runs = {leet_summary(d)["config"]["seed"]: d for d in wandb_runs(workdir)}
    assert sorted(runs) == [0, 1]
    for seed, folder in runs.items():
        s = leet_summary(folder)
        assert s["state"] == "finished" and s["summary"]["epochs"] == 2
        info = json.loads((sweep_dir / f"{seed}_ppo_s{seed}" / "wandb_run.json").read_text())
        assert folder.name.endswith(info["id"]) and info["finished"]
    # the same config and seed run here, without SLURM, logs the same metrics
    local = workdir / "local"
    local.mkdir()
    assert run_cli([*RUN, "train.max_epochs=2", "seed=1"], cwd=local).returncode == 0
    (local_run,) = wandb_runs(local)
    assert metric_rows(runs[1]) == metric_rows(local_run)


def test_a_job_at_its_time_limit_checkpoints_is_requeued_and_resumes_the_same_run(workdir):
    """A one-minute limit, SIGUSR2 10 s before it (SLURM may send it up to ~30 s earlier still), and a run
    of about 70 s of training, measured on this machine as loaded as it is now: more than one job can do
    (SLURM's warning comes 20 to 50 s into a job, set-up included; with 45 s, a job whose warning came
    late and whose set-up was quick once finished the run alone). On a busy machine the set-up takes
    most of each job, hence more requeues than the preset's 20 allow."""
    local = workdir / "calibration"
    local.mkdir()
    assert run_cli([*RUN, "train.max_epochs=12", "train.eval_every=12"], cwd=local).returncode == 0
    wall = [r["perf/wall_s"] for r in history(leet_records(wandb_runs(local)[0]))]
    epochs = max(20, math.ceil(70 / ((wall[-2] - wall[0]) / (len(wall) - 2))))  # the last row has the evaluation
    proc = run_cli([*SLURM, "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=10",
                    "hydra.launcher.max_num_timeout=100", *RUN,
                    f"train.max_epochs={epochs}", "train.eval_every=20", "seed=3"], cwd=workdir, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = (workdir / "runs" / "multirun").glob("*/*")
    (run_dir,) = sweep_dir.glob("*_ppo_s*")  # one run folder for the whole run
    (job,) = job_ids(sweep_dir)
    states = sacct_states(job)
    assert states[-1] == "COMPLETED" and states.count("REQUEUED") >= 1, states
    log = (sweep_dir / ".submitit" / job / f"{job}_0_log.out").read_text()
    assert log.count("requeued job: resuming") == states.count("REQUEUED")

    # one W&B run: the requeued jobs rebuilt it from the checkpoint's rows (earlier folders superseded)
    info = json.loads((run_dir / "wandb_run.json").read_text())
    (final,) = wandb_runs(workdir)
    superseded = sorted((run_dir / "wandb_superseded").iterdir())
    assert len(superseded) == states.count("REQUEUED")
    assert {d.name.rsplit("-", 1)[1] for d in [final, *superseded]} == {info["id"]}
    s = leet_summary(final)
    assert s["state"] == "finished" and s["summary"]["stop_reason"] == "max_epochs" and info["finished"]
    rows = metric_rows(final)
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1)), epochs  # none missing, none twice
    steps = [r["global_step"] for r in rows]
    assert steps == [512 * (i + 1) for i in range(epochs)]


def test_two_slurm_jobs_share_one_optuna_study(workdir):
    """Sweep workers as SLURM jobs: a job array whose tasks each run `python -m lander_exp.sweep`; they
    meet in the study's journal file in the (shared) sweep folder."""
    write(workdir, """
        method: bayes
        metric: {name: episode/return_ma100, goal: maximize}
        parameters:
          lr.actor: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}
    """)
    command = f"{sys.executable} -m lander_exp.sweep tiny.yaml --count 2"
    proc = subprocess.run(["sbatch", "--wait", "--array=0-1", "--cpus-per-task=1", "--mem=1G", "--time=10",
                           f"--output={workdir}/worker-%a.out", "--wrap", command], cwd=workdir, env=cli_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(p.read_text() for p in workdir.glob("worker-*.out"))
    array = proc.stdout.split()[-1]
    assert [sacct_states(f"{array}_{i}") for i in (0, 1)] == [["COMPLETED"], ["COMPLETED"]]
    trials = load_study(workdir / "runs" / "sweeps" / "tiny").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    jobs = {t.user_attrs["worker"].split(":")[0] for t in trials}  # the SLURM job id each trial ran in
    assert len(jobs) == 2 and "local" not in jobs
    for t in trials:
        info = json.loads((workdir / t.user_attrs["run_dir"] / "wandb_run.json").read_text())
        s = leet_summary(workdir / info["dir"])
        assert s["state"] == "finished" and s["summary"]["episode/return_ma100"] == t.value

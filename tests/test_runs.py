"""Dead runs (killed before their first checkpoint): the report leaves them out and says so, and
`python -m lander_exp.runs` lists them and deletes them with their W&B runs, as printed."""

import json
import shlex
import shutil
import subprocess
import sys

from tests.conftest import ROOT, TINY, run_cli
from tests.processes import RUN, cli_env, spawn, wait_for


def started(workdir, seed: int):
    """The run folder of `seed` once its W&B run has started, else None."""
    for run_dir in (workdir / "runs").glob(f"20*/*_s{seed}"):
        try:
            if json.loads((run_dir / "wandb_run.json").read_text())["dir"]:
                return run_dir
        except (OSError, ValueError):
            pass
    return None


def test_a_run_killed_before_its_first_checkpoint_is_left_out_of_the_report_listed_and_cleaned(workdir):
    done = run_cli([*TINY, "seed=1"], cwd=workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    (finished,) = (workdir / "runs").glob("20*/*_s1")
    proc = spawn([*RUN, "algo.steps_per_epoch=40000", "seed=2"], cwd=workdir)  # epochs of several seconds
    assert wait_for(lambda: started(workdir, 2) is not None, proc)
    proc.kill()
    proc.wait()
    dead = started(workdir, 2)
    dead_id = json.loads((dead / "wandb_run.json").read_text())["id"]
    (dead_wandb,) = (workdir / "runs" / "wandb").glob(f"offline-run-*-{dead_id}")
    # a run killed after a checkpoint (its W&B run never closed) can be resumed: a copy of the finished one
    killed = finished.parent / "killed_ppo_s3"
    shutil.copytree(finished, killed, ignore=shutil.ignore_patterns(".lock"))
    info = json.loads((killed / "wandb_run.json").read_text())
    (killed / "wandb_run.json").write_text(json.dumps({k: v for k, v in info.items() if k not in ("finished", "exit_code")}))

    rep = run_cli(["runs", "--out", "report.html"], cwd=workdir, module="lander_exp.report")
    assert rep.returncode == 0, rep.stderr[-3000:]
    # the finished run and its copy are one run (same values, same seed), counted once
    assert "report.html: 1 run in 1 group (1 identical run counted once, 1 run folder left out" in rep.stdout
    notes = rep.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith(f"lander_exp.report: note: {dead.relative_to(workdir)} left out: "), notes

    listed = run_cli(["list"], cwd=workdir, module="lander_exp.runs")
    assert listed.returncode == 0, listed.stderr[-3000:]
    lines = listed.stdout.strip().splitlines()
    assert any(line.startswith("finished  epoch 2 ") and line.endswith(str(finished.relative_to(workdir))) for line in lines)
    assert any(line.startswith("dead      - ") and str(dead.relative_to(workdir)) in line for line in lines), lines
    (resumable,) = [line for line in lines if line.startswith("killed    epoch 2 ")]
    assert resumable.endswith(f"-m lander_exp.resume {killed.relative_to(workdir)}"), lines
    assert lines[-1].startswith("3 runs, 1 dead: delete them and their W&B runs with ")

    # the printed command works as printed, in a shell whose `python` is not lander_exp's
    printed = lines[-1].split(" with ", 1)[1]
    shell = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PYTHONPATH": str(ROOT)}  # this checkout's code
    cleaned = subprocess.run(printed, shell=True, cwd=workdir, env=shell, capture_output=True, text=True, timeout=300)
    assert cleaned.returncode == 0, cleaned.stderr[-3000:]
    assert cleaned.stdout.strip().splitlines()[-1] == "1 dead run deleted"  # one run, not "1 dead runs"
    assert not dead.exists() and not dead_wandb.exists()
    assert (finished / "checkpoints" / "epoch_000002.safetensors").is_file() and (killed / "checkpoints").is_dir()
    assert len(list((workdir / "runs" / "wandb").glob("offline-run-*"))) == 1  # the finished run's
    again = run_cli(["list"], cwd=workdir, module="lander_exp.runs")
    assert again.stdout.strip().splitlines()[-1] == "2 runs, 0 dead"


def test_runs_of_a_missing_folder_fails_in_one_line(workdir):
    proc = run_cli(["list", "nope"], cwd=workdir, module="lander_exp.runs")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "lander_exp.runs: error: nope is not a folder: pass the runs folder (tracker.dir, default runs) or run folders"]


def test_a_listing_read_only_in_part_ends_quietly(workdir):
    """`runs list | head -1`: once `head` has its line and leaves, the listing ends without a
    BrokenPipeError traceback (exit 141, as a command killed by SIGPIPE), whatever is left to print."""
    for k in range(3000):  # 3000 lines: more than a pipe holds, so the listing writes after `head` left
        (workdir / "runs" / "2026-01-01" / f"00-00-00_ppo_s{k}" / ".hydra").mkdir(parents=True)
    command = f"set -o pipefail; {shlex.quote(sys.executable)} -m lander_exp.runs list | head -1"
    proc = subprocess.run(["bash", "-c", command], cwd=workdir, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert proc.stderr == "", proc.stderr[-2000:]
    assert proc.stdout.startswith("starting  -") and proc.stdout.count("\n") == 1
    assert proc.returncode == 141

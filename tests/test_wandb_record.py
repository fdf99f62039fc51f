"""A run's W&B record lost or damaged while the run trains, for real: its offline folder deleted, or
its .wandb file truncated, under a running process. The end of the run says so instead of printing a
`wandb sync` command for it, `runs list`, `resume`, `report` and `analyze` name what is missing and
the command that rebuilds it, and `resume --rebuild-wandb` rebuilds the record from the rows the
checkpoint holds: read back with `wandb leet inspect --json`, its rows are the ones the run logged."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from lander_exp.run.records import wandb_dir_of
from tests.conftest import history, leet_records, leet_summary, run_cli
from tests.processes import RUN, WALL_KEYS, ckpt, load, metric_rows, spawn, wait_for

ARGS = [*RUN, "seed=4", "train.video_every=0", "hydra.run.dir=run"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same run with its record left alone: its W&B folder."""
    workdir = tmp_path_factory.mktemp("reference")
    proc = run_cli(ARGS, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir / "run"


def damaged_during_the_run(workdir, damage: str):
    """Train, and once the checkpoint of epoch 2 is written, delete the W&B folder or truncate its file."""
    proc = spawn(ARGS, cwd=workdir)
    run_dir = workdir / "run"
    assert wait_for(lambda: ckpt(run_dir, 2).is_file(), proc)
    folder = workdir / json.loads((run_dir / "wandb_run.json").read_text())["dir"]
    if damage == "deleted":
        shutil.rmtree(folder)
    else:
        (wandb_file,) = folder.glob("*.wandb")
        os.truncate(wandb_file, 0)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return run_dir, folder, out, err


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_a_wandb_record_lost_during_a_run_is_named_everywhere_and_rebuilt_from_the_checkpoint(workdir, reference, damage):
    run_dir, folder, out, err = damaged_during_the_run(workdir, damage)
    named = folder.relative_to(workdir)
    what = (f"its W&B record {named} was deleted while the run trained" if damage == "deleted" else
            f"its W&B record {named} holds ")
    rebuild = "-m lander_exp.resume run --rebuild-wandb"

    # the end of the run: no `wandb sync` of a record that is gone or partial, but what happened
    (wandb_line,) = [line for line in out.splitlines() if line.startswith("  W&B run: ")]
    assert wandb_line.startswith(f"  W&B run: {what}") and wandb_line.endswith(rebuild), out
    assert "sync" not in out and "Traceback" not in err, err[-3000:]
    # `runs list`
    listed = run_cli(["list", "run"], cwd=workdir, module="lander_exp.runs").stdout.splitlines()
    assert listed[0].startswith("finished  epoch 10     run  its W&B record ") and listed[0].endswith(rebuild), listed
    # `resume`: nothing to train, but the record to rebuild
    resumed = run_cli(["run"], cwd=workdir, module="lander_exp.resume")
    assert resumed.returncode == 1 and resumed.stdout.startswith("run: nothing to resume, it stopped on max_epochs")
    (line,) = resumed.stderr.strip().splitlines()
    assert line.startswith(f"lander_exp.resume: run: its W&B record {named} ") and line.endswith(rebuild), line
    # `report` leaves the run out naming what is missing, and still reports the others
    report = run_cli(["run", str(reference), "--out", "report.html"], cwd=workdir, module="lander_exp.report")
    assert report.returncode == 0, report.stderr[-3000:]
    (note,) = report.stderr.strip().splitlines()
    assert note.startswith("lander_exp.report: note: run left out: ") and rebuild in note, note
    says = ["is missing"] if damage == "deleted" else ["is damaged, W&B cannot read it", "of the run's 10 rows"]
    assert any(s in note for s in says), note
    if damage == "deleted":  # `analyze` logs its pictures next to the run's record: it names it and the fix
        analyzed = run_cli(["run"], cwd=workdir, module="lander_exp.analyze")
        assert analyzed.returncode == 2
        (line,) = analyzed.stderr.strip().splitlines()
        assert line.startswith(f"lander_exp.analyze: error: the W&B record of run ({named}) is missing") and rebuild in line

    rebuilt = run_cli(["run", "--rebuild-wandb"], cwd=workdir, module="lander_exp.resume")
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert rebuilt.stdout.startswith("run: rebuilding its W&B record from the 10 rows of its checkpoint (epoch 10)")
    assert "upload it with: " in rebuilt.stdout
    record = wandb_dir_of(run_dir)
    # the rows the run logged, read back: those its checkpoint kept, wall-clock values included ...
    logged = load(ckpt(run_dir, 10))["tracker"]["rows"]
    rows = [{k: v for k, v in r.items() if k not in (*WALL_KEYS, "_step")} for r in history(leet_records(record))]
    assert rows == logged
    # ... the same as an undamaged run's
    assert metric_rows(record) == metric_rows(wandb_dir_of(reference))
    assert leet_summary(record)["summary"]["stop_reason"] == "max_epochs"
    if damage == "truncated":  # the damaged record is kept aside, not uploaded by a `wandb sync` of runs/wandb
        assert [p.name for p in (run_dir / "wandb_superseded").iterdir()] == [folder.name]
    again = run_cli(["list", "run"], cwd=workdir, module="lander_exp.runs").stdout.splitlines()
    assert again[0] == "finished  epoch 10     run"
    assert run_cli(["run"], cwd=workdir, module="lander_exp.resume").returncode == 0

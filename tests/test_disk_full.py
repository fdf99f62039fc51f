"""A disk that fills up while a run writes to it, for real: a tmpfs of a few MB mounted by the test
(as root; CI runs as root too), filled to the last byte by a file while the run trains. Whether the
full disk holds its checkpoints, its W&B record or its videos, the run stops at its last good
checkpoint with one line naming the file, the space left and that checkpoint, leaves no partial
file, and is `stopped (disk full)` (exit 75). A resume while the disk is still full refuses in one
line; once space is freed it completes the run, which then equals an uninterrupted one bit for bit
(weights and W&B rows)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lander_exp.run.records import wandb_dir_of
from tests.conftest import fill, leet_summary, run_cli
from tests.processes import RUN, assert_same_state, ckpt, load, metric_rows, spawn, wait_for

ARGS = [*RUN, "seed=3", "env.max_episode_steps=1000", "train.video_every=0", "train.keep_checkpoints=5"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same run, never stopped: (run folder, its W&B record)."""
    workdir = tmp_path_factory.mktemp("reference")
    proc = run_cli([*ARGS, "hydra.run.dir=run"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir / "run", wandb_dir_of(workdir / "run")


def stopped_by_a_full_disk(workdir: Path, run_dir: Path, disk: Path, args: list[str]) -> subprocess.CompletedProcess:
    """Train until the checkpoint of epoch 2 is there, then fill `disk`: the run's output once it ended."""
    proc = spawn([*ARGS, *args], cwd=workdir)
    assert wait_for(lambda: ckpt(run_dir, 2).is_file(), proc)
    fill(disk)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_resumable_after_freeing_space(workdir: Path, run_dir: Path, disk: Path, reference, skip=("wall_s", "id")) -> None:
    """A resume on the still-full disk refuses in one line and changes nothing; once the filler is gone
    it completes the run, equal to the uninterrupted one (but for the checkpoint's keys in `skip`)."""
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    still = run_cli([str(run_dir.relative_to(workdir))], cwd=workdir, module="lander_exp.resume")
    assert still.returncode == 75, still.stderr[-2000:]
    lines = still.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lander_exp.resume: error: disk full: "), lines
    assert "free on its disk" not in lines[0] and " free, and the run needs about " in lines[0], lines
    assert f"{ckpt(run_dir, 2).relative_to(workdir)}, is intact: free some space, then run this again" in lines[0]
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before

    (disk / "filler").unlink()
    done = run_cli([str(run_dir.relative_to(workdir))], cwd=workdir, module="lander_exp.resume")
    assert done.returncode == 0, done.stderr[-3000:]
    ref_dir, ref_wandb = reference
    assert_same_state(load(ckpt(ref_dir, 10)), load(ckpt(run_dir, 10)), skip=skip)
    rows = metric_rows(wandb_dir_of(run_dir))
    assert [r["_step"] for r in rows] == list(range(10)) and rows == metric_rows(ref_wandb)


def assert_stopped_by_a_full_disk(workdir: Path, run_dir: Path, proc, says: str) -> str:
    """The stop's one line (exit 75, no traceback), what the run folder and `runs list` say of it."""
    assert proc.returncode == 75, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lander_exp: disk full: {says}"), lines[-20:]
    last_good = ckpt(run_dir, 2).relative_to(workdir)
    assert f"the last good checkpoint, {last_good}, is intact: free some space, then continue with: " in lines[0]
    assert lines[0].endswith(f"-m lander_exp.resume {run_dir.relative_to(workdir)}")
    info = json.loads((run_dir / "wandb_run.json").read_text())
    assert (info["exit_code"], info["stop_reason"]) == (75, "disk_full")
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [ckpt(run_dir, 2).name]  # no .tmp
    listed = run_cli(["list", str(run_dir.relative_to(workdir))], cwd=workdir, module="lander_exp.runs")
    (line,) = listed.stdout.strip().splitlines()[:1]
    assert line.startswith("stopped (disk full) epoch 2")
    assert line.endswith(f"-m lander_exp.resume {run_dir.relative_to(workdir)}")
    return lines[0]


def test_a_disk_full_of_checkpoints_stops_the_run_resumably(workdir, tmpfs, reference):
    disk = tmpfs("disk")
    run_dir = disk / "run"
    proc = stopped_by_a_full_disk(workdir, run_dir, disk, [f"hydra.run.dir={run_dir}"])
    folder = (run_dir / "checkpoints").relative_to(workdir)
    line = assert_stopped_by_a_full_disk(workdir, run_dir, proc, f"a checkpoint in {folder} cannot be written (")
    assert " free on its disk)" in line
    # the W&B record lives on another disk: it is whole, and closed with the stop's reason
    assert leet_summary(wandb_dir_of(run_dir))["summary"]["stop_reason"] == "disk_full"
    assert_resumable_after_freeing_space(workdir, run_dir, disk, reference)


def test_a_disk_full_under_the_wandb_record_stops_the_run_resumably(workdir, tmpfs, reference):
    """W&B's service drops the rows a full disk cannot take without a word: the run checks the space
    left before it logs, and a resume rebuilds the record whole."""
    disk = tmpfs("disk")
    run_dir = workdir / "run"
    proc = stopped_by_a_full_disk(workdir, run_dir, disk, [f"tracker.dir={disk}", "hydra.run.dir=run"])
    assert_stopped_by_a_full_disk(workdir, run_dir, proc, "the W&B record ")
    # it ended saying what its record lacks, with no `wandb sync` of a partial record
    assert "upload it with" not in proc.stdout and "rebuild it from the checkpoint with: " in proc.stdout
    # equal to the reference but for the config's tracker.dir (this one's W&B record is on the small disk)
    assert_resumable_after_freeing_space(workdir, run_dir, disk, reference, skip=("wall_s", "id", "config"))


def test_a_disk_full_under_the_videos_stops_the_run_and_leaves_no_partial_video(workdir, tmpfs):
    disk = tmpfs("disk", "8m")
    run_dir = disk / "run"
    proc = stopped_by_a_full_disk(workdir, run_dir, disk, [f"hydra.run.dir={run_dir}", "train.video_every=1"])
    assert_stopped_by_a_full_disk(workdir, run_dir, proc, f"a video in {(run_dir / 'videos').relative_to(workdir)} "
                                                          "cannot be written (")
    assert sorted(p.name for p in (run_dir / "videos").iterdir()) == ["epoch_000002.mp4"]


def test_a_run_is_not_started_on_a_disk_without_room_for_it(workdir, tmpfs):
    disk = tmpfs("disk")
    fill(disk)
    proc = run_cli([*ARGS, f"hydra.run.dir={disk / 'run'}"], cwd=workdir)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lander_exp: error: hydra.run.dir {(disk / 'run').relative_to(workdir)} "
                                                   "is on a disk with "), lines
    assert lines[0].endswith("free some space, or set tracker.dir and hydra.run.dir to a folder on another disk")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"] and not (workdir / "runs").exists()

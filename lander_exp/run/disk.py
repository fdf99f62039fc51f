"""A full disk, wherever a run writes (its checkpoints, its W&B record, its videos, its JSON and YAML
files): the run stops with one line naming the file, the space left and the last good checkpoint,
leaves no partial file, and stays resumable (`stopped (disk full)`, exit code 75: try again later).

Most writes fail loudly (ENOSPC) and are turned into that stop where they happen (`writing`). W&B's
service writes its record in the background and drops what it cannot write without a word, so the
run checks the space left on the record's disk before it logs a row (`before_log`)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from lander_exp.config import ConfigError
from lander_exp.run.stopping import DiskFull
from lander_exp.shell import free_bytes, full_cause, python_command, shown, size_text

# Below this the W&B record's disk cannot be trusted with the next rows (W&B writes in 32 KiB blocks,
# plus the console log and the summary beside them).
WANDB_MARGIN = 1 << 20
# A write that failed while its disk had less than this left failed for want of space, whatever the
# library made of the error (torch's zip writer and ffmpeg report it in their own words).
NEARLY_FULL = 1 << 20


def last_good(run_dir: Path) -> str:
    """The run's newest checkpoint, as the stop's line names it."""
    from lander_exp.run import checkpoint

    try:
        return f"the last good checkpoint, {shown(checkpoint.latest(run_dir))}, is intact"
    except ConfigError:
        return "there is no checkpoint yet, so the run cannot be resumed: start it again"


def stop_line(what: str, path: Path, run_dir: Path) -> str:
    return (f"disk full: {what} {shown(path)} cannot be written ({size_text(free_bytes(path))} free on its disk); "
            f"{last_good(run_dir)}: free some space, then continue with: "
            f"{python_command('lander_exp.resume', shown(run_dir))}")


@contextmanager
def writing(what: str, path: Path, run_dir: Path):
    """Turn a failure to write `path` (`what` it is, e.g. "checkpoint") for want of space into DiskFull;
    the writer inside removes its own partial file."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as ex:
        if full_cause(ex) is None and free_bytes(path) >= NEARLY_FULL:
            raise
        raise DiskFull(stop_line(what, path, run_dir), DiskFull.EXIT_CODE) from None


def before_log(wandb_dir: Path | None, run_dir: Path) -> None:
    """DiskFull when the W&B record's disk has no room for the next rows: W&B would drop them silently."""
    if wandb_dir is not None and free_bytes(wandb_dir) < WANDB_MARGIN:
        raise DiskFull(f"disk full: the W&B record {shown(wandb_dir)} has {size_text(free_bytes(wandb_dir))} free on "
                       f"its disk, less than the {size_text(WANDB_MARGIN)} it needs to keep the next rows; "
                       f"{last_good(run_dir)}: free some space, then continue with: "
                       f"{python_command('lander_exp.resume', shown(run_dir))}", DiskFull.EXIT_CODE)


def quiet_logging() -> None:
    """Stop Python's logging from printing a traceback for every record a log file on a full disk
    cannot take (W&B's client logs to its run folder as it closes: thousands of lines)."""
    logging.raiseExceptions = False


def room_problem(folders: dict[str, Path], need: int) -> str | None:
    """Why a run cannot start (or resume) writing to `folders` ({what: folder}): the first whose disk
    has less than `need` bytes free, in words; None when all have room."""
    for what, folder in folders.items():
        free = free_bytes(folder)
        if free < need:
            return (f"{what} {shown(folder)} is on a disk with {size_text(free)} free, and the run needs about "
                    f"{size_text(need)} there (its checkpoints, W&B record and files)")
    return None


def need(cfg, checkpoint_bytes: int | None = None) -> int:
    """Bytes a run of `cfg` needs free to start or resume and reach its next checkpoint: two checkpoints
    (the new one is written beside the old; `checkpoint_bytes` is the last one's size, else an estimate
    from the networks: weights and Adam's two moments, plus its logged rows), W&B's margin, and room
    for the files and videos it writes on the way."""
    from lander_exp.config import param_count

    checkpoint = checkpoint_bytes or 12 * param_count(cfg) + (64 << 10)
    videos = (2 << 20) if cfg.train.video_every else 0
    return 2 * checkpoint + WANDB_MARGIN + (1 << 20) + videos

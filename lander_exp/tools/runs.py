"""`python -m lander_exp.runs list|clean [FOLDER ...]`: the run folders under FOLDER (default runs/),
how each ended and what can be done with it; `clean` deletes the dead ones with their W&B runs.

A run is dead when no process trains in it and it has no checkpoint and no closed W&B run: it was
killed before its first evaluation (SIGKILL, a second Ctrl-C, a crash). It can be neither resumed
nor evaluated, and its W&B record often lacks even its header (W&B writes in 32 KiB blocks), which
the report then cannot read. Folders younger than STARTING_S without a lock may belong to a run
that is still starting, and are left alone. A run stopped by a full disk is `stopped (disk full)`,
resumable like one stopped by a signal; a closed run whose W&B record is missing or damaged
(records.record_problem) is listed with the command that rebuilds it."""


from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lander_exp.config import ConfigError
from lander_exp.run import checkpoint
from lander_exp.run.records import RUN_FILE, rebuild_command, record_problem
from lander_exp.run.stopping import DiskFull
from lander_exp.shell import count, duration, python_command, shown

USAGE = """Every run folder under FOLDER (default runs/) with how it ended and what can be done with it;
`clean` deletes the dead ones with their W&B runs.

  finished  trained to its end                    stopped   stopped by Ctrl-C or a signal: resumable
  killed    killed after a checkpoint: resumable  failed    stopped on a NaN or inf
  running   a process trains in it                starting  made less than {starting} ago, no lock yet
  dead      killed before its first checkpoint: it can be neither resumed nor evaluated

A folder made less than {starting} ago without a lock may be a run still starting: clean leaves it."""

STARTING_S = 120  # a folder Hydra made this recently, without a lock yet, may be a run starting up
RESUMABLE = ("stopped", "killed")
EXIT_STOPPED = (130, 143, DiskFull.EXIT_CODE)  # SIGINT, SIGTERM, a full disk: a stop at a checkpoint, resumable


@dataclass
class RunState:
    folder: Path
    status: str  # running, starting, finished, stopped, killed, failed, dead
    epoch: int | None  # of the newest resumable checkpoint
    wandb: list[Path] = field(default_factory=list)  # its W&B run folders
    why: str | None = None  # what stopped it, where it says more than its status (a full disk)
    record: str | None = None  # what its W&B record lacks (records.record_problem)

    @property
    def label(self) -> str:
        return f"{self.status} ({self.why})" if self.why else self.status


def run_folders(paths: list[Path]) -> list[Path]:
    """Hydra job folders (`.hydra/`) and tracked run folders (wandb_run.json) at or below `paths`."""
    found = []
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"{path} is not a folder: pass the runs folder (tracker.dir, default runs) or run folders")
        for marker in (".hydra", RUN_FILE):
            found += [p.parent for p in path.rglob(marker) if "wandb_superseded" not in p.parts]
        if (path / ".hydra").is_dir() or (path / RUN_FILE).is_file():
            found.append(path)
    return sorted(dict.fromkeys(p.absolute() for p in found))


def wandb_folders(folder: Path, info: dict) -> list[Path]:
    """The W&B run folders of a run: named `*-<run id>` in the W&B folder the run wrote to."""
    if "id" not in info:
        return []
    roots = [Path(info["wandb_folder"])] if info.get("wandb_folder") else []
    if info.get("dir"):  # as W&B named it, relative to the folder training ran in
        named = Path(info["dir"])
        roots += [named.parent] if named.is_absolute() else [p / named.parent for p in (Path.cwd(), *folder.parents)]
    hits = {hit.absolute() for root in roots if root.is_dir() for hit in root.glob(f"*-{info['id']}")}
    return sorted(hits)


def state(folder: Path, now: float | None = None) -> RunState:
    try:
        info = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        info = {}
    found = checkpoint.checkpoints(folder) or checkpoint.legacy(folder)  # an older version's: not dead, resume says why
    epoch = int(found[-1].stem.split("_")[1]) if found else None
    wandb = wandb_folders(folder, info)
    if checkpoint.busy(folder):
        return RunState(folder, "running", epoch, wandb)
    closed, code = info.get("finished", False), info.get("exit_code")
    why = "disk full" if closed and code == DiskFull.EXIT_CODE else None
    record = record_problem(folder, read=False) if closed else None
    if found:
        status = ("finished" if code == 0 else "stopped" if code in EXIT_STOPPED else "failed") if closed else "killed"
    elif closed:  # failed at once (non-finite in the first epochs): its W&B run is whole, its debug checkpoint kept
        status = "failed"
    elif not (folder / checkpoint.LOCK).exists() and (now or time.time()) - folder.stat().st_mtime < STARTING_S:
        status = "starting"
    else:
        status = "dead"
    return RunState(folder, status, epoch, wandb, why, record)


def _remove(run: RunState, roots: list[Path]) -> None:
    for folder in run.wandb:
        shutil.rmtree(folder, ignore_errors=True)
        latest = folder.parent / "latest-run"  # W&B's link to the newest run, now pointing nowhere
        if latest.is_symlink() and not latest.exists():
            latest.unlink()
    shutil.rmtree(run.folder, ignore_errors=True)
    for parent in run.folder.parents:  # the date and multirun folders it leaves empty, up to the roots
        if parent in roots:
            break
        try:
            parent.rmdir()
        except OSError:
            break


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=python_command("lander_exp.runs"),
                                description=USAGE.format(starting=duration(STARTING_S)),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("list", "clean"), metavar="list|clean",
                   help="list: every run and its state; clean: delete the dead ones")
    p.add_argument("paths", nargs="*", type=Path, default=[Path("runs")], metavar="FOLDER",
                   help="folders holding run folders, or run folders (default: runs)")
    args = p.parse_args(argv)
    try:
        runs = [state(f) for f in run_folders(args.paths)]
    except ConfigError as ex:
        print(f"lander_exp.runs: error: {ex}", file=sys.stderr)
        return 2
    dead = [r for r in runs if r.status == "dead"]
    if args.action == "list":
        for r in runs:
            line = f"{r.label:<9} {'-' if r.epoch is None else f'epoch {r.epoch}':<12} {shown(r.folder)}"
            if r.status in RESUMABLE:
                line += f"  resume: {python_command('lander_exp.resume', shown(r.folder))}"
            elif r.status == "dead":
                line += "  no checkpoint, cannot be resumed or evaluated"
            if r.record and r.status not in RESUMABLE:  # a resume rebuilds it anyway
                line += f"  {r.record}: rebuild it with: {rebuild_command(r.folder)}"
            print(line)
        print(f"{count(len(runs), 'run')}, {len(dead)} dead" + (
            f": delete them and their W&B runs with {python_command('lander_exp.runs', 'clean', *args.paths)}" if dead else ""))
        return 0
    roots = [path.absolute() for path in args.paths]
    for r in dead:
        if checkpoint.busy(r.folder):  # a process took it since the listing
            continue
        _remove(r, roots)
        print(f"deleted {shown(r.folder)}" + "".join(f", {shown(w)}" for w in r.wandb))
    print(f"{count(len(dead), 'dead run')} deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The runs under some folders that a comparison can read, and for every other one why not, from what
its folder holds (wandb_run.json's mode and W&B folder, its checkpoints, whether a process holds it):
a run killed seconds after it started is described as killed, not as a run with tracking off. Runs
that logged epochs but no evaluation are read (their curves count) and described by `no_evaluation`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lander_exp.config import ConfigError
from lander_exp.run.records import RUN_FILE, RunRecord, load_local, rebuild_command, run_dirs_under
from lander_exp.shell import python_command, shown
from lander_exp.tools import runs as run_states


@dataclass(frozen=True)
class LeftOut:
    """A run folder the page cannot show, and why."""
    folder: str  # as shown to the user
    reason: str


def _info(run_dir: Path) -> dict | None:
    try:
        info = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _ended(state: run_states.RunState) -> str:
    """How the process that trained in a folder ended, in words."""
    return {
        "dead": "killed before its first checkpoint (SIGKILL, a second Ctrl-C or a crash)",
        "killed": f"killed after its checkpoint of epoch {state.epoch}",
        "running": "still running",
        "starting": "still starting",
        "finished": "finished",
        "stopped": "stopped by a signal",
        "failed": "failed (a non-finite number)",
    }[state.status]


def unreadable(run_dir: Path, error: str) -> str:
    """Why a tracked run's W&B record cannot be read (`error`: the reader's message), from its folder."""
    info = _info(run_dir) or {}
    state = run_states.state(run_dir)
    if not info.get("dir"):
        record = "while W&B was starting: it has no W&B record"
    elif state.record:  # a closed run whose record went missing: its checkpoint holds every row
        record = f"{state.record}; rebuild it from the run's checkpoint with: {rebuild_command(run_dir)}"
    elif not state.wandb:
        record = f"its W&B record {info['dir']} is not there (moved or deleted)"
    elif "no W&B run header" in error:
        record = "before W&B wrote its record's header (W&B writes in 32 KiB blocks)"
    elif "no logged epoch" in error:
        record = "before it logged its first epoch"
    else:
        record = error
    why = f"{_ended(state)}, {record}"
    if state.status == "dead":
        why += f"; nothing to resume ({python_command('lander_exp.runs', 'clean')} deletes dead runs)"
    elif state.status == "killed":
        why += f"; resume it with {python_command('lander_exp.resume', shown(run_dir))}"
    return why


def collect(paths: list[Path]) -> tuple[list[RunRecord], list[LeftOut]]:
    """Every run under `paths` whose W&B record holds at least one logged epoch, and the others with
    the reason each is left out."""
    left: list[LeftOut] = []
    tracked: list[Path] = []
    found = run_dirs_under(paths)
    for run_dir in found:
        info = _info(run_dir)
        if info is None:
            left.append(LeftOut(shown(run_dir), f"its {RUN_FILE} cannot be read: the run folder is damaged"))
        elif info.get("mode") == "disabled":
            left.append(LeftOut(shown(run_dir), "trained with tracking off (tracker=off): it wrote no W&B record to read"))
        else:
            tracked.append(run_dir)
    failed: list[tuple[Path, str]] = []
    runs = load_local(tracked, skipped=failed)
    failed += [(Path(r.source), "its W&B record holds no logged epoch") for r in runs if not r.history]
    left += [LeftOut(shown(d), unreadable(d, error)) for d, error in failed]
    order = {shown(d): i for i, d in enumerate(found)}
    left.sort(key=lambda x: order.get(x.folder, 0))
    for run in runs:
        run.source = shown(Path(run.source))  # as the user named it: relative to the current folder
    return [r for r in runs if r.history], left


def no_evaluation(run: RunRecord) -> str:
    """Why a run that logged epochs has no evaluation: how it ended, and when it would have evaluated."""
    epochs = max((row["epoch"] for row in run.history if isinstance(row.get("epoch"), int | float)), default=0)
    every = run.config.get("train", {}).get("eval_every")
    when = f" (it evaluates every {every} epochs)" if isinstance(every, int) else ""
    stop = run.summary.get("stop_reason")
    if stop in ("SIGINT", "SIGTERM"):
        ended = f"stopped by {stop} after epoch {epochs:g}"
    elif stop:
        ended = f"ended ({stop}) after epoch {epochs:g}"
    else:
        folder = Path(run.source)
        status = run_states.state(folder).status if (folder / RUN_FILE).is_file() else None
        ended = (f"still running, at epoch {epochs:g}" if status in ("running", "starting") else
                 f"killed after epoch {epochs:g}" if status else
                 f"no stop reason recorded after epoch {epochs:g} (killed, or still running)")
    return f"{ended}, before its first evaluation{when}"


def no_runs(sources: list[str], left: list[LeftOut]) -> ConfigError:
    """The error when nothing can be shown: the first reason, in one line."""
    if not left:
        return ConfigError(f"no readable runs found in {', '.join(sources)}")
    first = left[0]
    more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
    return ConfigError(f"no readable runs in {', '.join(sources)}: {first.folder} {first.reason}{more}; "
                       f"list every run and its state with {python_command('lander_exp.runs', 'list', *sources)}")

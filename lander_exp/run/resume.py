"""`python -m lander_exp.resume RUN_DIR [--checkpoint FILE]`: continue a run that was killed or stopped,
from its newest checkpoint that passes every check (or FILE), with the config it was started with,
into the same run folder and the same W&B run. `--rebuild-wandb` rebuilds the W&B record of a run
whose record was lost or damaged from the rows its checkpoint holds (a resume of an unfinished run
always rebuilds it).

A command of its own rather than a Hydra override: a resume takes no new settings (a changed value
would make the result neither the old run nor a new one), must not make a new run folder, and has to
fail with one line, leaving everything as it was, when the folder cannot be resumed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lander_exp.config import ConfigError, omegaconf_line, saved_config, validate
from lander_exp.run import checkpoint, disk
from lander_exp.run.records import RUN_FILE, flatten, rebuild_command, record_problem
from lander_exp.run.stopping import DiskFull, RunStopped
from lander_exp.run.summary import print_summary
from lander_exp.shell import python_command


class ConfigChanged(checkpoint.Mismatch):
    """A checkpoint of this run written with another value of `key` than config.yaml now has."""

    def __init__(self, key: str, saved, now, run_dir: Path):
        super().__init__(f"was written with {key}={saved!r} but {run_dir}/config.yaml has {now!r}")
        self.key, self.saved, self.now = key, saved, now


def _no_run(run_dir: Path) -> ConfigError:
    return ConfigError(f"{run_dir} is not a run folder (no config.yaml): pass a folder made by "
                       f"{python_command('lander_exp')}")


@dataclass
class Resumable:
    """A run folder that can be resumed: its config and the checkpoint to continue from."""

    run_dir: Path
    cfg: DictConfig
    path: Path  # the checkpoint
    state: dict  # what it holds
    skipped: list[Path]  # newer checkpoints that failed their checks (see checkpoint.newest_good)


def load_resumable(run_dir: Path, explicit: Path | None = None, say: Callable[[str], None] | None = None) -> Resumable:
    """A run folder's config and the checkpoint to continue from: the newest one that passes every
    check (its checksum, the shapes config.yaml implies, the run's W&B id and config), or `explicit`,
    refused when it fails one. ConfigError (one line) when the folder cannot be resumed; `say`
    names each newer checkpoint skipped and the one used."""
    if not (run_dir / "config.yaml").is_file():
        raise _no_run(run_dir)
    try:
        cfg = saved_config(OmegaConf.load(run_dir / "config.yaml"))
        validate(cfg)
    except (ConfigError, OmegaConfBaseException) as ex:
        why = omegaconf_line(ex) if isinstance(ex, OmegaConfBaseException) else str(ex)
        raise ConfigError(f"{run_dir}/config.yaml is incompatible with this version of lander_exp ({why}): "
                          "resume it with the version that started it") from None
    if not (run_dir / RUN_FILE).is_file():
        raise ConfigError(f"{run_dir} has no {RUN_FILE}: it does not say which W&B run to continue")
    try:
        run_id = json.loads((run_dir / RUN_FILE).read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        run_id = None
    from lander_exp.run import train

    algo = train.algo_layout(cfg)
    now = flatten(OmegaConf.to_container(cfg, enum_to_str=True))

    def layout(found: dict):
        tracker = found.get("tracker")
        found_id = tracker.get("id") if isinstance(tracker, dict) else None
        if isinstance(run_id, str) and isinstance(found_id, str) and found_id != run_id:
            raise checkpoint.Mismatch(f"belongs to another run (W&B run {found_id}; {run_dir} is W&B run {run_id})")
        try:
            saved = flatten(OmegaConf.to_container(saved_config(found.get("config")), enum_to_str=True))
        except (ConfigError, OmegaConfBaseException, ValueError, TypeError, AttributeError):
            raise checkpoint.Mismatch("holds a config this version of lander_exp does not read") from None
        for key in sorted(set(saved) | set(now)):
            if saved.get(key, "<absent>") != now.get(key, "<absent>"):
                raise ConfigChanged(key, saved.get(key, "<absent>"), now.get(key, "<absent>"), run_dir)
        return train.state_layout(cfg, algo, found)

    against = f"{run_dir}/config.yaml"
    if explicit is not None:
        return Resumable(run_dir, cfg, explicit, checkpoint.load(_own_checkpoint(run_dir, explicit), layout, against), [])
    try:
        path, state, skipped = checkpoint.newest_good(run_dir, layout, against, say)
    except checkpoint.CheckpointError as ex:
        reasons = [e.reason for _, e in ex.problems]
        if reasons and all(isinstance(r, ConfigChanged) for r in reasons):  # this run's checkpoints: config.yaml changed
            r = reasons[0]
            raise ConfigError(f"{run_dir}/config.yaml was changed after the run started: its checkpoints were written "
                              f"with {r.key}={r.saved!r}, config.yaml has {r.now!r}; put back {r.key}: {r.saved} to resume it "
                              f"(a different config is a new run: {python_command('lander_exp')} ...)") from None
        raise
    return Resumable(run_dir, cfg, path, state, skipped)


def _own_checkpoint(run_dir: Path, path: Path) -> Path:
    """`resume --checkpoint PATH`: one of the run's own resumable checkpoints."""
    if path.resolve().parent != (run_dir / "checkpoints").resolve():
        raise ConfigError(f"--checkpoint {path}: a resume continues a run from one of its own checkpoints, "
                          f"a file in {run_dir}/checkpoints/")
    if checkpoint.epoch_of(path) is None and path.suffix != ".pt":
        raise ConfigError(f"--checkpoint {path} is not a resumable checkpoint: those are named epoch_NNNNNN"
                          f"{checkpoint.SUFFIX} (a debug_ one holds the state after a failure)")
    return path


def set_aside(r: Resumable, say: Callable[[str], None]) -> None:
    """Before training on from `r.path`: the run's later checkpoints out of the way (checkpoint.set_aside)."""
    moved = checkpoint.set_aside(r.run_dir, r.path, r.skipped)
    if moved:
        say(f"moved the checkpoints after epoch {r.state['epoch']} aside, unused: {', '.join(p.name for p in moved)}")


def check_room(cfg, run_dir: Path) -> None:
    """DiskFull before anything is written when the run's disks have no room to reach the next
    checkpoint (two checkpoints the size of the newest, W&B's margin, files), and ConfigError when it
    cannot fit in memory here."""
    from lander_exp.run.preflight import check_memory
    from lander_exp.run.records import wandb_dir_of

    check_memory(cfg)
    folders = {"the run folder": run_dir}
    try:
        folders["the W&B record"] = wandb_dir_of(run_dir)
    except ConfigError:
        pass
    why = disk.room_problem(folders, disk.need(cfg, checkpoint.latest(run_dir).stat().st_size))
    if why is not None:
        raise DiskFull(f"disk full: {why}; {disk.last_good(run_dir)}: free some space, then run this again",
                       DiskFull.EXIT_CODE)


def finished(cfg, state: dict) -> str | None:
    """Why the checkpointed run has nothing left to train, or None."""
    from lander_exp.run.train import stop_reason

    return stop_reason(cfg.train, state["epoch"], state["episodes"], state["eval_history"])


def run_folders(paths: list[Path]) -> list[Path]:
    """The run folders named: a folder of a batch (`seeds=[...]`) stands for its seeds' run folders."""
    out = []
    for path in paths:
        inside = [] if (path / "config.yaml").exists() else sorted(
            p.parent for p in path.glob("*/config.yaml") if not p.parent.name.startswith("."))  # not .hydra/
        out.extend(inside or [path])
    return out


def resume_batch(run_dirs: list[Path]) -> int:
    """Continue several runs of one configuration (a batch's seeds) together in one process."""
    from lander_exp.run import batch

    members = []
    for run_dir in run_dirs:
        if checkpoint.busy(run_dir):
            raise _in_use(run_dir)
    for run_dir in run_dirs:
        r = load_resumable(run_dir, say=_say)
        done = finished(r.cfg, r.state)
        if done and json.loads((run_dir / RUN_FILE).read_text()).get("finished"):
            print(f"{run_dir}: nothing to resume, it stopped on {done} (epoch {r.state['epoch']})")
            continue
        check_room(r.cfg, run_dir)
        print(f"resuming {run_dir} after epoch {r.state['epoch']} ({r.state['global_step']:,} env steps)", flush=True)
        set_aside(r, _say)
        members.append(batch.Member(r.cfg, run_dir, resume=r.state))
    if not members:
        return 0
    try:
        started = time.perf_counter()
        outcomes = batch.run(members)
    except ValueError as ex:
        raise ConfigError(f"{ex}: resume these runs one by one (python -m lander_exp.resume RUN_DIR)") from None
    stopped = batch.report(members, outcomes, started)
    if stopped is not None:
        raise stopped
    return 0


def _say(line: str) -> None:
    print(f"lander_exp.resume: {line}", file=sys.stderr, flush=True)


def _in_use(run_dir: Path) -> ConfigError:
    return ConfigError(f"{run_dir} is in use by another lander_exp process: wait for it to end, or stop it "
                       "(Ctrl-C or kill) and resume")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=python_command("lander_exp.resume"), description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, nargs="+",
                   help="a run folder, e.g. runs/2026-11-22/17-03-12_ppo_s0; several, or the folder of a batch "
                        "(seeds=[...]), continue together in one process")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="continue from this checkpoint of the run (a file in RUN_DIR/checkpoints/) instead of the newest "
                        "good one; the later ones are moved aside")
    p.add_argument("--rebuild-wandb", action="store_true",
                   help="rebuild the run's W&B record from the rows its newest checkpoint holds (a lost or damaged "
                        "record; the damaged one is kept in RUN_DIR/wandb_superseded/), then close it as the run ended")
    args = p.parse_args(argv)
    dirs = run_folders(args.run_dir)
    if len(dirs) > 1 and args.checkpoint is not None:
        print(f"lander_exp.resume: error: --checkpoint names a checkpoint of one run, and {len(dirs)} runs are named: "
              "resume that run alone", file=sys.stderr)
        return 2
    if len(dirs) > 1:
        try:
            return resume_batch(dirs)
        except ConfigError as ex:
            print(f"lander_exp.resume: error: {ex}", file=sys.stderr)
            return 2
        except RunStopped as ex:
            print(f"lander_exp.resume: {ex}", file=sys.stderr)
            return ex.exit_code
    args.run_dir = dirs[0]
    try:
        if checkpoint.busy(args.run_dir):  # before anything is printed or read
            raise _in_use(args.run_dir)
        r = load_resumable(args.run_dir, args.checkpoint, say=_say)
        cfg, state = r.cfg, r.state
        done = finished(cfg, state)
        closed = json.loads((args.run_dir / RUN_FILE).read_text()).get("finished")
        if done and closed and not args.rebuild_wandb:
            problem = record_problem(args.run_dir)
            print(f"{args.run_dir}: nothing to resume, it stopped on {done} (epoch {state['epoch']})")
            if problem is None:
                return 0
            print(f"lander_exp.resume: {args.run_dir}: {problem}: rebuild it from the checkpoint with: "
                  f"{rebuild_command(args.run_dir)}", file=sys.stderr)
            return 1
        check_room(cfg, args.run_dir)
        if done and closed:
            print(f"{args.run_dir}: rebuilding its W&B record from the {len(state['tracker']['rows'])} rows of its "
                  f"checkpoint (epoch {state['epoch']})", flush=True)
        elif done:  # killed after its last checkpoint, before its W&B run was closed: rebuild and close it
            print(f"{args.run_dir}: training is complete ({done}); closing its W&B run", flush=True)
        else:
            print(f"resuming {args.run_dir} after epoch {state['epoch']} ({state['global_step']:,} env steps)", flush=True)
        from lander_exp.run import train

        with checkpoint.owned(args.run_dir):
            set_aside(r, _say)
            summary = train.run(cfg, args.run_dir, resume=state)
    except ConfigError as ex:
        print(f"lander_exp.resume: error: {ex}", file=sys.stderr)
        return 2
    except DiskFull as ex:
        if ex.summary:  # it stopped while training: how far it got, then why
            print_summary({"stop_reason": ex.reason, **ex.summary}, args.run_dir)
        print(f"lander_exp.resume: {'' if ex.summary else 'error: '}{ex}", file=sys.stderr)
        return ex.exit_code
    except KeyboardInterrupt:  # Ctrl-C before the loop handles signals: the checkpoint is as it was
        print(f"\nlander_exp.resume: interrupted before training went on; resume later with: "
              f"{python_command('lander_exp.resume', args.run_dir)}", file=sys.stderr)
        return 130
    except RunStopped as ex:
        print_summary({"stop_reason": ex.reason, **ex.summary}, args.run_dir)
        print(f"lander_exp.resume: {ex}", file=sys.stderr)
        return ex.exit_code
    print_summary(summary, args.run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

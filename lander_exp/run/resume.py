"""`python -m lander_exp.resume RUN_DIR`: continue a run that was killed or stopped, from its newest
checkpoint, with the config it was started with, into the same run folder and the same W&B run.
`--rebuild-wandb` rebuilds the W&B record of a run whose record was lost or damaged from the rows its
checkpoint holds (a resume of an unfinished run always rebuilds it).

A command of its own rather than a Hydra override: a resume takes no new settings (a changed value
would make the result neither the old run nor a new one), must not make a new run folder, and has to
fail with one line, leaving everything as it was, when the folder cannot be resumed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lander_exp.config import ConfigError, omegaconf_line, saved_config, validate
from lander_exp.run import checkpoint, disk
from lander_exp.run.records import RUN_FILE, flatten, rebuild_command, record_problem
from lander_exp.run.stopping import DiskFull, RunStopped
from lander_exp.run.summary import print_summary
from lander_exp.shell import python_command


def load_resumable(run_dir: Path):
    """(config, checkpoint) of a run folder that can be resumed; ConfigError (one line) otherwise."""
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml): pass a folder made by "
                          f"{python_command('lander_exp')}")
    try:
        cfg = saved_config(OmegaConf.load(run_dir / "config.yaml"))
        validate(cfg)
    except (ConfigError, OmegaConfBaseException) as ex:
        why = omegaconf_line(ex) if isinstance(ex, OmegaConfBaseException) else str(ex)
        raise ConfigError(f"{run_dir}/config.yaml is incompatible with this version of lander_exp ({why}): "
                          "resume it with the version that started it") from None
    path = checkpoint.latest(run_dir)
    state = checkpoint.load(path)
    lacking = [k for k in ("tracker", "episode_log") if k not in state]
    if lacking:
        raise ConfigError(f"checkpoint {path} cannot be resumed: it lacks {', '.join(lacking)} (written by a version "
                          "of lander_exp without resume); evaluate it, or start a new run")
    saved = flatten(OmegaConf.to_container(saved_config(state["config"]), enum_to_str=True))
    now = flatten(OmegaConf.to_container(cfg, enum_to_str=True))
    for key in sorted(set(saved) | set(now)):
        if saved.get(key, "<absent>") != now.get(key, "<absent>"):
            raise ConfigError(f"incompatible config: the checkpoint was written with {key}={saved.get(key, '<absent>')!r} "
                              f"but {run_dir}/config.yaml has {now.get(key, '<absent>')!r}; restore config.yaml "
                              f"(a different config is a new run: {python_command('lander_exp')} ...)")
    if not (run_dir / RUN_FILE).is_file():
        raise ConfigError(f"{run_dir} has no {RUN_FILE}: it does not say which W&B run to continue")
    return cfg, state


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
        cfg, state = load_resumable(run_dir)
        done = finished(cfg, state)
        if done and json.loads((run_dir / RUN_FILE).read_text()).get("finished"):
            print(f"{run_dir}: nothing to resume, it stopped on {done} (epoch {state['epoch']})")
            continue
        check_room(cfg, run_dir)
        print(f"resuming {run_dir} after epoch {state['epoch']} ({state['global_step']} env steps)", flush=True)
        members.append(batch.Member(cfg, run_dir, resume=state))
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=python_command("lander_exp.resume"), description=__doc__)
    p.add_argument("run_dir", type=Path, nargs="+",
                   help="a run folder, e.g. runs/2026-11-22/17-03-12_ppo_s0; several, or the folder of a batch "
                        "(seeds=[...]), continue together in one process")
    p.add_argument("--rebuild-wandb", action="store_true",
                   help="rebuild the run's W&B record from the rows its newest checkpoint holds (a lost or damaged "
                        "record; the damaged one is kept in RUN_DIR/wandb_superseded/), then close it as the run ended")
    args = p.parse_args(argv)
    dirs = run_folders(args.run_dir)
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
            raise ConfigError(f"{args.run_dir} is in use by another lander_exp process: wait for it to end, or stop "
                              "it (Ctrl-C or kill) and resume")
        cfg, state = load_resumable(args.run_dir)
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
            print(f"resuming {args.run_dir} after epoch {state['epoch']} ({state['global_step']} env steps)", flush=True)
        from lander_exp.run import train

        with checkpoint.owned(args.run_dir):
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

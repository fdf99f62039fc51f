"""`python -m lander_exp.sweep sweeps/X.yaml`: run a W&B sweep file with a W&B server or without one.

Online, W&B's server picks the points and `wandb agent` runs them. Offline (the default unless
WANDB_MODE=online), bayes and early_terminate (and grid or random with --optuna) run as an Optuna
study (lander_exp.tools.study); for grid and random, the runner (lander_exp.tools.sweep_runner) does
the agent's job: every point is composed and validated before anything starts, then run as a real
`python -m lander_exp` subprocess (a W&B offline run grouped and tagged by the sweep) in `--workers`
parallel processes, all under `<dir>/<sweep name>/`. A point whose run finished is recognised by its done-marker and not run
again, so rerunning the same command continues a sweep that was cut short."""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
from pathlib import Path

from lander_exp.shell import command, python_command, unwritable
from lander_exp.tools.sweep_runner import Runner, is_done, plan, preflight, preflight_bounds, rows, table, write_csv
from lander_exp.tools.sweep_spec import ARGS_MACRO, Spec, SweepError, load


# ---- online: the W&B server and its agent ------------------------------------------------------------
def run_online(spec: Spec, args) -> int:
    """Create the sweep on W&B (or join `--sweep-id`) and run an agent here; more agents elsewhere
    join with `wandb agent ENTITY/PROJECT/SWEEP_ID`."""
    import wandb

    if spec.method == "grid":
        preflight(spec, plan(spec, Path(args.dir) / spec.name, None, args.seed))
    else:  # the server draws the points
        preflight_bounds(spec)
    os.environ["WANDB_MODE"] = "online"
    # the agent starts `python` from PATH: make that this interpreter
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    project = args.project or spec.raw.get("project") or "lander_exp"
    entity = args.entity or spec.raw.get("entity")
    try:
        sweep_id = args.sweep_id or wandb.sweep(spec.raw, entity=entity, project=project)
        print(f"sweep {spec.name}: W&B sweep {sweep_id}; more agents: "
              f"{command('wandb', 'agent', f'{entity}/{project}/{sweep_id}' if entity else f'{project}/{sweep_id}')}",
              flush=True)
        wandb.agent(sweep_id, entity=entity, project=project, count=args.count)
    except (wandb.errors.UsageError, wandb.errors.CommError) as ex:
        first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        raise SweepError(f"W&B online: {first} (or leave --mode/WANDB_MODE unset to run the sweep offline here)") from None
    return 0


# ---- offline through Optuna: bayes, early_terminate, or --optuna -------------------------------------------
def run_study(spec: Spec, sweep_dir: Path, args) -> int:
    """The sweep as an Optuna study in `sweep_dir` (lander_exp.tools.study); SweepError before anything is made."""
    from lander_exp.tools import study

    study.check(spec)
    count = study.budget(spec, args.count)
    preflight_bounds(spec)
    if args.dry_run:
        print(f"sweep {spec.name}: Optuna study ({spec.method}), {count} trials, in {sweep_dir / study.JOURNAL}")
        for key, dist in study.search_space(spec).items():
            print(f"  {key}: {dist}")
        if (sweep_dir / study.JOURNAL).is_file():
            for r in study.results(spec, study.open_study(spec, sweep_dir)):
                print(f"{r['status']}  {r['run']}  {r['varied']}")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    runner = study.StudyRunner(spec, sweep_dir, args.workers, count, args.seed, args.again)
    try:
        failed = runner.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished trials are kept, the interrupted ones count as failed; continue the "
              f"study with: {args.again}", file=sys.stderr)
        return 130
    results = study.results(spec, runner.study)
    print(f"\nsweep {spec.name} ({sweep_dir}): {spec.metric}, {spec.goal}\n{table(spec, results)}\n"
          f"{study.best_line(spec, runner.study)}")
    if args.csv:
        write_csv(args.csv, results, spec.metric)
        print(f"wrote {args.csv}")
    return 1 if failed else 0


# ---- command line ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(prog=python_command("lander_exp.sweep"), description=__doc__.split("\n\n")[0])
    p.add_argument("file", help="a W&B sweep file, e.g. sweeps/env_count.yaml")
    p.add_argument("--mode", choices=("offline", "online"),
                   default="online" if os.environ.get("WANDB_MODE") == "online" else "offline",
                   help="online: W&B's server and agent; offline (default unless WANDB_MODE=online): run here")
    p.add_argument("--workers", type=int, default=1, help="offline: runs at a time, each its own process (default 1)")
    p.add_argument("--count", type=int, help="runs to make: random needs it; grid: at most this many; online: the agent's count")
    p.add_argument("--seed", type=int, default=0, help="offline random: seed of the point draws (default 0)")
    p.add_argument("--dir", default="runs/sweeps", help="offline: sweeps go to DIR/<sweep name>/ (default runs/sweeps)")
    p.add_argument("--csv", type=Path, help="offline: also write run,varied_settings,seed,eval_return and outcome rates here")
    p.add_argument("--dry-run", action="store_true", help="offline: check every point and list them (a study: its "
                   "search space and trials so far); run nothing")
    p.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE", help="offline: Hydra overrides added "
                   "to every run after the file's, e.g. to shrink a sweep: --override experiment=fast train.max_epochs=5")
    p.add_argument("--method", choices=("grid", "random", "bayes"), help="search the file's parameters with this "
                   "method instead of the file's")
    p.add_argument("--optuna", action="store_true", help="offline grid or random as an Optuna study (bayes and "
                   "early_terminate always are): workers in other processes or SLURM jobs can join it")
    p.add_argument("--batch-seeds", action="store_true",
                   help="offline: train the points that differ only in their seed in one process (seeds=[...]), "
                        "each still its own run, in DIR/<sweep name>/<point without seed>/s<seed>")
    p.add_argument("--project", help="online: W&B project (default: the file's project, else lander_exp)")
    p.add_argument("--entity", help="online: W&B entity (default: the file's entity, else yours)")
    p.add_argument("--sweep-id", help="online: join this existing sweep instead of creating one")
    args = p.parse_args(argv)
    if args.workers < 1 or (args.count is not None and args.count < 1):
        p.error("--workers and --count must be at least 1")
    args.again = python_command("lander_exp.sweep", *(sys.argv[1:] if argv is None else argv))  # continues it
    return args


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = load(args.file, method=args.method)
        at = spec.command.index(ARGS_MACRO)  # before the swept values, as in each job's overrides
        spec.command = [*spec.command[:at], *args.override, *spec.command[at:]]
        spec.fixed_args = [*spec.fixed_args, *args.override]
        if args.mode == "online":
            return run_online(spec, args)
        for flag, folder in (("--dir", Path(args.dir)), ("--csv", args.csv and args.csv.parent)):
            why = folder is not None and unwritable(folder)
            if why:
                raise SweepError(f"{flag} {getattr(args, flag[2:])} cannot be used: {why}; pass a path in a folder "
                                 "you can write to")
        if args.csv is not None and args.csv.is_dir():
            raise SweepError(f"--csv {args.csv} is a folder: pass a file name, e.g. --csv {args.csv / 'sweep.csv'}")
        sweep_dir = Path(args.dir) / spec.name
        if args.optuna or spec.method == "bayes" or "early_terminate" in spec.raw:
            return run_study(spec, sweep_dir, args)
        jobs = plan(spec, sweep_dir, args.count, args.seed, args.batch_seeds)
        preflight(spec, jobs)
    except SweepError as ex:
        print(f"lander_exp.sweep: error: {ex}", file=sys.stderr)
        return 2
    if args.dry_run:
        for job in jobs:
            print(f"{'done' if is_done(job) else 'todo'}  {job.key}  {' '.join(job.point.args())}")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` or a scheduler's stop: end the runs as Ctrl-C does
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / "sweep.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"lander_exp.sweep: error: {sweep_dir} is being run by another `lander_exp.sweep`: wait for it "
                  "to finish, or give this one another --dir", file=sys.stderr)
            return 2
        try:
            failed = Runner(spec, args.workers, after_stop="the sweep runs this point again from its start when "
                            f"run again: {args.again}").run(jobs)
        except KeyboardInterrupt:
            print(f"\ninterrupted: the finished runs are kept, the interrupted ones start again; continue the sweep "
                  f"with: {args.again}", file=sys.stderr)
            return 130
    results = rows(spec, jobs)
    print(f"\nsweep {spec.name} ({sweep_dir}): {spec.metric}, {spec.goal}\n{table(spec, results)}")
    if args.csv:
        write_csv(args.csv, results, spec.metric)
        print(f"wrote {args.csv}")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    sys.exit(main())

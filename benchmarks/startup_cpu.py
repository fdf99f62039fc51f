"""CPU time (user + sys) of a whole `python -m lander_exp` process whose training is one tiny epoch:
what start-up and shut-down cost. Runs of this checkout and of --repo (another checkout, e.g. a
worktree of an older commit) interleaved, so that both see the same machine; CPU time rather than
wall time, which a loaded machine stretches.

    python benchmarks/startup_cpu.py --repo ../lander_exp_old --runs 4 --csv docs/results/startup_cpu.csv
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import append_rows, commit_of, count  # benchmarks/common.py

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["date", "commit", "runs", "cpu_s_median", "cpu_s_min", "cpu_s_max", "load_avg"]
TINY = ["experiment=fast", "train.max_epochs=1", "algo.steps_per_epoch=1024", "train.eval_episodes=1", "train.eval_envs=1",
        "train.eval_screen=0", "env.max_episode_steps=50", "train.torch_threads=1", "train.progress=false"]


def cpu_seconds(repo: Path, work: Path) -> float:
    """User + sys CPU seconds of one tiny run of `repo`'s code, its child processes included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(repo), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    subprocess.run([sys.executable, "-m", "lander_exp", *TINY, f"tracker.dir={work}/runs",
                    f"hydra.run.dir={work}/run-{len(list(work.glob('run-*')))}"],
                   cwd=repo, env=env, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, required=True, help="the other checkout, measured beside this one")
    p.add_argument("--runs", type=count, default=4, help="runs of each checkout, interleaved")
    p.add_argument("--csv", type=Path, help="append rows of " + ",".join(COLUMNS))
    args = p.parse_args()
    repos = [args.repo.resolve(), ROOT]
    times: dict[Path, list[float]] = {r: [] for r in repos}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for repo in repos:
                times[repo].append(cpu_seconds(repo, Path(tmp)))
    rows = [[datetime.date.today().isoformat(), commit_of(r), len(t), f"{statistics.median(t):.2f}", f"{min(t):.2f}",
             f"{max(t):.2f}", f"{load:.1f}"] for r, t in times.items()]
    for row in rows:
        print(f"commit {row[1]}: {row[2]} runs, CPU {row[3]} s median ({row[4]}-{row[5]}), load average {row[6]}")
    if args.csv:
        append_rows(args.csv, [dict(zip(COLUMNS, row, strict=True)) for row in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())

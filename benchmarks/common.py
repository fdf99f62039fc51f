"""What the benchmark scripts share: the commit that ran, appending rows to a results CSV, a
checkout's own training and re-evaluation processes, and the check of their count arguments."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REEVAL_SEED = 5_000_000  # re-evaluations start from states unlike training's evaluation (lander_exp.run.train.EVAL_SEED)


def count(text: str) -> int:
    """An argparse type for a count (seeds, episodes, repeats, workers): a whole number of at least 1,
    refused in one line otherwise, before anything runs."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _env(repo: Path) -> dict[str, str]:
    """The environment of a process running `repo`'s lander_exp, W&B offline and quiet."""
    return {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": str(repo)}


def train(repo: Path, args: list[str], out: Path) -> tuple[float, float]:
    """Run `python -m lander_exp ARGS` of `repo`'s code into `out`; (launch, exit) as Unix times. A
    failed run ends the benchmark with its command and the end of its stderr."""
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "lander_exp", *args, "train.progress=false", f"tracker.dir={out}"],
                          cwd=repo, env=_env(repo), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed (exit {proc.returncode}): {' '.join(args)}\n{proc.stderr[-2000:]}")
    return started, time.time()


def reevaluate(repo: Path, run: str, episodes: int) -> dict:
    """The run's final policy, greedy, on `episodes` episodes of Gymnasium's env from REEVAL_SEED, by
    `repo`'s own `python -m lander_exp.evaluate --json` (which reads that code's checkpoints): its
    JSON (return_mean, epoch, global_step, ...)."""
    cmd = [sys.executable, "-m", "lander_exp.evaluate", run, "--backend", "gymnasium", "--envs", "50",
           "--episodes", str(episodes), "--seed", str(REEVAL_SEED), "--json"]
    proc = subprocess.run(cmd, cwd=repo, env=_env(repo), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"re-evaluation failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def commit_of(repo: Path) -> str:
    """The short commit of the checkout `repo`, with -dirty when its tracked files differ from it."""
    git = ["git", "-C", str(repo)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"], capture_output=True).returncode != 0
    return (head or "unknown") + ("-dirty" if dirty else "")


def append_rows(path: Path, rows: list[dict]) -> None:
    """Append `rows` to the CSV `path`; a file whose header lacks some of their columns is rewritten
    with them added at the end (its older rows left blank there)."""
    columns = list(rows[0])
    old: list[dict] | None = None
    if path.exists():
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            if any(c not in header for c in columns):
                old = list(reader)
        columns = header + [c for c in columns if c not in header]
        if old is None:
            with path.open("a", newline="") as f:
                csv.DictWriter(f, columns, restval="").writerows(rows)
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, columns, restval="")
        w.writeheader()
        w.writerows([*(old or []), *rows])

"""REINFORCE's wall time: whole runs of `python -m lander_exp experiment=reinforce`, everything
included (W&B offline logging, evaluations, checkpoints), against the floor set by the env itself.

    python benchmarks/reinforce_speed.py single [--seed 0] [overrides...]   one run pinned to one core
    python benchmarks/reinforce_speed.py sweep [--workers 2]                 sweeps/reinforce_jump.yaml

`single` pins the run to core 0 (targets: 10,000 episodes in at most 10 minutes on one core).
`sweep` runs the 5-seed sweep with the offline runner (target: at most 30 minutes on the machine)
into runs/sweeps/reinforce_jump/, continuing a sweep cut short; its row counts only this call's wall
time, so time a sweep from scratch (`make clean` or delete that folder first). The jumps of those runs:
scripts/jump_table.py.
Each run's env floor is its env steps times the per-step cost of the bare Gymnasium env on this
machine (random actions, resets included), measured by this script just before the runs."""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from common import commit_of, count  # benchmarks/common.py

from lander_exp.run.records import find_run_dirs, load_local

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs/results/reinforce_speed.csv"
COLUMNS = ["date", "commit", "kind", "seed", "episodes", "env_steps", "wall_s", "env_steps_per_s",
           "env_floor_s", "load_avg"]


def env_us_per_step(steps: int = 100_000, seed: int = 0) -> float:
    """Microseconds per step of one bare LunarLander-v3 (random actions; the resets are included)."""
    env = gym.make("LunarLander-v3", disable_env_checker=True).unwrapped
    env.reset(seed=seed)
    actions = [np.int64(a) for a in np.random.default_rng(seed).integers(4, size=steps)]
    t = time.perf_counter()
    for a in actions:
        if env.step(a)[2]:
            env.reset()
    return (time.perf_counter() - t) / steps * 1e6


def rows_of(run_dirs: list[Path], kind: str, us_per_step: float) -> list[dict]:
    rows = []
    for rec in load_local(run_dirs):
        s = rec.summary
        rows.append({"kind": kind, "seed": rec.config["seed"], "episodes": s["episodes"], "env_steps": s["global_step"],
                     "wall_s": round(s["wall_s"], 1), "env_steps_per_s": round(s["global_step"] / s["wall_s"]),
                     "env_floor_s": round(s["global_step"] * us_per_step / 1e6, 1)})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("single", "sweep"))
    p.add_argument("--seed", type=int, default=0, help="single: the run's seed")
    p.add_argument("--workers", type=count, default=2, help="sweep: runs at a time")
    p.add_argument("--csv", type=Path, default=CSV, help=f"append rows here (default {CSV.relative_to(ROOT)})")
    args, overrides = p.parse_known_args()
    code = commit_of(ROOT)  # the code the runs start with (later commits during a long sweep do not count)
    us = env_us_per_step()
    print(f"bare env: {us:.1f} us/step")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    t = time.perf_counter()
    if args.mode == "single":
        out = Path(tempfile.mkdtemp(prefix="reinforce_speed_", dir=ROOT / "runs" if (ROOT / "runs").is_dir() else None))
        cmd = [sys.executable, "-m", "lander_exp", "experiment=reinforce", f"seed={args.seed}", "train.torch_threads=1",
               "train.progress=false", f"tracker.dir={out}", *overrides]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        run_dirs = find_run_dirs([out])
    else:
        cmd = [sys.executable, "-m", "lander_exp.sweep", "sweeps/reinforce_jump.yaml", "--workers", str(args.workers)]
        proc = subprocess.run(cmd, cwd=ROOT, env=env)
        run_dirs = find_run_dirs([ROOT / "runs/sweeps/reinforce_jump"])
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(f"benchmark command failed (exit {proc.returncode}): {' '.join(cmd)}", file=sys.stderr)
        return proc.returncode
    stamp = {"date": datetime.date.today().isoformat(), "commit": code,
             "load_avg": f"{os.getloadavg()[0]:.2f}"}
    rows = rows_of(run_dirs, "single" if args.mode == "single" else "sweep_run", us)
    if args.mode == "sweep":
        steps = sum(r["env_steps"] for r in rows)
        rows.append({"kind": f"sweep_total_{args.workers}_workers", "seed": "all", "episodes": sum(r["episodes"] for r in rows),
                     "env_steps": steps, "wall_s": round(wall, 1), "env_steps_per_s": round(steps / wall),
                     "env_floor_s": round(steps * us / 1e6 / args.workers, 1)})
    new = not args.csv.exists()
    with args.csv.open("a", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        if new:
            w.writeheader()
        for r in rows:
            w.writerow({**stamp, **r})
            print(", ".join(f"{k}={v}" for k, v in r.items()))
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

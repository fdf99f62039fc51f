"""The default PPO ("How to Land on the Moon"'s configuration, (`python -m lander_exp`: 8 Gymnasium envs, 100k steps per epoch, 20
passes at batch 5000, the 8-layer actor) with N seeds in one process against one seed alone, on a
GPU (or any `device`): the epoch time per seed.

    python benchmarks/gpu_seeds.py [--seeds 16] [--epochs 2] [--devices cuda cpu] [--csv FILE] [KEY=VALUE ...]

For each device, `python -m lander_exp seed=0 device=D` and then `python -m lander_exp seeds=[0..N-1]
device=D`, each for --epochs epochs, W&B offline, timed from launch to exit. Each run's rows give its
epoch's seconds (perf/rollout_s + perf/update_s; in a batch, its share of the shared rollout and of the
stacked update), so the batch's epoch time per seed is its epoch time over N. The first epoch (CUDA's
start-up, allocator warm-up) is left out when there are more. Evaluation is cut to one episode (the
last epoch always evaluates; it is not in the epoch time). Appends one row per measurement to --csv:
date,commit,device,device_name,mode,seeds,epochs,epoch_s_per_seed,rollout_s_per_seed,update_s_per_seed,env_steps_per_s,wall_s
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import count  # benchmarks/common.py

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs/results/gpu_seeds.csv"
# the checkout's lander_exp, also where it is not installed (a lent GPU machine with its own PyTorch)
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
sys.path.insert(0, str(ROOT))


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def commit() -> str:
    proc = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def measure(device: str, seeds: list[int], epochs: int, overrides: list[str], out: Path) -> dict:
    """One `python -m lander_exp` process; its row."""
    seed_arg = f"seed={seeds[0]}" if len(seeds) == 1 else f"seeds=[{','.join(map(str, seeds))}]"
    args = [sys.executable, "-m", "lander_exp", seed_arg, f"device={device}", f"train.max_epochs={epochs}",
            "train.eval_every=1000", "train.eval_episodes=1", "train.eval_envs=1", "train.video_every=0",
            "train.progress=false", f"tracker.dir={out}", *overrides]
    t = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed (exit {proc.returncode}): {' '.join(args)}\n{proc.stderr[-3000:]}")
    from lander_exp.run.records import find_run_dirs, load_local

    per_epoch: list[tuple[float, float]] = []  # (rollout_s, update_s) of each run's measured epochs
    steps = 0.0
    for rec in load_local(find_run_dirs([out])):
        rows = [r for r in rec.history if "perf/rollout_s" in r]
        first = rows[0]["global_step"] if len(rows) > 1 else 0  # steps before the measured epochs
        steps += float(rows[-1]["global_step"] - first)
        for r in rows[1:] if len(rows) > 1 else rows:
            per_epoch.append((float(r["perf/rollout_s"]), float(r["perf/update_s"])))
    rollout = statistics.mean(r for r, _ in per_epoch)
    update = statistics.mean(u for _, u in per_epoch)
    measured_s = sum(r + u for r, u in per_epoch)
    return {"device": device, "device_name": device_name(device),
            "mode": "alone" if len(seeds) == 1 else "batched", "seeds": len(seeds), "epochs": epochs,
            "epoch_s_per_seed": round(rollout + update, 3), "rollout_s_per_seed": round(rollout, 3),
            "update_s_per_seed": round(update, 3), "env_steps_per_s": round(steps / measured_s),
            "wall_s": round(wall, 1)}


def append(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=count, default=16, help="seeds in the batch (0..N-1); alone: seed 0")
    p.add_argument("--epochs", type=count, default=2, help="epochs per run (the first is left out of the epoch time)")
    p.add_argument("--devices", nargs="+", choices=("cuda", "cpu"), default=["cuda"])
    p.add_argument("--modes", nargs="+", choices=("alone", "batched"), default=["alone", "batched"])
    p.add_argument("--csv", type=Path, default=CSV)
    p.add_argument("overrides", nargs="*", help="more KEY=VALUE for every run, e.g. train.torch_threads=8")
    args = p.parse_args()
    if "cuda" in args.devices:
        import torch

        if not torch.cuda.is_available():
            sys.exit("gpu_seeds: --devices cuda, but torch sees no CUDA device; run with --devices cpu")
    work = Path(tempfile.mkdtemp(prefix="gpu_seeds_"))
    date, sha = datetime.date.today().isoformat(), commit()
    for device in args.devices:
        for mode in args.modes:
            seeds = [0] if mode == "alone" else list(range(args.seeds))
            row = {"date": date, "commit": sha, **measure(device, seeds, args.epochs, args.overrides, work / f"{device}_{mode}")}
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            append(args.csv, row)
    print(f"appended to {args.csv}; runs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

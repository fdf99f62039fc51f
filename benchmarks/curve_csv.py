"""Write a run's learning curve (one row per logged step) as CSV, read from its offline W&B record.

    python benchmarks/curve_csv.py RUN_DIR --out docs/results/FILE.csv"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from lander_exp.run.records import load_local

COLUMNS = ["epoch", "episode", "global_step", "perf/wall_s", "episode/return", "episode/length", "episode/landed",
           "episode/timeout", "eval/return_mean", "eval/return_std", "eval/return_ma", "eval/landed", "eval/timeout",
           "train/log_std/0", "train/log_std/1", "perf/rollout_s", "perf/update_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    (run,) = load_local([args.run_dir])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for row in run.history:
            w.writerow(["" if row.get(k) is None else (round(row[k], 4) if isinstance(row[k], float) else row[k])
                        for k in COLUMNS])
    print(f"{args.out}: {len(run.history)} rows of {run.name}; summary: stop_reason={run.summary.get('stop_reason')} "
          f"epochs={run.summary.get('epochs')} wall_s={run.summary.get('wall_s')}")


if __name__ == "__main__":
    main()

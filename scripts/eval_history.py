"""Every evaluation of every run in a sweep folder, as CSV, read from the runs' W&B records
(`wandb leet inspect --json`): shows when each run hovered and when it began to land. Runs
logged before an outcome existed get empty cells for it.

    python scripts/eval_history.py runs/sweeps/hover > docs/results/hover_evals.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from lander_exp.envs.outcomes import RATES as OUTCOMES
from lander_exp.run.records import find_run_dirs, leet_records, wandb_dir_of


def main(sweep_dir: str) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(["run", "epoch", "global_step", "eval_return", *OUTCOMES])
    for run_dir in find_run_dirs([Path(sweep_dir)]):
        rows = [r["history"]["item"] for r in leet_records(wandb_dir_of(run_dir)) if r["type"] == "history"]
        for row in rows:
            if "eval/return_mean" in row:
                writer.writerow([run_dir.name, row["epoch"], row["global_step"], f"{row['eval/return_mean']:.1f}",
                                 *(f"{row[f'eval/{k}']:.4g}" if f"eval/{k}" in row else "" for k in OUTCOMES)])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/eval_history.py SWEEP_FOLDER   (e.g. runs/sweeps/hover)")
    main(sys.argv[1])

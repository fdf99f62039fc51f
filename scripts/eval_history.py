"""Every evaluation of every run in a sweep folder, as CSV, read from the runs' W&B records
(`wandb leet inspect --json`): shows when each run hovered and when it began to land.

    python scripts/eval_history.py runs/sweeps/hover > docs/results/hover_evals.csv
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

OUTCOMES = ("landed", "crashed", "out_of_bounds", "timeout")


def history(wandb_dir: Path) -> list[dict]:
    wandb_bin = Path(sys.executable).parent / "wandb"
    out = subprocess.run([str(wandb_bin), "leet", "inspect", "--json", str(wandb_dir)], capture_output=True,
                         text=True, check=True)
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [r["history"]["item"] for r in records if r["type"] == "history"]


def main(sweep_dir: str) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(["run", "epoch", "global_step", "eval_return", *OUTCOMES])
    for info in sorted(Path(sweep_dir).glob("*/wandb_run.json")):
        folder = Path(json.loads(info.read_text())["dir"])
        for row in history(folder):
            if "eval/return_mean" in row:
                writer.writerow([info.parent.name, row["epoch"], row["global_step"], f"{row['eval/return_mean']:.1f}",
                                 *(f"{row[f'eval/{k}']:.4g}" for k in OUTCOMES)])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/eval_history.py SWEEP_FOLDER   (e.g. runs/sweeps/hover)")
    main(sys.argv[1])

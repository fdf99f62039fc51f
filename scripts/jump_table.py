"""One CSV row per run of a sweep folder: the jump in its learning curve (lander_exp/jump.py), found
in the per-episode returns and lengths of the runs' W&B records (`wandb leet inspect --json`):

    python scripts/jump_table.py runs/sweeps/reinforce_jump --out docs/results/reinforce_jump.csv

The detector runs on the logged curve, not the run's summary, so runs trained before a change of
the detector's definition are judged by today's. It needs one history row per episode (one env, as
REINFORCE runs). jump_episode is the number of training episodes before the jump; before/after are
means over the detector's window (1000 episodes) on each side. A run without a jump gets empty cells."""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import numpy as np

from lander_exp.core.jump import detect_jump
from lander_exp.run.records import find_run_dirs, load_local

COLUMNS = ["seed", "jump_episode", "return_before", "return_after", "length_before", "length_after"]


def rows(sweep_dir: Path) -> list[dict]:
    out = []
    for rec in sorted(load_local(find_run_dirs([sweep_dir])), key=lambda r: r.config["seed"]):
        _, returns = rec.series("episode/return")
        _, lengths = rec.series("episode/length")
        jump = detect_jump(np.array(returns), np.array(lengths))
        row = {"seed": rec.config["seed"], "jump_episode": jump.episode if jump else ""}
        for col in COLUMNS[2:]:
            row[col] = round(getattr(jump, col), 1) if jump else ""
        out.append(row)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--out", type=Path, help="write the CSV here (default: print it)")
    args = p.parse_args()
    table = rows(args.sweep_dir)
    f = args.out.open("w", newline="") if args.out else sys.stdout
    w = csv.DictWriter(f, COLUMNS)
    w.writeheader()
    w.writerows(table)
    if args.out:
        f.close()
    jumps = [r["jump_episode"] for r in table if r["jump_episode"] != ""]
    if jumps:
        print(f"{len(jumps)}/{len(table)} runs jumped; median jump episode {statistics.median(jumps):g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

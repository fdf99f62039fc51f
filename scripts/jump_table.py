"""One CSV row per run of a sweep folder with the jump its summary holds (lander_exp/jump.py),
read from the runs' W&B records (`wandb leet inspect --json`):

    python scripts/jump_table.py runs/sweeps/reinforce_jump --out docs/results/reinforce_jump.csv

jump_episode is the number of training episodes before the jump; before/after are the means over
the detector's window (1000 episodes) on each side. A run without a jump gets empty cells."""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

from lander_exp.records import find_run_dirs, load_local

COLUMNS = ["seed", "jump_episode", "return_before", "return_after", "length_before", "length_after"]


def rows(sweep_dir: Path) -> list[dict]:
    out = []
    for rec in sorted(load_local(find_run_dirs([sweep_dir])), key=lambda r: r.config["seed"]):
        s = rec.summary
        row = {"seed": rec.config["seed"], "jump_episode": s.get("jump/episode", "")}
        for col in COLUMNS[2:]:
            value = s.get(f"jump/{col}")
            row[col] = "" if value is None else round(value, 1)
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

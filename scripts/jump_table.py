"""One CSV row per run of a sweep folder: the jump of "The laws of the 'land'" (lander_exp/core/jump.py) found in the
per-episode outcomes and returns every checkpoint holds (the run's last checkpoint: all its
training episodes, whatever the number of envs):

    python scripts/jump_table.py runs/sweeps/reinforce_jump --out docs/results/reinforce_jump.csv

The detector runs on the logged episodes, not the run's summary, so runs trained before a change of
the detector's definition are judged by today's. jump_episode is the number of training episodes
before the jump, empty for a run without one; return_before/after are mean returns over the
detector's window (1000 episodes) on each side; landed_last1000 and timeout_grounded_last1000 are
the outcome rates of the run's last 1000 episodes (does it keep landing?). `--curves DIR` also
writes each run's per-episode outcomes and returns to DIR/<run>.npz (the tests' fixtures)."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from csv_out import write_rows  # scripts/, on the path when a script runs

from lander_exp.core.jump import WINDOW, detect_jump, last_rates
from lander_exp.run import checkpoint
from lander_exp.run.records import find_run_dirs

COLUMNS = ["seed", "jump_episode", "landed_last1000", "timeout_grounded_last1000", "return_before", "return_after"]


def episode_log(run_dir: Path) -> tuple[int, np.ndarray, np.ndarray]:
    """(seed, outcome codes, returns) of every training episode of the run, from its last checkpoint."""
    state = checkpoint.load(checkpoint.latest(run_dir))
    log = state["episode_log"]
    return int(state["config"]["seed"]), np.asarray(log["outcomes"]), np.asarray(log["returns"])


def rows(sweep_dir: Path, curves: Path | None = None) -> list[dict]:
    out = []
    for run_dir in find_run_dirs([sweep_dir]):
        seed, outcomes, returns = episode_log(run_dir)
        if curves is not None:
            curves.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(curves / f"{run_dir.name}.npz", outcomes=outcomes.astype(np.int8),
                                returns=returns.astype(np.float32))
        jump = detect_jump(outcomes, returns)
        last = last_rates(outcomes, WINDOW)
        out.append({"seed": seed, "jump_episode": jump.episode if jump else "",
                    "landed_last1000": round(last["landed"], 3),
                    "timeout_grounded_last1000": round(last["timeout_grounded"], 3),
                    "return_before": round(jump.return_before, 1) if jump else "",
                    "return_after": round(jump.return_after, 1) if jump else ""})
    return sorted(out, key=lambda r: r["seed"])


def verdict(table: list[dict]) -> str:
    """The issue's goal in one line: median jump (a run without one counts as none: after every
    episode) and how many runs keep landing."""
    jumps = [r["jump_episode"] for r in table if r["jump_episode"] != ""]
    keyed = sorted([float(j) for j in jumps] + [float("inf")] * (len(table) - len(jumps)))
    median = statistics.median(keyed) if keyed else float("inf")
    keep = sum(r["landed_last1000"] >= 0.5 for r in table)
    return (f"{len(jumps)}/{len(table)} runs jumped, at {', '.join(map(str, sorted(jumps))) or '-'}; median jump "
            f"episode over all runs {'none' if median == float('inf') else f'{median:g}'}; "
            f"{keep}/{len(table)} runs landed >= 0.5 of their last 1000 episodes")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--out", type=Path, help="write the CSV here (default: print it)")
    p.add_argument("--curves", type=Path, help="also write each run's outcomes and returns to DIR/<run>.npz")
    args = p.parse_args()
    table = rows(args.sweep_dir, args.curves)
    write_rows(table, args.out, COLUMNS)
    print(verdict(table), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

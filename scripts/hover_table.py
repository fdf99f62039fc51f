"""One CSV row per run of a sweep folder: its final policy played greedily and sampled, on the same
episodes of Gymnasium's env, with the outcome rates that say where a timed-out lander was
(timeout_grounded: a leg down at the limit, timeout_airborne: none) and the mean return of each.
"How to Land on the Moon"'s "100+ points for doing nothing" is about the policy it trained with; which of the two
earns it, the write-up does not say, so both are reported.

    python scripts/hover_table.py runs/sweeps/hover [runs/sweeps/hover_long ...] --episodes 100 --out docs/results/hover.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csv_out import write_rows  # scripts/, on the path when a script runs

from lander_exp.run.records import find_run_dirs
from lander_exp.run.train import EVAL_SEED
from lander_exp.tools.evaluate import load_run, play

RATES = ("landed", "crashed", "out_of_bounds", "timeout", "timeout_grounded", "timeout_airborne")


def played(run_dir: Path, episodes: int, sampled: bool) -> dict:
    """Mean return and outcome rates of the run's newest checkpoint over `episodes` Gymnasium episodes."""
    cfg, algo, state = load_run(run_dir)
    eps = play(cfg, algo, episodes, EVAL_SEED, backend="gymnasium", sampled=sampled, envs=25)
    return {"epoch": state["epoch"], "return": round(float(eps.returns.mean()), 1),
            **{k: round(v, 3) for k, v in eps.rates().items() if k in RATES}}


def rows(sweep_dirs: list[Path], episodes: int) -> list[dict]:
    out = []
    for run_dir in find_run_dirs(sweep_dirs):
        cfg, _, _ = load_run(run_dir)
        greedy, sampled = played(run_dir, episodes, False), played(run_dir, episodes, True)
        out.append({"steps_per_epoch": cfg.algo.steps_per_epoch, "num_envs": cfg.env.num_envs,
                    "batch_size": cfg.algo.batch_size, "entropy_coef": cfg.algo.entropy_coef,
                    "init_log_std": cfg.algo.init_log_std, "seed": cfg.seed,
                    "epoch": greedy["epoch"],
                    **{f"greedy_{k}": greedy[k] for k in ("return", *RATES)},
                    **{f"sampled_{k}": sampled[k] for k in ("return", *RATES)}})
        print(out[-1], flush=True)
    return sorted(out, key=lambda r: (r["steps_per_epoch"], r["num_envs"], r["batch_size"], -r["entropy_coef"],
                                      -r["init_log_std"], r["epoch"], r["seed"]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dirs", type=Path, nargs="+", help="sweep folders (their runs make one table)")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    table = rows(args.sweep_dirs, args.episodes)
    write_rows(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

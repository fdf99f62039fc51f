"""Which stopping rule makes `experiment=fast`'s "reached 200" mean solved: replays rules on runs that
trained past their target with a checkpoint per evaluation, and re-evaluates the checkpoint each rule
would have stopped at, greedily, on 100 episodes of Gymnasium's own env (start seeds unlike training's).

    python -m lander_exp -m experiment=fast seed=0,1,2,3,4 train.target_return=null train.max_epochs=60 \\
        train.keep_checkpoints=100 train.progress=false hydra.sweep.dir=EXP
    python scripts/stopping_rules.py EXP [--episodes 100] [--out docs/results/fast_stopping.csv]

Training never looks at the stopping rule before it stops, so cutting one long run at each rule's
epoch is exactly the run that rule would have made. One row per (rule, run). 60 of the preset's
8,192-step epochs are the env steps of the 30 16,384-step epochs it had until commit 5c1ae16."""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

from csv_out import write_rows  # scripts/, on the path when a script runs

from lander_exp.run.records import find_run_dirs, load_local
from lander_exp.tools.evaluate import load_run, play

REEVAL_SEED = 5_000_000  # unlike training's eval seed (EVAL_SEED) and its envs' seeds
Z95, Z99 = 1.6449, 2.3263  # one-sided normal quantiles


def rules(target: float, episodes: int) -> dict:
    """name -> f(evals so far: list of (mean, std)) -> stop now?"""
    lcb = lambda m, s, z=Z95: m - z * s / math.sqrt(episodes)  # noqa: E731
    return {
        f"mean>={target:g}": lambda e: e[-1][0] >= target,
        f"mean>={target + 10:g}": lambda e: e[-1][0] >= target + 10,
        f"mean>={target + 20:g}": lambda e: e[-1][0] >= target + 20,
        f"window2_mean>={target:g}": lambda e: len(e) >= 2 and (e[-1][0] + e[-2][0]) / 2 >= target,
        f"lcb95>={target:g}": lambda e: lcb(*e[-1]) >= target,
        f"lcb99>={target:g}": lambda e: lcb(*e[-1], Z99) >= target,
    }


def reevaluate(run_dir: Path, epoch: int, episodes: int) -> float:
    cfg, algo, _ = load_run(run_dir, run_dir / "checkpoints" / f"epoch_{epoch:06d}.safetensors")
    return float(play(cfg, algo, episodes, REEVAL_SEED, backend="gymnasium").returns.mean())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path)
    p.add_argument("--target", type=float, default=200.0)
    p.add_argument("--episodes", type=int, default=100, help="re-evaluation episodes per stop")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    records = load_local(find_run_dirs([args.runs]))
    rows, cache = [], {}
    for rec in sorted(records, key=lambda r: r.config["seed"]):
        run_dir = Path(rec.source)
        evals = [r for r in rec.history if "eval/return_mean" in r]
        n = rec.config["train"]["eval_episodes"]
        for name, stop in rules(args.target, n).items():
            seen = [(r["eval/return_mean"], r["eval/return_std"]) for r in evals]
            at = next((i for i in range(len(seen)) if stop(seen[: i + 1])), None)
            row = {"rule": name, "seed": rec.config["seed"], "stop_epoch": "", "env_steps": "", "runtime_s": "",
                   "stop_eval_mean": "", "reeval_mean": ""}
            if at is not None:
                r = evals[at]
                if (r["epoch"], run_dir) not in cache:
                    cache[r["epoch"], run_dir] = reevaluate(run_dir, r["epoch"], args.episodes)
                row.update(stop_epoch=r["epoch"], env_steps=r["global_step"], runtime_s=round(r.get("_runtime", math.nan), 1),
                           stop_eval_mean=round(r["eval/return_mean"], 1),
                           reeval_mean=round(cache[r["epoch"], run_dir], 1))
            rows.append(row)
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print()
    for name in rules(args.target, 1):
        mine = [r for r in rows if r["rule"] == name]
        solved = sum(r["reeval_mean"] != "" and r["reeval_mean"] >= args.target for r in mine)
        times = [r["runtime_s"] for r in mine if r["runtime_s"] != ""]
        print(f"{name}: {solved}/{len(mine)} pass the re-evaluation; stopped {len(times)}/{len(mine)}; "
              f"median W&B runtime at the stop {statistics.median(times) if times else float('nan'):.1f} s")
    if args.out:
        write_rows(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

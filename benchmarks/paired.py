"""Two checkouts trained on the same seeds, seed by seed in turn, so that the machine's speed, which
drifts over minutes, weighs on both alike: a paired comparison of a change, launch to exit.

    python benchmarks/paired.py --old OLD_CHECKOUT [--new NEW_CHECKOUT] --seeds 100 101 ... \\
        [--reeval-episodes 100] [--csv docs/results/paired.csv] [overrides, default experiment=fast]

The first seed runs the old code then the new, the second the new then the old, and so on (ABBA),
each a whole `python -m lander_exp OVERRIDES seed=S` process with W&B offline. Each run's
final policy is re-evaluated greedily on --reeval-episodes episodes of Gymnasium's own env (by its own
checkout's `python -m lander_exp.evaluate`, outside the timing; a mean of 200 is "solved").

One row per run: `date,code` (old or new)`,commit,seed,first` (which code ran first on that seed)
`,wall_s,epochs,env_steps` and where its time went
(benchmarks/many_seeds.py's split: startup_s ... shutdown_s), `reeval_return,solved`. Printed at the
end: each checkout's median, and per seed new minus old: how many faster, slower and tied (within
0.05 s), the median and mean difference, the Wilcoxon signed-rank test's p (two-sided, scipy), and
on how many seeds both learnt the same (the same epochs and env steps)."""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import append_rows, commit_of, count, reevaluate, train  # benchmarks/common.py
from many_seeds import where_time_goes

ROOT = Path(__file__).resolve().parents[1]


def run_one(repo: Path, overrides: list[str], seed: int, out: Path, episodes: int) -> dict:
    """Train seed `seed` with `repo`'s code into `out`; its row (less date and order)."""
    from lander_exp.run.records import find_run_dirs, load_local

    launched, exited = train(repo, [*overrides, f"seed={seed}"], out)
    (rec,) = load_local(find_run_dirs([out]))
    result = reevaluate(repo, rec.source, episodes)
    return {"commit": commit_of(repo), "seed": seed, "wall_s": round(exited - launched, 2),
            "epochs": rec.summary["epochs"], "env_steps": rec.summary["global_step"],
            **where_time_goes(out, launched, exited),
            "reeval_return": round(result["return_mean"], 1), "solved": result["return_mean"] >= 200}


def summary(old: list[dict], new: list[dict]) -> list[str]:
    """The paired comparison of the runs `old` and `new` (one each per seed, in the same order)."""
    from scipy.stats import wilcoxon

    diffs = [n["wall_s"] - o["wall_s"] for o, n in zip(old, new, strict=True)]
    faster, slower = sum(d < -0.05 for d in diffs), sum(d > 0.05 for d in diffs)
    same = sum((o["epochs"], o["env_steps"]) == (n["epochs"], n["env_steps"]) for o, n in zip(old, new, strict=True))
    tested = any(diffs) and len(diffs) > 1
    p = f"p = {wilcoxon(diffs).pvalue:.3g}" if tested else "not run (fewer than two seeds, or no difference)"
    lines = [f"{name} {runs[0]['commit']}: median {statistics.median(r['wall_s'] for r in runs):.2f} s, "
             f"{sum(r['solved'] for r in runs)} of {len(runs)} solved" for name, runs in (("old", old), ("new", new))]
    lines.append(f"new - old per seed: faster {faster}, slower {slower}, tied {len(diffs) - faster - slower}; "
                 f"median {statistics.median(diffs):+.2f} s, mean {statistics.mean(diffs):+.2f} s, "
                 f"Wilcoxon signed-rank {p}; "
                 f"the same epochs and env steps on {same} of {len(diffs)} seeds")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--old", type=Path, required=True, help="the checkout of the code before the change")
    p.add_argument("--new", type=Path, default=ROOT, help="the checkout of the code after it (default: this one)")
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--reeval-episodes", type=count, default=100, help="Gymnasium episodes per final policy")
    p.add_argument("--csv", type=Path, help="append the rows to this CSV")
    args, overrides = p.parse_known_args()
    for repo in (args.old, args.new):
        if not (repo / "lander_exp").is_dir():
            p.error(f"{repo} is not a checkout of this repository (no lander_exp/ in it): give a worktree's folder")
    repos = {"old": args.old.resolve(), "new": args.new.resolve()}
    overrides = overrides or ["experiment=fast"]
    work = Path(tempfile.mkdtemp(prefix="paired_"))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; runs in {work}; "
          f"old {repos['old']} ({commit_of(repos['old'])}), new {repos['new']} ({commit_of(repos['new'])}); "
          f"{' '.join(overrides)}", flush=True)
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    rows = []
    for i, seed in enumerate(args.seeds):
        order = ("old", "new") if i % 2 == 0 else ("new", "old")
        for name in order:
            row = run_one(repos[name], overrides, seed, work / f"{name}_s{seed}", args.reeval_episodes)
            runs[name].append(row)
            rows.append({"date": datetime.date.today().isoformat(), "code": name, "commit": row["commit"], "seed": seed,
                         "first": order[0], **row})
            print(", ".join(f"{k}={v}" for k, v in rows[-1].items()), f"(load {os.getloadavg()[0]:.1f})", flush=True)
    print("\n".join(summary(runs["old"], runs["new"])), flush=True)
    if args.csv:
        append_rows(args.csv, rows)
        print(f"appended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Variants of `experiment=fast` on the development seeds: wall time to the stop rule, and whether the
final policy is solved on episodes training never saw. How the preset's settings are chosen.

    python benchmarks/fast_variants.py --variant base --variant oc_ue10 algo.overlap_critic=true algo.update_epochs=10
    python benchmarks/fast_variants.py --seeds 0 1 2 3 4 5 6 7 8 9 --csv docs/results/fast_variants.csv --variant ...

Each --variant is a name and the overrides it adds to `experiment=fast` (none: the preset as it is).
For each variant, each seed runs as a whole `python -m lander_exp experiment=fast seed=S OVERRIDES`
process, one at a time, timed from launch to exit; then its final policy is re-evaluated greedily on
--reeval-episodes (100) episodes of Gymnasium's own LunarLanderContinuous-v3 from start states training never evaluated
on (`python -m lander_exp.evaluate RUN --backend gymnasium`; a mean of 200 is "solved"). Run the
variants on the development seeds 0-9 only: the seeds a claim or a benchmark of the chosen preset
is stated on (100 and up) must not take part in choosing it. Appends one row per run,
`date,commit,variant,overrides,seed,wall_s,epochs,env_steps,stop_eval_return,reeval_return,solved,load_avg`,
to --csv. Timings compare only within one session on an otherwise idle machine (load_avg says)."""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
from pathlib import Path

import common  # benchmarks/common.py
from common import append_rows, commit_of, count

ROOT = Path(__file__).resolve().parents[1]


def run_seed(overrides: list[str], seed: int, out: Path, episodes: int = 100) -> dict:
    """One training process and its re-evaluation; the row's measured part."""
    from lander_exp.run.records import find_run_dirs, load_local

    launched, exited = common.train(ROOT, ["experiment=fast", f"seed={seed}", *overrides], out)
    rec = load_local(find_run_dirs([out]))[0]
    reeval = common.reevaluate(ROOT, rec.source, episodes)["return_mean"]
    return {"wall_s": round(exited - launched, 1), "epochs": rec.summary["epochs"], "env_steps": rec.summary["global_step"],
            "stop_eval_return": round(rec.summary["final_eval_return"], 1), "reeval_return": round(reeval, 1),
            "solved": reeval >= 200, "load_avg": round(os.getloadavg()[0], 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", nargs="+", action="append", required=True, metavar=("NAME", "OVERRIDE"),
                   help="a name and the overrides it adds to experiment=fast; repeat for each variant")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--csv", type=Path, default=ROOT / "docs/results/fast_variants.csv")
    p.add_argument("--reeval-episodes", type=count, default=100, help="Gymnasium episodes per final policy")
    args = p.parse_args()
    if confirmation := sorted(s for s in args.seeds if s >= 100):
        p.error(f"seeds {confirmation} are confirmation seeds: choose on the development seeds 0-9")
    work = Path(tempfile.mkdtemp(prefix="fast_variants_"))
    commit, date = commit_of(ROOT), datetime.date.today().isoformat()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; runs in {work}", flush=True)
    for name, *overrides in args.variant:
        rows = []
        for seed in args.seeds:
            row = {"date": date, "commit": commit, "variant": name, "overrides": " ".join(overrides), "seed": seed,
                   **run_seed(overrides, seed, work / name / str(seed), args.reeval_episodes)}
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            rows.append(row)
        append_rows(args.csv, rows)
        print(f"{name}: median wall {statistics.median(r['wall_s'] for r in rows):.1f} s, median epochs "
              f"{statistics.median(r['epochs'] for r in rows)}, solved {sum(r['solved'] for r in rows)} of {len(rows)}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

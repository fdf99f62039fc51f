"""How likely a claim's development result is to hold on new seeds: resample its development runs
(with replacement, as many as the confirmation set has) and judge each resample as
`python -m lander_exp.claim` would (the rate against the required rate, the median against its
range). A verdict that passes on 10 seeds by one run, or whose median sits at the edge of its range,
passes on another 20 seeds about half the time; this says so before the confirmation seeds are used.

    python scripts/claim_odds.py claims/jump.yaml claims/tried/jump_lr_2.75e-4.yaml --runs 20

Each claim's development rows are read from its CSV (docs/results/claims/, or .../tried/ for
claims/tried/*.yaml). It is a bootstrap of ten runs: it ranks configurations by how fragile their
development verdict is, it does not predict the confirmation rate."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lander_exp.tools.claim import Row, judge  # noqa: E402
from lander_exp.tools.claim_spec import load  # noqa: E402

RESULTS = ROOT / "docs" / "results" / "claims"


def development_rows(claim_path: Path) -> list[Row]:
    c = load(claim_path)
    folder = RESULTS / "tried" if claim_path.parent.name == "tried" else RESULTS
    with open(folder / f"{c.name}.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["seed_set"] == "development"]
    return [Row(int(r["seed"]), None, {c.value: float(r["value"]) if r["value"] else None}, r["passed"] == "true")
            for r in rows]


def odds(claim_path: Path, runs: int, reps: int, seed: int) -> dict:
    c = load(claim_path)
    rows = development_rows(claim_path)
    rng = np.random.default_rng(seed)
    passes = sum(judge(c, [rows[i] for i in rng.integers(0, len(rows), runs)]).ok for _ in range(reps))
    seen = judge(c, rows)
    return {"claim": c.name, "development_runs": len(rows), "development_passed": seen.passed,
            "development_verdict": "PASS" if seen.ok else "FAIL", "resampled_runs": runs,
            "p_pass": round(passes / reps, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("claims", nargs="+", type=Path)
    p.add_argument("--runs", type=int, default=20, help="runs per resample (the confirmation set's size)")
    p.add_argument("--reps", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    table = [odds(c, args.runs, args.reps, args.seed) for c in args.claims]
    w = csv.DictWriter(sys.stdout, list(table[0]))
    w.writeheader()
    w.writerows(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

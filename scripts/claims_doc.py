"""Write the claims' results into docs/findings.md and README.md from the claim files and the CSVs
`python -m lander_exp.claim` wrote (docs/results/claims/): no number in those blocks is typed by hand.

Each generated block sits between `<!-- claims:NAME -->` and `<!-- /claims:NAME -->` markers: NAME is a
claim (its statement, configuration, test, and one row per seed set: the newest check of that set,
with the per-seed rows folded below), `summary` (one line per claim, for the README) or `tried` (the
configurations tried on the development seeds and not kept: claims/tried/*.yaml, their results in
docs/results/claims/tried/). Text outside the markers is left as it is.

    python scripts/claims_doc.py            # rewrite the blocks
    python scripts/claims_doc.py --check    # exit 1 if a block is not what the CSVs give (the tests run this)
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lander_exp.tools.claim import seeds_text  # noqa: E402
from lander_exp.tools.claim_spec import SEED_SETS, Claim, load  # noqa: E402

RESULTS = ROOT / "docs" / "results" / "claims"
TRIED = "tried"  # claims/tried/*.yaml, results in RESULTS/tried/
DOCS = (ROOT / "docs" / "findings.md", ROOT / "README.md")
BLOCK = re.compile(r"(<!-- claims:([\w.-]+) -->\n)(.*?)(<!-- /claims:\2 -->)", re.S)


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def latest(summary: list[dict], claim: str, seed_set: str) -> dict | None:
    rows = [r for r in summary if r["claim"] == claim and r["seed_set"] == seed_set]
    return rows[-1] if rows else None


def _f(text: str, digits: int = 2) -> str:
    try:
        x = float(text)
    except (TypeError, ValueError):
        return text or "–"
    return "∞" if x == float("inf") else f"{x:.{digits}f}" if abs(x) < 10 else f"{x:.0f}"


def rate_text(row: dict) -> str:
    runs = len(seeds_of(row["seeds"]))
    return f"{row['passed']} of {runs} [{_f(row['ci_low'])}, {_f(row['ci_high'])}]"


def seeds_of(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def config_text(c: Claim) -> str:
    parts = []
    if c.sweep is not None:
        parts.append(f"`{c.sweep.relative_to(ROOT) if c.sweep.is_relative_to(ROOT) else c.sweep}`")
    point = " ".join(f"{k}={v}" for k, v in c.point.items())
    extra = " ".join(c.overrides)
    if point or extra:
        parts.append(f"`{' '.join(filter(None, [point, extra]))}`")
    return " with ".join(parts) if c.sweep is not None else parts[-1]


def test_text(c: Claim) -> str:
    what = (f"its final {c.policy} policy on {c.episodes} episodes of Gymnasium's env" if c.policy
            else "its own record (newest checkpoint)")
    text = f"a run passes when {', '.join(f'`{x}`' for x in c.passes)} ({what}); required: {c.required_rate:.0%} of seeds"
    if c.median is not None:
        text += f", and the median `{c.value}` in [{c.median[0]:g}, {c.median[1]:g}] (a run without it counts as never)"
    return text


def claim_block(c: Claim, summary: list[dict]) -> str:
    rel = c.path.relative_to(ROOT) if c.path.is_relative_to(ROOT) else c.path
    lines = [f"**{c.statement}** ({c.write_up}; `{rel}`)", "",
             f"Configuration: {config_text(c)}; {test_text(c)}.", "",
             "| seed set | runs passing [95% Wilson interval] | required | "
             + (f"median {c.value} [95% interval] | " if c.median else "") + "verdict | checked |",
             "|---|---|---|" + ("---|" if c.median else "") + "---|---|"]
    per_run = read_csv(RESULTS / f"{c.name}.csv")
    for seed_set in SEED_SETS:
        row = latest(summary, c.name, seed_set)
        if row is None:
            lines.append(f"| {seed_set} {seeds_text(c.seeds.get(seed_set, []))} | not run | {c.required_rate:g} | "
                         + ("– | " if c.median else "") + "– | – |")
            continue
        median = f"{_f(row['median'])} [{_f(row['median_ci_low'])}, {_f(row['median_ci_high'])}] | " if c.median else ""
        lines.append(f"| {seed_set} {row['seeds']} | {rate_text(row)} | {row['required_rate']} | {median}"
                     f"**{row['verdict']}** | {row['date']}, `{row['commit']}` |")
    if per_run:
        columns = [k for k in per_run[0] if k not in ("claim",)]
        lines += ["", "<details><summary>Every run</summary>", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_f(r[k], 3) if k not in ("seed", "commit", "seed_set", "passed") else r[k]
                                    for k in columns) + " |" for r in per_run]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def summary_block(claims: list[Claim], summary: list[dict]) -> str:
    lines = ["| claim | write-up | development seeds | confirmation seeds | verdict |", "|---|---|---|---|---|"]
    for c in claims:
        dev, conf = latest(summary, c.name, "development"), latest(summary, c.name, "confirmation")
        verdict = f"**{conf['verdict']}**" if conf else "not yet checked"
        lines.append(f"| [{c.statement}](docs/findings.md#{c.name}) | {c.write_up} | "
                     f"{rate_text(dev) if dev else 'not run'} | {rate_text(conf) if conf else 'not run'} | {verdict} |")
    return "\n".join(lines) + "\n"


def tried_block(tried: list[Claim], summary: list[dict]) -> str:
    lines = ["| configuration | what it tried | development seeds: runs passing [95% Wilson interval] | median | verdict |",
             "|---|---|---|---|---|"]
    for c in tried:
        row = latest(summary, c.name, "development")
        rel = c.path.relative_to(ROOT) if c.path.is_relative_to(ROOT) else c.path
        median = (f"{_f(row['median'])} [{_f(row['median_ci_low'])}, {_f(row['median_ci_high'])}]"
                  if row and row["median"] else "–")
        lines.append(f"| `{rel}`: {config_text(c)} | {c.statement} | {rate_text(row) if row else 'not run'} | {median} | "
                     f"{row['verdict'] if row else '–'} |")
    return "\n".join(lines) + "\n"


def render(text: str, claims: dict[str, Claim], summary: list[dict], tried: list[Claim], tried_summary: list[dict]) -> str:
    def block(m: re.Match) -> str:
        name = m.group(2)
        if name == TRIED:
            body = tried_block(tried, tried_summary)
        elif name == "summary":
            body = summary_block(list(claims.values()), summary)
        elif name in claims:
            body = claim_block(claims[name], summary)
        else:
            raise SystemExit(f"claims_doc: a block names {name}, which is no claim in claims/")
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(block, text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only check that the blocks are up to date")
    args = p.parse_args()
    claims = {c.name: c for c in map(load, sorted((ROOT / "claims").glob("*.yaml")))}
    summary = read_csv(RESULTS / "summary.csv")
    tried = [load(p) for p in sorted((ROOT / "claims" / TRIED).glob("*.yaml"))]
    tried_summary = read_csv(RESULTS / TRIED / "summary.csv")
    stale = []
    for doc in DOCS:
        text = doc.read_text()
        new = render(text, claims, summary, tried, tried_summary)
        if new != text:
            stale.append(doc)
            if not args.check:
                doc.write_text(new)
    if args.check and stale:
        print(f"claims_doc: {', '.join(str(d.relative_to(ROOT)) for d in stale)} not up to date with "
              f"docs/results/claims/: run python scripts/claims_doc.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

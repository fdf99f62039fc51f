"""What the benchmark scripts share: the commit that ran, and appending rows to a results CSV."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path


def commit_of(repo: Path) -> str:
    """The short commit of the checkout `repo`, with -dirty when its tracked files differ from it."""
    git = ["git", "-C", str(repo)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"], capture_output=True).returncode != 0
    return (head or "unknown") + ("-dirty" if dirty else "")


def append_rows(path: Path, rows: list[dict]) -> None:
    """Append `rows` to the CSV `path`; a file whose header lacks some of their columns is rewritten
    with them added at the end (its older rows left blank there)."""
    columns = list(rows[0])
    old: list[dict] | None = None
    if path.exists():
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            if any(c not in header for c in columns):
                old = list(reader)
        columns = header + [c for c in columns if c not in header]
        if old is None:
            with path.open("a", newline="") as f:
                csv.DictWriter(f, columns, restval="").writerows(rows)
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, columns, restval="")
        w.writeheader()
        w.writerows([*(old or []), *rows])

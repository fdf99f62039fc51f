"""The scripts' one way to write a table: a CSV with a header, to a file or to standard output."""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def write_rows(rows: list[dict], out: Path | None, columns: list[str] | None = None) -> None:
    """Write `rows` (columns: `columns`, or the first row's keys) to `out`, or to standard output."""
    handle = out.open("w", newline="") if out else sys.stdout
    try:
        writer = csv.DictWriter(handle, columns or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    finally:
        if out:
            handle.close()

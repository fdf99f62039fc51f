"""Where a run came from: the code that trained it (git commit, whether the tree was dirty, and the
diff), the versions of the libraries that decide what it learns, and the machine.

A finding is only as good as the code behind it: a claim's CSV rows carry the commit that trained
each run (lander_exp.tools.claim), and a run trained from an uncommitted tree says so, with the diff
kept beside it. Written into the run folder (`provenance.json`, one entry per process that trained
the run: a resume may run other code) and into the W&B config (`provenance`, this process's)."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

FILE = "provenance.json"
DIFF = "provenance_{n}.diff"  # the uncommitted change of the n-th process, beside provenance.json
LIBRARIES = ("torch", "gymnasium", "envpool", "numpy", "wandb")
SOURCE = Path(__file__).resolve().parents[2]  # the folder holding the lander_exp package (a git checkout, or not)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(SOURCE), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def code() -> dict:
    """The git commit of the package's checkout, whether tracked or untracked-and-not-ignored files
    differ from it, and the diff of the tracked ones (untracked files are listed by name)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": "unknown", "dirty": None, "source": str(SOURCE)}
    status = _git("status", "--porcelain", "--untracked-files=normal") or ""
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": commit.strip(), "dirty": bool(changed), "changed": changed,
            "diff": (_git("diff", "HEAD", "--binary") or "") if changed else ""}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> str | None:
    torch = sys.modules.get("torch")  # only if the run imported it: asking costs a CUDA init otherwise
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


@functools.cache
def collect() -> dict:
    """This process's provenance: code, versions, machine (once per process: a batch's seeds share it)."""
    versions = {"python": platform.python_version(), **{name: _version(name) for name in LIBRARIES}}
    return {**code(), "versions": versions, "cpu": _cpu(), "cpu_count": os.cpu_count(), "gpu": _gpu(),
            "platform": platform.platform()}


def record(run_dir: Path, entry: dict) -> dict:
    """Append `entry` (from `collect`) to the run folder's provenance.json, its diff to its own file;
    returns what the W&B config gets (no diff text: it names the diff's file)."""
    path = run_dir / FILE
    entries = json.loads(path.read_text()) if path.is_file() else []
    shown = {k: v for k, v in entry.items() if k != "diff"}
    if entry.get("diff"):
        diff_file = DIFF.format(n=len(entries))
        (run_dir / diff_file).write_text(entry["diff"])
        shown["diff_file"] = diff_file
    entries.append(shown)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(entries, indent=1))
        os.replace(tmp, path)
    except OSError:  # a full disk: no partial file left behind
        tmp.unlink(missing_ok=True)
        raise
    return shown


def read(run_dir: Path) -> list[dict]:
    """Every process's entry, oldest first; [] for a run trained before provenance was recorded."""
    path = run_dir / FILE
    return json.loads(path.read_text()) if path.is_file() else []


def commits(run_dir: Path) -> str:
    """The commit(s) that trained a run, as one CSV cell: `abc123…`, `abc…+dirty`, several joined by
    ` then `, or `unrecorded` for a run trained before provenance was kept."""
    seen: list[str] = []
    for e in read(run_dir):
        text = e.get("commit", "unknown")[:12] + ("+dirty" if e.get("dirty") else "")
        if text not in seen:
            seen.append(text)
    return " then ".join(seen) or "unrecorded"

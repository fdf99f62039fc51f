"""Provenance: a run records the commit of the code that trained it, whether that tree was dirty
(with the diff kept beside it), the libraries' versions and the machine, in its folder and in its
W&B config. Checked on a copy of this checkout made into a git repository of its own, so that
"clean" and "dirty" are states the test sets, whatever state the checkout under test is in."""

import json
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from lander_exp.run import provenance
from tests.conftest import ROOT, TINY, leet_records
from tests.processes import cli_env


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """This checkout's files (tracked and untracked-not-ignored, as they are now), committed into a new repository."""
    repo = tmp_path_factory.mktemp("checkout")
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot")
    return repo


def test_a_clean_tree_gives_its_commit_and_a_dirty_one_says_so_with_its_diff(checkout, monkeypatch):
    monkeypatch.setattr(provenance, "SOURCE", checkout)
    clean = provenance.code()
    assert clean == {"commit": git(checkout, "rev-parse", "HEAD"), "dirty": False, "changed": [], "diff": ""}
    target = checkout / "lander_exp" / "core" / "returns.py"
    original = target.read_text()
    try:
        target.write_text(original + "# a local change\n")
        (checkout / "notes.txt").write_text("untracked\n")
        dirty = provenance.code()
        assert dirty["commit"] == clean["commit"] and dirty["dirty"] is True
        assert sorted(dirty["changed"]) == ["lander_exp/core/returns.py", "notes.txt"]
        assert "+# a local change" in dirty["diff"]
    finally:
        target.write_text(original)
        (checkout / "notes.txt").unlink()
    monkeypatch.setattr(provenance, "SOURCE", checkout.parent)  # not a git checkout at all
    assert provenance.code()["commit"] == "unknown"


def test_a_run_from_a_dirty_tree_records_it_in_its_folder_and_its_wandb_config(checkout, tmp_path):
    target = checkout / "lander_exp" / "core" / "returns.py"
    original = target.read_text()
    target.write_text(original + "# trained from an uncommitted change\n")
    try:
        proc = subprocess.run([sys.executable, "-m", "lander_exp", *TINY, "train.max_epochs=1", "hydra.run.dir=runs/r"],
                              cwd=tmp_path, env=cli_env({"PYTHONPATH": str(checkout)}), capture_output=True, text=True,
                              timeout=300)
    finally:
        target.write_text(original)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "r"
    (entry,) = json.loads((run_dir / "provenance.json").read_text())
    assert entry["commit"] == git(checkout, "rev-parse", "HEAD") and entry["dirty"] is True
    assert entry["changed"] == ["lander_exp/core/returns.py"]
    assert "+# trained from an uncommitted change" in (run_dir / entry["diff_file"]).read_text()
    assert entry["versions"] == {"python": platform.python_version(),
                                 **{n: metadata.version(n) for n in ("torch", "gymnasium", "envpool", "numpy", "wandb")}}
    assert entry["cpu"] and entry["cpu_count"] >= 1
    (wandb_dir,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")
    header = next(r["run"] for r in leet_records(wandb_dir) if r["type"] == "run")
    logged = header["config"]["update"]["provenance"]
    assert logged["commit"] == entry["commit"] and logged["dirty"] is True and logged["diff_file"] == entry["diff_file"]
    assert provenance.commits(run_dir) == entry["commit"][:12] + "+dirty"

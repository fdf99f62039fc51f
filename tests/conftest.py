"""Shared helpers: compose configs like the CLI does, run the CLI in a subprocess, and read W&B
offline runs back with the real `wandb leet inspect --json`."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lander_exp.run import records
from lander_exp.run.preflight import compose_config

ROOT = Path(__file__).resolve().parent.parent

# A run small enough for a test: 2 envs, 2 short epochs, an evaluation after each.
TINY = ["env.num_envs=2", "algo.steps_per_epoch=512", "algo.batch_size=256", "algo.update_epochs=2",
        "network.hidden_dim=16", "train.max_epochs=2", "train.eval_every=1", "train.eval_episodes=2",
        "train.eval_envs=2", "env.max_episode_steps=100", "train.progress=false"]


def make_cfg(overrides: list[str] = ()):
    return compose_config(overrides)


def run_cli(args: list[str], cwd: Path, module: str = "lander_exp", timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    env.pop("WANDB_MODE", None)
    env.pop("WANDB_SERVICE", None)  # a W&B run in this process would otherwise share its service with the child
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def leet_records(run_dir: Path) -> list[dict]:
    """Every record of an offline W&B run, as `wandb leet inspect --json` prints them."""
    return records.leet_records(run_dir)


def leet_summary(run_dir: Path) -> dict:
    wandb_bin = Path(sys.executable).parent / "wandb"
    out = subprocess.run([str(wandb_bin), "leet", "inspect", "--summary", "--json", str(run_dir)],
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def history(records: list[dict]) -> list[dict]:
    return [r["history"]["item"] for r in records if r["type"] == "history"]


def _entries(folder: Path, depth: int = 3) -> set[str]:
    """The paths under `folder` down to `depth` levels (runs/<date>/<run>, runs/wandb/<run>, ...)."""
    if depth == 0 or not folder.is_dir():
        return set()
    out = set()
    for entry in folder.iterdir():
        out.add(entry.name)
        if entry.is_dir() and not entry.is_symlink():
            out.update(f"{entry.name}/{sub}" for sub in _entries(entry, depth - 1))
    return out


@pytest.fixture(scope="session", autouse=True)
def repo_runs_untouched():
    """Tests never write into the repository's own runs/ (the user's runs): the suite fails if
    anything appeared there while it ran (a relative `runs` resolved against the repository)."""
    runs = ROOT / "runs"
    before = _entries(runs)
    yield
    added = sorted(_entries(runs) - before)
    assert not added, (f"the tests wrote into the repository's {runs}: {added[:10]} (a test ran the CLI or a tool "
                       "with the repository as its current folder; training there during the suite also shows here)")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """An empty folder to run the CLI in, and the test's current folder: run folders and W&B files
    land under it, also those of a command called in this process (a relative `runs` resolves here)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_video_run(tmp_path_factory) -> tuple[Path, Path]:
    """(workdir, run folder) of one finished tiny PPO run with 3 evaluations and a video every 2,
    trained once for the tests that read a finished run (videos, analysis)."""
    workdir = tmp_path_factory.mktemp("tiny_video_run")
    proc = run_cli([*TINY, "train.max_epochs=3", "train.video_every=2"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((workdir / "runs").glob("*/*_ppo_s0"))
    return workdir, run_dir


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs of `size` at a new folder; unmounted when the test ends."""
    mounted = []

    def mount(name: str, size: str = "4m") -> Path:
        where = tmp_path / name
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"a full disk needs a small filesystem of its own, and mounting a tmpfs failed (run the tests "
                        f"as root, with CAP_SYS_ADMIN): {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Take every byte left on the disk of `folder`; the file that does is returned (delete it to free them)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as ex:
            assert ex.errno == errno.ENOSPC
    return filler

"""Checkpoints in a run folder: written atomically (a crash mid-write leaves the previous one), the
newest N kept, and loadable with the config that produced them."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from lander_exp.config import ConfigError

PATTERN = "epoch_*.pt"


def save(run_dir: Path, epoch: int, state: dict, keep: int) -> Path:
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch_{epoch:06d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in sorted(folder.glob(PATTERN))[:-keep]:
        old.unlink()
    return path


def latest(run_dir: Path) -> Path:
    found = sorted((run_dir / "checkpoints").glob(PATTERN))
    if not found:
        raise ConfigError(f"{run_dir} holds no checkpoint (looked for checkpoints/{PATTERN}): pass a run folder "
                          "that has been evaluated at least once")
    return found[-1]


def load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as ex:
        raise ConfigError(f"checkpoint {path} cannot be read ({type(ex).__name__}): it is corrupted or "
                          "not a lander_exp checkpoint") from None

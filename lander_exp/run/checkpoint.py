"""Checkpoints in a run folder: written atomically (a crash mid-write leaves the previous one), the
newest N kept, and loadable with the config that produced them.

A checkpoint holds everything a resume needs (see `lander_exp.resume`): the algorithm's weights,
optimizers and RNG states, torch's global RNG, the step/episode counters, the eval history, the
config, and every metrics row logged so far (so an offline W&B run can be rebuilt without gaps).

Checkpoints hold plain data only (tensors, numbers, strings, lists, dicts; numpy arrays are stored as
tensors) and are opened with `weights_only=True`: opening a checkpoint someone shared runs no code.

torch is imported where a checkpoint is written or read, not with the module: the commands that only
look at run folders (`runs list`, a resume of a mistyped folder) answer in a second."""

from __future__ import annotations

import fcntl
import os
import pickle
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lander_exp.config import ConfigError

PATTERN = "epoch_*.pt"
DEBUG_PREFIX = "debug_"  # written when a run fails; never picked by `latest` (a resume must not start there)
LOCK = ".lock"  # in the run folder, held by the process training there
REQUIRED = ("epoch", "global_step", "episodes", "eval_history", "algo", "config")


def _plain(value):
    """`value` with numpy arrays and scalars turned into tensors and Python numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write(path: Path, state: dict) -> None:
    """Write to a temporary file, flush it to disk, then rename: readers see the old file or the new."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(_plain(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, a kill signal's exception: no partial file left behind
        tmp.unlink(missing_ok=True)
        raise


def save(run_dir: Path, epoch: int, state: dict, keep: int) -> Path:
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch_{epoch:06d}.pt"
    _write(path, state)
    for old in sorted(folder.glob(PATTERN))[:-keep]:
        old.unlink()
    return path


def save_debug(run_dir: Path, epoch: int, state: dict) -> Path:
    """The state of a failed run, for post-mortem: kept apart from the resumable checkpoints."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{DEBUG_PREFIX}epoch_{epoch:06d}.pt"
    _write(path, state)
    return path


def latest(run_dir: Path) -> Path:
    found = sorted((run_dir / "checkpoints").glob(PATTERN))
    if not found:
        raise ConfigError(f"{run_dir} holds no checkpoint (looked for checkpoints/{PATTERN}): pass a run folder "
                          "that has been evaluated at least once")
    return found[-1]


def load(path: Path) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as ex:
        why = next((line.strip() for line in str(ex).splitlines() if "GLOBAL" in line or "Unsupported" in line),
                   "objects of unknown types")
        raise ConfigError(f"checkpoint {path} holds more than plain data ({why}) and was not opened, since opening "
                          "it could run code: use checkpoints written by lander_exp") from None
    except Exception as ex:
        raise ConfigError(f"checkpoint {path} cannot be read ({type(ex).__name__}): it is corrupted or "
                          "not a lander_exp checkpoint") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        raise ConfigError(f"checkpoint {path} is not a lander_exp checkpoint (it lacks "
                          f"{', '.join(k for k in REQUIRED if not isinstance(state, dict) or k not in state)})")
    return state


def busy(run_dir: Path) -> bool:
    """Whether a live process holds `run_dir`'s lock (see `owned`); creates nothing."""
    try:
        f = open(run_dir / LOCK)
    except OSError:  # no lock file (or no folder): nobody has trained there
        return False
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


@contextmanager
def owned(run_dir: Path):
    """Hold the run folder's lock while training in it: a second process (say, a resume started while
    the run is still alive) fails with one line instead of writing into the same folder. The OS drops
    the lock when its process dies, even by SIGKILL."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{run_dir} is in use by another lander_exp process: wait for it to end, or stop it "
                              "(Ctrl-C or kill) and resume") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

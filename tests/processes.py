"""Training processes a test can signal or kill, and readers for what they leave behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lander_exp.run import checkpoint
from tests.conftest import ROOT, TINY, history, leet_records

# TINY with room to be interrupted: checkpoints every 2 epochs; one torch thread keeps runs from
# fighting over the cores (and results do not depend on the thread count chosen by torch).
RUN = [*TINY, "train.max_epochs=10", "train.eval_every=2", "train.torch_threads=1"]
WALL_KEYS = ("_runtime", "_timestamp")  # W&B's own clock


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    env.pop("WANDB_MODE", None)
    env.pop("WANDB_SERVICE", None)  # a W&B run in this process would otherwise share its service with the child
    env.update(extra or {})
    return env


def default_sigint() -> None:
    """In a child: SIGINT as a terminal's foreground job has it. A suite started in the background
    (`cmd &` in a script, `nohup`) ignores SIGINT, and every child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(args: list[str], cwd: Path, module: str = "lander_exp", env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def run_folder(workdir: Path) -> Path | None:
    found = sorted((workdir / "runs").glob("20*/*_s*"))
    return found[-1] if found else None


def newest_epoch(workdir: Path) -> int:
    """Epoch of the newest complete checkpoint, 0 if none yet."""
    run_dir = run_folder(workdir)
    found = checkpoint.checkpoints(run_dir) if run_dir else []
    return checkpoint.epoch_of(found[-1]) if found else 0


def wait_for(condition, proc: subprocess.Popen, timeout: float = 180) -> bool:
    """Poll until `condition()` holds (True) or the process has ended (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise TimeoutError("the training process made no progress")


def wandb_runs(workdir: Path) -> list[Path]:
    return sorted((workdir / "runs" / "wandb").glob("offline-run-*"))


def metric_rows(wandb_dir: Path) -> list[dict]:
    """History rows without wall-clock values (perf/*, W&B's runtime): what must be reproducible."""
    return [{k: v for k, v in row.items() if not k.startswith("perf/") and k not in WALL_KEYS}
            for row in history(leet_records(wandb_dir))]


def exit_code(wandb_dir: Path) -> int | None:
    return next((r["exit"].get("exit_code", 0) for r in leet_records(wandb_dir) if r["type"] == "exit"), None)


def load(path: Path) -> dict:
    return checkpoint.load(path)


def ckpt(run_dir: Path, epoch: int) -> Path:
    """The checkpoint file of `epoch` in a run folder."""
    return run_dir / "checkpoints" / f"epoch_{epoch:06d}{checkpoint.SUFFIX}"


def assert_same_state(a, b, where: str = "checkpoint", skip: tuple[str, ...] = ("wall_s", "id"), close: bool = False) -> None:
    """Equality of two checkpoint trees, tensors included: exact, or with `close` floats to 1e-5; the
    keys in `skip` (wall-clock values, the W&B run id) and perf/* are skipped."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, set(a) ^ set(b))
        for k in a:
            if k in skip or str(k).startswith("perf/"):
                continue
            assert_same_state(a[k], b[k], f"{where}.{k}", skip, close)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]", skip, close)
    elif isinstance(a, torch.Tensor):
        if close and a.is_floating_point():
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=where)
        else:
            assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        if close and a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=where)
        else:
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    else:
        assert a == b or (a != a and b != b), (where, a, b)  # NaN == NaN here

"""Why a run ends early, and how: on a signal (finish the epoch, checkpoint, exit 128+signum), on a
non-finite number (debug checkpoint, W&B run marked failed, exit 1), or on a full disk (exit 75). `__main__` turns a `RunStopped`
into its one-line message and exit code."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from lander_exp.shell import DISK_FULL_EXIT

if TYPE_CHECKING:  # torch stays unimported until a run starts: a config error answers in a second
    from torch import nn

# Set by a sweep that runs this process: what running the sweep again does with a run stopped early
# (it restarts the point, or draws new trials). A stopped run says that instead of its resume command.
SWEEP_ENV = "LANDER_EXP_SWEEP_AFTER_STOP"


def how_to_continue(resume_command: str, lead: str = "continue with") -> str:
    """The end of a stopped run's message: the resume command, or what the sweep running it will do."""
    return os.environ.get(SWEEP_ENV) or f"{lead}: {resume_command}"


class RunStopped(Exception):
    """A run that ended before its stop criterion; `exit_code` is what the process should return,
    `summary` what the run got to (as train.run's summary; {} where it was not gathered). All travel
    in `args`, so the exception survives pickling (joblib workers send it back)."""

    reason = "stopped"  # the summary's stop_reason when the raiser gave no summary

    def __init__(self, message: str, exit_code: int = 1, summary: dict | None = None):
        super().__init__(message, exit_code, summary or {})
        self.exit_code = exit_code
        self.summary = summary or {}

    def __str__(self) -> str:
        return self.args[0]


class Interrupted(RunStopped):
    """Stopped on purpose by a signal; exit code 128 + signum (130 for SIGINT, 143 for SIGTERM).
    Its summary's stop_reason is the signal's name."""

    reason = "signal"


class NonFiniteError(RunStopped):
    """A loss, gradient norm or parameter stopped being finite; exit code 1."""

    reason = "non_finite"


class DiskFull(RunStopped):
    """A disk the run writes to is full (lander_exp.run.disk): it stopped at its last good checkpoint and
    can be resumed once space is freed; exit code 75 (sysexits' EX_TEMPFAIL: try again later)."""

    reason = "disk_full"
    EXIT_CODE = DISK_FULL_EXIT


class StopSignals:
    """Between `install()` and `uninstall()`, SIGINT, SIGTERM and SIGUSR2 only set `signum`: the loop
    finishes its epoch, checkpoints and ends the run cleanly. A second SIGINT exits at once (130).
    SIGUSR2 is the warning SLURM sends before a job's time limit when submitit asks for it
    (`--signal=USR2@signal_delay_s`); lander_exp.run.slurm then requeues the job to continue the run."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            print("\nlander_exp: second interrupt: exiting now, without a checkpoint", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.signum = signum
        print(f"\nlander_exp: {signal.Signals(signum).name} received: stopping after this epoch with a checkpoint "
              "(Ctrl-C again to quit at once)", file=sys.stderr, flush=True)

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():  # Python allows handlers only there
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)

    def uninstall(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.signum is not None


def first_nonfinite(metrics: dict[str, float], model: nn.Module) -> str | None:
    """The name of the first non-finite loss, gradient norm or parameter, or None if all are finite.

    Cheap by design: the algorithm's per-minibatch losses and gradient norms arrive as epoch means
    (a NaN or inf in any minibatch makes its mean non-finite), so the hot loop has no check of its
    own; the parameters are checked once per epoch, all in one reduction (REINFORCE's epoch is one
    episode: a check per parameter tensor cost a third of a millisecond), then one by one to name
    the culprit."""
    import torch

    for key, value in metrics.items():
        if key.startswith("train/") and ("loss" in key or key.startswith("train/grad_norm/")) and not math.isfinite(value):
            return f"{key}={value}"
    with torch.no_grad():
        if bool(torch.cat([p.reshape(-1) for p in model.parameters()]).isfinite().all()):
            return None
    for name, param in model.named_parameters():
        finite = param.isfinite()
        if not finite.all():
            return f"parameter {name} (non-finite entries: {int((~finite).sum())})"
    return None

"""SLURM jobs that outlive their time limit: Hydra's submitit launcher, requeueing a job only once
its run has checkpointed.

SLURM sends SIGUSR2 `signal_delay_s` before a job's time limit (submitit asks for it). submitit's
own handler would requeue at once, mid-epoch; instead the training loop catches the signal like
SIGTERM (stopping.StopSignals; before the loop starts, the signal is held for it), finishes its
epoch and checkpoints, and then this launcher hands the signal to submitit's handler. That calls
`checkpoint()`, which here returns "resume this run folder", and requeues the job: the requeued job
continues the same run folder and W&B run, as `python -m lander_exp.resume RUN_DIR` would, as often
as submitit's `max_num_timeout` allows."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher

from lander_exp.run.stopping import Interrupted


def requeue_signal() -> signal.Signals:
    """The signal submitit requeues on (SUBMITIT_PREEMPT_SIGNAL, USR2 unless set)."""
    return signal.Signals["SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")]


def _redeliver(signum, frame) -> None:
    """Before the training loop takes the signal over: send it again in 2 s (see hold_signal)."""
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def hold_signal():
    """Hold the requeue signal until the training loop takes it over (stopping.StopSignals): one that
    arrives while the job sets up (Hydra, envs, W&B, a resume rebuilding its W&B run) is sent again
    every 2 s, so that the run stops after its first epoch with a checkpoint, rather than the job being
    requeued with no progress made. Returns submitit's handler, which hand_over() calls."""
    sig = requeue_signal()
    submitit_handler = signal.getsignal(sig)
    signal.signal(sig, _redeliver)
    return submitit_handler


def hand_over(ret: JobReturn, submitit_handler) -> JobReturn:
    """A job whose run stopped on the requeue signal: let submitit checkpoint and requeue it now (its
    handler exits the process). Any other job is over: a warning arriving while it exits must neither
    requeue it nor kill it (SLURM may send it up to a minute early), so the signal is ignored from here."""
    sig = requeue_signal()
    signal.signal(sig, signal.SIG_IGN)
    stopped = ret._return_value if ret.status == JobStatus.FAILED else None
    if isinstance(stopped, Interrupted) and stopped.exit_code == 128 + sig and callable(submitit_handler):
        submitit_handler(sig, None)
    return ret


class ResumedRun:
    """What a requeued job runs: its run folder's training, continued from the newest checkpoint."""

    def __init__(self, run_dir: Path, ret: JobReturn):
        self.run_dir = run_dir
        self.overrides, self.hydra_cfg, self.task_name = ret.overrides, ret.hydra_cfg, ret.task_name

    def __call__(self) -> JobReturn:
        from lander_exp.run import checkpoint, train
        from lander_exp.run.resume import load_resumable, set_aside

        submitit_handler = hold_signal()
        ret = JobReturn(overrides=self.overrides, hydra_cfg=self.hydra_cfg, task_name=self.task_name,
                        working_dir=os.getcwd())
        try:
            r = load_resumable(self.run_dir, say=lambda line: print(f"lander_exp: {line}", flush=True))
            ret.cfg = r.cfg
            print(f"lander_exp: requeued job: resuming {self.run_dir} after epoch {r.state['epoch']}", flush=True)
            with checkpoint.owned(self.run_dir):
                set_aside(r, lambda line: print(f"lander_exp: {line}", flush=True))
                ret.return_value = train.run(r.cfg, self.run_dir, resume=r.state).get("eval_return_ma")
            ret.status = JobStatus.COMPLETED
        except Exception as ex:
            ret.return_value, ret.status = ex, JobStatus.FAILED
        return hand_over(ret, submitit_handler)

    def checkpoint(self) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self)


class SlurmLauncher(SubmititSlurmLauncher):
    """`hydra/launcher=slurm`: hydra-submitit-launcher's, with the requeue above."""

    run_dir: Path | None = None
    job_return: JobReturn | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        submitit_handler = hold_signal()
        ret = super().__call__(*args, **kwargs)
        self.run_dir, self.job_return = Path(ret.hydra_cfg.hydra.runtime.output_dir), ret
        return hand_over(ret, submitit_handler)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        if self.run_dir is None:  # not reached through hand_over (which comes after the run): start it again
            return super().checkpoint(*args, **kwargs)
        return submitit.helpers.DelayedSubmission(ResumedRun(self.run_dir, self.job_return))

"""Stopping on purpose (SIGTERM, SIGINT twice) and failing loudly (a run that really diverges)."""

import json
import math
import re
import signal
import subprocess
import time

import numpy as np
import torch

from lander_exp.run import checkpoint
from lander_exp.run.stopping import first_nonfinite
from tests.conftest import ROOT, TINY, leet_summary, make_cfg, run_cli
from tests.processes import RUN, exit_code, load, metric_rows, newest_epoch, run_folder, spawn, wait_for, wandb_runs

# A learning rate that diverges within the first epoch (the largest initial log std validation allows)
DIVERGES = ["lr.actor=0.9", "algo.entropy_coef=10", "algo.batch_size=16", "algo.update_epochs=4", "algo.init_log_std=2"]


def test_sigterm_finishes_the_epoch_checkpoints_closes_wandb_and_exits_143_then_resumes(workdir):
    proc = spawn([*RUN, "seed=4"], cwd=workdir)
    assert wait_for(lambda: newest_epoch(workdir) >= 2, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    m = re.search(r"stopped by SIGTERM after epoch (\d+), checkpoint written; continue with: (.+)", err)
    stopped_at, printed = int(m.group(1)), m.group(2)
    assert stopped_at < 10 and newest_epoch(workdir) == stopped_at  # a checkpoint even off the eval schedule
    (first_wandb,) = wandb_runs(workdir)
    assert exit_code(first_wandb) == 143
    before = metric_rows(first_wandb)
    assert [r["epoch"] for r in before] == list(range(1, stopped_at + 1))
    # the run says where it went and how it ended, on the terminal and in its W&B summary
    run_dir = run_folder(workdir)
    assert f"run ended (SIGTERM) after {stopped_at} epochs, {stopped_at * 512:,} env steps" in out
    assert f"  run folder: {run_dir.relative_to(workdir)}\n" in out and f"W&B run: runs/wandb/{first_wandb.name}" in out
    stopped = leet_summary(first_wandb)["summary"]
    assert (stopped["stop_reason"], stopped["epochs"], stopped["global_step"]) == ("SIGTERM", stopped_at, stopped_at * 512)

    # the printed command works as printed, in a shell whose `python` is not the one that trained
    shell = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}  # this checkout
    resumed = subprocess.run(printed, shell=True, cwd=workdir, env=shell, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, (printed, resumed.stderr[-3000:])
    assert "run ended (max_epochs) after 10 epochs, 5,120 env steps" in resumed.stdout
    (wandb_dir,) = wandb_runs(workdir)
    after = metric_rows(wandb_dir)
    assert [r["_step"] for r in after] == list(range(10)) and after[:stopped_at] == before
    assert exit_code(wandb_dir) == 0 and leet_summary(wandb_dir)["summary"]["epochs"] == 10


def wandb_started(run_dir) -> bool:
    """Whether the run's W&B run has started (wandb_run.json names its folder once wandb.init returned)."""
    try:
        return bool(json.loads((run_dir / "wandb_run.json").read_text())["dir"])
    except (TypeError, OSError, ValueError):  # no run folder yet, no file yet, or a file being written
        return False


def test_a_second_ctrl_c_exits_at_once(workdir):
    proc = spawn([*RUN, "algo.steps_per_epoch=40000"], cwd=workdir)  # epochs of several seconds
    assert wait_for(lambda: wandb_started(run_folder(workdir)), proc)
    time.sleep(1.0)  # into the first epoch
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)  # two signals at the same instant reach Python's handler as one
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err[-3000:]
    assert "SIGINT received: stopping after this epoch" in err and "second interrupt: exiting now" in err
    assert newest_epoch(workdir) == 0  # it did not wait for the epoch to end


def test_a_diverging_run_stops_naming_the_metric_and_step_with_a_debug_checkpoint_and_a_failed_wandb_run(workdir):
    # a real overflow, no test-only switch: Adam moves log_std by about lr.actor per step whatever the
    # gradient's size, and the entropy bonus pushes it up: 0.9 x 128 steps in the first epoch takes it
    # from 2 past 88, where exp() overflows float32, so the policy's std is inf and the log-density NaN.
    proc = run_cli([*TINY, "train.max_epochs=3", *DIVERGES], cwd=workdir)
    assert proc.returncode == 1, proc.stderr[-3000:]
    m = re.search(r"lander_exp: non-finite (train/\S+)=(nan|inf|-inf) at global_step (\d+) \(epoch (\d+)\); the state "
                  r"after that epoch is in (\S+)\.", proc.stderr)
    assert m, proc.stderr[-3000:]
    metric, step, epoch = m.group(1), int(m.group(3)), int(m.group(4))
    run_dir = run_folder(workdir)
    debug = load(run_dir / "checkpoints" / f"debug_epoch_{epoch:06d}.safetensors")
    assert debug["global_step"] == step == 512 * epoch
    assert not all(torch.isfinite(p).all() for p in debug["algo"]["model"].values())
    assert newest_epoch(workdir) == epoch - 1  # only good checkpoints are resumable
    (wandb_dir,) = wandb_runs(workdir)
    assert exit_code(wandb_dir) == 1
    assert leet_summary(wandb_dir)["summary"]["stop_reason"] == "non_finite"
    assert "run ended (non_finite)" in proc.stdout and f"run folder: {run_dir.relative_to(workdir)}" in proc.stdout
    last = metric_rows(wandb_dir)[-1]
    assert last["global_step"] == step and not math.isfinite(float(last[metric]))


def test_first_nonfinite_names_losses_gradients_and_parameters_but_not_other_metrics():
    model = torch.nn.Linear(2, 1)
    fine = {"train/loss": 1.0, "train/grad_norm/actor": 0.5, "train/explained_variance": float("nan")}
    assert first_nonfinite(fine, model) is None  # explained variance is NaN by definition on constant returns
    assert first_nonfinite({**fine, "train/grad_norm/critic": float("inf")}, model) == "train/grad_norm/critic=inf"
    assert first_nonfinite({**fine, "train/critic_loss": float("nan")}, model) == "train/critic_loss=nan"
    with torch.no_grad():
        model.bias.fill_(float("nan"))
    assert first_nonfinite(fine, model) == "parameter bias (non-finite entries: 1)"


def test_a_screened_evaluation_stops_early_only_where_the_target_is_out_of_reach():
    """train.eval_screen: the first episodes decide whether the rest are played. A policy far below
    the target plays the screen alone; one that might reach it plays every episode, the same ones an
    unscreened evaluation plays."""
    from lander_exp.core.algorithm import make_algo
    from lander_exp.envs.vec import VecEnv
    from lander_exp.run.train import evaluate

    cfg = make_cfg(["experiment=fast"])
    env = VecEnv(cfg.env, 12, seed=0, autoreset="same_step")
    algo = make_algo(cfg, env.obs_dim, env.single_action_space, torch.device("cpu"))  # untrained: far below 220
    full = evaluate(algo, env, 12)
    assert full.returns.mean() < 0
    assert len(evaluate(algo, env, 12, screen=4, target=220.0)) == 4
    reachable = float(evaluate(algo, env, 4).returns.mean())  # a target the first four make: everything is played
    screened = evaluate(algo, env, 12, screen=4, target=reachable)
    assert len(screened) == 12
    np.testing.assert_array_equal(np.sort(screened.returns), np.sort(full.returns))


def test_ctrl_c_of_make_train_ends_with_the_runs_own_lines_and_no_make_error(tmp_path):
    """`make train` in a terminal (a pty), Ctrl-C once: the run stops with a checkpoint and says how to
    resume; make adds no `*** ... Error 130` or `Interrupt` line, and still ends by the SIGINT."""
    import os
    import pty
    import select
    import shlex
    import sys
    import time
    from pathlib import Path

    from tests.conftest import ROOT

    venv = Path(sys.executable).parent.parent  # the venv running the tests: nothing is installed (-o)
    args = [*RUN, "train.max_epochs=100", f"tracker.dir={tmp_path}/runs", f"hydra.run.dir={tmp_path}/run"]
    command = ["make", "-s", "-C", str(ROOT), f"VENV={venv}", "-o", f"{venv}/.installed", "train",
               f"ARGS={shlex.join(args)}"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal, as a user's shell
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a terminal's foreground job, whatever started the suite
        os.environ.update(WANDB_SILENT="true", PYTHONPATH=str(ROOT))
        os.chdir(tmp_path)
        os.execvp("make", command)
    output, deadline, interrupted = b"", time.monotonic() + 240, False
    while time.monotonic() < deadline:
        if not interrupted and checkpoint.checkpoints(tmp_path / "run"):
            os.write(fd, b"\x03")  # Ctrl-C, as the terminal sends it to the whole foreground group
            interrupted = True
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child's side closed: it ended
                break
            if not chunk:
                break
            output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert interrupted and "stopped by SIGINT after epoch" in text and "lander_exp.resume" in text, text[-3000:]
    assert "make:" not in text and "Error 130" not in text, text[-3000:]
    assert os.waitstatus_to_exitcode(status) == -signal.SIGINT  # the caller still sees the interruption

"""The Hydra entry point: compose, validate before anything is made, then train.

A config that fails validation leaves no run behind: the folder Hydra made for the job is removed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from lander_exp.config import ConfigError, register, validate
from lander_exp.run.help import register_help
from lander_exp.run.presets import CONF_DIR, current_names

register()
register_help()


def _remove_job_dir(job_dir: Path) -> None:
    """Delete the folder Hydra made for a job that never started, and its parents while empty."""
    shutil.rmtree(job_dir, ignore_errors=True)
    for parent in job_dir.parents:
        try:
            parent.rmdir()
        except OSError:
            break


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    try:
        validate(cfg)  # already passed in preflight; this types the algo node
    except ConfigError:
        _remove_job_dir(run_dir)
        raise
    if cfg.tracker.mode.value != "disabled":
        from lander_exp.run import tracking

        tracking.start_service()  # comes up while PyTorch is imported below
    from lander_exp.run import checkpoint, train, trial
    from lander_exp.run.stopping import RunStopped
    from lander_exp.run.summary import print_summary

    choices = current_names({k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")})
    try:
        if cfg.seeds:
            return _batch(cfg, run_dir, choices)
        with checkpoint.owned(run_dir):
            summary = train.run(cfg, run_dir, choices=choices, on_eval=trial.from_env())
    except RunStopped as ex:
        if not cfg.seeds:  # a batch's seeds have each said how they ended (run/batch.report)
            print_summary({"stop_reason": ex.reason, **ex.summary}, run_dir)
        if hc.mode == RunMode.MULTIRUN:
            raise  # the launcher reports which job stopped; __main__ prints the line and exits
        # one run: exit here, before Hydra adds its "Error executing job" line to ours
        print(f"lander_exp: {ex}", file=sys.stderr)
        raise SystemExit(ex.exit_code) from None
    print_summary(summary, run_dir)
    return summary.get("eval_return_ma")


def _batch(cfg: DictConfig, batch_dir: Path, choices: dict[str, str]) -> float | None:
    """`seeds=[...]`: every seed's run in BATCH_DIR/s<seed>, trained in this process (run/batch.py)."""
    import time

    from lander_exp.run import batch
    from lander_exp.run.stopping import how_to_continue
    from lander_exp.shell import python_command, shown

    members = batch.members_of(cfg, batch_dir, choices)
    started = time.perf_counter()
    outcomes = batch.run(members)
    stopped = batch.report(members, outcomes, started)
    if stopped is not None:
        count = sum(not isinstance(o, dict) for o in outcomes)
        raise type(stopped)(f"{count} of {len(members)} seeds stopped early (lines above); "
                            f"{how_to_continue(python_command('lander_exp.resume', shown(batch_dir)), 'continue them with')}",
                            stopped.exit_code)
    values = [o.get("eval_return_ma") for o in outcomes]
    return None if None in values else sum(values) / len(values)

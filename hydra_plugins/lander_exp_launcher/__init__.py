"""`-m hydra/launcher=batched seed=0,1,2,3,4`: a Hydra launcher that trains the jobs of a multirun that
differ only in their seed together in one process (lander_exp.run.batch), each still its own job: its
own folder (hydra.sweep.subdir), .hydra/ files, config.yaml, checkpoints and W&B run.

Hydra finds launchers only in the `hydra_plugins` namespace package, hence this package; its config
is conf/hydra/launcher/batched.yaml."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, open_dict


def _seedless(overrides: Sequence[str]) -> tuple[str, ...]:
    """A job's overrides without its seed: the jobs of one batch share them."""
    return tuple(sorted(o for o in overrides if not o.split("=", 1)[0].lstrip("+~") == "seed"))


def _member(cfg: DictConfig):
    """Hydra's job, run by `run_job` (which makes its folder and .hydra/ files): the run to train."""
    from hydra.core.hydra_config import HydraConfig

    from lander_exp.config import ConfigError, validate
    from lander_exp.run.batch import Member

    validate(cfg)
    if cfg.seeds:
        raise ConfigError("hydra/launcher=batched batches the seed axis of a multirun: write -m seed=0,1,2 "
                          "instead of seeds=[...]")
    hc = HydraConfig.get()
    return Member(cfg, Path(hc.runtime.output_dir), {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")})


class BatchedLauncher(Launcher):
    def __init__(self) -> None:
        self.config = self.hydra_context = self.task_function = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from lander_exp.run import batch

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        returns: list[JobReturn] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = sweep_config.hydra.job.num = idx
            ret = run_job(hydra_context=self.hydra_context, task_function=_member, config=sweep_config,
                          job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
            ret.return_value  # noqa: B018 (raises the job's error, e.g. a bad config)
            returns.append(ret)
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        groups: dict[tuple[str, ...], list[JobReturn]] = {}
        for ret in returns:
            groups.setdefault(_seedless(ret.overrides), []).append(ret)
        for group in groups.values():
            seeds = ",".join(str(ret.return_value.cfg.seed) for ret in group)
            shared = " ".join(filter_overrides(_seedless(group[0].overrides)))
            print(f"[batched launcher] seeds {seeds} in one process: {shared}", flush=True)
            members = [ret.return_value for ret in group]
            for ret, outcome in zip(group, batch.run(members), strict=True):
                if isinstance(outcome, dict):
                    ret.return_value = outcome.get("eval_return_ma")
                else:
                    ret.status, ret.return_value = JobStatus.FAILED, outcome
        return returns

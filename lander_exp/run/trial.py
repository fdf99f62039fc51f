"""A training run's side of an Optuna trial (`python -m lander_exp.sweep` with a study): after each
evaluation it reports the sweep's metric as the trial's intermediate value and asks the study's
pruner whether to go on; a pruned run ends there with stop_reason "pruned". The sweep runner names
the trial in the environment (TRIAL_ENV), as W&B's agent names its sweep, so a run started by hand
is untouched."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

TRIAL_ENV = "LANDER_EXP_TRIAL"
PRUNED = "pruned"  # the run's stop_reason in its W&B summary


class PrunerError(ValueError):
    """An early_terminate this module cannot map; the message is one line."""


def pruner(early_terminate: dict | None):
    """W&B's `early_terminate: {type: hyperband, ...}` as Optuna's successive halving, which is what W&B's
    hyperband does within one bracket: at the rungs min_iter * eta^k (counted in evaluations), a run that
    is not in the best 1/eta of the runs that reached that rung stops. With max_iter and s instead of
    min_iter, the first rung is max_iter / eta^s, as in W&B. None: no pruning."""
    import optuna

    if not early_terminate:
        return optuna.pruners.NopPruner()
    et = dict(early_terminate)
    if et.get("type") != "hyperband":
        raise PrunerError(f"early_terminate type {et.get('type')!r} is not supported: use type: hyperband")
    eta = et.get("eta", 3)
    if "min_iter" in et:
        first = et["min_iter"]
    elif "max_iter" in et and "s" in et:
        first = max(1, round(et["max_iter"] / eta ** et["s"]))
    else:
        raise PrunerError("early_terminate hyperband needs min_iter, or max_iter and s")
    if not all(isinstance(x, int) and x >= 1 for x in (first, eta)) or eta < 2:
        raise PrunerError(f"early_terminate hyperband needs whole numbers min_iter >= 1 and eta >= 2, got {et}")
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=eta)


def storage(path: str):
    """The study's storage: Optuna's journal file, which several processes (or SLURM jobs on a shared
    file system) append to under a file lock."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


def environment(journal: str, study: str, trial_id: int, metric: str, early_terminate: dict | None) -> dict[str, str]:
    return {TRIAL_ENV: json.dumps({"storage": journal, "study": study, "trial_id": trial_id, "metric": metric,
                                   "early_terminate": early_terminate})}


def from_env() -> Callable[[int, dict], str | None] | None:
    """The train loop's `on_eval` hook for the trial named in TRIAL_ENV, or None outside a study."""
    text = os.environ.get(TRIAL_ENV)
    if not text:
        return None
    import optuna

    info = json.loads(text)
    study = optuna.load_study(study_name=info["study"], storage=storage(info["storage"]),
                              pruner=pruner(info["early_terminate"]))
    trial = optuna.trial.Trial(study, info["trial_id"])

    def on_eval(evaluation: int, metrics: dict) -> str | None:
        value = metrics.get(info["metric"])
        if not isinstance(value, (int, float)):
            return None
        trial.report(float(value), evaluation)
        return PRUNED if trial.should_prune() else None

    return on_eval

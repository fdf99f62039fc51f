"""A sweep file run as an Optuna study, with no W&B server: `method: bayes` (TPE), and `random` or
`grid` with `--optuna`; `early_terminate` becomes Optuna's pruner (lander_exp.run.trial).

The sweep file stays the one source of truth: its `parameters` map to Optuna distributions and its
`metric` to the study's direction, here. The study lives in the sweep folder (`optuna.journal`, a file
that processes and SLURM jobs share under a lock), so rerunning the command continues it and any
number of workers, local or on a cluster, join it. Each trial is a normal `python -m lander_exp` run
folder and offline W&B run in the sweep's group, its point composed and validated before it starts."""

from __future__ import annotations

import fcntl
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from lander_exp.run import trial as run_trial
from lander_exp.tools import sweep_runner
from lander_exp.tools.sweep_spec import Point, Spec, SweepError

JOURNAL = "optuna.journal"  # in the sweep folder
LOCK = "optuna.lock"  # held while a worker counts the trials and asks for a new one
TRIAL_LOCK = ".trial.lock"  # in a trial's run folder, held by the worker running it
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---- the sweep file as Optuna's search space -----------------------------------------------------------
def _distribution(key: str, p: dict):
    """One W&B parameter as an Optuna distribution; None for a constant (`value`)."""
    from lander_exp.tools.sweep_spec import _distribution as wandb_name

    if "value" in p:
        return None
    if "values" in p:
        return CategoricalDistribution(p["values"])
    d, lo, hi, q = wandb_name(p), p.get("min"), p.get("max"), p.get("q", 1)
    ints = all(isinstance(x, int) and not isinstance(x, bool) for x in (lo, hi, q))
    if d == "int_uniform":
        return IntDistribution(lo, hi)
    if d == "uniform":
        return FloatDistribution(lo, hi)
    if d == "q_uniform":  # on the grid min, min+q, ... (W&B's grid starts at 0)
        return IntDistribution(lo, hi, step=q) if ints else FloatDistribution(lo, hi, step=q)
    if d == "log_uniform":  # W&B's min and max are natural-log exponents
        return FloatDistribution(math.exp(lo), math.exp(hi), log=True)
    if d == "log_uniform_values":
        return FloatDistribution(lo, hi, log=True)
    if d == "q_log_uniform_values":  # Optuna has no step on a log scale: drawn log-uniform, then rounded to q
        return IntDistribution(lo, hi, log=True) if ints and q == 1 else FloatDistribution(lo, hi, log=True)
    raise SweepError(f"{key}: distribution {d} has no Optuna equivalent (it is unbounded): use uniform, "
                     "log_uniform_values or int_uniform with min and max")


def search_space(spec: Spec) -> dict:
    """{key: Optuna distribution} of the swept parameters (constants are left out)."""
    space = {}
    for key, p in spec.parameters.items():
        try:
            d = _distribution(key, p)
        except SweepError as ex:
            raise SweepError(f"{spec.path}: parameter {ex}") from None
        if d is not None:
            space[key] = d
    if not space:
        raise SweepError(f"{spec.path}: every parameter is a constant: nothing to search")
    return space


def point(spec: Spec, params: dict) -> Point:
    """A trial's parameters as a point of the sweep, in the file's order, constants included."""
    values = []
    for key, p in spec.parameters.items():
        v = p["value"] if "value" in p else params[key]
        if p.get("distribution") == "q_log_uniform_values" and isinstance(v, float):
            v = round(v / p.get("q", 1)) * p.get("q", 1)
        values.append((key, v))
    return Point(tuple(values), spec.varied or tuple(search_space(spec)))


def sampler(spec: Spec, seed: int, number: int, budget: int):
    """The sampler for trial `number`. Random draws (random, and bayes's first ones) are seeded by
    (--seed, trial number), so that a rerun or another worker does not draw the points already drawn;
    grid shuffles its points with --seed alone, the same order in every worker, and takes the next
    one not yet run. bayes: TPE, random for the first quarter of the budget (2 to 10 trials; Optuna's
    default of 10 would leave a 12-trial search almost random), with constant liar so that parallel
    workers spread out."""
    if spec.method == "grid":
        return optuna.samplers.GridSampler({k: list(p["values"]) for k, p in spec.parameters.items() if "values" in p},
                                           seed=seed)
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed * 100_003 + number)
    return optuna.samplers.TPESampler(seed=seed * 100_003 + number, n_startup_trials=min(10, max(2, budget // 4)),
                                      multivariate=True, constant_liar=True)


def budget(spec: Spec, count: int | None) -> int:
    count = count if count is not None else spec.raw.get("run_cap")
    if spec.method == "grid":
        size = math.prod(len(p["values"]) for p in spec.parameters.values() if "values" in p)
        return min(count, size) if count else size
    if not count:
        raise SweepError(f"{spec.path}: method {spec.method} searches until told to stop: give --count N "
                         "(trials in the study, all workers together) or run_cap in the file")
    return count


def check(spec: Spec) -> None:
    """Everything about the file the study needs, before anything is made."""
    search_space(spec)
    try:
        run_trial.pruner(spec.raw.get("early_terminate"))
    except run_trial.PrunerError as ex:
        raise SweepError(f"{spec.path}: {ex}") from None


# ---- the study on disk -----------------------------------------------------------------------------
def open_study(spec: Spec, sweep_dir: Path) -> optuna.Study:
    """The study, created on first use. Its sampler does nothing when told a trial's end (a grid
    sampler's would call study.stop(), which only an Optuna-run objective may); ask() sets the
    sampler for each new trial."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return optuna.create_study(study_name=spec.name, storage=run_trial.storage(str(sweep_dir / JOURNAL)),
                               direction=spec.goal, load_if_exists=True, sampler=optuna.samplers.RandomSampler(),
                               pruner=run_trial.pruner(spec.raw.get("early_terminate")))


def trial_dir(sweep_dir: Path, number: int, pt: Point) -> Path:
    return sweep_dir / f"trial-{number:03d}_{pt.key()}"


@contextmanager
def _flock(path: Path, blocking: bool = True):
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fail_orphans(study: optuna.Study, sweep_dir: Path) -> int:
    """Trials left RUNNING by a worker that died (killed, its SLURM job cancelled): nobody holds their
    lock any more. They are marked failed, so that the budget counts only live and finished trials.
    Called under the study's lock, under which a worker asks for a trial and takes its lock."""
    failed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        lock = Path(t.user_attrs.get("run_dir", "")) / TRIAL_LOCK
        if lock.is_file():
            with _flock(lock, blocking=False) as free:
                if not free:
                    continue
        study.tell(t.number, state=TrialState.FAIL)
        failed += 1
    return failed


# ---- running ------------------------------------------------------------------------------------------
class StudyRunner:
    """`workers` threads, each asking the study for a trial, running it as a subprocess (sweep_runner.Runner's
    machinery: its own process group, stopped on Ctrl-C) and telling the study how it ended."""

    def __init__(self, spec: Spec, sweep_dir: Path, workers: int, count: int, seed: int, again: str = ""):
        self.spec, self.sweep_dir, self.workers, self.count, self.seed = spec, sweep_dir, workers, count, seed
        self.runner = sweep_runner.Runner(spec, workers, after_stop=(
            "the study counts this trial as failed and draws new ones when the sweep runs again" +
            (f": {again}" if again else "")))
        self.study = open_study(spec, sweep_dir)
        self.lock = threading.Lock()
        self.failed = False

    def ask(self):
        """The next trial and its job, checked against the config schema, or None once the study has
        `count` trials (all workers together). Under a lock: Hydra's composition is not thread-safe."""
        with self.lock, _flock(self.sweep_dir / LOCK):
            trials = self.study.get_trials(deepcopy=False)
            if self.failed or self.runner.stopping or sum(t.state in COUNTED for t in trials) >= self.count:
                return None
            self.study.sampler = sampler(self.spec, self.seed, len(trials), self.count)
            t = self.study.ask(fixed_distributions=search_space(self.spec))
            self.study.sampler = optuna.samplers.RandomSampler()  # for tell(), see open_study
            pt = point(self.spec, t.params)
            run_dir = trial_dir(self.sweep_dir, t.number, pt)
            overrides = [*self.spec.fixed_args, *pt.args(), *sweep_runner.runner_overrides(self.spec, self.sweep_dir, run_dir)]
            job = sweep_runner.Job(pt, run_dir.name, run_dir, overrides,
                                   env=run_trial.environment(str(self.sweep_dir / JOURNAL), self.spec.name, t._trial_id,
                                                             self.spec.metric, self.spec.raw.get("early_terminate")))
            try:
                sweep_runner.preflight(self.spec, [job])
            except SweepError:
                self.study.tell(t, state=TrialState.FAIL)
                self.failed = True
                raise
            run_dir.mkdir(parents=True, exist_ok=True)
            held = open(run_dir / TRIAL_LOCK, "a+")  # noqa: SIM115 (released in work() once the trial is told)
            fcntl.flock(held, fcntl.LOCK_EX)
            t.set_user_attr("run_dir", str(run_dir))
            t.set_user_attr("overrides", pt.args())
            t.set_user_attr("worker", f"{os.environ.get('SLURM_JOB_ID', 'local')}:{os.getpid()}")
            return t, job, held

    def work(self) -> None:
        while (asked := self.ask()) is not None:
            t, job, held = asked
            with held:
                ok = self.runner.run_one(job, f"[trial {t.number}]")
                summary = (job.record or {}).get("summary", {})
                value = summary.get(self.spec.metric)
                with self.lock:  # ask() swaps the study's sampler
                    if ok and summary.get("stop_reason") == run_trial.PRUNED:
                        self.study.tell(t, state=TrialState.PRUNED)
                    elif ok and isinstance(value, (int, float)) and math.isfinite(value):
                        self.study.tell(t, float(value))
                    else:
                        t.set_user_attr("interrupted", self.runner.stopping)
                        self.study.tell(t, state=TrialState.FAIL)
                        self.failed = self.failed or not self.runner.stopping

    def run(self) -> int:
        """Returns 1 if a trial failed (interrupted ones not counted), else 0."""
        with _flock(self.sweep_dir / LOCK):
            orphans = fail_orphans(self.study, self.sweep_dir)
        trials = self.study.get_trials(deepcopy=False)
        done = sum(t.state in COUNTED for t in trials)
        print(f"sweep {self.spec.name}: Optuna study ({self.spec.method}, {self.sweep_dir / JOURNAL}): "
              f"{len(trials)} trials so far, {done} of {self.count} done or running"
              + (f", {orphans} left running by a dead worker marked failed" if orphans else "")
              + f"; {self.workers} worker(s) here", flush=True)
        pool = ThreadPoolExecutor(self.workers)
        futures = [pool.submit(self.work) for _ in range(self.workers)]
        try:
            for f in futures:
                f.result()
        except KeyboardInterrupt:
            self.runner.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        return int(self.failed)


# ---- results -----------------------------------------------------------------------------------------
def results(spec: Spec, study: optuna.Study) -> list[dict]:
    """One row per trial of the study (all workers'), as sweep_runner.table and sweep_runner.write_csv take them."""
    out = []
    for t in study.get_trials(deepcopy=False):
        run_dir = Path(t.user_attrs.get("run_dir", ""))
        job = sweep_runner.Job(point(spec, t.params) if t.params else Point(()), run_dir.name, run_dir, [])
        record = sweep_runner.wandb_record(job) if t.state in (TrialState.COMPLETE, TrialState.PRUNED) else {}
        s = record.get("summary", {})
        out.append({"run": run_dir.name or f"trial-{t.number:03d}",
                    "varied": " ".join(f"{k}={v}" for k, v in job.point.params if k in job.point.varied),
                    "seed": record.get("config", {}).get("seed"), "done": t.state == TrialState.COMPLETE,
                    "status": t.state.name.lower(), "metric": s.get(spec.metric), "wall_s": sweep_runner.wall_s(run_dir),
                    "eval_return": s.get("eval/return_mean"),
                    **{k: s.get(f"eval/{k}") for k in ("landed", "crashed", "out_of_bounds", "timeout")}})
    return out


def best_line(spec: Spec, study: optuna.Study) -> str:
    try:
        best = study.best_trial
    except ValueError:
        return "no trial has finished yet"
    return (f"best: trial {best.number} {spec.metric}={best.value:.4g} ({' '.join(best.user_attrs.get('overrides', []))}), "
            f"{Path(best.user_attrs.get('run_dir', '')).name}")

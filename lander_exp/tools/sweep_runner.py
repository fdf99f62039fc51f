"""The offline sweep runner, below the `python -m lander_exp.sweep` command (lander_exp.tools.sweep)
and the Optuna study (lander_exp.tools.study), which both use it: a sweep's points as jobs
(`plan`), each composed and validated before anything starts (`preflight`), run as real
`python -m lander_exp` subprocesses in parallel (`Runner`), a finished point recognised by its
done-marker, and the results read back from the runs' W&B records (`rows`, `table`, `write_csv`)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lander_exp.envs.outcomes import RATES
from lander_exp.run.records import RUN_FILE
from lander_exp.run.stopping import SWEEP_ENV
from lander_exp.shell import replacing
from lander_exp.tools.sweep_spec import ARGS_MACRO, Point, Spec, SweepError

DONE_MARKER = "sweep_done.json"  # written into a point's run folder once its process exited 0
# the final evaluation's outcome rates (the deterministic policy), then those of the run's last training
# episodes (`sampled_*`: the stochastic policy, as the summary's last `episode/*` row logged them), then the
# sweep's metric (named as in the file) and the run's wall time (its process, start to exit)
CSV_COLUMNS = ["run", "varied_settings", "seed", "eval_return", *RATES, *(f"sampled_{k}" for k in RATES)]



def own_service() -> dict[str, str]:
    """This environment less W&B's WANDB_SERVICE: each run starts its own W&B service, so a run
    killed outright leaves no run id "in use" in a service its resume would share."""
    return {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}

@dataclass
class Job:
    point: Point
    key: str
    run_dir: Path
    overrides: list[str]  # everything after `-m lander_exp`, as the subprocess gets it
    record: dict | None = None  # its W&B config and summary, once read
    env: dict[str, str] = field(default_factory=dict)  # added to the subprocess's environment (an Optuna trial)
    batch: str | None = None  # --batch-seeds: the folder name its seed's siblings share (run_dir is BATCH/s<seed>)


def seedless(point: Point) -> Point:
    return Point(tuple((k, v) for k, v in point.params if k != "seed"), tuple(k for k in point.varied if k != "seed"))


# ---- planning: which points, their command lines, checked before anything is made --------------------
def plan(spec: Spec, sweep_dir: Path, count: int | None, seed: int, batch_seeds: bool = False) -> list[Job]:
    """The sweep's runs. `batch_seeds`: points that differ only in their seed are one batch, trained in
    one process (`seeds=[...]`, lander_exp.run.batch) into SWEEP/<batch>/s<seed>."""
    count = count if count is not None else spec.raw.get("run_cap")
    if spec.method == "grid":
        points = spec.grid()[:count] if count else spec.grid()
    else:
        if not count:
            raise SweepError(f"{spec.path}: method random draws points forever: give --count N (or run_cap in the file)")
        points = spec.random_points(count, seed)
    points = list(dict.fromkeys(points))  # random draws can repeat a point: one run serves both
    # random draws get a digest in their key always (rounded values may read alike, and a later,
    # larger --count must not rename earlier runs); a grid's only where two points read alike
    texts = [p.key() for p in points]
    keys = [p.key(unique=spec.method == "random" or texts.count(t) > 1) for p, t in zip(points, texts, strict=True)]
    jobs = []
    for point, key in zip(points, keys, strict=True):
        seed = dict(point.params).get("seed")
        batch = seedless(point).key() if batch_seeds and seed is not None else None
        run_dir = sweep_dir / batch / f"s{seed}" if batch else sweep_dir / key
        jobs.append(Job(point, key, run_dir, [*spec.fixed_args, *point.args(), *runner_overrides(spec, sweep_dir, run_dir)],
                        batch=batch))
    return jobs


def runner_overrides(spec: Spec, sweep_dir: Path, run_dir: Path) -> list[str]:
    """What the runner adds to each point: offline W&B, the sweep's group and tags, its folders."""
    kind = spec.raw.get("kind", "sweep")  # a claim's runs (lander_exp.tools.claim) are tagged as such
    return ["tracker.mode=offline", f"tracker.dir='{sweep_dir}'", f"tracker.group={spec.name}",
            f"tracker.tags=[{kind},'{kind}:{spec.name}']", f"hydra.run.dir='{run_dir}'"]


def preflight(spec: Spec, jobs: list[Job]) -> None:
    """Compose and validate every point against the config schema, as `python -m lander_exp` would."""
    from lander_exp.run import preflight as pf
    from lander_exp.run.app import CONF_DIR

    for job in jobs:
        try:
            # a done point's folder holds its run, an unfinished one's is cleared before it runs again: the
            # run's own process refuses a folder that holds another run
            pf.check(job.overrides, str(CONF_DIR), fresh=False)
        except Exception as ex:
            message = pf.one_line(ex)
            if message is None:
                raise
            raise SweepError(f"{spec.path}: point {' '.join(job.point.args())}: {message}") from None


def preflight_bounds(spec: Spec) -> None:
    """For points drawn later (by W&B's server or Optuna): check every listed value and each
    distribution's bounds now, one parameter at a time."""
    preflight(spec, [Job(Point(((k, v),)), "", Path(), [*spec.fixed_args, f"{k}={v}"])
                     for k, p in spec.parameters.items()
                     for v in (p.get("values") or ([p["value"]] if "value" in p else
                                                   [p[b] for b in ("min", "max") if b in p]))])


# ---- state of a point on disk ------------------------------------------------------------------------
def is_done(job: Job) -> bool:
    marker = job.run_dir / DONE_MARKER
    return marker.is_file() and sorted(json.loads(marker.read_text()).get("overrides", [])) == sorted(job.overrides)


def wall_s(run_dir: Path) -> float | None:
    """Seconds the run's process took, from its done-marker."""
    marker = run_dir / DONE_MARKER
    return json.loads(marker.read_text()).get("wall_s") if marker.is_file() else None


def wandb_dir(run_dir: Path) -> Path | None:
    """The W&B offline run folder of a run folder, from the run file the tracker wrote."""
    info = run_dir / RUN_FILE
    if not info.is_file():
        return None
    folder = json.loads(info.read_text()).get("dir")
    return Path(folder) if folder else None


def clear(job: Job) -> None:
    """Remove what an unfinished attempt left (its run folder and its W&B run) so it restarts cleanly."""
    folder = wandb_dir(job.run_dir)
    if folder is not None and folder.is_dir():
        shutil.rmtree(folder)
    shutil.rmtree(job.run_dir, ignore_errors=True)


def wandb_record(job: Job) -> dict:
    """The run's W&B config and summary, read from its offline run with `wandb leet inspect --summary --json`
    (offline runs keep it inside the .wandb file, not in a wandb-summary.json)."""
    folder = wandb_dir(job.run_dir)
    if folder is None or not folder.is_dir():
        return {}
    wandb_bin = Path(sys.executable).parent / "wandb"
    out = subprocess.run([str(wandb_bin) if wandb_bin.exists() else "wandb", "leet", "inspect", "--summary", "--json",
                          str(folder)], capture_output=True, text=True)
    if out.returncode != 0:
        return {}
    return json.loads(out.stdout)


# ---- running -----------------------------------------------------------------------------------------
def split_batches(units: list[list[Job]], workers: int) -> list[list[Job]]:
    """Fewer processes than workers: the largest batch is cut in two (alternate seeds) until every
    worker has a process or every batch is one seed, so a sweep of one point's five seeds with
    --workers 2 trains them in two processes (three seeds and two), not one with a core idle."""
    units = list(units)
    while len(units) < workers and any(len(u) > 1 for u in units):
        big = max(units, key=len)
        at = units.index(big)
        units[at:at + 1] = [big[0::2], big[1::2]]
    return units


class Runner:
    """Runs jobs in parallel subprocesses and stops them all (only those) on Ctrl-C. `after_stop`: what
    a run stopped early should tell the user instead of its resume command (stopping.SWEEP_ENV)."""

    def __init__(self, spec: Spec, workers: int, after_stop: str | None = None):
        self.spec, self.workers = spec, workers
        self.after_stop = after_stop or "the sweep runs this point again from its start when run again"
        self.procs: dict[int, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stopping = False

    def say(self, line: str) -> None:
        """One whole line at a time: workers' print() calls could interleave mid-line."""
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def command(self, job: Job, batch: list[Job] | None = None) -> list[str]:
        """The command line of `job`, or of a `batch` of jobs differing only in their seed."""
        cmd: list[str] = []
        for part in self.spec.command:
            if part == "${env}":
                continue
            if part == "${interpreter}":
                cmd.append(sys.executable)
            elif part == "${program}":
                cmd.append(self.spec.raw["program"])
            elif part == ARGS_MACRO:
                if batch:
                    seeds = ",".join(str(dict(j.point.params)["seed"]) for j in batch)
                    cmd.extend([*seedless(job.point).args(), f"seeds=[{seeds}]"])
                else:
                    cmd.extend(job.point.args())
            else:
                cmd.append(part)
        if batch:
            cmd.extend(runner_overrides(self.spec, job.run_dir.parent.parent, job.run_dir.parent))
        else:
            cmd.extend(runner_overrides(self.spec, job.run_dir.parent, job.run_dir))
        return cmd

    def run_one(self, job: Job, label: str) -> bool:
        if self.stopping:
            return False
        job.run_dir.mkdir(parents=True, exist_ok=True)
        env = {**own_service(), "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1", SWEEP_ENV: self.after_stop, **job.env}
        start = time.perf_counter()
        with open(job.run_dir / "sweep.log", "w") as log:
            proc = subprocess.Popen(self.command(job), stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            with self.lock:
                self.procs[proc.pid] = proc
            self.say(f"{label} started  {job.key}")
            code = proc.wait()
            with self.lock:
                self.procs.pop(proc.pid, None)
        took = time.perf_counter() - start
        if code == 0:
            (job.run_dir / DONE_MARKER).write_text(json.dumps({"overrides": job.overrides, "wall_s": round(took, 1)}))
            job.record = wandb_record(job)
            value = job.record.get("summary", {}).get(self.spec.metric)
            shown = f"{value:.4g}" if isinstance(value, (int, float)) else "-"
            self.say(f"{label} done     {job.key}  {self.spec.metric}={shown}  ({took:.0f} s)")
            return True
        if not self.stopping:
            self.say(f"{label} FAILED   {job.key}  exit {code}, log: {job.run_dir / 'sweep.log'}")
        return False

    def run_batch(self, jobs: list[Job], label: str, part: bool = False) -> list[bool]:
        """Jobs that differ only in their seed, trained in one process; each is done once its run finished.
        A `part` of a split batch (split_batches) shares the batch folder with the other parts: its log
        and Hydra's record of its command are its own (sweep_s<seeds>.log, .hydra/s<seeds>/)."""
        if self.stopping:
            return [False] * len(jobs)
        batch_dir = jobs[0].run_dir.parent
        batch_dir.mkdir(parents=True, exist_ok=True)
        seeds = [j.run_dir.name[1:] for j in jobs]  # run folders are BATCH/s<seed>
        tag = "s" + "-".join(seeds) if part else ""
        command = self.command(jobs[0], jobs) + ([f"hydra.output_subdir=.hydra/{tag}"] if part else [])
        log_path = batch_dir / (f"sweep_{tag}.log" if part else "sweep.log")
        env = {**own_service(), "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1", SWEEP_ENV: self.after_stop}
        start = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            with self.lock:
                self.procs[proc.pid] = proc
            self.say(f"{label} started  {jobs[0].batch}: seeds {','.join(seeds)} in one process")
            code = proc.wait()
            with self.lock:
                self.procs.pop(proc.pid, None)
        took = time.perf_counter() - start
        results = []
        for job in jobs:
            info = job.run_dir / "wandb_run.json"
            ok = info.is_file() and json.loads(info.read_text()).get("exit_code") == 0
            if ok:
                (job.run_dir / DONE_MARKER).write_text(json.dumps({"overrides": job.overrides, "wall_s": round(took, 1)}))
                job.record = wandb_record(job)
                value = job.record.get("summary", {}).get(self.spec.metric)
                shown = f"{value:.4g}" if isinstance(value, (int, float)) else "-"
                self.say(f"{label} done     {job.key}  {self.spec.metric}={shown}  ({took:.0f} s for the batch)")
            elif not self.stopping:
                self.say(f"{label} FAILED   {job.key}  exit {code}, log: {log_path}")
            results.append(ok)
        return results

    def run(self, jobs: list[Job]) -> int:
        """Returns how many jobs failed."""
        todo = [j for j in jobs if not is_done(j)]
        for job in todo:
            clear(job)  # an earlier attempt that did not finish
        units: list[list[Job]] = []  # one process each: a job, or the jobs of one batch
        for job in todo:
            same = [u for u in units if job.batch and u[0].batch == job.batch]
            if same:
                same[0].append(job)
            else:
                units.append([job])
        units = split_batches(units, self.workers)
        processes = f" in {len(units)} processes" if len(units) != len(todo) else ""
        print(f"{self.spec.raw.get('kind', 'sweep')} {self.spec.name}: {len(jobs)} runs, {len(jobs) - len(todo)} already done, "
              f"{len(todo)} to run{processes} with {self.workers} worker(s)", flush=True)
        labels = [f"[{i + 1}/{len(units)}]" for i in range(len(units))]

        split = {u[0].batch for u in units if u[0].batch and sum(v[0].batch == u[0].batch for v in units) > 1}

        def one(unit: list[Job], label: str) -> list[bool]:
            if unit[0].batch:
                return self.run_batch(unit, label, part=unit[0].batch in split)
            return [self.run_one(unit[0], label)]

        pool = ThreadPoolExecutor(self.workers)
        try:
            results = [ok for oks in pool.map(one, units, labels) for ok in oks]
        except KeyboardInterrupt:
            self.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        return results.count(False)

    def stop(self) -> None:
        self.stopping = True
        with self.lock:
            for proc in self.procs.values():
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # the session this runner started for it
                except ProcessLookupError:
                    pass


# ---- results -----------------------------------------------------------------------------------------
def rows(spec: Spec, jobs: list[Job]) -> list[dict]:
    out = []
    for job in jobs:
        record = (job.record or wandb_record(job)) if is_done(job) else {}
        s = record.get("summary", {})
        seed = dict(job.point.params).get("seed", record.get("config", {}).get("seed"))
        out.append({"run": job.key, "varied": " ".join(f"{k}={v}" for k, v in job.point.params
                                                      if k in job.point.varied and k != "seed"),
                    "seed": seed, "done": is_done(job), "metric": s.get(spec.metric), "wall_s": wall_s(job.run_dir),
                    "eval_return": s.get("eval/return_mean"),
                    **{k: s.get(f"eval/{k}") for k in RATES},
                    **{f"sampled_{k}": s.get(f"episode/{k}") for k in RATES}})
    return out


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def table(spec: Spec, results: list[dict]) -> str:
    sign = -1 if spec.goal == "maximize" else 1
    ordered = sorted(results, key=lambda r: (r["metric"] is None, sign * (r["metric"] or 0)))
    head = ["run", spec.metric, "eval/return_mean", "landed", "timeout", "status"]
    body = [[r["run"], _fmt(r["metric"]), _fmt(r["eval_return"]), _fmt(r["landed"]), _fmt(r["timeout"]),
             r.get("status") or ("done" if r["done"] else "not done")] for r in ordered]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def write_csv(path: Path, results: list[dict], metric: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, newline="") as f:
        w = csv.writer(f)
        w.writerow([*CSV_COLUMNS, metric, "wall_s"])
        for r in results:
            if r["done"]:
                w.writerow([r["run"], r["varied"], r["seed"], *(_fmt(r[k]) for k in CSV_COLUMNS[3:]), _fmt(r["metric"]),
                            _fmt(r["wall_s"])])

"""`python -m lander_exp.claim claims/X.yaml`: check a finding the way a reviewer would.

A claim file (lander_exp.tools.claim_spec) names a configuration, its seed sets and what each run
must show. This trains what is missing (one `python -m lander_exp` process per seed through the
sweep runner, or the seeds batched in one process; finished runs with the same resolved config and
seed are reused, here or under `--reuse` folders; rerunning continues where it stopped), measures
every run (its newest checkpoint's record, and with `evaluate` its final policy on Gymnasium's own
env), and prints per claim the runs passing, the rate with a 95% Wilson interval, the required rate,
and PASS or FAIL. Exit 0 only if every claim passes.

Configurations are chosen on the development seeds and claims stated on the confirmation seeds,
which nothing may use while choosing: `--set development` while choosing, the default
(`confirmation`) to state the claim. Results: RESULTS/<claim>.csv (one row per run, with the
commit that trained it) and a row appended to RESULTS/summary.csv per claim checked."""

from __future__ import annotations

import argparse
import csv
import datetime
import fcntl
import json
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lander_exp.run.records import setting_hash
from lander_exp.shell import python_command, shown, unwritable
from lander_exp.tools.claim_spec import SEED_SETS, Claim, ClaimError, load
from lander_exp.tools.sweep_spec import ARGS_MACRO, Spec, SweepError
from lander_exp.tools.sweep_spec import load as load_sweep

CONFIDENCE = 0.95
RUN_COLUMNS = ["claim", "seed_set", "seed", "value", "passed", "commit"]
SUMMARY_COLUMNS = ["date", "commit", "claim", "seed_set", "seeds", "passed", "rate", "ci_low", "ci_high",
                   "required_rate", "verdict", "median", "median_ci_low", "median_ci_high"]
EVAL_FOLDER = "evaluations"  # in a run folder: a final policy's evaluation, kept so a rerun need not play it again
PLAIN_COMMAND = ["${env}", "${interpreter}", "-m", "lander_exp", ARGS_MACRO]


# ---- what to train ----------------------------------------------------------------------------------------
def spec_of(claim: Claim, seeds: list[int]) -> Spec:
    """The claim's runs as a grid sweep over `seeds` (the sweep runner trains them): the sweep file's
    fixed arguments, its parameters at the claim's point, then the claim's overrides."""
    if claim.sweep is not None:
        try:
            base = load_sweep(claim.sweep, method="grid")
        except SweepError as ex:
            raise ClaimError(f"{claim.path}: config.sweep: {ex}") from None
        command, fixed, params = list(base.command), list(base.fixed_args), {}
        for key, p in base.parameters.items():
            if key == "seed":
                continue
            if key in claim.point:
                params[key] = {"value": claim.point[key]}
            elif "value" in p or len(p.get("values", [])) == 1:
                params[key] = {"value": p["value"] if "value" in p else p["values"][0]}
            else:
                raise ClaimError(f"{claim.path}: config.point must give {key} one value (the sweep tries several)")
        extra = sorted(set(claim.point) - set(base.parameters))
        if extra:
            raise ClaimError(f"{claim.path}: config.point names {extra[0]}, which {claim.sweep} does not sweep: "
                             "put it in config.overrides")
    else:
        command, fixed, params = list(PLAIN_COMMAND), [], {}
    at = command.index(ARGS_MACRO)
    command[at:at] = claim.overrides
    params["seed"] = {"values": seeds}
    return Spec(path=claim.path, name=claim.name, method="grid", metric="eval/return_mean", goal="maximize",
                parameters=params, command=command, fixed_args=[*fixed, *claim.overrides],
                raw={"name": claim.name, "kind": "claim"})


def composed(job) -> dict:
    """The resolved config a job's command line trains (its seed's), as plain data."""
    from omegaconf import OmegaConf

    from lander_exp.run.preflight import compose_config

    overrides = [o for o in job.overrides if not o.startswith(("hydra.", "tracker."))]
    return OmegaConf.to_container(compose_config(overrides), resolve=True, enum_to_str=True)


def identity(config: dict) -> tuple[str, int]:
    """What makes two runs the same run: the experiment (records.setting_hash) and the seed."""
    return setting_hash(config), int(config["seed"])


def finished(run_dir: Path) -> dict | None:
    """The newest checkpoint of a run that ended by its own rule (target, epochs, episodes), or None."""
    from lander_exp.config import ConfigError, saved_config
    from lander_exp.run import checkpoint
    from lander_exp.run.train import stop_reason

    try:
        state = checkpoint.load(checkpoint.latest(run_dir))
        cfg = saved_config(state["config"])
    except (ConfigError, OSError, KeyError, ValueError):
        return None
    reason = stop_reason(cfg.train, state["epoch"], state["episodes"], list(state["eval_history"]))
    return state if reason is not None else None


def reusable(folders: list[Path]) -> dict[tuple[str, int], Path]:
    """Finished runs under `folders` by their identity (the newest folder where two are the same run)."""
    from omegaconf import OmegaConf

    from lander_exp.config import saved_config

    found: dict[tuple[str, int], Path] = {}
    for folder in folders:
        for cfg_file in sorted(folder.rglob("config.yaml")):
            run_dir = cfg_file.parent
            if ".hydra" in run_dir.parts or not (run_dir / "checkpoints").is_dir():
                continue
            try:
                config = OmegaConf.to_container(saved_config(OmegaConf.load(cfg_file)), resolve=True, enum_to_str=True)
            except Exception:  # noqa: BLE001 - a config this code cannot read is no candidate for reuse
                continue
            if config.get("seeds") or finished(run_dir) is None:
                continue
            found[identity(config)] = run_dir
    return found


@contextmanager
def held(claim_dir: Path):
    """One process trains a claim's runs at a time: the sweep runner clears the folder of a run it
    finds unfinished, which would be another process's run in progress."""
    claim_dir.mkdir(parents=True, exist_ok=True)
    with open(claim_dir / "claim.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ClaimError(f"{claim_dir} is being trained by another `lander_exp.claim`: wait for it to finish, "
                             "or give this one another --dir") from None
        yield


# ---- what each run shows ------------------------------------------------------------------------------------
def run_measures(state: dict) -> dict[str, Any]:
    """A finished run's own record, from its newest checkpoint: how and when it stopped, the
    outcomes of its last 1000 training episodes, and its jump (lander_exp.core.jump), if any."""
    import numpy as np

    from lander_exp.config import saved_config
    from lander_exp.core.jump import WINDOW, detect_jump, last_rates
    from lander_exp.run.train import stop_reason

    cfg = saved_config(state["config"])
    log, history = state["episode_log"], list(state["eval_history"])
    outcomes, returns, lengths = (np.asarray(log[k]) for k in ("outcomes", "returns", "lengths"))
    last = last_rates(outcomes, WINDOW)
    out: dict[str, Any] = {
        "stop_reason": stop_reason(cfg.train, state["epoch"], state["episodes"], history), "epochs": int(state["epoch"]),
        "episodes": int(state["episodes"]), "global_step": int(state["global_step"]),
        "final_eval_return": float(history[-1]) if history else None,
        "eval_return_ma": float(np.mean(history[-cfg.train.target_window:])) if history else None,
        "landed_last1000": last["landed"], "timeout_grounded_last1000": last["timeout_grounded"]}
    jump = detect_jump(outcomes, returns, lengths)
    if jump is not None:
        out.update(jump.as_summary())
    return out


def eval_measures(run_dir: Path, policy: str, episodes: int) -> dict[str, float]:
    """The final policy (newest checkpoint) on `episodes` episodes of Gymnasium's env from training's
    evaluation start states, greedy or sampled; kept in RUN/evaluations/ for the same checkpoint."""
    from lander_exp.run import checkpoint
    from lander_exp.run.train import EVAL_SEED

    ckpt = checkpoint.latest(run_dir)
    stat = ckpt.stat()
    key = {"checkpoint": ckpt.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    kept = run_dir / EVAL_FOLDER / f"{policy}_gymnasium_{episodes}ep_seed{EVAL_SEED}.json"
    if kept.is_file():
        saved = json.loads(kept.read_text())
        if saved.get("of") == key:
            return saved["measures"]
    from lander_exp.tools.evaluate import load_run, play

    cfg, algo, _ = load_run(run_dir, ckpt)
    eps = play(cfg, algo, episodes, EVAL_SEED, backend="gymnasium", sampled=policy == "sampled", envs=25)
    measures = {"return": float(eps.returns.mean()), "return_std": float(eps.returns.std()),
                "length": float(eps.lengths.mean()), **eps.rates()}
    kept.parent.mkdir(exist_ok=True)
    kept.write_text(json.dumps({"of": key, "measures": measures}))
    return measures


@dataclass
class Row:
    seed: int
    run_dir: Path | None
    measures: dict[str, Any] = field(default_factory=dict)
    passed: bool = False
    commit: str = ""
    problem: str = ""  # why the run has no measures (its training failed)


def measure(claim: Claim, seed: int, run_dir: Path | None, trained: bool) -> Row:
    from lander_exp.run import provenance

    if run_dir is None or not trained:
        return Row(seed, run_dir, problem="its training did not finish" + (f" (log: {run_dir})" if run_dir else ""))
    state = finished(run_dir)
    if state is None:
        return Row(seed, run_dir, problem=f"{shown(run_dir)} holds no finished run")
    measures = run_measures(state)
    if claim.policy is not None:
        measures.update(eval_measures(run_dir, claim.policy, claim.episodes))
    return Row(seed, run_dir, measures, all(c.holds(measures) for c in claim.passes), provenance.commits(run_dir))


# ---- the verdict ---------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    passed: int
    runs: int
    rate: float
    ci: tuple[float, float]  # Wilson score interval of the rate
    median: float | None = None
    median_ci: tuple[float, float] | None = None  # distribution-free (order-statistic) interval of the median
    ok: bool = False


def wilson(passed: int, runs: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a rate: sound for few runs and for rates of 0 or 1 (where the
    normal approximation collapses to a point)."""
    from scipy.stats import binomtest

    ci = binomtest(passed, runs).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def median_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(median, low, high): the interval from order statistics (scipy's quantile_test), which needs no
    assumption about the values' distribution and takes a missing value as +inf (a run without a jump)."""
    import numpy as np
    from scipy.stats import quantile_test

    x = np.asarray(values, dtype=float)
    med = float(np.median(x))
    ci = quantile_test(x, q=med if np.isfinite(med) else float(np.max(x[np.isfinite(x)], initial=0)), p=0.5)
    interval = ci.confidence_interval(confidence)
    return med, float(interval.low), float(interval.high)


def judge(claim: Claim, rows: list[Row]) -> Verdict:
    passed, runs = sum(r.passed for r in rows), len(rows)
    v = Verdict(passed, runs, passed / runs, wilson(passed, runs))
    rate_ok = v.rate >= claim.required_rate - 1e-12
    median_ok = True
    if claim.median is not None:
        values = [r.measures.get(claim.value) for r in rows]
        v.median, low, high = median_interval([float("inf") if x is None else float(x) for x in values])
        v.median_ci = (low, high)
        median_ok = claim.median[0] <= v.median <= claim.median[1]
    v.ok = rate_ok and median_ok
    return v


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, float):
        return "inf" if x == float("inf") else f"{x:.6g}"
    return str(x)


def seeds_text(seeds: list[int]) -> str:
    """[100, 101, ..., 119] -> '100-119'; gaps as comma-separated ranges."""
    parts, start = [], None
    for i, s in enumerate(seeds):
        if start is None:
            start = s
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(f"{start}-{s}" if s != start else f"{s}")
            start = None
    return ",".join(parts)


def write_results(results: Path, claim: Claim, seed_set: str, seeds: list[int], rows: list[Row], v: Verdict) -> None:
    """RESULTS/<claim>.csv: this seed set's rows replace its earlier ones; RESULTS/summary.csv: one row appended."""
    from lander_exp.run import provenance

    results.mkdir(parents=True, exist_ok=True)
    extra = [m for m in claim.measures() if m != claim.value]
    path = results / f"{claim.name}.csv"
    kept: list[dict] = []
    if path.is_file():
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if r.get("seed_set") != seed_set]
    new = [{"claim": claim.name, "seed_set": seed_set, "seed": r.seed, "value": _num(r.measures.get(claim.value)),
            "passed": _num(r.passed), "commit": r.commit or "", **{m: _num(r.measures.get(m)) for m in extra}}
           for r in rows]
    order = {s: i for i, s in enumerate(SEED_SETS)}
    table = sorted([*kept, *new], key=lambda r: (order.get(r["seed_set"], len(order)), r["seed_set"], int(r["seed"])))
    columns = list(dict.fromkeys([*RUN_COLUMNS, *extra, *(k for r in kept for k in r)]))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns, restval="")
        w.writeheader()
        w.writerows(table)
    origin = provenance.collect()
    # the judging code's state; the results this command writes into the tree do not make it dirty
    changed = [c for c in origin.get("changed", []) if not (provenance.SOURCE / c).resolve().is_relative_to(results.resolve())]
    summary = results / "summary.csv"
    fresh = not summary.is_file()
    with open(summary, "a", newline="") as f:
        w = csv.writer(f)
        if fresh:
            w.writerow(SUMMARY_COLUMNS)
        w.writerow([datetime.date.today().isoformat(), origin["commit"][:12] + ("+dirty" if changed else ""),
                    claim.name, seed_set, seeds_text(seeds), v.passed, f"{v.rate:.4f}", f"{v.ci[0]:.4f}",
                    f"{v.ci[1]:.4f}", claim.required_rate, "PASS" if v.ok else "FAIL", _num(v.median),
                    _num(v.median_ci and v.median_ci[0]), _num(v.median_ci and v.median_ci[1])])


def report(claim: Claim, seed_set: str, seeds: list[int], rows: list[Row], v: Verdict) -> str:
    conditions = ", ".join(map(str, claim.passes))
    lines = [f"claim {claim.name}, {seed_set} seeds {seeds_text(seeds)}: {v.passed} of {v.runs} runs pass ({conditions})",
             f"  rate {v.rate:.2f}, 95% Wilson interval [{v.ci[0]:.2f}, {v.ci[1]:.2f}], required {claim.required_rate:g}"]
    if claim.median is not None:
        lines.append(f"  median {claim.value} {_num(v.median)}, 95% order-statistic interval [{_num(v.median_ci[0])}, "
                     f"{_num(v.median_ci[1])}], required in [{claim.median[0]:g}, {claim.median[1]:g}]")
    for r in rows:
        if r.problem:
            lines.append(f"  seed {r.seed}: no measure, {r.problem}")
        elif not r.passed:
            failed = [str(c) for c in claim.passes if not c.holds(r.measures)]
            got = ", ".join(f"{c.key}={_num(r.measures.get(c.key)) or 'none'}" for c in claim.passes)
            lines.append(f"  seed {r.seed}: fails {'; '.join(failed)} ({got})")
    lines.append(f"  {'PASS' if v.ok else 'FAIL'}")
    return "\n".join(lines)


# ---- command line -----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(prog=python_command("lander_exp.claim"), description=__doc__.split("\n\n")[0],
                                epilog="Example: " + python_command("lander_exp.claim", "claims/jump.yaml", "--workers", "2"))
    p.add_argument("files", nargs="+", type=Path, help="claim files, e.g. claims/jump.yaml")
    p.add_argument("--set", dest="seed_set", choices=SEED_SETS, default="confirmation",
                   help="the claim's seed set to run: development (to choose a configuration) or confirmation "
                        "(default: to state the claim)")
    p.add_argument("--seeds", help="these seeds instead of the claim's set, e.g. 100-109 or 3,7")
    p.add_argument("--workers", type=int, default=1, help="training processes at a time (default 1)")
    p.add_argument("--batch-seeds", action="store_true", default=None,
                   help="train each claim's seeds in one process (faster for PPO with several envs), not one each")
    p.add_argument("--dir", type=Path, default=Path("runs/claims"), help="run folders go to DIR/<claim>/ (default runs/claims)")
    p.add_argument("--reuse", type=Path, nargs="*", default=[], metavar="FOLDER",
                   help="also reuse finished runs of the same config and seed found under these folders")
    p.add_argument("--results", type=Path, default=Path("docs/results/claims"),
                   help="where <claim>.csv and summary.csv go (default docs/results/claims)")
    p.add_argument("--dry-run", action="store_true", help="check the files and list every run: reused, done or to train")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    return args


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def check_claim(claim: Claim, args) -> int:
    """Train, measure and judge one claim; 0 PASS, 1 FAIL, 130 interrupted."""
    from lander_exp.tools.claim_spec import parse_seeds
    from lander_exp.tools.sweep_runner import Runner, is_done, plan, preflight

    if args.seeds:
        seeds, seed_set = parse_seeds(args.seeds, "--seeds"), None
    else:
        if args.seed_set not in claim.seeds:
            raise ClaimError(f"{claim.path} has no {args.seed_set} seeds: add seeds.{args.seed_set}, or pass --seeds")
        seeds, seed_set = claim.seeds[args.seed_set], args.seed_set
    if seed_set is None:  # named after the claim's set that holds them all (a part of it, where compute is short)
        seed_set = next((k for k, v in claim.seeds.items() if set(seeds) <= set(v)), seeds_text(seeds))
        if seed_set in claim.seeds and len(seeds) < len(claim.seeds[seed_set]):
            print(f"lander_exp.claim: note: --seeds {args.seeds} checks {len(seeds)} of the claim's "
                  f"{len(claim.seeds[seed_set])} {seed_set} seeds", file=sys.stderr)
        elif seed_set not in claim.seeds and claim.seeds.get("confirmation") and set(seeds) & set(claim.seeds["confirmation"]):
            print(f"lander_exp.claim: note: --seeds {args.seeds} includes confirmation seeds", file=sys.stderr)
    spec = spec_of(claim, seeds)
    probe = plan(spec, args.dir / claim.name, None, 0)
    try:
        preflight(spec, probe[:1])
    except SweepError as ex:
        raise ClaimError(str(ex).replace(f"{claim.path}: point seed={seeds[0]}: ", f"{claim.path}: config: ")) from None
    setting = identity(composed(probe[0]))[0]
    batch = claim.batch_seeds if args.batch_seeds is None else args.batch_seeds
    jobs = plan(spec, args.dir / claim.name / setting, None, 0, batch_seeds=batch)
    found = reusable([*args.reuse, args.dir / claim.name])
    plan_rows = []
    for job in jobs:
        seed = int(dict(job.point.params)["seed"])
        if is_done(job):
            plan_rows.append((job, seed, job.run_dir, "done"))
        elif (setting, seed) in found:
            plan_rows.append((job, seed, found[(setting, seed)], "reuse"))
        else:
            plan_rows.append((job, seed, job.run_dir, "todo"))
    if args.dry_run:
        print(f"claim {claim.name} ({claim.path}), {seed_set} seeds {seeds_text(seeds)}, setting {setting}:")
        for _, seed, run_dir, state in plan_rows:
            print(f"  {state:5} seed {seed}  {shown(run_dir)}")
        if batch:  # the seeds in one process: the command of that process (the runner may split it over --workers)
            _, _, module, *cli = Runner(spec, 1).command(jobs[0], batch=jobs)
            print(f"  the seeds train in one process: {python_command(module, *cli)}")
        else:
            _, _, module, *cli = Runner(spec, 1).command(jobs[0])
            print(f"  each seed trains: {python_command(module, *cli)}"
                  .replace(f"seed={seeds[0]}", "seed=SEED").replace(f"seed-{seeds[0]}", "seed-SEED"))
        return 0
    todo = [job for job, _, _, state in plan_rows if state == "todo"]
    failed = set()
    if todo:
        with held(args.dir / claim.name):
            Runner(spec, args.workers).run(todo)
        failed = {job.run_dir for job in todo if not is_done(job)}
    rows = [measure(claim, seed, run_dir, run_dir not in failed) for job, seed, run_dir, _ in plan_rows]
    verdict = judge(claim, rows)
    print(report(claim, seed_set, seeds, rows, verdict), flush=True)
    write_results(args.results, claim, seed_set, seeds, rows, verdict)
    print(f"  wrote {shown(args.results / (claim.name + '.csv'))}, appended to {shown(args.results / 'summary.csv')}")
    return 0 if verdict.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from lander_exp.run import provenance

    provenance.collect()  # the code that judges, before this process writes its results into the tree
    try:
        claims = [load(f) for f in args.files]
        names = [c.name for c in claims]
        if len(set(names)) != len(names):
            raise ClaimError(f"two files state the claim {max(names, key=names.count)}: give each claim once")
        for flag, folder in (("--dir", args.dir), ("--results", args.results)):
            why = not args.dry_run and unwritable(folder)
            if why:
                raise ClaimError(f"{flag} {folder} cannot be used: {why}; pass a folder you can write to")
        for folder in args.reuse:
            if not folder.is_dir():
                raise ClaimError(f"--reuse {folder} is not a folder: pass folders that hold run folders")
    except ClaimError as ex:
        print(f"lander_exp.claim: error: {ex}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    codes = []
    for claim in claims:
        try:
            codes.append(check_claim(claim, args))
        except ClaimError as ex:
            print(f"lander_exp.claim: error: {ex}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            again = python_command("lander_exp.claim", *(argv if argv is not None else sys.argv[1:]))
            print(f"\ninterrupted: finished runs are kept; continue with: {again}", file=sys.stderr)
            return 130
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    sys.exit(main())

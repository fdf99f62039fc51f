"""Many seeds in one process against one process per seed, side by side in one session.

    python benchmarks/many_seeds.py [--workloads reinforce_jump ppo_fast] [--episodes 10000] [--seeds 0 1 2 3 4]
    python benchmarks/many_seeds.py --workloads reinforce_jump --batched-backend envpool --batched-processes 1
    python benchmarks/many_seeds.py --modes one_process_per_seed --repo ../lander_exp_old   # another checkout's code

reinforce_jump: the configuration of --sweep (sweeps/reinforce_jump.yaml: its one point without the seed,
--episodes per seed). one_process_per_seed runs `python -m lander_exp POINT seed=S` processes, --workers at
a time, as `python -m lander_exp.sweep sweeps/reinforce_jump.yaml --workers 2` does; batched runs
`python -m lander_exp POINT seeds=[...]` in --batched-processes processes (each every P-th seed, as
`sweep --batch-seeds --workers P` splits them) with --batched-backend's envs (gymnasium by default: each
seed plays the episodes it plays alone; envpool: one pool of one env per seed per process). The run
folders stay in the printed folder (`scripts/jump_table.py` reads them).
ppo_fast: `experiment=fast` (EnvPool, each seed until its stop: an evaluation mean of 220): one
process per seed one after another, against `experiment=fast seeds=[...]`. Then every final policy
is re-evaluated greedily on --reeval-episodes episodes of Gymnasium's own LunarLanderContinuous-v3
from start states training never evaluated on (a mean of 200 is "solved"), into --reeval-csv with
each seed's own wall time (`python -m lander_exp.evaluate RUN --backend gymnasium` does the same).

--repo runs the `python -m lander_exp` of another checkout (a worktree of an older commit, say), so that
a change is measured side by side with the code before it; --modes picks the modes measured.

Every run is a whole `python -m lander_exp` process timed from launch to exit, W&B offline logging,
evaluations and checkpoints included; env_steps is the sum of the runs' global_step. The raw rate is
that of the same envs stepping random actions on this machine, measured here just before: one
Gymnasium env times the workers for one_process_per_seed, the batch's pool for batched. Appends rows
`date,workload,mode,seeds,wall_s,env_steps,env_steps_per_s,raw_env_steps_per_s` and `commit` (the
code that ran), `solved` (ppo_fast: final policies scoring 200 on the re-evaluation; reinforce_jump:
runs that jumped), `workers`, and where the time went, in seconds summed over the processes:
`startup_s` (launch to the loop), `rollout_s`, `update_s`, `eval_s`, `other_s` (the loop's logging,
checkpoints and bookkeeping) and `shutdown_s` (the last row to exit), and `eval_env_steps` (the env steps
the runs' evaluations played, on top of env_steps), to --csv; a CSV without those columns gets them added."""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common  # benchmarks/common.py
import numpy as np
from common import append_rows, commit_of, count

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs/results/many_seeds.csv"
REEVAL_CSV = ROOT / "docs/results/fast_reevaluation.csv"


def gym_raw(env_id: str, steps: int = 50_000) -> float:
    """Steps/s of one bare Gymnasium env with random actions (resets included)."""
    import gymnasium as gym

    env = gym.make(env_id, disable_env_checker=True).unwrapped
    env.reset(seed=0)
    space = env.action_space
    space.seed(0)
    actions = [space.sample() for _ in range(steps)]
    t = time.perf_counter()
    for a in actions:
        if env.step(a)[2]:
            env.reset()
    return steps / (time.perf_counter() - t)


def pool_raw(env_id: str, num_envs: int, steps: int = 4_000) -> float:
    """Env steps/s of one EnvPool pool of `num_envs` envs with random actions (it resets by itself)."""
    import envpool

    pool = envpool.make(env_id, env_type="gymnasium", num_envs=num_envs, seed=0, max_episode_steps=1000)
    pool.reset()
    space = pool.action_space
    rng = np.random.default_rng(0)
    if hasattr(space, "n"):
        actions = rng.integers(space.n, size=(steps, num_envs))
    else:
        actions = rng.uniform(-1, 1, size=(steps, num_envs, space.shape[0])).astype(np.float32)
    t = time.perf_counter()
    for a in actions:
        pool.step(a)
    rate = steps * num_envs / (time.perf_counter() - t)
    pool.close()
    return rate


REPO = ROOT  # the checkout whose lander_exp runs (--repo)
MODES = ("one_process_per_seed", "batched")


def preset_envs(repo: Path) -> int:
    """The EnvPool envs of `repo`'s own `experiment=fast` (16 until 2026-12-05, 32 since): the pool
    whose bare rate the ppo_fast rows compare with."""
    from omegaconf import OmegaConf

    return int(OmegaConf.load(repo / "conf/experiment/fast.yaml").env.num_envs)


def env_steps(out: Path) -> int:
    from lander_exp.run.records import find_run_dirs, load_local

    return sum(int(r.summary["global_step"]) for r in load_local(find_run_dirs([out])))


def eval_env_steps(out: Path) -> int:
    """The env steps the runs under `out` played in their evaluations (episodes played times their
    mean length, per row): physics that training's env_steps leaves out."""
    from lander_exp.run.records import find_run_dirs, load_local

    return round(sum(row["eval/episodes"] * row["eval/length"] for r in load_local(find_run_dirs([out]))
                     for row in r.history if row.get("eval/episodes") is not None))


PHASES = ("startup_s", "rollout_s", "update_s", "eval_s", "other_s", "shutdown_s")


def where_time_goes(out: Path, launched: float | None = None, exited: float | None = None) -> dict[str, float]:
    """Where the wall time of the process that trained the runs under `out` went, from their rows:
    start-up (launch to the first run's loop; needs `launched`), stepping the envs (rollout: physics
    and acting; a batch's split among its seeds), learning, evaluating, the rest of the loop (logging,
    checkpoints, bookkeeping) and shut-down (the last row to exit; needs `exited`)."""
    from lander_exp.run.records import find_run_dirs, load_local

    total = dict.fromkeys(PHASES, 0.0)
    starts, ends = [], []
    for rec in load_local(find_run_dirs([out])):
        first, last = rec.history[0], rec.history[-1]
        starts.append(first["_timestamp"] - first["perf/wall_s"])  # the run's loop began wall_s before its row
        ends.append(last["_timestamp"])
        for row in rec.history:
            for key in ("rollout_s", "update_s", "eval_s"):
                total[key] += float(row.get(f"perf/{key}") or 0.0)
    loop = max(ends) - min(starts)
    total["other_s"] = loop - total["rollout_s"] - total["update_s"] - total["eval_s"]
    total["startup_s"] = min(starts) - launched if launched is not None else float("nan")
    total["shutdown_s"] = exited - max(ends) if exited is not None else float("nan")
    return {k: round(v, 1) for k, v in total.items()}


def time_split(outs: list[tuple[Path, float, float]]) -> dict[str, float]:
    """where_time_goes summed over processes: (their folder, launch, exit) each."""
    parts = [where_time_goes(out, launched, exited) for out, launched, exited in outs]
    return {k: round(sum(p[k] for p in parts), 1) for k in PHASES}


def reevaluate(out: Path, mode: str, walls: dict[int, float], episodes: int) -> list[dict]:
    """Each run's final policy, greedy, on `episodes` episodes of Gymnasium's env (outside the timing),
    by --repo's own `python -m lander_exp.evaluate`, which reads that code's checkpoints."""
    from lander_exp.run.records import find_run_dirs, load_local

    rows, commit = [], commit_of(REPO)
    for rec in load_local(find_run_dirs([out])):
        result = common.reevaluate(REPO, rec.source, episodes)
        seed = int(rec.config["seed"])
        rows.append({"mode": mode, "seed": seed, "commit": commit,
                     "wall_s": round(walls[seed], 1) if seed in walls else "",
                     "epochs": result["epoch"], "env_steps": result["global_step"],
                     "stop_eval_return": round(rec.summary["final_eval_return"], 1), "reeval_episodes": episodes,
                     "reeval_return": round(result["return_mean"], 1), "solved": result["return_mean"] >= 200})
        print(", ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    return sorted(rows, key=lambda r: r["seed"])


def measure(workload: str, mode: str, args_of, seeds: list[int], workers: int, out: Path) -> tuple[dict, dict]:
    """The mode's row, and each seed's own wall time (one_process_per_seed only). batched: `workers`
    processes at once, each with every workers-th seed (as the sweep runner's --batch-seeds --workers splits).
    Each process trains into its own folder under `out`."""
    from lander_exp.tools.claim import seeds_text

    out.mkdir(parents=True)
    t = time.perf_counter()
    if mode == "batched":
        units = [f"seeds=[{','.join(map(str, seeds[i::workers]))}]" for i in range(min(workers, len(seeds)))]
    else:
        units = [f"seed={s}" for s in seeds]
    folders = [out / f"process_{i}" for i in range(len(units))]
    with ThreadPoolExecutor(workers) as pool:
        times = list(pool.map(lambda unit, folder: common.train(REPO, args_of(unit), folder), units, folders))
    wall = time.perf_counter() - t
    walls = {s: exited - launched for s, (launched, exited) in zip(seeds, times, strict=True)} if mode != "batched" else {}
    steps = env_steps(out)
    row = {"commit": commit_of(REPO), "workload": workload, "mode": mode, "seeds": seeds_text(seeds),
           "wall_s": round(wall, 1), "env_steps": steps,
           "env_steps_per_s": round(steps / wall), "eval_env_steps": eval_env_steps(out)}
    split = time_split([(folder, *when) for folder, when in zip(folders, times, strict=True)])
    print(", ".join(f"{k}={v}" for k, v in row.items()), f"(load {os.getloadavg()[0]:.1f}; seconds summed over "
          f"{len(units)} process(es):", ", ".join(f"{k} {v}" for k, v in split.items()) + ")", flush=True)
    return {**row, **split}, walls


def sweep_point(path: Path) -> list[str]:
    """The overrides of a one-point sweep file's runs, less the seed and the tracker's mode."""
    from lander_exp.tools.sweep_runner import seedless
    from lander_exp.tools.sweep_spec import load

    spec = load(path)
    points = {seedless(p) for p in spec.grid()}
    if len(points) != 1:
        sys.exit(f"{path}: the benchmark needs a sweep whose points differ only in their seed ({len(points)} points)")
    fixed = [a for a in spec.fixed_args if not a.startswith("tracker.")]
    return [*fixed, *points.pop().args()]


def jumped(out: Path) -> str:
    """reinforce_jump's outcome: how many runs jumped, and the median jump episode."""
    from lander_exp.run.records import find_run_dirs, load_local

    recs = load_local(find_run_dirs([out]))
    episodes = sorted(r.summary["jump/episode"] for r in recs if r.summary.get("jump/episode") is not None)
    median = f" (median episode {statistics.median(episodes):.0f})" if episodes else ""
    return f"{len(episodes)} of {len(recs)} jumped{median}"


def main() -> int:
    global REPO
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", choices=("reinforce_jump", "ppo_fast"), default=["reinforce_jump", "ppo_fast"])
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose `python -m lander_exp` runs (default: this one)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--sweep", type=Path, default=ROOT / "sweeps/reinforce_jump.yaml",
                   help="reinforce_jump: the sweep file whose configuration runs")
    p.add_argument("--episodes", type=count, default=10_000, help="reinforce_jump: episodes per seed (the sweep's 10,000)")
    p.add_argument("--workers", type=count, default=2, help="reinforce_jump one_process_per_seed: processes at a time")
    p.add_argument("--batched-backend", choices=("envpool", "gymnasium"), default="gymnasium",
                   help="reinforce_jump batched: the envs the batch steps (gymnasium: each seed's own episodes)")
    p.add_argument("--batched-processes", type=count, default=2,
                   help="reinforce_jump batched: processes the seeds are split over (as `sweep --batch-seeds --workers P`)")
    p.add_argument("--pin-threads", action="store_true", help="reinforce_jump batched with envpool: env.pin_threads=true")
    p.add_argument("--csv", type=Path, default=CSV)
    p.add_argument("--reeval-episodes", type=count, default=100, help="ppo_fast: Gymnasium episodes per final policy")
    p.add_argument("--reeval-csv", type=Path, default=REEVAL_CSV, help="ppo_fast: where the re-evaluation goes (appended)")
    p.add_argument("--breakdown", type=Path,
                   help="only print where the time went in a finished run folder tree, and its training and evaluation env steps")
    args = p.parse_args()
    if args.breakdown:
        print(where_time_goes(args.breakdown), "(start-up and shut-down need the launch and exit: measure a new run)")
        print(f"env_steps {env_steps(args.breakdown)}, eval_env_steps {eval_env_steps(args.breakdown)}")
        return 0
    REPO = args.repo.resolve()
    work = Path(tempfile.mkdtemp(prefix="many_seeds_"))
    date, rows = datetime.date.today().isoformat(), []
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; runs in {work}; code of {REPO}",
          flush=True)
    n = len(args.seeds)
    if "reinforce_jump" in args.workloads:
        base = [*sweep_point(args.sweep), f"train.max_episodes={args.episodes}"]
        print("reinforce_jump runs:", " ".join(base), flush=True)
        pool = args.batched_backend == "envpool"
        batched = base + (["env.backend=envpool", "env.autoreset=next_step"] if pool else [])
        batched += ["env.pin_threads=true"] if pool and args.pin_threads else []
        cores = os.cpu_count()
        runs = {"one_process_per_seed": (base, args.workers, lambda: gym_raw("LunarLander-v3") * min(args.workers, cores)),
                "batched": (batched, args.batched_processes,
                            lambda: pool_raw("LunarLander-v3", n) if pool
                            else gym_raw("LunarLander-v3") * min(args.batched_processes, cores))}
        for mode in args.modes:
            overrides, workers, raw_rate = runs[mode]
            raw = raw_rate()
            row, _ = measure("reinforce_jump", mode, lambda s, o=overrides: [*o, s], args.seeds, workers,
                             work / f"reinforce_{mode}")
            rows.append({**row, "raw_env_steps_per_s": round(raw), "solved": jumped(work / f"reinforce_{mode}"),
                         "workers": workers})
            print(rows[-1]["solved"], flush=True)
    if "ppo_fast" in args.workloads:
        envs = preset_envs(REPO)
        raws = {"one_process_per_seed": envs, "batched": envs * n}
        reeval, solo_walls = [], {}
        for mode in args.modes:
            raw = pool_raw("LunarLanderContinuous-v3", raws[mode])
            row, walls = measure("ppo_fast", mode, lambda s: ["experiment=fast", s], args.seeds, 1, work / f"ppo_{mode}")
            rerun = reevaluate(work / f"ppo_{mode}", mode, walls, args.reeval_episodes)
            rows.append({**row, "raw_env_steps_per_s": round(raw), "solved": f"{sum(r['solved'] for r in rerun)} of {n}",
                         "workers": 1})
            reeval += rerun
            solo_walls = solo_walls or walls
        if solo_walls:
            print(f"one_process_per_seed: median wall per seed {statistics.median(solo_walls.values()):.1f} s", flush=True)
        for mode in args.modes:
            solved = sum(r["solved"] for r in reeval if r["mode"] == mode)
            print(f"solved (re-evaluation >= 200), {mode}: {solved}/{n}", flush=True)
        append_rows(args.reeval_csv, [{"date": date, **r} for r in reeval])
    append_rows(args.csv, [{"date": date, **r} for r in rows])
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

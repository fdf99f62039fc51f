"""Time to a deterministic eval mean of 200: `experiment=fast` against Stable-Baselines3 PPO.

    pip install -e '.[sb3]'
    python benchmarks/vs_sb3.py [--seeds 0 1 2 3 4] [--max-seconds 900] [--csv docs/results/speed.csv]
    python benchmarks/vs_sb3.py --summarize --max-seconds 600     # medians and ratios of the CSV's rows

For each seed, alternately (so that drift in the machine's load hits both): our fast preset as
`python -m lander_exp experiment=fast seed=S`, then SB3 PPO with rl-zoo3's LunarLanderContinuous
hyperparameters (16 envs, n_steps 1024, batch 64, gae_lambda 0.98, gamma 0.999, 4 epochs, ent_coef 0.01,
SB3's defaults otherwise). Ours stops at 200 here like SB3 (`train.target_return=200`; the preset
itself stops at 220, a surer policy). Each is a fresh process timed from launch to exit, so seconds_to_200
counts everything: imports, env creation, W&B offline logging (ours), rollouts, updates, evaluations.

Same evaluation protocol: every 16,384 env steps (after each of SB3's updates; ours sets
`train.eval_every` to the epochs that make as many steps, `ours_eval_every`), 50 deterministic episodes
in the same 50 EnvPool envs from the same start seeds (lander_exp.run.train.EVAL_SEED), stopping at the
first mean of at least 200.
final_eval_return re-evaluates each final policy on 50 episodes of Gymnasium's own env, outside the
timing. A run that does not reach 200 within --max-seconds gets no seconds_to_200."""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["impl", "seed", "seconds_to_200", "steps_to_200", "final_eval_return"]
TARGET = 200.0
EVAL_EPISODES = 50
ZOO = dict(n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01)
ZOO_ENVS = 16


def eval_env(fast: bool):
    """The 50 evaluation envs of `experiment=fast` (EnvPool) or of the default config (Gymnasium)."""
    from lander_exp.config import Autoreset
    from lander_exp.envs.vec import VecEnv
    from lander_exp.run.preflight import compose_config
    from lander_exp.run.train import EVAL_SEED

    env_cfg = compose_config(["experiment=fast"] if fast else []).env
    return VecEnv(env_cfg, EVAL_EPISODES, seed=EVAL_SEED, autoreset=Autoreset.same_step)


def evaluate(policy) -> float:
    """Mean return of `policy` over the 50 Gymnasium evaluation episodes."""
    from lander_exp.envs.vec import run_episodes
    from lander_exp.run.train import EVAL_SEED

    env = eval_env(fast=False)
    mean = float(run_episodes(env, policy, EVAL_EPISODES, EVAL_SEED).returns.mean())
    env.close()
    return mean


# ---- SB3, in its own process (--sb3-worker) -------------------------------------------------------
def sb3_worker(seed: int, max_seconds: float, out: Path) -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from lander_exp.envs.vec import run_episodes
    from lander_exp.run.train import EVAL_SEED

    start = time.perf_counter()
    envs = eval_env(fast=True)  # the very envs and start states our preset evaluates on
    result = {"steps_to_200": None, "evals": []}

    class EvalEachUpdate(BaseCallback):
        """Evaluates the policy each update produced (at the next rollout's start); stops at 200."""

        reached = False

        def _on_rollout_start(self) -> None:
            if self.model.num_timesteps == 0:
                return
            policy = lambda obs: self.model.predict(obs, deterministic=True)[0]  # noqa: E731
            mean = float(run_episodes(envs, policy, EVAL_EPISODES, EVAL_SEED).returns.mean())
            result["evals"].append((self.model.num_timesteps, round(mean, 1)))
            if mean >= TARGET:
                result["steps_to_200"] = self.model.num_timesteps
                self.reached = True

        def _on_step(self) -> bool:
            return not self.reached and time.perf_counter() - start < max_seconds

    env = make_vec_env("LunarLanderContinuous-v3", n_envs=ZOO_ENVS, seed=seed)
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **ZOO)
    model.learn(total_timesteps=10_000_000, callback=EvalEachUpdate())
    model.save(out.with_suffix(".zip"))
    out.write_text(json.dumps(result))


def sb3_final_return(model_zip: Path) -> float:
    from stable_baselines3 import PPO

    model = PPO.load(model_zip, device="cpu")
    return evaluate(lambda obs: model.predict(obs, deterministic=True)[0])


# ---- ours -----------------------------------------------------------------------------------------
def ours_final_return(run_dir: Path) -> float:
    from lander_exp.tools.evaluate import load_run

    _, algo, _ = load_run(run_dir)
    return evaluate(algo.policy())


def ours_eval_every() -> int:
    """`experiment=fast`'s epochs between evaluations that make SB3's env steps between them (an update's
    ZOO_ENVS x n_steps), so that both stop on the same evaluation cadence."""
    from lander_exp.run.preflight import compose_config

    steps_per_epoch = compose_config(["experiment=fast"]).algo.steps_per_epoch
    between = ZOO_ENVS * ZOO["n_steps"]
    if between % steps_per_epoch:
        raise SystemExit(f"vs_sb3.py: experiment=fast's epochs of {steps_per_epoch} steps do not divide SB3's {between} "
                         "steps between evaluations: set conf/experiment/fast.yaml's algo.steps_per_epoch to a divisor")
    return between // steps_per_epoch


def run_ours(seed: int, max_seconds: float, work: Path) -> dict:
    from lander_exp.run.records import find_run_dirs, load_local

    out = work / f"ours_s{seed}"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cmd = [sys.executable, "-m", "lander_exp", "experiment=fast", f"seed={seed}", f"train.target_return={TARGET:g}",
           f"train.eval_every={ours_eval_every()}", "train.progress=false", f"tracker.dir={out}"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=max_seconds + 120)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit {proc.returncode}")
    (run_dir,) = find_run_dirs([out])
    (rec,) = load_local([run_dir])
    reached = rec.summary.get("stop_reason") == "target_return" and wall <= max_seconds
    return {"impl": "lander_exp_fast", "seed": seed, "seconds_to_200": round(wall, 1) if reached else "",
            "steps_to_200": rec.summary["global_step"] if reached else "",
            "final_eval_return": round(ours_final_return(run_dir), 1)}


def run_sb3(seed: int, max_seconds: float, work: Path) -> dict:
    out = work / f"sb3_s{seed}.json"
    cmd = [sys.executable, __file__, "--sb3-worker", str(seed), "--max-seconds", str(max_seconds), "--out", str(out)]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=max_seconds + 300)
    wall = time.perf_counter() - t
    result = json.loads(out.read_text())
    reached = result["steps_to_200"] is not None and wall <= max_seconds
    return {"impl": "sb3_zoo", "seed": seed, "seconds_to_200": round(wall, 1) if reached else "",
            "steps_to_200": result["steps_to_200"] if reached else "",
            "final_eval_return": round(sb3_final_return(out.with_suffix(".zip")), 1)}


def summarize(rows: list[dict], max_seconds: float) -> None:
    """Medians of seconds_to_200 and of the per-seed ratio ours/SB3. A run that missed 200 counts as
    taking max_seconds, so a median that involves one is a bound (printed with >= or <=)."""
    time_of = {(r["impl"], int(r["seed"])): (float(r["seconds_to_200"]) if r["seconds_to_200"] != "" else None)
               for r in rows}
    for impl in ("lander_exp_fast", "sb3_zoo"):
        times = [t for (i, _), t in time_of.items() if i == impl]
        if times:
            med = statistics.median(t if t is not None else max_seconds for t in times)
            bound = ">= " if any(t is None for t in times) else ""  # a missed run took longer than counted
            print(f"{impl}: {sum(t is not None for t in times)}/{len(times)} runs reached 200; "
                  f"median seconds_to_200 {bound}{med:.1f}")
    seeds = sorted(seed for i, seed in time_of if i == "lander_exp_fast" and ("sb3_zoo", seed) in time_of)
    ratios, bounded = [], False
    for seed in seeds:
        ours, sb3 = time_of[("lander_exp_fast", seed)], time_of[("sb3_zoo", seed)]
        if ours is None:
            print(f"seed {seed}: ours missed 200, no ratio")
            continue
        bounded |= sb3 is None
        ratios.append(ours / (sb3 if sb3 is not None else max_seconds))
        print(f"seed {seed}: ratio {'<= ' if sb3 is None else ''}{ratios[-1]:.3f}")
    if ratios:
        print(f"median ratio ours/SB3 of seconds_to_200 over {len(ratios)} seeds: "
              f"{'<= ' if bounded else ''}{statistics.median(ratios):.3f}"
              + (" (SB3 runs that missed 200 counted as taking --max-seconds)" if bounded else ""))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--max-seconds", type=float, default=900.0, help="give up on a run after this long")
    p.add_argument("--csv", type=Path, default=ROOT / "docs/results/speed.csv")
    p.add_argument("--only", choices=("ours", "sb3"), help="run one side only (e.g. to tune the preset)")
    p.add_argument("--summarize", action="store_true", help="run nothing: summarize the rows already in --csv")
    p.add_argument("--sb3-worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.sb3_worker is not None:
        sb3_worker(args.sb3_worker, args.max_seconds, args.out)
        return 0
    if args.summarize:
        with args.csv.open() as f:
            summarize(list(csv.DictReader(f)), args.max_seconds)
        return 0
    if args.only != "ours":
        try:
            import stable_baselines3  # noqa: F401
        except ImportError:
            sys.exit("this benchmark needs Stable-Baselines3: pip install -e '.[sb3]'")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vs_sb3_", dir=ROOT / "runs" if (ROOT / "runs").is_dir() else None) as tmp:
        for seed in args.seeds:
            for impl in ("ours", "sb3"):
                if args.only and impl != args.only:
                    continue
                row = (run_ours if impl == "ours" else run_sb3)(seed, args.max_seconds, Path(tmp))
                print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
                rows.append(row)
    new = not args.csv.exists()
    with args.csv.open("a", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        if new:
            w.writeheader()
        w.writerows(rows)
    summarize(rows, args.max_seconds)
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Why a timed-out lander never comes to rest: for each run's final policy (continuous PPO), the share
of the last 200 steps of its grounded timeouts on which each engine fires, and the action noise it
fires with. LunarLanderContinuous-v3 fires the main engine when action[0] > 0 and a side engine when
|action[1]| > 0.5; Box2D puts a lander to sleep (the episode's end, +100) only after about half a
second (25 steps) without a push, so a policy whose noise fires an engine on a good share of steps
stands on the pad until the time limit.

Where such an episode's return goes: it is the shaping reward's gain from the start to standing on
the pad (about +185 here) less the fuel, so the columns also give, over the grounded timeouts, the
mean fuel cost of each engine (the env's own rates: 0.3 per main-engine step at full throttle, 0.03
per side-engine step) and the step at which a leg first touched: a lander that hovers on its way down
burns its +100 in the main engine before it ever stands.

    python scripts/engine_firing.py runs/sweeps/hover_long runs/sweeps/hover_cure --episodes 50 --out firing.csv
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
from csv_out import write_rows  # scripts/, on the path when a script runs

from lander_exp.config import Autoreset
from lander_exp.envs.outcomes import TIMEOUT_GROUNDED
from lander_exp.envs.vec import VecEnv
from lander_exp.run.records import find_run_dirs
from lander_exp.run.train import EVAL_SEED
from lander_exp.tools.evaluate import load_run

TAIL = 200  # the last steps of an episode that are counted


def firing(run_dir: Path, episodes: int, sampled: bool) -> dict:
    """Grounded-timeout rate and, over those episodes' last TAIL steps, the share with each engine on."""
    cfg, algo, state = load_run(run_dir)
    env_cfg = copy.deepcopy(cfg.env)
    env_cfg.backend = "gymnasium"
    env = VecEnv(env_cfg, 1, seed=EVAL_SEED, autoreset=Autoreset.same_step)
    policy = algo.policy(EVAL_SEED if sampled else None)
    main_on, side_on, main_fuel, side_fuel, touch, returns, grounded = [], [], [], [], [], [], 0
    try:
        for i in range(episodes):
            obs, actions, contact = env.reset(seed=EVAL_SEED + i), [], None
            while True:
                action = policy(obs)
                actions.append(action[0])
                step = env.step(action)
                obs = step.obs
                if contact is None and (obs[0, 6] > 0 or obs[0, 7] > 0):  # a leg's contact flag (never scaled)
                    contact = len(actions)
                if len(step.episodes):
                    break
            if step.episodes.outcomes[0] == TIMEOUT_GROUNDED:
                grounded += 1
                acts = np.asarray(actions)
                tail = acts[-TAIL:]
                main_on.append(float((tail[:, 0] > 0).mean()))
                side_on.append(float((np.abs(tail[:, 1]) > 0.5).mean()))
                # LunarLanderContinuous's fuel: main throttle 50-100% above 0, side 50-100% above |0.5|
                main_fuel.append(float(np.sum(np.where(acts[:, 0] > 0, 0.3 * (np.clip(acts[:, 0], 0, 1) + 1) / 2, 0))))
                side_fuel.append(float(np.sum(np.where(np.abs(acts[:, 1]) > 0.5, 0.03 * np.clip(np.abs(acts[:, 1]), 0.5, 1), 0))))
                touch.append(contact)
                returns.append(float(step.episodes.returns[0]))
    finally:
        env.close()
    std = np.exp(algo.model.log_std.detach().numpy())
    return {"epoch": state["epoch"], "std_main": round(float(std[0]), 3), "std_side": round(float(std[1]), 3),
            "timeout_grounded": round(grounded / episodes, 3),
            "main_on_last200": round(float(np.mean(main_on)), 3) if main_on else "",
            "side_on_last200": round(float(np.mean(side_on)), 3) if side_on else "",
            **{k: round(float(np.mean(v)), 1) if v else "" for k, v in (
                ("grounded_return", returns), ("grounded_main_fuel", main_fuel), ("grounded_side_fuel", side_fuel),
                ("grounded_first_contact_step", touch))}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="sweep or run folders")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--out", type=Path, help="CSV to write (default: standard output)")
    args = parser.parse_args(argv)
    out = []
    for run_dir in find_run_dirs(args.folders):
        cfg, _, _ = load_run(run_dir)
        for sampled in (False, True):
            out.append({"run": str(run_dir), "seed": cfg.seed, "policy": "sampled" if sampled else "greedy",
                        **firing(run_dir, args.episodes, sampled)})
    write_rows(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

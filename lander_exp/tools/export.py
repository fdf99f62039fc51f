"""Runs in the formats other tools read (`python -m lander_exp.report ... --export DIR`):

- per run, rl-zoo3's `evaluations.npz` (`timesteps`, `results`, `ep_lengths`, as Stable-Baselines3's
  EvalCallback writes it), laid out as rl-zoo3's plot scripts look for it:
  `DIR/<group>/<algo>/<env id>_<seed>/evaluations.npz`, so that
  `python -m rl_zoo3.plots.all_plots -a ppo -e LunarLanderContinuous-v3 -f DIR/<group> ...` draws it.
  Training logs each evaluation's mean return and length, not its episodes, so `results` and
  `ep_lengths` hold one column: that mean (what rl-zoo3's plots average over anyway);
- `DIR/curves.csv`: every logged curve of every run in one tidy table, one row per value:
  run, group, seed, x_axis, x, metric, value (pandas.read_csv, R, a spreadsheet)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from lander_exp.run.records import RunRecord
from lander_exp.shell import replacing

CSV_NAME = "curves.csv"
NPZ_NAME = "evaluations.npz"
CSV_COLUMNS = ("run", "group", "seed", "x_axis", "x", "metric", "value")
# what an evaluation row holds, as training logs it (lander_exp.train)
EVAL_RETURN, EVAL_LENGTH, STEP = "eval/return_mean", "eval/length", "global_step"


def _slug(text: str) -> str:
    """A folder name from a group label: 'lr=fast, hidden_dim=64' -> 'lr=fast_hidden_dim=64'."""
    return re.sub(r"[^A-Za-z0-9=._+-]+", "_", text).strip("_") or "group"


def evaluations(run: RunRecord) -> dict[str, np.ndarray]:
    """rl-zoo3's arrays of one run: env steps at each evaluation, and its mean return and length (one column)."""
    rows = [row for row in run.history if isinstance(row.get(EVAL_RETURN), int | float)]
    return {"timesteps": np.array([int(row.get(STEP, 0)) for row in rows], dtype=np.int64),
            "results": np.array([[float(row[EVAL_RETURN])] for row in rows], dtype=np.float64).reshape(-1, 1),
            "ep_lengths": np.array([[float(row.get(EVAL_LENGTH, np.nan))] for row in rows], dtype=np.float64).reshape(-1, 1)}


def curve_rows(run: RunRecord, group: str):
    """The run's tidy rows: every numeric value of every history row against the run's x-axis (W&B's
    own `_step`, `_runtime`, `_timestamp` and the x-axis itself left out)."""
    seed = run.config.get("seed", "")
    for row in run.history:
        x = row.get(run.x_axis)
        if not isinstance(x, int | float):
            continue
        for metric, value in row.items():
            if metric.startswith("_") or metric == run.x_axis or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            yield (run.name, group, seed, run.x_axis, x, metric, value)


def write_export(out_dir: Path, groups: list[tuple[str, list[RunRecord]]]) -> list[Path]:
    """Write every run's evaluations.npz and the one curves.csv; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    used: set[Path] = set()
    for label, runs in groups:
        for run in runs:
            algo = str(run.config.get("algo", {}).get("name", "algo"))
            env_id = str(run.config.get("env", {}).get("id", "env"))
            folder = out_dir / _slug(label) / algo / f"{env_id}_{run.config.get('seed', 0)}"
            n = 2
            while folder in used:  # two runs of one group with the same seed
                folder = folder.with_name(f"{env_id}_{run.config.get('seed', 0)}-{n}")
                n += 1
            used.add(folder)
            folder.mkdir(parents=True, exist_ok=True)
            with replacing(folder / NPZ_NAME, "wb") as f:
                np.savez(f, **evaluations(run))
            files.append(folder / NPZ_NAME)
    with replacing(out_dir / CSV_NAME, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for label, runs in groups:
            for run in runs:
                writer.writerows(curve_rows(run, label))
    files.append(out_dir / CSV_NAME)
    return files


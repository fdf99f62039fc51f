"""benchmarks/gpu_seeds.py's rows, checked against the runs' own W&B records: a batch's epoch time
per seed is each run's share of the batch's epoch, the first (warm-up) epoch is left out, and the
rate counts the measured epochs' steps only. Run on the CPU (--devices cpu), as real processes."""

import csv
import statistics
import subprocess
import sys
from pathlib import Path

from lander_exp.run.records import find_run_dirs, load_local
from tests.conftest import ROOT

STEPS = 512  # per seed and epoch: 2 envs x 256


def test_rows_are_the_measured_epochs_of_every_seed(tmp_path):
    out = tmp_path / "gpu.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu_seeds.py"), "--devices", "cpu", "--seeds", "2", "--epochs", "3",
         "--csv", str(out), "env.num_envs=2", f"algo.steps_per_epoch={STEPS}", "algo.batch_size=256",
         "algo.update_epochs=1", "network.hidden_dim=16", "env.max_episode_steps=100"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    work = Path(proc.stdout.strip().splitlines()[-1].rsplit("runs in ", 1)[1])
    rows = list(csv.DictReader(out.open()))
    assert [(r["mode"], r["seeds"], r["epochs"]) for r in rows] == [("alone", "1", "3"), ("batched", "2", "3")]
    for r in rows:
        recs = load_local(find_run_dirs([work / f"cpu_{r['mode']}"]))
        assert len(recs) == int(r["seeds"])
        epochs = [row for rec in recs for row in rec.history if "perf/rollout_s" in row]
        assert sorted(row["epoch"] for row in epochs) == sorted([1, 2, 3] * len(recs))
        measured = [row for row in epochs if row["epoch"] > 1]
        rollout = statistics.mean(row["perf/rollout_s"] for row in measured)
        update = statistics.mean(row["perf/update_s"] for row in measured)
        assert float(r["rollout_s_per_seed"]) == round(rollout, 3)
        assert float(r["update_s_per_seed"]) == round(update, 3)
        assert float(r["epoch_s_per_seed"]) == round(rollout + update, 3)
        rate = 2 * STEPS * len(recs) / sum(row["perf/rollout_s"] + row["perf/update_s"] for row in measured)
        assert float(r["env_steps_per_s"]) == round(rate)
        assert r["device"] == "cpu" and "cores" in r["device_name"]

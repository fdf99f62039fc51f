"""An online run whose W&B server cannot be reached goes on offline, loses nothing, and says how to
upload it. The server is a closed local port: the real client, really failing to connect."""

import json
import re
from pathlib import Path

from tests.conftest import TINY
from tests.processes import cli_env, metric_rows, run_folder, wandb_runs


def test_unreachable_server_falls_back_to_offline_and_prints_the_sync_command(workdir):
    import subprocess
    import sys

    env = cli_env({"WANDB_BASE_URL": "http://127.0.0.1:9", "WANDB_API_KEY": "x" * 40, "WANDB_INIT_TIMEOUT": "3"})
    proc = subprocess.run([sys.executable, "-m", "lander_exp", *TINY, "tracker.mode=online"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = re.search(r"W&B is unreachable \(.*127\.0\.0\.1:9.*\); this run logs offline, nothing is lost\. Upload it "
                  r"afterwards with: (\S+) sync (\S+)", proc.stderr)
    assert m, proc.stderr[-3000:]
    (wandb_dir,) = wandb_runs(workdir)
    assert (workdir / m.group(2)).resolve() == wandb_dir.resolve()  # as the user sees it: relative to the current folder
    assert (workdir / m.group(1)).samefile(Path(sys.executable).parent / "wandb")  # this environment's wandb
    assert [r["global_step"] for r in metric_rows(wandb_dir)] == [512, 1024]
    info = json.loads((run_folder(workdir) / "wandb_run.json").read_text())
    assert info["mode"] == "offline" and wandb_dir.name.endswith(info["id"])
    assert list((workdir / "runs" / "wandb").glob("run-*")) == []  # the failed online attempt left nothing

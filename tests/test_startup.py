"""What a training process imports and how its optimizer steps: start-up kept lean without changing
what is learnt (lander_exp/core/optim.py, envs.vec.import_envpool, run/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from lander_exp.core.optim import Adam
from tests.conftest import ROOT, TINY
from tests.processes import cli_env


def _net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))


def test_adam_steps_exactly_as_torch_optim_adam_and_shares_its_checkpoints():
    """The same weights and moments bit for bit after clipped steps, and state dicts either reads."""
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    ours, theirs = _net(), _net()
    opt_ours = Adam(ours.parameters(), lr=3e-3)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=3e-3, fused=True)
    for _ in range(15):
        for net, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad(set_to_none=True)
            (net(x) ** 2).mean().backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
            opt.step()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(p, q)
    mine, reference = opt_ours.state_dict(), opt_theirs.state_dict()
    assert mine["param_groups"] == reference["param_groups"]
    for k, state in reference["state"].items():
        for key, value in state.items():
            assert torch.equal(mine["state"][k][key], value)
    # a checkpoint of either optimizer loads into the other and steps the same
    fresh_ours, fresh_theirs = Adam(_net().parameters(), lr=3e-3), torch.optim.Adam(_net().parameters(), lr=3e-3, fused=True)
    fresh_ours.load_state_dict(reference)
    fresh_theirs.load_state_dict(mine)
    assert fresh_ours.state_dict()["state"][0]["step"] == fresh_theirs.state_dict()["state"][0]["step"] == 15


# Runs `python -m lander_exp ARGS` in this interpreter and, at its exit, prints which of the heavy
# modules it imported: a child process of its own, so that this test process's imports do not count.
PROBE = """
import atexit, json, runpy, sys
watched = sys.argv[1].split(",")
atexit.register(lambda: print("IMPORTED " + json.dumps({m: m in sys.modules for m in watched})))
sys.argv = ["lander_exp", *sys.argv[2:]]
runpy.run_module("lander_exp", run_name="__main__")
"""


def test_a_training_run_imports_neither_torch_dynamo_nor_envpools_other_env_families(tmp_path: Path):
    """PyTorch's compiler (imported by torch.optim's guards) and EnvPool's MuJoCo, Atari and Jumanji
    families (with matplotlib) were a few seconds of every run's start-up; a run uses none of them."""
    watched = ["torch._dynamo", "envpool.mujoco", "envpool.jumanji", "matplotlib", "envpool.box2d"]
    args = [*TINY, "env.backend=envpool", "env.autoreset=next_step", "tracker.mode=offline"]
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(watched), *args], cwd=tmp_path, env=cli_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "run ended (max_epochs) after 2 epochs" in proc.stdout
    imported = json.loads(proc.stdout.split("IMPORTED ", 1)[1].splitlines()[0])
    assert imported == {"torch._dynamo": False, "envpool.mujoco": False, "envpool.jumanji": False, "matplotlib": False,
                        "envpool.box2d": True}


def test_envpool_registers_its_other_families_for_whoever_imports_them_later():
    """import_envpool registers LunarLander alone; a later `import envpool.entry` still registers the rest."""
    code = ("from lander_exp.envs.vec import import_envpool\n"
            "envpool = import_envpool()\n"
            "pool = envpool.make('LunarLander-v3', env_type='gymnasium', num_envs=2, seed=0)\n"
            "print(pool.reset()[0].shape, 'Ant-v4' in envpool.list_all_envs())\n"
            "import envpool.entry\n"
            "print('Ant-v4' in envpool.list_all_envs(), 'LunarLander-v3' in envpool.list_all_envs())\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=cli_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["(2,", "8)", "False", "True", "True"]


# Runs `python -m lander_exp ARGS` and prints which thread first started W&B's service process, and
# whether that thread was running (or done) when the import of PyTorch began.
SERVICE_PROBE = """
import importlib.abc, json, runpy, sys, threading
from wandb.sdk import wandb_setup
seen = {}
ensure = wandb_setup._WandbSetup.ensure_service
def watched(self):
    seen.setdefault("service_started_by", threading.current_thread().name)
    return ensure(self)
wandb_setup._WandbSetup.ensure_service = watched
class TorchImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith("torch.") and "before_torch" not in seen:  # its submodules: torch itself is being imported
            names = [t.name for t in threading.enumerate()]
            seen["before_torch"] = "lander_exp-wandb-setup" in names or "service_started_by" in seen
sys.meta_path.insert(0, TorchImport())
sys.argv = ["lander_exp", *sys.argv[1:]]
try:
    runpy.run_module("lander_exp", run_name="__main__")
finally:
    print("SERVICE " + json.dumps(seen), flush=True)
"""


def test_wandbs_service_starts_on_a_thread_of_its_own_before_pytorch_is_imported(tmp_path: Path):
    """wandb.init waits about a fifth of a second for W&B's service process to come up: a new run
    starts it on a thread of its own before importing PyTorch, so that it comes up meanwhile."""
    proc = subprocess.run([sys.executable, "-c", SERVICE_PROBE, *TINY, "tracker.mode=offline"], cwd=tmp_path,
                          env=cli_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "run ended (max_epochs) after 2 epochs" in proc.stdout
    assert json.loads(proc.stdout.split("SERVICE ", 1)[1].splitlines()[0]) == {
        "service_started_by": "lander_exp-wandb-setup", "before_torch": True}

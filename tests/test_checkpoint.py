"""Checkpoints are never silently wrong: bytes overwritten in a real checkpoint, a truncated one, a
checkpoint of another network, the crafted files that exhaust memory, a full disk; and a run never
writes into another run's folder. Each fault is made for real on the files a real run wrote."""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lander_exp.run import checkpoint
from tests import crafted
from tests.conftest import TINY, run_cli
from tests.processes import RUN, assert_same_state, cli_env, load, metric_rows, run_folder, wandb_runs

FINISHED = [*RUN, "seed=3", "algo.reset_each_epoch=true", "train.max_epochs=6"]  # checkpoints of epochs 2, 4, 6


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The folder a finished tiny PPO run was trained in (its run folder: run_folder(workdir))."""
    workdir = tmp_path_factory.mktemp("finished")
    proc = run_cli(FINISHED, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir


@pytest.fixture(scope="module")
def wider(tmp_path_factory) -> Path:
    """The run folder of another run: the same settings but a network of width 32, not 16."""
    workdir = tmp_path_factory.mktemp("wider")
    proc = run_cli([*TINY, "seed=4", "network.hidden_dim=32"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_folder(workdir)


def copy_of(workdir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of `workdir` with its runs and W&B records, the run folder in it)."""
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns(".lock"))
    return copy, run_folder(copy)


def epochs(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first by the epoch in their names (whatever the format)."""
    found = [p for p in (run_dir / "checkpoints").iterdir() if re.fullmatch(r"epoch_\d+\.\w+", p.name)]
    return sorted(found, key=lambda p: int(p.name[6:].split(".")[0]))


def overwrite(path: Path) -> None:
    """4 KB of random bytes written into the middle of the file, as a failing disk or a stray write would."""
    data = bytearray(path.read_bytes())
    at = len(data) // 2
    data[at:at + 4096] = random.Random(0).randbytes(4096)[:len(data) - at]
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def snapshot(root: Path) -> dict:
    """Every file and folder under `root`, with the bytes of every file; of a W&B run's debug logs
    (wandb/*/logs/debug*.log) only that they exist: W&B's service process, which outlives the run's
    own process, may still append its closing lines to them on a loaded machine."""
    def content(p: Path) -> bytes | None:
        if not p.is_file() or (p.parent.name == "logs" and p.name.startswith("debug") and "wandb" in p.parts):
            return None
        return p.read_bytes()

    return {str(p.relative_to(root)): content(p) for p in sorted(root.rglob("*"))}


def err_lines(proc) -> list[str]:
    return proc.stderr.strip().splitlines()


def evaluate(run_dir: Path, cwd: Path, *extra: str):
    return run_cli([str(run_dir), "--episodes", "4", "--envs", "2", "--json", *extra], cwd=cwd, module="lander_exp.evaluate")


# ---- the format ----------------------------------------------------------------------------------

def test_a_state_reads_back_with_the_same_values_and_types(tmp_path):
    rows = [{"train/loss": 0.5, "epoch": 1, "global_step": 256, "eval/video": {"video": "videos/a.mp4", "caption": "c"}},
            {"train/loss": float("nan"), "epoch": 2, "global_step": 512, "flag": True, "big": 2**70}]
    state = {"weights": torch.arange(6, dtype=torch.float32).reshape(2, 3), "step": torch.tensor(3.0),
             "log": np.array([1.5, -2.0]), "empty": np.zeros((0, 8), np.int64), "mask": np.array([True, False]),
             "opt": {"state": {0: {"exp_avg": torch.ones(2)}}, "param_groups": [{"betas": (0.9, 0.999), "params": [0]}]},
             "rng": {"state": {"state": 2**127 + 5, "inc": 3}}, "none": None, "$odd": {"$key": "v"},
             "rows": checkpoint.Columns(rows)}
    path = checkpoint.save(tmp_path, 1, state, keep=1)
    back = checkpoint.load(path)
    assert_same_state(state, back, skip=())  # values, NaN included, and the tensors' dtypes
    assert isinstance(back["weights"], torch.Tensor) and isinstance(back["log"], np.ndarray)
    assert back["step"].shape == () and back["weights"].dtype == torch.float32
    assert list(back["opt"]["state"]) == [0] and back["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert [type(v) for v in back["rows"][0].values()] == [float, int, int, dict]
    assert [type(v) for v in back["rows"][1].values()] == [float, int, int, bool, int]
    assert math.isnan(back["rows"][1]["train/loss"])


def test_pruning_keeps_the_newest_checkpoints_by_epoch_number_not_by_name(tmp_path):
    """epoch_1000000 sorts before epoch_999999 by name: pruning by name deleted the newest."""
    for epoch in (999_998, 999_999, 1_000_000):
        checkpoint.save(tmp_path, epoch, {"epoch": epoch}, keep=2)
    assert [int(p.name[6:].split(".")[0]) for p in epochs(tmp_path)] == [999_999, 1_000_000]
    assert checkpoint.load(checkpoint.latest(tmp_path))["epoch"] == 1_000_000


# ---- damaged checkpoints ---------------------------------------------------------------------------

@pytest.mark.parametrize("damage", [overwrite, truncate])
def test_evaluate_falls_back_past_a_damaged_checkpoint_and_refuses_it_when_named(finished, tmp_path, damage):
    workdir, run_dir = copy_of(finished, tmp_path)
    newest, older = epochs(run_dir)[-1], epochs(run_dir)[-2]
    damage(newest)
    proc = evaluate(run_dir, workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = err_lines(proc)
    assert len(lines) == 2, lines
    assert newest.name in lines[0] and "damaged" in lines[0]
    assert "using" in lines[1] and older.name in lines[1]
    result = json.loads(proc.stdout)
    assert result["epoch"] == 4
    explicit = evaluate(run_dir, workdir, "--checkpoint", str(older))
    assert explicit.returncode == 0 and json.loads(explicit.stdout) == result  # the older checkpoint's policy

    named = evaluate(run_dir, workdir, "--checkpoint", str(newest))
    assert named.returncode == 2 and named.stdout == ""
    (line,) = err_lines(named)
    assert line.startswith("lander_exp.evaluate: error: checkpoint") and newest.name in line and "damaged" in line


def test_analyze_falls_back_past_a_damaged_checkpoint_and_refuses_it_when_named(finished, tmp_path):
    workdir, run_dir = copy_of(finished, tmp_path)
    newest, older = epochs(run_dir)[-1], epochs(run_dir)[-2]
    overwrite(newest)
    named = run_cli([str(run_dir), "--no-wandb", "--checkpoint", str(newest)], cwd=workdir, module="lander_exp.analyze")
    assert named.returncode == 2 and named.stdout == "", named.stderr[-3000:]
    (line,) = err_lines(named)
    assert line.startswith("lander_exp.analyze: error: checkpoint") and newest.name in line and "damaged" in line
    assert not (run_dir / "analysis").exists()

    proc = run_cli([str(run_dir), "--no-wandb"], cwd=workdir, module="lander_exp.analyze")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = err_lines(proc)
    assert len(lines) == 2, lines
    assert newest.name in lines[0] and "damaged" in lines[0]
    assert "using" in lines[1] and older.name in lines[1]
    pictures = [workdir / p for p in proc.stdout.split()]  # printed as the user typed the run folder
    assert len(pictures) == 3 and all(p.is_file() and p.parent.resolve() == (run_dir / "analysis").resolve()
                                      for p in pictures), proc.stdout


def test_resume_falls_back_past_a_damaged_checkpoint_and_trains_on_to_the_same_end(finished, tmp_path):
    """The newest checkpoint of a finished run overwritten: resume says so, continues from the one
    before (setting the damaged one aside) and retrains the lost epochs to the very state and W&B
    rows the run had. Named explicitly, the damaged checkpoint is refused and nothing changes."""
    workdir, run_dir = copy_of(finished, tmp_path)
    newest = epochs(run_dir)[-1]
    intact = load(newest)
    overwrite(newest)
    before = snapshot(workdir)
    named = run_cli([str(run_dir), "--checkpoint", str(newest)], cwd=workdir, module="lander_exp.resume")
    assert named.returncode == 2 and len(err_lines(named)) == 1 and "damaged" in named.stderr, named.stderr
    assert snapshot(workdir) == before

    proc = run_cli([str(run_dir)], cwd=workdir, module="lander_exp.resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{newest.name} is damaged" in proc.stderr and "using" in proc.stderr and "epoch_000004" in proc.stderr
    assert "resuming" in proc.stdout and "after epoch 4" in proc.stdout
    assert (run_dir / "checkpoints" / f"damaged_{newest.name}").is_file()
    assert_same_state(intact, load(newest))  # epochs 5 and 6 trained again, bit for bit
    (rebuilt,) = wandb_runs(workdir)
    (original,) = wandb_runs(finished)
    assert metric_rows(rebuilt) == metric_rows(original)


# ---- checkpoints of another shape, or another run -----------------------------------------------

def test_a_checkpoint_of_another_network_is_refused_in_one_line_naming_both_shapes(finished, wider, tmp_path):
    workdir, run_dir = copy_of(finished, tmp_path)
    other = epochs(wider)[-1]
    for module, extra in (("lander_exp.evaluate", ["--episodes", "2"]), ("lander_exp.analyze", ["--no-wandb"])):
        proc = run_cli([str(run_dir), "--checkpoint", str(other), *extra], cwd=workdir, module=module)
        assert proc.returncode == 2, (module, proc.stderr[-3000:])
        (line,) = err_lines(proc)
        assert "Traceback" not in proc.stderr
        assert "[32, 8]" in line and "[16, 8]" in line and "network.hidden_dim=16" in line, line

    # the other run's checkpoint as the newest of this run: evaluate falls back, resume too, saying why
    stray = run_dir / "checkpoints" / f"epoch_000008{other.suffix}"
    shutil.copy(other, stray)
    proc = evaluate(run_dir, workdir)
    assert proc.returncode == 0 and json.loads(proc.stdout)["epoch"] == 6, proc.stderr[-3000:]
    assert stray.name in err_lines(proc)[0] and "[32, 8]" in err_lines(proc)[0]
    named = run_cli([str(run_dir), "--checkpoint", str(stray)], cwd=workdir, module="lander_exp.resume")
    assert named.returncode == 2, named.stderr
    (line,) = err_lines(named)
    assert "belongs to another run" in line and "config.yaml" not in line, line  # no advice to restore it


# ---- crafted files ----------------------------------------------------------------------------------

def peak_mb(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """(exit code, stderr, peak resident memory in MB) of `python -m ARGS`."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, usage.ru_maxrss / 1024


def test_crafted_files_are_refused_in_one_line_without_allocating_what_they_declare(finished, tmp_path):
    workdir, run_dir = copy_of(finished, tmp_path)
    newest = epochs(run_dir)[-1]
    bomb = tmp_path / "bomb.pt"  # 1.5 MB: 1 GB of zeros once inflated
    bomb.write_bytes(crafted.deflate_bomb(1024))
    code, err, mb = peak_mb(["lander_exp.evaluate", str(run_dir), "--episodes", "2", "--checkpoint", str(bomb)], workdir)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "older version" in err, err
    assert mb < 700, mb

    # a stride-0 episode log as the run's newest checkpoint: 745 GiB once copied
    state = {k: v for k, v in load(newest).items() if k != "tracker"}
    state["tracker"] = {"id": "x", "rows": []}
    stray = run_dir / "checkpoints" / f"epoch_000008{newest.suffix}"
    stray.write_bytes(crafted.stride0(state))
    code, err, mb = peak_mb(["lander_exp.resume", str(run_dir)], workdir)
    assert code == 0 and f"{stray.name} was written by an older version" in err, err
    assert mb < 700, mb

    # safetensors: a header that declares 10**11 float64 in a file of a few bytes
    header = json.dumps({"__metadata__": {"format": checkpoint.FORMAT},
                         "x": {"dtype": "F64", "shape": [10**11], "data_offsets": [0, 8 * 10**11]}}).encode()
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(len(header).to_bytes(8, "little") + header + bytes(64))
    code, err, mb = peak_mb(["lander_exp.evaluate", str(run_dir), "--episodes", "2", "--checkpoint", str(huge)], workdir)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "huge.safetensors" in err, err
    assert mb < 700, mb


class _Reads:
    """safetensors' safe_open, counting the arrays read."""

    def __init__(self, monkeypatch):
        import safetensors

        self.count, real = 0, safetensors.safe_open
        outer = self

        class Counting:
            def __init__(self, *args, **kwargs):
                self.inner = real(*args, **kwargs)

            def __enter__(self):
                self.f = self.inner.__enter__()
                return self

            def __exit__(self, *exc):
                return self.inner.__exit__(*exc)

            def get_tensor(self, name):
                outer.count += 1
                return self.f.get_tensor(name)

            def __getattr__(self, name):
                return getattr(self.f, name)

        monkeypatch.setattr(safetensors, "safe_open", Counting)


@pytest.mark.parametrize("change,says", [
    (lambda s: s["episode_log"].update(returns=np.zeros(10**6)), "episode_log/returns is float64 [1000000] where float64 [8]"),
    (lambda s: s["algo"]["model"].update(extra=torch.zeros(10**6)), "algo/model holds an unknown key 'extra'"),
    (lambda s: s["algo"]["pi_opt"]["state"].pop(0), "algo/pi_opt/state lacks 0"),
    (lambda s: s["algo"].update(gen=torch.zeros(10**6, dtype=torch.uint8)), "algo/gen is uint8 [1000000] where uint8 [5056]"),
], ids=["long_episode_log", "unknown_key", "missing_key", "rng_size"])
def test_a_checkpoint_that_departs_from_the_config_is_refused_before_any_array_is_read(finished, tmp_path, monkeypatch,
                                                                                      change, says):
    """Well-formed files with a valid checksum (as someone could write them) whose arrays do not
    have the shapes the run's config and counters imply: refused from the header alone."""
    from lander_exp.tools.evaluate import load_run

    _, run_dir = copy_of(finished, tmp_path)
    newest = epochs(run_dir)[-1]
    state = load(newest)
    state["episode_log"] = {k: v[:8] for k, v in state["episode_log"].items()}
    state["episodes"] = 8
    change(state)
    checkpoint.write(newest, state)
    reads = _Reads(monkeypatch)
    checkpoint.load(epochs(run_dir)[-2])
    assert reads.count > 0  # an intact checkpoint: its arrays are read, and counted
    reads.count = 0
    with pytest.raises(checkpoint.CheckpointError) as refused:
        load_run(run_dir, newest)
    assert says in str(refused.value) and "\n" not in str(refused.value)
    assert reads.count == 0


# ---- run folders --------------------------------------------------------------------------------------

def test_a_second_run_into_a_finished_runs_folder_is_refused_and_changes_nothing(finished, tmp_path):
    workdir, run_dir = copy_of(finished, tmp_path)
    before = snapshot(workdir)
    shown = run_dir.relative_to(workdir)
    proc = run_cli([*TINY, "train.max_epochs=2", "seed=7", "network=shallow", f"hydra.run.dir={shown}"], cwd=workdir)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = err_lines(proc)
    assert line.startswith(f"lander_exp: error: {shown} holds another run (config.yaml, wandb_run.json, checkpoints/, .hydra/)")
    assert f"-m lander_exp.resume {shown}" in line and "fresh folder" in line
    assert snapshot(workdir) == before  # both runs' files: the folder's and the W&B records


def test_a_batch_or_a_multirun_into_folders_that_hold_runs_is_refused_and_changes_nothing(tmp_path):
    quick = [*TINY, "train.max_epochs=1"]
    assert run_cli([*quick, "seeds=[0,1]", "hydra.run.dir=batch"], cwd=tmp_path).returncode == 0
    assert run_cli(["-m", *quick, "seed=5", "hydra.sweep.dir=sweep"], cwd=tmp_path).returncode == 0
    before = snapshot(tmp_path)
    for args, holder in (([*quick, "seeds=[1,2]", "hydra.run.dir=batch"], "batch/s1"),
                         (["-m", *quick, "seed=5,6", "hydra.sweep.dir=sweep"], "sweep/0_ppo_s5")):
        proc = run_cli(args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr[-3000:]
        (line,) = err_lines(proc)
        assert line.startswith(f"lander_exp: error: {holder} holds another run"), line
        assert f"-m lander_exp.resume {holder}" in line
    assert snapshot(tmp_path) == before
    # the Hydra record of the batch is refused too; another part of a batch, with a record and seeds of its
    # own (as `python -m lander_exp.sweep --batch-seeds` splits one), may go there
    proc = run_cli([*quick, "seeds=[2]", "hydra.run.dir=batch"], cwd=tmp_path)
    assert proc.returncode == 2 and "batch holds another run (.hydra/)" in proc.stderr, proc.stderr
    assert run_cli([*quick, "seeds=[2]", "hydra.run.dir=batch", "hydra.output_subdir=.hydra/s2"], cwd=tmp_path).returncode == 0

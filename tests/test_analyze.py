"""The policy analysis: hand-built networks whose preferences are known must produce sweeps that show
them, through the run's observation scaling; the CLI writes PNG files and a W&B analysis run."""

import json
import subprocess
import sys

import matplotlib.image
import numpy as np
import torch
from torch import nn

from lander_exp.config import ObsScaling
from lander_exp.core.nets import ActorCritic, CategoricalActorCritic
from lander_exp.envs.vec import OBS_SCALE
from lander_exp.tools import analyze
from tests.conftest import history, leet_records
from tests.processes import cli_env

VY, ANGLE, Y = 3, 4, 1


def zeroed(*layers):
    for layer in layers:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)


def sweep_of(sweeps, name):
    return next(s for s in sweeps if s.var == name)


@torch.no_grad()
def test_discrete_preferences_the_write_up_describes_show_in_the_sweeps_through_the_obs_scaling():
    model = CategoricalActorCritic(8, 4, hidden_dim=4, actor_layers=1, critic_layers=1)
    hidden, logits = model.actor[0], model.actor[2]
    zeroed(hidden, logits, model.critic[0], model.critic[2])
    # hidden units relu(-vy), relu(vy), relu(-angle), relu(angle): with ReLU, +/- pairs make linear logits
    for unit, (var, sign) in enumerate(((VY, -1), (VY, 1), (ANGLE, -1), (ANGLE, 1))):
        hidden.weight[unit, var] = sign
    logits.weight[2, 0], logits.weight[2, 1] = 3.0, -3.0  # main engine: logit -3 vy, likelier the faster it falls
    logits.weight[3, 2], logits.weight[3, 3] = 4.0, -4.0  # right engine: logit -4 angle, for a clockwise tilt
    model.critic[0].weight[0, Y] = 1.0
    model.critic[2].weight[0, 0] = 2.0  # value 2 relu(y): grows with height
    scale = analyze.scaler(ObsScaling.divide)  # the network sees obs / OBS_SCALE
    sweeps = analyze.sweeps(model, scale)

    vy = sweep_of(sweeps, "vy")
    p_main = vy.preferences[:, 2]
    assert np.all(np.diff(p_main) < 0) and p_main[0] > 0.4 and p_main[-1] < 0.2
    # exactly the softmax of the scaled input: logits (0, 0, -3 vy / 7.5, 0) at the reference angle 0
    expected = np.exp(-3 * vy.values / OBS_SCALE[VY]) / (3 + np.exp(-3 * vy.values / OBS_SCALE[VY]))
    np.testing.assert_allclose(p_main, expected, rtol=1e-5)
    np.testing.assert_allclose(vy.preferences.sum(1), 1.0, rtol=1e-6)

    angle = sweep_of(sweeps, "angle")
    assert np.all(np.diff(angle.preferences[:, 3]) < 0) and angle.preferences[0, 3] > angle.preferences[0, 1]
    for other in ("x", "vx", "omega", "left_leg"):  # variables the policy ignores: flat curves
        assert np.ptp(sweep_of(sweeps, other).preferences, axis=0).max() < 1e-6

    y = sweep_of(sweeps, "y")
    np.testing.assert_allclose(y.value, 2.0 * y.values / OBS_SCALE[Y], rtol=1e-5)
    xs, ys, grid = analyze.value_grid(model, scale)
    assert np.all(np.diff(grid, axis=0) > 0) and np.ptp(grid, axis=1).max() < 1e-6  # up in y, flat in x


@torch.no_grad()
def test_continuous_throttles_of_a_hand_set_actor_critic_show_in_the_sweeps():
    model = ActorCritic(8, 2, hidden_dim=3, actor_layers=1, critic_layers=1, init_log_std=-1.0)
    first, last = model.actor[0], model.actor[2]
    zeroed(first, last)
    first.weight[0, VY] = -1.0  # h0 = relu(-vy): how fast it falls
    first.weight[1, ANGLE], first.weight[2, ANGLE] = 1.0, -1.0  # h1 - h2 = angle
    last.weight[0, 0] = 2.0  # main = tanh(2 relu(-vy))
    last.weight[1, 1], last.weight[1, 2] = 1.0, -1.0  # lateral = tanh(angle)
    sweeps = analyze.sweeps(model, analyze.scaler(ObsScaling.none), reference=(0, 0.5, 0, 0, 0, 0, 0, 0))

    vy = sweep_of(sweeps, "vy")
    np.testing.assert_allclose(vy.preferences[:, 0], np.tanh(2 * np.maximum(-vy.values, 0)), atol=1e-6)
    std = np.exp(-1.0)
    np.testing.assert_allclose(vy.high[:, 0], np.tanh(2 * np.maximum(-vy.values, 0) + std), atol=1e-6)
    angle = sweep_of(sweeps, "angle")
    np.testing.assert_allclose(angle.preferences[:, 1], np.tanh(angle.values), atol=1e-6)
    np.testing.assert_allclose(angle.preferences[:, 0], 0.0, atol=1e-6)  # main off at vy = 0


def test_analyze_cli_writes_pngs_and_logs_them_to_a_wandb_analysis_run_in_the_same_group(tiny_video_run):
    workdir, run_dir = tiny_video_run
    before = set((workdir / "runs" / "wandb").glob("offline-run-*"))

    env = {k: v for k, v in cli_env().items() if k != "WANDB_SILENT"}  # what a user's shell has
    for _ in range(2):  # analysing again replaces the analysis run: one per run folder
        out = subprocess.run([sys.executable, "-m", "lander_exp.analyze", str(run_dir)], cwd=workdir, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        # the command says where it wrote, W&B's own header and footer stay silent, as in training
        assert "wandb:" not in out.stdout + out.stderr, out.stdout + out.stderr
        assert out.stdout.splitlines()[-1].startswith("W&B analysis run: runs/wandb/offline-run-"), out.stdout
    names = ["policy_sweeps", "value_sweeps", "value_xy"]
    for name in names:
        image = matplotlib.image.imread(run_dir / "analysis" / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 300 and image.std() > 0.01  # a drawn picture, not blank

    (analysis_dir,) = set((workdir / "runs" / "wandb").glob("offline-run-*")) - before
    records = leet_records(analysis_dir)
    header = next(r["run"] for r in records if r["type"] == "run")
    info = json.loads((run_dir / "wandb_run.json").read_text())
    assert header["job_type"] == "analysis" and header["run_group"] == info["group"]
    assert header["config"]["update"]["analysis_of"] == info["id"]
    (row,) = history(records)
    for name in names:
        assert row[f"analysis/{name}._type"] == "image-file"
        assert (analysis_dir / "files" / row[f"analysis/{name}.path"]).is_file()


def test_analyze_rejects_a_bad_reference_state(tmp_path, capsys):
    assert analyze.main([str(tmp_path), "--reference", "1,2,3"]) == 2
    err = capsys.readouterr().err
    assert "must be 8 comma-separated numbers" in err and len(err.strip().splitlines()) == 1

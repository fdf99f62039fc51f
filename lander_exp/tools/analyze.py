"""`python -m lander_exp.analyze RUN_DIR`: what a trained policy prefers, as "The laws of the 'land'" shows it.

For each of the 8 state variables, sweep it across its range with the others held at a reference
state, and plot the actor's action preferences (discrete: the probability of each of the 4 actions;
continuous: the deterministic main and lateral throttle tanh(mean), with tanh(mean ± std) as a band)
and the critic's value; plus the critic's value over an (x, y) grid. PNG files land in
RUN_DIR/analysis/ and are logged to W&B as the run's analysis run (job_type=analysis, in the run's
group): one per run folder, replaced by each new analysis.

`--html` writes instead one self-contained page with a slider per state variable, on which the
networks run in the browser (lander_exp/tools/explorer.py)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lander_exp.config import ConfigError, ObsScaling
from lander_exp.shell import pip_install, python_command, shown
from lander_exp.tools.states import CONTINUOUS_ACTIONS, DISCRETE_ACTIONS, LEGS, REFERENCE, STATE_VARS, action_kind


@dataclass
class Sweep:
    var: str
    values: np.ndarray  # [N] the swept variable (observation units)
    preferences: np.ndarray  # [N, A] action probabilities, or tanh(mean) throttles
    low: np.ndarray | None  # [N, A] continuous only: tanh(mean - std)
    high: np.ndarray | None  # [N, A] continuous only: tanh(mean + std)
    value: np.ndarray  # [N] critic


def scaler(obs_scaling: ObsScaling | str):
    """The run's observation scaling, so that the sweep is in env units but the network sees what it saw."""
    from lander_exp.envs.vec import _scaler

    return _scaler(ObsScaling(obs_scaling))


@torch.no_grad()
def evaluate_states(model, states: np.ndarray, scale) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """(preferences, low, high, value) of a batch of states in env units."""
    obs = torch.as_tensor(scale(states), dtype=torch.float32)
    out = model.actor(obs)
    value = model.value(obs).numpy()
    if action_kind(model) == "discrete":
        return torch.softmax(out, -1).numpy(), None, None, value
    std = model.log_std.exp()
    return torch.tanh(out).numpy(), torch.tanh(out - std).numpy(), torch.tanh(out + std).numpy(), value


def sweeps(model, scale, reference=REFERENCE, points: int = 101) -> list[Sweep]:
    out = []
    for i, (name, _, (lo, hi)) in enumerate(STATE_VARS):
        values = np.array([lo, hi]) if name in LEGS else np.linspace(lo, hi, points)
        states = np.tile(np.asarray(reference, np.float32), (len(values), 1))
        states[:, i] = values
        prefs, low, high, value = evaluate_states(model, states, scale)
        out.append(Sweep(name, values, prefs, low, high, value))
    return out


def value_grid(model, scale, reference=REFERENCE, points: int = 61) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, V[len(ys), len(xs)]): the critic over positions, the other variables at the reference."""
    (_, _, (x0, x1)), (_, _, (y0, y1)) = STATE_VARS[0], STATE_VARS[1]
    xs, ys = np.linspace(x0, x1, points), np.linspace(y0, y1, points)
    gx, gy = np.meshgrid(xs, ys)
    states = np.tile(np.asarray(reference, np.float32), (gx.size, 1))
    states[:, 0], states[:, 1] = gx.ravel(), gy.ravel()
    return xs, ys, evaluate_states(model, states, scale)[3].reshape(gy.shape)


# ---- figures -----------------------------------------------------------------------------------

def _grid_axes(title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7), constrained_layout=True)
    fig.suptitle(title)
    return fig, axes.ravel()


def plot_policy(all_sweeps: list[Sweep], kind: str, reference, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    names = DISCRETE_ACTIONS if kind == "discrete" else CONTINUOUS_ACTIONS
    fig, axes = _grid_axes(f"{title}: action preferences as one state variable sweeps (others at the reference)")
    for i, (ax, sweep) in enumerate(zip(axes, all_sweeps, strict=True)):
        name, what, _ = STATE_VARS[i]
        style = {"marker": "o"} if name in LEGS else {}
        for a, label in enumerate(names):
            line, = ax.plot(sweep.values, sweep.preferences[:, a], label=label, **style)
            if sweep.low is not None:
                ax.fill_between(sweep.values, sweep.low[:, a], sweep.high[:, a], color=line.get_color(), alpha=0.15)
        if kind == "continuous":  # where the engines start firing
            for level in (0.0, 0.5, -0.5):  # main fires above 0; lateral: left below -0.5, right above 0.5
                ax.axhline(level, color="grey", lw=0.6, ls=":")
            ax.set_ylim(-1.05, 1.05)
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.axvline(reference[i], color="black", lw=0.6, ls="--")
        ax.set_xlabel(f"{name}: {what}")
        ax.set_ylabel("probability" if kind == "discrete" else "throttle (tanh of mean, band ±1 std)")
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_value_sweeps(all_sweeps: list[Sweep], reference, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = _grid_axes(f"{title}: critic value as one state variable sweeps (others at the reference)")
    for i, (ax, sweep) in enumerate(zip(axes, all_sweeps, strict=True)):
        name, what, _ = STATE_VARS[i]
        ax.plot(sweep.values, sweep.value, color="tab:purple", marker="o" if name in LEGS else None)
        ax.axvline(reference[i], color="black", lw=0.6, ls="--")
        ax.set_xlabel(f"{name}: {what}")
        ax.set_ylabel("V(s)")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_value_grid(xs, ys, values, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    mesh = ax.pcolormesh(xs, ys, values, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="V(s)")
    ax.plot([-0.2, 0.2], [0, 0], color="gold", lw=4, label="landing pad")
    ax.set_xlabel("x: horizontal position")
    ax.set_ylabel("y: height above the pad")
    ax.set_title(f"{title}\ncritic value over position (other variables at the reference)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def analyze(run_dir: Path, reference=REFERENCE, log_to_wandb: bool = True, ckpt: Path | None = None,
            say=None) -> tuple[list[Path], Path | None]:
    """Write the three PNG files of a run's newest good checkpoint (or `ckpt`; evaluate.load_run);
    returns (files, W&B analysis run folder)."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"the analysis needs matplotlib: {pip_install('analysis')}") from None
    matplotlib.use("Agg")
    from lander_exp.tools.evaluate import load_run

    cfg, algo, state = load_run(run_dir, ckpt, say)
    if log_to_wandb:
        from lander_exp.run.records import tracked, wandb_dir_of

        if tracked(run_dir):
            wandb_dir_of(run_dir)  # fail before drawing when the run's W&B folder cannot be found
    model = algo.model.cpu().eval()
    scale = scaler(cfg.env.obs_scaling)
    kind = action_kind(model)
    out_dir = run_dir / "analysis"
    out_dir.mkdir(exist_ok=True)
    title = f"{run_dir.name} @ epoch {state['epoch']}"
    all_sweeps = sweeps(model, scale, reference)
    files = [plot_policy(all_sweeps, kind, reference, out_dir / "policy_sweeps.png", title),
             plot_value_sweeps(all_sweeps, reference, out_dir / "value_sweeps.png", title),
             plot_value_grid(*value_grid(model, scale, reference), out_dir / "value_xy.png", title)]
    logged = None
    if log_to_wandb:
        from lander_exp.run.tracking import log_analysis

        logged = log_analysis(run_dir, {f"analysis/{p.stem}": p for p in files},
                              {"epoch": state["epoch"], "reference": list(map(float, reference))})
    return files, logged


def parse_reference(text: str) -> tuple[float, ...]:
    names = ",".join(v[0] for v in STATE_VARS)
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != len(STATE_VARS):
        raise ConfigError(f"--reference={text!r} is invalid: it must be 8 comma-separated numbers ({names})")
    return values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=python_command("lander_exp.analyze"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder, e.g. runs/2026-11-22/17-03-12_ppo_s0")
    p.add_argument("--reference", default=",".join(f"{v:g}" for v in REFERENCE),
                   help="the state held fixed, 8 numbers x,y,vx,vy,angle,omega,left_leg,right_leg "
                        "(default: %(default)s)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="a checkpoint file (default: the run's newest that passes every check)")
    p.add_argument("--no-wandb", action="store_true", help="write the PNG files only, without the W&B analysis run")
    p.add_argument("--html", action="store_true",
                   help="write the policy explorer instead: one self-contained page with a slider per state variable "
                        "(RUN_DIR/analysis/policy_explorer.html)")
    args = p.parse_args(argv)
    try:
        reference = parse_reference(args.reference)
        say = lambda line: print(f"lander_exp.analyze: {line}", file=sys.stderr, flush=True)  # noqa: E731
        if args.html:
            from lander_exp.tools.explorer import write_explorer

            print(shown(write_explorer(args.run_dir, reference, ckpt=args.checkpoint, say=say)))
            return 0
        files, logged = analyze(args.run_dir, reference, log_to_wandb=not args.no_wandb, ckpt=args.checkpoint, say=say)
    except ConfigError as ex:
        print(f"lander_exp.analyze: error: {ex}", file=sys.stderr)
        return 2
    for path in files:
        print(shown(path))
    if logged:
        print(f"W&B analysis run: {shown(logged)} (one per run folder: it replaces this run's earlier analysis)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LunarLander's state as the policy analysis (analyze.py) and its slider page (explorer.py) show it:
the 8 state variables with their meaning and the range each is swept over, the reference state the
others are held at, the names of the actions, and which kind of policy a model is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

# (name, what it is, sweep range) in the env's observation units (LunarLander's own normalisation)
STATE_VARS: list[tuple[str, str, tuple[float, float]]] = [
    ("x", "horizontal position", (-1.0, 1.0)),
    ("y", "height above the pad", (0.0, 1.5)),
    ("vx", "horizontal velocity", (-2.0, 2.0)),
    ("vy", "vertical velocity", (-2.0, 2.0)),
    ("angle", "tilt (rad, + is anticlockwise)", (-1.0, 1.0)),
    ("omega", "angular velocity", (-2.0, 2.0)),
    ("left_leg", "left leg touches", (0.0, 1.0)),
    ("right_leg", "right leg touches", (0.0, 1.0)),
]
LEGS = ("left_leg", "right_leg")  # booleans: swept over {0, 1} only
# Hovering above the pad, centred and level, sinking slowly: the state the sliders start from.
REFERENCE = (0.0, 0.5, 0.0, -0.3, 0.0, 0.0, 0.0, 0.0)
DISCRETE_ACTIONS = ("nothing", "left engine", "main engine", "right engine")  # Gymnasium's action ids 0..3
CONTINUOUS_ACTIONS = ("main throttle", "lateral throttle")


def action_kind(model: nn.Module) -> str:
    """"continuous" for the Gaussian ActorCritic (it has a learnable log_std), else "discrete"."""
    return "continuous" if hasattr(model, "log_std") else "discrete"

"""The (dtype, shape) layouts an algorithm's `state_layout()` is written in: what a checkpoint's arrays
are checked against before any of them is read (lander_exp.run.checkpoint). Their own module, so
that the algorithms and lander_exp.core.algorithm, which builds them, do not import each other."""

from __future__ import annotations

import torch


def tensor_layout(t: torch.Tensor) -> tuple[str, tuple[int, ...]]:
    """A tensor's (dtype, shape) as `state_layout` writes them, e.g. ("float32", (64, 8))."""
    return str(t.dtype).removeprefix("torch."), tuple(t.shape)


def adam_layout(opt: torch.optim.Adam) -> dict:
    """An Adam optimizer's `state_dict()` after its first step: per parameter, in the order Adam
    numbers them, its step count (a float32 scalar) and two moments of the parameter's shape."""
    params = [p for group in opt.param_groups for p in group["params"]]
    return {"state": {i: {"step": ("float32", ()), "exp_avg": tensor_layout(p), "exp_avg_sq": tensor_layout(p)}
                      for i, p in enumerate(params)},
            "param_groups": [... for _ in opt.param_groups]}

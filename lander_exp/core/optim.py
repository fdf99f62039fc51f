"""Adam as torch.optim.Adam computes it, without importing torch._dynamo.

torch.optim wraps `Optimizer.step`, `zero_grad`, `add_param_group`, `state_dict` and
`load_state_dict` in guards for torch.compile, and the first call of any of them imports
torch._dynamo: about a second of every run's start-up on a 2-core machine, for a compiler this
project never uses. `Adam` below calls the same undecorated methods (functools' `__wrapped__`)
under `torch.no_grad()`, as the guard does when not compiling: the same kernels, the same numbers
(tests/test_startup.py compares it with torch.optim.Adam step by step)."""

from __future__ import annotations

import inspect

import torch

_Base = torch.optim.Adam


def _undecorated(name: str):
    """`name` of torch.optim.Adam without torch.optim's torch.compile guards (the method itself
    where a version of PyTorch has none)."""
    return inspect.unwrap(getattr(_Base, name))


_STEP = _undecorated("step")


class Adam(_Base):
    """torch.optim.Adam (fused by default on the CPU: one kernel for every parameter), minus the
    import of torch._dynamo. Not for torch.compile'd code, which the guards are for."""

    add_param_group = _undecorated("add_param_group")
    zero_grad = _undecorated("zero_grad")
    state_dict = _undecorated("state_dict")
    load_state_dict = _undecorated("load_state_dict")

    def __init__(self, params, lr: float, fused: bool = True, **kwargs):
        super().__init__(params, lr=lr, fused=fused, **kwargs)
        if self.defaults["differentiable"]:
            raise ValueError("lander_exp.core.optim.Adam steps without gradients (differentiable=False)")

    def step(self, closure=None):
        with torch.no_grad():
            return _STEP(self, closure)

    # torch.optim wraps an optimizer class's `step` in a profiler scope that runs step hooks unless it
    # says it is wrapped already; this project registers no step hook, so the scope is pure cost in every minibatch
    step.hooked = True

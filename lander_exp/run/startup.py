"""A training process's start-up and shut-down, kept off the clock where Python allows.

Start-up imports PyTorch, EnvPool, W&B and Hydra: millions of objects that live as long as the
process, and the cyclic garbage collector, run every few thousand allocations, scans them again and
again (about half a second of a run on a 2-core machine), and once more when the interpreter exits.
`begin` turns the collector off for the imports; `loop_starts` moves every object made by then into
the collector's permanent generation (`gc.freeze`) and turns it back on, so that the loop and the
exit collect only what the loop makes."""

from __future__ import annotations

import gc


def begin() -> None:
    """At the top of a command that trains: no cyclic collection while it imports and builds."""
    gc.disable()


def loop_starts() -> None:
    """Once the runs are built: what exists now stays (frozen), and collection resumes."""
    gc.freeze()
    gc.enable()

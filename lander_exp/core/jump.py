"""Where a learning curve makes its largest sustained rise.

Definition. For a run's per-episode returns r_1..r_n and a window H (default 1000 episodes, the
seed's "between 6000 and 7000" scale; at most n/4 for short runs, and at least MIN_WINDOW, so a run
shorter than 4 * MIN_WINDOW episodes reports no jump), the rise at episode t is

    rise(t) = mean(r_t .. r_{t+H-1}) - mean(r_{t-H} .. r_{t-1})        for H <= t <= n - H

i.e. how much better the H episodes from t on are than the H episodes before t. The jump episode is
the t of the largest rise, and a jump is reported only if that rise is at least `min_rise` return
points: noise alone moves the difference of two 1000-episode means by a few points, a policy that
learns to land moves it by tens. A step at s is found at s exactly; a linear ramp at its midpoint.

Given episode lengths too, only rises whose H episodes after t are shorter on average than the H
before count: seed 002's jump is the policy learning to end episodes (come to rest, collect the +100)
instead of hovering to the time limit. The earlier rise from crashing to hovering makes episodes
longer, and in a REINFORCE run it is often the larger of the two (tests/test_reinforce.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

WINDOW = 1000
MIN_WINDOW = 100  # shorter windows mistake the first steep stretch of learning for a jump
MIN_RISE = 30.0


@dataclass
class Jump:
    episode: int  # 0-based index of the first episode after the jump
    rise: float
    return_before: float
    return_after: float
    length_before: float | None
    length_after: float | None

    def as_summary(self) -> dict[str, float]:
        return {f"jump/{k}": v for k, v in asdict(self).items() if v is not None}


def detect_jump(returns: np.ndarray, lengths: np.ndarray | None = None, window: int = WINDOW,
                min_rise: float = MIN_RISE) -> Jump | None:
    r = np.asarray(returns, dtype=np.float64)
    h = min(window, len(r) // 4)
    if h < MIN_WINDOW:
        return None
    c = np.concatenate([[0.0], np.cumsum(r)])
    t = np.arange(h, len(r) - h + 1)
    rise = (c[t + h] - c[t]) / h - (c[t] - c[t - h]) / h
    if lengths is not None:
        n = np.concatenate([[0.0], np.cumsum(np.asarray(lengths, dtype=np.float64))])
        rise = np.where((n[t + h] - n[t]) < (n[t] - n[t - h]), rise, -np.inf)  # episodes got shorter
    best = int(np.argmax(rise))
    if rise[best] < min_rise:
        return None
    at = int(t[best])
    before, after = slice(at - h, at), slice(at, at + h)
    lb = la = None
    if lengths is not None:
        lb, la = float(np.mean(lengths[before])), float(np.mean(lengths[after]))
    return Jump(at, float(rise[best]), float(r[before].mean()), float(r[after].mean()), lb, la)

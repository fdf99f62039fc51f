"""The jump of "The laws of the 'land'": the switch from timing out to landing, found in a run's episode outcomes.

Definition. Let l_1..l_n be 1 where training episode i landed (came to rest: the +100) and 0
otherwise, H the window (1000 episodes, the scale of the write-up's "between 6000 and 7000"; at most
n/4 for short runs, and a run with H < MIN_WINDOW reports no jump) and B = H/2 the block (500).

    rise(t)    = mean(l_t .. l_{t+H-1}) - mean(l_{t-H} .. l_{t-1})           for H <= t <= n - H
    lasting(t) = every B consecutive episodes from t to the end of the run landed at a rate of at
                 least LAND_LEVEL (0.5)

The jump episode is the t of the largest rise among the lasting t, and a jump is reported only if
that rise is at least MIN_RISE (0.3 of the episodes). So a run that lands only part of the time, or
swings between landing and timing out (a 500-episode block below 0.5 after the switch), reports
no jump; a switch in the last H episodes is not reported either (it cannot be told to last). A step
from rate a to b at s is found at s; the rise of a ramp at its middle.

The detector reads outcomes, not returns: the earlier rise from crashing to sitting on the pad
(timeout_grounded) is the larger rise in return in many REINFORCE runs, and in a run that never
switches the largest rise of the 1000-episode mean return is noise (tests/test_jump.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lander_exp.envs.outcomes import LANDED, TIMEOUT_GROUNDED, TIMEOUTS

WINDOW = 1000
MIN_WINDOW = 100  # shorter windows mistake the first steep stretch of learning for a jump
MIN_RISE = 0.3
LAND_LEVEL = 0.5


@dataclass
class Jump:
    episode: int  # 0-based index of the first episode after the jump (= episodes trained before it)
    rise: float  # landed rate after minus before
    landed_before: float  # rates and means over the H episodes before and the H from `episode` on
    landed_after: float
    timeout_before: float
    timeout_after: float
    return_before: float | None
    return_after: float | None
    length_before: float | None
    length_after: float | None

    def as_summary(self) -> dict[str, float]:
        return {f"jump/{k}": v for k, v in asdict(self).items() if v is not None}


def _window_means(x: np.ndarray, width: int) -> np.ndarray:
    """mean(x[j:j+width]) for j = 0 .. len(x) - width."""
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    return (c[width:] - c[:-width]) / width


def detect_jump(outcomes: np.ndarray, returns: np.ndarray | None = None, lengths: np.ndarray | None = None,
                window: int = WINDOW, min_rise: float = MIN_RISE, land_level: float = LAND_LEVEL) -> Jump | None:
    """The jump in a run's per-episode outcome codes (envs/outcomes.py), or None; `returns` and
    `lengths`, if given, only fill the jump's before/after means."""
    o = np.asarray(outcomes)
    n = len(o)
    h = min(window, n // 4)
    if h < MIN_WINDOW:
        return None
    b = h // 2
    landed = (o == LANDED).astype(np.float64)
    mean_h = _window_means(landed, h)  # mean_h[j] = mean(l_j .. l_{j+h-1})
    t = np.arange(h, n - h + 1)
    rise = mean_h[t] - mean_h[t - h]
    blocks = _window_means(landed, b)
    worst_after = np.minimum.accumulate(blocks[::-1])[::-1]  # worst_after[j] = min over blocks starting at >= j
    rise = np.where(worst_after[t] >= land_level, rise, -np.inf)
    best = int(np.argmax(rise))
    if rise[best] < min_rise:
        return None
    at = int(t[best])
    before, after = slice(at - h, at), slice(at, at + h)
    timeout = np.isin(o, TIMEOUTS)
    mean = lambda x, s: None if x is None else float(np.mean(np.asarray(x, np.float64)[s]))  # noqa: E731
    return Jump(at, float(rise[best]), float(landed[before].mean()), float(landed[after].mean()),
                float(timeout[before].mean()), float(timeout[after].mean()), mean(returns, before),
                mean(returns, after), mean(lengths, before), mean(lengths, after))


def last_rates(outcomes: np.ndarray, episodes: int = WINDOW) -> dict[str, float]:
    """Landed and grounded-timeout rates of a run's last `episodes` episodes: does it keep landing?"""
    tail = np.asarray(outcomes)[-episodes:]
    n = max(len(tail), 1)
    return {"landed": float(np.sum(tail == LANDED)) / n, "timeout_grounded": float(np.sum(tail == TIMEOUT_GROUNDED)) / n}

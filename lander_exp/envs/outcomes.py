"""How an episode ended, read from its last step, and the per-episode record every backend returns:
the one place outcome names and codes are defined."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTCOMES = ("landed", "crashed", "out_of_bounds", "timeout")
LANDED, CRASHED, OUT_OF_BOUNDS, TIMEOUT = range(4)


def classify(terminated: np.ndarray, reward: np.ndarray, final_x: np.ndarray) -> np.ndarray:
    """Outcome code of each ended episode from its last step (LunarLander's rules).

    A terminal step's reward is exactly +100 when the lander came to rest and -100 when it
    crashed or left the viewport (|x| >= 1 in the env's own units); a non-terminal end is the
    time limit."""
    out = np.full(terminated.shape, TIMEOUT, dtype=np.int64)
    out[terminated] = CRASHED
    out[terminated & (np.abs(final_x) >= 1.0)] = OUT_OF_BOUNDS
    out[terminated & (reward > 0)] = LANDED
    return out


@dataclass
class Episodes:
    """Episodes that ended during some steps: parallel arrays, one entry per episode."""

    returns: np.ndarray
    lengths: np.ndarray
    outcomes: np.ndarray

    @staticmethod
    def concat(parts: list[Episodes]) -> Episodes:
        if not parts:
            return Episodes(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
        return Episodes(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("returns", "lengths", "outcomes")))

    def select(self, which: np.ndarray) -> Episodes:
        """The episodes a boolean mask or an index array picks, in their order."""
        return Episodes(self.returns[which], self.lengths[which], self.outcomes[which])

    def __len__(self) -> int:
        return len(self.returns)

    def rates(self) -> dict[str, float]:
        n = max(len(self), 1)
        return {name: float(np.sum(self.outcomes == code)) / n for code, name in enumerate(OUTCOMES)}



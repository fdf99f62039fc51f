"""How an episode ended, read from its last step, and the per-episode record every backend returns:
the one place outcome names and codes are defined."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Per-episode outcome codes (index = code). An episode that reaches the time limit is split by where
# the lander is at its last step: `timeout_grounded` (a leg touches the ground: down, but never at
# rest, so Box2D never puts it to sleep and the +100 for landing never comes) or `timeout_airborne`
# (no leg touches: hovering).
OUTCOMES = ("landed", "crashed", "out_of_bounds", "timeout_grounded", "timeout_airborne")
LANDED, CRASHED, OUT_OF_BOUNDS, TIMEOUT_GROUNDED, TIMEOUT_AIRBORNE = range(5)
TIMEOUTS = (TIMEOUT_GROUNDED, TIMEOUT_AIRBORNE)
# The rates an episode set reports (W&B keys episode/<name> and eval/<name>, report charts, sweep
# CSV columns): every outcome plus `timeout`, the sum of the two kinds of time limit.
RATES = ("landed", "crashed", "out_of_bounds", "timeout", "timeout_grounded", "timeout_airborne")


def classify(terminated: np.ndarray, reward: np.ndarray, final_obs: np.ndarray) -> np.ndarray:
    """Outcome code of each ended episode from its last step (LunarLander's rules).

    `final_obs` [K, D]: each episode's last observation as the env returned it, before any scaling
    (x in the env's own units; the leg contacts obs[6], obs[7] are exactly 0 or 1). A terminal
    step's reward is exactly +100 when the lander came to rest and -100 when it crashed or left the
    viewport (|x| >= 1 in the env's own units); a non-terminal end is the time limit, grounded if a
    leg touches at that step."""
    if not len(terminated):  # a rollout in which no episode ended
        return np.zeros(0, np.int64)
    final_obs = np.asarray(final_obs).reshape(len(terminated), -1)
    final_x = final_obs[:, 0]
    grounded = (final_obs[:, 6] > 0) | (final_obs[:, 7] > 0)
    out = np.where(grounded, TIMEOUT_GROUNDED, TIMEOUT_AIRBORNE).astype(np.int64)
    out[terminated] = CRASHED
    out[terminated & (np.abs(final_x) >= 1.0)] = OUT_OF_BOUNDS
    out[terminated & (reward > 0)] = LANDED
    return out


def outcome_rates(outcomes: np.ndarray) -> dict[str, float]:
    """The share of each of RATES among `outcomes` (codes); all 0 for no episode."""
    n = max(len(outcomes), 1)
    counts = np.bincount(np.asarray(outcomes, np.int64), minlength=len(OUTCOMES))
    rates = {name: float(counts[code]) / n for code, name in enumerate(OUTCOMES)}
    rates["timeout"] = float(counts[TIMEOUT_GROUNDED] + counts[TIMEOUT_AIRBORNE]) / n
    return {name: rates[name] for name in RATES}


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
        return outcome_rates(self.outcomes)

"""Every random stream of a run, spawned from one `numpy.random.SeedSequence(seed)`: the streams of
one run are independent of each other, and those of seed s share nothing with those of seed s+1
(seeding each with `seed + k` made env 0's terrain and the action noise one stream, and seed s+1's
envs seven of seed s's eight)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A numpy PCG64 generator's `bit_generator.state` (the default_rng's, and Gymnasium's envs') as a state
# layout (see Algorithm.state_layout): what a saved random stream holds.
PCG64_STATE = {"bit_generator": str, "state": {"state": int, "inc": int}, "has_uint32": int, "uinteger": int}


def int31(seq: np.random.SeedSequence) -> int:
    """A non-negative int32 seed: EnvPool and Gymnasium's reset take plain integers."""
    return int(seq.generate_state(1)[0] >> 1)


@dataclass(frozen=True)
class RunSeeds:
    weights: int  # torch's generator while the networks are initialised
    minibatches: int  # torch generator of PPO's minibatch permutations
    actions: np.random.SeedSequence  # numpy generator of the policy's sampling noise
    envs: int  # training env i resets from envs + i (one int: EnvPool seeds its pool so)
    restarts: np.random.SeedSequence  # reset seeds of the training envs when a resume restarts them

    @classmethod
    def of(cls, seed: int) -> RunSeeds:
        weights, minibatches, actions, envs, restarts = np.random.SeedSequence(seed).spawn(5)
        return cls(int(weights.generate_state(1, np.uint64)[0]), int(minibatches.generate_state(1, np.uint64)[0]),
                   actions, int31(envs), restarts)

    def restart(self, epoch: int) -> int:
        """The training envs' reset seed when a resume after `epoch` restarts them: a function of
        (seed, epoch) alone, so two resumes from one checkpoint play the same episodes."""
        return int31(np.random.SeedSequence(self.restarts.entropy, spawn_key=(*self.restarts.spawn_key, epoch)))

"""The training loop's progress bar. A run with a target return usually stops long before its epoch
or episode cap (the default PPO run near epoch 40 of 500), so a bar and an ETA measured against the
cap would read hours for a run of minutes: such a bar shows the count against the cap, the elapsed
time and the rate, and says when evaluations come (`eval=-` until the first)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def loop_bar(train_cfg, epoch: int, episodes: int) -> tqdm:
    """The bar of a run that has done `epoch` epochs and `episodes` episodes (more than 0 on a resume)."""
    t = train_cfg
    by_episode = t.max_episodes is not None
    unit = "episode" if by_episode else "epoch"
    options = dict(total=t.max_episodes if by_episode else t.max_epochs, initial=episodes if by_episode else epoch,
                   disable=not t.progress, unit=unit, dynamic_ncols=True,
                   mininterval=0.5 if sys.stderr.isatty() else 30)
    if t.target_return is not None:  # the cap is an upper bound, not the expected end
        options["bar_format"] = (f"{unit} {{n_fmt}} of at most {{total_fmt}} (stops at an eval mean of {t.target_return:g}, "
                                 f"evaluates every {t.eval_every} epochs) [{{elapsed}}, {{rate_fmt}}{{postfix}}]")
    return tqdm(**options)

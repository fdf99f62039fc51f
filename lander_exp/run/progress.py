"""The training loop's progress bar. A run with a target return usually stops long before its epoch
or episode cap (the default PPO run near epoch 40 of 500), so a bar and an ETA measured against the
cap would read hours for a run of minutes: such a bar shows the count against the cap, the elapsed
time and the rate, and says when evaluations come (`eval=-` until the first).

Where stderr is not a terminal (a sweep's run log, a SLURM log, a pipe), a redrawn bar would pile up
carriage returns; there the bar prints a plain line every LOG_EVERY_S seconds instead."""

from __future__ import annotations

import sys

from tqdm import tqdm

LOG_EVERY_S = 10  # seconds between the bar's lines where stderr is not a terminal
REDRAW_S = 0.5  # seconds between redraws in a terminal


class Lines:
    """A file for tqdm that turns its in-place redraws (`\\r` + bar) into whole lines, skipping a
    line identical to the one before (the bar's last draw when it closes)."""

    def __init__(self, stream):
        self.stream, self.last = stream, None

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line and line != self.last:
            self.stream.write(line + "\n")
            self.last = line

    def flush(self) -> None:
        self.stream.flush()


def bar(stream=None, **options) -> tqdm:
    """A tqdm bar on `stream` (stderr): redrawn in a terminal, a line every LOG_EVERY_S elsewhere. Set
    its postfix with refresh=False, so that it draws on its own clock, not once per epoch."""
    stream = stream or sys.stderr
    terminal = stream.isatty()
    return tqdm(file=stream if terminal else Lines(stream), dynamic_ncols=terminal,
                mininterval=REDRAW_S if terminal else LOG_EVERY_S, **options)


def loop_bar(train_cfg, epoch: int, episodes: int, stream=None) -> tqdm:
    """The bar of a run that has done `epoch` epochs and `episodes` episodes (more than 0 on a resume)."""
    t = train_cfg
    by_episode = t.max_episodes is not None
    unit = "episode" if by_episode else "epoch"
    options = dict(total=t.max_episodes if by_episode else t.max_epochs, initial=episodes if by_episode else epoch,
                   disable=not t.progress, unit=unit)
    if t.target_return is not None:  # the cap is an upper bound, not the expected end
        every = "after every epoch" if t.eval_every == 1 else f"every {t.eval_every} epochs"
        options["bar_format"] = (f"{unit} {{n_fmt}} of at most {{total_fmt}} (stops at an eval mean of {t.target_return:g}, "
                                 f"evaluates {every}) [{{elapsed}}, {{rate_fmt}}{{postfix}}]")
    return bar(stream, **options)

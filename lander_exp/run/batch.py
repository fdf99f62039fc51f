"""Several seeds of one configuration trained in one process, each still its own run (`seeds=[...]`).

Most of a run's time on a CPU is Python paid once per env step: one policy forward at batch 1, one
env call, the bookkeeping. Here the runs' envs step together (the Gymnasium envs of every run, or one
EnvPool pool holding all of them), one batched forward acts for all (core.nets.StackedMLP), and
each run learns with its own networks, optimizers and random streams, as it would alone: REINFORCE
when one of its own episodes ends, PPO at the end of the shared epoch (core/*.Many*).

Each run keeps everything `run.train.Run` gives a run trained alone: its own folder, config.yaml,
checkpoints, W&B run, evaluation envs and stop rule. One run's non-finite number stops that run
(marked failed), not the others; a signal stops every run after its current epoch, with a checkpoint.
A run of a batch is an ordinary run: `python -m lander_exp.resume` continues it alone, or with its
siblings in one batch again."""

from __future__ import annotations

import copy
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from lander_exp.config import Backend
from lander_exp.core.algorithm import make_many
from lander_exp.core.seeding import int31
from lander_exp.envs.vec import VecEnv
from lander_exp.run import checkpoint, progress, startup
from lander_exp.run.stopping import DiskFull, NonFiniteError, RunStopped, StopSignals
from lander_exp.run.train import Run


@dataclass
class Member:
    """One run of a batch: what `train.run` takes for a run alone."""

    cfg: DictConfig
    run_dir: Path
    choices: dict[str, str] | None = None
    resume: dict | None = None


def seed_config(cfg: DictConfig, seed: int) -> DictConfig:
    """Seed `seed`'s config in a batch: the batch's, with its own `seed` and no `seeds` (an ordinary run's)."""
    out = copy.deepcopy(cfg)
    with open_dict(out):
        out.seed, out.seeds = int(seed), None
    from lander_exp.config import validate

    validate(out)
    return out


def members_of(cfg: DictConfig, batch_dir: Path, choices: dict[str, str] | None = None) -> list[Member]:
    """The runs of `python -m lander_exp seeds=[...]`: seed k's run folder is BATCH_DIR/s<k>."""
    return [Member(seed_config(cfg, s), batch_dir / f"s{s}", choices) for s in cfg.seeds]


class TrainingEnvs:
    """The training envs of the runs still training. Gymnasium: the runs' own envs joined into one
    VecEnv, so each env keeps its random stream (and a run leaving takes its envs along, the others'
    episodes continuing). EnvPool: one pool holding every run's envs, seeded from the runs' seeds
    and epochs (a resume of the same checkpoints plays the same episodes); when a run leaves, a
    smaller pool replaces it and the others' episodes in progress restart."""

    def __init__(self, runs: list[Run]):
        self.runs = runs
        self.env: VecEnv | None = None
        self.active: list[int] = []

    def __call__(self, active: list[int]) -> tuple[VecEnv, bool]:
        first = self.runs[active[0]]
        if first.env.backend == Backend.gymnasium:
            carried = self.env is not None
            self.env = (self.env.select([self.active.index(k) for k in active]) if carried
                        else VecEnv.joined([self.runs[k].env for k in active]))
        else:
            if self.env is not None:
                self.env.close()
            entropy = [x for k in active for x in (self.runs[k].seeds.envs, self.runs[k].progress.epoch)]
            self.env = VecEnv(first.cfg.env, first.env.num_envs * len(active), seed=int31(np.random.SeedSequence(entropy)))
            carried = False
        self.active = active
        return self.env, carried

    def close(self) -> None:
        if self.env is not None and self.env.pool is not None:
            self.env.close()


def _progress_bar(runs: list[Run]):
    t = runs[0].cfg.train
    by_episode = t.max_episodes is not None
    total = sum(t.max_episodes if by_episode else t.max_epochs for _ in runs)
    done = sum(r.progress.episodes if by_episode else r.progress.epoch for r in runs)
    return progress.bar(total=total, initial=done, disable=not t.progress, unit="episode" if by_episode else "epoch")


def run(members: list[Member]) -> list[dict | RunStopped]:
    """Train the members' runs together; returns each one's summary, or the RunStopped that ended it
    (Interrupted on a signal, NonFiniteError on a non-finite number)."""
    if any(_without_seed(m.cfg) != _without_seed(members[0].cfg) for m in members):
        raise ValueError("a batch trains runs of one configuration that differ only in their seed")
    threads = members[0].cfg.train.torch_threads
    if threads:
        torch.set_num_threads(threads)
    outcomes: list[dict | RunStopped | None] = [None] * len(members)
    with ExitStack() as stack:
        for m in members:
            stack.enter_context(checkpoint.owned(m.run_dir))
        runs: list[Run] = []
        try:
            for m in members:
                runs.append(Run(m.cfg, m.run_dir, m.choices, m.resume))
        except BaseException:
            for r in runs:
                r.tracker.finish(1)
                r.close()
            raise
        open_runs = set(range(len(runs)))

        def close(k: int, outcome: dict | RunStopped, exit_code: int) -> None:
            outcomes[k] = outcome
            runs[k].tracker.finish(exit_code)
            runs[k].close()
            open_runs.discard(k)

        todo = []
        for k, r in enumerate(runs):
            reason = r.stop_reason()  # a resume of a run killed once done
            if reason is None:
                todo.append(k)
            else:
                summary = r.summary(reason)
                r.tracker.summarize(summary)
                close(k, summary, 0)
        envs = TrainingEnvs([runs[k] for k in todo])
        stepper = make_many([runs[k].algo for k in todo], envs)
        bar, stop = _progress_bar(runs), StopSignals()
        startup.loop_starts()
        try:
            stop.install()
            epochs = stepper.epochs()
            for j, batch, rollout_s, learned in epochs:
                k = todo[j]
                r = runs[k]
                try:
                    metrics = r.learn_epoch(batch, rollout_s, learned)
                    r.end_epoch(metrics, stopping=stop.requested)
                except NonFiniteError as ex:  # this run fails; the others go on
                    print(f"lander_exp: {r.run_dir}: {ex}", file=sys.stderr, flush=True)
                    stepper.stop(j)
                    close(k, ex, 1)
                    continue
                except DiskFull as ex:  # this run stops, resumable; the others go on while their disks allow
                    print(f"lander_exp: {r.run_dir}: {ex}", file=sys.stderr, flush=True)
                    stepper.stop(j)
                    close(k, r.disk_full(ex), ex.exit_code)
                    continue
                bar.update(metrics.get("episode/count", 0) if r.train.max_episodes is not None else 1)
                if stop.requested:
                    # this run, and those at an epoch's end since the envs last stepped, stop now
                    for i in [j, *stepper.idle]:
                        if i != j:
                            ri = runs[todo[i]]
                            checkpoint.save(ri.run_dir, ri.progress.epoch, ri.state(), keep=ri.train.keep_checkpoints)
                        stepper.stop(i)
                        close(todo[i], runs[todo[i]].interrupted(stop.signum), 128 + stop.signum)
                    stepper.idle = []
                    continue
                reason = r.stop_reason()
                if reason is not None:
                    summary = r.summary(reason)
                    r.tracker.summarize(summary)
                    stepper.stop(j)
                    close(k, summary, 0)
        finally:
            bar.close()
            code = 128 + stop.signum if stop.requested else 1
            for k in sorted(open_runs):  # an exception left them open
                runs[k].tracker.finish(code)
                runs[k].close()
            envs.close()
            stop.uninstall()
    return outcomes


def _without_seed(cfg: DictConfig) -> dict:
    out = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    out.pop("seed", None)
    out.pop("seeds", None)
    return out


def report(members: list[Member], outcomes: list[dict | RunStopped], started: float) -> RunStopped | None:
    """One line per run on stderr; the RunStopped the process should exit with (a signal's first),
    or None when every run finished."""
    for m, out in zip(members, outcomes, strict=True):
        what = f"stopped ({out})" if isinstance(out, RunStopped) else f"done ({out.get('stop_reason')})"
        print(f"lander_exp: seed {m.cfg.seed}: {m.run_dir}: {what}", file=sys.stderr)
    stopped = [o for o in outcomes if isinstance(o, RunStopped)]
    print(f"lander_exp: {len(members)} seeds in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    if not stopped:
        return None
    return max(stopped, key=lambda o: o.exit_code)

"""The loop every algorithm shares: collect and learn an epoch, evaluate on schedule, checkpoint, stop,
and hand one metrics dict per epoch to the tracker. It also resumes from a checkpoint, stops cleanly
on SIGINT/SIGTERM and stops loudly on a non-finite number (stopping.py).

Evaluations and checkpoints touch nothing training uses (the evaluation has envs of its own), so a
run that is never interrupted learns and logs the same whatever its schedule."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from lander_exp.config import Autoreset, Backend, ConfigError, Device, TrainConfig
from lander_exp.core.algorithm import Algorithm, algo_class, make_algo
from lander_exp.core.jump import detect_jump
from lander_exp.core.seeding import PCG64_STATE, RunSeeds
from lander_exp.envs.outcomes import Episodes
from lander_exp.envs.vec import VecEnv, run_episodes
from lander_exp.run import checkpoint, disk, provenance, startup
from lander_exp.run.progress import loop_bar
from lander_exp.run.stopping import DiskFull, Interrupted, NonFiniteError, StopSignals, first_nonfinite, how_to_continue
from lander_exp.run.tracking import Tracker
from lander_exp.run.video import EvalVideos
from lander_exp.shell import python_command, shown

EVAL_SEED = 1_000_000  # every evaluation of every run starts from the same states: paired comparisons
MA_EPISODES = 100  # episodes in the moving averages episode/return_ma100 and episode/length_ma100


def resolve_device(device: Device) -> torch.device:
    if device == Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device.value)


def episode_metrics(prefix: str, eps: Episodes) -> dict[str, float]:
    out = {f"{prefix}/return": float(eps.returns.mean()), f"{prefix}/return_std": float(eps.returns.std()),
           f"{prefix}/length": float(eps.lengths.mean()), f"{prefix}/count": len(eps)}
    out.update({f"{prefix}/{k}": v for k, v in eps.rates().items()})
    return out


def evaluate(algo: Algorithm, env: VecEnv, episodes: int, screen: int = 0, target: float | None = None) -> Episodes:
    """The greedy policy on `episodes` episodes from the fixed start states. With `screen`, the first
    `screen` episodes are played first and the rest only if those could make a mean of `target`
    (their mean plus two standard errors reaches it): an evaluation far below the target stops early,
    and one that goes on plays exactly the episodes of an unscreened one."""
    policy = algo.policy()
    if not screen:
        return run_episodes(env, policy, episodes, EVAL_SEED)
    first = run_episodes(env, policy, screen, EVAL_SEED)
    if first.returns.mean() + 2 * first.returns.std(ddof=1) / math.sqrt(screen) < target:
        return first
    return Episodes.concat([first, run_episodes(env, policy, episodes, EVAL_SEED, start=screen)])


def target_reached(t, history: list[float]) -> bool:
    """Whether the moving average of the evaluations reached the target (`t`: the train settings)."""
    return t.target_return is not None and bool(history) and np.mean(history[-t.target_window:]) >= t.target_return


def stop_reason(t, epoch: int, episodes: int, history: list[float]) -> str | None:
    """Why a run that has trained `epoch` epochs and `episodes` episodes stops now, or None (`t`:
    the train settings, cfg.train)."""
    if target_reached(t, history):
        return "target_return"
    if t.max_episodes is not None and episodes >= t.max_episodes:
        return "max_episodes"
    if t.max_epochs is not None and epoch >= t.max_epochs:
        return "max_epochs"
    return None


def algo_layout(cfg: DictConfig) -> dict:
    """The layout of the algorithm's state for `cfg` (Algorithm.state_layout), from a CPU copy of its
    networks: what a checkpoint of a run of `cfg` must hold under "algo"."""
    env = VecEnv(cfg.env, 1, seed=0)
    try:
        return make_algo(cfg, env.obs_dim, env.single_action_space, torch.device("cpu")).state_layout()
    finally:
        env.close()


def state_layout(cfg: DictConfig, algo: dict, found: dict) -> dict:
    """What `Run.state()` of a run of `cfg` holds, as a layout of run/checkpoint.py, at the counters
    of `found` (a checkpoint's plain data): the episode log as long as its episode count, one metric
    row per epoch, one random state per Gymnasium training env, `algo` (algo_layout) under "algo"."""
    def count(key: str) -> int:
        value = found.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise checkpoint.Mismatch(f"has {value!r} for its counter {key!r}, not a count")
        return value

    episodes, epoch = count("episodes"), count("epoch")
    gymnasium = Backend(cfg.env.backend) == Backend.gymnasium
    history = found.get("eval_history")
    return {"epoch": int, "global_step": int, "episodes": int,
            "eval_history": [float] * len(history) if isinstance(history, list) else list,
            "episode_log": {"returns": ("float64", (episodes,)), "lengths": ("int64", (episodes,)),
                            "outcomes": ("int64", (episodes,))},
            "algo": algo, "env_rng": [PCG64_STATE] * cfg.env.num_envs if gymnasium else type(None),
            "env_replay": replay_layout(cfg) if gymnasium and found.get("env_replay") is not None else type(None),
            "tracker": {"id": str, "rows": [...] * epoch}, "wall_s": float, "choices": ..., "config": dict}


def replay_layout(cfg: DictConfig) -> dict:
    """What VecEnv.replay_state() holds for the training envs of `cfg`: per env its reset's seed, random
    state and count of actions since, the actions themselves (any number: their count is checked when
    replayed) and the observation they lead to. REINFORCE acts in the discrete env, PPO in the
    continuous one (core/algorithm.py's make_algo)."""
    n = cfg.env.num_envs
    actions = ("int64", (None,)) if cfg.algo.name == "reinforce" else ("float32", (None, None))
    return {"seed": ("int64", (n,)), "rng": ("int64", (n, 6)), "taken": ("int64", (n,)), "actions": actions,
            "obs": ("float32", (n, None))}


@dataclass
class Progress:
    """A run's counters and curves: what a checkpoint restores besides the algorithm."""

    epoch: int = 0
    global_step: int = 0
    episodes: int = 0
    eval_history: list[float] = field(default_factory=list)
    episode_log: list[Episodes] = field(default_factory=list)  # every training episode, in order
    tail: Episodes = field(default_factory=lambda: Episodes.concat([]))  # the last MA_EPISODES of them
    wall_before: float = 0.0  # seconds trained by earlier processes of this run

    def add(self, eps: Episodes, steps: int) -> None:
        self.epoch += 1
        self.global_step += steps
        self.episodes += len(eps)
        if len(eps):
            self.episode_log.append(eps)
            self.keep_tail(Episodes.concat([self.tail, eps]))

    def keep_tail(self, eps: Episodes) -> None:
        """Keep the last MA_EPISODES of `eps` for the moving averages: joined one epoch at a time, not
        from the whole log (REINFORCE adds one episode per epoch, tens of thousands a run)."""
        self.tail = eps.select(slice(-MA_EPISODES, None))

    def recent(self) -> Episodes:
        return Episodes.concat(self.episode_log)


class Run:
    """One run's pieces and the steps of its loop; `run` below reads them top to bottom."""

    def __init__(self, cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None, resume: dict | None):
        self.cfg, self.run_dir, self.choices = cfg, run_dir, choices
        # the train settings as plain attributes: a DictConfig lookup costs tens of microseconds, and
        # the loop reads several per epoch (REINFORCE's epoch is one episode)
        self.train: TrainConfig = OmegaConf.to_object(cfg.train)
        self.seeds = RunSeeds.of(cfg.seed)
        # A new run's W&B run opens on a thread while its envs and networks are built; a resumed run's
        # once its checkpoint proved to fit (a resume that fails leaves its W&B run as it was).
        self.tracker: Tracker | None = None if resume else self._open_tracker(None)
        try:
            self.env = VecEnv(cfg.env, cfg.env.num_envs, seed=self.seeds.envs, replayable=True)
            self.eval_env = VecEnv(cfg.env, cfg.train.eval_envs, seed=EVAL_SEED, autoreset=Autoreset.same_step)
            self.algo = make_algo(cfg, self.env.obs_dim, self.env.single_action_space, resolve_device(cfg.device))
            self.progress = Progress()
            if resume:
                self.restore(resume)
                self.tracker = self._open_tracker(resume["tracker"])
            with disk.writing("the W&B record in", Path(cfg.tracker.dir), run_dir):
                self.tracker.ready()
        except BaseException:
            if self.tracker is not None:
                self.tracker.abandon()
            raise
        self.videos = EvalVideos(cfg, run_dir, self.tracker, seed=EVAL_SEED)
        self.start = time.perf_counter() - self.progress.wall_before
        if not resume:  # a resume checked that config.yaml is the checkpoint's
            with disk.writing("the config", run_dir / "config.yaml", run_dir):
                OmegaConf.save(cfg, run_dir / "config.yaml")

    def _open_tracker(self, resume: dict | None) -> Tracker:
        with disk.writing("the provenance record", self.run_dir / provenance.FILE, self.run_dir):
            origin = provenance.record(self.run_dir, provenance.collect())
        with disk.writing("the W&B record in", Path(self.cfg.tracker.dir), self.run_dir):
            return Tracker(self.cfg, self.run_dir, algo_class(self.cfg).x_axis, self.choices, resume=resume,
                           provenance=origin, background=True)

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint (read with `state_layout`'s checks). The weights, optimizers,
        random streams, counters and logged rows are the checkpoint's; the training envs' episodes in
        progress are rebuilt by replaying them (Gymnasium), or restart from a seed of (seed, epoch)
        (EnvPool, whose state cannot be saved)."""
        p = self.progress
        try:
            self.algo.load_state_dict(state["algo"])
        except (RuntimeError, KeyError, ValueError, TypeError, OverflowError) as ex:
            self.close()
            raise ConfigError(f"the checkpoint does not fit this config's model ({str(ex).splitlines()[0]}): "
                              "resume it with the code and config that wrote it") from None
        p.epoch, p.global_step, p.episodes = state["epoch"], state["global_step"], state["episodes"]
        p.eval_history = list(state["eval_history"])
        p.episode_log = [Episodes(*(np.asarray(state["episode_log"][k]) for k in ("returns", "lengths", "outcomes")))]
        p.keep_tail(p.episode_log[0])
        p.wall_before = state["wall_s"]
        self.choices = state["choices"] or self.choices
        resumed = self.env.restore(state["env_rng"], state.get("env_replay"), fallback_seed=self.seeds.restart(p.epoch))
        if resumed is not None:
            self.algo.resume_envs(resumed)

    def state(self) -> dict:
        """Everything a resume needs (lander_exp.run.resume), as plain data and arrays; `state_layout`
        says what a checkpoint of it holds."""
        p, curve = self.progress, self.progress.recent()
        tracker = self.tracker.state_dict()
        return {"epoch": p.epoch, "global_step": p.global_step, "episodes": p.episodes, "eval_history": p.eval_history,
                "episode_log": {"returns": curve.returns.astype(np.float64, copy=False),
                                "lengths": curve.lengths.astype(np.int64, copy=False),
                                "outcomes": curve.outcomes.astype(np.int64, copy=False)},
                "algo": self.algo.state_dict(), "env_rng": self.env.rng_state(),
                "env_replay": self.env.replay_state(),
                "tracker": {**tracker, "rows": checkpoint.Columns(tracker["rows"])},
                "wall_s": time.perf_counter() - self.start, "choices": self.choices,
                "config": OmegaConf.to_container(self.cfg, enum_to_str=True)}

    def train_epoch(self) -> dict:
        """Collect and learn once; the epoch's row of metrics."""
        t0 = time.perf_counter()
        batch = self.algo.collect(self.env)
        return self.learn_epoch(batch, time.perf_counter() - t0)

    def learn_epoch(self, batch, rollout_s: float, learned: tuple[dict, float] | None = None) -> dict:
        """Learn from what was collected (here, or for many runs at once by run/batch.py) in
        `rollout_s` seconds; the epoch's row of metrics. `learned`: the (train/* row, seconds) of a
        batch's update that already learned it for this run (core/many_ppo.py)."""
        if learned is None:
            t1 = time.perf_counter()
            metrics = self.algo.learn(batch)
            update_s = time.perf_counter() - t1
        else:
            metrics, update_s = dict(learned[0]), learned[1]
        p = self.progress
        p.add(batch.episodes, batch.env_steps)
        metrics.update(global_step=p.global_step, episode=p.episodes, epoch=p.epoch)
        metrics.update({"perf/rollout_s": rollout_s, "perf/update_s": update_s,
                        "perf/env_steps_per_s": batch.env_steps / (rollout_s + update_s)})
        if len(batch.episodes):
            metrics.update(episode_metrics("episode", batch.episodes))
            metrics["episode/return_ma100"] = float(p.tail.returns.mean())
            metrics["episode/length_ma100"] = float(p.tail.lengths.mean())
        return metrics

    def check_finite(self, metrics: dict) -> None:
        bad = first_nonfinite(metrics, self.algo.model)
        if bad is None:
            return
        p = self.progress
        self.tracker.log(metrics)  # the dashboard shows where it broke
        with disk.writing("a debug checkpoint in", self.run_dir / "checkpoints", self.run_dir):
            path = checkpoint.save_debug(self.run_dir, p.epoch, self.state())
        message = (f"non-finite {bad} at global_step {p.global_step} (epoch {p.epoch}); the state after that epoch is "
                   f"in {path}. Check the config's scales (learning rates, algo.init_log_std) and start a new run, or "
                   "one from an earlier checkpoint")
        self.tracker.summarize({"stop_reason": "non_finite", "failure": message})
        raise NonFiniteError(message)

    def last_epoch(self) -> bool:
        t, p = self.train, self.progress
        return p.epoch == t.max_epochs or (t.max_episodes is not None and p.episodes >= t.max_episodes)

    def evaluate(self) -> dict:
        t, history = self.train, self.progress.eval_history
        t0 = time.perf_counter()
        ev = evaluate(self.algo, self.eval_env, t.eval_episodes, t.eval_screen, t.target_return)
        history.append(float(ev.returns.mean()))
        ma = float(np.mean(history[-t.target_window:]))
        metrics = {"eval/return_mean": history[-1], "eval/return_std": float(ev.returns.std()), "eval/return_ma": ma,
                   "eval/episodes": len(ev),
                   "eval/length": float(ev.lengths.mean()), **{f"eval/{k}": v for k, v in ev.rates().items()},
                   "perf/eval_s": time.perf_counter() - t0}
        with disk.writing("a video in", self.run_dir / "videos", self.run_dir):
            metrics.update(self.videos.after_eval(self.algo, self.progress.epoch, len(history), ma, self.last_epoch()))
        return metrics

    def end_epoch(self, metrics: dict, stopping: bool,
                  on_eval: Callable[[int, dict], str | None] | None = None) -> str | None:
        """After an epoch: fail on a non-finite number, evaluate on schedule, log the row, and
        checkpoint after an evaluation or when the run is `stopping` on a signal. Returns `on_eval`'s
        reason to stop early, if it gave one."""
        t, p = self.train, self.progress
        self.check_finite(metrics)
        evaluated = p.epoch % t.eval_every == 0 or self.last_epoch()
        early = None
        if evaluated:
            metrics.update(self.evaluate())
            early = on_eval(len(p.eval_history), metrics) if on_eval is not None else None
        metrics["perf/wall_s"] = time.perf_counter() - self.start
        disk.before_log(self.tracker.folder, self.run_dir)  # W&B drops what a full disk cannot take, silently
        self.tracker.log(metrics)
        if evaluated or stopping:  # logged first, so the checkpoint holds this epoch's row
            with disk.writing("a checkpoint in", self.run_dir / "checkpoints", self.run_dir):
                checkpoint.save(self.run_dir, p.epoch, self.state(), keep=t.keep_checkpoints)
        return early

    def stop_reason(self) -> str | None:
        p = self.progress
        return stop_reason(self.train, p.epoch, p.episodes, p.eval_history)

    def interrupted(self, signum: int) -> Interrupted:
        """The run's stop on a signal: its stop_reason (SIGINT, SIGTERM) goes to the W&B summary."""
        name = signal.Signals(signum).name
        stopped = self.summary(name)
        self.tracker.summarize(stopped)
        return Interrupted(f"stopped by {name} after epoch {self.progress.epoch}, checkpoint written; "
                           f"{how_to_continue(python_command('lander_exp.resume', shown(self.run_dir)))}", 128 + signum,
                           stopped)

    def disk_full(self, ex: DiskFull) -> DiskFull:
        """The run's stop on a full disk, its stop_reason (disk_full) in the W&B summary as far as W&B
        can still write it: resumable from its last good checkpoint."""
        disk.quiet_logging()
        stopped = self.summary(DiskFull.reason)
        self.tracker.summarize(stopped)
        return DiskFull(str(ex), ex.exit_code, stopped)

    def summary(self, reason: str) -> dict:
        p, history = self.progress, self.progress.eval_history
        curve = p.recent()
        out = {"stop_reason": reason}
        jump = detect_jump(curve.outcomes, curve.returns, curve.lengths)
        if jump is not None:
            out.update(jump.as_summary())
        out.update(epochs=p.epoch, global_step=p.global_step, episodes=p.episodes, wall_s=time.perf_counter() - self.start,
                   final_eval_return=history[-1] if history else None,
                   eval_return_ma=float(np.mean(history[-self.train.target_window:])) if history else None)
        return out

    def progress_bar(self):
        return loop_bar(self.train, self.progress.epoch, self.progress.episodes)

    def close(self) -> None:
        self.env.close()
        self.eval_env.close()


def run(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None, resume: dict | None = None,
        on_eval: Callable[[int, dict], str | None] | None = None) -> dict:
    """Train one run in `run_dir` (already validated config); returns the run's summary.

    `resume`: a checkpoint of this run (see `lander_exp.run.resume`); training continues after its epoch.
    `on_eval(evaluations so far, metrics)`: called after each evaluation; a string it returns ends the
    run there with that stop_reason (an Optuna trial's pruner: lander_exp.run.trial).
    Raises `stopping.Interrupted` after a clean stop on SIGINT/SIGTERM and `stopping.NonFiniteError`
    when a loss, gradient norm or parameter stops being finite."""
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    r = Run(cfg, run_dir, choices, resume)
    p, t = r.progress, r.train
    reason = r.stop_reason()  # set on a resume of a run killed once done
    bar, stop, exit_code = r.progress_bar(), StopSignals(), 1  # signals held until the W&B run is closed
    startup.loop_starts()
    try:
        stop.install()
        while reason is None:
            metrics = r.train_epoch()
            early = r.end_epoch(metrics, stopping=stop.requested, on_eval=on_eval)
            bar.update(metrics.get("episode/count", 0) if t.max_episodes is not None else 1)
            bar.set_postfix(steps=f"{p.global_step:,}", eval=f"{p.eval_history[-1]:.0f}" if p.eval_history else "-",
                            sps=f"{metrics['perf/env_steps_per_s']:.0f}", refresh=False)
            if stop.requested:
                exit_code = 128 + stop.signum
                raise r.interrupted(stop.signum)
            reason = early or r.stop_reason()
        summary = r.summary(reason)
        r.tracker.summarize(summary)
        exit_code = 0
        return summary
    except DiskFull as ex:
        exit_code = ex.exit_code
        raise r.disk_full(ex) from None
    finally:
        bar.close()
        r.tracker.finish(exit_code)
        stop.uninstall()
        r.close()

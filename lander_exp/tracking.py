"""The only module that imports wandb: one W&B run per training run, offline unless told otherwise.

Metric namespaces (`train/`, `episode/`, `eval/`, `perf/`) are the dashboard interface; each is
declared against the algorithm's x-axis (`global_step` for PPO, `episode` for REINFORCE)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import wandb
from omegaconf import DictConfig, OmegaConf

NAMESPACES = ("train", "episode", "eval", "perf")


def _fmt(x: float) -> str:
    return f"{x:g}"


def setting_hash(cfg: DictConfig) -> str:
    """6 hex digits that differ whenever any value that defines the experiment differs (every key
    but the seed and the bookkeeping ones in records.NOT_SETTING), so that two runs share a group
    exactly when they differ only by seed, whichever keys a sweep varies."""
    from lander_exp.records import flatten, not_setting

    flat = flatten(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    setting = {k: v for k, v in flat.items() if not not_setting(k)}
    return hashlib.sha1(json.dumps(setting, sort_keys=True, default=str).encode()).hexdigest()[:6]


def run_labels(cfg: DictConfig) -> tuple[str, str, list[str]]:
    """(name, group, tags) from the values that usually differ between runs, so that W&B's
    group-by works untouched: the group is the name without the seed, i.e. one group per setting
    (readable for the usual keys, plus a hash of all of them, e.g. for a sweep of algo.gae_lambda)."""
    net, lr = cfg.network, cfg.lr
    group = (f"{cfg.algo.name}-a{net.actor_layers}c{net.critic_layers}h{net.hidden_dim}"
             f"-lr{_fmt(lr.actor)}_{_fmt(lr.critic)}-n{cfg.env.num_envs}-{setting_hash(cfg)}")
    tags = [cfg.algo.name, cfg.env.id, f"backend:{cfg.env.backend.value}", *cfg.tracker.tags]
    return f"{group}-s{cfg.seed}", cfg.tracker.group or group, tags


class Tracker:
    def __init__(self, cfg: DictConfig, run_dir: Path, x_axis: str, choices: dict[str, str] | None = None):
        wandb_root = Path(cfg.tracker.dir)
        wandb_root.mkdir(parents=True, exist_ok=True)
        name, group, tags = run_labels(cfg)
        self.mode = cfg.tracker.mode.value
        config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        config["run_dir"] = str(run_dir)
        if choices:
            config["preset"] = choices  # which file of each config group composed this run
        self.run = wandb.init(project=cfg.tracker.project, entity=cfg.tracker.entity, dir=str(wandb_root),
                              mode=cfg.tracker.mode.value, name=name, group=group, tags=tags,
                              job_type=cfg.algo.name, config=config)
        for axis in ("global_step", "episode"):
            self.run.define_metric(axis, hidden=axis != x_axis)
        for ns in NAMESPACES:
            self.run.define_metric(f"{ns}/*", step_metric=x_axis)
        (run_dir / "wandb_run.json").write_text(json.dumps(
            {"id": self.run.id, "name": name, "group": group, "mode": cfg.tracker.mode.value,
             "dir": self.run.dir and str(Path(self.run.dir).parent)}))

    def video(self, path: Path, caption: str = "") -> wandb.Video | None:
        """An MP4 file as a W&B video to put into the next `log` (None when tracking is off)."""
        if self.mode == "disabled":
            return None
        return wandb.Video(str(path), caption=caption, format="mp4")

    def log(self, metrics: dict[str, float]) -> None:
        self.run.log(metrics)

    def summarize(self, values: dict) -> None:
        self.run.summary.update(values)

    def finish(self, exit_code: int = 0) -> None:
        self.run.finish(exit_code=exit_code)


def log_analysis(run_dir: Path, images: dict[str, Path], extra_config: dict) -> Path | None:
    """Log a finished run's analysis images to W&B as a new run in the run's project and group
    (job_type=analysis, config = the run's config + `analysis_of`: its id). A new run rather than a
    resumed one: resuming an offline run writes a second record under the same id, which the report
    and `wandb sync` would then have to reconcile. Returns the new run's folder (None: tracking off)."""
    from lander_exp.records import wandb_dir_of

    info = json.loads((run_dir / "wandb_run.json").read_text())
    if info.get("mode") == "disabled":
        return None
    cfg = OmegaConf.load(run_dir / "config.yaml")
    config = {**OmegaConf.to_container(cfg, resolve=True), "run_dir": str(run_dir), "analysis_of": info["id"],
              "analysis": extra_config}
    run = wandb.init(project=cfg.tracker.project, entity=cfg.tracker.entity, dir=str(wandb_dir_of(run_dir).parent.parent),
                     mode=info["mode"], name=f"{info['name']}-analysis", group=info["group"], job_type="analysis",
                     tags=[*cfg.tracker.tags, "analysis"], config=config)
    run.log({key: wandb.Image(str(path), caption=path.stem) for key, path in images.items()})
    run.finish()
    return Path(run.dir).parent

"""Runs as the comparison tools see them: config, x-axis, metric history and summary, read from a run
folder's offline W&B record with `wandb leet inspect --json`, or from W&B's public API for online
projects. One data model (`RunRecord`) so that the report does not care where a run came from."""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

from lander_exp.config import ConfigError
from lander_exp.shell import python_command, shown

# Keys that never make two runs different experiments: the seed, and bookkeeping that does not
# change what is learned. Runs differing only in these share a W&B group and a report group.
NOT_SETTING = ("seed", "run_dir", "tracker", "preset", "device", "train.progress", "train.torch_threads", "env.pin_threads",
               "train.keep_checkpoints", "train.video_every", "analysis_of", "analysis", "provenance")
RUN_FILE = "wandb_run.json"  # in every run folder, by tracking.Tracker: which W&B run it writes to, and where


def metric_keys() -> list[str]:
    """Every key a run logs to W&B (history rows, then the summary's own), `<i>` standing for an
    action dimension: the names a sweep or a claim may rank runs by. tests/test_e2e.py holds a real
    run's keys to this list."""
    from lander_exp.core.jump import Jump
    from lander_exp.envs.outcomes import RATES

    return ["global_step", "episode", "epoch",
            *(f"train/{k}" for k in ("actor_loss", "critic_loss", "loss", "entropy", "log_std/<i>", "approx_kl", "clip_frac",
                                     "explained_variance", "grad_norm/actor", "grad_norm/critic", "lr/actor", "lr/critic")),
            *(f"episode/{k}" for k in ("return", "return_std", "length", "count", "return_ma100", "length_ma100", *RATES)),
            *(f"eval/{k}" for k in ("return_mean", "return_std", "return_ma", "episodes", "length", *RATES, "video")),
            *(f"perf/{k}" for k in ("env_steps_per_s", "rollout_s", "update_s", "eval_s", "wall_s", "critic_wait_s")),
            "stop_reason", "epochs", "episodes", "wall_s", "final_eval_return", "eval_return_ma", "failure",
            *(f"jump/{f.name}" for f in fields(Jump))]


def metric_problem(name: str) -> str | None:
    """Why runs never log `name` (with the closest key they do log), or None."""
    keys = metric_keys()
    if name in keys or re.sub(r"/\d+$", "/<i>", name) in keys:
        return None
    close = difflib.get_close_matches(name, keys, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "see docs/tracking.md for every key"
    return f"runs never log {name!r}: {hint}"
AXES = ("global_step", "episode")
ALGO_AXIS = {"ppo": "global_step", "reinforce": "episode"}  # fallback when a record declares no step metric


@dataclass
class RunRecord:
    id: str
    name: str
    group: str
    config: dict  # nested, as logged (includes `preset`: the config-group choices)
    x_axis: str  # "global_step" or "episode"
    history: list[dict]  # one dict per logged step; keys as logged ("eval/return_mean", ...)
    summary: dict = field(default_factory=dict)
    source: str = ""  # the run folder or W&B path it was read from

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(x, y) of every history row that holds `key` and the x-axis, in logging order."""
        xs, ys = [], []
        for row in self.history:
            if key in row and self.x_axis in row and isinstance(row[key], int | float):
                xs.append(float(row[self.x_axis]))
                ys.append(float(row[key]))
        return xs, ys

    def keys(self) -> set[str]:
        return {k for row in self.history for k in row}


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """Nested config -> {"network.hidden_dim": 64, ...}; lists become JSON text so they can be compared."""
    out: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if isinstance(value, list) else value
    return out


def not_setting(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in NOT_SETTING)


def setting(config: dict) -> dict[str, object]:
    """The flat values that define a run's experiment: every key of a resolved config but the seed and
    the bookkeeping ones of NOT_SETTING. Two runs are the same experiment exactly when these match."""
    return {k: v for k, v in flatten(config).items() if not not_setting(k)}


def setting_key(config: dict) -> str:
    """`setting(config)` as canonical text: the report's groups are the runs with equal keys."""
    return json.dumps(setting(config), sort_keys=True, default=str)


def setting_hash(config: dict) -> str:
    """6 hex digits of `setting_key(config)`: the W&B group's suffix, so that two runs share a W&B group
    exactly when they share a report group (they differ only by seed), whichever keys a sweep varies."""
    return hashlib.sha1(setting_key(config).encode()).hexdigest()[:6]


def wandb_executable() -> str:
    """The `wandb` CLI of this interpreter's environment (falls back to PATH)."""
    local = Path(sys.executable).parent / "wandb"
    return str(local) if local.exists() else (shutil.which("wandb") or "wandb")


def leet_records(wandb_run_dir: Path) -> list[dict]:
    """Every record of an offline W&B run, as `wandb leet inspect --json` prints them (one per line)."""
    proc = subprocess.run([wandb_executable(), "leet", "inspect", "--json", str(wandb_run_dir)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"wandb leet inspect could not read {wandb_run_dir}: {last}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def record_counts(wandb_run_dir: Path) -> tuple[int, bool] | None:
    """(history rows, whether it was closed) of an offline W&B record: what `wandb leet inspect --json`
    reads of it, through W&B's own reader (wandb-core) called directly, which answers in milliseconds
    where the `wandb` command takes a second to start. A record whose blocks are damaged (truncated,
    overwritten) reads as the rows W&B can still recover. None when the reader itself cannot run."""
    core = Path(importlib.util.find_spec("wandb").submodule_search_locations[0]) / "bin" / "wandb-core"
    files = sorted(wandb_run_dir.glob("*.wandb"))
    if not files:
        return 0, False
    if core.is_file():
        command = [str(core), "leet", "inspect", "--no-observability", "--json", "--run-file", str(files[0]),
                   str(wandb_run_dir.parent)]
    else:
        command = [wandb_executable(), "leet", "inspect", "--json", str(wandb_run_dir)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 and not proc.stdout and "transactionlog" not in proc.stderr:
        return None  # not the record's fault (a reader of another W&B version, say)
    heads = [line[:48] for line in proc.stdout.splitlines()]
    return sum('"type":"history"' in h for h in heads), any('"type":"exit"' in h for h in heads)


def rebuild_command(run_dir: Path) -> str:
    return python_command("lander_exp.resume", shown(run_dir), "--rebuild-wandb")


def record_problem(run_dir: Path, read: bool = True) -> str | None:
    """What is missing from the offline W&B record of a closed run, in words (None: nothing, or not an
    offline record): its folder gone, or, with `read`, fewer rows than the run logged (wandb_run.json
    keeps the count) or no end. The checkpoint holds every row: `rebuild_command` makes it whole."""
    try:
        info = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    if info.get("mode") != "offline" or not info.get("dir") or not info.get("finished"):
        return None
    try:
        folder = wandb_dir_of(run_dir)
    except ConfigError:
        return f"its W&B record {info['dir']} is missing (deleted, or moved away from the run folders)"
    if not read:
        return info.get("record_problem")
    counts = record_counts(folder)
    if counts is None:
        return None
    rows, closed = counts
    expected = info.get("rows")
    if expected is not None and rows < expected:
        return f"its W&B record {info['dir']} holds {rows} of the run's {expected} rows (damaged or cut short)"
    if not closed:
        return f"its W&B record {info['dir']} has no end record (damaged or cut short)"
    return None


def tracked(run_dir: Path) -> bool:
    """Whether the run wrote a W&B record (tracker=off runs have a wandb_run.json but no record)."""
    info = json.loads((run_dir / RUN_FILE).read_text())
    return info.get("mode") != "disabled" and bool(info.get("dir"))


def run_dirs_under(paths: list[Path]) -> list[Path]:
    """Every run folder named by `paths`, whether or not it can be read: each path is a run folder or
    any folder holding run folders (searched recursively for wandb_run.json), e.g. a multirun or sweep
    folder or runs/ itself."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path} does not exist: pass run folders or folders that contain them")
        inside = [path] if (path / RUN_FILE).is_file() else sorted(p.parent for p in path.rglob(RUN_FILE))
        if not inside:
            raise ConfigError(f"{path} holds no run folder (no {RUN_FILE} below it): pass folders made by "
                              f"{python_command('lander_exp')}")
        found.extend(inside)
    return list(dict.fromkeys(p.resolve() for p in found))


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """The run folders named by `paths` (see run_dirs_under) that wrote a W&B record to read: runs found
    by the search that were trained with tracking off, or killed before W&B started, are left out."""
    found: list[Path] = []
    for path in paths:
        inside = run_dirs_under([path])
        if inside != [path.resolve()]:
            inside = [p for p in inside if tracked(p)]
        if not inside:
            raise ConfigError(f"{path} holds no tracked run folder (no {RUN_FILE} of a W&B-tracked run below it): "
                              f"pass folders made by {python_command('lander_exp')} with W&B tracking on")
        found.extend(inside)
    return list(dict.fromkeys(found))


def wandb_dir_of(run_dir: Path) -> Path:
    """The offline W&B run folder of a run folder. wandb_run.json names it relative to the folder
    training ran from, so it is looked for from the current folder and from each parent of the run."""
    info = json.loads((run_dir / RUN_FILE).read_text())
    if not tracked(run_dir):
        raise ConfigError(f"{run_dir} was run with tracking off (tracker=off): it has no W&B record to read")
    if not info.get("dir"):
        raise ConfigError(f"{run_dir} has no W&B record: its process ended while W&B was starting")
    named = Path(info["dir"])
    candidates = [named] if named.is_absolute() else [Path.cwd() / named, *(p / named for p in run_dir.resolve().parents)]
    for cand in candidates:
        if cand.is_dir():
            return cand
    for parent in run_dir.resolve().parents:  # the runs/ tree was moved: find the record by its id
        hits = sorted(parent.glob(f"wandb/*-{info['id']}"))
        if hits:
            return hits[-1]
    raise ConfigError(f"the W&B record of {run_dir} ({info['dir']}) is missing: no W&B run {info['id']} next to the "
                      "run folders; if it was deleted, rebuild it from the run's checkpoint with: "
                      f"{rebuild_command(run_dir)} (if it was moved, keep the run folders and their wandb/ folder "
                      "together, or run from the folder training ran in)")


def _x_axis(metric_records: list[dict], config: dict) -> str:
    for rec in metric_records:
        if rec.get("glob_name") in ("eval/*", "episode/*", "train/*") and rec.get("step_metric") in AXES:
            return rec["step_metric"]
    return ALGO_AXIS.get(config.get("algo", {}).get("name"), "global_step")


NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}  # how W&B's config stores them


def config_values(config: dict) -> dict:
    """A config as W&B gives it back, with its numbers as trained: W&B writes inf and nan as the
    strings "Infinity", "-Infinity", "NaN" (e.g. REINFORCE's algo.max_grad_norm=.inf)."""
    def back(value):
        if isinstance(value, dict):
            return {k: back(v) for k, v in value.items()}
        return NON_FINITE.get(value, value) if isinstance(value, str) else value

    return {k: back(v) for k, v in config.items() if not k.startswith("_")}


def from_records(records: list[dict], source: str) -> RunRecord:
    """A RunRecord from the records `wandb leet inspect --json` prints."""
    run = next((r["run"] for r in records if r["type"] == "run"), None)
    if run is None:
        raise ConfigError(f"{source} holds no W&B run header: the record is incomplete")
    config = config_values(run.get("config", {}).get("update", {}))
    for rec in records:  # config updates after init (none today, but cheap to honour)
        if rec["type"] == "config":
            config.update(config_values(rec["config"].get("update", {})))
    summary: dict = {}
    for rec in records:
        if rec["type"] == "summary":
            summary.update(rec["summary"].get("update", {}))
    metrics = [r["metric"] for r in records if r["type"] == "metric"]
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    return RunRecord(id=run["run_id"], name=run.get("display_name") or run["run_id"],
                     group=run.get("run_group") or "", config=config, x_axis=_x_axis(metrics, config),
                     history=history, summary=summary, source=source)


def load_local(run_dirs: list[Path], workers: int = 4, skipped: list[tuple[Path, str]] | None = None) -> list[RunRecord]:
    """Read run folders (in parallel: each `wandb leet` call mostly waits on process start-up).

    A folder whose W&B record cannot be read (e.g. a run killed before W&B wrote its header) raises
    ConfigError, or, when `skipped` is given, is left out and appended to it with the reason."""

    def read(run_dir: Path) -> RunRecord | str:
        try:
            folder = wandb_dir_of(run_dir)
            info = json.loads((run_dir / RUN_FILE).read_text())
            try:
                record = from_records(leet_records(folder), str(run_dir))
            except ConfigError as ex:
                if not info.get("finished"):  # killed before W&B wrote its header: runs.py calls it dead
                    raise
                raise ConfigError(f"the W&B record of {run_dir} ({info['dir']}) is damaged, W&B cannot read it "
                                  f"({str(ex).rpartition(': ')[2]}): rebuild it from the run's checkpoint with: "
                                  f"{rebuild_command(run_dir)}") from None
            logged = info.get("rows")
            if logged is not None and len(record.history) < logged:
                raise ConfigError(f"the W&B record of {run_dir} holds {len(record.history)} of the run's {logged} rows "
                                  f"(damaged or cut short): rebuild it from the run's checkpoint with: "
                                  f"{rebuild_command(run_dir)}")
            return record
        except ConfigError as ex:
            if skipped is None:
                raise
            return str(ex)

    if skipped is None:
        for d in run_dirs:
            wandb_dir_of(d)  # fail on a bad folder before any work
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(read, run_dirs))
    for run_dir, result in zip(run_dirs, results, strict=True):
        if isinstance(result, str):
            skipped.append((run_dir, result))
    return [r for r in results if isinstance(r, RunRecord)]


def load_wandb(project: str | None = None, sweep: str | None = None) -> list[RunRecord]:
    """Runs of an online W&B project (ENTITY/PROJECT) or sweep (ENTITY/PROJECT/SWEEP_ID) through
    `wandb.Api()`: the same RunRecord as a local folder gives. Needs network access and a login."""
    import wandb

    api = wandb.Api()
    runs = api.sweep(sweep).runs if sweep else api.runs(project)
    out = []
    for run in runs:
        if run.job_type == "analysis":  # lander_exp.tools.analyze's image runs: no training curves
            continue
        config = config_values(dict(run.config))
        history = [dict(row) for row in run.scan_history()]
        x_axis = ALGO_AXIS.get(config.get("algo", {}).get("name"), "global_step")
        out.append(RunRecord(id=run.id, name=run.name, group=run.group or "", config=config, x_axis=x_axis,
                             history=history, summary=dict(run.summary), source=run.url))
    return out

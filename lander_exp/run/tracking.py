"""The only module that imports wandb: one W&B run per training run, offline unless told otherwise.

Metric namespaces (`train/`, `episode/`, `eval/`, `perf/`) are the dashboard interface; each is
declared against the algorithm's x-axis (`global_step` for PPO, `episode` for REINFORCE).

Rows are logged with an explicit W&B step (the row's index) and kept, so that a resumed run can
continue the same W&B run without duplicate or missing steps: offline, the resumed process rebuilds
the run from the checkpoint's rows in a fresh offline folder (the killed process's folder is moved
into the run folder, `wandb_superseded/`); online, W&B drops rows logged again at steps it already has."""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import string
import sys
import threading
import time
from pathlib import Path

import wandb

# wandb.init imports wandb.apis.public; imported here, before PyTorch's thousands of modules, its
# pydantic models (whose docstrings pydantic reads through inspect.getmodule, a scan of sys.modules)
# cost a third of what they cost later
import wandb.apis.public  # noqa: F401
from omegaconf import DictConfig, OmegaConf

from lander_exp.config import ConfigError
from lander_exp.run.records import RUN_FILE, record_counts, setting_hash, wandb_dir_of
from lander_exp.shell import command, full_cause, shown

NAMESPACES = ("train", "episode", "eval", "perf")
PENDING_ROWS = 4096  # rows handed to W&B and not yet taken by it, at the most


def _fmt(x: float) -> str:
    return f"{x:g}"


def new_run_id() -> str:
    """Chosen before init so that an online run that falls back to offline keeps its id for `wandb sync`."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def run_labels(cfg: DictConfig) -> tuple[str, str, list[str]]:
    """(name, group, tags) from the values that usually differ between runs, so that W&B's
    group-by works untouched: the group is the name without the seed, i.e. one group per setting
    (readable for the usual keys, plus a hash of all of them, e.g. for a sweep of algo.gae_lambda)."""
    net, lr = cfg.network, cfg.lr
    group = (f"{cfg.algo.name}-a{net.actor_layers}c{net.critic_layers}h{net.hidden_dim}"
             f"-lr{_fmt(lr.actor)}_{_fmt(lr.critic)}-n{cfg.env.num_envs}-"
             f"{setting_hash(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))}")
    tags = [cfg.algo.name, cfg.env.id, f"backend:{cfg.env.backend.value}", *cfg.tracker.tags]
    return f"{group}-s{cfg.seed}", cfg.tracker.group or group, tags


def project_problem(name: str) -> str | None:
    """Why W&B refuses `name` as a project (characters, length), or None: W&B's own check, run
    before any folder is made, instead of a traceback from wandb.init once the run has started."""
    try:
        wandb.Settings(project=name)
    except (wandb.errors.UsageError, ValueError) as ex:
        return next((line.strip() for line in str(ex).splitlines() if "project" in line.lower()),
                    str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__)
    return None


# W&B's server refuses longer run names and groups when a run is created or synced (offline runs take
# them and fail at `wandb sync`); tags over 64 characters are refused by wandb.Settings itself.
NAME_CHARS = 128


def label_problem(cfg: DictConfig) -> str | None:
    """One line on a tag or group W&B refuses (checked by wandb.Settings where W&B checks it,
    else against the server's limits), or None: at validation time, not from wandb.init once the run
    folder exists, nor from `wandb sync` days later."""
    _, group, tags = run_labels(cfg)
    for tag in tags:
        try:
            wandb.Settings(run_tags=(tag,))
        except (wandb.errors.UsageError, ValueError) as ex:  # pydantic's report: W&B's own sentence in it
            rule = re.search(r"Tags must [^.\[]*", str(ex))
            why = rule.group(0).strip() if rule else str(ex).strip().splitlines()[0]
            source = "tracker.tags" if tag in cfg.tracker.tags else "the run's tags"
            shown_tag = tag if len(tag) <= 40 else tag[:37] + "..."
            return f"{source}: W&B refuses the tag {shown_tag!r} ({len(tag)} characters): {why[:1].lower()}{why[1:]}"
        if not tag.isprintable():
            return f"tracker.tags: the tag {tag!r} holds a control character (a newline, a tab): W&B shows tags on one line"
    if len(group) > NAME_CHARS or not group.isprintable() or not group.strip():  # the derived one is short and plain
        shown_group = group if len(group) <= 40 else group[:37] + "..."
        return (f"tracker.group={shown_group!r} is refused by W&B: a group or run name has 1 to {NAME_CHARS} printable "
                f"characters ({len(group)} given); choose a shorter tracker.group")
    return None


def start_service() -> None:
    """Start W&B's service process on a thread and return at once: `wandb.init` waits about a fifth of
    a second for it to come up, time the caller can spend importing PyTorch instead (run/app.py).
    `wandb.setup` is the library's own way to start it early; a later `wandb.init` joins the same
    service, or waits for it under W&B's lock. A failure here is left for `wandb.init` to report."""
    threading.Thread(target=_setup_quietly, name="lander_exp-wandb-setup", daemon=True).start()


def _setup_quietly() -> None:
    try:
        wandb.setup()
    except Exception:  # noqa: S110 - wandb.init starts the service again and raises what stops it
        pass


def _unreachable(ex: Exception) -> bool:
    """An online init that failed for want of a server or credentials, not because of a bug."""
    return isinstance(ex, wandb.errors.CommError) or (isinstance(ex, wandb.errors.UsageError) and "API key" in str(ex))


class Tracker:
    """`resume`: the tracker state of a checkpoint (`state_dict()`); the run continues that W&B run.

    `background=True` opens the W&B run on a thread (W&B's service starting, the run's files, its
    handshakes: most of it waiting), so that the caller can build the run's envs and networks
    meanwhile; `ready()` waits for it, and every other method waits by itself.

    Rows reach W&B on a thread of their own, in order: W&B's `log` returns only once its service has
    taken the row, a wait of milliseconds per row on a busy machine that the training loop (REINFORCE
    logs every episode) need not share. `summarize` and `finish` wait for the rows before them, and
    an error W&B raised for a row is raised by the next call."""

    def __init__(self, cfg: DictConfig, run_dir: Path, x_axis: str, choices: dict[str, str] | None = None,
                 resume: dict | None = None, provenance: dict | None = None, background: bool = False):
        self.rows: list[dict] = list(resume["rows"]) if resume else []
        self._videos: dict[int, dict] = {}  # videos made by `video` and not yet logged
        self.run_dir = run_dir
        name, group, tags = run_labels(cfg)
        self.mode = cfg.tracker.mode.value
        config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        config["run_dir"] = str(run_dir)
        if choices:
            config["preset"] = choices  # which file of each config group composed this run
        if provenance:
            config["provenance"] = provenance  # the code, libraries and machine of this process (run/provenance.py)
        mode = cfg.tracker.mode.value
        wandb_root = Path(cfg.tracker.dir)
        if resume:  # the W&B files live where the first process put them, whatever the current folder
            try:
                wandb_root = wandb_dir_of(run_dir).parent.parent
            except ConfigError:  # tracking was off, or its folder is gone: start one where the config says
                pass
        wandb_root.mkdir(parents=True, exist_ok=True)
        run_id = resume["id"] if resume else new_run_id()
        # reinit="create_new": each run of a batch (run/batch.py) is its own W&B run in the same process
        init = dict(project=cfg.tracker.project, entity=cfg.tracker.entity, dir=str(wandb_root), id=run_id,
                    name=name, group=group, tags=tags, job_type=cfg.algo.name, config=config,
                    resume="allow" if resume else None, reinit="create_new",
                    # W&B's header and footer name the shell's `wandb` and show ten metrics of the summary:
                    # the run says where it went itself (here and in run/summary.py)
                    settings=wandb.Settings(silent=True))
        self.run_file = run_dir / RUN_FILE
        if not resume:  # the id first: a process killed inside wandb.init leaves a W&B folder runs.py can find
            self.run_file.write_text(json.dumps({"id": run_id, "name": name, "group": group, "mode": mode, "dir": None,
                                                 "wandb_folder": str(wandb_root / "wandb")}))
        self._where: str | None = None  # printed by `ready`
        self._folder: Path | None = None  # the offline W&B record's folder, once the run is open
        self._stop_reason: str | None = None
        self._failure: BaseException | None = None
        self._opening: threading.Thread | None = None
        # rows for W&B, in order; bounded, so that a W&B that falls far behind slows the loop instead of
        # holding every row twice in memory
        self._pending: queue.Queue[tuple[dict, int] | None] = queue.Queue(maxsize=PENDING_ROWS)
        self._logging: threading.Thread | None = None
        self._log_failure: BaseException | None = None
        opening = (mode, init, wandb_root, x_axis, bool(resume), name, group)
        if background:
            self._opening = threading.Thread(target=self._open_catching, args=opening, name="lander_exp-wandb-init",
                                             daemon=True)
            self._opening.start()
        else:
            self._open(*opening)
            self.ready()

    def _open_catching(self, *opening) -> None:
        try:
            self._open(*opening)
        except BaseException as ex:  # handed to the caller's thread by `ready`
            self._failure = ex

    def _open(self, mode: str, init: dict, wandb_root: Path, x_axis: str, resumed: bool, name: str, group: str) -> None:
        run_id = init["id"]
        try:
            self._run = wandb.init(mode=mode, **init)
        except Exception as ex:
            if mode != "online" or not _unreachable(ex):
                raise
            mode = "offline"
            wandb.teardown()  # the failed attempt keeps the id "in use" in W&B's service process
            for attempt in (wandb_root / "wandb").glob(f"run-*-{run_id}"):
                shutil.rmtree(attempt, ignore_errors=True)  # the online attempt's empty folder
            self._run = wandb.init(mode=mode, **init)
            print(f"lander_exp: W&B is unreachable ({str(ex).splitlines()[0]}); this run logs offline, nothing is "
                  f"lost. Upload it afterwards with: {command('wandb', 'sync', Path(self._run.dir).parent)}",
                  file=sys.stderr, flush=True)
        run = self._run
        for axis in ("global_step", "episode"):
            run.define_metric(axis, hidden=axis != x_axis)
        for ns in NAMESPACES:
            run.define_metric(f"{ns}/*", step_metric=x_axis)
        # as W&B names it (relative to the current folder, like records.wandb_dir_of expects)
        wandb_dir = Path(run.dir).parent if run.dir and mode != "disabled" else None
        if resumed and mode == "offline":
            self._supersede(wandb_root / "wandb", run_id, wandb_dir and wandb_dir.resolve(), self.run_dir)
            for step, row in enumerate(self.rows):
                run.log(self._loggable(row), step=step)
        self._folder = Path(run.dir).parent.resolve() if mode == "offline" and run.dir else None
        url = run.url if mode == "online" else None
        self.run_file.write_text(json.dumps({"id": run.id, "name": name, "group": group, "mode": mode,
                                             "dir": wandb_dir and str(wandb_dir), "url": url,
                                             "wandb_folder": str(wandb_root / "wandb")}))
        self._where = url or (f"{wandb_dir} ({mode})" if wandb_dir else "none (tracking off)")

    def ready(self) -> None:
        """Wait until the W&B run is open (raising what opening it raised); the first time, say where
        the run goes."""
        if self._opening is not None:
            self._opening.join()
            self._opening = None
        if self._failure is not None:
            raise self._failure
        if self._where is not None:
            print(f"lander_exp: run folder {shown(self.run_dir)}, W&B run {self._where}", flush=True)
            self._where = None

    @property
    def run(self):
        """The W&B run (once it is open)."""
        self.ready()
        return self._run

    def abandon(self) -> None:
        """The run failed before it started: close its W&B run (exit code 1) once it is open, if it opened."""
        if self._opening is not None:
            self._opening.join()
            self._opening = None
        if self._failure is None and hasattr(self, "_run"):
            self._where = None
            self.finish(1)

    @staticmethod
    def _supersede(wandb_folder: Path, run_id: str, current: Path | None, run_dir: Path) -> None:
        """Move the earlier offline folders of this run into the run folder, so that `wandb sync`
        over runs/wandb uploads only the rebuilt, complete one (the old ones stay for inspection)."""
        for old in sorted(wandb_folder.glob(f"offline-run-*-{run_id}")):
            if current is None or old.resolve() != current:
                (run_dir / "wandb_superseded").mkdir(exist_ok=True)
                shutil.move(str(old), str(run_dir / "wandb_superseded" / old.name))

    def video(self, path: Path, caption: str = "") -> wandb.Video | None:
        """An MP4 file as a W&B video to put into the next `log` (None when tracking is off)."""
        if self.mode == "disabled":
            return None
        video = wandb.Video(str(path), caption=caption, format="mp4")
        self._videos[id(video)] = {"video": os.path.relpath(path, self.run_dir), "caption": caption}
        return video

    def log(self, metrics: dict) -> None:
        self._raise_log_failure()
        if self._logging is None:
            self.ready()
            self._logging = threading.Thread(target=self._log_rows, name="lander_exp-wandb-log", daemon=True)
            self._logging.start()
        self._pending.put((dict(metrics), len(self.rows)))
        # a row as a checkpoint keeps it: numbers, and a video as its file (logged again on a rebuild)
        self.rows.append({k: self._videos.pop(id(v)) if isinstance(v, wandb.Video) else v for k, v in metrics.items()})

    def _log_rows(self) -> None:
        while (item := self._pending.get()) is not None:
            try:
                if self._log_failure is None:
                    self._run.log(item[0], step=item[1])
            except BaseException as ex:  # raised on the training thread by the next call
                self._log_failure = ex
            finally:
                self._pending.task_done()
        self._pending.task_done()

    def _raise_log_failure(self) -> None:
        if self._log_failure is not None:
            failure, self._log_failure = self._log_failure, None
            raise failure

    def flush(self) -> None:
        """Wait until W&B has every row logged so far (raising what W&B raised for one)."""
        if self._logging is not None:
            self._pending.join()
        self._raise_log_failure()

    def _loggable(self, row: dict) -> dict:
        """A kept row as W&B takes it: videos whose file is still there become W&B videos again."""
        out = {}
        for key, value in row.items():
            if isinstance(value, dict) and "video" in value:
                if (self.run_dir / value["video"]).is_file():
                    out[key] = wandb.Video(str(self.run_dir / value["video"]), caption=value["caption"], format="mp4")
            else:
                out[key] = value
        return out

    def state_dict(self) -> dict:
        return {"id": self.run.id, "rows": list(self.rows)}

    @property
    def folder(self) -> Path | None:
        """The offline W&B record's folder (None: online or off)."""
        self.ready()
        return self._folder

    def summarize(self, values: dict) -> None:
        self.flush()
        self.run.summary.update(values)
        self._stop_reason = values.get("stop_reason", self._stop_reason)

    def _settled_counts(self) -> tuple[int, bool] | None:
        """The record's (rows, closed), read again a few times over about three seconds while it
        falls short: W&B's service may still be writing its last blocks as `finish` returns (seen on
        a loaded machine), and a record only short for that moment is not damaged."""
        counts = record_counts(self._folder)
        for wait in (0.2, 0.4, 0.8, 1.6):
            if counts is None or (counts[0] >= len(self.rows) and counts[1]):
                break
            time.sleep(wait)
            counts = record_counts(self._folder)
        return counts

    def finish(self, exit_code: int = 0) -> None:
        """Close the W&B run, check what it wrote, then say so in the run folder (how it ended, how many
        rows, what the record lacks): until then, a resume rebuilds it. An error W&B raised for a row
        not yet reported is raised once the run is closed."""
        if self._logging is not None:
            self._pending.join()
            self._pending.put(None)  # the logging thread ends
            self._logging = None
        failure, self._log_failure = self._log_failure, None
        try:
            self.run.finish(exit_code=exit_code)
        except OSError as ex:  # W&B's own log file on a full disk, closed last: the run itself is closed
            if full_cause(ex) is None:
                raise
        info = {**json.loads(self.run_file.read_text()), "finished": True, "exit_code": exit_code,
                "stop_reason": self._stop_reason, "rows": len(self.rows)}
        info.pop("record_problem", None)
        if self._folder is not None:
            problem = None
            if not self._folder.is_dir():
                problem = f"its W&B record {info['dir']} was deleted while the run trained"
            elif (counts := self._settled_counts()) is not None:
                rows, closed = counts
                if rows < len(self.rows) or not closed:
                    problem = (f"its W&B record {info['dir']} holds {rows} of the run's {len(self.rows)} rows"
                               + ("" if closed else " and no end record") + " (damaged or cut short)")
            if problem:
                info["record_problem"] = problem
        try:
            self.run_file.write_text(json.dumps(info))
        except OSError as ex:  # a full disk: the run folder keeps saying the W&B run is open, and a resume rebuilds it
            if full_cause(ex) is None:
                raise
        if failure is not None:
            raise failure


def analysis_id(run_id: str) -> str:
    """The W&B id of a run's analysis run: one per training run, so that analysing again replaces it."""
    return f"{run_id}-analysis"


def log_analysis(run_dir: Path, images: dict[str, Path], extra_config: dict) -> Path | None:
    """Log a finished run's analysis images to W&B as the run's analysis run, in its project and group
    (job_type=analysis, config = the run's config + `analysis_of`: its id). Its own run rather than
    rows added to the training run, whose record is closed; one per training run (`analysis_id`):
    offline, an earlier analysis's folder is deleted first (an offline run cannot be resumed without
    writing a second record under the same id); online, W&B resumes the run and the new images
    follow the old. Returns the run's folder (None: tracking off)."""
    info = json.loads((run_dir / RUN_FILE).read_text())
    if info.get("mode") == "disabled":
        return None
    cfg = OmegaConf.load(run_dir / "config.yaml")
    config = {**OmegaConf.to_container(cfg, resolve=True), "run_dir": str(run_dir), "analysis_of": info["id"],
              "analysis": extra_config}
    wandb_root = wandb_dir_of(run_dir).parent.parent
    run_id = analysis_id(info["id"])
    if info["mode"] == "offline":
        for earlier in (wandb_root / "wandb").glob(f"offline-run-*-{run_id}"):
            shutil.rmtree(earlier)
    run = wandb.init(project=cfg.tracker.project, entity=cfg.tracker.entity, dir=str(wandb_root), id=run_id,
                     mode=info["mode"], name=f"{info['name']}-analysis", group=info["group"], job_type="analysis",
                     tags=[*cfg.tracker.tags, "analysis"], config=config, resume="allow", reinit="create_new",
                     settings=wandb.Settings(silent=True))  # as training's: the command says where it logged
    run.log({key: wandb.Image(str(path), caption=path.stem) for key, path in images.items()})
    run.finish()
    return Path(run.dir).parent

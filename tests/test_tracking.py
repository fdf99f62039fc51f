"""The tracker hands rows to W&B on a thread of its own: the training loop does not wait for W&B's
service, the record still holds every row in order, and an error W&B raises still reaches the run."""

from __future__ import annotations

import json
import time

import pytest

from lander_exp.run import tracking
from lander_exp.run.records import RUN_FILE
from lander_exp.run.tracking import Tracker
from tests.conftest import history, leet_records, make_cfg

ROWS = 20
DELAY = 0.05  # seconds W&B takes per row below: the loop would wait ROWS * DELAY for it


def tracker(tmp_path, monkeypatch, fail_at: int | None = None) -> Tracker:
    cfg = make_cfg(["tracker.mode=offline", f"tracker.dir={tmp_path / 'runs'}"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    t = Tracker(cfg, run_dir, "global_step")
    real_log = t.run.log

    def slow_log(row, step):
        time.sleep(DELAY)  # a busy machine's W&B service
        if step == fail_at:
            raise ValueError(f"W&B refused row {step}")
        real_log(row, step=step)

    monkeypatch.setattr(t.run, "log", slow_log)
    return t


def test_rows_reach_wandb_in_order_while_the_loop_goes_on(tmp_path, monkeypatch):
    t = tracker(tmp_path, monkeypatch)
    start = time.perf_counter()
    for i in range(ROWS):
        t.log({"global_step": 10 * i, "train/x": float(i)})
    assert time.perf_counter() - start < ROWS * DELAY / 2  # the loop did not wait for each row
    t.summarize({"stop_reason": "max_epochs"})
    t.finish(0)
    rows = history(leet_records(t.folder))
    assert [r["train/x"] for r in rows] == [float(i) for i in range(ROWS)]
    assert [r["_step"] for r in rows] == list(range(ROWS))
    info = json.loads((tmp_path / "run" / RUN_FILE).read_text())
    assert info["finished"] and info["rows"] == ROWS and "record_problem" not in info


def test_an_error_wandb_raises_for_a_row_is_raised_by_the_next_call(tmp_path, monkeypatch):
    t = tracker(tmp_path, monkeypatch, fail_at=3)
    for i in range(4):
        t.log({"global_step": i, "train/x": float(i)})
    with pytest.raises(ValueError, match="W&B refused row 3"):
        t.flush()
    t.finish(1)  # reported once: closing does not raise it again
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text())["finished"]


def test_an_error_for_the_last_row_is_raised_once_the_wandb_run_is_closed(tmp_path, monkeypatch):
    t = tracker(tmp_path, monkeypatch, fail_at=1)
    for i in range(2):
        t.log({"global_step": i, "train/x": float(i)})
    with pytest.raises(ValueError, match="W&B refused row 1"):
        t.finish(0)
    info = json.loads((tmp_path / "run" / RUN_FILE).read_text())
    assert info["finished"] and info["exit_code"] == 0


def test_a_wandb_that_falls_far_behind_slows_the_loop_instead_of_piling_rows_up(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "PENDING_ROWS", 2)
    t = tracker(tmp_path, monkeypatch)
    start = time.perf_counter()
    for i in range(ROWS):
        t.log({"global_step": i, "train/x": float(i)})
        assert t._pending.qsize() <= 2
    assert time.perf_counter() - start >= (ROWS - 4) * DELAY  # it waited for W&B once two rows were pending
    t.finish(0)
    assert [r["train/x"] for r in history(leet_records(t.folder))] == [float(i) for i in range(ROWS)]

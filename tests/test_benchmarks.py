"""The benchmark scripts' own arithmetic: where a run's wall time went adds up to its launch-to-exit
time, and results CSVs take new columns without losing their rows."""

from __future__ import annotations

import csv
import sys

from tests.conftest import ROOT, TINY

sys.path.insert(0, str(ROOT / "benchmarks"))
import common  # noqa: E402  (benchmarks/common.py)
import many_seeds  # noqa: E402


def test_a_csv_takes_new_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "results.csv"
    common.append_rows(path, [{"date": "d1", "wall_s": 1.5}])
    common.append_rows(path, [{"date": "d2", "wall_s": 2.5}])
    common.append_rows(path, [{"date": "d3", "commit": "abc1234", "wall_s": 3.5}])
    rows = list(csv.DictReader(path.open()))
    assert [(r["date"], r["wall_s"], r["commit"]) for r in rows] == [("d1", "1.5", ""), ("d2", "2.5", ""),
                                                                     ("d3", "3.5", "abc1234")]


def test_where_a_run_s_time_went_adds_up_to_its_launch_to_exit(tmp_path):
    out = tmp_path / "run"
    launched, exited = many_seeds.launch([*TINY, "seed=3"], out)
    split = many_seeds.where_time_goes(out, launched, exited)
    assert all(v >= 0 for v in split.values()), split
    assert split["startup_s"] > 0.5  # imports, the config, the W&B run: never free
    assert split["rollout_s"] + split["update_s"] + split["eval_s"] > 0  # each rounded to 0.1 s: a tiny run's update may be 0.0
    assert abs(sum(split.values()) - (exited - launched)) < 0.5  # each part rounded to 0.1 s
    assert common.commit_of(ROOT).split("-")[0] != "unknown"

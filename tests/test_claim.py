"""Claims: a tiny claim runs end to end (trains two seeds as real offline W&B runs, evaluates them,
judges, writes its CSVs), a rerun reuses what finished, a failing claim exits non-zero, the intervals
agree with a hand computation, and a bad claim file stops with one line before anything exists."""

import csv
import json
import math
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from lander_exp.tools import claim, claim_spec
from lander_exp.tools.claim_spec import ClaimError
from tests.conftest import ROOT, TINY, leet_records, run_cli

CLAIM_FILES = sorted((ROOT / "claims").glob("*.yaml"))
TRIED_FILES = sorted((ROOT / "claims" / "tried").glob("*.yaml"))
TINY_OVERRIDES = [*TINY, "train.max_epochs=1"]


def write_claim(folder: Path, name: str = "tiny", passes: str = '{stop_reason: "== max_epochs", return: ">= -10000"}',
                rate: float = 1.0, extra: str = "") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        claim: {name}
        statement: a tiny PPO run stops at its epoch limit
        config:
          overrides: {json.dumps(TINY_OVERRIDES)}
        seeds: {{development: 0-1, confirmation: 100-101}}
        evaluate: {{policy: greedy, episodes: 4}}
        value: return
        passes: {passes}
        required_rate: {rate}
        """) + extra)
    return path


@pytest.fixture(scope="module")
def tiny_claim(tmp_path_factory):
    """(workdir, the first check's process) of the tiny claim run once on its two confirmation seeds."""
    workdir = tmp_path_factory.mktemp("claim")
    path = write_claim(workdir)
    proc = run_cli([str(path), "--workers", "2"], cwd=workdir, module="lander_exp.claim")
    return workdir, proc


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_tiny_claim_trains_its_seeds_evaluates_them_and_writes_its_rows(tiny_claim):
    workdir, proc = tiny_claim
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 of 2 runs pass" in proc.stdout and "PASS" in proc.stdout
    assert "95% Wilson interval [0.34, 1.00]" in proc.stdout  # 2 of 2
    run_dirs = sorted((workdir / "runs" / "claims" / "tiny").glob("*/seed-10*"))
    assert [d.name for d in run_dirs] == ["seed-100", "seed-101"]
    table = rows(workdir / "docs" / "results" / "claims" / "tiny.csv")
    assert [(r["claim"], r["seed_set"], r["seed"], r["passed"]) for r in table] == [
        ("tiny", "confirmation", "100", "true"), ("tiny", "confirmation", "101", "true")]
    for row, run_dir in zip(table, run_dirs, strict=True):
        # the value is the final policy's mean return on the 4 evaluation episodes, kept in the run folder
        kept = json.loads(next((run_dir / "evaluations").glob("greedy_gymnasium_4ep_*.json")).read_text())
        assert float(row["value"]) == pytest.approx(kept["measures"]["return"], rel=1e-5)
        assert row["stop_reason"] == "max_epochs"
        # each row carries the commit that trained its run, as the run folder recorded it
        recorded = json.loads((run_dir / "provenance.json").read_text())[0]
        assert row["commit"].startswith(recorded["commit"][:12])
        # every run is an ordinary W&B run of the claim's group, tagged as a claim's
        run_id = json.loads((run_dir / "wandb_run.json").read_text())["id"]
        (wandb_dir,) = (run_dir.parent / "wandb").glob(f"offline-run-*-{run_id}")
        header = next(r["run"] for r in leet_records(wandb_dir) if r["type"] == "run")
        assert header["run_group"] == "tiny" and "claim:tiny" in header["tags"]
    (summary,) = rows(workdir / "docs" / "results" / "claims" / "summary.csv")
    assert summary["claim"] == "tiny" and summary["seeds"] == "100-101" and summary["verdict"] == "PASS"
    assert (summary["passed"], summary["rate"], summary["required_rate"]) == ("2", "1.0000", "1.0")


def test_a_rerun_reuses_the_finished_runs_and_a_failing_claim_exits_1(tiny_claim):
    workdir, _ = tiny_claim
    before = {p: p.stat().st_mtime_ns for p in (workdir / "runs").rglob("checkpoints/*")}
    path = write_claim(workdir, passes='{return: ">= 10000"}', rate=0.5)  # the same config: nothing to train
    proc = run_cli([str(path)], cwd=workdir, module="lander_exp.claim")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "0 of 2 runs pass" in proc.stdout and "FAIL" in proc.stdout and "to run" not in proc.stdout
    assert "seed 100: fails return >= 10000" in proc.stdout
    assert {p: p.stat().st_mtime_ns for p in (workdir / "runs").rglob("checkpoints/*")} == before
    summary = rows(workdir / "docs" / "results" / "claims" / "summary.csv")
    assert [r["verdict"] for r in summary] == ["PASS", "FAIL"]  # appended, not replaced
    assert len(rows(workdir / "docs" / "results" / "claims" / "tiny.csv")) == 2  # the seed set's rows replaced


def test_runs_of_the_same_config_and_seed_elsewhere_are_reused(tiny_claim, tmp_path):
    workdir, _ = tiny_claim
    path = write_claim(tmp_path, name="again")  # another claim, the same configuration and seeds
    dry = run_cli([str(path), "--reuse", str(workdir / "runs"), "--dry-run"], cwd=tmp_path, module="lander_exp.claim")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("reuse") == 2 and "todo" not in dry.stdout
    assert not (tmp_path / "runs").exists() and not (tmp_path / "docs").exists()  # a dry run makes nothing
    proc = run_cli([str(path), "--reuse", str(workdir / "runs")], cwd=tmp_path, module="lander_exp.claim")
    assert proc.returncode == 0 and "2 of 2 runs pass" in proc.stdout, proc.stderr[-2000:]
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_a_part_of_the_confirmation_seeds_is_reported_as_confirmation_with_its_seeds(tiny_claim, tmp_path):
    workdir, _ = tiny_claim
    path = write_claim(tmp_path, name="part")
    proc = run_cli([str(path), "--seeds", "101", "--reuse", str(workdir / "runs")], cwd=tmp_path,
                   module="lander_exp.claim")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "checks 1 of the claim's 2 confirmation seeds" in proc.stderr
    (row,) = rows(tmp_path / "docs" / "results" / "claims" / "part.csv")
    (summary,) = rows(tmp_path / "docs" / "results" / "claims" / "summary.csv")
    assert (row["seed_set"], row["seed"]) == ("confirmation", "101")
    assert (summary["seed_set"], summary["seeds"], summary["passed"]) == ("confirmation", "101", "1")


def test_the_wilson_interval_matches_a_hand_computation():
    z = 1.959963984540054
    for k, n in ((14, 20), (0, 10), (20, 20), (3, 7)):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        low, high = claim.wilson(k, n)
        assert (low, high) == pytest.approx((max(0.0, centre - half), min(1.0, centre + half)), abs=1e-9)


def test_the_median_interval_is_the_order_statistics_a_binomial_gives():
    # 10 runs: P(2 <= B <= 8) for B ~ Bin(10, 1/2) is 0.979 >= 0.95, and 0.891 from the 3rd: [x(2), x(9)]
    values = [7506, 4935, 6766, 5095, 6255, 4950, 6591, 5936, 5072, 6006]
    med, low, high = claim.median_interval(values)
    xs = sorted(values)
    assert (med, low, high) == (5971.0, xs[1], xs[8])
    # a run without a jump counts as never: +inf, above every other
    med, low, high = claim.median_interval([*values[:9], float("inf")])
    assert (med, low, high) == ((5936 + 6255) / 2, 4950, 7506)


def test_a_claim_with_a_median_range_fails_outside_it():
    c = claim_spec.Claim(path=Path("x.yaml"), name="x", statement="", write_up="", sweep=None, point={}, overrides=["a=1"],
                         seeds={}, policy=None, episodes=0, value="jump/episode",
                         passes=[claim_spec.Condition("jump/episode", ">=", 0.0)], required_rate=0.5, median=(6000.0, 7000.0))
    runs = [claim.Row(s, None, {"jump/episode": j}, j is not None) for s, j in enumerate([5000, 5500, 5900, None])]
    v = claim.judge(c, runs)  # 3 of 4 jump: the rate passes; the median (5500+5900)/2 = 5700 is outside
    assert (v.passed, v.runs, v.median, v.ok) == (3, 4, 5700.0, False)
    runs[0].measures["jump/episode"] = 6500  # sorted 5500, 5900, 6500, inf: median 6200
    assert claim.judge(c, runs).ok


@pytest.mark.parametrize("text, says", [
    ("claim: x\nconfig: {overrides: [a=1]}\nseeds: {confirmation: 1-2}\nvalue: return\npasses: {landed: '>= 0.5'}\n"
     "required_rate: 0.9\nevaluate: {policy: sampled}\nrequired_rte: 1",
     "unknown key 'required_rte'; did you mean 'required_rate'"),
    ("claim: x\nconfig: {overrides: [a=1]}\nseeds: {development: 0-9, confirmation: 5-19}\nvalue: epochs\n"
     "passes: {epochs: '<= 40'}\nrequired_rate: 0.9", "the development and confirmation seeds overlap"),
    ("claim: x\nconfig: {overrides: [a=1]}\nseeds: {confirmation: 100-119}\nvalue: epochs\n"
     "passes: {landed: '>= 0.5'}\nrequired_rate: 0.9", "'landed' is measured by evaluating the final policy"),
    ("claim: x\nconfig: {overrides: [a=1]}\nseeds: {confirmation: 100-119}\nvalue: epochs\n"
     "passes: {epochs: 'at most 40'}\nrequired_rate: 0.9", "is not a condition"),
    ("claim: x\nconfig: {overrides: [a=1]}\nseeds: {confirmation: 119-100}\nvalue: epochs\n"
     "passes: {epochs: '<= 4'}\nrequired_rate: 0.9", "runs backwards"),
    ("claim: x\nconfig: {overrides: [a=1, seed=3]}\nseeds: {confirmation: 1-2}\nvalue: epochs\n"
     "passes: {epochs: '<= 4'}\nrequired_rate: 0.9", "the seeds come from `seeds`"),
    ("claim: x\nconfig: {overrides: [a=1]}\nseeds: {confirmation: 1-2}\nvalue: epochs\n"
     "passes: {epochs: '<= 4'}\nrequired_rate: 90", "required_rate must be a share of runs in (0, 1]"),
])
def test_a_bad_claim_file_is_refused_in_one_line(tmp_path, text, says):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ClaimError) as ex:
        claim_spec.load(path)
    assert says in str(ex.value) and "\n" not in str(ex.value)


def test_a_config_the_schema_refuses_exits_2_and_makes_nothing(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("claim: typo\nconfig: {overrides: [network.hiden_dim=32]}\nseeds: {confirmation: 100-101}\n"
                    "value: epochs\npasses: {epochs: '<= 4'}\nrequired_rate: 1\n")
    proc = run_cli([str(path)], cwd=tmp_path, module="lander_exp.claim")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "unknown key 'network.hiden_dim'" in line and "did you mean 'network.hidden_dim'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["typo.yaml"]


@pytest.mark.parametrize("path", CLAIM_FILES, ids=lambda p: p.name)
def test_every_shipped_claim_file_loads_and_composes(path, tmp_path):
    c = claim_spec.load(path)
    assert c.name == path.stem and c.statement and c.write_up in ("How to Land on the Moon", "The laws of the 'land'")
    assert c.seeds["development"] == list(range(10)) and c.seeds["confirmation"][0] == 100
    spec = claim.spec_of(c, c.seeds["confirmation"][:1])
    from lander_exp.tools.sweep_runner import plan, preflight

    preflight(spec, plan(spec, tmp_path, None, 0))


@pytest.mark.parametrize("path", TRIED_FILES, ids=lambda p: p.name)
def test_every_configuration_tried_loads_and_composes(path, tmp_path):
    c = claim_spec.load(path)
    assert c.name == path.stem and list(c.seeds) == ["development"] and c.seeds["development"] == list(range(10))
    spec = claim.spec_of(c, [0])
    from lander_exp.tools.sweep_runner import plan, preflight

    preflight(spec, plan(spec, tmp_path, None, 0))


def test_a_claim_being_trained_elsewhere_is_refused_in_one_line(tmp_path):
    import fcntl

    path = write_claim(tmp_path)
    claim_dir = tmp_path / "runs" / "claims" / "tiny"
    claim_dir.mkdir(parents=True)
    with open(claim_dir / "claim.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process training this claim
        proc = run_cli([str(path), "--seeds", "7"], cwd=tmp_path, module="lander_exp.claim")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "is being trained by another `lander_exp.claim`" in line
    assert [p.name for p in claim_dir.iterdir()] == ["claim.lock"]  # nothing trained, nothing cleared


def test_the_command_a_dry_run_prints_for_a_batch_claim_trains_its_seeds_as_printed(tmp_path):
    path = write_claim(tmp_path, name="batched", extra="batch_seeds: true\n")
    dry = run_cli([str(path), "--dry-run", "--dir", "runs"], cwd=tmp_path, module="lander_exp.claim")
    assert dry.returncode == 0, dry.stderr
    line = next(x for x in dry.stdout.splitlines() if "train in one process:" in x)
    printed = line.split("train in one process: ", 1)[1]
    assert "'seeds=[100,101]'" in printed
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["bash", "-c", printed], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trained = sorted(p.parent.name for p in (tmp_path / "runs" / "batched").glob("*/point/s*/checkpoints"))
    assert trained == ["s100", "s101"]

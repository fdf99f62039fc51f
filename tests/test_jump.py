"""The jump detector of "The laws of the 'land'" (lander_exp/core/jump.py) on synthetic outcome curves, and on curves cut
from real REINFORCE runs (tests/fixtures/jump/, see its README)."""

from pathlib import Path

import numpy as np
import pytest

from lander_exp.core.jump import detect_jump, last_rates
from lander_exp.envs.outcomes import CRASHED, LANDED, TIMEOUT_AIRBORNE, TIMEOUT_GROUNDED

FIXTURES = Path(__file__).parent / "fixtures" / "jump"


def _outcomes(rng, blocks):
    """Per-episode outcomes drawn block by block: [(episodes, landed rate, other outcome), ...]."""
    parts = [np.where(rng.random(n) < p, LANDED, other) for n, p, other in blocks]
    return np.concatenate(parts).astype(np.int64)


def test_a_switch_from_timing_out_to_landing_is_found_where_it_happens():
    rng = np.random.default_rng(0)
    o = _outcomes(rng, [(6400, 0.05, TIMEOUT_GROUNDED), (3600, 0.9, TIMEOUT_GROUNDED)])
    returns = np.where(o == LANDED, 240.0, 140.0)
    jump = detect_jump(o, returns)
    assert abs(jump.episode - 6400) <= 15
    assert jump.landed_before == pytest.approx(0.05, abs=0.03) and jump.landed_after == pytest.approx(0.9, abs=0.03)
    assert jump.timeout_before == pytest.approx(0.95, abs=0.03)
    assert jump.return_before == pytest.approx(145, abs=4) and jump.return_after == pytest.approx(230, abs=4)


def test_the_laws_of_the_land_curve_jumps_at_the_landing_not_at_the_earlier_larger_rise_in_return():
    """Crash, then sit on the pad until the time limit (return up to ~140), then land from 6400 on:
    the return's largest rise is the first; the landed rate rises only at the second."""
    rng = np.random.default_rng(2)
    o = _outcomes(rng, [(2500, 0.0, CRASHED), (3900, 0.03, TIMEOUT_GROUNDED), (3600, 0.85, TIMEOUT_GROUNDED)])
    returns = np.select([o == CRASHED, o == LANDED], [-150.0, 250.0], 140.0) + rng.normal(0, 40, len(o))
    assert abs(detect_jump(o, returns).episode - 6400) <= 20


def test_a_run_that_swings_between_landing_and_timing_out_has_no_jump():
    """The issue's two default runs: landed rate between 0.05 and 0.6 in blocks of 500 for 10,000
    episodes, some blocks above 0.5 and some rises of 0.5 within 1000 episodes."""
    rng = np.random.default_rng(3)
    rates = [0.05, 0.1, 0.6, 0.55, 0.1, 0.05, 0.5, 0.6, 0.2, 0.05, 0.3, 0.6, 0.6, 0.1, 0.05, 0.4, 0.6, 0.55, 0.15, 0.3]
    o = _outcomes(rng, [(500, p, TIMEOUT_GROUNDED) for p in rates])
    assert detect_jump(o) is None


def test_landing_that_does_not_last_is_no_jump():
    rng = np.random.default_rng(4)
    o = _outcomes(rng, [(3000, 0.05, TIMEOUT_AIRBORNE), (3000, 0.9, TIMEOUT_AIRBORNE), (4000, 0.1, TIMEOUT_AIRBORNE)])
    assert detect_jump(o) is None
    # the same switch, kept to the end of the run, is one
    o = _outcomes(rng, [(3000, 0.05, TIMEOUT_AIRBORNE), (7000, 0.9, TIMEOUT_AIRBORNE)])
    assert abs(detect_jump(o).episode - 3000) <= 15


def test_a_lasting_switch_after_an_earlier_false_start_is_found_at_the_lasting_one():
    rng = np.random.default_rng(5)
    o = _outcomes(rng, [(2000, 0.0, TIMEOUT_GROUNDED), (1500, 0.95, TIMEOUT_GROUNDED), (2500, 0.02, TIMEOUT_GROUNDED),
                        (4000, 0.8, TIMEOUT_GROUNDED)])
    assert abs(detect_jump(o).episode - 6000) <= 15


def test_a_ramp_is_found_at_its_middle():
    p = np.concatenate([np.zeros(3000), np.linspace(0, 1, 2001), np.ones(3000)])
    o = np.where(np.random.default_rng(6).random(len(p)) < p, LANDED, TIMEOUT_GROUNDED)
    assert detect_jump(o).episode == pytest.approx(4000, abs=250)  # its top is flat: noise moves it


def test_small_rises_late_switches_and_short_runs_are_no_jump():
    rng = np.random.default_rng(7)
    assert detect_jump(_outcomes(rng, [(10_000, 0.6, TIMEOUT_GROUNDED)])) is None  # lands all along: no switch
    assert detect_jump(_outcomes(rng, [(5000, 0.4, TIMEOUT_GROUNDED), (5000, 0.6, TIMEOUT_GROUNDED)])) is None
    assert detect_jump(_outcomes(rng, [(9500, 0.0, TIMEOUT_GROUNDED), (500, 1.0, TIMEOUT_GROUNDED)])) is None  # too late
    assert detect_jump(_outcomes(rng, [(150, 0.0, CRASHED), (150, 1.0, CRASHED)])) is None  # 300 episodes
    assert detect_jump(_outcomes(rng, [(200, 0.0, CRASHED), (200, 1.0, CRASHED)])).episode == 200  # windows of 100


def test_last_rates_count_the_last_thousand_episodes():
    o = np.array([LANDED] * 2000 + [TIMEOUT_GROUNDED] * 250 + [LANDED] * 500 + [TIMEOUT_AIRBORNE] * 250)
    assert last_rates(o) == {"landed": 0.5, "timeout_grounded": 0.25}


def _fixture(name):
    data = np.load(FIXTURES / f"{name}.npz")
    return data["outcomes"].astype(np.int64), data["returns"].astype(np.float64)


def test_a_real_run_that_switches_to_landing_and_keeps_landing():
    o, r = _fixture("reinforce_sum_seed1")
    jump = detect_jump(o, r)
    assert 1500 <= jump.episode <= 1750  # landed 0.14 in episodes 1500-1749, 0.76 in 1750-1999 (fixtures' README)
    assert jump.landed_before < 0.05 and jump.landed_after > 0.8
    assert jump.timeout_before > 0.5  # from timing out (on the ground) ...
    assert jump.return_after - jump.return_before > 100  # ... to landing


def test_a_real_run_that_lands_half_the_time_then_falls_back_has_no_jump():
    o, r = _fixture("reinforce_sum_seed0")
    assert detect_jump(o, r) is None
    # its return rises all the same: higher in the last 500 episodes, on the ground, than while landing
    landing, last = slice(1000, 1750), slice(-500, None)
    assert (o[landing] == LANDED).mean() > 0.4 and (o[last] == LANDED).mean() < 0.2
    assert (o[last] == TIMEOUT_GROUNDED).mean() > 0.5 and r[last].mean() > r[landing].mean() + 30

"""The comparison statistics against cases with known answers (lander_exp/tools/stats.py)."""

import math

import numpy as np
import pytest

from lander_exp.run.records import RunRecord
from lander_exp.tools import stats


def test_identical_groups_give_a_probability_of_improvement_of_one_half_and_overlapping_intervals():
    a = [-120.0, 35.0, 180.0, 210.0, 90.0, 240.0]
    p = stats.probability_of_improvement(a, list(reversed(a)))  # the same runs, listed in another order
    assert p.value == 0.5 and p.low < 0.5 < p.high
    agg = stats.aggregates({"a": a, "b": list(a), "b reordered": list(reversed(a))})
    for name in stats.AGGREGATES:
        assert agg["a"][name] == agg["b"][name]  # each group resampled from the same seed: the same numbers
        assert agg["a"][name].overlaps(agg["b reordered"][name])


@pytest.mark.parametrize("x, y", [([1.0, 2.0, 3.0], [2.0, 2.0, 0.5, 4.0]), ([5.0, 5.0], [5.0, 5.0, 5.0]),
                                  ([0.0, 1.0], [1.0, 0.0]), ([-3.0, 7.5, 2.0, 2.0, 9.0], [2.0, 1.0, 8.0])])
def test_improvement_is_rliables_probability_of_improvement(x, y):
    from rliable import metrics

    a, b = np.array(x).reshape(-1, 1), np.array(y).reshape(-1, 1)
    assert stats.improvement(a, b) == pytest.approx(metrics.probability_of_improvement(a, b), abs=1e-12)


def test_a_clearly_better_group_beats_the_other_with_probability_one():
    worse = [-150.0, -90.0, -40.0, 10.0, 60.0]
    better = [w + 400 for w in worse]
    p = stats.probability_of_improvement(better, worse)
    assert (p.value, p.low, p.high) == (1.0, 1.0, 1.0)  # every resampled pair still has better > worse
    assert stats.probability_of_improvement(worse, better).value == 0.0
    agg = stats.aggregates({"better": better, "worse": worse})
    assert agg["better"]["iqm"].low > agg["worse"]["iqm"].high  # intervals that do not overlap


def test_aggregates_are_the_iqm_mean_and_median_over_runs_with_intervals_around_them():
    scores = [*range(19), 1000.0]  # 0..18 and one outlier
    agg = stats.aggregates({"g": scores}, reps=1000)["g"]
    assert agg["iqm"].value == pytest.approx(9.5)  # the middle half, 5..14
    assert agg["mean"].value == pytest.approx((171 + 1000) / 20)
    assert agg["median"].value == pytest.approx(9.5)
    for iv in agg.values():
        assert iv.low <= iv.value <= iv.high
    # the outlier widens the mean's interval, not the IQM's: why the IQM is the headline number
    assert agg["iqm"].high - agg["iqm"].low < (agg["mean"].high - agg["mean"].low) / 3
    one = stats.aggregates({"solo": [42.0]})["solo"]["iqm"]
    assert (one.value, one.low, one.high) == (42.0, 42.0, 42.0)


def test_bootstraps_are_seeded_and_leave_numpys_global_generator_as_it_was():
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    first = stats.aggregates({"g": [1.0, 5.0, 2.0, 8.0, 3.0]}, seed=3)
    assert np.random.rand() == expected
    assert stats.aggregates({"g": [1.0, 5.0, 2.0, 8.0, 3.0]}, seed=3) == first
    assert stats.aggregates({"g": [1.0, 5.0, 2.0, 8.0, 3.0]}, seed=4) != first


def test_performance_profiles_are_the_fraction_of_runs_above_each_score():
    taus = np.array([-100.0, 0.0, 150.0, 300.0])
    prof = stats.performance_profiles({"g": [-50.0, 100.0, 200.0, 250.0]}, taus, reps=500)
    fraction, low, high = prof["g"]
    assert fraction.tolist() == [1.0, 0.75, 0.5, 0.0]
    assert np.all(low <= fraction) and np.all(fraction <= high)
    assert low[0] == high[0] == 1.0 and low[-1] == high[-1] == 0.0  # every resample agrees at the ends


def test_curve_band_averages_runs_point_by_point_with_a_bootstrap_interval_where_runs_overlap():
    rng = np.random.default_rng(0)
    rows = rng.normal(0.0, 1.0, size=(40, 6))
    rows[0, 4:] = np.nan  # run 0 stopped early
    rows[:, 5] = np.nan
    rows[2, 5] = 3.0  # column 5: one run went that far
    mean, low, high, counted = stats.curve_band(rows, reps=2000)
    assert counted.tolist() == [40, 40, 40, 40, 39, 1]
    np.testing.assert_allclose(mean[:4], rows[:, :4].mean(axis=0))
    # a mean of 40 standard normals: its 95% interval is about +-1.96/sqrt(40) = +-0.31 wide each side
    np.testing.assert_allclose(high[:4] - low[:4], 2 * 1.96 / math.sqrt(40), rtol=0.2)
    assert np.all(low <= mean) and np.all(mean <= high)
    assert (low[5], mean[5], high[5]) == (3.0, 3.0, 3.0)
    same = np.tile([1.0, 2.0], (3, 1))
    assert stats.curve_band(same)[1].tolist() == [1.0, 2.0]  # identical runs: no width


def test_time_to_a_score_counts_runs_that_never_reach_it_as_censored_not_missing():
    # Kaplan-Meier by hand: reached at 10 and 50, one run ended at 20 without reaching it.
    # S(10) = 2/3; the run censored at 20 leaves one at risk; S(50) = 0. Half are there by 50, not 20
    # (censored treated as reached) and not 30 (censored dropped: the median of 10 and 50).
    t = stats.time_to_score([10.0, 20.0, 50.0], [True, False, True])
    assert (t.reached, t.runs, t.median.value) == (2, 3, 50.0)
    # three of four reached at 10, 20, 30; one ran to 40 without: median 20, interval from 10 to unbounded
    t = stats.time_to_score([10.0, 20.0, 30.0, 40.0], [True, True, True, False])
    assert (t.median.value, t.median.low, t.median.high) == (20.0, 10.0, math.inf)
    # fewer than half reached: the median is "later than the runs went", with where they ended
    t = stats.time_to_score([10.0, 40.0, 40.0, 40.0], [True, False, False, False])
    assert t.median.value == math.inf and t.censored_at == 40.0 and t.reached == 1
    none = stats.time_to_score([40.0, 40.0], [False, False])
    assert none.median.value == math.inf and none.reached == 0


def test_first_reach_is_the_first_evaluation_at_or_above_the_threshold_in_steps_seconds_and_episodes():
    def row(step, wall, episode, ret=None):
        r = {"global_step": step, "perf/wall_s": wall, "episode": episode}
        if ret is not None:
            r["eval/return_mean"] = ret
        return r

    history = [row(100, 1.0, 3, -50.0), row(200, 2.5, 7), row(300, 4.0, 9, 201.0), row(400, 5.0, 12, 250.0)]
    run = RunRecord("a", "a", "g", {}, "global_step", history)
    assert stats.first_reach(run, 200.0) == stats.Reach(True, 300.0, 4.0, 9.0)
    # never reached: censored at the run's last row, past its last evaluation
    late = RunRecord("b", "b", "g", {}, "global_step", [*history[:2], row(300, 4.0, 9, 150.0), row(350, 4.4, 10)])
    assert stats.first_reach(late, 200.0) == stats.Reach(False, 350.0, 4.4, 10.0)
    assert stats.first_reach(RunRecord("c", "c", "g", {}, "global_step", [row(1, 0.1, 0)]), 200.0) is None

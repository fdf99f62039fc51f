"""Comparisons that hold up with a handful of seeds, after Agarwal et al., "Deep RL at the Edge of the
Statistical Precipice" (NeurIPS 2021), through their library `rliable`: the interquartile mean (IQM),
mean and median of a score over runs with stratified-bootstrap confidence intervals, the probability
that one group's run beats another's, performance profiles, learning curves with bootstrap bands,
and the time (env steps, seconds) a run takes to reach a score, with runs that never reach it counted
as censored (Kaplan-Meier), not dropped.

Usable from scripts: every function takes plain arrays or `RunRecord`s, e.g.

    from lander_exp.run.records import find_run_dirs, load_local
    from lander_exp.tools import stats
    runs = load_local(find_run_dirs([Path("runs/compare_update_epochs")]))
    stats.aggregates({"all": stats.final_scores(runs)})["all"]["iqm"]   # Interval(value, low, high)

rliable's bootstrap (arch's, looping in Python once per resample) resamples every interval here but
the curves'; where its pieces do not fit one task (its median is a median over tasks) or are too slow
(1,500-point curves; SciPy's Mann-Whitney call inside its probability of improvement), the same method
runs in NumPy/SciPy and the docstring says so. Bootstraps are seeded (`seed`), so a page is reproducible."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from lander_exp.run.records import RunRecord

REPS = 2000  # bootstrap resamples (rliable's default for profiles; its 50,000 for intervals takes seconds per group)
CONFIDENCE = 0.95
FEW_SEEDS = 5  # below this many runs a group's intervals are rough, and the report says so
SCORE_KEY = "eval/return_mean"  # the deterministic evaluation's mean return, as training logs it
AGGREGATES = ("iqm", "mean", "median")


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval (low == high == value when there is nothing to resample)."""
    value: float
    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """rliable resamples with NumPy's global generator: seed it for the call, then put it back."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _column(scores: Sequence[float]) -> np.ndarray:
    """Scores of one group as rliable wants them: (runs, tasks) with our one task."""
    return np.asarray(scores, dtype=float).reshape(-1, 1)


# ---- one number per run ------------------------------------------------------------------------

def final_score(run: RunRecord, key: str = SCORE_KEY) -> float | None:
    """The run's last logged value of `key` (its final evaluation), None if it logged none."""
    _, ys = run.series(key)
    return ys[-1] if ys else None


def final_scores(runs: Sequence[RunRecord], key: str = SCORE_KEY) -> np.ndarray:
    """Final scores of the runs that logged `key` (runs without an evaluation are left out)."""
    return np.array([s for r in runs if (s := final_score(r, key)) is not None], dtype=float)


def aggregates(scores: Mapping[str, Sequence[float]], reps: int = REPS, seed: int = 0,
               confidence: float = CONFIDENCE) -> dict[str, dict[str, Interval]]:
    """Per group: IQM, mean and median of its runs' scores, each with a stratified-bootstrap
    percentile interval (rliable.library.get_interval_estimates). The IQM and mean are rliable's;
    the median is over runs (rliable's is a median over tasks of per-task means: with one task, the mean)."""
    from rliable import library, metrics

    def func(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), np.median(x)])

    out: dict[str, dict[str, Interval]] = {}
    for k, v in scores.items():
        if len(v) == 1:  # one run: the estimate is its score, with nothing to resample
            out[k] = {name: Interval(float(v[0]), float(v[0]), float(v[0])) for name in AGGREGATES}
        elif len(v) > 1:  # each group from the same seed: its interval does not depend on the other groups
            with _seeded(seed):
                points, cis = library.get_interval_estimates({k: _column(v)}, func, reps=reps,
                                                             confidence_interval_size=confidence)
            out[k] = {name: Interval(float(points[k][i]), float(cis[k][0, i]), float(cis[k][1, i]))
                      for i, name in enumerate(AGGREGATES)}
    return out


def improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) of two score columns (runs, 1), ties counting half: the Mann-Whitney U statistic over
    n_x * n_y, which rliable.metrics.probability_of_improvement takes from scipy.stats.mannwhitneyu.
    Computed directly here: SciPy's call (its p-value, unused) costs ~1.5 ms, 3 s per 2,000 resamples."""
    a, b = x[:, 0][:, None], y[:, 0][None, :]
    return float(np.mean(a > b) + 0.5 * np.mean(a == b))


def probability_of_improvement(x: Sequence[float], y: Sequence[float], reps: int = REPS, seed: int = 0,
                               confidence: float = CONFIDENCE) -> Interval:
    """P(X > Y): the chance that a run of group X scores above a run of group Y, with an interval from
    resampling each group's runs independently (rliable's StratifiedIndependentBootstrap)."""
    from rliable import library

    with _seeded(seed):
        points, cis = library.get_interval_estimates({"p": [_column(x), _column(y)]}, improvement,
                                                     reps=reps, confidence_interval_size=confidence)
    return Interval(float(points["p"]), float(np.ravel(cis["p"])[0]), float(np.ravel(cis["p"])[1]))


def performance_profiles(scores: Mapping[str, Sequence[float]], taus: np.ndarray, reps: int = REPS, seed: int = 0,
                         confidence: float = CONFIDENCE) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per group: (fraction of runs scoring above each tau, low, high), rliable's score distribution
    (library.create_performance_profile) with a vectorised profile function (its default loops over taus)."""
    from rliable import library

    taus = np.asarray(taus, dtype=float)

    def fraction_above(x: np.ndarray, tau: np.ndarray) -> np.ndarray:
        return np.mean(x.reshape(-1, 1) > tau.reshape(1, -1), axis=0)

    out = {}
    for k, v in scores.items():
        if len(v):
            with _seeded(seed):
                profiles, cis = library.create_performance_profile({k: _column(v)}, taus, reps=reps,
                                                                   custom_profile_func=fraction_above,
                                                                   confidence_interval_size=confidence)
            out[k] = (profiles[k], cis[k][0], cis[k][1])
    return out


def curve_band(rows: np.ndarray, reps: int = REPS, seed: int = 0,
               confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high, runs counted) per column of `rows` [runs, points] (NaN: that run did not
    reach that point): the mean over runs with a percentile-bootstrap interval over runs at each point,
    rliable's method for sample-efficiency curves, vectorised with scipy.stats.bootstrap (rliable's
    loop would take seconds per curve). Points held by one run get low == high == its value."""
    from scipy.stats import bootstrap

    rows = np.asarray(rows, dtype=float)
    present = ~np.isnan(rows)
    counted = present.sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(present, rows, np.nan), axis=0) if rows.size else np.zeros(0)
    low, high = mean.copy(), mean.copy()
    # columns held by the same runs are resampled together; runs cover contiguous ranges, so there are few such sets
    patterns: dict[bytes, list[int]] = {}
    for j in np.flatnonzero(counted > 1):
        patterns.setdefault(present[:, j].tobytes(), []).append(j)
    rng = np.random.default_rng(seed)
    for cols in patterns.values():
        sub = rows[present[:, cols[0]]][:, cols]
        if np.all(sub == sub[0]):
            continue  # every run holds the same values: nothing to resample
        res = bootstrap((sub,), np.mean, axis=0, vectorized=True, method="percentile", n_resamples=reps,
                        confidence_level=confidence, rng=rng, batch=max(1, 2_000_000 // sub.size))
        low[cols], high[cols] = res.confidence_interval.low, res.confidence_interval.high
    return mean, low, high, counted


# ---- time to a score ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Reach:
    """When a run's evaluation first reached a score; when it never did, the run's last logged
    step and wall time, as a lower bound (censored)."""
    reached: bool
    steps: float  # env steps (global_step)
    wall_s: float  # seconds since the run started (perf/wall_s)
    episodes: float  # training episodes


def first_reach(run: RunRecord, threshold: float, key: str = SCORE_KEY) -> Reach | None:
    """The first history row whose `key` is >= threshold; None for a run that logged no `key` at all."""
    rows = [row for row in run.history if isinstance(row.get(key), int | float)]
    if not rows:
        return None
    hit = next((row for row in rows if row[key] >= threshold), None)
    last = hit if hit is not None else run.history[-1]

    def at(name: str) -> float:
        if isinstance(last.get(name), int | float):
            return float(last[name])
        seen = [row[name] for row in run.history if isinstance(row.get(name), int | float)]  # a row without it
        return float(max(seen)) if seen else math.nan

    return Reach(hit is not None, at("global_step"), at("perf/wall_s"), at("episode"))


@dataclass(frozen=True)
class TimeToScore:
    """Kaplan-Meier estimate over a group's runs: `median` is the smallest time by which at least half
    the runs are estimated to have reached the score (inf: fewer than half did by the end of their runs),
    with the interval where the survival curve's 95% log-log band crosses one half (high inf: unbounded)."""
    reached: int
    runs: int
    median: Interval
    censored_at: float  # the longest run's end: a median of inf means "later than this, if ever"


def time_to_score(times: Sequence[float], reached: Sequence[bool], confidence: float = CONFIDENCE) -> TimeToScore:
    """Kaplan-Meier (scipy.stats.ecdf with CensoredData) of times to a score, runs that never reached it
    entering as right-censored at their end; the median's interval inverts the pointwise log-log band."""
    from scipy.stats import CensoredData, ecdf

    times = np.asarray(times, dtype=float)
    reached = np.asarray(reached, dtype=bool)
    keep = ~np.isnan(times)
    times, reached = times[keep], reached[keep]
    n_reached = int(reached.sum())
    end = float(times.max()) if len(times) else math.nan
    if n_reached == 0:
        return TimeToScore(0, len(times), Interval(math.inf, math.inf, math.inf), end)
    sf = ecdf(CensoredData(uncensored=times[reached], right=times[~reached])).sf
    with np.errstate(all="ignore"), _quiet():
        band = sf.confidence_interval(confidence, method="log-log")
    t, p = sf.quantiles, sf.probabilities
    low_p = np.where(np.isnan(band.low.probabilities), p, band.low.probabilities)  # undefined where S is 0 or 1
    high_p = np.where(np.isnan(band.high.probabilities), p, band.high.probabilities)

    def crossing(probs: np.ndarray) -> float:
        below = np.flatnonzero(probs <= 0.5)
        return float(t[below[0]]) if len(below) else math.inf

    return TimeToScore(n_reached, len(times), Interval(crossing(p), crossing(low_p), crossing(high_p)), end)


@contextmanager
def _quiet() -> Iterator[None]:
    """SciPy warns that the log-log band is undefined where the curve is 0 or 1; we fill those points."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield

"""Statistics of repeated measurements: median, p95, extremes, a confidence interval of the median, a rank test."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

DEFAULT_CONFIDENCE = 0.95
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class Summary:
    """Summary of one sample. Every field is NaN when the sample is empty."""

    count: int
    median: float
    p95: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    ci_level: float  # confidence that [ci_low, ci_high] contains the true median


@dataclass(frozen=True)
class Difference:
    """Difference between a candidate sample and a baseline sample."""

    ratio: float  # candidate median / baseline median
    p_value: float  # two-sided Mann-Whitney U test
    significant: bool  # p_value < alpha


def clean(values: Sequence[float]) -> np.ndarray:
    """Return the values as a sorted float array without NaN."""
    array = np.asarray(values, dtype=float)
    return np.sort(array[~np.isnan(array)])


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) with linear interpolation between order statistics.

    This is numpy's default method (Hyndman and Fan type 7), so the p95 of
    1..20 is 19.05.
    """
    sample = clean(values)
    return float(np.percentile(sample, q)) if sample.size else math.nan


def median_ci_ranks(count: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[int, int, float]:
    """Return 1-based ranks (low, high) of the exact order-statistic interval of the median.

    The number of observations below the true median follows Binomial(n, 1/2),
    so [x(r), x(n-r+1)] covers the median with probability 1 - 2 P(B <= r-1).
    The largest r reaching `confidence` is chosen. Below 6 observations no r
    reaches 95 %, and the interval is [min, max] with its lower level, which
    is returned as the third value.
    """
    if count < 1:
        raise ValueError(f"a confidence interval needs at least one value, got {count}")

    # Exact integer arithmetic: cumulative is 2^n P(B <= rank - 1), so n in the
    # thousands neither overflows nor loses precision.
    tail = (1 - Fraction(confidence)) / 2
    scale = 2**count
    max_rank = (count + 1) // 2
    rank, term, cumulative = 1, 1, 1
    while rank < max_rank:
        next_term = term * (count - rank + 1) // rank
        if (cumulative + next_term) * tail.denominator > tail.numerator * scale:
            break
        rank, term, cumulative = rank + 1, next_term, cumulative + next_term
    return rank, count - rank + 1, float(1 - 2 * Fraction(cumulative, scale))


def median_ci(values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float, float]:
    """Return (low, high, level): the exact order-statistic confidence interval of the median."""
    sample = clean(values)
    if not sample.size:
        return math.nan, math.nan, math.nan
    low_rank, high_rank, level = median_ci_ranks(sample.size, confidence)
    return float(sample[low_rank - 1]), float(sample[high_rank - 1]), level


def summarize(values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> Summary:
    """Return the median, p95, min, max and median confidence interval of `values`, ignoring NaN."""
    sample = clean(values)
    if not sample.size:
        return Summary(0, *(math.nan,) * 7)

    low, high, level = median_ci(sample, confidence)
    return Summary(
        count=int(sample.size),
        median=float(np.median(sample)),
        p95=percentile(sample, 95),
        min=float(sample[0]),
        max=float(sample[-1]),
        ci_low=low,
        ci_high=high,
        ci_level=level,
    )


def compare_samples(baseline: Sequence[float], candidate: Sequence[float], alpha: float = DEFAULT_ALPHA) -> Difference:
    """Return the candidate's median ratio to the baseline and whether the difference is significant.

    Significance uses the two-sided Mann-Whitney U test (scipy's exact
    distribution for small samples without ties, the normal approximation with
    tie correction otherwise). Two identical constant samples give p = 1.
    """
    base = clean(baseline)
    other = clean(candidate)
    if not base.size or not other.size:
        return Difference(math.nan, math.nan, False)

    # scipy.stats takes about half a second to import, so only the rank test pays for it.
    from scipy.stats import mannwhitneyu

    base_median = float(np.median(base))
    ratio = float(np.median(other)) / base_median if base_median else math.nan
    p_value = float(mannwhitneyu(other, base, alternative="two-sided").pvalue)
    return Difference(ratio=ratio, p_value=p_value, significant=p_value < alpha)


def smallest_p_value(baseline_count: int, candidate_count: int) -> float:
    """Return the smallest two-sided Mann-Whitney p-value that samples of these sizes can reach.

    With complete separation and no ties the exact p-value is 2 / C(n1 + n2, n1),
    so 1 against 1 repetition can never be significant and 3 against 3 reach 0.1.
    """
    if baseline_count < 1 or candidate_count < 1:
        return 1.0
    return min(1.0, 2 / math.comb(baseline_count + candidate_count, baseline_count))

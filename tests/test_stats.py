"""Statistics on small hand-made samples with exact expected values."""

import math

import pytest

from bench.stats import compare_samples, median_ci, median_ci_ranks, percentile, smallest_p_value, summarize


def test_summary_of_one_to_twenty() -> None:
    summary = summarize(list(range(1, 21)))

    assert summary.count == 20
    assert summary.median == 10.5
    assert summary.p95 == pytest.approx(19.05, abs=1e-12)
    assert summary.min == 1.0
    assert summary.max == 20.0
    # Binomial(20, 1/2): P(B <= 5) = 0.0207 <= 0.025 < P(B <= 6), so ranks 6 and 15.
    assert summary.ci_low == 6.0
    assert summary.ci_high == 15.0
    assert summary.ci_level == pytest.approx(1 - 2 * 21700 / 2**20, abs=1e-12)


def test_summary_ignores_nan_and_order() -> None:
    summary = summarize([5.0, float("nan"), 1.0, 3.0])

    assert summary.count == 3
    assert summary.median == 3.0
    assert summary.min == 1.0
    assert summary.max == 5.0


def test_summary_of_empty_sample() -> None:
    summary = summarize([])

    assert summary.count == 0
    assert math.isnan(summary.median)
    assert math.isnan(summary.ci_low)


def test_p95_of_five_values() -> None:
    # Linear interpolation: position 0.95 x 4 = 3.8 between 40 and 100.
    assert percentile([10, 20, 30, 40, 100], 95) == pytest.approx(88.0, abs=1e-12)


@pytest.mark.parametrize(
    ("count", "low_rank", "high_rank", "level"),
    [
        (1, 1, 1, 0.0),
        (2, 1, 2, 0.5),
        (5, 1, 5, 1 - 2 / 32),
        (6, 1, 6, 1 - 2 / 64),
        (10, 2, 9, 1 - 2 * 11 / 1024),
        (20, 6, 15, 1 - 2 * 21700 / 2**20),
    ],
)
def test_median_ci_ranks(count: int, low_rank: int, high_rank: int, level: float) -> None:
    ranks = median_ci_ranks(count)

    assert ranks[0] == low_rank
    assert ranks[1] == high_rank
    assert ranks[2] == pytest.approx(level, abs=1e-12)


def test_median_ci_of_ten_values() -> None:
    low, high, level = median_ci([9.0, 2.0, 7.0, 4.0, 5.0, 6.0, 3.0, 8.0, 1.0, 10.0])

    assert low == 2.0
    assert high == 9.0
    assert level == pytest.approx(0.978515625, abs=1e-12)


def test_clearly_significant_pair() -> None:
    difference = compare_samples([10.0, 10.1, 10.2, 10.3, 10.4], [13.0, 13.1, 13.2, 13.3, 13.4])

    # Complete separation of 5 and 5 values: exact two-sided p = 2 / C(10, 5) = 2 / 252.
    assert difference.p_value == pytest.approx(2 / 252, abs=1e-12)
    assert difference.significant is True
    assert difference.ratio == pytest.approx(13.2 / 10.2, abs=1e-12)


def test_clearly_not_significant_pair() -> None:
    difference = compare_samples([1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.5, 3.5, 4.5, 5.5])

    # U = 10 of 25: the exact two-sided p-value is 0.6905.
    assert difference.p_value == pytest.approx(0.6904761904761905, abs=1e-12)
    assert difference.significant is False


def test_identical_constant_samples() -> None:
    difference = compare_samples([10.0] * 5, [10.0] * 5)

    assert difference.p_value == 1.0
    assert difference.significant is False
    assert difference.ratio == 1.0


def test_constant_samples_that_differ() -> None:
    difference = compare_samples([3.0] * 5, [4.0] * 5)

    # All ties within groups: the tie-corrected normal approximation gives p = 0.0040.
    assert difference.p_value == pytest.approx(0.003976751709788651, rel=1e-9)
    assert difference.significant is True


def test_empty_sample_difference() -> None:
    difference = compare_samples([], [1.0])

    assert math.isnan(difference.p_value)
    assert difference.significant is False


@pytest.mark.parametrize(("count", "expected"), [(1, 1.0), (3, 0.1), (4, 2 / 70), (5, 2 / 252)])
def test_smallest_p_value(count: int, expected: float) -> None:
    assert smallest_p_value(count, count) == pytest.approx(expected, abs=1e-12)

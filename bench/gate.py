"""Regression gate: fail when a new run's median total is significantly slower than an old run's beyond a threshold."""

import math
from dataclasses import dataclass, field

import pandas as pd

from bench.compare import (
    describe_differences,
    group_order,
    group_rows,
    median_of,
    pooled_settings_note,
    settings_groups,
    succeeded,
)
from bench.errors import InputError
from bench.stats import DEFAULT_ALPHA, compare_samples, smallest_p_value


@dataclass(frozen=True)
class GateRow:
    """One variant's verdict in the regression gate."""

    variant: str
    backend: str
    old_runs: int
    new_runs: int
    old_total_s: float
    new_total_s: float
    change: float  # new median / old median - 1
    p_value: float
    regression: bool
    verdict: str


@dataclass(frozen=True)
class GateResult:
    """The regression gate's rows and the notes about what it could not compare."""

    rows: list[GateRow]
    max_slowdown: float
    alpha: float
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[GateRow]:
        """Return the rows that fail the gate: significantly slower beyond the threshold, or failing in full."""
        return [row for row in self.rows if row.regression]


def parse_slowdown(text: str) -> float:
    """Return a slowdown threshold such as "10%" or "10" (percent) as a fraction (0.1)."""
    number = text.strip().removesuffix("%").strip()
    try:
        value = float(number)
    except ValueError:
        raise InputError(f"--max-slowdown {text!r} is not a percentage; write it as 10% or 10") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"--max-slowdown {text!r} must be a percentage of 0 or more, such as 10%")
    return value / 100


def regression_gate(
    new: pd.DataFrame, old: pd.DataFrame, max_slowdown: float, alpha: float = DEFAULT_ALPHA
) -> GateResult:
    """Compare the new run's median totals with the old run's, per (variant, backend) present in both.

    A row is a regression when the new median is slower than the old by more
    than `max_slowdown` (a fraction) and the two-sided Mann-Whitney U test
    finds the difference significant at `alpha`. A variant that succeeded in
    the old results but has only failed repetitions in the new ones is a
    regression too. The notes name the rows that cannot be compared, that need
    more repetitions, or that compare runs of different settings. Raises
    InputError when no (variant, backend) appears in both.
    """
    new_ok, old_ok = succeeded(new), succeeded(old)
    old_pairs = group_order(old_ok)
    compared = [pair for pair in group_order(new_ok) if pair in old_pairs]
    failing = [pair for pair in group_order(new) if pair in old_pairs and pair not in compared]
    if not compared and not failing:
        raise InputError(
            "no variant has succeeded repetitions on the same backend in both the new results and --against; "
            "compare runs of the same variants"
        )

    rows = [
        _gate_row(group_rows(new_ok, *pair), group_rows(old_ok, *pair), pair, max_slowdown, alpha) for pair in compared
    ]
    rows += [_failed_row(group_rows(new, *pair), group_rows(old_ok, *pair), pair) for pair in failing]
    only_new = [pair for pair in group_order(new) if pair not in old_pairs]
    only_old = [pair for pair in old_pairs if pair not in compared and pair not in failing]
    notes = [f"{variant} ({backend}): only in the new results" for variant, backend in only_new]
    notes += [f"{variant} ({backend}): only in --against" for variant, backend in only_old]
    notes += [_too_few_note(row, alpha) for row in rows if _needs_more_runs(row, max_slowdown, alpha)]
    notes += settings_notes(new, old, compared + failing)
    return GateResult(rows=rows, max_slowdown=max_slowdown, alpha=alpha, notes=notes)


def settings_notes(new: pd.DataFrame, old: pd.DataFrame, pairs: list[tuple[str, str]]) -> list[str]:
    """Return notes on the `pairs` whose old runs pool several settings or whose new and old settings differ.

    The seed and the repetition count are not settings (see
    bench.compare.run_settings), so runs that differ only in them pass silently.
    """
    notes = []
    for variant, backend in pairs:
        label = f"{variant} ({backend})"
        old_group, new_group = group_rows(old, variant, backend), group_rows(new, variant, backend)
        if (pooled := pooled_settings_note(old_group, label)) is not None:
            notes.append(f"--against: {pooled}")
        if "settings_sha256" not in old_group or "settings_sha256" not in new_group:
            continue
        if set(old_group["settings_sha256"]) == set(new_group["settings_sha256"]):
            continue
        sides = [[settings for settings, _ in settings_groups(group)] for group in (old_group, new_group)]
        differences = describe_differences(sides, labels=["old", "new"])
        notes.append(
            f"{label}: the new results and --against differ in settings other than the seed: {differences}; "
            "a change of time may come from the settings rather than the code"
        )
    return notes


def _failed_row(new: pd.DataFrame, old: pd.DataFrame, pair: tuple[str, str]) -> GateRow:
    return GateRow(
        variant=pair[0],
        backend=pair[1],
        old_runs=len(old),
        new_runs=0,
        old_total_s=median_of(old["total_s"]),
        new_total_s=math.nan,
        change=math.nan,
        p_value=math.nan,
        regression=True,
        verdict=f"all {len(new)} new repetitions failed",
    )


def _gate_row(
    new: pd.DataFrame, old: pd.DataFrame, pair: tuple[str, str], max_slowdown: float, alpha: float
) -> GateRow:
    difference = compare_samples(old["total_s"].tolist(), new["total_s"].tolist(), alpha)
    change = difference.ratio - 1
    regression = difference.significant and change > max_slowdown
    if regression:
        verdict = "regression"
    elif difference.significant and change > 0:
        verdict = "slower, within limit"
    elif difference.significant and change < 0:
        verdict = "faster"
    else:
        verdict = "no significant change"

    return GateRow(
        variant=pair[0],
        backend=pair[1],
        old_runs=len(old),
        new_runs=len(new),
        old_total_s=median_of(old["total_s"]),
        new_total_s=median_of(new["total_s"]),
        change=change,
        p_value=difference.p_value,
        regression=regression,
        verdict=verdict,
    )


def _needs_more_runs(row: GateRow, max_slowdown: float, alpha: float) -> bool:
    return row.new_runs > 0 and not row.regression and row.change > max_slowdown and smallest_p_value(row.old_runs, row.new_runs) >= alpha


def _too_few_note(row: GateRow, alpha: float) -> str:
    return (
        f"{row.variant} ({row.backend}): {row.change:+.1%} but {row.old_runs} old and {row.new_runs} new repetitions "
        f"cannot reach p < {alpha:g} without ties; run {repetitions_needed(alpha)} or more repetitions on each side"
    )


def repetitions_needed(alpha: float) -> int:
    """Return the fewest repetitions per side with which the rank test can reach p < alpha."""
    count = 1
    while smallest_p_value(count, count) >= alpha:
        count += 1
    return count

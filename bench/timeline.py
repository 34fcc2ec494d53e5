"""Timelines of one repetition: worker concurrency over time, waves, cold starts and the representative run.

Functions here read a repetition as stored in a result file, with its
invocation records column-wise (see bench.results.Repetition.to_dict).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_RESOLUTION_S = 0.1


@dataclass(frozen=True)
class ConcurrencySeries:
    """Running invocations sampled at a fixed resolution.

    `counts[i]` is the number of invocations running at the midpoint of the
    interval [times[i], times[i] + resolution), so an invocation that ends at
    the instant another starts is never counted twice.
    """

    times: np.ndarray
    counts: np.ndarray
    resolution: float

    @property
    def peak(self) -> int:
        """Return the highest sampled concurrency (0 for an empty series)."""
        return int(self.counts.max()) if self.counts.size else 0


def function_intervals(repetition: dict[str, Any], function: str = "worker") -> tuple[list[float], list[float]]:
    """Return the (starts, ends) of the repetition's invocations of `function`."""
    columns = repetition["invocations"]
    selected = [index for index, name in enumerate(columns["function"]) if name == function]
    return [columns["start"][i] for i in selected], [columns["end"][i] for i in selected]


def concurrency_series(
    starts: Sequence[float],
    ends: Sequence[float],
    resolution: float = DEFAULT_RESOLUTION_S,
    until: float | None = None,
) -> ConcurrencySeries:
    """Return the number of running intervals [start, end) sampled every `resolution` seconds from 0.

    The series covers 0 to `until`, or to the last end when `until` is None.
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be a positive number of seconds, got {resolution}")

    sorted_starts = np.sort(np.asarray(starts, dtype=float))
    sorted_ends = np.sort(np.asarray(ends, dtype=float))
    horizon = until
    if horizon is None:
        horizon = float(sorted_ends[-1]) if sorted_ends.size else 0.0
    bins = max(1, math.ceil(horizon / resolution - 1e-9))

    times = np.arange(bins) * resolution
    midpoints = times + resolution / 2
    started = np.searchsorted(sorted_starts, midpoints, side="right")
    ended = np.searchsorted(sorted_ends, midpoints, side="right")
    return ConcurrencySeries(times=times, counts=(started - ended).astype(int), resolution=resolution)


def count_waves(
    starts: Sequence[float],
    ends: Sequence[float],
    environments: Sequence[Any] | None = None,
) -> int:
    """Return the number of waves: the rounds of invocations the fan-out needed.

    An execution environment runs one invocation at a time, so the busiest
    environment's invocation count is the number of rounds. For example, 565
    one-book invocations on 40 reused environments take 15 waves. A fan-out
    that gives every item its own environment takes 1. Without environment ids, a wave is
    a burst of starts, and a new one begins after a gap of more than half the
    median invocation duration with no start.
    """
    if not len(starts):
        return 0
    if environments is not None and all(environment is not None for environment in environments):
        _, counts = np.unique(np.asarray([str(environment) for environment in environments]), return_counts=True)
        return int(counts.max())

    ordered = np.sort(np.asarray(starts, dtype=float))
    gap_s = float(np.median(np.asarray(ends, dtype=float) - np.asarray(starts, dtype=float))) / 2
    return 1 + int(np.count_nonzero(np.diff(ordered) > gap_s))


def function_environments(repetition: dict[str, Any], function: str = "worker") -> list[Any]:
    """Return the execution environment id of each invocation of `function`, in record order."""
    columns = repetition["invocations"]
    return [environment for name, environment in zip(columns["function"], columns["environment"]) if name == function]


def completed_series(ends: Sequence[float], items: Sequence[int], resolution: float, until: float) -> np.ndarray:
    """Return the items completed by the end of each interval of `resolution` seconds from 0 to `until`."""
    bins = max(1, math.ceil(until / resolution - 1e-9))
    order = np.argsort(np.asarray(ends, dtype=float))
    sorted_ends = np.asarray(ends, dtype=float)[order]
    cumulative = np.concatenate([[0], np.cumsum(np.asarray(items, dtype=float)[order])])
    interval_ends = (np.arange(bins) + 1) * resolution
    return cumulative[np.searchsorted(sorted_ends, interval_ends, side="right")]


def cold_start_count(repetition: dict[str, Any], function: str | None = None) -> int:
    """Return how many invocations (of `function`, or of all functions) paid an init."""
    columns = repetition["invocations"]
    return sum(
        1
        for name, cold in zip(columns["function"], columns["cold"])
        if cold and (function is None or name == function)
    )


def stage_seconds(repetition: dict[str, Any]) -> dict[str, float]:
    """Return each stage's duration in seconds."""
    return {name: window["end"] - window["start"] for name, window in repetition["stages"].items()}


def representative_repetition(repetitions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the succeeded repetition whose total time is the median (the lower one for an even count).

    Returns None when no repetition succeeded.
    """
    succeeded = sorted(
        (repetition for repetition in repetitions if repetition["status"] == "succeeded"),
        key=lambda repetition: (repetition["total_s"], repetition["index"]),
    )
    if not succeeded:
        return None
    return succeeded[(len(succeeded) - 1) // 2]


def invocation_records(repetition: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the repetition's invocations as one dict per invocation."""
    columns = repetition["invocations"]
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*(columns[name] for name in names))]

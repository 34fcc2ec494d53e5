"""PNG figures of result files: worker concurrency, progress, stage times and a per-invocation timeline.

Figures are drawn on matplotlib's Agg canvas, so no display is needed. Each
is 1200 px wide (12 inches at 100 dpi). The concurrency and timeline figures
show the median run of each (variant, backend): the succeeded repetition
whose total time is the median over every result file given.
"""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.compare import comparison_table, group_order, load_comparison_frame
from bench.errors import InputError
from bench.results import iter_documents
from bench.timeline import (
    DEFAULT_RESOLUTION_S,
    completed_series,
    concurrency_series,
    count_waves,
    function_environments,
    function_intervals,
    representative_repetition,
)

logger = logging.getLogger(__name__)

WIDTH_IN = 12.0
HEIGHT_IN = 6.0
DPI = 100
ROW_HEIGHT_IN = 1.3  # height of one variant's row in the concurrency figure
STAGE_COLORS = {"orchestrator": "#4c72b0", "map": "#dd8452", "aggregator": "#55a868"}
FUNCTION_COLORS = {"orchestrator": "#4c72b0", "worker": "#8c8c8c", "aggregator": "#55a868"}
INIT_COLOR = "#c44e52"


@dataclass(frozen=True)
class MedianRun:
    """The median repetition of one (variant, backend) across the result files."""

    variant: str
    backend: str
    repetition: dict[str, Any]
    runs: int  # succeeded repetitions it was chosen from
    source: Path

    @property
    def label(self) -> str:
        """Return "variant (backend)"."""
        return f"{self.variant} ({self.backend})"


def median_runs(paths: Iterable[Path]) -> list[MedianRun]:
    """Return the median succeeded repetition of each (variant, backend) found under `paths`."""
    candidates: dict[tuple[str, str], list[tuple[dict[str, Any], Path]]] = {}
    for path, document in iter_documents(list(paths)):
        for run in document["variants"]:
            key = (run["variant"]["name"], document["backend"])
            candidates.setdefault(key, []).extend((repetition, path) for repetition in run["repetitions"])

    order = group_order(pd.DataFrame(list(candidates), columns=["variant", "backend"]))
    selected = []
    for variant, backend in order:
        pairs = candidates[(variant, backend)]
        median = representative_repetition([repetition for repetition, _ in pairs])
        if median is None:
            logger.warning("%s (%s): no succeeded repetition to plot", variant, backend)
            continue
        source = next(path for repetition, path in pairs if repetition is median)
        runs = sum(1 for repetition, _ in pairs if repetition["status"] == "succeeded")
        selected.append(MedianRun(variant, backend, median, runs, source))
    return selected


def write_figures(paths: list[Path], out_dir: Path, resolution: float = DEFAULT_RESOLUTION_S) -> list[Path]:
    """Write every figure for the result files under `paths` into `out_dir` and return their paths.

    Raises ResultFileError when no result file is found and InputError when
    no repetition succeeded.
    """
    runs = median_runs(paths)
    if not runs:
        shown = ", ".join(map(str, paths))
        raise InputError(f"{shown}: no succeeded repetition to plot; check the runs' errors with `bench compare`")

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        plot_concurrency(runs, out_dir / "concurrency.png", resolution),
        plot_progress(runs, out_dir / "progress.png", resolution),
        plot_stages(comparison_table(load_comparison_frame(paths)), out_dir / "stages.png"),
    ]
    written += [plot_timeline(run, out_dir / f"timeline-{slug(run.variant)}-{slug(run.backend)}.png") for run in runs]
    return written


def slug(text: str) -> str:
    """Return `text` reduced to lower-case letters, digits and hyphens, for file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI, format="png")
    logger.info("wrote %s", path)
    return path


def run_end(run: MedianRun) -> float:
    """Return the time the run's last invocation ended, in seconds since it started."""
    ends = run.repetition["invocations"]["end"]
    return max(ends) if ends else 0.0


def plot_concurrency(runs: list[MedianRun], path: Path, resolution: float = DEFAULT_RESOLUTION_S) -> Path:
    """Draw running worker invocations over time, one row per variant with its own scale."""
    height = max(HEIGHT_IN, ROW_HEIGHT_IN * len(runs) + 1.0)
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]
    horizon = max(run_end(run) for run in runs)

    for ax, run in zip(axes, runs):
        starts, ends = function_intervals(run.repetition)
        series = concurrency_series(starts, ends, resolution, until=horizon)
        waves = count_waves(starts, ends, function_environments(run.repetition))
        ax.fill_between(series.times, series.counts, step="post", alpha=0.35)
        ax.step(series.times, series.counts, where="post", label=f"{run.label}: peak {series.peak}, {waves} waves")
        ax.set_ylim(0, max(1, series.peak) * 1.15)
        ax.set_ylabel("workers")
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(True, alpha=0.3)

    axes[-1].set_xlabel("time since the run started (s)")
    figure.suptitle(
        f"Running worker invocations over time (median run of each variant, sampled every {resolution:g} s)"
    )
    return _save(figure, path)


def plot_progress(runs: list[MedianRun], path: Path, resolution: float = DEFAULT_RESOLUTION_S) -> Path:
    """Draw the items completed by the workers over time, every variant on one axis."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    horizon = max(run_end(run) for run in runs)

    for run in runs:
        columns = run.repetition["invocations"]
        workers = [index for index, name in enumerate(columns["function"]) if name == "worker"]
        ends = [columns["end"][index] for index in workers]
        items = [columns["items"][index] for index in workers]
        completed = completed_series(ends, items, resolution, horizon)
        times = (np.arange(len(completed)) + 1) * resolution
        ax.plot(times, completed, label=f"{run.label}: {run.repetition['total_s']:.1f} s total")

    ax.set_xlabel("time since the run started (s)")
    ax.set_ylabel("items completed by workers")
    ax.set_title("Items completed over time (median run of each variant)")
    ax.legend(loc="lower right")
    ax.grid(True, alpha=0.3)
    return _save(figure, path)


def plot_stages(table: pd.DataFrame, path: Path) -> Path:
    """Draw the median orchestrator, map and aggregator seconds as stacked horizontal bars."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    shown = table[table["runs"] > 0]
    labels = [f"{variant} ({backend})" for variant, backend in zip(shown["variant"], shown["backend"])]
    positions = np.arange(len(shown))[::-1]

    left = np.zeros(len(shown))
    for stage, color in STAGE_COLORS.items():
        widths = np.nan_to_num(shown[f"{stage}_s"].to_numpy(dtype=float))
        ax.barh(positions, widths, left=left, color=color, label=stage, height=0.6)
        left += widths
    for position, total, runs in zip(positions, shown["total_s"], shown["runs"]):
        ax.annotate(f" {total:.2f} s total ({runs} runs)", (left[len(shown) - 1 - position], position), va="center")

    ax.set_yticks(positions, labels)
    ax.set_xlim(0, max(left.max() if len(left) else 1.0, 1e-9) * 1.25)
    ax.set_xlabel("median seconds over succeeded runs")
    ax.set_title("Stage times per variant (stacked: orchestrator, map, aggregator)")
    ax.legend(loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(figure, path)


def plot_timeline(run: MedianRun, path: Path) -> Path:
    """Draw every invocation of one run as a bar on its execution environment's lane (a Gantt chart)."""
    columns = run.repetition["invocations"]
    lanes = _environment_lanes(columns)
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    ax = figure.subplots()

    for function, color in FUNCTION_COLORS.items():
        selected = [index for index, name in enumerate(columns["function"]) if name == function]
        if not selected:
            continue
        starts = np.array([columns["start"][index] for index in selected])
        ends = np.array([columns["end"][index] for index in selected])
        init = np.array([columns["init_s"][index] for index in selected])
        rows = np.array([lanes[index] for index in selected])
        # White edges keep back-to-back invocations on one environment apart.
        ax.add_collection(_bars(rows, starts + init, ends, color, edgecolor="white"))
        ax.add_collection(_bars(rows[init > 0], starts[init > 0], (starts + init)[init > 0], INIT_COLOR))

    handles = [Patch(color=color, label=function) for function, color in FUNCTION_COLORS.items()]
    handles.append(Patch(color=INIT_COLOR, label="init (cold start)"))
    ax.set_ylim(max(lanes, default=0) + 1, -1)
    ax.set_xlim(0, max(run_end(run), 1e-9) * 1.02)
    ax.set_xlabel("time since the run started (s)")
    ax.set_ylabel(f"execution environment ({max(lanes, default=-1) + 1} in order of first use)")
    ax.set_title(
        f"Invocations of {run.label}, median of {run.runs} runs: "
        f"{len(columns['function'])} invocations, {run.repetition['total_s']:.2f} s total"
    )
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(True, axis="x", alpha=0.3)
    return _save(figure, path)


def _bars(
    rows: np.ndarray, lefts: np.ndarray, rights: np.ndarray, color: str, edgecolor: str = "none"
) -> PolyCollection:
    """Return one collection of horizontal bars, which draws far faster than one barh patch per invocation."""
    top, bottom = rows - 0.4, rows + 0.4
    vertices = np.stack(
        [np.column_stack(corner) for corner in ((lefts, top), (rights, top), (rights, bottom), (lefts, bottom))], axis=1
    )
    return PolyCollection(vertices, facecolors=color, edgecolors=edgecolor, linewidths=0.4)


def _environment_lanes(columns: dict[str, list[Any]]) -> list[int]:
    """Return each invocation's lane: its environment's rank by first start (one lane per invocation without ids).

    Environment ids are unique per function only, so a lane is keyed by (function, environment).
    """
    order = sorted(range(len(columns["start"])), key=lambda index: columns["start"][index])
    lane_of: dict[Any, int] = {}
    lanes = [0] * len(order)
    for index in order:
        environment = columns["environment"][index]
        key = (columns["function"][index], environment) if environment is not None else ("invocation", index)
        lanes[index] = lane_of.setdefault(key, len(lane_of))
    return lanes

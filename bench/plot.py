"""PNG figures of result files: worker concurrency, progress, stage times and a per-invocation timeline.

Figures are drawn on matplotlib's Agg canvas, so no display is needed. Each
is 1200 px wide (12 inches at 100 dpi). The concurrency and timeline figures
show the median run of each (variant, backend): the succeeded repetition
whose total time is the median over every result file given.
"""

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.compare import comparison_table, group_order, load_comparison_frame, pooled_settings_notes
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
CONTROL_FUNCTIONS = ("orchestrator", "aggregator")
# Above this many worker environments a lane is too thin for a bar with edges, so invocations become lines.
MAX_BAR_LANES = 60
MIN_LINE_WIDTH_PT = 0.5


@dataclass(frozen=True)
class MedianRun:
    """The median repetition of one (variant, backend) across the result files."""

    variant: str
    backend: str
    repetition: dict[str, Any]
    runs: int  # succeeded repetitions it was chosen from
    source: Path
    fan_out: str = ""  # the variant's fan_out as its result file records it, such as "inline-map"

    @property
    def label(self) -> str:
        """Return "variant (backend)"."""
        return f"{self.variant} ({self.backend})"


def median_runs(paths: Iterable[Path]) -> list[MedianRun]:
    """Return the median succeeded repetition of each (variant, backend) found under `paths`."""
    candidates: dict[tuple[str, str], list[tuple[dict[str, Any], Path, str]]] = {}
    for path, document in iter_documents(list(paths)):
        for run in document["variants"]:
            key = (run["variant"]["name"], document["backend"])
            fan_out = str(run["variant"].get("fan_out", ""))
            candidates.setdefault(key, []).extend((repetition, path, fan_out) for repetition in run["repetitions"])

    order = group_order(pd.DataFrame(list(candidates), columns=["variant", "backend"]))
    selected = []
    for variant, backend in order:
        entries = candidates[(variant, backend)]
        median = representative_repetition([repetition for repetition, _, _ in entries])
        if median is None:
            logger.warning("%s (%s): no succeeded repetition to plot", variant, backend)
            continue
        source, fan_out = next((path, fan_out) for repetition, path, fan_out in entries if repetition is median)
        runs = sum(1 for repetition, _, _ in entries if repetition["status"] == "succeeded")
        selected.append(MedianRun(variant, backend, median, runs, source, fan_out))
    return selected


def write_figures(paths: list[Path], out_dir: Path, resolution: float = DEFAULT_RESOLUTION_S) -> list[Path]:
    """Write every figure for the result files under `paths` into `out_dir` and return their paths.

    Logs a warning for each (variant, backend) that pools runs of different
    settings, whose median run then mixes them. Raises InputError when
    `out_dir` cannot be a folder, ResultFileError when no result file is
    found, and InputError when no repetition succeeded.
    """
    check_output_folder(out_dir)
    df = load_comparison_frame(paths)
    for note in pooled_settings_notes(df):
        logger.warning("%s", note)
    return draw_figures(paths, df, out_dir, resolution)


def draw_figures(
    paths: list[Path], df: pd.DataFrame, out_dir: Path, resolution: float = DEFAULT_RESOLUTION_S
) -> list[Path]:
    """Draw the figures of `df` (loaded from `paths`) into `out_dir`, creating it, and return their paths."""
    runs = median_runs(paths)
    if not runs:
        shown = ", ".join(map(str, paths))
        raise InputError(f"{shown}: no succeeded repetition to plot; check the runs' errors with `bench compare`")

    make_output_folder(out_dir)
    written = [
        plot_concurrency(runs, out_dir / "concurrency.png", resolution),
        plot_progress(runs, out_dir / "progress.png", resolution),
        plot_stages(comparison_table(df), out_dir / "stages.png"),
    ]
    written += [plot_timeline(run, out_dir / f"timeline-{slug(run.variant)}-{slug(run.backend)}.png") for run in runs]
    return written


def check_output_folder(out_dir: Path) -> None:
    """Raise InputError unless `out_dir` is a writable folder or can be created as one.

    Nothing is created: the nearest existing ancestor must be a folder that
    this process may write into.
    """
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InputError(f"--out {out_dir}: exists and is not a folder; choose another path")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise InputError(f"--out {out_dir}: the folder is not writable; choose another path")
        return

    ancestor = out_dir.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"--out {out_dir}: {ancestor} exists and is not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"--out {out_dir}: cannot create it, {ancestor} is not writable; choose another path")


def make_output_folder(out_dir: Path) -> None:
    """Create `out_dir` and its parents when missing; raise InputError naming the folder when that fails."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out_dir}: cannot create the folder: {error.strerror}; choose another path") from None


def slug(text: str) -> str:
    """Return `text` reduced to lower-case letters, digits and hyphens, for file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    try:
        figure.savefig(path, dpi=DPI, format="png")
    except OSError as error:
        raise InputError(f"{path}: cannot write the figure: {error.strerror}; choose another --out folder") from None
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
        ax.fill_between(series.times, series.counts, step="post", alpha=0.35)
        ax.step(series.times, series.counts, where="post", label=concurrency_legend(run, series.peak))
        ax.set_ylim(0, max(1, series.peak) * 1.15)
        ax.set_ylabel("workers")
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(True, alpha=0.3)

    axes[-1].set_xlabel("time since the run started (s)")
    figure.suptitle(
        f"Running worker invocations over time (median run of each variant, sampled every {resolution:g} s)"
    )
    return _save(figure, path)


def concurrency_legend(run: MedianRun, peak: int) -> str:
    """Return the legend of one concurrency row: the peak, and the waves for an inline Map.

    Only an inline Map runs its items in waves of at most its concurrency
    cap. SQS and distributed Map workers start as capacity frees, so a wave
    count would mean nothing there.
    """
    label = f"{run.label}: peak {peak}"
    if run.fan_out != "inline-map":
        return label
    starts, ends = function_intervals(run.repetition)
    waves = count_waves(starts, ends, function_environments(run.repetition))
    return f"{label}, {waves} wave" + ("" if waves == 1 else "s")


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
    """Draw every invocation of one run on its execution environment's lane (a Gantt chart).

    The orchestrator and the aggregator get a panel of their own above the
    workers, so they stay visible next to hundreds of worker lanes. Up to
    MAX_BAR_LANES worker environments are drawn as bars; more are drawn as
    thin lines, one per invocation, so every lane still shows.
    """
    columns = run.repetition["invocations"]
    functions = columns["function"]
    control = [index for index, name in enumerate(functions) if name in CONTROL_FUNCTIONS]
    workers = [index for index, name in enumerate(functions) if name not in CONTROL_FUNCTIONS]
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    control_ax, worker_ax = figure.subplots(2, 1, sharex=True, height_ratios=[1, 6])

    _draw_control_panel(control_ax, columns, control)
    lane_count = _draw_worker_panel(worker_ax, columns, workers)

    handles = [Patch(color=color, label=function) for function, color in FUNCTION_COLORS.items()]
    handles.append(Patch(color=INIT_COLOR, label="init (cold start)"))
    worker_ax.set_xlim(0, max(run_end(run), 1e-9) * 1.02)
    worker_ax.set_xlabel("time since the run started (s)")
    worker_ax.set_ylabel(f"worker environment\n({lane_count} in order of first use)")
    control_ax.set_title(
        f"Invocations of {run.label}, median of {run.runs} runs: "
        f"{len(functions)} invocations, {run.repetition['total_s']:.2f} s total"
    )
    control_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(figure, path)


def _draw_control_panel(ax: Axes, columns: dict[str, list[Any]], indices: list[int]) -> None:
    """Draw the orchestrator's and the aggregator's invocations as bars on one lane each."""
    for lane, function in enumerate(CONTROL_FUNCTIONS):
        selected = [index for index in indices if columns["function"][index] == function]
        starts, ends, init = _intervals(columns, selected)
        rows = np.full(len(selected), lane)
        ax.add_collection(_bars(rows, starts + init, ends, FUNCTION_COLORS[function], edgecolor="white"))
        ax.add_collection(_bars(rows[init > 0], starts[init > 0], (starts + init)[init > 0], INIT_COLOR))

    ax.set_yticks(range(len(CONTROL_FUNCTIONS)), CONTROL_FUNCTIONS)
    ax.set_ylim(len(CONTROL_FUNCTIONS) - 0.4, -0.6)
    ax.grid(True, axis="x", alpha=0.3)


def _draw_worker_panel(ax: Axes, columns: dict[str, list[Any]], indices: list[int]) -> int:
    """Draw the worker invocations on their environments' lanes and return the number of lanes."""
    lanes = np.array(_environment_lanes(columns, indices), dtype=float)
    lane_count = int(lanes.max()) + 1 if len(lanes) else 0
    starts, ends, init = _intervals(columns, indices)
    colors = [FUNCTION_COLORS.get(columns["function"][index], FUNCTION_COLORS["worker"]) for index in indices]

    if lane_count <= MAX_BAR_LANES:
        # White edges keep back-to-back invocations on one environment apart.
        ax.add_collection(_bars(lanes, starts + init, ends, colors, edgecolor="white"))
        ax.add_collection(_bars(lanes[init > 0], starts[init > 0], (starts + init)[init > 0], INIT_COLOR))
    else:
        width = _line_width_pt(ax, lane_count)
        ax.add_collection(_lines(lanes, starts + init, ends, colors, width))
        ax.add_collection(_lines(lanes[init > 0], starts[init > 0], (starts + init)[init > 0], INIT_COLOR, width))

    ax.set_ylim(max(lane_count, 1) - 0.5, -0.5)
    ax.grid(True, axis="x", alpha=0.3)
    return lane_count


def _intervals(columns: dict[str, list[Any]], indices: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the start, end and init seconds of the invocations at `indices`."""
    starts = np.array([columns["start"][index] for index in indices], dtype=float)
    ends = np.array([columns["end"][index] for index in indices], dtype=float)
    init = np.array([columns["init_s"][index] for index in indices], dtype=float)
    return starts, ends, init


def _line_width_pt(ax: Axes, lane_count: int) -> float:
    """Return a line width in points that fills most of one lane, but at least MIN_LINE_WIDTH_PT."""
    height_pt = ax.get_position().height * HEIGHT_IN * 72
    return max(MIN_LINE_WIDTH_PT, 0.8 * height_pt / lane_count)


def _bars(
    rows: np.ndarray, lefts: np.ndarray, rights: np.ndarray, color: str | list[str], edgecolor: str = "none"
) -> PolyCollection:
    """Return one collection of horizontal bars, which draws far faster than one barh patch per invocation."""
    top, bottom = rows - 0.4, rows + 0.4
    vertices = np.stack(
        [np.column_stack(corner) for corner in ((lefts, top), (rights, top), (rights, bottom), (lefts, bottom))], axis=1
    )
    return PolyCollection(vertices, facecolors=color, edgecolors=edgecolor, linewidths=0.4)


def _lines(
    rows: np.ndarray, lefts: np.ndarray, rights: np.ndarray, color: str | list[str], width_pt: float
) -> LineCollection:
    """Return one collection of horizontal line segments, one per invocation, `width_pt` points thick."""
    segments = np.stack([np.column_stack((lefts, rows)), np.column_stack((rights, rows))], axis=1)
    # Without antialiasing a line thinner than a pixel keeps its full colour instead of fading to grey.
    return LineCollection(segments, colors=color, linewidths=width_pt, capstyle="butt", antialiaseds=False)


def _environment_lanes(columns: dict[str, list[Any]], indices: list[int]) -> list[int]:
    """Return the lane of each invocation at `indices`: its environment's rank by first start.

    Environment ids are unique per function only, so a lane is keyed by
    (function, environment). An invocation without an id gets a lane of its own.
    """
    order = sorted(range(len(indices)), key=lambda position: columns["start"][indices[position]])
    lane_of: dict[Any, int] = {}
    lanes = [0] * len(indices)
    for position in order:
        index = indices[position]
        environment = columns["environment"][index]
        key = (columns["function"][index], environment) if environment is not None else ("invocation", index)
        lanes[position] = lane_of.setdefault(key, len(lane_of))
    return lanes

"""Figures and the concurrency series behind them, checked numerically and as PNG files."""

import struct
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from result_fixtures import inline_map_repetition, per_book_runs, write_run
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import InputError
from bench.plot import (
    FUNCTION_COLORS,
    MedianRun,
    check_output_folder,
    concurrency_legend,
    median_runs,
    plot_concurrency,
    plot_timeline,
    slug,
    write_figures,
)
from bench.results import read_result
from bench.timeline import (
    completed_series,
    concurrency_series,
    count_waves,
    function_environments,
    function_intervals,
    representative_repetition,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


def png_size(path: Path) -> tuple[int, int]:
    """Return (width, height) from the PNG's IHDR chunk, checking the signature first."""
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"
    assert header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def exact_waves() -> dict:
    """Return an inline Map of 100 one-second items at cap 40 with no orchestrator time and no init."""
    return inline_map_repetition(0, 100, 1.0, 40, orchestrator_s=0.0, init_s=0.0).to_dict()


def test_inline_map_plateaus() -> None:
    starts, ends = function_intervals(exact_waves())

    series = concurrency_series(starts, ends, resolution=0.1)

    assert len(series.counts) == 30
    assert series.counts[:10].tolist() == [40] * 10
    assert series.counts[10:20].tolist() == [40] * 10
    assert series.counts[20:30].tolist() == [20] * 10
    assert series.times[10] == pytest.approx(1.0, abs=1e-12)
    assert series.peak == 40


def test_inline_map_waves() -> None:
    repetition = exact_waves()
    starts, ends = function_intervals(repetition)

    assert count_waves(starts, ends, function_environments(repetition)) == 3
    assert count_waves(starts, ends) == 3


def test_series_until_pads_with_zero() -> None:
    series = concurrency_series([0.0], [0.5], resolution=0.25, until=1.0)

    assert series.counts.tolist() == [1, 1, 0, 0]


def test_series_rejects_bad_resolution() -> None:
    with pytest.raises(ValueError, match="resolution must be a positive number of seconds"):
        concurrency_series([0.0], [1.0], resolution=0)


def test_waves_of_continuous_starts() -> None:
    starts = [index * 0.1 for index in range(50)]
    ends = [start + 3.0 for start in starts]

    assert count_waves(starts, ends) == 1
    assert count_waves([], []) == 0


def test_completed_items_steps() -> None:
    starts, ends = function_intervals(exact_waves())

    completed = completed_series(ends, [1] * len(ends), resolution=0.5, until=3.0)

    assert completed.tolist() == [0, 40, 40, 80, 80, 100]


def test_median_repetition_chosen() -> None:
    runs = [repetition.to_dict() for repetition in per_book_runs(4)]

    # Totals grow with the index: the lower of the two middle ones is index 1.
    assert representative_repetition(runs)["index"] == 1
    assert representative_repetition([]) is None


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder with 100 books of exactly 1 s on per-book and sqs, simulated."""
    folder = tmp_path_factory.mktemp("simulated")
    outcome = runner.invoke(
        app,
        ["run", "--variant", "per-book", "--variant", "sqs", "--items", "100", "--work-seconds", "1",
         "--jitter", "0", "--repetitions", "3", "--seed", "1", "--output-dir", str(folder)],
    )
    assert outcome.exit_code == 0, outcome.output
    return folder


def simulated_run(folder: Path, variant: str) -> dict:
    document = read_result(next(folder.glob("*.json")))
    run = next(run for run in document["variants"] if run["variant"]["name"] == variant)
    return representative_repetition(run["repetitions"])


def test_simulated_inline_map_waves(simulated: Path) -> None:
    repetition = simulated_run(simulated, "per-book")
    starts, ends = function_intervals(repetition)
    series = concurrency_series(starts, ends)

    assert series.peak == 40
    assert count_waves(starts, ends, function_environments(repetition)) == 3
    assert np.count_nonzero(series.counts == 40) >= 20


def test_simulated_sqs_ramp(simulated: Path) -> None:
    repetition = simulated_run(simulated, "sqs")
    starts, ends = function_intervals(repetition)
    counts = concurrency_series(starts, ends).counts
    running = counts[np.nonzero(counts)[0][0]:]

    # The event source mapping starts with 5 concurrent invocations and adds more while messages remain.
    assert running[0] == 5
    assert running.max() > 5


def test_figures_are_pngs_1200_wide(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_run(results, {"per-book": per_book_runs(3)})
    write_run(results, {"per-book": per_book_runs(2)}, backend="aws")

    written = write_figures([results], tmp_path / "figures")

    assert [path.name for path in written] == [
        "concurrency.png",
        "progress.png",
        "stages.png",
        "timeline-per-book-sim.png",
        "timeline-per-book-aws.png",
    ]
    for path in written[1:]:
        assert png_size(path) == (1200, 600)
    # Two rows of 1.3 in plus 1 in for the title are below the 6 in minimum.
    assert png_size(written[0]) == (1200, 600)


def test_concurrency_figure_grows_with_rows(tmp_path: Path) -> None:
    results = tmp_path / "results"
    runs = {name: [inline_map_repetition(0, 20, 1.0, 40, variant=name)] for name in ("per-book", "batched", "sqs", "provisioned", "distributed")}
    write_run(results, runs, items=20)
    write_run(results, runs, items=20, backend="aws")

    path = plot_concurrency(median_runs([results]), tmp_path / "concurrency.png")

    # Ten rows of 1.3 in plus 1 in: 14 in at 100 dpi.
    assert png_size(path) == (1200, 1400)


def test_no_succeeded_run_rejected(tmp_path: Path) -> None:
    write_run(tmp_path, {"per-book": [inline_map_repetition(0, 10, 1.0, 40, status="failed")]})

    with pytest.raises(InputError, match="no succeeded repetition to plot"):
        write_figures([tmp_path], tmp_path / "figures")


def test_median_runs_order(tmp_path: Path) -> None:
    write_run(tmp_path, {"sqs": per_book_runs(1), "per-book": per_book_runs(3)})

    assert [run.label for run in median_runs([tmp_path])] == ["per-book (sim)", "sqs (sim)"]


def test_slug() -> None:
    assert slug("Per Book/v2") == "per-book-v2"


def test_plot_command(tmp_path: Path) -> None:
    write_run(tmp_path / "results", {"per-book": per_book_runs(2)})

    outcome = runner.invoke(app, ["plot", str(tmp_path / "results"), "--out", str(tmp_path / "figures")])

    assert outcome.exit_code == 0
    assert f"wrote {tmp_path / 'figures' / 'concurrency.png'}" in outcome.stdout
    assert png_size(tmp_path / "figures" / "timeline-per-book-sim.png") == (1200, 600)


def test_plot_command_without_results(tmp_path: Path) -> None:
    outcome = runner.invoke(app, ["plot", str(tmp_path), "--out", str(tmp_path / "figures")])

    assert outcome.exit_code == 2
    assert "no result files" in outcome.stderr


def test_plot_out_is_a_file(tmp_path: Path) -> None:
    write_run(tmp_path / "results", {"per-book": per_book_runs(1)})
    existing = tmp_path / "f"
    existing.write_text("keep me", "utf-8")

    outcome = runner.invoke(app, ["plot", str(tmp_path / "results"), "--out", str(existing)])

    assert outcome.exit_code == 2
    assert outcome.stderr == f"error: --out {existing}: exists and is not a folder; choose another path\n"
    assert existing.read_text("utf-8") == "keep me"


def test_plot_out_below_a_file(tmp_path: Path) -> None:
    write_run(tmp_path / "results", {"per-book": per_book_runs(1)})
    existing = tmp_path / "f"
    existing.write_text("keep me", "utf-8")

    outcome = runner.invoke(app, ["plot", str(tmp_path / "results"), "--out", str(existing / "sub")])

    assert outcome.exit_code == 2
    expected = f"error: --out {existing / 'sub'}: {existing} exists and is not a folder; choose another path\n"
    assert outcome.stderr == expected


def test_plot_out_checked_before_results(tmp_path: Path) -> None:
    existing = tmp_path / "f"
    existing.write_text("", "utf-8")

    outcome = runner.invoke(app, ["plot", str(tmp_path / "missing"), "--out", str(existing)])

    assert outcome.exit_code == 2
    assert "exists and is not a folder" in outcome.stderr


def test_plot_out_nested_new_folder(tmp_path: Path) -> None:
    write_run(tmp_path / "results", {"per-book": per_book_runs(1)})

    outcome = runner.invoke(app, ["plot", str(tmp_path / "results"), "--out", str(tmp_path / "a" / "b")])

    assert outcome.exit_code == 0
    assert (tmp_path / "a" / "b" / "stages.png").is_file()


def test_check_output_folder_existing_folder(tmp_path: Path) -> None:
    check_output_folder(tmp_path)
    check_output_folder(tmp_path / "new" / "deeper")

    assert not (tmp_path / "new").exists()


def legend_run(variant: str, fan_out: str, items: int, cap: int) -> MedianRun:
    repetition = inline_map_repetition(0, items, 1.0, cap, variant=variant).to_dict()
    return MedianRun(variant, "sim", repetition, 1, Path("run.json"), fan_out)


def test_legend_one_wave_singular() -> None:
    assert concurrency_legend(legend_run("batched", "inline-map", 20, 40), 20) == "batched (sim): peak 20, 1 wave"


def test_legend_waves_plural() -> None:
    assert concurrency_legend(legend_run("per-book", "inline-map", 100, 40), 40) == "per-book (sim): peak 40, 3 waves"


def test_legend_no_waves_without_inline_map() -> None:
    distributed = legend_run("distributed", "distributed-map", 100, 100)

    assert concurrency_legend(legend_run("sqs", "sqs", 100, 40), 40) == "sqs (sim): peak 40"
    assert concurrency_legend(distributed, 100) == "distributed (sim): peak 100"


def test_median_runs_record_fan_out(tmp_path: Path) -> None:
    write_run(tmp_path, {"per-book": per_book_runs(1), "sqs": per_book_runs(1)})

    assert [run.fan_out for run in median_runs([tmp_path])] == ["inline-map", "sqs"]


def color_pixels(path: Path, color: str) -> int:
    """Return how many pixels of the PNG at `path` have exactly `color` (a #rrggbb string)."""
    image = (mpimg.imread(path)[:, :, :3] * 255).round().astype(int)
    target = np.array([int(color[index : index + 2], 16) for index in (1, 3, 5)])
    return int(np.all(image == target, axis=2).sum())


@pytest.fixture(scope="module")
def wide_timeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the timeline PNG of a run with 600 worker environments, each used once."""
    folder = tmp_path_factory.mktemp("wide")
    repetition = inline_map_repetition(0, 600, 1.0, 600, variant="distributed").to_dict()
    run = MedianRun("distributed", "sim", repetition, 1, folder / "run.json", "distributed-map")
    return plot_timeline(run, folder / "timeline.png")


def test_wide_timeline_shows_orchestrator_and_aggregator(wide_timeline: Path) -> None:
    # The orchestrator runs 0.2 s and the aggregator 0.3 s of a 1.6 s run, on 1,200 px.
    assert color_pixels(wide_timeline, FUNCTION_COLORS["orchestrator"]) > 2000
    assert color_pixels(wide_timeline, FUNCTION_COLORS["aggregator"]) > 2000


def test_wide_timeline_shows_workers(wide_timeline: Path) -> None:
    assert color_pixels(wide_timeline, FUNCTION_COLORS["worker"]) > 50000
    assert png_size(wide_timeline) == (1200, 600)

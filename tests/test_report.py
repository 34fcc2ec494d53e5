"""`bench report`: one Markdown page with the tables and the figures it links."""

import re
from pathlib import Path

import pytest
from result_fixtures import inline_map_repetition, per_book_runs, write_run
from typer.testing import CliRunner

from bench.cli import app
from bench.report import write_report

runner = CliRunner()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("results")
    batched = [inline_map_repetition(index, 100, 1.0, 40, variant="batched", aggregator_s=0.1 + index * 0.01) for index in range(5)]
    write_run(folder, {"per-book": per_book_runs(5), "batched": batched})
    write_run(folder, {"per-book": per_book_runs(3)}, backend="aws")
    return folder


@pytest.fixture(scope="module")
def report(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report([results], tmp_path_factory.mktemp("report"))


def test_report_sections(report: Path) -> None:
    page = report.read_text("utf-8")

    assert page.startswith("# Fan-out benchmark report\n")
    assert "from 2 result files. Backends: aws, sim. Regions: us-east-1. Inputs: 100 items" in page
    assert "### Comparison (medians over succeeded runs)" in page
    assert "### Statistics (seconds over succeeded runs)" in page
    assert "### Estimated cost per run" in page
    assert "### Simulator against AWS" in page
    assert "### Figures" in page
    assert "### Result files" in page


def test_report_compares_with_per_book(report: Path) -> None:
    page = report.read_text("utf-8")

    assert "vs per-book" in page
    assert "| batched   | sim       |      5 |" in page


def test_report_links_existing_figures(report: Path) -> None:
    out = report.parent
    page = report.read_text("utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)

    assert "figures/concurrency.png" in links
    assert "figures/timeline-batched-sim.png" in links
    assert len(links) == 6
    for link in links:
        assert (out / link).is_file(), link


def test_report_command(results: Path, tmp_path: Path) -> None:
    outcome = runner.invoke(app, ["report", str(results), "--out", str(tmp_path / "report"), "--baseline", "batched"])

    assert outcome.exit_code == 0
    assert outcome.stdout == f"wrote {tmp_path / 'report' / 'report.md'}\n"
    assert "vs batched" in (tmp_path / "report" / "report.md").read_text("utf-8")


def test_report_command_unknown_baseline(results: Path, tmp_path: Path) -> None:
    outcome = runner.invoke(app, ["report", str(results), "--out", str(tmp_path / "report"), "--baseline", "sqs"])

    assert outcome.exit_code == 2
    assert "--baseline 'sqs': no succeeded repetition of that variant" in outcome.stderr
    assert not (tmp_path / "report").exists()

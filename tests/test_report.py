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


def test_report_out_is_a_file(results: Path, tmp_path: Path) -> None:
    existing = tmp_path / "f"
    existing.write_text("keep me", "utf-8")

    outcome = runner.invoke(app, ["report", str(results), "--out", str(existing)])

    assert outcome.exit_code == 2
    assert outcome.stderr == f"error: --out {existing}: exists and is not a folder; choose another path\n"
    assert existing.read_text("utf-8") == "keep me"


def test_report_out_below_a_file(results: Path, tmp_path: Path) -> None:
    existing = tmp_path / "f"
    existing.write_text("", "utf-8")

    outcome = runner.invoke(app, ["report", str(results), "--out", str(existing / "sub")])

    assert outcome.exit_code == 2
    expected = f"error: --out {existing / 'sub'}: {existing} exists and is not a folder; choose another path\n"
    assert outcome.stderr == expected


def test_report_figures_folder_is_a_file(results: Path, tmp_path: Path) -> None:
    (tmp_path / "figures").write_text("", "utf-8")

    outcome = runner.invoke(app, ["report", str(results), "--out", str(tmp_path)])

    assert outcome.exit_code == 2
    assert outcome.stderr == (
        f"error: --out {tmp_path / 'figures'}: exists and is not a folder; choose another path\n"
    )
    assert not (tmp_path / "report.md").exists()


def test_report_out_checked_before_results(tmp_path: Path) -> None:
    existing = tmp_path / "f"
    existing.write_text("", "utf-8")

    outcome = runner.invoke(app, ["report", str(tmp_path / "missing"), "--out", str(existing)])

    assert outcome.exit_code == 2
    assert "exists and is not a folder" in outcome.stderr


def test_report_lists_each_item_count(tmp_path: Path) -> None:
    write_run(tmp_path / "results", {"per-book": per_book_runs(2)}, items=100)
    write_run(tmp_path / "results", {"per-book": per_book_runs(2, items=50)}, items=50)

    page = write_report([tmp_path / "results"], tmp_path / "report").read_text("utf-8")

    assert f"Inputs: 50 items (sha256 {'a' * 12}), 100 items (sha256 {'a' * 12})." in page


def test_report_names_region_priced(tmp_path: Path) -> None:
    outcome = runner.invoke(
        app, ["run", "--variant", "per-book", "--items", "10", "--repetitions", "1", "--region", "eu-central-1",
              "--output-dir", str(tmp_path / "results")]
    )
    assert outcome.exit_code == 0, outcome.output

    page = write_report([tmp_path / "results"], tmp_path / "report").read_text("utf-8")

    note = "eu-central-1 is priced at us-east-1 prices: bench/data/prices.json lists none for eu-central-1"
    assert f"> note: {note}" in page

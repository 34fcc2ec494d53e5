"""`bench compare` through the real CLI: formats, errors and the regression gate."""

import csv
import io
import json
from pathlib import Path

import pytest
from result_fixtures import inline_map_repetition, per_book_runs, write_run
from typer.testing import CliRunner

from bench.cli import app
from bench.compare import SUMMARY_KEYS

runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """Return a folder with per-book on sim (5 runs, one failed) and on aws (3 runs)."""
    runs = per_book_runs(4) + [inline_map_repetition(4, 100, 1.0, 40, status="failed")]
    write_run(tmp_path, {"per-book": runs}, backend="sim")
    write_run(tmp_path, {"per-book": per_book_runs(3)}, backend="aws")
    return tmp_path


def three_and_four_second_runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Return folders: old at 3 s per item, new at 4 s per item, and a copy of old."""
    folders = [tmp_path / name for name in ("old", "slow", "same")]
    for folder, work_s in zip(folders, (3.0, 4.0, 3.0)):
        runs = [inline_map_repetition(index, 100, work_s, 40, aggregator_s=0.3 + index * 0.01) for index in range(5)]
        write_run(folder, {"per-book": runs}, work_seconds=work_s)
    return folders[0], folders[1], folders[2]


def test_json_has_exactly_the_summary_keys(results: Path) -> None:
    outcome = invoke("compare", results, "--format", "json")
    objects = json.loads(outcome.stdout)

    assert outcome.exit_code == 0
    assert [list(item) for item in objects] == [list(SUMMARY_KEYS)] * 2
    assert [(item["variant"], item["backend"]) for item in objects] == [("per-book", "sim"), ("per-book", "aws")]


def test_json_values(results: Path) -> None:
    sim = json.loads(invoke("compare", results, "--format", "json").stdout)[0]

    assert sim["runs"] == 4
    assert sim["total_s"] == 3.615
    assert sim["orchestrator_s"] == 0.2
    assert sim["map_s"] == 3.1
    assert sim["aggregator_s"] == 0.315
    assert sim["peak_concurrency"] == 40
    assert sim["cold_starts"] == 40
    assert sim["invocations"] == 102
    assert sim["cost_usd"] > 0


def test_json_failed_runs_noted_on_stderr(results: Path) -> None:
    outcome = invoke("compare", results, "--format", "json")

    assert "note: per-book (sim): 1 of 5 repetitions failed and are left out" in outcome.stderr


def test_json_stats_adds_columns(results: Path) -> None:
    objects = json.loads(invoke("compare", results, "--format", "json", "--stats", "--cost").stdout)

    assert list(objects[0])[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS)
    assert objects[0]["total_ci_low"] == 3.6
    assert objects[0]["failed"] == 1
    assert objects[0]["usd_per_1000_items"] == pytest.approx(objects[0]["cost_usd"] * 10, rel=1e-9)


def test_csv_header_and_rows(results: Path) -> None:
    outcome = invoke("compare", results, "--format", "csv")
    rows = list(csv.reader(io.StringIO(outcome.stdout)))

    assert rows[0] == list(SUMMARY_KEYS)
    assert rows[1][:4] == ["per-book", "sim", "4", "3.615"]
    assert len(rows) == 3


def test_markdown_table(results: Path) -> None:
    outcome = invoke("compare", results, "--format", "markdown", "--baseline", "per-book", "--stats", "--cost")

    assert outcome.exit_code == 0
    assert "### Comparison (medians over succeeded runs)" in outcome.stdout
    assert "| per-book  | sim       |      4 |" in outcome.stdout
    assert "### Statistics (seconds over succeeded runs)" in outcome.stdout
    assert "### Estimated cost per run" in outcome.stdout
    assert "### Simulator against AWS" in outcome.stdout


def test_table_shows_sections(results: Path) -> None:
    outcome = invoke("compare", results)

    assert outcome.exit_code == 0
    assert outcome.stdout.startswith("Comparison (medians over succeeded runs)\n")
    assert "note: per-book (sim): 1 of 5 repetitions failed" in outcome.stdout
    assert "Simulator against AWS" in outcome.stdout


def test_empty_folder_exits_2(tmp_path: Path) -> None:
    outcome = invoke("compare", tmp_path)

    assert outcome.exit_code == 2
    assert outcome.stderr == f"error: {tmp_path}: no result files (*.json) found; run `bench run` first\n"


def test_corrupt_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("not json", "utf-8")

    outcome = invoke("compare", tmp_path)

    assert outcome.exit_code == 2
    assert f"error: {tmp_path / 'run.json'}: not a valid result file" in outcome.stderr


def test_unknown_baseline_exits_2(results: Path) -> None:
    outcome = invoke("compare", results, "--baseline", "sqs")

    assert outcome.exit_code == 2
    assert "--baseline 'sqs': no succeeded repetition of that variant" in outcome.stderr


def test_gate_slower_candidate_exits_1(tmp_path: Path) -> None:
    old, slow, _ = three_and_four_second_runs(tmp_path)

    outcome = invoke("compare", slow, "--against", old, "--max-slowdown", "10%")

    # Three waves of 3 s against three of 4 s: 9.62 s -> 12.62 s.
    assert outcome.exit_code == 1
    assert "regression: per-book (sim) median total 9.62 s -> 12.62 s (+31.2%, p = 0.00794)" in outcome.stdout
    assert "regression gate failed: 1 of 1 variants slower than allowed" in outcome.stdout


def test_gate_identical_candidate_exits_0(tmp_path: Path) -> None:
    old, _, same = three_and_four_second_runs(tmp_path)

    outcome = invoke("compare", same, "--against", old, "--max-slowdown", "10%")

    assert outcome.exit_code == 0
    assert "regression gate passed" in outcome.stdout


def test_gate_slowdown_within_limit_exits_0(tmp_path: Path) -> None:
    old, slow, _ = three_and_four_second_runs(tmp_path)

    outcome = invoke("compare", slow, "--against", old, "--max-slowdown", "40%")

    assert outcome.exit_code == 0
    assert "slower, within limit" in outcome.stdout


def test_gate_json_keeps_stdout_parseable(tmp_path: Path) -> None:
    old, slow, _ = three_and_four_second_runs(tmp_path)

    outcome = invoke("compare", slow, "--against", old, "--format", "json")

    assert outcome.exit_code == 1
    assert json.loads(outcome.stdout)[0]["variant"] == "per-book"
    assert "regression: per-book (sim)" in outcome.stderr


def test_gate_invalid_threshold_exits_2(tmp_path: Path) -> None:
    old, slow, _ = three_and_four_second_runs(tmp_path)

    outcome = invoke("compare", slow, "--against", old, "--max-slowdown", "ten")

    assert outcome.exit_code == 2
    assert outcome.stderr == "error: --max-slowdown 'ten' is not a percentage; write it as 10% or 10\n"


def test_gate_variant_failing_everywhere_exits_1(tmp_path: Path) -> None:
    old, _, _ = three_and_four_second_runs(tmp_path)
    failed = [inline_map_repetition(index, 100, 3.0, 40, status="failed") for index in range(2)]
    write_run(tmp_path / "broken", {"per-book": failed})

    outcome = invoke("compare", tmp_path / "broken", "--against", old)

    assert outcome.exit_code == 1
    assert "regression: per-book (sim) all 2 new repetitions failed; it succeeded in --against" in outcome.stdout


def test_gate_with_too_few_runs_says_so(tmp_path: Path) -> None:
    for name, work_s in (("old", 3.0), ("new", 4.0)):
        write_run(tmp_path / name, {"per-book": [inline_map_repetition(0, 100, work_s, 40)]})

    outcome = invoke("compare", tmp_path / "new", "--against", tmp_path / "old")

    assert outcome.exit_code == 0
    assert "1 old and 1 new repetitions cannot reach p < 0.05 without ties; run 4 or more" in outcome.stdout


def test_gate_on_simulated_runs(tmp_path: Path) -> None:
    common = ["--variant", "per-book", "--items", "100", "--repetitions", "5", "--seed", "1"]
    for name, work in (("old", "3"), ("slow", "4"), ("same", "3")):
        assert invoke("run", *common, "--work-seconds", work, "--output-dir", tmp_path / name).exit_code == 0

    slower = invoke("compare", tmp_path / "slow", "--against", tmp_path / "old", "--max-slowdown", "10%")
    same = invoke("compare", tmp_path / "same", "--against", tmp_path / "old", "--max-slowdown", "10%")

    assert slower.exit_code == 1
    assert same.exit_code == 0


@pytest.fixture()
def five_variants(tmp_path: Path) -> Path:
    """Return a folder with 3 runs of each of the five variants on sim, as inline Maps of 100 items."""
    names = ("per-book", "batched", "sqs", "provisioned", "distributed")
    runs = {
        name: [
            inline_map_repetition(index, 100, 1.0, 40, variant=name, aggregator_s=0.3 + index * 0.01)
            for index in range(3)
        ]
        for name in names
    }
    write_run(tmp_path, runs)
    return tmp_path


def section(text: str, title: str) -> list[str]:
    """Return the lines of the section of `text` that starts with `title`, up to the next blank line after its table."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(title))
    end = next((index for index in range(start + 2, len(lines)) if not lines[index]), len(lines))
    return lines[start:end]


def test_cost_table_one_row_per_line_item(five_variants: Path) -> None:
    outcome = invoke("compare", five_variants, "--cost")
    lines = section(outcome.stdout, "Estimated cost per run")

    assert max(len(line) for line in lines) <= 100
    assert lines[2].split() == ["per-book", "batched", "sqs", "provisioned", "distributed"]
    assert lines[3].split() == ["line", "item"] + ["(sim)"] * 5
    assert [line.split("  ")[0] for line in lines[5:]] == [
        "Lambda requests",
        "Lambda GB-s",
        "transitions",
        "total",
        "per 1,000 items",
        "items",
        "runs",
    ]


def test_cost_table_keeps_every_value(five_variants: Path) -> None:
    table = invoke("compare", five_variants, "--cost").stdout
    markdown = invoke("compare", five_variants, "--cost", "--format", "markdown").stdout
    cost_part = markdown[markdown.index("### Estimated cost") :]
    rows = [line for line in cost_part.splitlines() if line.startswith("| ") and "$" in line]

    # The markdown table has one row per variant; each of its USD values appears in the terminal table.
    assert len(rows) == 5
    for row in rows:
        for cell in row.strip("|").split("|"):
            if cell.strip().startswith("$"):
                assert cell.strip() in table


def test_cost_markdown_one_row_per_variant(five_variants: Path) -> None:
    markdown = invoke("compare", five_variants, "--cost", "--format", "markdown").stdout
    header = next(line for line in markdown.splitlines() if line.startswith("| variant") and "Lambda requests" in line)

    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "variant",
        "backend",
        "Lambda requests",
        "Lambda GB-s",
        "transitions",
        "total",
        "items",
        "per 1,000 items",
    ]


def test_baseline_table_narrower(five_variants: Path) -> None:
    outcome = invoke("compare", five_variants, "--baseline", "per-book")
    comparison = section(outcome.stdout, "Comparison (medians")
    against = section(outcome.stdout, "Against per-book")

    assert max(len(line) for line in comparison) == 138
    assert max(len(line) for line in against) <= 100
    assert against[0] == "Against per-book (two-sided Mann-Whitney U test on the totals, significant at p < 0.05)"
    assert against[5].split() == ["per-book", "sim", "3", "3.61", "1.00x", "-", "-"]
    assert "vs per-book" not in "\n".join(comparison)


def test_terminal_headers_split_in_two_lines(five_variants: Path) -> None:
    lines = section(invoke("compare", five_variants).stdout, "Comparison (medians")

    assert lines[2].split() == ["median", "orchestrator", "aggregator", "cold"]
    assert lines[3].split()[:9] == ["variant", "backend", "runs", "total", "s", "CI", "s", "s", "map"]
    assert set(lines[4]) == {"-", " "}


def test_json_note_for_table_only_options(results: Path) -> None:
    outcome = invoke("compare", results, "--format", "json", "--baseline", "per-book", "--cost")

    assert [list(item) for item in json.loads(outcome.stdout)] == [list(SUMMARY_KEYS)] * 2
    assert outcome.stderr.splitlines()[0] == (
        "note: --baseline and --cost add json fields only with --stats; add --stats to include them"
    )


def test_csv_note_for_cost_only(results: Path) -> None:
    outcome = invoke("compare", results, "--format", "csv", "--cost")

    assert outcome.stderr.splitlines()[0] == "note: --cost adds csv fields only with --stats; add --stats to include them"


def test_json_stats_includes_baseline_and_cost(results: Path) -> None:
    outcome = invoke("compare", results, "--format", "json", "--baseline", "per-book", "--cost", "--stats")
    sim = json.loads(outcome.stdout)[0]

    assert sim["relative"] == 1.0
    assert sim["p_value"] is None
    assert sim["cost_stepfunctions_state_transitions"] == pytest.approx(306 * 0.000025, rel=1e-9)
    assert "only with --stats" not in outcome.stderr


def test_unlisted_region_priced_note(tmp_path: Path) -> None:
    run = ["run", "--variant", "per-book", "--items", "10", "--repetitions", "1", "--region", "eu-central-1"]
    assert invoke(*run, "--output-dir", tmp_path).exit_code == 0

    outcome = invoke("compare", tmp_path, "--cost")

    note = "eu-central-1 is priced at us-east-1 prices: bench/data/prices.json lists none for eu-central-1"
    assert f"note: {note}" in outcome.stdout

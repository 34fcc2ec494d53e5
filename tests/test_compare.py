"""Comparison tables computed from hand-made result files."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from result_fixtures import inline_map_repetition, per_book_runs, write_run

from bench.compare import (
    comparison_table,
    cost_table,
    ideal_seconds,
    load_comparison_frame,
    result_notes,
    sim_vs_aws_table,
    statistics_table,
)
from bench.errors import InputError, ResultFileError
from bench.results import load_results


@pytest.fixture()
def two_variants(tmp_path: Path) -> Path:
    """Return a folder with per-book (5 runs) and batched (5 runs, one failed) on 100 items of 1 s."""
    batched = [
        inline_map_repetition(index, 100, 1.0, 40, variant="batched", aggregator_s=0.1 + index * 0.01)
        for index in range(4)
    ]
    batched.append(inline_map_repetition(4, 100, 1.0, 40, variant="batched", status="failed"))
    write_run(tmp_path, {"per-book": per_book_runs(5), "batched": batched})
    return tmp_path


def row(table: pd.DataFrame, variant: str, backend: str = "sim") -> pd.Series:
    selected = table[(table["variant"] == variant) & (table["backend"] == backend)]
    assert len(selected) == 1
    return selected.iloc[0]


def test_medians_of_inline_map(two_variants: Path) -> None:
    table = comparison_table(load_comparison_frame([two_variants]))
    per_book = row(table, "per-book")

    # Three waves of 1 s after a 0.1 s init in the first: map 3.1 s, totals 3.60..3.64.
    assert per_book["runs"] == 5
    assert per_book["total_s"] == pytest.approx(3.62, abs=1e-9)
    assert per_book["orchestrator_s"] == pytest.approx(0.2, abs=1e-9)
    assert per_book["map_s"] == pytest.approx(3.1, abs=1e-9)
    assert per_book["aggregator_s"] == pytest.approx(0.32, abs=1e-9)
    assert per_book["peak_concurrency"] == 40
    assert per_book["cold_starts"] == 40
    assert per_book["invocations"] == 102


def test_interval_and_p95(two_variants: Path) -> None:
    per_book = row(comparison_table(load_comparison_frame([two_variants])), "per-book")

    assert per_book["total_ci_low"] == pytest.approx(3.60, abs=1e-9)
    assert per_book["total_ci_high"] == pytest.approx(3.64, abs=1e-9)
    assert per_book["total_ci_level"] == pytest.approx(0.9375, abs=1e-12)
    assert per_book["total_p95"] == pytest.approx(3.638, abs=1e-9)


def test_failed_runs_left_out(two_variants: Path) -> None:
    df = load_comparison_frame([two_variants])
    batched = row(comparison_table(df), "batched")

    assert batched["runs"] == 4
    assert batched["failed"] == 1
    assert batched["total_s"] == pytest.approx(3.415, abs=1e-9)
    assert result_notes(df) == [
        "batched (sim): 1 of 5 repetitions failed and are left out; first error: States.Runtime: the Map state failed"
    ]


def test_rows_follow_variant_registry(two_variants: Path) -> None:
    table = comparison_table(load_comparison_frame([two_variants]))

    assert table["variant"].tolist() == ["per-book", "batched"]


def test_baseline_columns(two_variants: Path) -> None:
    table = comparison_table(load_comparison_frame([two_variants]), baseline="per-book")
    per_book = row(table, "per-book")
    batched = row(table, "batched")

    assert per_book["relative"] == 1.0
    assert math.isnan(per_book["p_value"])
    assert per_book["significant"] is None
    assert batched["relative"] == pytest.approx(3.415 / 3.62, abs=1e-9)
    # 4 against 5 totals, completely separated: exact p = 2 / C(9, 4).
    assert batched["p_value"] == pytest.approx(2 / 126, abs=1e-12)
    assert batched["significant"] == True  # noqa: E712 (numpy bool)


def test_unknown_baseline_rejected(two_variants: Path) -> None:
    with pytest.raises(InputError, match="--baseline 'sqs': no succeeded repetition of that variant"):
        comparison_table(load_comparison_frame([two_variants]), baseline="sqs")


def test_ideal_time_and_efficiency(two_variants: Path) -> None:
    per_book = row(comparison_table(load_comparison_frame([two_variants])), "per-book")

    # 100 items x 1 s / 1,000 is below one item's 1 s, so the map part is 1 s.
    assert per_book["ideal_s"] == pytest.approx(1.0 + 0.2 + 0.32, abs=1e-9)
    assert per_book["efficiency"] == pytest.approx(1.52 / 3.62, abs=1e-9)


def test_ideal_seconds_formula() -> None:
    assert ideal_seconds(565, 3.0, 400, 0.5, 1.5) == pytest.approx(565 * 3 / 400 + 2.0, abs=1e-12)
    assert math.isnan(ideal_seconds(565, math.nan, 400, 0.5, 1.5))


def test_plain_load_results_frame(two_variants: Path) -> None:
    table = comparison_table(load_results([two_variants]))

    assert row(table, "per-book")["total_s"] == pytest.approx(3.62, abs=1e-9)
    assert math.isnan(row(table, "per-book")["ideal_s"])


def test_statistics_per_stage(two_variants: Path) -> None:
    stats = statistics_table(load_comparison_frame([two_variants]))
    aggregator = stats[(stats["variant"] == "per-book") & (stats["metric"] == "aggregator")].iloc[0]

    assert stats["metric"].tolist()[:4] == ["total", "orchestrator", "map", "aggregator"]
    assert aggregator["runs"] == 5
    assert aggregator["median"] == pytest.approx(0.32, abs=1e-9)
    assert aggregator["p95"] == pytest.approx(0.338, abs=1e-9)
    assert aggregator["min"] == pytest.approx(0.30, abs=1e-9)
    assert aggregator["max"] == pytest.approx(0.34, abs=1e-9)


def test_cost_per_thousand_items(two_variants: Path) -> None:
    costs = cost_table(load_comparison_frame([two_variants]))
    per_book = row(costs, "per-book")

    assert per_book["usd_per_1000_items"] == pytest.approx(per_book["cost_usd"] * 10, rel=1e-12)
    assert per_book["cost_stepfunctions_state_transitions"] == pytest.approx(306 * 0.000025, rel=1e-12)
    assert "cost_sqs_requests" not in costs.columns


def test_sim_against_aws(tmp_path: Path) -> None:
    write_run(tmp_path, {"per-book": per_book_runs(3)}, backend="sim")
    measured = [inline_map_repetition(index, 100, 1.0, 40, wave_gap_s=0.5) for index in range(3)]
    write_run(tmp_path, {"per-book": measured}, backend="aws")

    table = sim_vs_aws_table(load_comparison_frame([tmp_path]))

    # AWS waits 0.5 s between waves: map 4.1 s against the simulator's 3.1 s.
    assert table["variant"].tolist() == ["per-book"]
    assert table.iloc[0]["aws_map_s"] == pytest.approx(4.1, abs=1e-9)
    assert table.iloc[0]["map_error"] == pytest.approx((3.1 - 4.1) / 4.1, abs=1e-9)


def test_pooled_inputs_noted(tmp_path: Path) -> None:
    first = write_run(tmp_path, {"per-book": per_book_runs(2)}, input_sha256="a" * 64)
    second = write_run(tmp_path, {"per-book": per_book_runs(2, items=50)}, items=50, input_sha256="b" * 64)
    first.rename(tmp_path / "1.json")
    second.rename(tmp_path / "2.json")

    notes = result_notes(load_comparison_frame([tmp_path]))

    assert notes == [
        "per-book (sim): pools runs with different settings: input.items 100 vs 50, "
        "input.sha256 aaaaaaaaaaaa vs bbbbbbbbbbbb (files 1.json vs 2.json); compare them separately"
    ]


def test_pooled_inputs_noted_without_settings(tmp_path: Path) -> None:
    write_run(tmp_path, {"per-book": per_book_runs(2)}, input_sha256="a" * 64)
    write_run(tmp_path, {"per-book": per_book_runs(2, items=50)}, items=50, input_sha256="b" * 64)

    notes = result_notes(load_results([tmp_path]))

    assert notes == [
        "per-book (sim): pools 2 different inputs (50, 100 items); "
        "pass result files of one input to compare like with like"
    ]


def test_pooled_settings_noted(tmp_path: Path) -> None:
    write_run(tmp_path, {"per-book": per_book_runs(2)}, work_seconds=1.0).rename(tmp_path / "1.json")
    write_run(tmp_path, {"per-book": per_book_runs(2)}, work_seconds=3.0).rename(tmp_path / "2.json")

    notes = result_notes(load_comparison_frame([tmp_path]))

    assert notes == [
        "per-book (sim): pools runs with different settings: workload.work_seconds 1.0 vs 3.0 "
        "(files 1.json vs 2.json); compare them separately"
    ]


def test_empty_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match=f"{tmp_path}: no result files"):
        load_comparison_frame([tmp_path])


def test_corrupt_file_names_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{", "utf-8")

    with pytest.raises(ResultFileError, match="broken.json: not a valid result file"):
        load_comparison_frame([tmp_path])


def test_unknown_version_names_it(tmp_path: Path) -> None:
    path = write_run(tmp_path, {"per-book": per_book_runs(1)})
    document = json.loads(path.read_text("utf-8"))
    document["format_version"] = 99
    path.write_text(json.dumps(document), "utf-8")

    with pytest.raises(ResultFileError, match="result format version 99 is not supported"):
        load_comparison_frame([tmp_path])

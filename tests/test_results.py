"""Result files: atomic writes, no overwrites, version checks and the DataFrame loader."""

import json
import os
from pathlib import Path

import pytest

from bench.errors import ResultFileError
from bench.results import (
    FORMAT_VERSION,
    Repetition,
    build_document,
    load_results,
    peak_concurrency,
    read_result,
    write_result,
)


def make_repetition(index: int = 0) -> Repetition:
    invocations = [
        {"function": "orchestrator", "start": 0.0, "end": 1.0, "init_s": 0.3, "cold": True,
         "billed_ms": 1000, "items": 3, "environment": 0, "provisioned": False},
        *[
            {"function": "worker", "start": 1.0 + offset, "end": 4.0 + offset, "init_s": 0.1, "cold": True,
             "billed_ms": 3000, "items": 1, "environment": offset, "provisioned": False}
            for offset in range(3)
        ],
        {"function": "aggregator", "start": 6.5, "end": 7.0, "init_s": 0.0, "cold": False,
         "billed_ms": 500, "items": 3, "environment": 0, "provisioned": False},
    ]
    return Repetition(
        index=index,
        status="succeeded",
        stages={"orchestrator": (0.0, 1.0), "map": (1.0, 6.0), "aggregator": (6.5, 7.0)},
        invocations=invocations,
        counters={"lambda_requests": 5},
        cost_usd={"total": 0.25},
        aggregate_sha256="ab" * 32,
    )


def make_document(run_id: str = "20261204T000000Z-000001") -> dict[str, object]:
    return build_document(
        run_id=run_id,
        backend="sim",
        region="us-east-1",
        parameters={"seed": 0},
        input_info={"source": "books.csv", "items": 3, "sha256": "cd" * 32},
        variant_runs=[{"variant": {"name": "per-book"}, "repetitions": [make_repetition(0).to_dict()]}],
    )


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = write_result(make_document(), tmp_path)

    document = read_result(path)
    assert document["format_version"] == FORMAT_VERSION
    assert document["variants"][0]["repetitions"][0]["total_s"] == 7.0
    assert document["variants"][0]["repetitions"][0]["invocations"]["function"][0] == "orchestrator"


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_result(make_document(), tmp_path)

    assert [path.name for path in tmp_path.iterdir()] == ["20261204T000000Z-000001.json"]


def test_write_gives_the_file_the_usual_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = write_result(make_document(), tmp_path)
    finally:
        os.umask(umask)

    assert path.stat().st_mode & 0o777 == 0o644


def test_write_never_replaces_an_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "20261204T000000Z-000001.json"
    existing.write_text("mine")

    with pytest.raises(ResultFileError, match="left untouched"):
        write_result(make_document(), tmp_path)

    assert existing.read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["20261204T000000Z-000001.json"]


def test_read_rejects_corrupt_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.json"
    corrupt.write_text('{"format": ')

    with pytest.raises(ResultFileError, match="broken.json: not a valid result file"):
        read_result(corrupt)


def test_read_rejects_unknown_version(tmp_path: Path) -> None:
    document = make_document()
    document["format_version"] = 99
    future = tmp_path / "future.json"
    future.write_text(json.dumps(document))

    with pytest.raises(ResultFileError, match="version 99 is not supported"):
        read_result(future)


def test_read_rejects_other_json(tmp_path: Path) -> None:
    other = tmp_path / "package.json"
    other.write_text('{"name": "x"}')

    with pytest.raises(ResultFileError, match="not a fanout-bench result file"):
        read_result(other)


def test_load_results_flattens_repetitions(tmp_path: Path) -> None:
    write_result(make_document("20261204T000000Z-000001"), tmp_path)
    write_result(make_document("20261204T000000Z-000002"), tmp_path / "nested")

    frame = load_results(tmp_path)

    assert len(frame) == 2
    row = frame.iloc[0]
    assert row["variant"] == "per-book"
    assert row["total_s"] == 7.0
    assert row["map_s"] == 5.0
    assert row["aggregator_s"] == 0.5
    assert row["peak_concurrency"] == 3
    assert row["cold_starts"] == 4
    assert row["invocations"] == 5
    assert row["cost_usd"] == 0.25
    assert row["counter_lambda_requests"] == 5


def test_load_results_rejects_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="no result files"):
        load_results(tmp_path)


def test_peak_concurrency_treats_touching_intervals_as_sequential() -> None:
    assert peak_concurrency([0.0, 1.0, 1.0], [1.0, 2.0, 2.0]) == 2


def test_folder_search_skips_the_baseline(tmp_path: Path) -> None:
    write_result(make_document("20261204T000000Z-000001"), tmp_path)
    write_result(make_document("20261204T000000Z-000002"), tmp_path / "baseline")

    assert len(load_results(tmp_path)) == 1
    assert len(load_results(tmp_path / "baseline")) == 1

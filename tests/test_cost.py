"""Cost estimates of hand-computed runs against the bundled price table."""

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from bench.cost import (
    LINE_ITEMS,
    default_price_table,
    estimate_cost,
    express_billed_ms,
    load_price_table,
    price_region,
    provisioned_concurrency_gb_seconds,
    region_prices,
)
from bench.errors import InputError
from variants import get_variant


def worker_records(count: int, billed_ms: int, provisioned: bool = False, init_s: float = 0.0) -> list[dict[str, Any]]:
    """Return `count` worker invocation records of `billed_ms` each."""
    return [
        {
            "function": "worker",
            "start": 0.0,
            "end": billed_ms / 1000,
            "init_s": init_s,
            "cold": init_s > 0,
            "billed_ms": billed_ms,
            "items": 1,
            "environment": f"env-{index}",
            "provisioned": provisioned,
        }
        for index in range(count)
    ]


def per_book(**knobs: Any) -> dict[str, Any]:
    return get_variant("per-book").with_knobs(**knobs).to_dict()


def test_per_book_565_invocations_x86() -> None:
    cost = estimate_cost(per_book(), worker_records(565, 3000), {"lambda_requests": 565}, "us-east-1")

    # 565 x 3 s x 1 GB = 1,695 GB-s at $0.0000166667, plus 565 requests at $0.20 per million.
    assert cost["lambda_duration"] == pytest.approx(0.0282500565, rel=1e-12)
    assert cost["lambda_requests"] == pytest.approx(0.000113, rel=1e-12)
    assert cost["total"] == pytest.approx(0.0283630565, rel=1e-12)
    assert round(cost["total"], 2) == 0.03


def test_ten_thousand_invocations_to_the_cent() -> None:
    cost = estimate_cost(per_book(), worker_records(10_000, 3000), {"lambda_requests": 10_000}, "us-east-1")

    # 30,000 GB-s x $0.0000166667 = $0.500001, and 10,000 requests cost $0.002.
    assert round(cost["lambda_duration"], 2) == 0.50
    assert round(cost["total"], 2) == 0.50
    assert cost["total"] == pytest.approx(0.502001, rel=1e-12)


def test_arm64_duration_price() -> None:
    cost = estimate_cost(per_book(architecture="arm64"), worker_records(565, 3000), {}, "us-east-1")

    assert cost["lambda_duration"] == pytest.approx(1695 * 0.0000133334, rel=1e-12)
    assert cost["lambda_requests"] == pytest.approx(565 * 0.0000002, rel=1e-12)


def test_memory_scales_duration() -> None:
    cost = estimate_cost(per_book(memory_mb=512), worker_records(100, 2000), {}, "us-east-1")

    # 100 x 2 s x 0.5 GB = 100 GB-s.
    assert cost["lambda_duration"] == pytest.approx(100 * 0.0000166667, rel=1e-12)


def test_init_already_in_billed_ms_is_not_added() -> None:
    cost = estimate_cost(per_book(), worker_records(1, 3500, init_s=0.5), {}, "us-east-1")

    assert cost["lambda_duration"] == pytest.approx(3.5 * 0.0000166667, rel=1e-12)


def test_lambda_requests_counter_wins_over_records() -> None:
    cost = estimate_cost(per_book(), worker_records(10, 1000), {"lambda_requests": 12}, "us-east-1")

    assert cost["lambda_requests"] == pytest.approx(12 * 0.0000002, rel=1e-12)


def test_provisioned_run() -> None:
    variant = get_variant("provisioned").to_dict()
    records = worker_records(565, 3000, provisioned=True)
    counters = {"lambda_requests": 565, "provisioned_environments": 40, "provisioned_seconds": 301}

    cost = estimate_cost(variant, records, counters, "us-east-1")

    # 301 s rounds up to 600 s: 40 x 1 GB x 600 s = 24,000 GB-s at $0.0000041667.
    assert cost["lambda_provisioned_concurrency"] == pytest.approx(0.1000008, rel=1e-12)
    assert cost["lambda_provisioned_duration"] == pytest.approx(1695 * 0.0000097222, rel=1e-12)
    assert cost["lambda_duration"] == 0.0
    assert round(cost["total"], 2) == 0.12


def test_provisioned_spillover_uses_on_demand_price() -> None:
    variant = get_variant("provisioned").to_dict()
    records = worker_records(40, 1000, provisioned=True) + worker_records(10, 1000)

    cost = estimate_cost(variant, records, {"provisioned_seconds": 60}, "us-east-1")

    assert cost["lambda_provisioned_duration"] == pytest.approx(40 * 0.0000097222, rel=1e-12)
    assert cost["lambda_duration"] == pytest.approx(10 * 0.0000166667, rel=1e-12)


@pytest.mark.parametrize(
    ("seconds", "billed_seconds"),
    [(0, 0), (1, 300), (300, 300), (300.5, 600), (3600, 3600)],
)
def test_provisioned_five_minute_rounding(seconds: float, billed_seconds: int) -> None:
    assert provisioned_concurrency_gb_seconds(2, seconds, 2048) == 2 * 2 * billed_seconds


def test_express_children() -> None:
    variant = get_variant("distributed").to_dict()
    counters = {
        "state_transitions": 10,
        "express_executions": 565,
        "express_duration_ms": 565 * express_billed_ms(3012.5),
    }

    cost = estimate_cost(variant, [], counters, "us-east-1")

    # Each child bills 3,100 ms at 64 MB: 565 x 3.1 s x 0.0625 GB = 109.46875 GB-s.
    assert express_billed_ms(3012.5) == 3100
    assert cost["stepfunctions_express_duration"] == pytest.approx(109.46875 * 0.00001667, rel=1e-12)
    assert cost["stepfunctions_express_requests"] == pytest.approx(0.000565, rel=1e-12)
    assert cost["stepfunctions_state_transitions"] == pytest.approx(0.00025, rel=1e-12)


def test_queue_storage_and_table_requests() -> None:
    counters = {
        "sqs_requests": 1000,
        "s3_get_requests": 2000,
        "s3_put_requests": 1000,
        "dynamodb_write_requests": 565,
    }

    cost = estimate_cost(get_variant("sqs").to_dict(), [], counters, "us-east-1")

    assert cost["sqs_requests"] == pytest.approx(0.0004, rel=1e-12)
    assert cost["s3_get_requests"] == pytest.approx(0.0008, rel=1e-12)
    assert cost["s3_put_requests"] == pytest.approx(0.005, rel=1e-12)
    assert cost["dynamodb_write_requests"] == pytest.approx(0.000353125, rel=1e-12)
    assert cost["total"] == pytest.approx(0.006553125, rel=1e-12)


def test_state_transitions_of_a_standard_workflow() -> None:
    cost = estimate_cost(per_book(), [], {"state_transitions": 1700}, "us-east-1")

    assert cost["stepfunctions_state_transitions"] == pytest.approx(0.0425, rel=1e-12)


def test_line_items_and_total() -> None:
    cost = estimate_cost(per_book(), worker_records(3, 100), {"sqs_requests": 5}, "us-east-1")

    assert list(cost) == [*LINE_ITEMS, "total"]
    assert cost["total"] == pytest.approx(sum(cost[name] for name in LINE_ITEMS), rel=1e-12)


def test_region_override_and_fallback() -> None:
    cost = estimate_cost(per_book(), worker_records(565, 3000), {"sqs_requests": 1000}, "af-south-1")

    assert cost["lambda_duration"] == pytest.approx(1695 * 0.0000221, rel=1e-12)
    assert cost["sqs_requests"] == pytest.approx(0.0004, rel=1e-12)


def test_unknown_region_uses_default_at_info(caplog: pytest.LogCaptureFixture) -> None:
    region_prices.cache_clear()
    with caplog.at_level(logging.INFO, logger="bench.cost"):
        cost = estimate_cost(per_book(), worker_records(1, 1000), {}, "xx-test-9")

    assert cost["lambda_duration"] == pytest.approx(0.0000166667, rel=1e-12)
    assert [record.levelno for record in caplog.records] == [logging.INFO]
    assert caplog.records[0].getMessage() == "no prices listed for region xx-test-9; using us-east-1 prices"


def test_unknown_region_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    region_prices.cache_clear()
    with caplog.at_level(logging.INFO, logger="bench.cost"):
        for _ in range(3):
            estimate_cost(per_book(), worker_records(1, 1000), {}, "xx-test-8")

    assert len(caplog.records) == 1


def test_unknown_region_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    region_prices.cache_clear()
    with caplog.at_level(logging.WARNING):
        estimate_cost(per_book(), worker_records(1, 1000), {}, "xx-test-7")

    assert caplog.records == []


def test_price_region() -> None:
    assert price_region("us-east-1") == "us-east-1"
    assert price_region("eu-central-1") == "us-east-1"


def test_cost_values_stay_floats() -> None:
    cost = estimate_cost(per_book(), worker_records(1, 1000), {}, "eu-central-1")

    assert set(cost) == set(LINE_ITEMS) | {"total"}
    assert all(isinstance(value, float) for value in cost.values())


def test_price_table_describes_unlisted_region() -> None:
    notes = json.loads((Path(__file__).parents[1] / "bench" / "data" / "prices.json").read_text("utf-8"))["notes"]

    assert any("not listed under regions is priced entirely at default_region prices" in note for note in notes)
    assert any("INFO" in note for note in notes)


def test_unknown_architecture_rejected() -> None:
    variant = per_book() | {"architecture": "sparc"}

    with pytest.raises(InputError, match="architecture 'sparc' has no Lambda price"):
        estimate_cost(variant, [], {}, "us-east-1")


def test_memory_out_of_range_rejected() -> None:
    with pytest.raises(InputError, match="memory_mb is 64; Lambda accepts 128 to 10,240 MB"):
        estimate_cost(per_book() | {"memory_mb": 64}, [], {}, "us-east-1")


def test_bundled_prices_have_source_and_date() -> None:
    table = default_price_table()

    for region, prices in table.regions.items():
        for name, price in prices.items():
            assert price.source, f"{region}.{name} has no source"
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.checked), f"{region}.{name} has no check date"


def write_table(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document, "utf-8")
    return path


def test_price_file_not_json(tmp_path: Path) -> None:
    path = write_table(tmp_path, "{not json")

    with pytest.raises(InputError, match=r"prices\.json: the price table is not valid JSON"):
        load_price_table(path)


def test_price_file_of_other_format(tmp_path: Path) -> None:
    path = write_table(tmp_path, {"format": "something-else"})

    with pytest.raises(InputError, match="not a price table of format 'fanout-bench-prices' version 1"):
        load_price_table(path)


def test_price_file_missing_price(tmp_path: Path) -> None:
    document = json.loads(Path(__file__).parents[1].joinpath("bench/data/prices.json").read_text("utf-8"))
    del document["regions"]["us-east-1"]["sqs_request"]
    path = write_table(tmp_path, document)

    with pytest.raises(InputError, match="the default region us-east-1 lacks prices for: sqs_request"):
        load_price_table(path)


def test_price_file_negative_price(tmp_path: Path) -> None:
    document = json.loads(Path(__file__).parents[1].joinpath("bench/data/prices.json").read_text("utf-8"))
    document["regions"]["us-east-1"]["sqs_request"]["usd"] = -1
    path = write_table(tmp_path, document)

    with pytest.raises(InputError, match=r"us-east-1\.sqs_request\.usd is -1, expected a non-negative number"):
        load_price_table(path)
